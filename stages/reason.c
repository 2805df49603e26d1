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
 * (prefill tokens per step, default 128), kv_handover (below). `batch` requests are in flight
 * at once.
 *
 * The handover (docs/model.md): imagegen prefills prompt + chain again, which the KV slot here
 * already holds. With kv_handover (default 1 on the CPU backends, whose forward is
 * batch-invariant; 0 elsewhere) the slot's positions go to a file in the run directory's kv/
 * (model/lm/kvfile.h), named by `kv_cache` in the `reasoning` frame; an imagegen replica on this
 * host with the same model reads it instead of computing those positions, and removes it. A
 * file nobody took is removed after kv_ttl seconds (default 600). Without the file (another
 * host, a full disk) imagegen computes them, with the same result.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/error.h"
#include "core/log.h"
#include "engine/batch.h"
#include "engine/params.h"
#include "engine/stage.h"
#include "model/lm/checkpoint.h"
#include "model/lm/genconfig.h"
#include "model/lm/kvfile.h"
#include "model/tokenizer/got_prompt.h"
#include "model/lm/llm.h"
#include "model/lm/sampler.h"

enum { S_STREAM_TEXT = 1 }; /* the reference loop's text stream (loop.c): same draws */
#define S_DEV_DRAWS 256     /* decode rows drawn on the backend at most; more: on the host */

