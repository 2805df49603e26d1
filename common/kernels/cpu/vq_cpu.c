/* vq_cpu.c — the image decoder ops of the optimized CPU backend, over its thread pool.
 *
 * conv2d packs the weight per call into f32 panels of 16 outputs and runs a 6-pixel x 16-output
 * AVX2 microkernel; a 3x3 conv reads each tap's neighbour rows in place, a 1x1 conv reads the
 * input as the [pixels][cin] matrix it is. Without AVX2, or with less scratch than
 * GF_CONV2D_WORK, it falls back to im2col in bands of pixels (in the weight's own (cin, ky, kx)
 * order) followed by the backend's linear. Either way every output value is computed in one
 * fixed order whatever the band or the batch. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/pool.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/vq_ops.h"

/* Bytes of one band of input (or of unfolded input): small enough to stay in the caches while
 * the weight panels pass over it. */
#define S_BAND_BYTES (1 << 20)
#define S_MAX_CIN 4096

static const float s_zeros[S_MAX_CIN];

struct s_col_job {
    float *col;     /* [np][cin*k*k] */
    const float *x; /* one image [h*wd][cin] */
    int h, wd, k, cin;
    int64_t p0, np;
};

enum { S_COL_CHUNK = 16 };

static void s_im2col_task(void *arg, int task)
{
    struct s_col_job *j = arg;
    int k = j->k, kk = k * k, pad = k / 2, cin = j->cin;
    const float *src[9];
    int64_t i1 = (int64_t)(task + 1) * S_COL_CHUNK;
    if (i1 > j->np)
        i1 = j->np;
    for (int64_t i = (int64_t)task * S_COL_CHUNK; i < i1; i++) {
        int64_t p = j->p0 + i;
        int oy = (int)(p / j->wd), ox = (int)(p % j->wd);
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                int iy = oy + ky - pad, ix = ox + kx - pad;
                int in = iy >= 0 && iy < j->h && ix >= 0 && ix < j->wd;
                src[ky * k + kx] = in ? j->x + ((int64_t)iy * j->wd + ix) * cin : s_zeros;
            }
        float *dst = j->col + i * cin * kk;
        if (kk == 9)
            for (int c = 0; c < cin; c++, dst += 9)
                for (int t = 0; t < 9; t++)
                    dst[t] = src[t][c];
        else
            for (int c = 0; c < cin; c++, dst += kk)
                for (int t = 0; t < kk; t++)
                    dst[t] = src[t][c];
    }
}

#if GF_HAVE_AVX2
/* The conv GEMM: y[p][o] = bias[o] + Σ_k col[p][k] · w[o][k], k in order, one f32 FMA chain
 * per output value (so the result does not depend on the band, the tile or the batch).
 * Weights are packed per call into f32 panels wp[o / 16][k][16]; a microkernel keeps 6 pixels x
 * 16 outputs in registers, broadcasting col values against two vectors of the panel. */
enum { S_OB = 16, S_PT = 6 };

struct s_gemm_job {
    float *y;         /* [np][cout] */
    const float *col; /* [np][K] */
    float *wp, *bp;   /* [n_ob][K][16], [n_ob][16] */
    const struct gf_mat *w, *bias;
    int64_t np, K;
    int cout;
    /* 3x3 without im2col: pixels [p0, p0 + np) of one image x [h*wd][cin]; panels in
     * (ky, kx, cin) order */
    const float *x;
    int h, wd, cin, taps;
    int64_t p0;
};

static void s_pack_task(void *arg, int ob)
{
    struct s_gemm_job *j = arg;
    float *wp = j->wp + (int64_t)ob * j->K * S_OB;
    for (int i = 0; i < S_OB; i++) {
        int64_t o = (int64_t)ob * S_OB + i;
        for (int64_t k = 0; k < j->K; k++) { /* k = tap * cin + c when taps */
            int64_t src = j->taps ? (k % j->cin) * j->taps + k / j->cin : k;
            wp[k * S_OB + i] = o < j->cout ? gf_mat_get(j->w, o * j->K + src) : 0.0f;
        }
        j->bp[ob * S_OB + i] = o < j->cout && j->bias ? gf_mat_get(j->bias, o) : 0.0f;
    }
}

