/* ops_cpu.c — the optimized CPU backend: the ops of ref.c spread over a thread pool, with AVX2
 * inner loops where the CPU has them (and AVX-512 BF16 ones for bf16 weights when asked). Every
 * output element is computed in one fixed order whatever the batch size or tiling, so a row's
 * result never depends on its neighbours. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "kernels/cpu/bf16_avx512.h"
#include "kernels/cpu/cpu.h"
#include "kernels/cpu/pool.h"
#include "kernels/cpu/quant_ops.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/vq_ops.h"

struct s_cpu {
    struct gf_pool *pool;
    int avx2;
    int avx512bf16; /* bf16 weights through bf16_avx512.c (off with GOTFLOW_NO_AVX512=1) */
    void *scratch;  /* quantized (quant_cpu.c) or bf16-rounded activations */
    size_t scratch_bytes;
};

static struct s_cpu *s_impl(struct gf_backend *be)
{
    return be->impl;
}

struct gf_pool *gf_cpu_pool(struct gf_backend *be)
{
    return s_impl(be)->pool;
}

int gf_cpu_avx2(struct gf_backend *be)
{
    return s_impl(be)->avx2;
}

void *gf_cpu_scratch(struct gf_backend *be, size_t bytes)
{
    struct s_cpu *c = s_impl(be);
    if (bytes > c->scratch_bytes) {
        free(c->scratch);
        c->scratch = malloc(bytes);
        c->scratch_bytes = c->scratch ? bytes : 0;
    }
    return c->scratch;
}

/* --- linear: y[n][rows] = x[n][cols] · wᵀ + b ------------------------------------------- */

struct s_linear_job {
    float *y;
    const float *x;
    int n;
    const struct gf_mat *w, *bias;
    int64_t rows_per_task;
    int avx2;
    uint16_t *xb; /* x rounded to bf16, ldx apart, when the AVX-512 BF16 path runs */
    int64_t ldx;
};

#if GF_HAVE_AVX2
GF_SIMD static uint64_t s_read_sum_avx2(const void *p, size_t bytes)
{
    enum { S = 8 };
    const __m256i *v = p;
    size_t len = bytes / 32 / S; /* vectors per stream */
    __m256i acc[S];
    for (int j = 0; j < S; j++)
        acc[j] = _mm256_setzero_si256();
    for (size_t i = 0; i < len; i++)
#pragma GCC unroll 8
        for (int j = 0; j < S; j++)
            acc[j] = _mm256_add_epi64(acc[j], _mm256_loadu_si256(v + j * len + i));
    for (int j = 1; j < S; j++)
        acc[0] = _mm256_add_epi64(acc[0], acc[j]);
    return (uint64_t)_mm256_extract_epi64(acc[0], 0) + (uint64_t)_mm256_extract_epi64(acc[0], 3);
}
#endif

uint64_t gf_cpu_read_sum(const void *p, size_t bytes)
{
    const uint64_t *w = p;
    size_t n = bytes / 8, done = n / 32 * 32; /* 8 streams of whole 32-byte vectors */
    uint64_t s = 0;
#if GF_HAVE_AVX2
    if (gf_simd_avx2())
        s = s_read_sum_avx2(p, done * 8);
    else
#endif
    {
        size_t len = done / 8;
        uint64_t acc[8] = {0};
        for (size_t i = 0; i < len; i++)
            for (int j = 0; j < 8; j++)
                acc[j] += w[j * len + i];
        for (int j = 0; j < 8; j++)
            s += acc[j];
    }
    for (size_t i = done; i < n; i++)
        s += w[i];
    return s;
}

/* Scalar dot of row r with token t: 8 partial sums, then the same fixed fold as the SIMD path,
 * so both paths give bit-identical results. */
static float s_dot_scalar(const struct gf_mat *w, int64_t r, const float *x)
{
    float acc[8] = {0};
    int64_t cols = w->cols, k = 0;
    for (; k + 8 <= cols; k += 8)
        for (int l = 0; l < 8; l++)
            acc[l] = fmaf(x[k + l], gf_mat_get(w, r * cols + k + l), acc[l]);
    float lo[4];
    for (int l = 0; l < 4; l++)
        lo[l] = acc[l] + acc[l + 4];
    lo[0] += lo[2];
    lo[1] += lo[3];
    float s = lo[0] + lo[1];
    for (; k < cols; k++)
        s = fmaf(x[k], gf_mat_get(w, r * cols + k), s);
    return s;
}

