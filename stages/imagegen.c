/* imagegen.c — the imagegen stage: a `layout` (or `reasoning`) frame in, `image_tokens` out.
 *
 * Stage 2 of MODEL.md §1.4-1.5 on the continuous batch of common/model/imagegen.h: prompt_ids
 * + reasoning_ids (ending with <begin_of_image>) are re-prefilled in 2P rows (cond/uncond pairs
 * under CFG, the uncond rows padded with special.pad) or P rows without CFG, one chunk per step
 * in the same forward as the running rows' tokens (the weights are read once per step);
 * a request joins the running batch at a step boundary after its re-prefill, every step draws one
 * image token per image for every request in flight, and a request leaves, freeing its KV slots,
 * when its grid is full. The draws are keyed by (seed, image, step), so a request's codes do not
 * depend on its neighbours.
 *
 * Adds `codes` (i32 [parallel, grid_h*grid_w], raster order) and `grid` [h, w] to everything the
 * request carried, and publishes `progress` {step, of} on the tap every few steps.
 *
 * Parameters, request `params` key over the stage's graph `params:` key over the checkpoint's
 * generation_config.json (model/genconfig.h): seed; image_temperature
 * over temperature (0 = greedy; default 1); image_top_k over top_k; image_top_p over top_p;
 * cfg_weight (default 5; <= 1 turns CFG off); parallel_size over parallel (images per request,
 * default 1). Stage only: model, threads, image_size and patch_size (grid side = image_size /
 * patch_size; default the checkpoint's gen_vision_config.params image_size and patch_size, else
 * 384 / 16 = 24), rows (KV rows, default 2 * batch), max_seq (default 2048),
 * chunk (re-prefill tokens per step at most, default 128; a step is also kept to about a quarter
 * of the heartbeat timeout).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "engine/params.h"
#include "engine/pace.h"
#include "engine/stage.h"
#include "model/checkpoint.h"
#include "model/genconfig.h"
#include "model/imagegen.h"
#include "model/llm.h"
#include "model/vq.h"

enum { S_FREE, S_WAITING, S_PREFILL, S_RUNNING };

struct s_req {
    gf_frame_t *frame; /* owned while the request is here */
    int state;
    uint64_t order;
    int32_t *seq; /* [n_seq] prompt + chain */
    int n_seq;
    int rows;                  /* 2P with CFG, else P */
    int prefilled;             /* re-prefill tokens done, over all rows */
    struct gf_imagegen_req ig; /* ig.image: [parallel][n_image] */
};

struct s_imagegen {
    struct gf_ckpt *ck;
    struct gf_backend *be;
    struct gf_llm *m;
    struct s_req *reqs;          /* [batch] */
    struct gf_imagegen_req **ig; /* [batch] &reqs[k].ig, for gf_imagegen_step */
    int n_reqs;
    struct gf_tok *toks; /* [chunk + n_rows] one step: a re-prefill chunk, then the rows */
    int chunk;           /* re-prefill tokens in one step, at most */
    struct gf_pace pace; /* tokens per step, sized to a quarter of the heartbeat timeout */
    float *scratch;      /* [2 * image_vocab] */
    int32_t *idx;        /* [image_vocab] */
    int grid_h, grid_w, n_image, n_rows, max_seq, progress_every;
    uint64_t next_order;
    int last_running; /* requests in the last step, logged when it changes */
    /* the specs below, their defaults taken from the checkpoint's generation_config.json */
    struct gf_param_spec temperature, top_k, top_p, cfg, parallel;
};

static const struct gf_param_spec s_temperature = {
    "image_temperature", NULL, "temperature", 1.0, 0.0, 100.0, 0};
static const struct gf_param_spec s_top_k = {"image_top_k", NULL, "top_k", 0, 0, 1 << 30, 1};
static const struct gf_param_spec s_top_p = {"image_top_p", NULL, "top_p", 1.0, 1e-6, 1.0, 0};
static const struct gf_param_spec s_cfg = {"cfg_weight", NULL, "cfg_weight", 5.0, 0.0, 100.0, 0};
static const struct gf_param_spec s_parallel = {
    "parallel_size", "parallel", "parallel", 1, 1, GF_IMAGEGEN_MAX_ROWS / 2, 1};

