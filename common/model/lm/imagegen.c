/* imagegen.c — continuous-batching stage 2 over the KV row slots. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "model/lm/imagegen.h"

enum { S_STREAM_IMAGE = 2 }; /* the loop's image stream: same draws as gf_loop_image */

int gf_imagegen_join(struct gf_llm *m, struct gf_imagegen_req *r, const int32_t *seq, int n_seq)
{
    int cfg = r->cfg_weight > 1;
    r->rows = cfg ? 2 * r->parallel : r->parallel;
    r->step = 0, r->done = 0, r->active = 0;
    if (r->parallel < 1 || r->rows > GF_IMAGEGEN_MAX_ROWS || n_seq < 1 || r->n_image < 1 ||
        n_seq + r->n_image > m->max_seq) {
        gf_log_error("image request of %d images, %d + %d positions does not fit (%d rows, %d "
                     "positions)",
                     r->parallel, n_seq, r->n_image, GF_IMAGEGEN_MAX_ROWS, m->max_seq);
        return GF_EINVAL;
    }
    int rc = gf_llm_slots_acquire(m, r->rows, r->slots);
    if (rc < 0)
        return rc;
    struct gf_tok *toks = calloc(m->max_tokens, sizeof *toks);
    if (!toks) {
        gf_llm_slots_release(m, r->rows, r->slots);
        return GF_ENOMEM;
    }
    for (int k = 0; k < r->rows && rc >= 0; k++) {
        int uncond = cfg && (k & 1);
        for (int i0 = 0; i0 < n_seq - 1 && rc >= 0; i0 += m->max_tokens) {
            int n = n_seq - 1 - i0 < m->max_tokens ? n_seq - 1 - i0 : m->max_tokens;
            for (int i = 0; i < n; i++) {
                int p = i0 + i;
                int32_t id = uncond && p > 0 && p < n_seq - 1 ? r->pad_id : seq[p];
                toks[i] = (struct gf_tok){id, r->slots[k], p, GF_TOK_TEXT, 0};
            }
            rc = gf_llm_forward(m, toks, n);
        }
        /* <begin_of_image> at the last position is never padded; the first step feeds it */
        r->next[k] = (struct gf_tok){seq[n_seq - 1], r->slots[k], n_seq - 1, GF_TOK_TEXT, 1};
    }
    free(toks);
    if (rc < 0) {
        gf_llm_slots_release(m, r->rows, r->slots);
        return rc;
    }
    r->active = 1;
    return 0;
}

void gf_imagegen_leave(struct gf_llm *m, struct gf_imagegen_req *r)
{
    if (r->active)
        gf_llm_slots_release(m, r->rows, r->slots);
    r->active = 0;
    r->done = 1;
}

#define S_DEV_DRAWS 256 /* images drawn on the backend in one step at most; more: on the host */

/* Every active request's sampler can be drawn on the backend (gf_llm_draw), and the step's
 * images fit S_DEV_DRAWS. */
static int s_can_draw(struct gf_llm *m, struct gf_imagegen_req **reqs, int n_reqs)
{
    int images = 0;
    for (int q = 0; q < n_reqs; q++) {
        if (!reqs[q]->active)
            continue;
        if (!gf_llm_can_draw(m, &reqs[q]->sampler))
            return 0;
        images += reqs[q]->parallel;
    }
    return images <= S_DEV_DRAWS;
}

