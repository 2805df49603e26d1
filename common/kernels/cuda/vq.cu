/* vq.cu — the image decoder's ops: GroupNorm (+ swish), swish, nearest 2x upsample, row softmax,
 * transpose, and the im2col tiles conv2d multiplies (linear.cu), tap-major for tap-major
 * weights. Images are [n][h*w][c], channels last. GroupNorm statistics are sums in f64 over
 * fixed splits of the pixels (up to 512 blocks an image), added in a fixed order, so they do not
 * depend on the other images in the batch. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>

#include "kernels/cuda/cuda.h"

#define S_FOR(i, count)                                                                            \
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (count);                  \
         i += (int64_t)gridDim.x * blockDim.x)

/* --- GroupNorm: partial sums per (image, split, group), then the stats, then the apply -------- */

/* Pixels of one image are split over up to S_GN_MAX_SPLITS blocks of at least S_GN_MIN_PIXELS
 * pixels each (a function of hw only, so an image's statistics do not depend on the batch). */
#define S_GN_MAX_SPLITS 512
#define S_GN_MIN_PIXELS 32

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

__device__ __forceinline__ float s_gn_one(float x, const float *st, float w, float b, int swish)
{
    float v = (x - st[0]) * st[1] * w + b;
    return swish ? v / (1.0f + expf(-v)) : v;
}

__global__ void k_gn_apply(float *y, const float *x, int64_t total, int hw, int c, int groups,
                           const float *stats, const float *w, const float *b, int swish)
{
    int cg = c / groups;
    S_FOR(i, total)
    {
        int ch = (int)(i % c);
        int64_t t = i / c / hw;
        y[i] = s_gn_one(x[i], stats + (t * groups + ch / cg) * 2, w[ch], b[ch], swish);
    }
}

/* The same four channels at a time: grid (blocks, images), c % 4 == 0, x and y 16-byte aligned,
 * an image's hw*c/4 quads below 2^31. */
__global__ void k_gn_apply4(float *y, const float *x, int hw, int c, int groups, const float *stats,
                            const float *w, const float *b, int swish)
{
    int c4 = c / 4, cg = c / groups;
    int64_t t = blockIdx.y, base = t * hw * c4;
    int quads = hw * c4;
    const float *st = stats + t * groups * 2;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < quads; i += gridDim.x * blockDim.x) {
        int ch = (i % c4) * 4;
        float4 v = ((const float4 *)x)[base + i], o;
        o.x = s_gn_one(v.x, st + (ch / cg) * 2, w[ch], b[ch], swish);
        o.y = s_gn_one(v.y, st + ((ch + 1) / cg) * 2, w[ch + 1], b[ch + 1], swish);
        o.z = s_gn_one(v.z, st + ((ch + 2) / cg) * 2, w[ch + 2], b[ch + 2], swish);
        o.w = s_gn_one(v.w, st + ((ch + 3) / cg) * 2, w[ch + 3], b[ch + 3], swish);
        ((float4 *)y)[base + i] = o;
    }
}

/* Statistics in the backend's scratch (work is not needed on this backend): partials and stats
 * for as many images at a time as fit. */
