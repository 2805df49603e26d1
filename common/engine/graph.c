/* graph.c — loading entry points, the error list, and lookups on a loaded graph.
 *
 * The YAML reading is in graph_yaml.c, the whole-graph checks in graph_check.c, the endpoint
 * grammar in graph_endpoint.c. Here: a build is set up, both steps run, the collected errors are
 * sorted by position and written to the caller's buffer; a graph is handed out only when there
 * were none.
 */
#include "engine/graph.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "engine/graph_int.h"

#define GF_GRAPH_FILE_MAX (4L << 20)

const char *const gf_graph_builtin_kinds[] = {"gateway", "sink",     "tokenize", "reason",
                                              "layout",  "imagegen", "vq",       NULL};

void gf_graph_error_at(struct gf_graph_build *b, int line, int col, const char *fmt, ...)
{
    if (b->n_errors == GF_GRAPH_MAX_ERRORS) {
        b->n_dropped++;
        return;
    }
    struct gf_graph_error *e = &b->errors[b->n_errors++];
    e->line = line;
    e->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

int gf_graph_kind_known(const struct gf_graph_build *b, const char *kind)
{
    if (strcmp(kind, "gateway") == 0 || strcmp(kind, "sink") == 0)
        return 1;
    if (b->kind_known)
        return b->kind_known(kind, b->kind_ctx) != 0;
    for (int i = 0; gf_graph_builtin_kinds[i]; i++)
        if (strcmp(kind, gf_graph_builtin_kinds[i]) == 0)
            return 1;
    return 0;
}

int gf_graph_stage_add(struct gf_graph_build *b, const char *name, const char *kind, int line,
                       int col)
{
    gf_graph_t *g = b->graph;
    if (g->n_stages == GF_GRAPH_MAX_STAGES) {
        gf_graph_error_at(b, line, col, "too many stages (at most %d)", GF_GRAPH_MAX_STAGES);
        return -1;
    }
    struct gf_stage_def *st = &g->stages[g->n_stages];
    memset(st, 0, sizeof *st);
    snprintf(st->name, sizeof st->name, "%s", name);
    for (int n = 2; gf_graph_stage(g, st->name) >= 0; n++)
        snprintf(st->name, sizeof st->name, "%.50s-%d", name, n);
    snprintf(st->kind, sizeof st->kind, "%s", kind);
    st->line = line;
    st->col = col;
    memset(&b->src[g->n_stages], 0, sizeof b->src[0]);
    return g->n_stages++;
}

static int s_error_cmp(const void *pa, const void *pb)
{
    const struct gf_graph_error *a = pa, *b = pb;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->col != b->col)
        return a->col < b->col ? -1 : 1;
    return 0;
}

/* Sorts by position and writes the lines. Insertion sort: the list is short, and being stable it
 * keeps problems at one position in the order they were found. */
static void s_errors_write(struct gf_graph_build *b, char *err, size_t errlen)
{
    for (int i = 1; i < b->n_errors; i++) {
        struct gf_graph_error tmp = b->errors[i];
        int j = i;
        for (; j > 0 && s_error_cmp(&b->errors[j - 1], &tmp) > 0; j--)
            b->errors[j] = b->errors[j - 1];
        b->errors[j] = tmp;
    }
    if (!err || errlen == 0)
        return;
    size_t used = 0;
    err[0] = '\0';
    for (int i = 0; i < b->n_errors && used < errlen; i++) {
        const struct gf_graph_error *e = &b->errors[i];
        int n =
            snprintf(err + used, errlen - used, "%s:%d:%d: %s\n", b->file, e->line, e->col, e->msg);
        used += n > 0 ? (size_t)n : 0;
    }
    if (b->n_dropped && used < errlen)
        snprintf(err + used, errlen - used, "%s: %d more errors not shown\n", b->file,
                 b->n_dropped);
}

/* Default graph name: the file name without folders and extension, made a valid name. */
static void s_default_name(gf_graph_t *g, const char *file)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    const char *dot = strrchr(base, '.');
    size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    if (len > GF_GRAPH_NAME_MAX - 1)
        len = GF_GRAPH_NAME_MAX - 1;
    for (size_t i = 0; i < len; i++) {
        char c = base[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == '-';
        g->name[i] = ok ? c : '_';
    }
    g->name[len] = '\0';
    if (len == 0)
        snprintf(g->name, sizeof g->name, "graph");
}

static void s_graph_defaults(gf_graph_t *g, const char *file)
{
    snprintf(g->path, sizeof g->path, "%s", file);
    s_default_name(g, file);
    g->max_frame_bytes = 64L << 20;
    g->supervisor = (struct gf_supervisor_opts){
        .heartbeat_ms = 500,
        .heartbeat_timeout_ms = 10000,
        .drain_timeout_ms = 30000,
        .stop_timeout_ms = 5000,
        .restart_backoff_ms = 100,
        .restart_backoff_max_ms = 10000,
        .max_restarts = 0,
    };
}

