/* reason.c — the reason stage: a `tokens` frame in, a `reasoning` frame out (MODEL.md §1.3).
 *
 * The language model writes the reasoning chain after the prompt: text tokens drawn from the
 * lm_head logits until <begin_of_image> or `max_tokens` (then <begin_of_image> is appended), as
 * gf_loop_reason does in one process. Requests are batched continuously: each owns one KV slot,
 * is prefilled one chunk per step, joins the decode at a step boundary, and leaves (freeing its
 * slot) when its chain is written; one step() is one forward: a token for every row in
 * flight, then at most one prefill chunk. Rows of different requests do not change each other's
 * tokens (batch-invariant forward, draws keyed by (seed, row, step)).
 *
 * While a chain is written, `text_delta` frames {text, ids, step} go to the tap (complete UTF-8
 * only, the tokenizer's streaming decoder). The `reasoning` frame adds `reasoning_ids` (i32 [n],
 * ending with <begin_of_image>), `text` (the chain decoded with special tokens kept) and
 * `caption` (the `text` it came with) to everything the request carried.
 *
 * Parameters, request `params` key over the stage's graph `params:` key over the checkpoint's
 * generation_config.json (model/genconfig.h): seed; text_temperature over temperature (0 =
 * greedy; default 1); text_top_k over top_k (0 = off); text_top_p over top_p (1 = off);
 * max_tokens (1..600, default 600). Stage only: model (else the graph's
 * model:), threads (0 = every core), max_seq (KV positions per row, default 2048), chunk
 * (prefill tokens per step, default 128). `batch` requests are in flight at once.
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
#include "model/got_prompt.h"
#include "model/llm.h"
#include "model/sampler.h"

enum { S_STREAM_TEXT = 1 }; /* the reference loop's text stream (loop.c): same draws */
enum { S_FREE, S_PREFILL, S_DECODE };

struct s_req {
    gf_frame_t *frame; /* owned while the request is here */
    int state;
    uint64_t order; /* admission order: prefills go first come, first served */
    int32_t slot;
    int32_t *prompt; /* [n_prompt] */
    int n_prompt, prefilled;
    int32_t *out; /* [max_tokens + 1] the chain so far */
    int n_out, max_tokens, delta_from;
    int32_t boi;
    struct gf_sampler sampler;
    uint64_t seed;
    gf_tok_stream_t *stream;
};

struct s_reason {
    struct gf_ckpt *ck;
    struct gf_backend *be;
    struct gf_llm *m;
    struct gf_got_tok *got;
    struct s_req *reqs; /* [batch] */
    int n_reqs;
    struct gf_tok *toks; /* [batch + chunk] one step's tokens: decode rows, then a prefill chunk */
    int *rows;           /* [batch] request of each decode row */
    float *scratch;      /* [vocab] */
    int32_t *idx;        /* [vocab] */
    int chunk, max_seq, vocab;
    struct gf_pace pace; /* tokens per step, sized to a quarter of the heartbeat timeout */
    uint64_t next_order;
    int last_rows; /* rows of the last decode step, logged when it changes */
    /* the specs below, their defaults taken from the checkpoint's generation_config.json */
    struct gf_param_spec temperature, top_k, top_p, max_tokens;
};

static const struct gf_param_spec s_temperature = {
    "text_temperature", NULL, "temperature", 1.0, 0.0, 100.0, 0};
static const struct gf_param_spec s_top_k = {"text_top_k", NULL, "top_k", 0, 0, 1 << 30, 1};
static const struct gf_param_spec s_top_p = {"text_top_p", NULL, "top_p", 1.0, 1e-6, 1.0, 0};
static const struct gf_param_spec s_max_tokens = {"max_tokens", NULL, "max_tokens", 600, 1, 600, 1};

