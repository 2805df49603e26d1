/* linear.cu — matrix products: y[n][rows] = x[n][cols] · Wᵀ + b. Up to GF_CUDA_GEMV_MAX tokens
 * go to an own GEMV kernel (one warp per weight row; each lane issues several 16-byte weight
 * loads before its FMAs and reads the activations as float4; f32 accumulation: decode is bound
 * by reading the weights once); more go to cuBLAS (cublasGemmEx, f32 accumulation, the
 * activations converted to the weights' dtype in scratch first). conv2d is im2col into scratch,
 * a chunk of pixels at a time, then the same product; a 3x3 weight is kept tap-major on the
 * device ([cout][ky][kx][cin]) so the im2col copies whole channel runs; a 1x1 conv is the
 * product itself.
 *
 * Batch invariance: the GEMV computes each (token, row) in one fixed order whatever n is, and
 * so does one cuBLAS call for a given shape, but cuBLAS may pick another algorithm (another
 * summation order) for another n, so a row's result can change in the last bits when the batch
 * crosses GF_CUDA_GEMV_MAX or changes size above it (DESIGN.md §7: a measured goal on CUDA). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/cuda/cuda.h"

__device__ __forceinline__ float s_ld(const float *p, int64_t i)
{
    return p[i];
}
__device__ __forceinline__ float s_ld(const __nv_bfloat16 *p, int64_t i)
{
    return __bfloat162float(p[i]);
}
__device__ __forceinline__ float s_ld(const __half *p, int64_t i)
{
    return __half2float(p[i]);
}

__device__ __forceinline__ void s_st(float *p, int64_t i, float v)
{
    p[i] = v;
}
__device__ __forceinline__ void s_st(__nv_bfloat16 *p, int64_t i, float v)
{
    p[i] = __float2bfloat16_rn(v);
}
__device__ __forceinline__ void s_st(__half *p, int64_t i, float v)
{
    p[i] = __float2half_rn(v);
}

template <typename TO, typename TI> __global__ void k_convert(TO *dst, const TI *src, int64_t count)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count;
         i += (int64_t)gridDim.x * blockDim.x)
        s_st(dst, i, s_ld(src, i));
}

template <typename TO>
static void s_convert_from(struct gf_cuda *c, TO *dst, const void *src, enum gf_wtype from,
                           int64_t count)
{
    unsigned blocks = gf_cuda_blocks(count, 256);
    if (from == GF_WTYPE_F32)
        k_convert<<<blocks, 256, 0, c->stream>>>(dst, (const float *)src, count);
    else if (from == GF_WTYPE_BF16)
        k_convert<<<blocks, 256, 0, c->stream>>>(dst, (const __nv_bfloat16 *)src, count);
    else
        k_convert<<<blocks, 256, 0, c->stream>>>(dst, (const __half *)src, count);
    GF_LAUNCHED(c);
}

void gf_cuda_convert(struct gf_cuda *c, void *dst, enum gf_wtype to, const void *src,
                     enum gf_wtype from, int64_t count)
{
    if (count <= 0)
        return;
    if (to == GF_WTYPE_F32)
        s_convert_from(c, (float *)dst, src, from, count);
    else if (to == GF_WTYPE_BF16)
        s_convert_from(c, (__nv_bfloat16 *)dst, src, from, count);
    else
        s_convert_from(c, (__half *)dst, src, from, count);
}

/* --- GEMV: n <= GF_CUDA_GEMV_MAX tokens, one warp per weight row --------------------------- */

/* 16 bytes of weights, already in registers, as 8 (or 4 for f32) floats */
__device__ __forceinline__ void s_unpack(uint4 u, const __nv_bfloat16 *, float *f)
{
    const __nv_bfloat162 *h = (const __nv_bfloat162 *)&u;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 v = __bfloat1622float2(h[i]);
        f[2 * i] = v.x, f[2 * i + 1] = v.y;
    }
}
__device__ __forceinline__ void s_unpack(uint4 u, const __half *, float *f)
{
    const __half2 *h = (const __half2 *)&u;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 v = __half22float2(h[i]);
        f[2 * i] = v.x, f[2 * i + 1] = v.y;
    }
}
__device__ __forceinline__ void s_unpack(uint4 u, const float *, float *f)
{
    f[0] = __uint_as_float(u.x), f[1] = __uint_as_float(u.y);
    f[2] = __uint_as_float(u.z), f[3] = __uint_as_float(u.w);
}

/* 16-byte weight loads each lane issues before its first FMA (all in flight together) */
#define S_GEMV_UNROLL 4

/* y[t][r] = Σ_k x[t][k]·w[r][k] (+ b[r]) for t < n <= NT: each lane sums its 16-byte pieces in
 * order, then a fixed butterfly across the warp. vec: cols is a multiple of the piece and w, x
 * are 16-byte aligned; then a lane loads S_GEMV_UNROLL pieces of weights first, then the
 * activations as float4; otherwise one element per lane per step. The order of the sums is the
 * same for every NT and n, so a row's result does not depend on the batch. */
