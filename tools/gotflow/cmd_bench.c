/* cmd_bench.c — `gotflow bench decode|prefill|image|read`: language-model throughput on the CPU
 * backend, printed next to the machine's measured read bandwidth (the decode roofline), or on
 * cuda:N (--device; the GPU's own ceilings are measured by tests/gpu/run.sh); `read` prints that
 * bandwidth and the bytes a step reads alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../bench/bench.h"
#include "cmd.h"
#include "core/log.h"
#include "core/opts.h"
#include "kernels/cpu/cpu.h"
#include "kernels/cpu/pool.h"
#include "model/lm/checkpoint.h"
#include "model/lm/llm.h"
#include "model/lm/loop.h"
#include "sgemm_peer.h"
#include "util.h"

static const char s_head[] =
    "usage: gotflow bench decode|prefill|image|read --model DIR [--threads N] [--tokens N]\n"
    "                                      [--rows N] [--device cpu|cuda:N] [--precision P]\n\n"
    "decode   N batched decode steps of --rows rows (default 16 steps, 1 row) after\n"
    "         a short prefill; prints tokens/s and the bandwidth roofline\n"
    "prefill  one prefill of N tokens (default 128); prints tokens/s and GFLOP/s\n"
    "image    stage 2 of the reference loop: --rows images under CFG (2 rows each),\n"
    "         N image tokens each (default 16) after a 64-token re-prefill\n"
    "read     the CPU's read rate now (median of N passes, default 7, 8 streams a\n"
    "         thread), and the bytes a chain token and an image step read: the\n"
    "         least time the memory allows (tools/bench/image.sh prints it)\n"
    "\n";

/* --- read bandwidth: every thread sums its share of a buffer far larger than the caches ---- */

struct s_bw {
    const uint64_t *buf;
    size_t words_per_task;
    uint64_t sums[256];
};

static void s_bw_task(void *arg, int i)
{
    struct s_bw *b = arg;
    b->sums[i & 255] +=
        gf_cpu_read_sum(b->buf + (size_t)i * b->words_per_task, b->words_per_task * 8);
}

/* The machine's read bandwidth, measured in passes interleaved with the decode steps so that
 * both see the same machine (it is shared; its load changes by the second). */
struct s_meter {
    struct gf_pool *pool;
    struct s_bw b;
    size_t bytes;
    double seconds, read;
};

static int s_meter_init(struct s_meter *m, int threads)
{
    memset(m, 0, sizeof *m);
    m->bytes = (size_t)512 << 20;
    uint64_t *buf = malloc(m->bytes);
    m->pool = gf_pool_new(threads);
    if (!buf || !m->pool) {
        free(buf);
        gf_pool_destroy(&m->pool);
        return -1;
    }
    memset(buf, 1, m->bytes);
    m->b.buf = buf;
    m->b.words_per_task = m->bytes / 8 / 64;
    gf_pool_run(m->pool, s_bw_task, &m->b, 64); /* first touch, untimed */
    return 0;
}

static void s_meter_pass(struct s_meter *m)
{
    double t0 = gf_bench_now();
    gf_pool_run(m->pool, s_bw_task, &m->b, 64);
    m->seconds += gf_bench_now() - t0;
    m->read += m->bytes;
}

static void s_meter_release(struct s_meter *m)
{
    gf_pool_destroy(&m->pool);
    free((void *)m->b.buf);
}

/* Bytes of weights one decode step reads: every layer, the final norm, the text head (with
 * `elements`, their count instead). */
static double s_step_size(const struct gf_ckpt *ck, int elements)
{
    const struct gf_model_weights *w = &ck->w;
    double n = 0;
#define B(m)                                                                                       \
    (elements ? (double)(m).rows * (m).cols                                                        \
              : (double)gf_wtype_bytes((m).dtype, (m).rows * (m).cols))
    for (int i = 0; i < ck->cfg.n_layers; i++) {
        const struct gf_layer_weights *l = &w->layers[i];
        n += B(l->attn_norm) + B(l->wq) + B(l->wk) + B(l->wv) + B(l->wo) + B(l->mlp_norm) +
             B(l->w_gate) + B(l->w_up) + B(l->w_down);
    }
    return n + B(w->norm) + B(w->lm_head);
#undef B
}

static double s_step_bytes(const struct gf_ckpt *ck)
{
    return s_step_size(ck, 0);
}

/* Bytes of weights one image step reads: a decode step's, with the image head (gen_head, and
 * the aligner that embeds the sampled token) instead of the text head. */
