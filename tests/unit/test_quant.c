/* test_quant.c — q8_0 / q4_0 weights: the quantizers (round trip and edge blocks), and the CPU
 * backend's product with them: AVX2 and scalar bit-identical to the scalar reference dot, batch
 * invariant, and within a stated tolerance of the f32 product with the unquantized weights.
 * (The quantizers' bytes against llama.cpp's own gguf-py: tests/oracle/test_quant.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/cpu/cpu.h"
#include "kernels/cpu/quant_ops.h"
#include "kernels/cpu/simd.h"
#include "kernels/ops.h"

static uint64_t s_state = 88172645463325252ull;

static float s_rand(void) /* uniform in [-1, 1) */
{
    s_state ^= s_state << 13;
    s_state ^= s_state >> 7;
    s_state ^= s_state << 17;
    return (float)((s_state >> 40) * (1.0 / (1 << 23))) - 1.0f;
}

static void s_fill(float *x, int64_t n, float scale)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = s_rand() * scale;
}

/* A quantized copy of the f32 matrix w, in the layout of gf_qmat (as the checkpoint makes it:
 * each row through gf_quantize, then placed); caller frees data. */
static struct gf_mat s_quant(enum gf_wtype dt, const struct gf_mat *w)
{
    void *p = calloc(1, gf_qmat_bytes(dt, w->rows, w->cols));
    void *row = malloc(gf_wtype_bytes(dt, w->cols));
    for (int64_t r = 0; r < w->rows; r++) {
        gf_quantize(dt, row, (const float *)w->data + r * w->cols, w->cols);
        gf_qmat_set_row(dt, p, w->cols, r, row);
    }
    free(row);
    return (struct gf_mat){dt, w->rows, w->cols, p};
}

static double s_rms(const float *a, const float *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = a[i] - (b ? b[i] : 0);
        s += d * d;
    }
    return sqrt(s / n);
}

static void test_roundtrip(void **state)
{
    enum { N = 4096 };
    float *x = malloc(N * 4), *y = malloc(N * 4);
    s_fill(x, N, 3.0f);
    x[5] = 0; /* a block of zeros */
    memset(x + 64, 0, GF_QK * 4);
    for (int dt = GF_WTYPE_Q8_0; dt <= GF_WTYPE_Q4_0; dt++) {
        void *q = malloc(gf_wtype_bytes(dt, N));
        gf_quantize(dt, q, x, N);
        gf_dequantize(dt, y, q, N);
        for (int b = 0; b < N / GF_QK; b++) {
            float amax = 0;
            for (int j = 0; j < GF_QK; j++)
                amax = fmaxf(amax, fabsf(x[b * GF_QK + j]));
            /* q8_0: half a step of amax/127, plus the f16 rounding of the scale
             * (2^-11 of it, times 127); q4_0: the
             * element opposite the largest can be clipped, a whole step of amax/8 */
            float bound = dt == GF_WTYPE_Q8_0 ? 0.57f * amax / 127 + 1e-6f : 1.01f * amax / 8;
            for (int j = 0; j < GF_QK; j++) {
                float e = fabsf(y[b * GF_QK + j] - x[b * GF_QK + j]);
                if (e > bound)
                    fail_msg("%s block %d element %d: %.9g back as %.9g", gf_wtype_name(dt), b, j,
                             x[b * GF_QK + j], y[b * GF_QK + j]);
            }
        }
        for (int j = 64; j < 64 + GF_QK; j++)
            assert_true(y[j] == 0.0f);
        free(q);
    }
    /* the largest magnitude of a q4_0 block is exact: it is -8 d */
    float b[GF_QK] = {0.25f, -3.0f, 1.0f};
    struct gf_block_q4_0 q4;
    gf_quantize(GF_WTYPE_Q4_0, &q4, b, GF_QK);
    assert_int_equal(q4.qs[1] & 15, 0);
    assert_true(gf_f16_to_f32(q4.d) == 0.375f);
    free(x), free(y);
}

/* The CPU backend's activation quantizer (AVX2 where the CPU has it) writes gf_quantize's q8_0
 * bytes: random blocks of several scales, a block of zeros, blocks whose x / d fall exactly on
 * halves (rounded away from zero), tiny and huge magnitudes, and a lone negative maximum. */
