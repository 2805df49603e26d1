/* sample.cu — classifier-free guidance and the draw on the device, one block per draw, so that a
 * decode step sends only token ids to the host. The mix is computed without contraction (as the
 * host computes gf_cfg_mix), the argmax takes the lowest id on ties, and a draw follows
 * gf_sample: p_i = exp((l_i − max)/T) rounded to f32, summed in f64, walked in id order until
 * u·Σp is passed. The device sums each thread's run of ids first, so Σp and the running sums can
 * differ from the host's in the last bits: greedy tokens are the host's, drawn ones nearly
 * always. An id of probability 0 is never drawn, whatever the rounding. The same draw gives the
 * same token on the same device, whatever else is in the batch. */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "kernels/cuda/cuda.h"

#define S_THREADS 1024

__device__ __forceinline__ float s_mix(const float *c, const float *u, float w, int i)
{
    if (!u)
        return c[i];
    return __fadd_rn(u[i], __fmul_rn(w, __fsub_rn(c[i], u[i])));
}

__global__ void __launch_bounds__(S_THREADS)
    k_draw(int32_t *ids, const float *logits, int vocab, const struct gf_draw *draws)
{
    __shared__ float best_v[S_THREADS];
    __shared__ int best_i[S_THREADS];
    __shared__ double part[S_THREADS + 1];
    __shared__ int found, last_nz;
    const struct gf_draw d = draws[blockIdx.x];
    const float *c = logits + (int64_t)d.cond * vocab;
    const float *u = d.uncond >= 0 ? logits + (int64_t)d.uncond * vocab : NULL;
    int tid = threadIdx.x;

    float bv = -INFINITY;
    int bi = INT_MAX;
    for (int i = tid; i < vocab; i += blockDim.x) {
        float l = s_mix(c, u, d.cfg_weight, i);
        if (l > bv || (l == bv && i < bi))
            bv = l, bi = i;
    }
    best_v[tid] = bv, best_i[tid] = bi;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (tid < s) {
            float ov = best_v[tid + s];
            int oi = best_i[tid + s];
            if (ov > best_v[tid] || (ov == best_v[tid] && oi < best_i[tid]))
                best_v[tid] = ov, best_i[tid] = oi;
        }
        __syncthreads();
    }
    int arg = best_i[0] == INT_MAX ? 0 : best_i[0];
    if (d.temperature <= 0) {
        if (tid == 0)
            ids[blockIdx.x] = arg;
        return;
    }
    float mx = s_mix(c, u, d.cfg_weight, arg);
    double inv_t = 1.0 / d.temperature;
    int chunk = (vocab + blockDim.x - 1) / blockDim.x, lo = tid * chunk;
    int hi = lo + chunk < vocab ? lo + chunk : vocab;
    if (tid == 0) {
        part[0] = 0;
        found = INT_MAX;
        last_nz = -1;
    }
    __syncthreads();
    double sum = 0;
    int nz = -1; /* the run's last id of nonzero probability */
    for (int i = lo; i < hi; i++) {
        float p = (float)exp((double)(s_mix(c, u, d.cfg_weight, i) - mx) * inv_t);
        sum += p;
        if (p > 0)
            nz = i;
    }
    part[tid + 1] = sum;
    if (nz >= 0)
        atomicMax(&last_nz, nz);
    __syncthreads();
    if (tid == 0) /* running sums over the threads' runs, in id order */
        for (int t = 1; t <= (int)blockDim.x; t++)
            part[t] += part[t - 1];
    __syncthreads();
    double target = d.u * part[blockDim.x], acc = part[tid];
    if (target < part[tid + 1]) { /* the crossing is in this run or an earlier one */
        int pick = -1, run_nz = -1;
        for (int i = lo; i < hi; i++) {
            float p = (float)exp((double)(s_mix(c, u, d.cfg_weight, i) - mx) * inv_t);
            if (!(p > 0))
                continue; /* an id of probability 0 is never drawn */
            acc += p;
            run_nz = i;
            if (target < acc) {
                pick = i;
                break;
            }
        }
        /* the crossing run itself, missed by rounding (the run's sum was added in another
         * order than part[]): its last id of nonzero probability */
        if (pick < 0 && part[tid] <= target)
            pick = run_nz;
        if (pick >= 0)
            atomicMin(&found, pick);
    }
    __syncthreads();
    if (tid == 0) /* no crossing at all (u·Σp rounded up to Σp): the last id that can be drawn */
        ids[blockIdx.x] = found != INT_MAX ? found : last_nz >= 0 ? last_nz : arg;
}

void gf_cuda_sample(struct gf_backend *be, int32_t *ids, const float *logits, int vocab,
                    const struct gf_draw *draws, int n)
{
    struct gf_cuda *c = gf_cuda_of(be);
    if (n <= 0)
        return;
    if (n > GF_MAX_DRAWS) {
        gf_cuda_fail(c, __FILE__, __LINE__, "sample", "more than GF_MAX_DRAWS draws");
        return;
    }
    struct gf_draw *dd = (struct gf_draw *)c->draws;
    int32_t *di = (int32_t *)(dd + GF_MAX_DRAWS);
    /* through pinned memory when there is some: true async copies around the kernel */
    struct gf_draw *hd = (struct gf_draw *)c->h_draws;
    int32_t *hi = hd ? (int32_t *)(hd + GF_MAX_DRAWS) : ids;
    if (hd)
        memcpy(hd, draws, n * sizeof *draws);
    if (!GF_CU(c, cudaMemcpyAsync(dd, hd ? hd : draws, n * sizeof *draws, cudaMemcpyHostToDevice,
                                  c->stream)))
        return;
    k_draw<<<n, S_THREADS, 0, c->stream>>>(di, logits, vocab, dd);
    if (GF_LAUNCHED(c) &&
        GF_CU(c, cudaMemcpyAsync(hi, di, n * sizeof *ids, cudaMemcpyDeviceToHost, c->stream)) &&
        GF_CU(c, cudaStreamSynchronize(c->stream)) && hd)
        memcpy(ids, hi, n * sizeof *ids);
}
