/* bench_kernels.c — two small CPU kernels that an image step of a quantized 1B model spends
 * time in besides the weights, each beside its ceiling in the same run:
 *
 *   attention   the CPU backend's attention op over one layer's KV cache at every cache dtype
 *               (f32, f16, q8_0), the 1B shape (16 heads of 128), 2 rows (a CFG pair) at
 *               --pos positions each, 24 layers a step; its read rate against a plain read
 *               of the same bytes (the machine's memory rate at that moment)
 *   quantize    the activations of a quantized product to q8_0 blocks: the backend's form
 *               (gf_cpu_quantize_q8_0) against the scalar reference (gf_quantize), which gives
 *               the same bytes
 *
 *   build/bench/bench_kernels [--pos N] [--rounds R] [--threads T]
 *
 * Medians of R rounds (default 7). The q8_0 cache is the one quantized weights use
 * (docs/model.md); f32 is the published weights' cache. */
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/opts.h"
#include "kernels/cpu/cpu.h"
#include "kernels/cpu/quant_ops.h"
#include "kernels/ops.h"
#include "bench.h"

enum { S_HEADS = 16, S_HD = 128, S_LAYERS = 24, S_ROWS = 2, S_MAX_ROUNDS = 99 };

static float s_rand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / (1 << 24) - 0.5f;
}

struct s_slice {
    void *const *bufs; /* n_bufs buffers of `bytes` each; this thread reads slice `part` */
    int n_bufs, part, parts;
    size_t bytes;
    uint64_t sum;
};

static void *s_sum(void *arg)
{
    struct s_slice *sl = arg;
    size_t per = sl->bytes / 8 / sl->parts;
    for (int k = 0; k < sl->n_bufs; k++)
        sl->sum += gf_cpu_read_sum((const uint64_t *)sl->bufs[k] + sl->part * per, per * 8);
    return NULL;
}

/* Seconds to read n_bufs buffers of `bytes` on `threads` threads, a slice of each buffer per
 * thread, each slice as gf_cpu_read_sum's 8 streams: the rate a read of the cache could reach at
 * best. */
static double s_read(void *const *bufs, int n_bufs, size_t bytes, int threads,
                     volatile uint64_t *sink)
{
    enum { MAX_T = 64 };
    struct s_slice sl[MAX_T];
    pthread_t th[MAX_T];
    int started[MAX_T] = {0};
    threads = threads < 1 ? 1 : threads > MAX_T ? MAX_T : threads;
    double t0 = gf_bench_now();
    for (int i = 0; i < threads; i++) {
        sl[i] = (struct s_slice){bufs, n_bufs, i, threads, bytes, 0};
        if (i > 0)
            started[i] = pthread_create(&th[i], NULL, s_sum, &sl[i]) == 0;
    }
    s_sum(&sl[0]);
    for (int i = 1; i < threads; i++)
        if (started[i])
            pthread_join(th[i], NULL);
        else
            s_sum(&sl[i]);
    double t = gf_bench_now() - t0;
    for (int i = 0; i < threads; i++)
        *sink += sl[i].sum;
    return t;
}

