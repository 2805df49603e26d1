/* test_bf16_avx512.c — the AVX-512 BF16 bf16 product (common/kernels/cpu/bf16_avx512.c) against
 * its scalar model and against the f32 product, and its batch invariance. The kernel source is
 * run twice: compiled over SIMDe (the _emu functions, any x86-64 or other CPU) and, where this
 * CPU has AVX-512 BF16, natively; elsewhere the native cases say so and pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/bf16_avx512.h"
#include "kernels/ops.h"

struct impl {
    void (*round)(uint16_t *xb, const float *x, int64_t cols);
    void (*rows)(float *y, int64_t ldy, const uint16_t *xb, int64_t ldx, int n, int64_t cols,
                 const uint16_t *w, int64_t r0, int64_t r1);
    int (*selfcheck)(void);
};

static const struct impl s_emu = {gf_avx512_bf16_round_emu, gf_avx512_bf16_rows_emu,
                                  gf_avx512_bf16_selfcheck_emu};
#if defined(__x86_64__) && defined(__GNUC__)
static const struct impl s_native = {gf_avx512_bf16_round, gf_avx512_bf16_rows,
                                     gf_avx512_bf16_selfcheck};
#endif

/* The native functions, or NULL where this CPU cannot run them. */
static const struct impl *s_native_or_null(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (gf_avx512_bf16_cpu())
        return &s_native;
#endif
    return NULL;
}

/* The native functions; NULL after one line saying why not (a pass, as the suites count). */
static const struct impl *s_native_or_say(void)
{
    const struct impl *im = s_native_or_null();
    if (!im)
        print_message("# skipped: this CPU has no AVX-512 BF16, the native kernel is not run\n");
    return im;
}

static uint64_t s_state = 88172645463325252ull;

static uint32_t s_bits(void)
{
    s_state ^= s_state << 13;
    s_state ^= s_state >> 7;
    s_state ^= s_state << 17;
    return (uint32_t)(s_state >> 32);
}

static float s_rand(void) /* uniform in [-1, 1) */
{
    return (float)((s_bits() >> 8) * (1.0 / (1 << 23))) - 1.0f;
}

static float s_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static double s_bf(uint16_t h)
{
    return s_f32((uint32_t)h << 16);
}

/* The rounding against its definition computed apart: of the two bf16 neighbours of a normal
 * f, the nearer (in double), the even one on a tie; the special values as vcvtne2ps2bf16 gives
 * them. */
static void test_round_scalar(void **state)
{
    for (int i = 0; i < 200000; i++) {
        uint32_t u = s_bits();
        if (i < 1000) /* exact ties: the low 16 bits 0x8000 */
            u = (u & 0xffff0000u) | 0x8000u;
        float f = s_f32(u);
        uint16_t h = gf_avx512_bf16_of(f);
        if (!isfinite(f) || fabsf(f) < 0x1p-126f || fabsf(f) >= 0x1.fep127f)
            continue;
        uint16_t down = (uint16_t)(u >> 16), up = (uint16_t)(down + 1);
        double dd = fabs(s_bf(down) - f), du = fabs(s_bf(up) - f);
        uint16_t want = dd < du ? down : du < dd ? up : (down & 1) ? up : down;
        if (h != want)
            fail_msg("%a (0x%08x): got 0x%04x, want 0x%04x", f, u, h, want);
    }
    assert_int_equal(gf_avx512_bf16_of(1.0f), 0x3f80);
    assert_int_equal(gf_avx512_bf16_of(-0.0f), 0x8000);
    assert_int_equal(gf_avx512_bf16_of(0x1p-130f), 0x0000);          /* denormal to zero */
    assert_int_equal(gf_avx512_bf16_of(-0x1p-130f), 0x8000);         /* keeping its sign */
    assert_int_equal(gf_avx512_bf16_of(s_f32(0x7f7fffffu)), 0x7f80); /* up to infinity */
    assert_int_equal(gf_avx512_bf16_of(INFINITY), 0x7f80);
    assert_int_equal(gf_avx512_bf16_of(-INFINITY), 0xff80);
    assert_int_equal(gf_avx512_bf16_of(s_f32(0x7f800001u)), 0x7fc0); /* signalling NaN: quiet */
    assert_int_equal(gf_avx512_bf16_of(s_f32(0xffc12345u)), 0xffc1);
}

/* The vector rounding equals the scalar one for every bit pattern class and every length's tail,
 * and zeroes the padding. */
