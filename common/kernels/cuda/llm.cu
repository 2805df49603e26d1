/* llm.cu — the language model's element-wise and row ops: embedding gather, RMSNorm, RoPE, KV
 * cache store, attention over the cache, SwiGLU, GELU, residual add. One block per row for the
 * reductions, so each row is reduced in one fixed order whatever the batch (batch invariance);
 * sums in f32 with a fixed tree, matching the CPU's f32/f64 sums to about 1e-6 relative. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>

#include "kernels/cuda/cuda.h"

#define S_GRID(count) gf_cuda_blocks((count), 256), 256, 0, c->stream
#define S_FOR(i, count)                                                                            \
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (count);                  \
         i += (int64_t)gridDim.x * blockDim.x)

/* Sum over the block (blockDim.x a multiple of 32, at most 1024), the same order every call. */
__device__ float s_block_sum(float v, float *red)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads(); /* red may still be read from an earlier call */
    if (lane == 0)
        red[warp] = v;
    __syncthreads();
    float s = 0;
    for (int i = 0; i < nw; i++)
        s += red[i];
    return s;
}

__device__ float s_block_max(float v, float *red)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();
    if (lane == 0)
        red[warp] = v;
    __syncthreads();
    float m = -INFINITY;
    for (int i = 0; i < nw; i++)
        m = fmaxf(m, red[i]);
    return m;
}

/* --- embed ------------------------------------------------------------------------------------ */

template <typename T> __device__ __forceinline__ float s_get(const T *p, int64_t i);
template <> __device__ __forceinline__ float s_get(const float *p, int64_t i)
{
    return p[i];
}
template <> __device__ __forceinline__ float s_get(const __nv_bfloat16 *p, int64_t i)
{
    return __bfloat162float(p[i]);
}
template <> __device__ __forceinline__ float s_get(const __half *p, int64_t i)
{
    return __half2float(p[i]);
}

template <typename T>
__global__ void k_embed(float *y, const T *table, const int32_t *ids, int64_t cols)
{
    int64_t t = blockIdx.x, row = ids[t];
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
        y[t * cols + j] = s_get(table, row * cols + j);
}

void gf_cuda_embed(struct gf_backend *be, float *y, const struct gf_mat *table, const int32_t *ids,
                   int n)
{
    struct gf_cuda *c = gf_cuda_of(be);
    enum gf_wtype dt;
    const void *tb = gf_cuda_weight(c, table, &dt);
    if (!tb || n <= 0)
        return;
    if (dt == GF_WTYPE_F32)
        k_embed<<<n, 256, 0, c->stream>>>(y, (const float *)tb, ids, table->cols);
    else if (dt == GF_WTYPE_BF16)
        k_embed<<<n, 256, 0, c->stream>>>(y, (const __nv_bfloat16 *)tb, ids, table->cols);
    else
        k_embed<<<n, 256, 0, c->stream>>>(y, (const __half *)tb, ids, table->cols);
    GF_LAUNCHED(c);
}

/* --- RMSNorm ---------------------------------------------------------------------------------- */

__global__ void k_rmsnorm(float *y, const float *x, int dim, const float *w, float eps)
{
    __shared__ float red[32];
    const float *xr = x + (int64_t)blockIdx.x * dim;
    float *yr = y + (int64_t)blockIdx.x * dim;
    float ss = 0;
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        ss = fmaf(xr[i], xr[i], ss);
    ss = s_block_sum(ss, red);
    float inv = (float)(1.0 / sqrt((double)ss / dim + eps));
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        yr[i] = xr[i] * inv * w[i];
}

void gf_cuda_rmsnorm(struct gf_backend *be, float *y, const float *x, int n, int dim,
                     const struct gf_mat *w, float eps)
{
    struct gf_cuda *c = gf_cuda_of(be);
    enum gf_wtype dt;
    const void *wd = gf_cuda_weight(c, w, &dt);
    if (!wd || n <= 0)
        return;
    k_rmsnorm<<<n, 256, 0, c->stream>>>(y, x, dim, (const float *)wd, eps);
    GF_LAUNCHED(c);
}

/* --- RoPE (rotate half), angles as the CPU computes them ------------------------------------- */

