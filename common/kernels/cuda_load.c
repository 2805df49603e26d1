/* cuda_load.c — finds and loads the CUDA backend (libgotflow-cuda.so) on first use, so that only
 * a process that asks for cuda:N pays for loading the CUDA runtime and cuBLAS (about 150 ms per
 * process start when they are linked in). Built into every program; without nvcc at build time
 * GF_CUDA_LIB is not defined and the CUDA backend reports that this build has none. */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "kernels/cuda/abi.h"
#include "kernels/ops.h"

int gf_cuda_mode_parse(const char *name, enum gf_cuda_mode *mode)
{
    if (!name || strcmp(name, "bf16") == 0)
        *mode = GF_CUDA_BF16;
    else if (strcmp(name, "f32") == 0)
        *mode = GF_CUDA_F32;
    else
        return GF_EINVAL;
    return 0;
}

#ifndef GF_CUDA_LIB

int gf_backend_cuda_built(void)
{
    return 0;
}

struct gf_backend *gf_backend_cuda_new(int device, enum gf_cuda_mode mode)
{
    gf_log_error("cuda:%d: this build has only the CPU backend (nvcc was not found when it was "
                 "built)",
                 device);
    return NULL;
}

int gf_cuda_probe_versions(char *buf, size_t len)
{
    snprintf(buf, len, "this build has no CUDA backend");
    return GF_EUNSUPPORTED;
}

int gf_cuda_ceilings(int device, struct gf_cuda_ceilings *out)
{
    gf_log_error("cuda:%d: this build has only the CPU backend", device);
    return GF_EUNSUPPORTED;
}

int gf_cuda_event_new(struct gf_backend *be, struct gf_cuda_event **ev)
{
    *ev = NULL;
    return GF_EUNSUPPORTED;
}

int gf_cuda_event_record(struct gf_backend *be, struct gf_cuda_event *ev)
{
    return GF_EUNSUPPORTED;
}

int gf_cuda_event_elapsed_ms(struct gf_backend *be, struct gf_cuda_event *start,
                             struct gf_cuda_event *end, float *ms)
{
    *ms = 0;
    return GF_EUNSUPPORTED;
}

void gf_cuda_event_destroy(struct gf_backend *be, struct gf_cuda_event **ev)
{
    *ev = NULL;
}

#else

static void *s_lib;

int gf_backend_cuda_built(void)
{
    return 1;
}

/* GOTFLOW_CUDA_LIB, else beside the program (../lib/), else where the build put it. */
static void *s_open(char *why, size_t len)
{
    const char *env = getenv("GOTFLOW_CUDA_LIB");
    if (env && *env) {
        void *h = dlopen(env, RTLD_NOW | RTLD_LOCAL);
        if (!h)
            snprintf(why, len, "cannot load '%s': %s", env, dlerror());
        return h;
    }
    char exe[PATH_MAX], path[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(path, sizeof path, "%s/../lib/%s", exe, GF_CUDA_LIB_NAME);
            if (access(path, R_OK) == 0) {
                void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
                if (!h)
                    snprintf(why, len, "cannot load '%s': %s", path, dlerror());
                return h;
            }
        }
    }
    void *h = dlopen(GF_CUDA_LIB, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        snprintf(why, len, "cannot load '%s': %s", GF_CUDA_LIB, dlerror());
    return h;
}

static void *s_symbol(const char *name, char *why, size_t len)
{
    if (!s_lib && !(s_lib = s_open(why, len)))
        return NULL;
    void *f = dlsym(s_lib, name);
    if (!f)
        snprintf(why, len, "the CUDA backend library has no '%s'", name);
    return f;
}

struct gf_backend *gf_backend_cuda_new(int device, enum gf_cuda_mode mode)
{
    static const struct gf_cuda_host host = {GF_CUDA_ABI, gf_log};
    char why[512] = "";
    gf_cuda_create_fn create = (gf_cuda_create_fn)s_symbol(GF_CUDA_CREATE_SYMBOL, why, sizeof why);
    if (!create) {
        gf_log_error("cuda:%d: %s", device, why);
        return NULL;
    }
    struct gf_backend *be = create(&host, device, mode, why, sizeof why);
    if (!be)
        gf_log_error("%s", why);
    return be;
}

int gf_cuda_probe_versions(char *buf, size_t len)
{
    gf_cuda_probe_fn probe = (gf_cuda_probe_fn)s_symbol(GF_CUDA_PROBE_SYMBOL, buf, len);
    return probe ? probe(buf, len) : GF_EIO;
}

int gf_cuda_ceilings(int device, struct gf_cuda_ceilings *out)
{
    char why[512] = "";
    gf_cuda_measure_fn f = (gf_cuda_measure_fn)s_symbol(GF_CUDA_MEASURE_SYMBOL, why, sizeof why);
    if (!f || f(device, out, why, sizeof why) < 0) {
        gf_log_error("cuda:%d: %s", device, why);
        return GF_EIO;
    }
    return 0;
}

/* The library's event table when be is one of its backends (its ops are named "cuda"); else
 * NULL with *rc GF_EINVAL (the events of a CPU backend do not exist), or GF_EIO when the library
 * lacks the table (logged). */
static const struct gf_cuda_event_fns *s_events(struct gf_backend *be, int *rc)
{
    static const struct gf_cuda_event_fns *fns;
    char why[512] = "";
    *rc = GF_EINVAL;
    if (!be || !be->ops || !be->ops->name || strcmp(be->ops->name, "cuda") != 0)
        return NULL;
    if (!fns && !(fns = s_symbol(GF_CUDA_EVENTS_SYMBOL, why, sizeof why)))
        gf_log_error("cuda: %s", why);
    *rc = fns ? 0 : GF_EIO;
    return fns;
}

int gf_cuda_event_new(struct gf_backend *be, struct gf_cuda_event **ev)
{
    int rc;
    const struct gf_cuda_event_fns *f = s_events(be, &rc);
    void *e = NULL;
    *ev = NULL;
    if (!f)
        return rc;
    if ((rc = f->create(be, &e)) == 0)
        *ev = e;
    return rc;
}

int gf_cuda_event_record(struct gf_backend *be, struct gf_cuda_event *ev)
{
    int rc;
    const struct gf_cuda_event_fns *f = s_events(be, &rc);
    return !f ? rc : ev ? f->record(be, ev) : GF_EINVAL;
}

int gf_cuda_event_elapsed_ms(struct gf_backend *be, struct gf_cuda_event *start,
                             struct gf_cuda_event *end, float *ms)
{
    int rc;
    const struct gf_cuda_event_fns *f = s_events(be, &rc);
    *ms = 0;
    return !f ? rc : start && end ? f->elapsed_ms(be, start, end, ms) : GF_EINVAL;
}

void gf_cuda_event_destroy(struct gf_backend *be, struct gf_cuda_event **ev)
{
    int rc;
    const struct gf_cuda_event_fns *f = *ev ? s_events(be, &rc) : NULL;
    if (f)
        f->destroy(be, *ev);
    *ev = NULL;
}

#endif
