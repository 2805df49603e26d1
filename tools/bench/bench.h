/* bench.h — the clock and the order statistics of the benchmarks in this folder. */
#ifndef GF_TOOLS_BENCH_BENCH_H
#define GF_TOOLS_BENCH_BENCH_H

#include <stdlib.h>
#include <time.h>

/* Seconds on the monotonic clock. */
static inline double gf_bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* qsort's order of doubles, ascending. */
static inline int gf_bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[n] (n >= 1); sorts v. */
static inline double gf_bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, gf_bench_cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#endif
