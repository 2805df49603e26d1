/* pool.h — a fixed pool of worker threads running one parallel loop at a time.
 *
 * gf_pool_run(pool, fn, arg, n) calls fn(arg, i) once for every i in [0, n), spread over the
 * workers and the calling thread, and returns when all are done. Not reentrant: one caller at
 * a time. Which thread runs which i is not fixed, so fn must not depend on it.
 */
#ifndef GF_KERNELS_CPU_POOL_H
#define GF_KERNELS_CPU_POOL_H

struct gf_pool;

typedef void (*gf_pool_fn)(void *arg, int i);

/* n_threads counts the caller; 1 means no worker threads. NULL on failure. */
struct gf_pool *gf_pool_new(int n_threads);
void gf_pool_destroy(struct gf_pool **self_p);
void gf_pool_run(struct gf_pool *pool, gf_pool_fn fn, void *arg, int n);
int gf_pool_threads(const struct gf_pool *pool);

#endif
