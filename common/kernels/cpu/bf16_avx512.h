/* bf16_avx512.h — y = x·wᵀ for bf16 weights with AVX-512 BF16 dot products (vdpbf16ps).
 *
 * The activations are rounded to bf16 first (gf_avx512_bf16_round, once per activation row and
 * call), then every instruction multiplies 32 weights by 32 activations and adds the products
 * in pairs into 16 f32 lanes, which are folded in one fixed order. The products are exact (8 by 8
 * significant bits); what this path adds to the f32 product is the rounding of each activation,
 * at most 2^-8 of it. Each output's order of additions is fixed whatever the tile, the batch or
 * the rows a thread takes, so a row's result never depends on the rows beside it.
 *
 * gf_avx512_bf16_dot_model is the definition, in plain C. The vector functions exist twice: as
 * named, compiled for the instructions (call them only where gf_avx512_bf16_cpu() says yes), and
 * with the suffix _emu, the same source compiled over SIMDe's portable AVX-512, which only the
 * unit test links (build/obj/emu/). */
#ifndef GF_KERNELS_CPU_BF16_AVX512_H
#define GF_KERNELS_CPU_BF16_AVX512_H

#include <stdint.h>

/* Elements per rounded activation row: cols padded to a multiple of 32 (the padding is zero). */
static inline int64_t gf_avx512_bf16_ld(int64_t cols)
{
    return (cols + 31) & ~(int64_t)31;
}

/* Whether this CPU and its OS run AVX-512 F, BW, VL and BF16 (cpuid and xgetbv). */
int gf_avx512_bf16_cpu(void);

/* f to bf16 as vcvtne2ps2bf16 does: to nearest, ties to even; zeros and denormals to a zero of
 * the same sign; NaN stays NaN, made quiet. */
uint16_t gf_avx512_bf16_of(float f);

/* One output of the model: the padded activation row xb (gf_avx512_bf16_ld(cols) elements) with
 * the weight row w (cols elements): 16 lanes, lane j adding at every 32 elements k the products
 * at k + 2j + 1 then k + 2j (the instruction's order), then the lanes folded as the kernel folds
 * them. *bound, if not NULL, gets the most any summation of the same products in another order
 * may differ from it in f32: 2·cols·2^-24·Σ|products|. */
float gf_avx512_bf16_dot_model(const uint16_t *xb, const uint16_t *w, int64_t cols, float *bound);

/* x (cols f32) into xb (gf_avx512_bf16_ld(cols) bf16), each element by gf_avx512_bf16_of and
 * the padding zeroed. */
void gf_avx512_bf16_round(uint16_t *xb, const float *x, int64_t cols);
void gf_avx512_bf16_round_emu(uint16_t *xb, const float *x, int64_t cols);

/* Rows [r0, r1) of w (rows × cols bf16, row-major) against the n rounded activation rows xb
 * (ldx = gf_avx512_bf16_ld(cols) apart): y[t·ldy + r] for t < n, each the model's value (up to
 * the order of the two products of a pair, which SIMDe takes the other way round). */
void gf_avx512_bf16_rows(float *y, int64_t ldy, const uint16_t *xb, int64_t ldx, int n,
                         int64_t cols, const uint16_t *w, int64_t r0, int64_t r1);
void gf_avx512_bf16_rows_emu(float *y, int64_t ldy, const uint16_t *xb, int64_t ldx, int n,
                             int64_t cols, const uint16_t *w, int64_t r0, int64_t r1);

/* Runs round and rows once on a small fixed input with every kind of tail and compares each
 * output with the model within its bound: 0 if all agree, -1 if not. */
int gf_avx512_bf16_selfcheck(void);
int gf_avx512_bf16_selfcheck_emu(void);

#endif
