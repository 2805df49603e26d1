/* check.h — the GPU check program's shared pieces (tests/gpu/check.c drives them): random
 * inputs, device buffers filled with NaN, the element-wise comparison with its failure report,
 * the test-only break switch, and the sections of `check ops`, `check loop` and `check time`.
 *
 * Every section runs in a process of its own (check.c starts the program again with a selector),
 * so a sticky device fault ends that section only. A section returns 0 when every check in it
 * passed, 1 otherwise; its FAIL lines start with two spaces and carry the word FAIL. */
#ifndef GF_TESTS_GPU_CHECK_H
#define GF_TESTS_GPU_CHECK_H

#include <stdint.h>

#include "kernels/ops.h"

/* One section's backends, tolerance and tally. */
struct check_env {
    struct gf_backend *cpu, *gpu; /* the CPU backend (reference) and the backend under test */
    const char *mode;             /* "f32" or "bf16" */
    double tol;                   /* the mode's tolerance (a check may ask for a tighter one) */
    int checks, failed;
};

/* A named section: run returns 0 (every check passed) or 1. */
struct check_section {
    const char *name;
    int (*run)(struct check_env *e, const char *arg);
    const char *what;
};

void check_seed(uint64_t seed);
float check_rand(void); /* uniform in [-1, 1) */
double check_now(void);
float *check_rnd(int64_t n, float scale);
/* n floats of NaN (host memory, caller frees). */
float *check_nans(int64_t n);
/* A matrix of random values stored as dt, freed when the section ends: the CUDA backend keys its
 * device copy of a weight by the host address, which must not come back with other contents
 * while a backend lives. */
struct gf_mat check_mat(enum gf_wtype dt, int64_t rows, int64_t cols, float scale);

/* The backend under test: CUDA in `mode`, or with GOTFLOW_CHECK_BACKEND=ref (or cpu) the scalar
 * reference (or the CPU backend), to check this program itself on a machine without a GPU. */
struct gf_backend *check_backend_new(enum gf_cuda_mode mode);
int check_stand_in(void); /* 1 when GOTFLOW_CHECK_BACKEND names a CPU stand-in */
int check_backend_ok(struct gf_backend *be);
/* bytes of backend memory holding host[bytes], or NaN in every float when host is NULL. */
void *check_up(struct gf_backend *be, const void *host, size_t bytes);

/* GF_CHECK_BREAK=OP[@INDEX] (test-only): the index of the element of op's output to perturb
 * (INDEX modulo n, n/3 when absent), or -1 when op is not the one named. */
int64_t check_break(const char *op, int64_t n);

/* Compares got[n] with the CPU's ref[n]: an element fails when either is not finite or when
 * |got - ref| > tol * max|ref|. Prints one row (normwise error max|got - ref| / max|ref|); on a
 * failure a second line with the count over tolerance, the worst and the first bad index, each
 * with got and expected. Counts the check in e; returns 1 when it failed. */
int check_host(struct check_env *e, const char *op, const char *what, float *got, const float *ref,
               int64_t n, double tol);
/* The same for dev[n] in backend memory (downloaded first); also fails on a device error. */
int check_dev(struct check_env *e, const char *op, const char *what, const void *dev,
              const float *ref, int64_t n, double tol);
/* Counts and prints a check that is a plain yes or no (ok = 1 passes). */
int check_verdict(struct check_env *e, const char *op, const char *what, int ok,
                  const char *detail);

/* One op on fresh random inputs, the backend under test against the CPU (check_ops.c): a
 * product y[n][rows] = x[n][cols]·wᵀ (+ bias); kv_store then attention of n query tokens at
 * (slot[i], pos[i]) over `slots` cache slots of `seq` positions of random history ((slot, pos)
 * pairs distinct); GroupNorm of n images of hw pixels and c channels, with and without swish. */
void check_linear(struct check_env *e, enum gf_wtype dt, int rows, int cols, int n, int bias);
void check_attention(struct check_env *e, int heads, int kv_heads, int hd, int slots, int seq,
                     int n, const int32_t *slot, const int32_t *pos, const char *what);
void check_group_norm(struct check_env *e, int n, int hw, int c, int groups);

/* The op groups aimed at the edge cases of the CUDA kernels (check_edges.c), listed in
 * check_ops_sections. */
int check_group_attention_edges(struct check_env *e, const char *arg);
int check_group_attention_wide(struct check_env *e, const char *arg);
int check_group_gemv_tails(struct check_env *e, const char *arg);
int check_group_conv_paths(struct check_env *e, const char *arg);
int check_group_group_norm(struct check_env *e, const char *arg);
int check_group_sample_edges(struct check_env *e, const char *arg);
int check_group_weights(struct check_env *e, const char *arg);
int check_group_staging(struct check_env *e, const char *arg);

/* `check time kernels` (check_kernels.c): per-op micro-timings. */
int check_time_kernels(struct check_env *e, const char *path);

extern const struct check_section check_ops_sections[];
extern const struct check_section check_loop_sections[];
extern const struct check_section check_time_sections[];

#endif
