/* measure.cu — the device's ceilings, measured the way the timings of tests/gpu are read: a
 * large device-to-device copy (HBM bandwidth, bytes read plus written) and large cuBLAS products
 * (bf16 with f32 accumulation; f32 without TF32). Each is the mean of 10 runs after 3 warm-ups,
 * timed with CUDA events, on data that is not all zeros. Also the timing events a backend lends
 * tests/gpu for its per-kernel timings (gf_cuda_event_fns). */
#include <cuda_bf16.h>
#include <stdio.h>

#include "kernels/cuda/cuda.h"

__global__ void k_fill(uint16_t *p, int64_t n) /* small bf16 values from a hash */
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        uint32_t h = (uint32_t)(i * 2654435761u) >> 16;
        __nv_bfloat16 v = __float2bfloat16_rn(((float)(h & 1023) - 512.0f) / 1024.0f);
        p[i] = *(uint16_t *)&v;
    }
}

#define S_TRY(call)                                                                                \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            snprintf(why, len, "%s:%d: %s: %s", __FILE__, __LINE__, #call,                         \
                     cudaGetErrorString(e_));                                                      \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)
#define S_TRY_BLAS(call)                                                                           \
    do {                                                                                           \
        cublasStatus_t s_ = (call);                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                         \
            snprintf(why, len, "%s:%d: %s: %s", __FILE__, __LINE__, #call, gf_cublas_str(s_));     \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

enum { WARM = 3, RUNS = 10 };

/* *tflops of n×n×n products of a and b (type dt) into c (f32), timed between e0 and e1. */
static int s_gemm_tflops(cublasHandle_t h, cudaEvent_t e0, cudaEvent_t e1, int n, const void *a,
                         const void *b, void *c, cudaDataType_t dt, double *tflops, char *why,
                         size_t len)
{
    const float one = 1.0f, zero = 0.0f;
    float ms = 0;
    for (int i = 0; i < WARM + RUNS; i++) {
        if (i == WARM)
            S_TRY(cudaEventRecord(e0));
        S_TRY_BLAS(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &one, a, dt, n, b, dt, n,
                                &zero, c, CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
    S_TRY(cudaEventRecord(e1));
    S_TRY(cudaEventSynchronize(e1));
    S_TRY(cudaEventElapsedTime(&ms, e0, e1));
    *tflops = 2.0 * n * n * (double)n * RUNS / (ms * 1e-3) * 1e-12;
    return 0;
out:
    return -1;
}

extern "C" __attribute__((visibility("default"))) int
gf_cuda_measure(int device, struct gf_cuda_ceilings *out, char *why, size_t len)
{
    const size_t copy_bytes = (size_t)2 << 30;
    const int G = 8192, F = 4096;
    void *a = NULL, *b = NULL, *c = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    cublasHandle_t h = NULL;
    cudaDeviceProp prop;
    float ms = 0;
    int rc = -1;
    memset(out, 0, sizeof *out);
    S_TRY(cudaSetDevice(device));
    gf_cuda_tls_device = device; /* what gf_cuda_of trusts */
    S_TRY(cudaGetDeviceProperties(&prop, device));
    snprintf(out->name, sizeof out->name, "%.120s", prop.name);
    out->sms = prop.multiProcessorCount;
    out->mem_gib = (double)prop.totalGlobalMem / (1 << 30);
    S_TRY(cudaEventCreate(&e0));
    S_TRY(cudaEventCreate(&e1));
    S_TRY(cudaMalloc(&a, copy_bytes));
    S_TRY(cudaMalloc(&b, copy_bytes));
    k_fill<<<4096, 256>>>((uint16_t *)a, (int64_t)(copy_bytes / 2));
    S_TRY(cudaGetLastError());
    for (int i = 0; i < WARM + RUNS; i++) {
        if (i == WARM)
            S_TRY(cudaEventRecord(e0));
        S_TRY(cudaMemcpyAsync(b, a, copy_bytes, cudaMemcpyDeviceToDevice));
    }
    S_TRY(cudaEventRecord(e1));
    S_TRY(cudaEventSynchronize(e1));
    S_TRY(cudaEventElapsedTime(&ms, e0, e1));
    out->copy_gbs = 2.0 * copy_bytes * RUNS / (ms * 1e-3) * 1e-9;

    /* bf16 products: a, b hold G*G bf16 each (128 MiB), c the f32 result */
    S_TRY(cudaMalloc(&c, (size_t)G * G * 4));
    S_TRY_BLAS(cublasCreate(&h));
    if (s_gemm_tflops(h, e0, e1, G, a, b, c, CUDA_R_16BF, &out->bf16_tflops, why, len) < 0)
        goto out;
    /* f32 products without TF32: F*F floats of the same (bf16-pattern) bytes are finite */
    S_TRY_BLAS(cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH));
    if (s_gemm_tflops(h, e0, e1, F, a, b, c, CUDA_R_32F, &out->f32_tflops, why, len) < 0)
        goto out;
    rc = 0;
out:
    if (h)
        cublasDestroy(h);
    cudaFree(a), cudaFree(b), cudaFree(c);
    if (e0)
        cudaEventDestroy(e0);
    if (e1)
        cudaEventDestroy(e1);
    return rc;
}

/* --- timing events on a backend's stream (abi.h: gf_cuda_event_fns) ------------------------ */

static int s_event_create(struct gf_backend *be, void **ev)
{
    struct gf_cuda *c = gf_cuda_of(be);
    cudaEvent_t e = NULL;
    *ev = NULL;
    if (!GF_CU(c, cudaEventCreate(&e)))
        return GF_EIO;
    *ev = (void *)e;
    return 0;
}

static int s_event_record(struct gf_backend *be, void *ev)
{
    struct gf_cuda *c = gf_cuda_of(be);
    if (!ev || c->capturing) { /* a timing event has no place in a recorded graph */
        c->host.log(GF_LOG_ERROR, "cuda:%d: %s", c->device,
                    ev ? "a timing event recorded while recording a graph" : "no event to record");
        return GF_EINVAL;
    }
    return GF_CU(c, cudaEventRecord((cudaEvent_t)ev, c->stream)) ? 0 : GF_EIO;
}

static int s_event_elapsed_ms(struct gf_backend *be, void *start, void *end, float *ms)
{
    struct gf_cuda *c = gf_cuda_of(be);
    *ms = 0;
    if (!start || !end)
        return GF_EINVAL;
    if (!GF_CU(c, cudaEventSynchronize((cudaEvent_t)end)) ||
        !GF_CU(c, cudaEventElapsedTime(ms, (cudaEvent_t)start, (cudaEvent_t)end))) {
        *ms = 0;
        return GF_EIO;
    }
    return 0;
}

static void s_event_destroy(struct gf_backend *be, void *ev)
{
    if (ev) {
        struct gf_cuda *c = gf_cuda_of(be);
        GF_CU(c, cudaEventDestroy((cudaEvent_t)ev));
    }
}

extern "C" __attribute__((visibility("default"))) const struct gf_cuda_event_fns gf_cuda_events = {
    s_event_create,
    s_event_record,
    s_event_elapsed_ms,
    s_event_destroy,
};
