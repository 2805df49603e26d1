/* test_ops.c — every op of the CPU backend against the scalar reference, for every weight
 * dtype, plus batch invariance: a row's result does not depend on the rows beside it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu.h"
#include "kernels/ops.h"

static uint64_t s_state = 88172645463325252ull;

static float s_rand(void) /* uniform in [-1, 1) */
{
    s_state ^= s_state << 13;
    s_state ^= s_state >> 7;
    s_state ^= s_state << 17;
    return (float)((s_state >> 40) * (1.0 / (1 << 23))) - 1.0f;
}

static void s_fill(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = s_rand();
}

/* A rows × cols matrix of random values stored as dt; caller frees data. */
static struct gf_mat s_mat(enum gf_wtype dt, int64_t rows, int64_t cols)
{
    struct gf_mat m = {dt, rows, cols, NULL};
    void *p = malloc(rows * cols * gf_wtype_size(dt));
    for (int64_t i = 0; i < rows * cols; i++)
        gf_wtype_put(p, i, dt, s_rand() * 0.5f);
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

static void test_dtype_roundtrip(void **state)
{
    float v[] = {0.0f, 1.0f, -2.5f, 65504.0f, 1e-7f, 6.1035156e-05f, 3.14159f};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        assert_true(fabsf(gf_f16_to_f32(gf_f32_to_f16(v[i])) - v[i]) <=
                    fabsf(v[i]) * 1e-3f + 6e-8f);
        assert_true(fabsf(gf_bf16_to_f32(gf_f32_to_bf16(v[i])) - v[i]) <= fabsf(v[i]) * 8e-3f);
    }
    assert_int_equal(gf_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(gf_f32_to_bf16(1.0f), 0x3f80);
    assert_true(isinf(gf_f16_to_f32(gf_f32_to_f16(1e6f))));
}

static void test_linear(void **state)
{
    struct gf_backend *ref = gf_backend_ref_new(), *cpu = gf_backend_cpu_new(2);
    static const int64_t shapes[][2] = {{37, 64}, {16, 13}, {130, 72}};
    for (int dt = 0; dt < 3; dt++)
        for (size_t s = 0; s < 3; s++) {
            int64_t rows = shapes[s][0], cols = shapes[s][1];
            struct gf_mat w = s_mat(dt, rows, cols), b = s_mat(dt, 1, rows);
            for (int n = 1; n <= 7; n++) {
                float *x = malloc(n * cols * 4), *y0 = malloc(n * rows * 4);
                float *y1 = malloc(n * rows * 4), *y2 = malloc(rows * 4);
                s_fill(x, n * cols);
                ref->ops->linear(ref, y0, x, n, &w, &b);
                cpu->ops->linear(cpu, y1, x, n, &w, &b);
                s_close(y1, y0, n * rows, 1e-5f);
                for (int t = 0; t < n; t++) { /* batch invariance: bit-identical alone */
                    cpu->ops->linear(cpu, y2, x + t * cols, 1, &w, &b);
                    assert_memory_equal(y2, y1 + t * rows, rows * 4);
                }
                free(x), free(y0), free(y1), free(y2);
            }
            free((void *)w.data), free((void *)b.data);
        }
    gf_backend_destroy(&ref);
    gf_backend_destroy(&cpu);
    assert_null(cpu);
}

/* The scalar path of the CPU backend (GOTFLOW_NO_SIMD=1) sums each product in the AVX2
 * kernels' order (s_dot_scalar), so the two give the same bits for every weight dtype, tile
 * shape and tail. */
static void test_linear_scalar_bits(void **state)
{
    setenv("GOTFLOW_NO_SIMD", "1", 1);
    struct gf_backend *scalar = gf_backend_cpu_new(2);
    unsetenv("GOTFLOW_NO_SIMD");
    struct gf_backend *cpu = gf_backend_cpu_new(2);
    assert_string_equal(gf_backend_kernels(scalar), "cpu scalar");
    static const int64_t shapes[][2] = {{37, 64}, {16, 13}, {130, 72}, {9, 200}};
    for (int dt = 0; dt < 3; dt++)
        for (size_t s = 0; s < 4; s++) {
            int64_t rows = shapes[s][0], cols = shapes[s][1];
            struct gf_mat w = s_mat(dt, rows, cols);
            for (int n = 1; n <= 7; n++) {
                float *x = malloc(n * cols * 4), *y0 = malloc(n * rows * 4);
                float *y1 = malloc(n * rows * 4);
                s_fill(x, n * cols);
                scalar->ops->linear(scalar, y0, x, n, &w, NULL);
                cpu->ops->linear(cpu, y1, x, n, &w, NULL);
                if (strcmp(gf_backend_kernels(cpu), "cpu scalar") != 0)
                    assert_memory_equal(y1, y0, n * rows * 4);
                free(x), free(y0), free(y1);
            }
            free((void *)w.data);
        }
    gf_backend_destroy(&scalar);
    gf_backend_destroy(&cpu);
}

static void test_norm_rope_elementwise(void **state)
{
    struct gf_backend *ref = gf_backend_ref_new(), *cpu = gf_backend_cpu_new(2);
    enum { N = 3, D = 48 };
    float x[N * D], y0[N * D], y1[N * D], g[N * D], u[N * D];
    s_fill(x, N * D);
    s_fill(g, N * D);
    s_fill(u, N * D);
    struct gf_mat w = s_mat(GF_WTYPE_BF16, 1, D);
    ref->ops->rmsnorm(ref, y0, x, N, D, &w, 1e-6f);
    cpu->ops->rmsnorm(cpu, y1, x, N, D, &w, 1e-6f);
    s_close(y1, y0, N * D, 1e-6f);
    ref->ops->swiglu(ref, y0, g, u, N * D);
    cpu->ops->swiglu(cpu, y1, g, u, N * D);
    s_close(y1, y0, N * D, 1e-6f);
    memcpy(y0, x, sizeof x);
    ref->ops->gelu(ref, y0, N * D);
    assert_true(fabsf(y0[0] - 0.5f * x[0] * (1 + erff(x[0] / sqrtf(2)))) < 1e-6f);
    /* rope at position 0 is the identity; norms are kept at any position */
    int32_t pos[N] = {0, 5, 1000};
    memcpy(y0, x, sizeof x);
    cpu->ops->rope(cpu, y0, N, D, 3, 16, pos, 10000.0f);
    s_close(y0, x, D, 1e-7f);
    for (int h = 0; h < 3; h++) {
        double a = 0, b = 0;
        for (int i = 0; i < 16; i++) {
            a += (double)x[2 * D + h * 16 + i] * x[2 * D + h * 16 + i];
            b += (double)y0[2 * D + h * 16 + i] * y0[2 * D + h * 16 + i];
        }
        assert_true(fabs(a - b) < 1e-5 * a);
    }
    free((void *)w.data);
    gf_backend_destroy(&ref);
    gf_backend_destroy(&cpu);
}

static void test_attention_ragged(void **state)
{
    struct gf_backend *ref = gf_backend_ref_new(), *cpu = gf_backend_cpu_new(2);
    enum { SLOTS = 3, SEQ = 20, HEADS = 4, HD = 24, KV = HEADS * HD, N = 4 };
    float *k = calloc(SLOTS * SEQ * KV, 4), *v = calloc(SLOTS * SEQ * KV, 4);
    s_fill(k, SLOTS * SEQ * KV);
    s_fill(v, SLOTS * SEQ * KV);
    int32_t slot[N] = {2, 0, 2, 1}, pos[N] = {19, 0, 7, 11};
    struct gf_attn a = {k, v, slot, pos, HEADS, HEADS, HD, SEQ, GF_WTYPE_F32};
    float q[N * KV], o0[N * KV], o1[N * KV], o2[KV];
    s_fill(q, N * KV);
    ref->ops->attention(ref, o0, q, N, &a);
    cpu->ops->attention(cpu, o1, q, N, &a);
    s_close(o1, o0, N * KV, 1e-5f);
    /* a token at position 0 sees only its own value (of each head, in the cache order) */
    for (int h = 0; h < HEADS; h++)
        assert_memory_equal(o1 + KV + h * HD, v + gf_attn_at(&a, 0, h, 0), HD * 4);
    struct gf_attn one = a;
    one.slot = slot + 2, one.pos = pos + 2;
    cpu->ops->attention(cpu, o2, q + 2 * KV, 1, &one);
    assert_memory_equal(o2, o1 + 2 * KV, KV * 4);
    free(k), free(v);
    gf_backend_destroy(&ref);
    gf_backend_destroy(&cpu);
}

/* Long rows: the CPU backend's chunks of positions (and their tails), head dims that are not
 * a multiple of 32 or 8, grouped KV heads, f32, f16 and q8_0 caches (q8_0: whole blocks, so
 * head dims of 128 and 64); each query against the reference reading the same cache, and
 * alone the same bits as in its batch. */
static void test_attention_long(void **state)
{
    struct gf_backend *ref = gf_backend_ref_new(), *cpu = gf_backend_cpu_new(2);
    static const int hds[] = {128, 40, 12, 64};
    for (int dt = GF_WTYPE_F32; dt <= GF_WTYPE_Q8_0; dt++)
        for (size_t c = 0; c < sizeof hds / sizeof hds[0]; c++) {
            if (dt == GF_WTYPE_BF16 || (dt == GF_WTYPE_Q8_0 && hds[c] % GF_QK != 0))
                continue; /* not a cache type; a q8_0 head is whole blocks */
            enum { SLOTS = 2, SEQ = 300, HEADS = 4, KVH = 2, N = 5 };
            int hd = hds[c], kvd = KVH * hd, qd = HEADS * hd, count = SLOTS * SEQ * kvd;
            float *f = malloc(sizeof(float) * count);
            void *k = malloc(sizeof(float) * count), *v = malloc(sizeof(float) * count);
            for (int kv = 0; kv < 2; kv++) {
                s_fill(f, count);
                if (dt == GF_WTYPE_Q8_0) /* rows of hd: whole blocks */
                    gf_quantize(GF_WTYPE_Q8_0, kv ? v : k, f, count);
                else
                    for (int i = 0; i < count; i++)
                        gf_wtype_put(kv ? v : k, i, dt, f[i]);
            }
            float *q = malloc(sizeof(float) * N * qd), *o0 = malloc(sizeof(float) * N * qd);
            float *o1 = malloc(sizeof(float) * N * qd), *o2 = malloc(sizeof(float) * qd);
            s_fill(q, N * qd);
            for (int i = 0; i < N * qd; i++)
                q[i] *= 4; /* sharper softmax: the running maximum moves between chunks */
            int32_t slot[N] = {1, 0, 1, 0, 1}, pos[N] = {299, 63, 64, 200, 130};
            struct gf_attn a = {k, v, slot, pos, HEADS, KVH, hd, SEQ, dt};
            ref->ops->attention(ref, o0, q, N, &a);
            cpu->ops->attention(cpu, o1, q, N, &a);
            s_close(o1, o0, N * qd, 1e-5f);
            for (int t = 0; t < N; t++) {
                struct gf_attn one = a;
                one.slot = slot + t, one.pos = pos + t;
                cpu->ops->attention(cpu, o2, q + t * qd, 1, &one);
                assert_memory_equal(o2, o1 + t * qd, qd * 4);
            }
            free(f), free(k), free(v), free(q), free(o0), free(o1), free(o2);
        }
    gf_backend_destroy(&ref);
    gf_backend_destroy(&cpu);
}

/* An f16 cache holds what kv_store was given, rounded to nearest even (gf_f32_to_f16), at the
 * place of each head and position (gf_attn_at). */
static void test_kv_store_f16(void **state)
{
    struct gf_backend *cpu = gf_backend_cpu_new(2);
    enum { SLOTS = 2, SEQ = 5, KVH = 3, HD = 8, KVD = KVH * HD, N = 2 };
    uint16_t k[SLOTS * SEQ * KVD] = {0}, v[SLOTS * SEQ * KVD] = {0};
    float kin[N * KVD], vin[N * KVD];
    s_fill(kin, N * KVD);
    s_fill(vin, N * KVD);
    int32_t slot[N] = {1, 0}, pos[N] = {4, 2};
    struct gf_attn a = {k, v, slot, pos, KVH, KVH, HD, SEQ, GF_WTYPE_F16};
    cpu->ops->kv_store(cpu, &a, kin, vin, N);
    for (int t = 0; t < N; t++)
        for (int h = 0; h < KVH; h++)
            for (int i = 0; i < HD; i++) {
                size_t at = gf_attn_at(&a, slot[t], h, pos[t]) + i;
                assert_int_equal(k[at], gf_f32_to_f16(kin[t * KVD + h * HD + i]));
                assert_int_equal(v[at], gf_f32_to_f16(vin[t * KVD + h * HD + i]));
            }
    gf_backend_destroy(&cpu);
}

/* A q8_0 cache holds each head's values at a position as gf_quantize makes them from what
 * kv_store was given, at the place gf_attn_at and gf_wtype_bytes say, on both CPU backends. */
static void test_kv_store_q8_0(void **state)
{
    enum { SLOTS = 2, SEQ = 5, KVH = 3, HD = 64, KVD = KVH * HD, N = 2, NB = HD / GF_QK };
    struct gf_backend *bes[2] = {gf_backend_ref_new(), gf_backend_cpu_new(2)};
    for (int b = 0; b < 2; b++) {
        struct gf_block_q8_0 k[SLOTS * SEQ * KVH * NB], v[SLOTS * SEQ * KVH * NB], want[NB];
        memset(k, 0, sizeof k), memset(v, 0, sizeof v);
        float kin[N * KVD], vin[N * KVD];
        s_fill(kin, N * KVD);
        s_fill(vin, N * KVD);
        int32_t slot[N] = {1, 0}, pos[N] = {4, 2};
        struct gf_attn a = {k, v, slot, pos, KVH, KVH, HD, SEQ, GF_WTYPE_Q8_0};
        bes[b]->ops->kv_store(bes[b], &a, kin, vin, N);
        for (int t = 0; t < N; t++)
            for (int h = 0; h < KVH; h++) {
                size_t at = gf_wtype_bytes(GF_WTYPE_Q8_0, gf_attn_at(&a, slot[t], h, pos[t]));
                gf_quantize(GF_WTYPE_Q8_0, want, kin + t * KVD + h * HD, HD);
                assert_memory_equal((char *)k + at, want, sizeof want);
                gf_quantize(GF_WTYPE_Q8_0, want, vin + t * KVD + h * HD, HD);
                assert_memory_equal((char *)v + at, want, sizeof want);
            }
        gf_backend_destroy(&bes[b]);
    }
}

int main(void)
{
    /* the exact (f32-activation) path, which the reference matches to 1e-5 and more: the bf16
     * activations of the AVX-512 BF16 path have their own checks (test_bf16_avx512) */
    setenv("GOTFLOW_NO_AVX512", "1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype_roundtrip),    cmocka_unit_test(test_linear),
        cmocka_unit_test(test_linear_scalar_bits), cmocka_unit_test(test_norm_rope_elementwise),
        cmocka_unit_test(test_attention_ragged),   cmocka_unit_test(test_attention_long),
        cmocka_unit_test(test_kv_store_f16),       cmocka_unit_test(test_kv_store_q8_0),
    };
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
