/* imagegen.c — the imagegen stage: a `layout` (or `reasoning`) frame in, `image_tokens` out.
 *
 * Stage 2 of MODEL.md §1.4-1.5 on the continuous batch of common/model/lm/imagegen.h: prompt_ids
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
 * of the heartbeat timeout), prefix_cache (default 1: the pad slot below; 0: off), prefix_warm
 * (positions of the pad slot computed at start, default 512; 0: none).
 *
 * Under CFG every unconditional row is the prompt's first token, then pads up to <begin_of_image>,
 * whatever the request: its KV is computed once, in a pad slot of the stage's own, grown when a
 * longer request comes, and copied into each request's unconditional rows; the conditional rows
 * of a request's P pictures are copies of its first. A re-prefill thus computes one row and the
 * positions the pad slot lacks, and the codes stay those of computing every row (the forward is
 * batch-invariant: tested by 0600 against the reference loop, which computes every row).
 *
 * When the frame names a `kv_cache` file (stages/reason.c: the reason stage's KV of prompt +
 * chain, on this host, from the same model and kernels), the first conditional row's positions
 * are read from it instead of computed, and the file is removed; model/lm/kvfile.h says how a
 * file is checked. Without it, or when it does not match, they are computed: same codes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "engine/batch.h"
#include "engine/edge.h"
#include "engine/params.h"
#include "engine/stage.h"
#include "model/lm/checkpoint.h"
#include "model/lm/genconfig.h"
#include "model/lm/imagegen.h"
#include "model/lm/kvfile.h"
#include "model/lm/llm.h"
#include "model/lm/vq.h"
#include "model/tokenizer/got_prompt.h"

struct s_req {
    struct gf_batch_req b; /* b.rows: 2P with CFG, else P; b.n_prefill: see s_plan */
    int32_t *seq;          /* [n_seq] prompt + chain */
    int n_seq;
    struct gf_imagegen_req ig; /* ig.image: [parallel][n_image] */
    /* the unconditional positions this re-prefill computes: fill_from..fill_to-1 of fill_slot
     * (the stage's pad slot, or the request's first unconditional row); -1 without CFG */
    int fill_slot, fill_from, fill_to;
    int cond_from; /* the first conditional row's positions read from the handover */
    char *kv_path; /* the handover file the frame names, until read (or the request leaves) */
};

