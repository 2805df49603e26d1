/* stage.h — the runtime every stage process runs on.
 *
 * A stage program is a table of callbacks and one call:
 *
 *     static const struct gf_stage_ops ops = {.kind = "upper", .process = s_process};
 *     int main(int argc, char **argv) { return gf_stage_main(argc, argv, &ops); }
 *
 * gf_stage_main() loads the run's graph, connects the control socket (Hello), binds its inlet
 * and tap, connects an outlet to each downstream stage, calls init(), says Ready, and then runs
 * one poll loop over the inlet, the outlets, the control socket and any watched sockets until
 * the supervisor says Shutdown (or SIGTERM). In that loop:
 *
 *   - frames arrive on the inlet, are decoded (a bad one is counted and answered with an `error`
 *     frame for its request when it has an id), joined by request id when the stage has several
 *     upstream stages, and queued;
 *   - `error` frames pass straight through to the downstream stages (unless the stage asked to
 *     see them, as the sink and the gateway do);
 *   - whenever fewer than `batch` frames are in process, up to that many queued frames are
 *     handed to process(); the stage then owns them and calls gf_stage_done() (or
 *     gf_stage_fail()) for each when it is finished with it — at once for a simple stage, steps
 *     later for a continuous-batching one, whose step() is called while it returns > 0;
 *   - a heartbeat with counters, queue depth, credits and in-flight ids goes to the supervisor.
 *
 * process() and step() run on the loop's thread and should return within the heartbeat timeout:
 * long work is split into steps. Nothing here is thread-safe.
 */
#ifndef GF_ENGINE_STAGE_H
#define GF_ENGINE_STAGE_H

#include <stdint.h>

#include "engine/frame.h"
#include "engine/graph.h"
#include "engine/security.h"
#include "proto/control.pb-c.h"

typedef struct gf_stage gf_stage_t;

enum {
    GF_STAGE_SEES_ERRORS = 1, /* error frames go to process() instead of passing through */
    GF_STAGE_NO_CARRY = 2,    /* gf_stage_send() does not carry the input's keys */
    GF_STAGE_SOURCE = 4,      /* its output does not come from its inlet (the gateway): a full
                                 outbox must not stop it taking in frames */
};

struct gf_stage_ops {
    const char *kind;
    int flags;
    /* After the sockets are up; 0, or a negative GF_E* (reported as a Fault, exit status 1). */
    int (*init)(gf_stage_t *st);
    /* Takes ownership of `n` (1..batch) frames. A negative return fails every frame it got that
     * is not done yet with that code. */
    int (*process)(gf_stage_t *st, gf_frame_t **frames, int n);
    /* Optional: advances work in progress; returns > 0 while more is pending. */
    int (*step)(gf_stage_t *st);
    /* Optional: called on every turn of the loop (at least every 20 ms), for timers. */
    void (*tick)(gf_stage_t *st, int64_t now_ms);
    /* Optional: the supervisor reports requests lost with a replica that died (gateway). */
    void (*on_lost)(gf_stage_t *st, const Gotflow__Lost *lost);
    /* Optional: the supervisor's census of what every replica holds (gateway). */
    void (*on_census)(gf_stage_t *st, const Gotflow__Census *census);
    /* Optional: called once before exit. */
    void (*shutdown)(gf_stage_t *st);
};

/* What a stage may read. */
struct gf_stage_info {
    const gf_graph_t *graph;
    const struct gf_stage_def *def; /* this stage's definition (params, batch, device) */
    int index;                      /* this stage in graph->stages */
    int replica;
    struct gf_device device;
    const char *run_dir;
    void *zctx; /* the ZeroMQ context, for stages that open sockets of their own */
    void *user; /* the stage's own state */
};

int gf_stage_main(int argc, char **argv, const struct gf_stage_ops *ops);

struct gf_backend;
/* The compute backend of this replica's device: the CPU (params.threads, 0 = every core), or
 * cuda:N (params.precision: bf16, the default, or f32; on the CPU, f32 takes the exact path,
 * gf_backend_cpu_exact). NULL after logging one line that says
 * why (no CUDA in this build, no such device, a bad precision, q8_0 or q4_0 on a GPU); the
 * caller owns the result (gf_backend_destroy). */
struct gf_backend *gf_stage_backend_new(const struct gf_stage_info *info);

