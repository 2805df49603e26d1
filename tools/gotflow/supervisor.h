/* supervisor.h — `gotflow run`: start every replica of a graph, keep them alive, stop in order.
 *
 * Exit status of gf_supervise() (also that of `gotflow run`):
 *   0  stopped on request after every in-flight request finished
 *   1  runtime failure of the supervisor itself (run directory, sockets)
 *   2  usage error or invalid graph (nothing was started)
 *   3  stopped on request, but the drain timed out or was cut short: requests were lost
 *   4  a stage could not start (setup/init fault) or exceeded max_restarts
 */
#ifndef GF_TOOLS_SUPERVISOR_H
#define GF_TOOLS_SUPERVISOR_H

#include "engine/graph.h"

enum {
    GF_EXIT_OK = 0,
    GF_EXIT_FAILURE = 1,
    GF_EXIT_USAGE = 2,
    GF_EXIT_DRAIN_CUT = 3,
    GF_EXIT_STAGE_FAILED = 4,
};

struct gf_supervise_opts {
    const char *graph_path;
    const char *host;     /* --host NAME, or NULL */
    const char *run_dir;  /* --run-dir, or NULL for the default */
    const char *key_file; /* --key: this host's CURVE key file, or NULL ($GOTFLOW_KEY_FILE) */
    int quiet;
};

int gf_supervise(const struct gf_supervise_opts *opts);

#endif
