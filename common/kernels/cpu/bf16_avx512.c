/* bf16_avx512.c — the bf16 linear product with vdpbf16ps (contract in bf16_avx512.h).
 *
 * Built twice: into the library as is, its vector functions carrying a target attribute so the
 * rest of the build stays baseline x86-64; and with GF_AVX512_EMULATE over SIMDe, where the same
 * intrinsics are plain C, so that the unit test runs this code on a CPU without AVX-512. Only
 * intrinsics SIMDe 0.7 implements are used: hence no masked 16-bit loads (a weight row's tail is
 * copied into a zeroed block) and no vcvtne2ps2bf16 (the rounding is done with integer ops,
 * bit for bit the instruction's). */
#include <math.h>
#include <string.h>

#include "kernels/cpu/bf16_avx512.h"
#include "kernels/ops.h"

#if defined(GF_AVX512_EMULATE)
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#define S_VECTOR 1
#define S_TARGET
#define S_NAME(f) f##_emu
#elif defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define S_VECTOR 1
#define S_TARGET __attribute__((target("avx512f,avx512bf16,avx512bw,avx512vl")))
#define S_NAME(f) f
#else
#define S_VECTOR 0
#endif

/* The 16 lane sums folded halves onto halves: the one order both the kernel and the model use. */
static float s_fold(const float l[16])
{
    float a[8], b[4];
    for (int i = 0; i < 8; i++)
        a[i] = l[i] + l[i + 8];
    for (int i = 0; i < 4; i++)
        b[i] = a[i] + a[i + 4];
    return (b[0] + b[2]) + (b[1] + b[3]);
}

/* The scalar pieces live in the library object only; the emulated object uses those. */
#if !defined(GF_AVX512_EMULATE)
uint16_t gf_avx512_bf16_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0) /* zero or denormal: a zero of its sign */
        return (uint16_t)((u >> 16) & 0x8000u);
    return gf_f32_to_bf16(f); /* nearest even; NaN stays NaN */
}

float gf_avx512_bf16_dot_model(const uint16_t *xb, const uint16_t *w, int64_t cols, float *bound)
{
    float lane[16] = {0}, mag = 0;
    int64_t ld = gf_avx512_bf16_ld(cols);
    for (int64_t k = 0; k < ld; k += 32)
        for (int j = 0; j < 16; j++)
            for (int e = 1; e >= 0; e--) {
                int64_t i = k + 2 * j + e;
                float p =
                    i < cols ? gf_bf16_to_f32(xb[i]) * gf_bf16_to_f32(w[i]) : 0.0f; /* exact */
                lane[j] += p;
                mag += fabsf(p);
            }
    if (bound)
        *bound = 2.0f * (float)cols * 0x1p-24f * mag;
    return s_fold(lane);
}

int gf_avx512_bf16_cpu(void)
{
#if S_VECTOR
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    /* EBX: AVX512F bit 16, AVX512BW bit 30, AVX512VL bit 31 */
    if ((b & (1u << 16 | 1u << 30 | 1u << 31)) != (1u << 16 | 1u << 30 | 1u << 31) || a < 1)
        return 0;
    unsigned a1, b1, c1, d1;
    __cpuid_count(7, 1, a1, b1, c1, d1);
    if (!(a1 & 1u << 5)) /* AVX512_BF16 */
        return 0;
    __cpuid(1, a, b, c, d);
    if (!(c & 1u << 27)) /* OSXSAVE: xgetbv may be used */
        return 0;
    uint32_t lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return (lo & 0xe6) == 0xe6; /* the OS saves XMM, YMM, the opmasks and all of ZMM */
#else
    return 0;
#endif
}
#endif

#if S_VECTOR
#define S_INLINE __attribute__((always_inline)) inline

/* R weight rows, span rows apart in w, × T activation rows: one 16-lane accumulator each, 32
 * elements per step in order, then the fixed fold; writes y[t·ldy + r·span]. The last step of a
 * row whose length is not a multiple of 32 reads a zero-padded copy of its tail (xb is already
 * zero past cols). */
