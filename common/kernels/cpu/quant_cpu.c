/* quant_cpu.c — products with Q8_0 / Q4_0 weights on the CPU: the activations quantized to q8_0
 * rows, then int8 dot products, scalar or AVX2 (quant_ops.h has the order of the sums). */
#include <math.h>

#include "core/error.h"

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/pool.h"
#include "kernels/cpu/quant_ops.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/vq_ops.h"

/* Block i of a weight row as 32 int8 values and its scale. */
static float s_unpack(enum gf_wtype dt, const void *w, int64_t i, int8_t q[GF_QK])
{
    if (dt == GF_WTYPE_Q8_0) {
        const struct gf_block_q8_0 *b = (const struct gf_block_q8_0 *)w + i;
        for (int j = 0; j < GF_QK; j++)
            q[j] = b->qs[j];
        return gf_f16_to_f32(b->d);
    }
    const struct gf_block_q4_0 *b = (const struct gf_block_q4_0 *)w + i;
    for (int j = 0; j < GF_QK / 2; j++) {
        q[j] = (int8_t)((b->qs[j] & 15) - 8);
        q[j + GF_QK / 2] = (int8_t)((b->qs[j] >> 4) - 8);
    }
    return gf_f16_to_f32(b->d);
}

float gf_cpu_qdot_ref(enum gf_wtype dt, const void *w, const struct gf_block_q8_0 *xq, int64_t nb)
{
    float acc[8] = {0};
    for (int64_t i = 0; i < nb; i++) {
        int8_t q[GF_QK];
        float d = s_unpack(dt, w, i, q) * gf_f16_to_f32(xq[i].d);
        for (int l = 0; l < 8; l++) {
            int s = 0; /* exact: |s| <= 4 * 127 * 127 */
            for (int k = 4 * l; k < 4 * l + 4; k++)
                s += q[k] * xq[i].qs[k];
            acc[l] = fmaf(d, (float)s, acc[l]);
        }
    }
    float lo[4]; /* the fold of gf_hsum8 */
    for (int l = 0; l < 4; l++)
        lo[l] = acc[l] + acc[l + 4];
    return (lo[0] + lo[2]) + (lo[1] + lo[3]);
}

#if GF_HAVE_AVX2
/* Block i of a weight row as 32 bytes: q8_0 as stored (signed), q4_0 as its nibbles 0..15
 * (unsigned; the -8 is taken off the sums, s_lane_sums). */
GF_SIMD static GF_INLINE __m256i s_wq(const void *w, int64_t i, enum gf_wtype dt)
{
    if (dt == GF_WTYPE_Q8_0)
        return _mm256_loadu_si256((const __m256i *)((const struct gf_block_q8_0 *)w)[i].qs);
    __m128i t = _mm_loadu_si128((const __m128i *)((const struct gf_block_q4_0 *)w)[i].qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(15));
}

GF_SIMD static GF_INLINE float s_wd(const void *w, int64_t i, enum gf_wtype dt)
{
    uint16_t d = dt == GF_WTYPE_Q8_0 ? ((const struct gf_block_q8_0 *)w)[i].d
                                     : ((const struct gf_block_q4_0 *)w)[i].d;
    return _cvtsh_ss(d);
}

/* 8 int32 sums of 4 products each, as floats. q8_0: |w| · (x with w's sign), paired, then
 * paired. q4_0: nibble · x, paired, then paired, less 8 · (the lane's sum of x), given as x8:
 * sum((n - 8) x) = sum(n x) - 8 sum(x), the same integers. */
GF_SIMD static GF_INLINE __m256 s_mul_sum(__m256i w, __m256i x, __m256i x8, enum gf_wtype dt)
{
    __m256i ones = _mm256_set1_epi16(1);
    if (dt == GF_WTYPE_Q8_0) {
        __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
        return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones));
    }
    __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), ones);
    return _mm256_cvtepi32_ps(_mm256_sub_epi32(s, x8));
}

/* 8 times the lane sums of 4 activation bytes (for q4_0). */
GF_SIMD static GF_INLINE __m256i s_lane_sums8(__m256i x)
{
    __m256i p = _mm256_maddubs_epi16(_mm256_set1_epi8(1), x);
    return _mm256_slli_epi32(_mm256_madd_epi16(p, _mm256_set1_epi16(1)), 3);
}

/* R weight rows x T activation rows (from t0), one vector accumulator each; y[t0 + t][r]. */
GF_SIMD static GF_INLINE void s_qtile(float *y, int64_t ldy, const struct gf_block_q8_0 *xq, int t0,
                                      int64_t nb, const char *w, size_t row_bytes, int R, int T,
                                      enum gf_wtype dt)
{
    __m256 acc[4][2];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i xv[2], x8[2];
        float dx[2];
#pragma GCC unroll 2
        for (int t = 0; t < T; t++) {
            const struct gf_block_q8_0 *b = xq + (int64_t)(t0 + t) * nb + i;
            xv[t] = _mm256_loadu_si256((const __m256i *)b->qs);
            x8[t] = dt == GF_WTYPE_Q4_0 ? s_lane_sums8(xv[t]) : xv[t];
            dx[t] = _cvtsh_ss(b->d);
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const char *wr = w + r * row_bytes;
            __m256i wv = s_wq(wr, i, dt);
            float dw = s_wd(wr, i, dt);
#pragma GCC unroll 2
            for (int t = 0; t < T; t++)
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * dx[t]),
                                            s_mul_sum(wv, xv[t], x8[t], dt), acc[r][t]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            y[(int64_t)(t0 + t) * ldy + r] = gf_hsum8(acc[r][t]);
}