__global__ void k_rope(float *x, int stride, int n_heads, int head_dim, const int32_t *pos,
                       float theta)
{
    int t = blockIdx.x, half = head_dim / 2;
    for (int e = threadIdx.x; e < n_heads * half; e += blockDim.x) {
        int h = e / half, j = e % half;
        float inv_freq = (float)(1.0 / pow((double)theta, (double)(2 * j) / head_dim));
        float ang = (float)pos[t] * inv_freq;
        /* sin and cos in f64, rounded once: the correctly rounded f32 values glibc gives */
        float cs = (float)cos((double)ang), sn = (float)sin((double)ang);
        float *v = x + (int64_t)t * stride + h * head_dim;
        float a = v[j], b = v[j + half];
        v[j] = a * cs - b * sn;
        v[j + half] = b * cs + a * sn;
    }
}

void gf_cuda_rope(struct gf_backend *be, float *x, int n, int stride, int n_heads, int head_dim,
                  const int32_t *pos, float theta)
{
    struct gf_cuda *c = gf_cuda_of(be);
    if (n <= 0)
        return;
    k_rope<<<n, 128, 0, c->stream>>>(x, stride, n_heads, head_dim, pos, theta);
    GF_LAUNCHED(c);
}

/* --- KV cache and attention ------------------------------------------------------------------- */

__global__ void k_kv_store(float *kc, float *vc, const float *k, const float *v,
                           const int32_t *slot, const int32_t *pos, int max_seq, int kv_dim)
{
    int t = blockIdx.x;
    int64_t off = ((int64_t)slot[t] * max_seq + pos[t]) * kv_dim;
    for (int i = threadIdx.x; i < kv_dim; i += blockDim.x) {
        kc[off + i] = k[(int64_t)t * kv_dim + i];
        vc[off + i] = v[(int64_t)t * kv_dim + i];
    }
}

void gf_cuda_kv_store(struct gf_backend *be, const struct gf_attn *a, const float *k,
                      const float *v, int n)
{
    struct gf_cuda *c = gf_cuda_of(be);
    if (n <= 0)
        return;
    k_kv_store<<<n, 256, 0, c->stream>>>(a->k, a->v, k, v, a->slot, a->pos, a->max_seq,
                                         a->n_kv_heads * a->head_dim);
    GF_LAUNCHED(c);
}

#define S_ATTN_THREADS 256

/* One block per (head, token): scores q·k over positions 0..pos of the token's slot (a warp per
 * position), softmax, then out = Σ p·v with the positions split over nsub groups of threads and
 * the partial sums added in a fixed order. Shared: q[hd], scores[max_seq], part[nsub][hd]. */
__global__ void k_attention(float *out, const float *q, const float *kc, const float *vc,
                            const int32_t *slot, const int32_t *pos, int n_heads, int n_kv_heads,
                            int hd, int max_seq, float scale)
{
    extern __shared__ float sm[];
    __shared__ float red[32];
    int h = blockIdx.x, t = blockIdx.y, tid = threadIdx.x;
    int lane = tid & 31, warp = tid >> 5, nw = blockDim.x >> 5;
    int kv_dim = n_kv_heads * hd, group = n_heads / n_kv_heads, len = pos[t] + 1;
    float *qs = sm, *sc = sm + hd, *part = sc + max_seq;
    const float *qh = q + ((int64_t)t * n_heads + h) * hd;
    int64_t base = (int64_t)slot[t] * max_seq * kv_dim + (int64_t)(h / group) * hd;
    for (int i = tid; i < hd; i += blockDim.x)
        qs[i] = qh[i];
    __syncthreads();
    for (int p = warp; p < len; p += nw) {
        const float *kp = kc + base + (int64_t)p * kv_dim;
        float s = 0;
        for (int i = lane; i < hd; i += 32)
            s = fmaf(qs[i], kp[i], s);
        for (int o = 16; o > 0; o >>= 1)
            s += __shfl_xor_sync(0xffffffffu, s, o);
        if (lane == 0)
            sc[p] = s * scale;
    }
    __syncthreads();
    float mx = -INFINITY;
    for (int p = tid; p < len; p += blockDim.x)
        mx = fmaxf(mx, sc[p]);
    mx = s_block_max(mx, red);
    float sum = 0;
    for (int p = tid; p < len; p += blockDim.x) {
        float e = expf(sc[p] - mx);
        sc[p] = e;
        sum += e;
    }
    sum = s_block_sum(sum, red); /* its barriers also publish sc[] */
    int nsub = hd <= (int)blockDim.x ? blockDim.x / hd : 1;
    int sub = tid / hd < nsub ? tid / hd : -1;
    if (sub >= 0)
        for (int i = tid % hd; i < hd; i += (hd <= (int)blockDim.x ? hd : blockDim.x)) {
            float acc = 0;
            for (int p = sub; p < len; p += nsub)
                acc = fmaf(sc[p], vc[base + (int64_t)p * kv_dim + i], acc);
            part[sub * hd + i] = acc;
        }
    __syncthreads();
    float *o = out + ((int64_t)t * n_heads + h) * hd;
    for (int i = tid; i < hd; i += blockDim.x) {
        float acc = 0;
        for (int s = 0; s < nsub; s++)
            acc += part[s * hd + i];
        o[i] = acc / sum;
    }
}