S_TARGET static S_INLINE void s_tile(float *y, int64_t ldy, const uint16_t *xb, int64_t ldx,
                                     int64_t cols, const uint16_t *w, int64_t span, int R, int T)
{
    __m512 acc[8][3]; /* R <= 8, T <= 3; only R x T are live */
    const int64_t rs = span * cols;
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 3
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm512_setzero_ps();
    int64_t end = gf_avx512_bf16_ld(cols);
    uint16_t tail[8][32];
    if (end != cols)
        for (int r = 0; r < R; r++) {
            memset(tail[r], 0, sizeof tail[r]);
            memcpy(tail[r], w + r * rs + end - 32, (size_t)(cols - (end - 32)) * 2);
        }
    for (int64_t k = 0; k < end; k += 32) {
        __m512bh xv[3];
#pragma GCC unroll 3
        for (int t = 0; t < T; t++)
            xv[t] = (__m512bh)_mm512_loadu_si512(xb + t * ldx + k);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const uint16_t *wk = k + 32 <= cols ? w + r * rs + k : tail[r];
            __m512bh wv = (__m512bh)_mm512_loadu_si512(wk);
#pragma GCC unroll 3
            for (int t = 0; t < T; t++)
                acc[r][t] = _mm512_dpbf16_ps(acc[r][t], xv[t], wv);
        }
    }
    float lane[16];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) {
            _mm512_storeu_ps(lane, acc[r][t]);
            y[t * ldy + r * span] = s_fold(lane);
        }
}

/* Rows [0, nr) of w for all n activation rows. Three activation rows take tiles of 8 weight
 * rows (24 accumulators of 32 registers), then one of 4; two or one take tiles of 4. A tile's
 * rows are an eighth (a quarter) of the block apart, so that each of its loads continues where
 * the previous tile's left off: sequential streams for the hardware prefetcher, as the AVX2
 * path (ops_cpu.c) walks them. Single rows last. */
S_TARGET static S_INLINE void s_block(float *y, int64_t ldy, const uint16_t *xb, int64_t ldx, int n,
                                      int64_t cols, const uint16_t *w, int64_t nr)
{
    int64_t r4 = nr & ~(int64_t)3, r8 = nr & ~(int64_t)7;
    for (int t = 0; t < n; t += 3) {
        const uint16_t *x = xb + t * ldx;
        float *yt = y + t * ldy;
        if (n - t >= 3) {
            for (int64_t q = 0, s8 = r8 / 8; q < s8; q++)
                s_tile(yt + q, ldy, x, ldx, cols, w + q * cols, s8, 8, 3);
            if (r4 > r8)
                s_tile(yt + r8, ldy, x, ldx, cols, w + r8 * cols, 1, 4, 3);
        } else {
            for (int64_t q = 0, s4 = r4 / 4; q < s4; q++)
                if (n - t == 2)
                    s_tile(yt + q, ldy, x, ldx, cols, w + q * cols, s4, 4, 2);
                else
                    s_tile(yt + q, ldy, x, ldx, cols, w + q * cols, s4, 4, 1);
        }
    }
    for (int64_t r = r4; r < nr; r++)
        for (int t = 0; t < n; t++)
            s_tile(y + t * ldy + r, ldy, xb + t * ldx, ldx, cols, w + r * cols, 1, 1, 1);
}

/* Weight rows in sub-blocks that stay in L2 while every tile of activations passes over them,
 * as the AVX2 path walks them. */
