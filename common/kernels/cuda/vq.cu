/* vq.cu — the image decoder's ops: GroupNorm (+ swish), swish, nearest 2x upsample, row softmax,
 * transpose, and the im2col tiles conv2d multiplies (linear.cu). Images are [n][h*w][c],
 * channels last. GroupNorm statistics are sums in f64 over fixed splits of the pixels, added in
 * a fixed order, so they do not depend on the other images in the batch. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>

#include "kernels/cuda/cuda.h"

#define S_FOR(i, count)                                                                            \
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (count);                  \
         i += (int64_t)gridDim.x * blockDim.x)

/* --- GroupNorm: partial sums per (image, split, group), then the stats, then the apply -------- */

#define S_GN_MAX_SPLITS 64

#define S_GN_MAX_CHANNELS 2048 /* acc[2][c] doubles in shared memory: 32 KiB */

/* grid (splits, n), threads striding over the channels: sums of x and x² over the split's
 * pixels per channel, then per group in channel order. part[(t*splits + s)*groups + g][2] */
__global__ void __launch_bounds__(1024)
    k_gn_partial(double *part, const float *x, int hw, int c, int groups, int splits)
{
    extern __shared__ double acc[]; /* [2][c] */
    int s = blockIdx.x, t = blockIdx.y;
    int64_t p0 = (int64_t)hw * s / splits, p1 = (int64_t)hw * (s + 1) / splits;
    for (int ch = threadIdx.x; ch < c; ch += blockDim.x) {
        double sum = 0, ss = 0;
        for (int64_t p = p0; p < p1; p++) {
            double v = x[((int64_t)t * hw + p) * c + ch];
            sum += v;
            ss += v * v;
        }
        acc[ch] = sum;
        acc[c + ch] = ss;
    }
    __syncthreads();
    int cg = c / groups;
    for (int g = threadIdx.x; g < groups; g += blockDim.x) {
        double a = 0, b = 0;
        for (int i = 0; i < cg; i++)
            a += acc[g * cg + i], b += acc[c + g * cg + i];
        double *o = part + (((int64_t)t * splits + s) * groups + g) * 2;
        o[0] = a, o[1] = b;
    }
}

/* one thread per (image, group): mean and 1/std into stats[(t*groups + g)][2] */
__global__ void k_gn_stats(float *stats, const double *part, int n, int groups, int splits,
                           double count, float eps)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n * groups)
        return;
    int t = i / groups, g = i % groups;
    double sum = 0, ss = 0;
    for (int s = 0; s < splits; s++) {
        const double *p = part + (((int64_t)t * splits + s) * groups + g) * 2;
        sum += p[0], ss += p[1];
    }
    double mean = sum / count, var = ss / count - mean * mean;
    stats[2 * i] = (float)mean;
    stats[2 * i + 1] = (float)(1.0 / sqrt((var > 0 ? var : 0) + eps));
}

__global__ void k_gn_apply(float *y, const float *x, int64_t total, int hw, int c, int groups,
                           const float *stats, const float *w, const float *b, int swish)
{
    int cg = c / groups;
    S_FOR(i, total)
    {
        int ch = (int)(i % c);
        int64_t t = i / c / hw;
        const float *st = stats + (t * groups + ch / cg) * 2;
        float v = (x[i] - st[0]) * st[1] * w[ch] + b[ch];
        y[i] = swish ? v / (1.0f + expf(-v)) : v;
    }
}