static size_t s_attn_smem(int hd, int max_seq)
{
    int nsub = hd <= S_ATTN_THREADS ? S_ATTN_THREADS / hd : 1;
    return ((size_t)hd + max_seq + (size_t)nsub * hd) * sizeof(float);
}

int gf_cuda_attention_init(struct gf_cuda *c)
{
    int dev_max = 0;
    if (!GF_CU(c, cudaDeviceGetAttribute(&dev_max, cudaDevAttrMaxSharedMemoryPerBlockOptin,
                                         c->device)))
        return GF_EIO;
    c->attn_smem = dev_max < GF_CUDA_ATTN_SMEM ? dev_max : GF_CUDA_ATTN_SMEM;
    if (!GF_CU(c, cudaFuncSetAttribute(k_attention, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       (int)c->attn_smem)))
        return GF_EIO;
    return 0;
}

void gf_cuda_attention(struct gf_backend *be, float *out, const float *q, int n,
                       const struct gf_attn *a)
{
    struct gf_cuda *c = gf_cuda_of(be);
    if (n <= 0)
        return;
    size_t smem = s_attn_smem(a->head_dim, a->max_seq);
    if (smem > c->attn_smem) {
        gf_cuda_fail(c, __FILE__, __LINE__, "attention",
                     "max_seq too long for one block's shared memory");
        return;
    }
    dim3 grid(a->n_heads, n);
    k_attention<<<grid, S_ATTN_THREADS, smem, c->stream>>>(
        out, q, a->k, a->v, a->slot, a->pos, a->n_heads, a->n_kv_heads, a->head_dim, a->max_seq,
        (float)(1.0 / sqrt((double)a->head_dim)));
    GF_LAUNCHED(c);
}

/* --- element-wise ----------------------------------------------------------------------------- */

__global__ void k_swiglu(float *y, const float *g, const float *u, int64_t count)
{
    S_FOR(i, count)
    {
        float gv = g[i];
        y[i] = gv / (1.0f + expf(-gv)) * u[i];
    }
}

__global__ void k_gelu(float *x, int64_t count)
{
    S_FOR(i, count)
    {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    }
}

__global__ void k_add(float *y, const float *x, int64_t count)
{
    S_FOR(i, count)
    {
        y[i] += x[i];
    }
}

void gf_cuda_swiglu(struct gf_backend *be, float *y, const float *gate, const float *up,
                    int64_t count)
{
    struct gf_cuda *c = gf_cuda_of(be);
    if (count <= 0)
        return;
    k_swiglu<<<S_GRID(count)>>>(y, gate, up, count);
    GF_LAUNCHED(c);
}

void gf_cuda_gelu(struct gf_backend *be, float *x, int64_t count)
{
    struct gf_cuda *c = gf_cuda_of(be);
    if (count <= 0)
        return;
    k_gelu<<<S_GRID(count)>>>(x, count);
    GF_LAUNCHED(c);
}

void gf_cuda_add(struct gf_backend *be, float *y, const float *x, int64_t count)
{
    struct gf_cuda *c = gf_cuda_of(be);
    if (count <= 0)
        return;
    k_add<<<S_GRID(count)>>>(y, x, count);
    GF_LAUNCHED(c);
}