GF_SIMD static GF_INLINE void s_micro(float *y, int cout, int no, const float *col, int64_t K,
                                      const float *wp, const float *bp, int T)
{
    __m256 acc[S_PT][2];
#pragma GCC unroll 6
    for (int t = 0; t < T; t++) {
        acc[t][0] = _mm256_loadu_ps(bp);
        acc[t][1] = _mm256_loadu_ps(bp + 8);
    }
    for (int64_t k = 0; k < K; k++) {
        __m256 w0 = _mm256_loadu_ps(wp + k * S_OB), w1 = _mm256_loadu_ps(wp + k * S_OB + 8);
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) {
            __m256 xb = _mm256_broadcast_ss(col + t * K + k);
            acc[t][0] = _mm256_fmadd_ps(xb, w0, acc[t][0]);
            acc[t][1] = _mm256_fmadd_ps(xb, w1, acc[t][1]);
        }
    }
#pragma GCC unroll 6
    for (int t = 0; t < T; t++) {
        if (no == S_OB) {
            _mm256_storeu_ps(y + (int64_t)t * cout, acc[t][0]);
            _mm256_storeu_ps(y + (int64_t)t * cout + 8, acc[t][1]);
        } else {
            float tmp[S_OB];
            _mm256_storeu_ps(tmp, acc[t][0]);
            _mm256_storeu_ps(tmp + 8, acc[t][1]);
            memcpy(y + (int64_t)t * cout, tmp, no * sizeof(float));
        }
    }
}

/* one panel of 16 outputs over every pixel of the band */
GF_SIMD static void s_gemm_task(void *arg, int ob)
{
    struct s_gemm_job *j = arg;
    const float *wp = j->wp + (int64_t)ob * j->K * S_OB, *bp = j->bp + ob * S_OB;
    int o0 = ob * S_OB, no = j->cout - o0 < S_OB ? j->cout - o0 : S_OB;
    int64_t p = 0;
    for (; p + S_PT <= j->np; p += S_PT)
        s_micro(j->y + p * j->cout + o0, j->cout, no, j->col + p * j->K, j->K, wp, bp, S_PT);
    switch (j->np - p) {
    case 5:
        s_micro(j->y + p * j->cout + o0, j->cout, no, j->col + p * j->K, j->K, wp, bp, 5);
        break;
    case 4:
        s_micro(j->y + p * j->cout + o0, j->cout, no, j->col + p * j->K, j->K, wp, bp, 4);
        break;
    case 3:
        s_micro(j->y + p * j->cout + o0, j->cout, no, j->col + p * j->K, j->K, wp, bp, 3);
        break;
    case 2:
        s_micro(j->y + p * j->cout + o0, j->cout, no, j->col + p * j->K, j->K, wp, bp, 2);
        break;
    case 1:
        s_micro(j->y + p * j->cout + o0, j->cout, no, j->col + p * j->K, j->K, wp, bp, 1);
        break;
    }
}

/* The same microkernel reading the input in place: for each of the 9 taps, the T pixels'
 * neighbours (or a row of zeros at the border) against the tap's cin rows of the panel. */
GF_SIMD static GF_INLINE void s_imicro(float *y, int cout, int no, const float *const *src, int cin,
                                       const float *wp, const float *bp, int T)
{
    __m256 acc[S_PT][2];
#pragma GCC unroll 6
    for (int t = 0; t < T; t++) {
        acc[t][0] = _mm256_loadu_ps(bp);
        acc[t][1] = _mm256_loadu_ps(bp + 8);
    }
    for (int tap = 0; tap < 9; tap++) {
        const float *const *s = src + tap * S_PT;
        const float *w = wp + (int64_t)tap * cin * S_OB;
        for (int c = 0; c < cin; c++) {
            __m256 w0 = _mm256_loadu_ps(w + c * S_OB), w1 = _mm256_loadu_ps(w + c * S_OB + 8);
#pragma GCC unroll 6
            for (int t = 0; t < T; t++) {
                __m256 xb = _mm256_broadcast_ss(s[t] + c);
                acc[t][0] = _mm256_fmadd_ps(xb, w0, acc[t][0]);
                acc[t][1] = _mm256_fmadd_ps(xb, w1, acc[t][1]);
            }
        }
    }
#pragma GCC unroll 6
    for (int t = 0; t < T; t++) {
        if (no == S_OB) {
            _mm256_storeu_ps(y + (int64_t)t * cout, acc[t][0]);
            _mm256_storeu_ps(y + (int64_t)t * cout + 8, acc[t][1]);
        } else {
            float tmp[S_OB];
            _mm256_storeu_ps(tmp, acc[t][0]);
            _mm256_storeu_ps(tmp + 8, acc[t][1]);
            memcpy(y + (int64_t)t * cout, tmp, no * sizeof(float));
        }
    }
}

