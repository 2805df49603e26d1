/* metrics.h — the supervisor's status as Prometheus text (exposition format 0.0.4). */
#ifndef GF_TOOLS_METRICS_H
#define GF_TOOLS_METRICS_H

#include <jansson.h>

/* Renders the status object (as `gotflow status --json` prints it) as metrics text. Caller frees.
 */
char *gf_metrics_text(const json_t *status);

/* Serves one readable ZMQ_STREAM socket: answers each HTTP request with the text of `status_fn`.
 * A request for anything but /metrics gets a 404. */
void gf_metrics_serve(void *stream, json_t *(*status_fn)(void *ctx), void *ctx);

#endif