#if GF_HAVE_AVX2
/* R weight rows, span rows apart in w (row-major, cols wide), × T tokens (from x + t0 rows): one
 * vector accumulator each, k in steps of 8 in order, then a fixed fold; writes y[t0 + t][r·span].
 */
GF_SIMD static GF_INLINE void s_tile(float *y, int64_t ldy, const float *x, int t0, int64_t cols,
                                     const void *w, int64_t span, int R, int T, enum gf_wtype dt)
{
    __m256 acc[4][3]; /* R <= 4, T <= 3; only R x T are live */
    const int64_t rs = span * cols;
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 3
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= cols; k += 8) {
        __m256 xv[3];
#pragma GCC unroll 3
        for (int t = 0; t < T; t++)
            xv[t] = _mm256_loadu_ps(x + (int64_t)(t0 + t) * cols + k);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            __m256 wv = gf_load8(w, r * rs + k, dt);
#pragma GCC unroll 3
            for (int t = 0; t < T; t++)
                acc[r][t] = _mm256_fmadd_ps(xv[t], wv, acc[r][t]);
        }
    }
    const struct gf_mat m = {dt, 1, R * rs, w};
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) {
            float s = gf_hsum8(acc[r][t]);
            for (int64_t j = k; j < cols; j++)
                s = fmaf(x[(int64_t)(t0 + t) * cols + j], gf_mat_get(&m, r * rs + j), s);
            y[(int64_t)(t0 + t) * ldy + r * span] = s;
        }
}

/* Rows [0, nr) of w for all n tokens into y[t][0..nr), in tiles of 4 rows × 3, 2 or 1 tokens.
 * A tile's rows are a quarter of the block apart (rows q, q + s, q + 2s, q + 3s), so each of its
 * four loads continues where the previous tile's left off: four sequential streams, which the
 * hardware prefetcher follows. Tiles of rows side by side start a new stream at every row (a
 * row of 2048 bf16 is one 4 KB page) and read memory 15-30% slower (docs/performance.md). Which
 * rows share a tile does not change any row's sum. */
GF_SIMD static GF_INLINE void s_block(float *y, int64_t ldy, const float *x, int n, int64_t cols,
                                      const void *w, int64_t nr, enum gf_wtype dt)
{
    size_t es = gf_wtype_size(dt);
    int64_t r4 = nr & ~(int64_t)3, span = r4 / 4;
    for (int t = 0; t < n; t += 3) {
        int T = n - t < 3 ? n - t : 3;
        for (int64_t q = 0; q < span; q++) {
            const char *wq = (const char *)w + q * cols * es;
            if (T == 3)
                s_tile(y + q, ldy, x, t, cols, wq, span, 4, 3, dt);
            else if (T == 2) /* a CFG pair */
                s_tile(y + q, ldy, x, t, cols, wq, span, 4, 2, dt);
            else
                s_tile(y + q, ldy, x, t, cols, wq, span, 4, 1, dt);
        }
    }
    for (int64_t r = r4; r < nr; r++)
        for (int t = 0; t < n; t++)
            s_tile(y + r, ldy, x, t, cols, (const char *)w + r * cols * es, 1, 1, 1, dt);
}

/* Rows [r0, r1) for all n tokens. Weight rows go in sub-blocks that stay in L2 while every
 * tile of tokens passes over them; the order of additions per output element is the same for
 * every n, so results do not depend on the batch. (Converting a block to f32 once per block
 * instead of per tile measured no faster: the conversions hide behind the FMAs.) */
GF_SIMD static GF_INLINE void s_rows(float *y, const float *x, int n, int64_t cols, int64_t ldy,
                                     const void *w, int64_t r0, int64_t r1, enum gf_wtype dt)
{
    size_t es = gf_wtype_size(dt);
    int64_t rb = (256 << 10) / (cols * (int64_t)es);
    rb = rb < 4 ? 4 : rb > 64 ? 64 : rb & ~(int64_t)3;
    if (n <= 2) /* nothing to keep in L2: one block, streams as long as the task */
        rb = r1 - r0 > 4 ? r1 - r0 : 4;
    for (int64_t b0 = r0; b0 < r1; b0 += rb) {
        int64_t nr = b0 + rb < r1 ? rb : r1 - b0;
        s_block(y + b0, ldy, x, n, cols, (const char *)w + b0 * cols * es, nr, dt);
    }
}

