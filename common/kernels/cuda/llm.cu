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

/* Token t's k and v ([n_kv_heads][hd]) to position pos[t] of each head of its slot, in the
 * order of struct gf_attn: [slot][kv head][position][hd]. */
__global__ void k_kv_store(float *kc, float *vc, const float *k, const float *v,
                           const int32_t *slot, const int32_t *pos, int max_seq, int n_kv_heads,
                           int hd)
{
    int t = blockIdx.x, kv_dim = n_kv_heads * hd;
    for (int i = threadIdx.x; i < kv_dim; i += blockDim.x) {
        int64_t off = (((int64_t)slot[t] * n_kv_heads + i / hd) * max_seq + pos[t]) * hd + i % hd;
        kc[off] = k[(int64_t)t * kv_dim + i];
        vc[off] = v[(int64_t)t * kv_dim + i];
    }
}

void gf_cuda_kv_store(struct gf_backend *be, const struct gf_attn *a, const float *k,
                      const float *v, int n)
{
    struct gf_cuda *c = gf_cuda_of(be);
    if (n <= 0)
        return;
    k_kv_store<<<n, 256, 0, c->stream>>>((float *)a->k, (float *)a->v, k, v, a->slot, a->pos,
                                         a->max_seq, a->n_kv_heads, a->head_dim);
    GF_LAUNCHED(c);
}

#define S_ATTN_THREADS 128

/* Split-K (flash-decoding) attention, pass 1. One block per (position chunk, head, token):
 * scores q·k over the chunk's positions (a warp per position), their max m, e = exp(s − m),
 * l = Σe and o = Σ e·v with the positions split over nsub groups of threads and the partial sums
 * added in a fixed order. part[(tl*n_heads + h)*n_chunks + ci] = {o[hd], m, l}; a chunk past
 * the token's position writes m = −inf, l = 0 only. Shared: q[hd], e[chunk], sums[nsub][hd]. */
__global__ void __launch_bounds__(S_ATTN_THREADS)
    k_attn_chunk(float *part, const float *q, const float *kc, const float *vc, const int32_t *slot,
                 const int32_t *pos, int t0, int n_heads, int n_kv_heads, int hd, int max_seq,
                 int chunk, int n_chunks, float scale)
{
    extern __shared__ float sm[];
    __shared__ float red[32];
    int ci = blockIdx.x, h = blockIdx.y, tl = blockIdx.z, t = t0 + tl, tid = threadIdx.x;
    int lane = tid & 31, warp = tid >> 5, nw = blockDim.x >> 5;
    int group = n_heads / n_kv_heads;
    int len = pos[t] + 1 < max_seq ? pos[t] + 1 : max_seq; /* the caller checked pos < max_seq */
    int p0 = ci * chunk, p1 = p0 + chunk < len ? p0 + chunk : len;
    float *pr = part + (((int64_t)tl * n_heads + h) * n_chunks + ci) * (hd + 2);
    if (p0 >= p1) { /* nothing of this chunk is seen: the combine skips it */
        if (tid == 0)
            pr[hd] = -INFINITY, pr[hd + 1] = 0;
        return;
    }
    float *qs = sm, *sc = sm + hd, *sums = sc + chunk;
    const float *qh = q + ((int64_t)t * n_heads + h) * hd;
    int64_t base = ((int64_t)slot[t] * n_kv_heads + h / group) * max_seq * hd; /* position 0 */
    for (int i = tid; i < hd; i += blockDim.x)
        qs[i] = qh[i];
    __syncthreads();
    for (int p = p0 + warp; p < p1; p += nw) {
        const float *kp = kc + base + (int64_t)p * hd;
        float s = 0;
        for (int i = lane; i < hd; i += 32)
            s = fmaf(qs[i], kp[i], s);
        for (int o = 16; o > 0; o >>= 1)
            s += __shfl_xor_sync(0xffffffffu, s, o);
        if (lane == 0)
            sc[p - p0] = s * scale;
    }
    __syncthreads();
    int cl = p1 - p0;
    float mx = -INFINITY;
    for (int p = tid; p < cl; p += blockDim.x)
        mx = fmaxf(mx, sc[p]);
    mx = s_block_max(mx, red);
    float sum = 0;
    for (int p = tid; p < cl; p += blockDim.x) {
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
            for (int p = sub; p < cl; p += nsub)
                acc = fmaf(sc[p], vc[base + (int64_t)(p0 + p) * hd + i], acc);
            sums[sub * hd + i] = acc;
        }
    __syncthreads();
    for (int i = tid; i < hd; i += blockDim.x) {
        float acc = 0;
        for (int s = 0; s < nsub; s++)
            acc += sums[s * hd + i];
        pr[i] = acc;
    }
    if (tid == 0)
        pr[hd] = mx, pr[hd + 1] = sum;
}

