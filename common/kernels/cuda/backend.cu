/* backend.cu — the CUDA backend's life cycle, memory and weight residency: one CUDA stream and
 * one cuBLAS handle per backend, activations in device memory from ops->alloc, weights copied to
 * the device once (keyed by their host pointer) in the dtype the mode computes in, and the memory
 * budget checked before a model loads. Every CUDA and cuBLAS call is checked (GF_CU, GF_CUBLAS):
 * a failure is logged with file and line and counted until ops->check reads it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda.h"

#define S_MAX_LOGGED 8

__thread int gf_cuda_tls_device = -1;

void gf_cuda_bind(struct gf_cuda *c)
{
    if (cudaSetDevice(c->device) == cudaSuccess)
        gf_cuda_tls_device = c->device;
    else
        GF_CU(c, cudaGetLastError());
}

const char *gf_cublas_str(cublasStatus_t st)
{
    switch (st) {
    case CUBLAS_STATUS_SUCCESS:
        return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED:
        return "cuBLAS not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED:
        return "cuBLAS allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE:
        return "cuBLAS invalid value";
    case CUBLAS_STATUS_ARCH_MISMATCH:
        return "cuBLAS architecture mismatch";
    case CUBLAS_STATUS_MAPPING_ERROR:
        return "cuBLAS mapping error";
    case CUBLAS_STATUS_EXECUTION_FAILED:
        return "cuBLAS execution failed";
    case CUBLAS_STATUS_INTERNAL_ERROR:
        return "cuBLAS internal error";
    case CUBLAS_STATUS_NOT_SUPPORTED:
        return "cuBLAS operation not supported";
    default:
        return "cuBLAS error";
    }
}

void gf_cuda_fail(struct gf_cuda *c, const char *file, int line, const char *call, const char *err)
{
    c->n_failed++;
    if (c->n_logged++ < S_MAX_LOGGED)
        c->host.log(GF_LOG_ERROR, "cuda:%d: %s:%d: %s: %s", c->device, file, line, call, err);
    else if (c->n_logged == S_MAX_LOGGED + 1)
        c->host.log(GF_LOG_ERROR, "cuda:%d: more device errors follow, not logged", c->device);
}

/* --- memory ------------------------------------------------------------------------------- */

static void *s_alloc(struct gf_backend *be, size_t bytes)
{
    struct gf_cuda *c = gf_cuda_of(be);
    void *p = NULL;
    size_t n = bytes ? bytes : 1;
    if (c->n_allocs == c->cap_allocs) {
        int cap = c->cap_allocs ? 2 * c->cap_allocs : 64;
        void *a = realloc(c->allocs, cap * sizeof *c->allocs);
        if (!a)
            return NULL;
        c->allocs = (struct gf_cuda_alloc *)a;
        c->cap_allocs = cap;
    }
    if (cudaMalloc(&p, n) != cudaSuccess) { /* out of memory: the caller reports it */
        cudaGetLastError();
        return NULL;
    }
    if (!GF_CU(c, cudaMemsetAsync(p, 0, n, c->stream)) ||
        !GF_CU(c, cudaStreamSynchronize(c->stream))) {
        cudaFree(p);
        return NULL;
    }
    c->allocs[c->n_allocs++] = (struct gf_cuda_alloc){(uintptr_t)p, n};
    return p;
}

static void s_free(struct gf_backend *be, void *p)
{
    struct gf_cuda *c = gf_cuda_of(be);
    if (!p)
        return;
    for (int i = 0; i < c->n_allocs; i++)
        if (c->allocs[i].base == (uintptr_t)p) {
            c->allocs[i] = c->allocs[--c->n_allocs];
            break;
        }
    GF_CU(c, cudaStreamSynchronize(c->stream));
    GF_CU(c, cudaFree(p));
}

static int s_is_backend_memory(const struct gf_cuda *c, const void *p)
{
    uintptr_t a = (uintptr_t)p;
    for (int i = 0; i < c->n_allocs; i++)
        if (a >= c->allocs[i].base && a < c->allocs[i].base + c->allocs[i].bytes)
            return 1;
    return 0;
}

static void s_to_host(struct gf_backend *be, void *dst, const void *src, size_t bytes)
{
    struct gf_cuda *c = gf_cuda_of(be);
    if (GF_CU(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream)))
        GF_CU(c, cudaStreamSynchronize(c->stream));
}

