/* sgemm_peer.c — OpenBLAS cblas_sgemm through dlopen. */
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

#include "sgemm_peer.h"

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

typedef void (*sgemm_fn)(int order, int ta, int tb, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta, float *c,
                         int ldc);

struct sgemm_peer {
    void *lib;
    sgemm_fn sgemm;
    int m, n, k;
    float *a, *b, *c; /* [m][k], [n][k], [m][n] */
};

struct sgemm_peer *sgemm_peer_new(int threads, int m, int n, int k)
{
    void *lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return NULL;
    struct sgemm_peer *p = calloc(1, sizeof *p);
    void (*set_threads)(int) = (void (*)(int))dlsym(lib, "openblas_set_num_threads");
    if (!p)
        goto fail;
    p->lib = lib;
    p->sgemm = (sgemm_fn)dlsym(lib, "cblas_sgemm");
    p->m = m, p->n = n, p->k = k;
    p->a = malloc(sizeof(float) * m * k);
    p->b = malloc(sizeof(float) * n * k);
    p->c = malloc(sizeof(float) * m * n);
    if (!p->sgemm || !p->a || !p->b || !p->c)
        goto fail;
    if (set_threads)
        set_threads(threads);
    for (long i = 0; i < (long)m * k; i++)
        p->a[i] = (float)(i % 7) * 0.25f;
    for (long i = 0; i < (long)n * k; i++)
        p->b[i] = (float)(i % 5) * 0.125f;
    sgemm_peer_run(p); /* warm */
    return p;
fail:
    if (p)
        sgemm_peer_destroy(&p); /* closes lib */
    else
        dlclose(lib);
    return NULL;
}

double sgemm_peer_run(struct sgemm_peer *p)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    p->sgemm(ROW_MAJOR, NO_TRANS, TRANS, p->m, p->n, p->k, 1.0f, p->a, p->k, p->b, p->k, 0.0f, p->c,
             p->n);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
}

double sgemm_peer_flops(const struct sgemm_peer *p)
{
    return 2.0 * p->m * p->n * p->k;
}

void sgemm_peer_destroy(struct sgemm_peer **self_p)
{
    struct sgemm_peer *p = *self_p;
    if (!p)
        return;
    free(p->a), free(p->b), free(p->c);
    if (p->lib)
        dlclose(p->lib);
    free(p);
    *self_p = NULL;
}
