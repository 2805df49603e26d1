/* quant_cpu.c — products with Q8_0 / Q4_0 weights on the CPU: the activations quantized to q8_0
 * rows, then int8 dot products, scalar or AVX2, 8 weight rows at a time in the interleaved
 * layout of gf_qmat (ops.h); quant_ops.h has the order of the sums. */
#include <math.h>
#include <string.h>

#include "core/error.h"

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/pool.h"
#include "kernels/cpu/quant_ops.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/vq_ops.h"

float gf_cpu_qdot_ref(const struct gf_mat *w, int64_t r, const struct gf_block_q8_0 *xq)
{
    float acc = 0;
    for (int64_t b = 0; b < w->cols / GF_QK; b++) {
        int8_t q[GF_QK];
        float d = gf_qmat_block(w->dtype, w->data, w->cols, r, b, q) * gf_f16_to_f32(xq[b].d);
        int s = 0; /* exact: |s| <= 32 * 127 * 127 < 2^24, so (float)s is exact too */
        for (int k = 0; k < GF_QK; k++)
            s += q[k] * xq[b].qs[k];
        acc = fmaf((float)s, d, acc);
    }
    return acc;
}

/* The activations of one call: n rows of nb q8_0 blocks, each block's scale as f32, and 8 times
 * the sum of its values (for q4_0, below). */
struct s_act {
    const struct gf_block_q8_0 *q; /* [n][nb] */
    const float *d;                /* [n][nb] */
    const int32_t *sum8;           /* [n][nb] */
};

#if GF_HAVE_AVX2
/* 4 activation bytes, from byte k of block b of row t, in every 32-bit lane. */
GF_SIMD static GF_INLINE __m256i s_xb(const struct gf_block_q8_0 *x, int k)
{
    int32_t v;
    memcpy(&v, x->qs + k, 4);
    return _mm256_set1_epi32(v);
}

/* Bytes of weights fetched ahead of the product: measured on the 1B decode (2 threads, Zen 3),
 * 1-2 KiB gave 10-20% over none; 8 KiB was slower again. Past a task's or the matrix's end it
 * touches bytes another task reads, or none (a prefetch never faults). */
#define S_AHEAD 2048

/* One group of 8 weight rows (gf_qmat layout, from its block 0 at g) against T activation rows
 * from t0: lane r of acc[t] is row r's sum over blocks of d_w * d_x * (exact int dot of the
 * block), block by block, as gf_cpu_qdot_ref. q8_0: |w| times x with w's sign, paired (maddubs,
 * |p| <= 2 * 127 * 127 fits int16), then paired again (madd). q4_0: nibble times x, 8 products
 * per int16 lane (|s| <= 8 * 2 * 15 * 127 fits), paired once, less 8 * (the block's sum of x):
 * sum((n - 8) x) = sum(n x) - 8 sum(x), the same integers. */
GF_SIMD static GF_INLINE void s_qgroup(float *y, int64_t ldy, int lanes, const struct s_act *a,
                                       int t0, int T, int64_t nb, const char *g, enum gf_wtype dt)
{
    const size_t gbytes = 8 * gf_wtype_bytes(dt, GF_QK);
    const __m256i ones = _mm256_set1_epi16(1), m4 = _mm256_set1_epi8(15);
    __m256 acc[4];
#pragma GCC unroll 4
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++, g += gbytes) {
        /* the weights are one stream per thread, read once: fetched ahead of their use (the
         * tasks are short, so the hardware prefetcher alone starts late in each) */
#pragma GCC unroll 8
        for (size_t o = 0; o < gbytes; o += 64)
            _mm_prefetch(g + S_AHEAD + o, _MM_HINT_T0);
        const struct gf_block_q8_0 *x[4];
        __m256i is[4];
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            x[t] = a->q + (t0 + t) * nb + b;
            is[t] = _mm256_setzero_si256();
        }
        const char *qs = g + 16;
        if (dt == GF_WTYPE_Q8_0) {
#pragma GCC unroll 8
            for (int c = 0; c < 8; c++) {
                __m256i w = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
                __m256i aw = _mm256_sign_epi8(w, w);
#pragma GCC unroll 4
                for (int t = 0; t < T; t++) {
                    __m256i p = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(s_xb(x[t], 4 * c), w));
                    is[t] = _mm256_add_epi32(is[t], _mm256_madd_epi16(p, ones));
                }
            }
        } else {
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                __m256i raw = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
                __m256i lo = _mm256_and_si256(raw, m4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
#pragma GCC unroll 4
                for (int t = 0; t < T; t++) {
                    is[t] = _mm256_add_epi16(is[t], _mm256_maddubs_epi16(lo, s_xb(x[t], 4 * c)));
                    is[t] =
                        _mm256_add_epi16(is[t], _mm256_maddubs_epi16(hi, s_xb(x[t], 16 + 4 * c)));
                }
            }
#pragma GCC unroll 4
            for (int t = 0; t < T; t++)
                is[t] = _mm256_sub_epi32(_mm256_madd_epi16(is[t], ones),
                                         _mm256_set1_epi32(a->sum8[(t0 + t) * nb + b]));
        }
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            acc[t] =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(is[t]),
                                _mm256_mul_ps(dw, _mm256_set1_ps(a->d[(t0 + t) * nb + b])), acc[t]);
    }
    for (int t = 0; t < T; t++) {
        float *yt = y + (int64_t)(t0 + t) * ldy;
        if (lanes == 8) {
            _mm256_storeu_ps(yt, acc[t]);
        } else { /* the last group of a matrix whose rows are not a multiple of 8 */
            float v[8];
            _mm256_storeu_ps(v, acc[t]);
            memcpy(yt, v, lanes * sizeof *v);
        }
    }
}