/* one panel of 16 outputs over the band's pixels, 6 at a time */
GF_SIMD static void s_igemm_task(void *arg, int ob)
{
    struct s_gemm_job *j = arg;
    const float *wp = j->wp + (int64_t)ob * j->K * S_OB, *bp = j->bp + ob * S_OB;
    int o0 = ob * S_OB, no = j->cout - o0 < S_OB ? j->cout - o0 : S_OB;
    const float *src[9 * S_PT]; /* [tap][pixel] */
    for (int64_t p = 0; p < j->np; p += S_PT) {
        int T = j->np - p < S_PT ? (int)(j->np - p) : S_PT;
        for (int t = 0; t < S_PT; t++) {
            int64_t q = j->p0 + p + (t < T ? t : 0);
            int oy = (int)(q / j->wd), ox = (int)(q % j->wd);
            for (int tap = 0; tap < 9; tap++) {
                int iy = oy + tap / 3 - 1, ix = ox + tap % 3 - 1;
                int in = iy >= 0 && iy < j->h && ix >= 0 && ix < j->wd;
                src[tap * S_PT + t] = in ? j->x + ((int64_t)iy * j->wd + ix) * j->cin : s_zeros;
            }
        }
        float *yp = j->y + p * j->cout + o0;
        switch (T) {
        case 6:
            s_imicro(yp, j->cout, no, src, j->cin, wp, bp, 6);
            break;
        case 5:
            s_imicro(yp, j->cout, no, src, j->cin, wp, bp, 5);
            break;
        case 4:
            s_imicro(yp, j->cout, no, src, j->cin, wp, bp, 4);
            break;
        case 3:
            s_imicro(yp, j->cout, no, src, j->cin, wp, bp, 3);
            break;
        case 2:
            s_imicro(yp, j->cout, no, src, j->cin, wp, bp, 2);
            break;
        default:
            s_imicro(yp, j->cout, no, src, j->cin, wp, bp, 1);
            break;
        }
    }
}

/* Returns 0 when work is too small for the packed path (the caller then uses linear). */
static int s_conv_gemm(struct gf_backend *be, float *y, const float *x, int n, int h, int wd, int k,
                       const struct gf_mat *w, const struct gf_mat *bias, float *work,
                       int64_t work_len)
{
    int64_t hw = (int64_t)h * wd, K = w->cols, cout = w->rows;
    int n_ob = (int)((cout + S_OB - 1) / S_OB), cin = (int)(K / (k * k));
    int64_t packed = (int64_t)n_ob * S_OB * (K + 1);
    if (!gf_cpu_avx2(be) || work_len < packed || (k != 1 && k != 3))
        return 0;
    struct s_gemm_job j = {.wp = work,
                           .bp = work + (int64_t)n_ob * S_OB * K,
                           .w = w,
                           .bias = bias,
                           .K = K,
                           .cout = (int)cout,
                           .cin = cin,
                           .taps = k == 3 ? 9 : 0};
    gf_pool_run(gf_cpu_pool(be), s_pack_task, &j, n_ob);
    if (k == 1) { /* the input already is the [pixels][cin] matrix */
        j.y = y, j.col = x, j.np = n * hw;
        gf_pool_run(gf_cpu_pool(be), s_gemm_task, &j, n_ob);
        return 1;
    }
    /* bands of pixels whose input rows stay in the caches while every panel passes */
    int64_t band = S_BAND_BYTES / (cin * (int64_t)sizeof(float));
    band = band < S_PT ? S_PT : band - band % S_PT;
    j.x = NULL, j.h = h, j.wd = wd, j.cin = cin;
    for (int b = 0; b < n; b++)
        for (int64_t p0 = 0; p0 < hw; p0 += band) {
            j.x = x + b * hw * cin, j.p0 = p0;
            j.np = hw - p0 < band ? hw - p0 : band;
            j.y = y + (b * hw + p0) * cout;
            gf_pool_run(gf_cpu_pool(be), s_igemm_task, &j, n_ob);
        }
    return 1;
}
#endif

