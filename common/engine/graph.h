/* graph.h — the pipeline graph: YAML in, a validated plan of stages, edges and hosts out.
 *
 * gf_graph_load() reads a pipeline file (docs/pipeline-yaml.md is the reference), applies the
 * defaults, validates everything and either returns a graph or reports every problem it found as
 * `file:line:column: message` lines. Nothing in the returned graph needs checking again: names
 * are unique, edges point at stages, the graph is acyclic, counts are within the limits below.
 *
 * Ownership: the caller owns the returned graph and frees it with gf_graph_destroy(). The graph is
 * immutable after load and may be read from any thread.
 */
#ifndef GF_ENGINE_GRAPH_H
#define GF_ENGINE_GRAPH_H

#include <stddef.h>

#define GF_GRAPH_MAX_STAGES 64
#define GF_GRAPH_MAX_EDGES 256
#define GF_GRAPH_MAX_HOSTS 16
#define GF_GRAPH_MAX_REPLICAS 64
#define GF_GRAPH_MAX_PARAMS 64
#define GF_GRAPH_NAME_MAX 64
#define GF_GRAPH_VALUE_MAX 256

enum gf_device_type { GF_DEVICE_CPU, GF_DEVICE_CUDA };

struct gf_device {
    enum gf_device_type type;
    int index; /* cuda:N; 0 for cpu */
};

/* One stage parameter. Nested maps are flattened with dots ("sampler.top_k"); a sequence of
 * scalars is kept as its items joined by commas. */
struct gf_param {
    char key[GF_GRAPH_NAME_MAX];
    char value[GF_GRAPH_VALUE_MAX];
    int line, col; /* where the value stands, 1-based */
};

struct gf_stage_def {
    char name[GF_GRAPH_NAME_MAX]; /* key under `stages:` */
    char kind[GF_GRAPH_NAME_MAX]; /* gateway, sink, tokenize, ... or a test kind */
    int replicas;                 /* >= 1 */
    struct gf_device devices[GF_GRAPH_MAX_REPLICAS];
    int n_devices; /* >= 1; replica r runs on devices[r % n_devices] */
    int batch;     /* frames processed together, >= 1 */
    int credits; /* frames a replica may hold (queued + in process), >= batch; default max(2 batch,
                    8) */
    char bind[GF_GRAPH_VALUE_MAX]; /* gateway only: client endpoint; "" = ipc in the run dir */
    char out[GF_GRAPH_VALUE_MAX];  /* sink only: output folder; "" = none */
    int host;                      /* index into hosts[]; 0 when the graph names no hosts */
    int replica_hosts[GF_GRAPH_MAX_REPLICAS]; /* with a list placement: replica r on */
    int n_replica_hosts;                      /* replica_hosts[r % n_replica_hosts]; else 0 */
    struct gf_param params[GF_GRAPH_MAX_PARAMS];
    int n_params;
    int line, col; /* where the stage is defined */
};

struct gf_edge {
    int from, to; /* stage indexes */
    int line, col;
};

struct gf_host {
    char name[GF_GRAPH_NAME_MAX];
    char address[GF_GRAPH_VALUE_MAX]; /* IP or DNS name the other hosts connect to */
    char curve_public[64];            /* Z85 public key, "" when not given */
    int port_base;                    /* first tcp port of this host's endpoints (default 7100) */
};

struct gf_supervisor_opts {
    int heartbeat_ms;         /* replica -> supervisor heartbeat period (default 500) */
    int heartbeat_timeout_ms; /* kill a replica silent this long (default 10000) */
    int drain_timeout_ms;     /* SIGTERM: wait this long for in-flight work (default 30000) */
    int stop_timeout_ms; /* SIGKILL a replica that has not exited this long after Shutdown (default
                            5000) */
    int restart_backoff_ms;     /* first restart delay, doubled each time (default 100) */
    int restart_backoff_max_ms; /* cap of that delay (default 10000) */
    int max_restarts; /* give up after this many restarts in a row; 0 = never (default 0) */
    int max_rss_mb;   /* replace a replica whose resident memory passes this; 0 = no limit */
};

/* `security:` — how the graph's tcp endpoints are protected. CURVE is the default: a graph with
 * tcp endpoints (hosts, a gateway bound off loopback) must carry the hosts' keys, unless it says
 * `security: none`. */
enum gf_graph_security { GF_GRAPH_SECURITY_CURVE, GF_GRAPH_SECURITY_NONE };

