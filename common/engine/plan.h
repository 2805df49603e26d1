/* plan.h — where everything of a running pipeline lives: run directory, endpoints, binaries.
 *
 * Every process of a pipeline computes the same endpoints from the same graph, so nothing but
 * the graph file has to be handed around. On one host, edges and taps are ipc:// sockets in the
 * run directory; when the graph names hosts, they are tcp:// on the placed host's address, ports
 * counted from its port_base in graph order (inlet = base + 2k, tap = base + 2k + 1 for the k-th
 * replica placed there; a stage placed on a list of hosts has replica r on item r % length). The
 * control and admin sockets are always ipc:// and local.
 */
#ifndef GF_ENGINE_PLAN_H
#define GF_ENGINE_PLAN_H

#include <stddef.h>

#include "engine/graph.h"

#define GF_PATH_MAX 4096

/* The default run directory: $GOTFLOW_RUN_ROOT, else $XDG_RUNTIME_DIR/gotflow, else
 * /tmp/gotflow-<uid>; then "/<graph name>" and "-<host>" when a host is given. */
void gf_plan_run_dir(const gf_graph_t *g, const char *host, char *buf, size_t len);

/* A replica's inlet and tap endpoints; `bind` selects the form the owner binds. */
int gf_plan_inlet(const gf_graph_t *g, const char *run_dir, int stage, int replica, int bind,
                  char *buf, size_t len);
int gf_plan_tap(const gf_graph_t *g, const char *run_dir, int stage, int replica, int bind,
                char *buf, size_t len);
/* The CURVE public key of the host a replica runs on, or NULL (no hosts, or no key). */
const char *gf_plan_host_key(const gf_graph_t *g, int stage, int replica);

/* The gateway's client endpoint: its `bind:` or ipc://RUN/gateway. */
void gf_plan_gateway(const gf_graph_t *g, const char *run_dir, int stage, char *buf, size_t len);
/* `ep` as its owner binds it: in tcp://HOST:PORT a DNS name HOST is looked up (ZeroMQ binds
 * only addresses and interface names; an interface name, or a name the lookup fails on, stays as
 * it is); any other endpoint is copied. */
void gf_plan_bind_endpoint(const char *ep, char *buf, size_t len);
void gf_plan_control(const char *run_dir, char *buf, size_t len);
void gf_plan_admin(const char *run_dir, char *buf, size_t len);

/* Finds the program of a stage kind, "gotflow-<kind>", in $GOTFLOW_STAGE_PATH (colon-separated)
 * and then beside the running program. 0 and the path, or GF_ENOTFOUND. */
int gf_plan_stage_binary(const char *kind, char *buf, size_t len);

/* gf_kind_known_fn for graph loading: the built-in kinds, and any kind whose program exists. */
int gf_plan_kind_known(const char *kind, void *ctx);

/* Resolves a pipeline argument (a run directory, or a graph file whose default run directory is
 * used) to a run directory holding a graph.yaml. 0, or GF_ENOTFOUND with a message logged
 * unless `quiet`. */
int gf_plan_find_run(const char *arg, const char *host, char *run_dir, size_t len, int quiet);

#endif