/* CFG and the draws on the backend: the same draws as below, only the ids come back. */
static int s_step_drawn(struct gf_llm *m, struct gf_imagegen_req **reqs, int n_reqs)
{
    struct gf_draw draws[S_DEV_DRAWS];
    int32_t ids[S_DEV_DRAWS];
    int nd = 0;
    for (int q = 0, row0 = 0; q < n_reqs; q++) {
        struct gf_imagegen_req *r = reqs[q];
        if (!r->active)
            continue;
        int cfg = r->cfg_weight > 1;
        float t = r->sampler.top_k == 1 ? 0.0f : r->sampler.temperature;
        for (int k = 0; k < r->parallel; k++)
            draws[nd++] = (struct gf_draw){row0 + (cfg ? 2 * k : k), cfg ? row0 + 2 * k + 1 : -1,
                                           r->cfg_weight, t,
                                           gf_rng_uniform(r->seed, S_STREAM_IMAGE, k, r->step)};
        row0 += r->rows;
    }
    int rc = gf_llm_draw(m, 1, draws, nd, ids);
    if (rc < 0)
        return rc;
    for (int q = 0, d = 0; q < n_reqs; q++) {
        struct gf_imagegen_req *r = reqs[q];
        if (!r->active)
            continue;
        int cfg = r->cfg_weight > 1, pos = r->next[0].pos + 1;
        for (int k = 0; k < r->parallel; k++, d++) {
            r->image[(size_t)k * r->n_image + r->step] = ids[d];
            for (int j = cfg ? 2 * k : k; j <= (cfg ? 2 * k + 1 : k); j++)
                r->next[j] = (struct gf_tok){ids[d], r->slots[j], pos, GF_TOK_IMAGE, 1};
        }
        if (++r->step == r->n_image)
            gf_imagegen_leave(m, r);
    }
    return 0;
}

int gf_imagegen_step(struct gf_llm *m, struct gf_imagegen_req **reqs, int n_reqs,
                     struct gf_tok *toks, int n_extra, float *scratch, int32_t *idx)
{
    struct gf_tok local[256];
    struct gf_tok *batch = toks ? toks : local; /* [n_extra + rows] */
    int cap = toks ? m->max_tokens : 256, n = n_extra, IV = m->cfg->image_vocab;
    if (n_extra < 0 || (n_extra > 0 && !toks) || n_extra > m->max_tokens)
        return GF_EINVAL;
    for (int i = 0; i < n_extra; i++)
        if (toks[i].want) {
            gf_log_error("a token riding along an image step keeps its hidden state");
            return GF_EINVAL;
        }
    for (int q = 0; q < n_reqs; q++) {
        if (!reqs[q]->active)
            continue;
        if (n + reqs[q]->rows > m->max_tokens || n + reqs[q]->rows > cap) {
            gf_log_error("image step of more than %d tokens", n);
            return GF_EINVAL;
        }
        memcpy(batch + n, reqs[q]->next, reqs[q]->rows * sizeof *batch);
        n += reqs[q]->rows;
    }
    if (n == 0)
        return 0;
    int rc = gf_llm_forward(m, batch, n);
    if (rc < 0)
        return rc;
    if (n == n_extra)
        return 0; /* no image rows */
    if (s_can_draw(m, reqs, n_reqs))
        return s_step_drawn(m, reqs, n_reqs);
    const float *lg = gf_llm_image_logits(m); /* [n][IV], rows in batch order */
    for (int q = 0, row0 = 0; q < n_reqs; q++) {
        struct gf_imagegen_req *r = reqs[q];
        if (!r->active)
            continue;
        int cfg = r->cfg_weight > 1, pos = r->next[0].pos + 1;
        for (int k = 0; k < r->parallel; k++) {
            const float *l = lg + (size_t)(row0 + (cfg ? 2 * k : k)) * IV;
            if (cfg) {
                gf_cfg_mix(scratch + IV, l, l + IV, IV, r->cfg_weight);
                l = scratch + IV;
            }
            double u = gf_rng_uniform(r->seed, S_STREAM_IMAGE, k, r->step);
            int32_t t = gf_sample(l, IV, &r->sampler, u, scratch, idx);
            r->image[(size_t)k * r->n_image + r->step] = t;
            for (int j = cfg ? 2 * k : k; j <= (cfg ? 2 * k + 1 : k); j++)
                r->next[j] = (struct gf_tok){t, r->slots[j], pos, GF_TOK_IMAGE, 1};
        }
        row0 += r->rows;
        if (++r->step == r->n_image)
            gf_imagegen_leave(m, r);
    }
    return 0;
}