static void s_req_release(struct s_imagegen *s, struct s_req *r)
{
    if (r->state == S_PREFILL)
        gf_llm_slots_release(s->m, r->rows, r->ig.slots);
    gf_imagegen_leave(s->m, &r->ig);
    free(r->seq);
    free(r->ig.image);
    memset(r, 0, sizeof *r);
}

static void s_req_fail(gf_stage_t *st, struct s_req *r, int err, const char *why)
{
    gf_stage_fail(st, &r->frame, err, "%s", why);
    s_req_release(gf_stage_info(st)->user, r);
}

/* --- joining ---------------------------------------------------------------------------------- */

/* prompt_ids + reasoning_ids into r->seq; 0 or GF_E* with `why`. */
static int s_read_seq(struct s_imagegen *s, struct s_req *r, char *why, size_t whylen)
{
    int32_t *prompt = NULL, *chain = NULL, boi;
    int n_prompt = 0, n_chain = 0, V = s->ck->cfg.vocab;
    int rc = gf_params_ids(r->frame, "prompt_ids", V, &prompt, &n_prompt, why, whylen);
    if (rc == 0)
        rc = gf_params_ids(r->frame, "reasoning_ids", V, &chain, &n_chain, why, whylen);
    if (rc == 0 && gf_params_special(r->frame, "begin_of_image", V, &boi, why, whylen) == 0 &&
        chain[n_chain - 1] != boi) {
        snprintf(why, whylen, "'reasoning_ids' does not end with <begin_of_image> (%d)", boi);
        rc = GF_EINVAL;
    }
    if (rc == 0 && n_prompt + n_chain + s->n_image > s->max_seq) {
        snprintf(why, whylen,
                 "prompt and chain of %d tokens with %d image tokens do not fit the context of %d "
                 "positions",
                 n_prompt + n_chain, s->n_image, s->max_seq);
        rc = GF_EINVAL;
    }
    if (rc == 0 && !(r->seq = malloc((size_t)(n_prompt + n_chain) * sizeof *r->seq)))
        rc = GF_ENOMEM;
    if (rc == 0) {
        memcpy(r->seq, prompt, (size_t)n_prompt * sizeof *r->seq);
        memcpy(r->seq + n_prompt, chain, (size_t)n_chain * sizeof *r->seq);
        r->n_seq = n_prompt + n_chain;
    }
    free(prompt);
    free(chain);
    return rc;
}

/* The specs with the checkpoint's generation defaults (model/genconfig.h) in place of GoT-R1's. */
static int s_defaults(struct s_imagegen *s, const char *dir)
{
    struct gf_genconfig gc;
    char why[4400];
    int rc = gf_genconfig_load(dir, &gc, why, sizeof why);
    if (rc < 0) {
        gf_log_error("%s", why);
        return rc;
    }
    s->temperature = s_temperature, s->top_k = s_top_k, s->top_p = s_top_p, s->cfg = s_cfg;
    s->parallel = s_parallel;
    struct gf_param_spec *specs[] = {&s->temperature, &s->top_k, &s->top_p, &s->cfg, &s->parallel};
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++)
        specs[i]->dflt = gf_genconfig_get(&gc, specs[i]->req, specs[i]->dflt);
    return 0;
}