template <typename TW, int NT>
__global__ void __launch_bounds__(256)
    k_gemv(float *__restrict__ y, const float *__restrict__ x, int n, const TW *__restrict__ w,
           int64_t rows, int64_t cols, const float *__restrict__ bias, int vec)
{
    const int PER = 16 / sizeof(TW);
    const int64_t STEP = 32 * PER;
    int lane = threadIdx.x & 31;
    int64_t r = blockIdx.x * (int64_t)(blockDim.x / 32) + threadIdx.x / 32;
    if (r >= rows)
        return;
    const TW *wr = w + r * cols;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++)
        acc[t] = 0.0f;
    if (vec) {
        for (int64_t k0 = (int64_t)lane * PER; k0 < cols; k0 += S_GEMV_UNROLL * STEP) {
            uint4 wv[S_GEMV_UNROLL];
#pragma unroll
            for (int u = 0; u < S_GEMV_UNROLL; u++) {
                int64_t k = k0 + u * STEP;
                wv[u] = k < cols ? __ldg((const uint4 *)(wr + k)) : make_uint4(0, 0, 0, 0);
            }
#pragma unroll
            for (int u = 0; u < S_GEMV_UNROLL; u++) {
                int64_t k = k0 + u * STEP;
                if (k >= cols)
                    break;
                float f[PER];
                s_unpack(wv[u], wr, f);
#pragma unroll
                for (int t = 0; t < NT; t++) {
                    if (t < n) {
                        const float4 *xt = (const float4 *)(x + t * cols + k);
#pragma unroll
                        for (int j = 0; j < PER / 4; j++) {
                            float4 xv = __ldg(xt + j);
                            acc[t] = fmaf(f[4 * j], xv.x, acc[t]);
                            acc[t] = fmaf(f[4 * j + 1], xv.y, acc[t]);
                            acc[t] = fmaf(f[4 * j + 2], xv.z, acc[t]);
                            acc[t] = fmaf(f[4 * j + 3], xv.w, acc[t]);
                        }
                    }
                }
            }
        }
    } else {
        for (int64_t k = lane; k < cols; k += 32) {
            float f = s_ld(wr, k);
#pragma unroll
            for (int t = 0; t < NT; t++)
                if (t < n)
                    acc[t] = fmaf(f, x[t * cols + k], acc[t]);
        }
    }
#pragma unroll
    for (int t = 0; t < NT; t++) {
        if (t < n) {
            float v = acc[t];
#pragma unroll
            for (int o = 16; o > 0; o >>= 1)
                v += __shfl_xor_sync(0xffffffffu, v, o);
            if (lane == 0)
                y[t * rows + r] = bias ? v + bias[r] : v;
        }
    }
}

__global__ void k_bias(float *y, const float *b, int64_t n_rows, int64_t rows)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n_rows * rows;
         i += (int64_t)gridDim.x * blockDim.x)
        y[i] += b[i % rows];
}

static const float *s_bias(struct gf_cuda *c, const struct gf_mat *bias, int *ok)
{
    enum gf_wtype dt;
    *ok = 1;
    if (!bias || !bias->data)
        return NULL;
    const void *p = gf_cuda_weight(c, bias, &dt);
    if (!p || dt != GF_WTYPE_F32) {
        if (p)
            c->host.log(GF_LOG_ERROR, "cuda:%d: a bias in backend memory must be f32", c->device);
        *ok = 0;
        return NULL;
    }
    return (const float *)p;
}

template <typename TW>
static void s_gemv_as(struct gf_cuda *c, float *y, const float *x, int n, const TW *w, int64_t rows,
                      int64_t cols, const float *b, int vec)
{
    unsigned blocks = (unsigned)((rows + 7) / 8); /* 8 warps, a row each; rows < 2^34 */
    if (n == 1)
        k_gemv<TW, 1><<<blocks, 256, 0, c->stream>>>(y, x, n, w, rows, cols, b, vec);
    else if (n == 2)
        k_gemv<TW, 2><<<blocks, 256, 0, c->stream>>>(y, x, n, w, rows, cols, b, vec);
    else if (n <= 4)
        k_gemv<TW, 4><<<blocks, 256, 0, c->stream>>>(y, x, n, w, rows, cols, b, vec);
    else
        k_gemv<TW, GF_CUDA_GEMV_MAX><<<blocks, 256, 0, c->stream>>>(y, x, n, w, rows, cols, b, vec);
    GF_LAUNCHED(c);
}

static void s_gemv(struct gf_cuda *c, float *y, const float *x, int n, const void *w,
                   enum gf_wtype dt, int64_t rows, int64_t cols, const float *b)
{
    int per = dt == GF_WTYPE_F32 ? 4 : 8;
    int vec = cols % per == 0 && (uintptr_t)w % 16 == 0 && (uintptr_t)x % 16 == 0;
    if (n < 1 || n > GF_CUDA_GEMV_MAX || (rows + 7) / 8 > 0x7fffffff) {
        gf_cuda_fail(c, __FILE__, __LINE__, "gemv", "batch or rows out of the kernel's range");
        return;
    }
    if (dt == GF_WTYPE_F32)
        s_gemv_as(c, y, x, n, (const float *)w, rows, cols, b, vec);
    else if (dt == GF_WTYPE_BF16)
        s_gemv_as(c, y, x, n, (const __nv_bfloat16 *)w, rows, cols, b, vec);
    else
        s_gemv_as(c, y, x, n, (const __half *)w, rows, cols, b, vec);
}