S_TARGET void S_NAME(gf_avx512_bf16_rows)(float *y, int64_t ldy, const uint16_t *xb, int64_t ldx,
                                          int n, int64_t cols, const uint16_t *w, int64_t r0,
                                          int64_t r1)
{
    int64_t rb = (256 << 10) / (cols * 2);
    rb = rb < 4 ? 4 : rb > 64 ? 64 : rb & ~(int64_t)3;
    if (n <= 2) /* nothing to keep in L2: one block, streams as long as the task */
        rb = r1 - r0 > 4 ? r1 - r0 : 4;
    for (int64_t b0 = r0; b0 < r1; b0 += rb) {
        int64_t nr = b0 + rb < r1 ? rb : r1 - b0;
        s_block(y + b0, ldy, xb, ldx, n, cols, w + b0 * cols, nr);
    }
}

/* 16 f32 bit patterns to bf16 in 32-bit lanes, by the rule of gf_avx512_bf16_of. */
S_TARGET static S_INLINE __m512i s_round16(__m512i u)
{
    const __m512i one = _mm512_set1_epi32(1), exp = _mm512_set1_epi32(0x7f800000);
    __m512i hi = _mm512_srli_epi32(u, 16);
    __m512i bias = _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(hi, one));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, bias), 16);
    __m512i mag = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
    r = _mm512_mask_mov_epi32(r, _mm512_cmpgt_epi32_mask(mag, exp), /* NaN: made quiet */
                              _mm512_or_si512(hi, _mm512_set1_epi32(0x40)));
    __m512i e = _mm512_and_si512(u, exp); /* zero or denormal: a signed zero */
    return _mm512_mask_mov_epi32(r, _mm512_cmpeq_epi32_mask(e, _mm512_setzero_si512()),
                                 _mm512_and_si512(hi, _mm512_set1_epi32(0x8000)));
}

S_TARGET void S_NAME(gf_avx512_bf16_round)(uint16_t *xb, const float *x, int64_t cols)
{
    /* packus interleaves its two sources by 64 bits per 128-bit lane; this puts them in order */
    const __m512i order = _mm512_set_epi64(7, 5, 3, 1, 6, 4, 2, 0);
    int64_t k = 0;
    for (; k + 32 <= cols; k += 32) {
        __m512i lo = s_round16(_mm512_castps_si512(_mm512_loadu_ps(x + k)));
        __m512i hi = s_round16(_mm512_castps_si512(_mm512_loadu_ps(x + k + 16)));
        __m512i h = _mm512_permutexvar_epi64(order, _mm512_packus_epi32(lo, hi));
        _mm512_storeu_si512(xb + k, h);
    }
    for (; k < cols; k++)
        xb[k] = gf_avx512_bf16_of(x[k]);
    for (; k < gf_avx512_bf16_ld(cols); k++)
        xb[k] = 0;
}

/* A tiny generator for the fixed input: the same values on every run. */
static float s_next(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) * 0x1p-23f - 1.0f;
}

int S_NAME(gf_avx512_bf16_selfcheck)(void)
{
    /* 13 rows = 8 + 4 + 1, 5 activation rows = 3 + 2, 80 columns = 2·32 + 16 */
    enum { R = 13, N = 5, C = 80, LD = 96 };
    uint16_t w[R * C], xb[N * LD];
    float x[N * C], y[N * R];
    uint32_t s = 12345;
    for (int i = 0; i < R * C; i++)
        w[i] = gf_avx512_bf16_of(0.5f * s_next(&s));
    for (int i = 0; i < N * C; i++)
        x[i] = s_next(&s);
    for (int t = 0; t < N; t++)
        S_NAME(gf_avx512_bf16_round)(xb + t * LD, x + t * C, C);
    for (int i = 0; i < N * LD; i++)
        if (xb[i] != (i % LD < C ? gf_avx512_bf16_of(x[i / LD * C + i % LD]) : 0))
            return -1;
    S_NAME(gf_avx512_bf16_rows)(y, R, xb, LD, N, C, w, 0, R);
    for (int t = 0; t < N; t++)
        for (int r = 0; r < R; r++) {
            float bound, want = gf_avx512_bf16_dot_model(xb + t * LD, w + r * C, C, &bound);
            if (!(fabsf(y[t * R + r] - want) <= bound))
                return -1;
        }
    return 0;
}
#endif