static int s_admit(struct s_imagegen *s, const struct gf_stage_def *def, struct s_req *r, char *why,
                   size_t whylen)
{
    double temperature, top_k, top_p, cfg, parallel;
    int rc;
    if ((rc = s_read_seq(s, r, why, whylen)) < 0 ||
        (rc = gf_params_special(r->frame, "pad", s->ck->cfg.vocab, &r->ig.pad_id, why, whylen)) <
            0 ||
        (rc = gf_params_seed(r->frame, def, 1000, &r->ig.seed, why, whylen)) < 0 ||
        (rc = gf_params_get(r->frame, def, &s->temperature, &temperature, why, whylen)) < 0 ||
        (rc = gf_params_get(r->frame, def, &s->top_k, &top_k, why, whylen)) < 0 ||
        (rc = gf_params_get(r->frame, def, &s->top_p, &top_p, why, whylen)) < 0 ||
        (rc = gf_params_get(r->frame, def, &s->cfg, &cfg, why, whylen)) < 0 ||
        (rc = gf_params_get(r->frame, def, &s->parallel, &parallel, why, whylen)) < 0)
        return rc;
    r->ig.sampler = (struct gf_sampler){(float)temperature, (int)top_k, (float)top_p};
    r->ig.cfg_weight = (float)cfg;
    r->ig.parallel = (int)parallel;
    r->ig.n_image = s->n_image;
    int rows = r->rows = cfg > 1 ? 2 * r->ig.parallel : r->ig.parallel;
    if (rows > s->n_rows) {
        snprintf(why, whylen, "%d images%s need %d KV rows; this stage has %d", r->ig.parallel,
                 cfg > 1 ? " under CFG" : "", rows, s->n_rows);
        return GF_EINVAL;
    }
    if (!(r->ig.image = calloc((size_t)r->ig.parallel * s->n_image, sizeof *r->ig.image)))
        return GF_ENOMEM;
    r->state = S_WAITING;
    r->order = s->next_order++;
    return 0;
}

static int s_process(gf_stage_t *st, gf_frame_t **frames, int n)
{
    struct gf_stage_info *info = gf_stage_info(st);
    struct s_imagegen *s = info->user;
    for (int i = 0; i < n; i++) {
        struct s_req *r = NULL;
        for (int k = 0; k < s->n_reqs && !r; k++)
            if (s->reqs[k].state == S_FREE && !s->reqs[k].frame)
                r = &s->reqs[k];
        if (!r) { /* the runtime hands at most `batch` frames at once: not reached */
            gf_stage_fail(st, &frames[i], GF_EBUSY, "no free request slot");
            continue;
        }
        char why[256] = "";
        r->frame = frames[i];
        frames[i] = NULL;
        int rc = s_admit(s, info->def, r, why, sizeof why);
        if (rc < 0)
            s_req_fail(st, r, rc, why[0] ? why : gf_strerror(rc));
    }
    return 0;
}

/* --- stepping --------------------------------------------------------------------------------- */

/* The oldest waiting request takes its KV rows when they are free. */
static void s_acquire_step(struct s_imagegen *s)
{
    struct s_req *r = NULL;
    for (int k = 0; k < s->n_reqs; k++)
        if (s->reqs[k].state == S_WAITING && (!r || s->reqs[k].order < r->order))
            r = &s->reqs[k];
    if (!r || gf_llm_slots_acquire(s->m, r->rows, r->ig.slots) < 0)
        return; /* rows free up as others leave */
    r->state = S_PREFILL;
    r->prefilled = 0;
}

/* The oldest re-prefill's next chunk of at most `room` tokens into s->toks: positions 0..n_seq-2
 * of every row, row after row, the unconditional rows padded at 1..n_seq-2 (MODEL.md §1.4), as
 * gf_imagegen_join does in one call; split so that no step outlasts the heartbeat on a large
 * model, and run in the same forward as the running rows' step. Returns the tokens written. */
static int s_prefill_chunk(struct s_imagegen *s, struct s_req *r, int room)
{
    int per_row = r->n_seq - 1, total = r->rows * per_row, cfg = r->ig.cfg_weight > 1, n = 0;
    for (; n < room && r->prefilled + n < total; n++) {
        int k = (r->prefilled + n) / per_row, p = (r->prefilled + n) % per_row;
        int32_t id = cfg && (k & 1) && p > 0 ? r->ig.pad_id : r->seq[p];
        s->toks[n] = (struct gf_tok){id, r->ig.slots[k], p, GF_TOK_TEXT, 0};
    }
    return n;
}

/* After its last chunk the request joins: every row's next token is <begin_of_image> at
 * position n_seq-1. */
static void s_join(struct s_req *r)
{
    int per_row = r->n_seq - 1;
    for (int k = 0; k < r->rows; k++)
        r->ig.next[k] = (struct gf_tok){r->seq[per_row], r->ig.slots[k], per_row, GF_TOK_TEXT, 1};
    r->ig.rows = r->rows;
    r->ig.step = 0, r->ig.done = 0, r->ig.active = 1;
    r->state = S_RUNNING;
}