int gf_graph_parse(const char *text, size_t len, const char *name, gf_kind_known_fn kind_known,
                   void *ctx, gf_graph_t **graph_p, char *why, size_t whylen)
{
    int rc = GF_ENOMEM;
    *graph_p = NULL;
    if (why && whylen)
        why[0] = '\0';
    struct gf_graph_build *b = calloc(1, sizeof *b);
    if (!b)
        return GF_ENOMEM;
    b->file = name ? name : "<graph>";
    b->kind_known = kind_known;
    b->kind_ctx = ctx;
    b->errors = calloc(GF_GRAPH_MAX_ERRORS, sizeof *b->errors);
    b->graph = calloc(1, sizeof *b->graph);
    if (!b->errors || !b->graph)
        goto out;
    s_graph_defaults(b->graph, b->file);

    rc = gf_graph_yaml_read(b, text, len);
    if (rc == GF_ENOMEM)
        goto out;
    if (rc == 0)
        gf_graph_check(b);
    if (rc == 0 && b->n_errors > 0)
        rc = GF_ESCHEMA;
    s_errors_write(b, why, whylen);
    if (rc == 0) {
        *graph_p = b->graph;
        b->graph = NULL;
    }
out:
    free(b->graph);
    free(b->errors);
    free(b);
    return rc;
}

/* Reads a whole file (at most GF_GRAPH_FILE_MAX bytes) into a NUL-terminated buffer. */
static int s_read_file(const char *path, char **text_p, size_t *len_p, char *err, size_t errlen)
{
    int rc = GF_EIO;
    char *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        goto out_err;
    text = malloc(GF_GRAPH_FILE_MAX + 1);
    if (!text) {
        rc = GF_ENOMEM;
        goto out;
    }
    size_t len = fread(text, 1, GF_GRAPH_FILE_MAX + 1, f);
    if (ferror(f))
        goto out_err;
    if (len > GF_GRAPH_FILE_MAX) {
        snprintf(err, errlen, "%s: file is larger than %ld bytes\n", path, GF_GRAPH_FILE_MAX);
        rc = GF_ETOOBIG;
        goto out;
    }
    text[len] = '\0';
    *text_p = text;
    *len_p = len;
    text = NULL;
    rc = 0;
    goto out;
out_err:
    snprintf(err, errlen, "%s: cannot read: %s\n", path, strerror(errno));
out:
    free(text);
    if (f)
        fclose(f);
    return rc;
}

int gf_graph_load(const char *path, gf_kind_known_fn kind_known, void *ctx, gf_graph_t **graph_p,
                  char *why, size_t whylen)
{
    char scratch[1];
    if (!why || whylen == 0) {
        why = scratch;
        whylen = sizeof scratch;
    }
    *graph_p = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = s_read_file(path, &text, &len, why, whylen);
    if (rc < 0)
        return rc;
    rc = gf_graph_parse(text, len, path, kind_known, ctx, graph_p, why, whylen);
    free(text);
    return rc;
}

void gf_graph_destroy(gf_graph_t **graph_p)
{
    if (!graph_p || !*graph_p)
        return;
    free(*graph_p);
    *graph_p = NULL;
}

int gf_graph_stage(const gf_graph_t *graph, const char *name)
{
    for (int i = 0; i < graph->n_stages; i++)
        if (strcmp(graph->stages[i].name, name) == 0)
            return i;
    return -1;
}

int gf_graph_replica_host(const gf_graph_t *graph, int stage, int replica)
{
    const struct gf_stage_def *st = &graph->stages[stage];
    return st->n_replica_hosts > 0 ? st->replica_hosts[replica % st->n_replica_hosts] : st->host;
}

int gf_graph_host(const gf_graph_t *graph, const char *name)
{
    for (int i = 0; i < graph->n_hosts; i++)
        if (strcmp(graph->hosts[i].name, name) == 0)
            return i;
    return -1;
}

const char *gf_graph_param(const struct gf_stage_def *stage, const char *key)
{
    for (int i = 0; i < stage->n_params; i++)
        if (strcmp(stage->params[i].key, key) == 0)
            return stage->params[i].value;
    return NULL;
}

long gf_graph_param_long(const struct gf_stage_def *stage, const char *key, long dflt)
{
    const char *v = gf_graph_param(stage, key);
    if (!v)
        return dflt;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end != '\0' || errno == ERANGE) {
        gf_log_warn("stage '%s': parameter '%s' is not an integer: '%s'; using %ld", stage->name,
                    key, v, dflt);
        return dflt;
    }
    return x;
}

double gf_graph_param_double(const struct gf_stage_def *stage, const char *key, double dflt)
{
    const char *v = gf_graph_param(stage, key);
    if (!v)
        return dflt;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end != '\0' || errno == ERANGE || !isfinite(x)) {
        gf_log_warn("stage '%s': parameter '%s' is not a number: '%s'; using %g", stage->name, key,
                    v, dflt);
        return dflt;
    }
    return x;
}

static int s_neighbours(const gf_graph_t *graph, int stage, int *out, int max, int down)
{
    int n = 0;
    for (int i = 0; i < graph->n_edges && n < max; i++) {
        const struct gf_edge *e = &graph->edges[i];
        if ((down ? e->from : e->to) == stage)
            out[n++] = down ? e->to : e->from;
    }
    return n;
}

int gf_graph_downstream(const gf_graph_t *graph, int stage, int *out, int max)
{
    return s_neighbours(graph, stage, out, max, 1);
}

int gf_graph_upstream(const gf_graph_t *graph, int stage, int *out, int max)
{
    return s_neighbours(graph, stage, out, max, 0);
}