/* Rows [r0, r1) (r0 a multiple of 8) for all n activation rows, T = 4 at a time, in chunks of
 * groups whose weights stay in L2 while every activation row passes over them. */
GF_SIMD static GF_INLINE void s_qrows(float *y, int64_t ldy, const struct s_act *a, int n,
                                      const struct gf_mat *w, int64_t r0, int64_t r1,
                                      enum gf_wtype dt)
{
    int64_t nb = w->cols / GF_QK;
    size_t gbytes = 8 * gf_wtype_bytes(dt, w->cols);
    int64_t chunk = (int64_t)(((size_t)256 << 10) / gbytes) * 8;
    chunk = chunk < 8 ? 8 : chunk;
    for (int64_t c0 = r0; c0 < r1; c0 += chunk) {
        int64_t c1 = c0 + chunk < r1 ? c0 + chunk : r1;
        for (int t = 0; t < n; t += 4) {
            int T = n - t < 4 ? n - t : 4;
            for (int64_t r = c0; r < c1; r += 8) {
                const char *g = (const char *)w->data + (size_t)(r / 8) * gbytes;
                int lanes = c1 - r < 8 ? (int)(c1 - r) : 8;
                if (T == 4)
                    s_qgroup(y + r, ldy, lanes, a, t, 4, nb, g, dt);
                else if (T == 3)
                    s_qgroup(y + r, ldy, lanes, a, t, 3, nb, g, dt);
                else if (T == 2)
                    s_qgroup(y + r, ldy, lanes, a, t, 2, nb, g, dt);
                else
                    s_qgroup(y + r, ldy, lanes, a, t, 1, nb, g, dt);
            }
        }
    }
}

GF_SIMD static void s_qrows_q8_0(float *y, int64_t ldy, const struct s_act *a, int n,
                                 const struct gf_mat *w, int64_t r0, int64_t r1)
{
    s_qrows(y, ldy, a, n, w, r0, r1, GF_WTYPE_Q8_0);
}
GF_SIMD static void s_qrows_q4_0(float *y, int64_t ldy, const struct s_act *a, int n,
                                 const struct gf_mat *w, int64_t r0, int64_t r1)
{
    s_qrows(y, ldy, a, n, w, r0, r1, GF_WTYPE_Q4_0);
}
#endif

struct s_qjob {
    float *y;
    const float *x;
    struct gf_block_q8_0 *xq; /* [n][nb] */
    float *xd;                /* [n][nb] */
    int32_t *xsum8;           /* [n][nb] */
    int n;
    const struct gf_mat *w, *bias;
    int64_t rows_per_task;
    int avx2;
};

#if GF_HAVE_AVX2
/* The largest of the 8 lanes. */
GF_SIMD static GF_INLINE float s_hmax8(__m256 v)
{
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_max_ss(h, _mm_shuffle_ps(h, h, 1)));
}

/* gf_quantize's q8_0 blocks (quant.c), 8 lanes at a time, with the same bytes: the same largest
 * magnitude, d = amax / 127 and 1 / d in scalar f32 as there (d to f16 by F16C, which rounds
 * as gf_f32_to_f16 does), x / d rounded half away from zero as there (truncate, then one up where
 * the fraction is at least a half). Also each block's d as f32 and 8 times the sum of its values
 * where xd and xsum8 are not NULL. */
