/* graph_params.c — the `params:` each built-in stage kind reads, and the check of a graph's params
 * against them.
 *
 * One table per kind: every parameter the stage program reads, with its type and range. A graph
 * that gives a kind with a table a parameter it does not list, or a value of the wrong type or out
 * of range, is rejected at load with the value's position. Kinds without a table (test kinds,
 * kinds the loading program knows) take any parameter. docs/pipeline-yaml.md lists these tables
 * (tests/unit/test_graph.c checks that it names every parameter). To add a parameter: add its row
 * here and its line to the doc.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "engine/graph_int.h"

#define S_MS_MAX 604800000.0 /* a week, in milliseconds */

/* the parameters every model stage reads for its backend and checkpoint */
#define S_MODEL_PARAMS(choices, why)                                                               \
    {"model", GF_PARAM_STRING,                                                                     \
     0,       0,                                                                                   \
     NULL,    "checkpoint directory, in place of the graph's `model:`"},                           \
        {"threads", GF_PARAM_INT, 0, 1024, NULL, "CPU threads of the backend (0: one per core)"},  \
    {                                                                                              \
        "precision", GF_PARAM_CHOICE, 0, 0, choices, why                                           \
    }
#define S_LLM_PRECISION                                                                            \
    "arithmetic on a CUDA device (bf16, f32); on the CPU, q8_0 or q4_0 quantize the language "     \
    "model's weights at load"

static const struct gf_param_decl s_gateway[] = {
    {"timeout_ms", GF_PARAM_INT, 1, S_MS_MAX, NULL, "a request's deadline"},
    {"max_requests", GF_PARAM_INT, 0, 1e8, NULL,
     "requests in flight before new ones are refused with EBUSY (0: no limit)"},
    {"attempt_timeout_ms", GF_PARAM_INT, -1, S_MS_MAX, NULL,
     "fixed attempt deadline (-1: follow the observed latency, 0: none)"},
    {"attempt_timeout_min_ms", GF_PARAM_INT, 0, S_MS_MAX, NULL,
     "least attempt deadline when it follows the latency"},
    {"max_attempts", GF_PARAM_INT, 1, 1000, NULL,
     "attempts lost with a replica that crashed or hung before the request is given up"},
    {"max_reissues", GF_PARAM_INT, 0, 1e6, NULL, "re-issues of any cause before it is given up"},
    {"journal_sync_ms", GF_PARAM_INT, 0, 3600000, NULL,
     "fdatasync period of the journal (0: after every record)"},
    {"keep_answers_mb", GF_PARAM_INT, 0, 65536, NULL, "answers kept for clients that ask again"},
    {NULL, 0, 0, 0, NULL, NULL}};

static const struct gf_param_decl s_tokenize[] = {
    {"model", GF_PARAM_STRING, 0, 0, NULL,
     "checkpoint directory, in place of the graph's `model:`"},
    {NULL, 0, 0, 0, NULL, NULL}};

static const struct gf_param_decl s_reason[] = {
    S_MODEL_PARAMS("bf16,f32,q8_0,q4_0", S_LLM_PRECISION),
    {"temperature", GF_PARAM_NUMBER, 0, 100, NULL,
     "sampling temperature (0: greedy); a request's `text_temperature` overrides it"},
    {"top_k", GF_PARAM_INT, 0, 1 << 30, NULL, "top-k sampling (0: off); request `text_top_k`"},
    {"top_p", GF_PARAM_NUMBER, 1e-6, 1, NULL, "nucleus sampling; request `text_top_p`"},
    {"max_tokens", GF_PARAM_INT, 1, 600, NULL, "reasoning tokens at most; request `max_tokens`"},
    {"seed", GF_PARAM_INT, 0, 0, NULL, "sampling seed (any 64-bit integer); request `seed`"},
    {"chunk", GF_PARAM_INT, 1, 65536, NULL, "prompt tokens prefilled per step"},
    {"max_seq", GF_PARAM_INT, 2, 1 << 20, NULL,
     "positions of a row (at most the checkpoint's max_position_embeddings)"},
    {"kv_handover", GF_PARAM_INT, 0, 1, NULL,
     "1 (default on the CPU): the chain's KV goes to imagegen on this host in a file; 0: off"},
    {"kv_ttl", GF_PARAM_INT, 1, 1 << 30, NULL,
     "seconds after which a handover file nobody took is removed (default 600)"},
    {NULL, 0, 0, 0, NULL, NULL}};