GF_SIMD static void s_rows_f32(float *y, const float *x, int n, int64_t c, int64_t ld,
                               const void *w, int64_t r0, int64_t r1)
{
    s_rows(y, x, n, c, ld, w, r0, r1, GF_WTYPE_F32);
}
GF_SIMD static void s_rows_f16(float *y, const float *x, int n, int64_t c, int64_t ld,
                               const void *w, int64_t r0, int64_t r1)
{
    s_rows(y, x, n, c, ld, w, r0, r1, GF_WTYPE_F16);
}
GF_SIMD static void s_rows_bf16(float *y, const float *x, int n, int64_t c, int64_t ld,
                                const void *w, int64_t r0, int64_t r1)
{
    s_rows(y, x, n, c, ld, w, r0, r1, GF_WTYPE_BF16);
}
#endif

static void s_linear_task(void *arg, int task)
{
    struct s_linear_job *j = arg;
    const struct gf_mat *w = j->w;
    int64_t r0 = task * j->rows_per_task, r1 = r0 + j->rows_per_task;
    if (r1 > w->rows)
        r1 = w->rows;
#if GF_HAVE_AVX2
    if (j->xb)
        gf_avx512_bf16_rows(j->y, w->rows, j->xb, j->ldx, j->n, w->cols, w->data, r0, r1);
    else if (j->avx2) {
        if (w->dtype == GF_WTYPE_F32)
            s_rows_f32(j->y, j->x, j->n, w->cols, w->rows, w->data, r0, r1);
        else if (w->dtype == GF_WTYPE_F16)
            s_rows_f16(j->y, j->x, j->n, w->cols, w->rows, w->data, r0, r1);
        else
            s_rows_bf16(j->y, j->x, j->n, w->cols, w->rows, w->data, r0, r1);
    } else
#endif
    {
        for (int64_t r = r0; r < r1; r++)
            for (int t = 0; t < j->n; t++)
                j->y[(int64_t)t * w->rows + r] = s_dot_scalar(w, r, j->x + (int64_t)t * w->cols);
    }
    if (j->bias)
        for (int t = 0; t < j->n; t++)
            for (int64_t r = r0; r < r1; r++)
                j->y[(int64_t)t * w->rows + r] += gf_mat_get(j->bias, r);
}

#if GF_HAVE_AVX2
static void s_round_task(void *arg, int t)
{
    struct s_linear_job *j = arg;
    gf_avx512_bf16_round(j->xb + t * j->ldx, j->x + (int64_t)t * j->w->cols, j->w->cols);
}
#endif

static void s_linear(struct gf_backend *be, float *y, const float *x, int n, const struct gf_mat *w,
                     const struct gf_mat *bias)
{
    struct s_cpu *c = s_impl(be);
    if (gf_wtype_quantized(w->dtype)) {
        gf_cpu_linear_q(be, y, x, n, w, bias);
        return;
    }
    /* Enough tasks to balance the threads, each a multiple of 4 rows and at least 16. */
    int64_t per = w->rows / (be->n_threads * 8);
    per = per < 16 ? 16 : (per + 3) & ~(int64_t)3;
    struct s_linear_job j = {y, x, n, w, bias, per, c->avx2, NULL, 0};
#if GF_HAVE_AVX2
    /* each activation row rounded once, for every weight row; without scratch the AVX2 path */
    if (c->avx512bf16 && w->dtype == GF_WTYPE_BF16) {
        j.ldx = gf_avx512_bf16_ld(w->cols);
        j.xb = gf_cpu_scratch(be, (size_t)n * j.ldx * sizeof *j.xb);
        if (j.xb)
            gf_pool_run(c->pool, s_round_task, &j, n);
    }
#endif
    gf_pool_run(c->pool, s_linear_task, &j, (int)((w->rows + per - 1) / per));
}

/* --- rmsnorm -------------------------------------------------------------------------------- */

struct s_norm_job {
    float *y;
    const float *x;
    int dim;
    const struct gf_mat *w;
    float eps;
};