void gf_cuda_group_norm(struct gf_backend *be, float *y, const float *x, int n, int hw, int c,
                        int groups, const struct gf_mat *w, const struct gf_mat *b, float eps,
                        int swish, float *work)
{
    struct gf_cuda *cu = gf_cuda_of(be);
    enum gf_wtype dw, db;
    (void)work;
    const float *wd = (const float *)gf_cuda_weight(cu, w, &dw);
    const float *bd = (const float *)gf_cuda_weight(cu, b, &db);
    if (!wd || !bd || n <= 0 || hw <= 0)
        return;
    if (c < 1 || c > S_GN_MAX_CHANNELS || groups < 1 || c % groups) {
        gf_cuda_fail(cu, __FILE__, __LINE__, "group_norm", "over 2048 channels or uneven groups");
        return;
    }
    int splits = hw / S_GN_MIN_PIXELS;
    splits = splits < 1 ? 1 : splits > S_GN_MAX_SPLITS ? S_GN_MAX_SPLITS : splits;
    size_t per_image = (size_t)splits * groups * 2 * sizeof(double) + (size_t)groups * 2 * 4;
    int64_t at_once = (int64_t)(cu->scratch_bytes / per_image);
    at_once = at_once < n ? at_once : n;
    at_once = at_once < 65535 ? at_once : 65535;
    int threads = c < 1024 ? (c + 31) / 32 * 32 : 1024;
    int vec4 = c % 4 == 0 && (int64_t)hw * (c / 4) < 0x7fffffff && (uintptr_t)x % 16 == 0 &&
               (uintptr_t)y % 16 == 0;
    for (int t0 = 0; t0 < n; t0 += (int)at_once) {
        int m = n - t0 < at_once ? n - t0 : (int)at_once;
        const float *xt = x + (int64_t)t0 * hw * c;
        float *yt = y + (int64_t)t0 * hw * c;
        double *part = (double *)cu->scratch; /* cudaMalloc'ed: aligned for doubles */
        float *stats = (float *)(part + (int64_t)m * splits * groups * 2);
        dim3 grid(splits, m);
        k_gn_partial<<<grid, threads, 2 * c * sizeof(double), cu->stream>>>(part, xt, hw, c, groups,
                                                                            splits);
        if (!GF_LAUNCHED(cu))
            return;
        k_gn_stats<<<(m * groups + 127) / 128, 128, 0, cu->stream>>>(
            stats, part, m, groups, splits, (double)hw * (c / groups), eps);
        if (!GF_LAUNCHED(cu))
            return;
        if (vec4) {
            int64_t quads = (int64_t)hw * (c / 4), bx = (quads + 255) / 256;
            dim3 ag((unsigned)(bx < 4096 ? bx : 4096), m);
            k_gn_apply4<<<ag, 256, 0, cu->stream>>>(yt, xt, hw, c, groups, stats, wd, bd, swish);
        } else {
            int64_t total = (int64_t)m * hw * c;
            k_gn_apply<<<gf_cuda_blocks(total, 256), 256, 0, cu->stream>>>(
                yt, xt, total, hw, c, groups, stats, wd, bd, swish);
        }
        if (!GF_LAUNCHED(cu))
            return;
    }
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

/* 4 consecutive values of a column row: a float4, or 8 bytes of halves */
__device__ __forceinline__ void s_put4(float *p, int64_t i, float4 v)
{
    *(float4 *)(p + i) = v;
}
__device__ __forceinline__ void s_put4(__nv_bfloat16 *p, int64_t i, float4 v)
{
    __nv_bfloat162 a = __floats2bfloat162_rn(v.x, v.y), b = __floats2bfloat162_rn(v.z, v.w);
    uint2 u;
    u.x = *(unsigned *)&a, u.y = *(unsigned *)&b;
    *(uint2 *)(p + i) = u;
}
__device__ __forceinline__ void s_put4(__half *p, int64_t i, float4 v)
{
    __half2 a = __floats2half2_rn(v.x, v.y), b = __floats2half2_rn(v.z, v.w);
    uint2 u;
    u.x = *(unsigned *)&a, u.y = *(unsigned *)&b;
    *(uint2 *)(p + i) = u;
}

/* Tap-major: col[p][(ky*k + kx)*cin + i] = x[pixel p0+p shifted by (ky-k/2, kx-k/2)][i], zero
 * outside; four channels a thread (cin % 4 == 0, x 16-byte aligned), reads and writes both
 * along the channels. */
template <typename T>
__global__ void k_im2col_taps(T *col, const float *x, int h, int wd, int cin, int k, int64_t p0,
                              int64_t np)
{
    int kk = k * k, cq = cin / 4, pad = k / 2;
    int64_t hw = (int64_t)h * wd, total = np * kk * cq;
    S_FOR(e, total)
    {
        int i4 = (int)(e % cq);
        int64_t pt = e / cq; /* (p - p0)*kk + tap */
        int tap = (int)(pt % kk);
        int64_t p = p0 + pt / kk, t = p / hw, q = p - t * hw;
        int qy = (int)(q / wd), qx = (int)(q - (int64_t)qy * wd);
        int iy = qy + tap / k - pad, ix = qx + tap % k - pad;
        float4 v = make_float4(0, 0, 0, 0);
        if (iy >= 0 && iy < h && ix >= 0 && ix < wd)
            v = *(const float4 *)(x + (t * hw + (int64_t)iy * wd + ix) * cin + 4 * i4);
        s_put4(col, pt * cin + 4 * i4, v);
    }
}

void gf_cuda_im2col(struct gf_cuda *c, void *col, enum gf_wtype dt, const float *x, int h, int wd,
                    int cin, int k, int64_t p0, int64_t np, int taps)
{
    int64_t total = np * cin * k * k;
    if (taps) {
        unsigned blocks = gf_cuda_blocks(total / 4, 256);
        if (dt == GF_WTYPE_F32)
            k_im2col_taps<<<blocks, 256, 0, c->stream>>>((float *)col, x, h, wd, cin, k, p0, np);
        else if (dt == GF_WTYPE_BF16)
            k_im2col_taps<<<blocks, 256, 0, c->stream>>>((__nv_bfloat16 *)col, x, h, wd, cin, k, p0,
                                                         np);
        else
            k_im2col_taps<<<blocks, 256, 0, c->stream>>>((__half *)col, x, h, wd, cin, k, p0, np);
        GF_LAUNCHED(c);
        return;
    }
    unsigned blocks = gf_cuda_blocks(total, 256);
    if (dt == GF_WTYPE_F32)
        k_im2col<<<blocks, 256, 0, c->stream>>>((float *)col, x, h, wd, cin, k, p0, np);
    else if (dt == GF_WTYPE_BF16)
        k_im2col<<<blocks, 256, 0, c->stream>>>((__nv_bfloat16 *)col, x, h, wd, cin, k, p0, np);
    else
        k_im2col<<<blocks, 256, 0, c->stream>>>((__half *)col, x, h, wd, cin, k, p0, np);
    GF_LAUNCHED(c);
}

/* dst[r][t][i] = src[r][i][t]: a conv weight [cout][cin][kk] put tap-major */
template <typename T>
__global__ void k_taps(T *dst, const T *src, int64_t rows, int64_t cin, int kk)
{
    int64_t per = cin * kk, total = rows * per;
    S_FOR(e, total)
    {
        int64_t r = e / per, rem = e - r * per, t = rem / cin, i = rem - t * cin;
        dst[e] = src[r * per + i * kk + t];
    }
}

void gf_cuda_taps(struct gf_cuda *c, void *dst, const void *src, enum gf_wtype dt, int64_t rows,
                  int64_t cin, int kk)
{
    int64_t total = rows * cin * kk;
    if (total <= 0)
        return;
    unsigned blocks = gf_cuda_blocks(total, 256);
    if (dt == GF_WTYPE_F32)
        k_taps<<<blocks, 256, 0, c->stream>>>((uint32_t *)dst, (const uint32_t *)src, rows, cin,
                                              kk);
    else
        k_taps<<<blocks, 256, 0, c->stream>>>((uint16_t *)dst, (const uint16_t *)src, rows, cin,
                                              kk);
    GF_LAUNCHED(c);
}
