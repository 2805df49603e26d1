/* abi.h — the contract between libgotflow (kernels/cuda_load.c) and the CUDA backend's shared
 * object (libgotflow-cuda.so), which is loaded with dlopen so that programs that never use a GPU
 * never load the CUDA libraries. Plain C, included by both sides; bump GF_CUDA_ABI when a
 * struct or a signature here changes. */
#ifndef GF_KERNELS_CUDA_ABI_H
#define GF_KERNELS_CUDA_ABI_H

#include <stddef.h>

#include "core/log.h"
#include "kernels/ops.h"

#define GF_CUDA_ABI 1

/* What the host program lends the backend: its logger (the backend has no other output). */
struct gf_cuda_host {
    int abi; /* GF_CUDA_ABI */
    void (*log)(enum gf_log_level level, const char *fmt, ...);
};

/* gf_cuda_backend_create: the backend on `device`, or NULL with one line in why[why_len]. */
typedef struct gf_backend *(*gf_cuda_create_fn)(const struct gf_cuda_host *host, int device,
                                                enum gf_cuda_mode mode, char *why, size_t why_len);
/* gf_cuda_probe: writes the CUDA runtime and cuBLAS versions to buf (no GPU needed); returns 0
 * when both libraries answered. */
typedef int (*gf_cuda_probe_fn)(char *buf, size_t len);

/* What the device can do at best, measured (tests/gpu): the roofline of every timing. */
struct gf_cuda_ceilings {
    char name[128];     /* the device's name */
    int sms;            /* multiprocessors */
    double mem_gib;     /* device memory */
    double copy_gbs;    /* device-to-device copy, bytes read + written per second / 1e9 */
    double bf16_tflops; /* 8192^3 bf16 cublasGemmEx, f32 accumulation */
    double f32_tflops;  /* 4096^3 f32 cublasGemmEx, no TF32 */
};
/* gf_cuda_measure: fills *out for `device`; 0, or -1 with one line in why[why_len]. */
typedef int (*gf_cuda_measure_fn)(int device, struct gf_cuda_ceilings *out, char *why,
                                  size_t why_len);

/* CUDA events on a backend's stream, for timing a burst of ops on the device's own clock
 * (tests/gpu's per-kernel timings). The library exports one table, GF_CUDA_EVENTS_SYMBOL; an
 * event is a cudaEvent_t seen as void *. Failed CUDA calls are logged and counted for
 * ops->check like any other. */
struct gf_cuda_event_fns {
    int (*create)(struct gf_backend *be, void **ev); /* 0, or GF_EIO with *ev NULL */
    int (*record)(struct gf_backend *be, void *ev);  /* 0, GF_EIO, GF_EINVAL while recording */
    int (*elapsed_ms)(struct gf_backend *be, void *start, void *end, float *ms); /* waits */
    void (*destroy)(struct gf_backend *be, void *ev);                            /* NULL: none */
};

#define GF_CUDA_EVENTS_SYMBOL "gf_cuda_events"
#define GF_CUDA_MEASURE_SYMBOL "gf_cuda_measure"
#define GF_CUDA_CREATE_SYMBOL "gf_cuda_backend_create"
#define GF_CUDA_PROBE_SYMBOL "gf_cuda_probe"
#define GF_CUDA_LIB_NAME "libgotflow-cuda.so"

/* In libgotflow: loads the library (RTLD_NOW: every CUDA runtime and cuBLAS symbol it uses must
 * resolve) and writes both libraries' versions to buf, or why it could not; no GPU needed.
 * Returns 0, or GF_EIO / GF_EUNSUPPORTED (a build without CUDA). */
int gf_cuda_probe_versions(char *buf, size_t len);
/* In libgotflow: the device's measured ceilings (a few seconds of GPU time); 0 or GF_E*. */
int gf_cuda_ceilings(int device, struct gf_cuda_ceilings *out);

/* In libgotflow: timing events of `be`, a CUDA backend (gf_cuda_event_fns). new: 0 and *ev, or
 * GF_EINVAL (be is not a CUDA backend), GF_EUNSUPPORTED (a build without CUDA), GF_EIO. record:
 * ev behind every op launched on be so far. elapsed_ms: waits for end, then the milliseconds
 * from start to end (both recorded on be). destroy accepts NULL and nulls *ev. Typical use: a
 * warm call, record start, a burst of ops, record end, elapsed / burst. */
struct gf_cuda_event;
int gf_cuda_event_new(struct gf_backend *be, struct gf_cuda_event **ev);
int gf_cuda_event_record(struct gf_backend *be, struct gf_cuda_event *ev);
int gf_cuda_event_elapsed_ms(struct gf_backend *be, struct gf_cuda_event *start,
                             struct gf_cuda_event *end, float *ms);
void gf_cuda_event_destroy(struct gf_backend *be, struct gf_cuda_event **ev);

#endif