static void s_finish(gf_stage_t *st, struct s_imagegen *s, struct s_req *r)
{
    gf_emit_t *e = gf_stage_begin(st, r->frame, "image_tokens");
    int64_t shape[2] = {r->ig.parallel, s->n_image};
    gf_emit_tensor(e, "codes", GF_DTYPE_I32, shape, 2, r->ig.image);
    msgpack_packer *pk = gf_emit_key(e, "grid");
    msgpack_pack_array(pk, 2);
    msgpack_pack_int(pk, s->grid_h);
    msgpack_pack_int(pk, s->grid_w);
    gf_stage_send(st, r->frame);
    gf_stage_done(st, &r->frame);
    s_req_release(s, r);
}

static void s_progress(gf_stage_t *st, struct s_imagegen *s, struct s_req *r)
{
    gf_emit_t *e = gf_stage_begin(st, r->frame, "progress");
    gf_emit_int(e, "step", r->ig.step);
    gf_emit_int(e, "of", s->n_image);
    gf_stage_publish(st, r->frame);
}

static int s_step(gf_stage_t *st)
{
    struct s_imagegen *s = gf_stage_info(st)->user;
    int pending = 0, running = 0, rows = 0, n_extra = 0;
    s_acquire_step(s);
    struct s_req *pre = NULL; /* the oldest re-prefill: one chunk rides along this step */
    for (int k = 0; k < s->n_reqs; k++) {
        struct s_req *r = &s->reqs[k];
        if (r->state == S_RUNNING)
            running++, rows += r->rows;
        else if (r->state == S_PREFILL && (!pre || r->order < pre->order))
            pre = r;
    }
    if (running != s->last_running && running > 0)
        gf_log_info("image batch: %d request%s", running, running == 1 ? "" : "s");
    s->last_running = running;
    if (pre) {
        int room = s->pace.now - rows;
        n_extra = s_prefill_chunk(s, pre, room < 1 ? 1 : room > s->chunk ? s->chunk : room);
    }
    if (rows > 0)
        gf_stage_count_step(st, rows);
    int64_t t0 = gf_now_us();
    int rc = gf_imagegen_step(s->m, s->ig, s->n_reqs, s->toks, n_extra, s->scratch, s->idx);
    gf_pace_update(&s->pace, rows + n_extra, gf_now_us() - t0);
    for (int k = 0; k < s->n_reqs; k++) {
        struct s_req *r = &s->reqs[k];
        if (r->state != S_RUNNING)
            continue;
        if (rc < 0)
            s_req_fail(st, r, rc, "the image step failed");
        else if (r->ig.done)
            s_finish(st, s, r);
        else if (r->ig.step % s->progress_every == 0)
            s_progress(st, s, r);
    }
    if (pre && rc < 0) {
        s_req_fail(st, pre, rc, "the re-prefill failed");
    } else if (pre) {
        pre->prefilled += n_extra;
        if (pre->prefilled == pre->rows * (pre->n_seq - 1))
            s_join(pre);
    }
    for (int k = 0; k < s->n_reqs; k++)
        pending |= s->reqs[k].state != S_FREE;
    return pending;
}

/* --- life ------------------------------------------------------------------------------------- */

static void s_shutdown(gf_stage_t *st)
{
    struct s_imagegen *s = gf_stage_info(st)->user;
    if (!s)
        return;
    for (int k = 0; s->reqs && k < s->n_reqs; k++) {
        if (s->reqs[k].frame)
            gf_stage_done(st, &s->reqs[k].frame);
        if (s->m)
            s_req_release(s, &s->reqs[k]);
    }
    gf_llm_destroy(&s->m);
    gf_backend_destroy(&s->be);
    gf_ckpt_close(&s->ck);
    free(s->reqs), free(s->ig), free(s->scratch), free(s->idx), free(s->toks);
    free(s);
    gf_stage_info(st)->user = NULL;
}

