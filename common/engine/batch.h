/* batch.h — the continuous-batching core of a model stage (reason, imagegen).
 *
 * A continuous-batching stage holds up to `batch` requests at once, each in a slot of a request
 * table. A request is admitted when its frame arrives, waits for its KV rows, is prefilled one
 * chunk per step, joins the running batch at a step boundary, and leaves (freeing its slot)
 * when its output is written. One step is one forward: the next token of every running row,
 * then at most one prefill chunk of the oldest prefilling request, so that the weights are read
 * once per step. The core keeps the table, the admission order, the step's shape (how many
 * prefill tokens ride along, sized by a gf_pace to a quarter of the heartbeat timeout), the
 * step counters and the shutdown; the stage keeps what is its own: reading a request, building
 * and running the forward, and what it emits.
 *
 * The core knows no model: the stage's forward() builds its tokens and calls the model.
 *
 * Ownership. The core owns the table: `n_reqs` requests of `req_size` bytes each, zeroed when
 * free. The stage's request type begins with a `struct gf_batch_req` and adds its own fields;
 * what those point to the stage frees in release(). A request's frame is owned by the core from
 * gf_batch_process() until gf_batch_done() or gf_batch_fail().
 *
 * Call order. gf_batch_new() in init() once the model is loaded; gf_batch_process() from the
 * stage's process(), gf_batch_step() from its step() (its return is step()'s); gf_batch_destroy()
 * in shutdown() before the model goes. Inside gf_batch_step() the callbacks come in this order:
 * acquire() for the oldest waiting request (if the stage has one), forward() once, then take()
 * for every request that was running, in table order, then join() for the prefill whose last
 * chunk this was. A callback may end its request with gf_batch_done() or gf_batch_fail(); the
 * request is then free and must not be touched again. Loop thread only, as the stage runtime.
 */
#ifndef GF_ENGINE_BATCH_H
#define GF_ENGINE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "engine/stage.h"

typedef struct gf_batch gf_batch_t;

enum gf_batch_state {
    GF_BATCH_FREE,    /* no request */
    GF_BATCH_WAITING, /* admitted, waiting for its KV rows (acquire()) */
    GF_BATCH_PREFILL, /* its prompt goes in, a chunk per step */
    GF_BATCH_RUNNING, /* one token per row per step */
};

/* The head of every request; the stage's own fields follow it. */
struct gf_batch_req {
    gf_frame_t *frame;   /* owned by the core while the request is here */
    int state;           /* enum gf_batch_state */
    uint64_t order;      /* admission order: first come, first served */
    int rows;            /* rows it advances per running step (set by admit(); 1 if left 0) */
    int n_prefill;       /* prefill tokens in all (set by admit()) */
    int prefilled;       /* prefill tokens done */
    int64_t t_joined_us; /* gf_now_us() when the last prefill chunk was done (0 before) */
};

struct gf_batch_ops {
    size_t req_size;           /* sizeof the stage's request type */
    const char *name;          /* logged when the running batch changes: "<name>: 3 requests" */
    const char *step_error;    /* error message of the running requests when forward() fails */
    const char *prefill_error; /* and of the prefilling one */
    /* Reads and checks the request of r->frame, sets rows and n_prefill; 0, or a GF_E* with
     * `why` (may stay empty) for its error frame, after which release() is called. */
    int (*admit)(gf_stage_t *st, struct gf_batch_req *r, char *why, size_t whylen);
    /* Optional: takes the KV rows of the oldest waiting request; 0, or < 0 to wait for others to
     * leave. Without it, admit() takes them and a request goes straight to GF_BATCH_PREFILL. */
    int (*acquire)(gf_stage_t *st, struct gf_batch_req *r);
    /* One forward over the running requests run[n_run] (table order) and the next `n_pre`
     * prefill tokens of `pre` (from pre->prefilled; `pre` NULL and n_pre 0 when none); 0 or a
     * GF_E*, which fails every request in it. Not called when there is nothing to do. */
    int (*forward)(gf_stage_t *st, struct gf_batch_req **run, int n_run, struct gf_batch_req *pre,
                   int n_pre);
    /* After a forward, for run[i]: takes its tokens, emits, and may end it. */
    void (*take)(gf_stage_t *st, struct gf_batch_req *r, int i);
    /* After the forward that held the last prefill chunk of r, now GF_BATCH_RUNNING; `i` = n_run
     * (its row after the running ones). May end it. */
    void (*join)(gf_stage_t *st, struct gf_batch_req *r, int i);
    /* Frees what the stage's part of r points to; r may be partly admitted. The core then zeroes
     * the request. */
    void (*release)(gf_stage_t *st, struct gf_batch_req *r);
};

/* A table of `n_reqs` requests; a step holds at most `max_tokens` tokens (running rows and a
 * prefill chunk) and a prefill chunk at most `chunk` tokens. NULL on no memory; the caller owns
 * the result (gf_batch_destroy). `ops` must outlive it. */
gf_batch_t *gf_batch_new(gf_stage_t *st, const struct gf_batch_ops *ops, int n_reqs, int chunk,
                         int max_tokens);

/* Finishes every request still held (gf_stage_done, release) and frees the table. NULL-safe. */
void gf_batch_destroy(gf_batch_t **self_p);

/* Request k of the table (0 <= k < n_reqs), borrowed until gf_batch_destroy. */
struct gf_batch_req *gf_batch_req_at(gf_batch_t *b, int k);

/* Takes the `n` frames of a stage's process() into free requests and admits them. Returns 0. */
int gf_batch_process(gf_batch_t *b, gf_frame_t **frames, int n);

/* One step; > 0 while requests are held (the stage's step() return). */
int gf_batch_step(gf_batch_t *b);

/* The request's output is sent: its frame is done (gf_stage_done) and the request freed. */
void gf_batch_done(gf_batch_t *b, struct gf_batch_req *r);

/* Fails the request (an `error` frame with `why`, gf_stage_fail) and frees it. */
void gf_batch_fail(gf_batch_t *b, struct gf_batch_req *r, int err, const char *why);

#endif
