/* loop.c — stage 1 (reasoning text) and stage 2 (image tokens under CFG), as infer.py does. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "model/loop.h"

enum { S_STREAM_TEXT = 1, S_STREAM_IMAGE = 2 };

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
    if (!toks || !scratch || !idx)
        goto out;
    for (int i = 0; i < p->n_prompt; i++)
        toks[i] = (struct gf_tok){p->prompt[i], 0, i, GF_TOK_TEXT, i == p->n_prompt - 1};
    /* at the last chunk boundary only the final token is wanted */
    if ((rc = s_prefill(m, toks, p->n_prompt)) < 0)
        goto out;
    for (;;) {
        const float *lg = gf_llm_text_logits(m);
        double u = gf_rng_uniform(p->seed, S_STREAM_TEXT, 0, n);
        int32_t t = gf_sample(lg, V, &p->text, u, scratch, idx);
        text[n++] = t;
        if (t == p->boi_id || n >= p->max_text)
            break;
        struct gf_tok tk = {t, 0, p->n_prompt + n - 1, GF_TOK_TEXT, 1};
        if ((rc = gf_llm_forward(m, &tk, 1)) < 0)
            goto out;
    }
    if (text[n - 1] != p->boi_id)
        text[n++] = p->boi_id;
    rc = n;
out:
    free(toks), free(scratch), free(idx);
    return rc;
}

int gf_loop_image(struct gf_llm *m, const struct gf_loop_params *p, const int32_t *seq, int n_seq,
                  int32_t *image)
{
    int rows = gf_loop_slots(p), cfg = p->cfg_weight > 1, IV = m->cfg->image_vocab;
    int rc = GF_ENOMEM;
    struct gf_tok *toks = calloc((size_t)n_seq, sizeof *toks);
    float *mix = malloc((size_t)IV * sizeof *mix), *scratch = malloc((size_t)IV * 4);
    int32_t *idx = malloc((size_t)IV * 4), *pick = malloc((size_t)p->parallel * 4);
    struct gf_tok *step = calloc(rows, sizeof *step);
    if (!toks || !mix || !scratch || !idx || !pick || !step)
        goto out;
    if (rows > m->n_slots || n_seq + p->n_image > m->max_seq) {
        gf_log_error("model sized for %d slots x %d positions; loop needs %d x %d", m->n_slots,
                     m->max_seq, rows, n_seq + p->n_image);
        rc = GF_EINVAL;
        goto out;
    }
    /* each row's prefill but its last position */
    for (int r = 0; r < rows; r++) {
        int uncond = cfg && (r & 1);
        for (int i = 0; i < n_seq; i++) {
            int32_t id = uncond && i > 0 && i < n_seq - 1 ? p->pad_id : seq[i];
            toks[i] = (struct gf_tok){id, r, i, GF_TOK_TEXT, 0};
        }
        if ((rc = s_prefill(m, toks, n_seq - 1)) < 0)
            goto out;
    }
    /* the last position (<begin_of_image>, never padded) of every row in one batched step */
    for (int r = 0; r < rows; r++)
        step[r] = (struct gf_tok){seq[n_seq - 1], r, n_seq - 1, GF_TOK_TEXT, 1};
    for (int i = 0; i < p->n_image; i++) {
        if ((rc = gf_llm_forward(m, step, rows)) < 0)
            goto out;
        const float *lg = gf_llm_image_logits(m); /* [rows][IV] */
        for (int k = 0; k < p->parallel; k++) {
            const float *row = lg + (size_t)(cfg ? 2 * k : k) * IV;
            if (cfg) {
                gf_cfg_mix(mix, row, row + IV, IV, p->cfg_weight);
                row = mix;
            }
            double u = gf_rng_uniform(p->seed, S_STREAM_IMAGE, k, i);
            pick[k] = gf_sample(row, IV, &p->image, u, scratch, idx);
            image[(size_t)k * p->n_image + i] = pick[k];
        }
        for (int r = 0; r < rows; r++)
            step[r] = (struct gf_tok){pick[cfg ? r / 2 : r], r, n_seq + i, GF_TOK_IMAGE, 1};
    }
    rc = 0;
out:
    free(toks), free(mix), free(scratch), free(idx), free(pick), free(step);
    return rc;
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