void gf_cpu_conv2d(struct gf_backend *be, float *y, const float *x, int n, int h, int wd, int k,
                   const struct gf_mat *w, const struct gf_mat *bias, float *work, int64_t work_len)
{
    int64_t hw = (int64_t)h * wd, cols = w->cols, cout = w->rows;
    int cin = (int)(cols / (k * k));
    if (cin > S_MAX_CIN) {
        gf_ref_conv2d(be, y, x, n, h, wd, k, w, bias, work, work_len);
        return;
    }
#if GF_HAVE_AVX2
    if (s_conv_gemm(be, y, x, n, h, wd, k, w, bias, work, work_len))
        return;
#endif
    if (k == 1) { /* a pointwise conv is a linear over all pixels */
        be->ops->linear(be, y, x, (int)(n * hw), w, bias);
        return;
    }
    int64_t band = S_BAND_BYTES / (cols * (int64_t)sizeof(float));
    if (band > work_len / cols)
        band = work_len / cols;
    if (band > 3)
        band -= band % 3; /* whole tiles of three pixels in linear */
    if (band < 1)
        band = 1;
    for (int b = 0; b < n; b++)
        for (int64_t p0 = 0; p0 < hw; p0 += band) {
            int64_t np = hw - p0 < band ? hw - p0 : band;
            struct s_col_job j = {work, x + b * hw * cin, h, wd, k, cin, p0, np};
            gf_pool_run(gf_cpu_pool(be), s_im2col_task, &j,
                        (int)((np + S_COL_CHUNK - 1) / S_COL_CHUNK));
            be->ops->linear(be, y + (b * hw + p0) * cout, work, (int)np, w, bias);
        }
}

/* --- group norm ------------------------------------------------------------------------------
 *
 * Each image is cut into S_GN_CHUNKS fixed runs of pixels (whatever the thread count): one task
 * per run sums each channel in f64 over contiguous memory; the runs and then the channels of a
 * group are folded in a fixed order into the group's mean, the same again for the variance
 * about that mean, and a last pass applies per-channel scale and shift (and swish). */

enum { S_GN_CHUNKS = 16 };

struct s_gn_job {
    float *y;
    const float *x;
    int hw, c, groups, swish, avx2;
    double *part;         /* [n][S_GN_CHUNKS][c] */
    float *mean;          /* [n][c] per channel: its group's mean */
    float *scale, *shift; /* [n][c] */
};

static void s_gn_range(const struct s_gn_job *j, int task, int64_t *p0, int64_t *p1)
{
    int ch = task % S_GN_CHUNKS;
    *p0 = (int64_t)j->hw * ch / S_GN_CHUNKS;
    *p1 = (int64_t)j->hw * (ch + 1) / S_GN_CHUNKS;
}

#if GF_HAVE_AVX2
/* part[i] += Σ_p (x[p][i] - m[i])^k for k = 1 (m NULL) or 2, eight channels at a time */
GF_SIMD static void s_gn_sum_avx2(double *part, const float *x, const float *m, int64_t np, int c)
{
    int i = 0;
    for (; i + 8 <= c; i += 8) {
        __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
        __m256 mv = m ? _mm256_loadu_ps(m + i) : _mm256_setzero_ps();
        for (int64_t p = 0; p < np; p++) {
            __m256 v = _mm256_sub_ps(_mm256_loadu_ps(x + p * c + i), mv);
            __m256d a = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
            __m256d b = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
            if (m) {
                lo = _mm256_fmadd_pd(a, a, lo);
                hi = _mm256_fmadd_pd(b, b, hi);
            } else {
                lo = _mm256_add_pd(lo, a);
                hi = _mm256_add_pd(hi, b);
            }
        }
        _mm256_storeu_pd(part + i, lo);
        _mm256_storeu_pd(part + i + 4, hi);
    }
    for (; i < c; i++) {
        double acc = 0;
        for (int64_t p = 0; p < np; p++) {
            double d = (double)x[p * c + i] - (m ? m[i] : 0.0f);
            acc += m ? d * d : d;
        }
        part[i] = acc;
    }
}