struct gf_graph {
    char path[4096];                  /* file it was loaded from */
    char name[GF_GRAPH_NAME_MAX];     /* `name:`, default: file name without extension */
    char model[4096];                 /* `model:`, "" when absent */
    long max_frame_bytes;             /* `max_frame_bytes:` (default 64 MiB) */
    char metrics[GF_GRAPH_VALUE_MAX]; /* `metrics:` tcp endpoint of the Prometheus text, or "" */
    enum gf_graph_security security;  /* `security:` (default curve) */
    struct gf_supervisor_opts supervisor;
    struct gf_stage_def stages[GF_GRAPH_MAX_STAGES];
    int n_stages;
    struct gf_edge edges[GF_GRAPH_MAX_EDGES];
    int n_edges;
    struct gf_host hosts[GF_GRAPH_MAX_HOSTS];
    int n_hosts;
    int order[GF_GRAPH_MAX_STAGES]; /* stage indexes in topological order (gateway first) */
};

typedef struct gf_graph gf_graph_t;

/* Decides whether a stage kind exists; NULL means the built-in kinds only
 * (gateway, sink, tokenize, reason, layout, imagegen, vq). gateway and sink are always known. */
typedef int (*gf_kind_known_fn)(const char *kind, void *ctx);

/* Loads and validates `path`. On success returns 0 and sets *graph_p (caller owns). On failure
 * returns GF_EPARSE / GF_ESCHEMA / GF_EIO (GF_ETOOBIG: file over 4 MiB, GF_ENOMEM), leaves
 * *graph_p NULL and writes every problem into `why` as lines `file:line:column: message`, each
 * ending in '\n', sorted by position (truncated to whylen). */
int gf_graph_load(const char *path, gf_kind_known_fn kind_known, void *ctx, gf_graph_t **graph_p,
                  char *why, size_t whylen);

/* Same, from memory; `name` is the file name used in messages. */
int gf_graph_parse(const char *text, size_t len, const char *name, gf_kind_known_fn kind_known,
                   void *ctx, gf_graph_t **graph_p, char *why, size_t whylen);

void gf_graph_destroy(gf_graph_t **graph_p);

/* Stage index by name, or -1. */
int gf_graph_stage(const gf_graph_t *graph, const char *name);

/* The host replica `replica` of stage `stage` runs on (index into hosts[]). */
int gf_graph_replica_host(const gf_graph_t *graph, int stage, int replica);

/* Host index by name, or -1. */
int gf_graph_host(const gf_graph_t *graph, const char *name);

/* Stage parameter lookup: the value string, or NULL when the stage has no such key. */
const char *gf_graph_param(const struct gf_stage_def *stage, const char *key);

/* Typed lookups; return `dflt` when the key is absent. A present but malformed value is a
 * validation error at load only if the stage kind declares it, so these also check: they return
 * `dflt` and log a warning on a value they cannot parse. */
long gf_graph_param_long(const struct gf_stage_def *stage, const char *key, long dflt);
double gf_graph_param_double(const struct gf_stage_def *stage, const char *key, double dflt);

/* The parameters a built-in stage kind reads (docs/pipeline-yaml.md lists them). A graph that
 * gives such a kind a parameter not listed, or a value of the wrong type or range, does not load.
 * GF_PARAM_INT with lo == hi == 0 takes any 64-bit integer; GF_PARAM_CHOICE takes one of the
 * comma-separated `choices`. */
enum gf_param_type { GF_PARAM_INT, GF_PARAM_NUMBER, GF_PARAM_STRING, GF_PARAM_CHOICE };

struct gf_param_decl {
    const char *name; /* NULL ends a table */
    enum gf_param_type type;
    double lo, hi;       /* GF_PARAM_INT and GF_PARAM_NUMBER: the range, both ends included */
    const char *choices; /* GF_PARAM_CHOICE */
    const char *what;    /* one line for the docs */
};

/* The table of `kind` (static, ends with a NULL name), or NULL: the kind takes any parameter. */
const struct gf_param_decl *gf_graph_param_decls(const char *kind);

/* 0 when `value` fits `d`, else GF_EINVAL with `why` ("'chunk' must be between 1 and ..."). */
int gf_graph_param_value_check(const struct gf_param_decl *d, const char *value, char *why,
                               size_t whylen);

/* Fills `out` with the indexes of the stages that `stage` sends to (resp. receives from), in
 * edge order; returns how many it wrote (at most max). */
int gf_graph_downstream(const gf_graph_t *graph, int stage, int *out, int max);
int gf_graph_upstream(const gf_graph_t *graph, int stage, int *out, int max);

/* Checks an endpoint string: `ipc://PATH` or `tcp://HOST:PORT` (HOST an address, a name or `*`,
 * PORT 1..65535). Returns 0 or GF_EINVAL with a reason in `why`. */
int gf_endpoint_check(const char *endpoint, char *why, size_t whylen);

#endif