static void s_copy(struct gf_backend *be, void *dst, const void *src, size_t bytes)
{
    struct gf_cuda *c = gf_cuda_of(be);
    GF_CU(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c->stream));
}

static void s_to_device(struct gf_backend *be, void *dst, const void *src, size_t bytes)
{
    struct gf_cuda *c = gf_cuda_of(be);
    if (c->stage && !c->capturing && bytes <= GF_CUDA_STAGE_BYTES) {
        /* small copies (a step's ids, slots, positions) through a pinned slot: a true async
         * DMA; the slot is reused only after the event recorded behind its last copy */
        int i = c->stage_next;
        c->stage_next = (i + 1) % GF_CUDA_STAGE_SLOTS;
        char *slot = c->stage + (size_t)i * GF_CUDA_STAGE_BYTES;
        if (!GF_CU(c, cudaEventSynchronize(c->stage_done[i])))
            return;
        memcpy(slot, src, bytes);
        if (GF_CU(c, cudaMemcpyAsync(dst, slot, bytes, cudaMemcpyHostToDevice, c->stream)))
            GF_CU(c, cudaEventRecord(c->stage_done[i], c->stream));
        return;
    }
    /* from pageable memory: returns once src has been staged, so the caller may reuse it */
    GF_CU(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream));
}

/* --- weight residency ------------------------------------------------------------------------ */

static size_t s_size(enum gf_wtype dt)
{
    return dt == GF_WTYPE_F32 ? 4 : 2;
}

enum gf_wtype gf_cuda_wtype(const struct gf_cuda *c, const struct gf_mat *w)
{
    if (c->mode == GF_CUDA_F32 || w->rows == 1 || w->cols == 1)
        return GF_WTYPE_F32; /* vectors (norms, biases) stay f32 in every mode */
    return w->dtype == GF_WTYPE_F16 ? GF_WTYPE_F16 : GF_WTYPE_BF16;
}

static size_t s_slot(const struct gf_cuda *c, const void *host)
{
    uint64_t h = (uint64_t)(uintptr_t)host * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) & (c->cap_res - 1);
}

/* The entry of host, or NULL; never an empty slot (host NULL is no weight). */
static struct gf_cuda_res *s_find(struct gf_cuda *c, const void *host)
{
    if (!c->cap_res || !host)
        return NULL;
    for (size_t i = s_slot(c, host);; i = (i + 1) & (c->cap_res - 1)) {
        if (c->res[i].host == host)
            return &c->res[i];
        if (!c->res[i].host)
            return NULL;
    }
}

static int s_insert(struct gf_cuda *c, const struct gf_cuda_res *r)
{
    if (2 * (c->n_res + 1) > c->cap_res) {
        size_t cap = c->cap_res ? 2 * c->cap_res : 256;
        struct gf_cuda_res *old = c->res;
        size_t old_cap = c->cap_res;
        c->res = (struct gf_cuda_res *)calloc(cap, sizeof *c->res);
        if (!c->res) {
            c->res = old;
            return GF_ENOMEM;
        }
        c->cap_res = cap;
        c->n_res = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].host)
                s_insert(c, &old[i]);
        free(old);
    }
    size_t i = s_slot(c, r->host);
    while (c->res[i].host)
        i = (i + 1) & (c->cap_res - 1);
    c->res[i] = *r;
    c->n_res++;
    return 0;
}

/* 16 words spread over the stored bytes, hashed: tells another weight put at a freed weight's
 * host address (same dtype and shape) from the one uploaded, for 16 reads a use. */
