/* vq_ops.h — the image decoder ops of the CPU backends: the scalar references (ref_vq.c) and
 * the optimized versions (vq_cpu.c), registered in the tables of ref.c and ops_cpu.c. */
#ifndef GF_KERNELS_CPU_VQ_OPS_H
#define GF_KERNELS_CPU_VQ_OPS_H

#include "kernels/ops.h"

void gf_ref_conv2d(struct gf_backend *be, float *y, const float *x, int n, int h, int wd, int k,
                   const struct gf_mat *w, const struct gf_mat *bias, float *work,
                   int64_t work_len);
void gf_ref_group_norm(struct gf_backend *be, float *y, const float *x, int n, int hw, int c,
                       int groups, const struct gf_mat *w, const struct gf_mat *b, float eps,
                       int swish, float *work);
void gf_ref_swish(struct gf_backend *be, float *x, int64_t count);
void gf_ref_upsample2x(struct gf_backend *be, float *y, const float *x, int n, int h, int wd,
                       int c);
void gf_ref_softmax(struct gf_backend *be, float *x, int64_t rows, int cols, float scale);
void gf_ref_transpose(struct gf_backend *be, float *y, const float *x, int rows, int cols);

/* The optimized versions need the CPU backend's thread pool and its SIMD choice. */
struct gf_pool *gf_cpu_pool(struct gf_backend *be);
int gf_cpu_avx2(struct gf_backend *be); /* the AVX2 paths are in use */
void gf_cpu_conv2d(struct gf_backend *be, float *y, const float *x, int n, int h, int wd, int k,
                   const struct gf_mat *w, const struct gf_mat *bias, float *work,
                   int64_t work_len);
void gf_cpu_group_norm(struct gf_backend *be, float *y, const float *x, int n, int hw, int c,
                       int groups, const struct gf_mat *w, const struct gf_mat *b, float eps,
                       int swish, float *work);
void gf_cpu_swish(struct gf_backend *be, float *x, int64_t count);
void gf_cpu_upsample2x(struct gf_backend *be, float *y, const float *x, int n, int h, int wd,
                       int c);
void gf_cpu_softmax(struct gf_backend *be, float *x, int64_t rows, int cols, float scale);
void gf_cpu_transpose(struct gf_backend *be, float *y, const float *x, int rows, int cols);

#endif