static void s_check_round(const struct impl *im)
{
    static const uint32_t special[] = {0x00000000u, 0x80000000u, 0x00000001u, 0x807fffffu,
                                       0x00800000u, 0x7f7fffffu, 0xff7fffffu, 0x7f800000u,
                                       0xff800000u, 0x7f800001u, 0xffffffffu, 0x3f808000u,
                                       0x3f818000u, 0x3f807fffu, 0xbf808001u, 0x7fc00000u};
    enum { MAX = 200 };
    float x[MAX];
    uint16_t xb[MAX + 32];
    for (int cols = 1; cols <= MAX; cols += cols < 70 ? 1 : 29) {
        for (int i = 0; i < cols; i++) {
            uint32_t u = s_bits();
            x[i] = s_f32(i % 5 == 0 ? special[(i / 5) % 16] : u);
        }
        memset(xb, 0xab, sizeof xb);
        im->round(xb, x, cols);
        for (int i = 0; i < gf_avx512_bf16_ld(cols); i++) {
            uint16_t want = i < cols ? gf_avx512_bf16_of(x[i]) : 0;
            if (xb[i] != want)
                fail_msg("cols %d element %d: got 0x%04x, want 0x%04x", cols, i, xb[i], want);
        }
        assert_int_equal(xb[gf_avx512_bf16_ld(cols)], 0xabab); /* nothing past the padding */
    }
}

static void test_round_emu(void **state)
{
    s_check_round(&s_emu);
}

static void test_round_native(void **state)
{
    const struct impl *im = s_native_or_say();
    if (im)
        s_check_round(im);
}

/* Over rows with tails of every tile (1..67 rows), 1..7 activation rows and lengths that are
 * multiples of 32 and not: every output equals the scalar model within the bound of a
 * reordered f32 sum, stays within bf16 rounding of the f64 product with the unrounded
 * activations, and has the same bits alone, in the batch, and in any split of the rows. */
static void s_check_rows(const struct impl *im)
{
    static const int64_t shapes[][2] = {{1, 32},  {3, 64},  {4, 96},  {5, 33},   {8, 45},
                                        {13, 80}, {16, 17}, {37, 64}, {67, 200}, {9, 2048}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t rows = shapes[s][0], cols = shapes[s][1], ld = gf_avx512_bf16_ld(cols);
        uint16_t *w = malloc(rows * cols * 2);
        for (int64_t i = 0; i < rows * cols; i++)
            w[i] = gf_avx512_bf16_of(0.5f * s_rand());
        for (int n = 1; n <= 7; n++) {
            float *x = malloc(n * cols * 4), *y = malloc(n * rows * 4), *y1 = malloc(rows * 4);
            uint16_t *xb = malloc(n * ld * 2);
            for (int64_t i = 0; i < n * cols; i++)
                x[i] = s_rand();
            for (int t = 0; t < n; t++)
                im->round(xb + t * ld, x + t * cols, cols);
            im->rows(y, rows, xb, ld, n, cols, w, 0, rows);
            for (int t = 0; t < n; t++)
                for (int64_t r = 0; r < rows; r++) {
                    float bound, got = y[t * rows + r];
                    float want = gf_avx512_bf16_dot_model(xb + t * ld, w + r * cols, cols, &bound);
                    if (!(fabsf(got - want) <= bound))
                        fail_msg("%lldx%lld n %d [%d][%lld]: %.9g, model %.9g (bound %.3g)",
                                 (long long)rows, (long long)cols, n, t, (long long)r, got, want,
                                 bound);
                    double exact = 0, mag = 0;
                    for (int64_t k = 0; k < cols; k++) {
                        exact += (double)x[t * cols + k] * s_bf(w[r * cols + k]);
                        mag += fabs((double)x[t * cols + k] * s_bf(w[r * cols + k]));
                    }
                    if (!(fabs(got - exact) <= 0x1p-8 * mag + bound))
                        fail_msg("[%d][%lld]: %.9g, f32 product %.9g", t, (long long)r, got, exact);
                }
            for (int t = 0; t < n; t++) { /* batch invariance: bit-identical alone */
                im->rows(y1, rows, xb + t * ld, ld, 1, cols, w, 0, rows);
                assert_memory_equal(y1, y + t * rows, rows * 4);
            }
            for (int64_t cut = 1; cut < rows; cut += 5) { /* rows split as threads split them */
                im->rows(y1, rows, xb, ld, 1, cols, w, 0, cut);
                im->rows(y1, rows, xb, ld, 1, cols, w, cut, rows);
                assert_memory_equal(y1, y, rows * 4);
            }
            free(x), free(y), free(y1), free(xb);
        }
        free(w);
    }
}

