/* test-batch.c — a continuous-batching stage without a model, on common/engine/batch.h.
 *
 * A request asks for `prompt` prefill tokens (default 3), `steps` running steps (default 2) and
 * `rows` KV rows (default 1); the stage has `kv_rows` rows in all (param, default 4), taken in
 * acquire() and given back when the request leaves, and prefill chunks of at most `chunk` tokens
 * (param, default 2). The forward only counts. The result (kind `tokens`) adds what the core did:
 *   admitted    the admission order of the request in this replica
 *   joined      the order in which it joined the running batch
 *   steps_done  its running steps
 *   max_chunk   the largest prefill chunk it was given
 *   max_rows    the most KV rows held at once by all requests, seen at its steps
 * A request with `bad` set is refused by admit(); with `fail_step` set its forward fails on its
 * first running step (every request running in that step fails with it).
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "engine/batch.h"
#include "engine/stage.h"

struct s_req {
    struct gf_batch_req b;
    int64_t x, steps, fail_step;
    int admitted, joined, steps_done, max_chunk;
};

struct s_state {
    gf_batch_t *batch;
    int kv_rows, held, max_rows, n_admitted, n_joined;
};

static struct s_state *s_of(gf_stage_t *st)
{
    return gf_stage_info(st)->user;
}

static int64_t s_int(const gf_frame_t *f, const char *key, int64_t dflt)
{
    int64_t v = dflt;
    gf_frame_get_int(f, key, &v);
    return v;
}

static int s_admit(gf_stage_t *st, struct gf_batch_req *b, char *why, size_t whylen)
{
    struct s_state *s = s_of(st);
    struct s_req *r = (struct s_req *)b;
    if (s_int(b->frame, "bad", 0))
        return GF_EINVAL; /* why stays empty: the core answers with gf_strerror */
    r->x = s_int(b->frame, "x", 0);
    r->steps = s_int(b->frame, "steps", 2);
    r->fail_step = s_int(b->frame, "fail_step", 0);
    b->rows = (int)s_int(b->frame, "rows", 1);
    b->n_prefill = (int)s_int(b->frame, "prompt", 3);
    if (b->rows < 1 || b->rows > s->kv_rows || b->n_prefill < 1 || r->steps < 1) {
        snprintf(why, whylen, "rows 1..%d, prompt >= 1 and steps >= 1", s->kv_rows);
        return GF_EINVAL;
    }
    r->admitted = s->n_admitted++;
    return 0;
}

static int s_acquire(gf_stage_t *st, struct gf_batch_req *b)
{
    struct s_state *s = s_of(st);
    if (s->held + b->rows > s->kv_rows)
        return GF_EBUSY;
    s->held += b->rows;
    if (s->held > s->max_rows)
        s->max_rows = s->held;
    return 0;
}

static int s_forward(gf_stage_t *st, struct gf_batch_req **run, int n_run, struct gf_batch_req *pre,
                     int n_pre)
{
    for (int i = 0; i < n_run; i++) {
        struct s_req *r = (struct s_req *)run[i];
        if (r->fail_step && r->steps_done == 0)
            return GF_ESTAGE;
    }
    if (pre && n_pre > ((struct s_req *)pre)->max_chunk)
        ((struct s_req *)pre)->max_chunk = n_pre;
    return 0;
}

static void s_take(gf_stage_t *st, struct gf_batch_req *b, int i)
{
    struct s_state *s = s_of(st);
    struct s_req *r = (struct s_req *)b;
    if (++r->steps_done < r->steps)
        return;
    gf_emit_t *e = gf_stage_begin(st, b->frame, "tokens");
    gf_emit_int(e, "admitted", r->admitted);
    gf_emit_int(e, "joined", r->joined);
    gf_emit_int(e, "steps_done", r->steps_done);
    gf_emit_int(e, "max_chunk", r->max_chunk);
    gf_emit_int(e, "max_rows", s->max_rows);
    gf_stage_send(st, b->frame);
    gf_batch_done(s->batch, b);
}

static void s_join(gf_stage_t *st, struct gf_batch_req *b, int i)
{
    ((struct s_req *)b)->joined = s_of(st)->n_joined++;
}

static void s_release(gf_stage_t *st, struct gf_batch_req *b)
{
    if (b->state != GF_BATCH_FREE && b->state != GF_BATCH_WAITING)
        s_of(st)->held -= b->rows;
}

static const struct gf_batch_ops s_batch_ops = {
    .req_size = sizeof(struct s_req),
    .name = "test batch",
    .step_error = "the test step failed",
    .prefill_error = "the test prefill failed",
    .admit = s_admit,
    .acquire = s_acquire,
    .forward = s_forward,
    .take = s_take,
    .join = s_join,
    .release = s_release,
};

static int s_process(gf_stage_t *st, gf_frame_t **frames, int n)
{
    return gf_batch_process(s_of(st)->batch, frames, n);
}

static int s_step(gf_stage_t *st)
{
    return gf_batch_step(s_of(st)->batch);
}

static void s_shutdown(gf_stage_t *st)
{
    struct s_state *s = s_of(st);
    if (s)
        gf_batch_destroy(&s->batch);
    free(s);
    gf_stage_info(st)->user = NULL;
}

static int s_init(gf_stage_t *st)
{
    struct gf_stage_info *info = gf_stage_info(st);
    struct s_state *s = calloc(1, sizeof *s);
    if (!s)
        return GF_ENOMEM;
    info->user = s;
    s->kv_rows = (int)gf_graph_param_long(info->def, "kv_rows", 4);
    int chunk = (int)gf_graph_param_long(info->def, "chunk", 2);
    int rc = s->kv_rows < 1 || chunk < 1 ? GF_EINVAL : 0;
    if (rc == 0 &&
        !(s->batch = gf_batch_new(st, &s_batch_ops, info->def->batch, chunk, chunk + s->kv_rows)))
        rc = GF_ENOMEM;
    if (rc < 0)
        s_shutdown(st);
    return rc;
}

static const struct gf_stage_ops s_ops = {
    .kind = "test-batch",
    .init = s_init,
    .process = s_process,
    .step = s_step,
    .shutdown = s_shutdown,
};

int main(int argc, char **argv)
{
    return gf_stage_main(argc, argv, &s_ops);
}
