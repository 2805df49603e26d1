/* ops.h — the operator interface: every piece of arithmetic the model does goes through one
 * table of function pointers (struct gf_ops), so a backend plugs in without touching model code.
 *
 * Conventions: activations are f32, row-major, [n][dim]. Weights stay in their stored dtype
 * (F32, F16 or BF16) and are described by struct gf_mat, borrowed (usually memory-mapped).
 * Buffers the ops read or write come from ops->alloc, so a device backend owns its memory.
 * No op allocates. Every op computes each output row in a fixed order that does not depend on
 * the batch size or the other rows (batch invariance, DESIGN.md §7).
 */
#ifndef GF_KERNELS_OPS_H
#define GF_KERNELS_OPS_H

#include <stddef.h>
#include <stdint.h>

/* Element type of a stored weight (named apart from the frame dtypes of engine/frame.h).
 * Q8_0 and Q4_0 are llama.cpp's block types, made at load from a published checkpoint
 * (gf_ckpt_quantize): each block of GF_QK consecutive elements of a row is one f16 scale d and
 * GF_QK 8-bit values (q8_0: d * q) or GF_QK 4-bit values (q4_0: d * (nibble - 8)); a row of a
 * quantized matrix is a whole number of blocks. */
enum gf_wtype { GF_WTYPE_F32, GF_WTYPE_F16, GF_WTYPE_BF16, GF_WTYPE_Q8_0, GF_WTYPE_Q4_0 };

#define GF_QK 32
struct gf_block_q8_0 {
    uint16_t d;       /* f16 scale */
    int8_t qs[GF_QK]; /* element j = d * qs[j] */
};
struct gf_block_q4_0 {
    uint16_t d;            /* f16 scale */
    uint8_t qs[GF_QK / 2]; /* element j < 16: low nibble of qs[j]; j >= 16: high of qs[j-16] */
};

/* Bytes per element (0 for the block types: see gf_wtype_bytes), and the name ("F32", "F16",
 * "BF16" as safetensors says; "Q8_0", "Q4_0"). */
size_t gf_wtype_size(enum gf_wtype dt);
const char *gf_wtype_name(enum gf_wtype dt);
/* 1 for Q8_0 and Q4_0. */
int gf_wtype_quantized(enum gf_wtype dt);
/* Bytes of count elements (a multiple of GF_QK for the block types). */
size_t gf_wtype_bytes(enum gf_wtype dt, int64_t count);
/* n floats (a multiple of GF_QK) into n / GF_QK blocks of dt (Q8_0 or Q4_0), exactly as
 * llama.cpp's reference quantize_row_q8_0 / quantize_row_q4_0 do; and back. */
void gf_quantize(enum gf_wtype dt, void *blocks, const float *x, int64_t n);
void gf_dequantize(enum gf_wtype dt, float *x, const void *blocks, int64_t n);

/* A quantized matrix (a gf_mat of Q8_0 or Q4_0) keeps its rows in groups of 8, interleaved so
 * that one 256-bit load holds 4 bytes of each of 8 rows: for group g and block b, at
 * ((g * nb + b) * 8) blocks from the start (nb = cols / GF_QK), the 8 rows' f16 scales, then
 * vector c (q8_0: 8 vectors, q4_0: 4) of 32 bytes whose bytes 4r..4r+3 are row r's qs[4c..4c+3]
 * of that block. The bytes of every block are those of gf_quantize; only their places differ.
 * Rows past the last are zero (scale 0). gf_qmat_bytes is the size; gf_qmat_set_row places
 * row r's nb blocks; gf_qmat_block reads block b of row r back as 32 int8 values (q4_0:
 * nibble - 8) and returns its scale. */
size_t gf_qmat_bytes(enum gf_wtype dt, int64_t rows, int64_t cols);
void gf_qmat_set_row(enum gf_wtype dt, void *mat, int64_t cols, int64_t r, const void *blocks);
float gf_qmat_block(enum gf_wtype dt, const void *mat, int64_t cols, int64_t r, int64_t b,
                    int8_t q[GF_QK]);