static void s_rmsnorm_task(void *arg, int t)
{
    struct s_norm_job *j = arg;
    const float *x = j->x + (int64_t)t * j->dim;
    float *y = j->y + (int64_t)t * j->dim;
    float ss = 0;
    for (int i = 0; i < j->dim; i++)
        ss += x[i] * x[i];
    float inv = 1.0f / sqrtf(ss / j->dim + j->eps);
    for (int i = 0; i < j->dim; i++)
        y[i] = x[i] * inv * gf_mat_get(j->w, i);
}

static void s_rmsnorm(struct gf_backend *be, float *y, const float *x, int n, int dim,
                      const struct gf_mat *w, float eps)
{
    struct s_norm_job j = {y, x, dim, w, eps};
    gf_pool_run(s_impl(be)->pool, s_rmsnorm_task, &j, n);
}

/* --- attention: one (token, head) pair per item, online softmax --------------------------- */

struct s_attn_job {
    float *out;
    const float *q;
    const struct gf_attn *a;
    int avx2;
};

/* y[i] = a x[i] + b z[i] */
static void s_axpby(float *y, float a, const float *x, float b, const float *z, int n)
{
    for (int i = 0; i < n; i++)
        y[i] = a * x[i] + b * z[i];
}

static float s_dotf(const float *a, const float *b, int n)
{
    float s = 0;
    for (int i = 0; i < n; i++)
        s = fmaf(a[i], b[i], s);
    return s;
}

#if GF_HAVE_AVX2
enum { S_ATTN_CHUNK = 64 };

/* 4 scores from the 4 keys at k (hd elements of dt each, one after another), each one
 * accumulator over the head, gf_hsum8, then the scalar tail; 4 at a time so the FMA chains
 * overlap. */
GF_SIMD static GF_INLINE void s_scores4(float *s, const float *q, const void *k, size_t k0, int hd,
                                        float scale, enum gf_wtype dt)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 8 <= hd; i += 8) {
        __m256 qv = _mm256_loadu_ps(q + i);
        a0 = _mm256_fmadd_ps(qv, gf_load8(k, k0 + i, dt), a0);
        a1 = _mm256_fmadd_ps(qv, gf_load8(k, k0 + hd + i, dt), a1);
        a2 = _mm256_fmadd_ps(qv, gf_load8(k, k0 + 2 * hd + i, dt), a2);
        a3 = _mm256_fmadd_ps(qv, gf_load8(k, k0 + 3 * hd + i, dt), a3);
    }
    float r[4] = {gf_hsum8(a0), gf_hsum8(a1), gf_hsum8(a2), gf_hsum8(a3)};
    for (int p = 0; p < 4; p++) {
        for (int e = i; e < hd; e++)
            r[p] = fmaf(q[e], gf_cpu_kv_get(k, k0 + (size_t)p * hd + e, dt), r[p]);
        s[p] = r[p] * scale;
    }
}

/* One score: the sums of one lane of s_scores4, for the keys left after the last 4. */
GF_SIMD static GF_INLINE float s_score1(const float *q, const void *k, size_t k0, int hd,
                                        float scale, enum gf_wtype dt)
{
    __m256 a0 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= hd; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), gf_load8(k, k0 + i, dt), a0);
    float r = gf_hsum8(a0);
    for (; i < hd; i++)
        r = fmaf(q[i], gf_cpu_kv_get(k, k0 + i, dt), r);
    return r * scale;
}

/* Elements [i, i + count) of a dt array into L1 ahead of use: the value pass reads each
 * position's values a slice of 32 dims at a time, strided, which the hardware prefetch does not
 * anticipate; asked for while the same positions' scores are taken. */
GF_SIMD static GF_INLINE void s_prefetch(const void *x, size_t i, int count, enum gf_wtype dt)
{
    /* the cache's types: f16, f32, or q8_0 whole blocks (i and count multiples of GF_QK) */
    const size_t es = dt == GF_WTYPE_F16 ? 2 : 4, qb = sizeof(struct gf_block_q8_0);
    const char *b = (const char *)x + (dt == GF_WTYPE_Q8_0 ? i / GF_QK * qb : i * es);
    const size_t bytes = dt == GF_WTYPE_Q8_0 ? count / GF_QK * qb : count * es;
    for (size_t o = 0; o < bytes; o += 64)
        _mm_prefetch(b + o, _MM_HINT_T0);
}

/* A chunk's scores s[m] into the running softmax: the running sums rescaled once by the new
 * maximum, then s[p] = exp(s[p] - max) added to sum. */
