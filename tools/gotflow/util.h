/* util.h — what several gotflow commands share: finding a running pipeline, asking its
 * supervisor, small option helpers. */
#ifndef GF_TOOLS_UTIL_H
#define GF_TOOLS_UTIL_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/graph.h"
#include "engine/plan.h"

/* Resolves PIPELINE|RUN to its run directory and loads the run's graph (caller owns). 0, or
 * GF_ENOTFOUND with the reason printed. */
int gf_cli_open_run(const char *arg, const char *host, char run_dir[GF_PATH_MAX],
                    gf_graph_t **graph_p);

/* True when the supervisor recorded in `run_dir` is alive. */
int gf_cli_supervisor_alive(const char *run_dir);

/* The pid recorded in `run_dir`/supervisor.pid, or 0 when there is none. */
int gf_cli_supervisor_pid(const char *run_dir);

/* Prints, for command `cmd` ("submit"), that the supervisor of `run_dir` is not running and how
 * to start it (`gotflow run PIPELINE`). */
void gf_cli_supervisor_dead(const char *cmd, const char *run_dir, const char *pipeline);

/* Sends `request` ("status", "stop") to the supervisor of `run_dir` and returns its JSON
 * answer (caller owns), or NULL after `timeout_ms` with the reason printed. */
json_t *gf_cli_admin(const char *run_dir, const char *request, int timeout_ms);

/* Waits until every replica of the running `graph` (on `host`, NULL for this one) says ready, or
 * `deadline_ms` (monotonic) passes, or the supervisor `sup` (when > 0, a child of ours) exits, or
 * the run's supervisor stops (one seen alive, or started since the wait began); fills `run_dir`.
 * 0, or 1 after printing why, prefixed with `cmd`. */
int gf_cli_wait_ready(const char *cmd, const char *graph, const char *host, pid_t sup,
                      char run_dir[GF_PATH_MAX], int64_t deadline_ms);

/* Watches the connection of a client socket to the gateway: when it breaks and comes back (the
 * gateway restarted), the client must send its unanswered requests again (docs/protocol.md).
 * Returns the monitor socket to poll (caller closes it), or NULL when monitoring is not possible.
 */
void *gf_cli_watch_new(void *ctx, void *sock, const char *name);

/* Reads the monitor's events; returns 1 when the connection came back after a break since the
 * last call that returned 1 (`broken` keeps the state between calls, start it at 0). */
int gf_cli_watch_reconnected(void *monitor, int *broken);

/* Checks --device (NULL, "cpu" or "cuda:N") and --precision (NULL, "bf16" or "f32"); 0, or 2
 * (usage) after printing what is wrong. */
int gf_cli_device_check(const char *cmd, const char *device, const char *precision);
/* Checks a --precision that may also be q8_0 or q4_0 (gf_precision_parse): those only on the
 * CPU. 0, or 2 after printing why. Pass NULL as gf_cli_device_check's precision then. */
int gf_cli_quant_check(const char *cmd, const char *device, const char *precision);
struct gf_backend;
/* The backend of a checked --device: the CPU with `threads` threads (precision f32: its exact
 * path, gf_backend_cpu_exact), or cuda:N; NULL after the reason is logged. */
struct gf_backend *gf_cli_backend(const char *device, int threads, const char *precision);

#endif