/* The specs with the checkpoint's generation defaults (model/genconfig.h) in place of GoT-R1's. */
static int s_defaults(struct s_reason *s, const char *dir, char *why, size_t whylen)
{
    struct gf_genconfig gc;
    int rc = gf_genconfig_load(dir, &gc, why, whylen);
    if (rc < 0)
        return rc;
    s->temperature = s_temperature, s->top_k = s_top_k, s->top_p = s_top_p;
    s->max_tokens = s_max_tokens;
    struct gf_param_spec *specs[] = {&s->temperature, &s->top_k, &s->top_p, &s->max_tokens};
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++)
        specs[i]->dflt = gf_genconfig_get(&gc, specs[i]->req, specs[i]->dflt);
    return 0;
}

/* --- leaving ---------------------------------------------------------------------------------- */

static void s_req_release(struct s_reason *s, struct s_req *r)
{
    if (r->slot >= 0)
        gf_llm_slots_release(s->m, 1, &r->slot);
    gf_tok_stream_destroy(&r->stream);
    free(r->prompt);
    free(r->out);
    memset(r, 0, sizeof *r);
    r->slot = -1;
    r->state = S_FREE;
}

static void s_req_fail(gf_stage_t *st, struct s_req *r, int err, const char *why)
{
    gf_stage_fail(st, &r->frame, err, "%s", why);
    s_req_release(gf_stage_info(st)->user, r);
}

/* Publishes the text the stream gave (owned, may be NULL) with the ids out[delta_from..upto). */
static void s_delta(gf_stage_t *st, struct s_req *r, char *text, size_t len, int upto)
{
    if (text && len) {
        gf_emit_t *e = gf_stage_begin(st, r->frame, "text_delta");
        gf_emit_strn(e, "text", text, len);
        int64_t shape[1] = {upto - r->delta_from};
        gf_emit_tensor(e, "ids", GF_DTYPE_I32, shape, 1, r->out + r->delta_from);
        gf_emit_int(e, "step", upto);
        gf_stage_publish(st, r->frame);
        r->delta_from = upto;
    }
    free(text);
}

static void s_finish(gf_stage_t *st, struct s_req *r)
{
    struct s_reason *s = gf_stage_info(st)->user;
    char *text = NULL, *chain = NULL;
    size_t len = 0, chain_len = 0;
    gf_tok_stream_finish(r->stream, &text, &len);
    s_delta(st, r, text, len, r->n_out);
    if (gf_tokenizer_decode(s->got->tok, r->out, r->n_out, 0, &chain, &chain_len) != 0) {
        s_req_fail(st, r, GF_ENOMEM, "cannot decode the reasoning chain");
        return;
    }
    gf_emit_t *e = gf_stage_begin(st, r->frame, "reasoning");
    int64_t shape[1] = {r->n_out};
    gf_emit_tensor(e, "reasoning_ids", GF_DTYPE_I32, shape, 1, r->out);
    gf_emit_strn(e, "text", chain, chain_len);
    const char *caption;
    size_t caption_len;
    if (gf_frame_get_str(r->frame, "text", &caption, &caption_len) == 0)
        gf_emit_strn(e, "caption", caption, caption_len);
    free(chain);
    gf_stage_send(st, r->frame);
    gf_stage_done(st, &r->frame);
    s_req_release(s, r);
}

/* Records token t of the chain, streams it, and ends the request at <begin_of_image> or
 * max_tokens (appending <begin_of_image>, as infer.py does). */
static void s_take(gf_stage_t *st, struct s_req *r, int32_t t)
{
    char *text = NULL;
    size_t len = 0;
    r->out[r->n_out++] = t;
    int end = t == r->boi || r->n_out >= r->max_tokens;
    if (end && t != r->boi)
        r->out[r->n_out++] = r->boi;
    for (int i = r->n_out - (end && t != r->boi ? 2 : 1); i < r->n_out; i++) {
        text = NULL, len = 0;
        if (gf_tok_stream_step(r->stream, r->out[i], &text, &len) == 0)
            s_delta(st, r, text, len, i + 1);
        else
            free(text);
    }
    if (end)
        s_finish(st, r);
}