static const struct gf_param_decl s_imagegen[] = {
    S_MODEL_PARAMS("bf16,f32,q8_0,q4_0", S_LLM_PRECISION),
    {"temperature", GF_PARAM_NUMBER, 0, 100, NULL,
     "sampling temperature (0: greedy); request `image_temperature`"},
    {"top_k", GF_PARAM_INT, 0, 1 << 30, NULL, "top-k sampling (0: off); request `image_top_k`"},
    {"top_p", GF_PARAM_NUMBER, 1e-6, 1, NULL, "nucleus sampling; request `image_top_p`"},
    {"cfg_weight", GF_PARAM_NUMBER, 0, 100, NULL, "classifier-free guidance; request `cfg_weight`"},
    {"parallel", GF_PARAM_INT, 1, 32, NULL, "pictures per request; request `parallel_size`"},
    {"seed", GF_PARAM_INT, 0, 0, NULL, "sampling seed (any 64-bit integer); request `seed`"},
    {"image_size", GF_PARAM_INT, 1, 4096, NULL,
     "picture side in pixels, a multiple of `patch_size` (default: the checkpoint's)"},
    {"patch_size", GF_PARAM_INT, 1, 4096, NULL,
     "pixels per image token (default: the checkpoint's)"},
    {"rows", GF_PARAM_INT, 1, 256, NULL, "model rows (2 per picture: with and without the prompt)"},
    {"chunk", GF_PARAM_INT, 1, 65536, NULL, "prompt tokens prefilled per step"},
    {"prefix_cache", GF_PARAM_INT, 0, 1, NULL,
     "1: the padded rows' prefix is computed once and copied (one more model row); 0: per request"},
    {"prefix_warm", GF_PARAM_INT, 0, 1 << 20, NULL,
     "positions of the padded rows' prefix computed at start (default 512; 0: by the first "
     "request)"},
    {"max_seq", GF_PARAM_INT, 2, 1 << 20, NULL,
     "positions of a row (at most the checkpoint's max_position_embeddings)"},
    {NULL, 0, 0, 0, NULL, NULL}};

static const struct gf_param_decl s_vq[] = {
    S_MODEL_PARAMS("bf16,f32", "arithmetic on a CUDA device"),
    {"max_images", GF_PARAM_INT, 1, 1024, NULL, "pictures decoded together"},
    {"grid", GF_PARAM_INT, 1, 256, NULL, "image tokens per side (default: the checkpoint's)"},
    {"score", GF_PARAM_INT, 0, 1, NULL,
     "1: score each picture of the demo model here (`scores`); 0: leave it to the fronts"},
    {NULL, 0, 0, 0, NULL, NULL}};

static const struct gf_param_decl s_none[] = {{NULL, 0, 0, 0, NULL, NULL}};

static const struct {
    const char *kind;
    const struct gf_param_decl *params;
} s_kinds[] = {
    {"gateway", s_gateway}, {"sink", s_none},   {"tokenize", s_tokenize},
    {"reason", s_reason},   {"layout", s_none}, {"imagegen", s_imagegen},
    {"vq", s_vq},
};

const struct gf_param_decl *gf_graph_param_decls(const char *kind)
{
    for (size_t i = 0; i < sizeof s_kinds / sizeof s_kinds[0]; i++)
        if (strcmp(s_kinds[i].kind, kind) == 0)
            return s_kinds[i].params;
    return NULL;
}

/* Levenshtein distance, capped: enough to say "did you mean". */
static int s_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int row[GF_GRAPH_NAME_MAX + 1];
    if (la >= GF_GRAPH_NAME_MAX || lb >= GF_GRAPH_NAME_MAX)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The closest declared name (a dotted key ending in a declared name counts as close), or NULL. */
static const char *s_near(const char *key, const struct gf_param_decl *decls)
{
    const char *near = NULL;
    int best = 3;
    const char *dot = strrchr(key, '.');
    for (const struct gf_param_decl *d = decls; d->name; d++) {
        int dist = dot && strcmp(dot + 1, d->name) == 0 ? 0 : s_distance(key, d->name);
        if (dist < best)
            best = dist, near = d->name;
    }
    return near;
}

