/* pool.c — worker threads woken per parallel loop; items handed out by one atomic ticket.
 *
 * The ticket holds (generation << 32 | next item), so a worker that wakes late can never take an
 * item of a later loop with the function of an earlier one. The caller waits for the items to be
 * done, not for every worker to check in: on a busy machine a worker that is not scheduled in
 * time simply takes no part, and the caller does its share instead of waiting for it.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "kernels/cpu/pool.h"

struct gf_pool {
    int n_threads;
    pthread_t *threads; /* [n_threads - 1] */
    pthread_mutex_t mu;
    pthread_cond_t wake, done_cv;
    uint32_t generation; /* bumped for every loop; guarded by mu */
    int stop, waiting;   /* guarded by mu */
    gf_pool_fn fn;       /* the current loop; guarded by mu */
    void *arg;
    int n;
    _Atomic uint32_t posted; /* generation, for the workers' spin; written under mu */
    _Atomic uint64_t ticket; /* generation << 32 | next item */
    atomic_int done;         /* items finished in the current loop */
};

/* Runs items of loop `gen` while there are any; returns how many this thread ran. */
static void s_drain(struct gf_pool *p, uint32_t gen, gf_pool_fn fn, void *arg, int n)
{
    for (;;) {
        uint64_t t = atomic_load(&p->ticket);
        if ((uint32_t)(t >> 32) != gen || (int)(uint32_t)t >= n)
            return;
        if (!atomic_compare_exchange_weak(&p->ticket, &t, t + 1))
            continue;
        fn(arg, (int)(uint32_t)t);
        if (atomic_fetch_add(&p->done, 1) + 1 == n) {
            pthread_mutex_lock(&p->mu);
            if (p->waiting)
                pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

/* How long a worker looks for the next loop before it sleeps. A forward pass runs its loops
 * back to back, microseconds apart; a worker asleep is woken by a futex and the scheduler, which
 * on a virtual machine takes tens of microseconds, while the caller runs the loop alone. */
#define S_SPIN_NS 200000

static uint64_t s_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Waits up to S_SPIN_NS for a loop after `seen`, yielding the core to anything else runnable. */
static void s_spin(struct gf_pool *p, uint32_t seen)
{
    uint64_t t0 = s_now_ns();
    while (atomic_load_explicit(&p->posted, memory_order_relaxed) == seen) {
        for (int i = 0; i < 64; i++)
            if (atomic_load_explicit(&p->posted, memory_order_relaxed) != seen)
                return;
        if (s_now_ns() - t0 > S_SPIN_NS)
            return;
        sched_yield();
    }
}

static void *s_worker(void *arg)
{
    struct gf_pool *p = arg;
    uint32_t seen = 0;
    for (;;) {
        s_spin(p, seen);
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->generation;
        gf_pool_fn fn = p->fn;
        void *a = p->arg;
        int n = p->n;
        pthread_mutex_unlock(&p->mu);
        s_drain(p, seen, fn, a, n);
    }
}

struct gf_pool *gf_pool_new(int n_threads)
{
    struct gf_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n_threads = n_threads < 1 ? 1 : n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    p->threads = calloc(p->n_threads, sizeof *p->threads);
    if (!p->threads)
        goto fail;
    for (int i = 0; i < p->n_threads - 1; i++)
        if (pthread_create(&p->threads[i], NULL, s_worker, p) != 0) {
            p->n_threads = i + 1; /* the ones started are joined by destroy */
            goto fail;
        }
    return p;
fail:
    gf_pool_destroy(&p);
    return NULL;
}

void gf_pool_destroy(struct gf_pool **self_p)
{
    struct gf_pool *p = *self_p;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; p->threads && i < p->n_threads - 1; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done_cv);
    free(p->threads);
    free(p);
    *self_p = NULL;
}

void gf_pool_run(struct gf_pool *p, gf_pool_fn fn, void *arg, int n)
{
    if (p->n_threads == 1 || n <= 1) {
        for (int i = 0; i < n; i++)
            fn(arg, i);
        return;
    }
    pthread_mutex_lock(&p->mu);
    uint32_t gen = ++p->generation;
    p->fn = fn, p->arg = arg, p->n = n;
    atomic_store(&p->done, 0);
    atomic_store(&p->ticket, (uint64_t)gen << 32);
    atomic_store(&p->posted, gen);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    s_drain(p, gen, fn, arg, n);
    /* the items other threads took are short: spin a little before sleeping */
    for (int spin = 0; spin < 2000 && atomic_load(&p->done) < n; spin++)
        sched_yield();
    if (atomic_load(&p->done) < n) {
        pthread_mutex_lock(&p->mu);
        p->waiting = 1;
        while (atomic_load(&p->done) < n)
            pthread_cond_wait(&p->done_cv, &p->mu);
        p->waiting = 0;
        pthread_mutex_unlock(&p->mu);
    }
}

int gf_pool_threads(const struct gf_pool *p)
{
    return p->n_threads;
}
