/* deploy.h — `gotflow deploy`: a pipeline graph placed by Slurm or Kubernetes (DESIGN §9).
 *
 * gotflow does not schedule: the cluster manager allocates nodes and GPUs and starts
 * `gotflow run GRAPH --host NAME` on each. What it needs from the graph is written here: a batch
 * script (deploy_slurm.c), manifests (deploy_k8s.c). Both start from a *resolved* graph: the
 * user's graph with every host's `address` and `curve_public` filled in (and the gateway's
 * `bind`), which is an ordinary graph that `gotflow run` loads as it is.
 */
#ifndef GF_TOOLS_DEPLOY_H
#define GF_TOOLS_DEPLOY_H

#include <stdio.h>

#include "engine/graph.h"

/* The name of the host a graph without `hosts:` is given when it is deployed. */
#define GF_DEPLOY_LONE_HOST "main"

/* What to fill into the graph. A host not listed keeps its values; one without an address gets
 * a placeholder (good for planning, not for running). */
struct gf_deploy_fill {
    const char *host[GF_GRAPH_MAX_HOSTS];
    const char *address[GF_GRAPH_MAX_HOSTS];      /* NULL: keep */
    const char *curve_public[GF_GRAPH_MAX_HOSTS]; /* NULL: keep */
    int n;
    const char *gateway_bind; /* NULL: keep */
};

/* The host names of the graph at `path`, in order (GF_DEPLOY_LONE_HOST when it has none); the
 * graph may leave addresses out. *insecure is set when it says `security: none` (then no keys
 * are filled in). Returns how many, or a negative GF_E* with the reason printed. */
int gf_deploy_host_names(const char *path, char names[][GF_GRAPH_NAME_MAX], int max, int *insecure);

/* Fills `fill` into the graph at `path` and validates the result. On success returns 0, sets
 * *text_p to the resolved YAML (caller frees) and, when graph_p is not NULL, *graph_p to the
 * loaded graph (caller owns). Otherwise a negative GF_E* with the reason printed. */
int gf_deploy_resolve(const char *path, const struct gf_deploy_fill *fill, char **text_p,
                      gf_graph_t **graph_p);

/* GPUs host `host` needs: one more than the largest cuda:N of the replicas placed on it (0 when
 * all are on the CPU). */
int gf_deploy_host_gpus(const gf_graph_t *g, int host);

/* The gateway stage's host index (0 without hosts). */
int gf_deploy_gateway_host(const gf_graph_t *g);

/* Makes a CURVE key pair; writes "public: Z85\nsecret: Z85\n" to `path` (mode 0600, must not
 * exist) when it is not NULL. 0, or 1 with the reason printed. */
int gf_deploy_keypair(const char *path, char pub[41], char sec[41]);

int gf_deploy_k8s(int argc, char **argv);
int gf_deploy_slurm(int argc, char **argv);
int gf_deploy_resolve_cmd(int argc, char **argv);

#endif
