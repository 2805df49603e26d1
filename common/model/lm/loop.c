/* loop.c — stage 1 (reasoning text) and stage 2 (image tokens under CFG), as infer.py does. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "model/lm/imagegen.h"
#include "model/lm/loop.h"

enum { S_STREAM_TEXT = 1 }; /* image draws: stream 2, in imagegen.c */

int gf_loop_slots(const struct gf_loop_params *p)
{
    return p->cfg_weight > 1 ? 2 * p->parallel : p->parallel;
}

int gf_loop_max_seq(const struct gf_loop_params *p)
{
    return p->n_prompt + p->max_text + 1 + p->n_image;
}

/* Prefills toks[n] in chunks of the model's max_tokens; returns the kept rows of the last chunk
 * (want flags must sit in the last chunk). */
static int s_prefill(struct gf_llm *m, const struct gf_tok *toks, int n)
{
    int rc = 0;
    for (int i = 0; i < n && rc >= 0; i += m->max_tokens)
        rc = gf_llm_forward(m, toks + i, n - i < m->max_tokens ? n - i : m->max_tokens);
    return rc;
}

int gf_loop_reason(struct gf_llm *m, const struct gf_loop_params *p, int32_t *text)
{
    int V = m->cfg->vocab, n = 0, rc = GF_ENOMEM;
    if (p->n_prompt < 1 || p->max_text < 1 || p->n_prompt + p->max_text + 1 > m->max_seq) {
        gf_log_error("prompt of %d tokens with up to %d more does not fit %d positions",
                     p->n_prompt, p->max_text, m->max_seq);
        return GF_EINVAL;
    }
    struct gf_tok *toks = calloc(p->n_prompt, sizeof *toks);
    float *scratch = malloc((size_t)V * sizeof *scratch);
    int32_t *idx = malloc((size_t)V * sizeof *idx);
    int32_t slot = -1;
    if (!toks || !scratch || !idx)
        goto out;
    if ((rc = gf_llm_slots_acquire(m, 1, &slot)) < 0)
        goto out;
    for (int i = 0; i < p->n_prompt; i++)
        toks[i] = (struct gf_tok){p->prompt[i], slot, i, GF_TOK_TEXT, i == p->n_prompt - 1};
    /* at the last chunk boundary only the final token is wanted */
    if ((rc = s_prefill(m, toks, p->n_prompt)) < 0)
        goto out;
    for (;;) {
        double u = gf_rng_uniform(p->seed, S_STREAM_TEXT, 0, n);
        int32_t t;
        if (gf_llm_can_draw(m, &p->text)) { /* on the backend: only the id comes back */
            struct gf_draw d = {0, -1, 1.0f, p->text.top_k == 1 ? 0.0f : p->text.temperature, u};
            if ((rc = gf_llm_draw(m, 0, &d, 1, &t)) < 0)
                goto out;
        } else {
            t = gf_sample(gf_llm_text_logits(m), V, &p->text, u, scratch, idx);
        }
        text[n++] = t;
        if (t == p->boi_id || n >= p->max_text)
            break;
        struct gf_tok tk = {t, slot, p->n_prompt + n - 1, GF_TOK_TEXT, 1};
        if ((rc = gf_llm_forward(m, &tk, 1)) < 0)
            goto out;
    }
    if (text[n - 1] != p->boi_id)
        text[n++] = p->boi_id;
    rc = n;
out:
    if (slot >= 0)
        gf_llm_slots_release(m, 1, &slot);
    free(toks), free(scratch), free(idx);
    return rc;
}

int gf_loop_image(struct gf_llm *m, const struct gf_loop_params *p, const int32_t *seq, int n_seq,
                  int32_t *image)
{
    int IV = m->cfg->image_vocab, rc = GF_ENOMEM;
    struct gf_imagegen_req r = {.parallel = p->parallel,
                                .cfg_weight = p->cfg_weight,
                                .pad_id = p->pad_id,
                                .n_image = p->n_image,
                                .sampler = p->image,
                                .seed = p->seed,
                                .image = image};
    struct gf_imagegen_req *reqs[1] = {&r};
    float *scratch = malloc((size_t)IV * 2 * sizeof *scratch);
    int32_t *idx = malloc((size_t)IV * sizeof *idx);
    if (!scratch || !idx)
        goto out;
    if ((rc = gf_imagegen_join(m, &r, seq, n_seq)) < 0)
        goto out;
    while (!r.done && rc >= 0)
        rc = gf_imagegen_step(m, reqs, 1, NULL, 0, scratch, idx);
    gf_imagegen_leave(m, &r);
out:
    free(scratch), free(idx);
    return rc < 0 ? rc : 0;
}

int gf_loop_run(struct gf_llm *m, const struct gf_loop_params *p, struct gf_loop_result *r)
{
    memset(r, 0, sizeof *r);
    int rc = GF_ENOMEM;
    int32_t *seq = malloc((size_t)(p->n_prompt + p->max_text + 1) * 4);
    r->text = malloc((size_t)(p->max_text + 1) * 4);
    r->image = malloc((size_t)p->parallel * p->n_image * 4);
    if (!seq || !r->text || !r->image)
        goto fail;
    if ((rc = gf_loop_reason(m, p, r->text)) < 0)
        goto fail;
    r->n_text = rc;
    memcpy(seq, p->prompt, (size_t)p->n_prompt * 4);
    memcpy(seq + p->n_prompt, r->text, (size_t)r->n_text * 4);
    if ((rc = gf_loop_image(m, p, seq, p->n_prompt + r->n_text, r->image)) < 0)
        goto fail;
    free(seq);
    return 0;
fail:
    free(seq);
    gf_loop_result_release(r);
    return rc;
}

void gf_loop_result_release(struct gf_loop_result *r)
{
    free(r->text);
    free(r->image);
    memset(r, 0, sizeof *r);
}