void gf_cuda_group_norm(struct gf_backend *be, float *y, const float *x, int n, int hw, int c,
                        int groups, const struct gf_mat *w, const struct gf_mat *b, float eps,
                        int swish, float *work)
{
    struct gf_cuda *cu = gf_cuda_of(be);
    enum gf_wtype dw, db;
    const float *wd = (const float *)gf_cuda_weight(cu, w, &dw);
    const float *bd = (const float *)gf_cuda_weight(cu, b, &db);
    if (!wd || !bd || n <= 0)
        return;
    if (c > S_GN_MAX_CHANNELS || c % groups) {
        gf_cuda_fail(cu, __FILE__, __LINE__, "group_norm", "over 2048 channels or uneven groups");
        return;
    }
    /* work holds GF_GROUP_NORM_WORK(n, c) = 40·n·c floats: partials (4 floats each) + stats */
    int splits = hw < S_GN_MAX_SPLITS ? hw : S_GN_MAX_SPLITS;
    int64_t room = (int64_t)n * c * 40 - (int64_t)n * groups * 2;
    while (splits > 1 && (int64_t)n * splits * groups * 4 > room)
        splits--;
    double *part = (double *)work; /* cudaMalloc'ed: aligned for doubles */
    float *stats = work + (int64_t)n * splits * groups * 4;
    int threads = c < 1024 ? (c + 31) / 32 * 32 : 1024;
    dim3 grid(splits, n);
    k_gn_partial<<<grid, threads, 2 * c * sizeof(double), cu->stream>>>(part, x, hw, c, groups,
                                                                        splits);
    GF_LAUNCHED(cu);
    k_gn_stats<<<(n * groups + 127) / 128, 128, 0, cu->stream>>>(stats, part, n, groups, splits,
                                                                 (double)hw * (c / groups), eps);
    GF_LAUNCHED(cu);
    int64_t total = (int64_t)n * hw * c;
    k_gn_apply<<<gf_cuda_blocks(total, 256), 256, 0, cu->stream>>>(y, x, total, hw, c, groups,
                                                                   stats, wd, bd, swish);
    GF_LAUNCHED(cu);
}

/* --- element-wise and layout ---------------------------------------------------------------- */

__global__ void k_swish(float *x, int64_t count)
{
    S_FOR(i, count)
    {
        float v = x[i];
        x[i] = v / (1.0f + expf(-v));
    }
}

void gf_cuda_swish(struct gf_backend *be, float *x, int64_t count)
{
    struct gf_cuda *c = gf_cuda_of(be);
    if (count <= 0)
        return;
    k_swish<<<gf_cuda_blocks(count, 256), 256, 0, c->stream>>>(x, count);
    GF_LAUNCHED(c);
}

__global__ void k_upsample2x(float *y, const float *x, int n, int h, int wd, int c)
{
    int64_t total = (int64_t)n * 4 * h * wd * c;
    S_FOR(i, total)
    {
        int ch = (int)(i % c);
        int64_t pix = i / c;
        int ox = (int)(pix % (2 * wd));
        int64_t r = pix / (2 * wd);
        int oy = (int)(r % (2 * h));
        int64_t t = r / (2 * h);
        y[i] = x[((t * h + oy / 2) * wd + ox / 2) * c + ch];
    }
}

void gf_cuda_upsample2x(struct gf_backend *be, float *y, const float *x, int n, int h, int wd,
                        int c)
{
    struct gf_cuda *cu = gf_cuda_of(be);
    int64_t total = (int64_t)n * 4 * h * wd * c;
    if (total <= 0)
        return;
    k_upsample2x<<<gf_cuda_blocks(total, 256), 256, 0, cu->stream>>>(y, x, n, h, wd, c);
    GF_LAUNCHED(cu);
}

/* one block per row */
__global__ void k_softmax(float *x, int cols, float scale)
{
    __shared__ float red[32];
    float *v = x + (int64_t)blockIdx.x * cols;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < cols; j += blockDim.x)
        mx = fmaxf(mx, scale * v[j]);
    for (int o = 16; o > 0; o >>= 1)
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    if (lane == 0)
        red[warp] = mx;
    __syncthreads();
    mx = -INFINITY;
    for (int i = 0; i < nw; i++)
        mx = fmaxf(mx, red[i]);
    float sum = 0;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        float e = expf(scale * v[j] - mx);
        v[j] = e;
        sum += e;
    }
    for (int o = 16; o > 0; o >>= 1)
        sum += __shfl_xor_sync(0xffffffffu, sum, o);
    __syncthreads();
    if (lane == 0)
        red[warp] = sum;
    __syncthreads();
    sum = 0;
    for (int i = 0; i < nw; i++)
        sum += red[i];
    float inv = 1.0f / sum;
    for (int j = threadIdx.x; j < cols; j += blockDim.x)
        v[j] *= inv;
}