/* Sizes from the stage's parameters; 0 or GF_EINVAL (logged). */
static int s_sizes(struct s_imagegen *s, const struct gf_stage_def *def)
{
    /* the checkpoint's picture (gen_vision_config.params, 384 / 16 when absent) unless the
     * stage says otherwise */
    struct gf_vq_config vc;
    if (gf_vq_config_load(s->ck->dir, &vc) != 0)
        gf_vq_config_default(&vc);
    long image_size = gf_graph_param_long(def, "image_size", vc.image_size);
    long patch_size = gf_graph_param_long(def, "patch_size", vc.patch_size);
    s->n_reqs = def->batch;
    s->n_rows = (int)gf_graph_param_long(def, "rows", 2L * def->batch);
    s->max_seq = (int)gf_graph_param_long(def, "max_seq", 2048);
    if (s->max_seq > s->ck->cfg.max_pos)
        s->max_seq = s->ck->cfg.max_pos;
    s->chunk = (int)gf_graph_param_long(def, "chunk", 128);
    if (patch_size < 1 || image_size < patch_size || image_size % patch_size || image_size > 4096 ||
        s->n_rows < 1 || s->n_rows > 256 || s->chunk < 1 || s->max_seq < 2) {
        gf_log_error("stage '%s': image_size %ld must be a multiple of patch_size %ld (up to "
                     "4096), rows 1..256 (got %d), chunk >= 1 (got %d)",
                     def->name, image_size, patch_size, s->n_rows, s->chunk);
        return GF_EINVAL;
    }
    s->grid_h = s->grid_w = (int)(image_size / patch_size);
    s->n_image = s->grid_h * s->grid_w;
    s->progress_every = s->n_image >= 16 ? s->n_image / 16 : 1;
    return 0;
}

static int s_init(gf_stage_t *st)
{
    struct gf_stage_info *info = gf_stage_info(st);
    const struct gf_stage_def *def = info->def;
    const char *dir = gf_stage_model_dir(info);
    int rc;
    if (!dir)
        return GF_EINVAL;
    struct gf_backend *be = gf_stage_backend_new(info);
    if (!be)
        return GF_EUNSUPPORTED;
    struct s_imagegen *s = calloc(1, sizeof *s);
    if (!s) {
        gf_backend_destroy(&be);
        return GF_ENOMEM;
    }
    s->be = be;
    info->user = s;
    if ((rc = gf_ckpt_open(dir, &s->ck)) < 0) {
        gf_log_error("cannot open the checkpoint '%s'", dir);
        goto fail;
    }
    if ((rc = gf_stage_quantize(info, s->ck)) < 0)
        goto fail;
    if ((rc = s_sizes(s, def)) < 0 || (rc = s_defaults(s, dir)) < 0)
        goto fail;
    int IV = s->ck->cfg.image_vocab;
    rc = GF_ENOMEM;
    s->reqs = calloc(s->n_reqs, sizeof *s->reqs);
    s->ig = calloc(s->n_reqs, sizeof *s->ig);
    s->scratch = malloc((size_t)IV * 2 * sizeof *s->scratch);
    s->idx = malloc((size_t)IV * sizeof *s->idx);
    s->toks = calloc(s->chunk + s->n_rows, sizeof *s->toks);
    gf_pace_init(&s->pace, s->chunk + s->n_rows, gf_pace_budget_us(info->graph));
    if (!s->be || !s->reqs || !s->ig || !s->scratch || !s->idx || !s->toks)
        goto fail;
    for (int k = 0; k < s->n_reqs; k++)
        s->ig[k] = &s->reqs[k].ig;
    if ((rc = gf_llm_new(s->be, s->ck, s->n_rows, s->max_seq, s->chunk + s->n_rows, &s->m)) < 0) {
        gf_log_error("cannot size the model for %d rows of %d positions", s->n_rows, s->max_seq);
        goto fail;
    }
    gf_log_info("model '%s' loaded: %d rows of %d positions, %dx%d image tokens", dir, s->n_rows,
                s->max_seq, s->grid_h, s->grid_w);
    return 0;
fail:
    s_shutdown(st);
    return rc;
}

static const struct gf_stage_ops s_ops = {
    .kind = "imagegen",
    .init = s_init,
    .process = s_process,
    .step = s_step,
    .shutdown = s_shutdown,
};

int main(int argc, char **argv)
{
    return gf_stage_main(argc, argv, &s_ops);
}
