/* pool.c — worker threads woken per parallel loop; items handed out by an atomic counter. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "kernels/cpu/pool.h"

struct gf_pool {
    int n_threads;
    pthread_t *threads; /* [n_threads - 1] */
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    unsigned long generation; /* bumped for every loop; guarded by mu */
    int stop;
    gf_pool_fn fn;
    void *arg;
    int n;
    atomic_int next;    /* next item to hand out */
    atomic_int pending; /* workers still inside the current loop */
};

static void s_drain(struct gf_pool *p)
{
    int i;
    while ((i = atomic_fetch_add(&p->next, 1)) < p->n)
        p->fn(p->arg, i);
}

static void *s_worker(void *arg)
{
    struct gf_pool *p = arg;
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        s_drain(p);
        if (atomic_fetch_sub(&p->pending, 1) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
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
    pthread_cond_init(&p->done, NULL);
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
    pthread_cond_destroy(&p->done);
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
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    atomic_store(&p->next, 0);
    atomic_store(&p->pending, p->n_threads - 1);
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    s_drain(p);
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->pending) > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

int gf_pool_threads(const struct gf_pool *p)
{
    return p->n_threads;
}
