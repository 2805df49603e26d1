/* genconfig.c — generation_config.json of a checkpoint (genconfig.h). */
#include "model/lm/genconfig.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"

static const struct {
    const char *name;
    double lo, hi;
    int whole;
} s_keys[GF_GEN_N] = {
#define GF_X(id, name, lo, hi, whole) {name, lo, hi, whole},
    GF_GENCONFIG_KEYS(GF_X)
#undef GF_X
};

/* One known key of the object: checked, then kept. */
static int s_key(const char *path, json_t *root, int k, struct gf_genconfig *gc, char *why,
                 size_t whylen)
{
    json_t *v = json_object_get(root, s_keys[k].name);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v)) {
        snprintf(why, whylen, "'%s': '%s' must be a number", path, s_keys[k].name);
        return GF_ESCHEMA;
    }
    double d = json_number_value(v);
    if (!isfinite(d) || d < s_keys[k].lo || d > s_keys[k].hi ||
        (s_keys[k].whole && d != floor(d))) {
        snprintf(why, whylen, "'%s': '%s' = %g is out of range (%s%g..%g)", path, s_keys[k].name, d,
                 s_keys[k].whole ? "a whole number in " : "", s_keys[k].lo, s_keys[k].hi);
        return GF_ESCHEMA;
    }
    gc->value[k] = d;
    gc->set[k] = 1;
    return 0;
}

int gf_genconfig_load(const char *dir, struct gf_genconfig *gc, char *why, size_t whylen)
{
    char path[4200];
    struct stat st;
    memset(gc, 0, sizeof *gc);
    snprintf(path, sizeof path, "%s/%s", dir, GF_GENCONFIG_FILE);
    if (stat(path, &st) != 0 && errno == ENOENT)
        return 0;
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root && jerr.line < 0) {
        snprintf(why, whylen, "cannot read '%s': %s", path, jerr.text);
        return GF_EIO;
    }
    if (!json_is_object(root)) {
        if (root)
            snprintf(why, whylen, "'%s': not a JSON object", path);
        else
            snprintf(why, whylen, "'%s': not JSON (line %d: %s)", path, jerr.line, jerr.text);
        json_decref(root);
        return GF_EPARSE;
    }
    int rc = 0;
    for (int k = 0; k < GF_GEN_N && rc == 0; k++)
        rc = s_key(path, root, k, gc, why, whylen);
    json_decref(root);
    if (rc)
        memset(gc, 0, sizeof *gc);
    return rc;
}

double gf_genconfig_get(const struct gf_genconfig *gc, const char *name, double dflt)
{
    for (int k = 0; k < GF_GEN_N; k++)
        if (gc->set[k] && strcmp(s_keys[k].name, name) == 0)
            return gc->value[k];
    return dflt;
}
