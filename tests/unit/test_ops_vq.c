/* test_ops_vq.c — the image decoder ops of the optimized CPU backend against the scalar
 * reference on random inputs, for every weight dtype, and image-by-image invariance. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"

static uint64_t s_state = 0x9e3779b97f4a7c15ull;

static float s_rand(void) /* uniform in [-1, 1) */
{
    s_state ^= s_state << 13;
    s_state ^= s_state >> 7;
    s_state ^= s_state << 17;
    return (float)((s_state >> 40) * (1.0 / (1 << 23))) - 1.0f;
}

static float *s_new(int64_t n)
{
    float *x = malloc(n * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        x[i] = s_rand();
    return x;
}

static struct gf_mat s_mat(enum gf_wtype dt, int64_t rows, int64_t cols, float scale, float base)
{
    struct gf_mat m = {dt, rows, cols, NULL};
    void *p = malloc(rows * cols * gf_wtype_size(dt));
    for (int64_t i = 0; i < rows * cols; i++)
        gf_wtype_put(p, i, dt, base + s_rand() * scale);
    m.data = p;
    return m;
}

static void s_close(const float *a, const float *b, int64_t n, float tol)
{
    for (int64_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]), s = fabsf(b[i]) > 1 ? fabsf(b[i]) : 1;
        if (d > tol * s)
            fail_msg("element %lld: %.9g vs %.9g", (long long)i, a[i], b[i]);
    }
}

static void test_conv2d(void **state)
{
    struct gf_backend *ref = gf_backend_ref_new(), *cpu = gf_backend_cpu_new(2);
    /* {n, h, w, cin, cout, k, work pixels}: odd sizes, 1x1, bands of one pixel and of many */
    /* work pixels -1: GF_CONV2D_WORK (the packed path); others: the linear path */
    static const int cases[][7] = {
        {1, 5, 7, 3, 5, 3, 64},    {2, 4, 4, 32, 64, 3, 1},  {2, 6, 3, 40, 36, 3, 7},
        {1, 9, 8, 16, 3, 3, 1000}, {3, 4, 5, 8, 12, 1, 1},   {2, 3, 3, 64, 32, 1, 1},
        {1, 5, 7, 3, 5, 3, -1},    {2, 7, 9, 32, 40, 3, -1}, {2, 16, 16, 24, 3, 3, -1},
        {3, 4, 5, 8, 12, 1, -1},   {1, 40, 40, 8, 16, 3, -1}};
    for (int dt = 0; dt < 3; dt++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            int n = cases[c][0], h = cases[c][1], wd = cases[c][2], cin = cases[c][3];
            int cout = cases[c][4], k = cases[c][5];
            int64_t hw = (int64_t)h * wd, cols = (int64_t)cin * k * k;
            int64_t work_len = cases[c][6] < 0 ? GF_CONV2D_WORK(cin, cout, k) : cols * cases[c][6];
            struct gf_mat w = s_mat(dt, cout, cols, 0.3f, 0), b = s_mat(dt, 1, cout, 0.1f, 0);
            float *x = s_new(n * hw * cin), *work = malloc(work_len * 4);
            float *y0 = malloc(n * hw * cout * 4), *y1 = malloc(n * hw * cout * 4);
            ref->ops->conv2d(ref, y0, x, n, h, wd, k, &w, &b, NULL, 0);
            cpu->ops->conv2d(cpu, y1, x, n, h, wd, k, &w, &b, work, work_len);
            s_close(y1, y0, n * hw * cout, 1e-5f);
            /* the last image alone gives the same bits */
            cpu->ops->conv2d(cpu, y0, x + (n - 1) * hw * cin, 1, h, wd, k, &w, &b, work, work_len);
            assert_memory_equal(y0, y1 + (n - 1) * hw * cout, hw * cout * 4);
            free(x), free(work), free(y0), free(y1);
            free((void *)w.data), free((void *)b.data);
        }
    gf_backend_destroy(&ref);
    gf_backend_destroy(&cpu);
}