static int s_attention(struct gf_backend *be, int pos, int rounds)
{
    static const enum gf_wtype dts[] = {GF_WTYPE_F32, GF_WTYPE_F16, GF_WTYPE_Q8_0};
    static const char *const names[] = {"f32", "f16", "q8_0"};
    size_t per = (size_t)S_ROWS * S_HEADS * pos * S_HD; /* a layer's elements, K or V */
    float *kv = malloc(per * sizeof(float)), *q = malloc(sizeof(float) * S_ROWS * S_HEADS * S_HD);
    float *o = malloc(sizeof(float) * S_ROWS * S_HEADS * S_HD);
    int32_t *slot = malloc(sizeof(int32_t) * S_ROWS * pos),
            *at = malloc(sizeof(int32_t) * S_ROWS * pos);
    if (!kv || !q || !o || !slot || !at)
        return 1;
    unsigned seed = 7;
    for (size_t i = 0; i < per; i++)
        kv[i] = s_rand(&seed);
    for (int i = 0; i < S_ROWS * S_HEADS * S_HD; i++)
        q[i] = 2 * s_rand(&seed);
    for (int r = 0; r < S_ROWS; r++)
        for (int p = 0; p < pos; p++)
            slot[r * pos + p] = r, at[r * pos + p] = p;
    printf("attention: %d rows of %d positions, %d heads of %d, %d layers a step, %d threads\n",
           S_ROWS, pos, S_HEADS, S_HD, S_LAYERS, be->n_threads);
    printf("| cache | ms a step | GB/s | plain read GB/s | ratio |\n| --- | ---: | ---: | ---: | "
           "---: |\n");
    volatile uint64_t sink = 0;
    for (size_t d = 0; d < sizeof dts / sizeof *dts; d++) {
        size_t bytes = gf_wtype_bytes(dts[d], (int64_t)per);
        void *kv_bufs[2 * S_LAYERS], **k = kv_bufs, **v = kv_bufs + S_LAYERS;
        for (int l = 0; l < S_LAYERS; l++) {
            k[l] = be->ops->alloc(be, bytes), v[l] = be->ops->alloc(be, bytes);
            if (!k[l] || !v[l])
                return 1;
            struct gf_attn a = {k[l], v[l], slot, at, S_HEADS, S_HEADS, S_HD, pos, dts[d]};
            be->ops->kv_store(be, &a, kv, kv, S_ROWS * pos);
        }
        int32_t qs[S_ROWS], qp[S_ROWS];
        for (int r = 0; r < S_ROWS; r++)
            qs[r] = r, qp[r] = pos - 1;
        double t[S_MAX_ROUNDS], rd[S_MAX_ROUNDS];
        for (int r = 0; r < rounds; r++) {
            double t0 = gf_bench_now();
            for (int l = 0; l < S_LAYERS; l++) {
                struct gf_attn a = {k[l], v[l], qs, qp, S_HEADS, S_HEADS, S_HD, pos, dts[d]};
                be->ops->attention(be, o, q, S_ROWS, &a);
            }
            t[r] = gf_bench_now() - t0;
            rd[r] = s_read(kv_bufs, 2 * S_LAYERS, bytes, be->n_threads, &sink);
        }
        double tm = gf_bench_median(t, rounds), rm = gf_bench_median(rd, rounds);
        double all = 2.0 * S_LAYERS * bytes;
        printf("| %s | %.2f | %.1f | %.1f | %.2f |\n", names[d], tm * 1e3, all / tm / 1e9,
               all / rm / 1e9, rm / tm);
        for (int l = 0; l < S_LAYERS; l++)
            be->ops->free(be, k[l]), be->ops->free(be, v[l]);
    }
    printf(
        "(plain read: the same bytes read as 8 streams a thread on as many threads, right after;\n"
        " ratio: the attention's rate over it)\n");
    free(kv), free(q), free(o), free(slot), free(at);
    return 0;
}

static int s_quantize(struct gf_backend *be, int rounds)
{
    enum { N = 5632, REPS = 2000 }; /* the 1B MLP's width */
    float *x = malloc(sizeof(float) * N);
    struct gf_block_q8_0 *a = malloc(sizeof *a * (N / GF_QK)), *b = malloc(sizeof *b * (N / GF_QK));
    if (!x || !a || !b)
        return 1;
    unsigned seed = 11;
    for (int i = 0; i < N; i++)
        x[i] = 8 * s_rand(&seed);
    double tr[S_MAX_ROUNDS], tb[S_MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        double t0 = gf_bench_now();
        for (int i = 0; i < REPS; i++)
            gf_quantize(GF_WTYPE_Q8_0, a, x, N);
        tr[r] = gf_bench_now() - t0;
        t0 = gf_bench_now();
        for (int i = 0; i < REPS; i++)
            gf_cpu_quantize_q8_0(be, b, x, N);
        tb[r] = gf_bench_now() - t0;
    }
    int same = memcmp(a, b, sizeof *a * (N / GF_QK)) == 0;
    double r = gf_bench_median(tr, rounds) / REPS / N * 1e9,
           c = gf_bench_median(tb, rounds) / REPS / N * 1e9;
    printf("quantize to q8_0, %d values: backend %.2f ns a value, scalar reference %.2f ns: "
           "%.2fx; bytes %s\n",
           N, c, r, r / c, same ? "the same" : "DIFFER");
    free(x), free(a), free(b);
    return same ? 0 : 1;
}

int main(int argc, char **argv)
{
    int pos = 630, rounds = 7, threads = 0;
    const struct gf_opt opts[] = {
        {"pos", 0, GF_OPT_INT, &pos, 1, 65536, "N",
         "positions each row attends to (default 630: a 340-token prompt and chain, then half\n"
         "a picture)"},
        {"rounds", 0, GF_OPT_INT, &rounds, 1, S_MAX_ROUNDS, "R", "timed rounds (default 7)"},
        {"threads", 0, GF_OPT_INT, &threads, 0, 1024, "T", "CPU threads (default: all cores)"},
        {0}};
    const struct gf_opts spec = {"bench_kernels", "usage: bench_kernels [options]\n\n", opts, NULL};
    int first = gf_opts_parse(&spec, argc, argv);
    if (first < 0)
        return gf_opts_status(first);
    if (first != argc) {
        gf_opts_usage(&spec, stderr);
        return 2;
    }
    gf_log_init("bench_kernels", GF_LOG_WARN);
    struct gf_backend *be = gf_backend_cpu_new(threads);
    if (!be)
        return 1;
    int rc = s_attention(be, pos, rounds) || s_quantize(be, rounds);
    gf_backend_destroy(&be);
    return rc;
}