static inline void s_softmax_chunk(float *s, int m, float *mx, float *sum, float *acc, int hd)
{
    float cmax = *mx;
    for (int p = 0; p < m; p++)
        cmax = s[p] > cmax ? s[p] : cmax;
    if (cmax > *mx) {
        float f = expf(*mx - cmax);
        *sum *= f;
        for (int i = 0; i < hd; i++)
            acc[i] *= f;
        *mx = cmax;
    }
    for (int p = 0; p < m; p++) {
        s[p] = expf(s[p] - *mx);
        *sum += s[p];
    }
}

/* One query head over positions 0..npos-1 of its keys and values (from element 0 of k and v,
 * hd elements of dt a position), in chunks: the chunk's scores, one rescale of the running
 * sums by the chunk's new maximum, then acc += e_p v_p with the accumulators in registers, 32
 * dims at a time. */
GF_SIMD static GF_INLINE void s_attn_head(float *o, const float *q, const void *k, const void *v,
                                          int npos, int hd, float scale, enum gf_wtype dt)
{
    float s[S_ATTN_CHUNK], acc[GF_CPU_MAX_HEAD_DIM] = {0}, mx = -INFINITY, sum = 0;
    for (int p0 = 0; p0 < npos; p0 += S_ATTN_CHUNK) {
        int m = npos - p0 < S_ATTN_CHUNK ? npos - p0 : S_ATTN_CHUNK, p = 0;
        size_t c0 = (size_t)p0 * hd;
        for (; p + 4 <= m; p += 4) {
            s_prefetch(v, c0 + (size_t)p * hd, 4 * hd, dt);
            s_scores4(s + p, q, k, c0 + (size_t)p * hd, hd, scale, dt);
        }
        for (; p < m; p++)
            s[p] = s_score1(q, k, c0 + (size_t)p * hd, hd, scale, dt);
        s_softmax_chunk(s, m, &mx, &sum, acc, hd);
        int i = 0;
        for (; i + 32 <= hd; i += 32) {
            __m256 a0 = _mm256_loadu_ps(acc + i), a1 = _mm256_loadu_ps(acc + i + 8);
            __m256 a2 = _mm256_loadu_ps(acc + i + 16), a3 = _mm256_loadu_ps(acc + i + 24);
            for (p = 0; p < m; p++) {
                size_t vp = c0 + (size_t)p * hd + i;
                __m256 e = _mm256_set1_ps(s[p]);
                a0 = _mm256_fmadd_ps(e, gf_load8(v, vp, dt), a0);
                a1 = _mm256_fmadd_ps(e, gf_load8(v, vp + 8, dt), a1);
                a2 = _mm256_fmadd_ps(e, gf_load8(v, vp + 16, dt), a2);
                a3 = _mm256_fmadd_ps(e, gf_load8(v, vp + 24, dt), a3);
            }
            _mm256_storeu_ps(acc + i, a0), _mm256_storeu_ps(acc + i + 8, a1);
            _mm256_storeu_ps(acc + i + 16, a2), _mm256_storeu_ps(acc + i + 24, a3);
        }
        for (; i + 8 <= hd; i += 8) {
            __m256 a0 = _mm256_loadu_ps(acc + i);
            for (p = 0; p < m; p++)
                a0 = _mm256_fmadd_ps(_mm256_set1_ps(s[p]), gf_load8(v, c0 + (size_t)p * hd + i, dt),
                                     a0);
            _mm256_storeu_ps(acc + i, a0);
        }
        for (; i < hd; i++)
            for (p = 0; p < m; p++)
                acc[i] = fmaf(s[p], gf_cpu_kv_get(v, c0 + (size_t)p * hd + i, dt), acc[i]);
    }
    for (int i = 0; i < hd; i++)
        o[i] = acc[i] / sum;
}

/* 8 values of a q8_0 block from qs, as f32 (not scaled). */
GF_SIMD static GF_INLINE __m256 s_i8x8(const int8_t *qs)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)qs)));
}

/* The block's f16 scale, in every lane. */
GF_SIMD static GF_INLINE __m256 s_q8d(const struct gf_block_q8_0 *b)
{
    return _mm256_set1_ps(_cvtsh_ss(b->d));
}

/* acc + d (qb · k) for one q8_0 block k of a key and the 32 query values qb: the block's
 * products summed unscaled in one register, then scaled by its d once. */