struct s_imagegen {
    struct gf_ckpt *ck;
    struct gf_backend *be;
    struct gf_llm *m;
    gf_batch_t *batch;
    struct gf_imagegen_req **ig; /* [batch] request k's ig, for gf_imagegen_step */
    int n_reqs;
    struct gf_tok *toks; /* [chunk + n_rows] one step: a re-prefill chunk, then the rows */
    int chunk;           /* re-prefill tokens in one step, at most */
    float *scratch;      /* [2 * image_vocab] */
    int32_t *idx;        /* [image_vocab] */
    int grid_h, grid_w, n_image, n_rows, max_seq, progress_every;
    /* The pad slot: every unconditional row is first_id, then pad_id at 1..n_seq-2, so its KV at
     * those positions is the same for every request that shares first_id and pad_id. It is
     * computed once, in a slot of its own, grown as longer requests come, and copied. */
    int pad_slot;               /* -1: off (prefix_cache: 0) */
    int pad_len;                /* positions 0..pad_len-1 hold the KV of the padded row */
    int32_t pad_first, pad_pad; /* of the row in the pad slot */
    long warm;                  /* positions of the pad slot computed at start (prefix_warm) */
    int prefilling;             /* a request holds rows and has not joined yet */
    const char *run_dir;        /* the handover files are in its kv/ */
    uint64_t kv_identity;       /* gf_kvfile_identity of this stage's model; 0: takes none */
    int kv_warned;
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

static void s_release(gf_stage_t *st, struct gf_batch_req *b)
{
    struct s_imagegen *s = gf_stage_info(st)->user;
    struct s_req *r = (struct s_req *)b;
    if (b->state == GF_BATCH_PREFILL) {
        gf_llm_slots_release(s->m, b->rows, r->ig.slots);
        s->prefilling = 0;
    }
    gf_imagegen_leave(s->m, &r->ig);
    if (r->kv_path && remove(r->kv_path) != 0 && errno != ENOENT) /* the request failed first */
        gf_log_warn("cannot remove '%s': %s", r->kv_path, strerror(errno));
    free(r->kv_path);
    free(r->seq);
    free(r->ig.image);
}

/* --- joining ---------------------------------------------------------------------------------- */

/* prompt_ids + reasoning_ids into r->seq; 0 or GF_E* with `why`. */
static int s_read_seq(struct s_imagegen *s, struct s_req *r, char *why, size_t whylen)
{
    int32_t *prompt = NULL, *chain = NULL, boi;
    int n_prompt = 0, n_chain = 0, V = s->ck->cfg.vocab;
    int rc = gf_params_ids(r->b.frame, "prompt_ids", V, &prompt, &n_prompt, why, whylen);
    if (rc == 0)
        rc = gf_params_ids(r->b.frame, "reasoning_ids", V, &chain, &n_chain, why, whylen);
    if (rc == 0 && gf_params_special(r->b.frame, "begin_of_image", V, &boi, why, whylen) == 0 &&
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

/* The handover file the frame names (stages/reason.c), into r->kv_path; 0, or GF_ENOMEM. A
 * name that is not a plain file name in kv/ is logged and ignored. */
static int s_kv_name(struct s_imagegen *s, struct s_req *r)
{
    const char *name;
    size_t len;
    if (gf_frame_get_str(r->b.frame, "kv_cache", &name, &len) != 0)
        return 0;
    int ok = len > 0 && len < 256 && name[0] != '.';
    for (size_t i = 0; ok && i < len; i++) /* a name in kv/, never a path */
        ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
             (name[i] >= '0' && name[i] <= '9') || strchr("._:-", name[i]);
    if (!ok) {
        gf_log_warn("request '%s': kv_cache '%.*s' is not a handover file's name; computing the "
                    "prompt's KV",
                    r->b.frame->id, (int)(len < 256 ? len : 256), name);
        return 0;
    }
    size_t n = strlen(s->run_dir) + len + 5;
    if (!(r->kv_path = malloc(n)))
        return GF_ENOMEM;
    snprintf(r->kv_path, n, "%s/kv/%.*s", s->run_dir, (int)len, name);
    return 0;
}

/* The positions of the request's first conditional row read from its handover file (0 when
 * none, or when the file does not fit: then they are computed); the file is removed. */
static int s_handover(struct s_imagegen *s, struct s_req *r)
{
    char why[4600];
    if (!r->kv_path || !s->kv_identity) /* none named, or a backend that takes none */
        return 0;
    int n = gf_kvfile_read(s->m, r->ig.slots[0], r->seq, r->n_seq, s->kv_identity, r->kv_path, why,
                           sizeof why);
    if (n >= 0)
        gf_log_info("request '%s': %d positions of KV handed over in '%s'", r->b.frame->id, n,
                    r->kv_path);
    else if (n == GF_ENOTFOUND) /* another host's, or taken by an earlier attempt */
        gf_log_debug("request '%s': %s", r->b.frame->id, why);
    else if (!s->kv_warned++)
        gf_log_warn("request '%s': cannot take the KV handover, computing the chain's KV instead "
                    "(warned once): %s",
                    r->b.frame->id, why);
    if (n != GF_ENOTFOUND && remove(r->kv_path) != 0 && errno != ENOENT)
        gf_log_warn("cannot remove '%s': %s", r->kv_path, strerror(errno));
    free(r->kv_path);
    r->kv_path = NULL;
    return n > 0 ? n : 0;
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

static int s_admit(gf_stage_t *st, struct gf_batch_req *b, char *why, size_t whylen)
{
    struct s_imagegen *s = gf_stage_info(st)->user;
    const struct gf_stage_def *def = gf_stage_info(st)->def;
    struct s_req *r = (struct s_req *)b;
    double temperature, top_k, top_p, cfg, parallel;
    int rc;
    if ((rc = s_kv_name(s, r)) < 0 || (rc = s_read_seq(s, r, why, whylen)) < 0 ||
        (rc = gf_params_special(b->frame, "pad", s->ck->cfg.vocab, &r->ig.pad_id, why, whylen)) <
            0 ||
        (rc = gf_params_seed(b->frame, def, 1000, &r->ig.seed, why, whylen)) < 0 ||
        (rc = gf_params_get(b->frame, def, &s->temperature, &temperature, why, whylen)) < 0 ||
        (rc = gf_params_get(b->frame, def, &s->top_k, &top_k, why, whylen)) < 0 ||
        (rc = gf_params_get(b->frame, def, &s->top_p, &top_p, why, whylen)) < 0 ||
        (rc = gf_params_get(b->frame, def, &s->cfg, &cfg, why, whylen)) < 0 ||
        (rc = gf_params_get(b->frame, def, &s->parallel, &parallel, why, whylen)) < 0)
        return rc;
    r->ig.sampler = (struct gf_sampler){(float)temperature, (int)top_k, (float)top_p};
    r->ig.cfg_weight = (float)cfg;
    r->ig.parallel = (int)parallel;
    r->ig.n_image = s->n_image;
    int rows = b->rows = cfg > 1 ? 2 * r->ig.parallel : r->ig.parallel;
    if (rows > s->n_rows) {
        snprintf(why, whylen, "%d images%s need %d KV rows; this stage has %d", r->ig.parallel,
                 cfg > 1 ? " under CFG" : "", rows, s->n_rows);
        return GF_EINVAL;
    }
    if (!(r->ig.image = calloc((size_t)r->ig.parallel * s->n_image, sizeof *r->ig.image)))
        return GF_ENOMEM;
    b->n_prefill = rows * (r->n_seq - 1);
    return 0;
}

/* --- stepping --------------------------------------------------------------------------------- */

/* What the re-prefill computes (MODEL.md §1.4: every row holds positions 0..n_seq-2, the
 * unconditional ones padded at 1..n_seq-2): the first conditional row, whole; then the padded
 * row's positions that the pad slot lacks (all of them, in the first unconditional row, when the
 * pad slot is off). The other rows are copies (s_join): every conditional row holds the same
 * tokens, and so does every unconditional one. Decided when the request takes its rows, with
 * no other re-prefill under way, so the pad slot's length is known. */
static void s_plan(struct s_imagegen *s, struct s_req *r)
{
    int per_row = r->n_seq - 1;
    r->cond_from = s_handover(s, r);
    r->fill_slot = -1, r->fill_from = r->fill_to = 0;
    if (r->ig.cfg_weight > 1 && s->pad_slot >= 0) {
        if (s->pad_first != r->seq[0] || s->pad_pad != r->ig.pad_id) { /* another padded row */
            if (s->pad_len > 0)
                gf_log_info("the padded row is %d then %d, the pad slot's %d then %d: computed "
                            "again",
                            r->seq[0], r->ig.pad_id, s->pad_first, s->pad_pad);
            s->pad_len = 0, s->pad_first = r->seq[0], s->pad_pad = r->ig.pad_id;
        }
        r->fill_slot = s->pad_slot;
        r->fill_from = s->pad_len < per_row ? s->pad_len : per_row;
        r->fill_to = per_row;
    } else if (r->ig.cfg_weight > 1) {
        r->fill_slot = r->ig.slots[1], r->fill_to = per_row;
    }
    r->b.n_prefill = per_row - r->cond_from + r->fill_to - r->fill_from;
}

/* The oldest waiting request takes its KV rows when they are free and no other re-prefill is
 * under way (one runs at a time anyway: the core gives each step's chunk to the oldest). */
static int s_acquire(gf_stage_t *st, struct gf_batch_req *b)
{
    struct s_imagegen *s = gf_stage_info(st)->user;
    struct s_req *r = (struct s_req *)b;
    if (s->prefilling || gf_llm_slots_acquire(s->m, b->rows, r->ig.slots) < 0)
        return GF_EBUSY;
    s->prefilling = 1;
    s_plan(s, r);
    return 0;
}

/* Position p of a padded (unconditional) row in slot: its first token, then pads. */
static struct gf_tok s_padded(int32_t first, int32_t pad, int slot, int p)
{
    return (struct gf_tok){p > 0 ? pad : first, slot, p, GF_TOK_TEXT, 0};
}

/* The re-prefill's next n_pre tokens into s->toks, in s_plan's order; split so that no step
 * outlasts the heartbeat on a large model, and run in the same forward as the running rows'
 * step. */
static void s_prefill_chunk(struct s_imagegen *s, struct s_req *r, int n_pre)
{
    int cond = r->n_seq - 1 - r->cond_from; /* the conditional positions, first */
    for (int n = 0; n < n_pre; n++) {
        int i = r->b.prefilled + n, p = i - cond + r->fill_from, c = r->cond_from + i;
        if (i < cond)
            s->toks[n] = (struct gf_tok){r->seq[c], r->ig.slots[0], c, GF_TOK_TEXT, 0};
        else
            s->toks[n] = s_padded(r->seq[0], r->ig.pad_id, r->fill_slot, p);
    }
}

/* One image token per image of every running request (their gf_imagegen_req is active), with
 * the re-prefill chunk riding along. */
static int s_forward(gf_stage_t *st, struct gf_batch_req **run, int n_run, struct gf_batch_req *pre,
                     int n_pre)
{
    struct s_imagegen *s = gf_stage_info(st)->user;
    struct s_req *r = (struct s_req *)pre;
    if (pre)
        s_prefill_chunk(s, r, n_pre);
    int rc = gf_imagegen_step(s->m, s->ig, s->n_reqs, s->toks, n_pre, s->scratch, s->idx);
    /* the pad slot grows only by positions a forward has written */
    int end = pre ? pre->prefilled + n_pre - (r->n_seq - 1 - r->cond_from) + r->fill_from : 0;
    if (rc >= 0 && pre && s->pad_slot >= 0 && r->fill_slot == s->pad_slot && end > s->pad_len)
        s->pad_len = end;
    return rc;
}

/* After its last chunk the request joins: every row's next token is <begin_of_image> at
 * position n_seq-1. */
static void s_join(gf_stage_t *st, struct gf_batch_req *b, int i)
{
    struct s_imagegen *s = gf_stage_info(st)->user;
    struct s_req *r = (struct s_req *)b;
    int per_row = r->n_seq - 1, cfg = r->ig.cfg_weight > 1;
    for (int k = 1; k < b->rows; k++)
        gf_llm_copy_slot(s->m, r->ig.slots[k], cfg && (k & 1) ? r->fill_slot : r->ig.slots[0],
                         per_row);
    s->prefilling = 0;
    for (int k = 0; k < b->rows; k++)
        r->ig.next[k] = (struct gf_tok){r->seq[per_row], r->ig.slots[k], per_row, GF_TOK_TEXT, 1};
    r->ig.rows = b->rows;
    r->ig.step = 0, r->ig.done = 0, r->ig.active = 1;
}

static void s_finish(gf_stage_t *st, struct s_imagegen *s, struct s_req *r)
{
    gf_emit_t *e = gf_stage_begin(st, r->b.frame, "image_tokens");
    int64_t shape[2] = {r->ig.parallel, s->n_image};
    gf_emit_tensor(e, "codes", GF_DTYPE_I32, shape, 2, r->ig.image);
    msgpack_packer *pk = gf_emit_key(e, "grid");
    msgpack_pack_array(pk, 2);
    msgpack_pack_int(pk, s->grid_h);
    msgpack_pack_int(pk, s->grid_w);
    /* where the time went (the sink adds these to the result's timings): from arrival to the
     * end of the re-prefill (waiting for KV rows included), then the image-token steps */
    int64_t now = gf_now_us(), t_in = r->b.frame->t_in_us, t_join = r->b.t_joined_us;
    pk = gf_emit_key(e, "phases_ms");
    msgpack_pack_map(pk, 2);
    msgpack_pack_str_with_body(pk, "imagegen.prefill", 16);
    msgpack_pack_double(pk, (double)(t_join - t_in) / 1000.0);
    msgpack_pack_str_with_body(pk, "imagegen.steps", 14);
    msgpack_pack_double(pk, (double)(now - t_join) / 1000.0);
    gf_stage_send(st, r->b.frame);
    gf_batch_done(s->batch, &r->b);
}

static void s_progress(gf_stage_t *st, struct s_imagegen *s, struct s_req *r)
{
    gf_emit_t *e = gf_stage_begin(st, r->b.frame, "progress");
    gf_emit_int(e, "step", r->ig.step);
    gf_emit_int(e, "of", s->n_image);
    gf_stage_publish(st, r->b.frame);
}

/* After a step: the full grid goes out, else `progress` every few steps. */
static void s_take(gf_stage_t *st, struct gf_batch_req *b, int i)
{
    struct s_imagegen *s = gf_stage_info(st)->user;
    struct s_req *r = (struct s_req *)b;
    if (r->ig.done)
        s_finish(st, s, r);
    else if (r->ig.step % s->progress_every == 0)
        s_progress(st, s, r);
}

/* --- life ------------------------------------------------------------------------------------- */

static int s_process(gf_stage_t *st, gf_frame_t **frames, int n)
{
    return gf_batch_process(((struct s_imagegen *)gf_stage_info(st)->user)->batch, frames, n);
}

static int s_step(gf_stage_t *st)
{
    return gf_batch_step(((struct s_imagegen *)gf_stage_info(st)->user)->batch);
}

static const struct gf_batch_ops s_batch_ops = {
    .req_size = sizeof(struct s_req),
    .name = "image batch",
    .step_error = "the image step failed",
    .prefill_error = "the re-prefill failed",
    .admit = s_admit,
    .acquire = s_acquire,
    .forward = s_forward,
    .take = s_take,
    .join = s_join,
    .release = s_release,
};

static void s_shutdown(gf_stage_t *st)
{
    struct s_imagegen *s = gf_stage_info(st)->user;
    if (!s)
        return;
    gf_batch_destroy(&s->batch);
    gf_llm_destroy(&s->m);
    gf_backend_destroy(&s->be);
    gf_ckpt_close(&s->ck);
    free(s->ig), free(s->scratch), free(s->idx), free(s->toks);
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
    s->pad_slot = gf_graph_param_long(def, "prefix_cache", 1) ? 0 : -1;
    s->warm = gf_graph_param_long(def, "prefix_warm", 512);
    if (patch_size < 1 || image_size < patch_size || image_size % patch_size || image_size > 4096 ||
        s->n_rows < 1 || s->n_rows > 256 || s->chunk < 1 || s->max_seq < 2 || s->warm < 0) {
        gf_log_error("stage '%s': image_size %ld must be a multiple of patch_size %ld (up to "
                     "4096), rows 1..256 (got %d), chunk >= 1 (got %d), prefix_warm >= 0 (got %ld)",
                     def->name, image_size, patch_size, s->n_rows, s->chunk, s->warm);
        return GF_EINVAL;
    }
    s->grid_h = s->grid_w = (int)(image_size / patch_size);
    s->n_image = s->grid_h * s->grid_w;
    s->progress_every = s->n_image >= 16 ? s->n_image / 16 : 1;
    return 0;
}

/* The pad slot computed at start, up to prefix_warm positions (default 512, about a GoT-R1
 * prompt and chain), so that the first picture after a start costs what later ones do. The
 * padded row is the prompt's first token, which the checkpoint's own tokenizer puts first
 * whatever the caption (encoded once here, as the tokenize stage does), then its pad token; a
 * request whose row differs recomputes it (s_plan). Chunks of `chunk` tokens, as a re-prefill;
 * the forward is batch-invariant, so the slot holds the bits a request would have computed.
 * Stops after a third of the supervisor's allowance for a start (heartbeat_timeout_ms x 30), so
 * that a large model on a slow device still comes up in time; what is left is computed by the
 * first request as before. */
static void s_warm(struct s_imagegen *s, const struct gf_stage_info *info, const char *dir)
{
    int n = s->max_seq - s->n_image - 1;
    n = s->warm < n ? (int)s->warm : n;
    if (s->pad_slot < 0 || n < 1)
        return;
    struct gf_got_tok *got = NULL;
    struct gf_ids ids = {0};
    char why[512];
    if (gf_got_tok_new(dir, &got, why, sizeof why) != 0) {
        gf_log_info("pad slot not computed ahead: %s", why);
        return;
    }
    int rc = gf_got_encode_prompt(got, "a", &ids);
    int32_t first = rc == 0 && ids.n > 0 ? ids.v[0] : -1, pad = got->special.pad;
    gf_ids_release(&ids);
    gf_got_tok_destroy(&got);
    if (first < 0 || first >= s->ck->cfg.vocab || pad < 0 || pad >= s->ck->cfg.vocab) {
        gf_log_info("pad slot not computed ahead: the tokenizer gives no first or pad token in "
                    "the model's vocabulary of %d",
                    s->ck->cfg.vocab);
        return;
    }
    int64_t t0 = gf_mono_ms(), limit = (int64_t)info->graph->supervisor.heartbeat_timeout_ms * 10;
    s->pad_first = first, s->pad_pad = pad, s->pad_len = 0;
    while (s->pad_len < n && gf_mono_ms() - t0 < limit) {
        int k = n - s->pad_len < s->chunk ? n - s->pad_len : s->chunk;
        for (int i = 0; i < k; i++)
            s->toks[i] = s_padded(first, pad, s->pad_slot, s->pad_len + i);
        if ((rc = gf_llm_forward(s->m, s->toks, k)) < 0) {
            gf_log_warn("pad slot not computed ahead: %s", gf_strerror(rc));
            break;
        }
        s->pad_len += k;
    }
    gf_log_info("pad slot computed ahead: %d of %d positions in %.1f s", s->pad_len, n,
                (gf_mono_ms() - t0) / 1000.0);
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
    if ((rc = gf_stage_precision(info, s->ck)) < 0)
        goto fail;
    if ((rc = s_sizes(s, def)) < 0 || (rc = s_defaults(s, dir)) < 0)
        goto fail;
    int IV = s->ck->cfg.image_vocab;
    rc = GF_ENOMEM;
    s->ig = calloc(s->n_reqs, sizeof *s->ig);
    s->scratch = malloc((size_t)IV * 2 * sizeof *s->scratch);
    s->idx = malloc((size_t)IV * sizeof *s->idx);
    s->toks = calloc(s->chunk + s->n_rows, sizeof *s->toks);
    if (!s->ig || !s->scratch || !s->idx || !s->toks)
        goto fail;
    int n_slots = s->n_rows + (s->pad_slot >= 0);
    if ((rc = gf_llm_new(s->be, s->ck, n_slots, s->max_seq, s->chunk + s->n_rows, &s->m)) < 0) {
        gf_log_error("cannot size the model for %d rows of %d positions", n_slots, s->max_seq);
        goto fail;
    }
    s->run_dir = info->run_dir;
    s->kv_identity = gf_kvfile_backend_ok(s->be) ? gf_kvfile_identity(s->m, s->ck, s->be) : 0;
    int32_t pad = -1;
    if (s->pad_slot >= 0 && gf_llm_slots_acquire(s->m, 1, &pad) == 0) /* the lowest: slot 0 */
        s->pad_slot = pad;
    s_warm(s, info, dir);
    rc = GF_ENOMEM;
    if (!(s->batch = gf_batch_new(st, &s_batch_ops, s->n_reqs, s->chunk, s->chunk + s->n_rows)))
        goto fail;
    for (int k = 0; k < s->n_reqs; k++)
        s->ig[k] = &((struct s_req *)gf_batch_req_at(s->batch, k))->ig;
    gf_log_info("model '%s' loaded: %d rows of %d positions, %s KV cache, %dx%d image tokens", dir,
                s->n_rows, s->max_seq, gf_wtype_name(s->m->kv_dtype), s->grid_h, s->grid_w);
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