static void test_rows_emu(void **state)
{
    s_check_rows(&s_emu);
}

static void test_rows_native(void **state)
{
    const struct impl *im = s_native_or_say();
    if (im)
        s_check_rows(im);
}

static void test_selfcheck_emu(void **state)
{
    assert_int_equal(s_emu.selfcheck(), 0);
}

static void test_selfcheck_native(void **state)
{
    const struct impl *im = s_native_or_say();
    if (im)
        assert_int_equal(im->selfcheck(), 0);
}

/* y = x·wᵀ + b for bf16 w through a CPU backend made with GOTFLOW_NO_AVX512 set to no_avx512
 * (NULL: unset). */
static void s_linear(const char *no_avx512, float *y, const float *x, int n, const struct gf_mat *w,
                     const struct gf_mat *b)
{
    if (no_avx512)
        setenv("GOTFLOW_NO_AVX512", no_avx512, 1);
    struct gf_backend *be = gf_backend_cpu_new(2);
    unsetenv("GOTFLOW_NO_AVX512");
    assert_non_null(be);
    be->ops->linear(be, y, x, n, w, b);
    gf_backend_destroy(&be);
}

/* The backend's choice: by default the model's values where the CPU has the instructions and
 * the AVX2 (f32 activations) bits where it has not, batch invariant ("0" counts as unset);
 * GOTFLOW_NO_AVX512=1 the AVX2 bits everywhere, within f32 rounding of the exact product. */
static void test_backend(void **state)
{
    enum { ROWS = 70, COLS = 96, N = 5 };
    struct gf_mat w = {GF_WTYPE_BF16, ROWS, COLS, NULL}, b = {GF_WTYPE_BF16, 1, ROWS, NULL};
    uint16_t *wd = malloc(ROWS * COLS * 2), bd[ROWS], xb[N * COLS];
    float x[N * COLS], y0[N * ROWS], y1[N * ROWS], y2[N * ROWS], one[ROWS];
    for (int i = 0; i < ROWS * COLS; i++)
        wd[i] = gf_avx512_bf16_of(0.5f * s_rand());
    for (int i = 0; i < ROWS; i++)
        bd[i] = gf_avx512_bf16_of(s_rand());
    for (int i = 0; i < N * COLS; i++)
        x[i] = s_rand();
    w.data = wd, b.data = bd;
    s_linear(NULL, y0, x, N, &w, &b);
    s_linear("0", y1, x, N, &w, &b);
    assert_memory_equal(y1, y0, sizeof y0);
    for (int t = 0; t < N; t++) {
        s_linear(NULL, one, x + t * COLS, 1, &w, &b);
        assert_memory_equal(one, y0 + t * ROWS, sizeof one);
    }
    s_linear("1", y2, x, N, &w, &b);
    for (int t = 0; t < N; t++)
        for (int r = 0; r < ROWS; r++) {
            double want = s_bf(bd[r]), mag = fabs(want);
            for (int k = 0; k < COLS; k++) {
                double p = x[t * COLS + k] * s_bf(wd[r * COLS + k]);
                want += p, mag += fabs(p);
            }
            if (!(fabs(y2[t * ROWS + r] - want) <= 2 * (COLS + 1) * 0x1p-24 * mag))
                fail_msg("exact [%d][%d]: %.9g, product %.9g", t, r, y2[t * ROWS + r], want);
        }
    const struct impl *im = s_native_or_null();
    if (!im) {
        assert_memory_equal(y0, y2, sizeof y0);
        free(wd);
        return;
    }
    for (int t = 0; t < N; t++) {
        im->round(xb + t * COLS, x + t * COLS, COLS); /* COLS is its own ld */
        for (int r = 0; r < ROWS; r++) {
            float bound,
                want = gf_avx512_bf16_dot_model(xb + t * COLS, wd + r * COLS, COLS, &bound);
            want += (float)s_bf(bd[r]);
            if (!(fabsf(y0[t * ROWS + r] - want) <= bound + fabsf(want) * 0x1p-23f))
                fail_msg("[%d][%d]: %.9g, model %.9g", t, r, y0[t * ROWS + r], want);
        }
    }
    free(wd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_scalar),     cmocka_unit_test(test_round_emu),
        cmocka_unit_test(test_round_native),     cmocka_unit_test(test_rows_emu),
        cmocka_unit_test(test_rows_native),      cmocka_unit_test(test_selfcheck_emu),
        cmocka_unit_test(test_selfcheck_native), cmocka_unit_test(test_backend),
    };
    cmocka_set_test_filter(getenv("CMOCKA_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