/* What a weight precision name asks of the weights: "bf16", "f32" or NULL leave them as
 * published (*quant = -1; on a CUDA device these choose its arithmetic, gf_cuda_mode_parse),
 * "q8_0" and "q4_0" quantize them at load (*quant = GF_WTYPE_Q8_0 / _Q4_0). 0, or GF_EINVAL
 * for another name. */
int gf_precision_parse(const char *name, int *quant);
/* 1 when a precision name asks for the exact path ("f32": f32 activations and, under 16-bit
 * weights, an f32 KV cache; docs/model.md), else 0. */
int gf_precision_exact(const char *name);
float gf_bf16_to_f32(uint16_t h);
uint16_t gf_f32_to_bf16(float f); /* round to nearest even */
float gf_f16_to_f32(uint16_t h);
uint16_t gf_f32_to_f16(float f); /* round to nearest even */
/* Stores v as element i of data, an array of dt (rounded to nearest even). */
void gf_wtype_put(void *data, int64_t i, enum gf_wtype dt, float v);

/* A matrix [rows][cols] in its stored dtype; a vector is rows = 1. Borrowed, never freed here. */
struct gf_mat {
    enum gf_wtype dtype;
    int64_t rows, cols;
    const void *data;
};

/* One layer's KV cache seen by the attention op: row slots of max_seq positions each, every KV
 * head's positions together ([n_slots][n_kv_heads][max_seq][head_dim], gf_attn_at), so that
 * one head's keys and values are each one stream. Written only by the backend's kv_store. */
struct gf_attn {
    void *k, *v;         /* n_slots * max_seq * n_kv_heads * head_dim elements each */
    const int32_t *slot; /* [n] cache slot of each query token */
    const int32_t *pos;  /* [n] position of each query token; it sees positions 0..pos */
    int n_heads, n_kv_heads, head_dim, max_seq;
    enum gf_wtype kv_dtype; /* of k and v: GF_WTYPE_F32, or on the CPU backends GF_WTYPE_F16 or
                             * GF_WTYPE_Q8_0 (head_dim a multiple of GF_QK: whole blocks) */
};

/* The element index of position pos of KV head h of slot in a cache (its byte offset:
 * gf_wtype_bytes of it, whole blocks in a q8_0 cache). */
static inline size_t gf_attn_at(const struct gf_attn *a, int slot, int h, int pos)
{
    return (((size_t)slot * a->n_kv_heads + h) * a->max_seq + pos) * a->head_dim;
}

struct gf_backend;

/* One draw of the sample op: logits row `cond`, mixed with row `uncond` under classifier-free
 * guidance (uncond < 0: none), then the argmax (temperature <= 0) or a draw with u in [0, 1)
 * from softmax(l / temperature) walked in id order: gf_sample without top-k and top-p. */
struct gf_draw {
    int32_t cond, uncond;
    float cfg_weight, temperature;
    double u;
};
#define GF_MAX_DRAWS 1024 /* draws per sample call */

/* Scratch floats for full speed of a conv2d (less still works, slower), and the scratch floats
 * the group_norm op needs for n images of c channels. */
#define GF_CONV2D_WORK(cin, cout, k) ((int64_t)(cin) * (k) * (k) * ((cout) + 17) + (1 << 18))
#define GF_GROUP_NORM_WORK(n, c) ((int64_t)(n) * (c)*40)

struct gf_ops {
    const char *name;
    /* Memory the ops work on: host memory on the CPU, device memory elsewhere. */
    void *(*alloc)(struct gf_backend *be, size_t bytes); /* zeroed; NULL on failure */
    void (*free)(struct gf_backend *be, void *p);
    void (*to_host)(struct gf_backend *be, void *dst, const void *src, size_t bytes);
    void (*to_device)(struct gf_backend *be, void *dst, const void *src, size_t bytes);
    /* dst = src, both backend memory, not overlapping */
    void (*copy)(struct gf_backend *be, void *dst, const void *src, size_t bytes);

