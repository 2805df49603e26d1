/* cuda.h — internals of the CUDA backend shared by its .cu files (C++ as nvcc compiles them):
 * the backend state, the checked-call macros, weight residency and the launchers of each op
 * family (one .cu per family: backend, linear, llm, vq). */
#ifndef GF_KERNELS_CUDA_CUDA_H
#define GF_KERNELS_CUDA_CUDA_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#define _Noreturn [[noreturn]] /* core/error.h is C11 */
#include "core/error.h"
#undef _Noreturn
#include "kernels/cuda/abi.h"
}

/* Scratch the backend owns: activations converted for a matrix product, im2col tiles. */
#define GF_CUDA_SCRATCH_BYTES ((size_t)128 << 20)
/* Free device memory kept back when checking whether a model fits (cuBLAS, the CUDA context). */
#define GF_CUDA_MARGIN_BYTES ((size_t)512 << 20)
/* At most this many query tokens per linear go to the own GEMV kernel, more to cuBLAS. */
#define GF_CUDA_GEMV_MAX 8
/* Attention is split over chunks of this many cache positions (flash-decoding), each chunk's
 * partial softmax kept in scratch and combined in a fixed order; a chunk is doubled (up to
 * GF_CUDA_ATTN_CHUNK_MAX) only when one token's partials would not fit the scratch. */
#define GF_CUDA_ATTN_CHUNK 128
#define GF_CUDA_ATTN_CHUNK_MAX 8192
/* Pinned staging for small host-to-device copies (per-step ids, slots, positions): slots of
 * GF_CUDA_STAGE_BYTES, each reused once the copy from it has landed (an event per slot). */
#define GF_CUDA_STAGE_SLOTS 8
#define GF_CUDA_STAGE_BYTES ((size_t)64 << 10)

/* Recorded decode steps kept (CUDA graphs), replaced oldest first. */
#define GF_CUDA_GRAPHS 128
/* cuBLAS's workspace, set once so that products can be recorded in a graph. */
#define GF_CUDA_BLAS_WORKSPACE ((size_t)32 << 20)

struct gf_cuda_graph {
    const void *owner;
    uint64_t key;
    cudaGraphExec_t exec;
};

/* Element layouts of a device copy: as stored, or a k x k conv weight [cout][cin][k][k] put
 * tap-major as [cout][k][k][cin] (conv2d's im2col then copies whole channel runs). */
enum gf_cuda_layout { GF_CUDA_AS_STORED, GF_CUDA_TAPS3 };

/* One weight copied to the device, found by its host pointer and told from another weight at a
 * reused host address by its dtype, shape, layout and a fingerprint of sampled bytes. */
struct gf_cuda_res {
    const void *host;
    void *dev;
    enum gf_wtype dtype; /* on the device */
    size_t bytes;
    enum gf_wtype host_dtype;
    int64_t rows, cols;
    enum gf_cuda_layout layout;
    uint64_t print; /* s_fingerprint of the host bytes at upload */
};

struct gf_cuda_alloc {
    uintptr_t base;
    size_t bytes;
};

struct gf_cuda {
    struct gf_backend be; /* be.impl points back here */
    struct gf_cuda_host host;
    int device;
    enum gf_cuda_mode mode;
    cudaStream_t stream;
    cublasHandle_t blas;
    int n_failed;                 /* device calls that failed since the last check */
    int n_logged;                 /* failures logged so far (the first few only) */
    struct gf_cuda_alloc *allocs; /* ops->alloc'ed ranges: pointers in them are used as-is */
    int n_allocs, cap_allocs;
    struct gf_cuda_res *res; /* open addressing, cap_res a power of two */
    size_t n_res, cap_res, res_bytes;
    void *scratch; /* GF_CUDA_SCRATCH_BYTES */
    size_t scratch_bytes;
    void *draws;   /* GF_MAX_DRAWS struct gf_draw, then as many int32 ids (sample.cu) */
    void *h_draws; /* the same in pinned host memory: the per-step copies stage there */
    char *stage;   /* GF_CUDA_STAGE_SLOTS x GF_CUDA_STAGE_BYTES, pinned */
    cudaEvent_t stage_done[GF_CUDA_STAGE_SLOTS];
    int stage_next;
    void *blas_ws;  /* GF_CUDA_BLAS_WORKSPACE */
    int use_graphs; /* GOTFLOW_CUDA_GRAPHS=1: decode steps recorded and replayed */
    int capturing, failed_before_capture, logged_before_capture;
    struct gf_cuda_graph graphs[GF_CUDA_GRAPHS];
    struct gf_cuda_graph seen[GF_CUDA_GRAPHS]; /* keys run once, eagerly (exec NULL) */
    int n_graphs, next_graph, next_seen;
};

/* The device the calling thread has current (cudaSetDevice is per thread). */
extern __thread int gf_cuda_tls_device;
void gf_cuda_bind(struct gf_cuda *c);

/* Every op starts here: the backend's state, with its device made current on this thread (a
 * stage may call from another thread than the one that made the backend). */
static inline struct gf_cuda *gf_cuda_of(struct gf_backend *be)
{
    struct gf_cuda *c = (struct gf_cuda *)be->impl;
    if (gf_cuda_tls_device != c->device)
        gf_cuda_bind(c);
    return c;
}

/* Records and logs (file:line, the call, the error string) a failed CUDA or cuBLAS call. */
void gf_cuda_fail(struct gf_cuda *c, const char *file, int line, const char *call, const char *err);
const char *gf_cublas_str(cublasStatus_t st);