static void test_quantize_q8_0_bytes(void **state)
{
    enum { NB = 64, N = NB * GF_QK };
    float x[N];
    for (int b = 0; b < NB; b++)
        s_fill(x + b * GF_QK, GF_QK, b % 4 == 0 ? 1e-3f : b % 4 == 1 ? 50.0f : 1.0f);
    memset(x, 0, GF_QK * sizeof(float));
    for (int j = 0; j < GF_QK; j++) { /* amax 127: d = 1, so x / d is x itself */
        x[GF_QK + j] = (j % 2 ? -1.0f : 1.0f) * (0.5f + (float)(j * 4 % 127));
        x[2 * GF_QK + j] = j == 7 ? -127.0f : (float)j * 0.25f - 3.5f;
        x[3 * GF_QK + j] = (j % 3 - 1) * 1e-30f;
        x[4 * GF_QK + j] = (j % 5 - 2) * 3e30f;
    }
    x[GF_QK] = 127.0f;
    struct gf_block_q8_0 want[NB], got[NB];
    gf_quantize(GF_WTYPE_Q8_0, want, x, N);
    struct gf_backend *cpu = gf_backend_cpu_new(1);
    memset(got, 0x55, sizeof got);
    gf_cpu_quantize_q8_0(cpu, got, x, N);
    assert_memory_equal(got, want, sizeof want);
    gf_backend_destroy(&cpu);
}

#if GF_HAVE_AVX2
GF_SIMD static uint16_t s_f16c(float f)
{
    return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}
#endif

/* The AVX2 quantizer stores each block's scale through F16C: it must round as gf_f32_to_f16 does
 * (to nearest even, subnormals and overflow included), over f32 bit patterns spread across the
 * whole range and around f16's limits. */
static void test_f16c_rounding(void **state)
{
#if GF_HAVE_AVX2
    if (!gf_simd_avx2())
        skip();
    for (uint64_t u = 0; u < (1ull << 32); u += 65521) {
        uint32_t b = (uint32_t)u;
        float f;
        memcpy(&f, &b, 4);
        if (f == f)
            assert_int_equal(s_f16c(f), gf_f32_to_f16(f));
    }
    /* f16's largest, where it overflows, 2^-14 (the least normal) and the subnormal below it,
     * 2^-24 (the least subnormal) and its half (a tie to 0), zeros */
    static const float edges[] = {65504.0f,       65519.99f,      65520.0f,       1e30f,
                                  6.1035156e-05f, 6.0975552e-05f, 5.9604645e-08f, 2.9802322e-08f,
                                  2.98e-08f,      8.940697e-08f,  0.0f,           -0.0f};
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++) {
        float lo = edges[i], hi = edges[i]; /* the edge, then 2 floats either side of it */
        for (int k = 0; k < 3; k++) {
            const float f[4] = {lo, hi, -lo, -hi};
            for (int j = 0; j < 4; j++)
                assert_int_equal(s_f16c(f[j]), gf_f32_to_f16(f[j]));
            lo = nextafterf(lo, -INFINITY), hi = nextafterf(hi, INFINITY);
        }
    }
#else
    skip();
#endif
}

static void test_wtype_bytes(void **state)
{
    assert_int_equal(gf_wtype_bytes(GF_WTYPE_Q8_0, 64), 68);
    assert_int_equal(gf_wtype_bytes(GF_WTYPE_Q4_0, 64), 36);
    assert_int_equal(gf_wtype_bytes(GF_WTYPE_BF16, 64), 128);
    assert_true(gf_wtype_quantized(GF_WTYPE_Q4_0) && !gf_wtype_quantized(GF_WTYPE_F32));
    int q;
    assert_int_equal(gf_precision_parse("q8_0", &q), 0);
    assert_int_equal(q, GF_WTYPE_Q8_0);
    assert_int_equal(gf_precision_parse("q4_0", &q), 0);
    assert_int_equal(q, GF_WTYPE_Q4_0);
    assert_int_equal(gf_precision_parse("bf16", &q), 0);
    assert_int_equal(q, -1);
    assert_int_equal(gf_precision_parse(NULL, &q), 0);
    assert_int_equal(gf_precision_parse("q4_K", &q), GF_EINVAL);
}

/* Every (rows, cols, n): the CPU backend with AVX2 (where the CPU has it) and without, both
 * bit-identical to the scalar reference dot of the quantized activation, each row the same
 * bits alone as in its batch, and near the f32 product. */