/* Pass 2, one block per (head, token): out = Σ_c w_c·o_c / Σ_c w_c·l_c, w_c = exp(m_c − max m),
 * over the token's chunks in order. */
__global__ void k_attn_combine(float *out, const float *part, const int32_t *pos, int t0,
                               int n_heads, int hd, int max_seq, int chunk, int n_chunks)
{
    int h = blockIdx.x, tl = blockIdx.y, t = t0 + tl;
    int len = pos[t] + 1 < max_seq ? pos[t] + 1 : max_seq;
    int nc = (len + chunk - 1) / chunk;
    nc = nc < n_chunks ? nc : n_chunks;
    const float *pr = part + ((int64_t)tl * n_heads + h) * n_chunks * (hd + 2);
    float m = -INFINITY;
    for (int ci = 0; ci < nc; ci++)
        m = fmaxf(m, pr[(int64_t)ci * (hd + 2) + hd]);
    float l = 0;
    for (int ci = 0; ci < nc; ci++)
        l += expf(pr[(int64_t)ci * (hd + 2) + hd] - m) * pr[(int64_t)ci * (hd + 2) + hd + 1];
    float *o = out + ((int64_t)t * n_heads + h) * hd;
    for (int i = threadIdx.x; i < hd; i += blockDim.x) {
        float acc = 0;
        for (int ci = 0; ci < nc; ci++) {
            const float *pc = pr + (int64_t)ci * (hd + 2);
            acc = fmaf(expf(pc[hd] - m), pc[i], acc);
        }
        o[i] = acc / l;
    }
}

/* The chunk for this cache shape (a function of the shape only, so every token is split the same
 * way whatever the batch), the number of chunks, and one token's bytes of partials; chunk 0 when
 * one token's partials do not fit the scratch even at GF_CUDA_ATTN_CHUNK_MAX. */
static int s_attn_chunk(const struct gf_cuda *c, const struct gf_attn *a, int *n_chunks,
                        size_t *per_token)
{
    for (int chunk = GF_CUDA_ATTN_CHUNK; chunk <= GF_CUDA_ATTN_CHUNK_MAX; chunk *= 2) {
        *n_chunks = (a->max_seq + chunk - 1) / chunk;
        *per_token = (size_t)a->n_heads * *n_chunks * (a->head_dim + 2) * sizeof(float);
        if (*per_token <= c->scratch_bytes)
            return chunk;
    }
    return 0;
}

static size_t s_attn_smem(int hd, int chunk)
{
    int nsub = hd <= S_ATTN_THREADS ? S_ATTN_THREADS / hd : 1;
    return ((size_t)hd + chunk + (size_t)nsub * hd) * sizeof(float);
}

void gf_cuda_attention(struct gf_backend *be, float *out, const float *q, int n,
                       const struct gf_attn *a)
{
    struct gf_cuda *c = gf_cuda_of(be);
    if (n <= 0)
        return;
    int n_chunks = 0;
    size_t per_token = 0;
    int chunk = s_attn_chunk(c, a, &n_chunks, &per_token);
    size_t smem = chunk ? s_attn_smem(a->head_dim, chunk) : 0;
    if (!chunk || smem + 32 * sizeof(float) > (48 << 10) || a->head_dim < 1 || a->n_kv_heads < 1 ||
        a->n_heads % a->n_kv_heads || a->n_heads > 65535 || a->kv_dtype != GF_WTYPE_F32) {
        gf_cuda_fail(c, __FILE__, __LINE__, "attention",
                     "cache shape beyond the kernel (head_dim, heads or max_seq too large, "
                     "or a cache not in f32)");
        return;
    }
    /* tokens per launch: as many as the scratch holds partials for, at most 65535 (grid.z) */
    int64_t group = (int64_t)(c->scratch_bytes / per_token);
    group = group < n ? group : n;
    group = group < 65535 ? group : 65535;
    float scale = (float)(1.0 / sqrt((double)a->head_dim));
    float *part = (float *)c->scratch;
    for (int t0 = 0; t0 < n; t0 += (int)group) {
        int m = n - t0 < group ? n - t0 : (int)group;
        dim3 grid(n_chunks, a->n_heads, m), cgrid(a->n_heads, m);
        k_attn_chunk<<<grid, S_ATTN_THREADS, smem, c->stream>>>(
            part, q, (const float *)a->k, (const float *)a->v, a->slot, a->pos, t0, a->n_heads,
            a->n_kv_heads, a->head_dim, a->max_seq, chunk, n_chunks, scale);
        if (!GF_LAUNCHED(c))
            return;
        k_attn_combine<<<cgrid, 128, 0, c->stream>>>(out, part, a->pos, t0, a->n_heads, a->head_dim,
                                                     a->max_seq, chunk, n_chunks);
        if (!GF_LAUNCHED(c))
            return;
    }
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