static cudaDataType_t s_cuda_type(enum gf_wtype dt)
{
    return dt == GF_WTYPE_F32 ? CUDA_R_32F : dt == GF_WTYPE_BF16 ? CUDA_R_16BF : CUDA_R_16F;
}

/* Column-major view: y_cm[rows][n] = W_cm[cols][rows]ᵀ · B_cm[cols][n]. */
void gf_cuda_gemm(struct gf_cuda *c, float *y, const void *b, int n, const void *w,
                  enum gf_wtype dt, int64_t rows, int64_t cols, const struct gf_mat *bias)
{
    int ok;
    const float *bp = s_bias(c, bias, &ok);
    if (!ok)
        return;
    const float one = 1.0f, zero = 0.0f;
    cublasComputeType_t ct = CUBLAS_COMPUTE_32F;
    if (dt == GF_WTYPE_F32 && c->mode != GF_CUDA_F32)
        ct = CUBLAS_COMPUTE_32F_FAST_TF32; /* activations as weights (VQ attention) in bf16 mode */
    GF_CUBLAS(c, cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)rows, n, (int)cols, &one, w,
                              s_cuda_type(dt), (int)cols, b, s_cuda_type(dt), (int)cols, &zero, y,
                              CUDA_R_32F, (int)rows, ct, CUBLAS_GEMM_DEFAULT));
    if (bp) {
        k_bias<<<gf_cuda_blocks((int64_t)n * rows, 256), 256, 0, c->stream>>>(y, bp, n, rows);
        GF_LAUNCHED(c);
    }
}

void gf_cuda_linear(struct gf_backend *be, float *y, const float *x, int n, const struct gf_mat *w,
                    const struct gf_mat *bias)
{
    struct gf_cuda *c = gf_cuda_of(be);
    enum gf_wtype dt;
    const void *wd = gf_cuda_weight(c, w, &dt);
    if (!wd || n <= 0)
        return;
    if (n <= GF_CUDA_GEMV_MAX) {
        int ok;
        const float *bp = s_bias(c, bias, &ok);
        if (ok)
            s_gemv(c, y, x, n, wd, dt, w->rows, w->cols, bp);
        return;
    }
    if (dt == GF_WTYPE_F32) {
        gf_cuda_gemm(c, y, x, n, wd, dt, w->rows, w->cols, bias);
        return;
    }
    /* half weights: the activations in the same dtype, as many tokens at a time as fit */
    int64_t chunk = (int64_t)(c->scratch_bytes / (2 * w->cols));
    for (int64_t t0 = 0; t0 < n; t0 += chunk) {
        int64_t m = n - t0 < chunk ? n - t0 : chunk;
        gf_cuda_convert(c, c->scratch, dt, x + t0 * w->cols, GF_WTYPE_F32, m * w->cols);
        gf_cuda_gemm(c, y + t0 * w->rows, c->scratch, (int)m, wd, dt, w->rows, w->cols, bias);
    }
}

void gf_cuda_conv2d(struct gf_backend *be, float *y, const float *x, int n, int h, int wd, int k,
                    const struct gf_mat *w, const struct gf_mat *bias, float *work,
                    int64_t work_len)
{
    struct gf_cuda *c = gf_cuda_of(be);
    int64_t pixels = (int64_t)n * h * wd, kk = w->cols;
    if (k == 1) { /* channels last: a 1x1 conv is a product over the channels */
        gf_cuda_linear(be, y, x, (int)pixels, w, bias);
        return;
    }
    enum gf_wtype dt;
    int cin = (int)(kk / (k * k));
    /* 3x3 with whole float4 channel runs: the weight tap-major, so im2col copies channel runs */
    int taps = k == 3 && cin % 4 == 0 && (uintptr_t)x % 16 == 0;
    const void *wdev = taps ? gf_cuda_weight_as(c, w, GF_CUDA_TAPS3, &dt) : NULL;
    if (!wdev) {
        taps = 0;
        wdev = gf_cuda_weight(c, w, &dt);
    }
    if (!wdev)
        return;
    int64_t chunk = (int64_t)(c->scratch_bytes / (kk * (dt == GF_WTYPE_F32 ? 4 : 2)));
    for (int64_t p0 = 0; p0 < pixels; p0 += chunk) {
        int64_t m = pixels - p0 < chunk ? pixels - p0 : chunk;
        gf_cuda_im2col(c, c->scratch, dt, x, h, wd, cin, k, p0, m, taps);
        gf_cuda_gemm(c, y + p0 * w->rows, c->scratch, (int)m, wdev, dt, w->rows, kk, bias);
    }
}