GF_SIMD static GF_INLINE __m256 s_q8_dot_block(const float *qb, const struct gf_block_q8_0 *k,
                                               __m256 acc)
{
    __m256 t = _mm256_mul_ps(_mm256_loadu_ps(qb), s_i8x8(k->qs));
    t = _mm256_fmadd_ps(_mm256_loadu_ps(qb + 8), s_i8x8(k->qs + 8), t);
    t = _mm256_fmadd_ps(_mm256_loadu_ps(qb + 16), s_i8x8(k->qs + 16), t);
    t = _mm256_fmadd_ps(_mm256_loadu_ps(qb + 24), s_i8x8(k->qs + 24), t);
    return _mm256_fmadd_ps(s_q8d(k), t, acc);
}

/* s_attn_head on a q8_0 cache (hd a multiple of GF_QK, a position's values whole blocks): a
 * score sums d (q · k) block by block (s_q8_dot_block), 4 keys at a time so that their chains
 * overlap, each key's sums in the same order alone or in 4; a value slice is one block, each
 * value widened and scaled by its block's d before the same FMAs. */
GF_SIMD static void s_attn_head_q8(float *o, const float *q, const void *k, const void *v, int npos,
                                   int hd, float scale)
{
    const struct gf_block_q8_0 *kb = k, *vb = v;
    const int nb = hd / GF_QK;
    float s[S_ATTN_CHUNK], acc[GF_CPU_MAX_HEAD_DIM] = {0}, mx = -INFINITY, sum = 0;
    for (int p0 = 0; p0 < npos; p0 += S_ATTN_CHUNK) {
        int m = npos - p0 < S_ATTN_CHUNK ? npos - p0 : S_ATTN_CHUNK, p = 0;
        for (; p + 4 <= m; p += 4) {
            const struct gf_block_q8_0 *kp = kb + (size_t)(p0 + p) * nb;
            s_prefetch(v, (size_t)(p0 + p) * hd, 4 * hd, GF_WTYPE_Q8_0);
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int b = 0; b < nb; b++) {
                const float *qb = q + b * GF_QK;
                a0 = s_q8_dot_block(qb, kp + b, a0);
                a1 = s_q8_dot_block(qb, kp + nb + b, a1);
                a2 = s_q8_dot_block(qb, kp + 2 * nb + b, a2);
                a3 = s_q8_dot_block(qb, kp + 3 * nb + b, a3);
            }
            s[p] = gf_hsum8(a0) * scale, s[p + 1] = gf_hsum8(a1) * scale;
            s[p + 2] = gf_hsum8(a2) * scale, s[p + 3] = gf_hsum8(a3) * scale;
        }
        if (p < m)
            s_prefetch(v, (size_t)(p0 + p) * hd, 4 * hd, GF_WTYPE_Q8_0);
        for (; p < m; p++) {
            const struct gf_block_q8_0 *kp = kb + (size_t)(p0 + p) * nb;
            __m256 a = _mm256_setzero_ps();
            for (int b = 0; b < nb; b++)
                a = s_q8_dot_block(q + b * GF_QK, kp + b, a);
            s[p] = gf_hsum8(a) * scale;
        }
        s_softmax_chunk(s, m, &mx, &sum, acc, hd);
        for (int b = 0; b < nb; b++) {
            float *ab = acc + b * GF_QK;
            __m256 a0 = _mm256_loadu_ps(ab), a1 = _mm256_loadu_ps(ab + 8);
            __m256 a2 = _mm256_loadu_ps(ab + 16), a3 = _mm256_loadu_ps(ab + 24);
            for (p = 0; p < m; p++) {
                const struct gf_block_q8_0 *vp = vb + (size_t)(p0 + p) * nb + b;
                __m256 e = _mm256_set1_ps(s[p] * _cvtsh_ss(vp->d));
                a0 = _mm256_fmadd_ps(e, s_i8x8(vp->qs), a0);
                a1 = _mm256_fmadd_ps(e, s_i8x8(vp->qs + 8), a1);
                a2 = _mm256_fmadd_ps(e, s_i8x8(vp->qs + 16), a2);
                a3 = _mm256_fmadd_ps(e, s_i8x8(vp->qs + 24), a3);
            }
            _mm256_storeu_ps(ab, a0), _mm256_storeu_ps(ab + 8, a1);
            _mm256_storeu_ps(ab + 16, a2), _mm256_storeu_ps(ab + 24, a3);
        }
    }
    for (int i = 0; i < hd; i++)
        o[i] = acc[i] / sum;
}