/* Rows [r0, r1) for all n activation rows, in sub-blocks of rows that stay in L2 while every
 * pair of activation rows passes over them. */
GF_SIMD static GF_INLINE void s_qrows(float *y, int64_t ldy, const struct gf_block_q8_0 *xq, int n,
                                      int64_t nb, const char *w, int64_t r0, int64_t r1,
                                      enum gf_wtype dt)
{
    size_t rbytes = gf_wtype_bytes(dt, nb * GF_QK);
    int64_t rb = (256 << 10) / (int64_t)rbytes;
    rb = rb < 4 ? 4 : rb > 64 ? 64 : rb & ~(int64_t)3;
    for (int64_t b0 = r0; b0 < r1; b0 += rb) {
        int64_t b1 = b0 + rb < r1 ? b0 + rb : r1, r4 = b0 + ((b1 - b0) & ~(int64_t)3);
        for (int t = 0; t < n; t += 2) {
            int T = n - t >= 2 ? 2 : 1;
            for (int64_t r = b0; r < r4; r += 4)
                if (T == 2)
                    s_qtile(y + r, ldy, xq, t, nb, w + r * rbytes, rbytes, 4, 2, dt);
                else
                    s_qtile(y + r, ldy, xq, t, nb, w + r * rbytes, rbytes, 4, 1, dt);
            for (int64_t r = r4; r < b1; r++)
                for (int k = t; k < t + T; k++)
                    s_qtile(y + r, ldy, xq, k, nb, w + r * rbytes, rbytes, 1, 1, dt);
        }
    }
}

GF_SIMD static void s_qrows_q8_0(float *y, int64_t ldy, const struct gf_block_q8_0 *xq, int n,
                                 int64_t nb, const char *w, int64_t r0, int64_t r1)
{
    s_qrows(y, ldy, xq, n, nb, w, r0, r1, GF_WTYPE_Q8_0);
}
GF_SIMD static void s_qrows_q4_0(float *y, int64_t ldy, const struct gf_block_q8_0 *xq, int n,
                                 int64_t nb, const char *w, int64_t r0, int64_t r1)
{
    s_qrows(y, ldy, xq, n, nb, w, r0, r1, GF_WTYPE_Q4_0);
}
#endif

struct s_qjob {
    float *y;
    const float *x;
    struct gf_block_q8_0 *xq; /* [n][nb] */
    int n;
    const struct gf_mat *w, *bias;
    int64_t rows_per_task;
    int avx2;
};

static void s_quantize_task(void *arg, int t)
{
    struct s_qjob *j = arg;
    int64_t cols = j->w->cols;
    gf_quantize(GF_WTYPE_Q8_0, j->xq + t * (cols / GF_QK), j->x + t * cols, cols);
}

static void s_product_task(void *arg, int task)
{
    struct s_qjob *j = arg;
    const struct gf_mat *w = j->w;
    int64_t nb = w->cols / GF_QK, r0 = task * j->rows_per_task, r1 = r0 + j->rows_per_task;
    size_t rbytes = gf_wtype_bytes(w->dtype, w->cols);
    if (r1 > w->rows)
        r1 = w->rows;
#if GF_HAVE_AVX2
    if (j->avx2) {
        if (w->dtype == GF_WTYPE_Q8_0)
            s_qrows_q8_0(j->y, w->rows, j->xq, j->n, nb, w->data, r0, r1);
        else
            s_qrows_q4_0(j->y, w->rows, j->xq, j->n, nb, w->data, r0, r1);
    } else
#endif
    {
        for (int64_t r = r0; r < r1; r++)
            for (int t = 0; t < j->n; t++)
                j->y[(int64_t)t * w->rows + r] = gf_cpu_qdot_ref(
                    w->dtype, (const char *)w->data + r * rbytes, j->xq + t * nb, nb);
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
    struct gf_block_q8_0 *xq =
        gf_cpu_scratch(be, (size_t)n * (w->cols / GF_QK) * sizeof(struct gf_block_q8_0));
    GF_ASSERT(xq != NULL); /* a few MiB at most, once: the model itself is far larger */
    int64_t per = w->rows / (be->n_threads * 8);
    per = per < 16 ? 16 : (per + 3) & ~(int64_t)3;
    struct s_qjob j = {y, x, xq, n, w, bias, per, gf_cpu_avx2(be)};
    gf_pool_run(pool, s_quantize_task, &j, n);
    gf_pool_run(pool, s_product_task, &j, (int)((w->rows + per - 1) / per));
}