struct gf_ckpt;
/* Applies params.precision to the checkpoint's language model at load (gf_ckpt_precision:
 * q8_0 or q4_0 quantize it, f32 keeps the f32 cache of the exact path), or on the CPU, when
 * params has no precision, the environment's GOTFLOW_PRECISION (set by gotflow generate
 * --precision for the pipeline it starts). 0, or GF_ENOMEM after logging. */
int gf_stage_precision(const struct gf_stage_info *info, struct gf_ckpt *ck);

/* The checkpoint directory of a model stage: params.model, else the graph's model:. NULL, after
 * logging what to set, when neither is given. */
const char *gf_stage_model_dir(const struct gf_stage_info *info);

struct gf_stage_info *gf_stage_info(gf_stage_t *st);

/* The process's CURVE setup, for stages that bind sockets of their own (the gateway). */
const struct gf_security *gf_stage_security(const gf_stage_t *st);

/* Starts a frame for the request of `in` (or for (id, n) with _id) on the stage's builder. */
gf_emit_t *gf_stage_begin(gf_stage_t *st, const gf_frame_t *in, const char *kind);
gf_emit_t *gf_stage_begin_id(gf_stage_t *st, const char *id, uint32_t n, const char *kind);

/* Seals the begun frame (carrying `in`'s keys unless GF_STAGE_NO_CARRY; `in` may be NULL),
 * sends it to every downstream stage and publishes it on the tap. 0 or GF_ENOMEM. */
int gf_stage_send(gf_stage_t *st, const gf_frame_t *in);

/* gf_stage_send() in two steps, for a stage that must act on the sealed frame before anyone sees
 * it (the sink writes it to disk first): gf_stage_seal() seals the begun frame (its bytes are
 * then gf_emit_data() of the builder), gf_stage_send_sealed() sends it as gf_stage_send() would.
 * Beginning another frame (or gf_stage_fail()) in between drops the sealed one unsent. */
void gf_stage_seal(gf_stage_t *st, const gf_frame_t *in);
int gf_stage_send_sealed(gf_stage_t *st);

/* Seals the begun frame and publishes it on the tap only (text_delta and other progress). */
void gf_stage_publish(gf_stage_t *st, const gf_frame_t *in);

/* The stage is finished with `*frame_p` (frees it, frees its credit slot, records latency). */
void gf_stage_done(gf_stage_t *st, gf_frame_t **frame_p);

/* Sends an `error` frame for the request of `*frame_p` downstream, then gf_stage_done(). */
void gf_stage_fail(gf_stage_t *st, gf_frame_t **frame_p, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sends an `error` frame for request (id, n) downstream; for requests not held as a frame. */
void gf_stage_fail_id(gf_stage_t *st, const char *id, uint32_t n, const char *code,
                      const char *message);

/* Calls `fn` from the loop whenever `sock` is readable (at most 4 watched sockets). */
int gf_stage_watch(gf_stage_t *st, void *sock, void (*fn)(gf_stage_t *st, void *sock));

/* True once the supervisor asked this replica to drain. */
int gf_stage_draining(const gf_stage_t *st);

/* Requests counted as in flight here beyond held frames (a gateway's journal), with up to
 * `n_ids` of their ids, reported in heartbeats. */
void gf_stage_set_requests(gf_stage_t *st, int n, const char *const *ids, int n_ids);

/* A continuous-batching stage counts each model step and the rows it advanced; the heartbeat
 * reports the last step's rows as batch_rows and the totals, whose ratio `gotflow status` shows
 * as the mean batch. */
void gf_stage_count_step(gf_stage_t *st, int rows);

/* For work inside one process() or step() call that can outlast the heartbeat timeout on a slow
 * machine (a VQ decode of a large picture): call it now and then from the work, on the loop's
 * thread; it sends the heartbeat when one is due, so the supervisor does not take a slow
 * replica for a hung one. */
void gf_stage_keepalive(gf_stage_t *st);

/* Frames waiting for downstream credit, over all outlets. */
int gf_stage_outbox(const gf_stage_t *st);

/* Calls `fn` for each frame waiting for downstream credit (request id, attempt). */
void gf_stage_each_outbox(const gf_stage_t *st, void (*fn)(void *ctx, const char *id, uint32_t n),
                          void *ctx);

/* Tells the supervisor that attempts of request `id` below `below` are superseded; it passes
 * the word to every replica, which drops them wherever they wait (gateway). */
void gf_stage_cancel(gf_stage_t *st, const char *id, uint32_t below);

#endif
