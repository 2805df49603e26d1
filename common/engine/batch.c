/* batch.c — the request table and the step of a continuous-batching stage (batch.h). */
#include "engine/batch.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "engine/pace.h"

struct gf_batch {
    gf_stage_t *st;
    const struct gf_batch_ops *ops;
    char *reqs; /* [n_reqs][ops->req_size] */
    int n_reqs, chunk;
    struct gf_batch_req **run; /* [n_reqs] the running requests of one step */
    struct gf_pace pace;       /* tokens per step, sized to a quarter of the heartbeat timeout */
    uint64_t next_order;
    int last_running; /* requests in the last step, logged when it changes */
};

gf_batch_t *gf_batch_new(gf_stage_t *st, const struct gf_batch_ops *ops, int n_reqs, int chunk,
                         int max_tokens)
{
    gf_batch_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->st = st, b->ops = ops, b->n_reqs = n_reqs, b->chunk = chunk;
    b->reqs = calloc((size_t)n_reqs, ops->req_size);
    b->run = calloc((size_t)n_reqs, sizeof *b->run);
    if (!b->reqs || !b->run) {
        gf_batch_destroy(&b);
        return NULL;
    }
    gf_pace_init(&b->pace, max_tokens, gf_pace_budget_us(gf_stage_info(st)->graph));
    return b;
}

struct gf_batch_req *gf_batch_req_at(gf_batch_t *b, int k)
{
    return (struct gf_batch_req *)(b->reqs + (size_t)k * b->ops->req_size);
}

static void s_release(gf_batch_t *b, struct gf_batch_req *r)
{
    b->ops->release(b->st, r);
    memset(r, 0, b->ops->req_size);
}

void gf_batch_destroy(gf_batch_t **self_p)
{
    gf_batch_t *b = self_p ? *self_p : NULL;
    if (!b)
        return;
    for (int k = 0; b->reqs && k < b->n_reqs; k++) {
        struct gf_batch_req *r = gf_batch_req_at(b, k);
        if (r->frame)
            gf_stage_done(b->st, &r->frame);
        if (r->state != GF_BATCH_FREE)
            s_release(b, r);
    }
    free(b->reqs);
    free(b->run);
    free(b);
    *self_p = NULL;
}

void gf_batch_done(gf_batch_t *b, struct gf_batch_req *r)
{
    gf_stage_done(b->st, &r->frame);
    s_release(b, r);
}

void gf_batch_fail(gf_batch_t *b, struct gf_batch_req *r, int err, const char *why)
{
    gf_stage_fail(b->st, &r->frame, err, "%s", why);
    s_release(b, r);
}

/* --- joining ---------------------------------------------------------------------------------- */

int gf_batch_process(gf_batch_t *b, gf_frame_t **frames, int n)
{
    for (int i = 0; i < n; i++) {
        struct gf_batch_req *r = NULL;
        for (int k = 0; k < b->n_reqs && !r; k++) {
            struct gf_batch_req *q = gf_batch_req_at(b, k);
            if (q->state == GF_BATCH_FREE && !q->frame)
                r = q;
        }
        if (!r) { /* the runtime hands at most `batch` frames at once: not reached */
            gf_stage_fail(b->st, &frames[i], GF_EBUSY, "no free request slot");
            continue;
        }
        char why[256] = "";
        r->frame = frames[i];
        frames[i] = NULL;
        int rc = b->ops->admit(b->st, r, why, sizeof why);
        if (rc < 0) {
            gf_batch_fail(b, r, rc, why[0] ? why : gf_strerror(rc));
            continue;
        }
        r->rows = r->rows > 0 ? r->rows : 1;
        r->state = b->ops->acquire ? GF_BATCH_WAITING : GF_BATCH_PREFILL;
        r->order = b->next_order++;
    }
    return 0;
}

/* --- stepping --------------------------------------------------------------------------------- */

/* The oldest request in `state`, or NULL. */
static struct gf_batch_req *s_oldest(gf_batch_t *b, int state)
{
    struct gf_batch_req *o = NULL;
    for (int k = 0; k < b->n_reqs; k++) {
        struct gf_batch_req *r = gf_batch_req_at(b, k);
        if (r->state == state && (!o || r->order < o->order))
            o = r;
    }
    return o;
}

static int s_pending(gf_batch_t *b)
{
    for (int k = 0; k < b->n_reqs; k++)
        if (gf_batch_req_at(b, k)->state != GF_BATCH_FREE)
            return 1;
    return 0;
}

int gf_batch_step(gf_batch_t *b)
{
    const struct gf_batch_ops *ops = b->ops;
    struct gf_batch_req *w = ops->acquire ? s_oldest(b, GF_BATCH_WAITING) : NULL;
    if (w && ops->acquire(b->st, w) == 0) /* else rows free up as others leave */
        w->state = GF_BATCH_PREFILL, w->prefilled = 0;
    int n_run = 0, rows = 0, n_pre = 0;
    for (int k = 0; k < b->n_reqs; k++) {
        struct gf_batch_req *r = gf_batch_req_at(b, k);
        if (r->state == GF_BATCH_RUNNING)
            b->run[n_run++] = r, rows += r->rows;
    }
    struct gf_batch_req *pre = s_oldest(b, GF_BATCH_PREFILL); /* one chunk rides along */
    if (n_run != b->last_running && n_run > 0)
        gf_log_info("%s: %d request%s", ops->name, n_run, n_run == 1 ? "" : "s");
    b->last_running = n_run;
    if (pre) {
        int room = b->pace.now - rows, left = pre->n_prefill - pre->prefilled;
        room = room < 1 ? 1 : room > b->chunk ? b->chunk : room;
        n_pre = left < room ? left : room;
    }
    if (n_run == 0 && !pre)
        return s_pending(b);
    if (rows > 0)
        gf_stage_count_step(b->st, rows);
    int64_t t0 = gf_now_us();
    int rc = ops->forward(b->st, b->run, n_run, pre, n_pre);
    gf_pace_update(&b->pace, rows + n_pre, gf_now_us() - t0);
    for (int i = 0; i < n_run; i++) {
        if (rc < 0)
            gf_batch_fail(b, b->run[i], rc, ops->step_error);
        else
            ops->take(b->st, b->run[i], i);
    }
    if (pre && rc < 0) {
        gf_batch_fail(b, pre, rc, ops->prefill_error);
    } else if (pre) {
        pre->prefilled += n_pre;
        if (pre->prefilled == pre->n_prefill) {
            pre->state = GF_BATCH_RUNNING;
            pre->t_joined_us = gf_now_us();
            ops->join(b->st, pre, n_run);
        }
    }
    return s_pending(b);
}
