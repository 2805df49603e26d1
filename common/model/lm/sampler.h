/* sampler.h — token choice from logits: greedy, temperature, top-k, top-p; CFG mixing.
 *
 * Draws come from a counter-based generator keyed by (seed, stream, row, step): a request's
 * tokens depend only on its own seed and its own logits, never on the batch it shares.
 */
#ifndef GF_MODEL_SAMPLER_H
#define GF_MODEL_SAMPLER_H

#include <stdint.h>

struct gf_sampler {
    float temperature; /* <= 0 means greedy (argmax, lowest id on ties) */
    int top_k;         /* 0 = off */
    float top_p;       /* >= 1 = off */
};

/* A uniform double in [0, 1) from the key alone (53 random bits). */
double gf_rng_uniform(uint64_t seed, uint32_t stream, uint32_t row, uint32_t step);

/* Picks a token from logits[n]. scratch[n] and idx[n] are the caller's (the sampler does not
 * allocate); both are clobbered. Returns the token id. */
int32_t gf_sample(const float *logits, int n, const struct gf_sampler *s, double u, float *scratch,
                  int32_t *idx);

/* Classifier-free guidance on logits, as MODEL.md §1.5: out = u + w·(c − u), n entries.
 * out may equal cond or uncond. */
void gf_cfg_mix(float *out, const float *cond, const float *uncond, int n, float w);

#endif