/* e^x for x in [-88, 88] (Cephes expf: range reduction by ln 2, degree-6 polynomial) */
GF_SIMD static GF_INLINE __m256 s_exp8(__m256 x)
{
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.0f)), _mm256_set1_ps(-88.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

GF_SIMD static void s_gn_apply_avx2(float *y, const float *x, const float *sc, const float *sh,
                                    int64_t np, int c, int swish)
{
    __m256 one = _mm256_set1_ps(1.0f);
    for (int64_t p = 0; p < np; p++) {
        int i = 0;
        for (; i + 8 <= c; i += 8) {
            __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(x + p * c + i), _mm256_loadu_ps(sc + i),
                                       _mm256_loadu_ps(sh + i));
            if (swish)
                v = _mm256_div_ps(
                    v, _mm256_add_ps(one, s_exp8(_mm256_sub_ps(_mm256_setzero_ps(), v))));
            _mm256_storeu_ps(y + p * c + i, v);
        }
        for (; i < c; i++) {
            float v = fmaf(x[p * c + i], sc[i], sh[i]);
            y[p * c + i] = swish ? v / (1.0f + expf(-v)) : v;
        }
    }
}
#endif

static void s_gn_sum(const struct s_gn_job *j, double *part, const float *x, const float *m,
                     int64_t np)
{
#if GF_HAVE_AVX2
    if (j->avx2) {
        s_gn_sum_avx2(part, x, m, np, j->c);
        return;
    }
#endif
    for (int i = 0; i < j->c; i++) {
        double acc = 0;
        for (int64_t p = 0; p < np; p++) {
            double d = (double)x[p * j->c + i] - (m ? m[i] : 0.0f);
            acc += m ? d * d : d;
        }
        part[i] = acc;
    }
}

static void s_gn_stat_task(void *arg, int task)
{
    struct s_gn_job *j = arg;
    int b = task / S_GN_CHUNKS;
    int64_t p0, p1;
    s_gn_range(j, task, &p0, &p1);
    const float *x = j->x + ((int64_t)b * j->hw + p0) * j->c;
    s_gn_sum(j, j->part + (int64_t)task * j->c, x, j->mean ? j->mean + (int64_t)b * j->c : NULL,
             p1 - p0);
}

static void s_gn_apply_task(void *arg, int task)
{
    struct s_gn_job *j = arg;
    int b = task / S_GN_CHUNKS, c = j->c;
    int64_t p0, p1, off;
    s_gn_range(j, task, &p0, &p1);
    off = ((int64_t)b * j->hw + p0) * c;
    const float *sc = j->scale + (int64_t)b * c, *sh = j->shift + (int64_t)b * c;
#if GF_HAVE_AVX2
    if (j->avx2) {
        s_gn_apply_avx2(j->y + off, j->x + off, sc, sh, p1 - p0, c, j->swish);
        return;
    }
#endif
    for (int64_t p = 0; p < p1 - p0; p++)
        for (int i = 0; i < c; i++) {
            float v = fmaf(j->x[off + p * c + i], sc[i], sh[i]);
            j->y[off + p * c + i] = j->swish ? v / (1.0f + expf(-v)) : v;
        }
}

/* the runs of image b, then the channels of group g, in order: Σ over the group */
static double s_gn_fold(const struct s_gn_job *j, int b, int g)
{
    int cg = j->c / j->groups;
    double s = 0;
    for (int i = 0; i < cg; i++)
        for (int ch = 0; ch < S_GN_CHUNKS; ch++)
            s += j->part[((int64_t)b * S_GN_CHUNKS + ch) * j->c + g * cg + i];
    return s;
}

void gf_cpu_group_norm(struct gf_backend *be, float *y, const float *x, int n, int hw, int c,
                       int groups, const struct gf_mat *w, const struct gf_mat *b, float eps,
                       int swish, float *work)
{
    /* work: part [n][S_GN_CHUNKS][c] f64, then mean, scale, shift [n][c] f32 */
    struct s_gn_job j = {y,    x,    hw,  c, groups, swish, gf_cpu_avx2(be), (double *)work,
                         NULL, NULL, NULL};
    float *mean = work + (int64_t)n * S_GN_CHUNKS * c * 2;
    j.scale = mean + (int64_t)n * c;
    j.shift = j.scale + (int64_t)n * c;
    int cg = c / groups;
    double cnt = (double)hw * cg;
    gf_pool_run(gf_cpu_pool(be), s_gn_stat_task, &j, n * S_GN_CHUNKS);
    for (int t = 0; t < n; t++)
        for (int g = 0; g < groups; g++) {
            float m = (float)(s_gn_fold(&j, t, g) / cnt);
            for (int i = 0; i < cg; i++)
                mean[(int64_t)t * c + g * cg + i] = m;
        }
    j.mean = mean;
    gf_pool_run(gf_cpu_pool(be), s_gn_stat_task, &j, n * S_GN_CHUNKS);
    for (int t = 0; t < n; t++)
        for (int g = 0; g < groups; g++) {
            double rstd = 1.0 / sqrt(s_gn_fold(&j, t, g) / cnt + eps);
            for (int i = 0; i < cg; i++) {
                int64_t k = (int64_t)t * c + g * cg + i;
                j.scale[k] = (float)(rstd * gf_mat_get(w, g * cg + i));
                j.shift[k] = (float)(gf_mat_get(b, g * cg + i) - (double)mean[k] * j.scale[k]);
            }
        }
    gf_pool_run(gf_cpu_pool(be), s_gn_apply_task, &j, n * S_GN_CHUNKS);
}