struct s_req {
    struct gf_batch_req b; /* b.n_prefill = n_prompt */
    int32_t slot;
    int has_slot;    /* slot is this request's KV row */
    int32_t *prompt; /* [n_prompt] */
    int n_prompt;
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
    gf_batch_t *batch;
    struct gf_tok *toks; /* [batch + chunk] one step's tokens: decode rows, then a prefill chunk */
    float *scratch;      /* [vocab] */
    int32_t *idx;        /* [vocab] */
    int chunk, max_seq, vocab;
    /* the handover: kv_dir is "" when off */
    char kv_dir[4096];
    uint64_t kv_identity;
    long kv_ttl;
    time_t kv_swept;
    /* the last forward's draws: ids[kept row] from the backend, else lg [kept][vocab] on the
     * host, else draw_rc < 0 */
    int32_t ids[S_DEV_DRAWS];
    const float *lg;
    int draw_rc;
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

static void s_release(gf_stage_t *st, struct gf_batch_req *b)
{
    struct s_reason *s = gf_stage_info(st)->user;
    struct s_req *r = (struct s_req *)b;
    if (r->has_slot)
        gf_llm_slots_release(s->m, 1, &r->slot);
    gf_tok_stream_destroy(&r->stream);
    free(r->prompt);
    free(r->out);
}

/* Publishes the text the stream gave (owned, may be NULL) with the ids out[delta_from..upto). */
static void s_delta(gf_stage_t *st, struct s_req *r, char *text, size_t len, int upto)
{
    if (text && len) {
        gf_emit_t *e = gf_stage_begin(st, r->b.frame, "text_delta");
        gf_emit_strn(e, "text", text, len);
        int64_t shape[1] = {upto - r->delta_from};
        gf_emit_tensor(e, "ids", GF_DTYPE_I32, shape, 1, r->out + r->delta_from);
        gf_emit_int(e, "step", upto);
        gf_stage_publish(st, r->b.frame);
        r->delta_from = upto;
    }
    free(text);
}

/* Removes the handover files older than kv_ttl (a request that failed or went elsewhere after
 * this stage), at most once a minute. */
static void s_kv_sweep(struct s_reason *s)
{
    time_t now = time(NULL);
    if (now - s->kv_swept < 60)
        return;
    s->kv_swept = now;
    DIR *d = opendir(s->kv_dir);
    struct dirent *e;
    char path[4400];
    while (d && (e = readdir(d))) {
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", s->kv_dir, e->d_name);
        if (e->d_name[0] != '.' && stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
            now - sb.st_mtime > s->kv_ttl && remove(path) == 0)
            gf_log_info("removed the unclaimed KV file '%s'", path);
    }
    if (d)
        closedir(d);
}

/* Hands the chain's KV positions 0..n_kv-1 over (the header comment): the file's name into
 * `kv_cache` of e, or nil when off or when it cannot be written (logged; imagegen then
 * computes). Always set, so that a `kv_cache` the request came with never reaches imagegen. */
static void s_kv_handover(gf_stage_t *st, struct s_req *r, int n_kv, gf_emit_t *e)
{
    struct s_reason *s = gf_stage_info(st)->user;
    const struct gf_stage_info *info = gf_stage_info(st);
    char name[256], path[4400], why[4600];
    int32_t *toks = s->kv_dir[0] && n_kv > 0 ? malloc((size_t)n_kv * sizeof *toks) : NULL;
    if (!toks) {
        msgpack_pack_nil(gf_emit_key(e, "kv_cache"));
        return;
    }
    s_kv_sweep(s);
    memcpy(toks, r->prompt, (size_t)r->n_prompt * sizeof *toks);
    memcpy(toks + r->n_prompt, r->out, (size_t)(n_kv - r->n_prompt) * sizeof *toks);
    snprintf(name, sizeof name, "%s.%d.%s.%u.kv", info->def->name, info->replica, r->b.frame->id,
             (unsigned)r->b.frame->n);
    snprintf(path, sizeof path, "%s/%s", s->kv_dir, name);
    if (gf_kvfile_write(s->m, r->slot, toks, n_kv, s->kv_identity, path, why, sizeof why) == 0)
        gf_emit_strn(e, "kv_cache", name, strlen(name));
    else {
        gf_log_warn("request '%s': no KV handover (imagegen computes it): %s", r->b.frame->id, why);
        msgpack_pack_nil(gf_emit_key(e, "kv_cache"));
    }
    free(toks);
}

/* The chain is written: the `reasoning` frame goes out, with the KV of its first n_kv positions
 * handed over. */
static void s_finish(gf_stage_t *st, struct s_req *r, int n_kv)
{
    struct s_reason *s = gf_stage_info(st)->user;
    char *text = NULL, *chain = NULL;
    size_t len = 0, chain_len = 0;
    gf_tok_stream_finish(r->stream, &text, &len);
    s_delta(st, r, text, len, r->n_out);
    if (gf_tokenizer_decode(s->got->tok, r->out, r->n_out, 0, &chain, &chain_len) != 0) {
        gf_batch_fail(s->batch, &r->b, GF_ENOMEM, "cannot decode the reasoning chain");
        return;
    }
    gf_emit_t *e = gf_stage_begin(st, r->b.frame, "reasoning");
    int64_t shape[1] = {r->n_out};
    gf_emit_tensor(e, "reasoning_ids", GF_DTYPE_I32, shape, 1, r->out);
    gf_emit_strn(e, "text", chain, chain_len);
    const char *caption;
    size_t caption_len;
    if (gf_frame_get_str(r->b.frame, "text", &caption, &caption_len) == 0)
        gf_emit_strn(e, "caption", caption, caption_len);
    free(chain);
    s_kv_handover(st, r, n_kv, e);
    gf_stage_send(st, r->b.frame);
    gf_batch_done(s->batch, &r->b);
}

/* Records token t of the chain, streams it, and ends the request at <begin_of_image> or
 * max_tokens (appending <begin_of_image>, as infer.py does). */
static void s_record(gf_stage_t *st, struct s_req *r, int32_t t)
{
    char *text = NULL;
    size_t len = 0;
    r->out[r->n_out++] = t;
    int n_kv = r->n_prompt + r->n_out - 1; /* every token but t has been through a forward */
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
        s_finish(st, r, n_kv);
}

/* --- joining ---------------------------------------------------------------------------------- */

/* Reads and checks one request; 0, or a GF_E* with `why` for its error frame. */
static int s_admit(gf_stage_t *st, struct gf_batch_req *b, char *why, size_t whylen)
{
    struct s_reason *s = gf_stage_info(st)->user;
    const struct gf_stage_def *def = gf_stage_info(st)->def;
    struct s_req *r = (struct s_req *)b;
    double temperature, top_k, top_p, max_tokens;
    int rc;
    if ((rc = gf_params_ids(b->frame, "prompt_ids", s->vocab, &r->prompt, &r->n_prompt, why,
                            whylen)) < 0 ||
        (rc = gf_params_special(b->frame, "begin_of_image", s->vocab, &r->boi, why, whylen)) < 0 ||
        (rc = gf_params_seed(b->frame, def, 1000, &r->seed, why, whylen)) < 0 ||
        (rc = gf_params_get(b->frame, def, &s->temperature, &temperature, why, whylen)) < 0 ||
        (rc = gf_params_get(b->frame, def, &s->top_k, &top_k, why, whylen)) < 0 ||
        (rc = gf_params_get(b->frame, def, &s->top_p, &top_p, why, whylen)) < 0 ||
        (rc = gf_params_get(b->frame, def, &s->max_tokens, &max_tokens, why, whylen)) < 0)
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
    r->has_slot = 1;
    b->rows = 1;
    b->n_prefill = r->n_prompt;
    return 0;
}

/* --- stepping --------------------------------------------------------------------------------- */

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

/* One forward: a token for every decoding request, then the prefill's next n_pre prompt tokens;
 * the kept rows (the decode rows, then the prefill's last token) are drawn on the backend when it
 * can, else their logits stay for s_take. */
static int s_forward(gf_stage_t *st, struct gf_batch_req **run, int n_dec, struct gf_batch_req *p,
                     int n_pre)
{
    struct s_reason *s = gf_stage_info(st)->user;
    struct s_req *pre = (struct s_req *)p, *draw[S_DEV_DRAWS];
    int n = 0;
    for (int i = 0; i < n_dec; i++) {
        struct s_req *r = (struct s_req *)run[i];
        s->toks[n++] = (struct gf_tok){r->out[r->n_out - 1], r->slot, r->n_prompt + r->n_out - 1,
                                       GF_TOK_TEXT, 1};
    }
    for (int i = 0; i < n_pre; i++) {
        int q = pre->b.prefilled + i;
        s->toks[n++] =
            (struct gf_tok){pre->prompt[q], pre->slot, q, GF_TOK_TEXT, q == pre->n_prompt - 1};
    }
    int rc = gf_llm_forward(s->m, s->toks, n);
    if (rc < 0)
        return rc;
    int pre_done = pre && pre->b.prefilled + n_pre == pre->n_prompt, n_draw = n_dec + pre_done;
    for (int i = 0; i < n_dec && i < S_DEV_DRAWS; i++)
        draw[i] = (struct s_req *)run[i];
    if (pre_done && n_dec < S_DEV_DRAWS)
        draw[n_dec] = pre;
    s->draw_rc = s_draw_rows(s, draw, n_draw, s->ids); /* only the ids come back */
    s->lg = s->draw_rc == GF_EUNSUPPORTED ? gf_llm_text_logits(s->m) : NULL; /* [kept][vocab] */
    return 0;
}

/* The token of kept row i for the request: the backend's draw, else a draw from its logits. */
static void s_take(gf_stage_t *st, struct gf_batch_req *b, int i)
{
    struct s_reason *s = gf_stage_info(st)->user;
    struct s_req *r = (struct s_req *)b;
    if (s->draw_rc < 0 && !s->lg)
        gf_batch_fail(s->batch, b, s->draw_rc, "the draw failed");
    else
        s_record(st, r, s->lg ? s_draw(s, r, s->lg + (size_t)i * s->vocab) : s->ids[i]);
}

/* --- life ------------------------------------------------------------------------------------- */

static int s_process(gf_stage_t *st, gf_frame_t **frames, int n)
{
    return gf_batch_process(((struct s_reason *)gf_stage_info(st)->user)->batch, frames, n);
}

static int s_step(gf_stage_t *st)
{
    return gf_batch_step(((struct s_reason *)gf_stage_info(st)->user)->batch);
}

static const struct gf_batch_ops s_batch_ops = {
    .req_size = sizeof(struct s_req),
    .name = "decode batch",
    .step_error = "the decode step failed",
    .prefill_error = "the prefill failed",
    .admit = s_admit,
    .forward = s_forward,
    .take = s_take,
    .join = s_take, /* the prefill's first token */
    .release = s_release,
};

static void s_shutdown(gf_stage_t *st)
{
    struct s_reason *s = gf_stage_info(st)->user;
    if (!s)
        return;
    gf_batch_destroy(&s->batch);
    gf_llm_destroy(&s->m);
    gf_backend_destroy(&s->be);
    gf_ckpt_close(&s->ck);
    gf_got_tok_destroy(&s->got);
    free(s->toks), free(s->scratch), free(s->idx);
    free(s);
    gf_stage_info(st)->user = NULL;
}

/* The handover's directory, <run_dir>/kv, when kv_handover is on (the header comment). */
static void s_kv_init(struct s_reason *s, const struct gf_stage_info *info)
{
    int ok = gf_kvfile_backend_ok(s->be);
    long on = gf_graph_param_long(info->def, "kv_handover", ok);
    s->kv_ttl = gf_graph_param_long(info->def, "kv_ttl", 600);
    s->kv_dir[0] = 0;
    if (!on)
        return;
    if (!ok) {
        gf_log_warn("stage '%s': kv_handover is off: the %s backend's prefill and decode may "
                    "differ in the last bits",
                    info->def->name, gf_backend_kernels(s->be));
        return;
    }
    snprintf(s->kv_dir, sizeof s->kv_dir, "%s/kv", info->run_dir);
    if (mkdir(s->kv_dir, 0700) != 0 && errno != EEXIST) {
        gf_log_warn("stage '%s': kv_handover is off: cannot create '%s': %s", info->def->name,
                    s->kv_dir, strerror(errno));
        s->kv_dir[0] = 0;
        return;
    }
    s->kv_identity = gf_kvfile_identity(s->m, s->ck, s->be);
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
    if ((rc = gf_stage_precision(info, s->ck)) < 0)
        goto fail;
    if ((rc = gf_got_tok_new(dir, &s->got, err, sizeof err)) < 0) {
        gf_log_error("cannot load the tokenizer of '%s': %s", dir, err);
        goto fail;
    }
    if ((rc = s_defaults(s, dir, err, sizeof err)) < 0) {
        gf_log_error("%s", err);
        goto fail;
    }
    s->vocab = s->ck->cfg.vocab;
    int n_reqs = def->batch;
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
    int width = s->chunk + n_reqs;
    rc = GF_ENOMEM;
    s->toks = calloc(width, sizeof *s->toks);
    s->scratch = malloc((size_t)s->vocab * sizeof *s->scratch);
    s->idx = malloc((size_t)s->vocab * sizeof *s->idx);
    if (!s->toks || !s->scratch || !s->idx)
        goto fail;
    if ((rc = gf_llm_new(s->be, s->ck, n_reqs, s->max_seq, width, &s->m)) < 0) {
        gf_log_error("cannot size the model for %d rows of %d positions", n_reqs, s->max_seq);
        goto fail;
    }
    rc = GF_ENOMEM;
    if (!(s->batch = gf_batch_new(st, &s_batch_ops, n_reqs, s->chunk, width)))
        goto fail;
    s_kv_init(s, info);
    gf_log_info("model '%s' loaded: %d rows of %d positions, %s KV cache, prefill chunks of %d%s",
                dir, n_reqs, s->max_seq, gf_wtype_name(s->m->kv_dtype), s->chunk,
                s->kv_dir[0] ? "; KV handed over to imagegen" : "");
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