static double s_image_step_bytes(const struct gf_ckpt *ck)
{
    const struct gf_model_weights *w = &ck->w;
    double n = s_step_bytes(ck) -
               (double)gf_wtype_bytes(w->lm_head.dtype, w->lm_head.rows * w->lm_head.cols);
    const struct gf_mat *m[] = {&w->gh_proj, &w->gh_proj_b, &w->gh_head, &w->gh_head_b,
                                &w->al0,     &w->al0_b,     &w->al2,     &w->al2_b};
    for (size_t i = 0; i < sizeof m / sizeof *m; i++)
        n += (double)gf_wtype_bytes(m[i]->dtype, m[i]->rows * m[i]->cols);
    return n;
}

/* `gotflow bench read`: the machine's read rate now, and the bytes a chain token and an image
 * step read, so that a script can put a time beside the least the memory allows. */
static int s_read_rate(const struct gf_ckpt *ck, struct gf_backend *be, int passes)
{
    struct gf_llm *m = NULL;
    struct s_meter meter;
    if (gf_llm_new(be, ck, 2, 2, 2, &m) < 0)
        return 1;
    size_t kv = 2 * (size_t)ck->cfg.n_layers * gf_llm_kv_layer_bytes(m, 1); /* a CFG pair */
    const char *kvname = gf_wtype_name(m->kv_dtype);
    gf_llm_destroy(&m);
    if (s_meter_init(&meter, be->n_threads) < 0)
        return 1;
    double rate[64];
    passes = passes > 64 ? 64 : passes;
    for (int i = 0; i < passes; i++) {
        s_meter_pass(&meter);
        rate[i] = meter.bytes / meter.seconds;
        meter.seconds = 0;
    }
    s_meter_release(&meter);
    double med = gf_bench_median(rate, passes);
    printf("read: %.2f GB/s (median of %d passes over %zu MB, %d threads, 8 streams each)\n",
           med * 1e-9, passes, meter.bytes >> 20, be->n_threads);
    double tok = s_step_bytes(ck), img = s_image_step_bytes(ck);
    printf("chain token: %.3f GB of weights (%.0f bytes: layers, final norm, text head)\n",
           tok * 1e-9, tok);
    printf("image step: %.3f GB of weights (%.0f bytes: layers, final norm, image head, aligner) "
           "and %zu bytes of %s KV cache a position (both rows of the CFG pair)\n",
           img * 1e-9, img, kv, kvname);
    return 0;
}

static long s_resident_pages(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident;
}

/* Stage 2 of the reference loop as the pipeline runs it: re-prefill, gen_head, CFG, sampling. */
static int s_image(struct gf_ckpt *ck, struct gf_backend *be, int tokens, int images)
{
    enum { L = 64 };
    struct gf_llm *m = NULL;
    int32_t seq[L], *out = malloc((size_t)images * tokens * 4);
    int rc = 1;
    for (int i = 0; i < L; i++)
        seq[i] = (i * 7919 + 13) % ck->cfg.vocab;
    struct gf_loop_params p = {.prompt = seq,
                               .n_prompt = L,
                               .boi_id = seq[L - 1],
                               .pad_id = 0,
                               .max_text = 1,
                               .n_image = tokens,
                               .parallel = images,
                               .cfg_weight = 5.0f,
                               .image = {1.0f, 0, 1.0f},
                               .seed = 1000};
    if (!out || gf_llm_new(be, ck, 2 * images, L + tokens, L, &m) < 0)
        goto out;
    double t0 = gf_bench_now();
    if (gf_loop_image(m, &p, seq, L, out) < 0)
        goto out;
    double t = gf_bench_now() - t0;
    printf("image: %d images x %d tokens (CFG, %d rows, re-prefill of %d) in %.3f s: %.2f image "
           "tokens/s\n",
           images, tokens, 2 * images, L, t, images * tokens / t);
    rc = 0;
out:
    gf_llm_destroy(&m);
    free(out);
    return rc;
}

/* Prefill timed in rounds, each followed by OpenBLAS sgemm of the same FLOP count (shape of
 * the MLP products) so that both see the same machine. */
