/* sampler.c — greedy / temperature / top-k / top-p sampling and CFG mixing. */
#include <math.h>
#include <stdlib.h>

#include "model/lm/sampler.h"

static uint64_t s_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

double gf_rng_uniform(uint64_t seed, uint32_t stream, uint32_t row, uint32_t step)
{
    uint64_t k = s_mix(seed);
    k = s_mix(k ^ ((uint64_t)stream << 32 | row));
    k = s_mix(k ^ step);
    return (double)(k >> 11) * (1.0 / 9007199254740992.0);
}

static int32_t s_argmax(const float *x, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

static int s_by_prob(const void *a, const void *b, void *key)
{
    const float *p = key;
    float x = p[*(const int32_t *)a], y = p[*(const int32_t *)b];
    if (x != y)
        return x > y ? -1 : 1;
    return *(const int32_t *)a - *(const int32_t *)b;
}

int32_t gf_sample(const float *logits, int n, const struct gf_sampler *s, double u, float *p,
                  int32_t *idx)
{
    if (s->temperature <= 0 || s->top_k == 1)
        return s_argmax(logits, n);
    int32_t best = s_argmax(logits, n);
    double inv_t = 1.0 / s->temperature, sum = 0;
    for (int i = 0; i < n; i++) {
        p[i] = (float)exp((logits[i] - logits[best]) * inv_t);
        sum += p[i];
    }
    int m = n; /* candidates: idx[0..m) in the order the draw walks them */
    for (int i = 0; i < n; i++)
        idx[i] = i;
    if ((s->top_k > 0 && s->top_k < n) || s->top_p < 1) {
        qsort_r(idx, n, sizeof *idx, s_by_prob, p); /* by probability, ties by id */
        if (s->top_k > 0 && s->top_k < m)
            m = s->top_k;
        if (s->top_p < 1) {
            double acc = 0;
            for (int i = 0; i < m; i++) {
                acc += p[idx[i]] / sum;
                if (acc >= s->top_p) {
                    m = i + 1;
                    break;
                }
            }
        }
        sum = 0;
        for (int i = 0; i < m; i++)
            sum += p[idx[i]];
    }
    double target = u * sum, acc = 0;
    for (int i = 0; i < m; i++) {
        acc += p[idx[i]];
        if (target < acc)
            return idx[i];
    }
    return idx[m - 1];
}

void gf_cfg_mix(float *out, const float *cond, const float *uncond, int n, float w)
{
    for (int i = 0; i < n; i++)
        out[i] = uncond[i] + w * (cond[i] - uncond[i]);
}