static uint64_t s_fingerprint(const void *data, size_t bytes)
{
    const unsigned char *p = (const unsigned char *)data;
    uint64_t h = 0xcbf29ce484222325ull ^ bytes;
    for (size_t i = 0; i < 16; i++) {
        size_t off = bytes > 8 ? (bytes - 8) / 15 * i : 0, len = bytes < 8 ? bytes : 8;
        uint64_t v = 0;
        memcpy(&v, p + off, len);
        h = (h ^ v) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    return h;
}

static size_t s_stored_bytes(const struct gf_mat *w)
{
    return (size_t)(w->rows * w->cols) * s_size(w->dtype);
}

/* Copies w into r (r->host set) in its device dtype and layout: the stored bytes first, then a
 * conversion, then the permutation. 0, or < 0 with r->dev NULL. */
static int s_fill(struct gf_cuda *c, const struct gf_mat *w, enum gf_cuda_layout layout,
                  struct gf_cuda_res *r)
{
    int64_t count = w->rows * w->cols;
    size_t stored = s_stored_bytes(w);
    r->dtype = gf_cuda_wtype(c, w);
    r->host_dtype = w->dtype;
    r->rows = w->rows, r->cols = w->cols;
    r->layout = layout;
    r->print = s_fingerprint(w->data, stored);
    r->bytes = count * s_size(r->dtype);
    r->dev = NULL;
    void *stage = NULL, *plain = NULL;
    if (c->capturing) { /* no allocation may happen while a step is being recorded */
        c->host.log(GF_LOG_WARN, "cuda:%d: a %lldx%lld weight is not resident while recording",
                    c->device, (long long)w->rows, (long long)w->cols);
        c->n_failed++;
        return GF_EAGAIN;
    }
    if (cudaMalloc(&r->dev, r->bytes ? r->bytes : 1) != cudaSuccess) {
        cudaGetLastError();
        r->dev = NULL;
        c->host.log(GF_LOG_ERROR, "cuda:%d: out of device memory for a %lldx%lld weight (%zu MiB)",
                    c->device, (long long)w->rows, (long long)w->cols, r->bytes >> 20);
        c->n_failed++;
        return GF_ENOMEM;
    }
    /* Copies on the backend's stream: a cudaMemcpy from pageable memory may return before its
     * DMA lands, and the stream is non-blocking, so only stream order makes the conversion (and
     * every later op) see the bytes. */
    int ok = 1;
    void *conv = r->dev; /* where the device dtype lands: r->dev, or a copy to permute */
    if (layout != GF_CUDA_AS_STORED) {
        ok = GF_CU(c, cudaMalloc(&plain, r->bytes ? r->bytes : 1));
        conv = plain;
    }
    if (ok && r->dtype == w->dtype) {
        ok = GF_CU(c, cudaMemcpyAsync(conv, w->data, stored, cudaMemcpyHostToDevice, c->stream));
    } else if (ok) {
        ok = GF_CU(c, cudaMalloc(&stage, stored ? stored : 1)) &&
             GF_CU(c, cudaMemcpyAsync(stage, w->data, stored, cudaMemcpyHostToDevice, c->stream));
        if (ok)
            gf_cuda_convert(c, conv, r->dtype, stage, w->dtype, count);
    }
    if (ok && layout == GF_CUDA_TAPS3)
        gf_cuda_taps(c, r->dev, plain, r->dtype, w->rows, w->cols / 9, 9);
    ok = GF_CU(c, cudaStreamSynchronize(c->stream)) && ok;
    if (stage)
        GF_CU(c, cudaFree(stage));
    if (plain)
        GF_CU(c, cudaFree(plain));
    if (!ok) {
        cudaFree(r->dev);
        r->dev = NULL;
        return GF_EIO;
    }
    c->res_bytes += r->bytes;
    return 0;
}

/* Whether r still is w's device copy in layout. */
static int s_same(const struct gf_cuda *c, const struct gf_cuda_res *r, const struct gf_mat *w,
                  enum gf_cuda_layout layout)
{
    return r->host_dtype == w->dtype && r->rows == w->rows && r->cols == w->cols &&
           r->layout == layout && r->dtype == gf_cuda_wtype(c, w) &&
           r->print == s_fingerprint(w->data, s_stored_bytes(w));
}

/* Frees r's device copy. Recorded steps may point at it, so every recording is forgotten first
 * (they are recorded again at their next sight), and the stream drained. */
static void s_release(struct gf_cuda *c, struct gf_cuda_res *r)
{
    if (!r->dev)
        return;
    gf_cuda_graph_drop(&c->be, NULL);
    GF_CU(c, cudaStreamSynchronize(c->stream));
    cudaFree(r->dev);
    c->res_bytes -= r->bytes;
    r->dev = NULL;
}

const void *gf_cuda_weight_as(struct gf_cuda *c, const struct gf_mat *w, enum gf_cuda_layout layout,
                              enum gf_wtype *dtype)
{
    if (!w->data) {
        gf_cuda_fail(c, __FILE__, __LINE__, "weight", "a weight without data");
        return NULL;
    }
    if (s_is_backend_memory(c, w->data)) {
        if (layout != GF_CUDA_AS_STORED)
            return NULL;
        *dtype = w->dtype;
        return w->data;
    }
    if (layout == GF_CUDA_TAPS3 && w->cols % 9)
        return NULL;
    struct gf_cuda_res *r = s_find(c, w->data);
    if (r && r->dev && !s_same(c, r, w, layout)) {
        /* the host address now holds another weight (the old one was freed or rewritten), or
         * the layout changed: upload anew, but never while recording (a graph may use it) */
        if (c->capturing) {
            c->host.log(GF_LOG_WARN, "cuda:%d: a %lldx%lld weight changed while recording",
                        c->device, (long long)w->rows, (long long)w->cols);
            c->n_failed++;
            return NULL;
        }
        s_release(c, r);
    }
    if (!r) {
        struct gf_cuda_res n;
        memset(&n, 0, sizeof n);
        n.host = w->data;
        if (s_fill(c, w, layout, &n) < 0)
            return NULL;
        if (s_insert(c, &n) < 0) {
            cudaFree(n.dev);
            c->res_bytes -= n.bytes;
            return NULL;
        }
        r = s_find(c, w->data);
    } else if (!r->dev && s_fill(c, w, layout, r) < 0) {
        return NULL; /* the entry stays, with no device copy: the next use tries again */
    }
    *dtype = r->dtype;
    return r->dev;
}

const void *gf_cuda_weight(struct gf_cuda *c, const struct gf_mat *w, enum gf_wtype *dtype)
{
    return gf_cuda_weight_as(c, w, GF_CUDA_AS_STORED, dtype);
}

static double s_gib(size_t b)
{
    return (double)b / (1 << 30);
}

static int s_prepare(struct gf_backend *be, const struct gf_mat *const *mats, int n,
                     size_t buffer_bytes)
{
    struct gf_cuda *c = gf_cuda_of(be);
    size_t need = 0, free_b = 0, total_b = 0;
    for (int i = 0; i < n; i++) {
        const struct gf_mat *w = mats[i];
        if (!w || !w->data || s_is_backend_memory(c, w->data) || s_find(c, w->data))
            continue;
        int dup = 0; /* tied weights appear twice */
        for (int j = 0; j < i && !dup; j++)
            dup = mats[j] && mats[j]->data == w->data;
        if (!dup)
            need += (size_t)(w->rows * w->cols) * s_size(gf_cuda_wtype(c, w));
    }
    if (!GF_CU(c, cudaMemGetInfo(&free_b, &total_b)))
        return GF_EIO;
    size_t avail = free_b > GF_CUDA_MARGIN_BYTES ? free_b - GF_CUDA_MARGIN_BYTES : 0;
    if (need + buffer_bytes > avail) {
        c->host.log(GF_LOG_ERROR,
                    "cuda:%d: the model does not fit: it needs %.2f GiB (weights %.2f GiB as %s, "
                    "buffers and KV cache %.2f GiB) but %.2f GiB of %.2f GiB are free "
                    "(%.2f GiB kept back)",
                    c->device, s_gib(need + buffer_bytes), s_gib(need),
                    c->mode == GF_CUDA_F32 ? "f32" : "bf16", s_gib(buffer_bytes), s_gib(free_b),
                    s_gib(total_b), s_gib(GF_CUDA_MARGIN_BYTES));
        return GF_ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        enum gf_wtype dt;
        const struct gf_cuda_res *r = mats[i] ? s_find(c, mats[i]->data) : NULL;
        if (r && r->dev)
            continue; /* resident already, maybe in another layout (a tap-major conv weight) */
        if (mats[i] && mats[i]->data && !gf_cuda_weight(c, mats[i], &dt))
            return GF_ENOMEM;
    }
    c->host.log(GF_LOG_INFO, "cuda:%d: %.2f GiB of weights resident, %.2f GiB of buffers to come",
                c->device, s_gib(c->res_bytes), s_gib(buffer_bytes));
    return 0;
}

static int s_check(struct gf_backend *be)
{
    struct gf_cuda *c = gf_cuda_of(be);
    GF_CU(c, cudaGetLastError());
    int failed = c->n_failed;
    c->n_failed = 0;
    return failed ? GF_EIO : 0;
}

static void s_destroy(struct gf_backend *be)
{
    struct gf_cuda *c = gf_cuda_of(be);
    if (c->stream)
        cudaStreamSynchronize(c->stream);
    for (size_t i = 0; i < c->cap_res; i++)
        if (c->res[i].host)
            cudaFree(c->res[i].dev);
    for (int i = 0; i < c->n_allocs; i++) /* buffers the caller forgot */
        cudaFree((void *)c->allocs[i].base);
    if (c->scratch)
        cudaFree(c->scratch);
    if (c->draws)
        cudaFree(c->draws);
    if (c->h_draws)
        cudaFreeHost(c->h_draws);
    if (c->stage)
        cudaFreeHost(c->stage);
    for (int i = 0; i < GF_CUDA_STAGE_SLOTS; i++)
        if (c->stage_done[i])
            cudaEventDestroy(c->stage_done[i]);
    gf_cuda_graph_drop(&c->be, NULL);
    if (c->blas_ws)
        cudaFree(c->blas_ws);
    if (c->blas)
        cublasDestroy(c->blas);
    if (c->stream)
        cudaStreamDestroy(c->stream);
    free(c->res);
    free(c->allocs);
    free(c);
}

static const struct gf_ops s_cuda_ops = {
    /* .name */ "cuda",
    /* .alloc */ s_alloc,
    /* .free */ s_free,
    /* .to_host */ s_to_host,
    /* .to_device */ s_to_device,
    /* .copy */ s_copy,
    /* .linear */ gf_cuda_linear,
    /* .rmsnorm */ gf_cuda_rmsnorm,
    /* .rope */ gf_cuda_rope,
    /* .kv_store */ gf_cuda_kv_store,
    /* .attention */ gf_cuda_attention,
    /* .swiglu */ gf_cuda_swiglu,
    /* .gelu */ gf_cuda_gelu,
    /* .add */ gf_cuda_add,
    /* .embed */ gf_cuda_embed,
    /* .conv2d */ gf_cuda_conv2d,
    /* .group_norm */ gf_cuda_group_norm,
    /* .swish */ gf_cuda_swish,
    /* .upsample2x */ gf_cuda_upsample2x,
    /* .softmax */ gf_cuda_softmax,
    /* .transpose */ gf_cuda_transpose,
    /* .prepare */ s_prepare,
    /* .sample */ gf_cuda_sample,
    /* .graph_begin */ gf_cuda_graph_begin,
    /* .graph_end */ gf_cuda_graph_end,
    /* .graph_run */ gf_cuda_graph_run,
    /* .graph_drop */ gf_cuda_graph_drop,
    /* .check */ s_check,
    /* .destroy */ s_destroy,
    /* .kv_f16 */ 0, /* the attention takes an f32 cache only */
};

/* --- entry points (abi.h) ----------------------------------------------------------------- */

extern "C" __attribute__((visibility("default"))) int gf_cuda_probe(char *buf, size_t len)
{
    int rt = 0, major = 0, minor = 0, patch = 0;
    cudaError_t e = cudaRuntimeGetVersion(&rt);
    cublasStatus_t s1 = cublasGetProperty(MAJOR_VERSION, &major);
    cublasStatus_t s2 = cublasGetProperty(MINOR_VERSION, &minor);
    cublasStatus_t s3 = cublasGetProperty(PATCH_LEVEL, &patch);
    snprintf(buf, len, "CUDA runtime %d.%d, cuBLAS %d.%d.%d", rt / 1000, rt % 1000 / 10, major,
             minor, patch);
    return e == cudaSuccess && s1 == CUBLAS_STATUS_SUCCESS && s2 == CUBLAS_STATUS_SUCCESS &&
                   s3 == CUBLAS_STATUS_SUCCESS
               ? 0
               : -1;
}

extern "C" __attribute__((visibility("default"))) struct gf_backend *
gf_cuda_backend_create(const struct gf_cuda_host *host, int device, enum gf_cuda_mode mode,
                       char *why, size_t why_len)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        snprintf(why, why_len, "cuda:%d: no CUDA device (cudaGetDeviceCount: %s)", device,
                 e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return NULL;
    }
    if (device < 0 || device >= count) {
        snprintf(why, why_len, "cuda:%d: no such device (this machine has %d CUDA device%s)",
                 device, count, count == 1 ? "" : "s");
        return NULL;
    }
    if ((e = cudaSetDevice(device)) != cudaSuccess) {
        snprintf(why, why_len, "cuda:%d: cannot use the device (cudaSetDevice: %s)", device,
                 cudaGetErrorString(e));
        return NULL;
    }
    gf_cuda_tls_device = device;
    struct gf_cuda *c = (struct gf_cuda *)calloc(1, sizeof *c);
    if (!c) {
        snprintf(why, why_len, "cuda:%d: out of host memory", device);
        return NULL;
    }
    c->host = *host;
    c->device = device;
    c->mode = mode;
    c->be.ops = &s_cuda_ops;
    c->be.n_threads = 1;
    c->be.impl = c;
    cublasStatus_t st;
    if ((e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        snprintf(why, why_len, "cuda:%d: cudaStreamCreate: %s", device, cudaGetErrorString(e));
        goto fail;
    }
    if ((st = cublasCreate(&c->blas)) != CUBLAS_STATUS_SUCCESS) {
        snprintf(why, why_len, "cuda:%d: cublasCreate: %s", device, gf_cublas_str(st));
        goto fail;
    }
    /* f32 mode: no TF32 anywhere, so products match the CPU to f32 rounding */
    if (!GF_CUBLAS(c, cublasSetStream(c->blas, c->stream)) ||
        !GF_CUBLAS(c, cublasSetMathMode(c->blas, mode == GF_CUDA_F32 ? CUBLAS_PEDANTIC_MATH
                                                                     : CUBLAS_DEFAULT_MATH))) {
        snprintf(why, why_len, "cuda:%d: cannot set up cuBLAS", device);
        goto fail;
    }
    if ((e = cudaMalloc(&c->blas_ws, GF_CUDA_BLAS_WORKSPACE)) != cudaSuccess) {
        snprintf(why, why_len, "cuda:%d: cannot allocate cuBLAS's workspace: %s", device,
                 cudaGetErrorString(e));
        c->blas_ws = NULL;
        goto fail;
    }
    if (!GF_CUBLAS(c, cublasSetWorkspace(c->blas, c->blas_ws, GF_CUDA_BLAS_WORKSPACE))) {
        snprintf(why, why_len, "cuda:%d: cannot set cuBLAS's workspace", device);
        goto fail;
    }
    {
        const char *g = getenv("GOTFLOW_CUDA_GRAPHS");
        c->use_graphs = g && strcmp(g, "1") == 0;
    }
    c->scratch_bytes = GF_CUDA_SCRATCH_BYTES;
    if ((e = cudaMalloc(&c->scratch, c->scratch_bytes)) != cudaSuccess) {
        snprintf(why, why_len, "cuda:%d: cannot allocate %zu MiB of scratch: %s", device,
                 c->scratch_bytes >> 20, cudaGetErrorString(e));
        c->scratch = NULL;
        goto fail;
    }
    if ((e = cudaMalloc(&c->draws, GF_MAX_DRAWS * (sizeof(struct gf_draw) + 4))) != cudaSuccess) {
        snprintf(why, why_len, "cuda:%d: cannot allocate the sampler's buffer: %s", device,
                 cudaGetErrorString(e));
        c->draws = NULL;
        goto fail;
    }
    /* pinned staging: without it (pinned memory short) copies go from pageable memory */
    if (cudaHostAlloc(&c->h_draws, GF_MAX_DRAWS * (sizeof(struct gf_draw) + 4),
                      cudaHostAllocDefault) != cudaSuccess) {
        cudaGetLastError();
        c->h_draws = NULL;
    }
    if (cudaHostAlloc((void **)&c->stage, GF_CUDA_STAGE_SLOTS * GF_CUDA_STAGE_BYTES,
                      cudaHostAllocDefault) != cudaSuccess) {
        cudaGetLastError();
        c->stage = NULL;
    }
    for (int i = 0; c->stage && i < GF_CUDA_STAGE_SLOTS; i++)
        if (cudaEventCreateWithFlags(&c->stage_done[i], cudaEventDisableTiming) != cudaSuccess) {
            cudaGetLastError();
            c->stage_done[i] = NULL;
            cudaFreeHost(c->stage);
            c->stage = NULL;
        }
    return &c->be;
fail:
    s_destroy(&c->be);
    return NULL;
}
