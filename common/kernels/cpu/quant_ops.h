/* quant_ops.h — the optimized CPU backend's product for block-quantized weights (Q8_0, Q4_0).
 *
 * As llama.cpp does for these types, each activation row is first quantized to q8_0 blocks;
 * then every output is a sum over blocks, in block order, of d_w * d_x * (the exact integer dot
 * of the block), one f32 accumulator, fused multiply-adds. The scalar form and the AVX2 form
 * give the same bits; a row's result depends only on its own activations
 * (batch invariance). */
#ifndef GF_KERNELS_CPU_QUANT_OPS_H
#define GF_KERNELS_CPU_QUANT_OPS_H

#include "kernels/ops.h"

/* y[n][w.rows] = x[n][w.cols] · wᵀ + bias, w of a block type (w.cols a multiple of GF_QK). */
void gf_cpu_linear_q(struct gf_backend *be, float *y, const float *x, int n, const struct gf_mat *w,
                     const struct gf_mat *bias);

/* gf_quantize(GF_WTYPE_Q8_0, blocks, x, n)'s bytes (n a multiple of GF_QK), with AVX2 where the
 * backend uses it; be is the optimized CPU backend (gf_backend_cpu_new), as for the rest of this
 * header. */
void gf_cpu_quantize_q8_0(struct gf_backend *be, struct gf_block_q8_0 *blocks, const float *x,
                          int64_t n);

/* The backend's scratch, at least `bytes`, grown (and its old contents dropped) when a call
 * needs more than any before: after the first calls of each size, no allocation. NULL when it
 * cannot grow. Borrowed until the next call. */
void *gf_cpu_scratch(struct gf_backend *be, size_t bytes);

/* The q8_0 dot of row r of w (a gf_qmat) with its cols / GF_QK activation blocks, the scalar
 * form. */
float gf_cpu_qdot_ref(const struct gf_mat *w, int64_t r, const struct gf_block_q8_0 *xq);

#endif