static void test_linear(void **state)
{
    struct gf_backend *ref = gf_backend_ref_new(), *fast = gf_backend_cpu_new(2);
    setenv("GOTFLOW_NO_SIMD", "1", 1);
    struct gf_backend *scalar = gf_backend_cpu_new(2);
    unsetenv("GOTFLOW_NO_SIMD");
    static const int64_t shapes[][2] = {{37, 64}, {16, 32}, {130, 96}, {67, 2048}};
    double worst[2] = {0, 0};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t rows = shapes[s][0], cols = shapes[s][1], nb = cols / GF_QK;
        float *wf = malloc(rows * cols * 4), *bias = malloc(rows * 4);
        s_fill(wf, rows * cols, 0.5f);
        s_fill(bias, rows, 1.0f);
        struct gf_mat w32 = {GF_WTYPE_F32, rows, cols, wf}, b = {GF_WTYPE_F32, 1, rows, bias};
        for (int dt = GF_WTYPE_Q8_0; dt <= GF_WTYPE_Q4_0; dt++) {
            struct gf_mat w = s_quant(dt, &w32);
            for (int n = 1; n <= 7; n++) {
                float *x = malloc(n * cols * 4), *y0 = malloc(n * rows * 4);
                float *y1 = malloc(n * rows * 4), *y2 = malloc(n * rows * 4);
                float *y3 = malloc(rows * 4), *yf = malloc(n * rows * 4);
                struct gf_block_q8_0 *xq = malloc(n * nb * sizeof *xq);
                s_fill(x, n * cols, 2.0f);
                gf_quantize(GF_WTYPE_Q8_0, xq, x, n * cols);
                for (int t = 0; t < n; t++)
                    for (int64_t r = 0; r < rows; r++)
                        y0[t * rows + r] = gf_cpu_qdot_ref(&w, r, xq + t * nb) + bias[r];
                fast->ops->linear(fast, y1, x, n, &w, &b);
                scalar->ops->linear(scalar, y2, x, n, &w, &b);
                assert_memory_equal(y1, y0, n * rows * 4);
                assert_memory_equal(y2, y0, n * rows * 4);
                for (int t = 0; t < n; t++) { /* batch invariance */
                    fast->ops->linear(fast, y3, x + t * cols, 1, &w, &b);
                    assert_memory_equal(y3, y1 + t * rows, rows * 4);
                }
                ref->ops->linear(ref, yf, x, n, &w32, &b); /* the unquantized product */
                double rel = s_rms(y1, yf, n * rows) / s_rms(yf, NULL, n * rows);
                int k = dt - GF_WTYPE_Q8_0;
                worst[k] = rel > worst[k] ? rel : worst[k];
                if (rel > (dt == GF_WTYPE_Q8_0 ? 0.015 : 0.1))
                    fail_msg("%s %lldx%lld n=%d: rms error %.4g of the f32 product's rms",
                             gf_wtype_name(dt), (long long)rows, (long long)cols, n, rel);
                free(x), free(y0), free(y1), free(y2), free(y3), free(yf), free(xq);
            }
            free((void *)w.data);
        }
        free(wf), free(bias);
    }
    print_message("worst rms error / rms of the f32 product: q8_0 %.4g, q4_0 %.4g\n", worst[0],
                  worst[1]);
    gf_backend_destroy(&ref);
    gf_backend_destroy(&fast);
    gf_backend_destroy(&scalar);
}

/* The reference backend reads quantized weights element by element (gf_mat_get) through the
 * interleaved layout: every element as gf_dequantize gives it from the row's own blocks. */
static void test_ref_reads_blocks(void **state)
{
    enum { R = 13, C = 3 * GF_QK };
    float x[R * C], y[C];
    s_fill(x, R * C, 1.0f);
    for (int dt = GF_WTYPE_Q8_0; dt <= GF_WTYPE_Q4_0; dt++) {
        struct gf_mat w32 = {GF_WTYPE_F32, R, C, x}, w = s_quant(dt, &w32);
        void *row = malloc(gf_wtype_bytes(dt, C));
        for (int r = 0; r < R; r++) {
            gf_quantize(dt, row, x + r * C, C);
            gf_dequantize(dt, y, row, C);
            for (int c = 0; c < C; c++)
                assert_true(gf_mat_get(&w, (int64_t)r * C + c) == y[c]);
        }
        free(row);
        free((void *)w.data);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),     cmocka_unit_test(test_quantize_q8_0_bytes),
        cmocka_unit_test(test_f16c_rounding), cmocka_unit_test(test_wtype_bytes),
        cmocka_unit_test(test_linear),        cmocka_unit_test(test_ref_reads_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