    /* y[n][w.rows] = x[n][w.cols] · wᵀ + bias[w.rows] (bias may be NULL) */
    void (*linear)(struct gf_backend *be, float *y, const float *x, int n, const struct gf_mat *w,
                   const struct gf_mat *bias);
    /* y[n][dim] = x / sqrt(mean(x²) + eps) * w[dim]; y may equal x */
    void (*rmsnorm)(struct gf_backend *be, float *y, const float *x, int n, int dim,
                    const struct gf_mat *w, float eps);
    /* rotate-half RoPE in place on x[n][stride], heads of head_dim from offset 0, at pos[n] */
    void (*rope)(struct gf_backend *be, float *x, int n, int stride, int n_heads, int head_dim,
                 const int32_t *pos, float theta);
    /* writes k[n][kv_dim], v[n][kv_dim] into the cache at (slot[i], pos[i]) */
    void (*kv_store)(struct gf_backend *be, const struct gf_attn *a, const float *k, const float *v,
                     int n);
    /* out[n][n_heads*head_dim] = causal softmax(q·kᵀ/sqrt(head_dim))·v over the slot's cache */
    void (*attention)(struct gf_backend *be, float *out, const float *q, int n,
                      const struct gf_attn *a);
    /* y[i] = silu(gate[i]) * up[i] for i < count; y may equal gate */
    void (*swiglu)(struct gf_backend *be, float *y, const float *gate, const float *up,
                   int64_t count);
    /* x[i] = 0.5 x (1 + erf(x / sqrt 2)), in place */
    void (*gelu)(struct gf_backend *be, float *x, int64_t count);
    /* y[i] += x[i] */
    void (*add)(struct gf_backend *be, float *y, const float *x, int64_t count);
    /* y[n][table.cols] = table[ids[i]] (ids checked by the caller) */
    void (*embed)(struct gf_backend *be, float *y, const struct gf_mat *table, const int32_t *ids,
                  int n);

    /* --- image decoder ops: images are [n][h*w][c], channels last --- */
    /* y[n][h*wd][w.rows] = conv(x[n][h*wd][cin]) + bias: k x k (k = 1 or 3), stride 1, zero
     * padding k/2; w is the conv weight [cout][cin][k][k] seen as [cout][cin*k*k]. work holds
     * at least cin*k*k floats, GF_CONV2D_WORK(cin, cout, k) for full speed; y != x */
    void (*conv2d)(struct gf_backend *be, float *y, const float *x, int n, int h, int wd, int k,
                   const struct gf_mat *w, const struct gf_mat *bias, float *work,
                   int64_t work_len);
    /* y[n][hw][c] = GroupNorm(groups, eps)(x) * w[c] + b[c], statistics per image and group
     * over hw x c/groups values; then x·sigmoid(x) when swish is set; y may equal x; work holds
     * GF_GROUP_NORM_WORK(n, c) floats */
    void (*group_norm)(struct gf_backend *be, float *y, const float *x, int n, int hw, int c,
                       int groups, const struct gf_mat *w, const struct gf_mat *b, float eps,
                       int swish, float *work);
    /* x[i] = x[i] · sigmoid(x[i]), in place */
    void (*swish)(struct gf_backend *be, float *x, int64_t count);
    /* y[n][2h*2wd][c] = x[n][h*wd][c], nearest neighbour: y[2i+a][2j+b] = x[i][j] */
    void (*upsample2x)(struct gf_backend *be, float *y, const float *x, int n, int h, int wd,
                       int c);
    /* x[r][cols] = softmax(scale · x[r]) over each of the rows, in place */
    void (*softmax)(struct gf_backend *be, float *x, int64_t rows, int cols, float scale);
    /* y[cols][rows] = x[rows][cols]ᵀ; y != x */
    void (*transpose)(struct gf_backend *be, float *y, const float *x, int rows, int cols);

