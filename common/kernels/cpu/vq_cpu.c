/* vq_cpu.c — the image decoder ops of the optimized CPU backend, over its thread pool.
 *
 * conv2d is im2col in bands of pixels followed by the backend's linear (the same tiled matmul
 * the language model uses): a band of `np` pixels unfolds into col[np][cin*k*k] in the weight's
 * own (cin, ky, kx) order, so the stored weight [cout][cin*k*k] is used as it is. Every output
 * value is computed in one fixed order whatever the band or the batch, as linear guarantees. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/pool.h"
#include "kernels/cpu/vq_ops.h"

/* Bytes of one unfolded band: small enough to stay in the caches while linear's row blocks
 * pass over it. */
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

void gf_cpu_conv2d(struct gf_backend *be, float *y, const float *x, int n, int h, int wd, int k,
                   const struct gf_mat *w, const struct gf_mat *bias, float *work, int64_t work_len)
{
    int64_t hw = (int64_t)h * wd, cols = w->cols, cout = w->rows;
    int cin = (int)(cols / (k * k));
    if (k == 1) { /* a pointwise conv is a linear over all pixels */
        be->ops->linear(be, y, x, (int)(n * hw), w, bias);
        return;
    }
    if (cin > S_MAX_CIN) {
        gf_ref_conv2d(be, y, x, n, h, wd, k, w, bias, work, work_len);
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

/* --- group norm: one (image, group) per task, f64 statistics in a fixed order ---------------- */

struct s_gn_job {
    float *y;
    const float *x;
    int hw, c, groups, swish;
    const struct gf_mat *w, *b;
    float eps;
};

static void s_gn_task(void *arg, int task)
{
    struct s_gn_job *j = arg;
    int c = j->c, cg = c / j->groups, g = task % j->groups;
    int64_t off = (int64_t)(task / j->groups) * j->hw * c + (int64_t)g * cg;
    const float *xs = j->x + off;
    float *ys = j->y + off;
    double acc[8] = {0}; /* independent chains, folded in a fixed order */
    for (int64_t p = 0; p < j->hw; p++)
        for (int i = 0; i < cg; i++)
            acc[i & 7] += xs[p * c + i];
    double cnt = (double)j->hw * cg, sum = 0;
    for (int l = 0; l < 8; l++)
        sum += acc[l], acc[l] = 0;
    double mean = sum / cnt, ss = 0;
    for (int64_t p = 0; p < j->hw; p++)
        for (int i = 0; i < cg; i++) {
            double d = xs[p * c + i] - mean;
            acc[i & 7] += d * d;
        }
    for (int l = 0; l < 8; l++)
        ss += acc[l];
    float rstd = (float)(1.0 / sqrt(ss / cnt + j->eps)), m = (float)mean;
    float scale[S_MAX_CIN / 32], shift[S_MAX_CIN / 32]; /* [cg] */
    for (int i = 0; i < cg; i++) {
        scale[i] = rstd * gf_mat_get(j->w, g * cg + i);
        shift[i] = gf_mat_get(j->b, g * cg + i);
    }
    for (int64_t p = 0; p < j->hw; p++)
        for (int i = 0; i < cg; i++) {
            float v = (xs[p * c + i] - m) * scale[i] + shift[i];
            ys[p * c + i] = j->swish ? v / (1.0f + expf(-v)) : v;
        }
}

void gf_cpu_group_norm(struct gf_backend *be, float *y, const float *x, int n, int hw, int c,
                       int groups, const struct gf_mat *w, const struct gf_mat *b, float eps,
                       int swish)
{
    if (c / groups > S_MAX_CIN / 32) {
        gf_ref_group_norm(be, y, x, n, hw, c, groups, w, b, eps, swish);
        return;
    }
    struct s_gn_job j = {y, x, hw, c, groups, swish, w, b, eps};
    gf_pool_run(gf_cpu_pool(be), s_gn_task, &j, n * groups);
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