/* Every CUDA and cuBLAS call goes through one of these; they evaluate to 1 on success. */
#define GF_CU(c, call) gf_cu_ok((c), (call), __FILE__, __LINE__, #call)
#define GF_CUBLAS(c, call) gf_cublas_ok((c), (call), __FILE__, __LINE__, #call)
/* After a kernel launch: the launch error, if any. */
#define GF_LAUNCHED(c) GF_CU((c), cudaGetLastError())

static inline int gf_cu_ok(struct gf_cuda *c, cudaError_t e, const char *file, int line,
                           const char *call)
{
    if (e == cudaSuccess)
        return 1;
    gf_cuda_fail(c, file, line, call, cudaGetErrorString(e));
    return 0;
}

static inline int gf_cublas_ok(struct gf_cuda *c, cublasStatus_t st, const char *file, int line,
                               const char *call)
{
    if (st == CUBLAS_STATUS_SUCCESS)
        return 1;
    gf_cuda_fail(c, file, line, call, gf_cublas_str(st));
    return 0;
}

/* The device copy of w (uploaded at first use when not prepared), or w's own pointer when it
 * already points into backend memory. NULL (logged, counted) when the upload failed. */
const void *gf_cuda_weight(struct gf_cuda *c, const struct gf_mat *w, enum gf_wtype *dtype);
/* The same in a given layout (GF_CUDA_TAPS3 for a 3x3 conv weight); NULL for a weight already
 * in backend memory, which is used as stored (the caller falls back to that layout). */
const void *gf_cuda_weight_as(struct gf_cuda *c, const struct gf_mat *w, enum gf_cuda_layout layout,
                              enum gf_wtype *dtype);
/* The dtype a weight of this shape is kept in on the device in the backend's mode. */
enum gf_wtype gf_cuda_wtype(const struct gf_cuda *c, const struct gf_mat *w);

static inline unsigned gf_cuda_blocks(int64_t count, int threads)
{
    int64_t b = (count + threads - 1) / threads;
    return (unsigned)(b < 1 ? 1 : b > 65535 * 32 ? 65535 * 32 : b);
}

/* --- ops, by family --- */
/* linear.cu */
void gf_cuda_linear(struct gf_backend *be, float *y, const float *x, int n, const struct gf_mat *w,
                    const struct gf_mat *bias);
void gf_cuda_conv2d(struct gf_backend *be, float *y, const float *x, int n, int h, int wd, int k,
                    const struct gf_mat *w, const struct gf_mat *bias, float *work,
                    int64_t work_len);
/* y = W·B for B already on the device in W's dtype ([n][cols], row-major), plus bias. */
void gf_cuda_gemm(struct gf_cuda *c, float *y, const void *b, int n, const void *w,
                  enum gf_wtype dt, int64_t rows, int64_t cols, const struct gf_mat *bias);
/* dst[count] (F32, F16 or BF16) = src[count] (any of them), on the stream. */
void gf_cuda_convert(struct gf_cuda *c, void *dst, enum gf_wtype to, const void *src,
                     enum gf_wtype from, int64_t count);
/* llm.cu */
void gf_cuda_rmsnorm(struct gf_backend *be, float *y, const float *x, int n, int dim,
                     const struct gf_mat *w, float eps);
void gf_cuda_rope(struct gf_backend *be, float *x, int n, int stride, int n_heads, int head_dim,
                  const int32_t *pos, float theta);
void gf_cuda_kv_store(struct gf_backend *be, const struct gf_attn *a, const float *k,
                      const float *v, int n);
void gf_cuda_attention(struct gf_backend *be, float *out, const float *q, int n,
                       const struct gf_attn *a);
void gf_cuda_swiglu(struct gf_backend *be, float *y, const float *gate, const float *up,
                    int64_t count);
void gf_cuda_gelu(struct gf_backend *be, float *x, int64_t count);
void gf_cuda_add(struct gf_backend *be, float *y, const float *x, int64_t count);
void gf_cuda_embed(struct gf_backend *be, float *y, const struct gf_mat *table, const int32_t *ids,
                   int n);
/* graph.cu */
int gf_cuda_graph_begin(struct gf_backend *be);
int gf_cuda_graph_end(struct gf_backend *be, const void *owner, uint64_t key);
int gf_cuda_graph_run(struct gf_backend *be, const void *owner, uint64_t key);
void gf_cuda_graph_drop(struct gf_backend *be, const void *owner);
/* sample.cu */
void gf_cuda_sample(struct gf_backend *be, int32_t *ids, const float *logits, int vocab,
                    const struct gf_draw *draws, int n);
/* vq.cu */
void gf_cuda_group_norm(struct gf_backend *be, float *y, const float *x, int n, int hw, int c,
                        int groups, const struct gf_mat *w, const struct gf_mat *b, float eps,
                        int swish, float *work);
void gf_cuda_swish(struct gf_backend *be, float *x, int64_t count);
void gf_cuda_upsample2x(struct gf_backend *be, float *y, const float *x, int n, int h, int wd,
                        int c);
void gf_cuda_softmax(struct gf_backend *be, float *x, int64_t rows, int cols, float scale);
void gf_cuda_transpose(struct gf_backend *be, float *y, const float *x, int rows, int cols);
/* col[p][cin*k*k] for pixels p0..p0+np of the n*h*wd pixels of x, in dtype dt; taps: the
 * columns tap-major ([k][k][cin], for a GF_CUDA_TAPS3 weight), else [cin][k][k] as stored */
void gf_cuda_im2col(struct gf_cuda *c, void *col, enum gf_wtype dt, const float *x, int h, int wd,
                    int cin, int k, int64_t p0, int64_t np, int taps);
/* gf_cuda_weight_as's tap-major permutation: dst[r][t][i] = src[r][i][t] for kk taps */
void gf_cuda_taps(struct gf_cuda *c, void *dst, const void *src, enum gf_wtype dt, int64_t rows,
                  int64_t cin, int kk);

#endif