#define S_DEV_DRAWS 256 /* decode rows drawn on the backend at most; more: on the host */

static int32_t s_draw(struct s_reason *s, struct s_req *r, const float *logits)
{
    double u = gf_rng_uniform(r->seed, S_STREAM_TEXT, 0, (uint32_t)r->n_out);
    return gf_sample(logits, s->vocab, &r->sampler, u, s->scratch, s->idx);
}

/* One token for each request of reqs[n], whose rows are the kept rows 0..n-1, into ids[n], drawn
 * on the backend (only the ids come back). GF_EUNSUPPORTED: a sampler (top-k, top-p) or the
 * backend needs the host logits and s_draw instead. */
static int s_draw_rows(struct s_reason *s, struct s_req **reqs, int n, int32_t *ids)
{
    struct gf_draw d[S_DEV_DRAWS];
    if (n > S_DEV_DRAWS)
        return GF_EUNSUPPORTED;
    for (int i = 0; i < n; i++) {
        const struct gf_sampler *sp = &reqs[i]->sampler;
        if (!gf_llm_can_draw(s->m, sp))
            return GF_EUNSUPPORTED;
        d[i] = (struct gf_draw){
            i, -1, 1.0f, sp->top_k == 1 ? 0.0f : sp->temperature,
            gf_rng_uniform(reqs[i]->seed, S_STREAM_TEXT, 0, (uint32_t)reqs[i]->n_out)};
    }
    return gf_llm_draw(s->m, 0, d, n, ids);
}

/* --- joining ---------------------------------------------------------------------------------- */

/* Reads and checks one request; 0, or a GF_E* with `why` for its error frame. */
static int s_admit(struct s_reason *s, const struct gf_stage_def *def, struct s_req *r, char *why,
                   size_t whylen)
{
    double temperature, top_k, top_p, max_tokens;
    int rc;
    if ((rc = gf_params_ids(r->frame, "prompt_ids", s->vocab, &r->prompt, &r->n_prompt, why,
                            whylen)) < 0 ||
        (rc = gf_params_special(r->frame, "begin_of_image", s->vocab, &r->boi, why, whylen)) < 0 ||
        (rc = gf_params_seed(r->frame, def, 1000, &r->seed, why, whylen)) < 0 ||
        (rc = gf_params_get(r->frame, def, &s->temperature, &temperature, why, whylen)) < 0 ||
        (rc = gf_params_get(r->frame, def, &s->top_k, &top_k, why, whylen)) < 0 ||
        (rc = gf_params_get(r->frame, def, &s->top_p, &top_p, why, whylen)) < 0 ||
        (rc = gf_params_get(r->frame, def, &s->max_tokens, &max_tokens, why, whylen)) < 0)
        return rc;
    r->sampler = (struct gf_sampler){(float)temperature, (int)top_k, (float)top_p};
    r->max_tokens = (int)max_tokens;
    if (r->n_prompt + r->max_tokens + 1 > s->max_seq) {
        snprintf(why, whylen,
                 "the prompt of %d tokens with up to %d more does not fit the context of %d "
                 "positions",
                 r->n_prompt, r->max_tokens + 1, s->max_seq);
        return GF_EINVAL;
    }
    r->out = malloc(((size_t)r->max_tokens + 1) * sizeof *r->out);
    r->stream = gf_tok_stream_new(s->got->tok, 0);
    if (!r->out || !r->stream)
        return GF_ENOMEM;
    if ((rc = gf_llm_slots_acquire(s->m, 1, &r->slot)) < 0) {
        snprintf(why, whylen, "no free KV slot");
        return rc;
    }
    r->state = S_PREFILL;
    r->order = s->next_order++;
    return 0;
}

