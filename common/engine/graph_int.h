/* graph_int.h — what the graph loader's files share while a graph is being built.
 *
 * Loading runs in two steps over one struct gf_graph_build: graph_yaml.c reads the YAML document
 * into the graph (stages, hosts, options) and keeps what needs every stage known first (edges,
 * placement) as names; graph_check.c then adds the implicit gateway and sink, resolves those
 * names and checks the graph as a whole. Both report through gf_graph_error_at(), which collects
 * every problem; graph.c sorts them by position and writes them out. Not thread-safe; one build
 * per load.
 */
#ifndef GF_ENGINE_GRAPH_INT_H
#define GF_ENGINE_GRAPH_INT_H

#include "engine/graph.h"

#define GF_GRAPH_MAX_ERRORS 100

struct gf_graph_error {
    int line, col; /* 1-based */
    char msg[384];
};

/* What a stage set itself (the rest comes from `defaults:`), and where, for later checks. */
struct gf_graph_stage_src {
    int has_replicas, has_device, has_batch, has_credits;
    int replicas_line, replicas_col;
    int credits_line, credits_col;
    int bind_line, bind_col; /* the gateway's `bind` value */
};

/* An edge or a placement named in the file, resolved once every stage is known. */
struct gf_graph_named_edge {
    char from[GF_GRAPH_NAME_MAX], to[GF_GRAPH_NAME_MAX];
    int line, col;
};

struct gf_graph_named_place {
    char stage[GF_GRAPH_NAME_MAX], host[GF_GRAPH_NAME_MAX];
    int line, col;            /* the stage key */
    int host_line, host_col;  /* the host value */
    int list_index, list_len; /* a list of hosts: this is item list_index of list_len; else 0, 0 */
};

struct gf_graph_defaults {
    int has_replicas, has_device, has_batch, has_credits;
    int replicas, batch, credits;
    struct gf_device devices[GF_GRAPH_MAX_REPLICAS];
    int n_devices;
    int credits_line, credits_col;
};

struct gf_graph_build {
    gf_graph_t *graph;
    const char *file; /* name used in messages */
    gf_kind_known_fn kind_known;
    void *kind_ctx;

    struct gf_graph_error *errors; /* GF_GRAPH_MAX_ERRORS of them */
    int n_errors, n_dropped;
    int yaml_failed; /* libyaml could not read the document */

    struct gf_graph_defaults defaults;
    struct gf_graph_stage_src src[GF_GRAPH_MAX_STAGES];
    int has_stages, stages_line, stages_col;                         /* the `stages:` key */
    int hosts_line, hosts_col;                                       /* the `hosts:` key */
    int host_line[GF_GRAPH_MAX_HOSTS], host_col[GF_GRAPH_MAX_HOSTS]; /* each host's name */
    int has_security, security_line, security_col;                   /* the `security:` value */

    int has_edges;
    struct gf_graph_named_edge named_edges[GF_GRAPH_MAX_EDGES];
    int n_named_edges;

    struct gf_graph_named_place places[GF_GRAPH_MAX_STAGES * 4];
    int n_places;
};

/* Records one problem at line:col (1-based). Keeps the first GF_GRAPH_MAX_ERRORS. */
void gf_graph_error_at(struct gf_graph_build *b, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reads `text` as YAML into b->graph. Returns 0 when the graph can be checked further (schema
 * problems are recorded, not returned), GF_EPARSE (not YAML), GF_ESCHEMA (not a map at the top;
 * recorded) or GF_ENOMEM. */
int gf_graph_yaml_read(struct gf_graph_build *b, const char *text, size_t len);

/* Completes and checks the graph read by gf_graph_yaml_read(); problems are recorded. */
void gf_graph_check(struct gf_graph_build *b);

/* Checks every stage's params against its kind's table (graph_params.c); problems are recorded. */
void gf_graph_params_check(struct gf_graph_build *b);

/* The stage kinds known when the caller passes no kind_known callback; NULL-terminated. */
extern const char *const gf_graph_builtin_kinds[];

/* True when `kind` exists: gateway and sink always, the others by b->kind_known. */
int gf_graph_kind_known(const struct gf_graph_build *b, const char *kind);

/* Appends a stage named `name` (made unique with -2, -3, ... when taken) of `kind`; returns its
 * index or -1 (recorded) when the graph is full. */
int gf_graph_stage_add(struct gf_graph_build *b, const char *name, const char *kind, int line,
                       int col);

#endif