/* --- elementwise and data movement ----------------------------------------------------------- */

struct s_swish_job {
    float *x;
    int64_t count;
};

enum { S_CHUNK = 16384 };

static void s_swish_task(void *arg, int task)
{
    struct s_swish_job *j = arg;
    int64_t i1 = (int64_t)(task + 1) * S_CHUNK;
    if (i1 > j->count)
        i1 = j->count;
    for (int64_t i = (int64_t)task * S_CHUNK; i < i1; i++)
        j->x[i] = j->x[i] / (1.0f + expf(-j->x[i]));
}

void gf_cpu_swish(struct gf_backend *be, float *x, int64_t count)
{
    struct s_swish_job j = {x, count};
    gf_pool_run(gf_cpu_pool(be), s_swish_task, &j, (int)((count + S_CHUNK - 1) / S_CHUNK));
}

struct s_up_job {
    float *y;
    const float *x;
    int h, wd, c;
};

/* one output row of one image per task */
static void s_up_task(void *arg, int task)
{
    struct s_up_job *j = arg;
    int oh = 2 * j->h, ow = 2 * j->wd, t = task / oh, oy = task % oh;
    const float *src = j->x + ((int64_t)t * j->h + oy / 2) * j->wd * j->c;
    float *dst = j->y + ((int64_t)t * oh + oy) * ow * j->c;
    for (int ox = 0; ox < ow; ox++)
        memcpy(dst + (int64_t)ox * j->c, src + (int64_t)(ox / 2) * j->c, j->c * sizeof(float));
}

void gf_cpu_upsample2x(struct gf_backend *be, float *y, const float *x, int n, int h, int wd, int c)
{
    struct s_up_job j = {y, x, h, wd, c};
    gf_pool_run(gf_cpu_pool(be), s_up_task, &j, n * 2 * h);
}

struct s_sm_job {
    float *x;
    int cols;
    float scale;
};

static void s_softmax_task(void *arg, int r)
{
    struct s_sm_job *j = arg;
    float *v = j->x + (int64_t)r * j->cols, mx = -INFINITY;
    for (int i = 0; i < j->cols; i++)
        mx = fmaxf(mx, j->scale * v[i]);
    double sum = 0;
    for (int i = 0; i < j->cols; i++) {
        v[i] = expf(j->scale * v[i] - mx);
        sum += v[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < j->cols; i++)
        v[i] *= inv;
}

void gf_cpu_softmax(struct gf_backend *be, float *x, int64_t rows, int cols, float scale)
{
    struct s_sm_job j = {x, cols, scale};
    gf_pool_run(gf_cpu_pool(be), s_softmax_task, &j, (int)rows);
}

struct s_tr_job {
    float *y;
    const float *x;
    int rows, cols;
};

enum { S_TILE = 32 };

/* one band of 32 input rows per task, copied in 32 x 32 tiles */
static void s_transpose_task(void *arg, int task)
{
    struct s_tr_job *j = arg;
    int r0 = task * S_TILE, r1 = r0 + S_TILE < j->rows ? r0 + S_TILE : j->rows;
    for (int c0 = 0; c0 < j->cols; c0 += S_TILE) {
        int c1 = c0 + S_TILE < j->cols ? c0 + S_TILE : j->cols;
        for (int r = r0; r < r1; r++)
            for (int c = c0; c < c1; c++)
                j->y[(int64_t)c * j->rows + r] = j->x[(int64_t)r * j->cols + c];
    }
}

void gf_cpu_transpose(struct gf_backend *be, float *y, const float *x, int rows, int cols)
{
    struct s_tr_job j = {y, x, rows, cols};
    gf_pool_run(gf_cpu_pool(be), s_transpose_task, &j, (rows + S_TILE - 1) / S_TILE);
}