GF_SIMD static void s_attn_head_f32(float *o, const float *q, const void *k, const void *v,
                                    int npos, int hd, float scale)
{
    s_attn_head(o, q, k, v, npos, hd, scale, GF_WTYPE_F32);
}
GF_SIMD static void s_attn_head_f16(float *o, const float *q, const void *k, const void *v,
                                    int npos, int hd, float scale)
{
    s_attn_head(o, q, k, v, npos, hd, scale, GF_WTYPE_F16);
}
#endif

static void s_attn_task(void *arg, int item)
{
    struct s_attn_job *j = arg;
    const struct gf_attn *a = j->a;
    int t = item / a->n_heads, h = item % a->n_heads, hd = a->head_dim;
    int group = a->n_heads / a->n_kv_heads;
    const float *q = j->q + ((int64_t)t * a->n_heads + h) * hd;
    float *o = j->out + ((int64_t)t * a->n_heads + h) * hd;
    size_t base = gf_wtype_bytes(a->kv_dtype, gf_attn_at(a, a->slot[t], h / group, 0));
    const char *kh = (const char *)a->k + base, *vh = (const char *)a->v + base;
    float scale = 1.0f / sqrtf((float)hd), mx = -INFINITY, sum = 0;
#if GF_HAVE_AVX2
    if (j->avx2) {
        if (a->kv_dtype == GF_WTYPE_Q8_0)
            s_attn_head_q8(o, q, kh, vh, a->pos[t] + 1, hd, scale);
        else if (a->kv_dtype == GF_WTYPE_F16)
            s_attn_head_f16(o, q, kh, vh, a->pos[t] + 1, hd, scale);
        else
            s_attn_head_f32(o, q, kh, vh, a->pos[t] + 1, hd, scale);
        return;
    }
#endif
    float acc[GF_CPU_MAX_HEAD_DIM], k[GF_CPU_MAX_HEAD_DIM], v[GF_CPU_MAX_HEAD_DIM]; /* [hd] */
    memset(acc, 0, hd * sizeof(float));
    for (int p = 0; p <= a->pos[t]; p++) {
        for (int i = 0; i < hd; i++) {
            k[i] = gf_cpu_kv_get(kh, (size_t)p * hd + i, a->kv_dtype);
            v[i] = gf_cpu_kv_get(vh, (size_t)p * hd + i, a->kv_dtype);
        }
        float s = s_dotf(q, k, hd) * scale;
        if (s > mx) {
            float f = expf(mx - s);
            sum *= f;
            s_axpby(acc, f, acc, 0.0f, v, hd); /* acc *= f */
            mx = s;
        }
        float e = expf(s - mx);
        sum += e;
        s_axpby(acc, 1.0f, acc, e, v, hd); /* acc += e v */
    }
    for (int i = 0; i < hd; i++)
        o[i] = acc[i] / sum;
}

/* gf_cpu_kv_store, a q8_0 cache's blocks by gf_cpu_quantize_q8_0 (gf_quantize's bytes). */
static void s_kv_store(struct gf_backend *be, const struct gf_attn *a, const float *k,
                       const float *v, int n)
{
    gf_cpu_kv_store(be, a, k, v, n, gf_cpu_quantize_q8_0);
}

static void s_attention(struct gf_backend *be, float *out, const float *q, int n,
                        const struct gf_attn *a)
{
    struct s_attn_job j = {out, q, a, s_impl(be)->avx2};
    gf_pool_run(s_impl(be)->pool, s_attn_task, &j, n * a->n_heads);
}

/* --- elementwise ---------------------------------------------------------------------------- */

struct s_elem_job {
    float *y;
    const float *a, *b;
    int64_t count;
};

enum { S_ELEM_CHUNK = 8192 };

static void s_swiglu_task(void *arg, int task)
{
    struct s_elem_job *j = arg;
    int64_t i0 = (int64_t)task * S_ELEM_CHUNK, i1 = i0 + S_ELEM_CHUNK;
    if (i1 > j->count)
        i1 = j->count;
    for (int64_t i = i0; i < i1; i++)
        j->y[i] = j->a[i] / (1.0f + expf(-j->a[i])) * j->b[i];
}

