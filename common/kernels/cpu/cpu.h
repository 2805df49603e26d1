/* cpu.h — pieces shared by the CPU backends (reference and optimized): host memory, the ops
 * whose reference form is also the fast one, and element access to a stored-dtype matrix. */
#ifndef GF_KERNELS_CPU_CPU_H
#define GF_KERNELS_CPU_CPU_H

#include "kernels/ops.h"

#define GF_CPU_MAX_HEAD_DIM 512

/* Element i of a cache of dt (GF_WTYPE_F32, GF_WTYPE_F16 or GF_WTYPE_Q8_0), as f32. */
static inline float gf_cpu_kv_get(const void *cache, size_t i, enum gf_wtype dt)
{
    if (dt == GF_WTYPE_Q8_0) {
        const struct gf_block_q8_0 *b = (const struct gf_block_q8_0 *)cache + i / GF_QK;
        return gf_f16_to_f32(b->d) * (float)b->qs[i % GF_QK];
    }
    return dt == GF_WTYPE_F16 ? gf_f16_to_f32(((const uint16_t *)cache)[i])
                              : ((const float *)cache)[i];
}

/* Element i of m (row-major), converted to f32. */
float gf_mat_get(const struct gf_mat *m, int64_t i);

void *gf_cpu_alloc(struct gf_backend *be, size_t bytes);
void gf_cpu_free(struct gf_backend *be, void *p);
void gf_cpu_copy(struct gf_backend *be, void *dst, const void *src, size_t bytes);
void gf_cpu_rope(struct gf_backend *be, float *x, int n, int stride, int n_heads, int head_dim,
                 const int32_t *pos, float theta);
/* Writes n blocks' worth (n a multiple of GF_QK) of x as gf_quantize's q8_0 bytes. */
typedef void (*gf_cpu_q8_fn)(struct gf_backend *be, struct gf_block_q8_0 *blocks, const float *x,
                             int64_t n);
/* The kv_store op, a q8_0 cache's blocks written by q8 (each backend's own quantizer). */
void gf_cpu_kv_store(struct gf_backend *be, const struct gf_attn *a, const float *k, const float *v,
                     int n, gf_cpu_q8_fn q8);
void gf_cpu_gelu(struct gf_backend *be, float *x, int64_t count);
void gf_cpu_embed(struct gf_backend *be, float *y, const struct gf_mat *table, const int32_t *ids,
                  int n);
/* The 64-bit sum of the words at p (bytes / 8 of them), read as 8 sequential streams with AVX2
 * where the CPU has it: a plain read at the rate the memory allows, the ceiling the benchmarks
 * put the kernels beside. One stream, or 64-bit loads, read a third to a half slower. */
uint64_t gf_cpu_read_sum(const void *p, size_t bytes);

#endif