static int s_prefill(const struct gf_ckpt *ck, struct gf_backend *be, struct gf_llm *m,
                     const struct gf_tok *toks, int tokens)
{
    enum { ROUNDS = 3 };
    const struct gf_model_config *c = &ck->cfg;
    struct gf_tok warm = {1, 0, 0, GF_TOK_TEXT, 1};
    /* fault the mapped weights in first: time the arithmetic, not the page cache */
    if (gf_llm_forward(m, &warm, 1) < 0)
        return 1;
    double layer_params = s_step_size(ck, 1) - (double)c->vocab * c->hidden;
    double flops = 2.0 * layer_params * tokens + 2.0 * c->vocab * c->hidden;
    struct sgemm_peer *peer = NULL;
    if (strcmp(be->ops->name, "cuda") != 0) /* a CPU peer says nothing about a GPU */
        peer = sgemm_peer_new(be->n_threads, tokens, c->intermediate, c->hidden);
    int reps = peer ? (int)(flops / sgemm_peer_flops(peer) + 0.5) : 0;
    double t_ours = 0, t_peer = 0;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = gf_bench_now();
        if (gf_llm_forward(m, toks, tokens) < 0) {
            sgemm_peer_destroy(&peer);
            return 1;
        }
        gf_llm_text_logits(m);
        t_ours += gf_bench_now() - t0;
        for (int i = 0; i < reps; i++)
            t_peer += sgemm_peer_run(peer);
    }
    double ours = flops * ROUNDS / t_ours;
    printf("prefill: %d tokens x %d rounds: %.1f tokens/s, %.1f GFLOP/s in the products\n", tokens,
           ROUNDS, tokens * ROUNDS / t_ours, ours * 1e-9);
    if (peer) {
        double theirs = sgemm_peer_flops(peer) * reps * ROUNDS / t_peer;
        printf("sgemm (OpenBLAS, f32, %dx%dx%d, interleaved): %.1f GFLOP/s; prefill at %.0f%% "
               "of it\n",
               tokens, c->intermediate, c->hidden, theirs * 1e-9, 100 * ours / theirs);
    } else if (strcmp(be->ops->name, "cuda") != 0) {
        printf("sgemm: OpenBLAS not installed (libopenblas0-pthread), no comparison\n");
    }
    sgemm_peer_destroy(&peer);
    return 0;
}