    /* --- optional (NULL on the CPU backends) --- */
    /* Makes the weights mats[n] resident on the backend (a device copy each, in the dtype the
     * backend computes in) after checking that they, plus buffer_bytes of buffers the caller is
     * about to allocate, fit its memory. Returns 0, or GF_ENOMEM after logging the numbers.
     * Weights not prepared are copied at first use. */
    int (*prepare)(struct gf_backend *be, const struct gf_mat *const *mats, int n,
                   size_t buffer_bytes);
    /* ids[n] (host memory) = one token per draw from logits[rows][vocab] (backend memory), with
     * uncond + w·(cond − uncond) computed as gf_cfg_mix does; n <= GF_MAX_DRAWS. Only the ids
     * cross to the host. */
    void (*sample)(struct gf_backend *be, int32_t *ids, const float *logits, int vocab,
                   const struct gf_draw *draws, int n);
    /* Recorded work (CUDA graphs): graph_begin starts recording the ops that follow instead of
     * running them (0, or < 0: not recording, run them as usual); graph_end stops, keeps the
     * work under (owner, key) and runs it (0, or < 0: recording failed and nothing ran, so run
     * the ops again as usual); graph_run runs the work kept under (owner, key) (0, or < 0: none
     * kept: GF_ENOTFOUND, record it now; GF_EAGAIN, first sight of the key, run the ops as usual
     * so that everything they touch is set up before a recording); graph_drop forgets every
     * recording of owner. Recorded work reads its inputs from the same buffers at every run; only
     * their contents may change. */
    int (*graph_begin)(struct gf_backend *be);
    int (*graph_end)(struct gf_backend *be, const void *owner, uint64_t key);
    int (*graph_run)(struct gf_backend *be, const void *owner, uint64_t key);
    void (*graph_drop)(struct gf_backend *be, const void *owner);
    /* 0, or GF_EIO when a device call failed since the last check (each failure is logged). */
    int (*check)(struct gf_backend *be);
    /* frees the backend's own state; gf_backend_destroy calls it */
    void (*destroy)(struct gf_backend *be);

    /* 1 when kv_store and attention also take an f16 cache (the CPU backends); the CUDA
     * attention takes f32 only */
    int kv_f16;
};

/* A backend: its operator table and its private state (a thread pool on the CPU). */
struct gf_backend {
    const struct gf_ops *ops;
    int n_threads;
    void *impl;
};

/* The CPU backend: multithreaded, vectorized where the CPU allows. n_threads <= 0 means all
 * online cores. Returns NULL on failure. gf_backend_destroy accepts NULL and nulls *self_p. */
struct gf_backend *gf_backend_cpu_new(int n_threads);
/* The exact path on a backend from gf_backend_cpu_new: bf16 weights multiply f32 activations
 * even where the AVX-512 BF16 products would be taken (as GOTFLOW_NO_AVX512=1 asks); a no-op
 * on another backend. For precision f32 (docs/model.md). */
void gf_backend_cpu_exact(struct gf_backend *be);
/* The kernels a backend computes with: "cpu avx512bf16", "cpu avx2" or "cpu scalar" for
 * gf_backend_cpu_new's, else its ops' name. Two backends with the same kernels, weights and
 * cache dtype write the same KV bits for the same tokens (on the batch-invariant CPU ones). */
const char *gf_backend_kernels(const struct gf_backend *be);
/* The plain scalar reference every other implementation is checked against (one thread). */
struct gf_backend *gf_backend_ref_new(void);
void gf_backend_destroy(struct gf_backend **self_p);

/* How the CUDA backend computes. F32: weights widened to f32 on the device, f32 matrix products
 * without TF32 (checked against the CPU to 1e-5). BF16: matrices as bf16 on the device (f16
 * weights stay f16), products with f32 accumulation, everything else in f32. */
enum gf_cuda_mode { GF_CUDA_BF16, GF_CUDA_F32 };

/* The CUDA backend on device `device` (cuda:N). It lives in a shared object (libgotflow-cuda.so,
 * built when nvcc is present) loaded at the first call, so programs that never ask for it do
 * not load the CUDA libraries. Returns NULL after logging one line that says why: no CUDA in
 * this build, the library cannot be loaded, no such device. Free with gf_backend_destroy. */
struct gf_backend *gf_backend_cuda_new(int device, enum gf_cuda_mode mode);
/* 1 when this build holds the CUDA backend (whether or not a GPU is present). */
int gf_backend_cuda_built(void);
/* "bf16" or "f32" into *mode; returns 0 or GF_EINVAL for another name (NULL means bf16). */
int gf_cuda_mode_parse(const char *name, enum gf_cuda_mode *mode);

#endif