void gf_cuda_softmax(struct gf_backend *be, float *x, int64_t rows, int cols, float scale)
{
    struct gf_cuda *c = gf_cuda_of(be);
    for (int64_t r0 = 0; r0 < rows; r0 += 65535) {
        unsigned m = (unsigned)(rows - r0 < 65535 ? rows - r0 : 65535);
        k_softmax<<<m, 256, 0, c->stream>>>(x + r0 * cols, cols, scale);
        GF_LAUNCHED(c);
    }
}

/* 32x32 tiles through shared memory (padded against bank conflicts) */
__global__ void k_transpose(float *y, const float *x, int rows, int cols)
{
    __shared__ float tile[32][33];
    int bx = blockIdx.x * 32, by = blockIdx.y * 32;
    for (int j = threadIdx.y; j < 32; j += blockDim.y) {
        int r = by + j, cc = bx + threadIdx.x;
        if (r < rows && cc < cols)
            tile[j][threadIdx.x] = x[(int64_t)r * cols + cc];
    }
    __syncthreads();
    for (int j = threadIdx.y; j < 32; j += blockDim.y) {
        int cc = bx + j, r = by + threadIdx.x;
        if (r < rows && cc < cols)
            y[(int64_t)cc * rows + r] = tile[threadIdx.x][j];
    }
}

void gf_cuda_transpose(struct gf_backend *be, float *y, const float *x, int rows, int cols)
{
    struct gf_cuda *c = gf_cuda_of(be);
    if (rows <= 0 || cols <= 0)
        return;
    dim3 grid((cols + 31) / 32, (rows + 31) / 32), block(32, 8);
    k_transpose<<<grid, block, 0, c->stream>>>(y, x, rows, cols);
    GF_LAUNCHED(c);
}

/* --- im2col ------------------------------------------------------------------------------------
 */

__device__ __forceinline__ void s_put(float *p, int64_t i, float v)
{
    p[i] = v;
}
__device__ __forceinline__ void s_put(__nv_bfloat16 *p, int64_t i, float v)
{
    p[i] = __float2bfloat16_rn(v);
}
__device__ __forceinline__ void s_put(__half *p, int64_t i, float v)
{
    p[i] = __float2half_rn(v);
}

/* col[p][(i*k + ky)*k + kx] = x[pixel p0+p shifted by (ky-k/2, kx-k/2)][i], zero outside */
template <typename T>
__global__ void k_im2col(T *col, const float *x, int h, int wd, int cin, int k, int64_t p0,
                         int64_t np)
{
    int64_t kk = (int64_t)cin * k * k, hw = (int64_t)h * wd, total = np * kk;
    int pad = k / 2;
    S_FOR(e, total)
    {
        int64_t p = p0 + e / kk;
        int j = (int)(e % kk);
        int i = j / (k * k), r = j % (k * k), ky = r / k, kx = r % k;
        int64_t t = p / hw, q = p % hw;
        int iy = (int)(q / wd) + ky - pad, ix = (int)(q % wd) + kx - pad;
        float v = 0;
        if (iy >= 0 && iy < h && ix >= 0 && ix < wd)
            v = x[(t * hw + (int64_t)iy * wd + ix) * cin + i];
        s_put(col, e, v);
    }
}

void gf_cuda_im2col(struct gf_cuda *c, void *col, enum gf_wtype dt, const float *x, int h, int wd,
                    int cin, int k, int64_t p0, int64_t np)
{
    int64_t total = np * cin * k * k;
    unsigned blocks = gf_cuda_blocks(total, 256);
    if (dt == GF_WTYPE_F32)
        k_im2col<<<blocks, 256, 0, c->stream>>>((float *)col, x, h, wd, cin, k, p0, np);
    else if (dt == GF_WTYPE_BF16)
        k_im2col<<<blocks, 256, 0, c->stream>>>((__nv_bfloat16 *)col, x, h, wd, cin, k, p0, np);
    else
        k_im2col<<<blocks, 256, 0, c->stream>>>((__half *)col, x, h, wd, cin, k, p0, np);
    GF_LAUNCHED(c);
}
