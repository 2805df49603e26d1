/* test_sampler.c — greedy, temperature, top-k, top-p, the keyed random stream, CFG mixing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "model/lm/sampler.h"

enum { N = 6 };
static const float s_logits[N] = {1.0f, 3.0f, 0.5f, 3.0f, -2.0f, 2.0f};

static void test_greedy(void **state)
{
    float scratch[N];
    int32_t idx[N];
    struct gf_sampler g = {0, 0, 1};
    /* ties go to the lowest id, whatever u is */
    assert_int_equal(gf_sample(s_logits, N, &g, 0.99, scratch, idx), 1);
    struct gf_sampler k1 = {1.0f, 1, 1};
    assert_int_equal(gf_sample(s_logits, N, &k1, 0.5, scratch, idx), 1);
}

/* Frequencies over many keyed draws match softmax(logits / T) restricted as asked. */
static void s_freq(const struct gf_sampler *s, double *want)
{
    enum { DRAWS = 200000 };
    float scratch[N];
    int32_t idx[N];
    int count[N] = {0};
    for (uint32_t i = 0; i < DRAWS; i++)
        count[gf_sample(s_logits, N, s, gf_rng_uniform(42, 1, 0, i), scratch, idx)]++;
    for (int i = 0; i < N; i++)
        assert_true(fabs(count[i] / (double)DRAWS - want[i]) < 0.006);
}

static void s_softmax(double t, const int *keep, double *p)
{
    double sum = 0;
    for (int i = 0; i < N; i++)
        sum += p[i] = keep[i] ? exp(s_logits[i] / t) : 0;
    for (int i = 0; i < N; i++)
        p[i] /= sum;
}

static void test_temperature_topk_topp(void **state)
{
    double p[N];
    int all[N] = {1, 1, 1, 1, 1, 1}, top3[N] = {0, 1, 0, 1, 0, 1};
    s_softmax(1.0, all, p);
    s_freq(&(struct gf_sampler){1.0f, 0, 1.0f}, p);
    s_softmax(0.5, all, p);
    s_freq(&(struct gf_sampler){0.5f, 0, 1.0f}, p);
    s_softmax(1.0, top3, p);
    s_freq(&(struct gf_sampler){1.0f, 3, 1.0f}, p);
    /* at T = 1 the two 3.0 logits hold 0.60 of the mass: top_p 0.5 keeps just them */
    int top2[N] = {0, 1, 0, 1, 0, 0};
    s_softmax(1.0, top2, p);
    s_freq(&(struct gf_sampler){1.0f, 0, 0.5f}, p);
}

static void test_stream_keyed(void **state)
{
    /* same key, same draw; any part of the key changes it */
    double u = gf_rng_uniform(1000, 2, 3, 4);
    assert_true(u == gf_rng_uniform(1000, 2, 3, 4));
    assert_true(u != gf_rng_uniform(1001, 2, 3, 4));
    assert_true(u != gf_rng_uniform(1000, 1, 3, 4));
    assert_true(u != gf_rng_uniform(1000, 2, 4, 4));
    assert_true(u != gf_rng_uniform(1000, 2, 3, 5));
    double mean = 0;
    for (uint32_t i = 0; i < 100000; i++) {
        double v = gf_rng_uniform(7, 0, 0, i);
        assert_true(v >= 0 && v < 1);
        mean += v / 100000;
    }
    assert_true(fabs(mean - 0.5) < 0.005);
}

static void test_cfg(void **state)
{
    float c[3] = {1, 2, 3}, u[3] = {0, 2, 5}, out[3];
    gf_cfg_mix(out, c, u, 3, 5.0f);
    assert_true(out[0] == 5.0f && out[1] == 2.0f && out[2] == -5.0f);
    gf_cfg_mix(c, c, u, 3, 1.0f); /* w = 1 is the conditional row */
    assert_true(c[0] == 1.0f && c[2] == 3.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy),
        cmocka_unit_test(test_temperature_topk_topp),
        cmocka_unit_test(test_stream_keyed),
        cmocka_unit_test(test_cfg),
    };
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
