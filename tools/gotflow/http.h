/* http.h — the HTTP front: an OpenAI-style images API and the web console over a running
 * pipeline, as a client of its gateway (docs/http.md, DESIGN §9).
 *
 * Threads: libmicrohttpd runs one thread per connection; one bridge thread owns the ZeroMQ
 * sockets (the DEALER to the gateway, the SUB on the taps). A connection thread hands a request
 * to the bridge through a locked list and a pipe, and waits on its own condition variable for
 * the answer (and, when streaming, for the tap frames of its request id).
 */
#ifndef GF_TOOLS_HTTP_H
#define GF_TOOLS_HTTP_H

#include <stddef.h>

#include "engine/graph.h"
#include "engine/plan.h"

struct gf_http_opts {
    const char *listen;    /* HOST:PORT; port 0 picks a free one */
    const char *keys_file; /* bearer keys, one a line; required beyond loopback */
    const char *pipeline;  /* the graph file, recorded in metadata */
    size_t max_body;       /* bytes of a request body */
    unsigned max_conns;    /* connections at once */
    int timeout_ms;        /* a request's deadline (504 after it) */
    int idle_s;            /* a keep-alive connection's idle limit */
};

typedef struct gf_http gf_http_t;

/* Starts the front on the pipeline running in `run_dir` with graph `g` (borrowed for the
 * front's life). Returns NULL with `why` set (bad listen address, keys missing beyond
 * loopback, unreadable keys file, port taken). */
gf_http_t *gf_http_new(const struct gf_http_opts *o, const gf_graph_t *g, const char *run_dir,
                       char *why, size_t whylen);

/* The URL it listens on ("http://127.0.0.1:8000/"). */
const char *gf_http_url(const gf_http_t *self);

/* Stops taking generation requests (503 `draining`) and waits up to `timeout_ms` for those in
 * flight; 0 when all finished, GF_ETIMEDOUT otherwise. */
int gf_http_drain(gf_http_t *self, int timeout_ms);

/* Closes every connection and stops the threads. Accepts NULL. */
void gf_http_destroy(gf_http_t **self_p);

#endif
