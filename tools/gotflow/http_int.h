/* http_int.h — what the files of the HTTP front share (http.c: server and bridge; http_routes.c:
 * the routes; http_sse.c: the event stream). Not a public interface. */
#ifndef GF_TOOLS_HTTP_INT_H
#define GF_TOOLS_HTTP_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <zmq.h>

#include "http.h"
#include "http_api.h"
#include "model/picture/layout.h"

#define GF_HTTP_MAX_KEYS 64
#define GF_HTTP_STORE 256 /* pictures kept for `url` answers */

/* A tap frame of a streaming request, copied. */
struct gf_http_event {
    struct gf_http_event *next;
    size_t len;
    uint8_t data[];
};

/* A request in flight: owned by its connection thread; the bridge fills `answer` and `events`
 * under gf_http.mu and signals `cv`. */
struct gf_http_job {
    struct gf_http_job *prev, *next;
    char id[GF_FRAME_ID_MAX];
    msgpack_sbuffer req;
    int stream, sent, done;
    int64_t deadline; /* monotonic ms */
    void *answer;
    size_t answer_len;
    struct gf_http_event *events, *events_tail;
    pthread_cond_t cv;
};

struct gf_http_stored {
    char name[64];
    uint8_t *png;
    size_t len;
};

struct gf_http {
    struct gf_http_opts o;
    const gf_graph_t *graph;
    char run_dir[GF_PATH_MAX];
    char url[320];
    struct gf_http_model model;
    struct gf_generate_meta defaults; /* the parameters a request does not give, read once */
    struct sockaddr_storage addr;
    struct MHD_Daemon *d;
    char *keys[GF_HTTP_MAX_KEYS];
    int n_keys;

    pthread_mutex_t mu; /* jobs, counters, store */
    pthread_cond_t drained;
    struct gf_http_job *jobs;
    int n_jobs;
    uint64_t id_prefix, id_count;
    volatile int draining, stopping;
    struct gf_http_stored store[GF_HTTP_STORE];
    unsigned store_next;
    uint64_t status_count[600];
    uint64_t gen_count;
    double gen_seconds;

    /* the bridge thread's own */
    void *zctx, *dealer, *sub, *monitor;
    int wake[2];
    pthread_t bridge;
    int bridge_started, broken;
    volatile int bridge_stop;
};

/* One HTTP request's state (MHD's con_cls). */
struct gf_http_conn {
    struct gf_http *s;
    char *body;
    size_t len, cap;
    int too_big, status;
    int64_t t0;
    struct gf_http_job *job;
    struct gf_http_req req;
    int have_req;
    /* streaming */
    char *out;
    size_t out_len, out_off, out_cap;
    char *text;
    size_t text_len;
    gf_layout_t *layout;
    size_t objects_sent;
    int sse_done;
    struct gf_http_tap *tap; /* GET /v1/taps/STAGE (http_tap.c) */
};

int64_t gf_http_now_ms(void);
/* Fills in the parameters not in `have` as gf_generate_defaults does, from what it read at
 * start (the checkpoint and the graph do not change under a running pipeline). */
void gf_http_defaults(const struct gf_http *s, unsigned have, struct gf_generate_meta *m);
int gf_http_wait(struct gf_http *s, struct gf_http_job *job, int (*ready)(struct gf_http_job *));
struct gf_http_job *gf_http_job_submit(struct gf_http *s, const struct gf_http_req *r, int stream);
void gf_http_job_finish(struct gf_http *s, struct gf_http_job **job_p);

enum MHD_Result gf_http_access(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls);
void gf_http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                       enum MHD_RequestTerminationCode why);

/* The answer to a generation request with `stream: true` (http_sse.c). */
enum MHD_Result gf_http_sse_start(struct gf_http_conn *cc, struct MHD_Connection *c);
void gf_http_sse_release(struct gf_http_conn *cc);
/* Appends bytes, or one event `data: JSON\n\n` (takes j), to the connection's output. */
void gf_http_sse_out(struct gf_http_conn *cc, const char *p, size_t n);
void gf_http_sse_event(struct gf_http_conn *cc, json_t *j);

/* GET /v1/taps/STAGE[?kind=KIND]: the stage's tap frames as Server-Sent Events (http_tap.c). */
enum MHD_Result gf_http_tap_start(struct gf_http_conn *cc, struct MHD_Connection *c,
                                  const char *stage, const char *kind);
void gf_http_tap_release(struct gf_http_conn *cc);

/* Sends an OpenAI error (routes). */
enum MHD_Result gf_http_error(struct gf_http_conn *cc, struct MHD_Connection *c, int status,
                              const char *message, const char *type, const char *param,
                              const char *code);

/* Keeps a picture for GET /v1/images/files/NAME; writes its URL into url (len bytes). */
void gf_http_store(struct gf_http *s, const void *png, size_t len, char *url, size_t url_len);

/* The static files of the web console: 0 and the bytes, or -1 (http_console.c). */
int gf_http_console_file(const char *path, const char **ctype, const char **data, size_t *len);

#endif