GF_SIMD static void s_quantize_q8_avx2(struct gf_block_q8_0 *xq, float *xd, int32_t *xsum8,
                                       const float *x, int64_t nb)
{
    const __m256 sign = _mm256_set1_ps(-0.0f), half = _mm256_set1_ps(0.5f);
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7); /* undoes the packs' lanes */
    for (int64_t b = 0; b < nb; b++) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(x + b * GF_QK + 8 * i);
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[i]));
        }
        float d = s_hmax8(m) / 127, id = d != 0 ? 1.0f / d : 0.0f;
        xq[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT); /* gf_f32_to_f16's bits */
        __m256i q[4];
        for (int i = 0; i < 4; i++) {
            __m256 y = _mm256_mul_ps(v[i], _mm256_set1_ps(id)), a = _mm256_andnot_ps(sign, y);
            __m256 t = _mm256_round_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            __m256 up = _mm256_cmp_ps(_mm256_sub_ps(a, t), half, _CMP_GE_OQ);
            t = _mm256_add_ps(t, _mm256_and_ps(up, one));
            q[i] = _mm256_cvttps_epi32(_mm256_or_ps(t, _mm256_and_ps(sign, y)));
        }
        __m256i p =
            _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        _mm256_storeu_si256((__m256i *)xq[b].qs, _mm256_permutevar8x32_epi32(p, order));
        if (xd)
            xd[b] = _cvtsh_ss(xq[b].d);
        if (xsum8) {
            __m256i s8 =
                _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
            __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
            h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
            h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
            xsum8[b] = 8 * _mm_cvtsi128_si32(h);
        }
    }
}
#endif

void gf_cpu_quantize_q8_0(struct gf_backend *be, struct gf_block_q8_0 *blocks, const float *x,
                          int64_t n)
{
#if GF_HAVE_AVX2
    if (gf_cpu_avx2(be)) {
        s_quantize_q8_avx2(blocks, NULL, NULL, x, n / GF_QK);
        return;
    }
#endif
    gf_quantize(GF_WTYPE_Q8_0, blocks, x, n);
}

static void s_quantize_task(void *arg, int t)
{
    struct s_qjob *j = arg;
    int64_t nb = j->w->cols / GF_QK;
    struct gf_block_q8_0 *xq = j->xq + t * nb;
#if GF_HAVE_AVX2
    if (j->avx2) {
        s_quantize_q8_avx2(xq, j->xd + t * nb, j->xsum8 + t * nb, j->x + t * j->w->cols, nb);
        return;
    }
#endif
    gf_quantize(GF_WTYPE_Q8_0, xq, j->x + t * j->w->cols, j->w->cols);
    for (int64_t b = 0; b < nb; b++) {
        int s = 0;
        for (int k = 0; k < GF_QK; k++)
            s += xq[b].qs[k];
        j->xd[t * nb + b] = gf_f16_to_f32(xq[b].d);
        j->xsum8[t * nb + b] = 8 * s;
    }
}

static void s_product_task(void *arg, int task)
{
    struct s_qjob *j = arg;
    const struct gf_mat *w = j->w;
    int64_t nb = w->cols / GF_QK, r0 = task * j->rows_per_task, r1 = r0 + j->rows_per_task;
    if (r1 > w->rows)
        r1 = w->rows;
#if GF_HAVE_AVX2
    if (j->avx2) {
        struct s_act a = {j->xq, j->xd, j->xsum8};
        if (w->dtype == GF_WTYPE_Q8_0)
            s_qrows_q8_0(j->y, w->rows, &a, j->n, w, r0, r1);
        else
            s_qrows_q4_0(j->y, w->rows, &a, j->n, w, r0, r1);
    } else
#endif
    {
        for (int64_t r = r0; r < r1; r++)
            for (int t = 0; t < j->n; t++)
                j->y[(int64_t)t * w->rows + r] = gf_cpu_qdot_ref(w, r, j->xq + t * nb);
    }
    if (j->bias)
        for (int t = 0; t < j->n; t++)
            for (int64_t r = r0; r < r1; r++)
                j->y[(int64_t)t * w->rows + r] += gf_mat_get(j->bias, r);
}

void gf_cpu_linear_q(struct gf_backend *be, float *y, const float *x, int n, const struct gf_mat *w,
                     const struct gf_mat *bias)
{
    struct gf_pool *pool = gf_cpu_pool(be);
    size_t nbn = (size_t)n * (w->cols / GF_QK);
    char *scratch = gf_cpu_scratch(be, nbn * (sizeof(struct gf_block_q8_0) + 8));
    GF_ASSERT(scratch != NULL); /* a few MiB at most, once: the model itself is far larger */
    int64_t per = w->rows / (be->n_threads * 8);
    per = per < 16 ? 16 : (per + 7) & ~(int64_t)7; /* whole groups of 8 rows */
    struct s_qjob j = {y,
                       x,
                       (struct gf_block_q8_0 *)(scratch + nbn * 8),
                       (float *)scratch,
                       (int32_t *)(scratch + nbn * 4),
                       n,
                       w,
                       bias,
                       per,
                       gf_cpu_avx2(be)};
    gf_pool_run(pool, s_quantize_task, &j, n);
    gf_pool_run(pool, s_product_task, &j, (int)((w->rows + per - 1) / per));
}
