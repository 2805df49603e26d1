/* linear.cu — matrix products: y[n][rows] = x[n][cols] · Wᵀ + b. Up to GF_CUDA_GEMV_MAX tokens
 * go to an own GEMV kernel (one warp per weight row, 16-byte loads, f32 accumulation: decode is
 * bound by reading the weights once); more go to cuBLAS (cublasGemmEx, f32 accumulation, the
 * activations converted to the weights' dtype in scratch first). conv2d is im2col into scratch,
 * a chunk of pixels at a time, then the same product; a 1x1 conv is the product itself.
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

/* 16 bytes of weights as 8 (or 4 for f32) floats */
__device__ __forceinline__ void s_unpack(const __nv_bfloat16 *w, float *f)
{
    uint4 u = *(const uint4 *)w;
    const __nv_bfloat162 *h = (const __nv_bfloat162 *)&u;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 v = __bfloat1622float2(h[i]);
        f[2 * i] = v.x, f[2 * i + 1] = v.y;
    }
}
__device__ __forceinline__ void s_unpack(const __half *w, float *f)
{
    uint4 u = *(const uint4 *)w;
    const __half2 *h = (const __half2 *)&u;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 v = __half22float2(h[i]);
        f[2 * i] = v.x, f[2 * i + 1] = v.y;
    }
}
__device__ __forceinline__ void s_unpack(const float *w, float *f)
{
    float4 u = *(const float4 *)w;
    f[0] = u.x, f[1] = u.y, f[2] = u.z, f[3] = u.w;
}

/* y[t][r] = Σ_k x[t][k]·w[r][k] (+ b[r]) for t < n: each lane sums its 16-byte pieces in order,
 * then a fixed butterfly across the warp. vec: cols is a multiple of the piece and rows are
 * 16-byte aligned; otherwise one element per lane per step. */
template <typename TW>
__global__ void k_gemv(float *y, const float *x, int n, const TW *w, int64_t rows, int64_t cols,
                       const float *bias, int vec)
{
    const int PER = 16 / sizeof(TW);
    int lane = threadIdx.x & 31;
    int64_t r = blockIdx.x * (int64_t)(blockDim.x / 32) + threadIdx.x / 32;
    if (r >= rows)
        return;
    const TW *wr = w + r * cols;
    float acc[GF_CUDA_GEMV_MAX];
#pragma unroll
    for (int t = 0; t < GF_CUDA_GEMV_MAX; t++)
        acc[t] = 0.0f;
    if (vec) {
#pragma unroll 4 /* several 16-byte loads in flight per lane */
        for (int64_t k = (int64_t)lane * PER; k < cols; k += 32 * PER) {
            float f[PER];
            s_unpack(wr + k, f);
#pragma unroll
            for (int t = 0; t < GF_CUDA_GEMV_MAX; t++) {
                if (t < n) {
                    const float *xt = x + t * cols + k;
#pragma unroll
                    for (int i = 0; i < PER; i++)
                        acc[t] = fmaf(f[i], xt[i], acc[t]);
                }
            }
        }
    } else {
        for (int64_t k = lane; k < cols; k += 32) {
            float f = s_ld(wr, k);
#pragma unroll
            for (int t = 0; t < GF_CUDA_GEMV_MAX; t++)
                if (t < n)
                    acc[t] = fmaf(f, x[t * cols + k], acc[t]);
        }
    }
#pragma unroll
    for (int t = 0; t < GF_CUDA_GEMV_MAX; t++) {
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

static void s_gemv(struct gf_cuda *c, float *y, const float *x, int n, const void *w,
                   enum gf_wtype dt, int64_t rows, int64_t cols, const float *b)
{
    int per = dt == GF_WTYPE_F32 ? 4 : 8;
    int vec = cols % per == 0 && (uintptr_t)w % 16 == 0 && (uintptr_t)x % 16 == 0;
    unsigned blocks = (unsigned)((rows + 7) / 8);
    if (dt == GF_WTYPE_F32)
        k_gemv<<<blocks, 256, 0, c->stream>>>(y, x, n, (const float *)w, rows, cols, b, vec);
    else if (dt == GF_WTYPE_BF16)
        k_gemv<<<blocks, 256, 0, c->stream>>>(y, x, n, (const __nv_bfloat16 *)w, rows, cols, b,
                                              vec);
    else
        k_gemv<<<blocks, 256, 0, c->stream>>>(y, x, n, (const __half *)w, rows, cols, b, vec);
    GF_LAUNCHED(c);
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
    const void *wdev = gf_cuda_weight(c, w, &dt);
    if (!wdev)
        return;
    int cin = (int)(kk / (k * k));
    int64_t chunk = (int64_t)(c->scratch_bytes / (kk * (dt == GF_WTYPE_F32 ? 4 : 2)));
    for (int64_t p0 = 0; p0 < pixels; p0 += chunk) {
        int64_t m = pixels - p0 < chunk ? pixels - p0 : chunk;
        gf_cuda_im2col(c, c->scratch, dt, x, h, wd, cin, k, p0, m);
        gf_cuda_gemm(c, y + p0 * w->rows, c->scratch, (int)m, wdev, dt, w->rows, kk, bias);
    }
}