static int s_run(const char *mode, const char *dir, const char *device, int threads,
                 const char *prec, int tokens, int rows)
{
    int gpu = device && strcmp(device, "cpu") != 0;
    int decode = strcmp(mode, "decode") == 0, rc = 1, pre = decode ? 8 : tokens;
    struct gf_ckpt *ck = NULL;
    struct gf_backend *be = NULL;
    struct gf_llm *m = NULL;
    struct gf_tok *toks = NULL;
    struct s_meter meter = {0};
    long pages0 = s_resident_pages();
    int quant;
    gf_precision_parse(prec, &quant);
    if (gf_ckpt_open(dir, &ck) < 0)
        goto out;
    printf("load: %.2f GB of weights mapped, resident memory grew by %.1f MB\n",
           gf_ckpt_bytes(ck) * 1e-9, (s_resident_pages() - pages0) * sysconf(_SC_PAGESIZE) * 1e-6);
    double q0 = gf_bench_now();
    if (gf_ckpt_precision(ck, prec) < 0)
        goto out;
    if (quant >= 0)
        printf("quantized the language model to %s in %.2f s (lm_head Q8_0)\n", prec,
               gf_bench_now() - q0);
    be = gf_cli_backend(device, threads, prec);
    if (be && strcmp(mode, "read") == 0) {
        rc = s_read_rate(ck, be, tokens);
        goto out;
    }
    if (be && strcmp(mode, "image") == 0) {
        printf("model '%s': %d threads\n", dir, be->n_threads);
        rc = s_image(ck, be, tokens, rows);
        goto out;
    }
    int chunk = decode ? pre * rows : tokens;
    if (!be || gf_llm_new(be, ck, rows, pre + (decode ? tokens : 0) + 1, chunk, &m) < 0)
        goto out;
    toks = calloc(chunk, sizeof *toks);
    if (!toks)
        goto out;
    const struct gf_model_config *c = &ck->cfg;
    const char *dt = gf_wtype_name(ck->w.layers[0].wq.dtype);
    printf("model '%s': hidden %d, %d layers, vocab %d, %s weights; %d threads\n", dir, c->hidden,
           c->n_layers, c->vocab, dt, be->n_threads);
    for (int i = 0; i < chunk; i++) /* rows x prompt, every token of a row in its own slot */
        toks[i] = (struct gf_tok){(i * 7919 + 13) % c->vocab, i / pre, i % pre, GF_TOK_TEXT,
                                  i % pre == pre - 1};
    if (!decode) {
        rc = s_prefill(ck, be, m, toks, tokens);
        goto out;
    }
    if (gf_llm_forward(m, toks, chunk) < 0) /* each row's short prompt */
        goto out;
    if (!gpu && s_meter_init(&meter, be->n_threads) < 0)
        goto out;
    double step = s_step_bytes(ck), t = 0, t0;
    for (int s = 0; s < tokens; s++) {
        if (!gpu)
            s_meter_pass(&meter);
        for (int r = 0; r < rows; r++)
            toks[r] = (struct gf_tok){(s * 31 + r) % c->vocab, r, pre + s, GF_TOK_TEXT, 1};
        t0 = gf_bench_now();
        if (gf_llm_forward(m, toks, rows) < 0)
            goto out;
        gf_llm_text_logits(m);
        t += gf_bench_now() - t0;
    }
    double tps = (double)tokens * rows / t;
    printf("decode: %d steps x %d rows in %.3f s: %.2f tokens/s (%.1f ms/step)\n", tokens, rows, t,
           tps, t / tokens * 1e3);
    if (gpu) {
        printf("weights read per step: %.3f GB (%.0f GB/s); the HBM roofline: tests/gpu/run.sh\n",
               step * 1e-9, step / (t / tokens) * 1e-9);
        rc = 0;
        goto out;
    }
    double bw = meter.read / meter.seconds, roof = bw / step * rows;
    printf("roofline: read bandwidth %.2f GB/s (interleaved with the steps) / %.3f GB per step = "
           "%.2f tokens/s; decode at %.0f%% of it\n",
           bw * 1e-9, step * 1e-9, roof, 100 * tps / roof);
    rc = 0;
out:
    s_meter_release(&meter);
    free(toks);
    gf_llm_destroy(&m);
    gf_backend_destroy(&be);
    gf_ckpt_close(&ck);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    const char *dir = NULL, *device = NULL, *prec = NULL;
    int threads = 0, tokens = 0, rows = 1;
    const struct gf_opt opts[] = {
        {"model", 0, GF_OPT_STRING, &dir, 0, 0, "DIR", "checkpoint directory (required)"},
        {"threads", 0, GF_OPT_INT, &threads, 0, 1024, "N", "CPU threads (default: all cores)"},
        {"tokens", 0, GF_OPT_INT, &tokens, 1, 1 << 20, "N", "steps or tokens, as above"},
        {"rows", 0, GF_OPT_INT, &rows, 1, 256, "N", "rows of a batch (default 1)"},
        {"device", 0, GF_OPT_STRING, &device, 0, 0, "cpu|cuda:N", "where to run (default cpu)"},
        {"precision", 0, GF_OPT_STRING, &prec, 0, 0, "P",
         "bf16 or f32: the arithmetic on cuda:N, and on the CPU f32 is the\n"
         "exact path (f32 KV cache under bf16 weights); q8_0 or q4_0: the\n"
         "language model's weights quantized at load (CPU; docs/model.md)"},
        {0}};
    const struct gf_opts spec = {"gotflow bench", s_head, opts, NULL};
    if (argc < 2 || (strcmp(argv[1], "decode") != 0 && strcmp(argv[1], "prefill") != 0 &&
                     strcmp(argv[1], "image") != 0 && strcmp(argv[1], "read") != 0)) {
        int help = gf_cmd_wants_help(argc, argv);
        gf_opts_usage(&spec, help ? stdout : stderr);
        return help ? 0 : 2;
    }
    const char *mode = argv[1];
    int first = gf_opts_parse(&spec, argc - 1, argv + 1); /* argv[1], the mode, as its name */
    if (first < 0)
        return gf_opts_status(first);
    if (!tokens)
        tokens = strcmp(mode, "prefill") == 0 ? 128 : strcmp(mode, "read") == 0 ? 7 : 16;
    if (!dir || first != argc - 1) {
        gf_opts_usage(&spec, stderr);
        return 2;
    }
    if (gf_cli_device_check("bench", device, NULL) || gf_cli_quant_check("bench", device, prec))
        return 2;
    if (strcmp(mode, "read") == 0 && device && strcmp(device, "cpu") != 0) {
        fprintf(stderr, "gotflow bench: read measures the CPU's memory; drop --device %s\n",
                device);
        return 2;
    }
    return s_run(mode, dir, device, threads, prec, tokens, rows);
}