static void s_unknown(struct gf_graph_build *b, const struct gf_stage_def *st,
                      const struct gf_param *p, const struct gf_param_decl *decls)
{
    char names[256];
    size_t used = 0;
    names[0] = '\0';
    for (const struct gf_param_decl *d = decls; d->name && used < sizeof names; d++)
        used +=
            (size_t)snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "", d->name);
    const char *near = s_near(p->key, decls);
    if (!decls[0].name)
        gf_graph_error_at(b, p->line, p->col,
                          "unknown parameter '%s' of stage '%s': a '%s' stage takes no params",
                          p->key, st->name, st->kind);
    else if (near)
        gf_graph_error_at(b, p->line, p->col,
                          "unknown parameter '%s' of stage '%s'; did you mean '%s'? (a '%s' "
                          "stage takes: %s)",
                          p->key, st->name, near, st->kind, names);
    else
        gf_graph_error_at(b, p->line, p->col,
                          "unknown parameter '%s' of stage '%s' (a '%s' stage takes: %s)", p->key,
                          st->name, st->kind, names);
}

int gf_graph_param_value_check(const struct gf_param_decl *d, const char *value, char *why,
                               size_t whylen)
{
    char *end;
    errno = 0;
    switch (d->type) {
    case GF_PARAM_STRING:
        if (!value[0]) {
            snprintf(why, whylen, "'%s' must not be empty", d->name);
            return GF_EINVAL;
        }
        return 0;
    case GF_PARAM_CHOICE: {
        size_t len = strlen(value);
        for (const char *c = d->choices; c && *c;) {
            size_t n = strcspn(c, ",");
            if (n == len && memcmp(c, value, len) == 0)
                return 0;
            c += n + (c[n] == ',');
        }
        snprintf(why, whylen, "'%s' must be one of %s, got '%s'", d->name, d->choices, value);
        return GF_EINVAL;
    }
    case GF_PARAM_INT:
        if (d->lo == 0 && d->hi == 0) { /* any 64-bit integer */
            if (value[0] == '-')
                (void)strtoll(value, &end, 10);
            else
                (void)strtoull(value, &end, 10);
            if (end == value || *end || errno == ERANGE) {
                snprintf(why, whylen, "'%s' must be a 64-bit integer, got '%s'", d->name, value);
                return GF_EINVAL;
            }
            return 0;
        }
        long long i = strtoll(value, &end, 10);
        if (end == value || *end || errno == ERANGE) {
            snprintf(why, whylen, "'%s' must be an integer, got '%s'", d->name, value);
            return GF_EINVAL;
        }
        if ((double)i < d->lo || (double)i > d->hi) {
            snprintf(why, whylen, "'%s' must be between %.0f and %.0f, got %lld", d->name, d->lo,
                     d->hi, i);
            return GF_EINVAL;
        }
        return 0;
    case GF_PARAM_NUMBER: {
        double x = strtod(value, &end);
        if (end == value || *end || errno == ERANGE || !isfinite(x)) {
            snprintf(why, whylen, "'%s' must be a number, got '%s'", d->name, value);
            return GF_EINVAL;
        }
        if (x < d->lo || x > d->hi) {
            snprintf(why, whylen, "'%s' must be between %g and %g, got %s", d->name, d->lo, d->hi,
                     value);
            return GF_EINVAL;
        }
        return 0;
    }
    }
    return 0;
}

void gf_graph_params_check(struct gf_graph_build *b)
{
    const gf_graph_t *g = b->graph;
    char why[GF_GRAPH_VALUE_MAX + 128];
    for (int s = 0; s < g->n_stages; s++) {
        const struct gf_stage_def *st = &g->stages[s];
        const struct gf_param_decl *decls = gf_graph_param_decls(st->kind);
        if (!decls)
            continue;
        for (int i = 0; i < st->n_params; i++) {
            const struct gf_param *p = &st->params[i];
            const struct gf_param_decl *d = decls;
            while (d->name && strcmp(d->name, p->key) != 0)
                d++;
            if (!d->name)
                s_unknown(b, st, p, decls);
            else if (gf_graph_param_value_check(d, p->value, why, sizeof why) < 0)
                gf_graph_error_at(b, p->line, p->col, "stage '%s': parameter %s", st->name, why);
        }
    }
}