static int s_process(gf_stage_t *st, gf_frame_t **frames, int n)
{
    struct gf_stage_info *info = gf_stage_info(st);
    struct s_reason *s = info->user;
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

/* One step, one forward: a token for every request in S_DECODE, then the next chunk of the oldest
 * waiting prefill (so that the weights are read once per step). On its last chunk the prefill
 * draws its first token and joins the decode. */
static int s_step(gf_stage_t *st)
{
    struct s_reason *s = gf_stage_info(st)->user;
    struct s_req *pre = NULL;
    int n = 0;
    for (int k = 0; k < s->n_reqs; k++) {
        struct s_req *r = &s->reqs[k];
        if (r->state == S_DECODE) {
            s->toks[n] = (struct gf_tok){r->out[r->n_out - 1], r->slot, r->n_prompt + r->n_out - 1,
                                         GF_TOK_TEXT, 1};
            s->rows[n++] = k;
        } else if (r->state == S_PREFILL && (!pre || r->order < pre->order)) {
            pre = r;
        }
    }
    int n_dec = n, n_pre = 0;
    if (n_dec != s->last_rows && n_dec > 0)
        gf_log_info("decode batch: %d request%s", n_dec, n_dec == 1 ? "" : "s");
    s->last_rows = n_dec;
    if (pre) {
        int room = s->pace.now - n_dec, left = pre->n_prompt - pre->prefilled;
        room = room < 1 ? 1 : room > s->chunk ? s->chunk : room;
        n_pre = left < room ? left : room;
        for (int i = 0; i < n_pre; i++) {
            int p = pre->prefilled + i;
            s->toks[n++] =
                (struct gf_tok){pre->prompt[p], pre->slot, p, GF_TOK_TEXT, p == pre->n_prompt - 1};
        }
    }
    if (n == 0)
        return 0;
    if (n_dec > 0)
        gf_stage_count_step(st, n_dec);
    int64_t t0 = gf_now_us();
    int rc = gf_llm_forward(s->m, s->toks, n);
    gf_pace_update(&s->pace, n, gf_now_us() - t0);
    if (rc < 0) {
        for (int i = 0; i < n_dec; i++)
            s_req_fail(st, &s->reqs[s->rows[i]], rc, "the decode step failed");
        if (pre)
            s_req_fail(st, pre, rc, "the prefill failed");
        return 0;
    }
    /* the kept rows: the decode rows, then the prefill's last token */
    int pre_done = pre && pre->prefilled + n_pre == pre->n_prompt, n_draw = n_dec + pre_done;
    struct s_req *draw[S_DEV_DRAWS];
    int32_t ids[S_DEV_DRAWS];
    for (int i = 0; i < n_dec && i < S_DEV_DRAWS; i++)
        draw[i] = &s->reqs[s->rows[i]];
    if (pre_done && n_dec < S_DEV_DRAWS)
        draw[n_dec] = pre;
    rc = s_draw_rows(s, draw, n_draw, ids); /* on the backend, only the ids come back */
    const float *lg = NULL;
    if (rc == GF_EUNSUPPORTED)
        lg = gf_llm_text_logits(s->m); /* [kept][vocab] */
    for (int i = 0; i < n_dec; i++) {
        struct s_req *r = &s->reqs[s->rows[i]];
        if (rc < 0 && !lg)
            s_req_fail(st, r, rc, "the draw failed");
        else
            s_take(st, r, lg ? s_draw(s, r, lg + (size_t)i * s->vocab) : ids[i]);
    }
    if (pre) {
        pre->prefilled += n_pre;
        if (pre_done) {
            pre->state = S_DECODE;
            if (rc < 0 && !lg)
                s_req_fail(st, pre, rc, "the draw failed");
            else
                s_take(st, pre, lg ? s_draw(s, pre, lg + (size_t)n_dec * s->vocab) : ids[n_dec]);
        }
    }
    for (int k = 0; k < s->n_reqs; k++)
        if (s->reqs[k].state != S_FREE)
            return 1;
    return 0;
}

/* --- life ------------------------------------------------------------------------------------- */

static void s_shutdown(gf_stage_t *st)
{
    struct s_reason *s = gf_stage_info(st)->user;
    if (!s)
        return;
    for (int k = 0; s->reqs && k < s->n_reqs; k++) {
        if (s->reqs[k].frame)
            gf_stage_done(st, &s->reqs[k].frame);
        s_req_release(s, &s->reqs[k]);
    }
    gf_llm_destroy(&s->m);
    gf_backend_destroy(&s->be);
    gf_ckpt_close(&s->ck);
    gf_got_tok_destroy(&s->got);
    free(s->reqs), free(s->toks), free(s->rows), free(s->scratch), free(s->idx);
    free(s);
    gf_stage_info(st)->user = NULL;
}

static int s_init(gf_stage_t *st)
{
    struct gf_stage_info *info = gf_stage_info(st);
    const struct gf_stage_def *def = info->def;
    const char *dir = gf_stage_model_dir(info);
    char err[1024];
    int rc = GF_ENOMEM;
    if (!dir)
        return GF_EINVAL;
    struct gf_backend *be = gf_stage_backend_new(info);
    if (!be)
        return GF_EUNSUPPORTED;
    struct s_reason *s = calloc(1, sizeof *s);
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
    if ((rc = gf_got_tok_open(dir, &s->got, err, sizeof err)) < 0) {
        gf_log_error("cannot load the tokenizer of '%s': %s", dir, err);
        goto fail;
    }
    if ((rc = s_defaults(s, dir, err, sizeof err)) < 0) {
        gf_log_error("%s", err);
        goto fail;
    }
    s->vocab = s->ck->cfg.vocab;
    s->n_reqs = def->batch;
    s->chunk = (int)gf_graph_param_long(def, "chunk", 128);
    s->max_seq = (int)gf_graph_param_long(def, "max_seq", 2048);
    if (s->max_seq > s->ck->cfg.max_pos)
        s->max_seq = s->ck->cfg.max_pos;
    if (s->chunk < 1 || s->max_seq < 2) {
        gf_log_error("stage '%s': chunk %d and max_seq %d must be positive", def->name, s->chunk,
                     s->max_seq);
        rc = GF_EINVAL;
        goto fail;
    }
    int width = s->chunk + s->n_reqs;
    rc = GF_ENOMEM;
    s->reqs = calloc(s->n_reqs, sizeof *s->reqs);
    s->toks = calloc(width, sizeof *s->toks);
    gf_pace_init(&s->pace, width, gf_pace_budget_us(info->graph));
    s->rows = calloc(s->n_reqs, sizeof *s->rows);
    s->scratch = malloc((size_t)s->vocab * sizeof *s->scratch);
    s->idx = malloc((size_t)s->vocab * sizeof *s->idx);
    if (!s->be || !s->reqs || !s->toks || !s->rows || !s->scratch || !s->idx)
        goto fail;
    for (int k = 0; k < s->n_reqs; k++)
        s->reqs[k].slot = -1;
    if ((rc = gf_llm_new(s->be, s->ck, s->n_reqs, s->max_seq, width, &s->m)) < 0) {
        gf_log_error("cannot size the model for %d rows of %d positions", s->n_reqs, s->max_seq);
        goto fail;
    }
    gf_log_info("model '%s' loaded: %d rows of %d positions, prefill chunks of %d", dir, s->n_reqs,
                s->max_seq, s->chunk);
    return 0;
fail:
    s_shutdown(st);
    return rc;
}

static const struct gf_stage_ops s_ops = {
    .kind = "reason",
    .init = s_init,
    .process = s_process,
    .step = s_step,
    .shutdown = s_shutdown,
};

int main(int argc, char **argv)
{
    return gf_stage_main(argc, argv, &s_ops);
}
