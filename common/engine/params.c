/* params.c — request parameters with stage defaults and range checks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "engine/params.h"

/* The request's value under `key`: 1 found, 0 absent, GF_ESCHEMA not a number. */
static int s_request(const gf_frame_t *f, const char *key, double *out)
{
    if (!key || !f->params)
        return 0;
    const msgpack_object *o = gf_map_get(f->params, key);
    if (!o)
        return 0;
    return gf_obj_double(o, out) == 0 ? 1 : GF_ESCHEMA;
}

int gf_params_get(const gf_frame_t *f, const struct gf_stage_def *def,
                  const struct gf_param_spec *spec, double *out, char *why, size_t whylen)
{
    const char *from = spec->req;
    int rc = s_request(f, spec->req, out);
    if (rc == 0 && spec->req_alt)
        from = spec->req_alt, rc = s_request(f, spec->req_alt, out);
    if (rc < 0) {
        snprintf(why, whylen, "parameter '%s' is not a number", from);
        return GF_ESCHEMA;
    }
    if (rc == 0) {
        const char *s = spec->stage ? gf_graph_param(def, spec->stage) : NULL;
        char *end = NULL;
        *out = s ? strtod(s, &end) : spec->dflt;
        if (s && (end == s || *end)) {
            snprintf(why, whylen, "stage parameter '%s' is not a number: '%s'", spec->stage, s);
            return GF_EINVAL;
        }
        from = s ? spec->stage : spec->req;
    }
    if (!isfinite(*out) || *out < spec->lo || *out > spec->hi ||
        (spec->integer && *out != floor(*out))) {
        snprintf(why, whylen, "parameter '%s' = %g is out of range (%s%g..%g)", from, *out,
                 spec->integer ? "a whole number in " : "", spec->lo, spec->hi);
        return GF_EINVAL;
    }
    return 0;
}

int gf_params_seed(const gf_frame_t *f, const struct gf_stage_def *def, uint64_t dflt,
                   uint64_t *out, char *why, size_t whylen)
{
    const msgpack_object *o = f->params ? gf_map_get(f->params, "seed") : NULL;
    if (o) {
        if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            *out = o->via.u64;
        else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            *out = (uint64_t)o->via.i64;
        else {
            snprintf(why, whylen, "parameter 'seed' is not an integer");
            return GF_ESCHEMA;
        }
        return 0;
    }
    const char *s = gf_graph_param(def, "seed");
    char *end = NULL;
    *out = s ? strtoull(s, &end, 10) : dflt;
    if (s && (end == s || *end)) {
        snprintf(why, whylen, "stage parameter 'seed' is not an integer: '%s'", s);
        return GF_EINVAL;
    }
    return 0;
}

int gf_params_ids(const gf_frame_t *f, const char *key, int32_t limit, int32_t **ids_p, int *n_p,
                  char *why, size_t whylen)
{
    struct gf_tensor_view t;
    char tw[128];
    *ids_p = NULL, *n_p = 0;
    int rc = gf_frame_get_tensor(f, key, &t, tw, sizeof tw);
    if (rc == GF_ENOTFOUND) {
        snprintf(why, whylen, "no '%s' tensor", key);
        return GF_ESCHEMA;
    }
    if (rc < 0 || t.dtype != GF_DTYPE_I32 || t.ndim != 1 || t.numel < 1 || t.numel > INT32_MAX) {
        snprintf(why, whylen, "'%s' is not a non-empty i32 tensor [n]%s%s", key, rc < 0 ? ": " : "",
                 rc < 0 ? tw : "");
        return GF_ESCHEMA;
    }
    int32_t *ids = malloc((size_t)t.numel * sizeof *ids);
    if (!ids)
        return GF_ENOMEM;
    memcpy(ids, t.data, (size_t)t.numel * sizeof *ids); /* little-endian on every host we build */
    for (int64_t i = 0; i < t.numel; i++)
        if (ids[i] < 0 || ids[i] >= limit) {
            snprintf(why, whylen, "'%s'[%lld] = %d is not a token id (0..%d)", key, (long long)i,
                     ids[i], limit - 1);
            free(ids);
            return GF_EINVAL;
        }
    *ids_p = ids, *n_p = (int)t.numel;
    return 0;
}

int gf_params_special(const gf_frame_t *f, const char *name, int32_t limit, int32_t *out, char *why,
                      size_t whylen)
{
    const msgpack_object *sp = gf_frame_get(f, "special");
    const msgpack_object *o = sp && sp->type == MSGPACK_OBJECT_MAP ? gf_map_get(sp, name) : NULL;
    int64_t v;
    if (!o || gf_obj_int(o, &v) != 0 || v < 0 || v >= limit) {
        snprintf(why, whylen, "no token id 'special.%s' (0..%d)", name, limit - 1);
        return GF_ESCHEMA;
    }
    *out = (int32_t)v;
    return 0;
}