static void test_group_norm(void **state)
{
    struct gf_backend *ref = gf_backend_ref_new(), *cpu = gf_backend_cpu_new(2);
    static const int cases[][4] = {{1, 7, 32, 32}, {2, 16, 64, 32}, {3, 5, 96, 32},
                                   {1, 9, 8, 2},   {2, 300, 36, 3}, {1, 40, 12, 4}};
    for (int dt = 0; dt < 3; dt++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            for (int sw = 0; sw < 2; sw++) {
                int n = cases[c][0], hw = cases[c][1], ch = cases[c][2], g = cases[c][3];
                struct gf_mat w = s_mat(dt, 1, ch, 0.2f, 1), b = s_mat(dt, 1, ch, 0.1f, 0);
                float *x = s_new((int64_t)n * hw * ch), *y0 = malloc((int64_t)n * hw * ch * 4);
                for (int64_t i = 0; i < (int64_t)n * hw * ch; i++)
                    x[i] = 3.0f + 2.0f * x[i]; /* an offset the statistics must take out */
                float *work = malloc(GF_GROUP_NORM_WORK(n, ch) * sizeof(float));
                ref->ops->group_norm(ref, y0, x, n, hw, ch, g, &w, &b, 1e-6f, sw, NULL);
                cpu->ops->group_norm(cpu, x, x, n, hw, ch, g, &w, &b, 1e-6f, sw,
                                     work); /* in place */
                free(work);
                s_close(x, y0, (int64_t)n * hw * ch, 2e-6f);
                free(x), free(y0), free((void *)w.data), free((void *)b.data);
            }
    gf_backend_destroy(&ref);
    gf_backend_destroy(&cpu);
}

static void test_swish_upsample_softmax_transpose(void **state)
{
    struct gf_backend *ref = gf_backend_ref_new(), *cpu = gf_backend_cpu_new(2);
    enum { N = 2, H = 3, W = 5, C = 7, COUNT = 40000 };
    float *a = s_new(COUNT), *b = malloc(COUNT * 4);
    memcpy(b, a, COUNT * 4);
    ref->ops->swish(ref, a, COUNT);
    cpu->ops->swish(cpu, b, COUNT);
    s_close(b, a, COUNT, 1e-6f);
    assert_true(fabsf(a[0] - b[0]) < 1e-6f);

    enum { R = 37, K = 576 };
    float *x = s_new(N * H * W * C), *y0 = malloc(R * K * 4), *y1 = malloc(R * K * 4);
    ref->ops->upsample2x(ref, y0, x, N, H, W, C);
    cpu->ops->upsample2x(cpu, y1, x, N, H, W, C);
    assert_memory_equal(y0, y1, 4 * N * H * W * C * 4);
    /* image 1, output pixel (5, 9) comes from input pixel (2, 4) */
    assert_memory_equal(y1 + ((1 * 2 * H + 5) * 2 * W + 9) * C, x + ((1 * H + 2) * W + 4) * C,
                        C * 4);

    float *s0 = s_new(R * K), *s1 = malloc(R * K * 4);
    for (int i = 0; i < R * K; i++)
        s0[i] *= 30.0f; /* large logits: the max must be taken out */
    memcpy(s1, s0, R * K * 4);
    ref->ops->softmax(ref, s0, R, K, 0.125f);
    cpu->ops->softmax(cpu, s1, R, K, 0.125f);
    s_close(s1, s0, R * K, 1e-6f);
    cpu->ops->transpose(cpu, y0, s0, R, 45);
    ref->ops->transpose(ref, y1, s0, R, 45);
    assert_memory_equal(y0, y1, R * 45 * 4);
    assert_true(y0[44 * R + 36] == s0[36 * 45 + 44]);
    free(a), free(b), free(x), free(y0), free(y1), free(s0), free(s1);
    gf_backend_destroy(&ref);
    gf_backend_destroy(&cpu);
}

int main(void)
{
    /* the exact path, which the reference matches to 1e-5: not the AVX-512 BF16 activations */
    setenv("GOTFLOW_NO_AVX512", "1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d),
        cmocka_unit_test(test_group_norm),
        cmocka_unit_test(test_swish_upsample_softmax_transpose),
    };
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