static void s_add_task(void *arg, int task)
{
    struct s_elem_job *j = arg;
    int64_t i0 = (int64_t)task * S_ELEM_CHUNK, i1 = i0 + S_ELEM_CHUNK;
    if (i1 > j->count)
        i1 = j->count;
    for (int64_t i = i0; i < i1; i++)
        j->y[i] += j->a[i];
}

static int s_chunks(int64_t count)
{
    return (int)((count + S_ELEM_CHUNK - 1) / S_ELEM_CHUNK);
}

static void s_swiglu(struct gf_backend *be, float *y, const float *gate, const float *up,
                     int64_t count)
{
    struct s_elem_job j = {y, gate, up, count};
    gf_pool_run(s_impl(be)->pool, s_swiglu_task, &j, s_chunks(count));
}

static void s_add(struct gf_backend *be, float *y, const float *x, int64_t count)
{
    struct s_elem_job j = {y, x, NULL, count};
    gf_pool_run(s_impl(be)->pool, s_add_task, &j, s_chunks(count));
}

static const struct gf_ops s_cpu_ops = {
    .name = "cpu",
    .alloc = gf_cpu_alloc,
    .free = gf_cpu_free,
    .to_host = gf_cpu_copy,
    .to_device = gf_cpu_copy,
    .copy = gf_cpu_copy,
    .linear = s_linear,
    .rmsnorm = s_rmsnorm,
    .rope = gf_cpu_rope,
    .kv_store = s_kv_store,
    .attention = s_attention,
    .swiglu = s_swiglu,
    .gelu = gf_cpu_gelu,
    .add = s_add,
    .embed = gf_cpu_embed,
    .conv2d = gf_cpu_conv2d,
    .group_norm = gf_cpu_group_norm,
    .swish = gf_cpu_swish,
    .upsample2x = gf_cpu_upsample2x,
    .softmax = gf_cpu_softmax,
    .transpose = gf_cpu_transpose,
    .kv_f16 = 1,
};

static int s_env_on(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

/* The AVX-512 BF16 path rounds the activations to bf16 (docs/model.md), which moves logits by
 * up to ~5e-3 of their scale; it is taken wherever the CPU has the instructions, as llama.cpp
 * does, and GOTFLOW_NO_AVX512=1 keeps the exact f32-activation path (the one the f32 goldens
 * test). A CPU that claims the instructions must also agree with the scalar model once. */
static int s_avx512bf16_wanted(void)
{
    if (s_env_on("GOTFLOW_NO_AVX512") || !gf_avx512_bf16_cpu())
        return 0;
#if GF_HAVE_AVX2
    if (gf_avx512_bf16_selfcheck() == 0)
        return 1;
    gf_log_warn("cpu: the avx512 bf16 products disagree with their scalar model; using avx2");
#endif
    return 0;
}

struct gf_backend *gf_backend_cpu_new(int n_threads)
{
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    struct gf_backend *be = calloc(1, sizeof *be);
    struct s_cpu *c = calloc(1, sizeof *c);
    if (!be || !c)
        goto fail;
    c->pool = gf_pool_new(n_threads);
    if (!c->pool)
        goto fail;
    c->avx2 = gf_simd_avx2() && !getenv("GOTFLOW_NO_SIMD");
    c->avx512bf16 = c->avx2 && s_avx512bf16_wanted();
    be->ops = &s_cpu_ops;
    be->n_threads = n_threads;
    be->impl = c;
    return be;
fail:
    free(c);
    free(be);
    return NULL;
}

void gf_backend_cpu_exact(struct gf_backend *be)
{
    if (be && be->ops == &s_cpu_ops)
        s_impl(be)->avx512bf16 = 0;
}

const char *gf_backend_kernels(const struct gf_backend *be)
{
    if (be->ops != &s_cpu_ops)
        return be->ops->name;
    const struct s_cpu *c = be->impl;
    return c->avx512bf16 ? "cpu avx512bf16" : c->avx2 ? "cpu avx2" : "cpu scalar";
}

void gf_backend_destroy(struct gf_backend **self_p)
{
    struct gf_backend *be = *self_p;
    if (!be)
        return;
    if (be->ops->destroy) {
        be->ops->destroy(be);
        *self_p = NULL;
        return;
    }
    if (be->ops == &s_cpu_ops) {
        struct s_cpu *c = be->impl;
        gf_pool_destroy(&c->pool);
        free(c->scratch);
        free(c);
    }
    free(be);
    *self_p = NULL;
}
