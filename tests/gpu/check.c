/* check.c — the CUDA backend on a GPU, against the CPU backend (tests/gpu/run.sh runs it).
 *
 *   check ops [SEED]     every op of struct gf_ops on fresh random inputs, CUDA against the CPU
 *                        backend: f32 mode within 1e-5, bf16 mode within 1e-2
 *   check loop TINY      the reference loop (GoT-R1 stage 1 + stage 2 under CFG) greedy on the
 *                        CPU and on CUDA in f32 mode: every token must agree; then the VQ
 *                        decode of its codes within 1e-5 (bf16 mode: agreement reported)
 *   check time BIG       ceilings (HBM copy, bf16 GEMM) and timings of a bf16 checkpoint:
 *                        decode at batch 1, image tokens with 16 CFG pairs, prefill, VQ decode,
 *                        one image end to end; each row with its ratio to the ceiling
 *
 * Errors are normwise: max|cuda - cpu| / max|cpu| over the op's output. Each check prints one
 * row; the exit status is 1 when any check failed (timings never fail). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/log.h"
#include "kernels/cuda/abi.h"
#include "kernels/ops.h"
#include "model/lm/checkpoint.h"
#include "model/lm/llm.h"
#include "model/lm/loop.h"
#include "model/lm/sampler.h"
#include "model/lm/vq.h"

static uint64_t s_state;

static float s_rand(void) /* uniform in [-1, 1) */
{
    s_state ^= s_state << 13;
    s_state ^= s_state >> 7;
    s_state ^= s_state << 17;
    return (float)((s_state >> 40) * (1.0 / (1 << 23))) - 1.0f;
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *s_rnd(int64_t n, float scale)
{
    float *p = malloc(n * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = s_rand() * scale;
    return p;
}

/* A matrix of random values stored as dt. Never freed: the CUDA backend keys its device copy of
 * a weight by the host address, which must not come back with other contents. */
static struct gf_mat s_mat(enum gf_wtype dt, int64_t rows, int64_t cols, float scale)
{
    struct gf_mat m = {dt, rows, cols, NULL};
    void *p = malloc(rows * cols * gf_wtype_size(dt));
    for (int64_t i = 0; i < rows * cols; i++)
        gf_wtype_put(p, i, dt, s_rand() * scale);
    m.data = p;
    return m;
}

/* The backend under test: CUDA, or with GOTFLOW_CHECK_BACKEND=ref (or cpu) the scalar reference
 * (or the CPU backend), to check this program itself on a machine without a GPU. */
static struct gf_backend *s_gpu_new(enum gf_cuda_mode mode)
{
    const char *fake = getenv("GOTFLOW_CHECK_BACKEND");
    if (fake && strcmp(fake, "ref") == 0)
        return gf_backend_ref_new();
    if (fake && strcmp(fake, "cpu") == 0)
        return gf_backend_cpu_new(0);
    return gf_backend_cuda_new(0, mode);
}

static int s_backend_ok(struct gf_backend *be)
{
    return !be->ops->check || be->ops->check(be) == 0;
}

/* --- ops ---------------------------------------------------------------------------------- */

struct s_env {
    struct gf_backend *cpu, *gpu;
    const char *mode;
    double tol;
    int checks, failed;
};

static void *s_up(struct gf_backend *be, const void *host, size_t bytes)
{
    void *p = be->ops->alloc(be, bytes);
    if (p && host)
        be->ops->to_device(be, p, host, bytes);
    return p;
}

static float *s_down(struct gf_backend *be, const void *dev, size_t bytes)
{
    float *h = malloc(bytes);
    be->ops->to_host(be, h, dev, bytes);
    return h;
}

static double s_err(const float *a, const float *b, int64_t n)
{
    double d = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) && isfinite(b[i]))
            return INFINITY;
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return m > 0 ? d / m : d;
}

/* Compares the device output dev[n] with the CPU's ref[n]; one row. */
static void s_report(struct s_env *e, const char *op, const char *what, const void *dev,
                     const float *ref, int64_t n)
{
    float *got = s_down(e->gpu, dev, n * sizeof(float));
    double err = s_err(got, ref, n);
    int dev_ok = s_backend_ok(e->gpu);
    int ok = dev_ok && err <= e->tol;
    e->checks++;
    e->failed += !ok;
    printf("  %-11s %-44s %-5s %9.2e  (tol %.0e) %s%s\n", op, what, e->mode, err, e->tol,
           ok ? "ok" : "FAIL", dev_ok ? "" : " (device error)");
    fflush(stdout);
    free(got);
}

static void s_linear(struct s_env *e, enum gf_wtype dt, int rows, int cols, int n, int bias)
{
    struct gf_mat w = s_mat(dt, rows, cols, 0.5f), b = s_mat(GF_WTYPE_F32, 1, rows, 1.0f);
    float *x = s_rnd((int64_t)n * cols, 1.0f), *y = malloc((size_t)n * rows * 4);
    e->cpu->ops->linear(e->cpu, y, x, n, &w, bias ? &b : NULL);
    float *dx = s_up(e->gpu, x, (size_t)n * cols * 4),
          *dy = s_up(e->gpu, NULL, (size_t)n * rows * 4);
    e->gpu->ops->linear(e->gpu, dy, dx, n, &w, bias ? &b : NULL);
    char what[96];
    snprintf(what, sizeof what, "%s %dx%d, %d tokens%s", gf_wtype_name(dt), rows, cols, n,
             bias ? ", bias" : "");
    s_report(e, "linear", what, dy, y, (int64_t)n * rows);
    e->gpu->ops->free(e->gpu, dx), e->gpu->ops->free(e->gpu, dy);
    free(x), free(y);
}

static void s_rowops(struct s_env *e)
{
    enum { N = 7, D = 2048 };
    struct gf_mat w = s_mat(GF_WTYPE_BF16, 1, D, 1.0f);
    float *x = s_rnd(N * D, 2.0f), *y = malloc(N * D * 4);
    float *dx = s_up(e->gpu, x, N * D * 4), *dy = s_up(e->gpu, NULL, N * D * 4);
    e->cpu->ops->rmsnorm(e->cpu, y, x, N, D, &w, 1e-6f);
    e->gpu->ops->rmsnorm(e->gpu, dy, dx, N, D, &w, 1e-6f);
    s_report(e, "rmsnorm", "7 x 2048, bf16 weight", dy, y, N * D);

    /* rope on q-like rows: 16 heads of 128 at positions up to 4000 */
    int32_t pos[N];
    for (int i = 0; i < N; i++)
        pos[i] = (int)((s_rand() + 1) * 2000);
    int32_t *dpos = s_up(e->gpu, pos, sizeof pos);
    memcpy(y, x, N * D * 4);
    e->gpu->ops->to_device(e->gpu, dy, x, N * D * 4);
    e->cpu->ops->rope(e->cpu, y, N, D, 16, 128, pos, 10000.0f);
    e->gpu->ops->rope(e->gpu, dy, N, D, 16, 128, dpos, 10000.0f);
    s_report(e, "rope", "7 x 16 heads x 128, positions < 4000", dy, y, N * D);

    struct gf_mat tb = s_mat(GF_WTYPE_BF16, 500, D, 1.0f), tf = s_mat(GF_WTYPE_F32, 500, D, 1.0f);
    int32_t ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = (int)((s_rand() + 1) * 249.9);
    int32_t *dids = s_up(e->gpu, ids, sizeof ids);
    e->cpu->ops->embed(e->cpu, y, &tb, ids, N);
    e->gpu->ops->embed(e->gpu, dy, &tb, dids, N);
    s_report(e, "embed", "bf16 table 500 x 2048, 7 ids", dy, y, N * D);
    e->cpu->ops->embed(e->cpu, y, &tf, ids, N);
    e->gpu->ops->embed(e->gpu, dy, &tf, dids, N);
    s_report(e, "embed", "f32 table 500 x 2048, 7 ids", dy, y, N * D);
    e->gpu->ops->free(e->gpu, dx), e->gpu->ops->free(e->gpu, dy);
    e->gpu->ops->free(e->gpu, dpos), e->gpu->ops->free(e->gpu, dids);
    free(x), free(y);
}

static void s_elementwise(struct s_env *e)
{
    enum { N = 100003 };
    float *a = s_rnd(N, 4.0f), *b = s_rnd(N, 4.0f), *y = malloc(N * 4);
    float *da = s_up(e->gpu, a, N * 4), *db = s_up(e->gpu, b, N * 4),
          *dy = s_up(e->gpu, NULL, N * 4);
    e->cpu->ops->swiglu(e->cpu, y, a, b, N);
    e->gpu->ops->swiglu(e->gpu, dy, da, db, N);
    s_report(e, "swiglu", "100003", dy, y, N);
    memcpy(y, a, N * 4);
    e->gpu->ops->to_device(e->gpu, dy, a, N * 4);
    e->cpu->ops->gelu(e->cpu, y, N);
    e->gpu->ops->gelu(e->gpu, dy, N);
    s_report(e, "gelu", "100003", dy, y, N);
    e->cpu->ops->add(e->cpu, y, b, N);
    e->gpu->ops->add(e->gpu, dy, db, N);
    s_report(e, "add", "100003 (onto the gelu output)", dy, y, N);
    memcpy(y, a, N * 4);
    e->gpu->ops->to_device(e->gpu, dy, a, N * 4);
    e->cpu->ops->swish(e->cpu, y, N);
    e->gpu->ops->swish(e->gpu, dy, N);
    s_report(e, "swish", "100003", dy, y, N);
    e->gpu->ops->free(e->gpu, da), e->gpu->ops->free(e->gpu, db), e->gpu->ops->free(e->gpu, dy);
    free(a), free(b), free(y);
}

/* kv_store then attention over a cache of random history: a prefill chunk on top of slot 0,
 * single tokens in slots 1 and 2 (the first and the last position, two neighbours). */
static void s_attention(struct s_env *e, int heads, int kv_heads, int hd)
{
    enum { SLOTS = 3, SEQ = 300, N = 12 };
    int kvd = kv_heads * hd, qd = heads * hd;
    size_t cache = (size_t)SLOTS * SEQ * kvd;
    float *kc = s_rnd(cache, 1.0f), *vc = s_rnd(cache, 1.0f);
    float *q = s_rnd((int64_t)N * qd, 1.0f), *k = s_rnd((int64_t)N * kvd, 1.0f);
    float *v = s_rnd((int64_t)N * kvd, 1.0f), *out = malloc((size_t)N * qd * 4);
    int32_t slot[N] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2};
    int32_t pos[N] = {40, 41, 42, 43, 44, 45, 46, 47, 0, SEQ - 1, 150, 151};
    float *dkc = s_up(e->gpu, kc, cache * 4), *dvc = s_up(e->gpu, vc, cache * 4);
    float *dq = s_up(e->gpu, q, (size_t)N * qd * 4), *dk = s_up(e->gpu, k, (size_t)N * kvd * 4);
    float *dv = s_up(e->gpu, v, (size_t)N * kvd * 4),
          *dout = s_up(e->gpu, NULL, (size_t)N * qd * 4);
    int32_t *dslot = s_up(e->gpu, slot, sizeof slot), *dpos = s_up(e->gpu, pos, sizeof pos);
    struct gf_attn a = {kc, vc, slot, pos, heads, kv_heads, hd, SEQ};
    struct gf_attn da = {dkc, dvc, dslot, dpos, heads, kv_heads, hd, SEQ};
    e->cpu->ops->kv_store(e->cpu, &a, k, v, N);
    e->cpu->ops->attention(e->cpu, out, q, N, &a);
    e->gpu->ops->kv_store(e->gpu, &da, dk, dv, N);
    e->gpu->ops->attention(e->gpu, dout, dq, N, &da);
    char what[96];
    snprintf(what, sizeof what, "%d heads (%d kv) x %d, 12 tokens, 3 slots", heads, kv_heads, hd);
    s_report(e, "kv_store", what, dkc, kc, cache);
    s_report(e, "attention", what, dout, out, (int64_t)N * qd);
    float *bufs[] = {dkc, dvc, dq, dk, dv, dout};
    for (int i = 0; i < 6; i++)
        e->gpu->ops->free(e->gpu, bufs[i]);
    e->gpu->ops->free(e->gpu, dslot), e->gpu->ops->free(e->gpu, dpos);
    free(kc), free(vc), free(q), free(k), free(v), free(out);
}

static void s_conv(struct s_env *e, enum gf_wtype dt, int k, int cin, int cout)
{
    enum { N = 2, H = 12, W = 12 };
    int64_t in = (int64_t)N * H * W * cin, outn = (int64_t)N * H * W * cout;
    struct gf_mat w = s_mat(dt, cout, (int64_t)cin * k * k, 0.2f);
    struct gf_mat b = s_mat(GF_WTYPE_F32, 1, cout, 1.0f);
    float *x = s_rnd(in, 1.0f), *y = malloc(outn * 4);
    int64_t wl = GF_CONV2D_WORK(cin, cout, k);
    float *work = malloc(wl * 4);
    float *dx = s_up(e->gpu, x, in * 4), *dy = s_up(e->gpu, NULL, outn * 4);
    float *dwork = s_up(e->gpu, NULL, 4096 * 4);
    e->cpu->ops->conv2d(e->cpu, y, x, N, H, W, k, &w, &b, work, wl);
    e->gpu->ops->conv2d(e->gpu, dy, dx, N, H, W, k, &w, &b, dwork, 4096);
    char what[96];
    snprintf(what, sizeof what, "%s %dx%d, %d -> %d ch, 2 x 12x12", gf_wtype_name(dt), k, k, cin,
             cout);
    s_report(e, "conv2d", what, dy, y, outn);
    e->gpu->ops->free(e->gpu, dx), e->gpu->ops->free(e->gpu, dy), e->gpu->ops->free(e->gpu, dwork);
    free(x), free(y), free(work);
}

static void s_vq_ops(struct s_env *e)
{
    enum { N = 2, HW = 576, C = 128, G = 32 };
    int64_t total = (int64_t)N * HW * C;
    struct gf_mat w = s_mat(GF_WTYPE_F32, 1, C, 1.0f), b = s_mat(GF_WTYPE_F32, 1, C, 1.0f);
    float *x = s_rnd(total, 3.0f), *y = malloc(total * 4 * 4);
    for (int64_t i = 0; i < total; i++)
        x[i] += 0.5f; /* a mean away from zero */
    float *work = malloc(GF_GROUP_NORM_WORK(N, C) * 4);
    float *dx = s_up(e->gpu, x, total * 4), *dy = s_up(e->gpu, NULL, total * 4 * 4);
    float *dwork = s_up(e->gpu, NULL, GF_GROUP_NORM_WORK(N, C) * 4);
    for (int sw = 0; sw < 2; sw++) {
        e->cpu->ops->group_norm(e->cpu, y, x, N, HW, C, G, &w, &b, 1e-6f, sw, work);
        e->gpu->ops->group_norm(e->gpu, dy, dx, N, HW, C, G, &w, &b, 1e-6f, sw, dwork);
        s_report(e, "group_norm",
                 sw ? "2 x 576 x 128, 32 groups, swish" : "2 x 576 x 128, 32 groups", dy, y, total);
    }
    e->cpu->ops->upsample2x(e->cpu, y, x, N, 24, 24, C);
    e->gpu->ops->upsample2x(e->gpu, dy, dx, N, 24, 24, C);
    s_report(e, "upsample2x", "2 x 24x24 x 128", dy, y, total * 4);
    e->cpu->ops->transpose(e->cpu, y, x, 1000, 37);
    e->gpu->ops->transpose(e->gpu, dy, dx, 1000, 37);
    s_report(e, "transpose", "1000 x 37", dy, y, 1000 * 37);
    float *sm = s_rnd(576 * 576, 8.0f); /* x is smaller than 576 x 576 */
    memcpy(y, sm, 576 * 576 * 4);
    e->gpu->ops->to_device(e->gpu, dy, sm, 576 * 576 * 4);
    free(sm);
    e->cpu->ops->softmax(e->cpu, y, 576, 576, 0.0884f);
    e->gpu->ops->softmax(e->gpu, dy, 576, 576, 0.0884f);
    s_report(e, "softmax", "576 x 576, scale 1/sqrt(128)", dy, y, 576 * 576);
    e->gpu->ops->free(e->gpu, dx), e->gpu->ops->free(e->gpu, dy), e->gpu->ops->free(e->gpu, dwork);
    free(x), free(y), free(work);
}

/* The sample op against gf_cfg_mix + gf_sample on the host: 64 draws over 16 rows of 16384,
 * greedy and drawn, with and without CFG; every token must be the host's. */
static void s_sample(struct s_env *e)
{
    enum { ROWS = 16, V = 16384, N = 64 };
    if (!e->gpu->ops->sample) {
        printf("  %-11s %-44s %-5s skipped: the backend has no sample op\n", "sample", "", e->mode);
        return;
    }
    float *lg = s_rnd((int64_t)ROWS * V, 4.0f), *mix = malloc(2 * V * 4);
    int32_t *idx = malloc(V * 4), ids[N], want[N];
    struct gf_draw d[N];
    for (int i = 0; i < N; i++) {
        int cfg = i % 2, greedy = i % 4 < 2;
        d[i] = (struct gf_draw){(2 * i) % ROWS, cfg ? (2 * i + 1) % ROWS : -1, 5.0f,
                                greedy ? 0.0f : (i % 8 < 4 ? 1.0f : 0.7f), (s_rand() + 1) / 2};
        const float *l = lg + (size_t)d[i].cond * V;
        if (cfg) {
            gf_cfg_mix(mix + V, l, lg + (size_t)d[i].uncond * V, V, d[i].cfg_weight);
            l = mix + V;
        }
        struct gf_sampler sp = {d[i].temperature, 0, 1.0f};
        want[i] = gf_sample(l, V, &sp, d[i].u, mix, idx);
    }
    float *dl = s_up(e->gpu, lg, (size_t)ROWS * V * 4);
    e->gpu->ops->sample(e->gpu, ids, dl, V, d, N);
    int same = 0;
    for (int i = 0; i < N; i++)
        same += ids[i] == want[i];
    int ok = same == N && s_backend_ok(e->gpu);
    e->checks++;
    e->failed += !ok;
    printf("  %-11s %-44s %-5s %d of %d tokens as on the host %s\n", "sample",
           "16 rows x 16384, CFG 5, greedy, T 1 and 0.7", e->mode, same, N, ok ? "ok" : "FAIL");
    e->gpu->ops->free(e->gpu, dl);
    free(lg), free(mix), free(idx);
}

static int s_ops_mode(struct gf_backend *cpu, enum gf_cuda_mode mode)
{
    struct s_env e = {cpu,
                      s_gpu_new(mode),
                      mode == GF_CUDA_F32 ? "f32" : "bf16",
                      mode == GF_CUDA_F32 ? 1e-5 : 1e-2,
                      0,
                      0};
    if (!e.gpu) {
        printf("  cuda:0 did not start (%s mode)\n", e.mode);
        return 1;
    }
    enum gf_wtype dts[] = {GF_WTYPE_F32, GF_WTYPE_F16, GF_WTYPE_BF16};
    int ns[] = {1, 5, 8, 9, 64, 300};
    for (int d = 0; d < 3; d++)
        for (int i = 0; i < 6; i++)
            s_linear(&e, dts[d], 1000, 2048, ns[i], i % 2);
    s_linear(&e, GF_WTYPE_BF16, 2048, 5632, 3, 0);
    s_linear(&e, GF_WTYPE_BF16, 77, 8, 40, 1); /* the gen aligner's narrow first layer */
    s_linear(&e, GF_WTYPE_F32, 33, 13, 2, 1);  /* odd widths: the GEMV's scalar path */
    s_rowops(&e);
    s_elementwise(&e);
    s_attention(&e, 16, 16, 128);
    s_attention(&e, 8, 2, 64);
    s_conv(&e, GF_WTYPE_F32, 3, 64, 96);
    s_conv(&e, GF_WTYPE_BF16, 3, 128, 128);
    s_conv(&e, GF_WTYPE_F32, 1, 64, 32);
    s_vq_ops(&e);
    s_sample(&e);
    printf("ops %s: %d checks, %d failed\n", e.mode, e.checks, e.failed);
    gf_backend_destroy(&e.gpu);
    return e.failed != 0;
}

static int s_cmd_ops(int argc, char **argv)
{
    s_state = argc > 2 ? strtoull(argv[2], NULL, 10) : (uint64_t)time(NULL);
    if (!s_state)
        s_state = 1;
    printf("ops: CUDA against the CPU backend, random inputs from seed %llu\n",
           (unsigned long long)s_state);
    struct gf_backend *cpu = gf_backend_cpu_new(0);
    int bad = s_ops_mode(cpu, GF_CUDA_F32);
    bad |= s_ops_mode(cpu, GF_CUDA_BF16);
    gf_backend_destroy(&cpu);
    return bad;
}

/* --- the reference loop ------------------------------------------------------------------- */

static int s_loop_on(struct gf_backend *be, const struct gf_ckpt *ck,
                     const struct gf_loop_params *p, struct gf_loop_result *r)
{
    struct gf_llm *m = NULL;
    int rc = gf_llm_new(be, ck, gf_loop_slots(p), gf_loop_max_seq(p), 64, &m);
    if (rc == 0)
        rc = gf_loop_run(m, p, r);
    gf_llm_destroy(&m);
    return rc;
}

static int s_first_diff(const int32_t *a, const int32_t *b, int n)
{
    for (int i = 0; i < n; i++)
        if (a[i] != b[i])
            return i;
    return -1;
}

/* Decodes codes[n][576] on both backends; returns the normwise error. */
static double s_vq_both(struct gf_backend *cpu, struct gf_backend *gpu, const struct gf_ckpt *ck,
                        const int32_t *codes, int n)
{
    struct gf_vq *a = NULL, *b = NULL;
    double err = INFINITY;
    if (gf_vq_new(cpu, ck, n, 24, 24, &a) < 0 || gf_vq_new(gpu, ck, n, 24, 24, &b) < 0)
        goto out;
    int h, w;
    gf_vq_image_size(a, &h, &w);
    float *pa = malloc((size_t)n * 3 * h * w * 4), *pb = malloc((size_t)n * 3 * h * w * 4);
    if (gf_vq_decode(a, codes, n, pa) == 0 && gf_vq_decode(b, codes, n, pb) == 0)
        err = s_err(pb, pa, (int64_t)n * 3 * h * w);
    free(pa), free(pb);
out:
    gf_vq_destroy(&a);
    gf_vq_destroy(&b);
    return err;
}

static int s_cmd_loop(int argc, char **argv)
{
    struct gf_ckpt *ck = NULL;
    if (argc < 3 || gf_ckpt_open(argv[2], &ck) < 0)
        return 1;
    const struct gf_model_config *c = &ck->cfg;
    enum { L = 20, P = 2 };
    int32_t prompt[L];
    for (int i = 0; i < L; i++)
        prompt[i] = (i * 37 + 5) % c->vocab;
    struct gf_loop_params p = {.prompt = prompt,
                               .n_prompt = L,
                               .boi_id = c->vocab - 1,
                               .pad_id = 0,
                               .max_text = 48,
                               .n_image = 576,
                               .parallel = P,
                               .cfg_weight = 5.0f,
                               .text = {0, 0, 1.0f},
                               .image = {0, 0, 1.0f},
                               .seed = 7};
    struct gf_backend *cpu = gf_backend_cpu_new(0), *gpu = s_gpu_new(GF_CUDA_F32);
    struct gf_backend *gpu16 = s_gpu_new(GF_CUDA_BF16);
    struct gf_loop_result rc = {0}, rg = {0}, rh = {0};
    int bad = 1;
    if (!gpu || !gpu16 || s_loop_on(cpu, ck, &p, &rc) < 0) {
        printf("  the loop did not run (see the log)\n");
        goto out;
    }
    if (s_loop_on(gpu, ck, &p, &rg) < 0) {
        printf("  loop greedy f32: FAIL (the CUDA run failed, see the log)\n");
        goto out;
    }
    int dt = rc.n_text == rg.n_text ? s_first_diff(rc.text, rg.text, rc.n_text) : 0;
    int di = s_first_diff(rc.image, rg.image, P * p.n_image);
    bad = dt >= 0 || di >= 0;
    printf("  loop greedy f32: %d text tokens (CPU %d), %d image tokens: %s", rg.n_text, rc.n_text,
           P * p.n_image, bad ? "FAIL" : "ok, identical");
    if (bad)
        printf(" (first difference: text %d, image %d)", dt, di);
    printf("\n");
    /* the same with decode steps recorded as CUDA graphs and replayed */
    setenv("GOTFLOW_CUDA_GRAPHS", "1", 1);
    struct gf_backend *gpug = s_gpu_new(GF_CUDA_F32);
    unsetenv("GOTFLOW_CUDA_GRAPHS");
    struct gf_loop_result rgg = {0};
    if (gpug && s_loop_on(gpug, ck, &p, &rgg) == 0) {
        int gt = rc.n_text == rgg.n_text ? s_first_diff(rc.text, rgg.text, rc.n_text) : 0;
        int gi = s_first_diff(rc.image, rgg.image, P * p.n_image);
        printf("  loop greedy f32, CUDA graphs: %s", gt >= 0 || gi >= 0 ? "FAIL" : "ok, identical");
        if (gt >= 0 || gi >= 0)
            printf(" (first difference: text %d, image %d)", gt, gi);
        printf("\n");
        bad |= gt >= 0 || gi >= 0;
    } else {
        printf("  loop greedy f32, CUDA graphs: FAIL (the run failed, see the log)\n");
        bad = 1;
    }
    gf_loop_result_release(&rgg);
    gf_backend_destroy(&gpug);
    if (s_loop_on(gpu16, ck, &p, &rh) == 0) {
        int same = 0, n = P * p.n_image;
        for (int i = 0; i < n; i++)
            same += rh.image[i] == rc.image[i];
        printf("  loop greedy bf16 (not a check): first text difference at %d; %d of %d image "
               "tokens as on the CPU\n",
               rh.n_text == rc.n_text ? s_first_diff(rc.text, rh.text, rc.n_text) : 0, same, n);
    }
    const struct gf_st_tensor *vq = gf_ckpt_find(ck, "gen_vision_model.decoder.conv_in.weight");
    if (vq) {
        double e32 = s_vq_both(cpu, gpu, ck, rc.image, P);
        double e16 = s_vq_both(cpu, gpu16, ck, rc.image, P);
        /* a whole decoder (~40 layers deep): the CPU backend and the scalar reference already
         * differ by ~9e-6 here, so f32 gets 1e-4; bf16 rounds the activations of every conv, so
         * only a gross error (over 0.1, a bug rather than rounding) fails it */
        int ok32 = e32 <= 1e-4, ok16 = e16 <= 1e-1;
        printf("  vq decode f32: 2 images, error %.2e (tol 1e-04) %s\n", e32, ok32 ? "ok" : "FAIL");
        printf("  vq decode bf16: 2 images, error %.2e (tol 1e-01) %s\n", e16,
               ok16 ? "ok" : "FAIL");
        bad |= !ok32 || !ok16;
    } else {
        printf("  vq decode: the checkpoint has no VQ decoder (make it with --vq-ch 32)\n");
        bad = 1;
    }
out:
    printf("loop: %s\n", bad ? "FAILED" : "ok");
    gf_loop_result_release(&rc), gf_loop_result_release(&rg), gf_loop_result_release(&rh);
    gf_backend_destroy(&cpu), gf_backend_destroy(&gpu), gf_backend_destroy(&gpu16);
    gf_ckpt_close(&ck);
    return bad;
}

/* --- timings ------------------------------------------------------------------------------- */

static double s_mat_bytes(const struct gf_mat *m)
{
    return (double)m->rows * m->cols * gf_wtype_size(m->dtype);
}

/* Weight bytes one decode step reads (every layer, the final norm, the given head). */
static double s_step_bytes(const struct gf_ckpt *ck, int image)
{
    const struct gf_model_weights *w = &ck->w;
    double b = s_mat_bytes(&w->norm);
    for (int l = 0; l < ck->cfg.n_layers; l++) {
        const struct gf_layer_weights *L = &w->layers[l];
        const struct gf_mat *m[] = {&L->attn_norm, &L->wq,     &L->wk,   &L->wv,    &L->wo,
                                    &L->mlp_norm,  &L->w_gate, &L->w_up, &L->w_down};
        for (int i = 0; i < 9; i++)
            b += s_mat_bytes(m[i]);
    }
    if (image)
        return b + s_mat_bytes(&w->gh_proj) + s_mat_bytes(&w->gh_head) + s_mat_bytes(&w->al2);
    return b + s_mat_bytes(&w->lm_head);
}

static void s_row(const char *what, const char *value, const char *ratio)
{
    printf("  %-52s %-28s %s\n", what, value, ratio);
    fflush(stdout);
}

enum { S_PRE = 64, S_STEPS = 64 };

/* The greedy next text token: drawn on the backend, or from the host logits without a sample op.
 * -1 on failure. */
static int32_t s_greedy(struct gf_llm *m)
{
    struct gf_draw d = {0, -1, 1.0f, 0.0f, 0.0};
    int32_t id;
    int rc = gf_llm_draw(m, 0, &d, 1, &id);
    if (rc == GF_EUNSUPPORTED) {
        struct gf_sampler sp = {0, 0, 1.0f};
        return gf_sample(gf_llm_text_logits(m), m->cfg->vocab, &sp, 0, NULL, NULL);
    }
    return rc < 0 ? -1 : id;
}

/* Text decode at batch 1 after a 64-token prompt, greedy on the device: only the id returns. */
static void s_time_decode(struct gf_backend *be, const struct gf_ckpt *ck,
                          const struct gf_cuda_ceilings *cl, const char *tag)
{
    const struct gf_model_config *c = &ck->cfg;
    struct gf_llm *m = NULL;
    struct gf_tok toks[S_PRE];
    char what[96], v[96], r[96];
    if (gf_llm_new(be, ck, 1, S_PRE + S_STEPS + 8, S_PRE, &m) < 0)
        return;
    for (int i = 0; i < S_PRE; i++)
        toks[i] = (struct gf_tok){(i * 7919 + 13) % c->vocab, 0, i, GF_TOK_TEXT, i == S_PRE - 1};
    double td = 0;
    int32_t id = gf_llm_forward(m, toks, S_PRE) < 0 ? -1 : s_greedy(m);
    for (int s = 0; s < S_STEPS + 4 && id >= 0; s++) {
        struct gf_tok t = {id, 0, S_PRE + s, GF_TOK_TEXT, 1};
        double s0 = s_now();
        id = gf_llm_forward(m, &t, 1) < 0 ? -1 : s_greedy(m);
        if (s >= 4)
            td += s_now() - s0;
    }
    if (id < 0) {
        s_row("decode: text, batch 1", "FAILED (see the log)", "");
        goto out;
    }
    double step_b = s_step_bytes(ck, 0), roof = cl->copy_gbs * 1e9 / step_b;
    snprintf(what, sizeof what, "decode: text, batch 1%s (goal >= 75%%)", tag);
    snprintf(v, sizeof v, "%.0f tokens/s (%.2f ms)", S_STEPS / td, td / S_STEPS * 1e3);
    snprintf(r, sizeof r, "%.0f%% of %.0f tokens/s (%.2f GB/step)", 100 * S_STEPS / td / roof, roof,
             step_b * 1e-9);
    s_row(what, v, r);
out:
    gf_llm_destroy(&m);
}

/* Stage 2 with 16 CFG pairs (32 rows): 576 image tokens each after a 64-token prefill. */
static void s_time_image(struct gf_backend *be, const struct gf_ckpt *ck,
                         const struct gf_cuda_ceilings *cl, const char *tag)
{
    enum { IMG = 16, NI = 576 };
    const struct gf_model_config *c = &ck->cfg;
    struct gf_llm *m = NULL;
    char what[96], v[96], r[96];
    int32_t seq[S_PRE], *out = malloc((size_t)IMG * NI * 4);
    for (int i = 0; i < S_PRE; i++)
        seq[i] = (i * 7919 + 13) % c->vocab;
    struct gf_loop_params p = {.prompt = seq,
                               .n_prompt = S_PRE,
                               .boi_id = seq[S_PRE - 1],
                               .max_text = 1,
                               .n_image = NI,
                               .parallel = IMG,
                               .cfg_weight = 5.0f,
                               .image = {1.0f, 0, 1.0f},
                               .seed = 1000};
    if (gf_llm_new(be, ck, 2 * IMG, S_PRE + NI + 1, S_PRE, &m) == 0) {
        double s = s_now();
        int ok = gf_loop_image(m, &p, seq, S_PRE, out) == 0;
        double t = s_now() - s;
        double ib = s_step_bytes(ck, 1), iroof = cl->copy_gbs * 1e9 / ib * IMG;
        snprintf(what, sizeof what, "image tokens: 16 CFG pairs, 576 steps%s", tag);
        snprintf(v, sizeof v, "%.0f tokens/s (%.2f ms/step)", ok ? IMG * NI / t : 0, t / NI * 1e3);
        snprintf(r, sizeof r, "goal 10000; weights-only roofline %.0f", iroof);
        s_row(what, v, r);
    }
    gf_llm_destroy(&m);
    free(out);
}

static int s_cmd_time(int argc, char **argv)
{
    struct gf_cuda_ceilings cl;
    struct gf_ckpt *ck = NULL;
    struct gf_backend *be = NULL;
    struct gf_llm *m = NULL;
    char v[96], r[96];
    if (argc < 3 || gf_ckpt_open(argv[2], &ck) < 0)
        return 1;
    if (getenv("GOTFLOW_CHECK_BACKEND")) /* the harness alone: no device to measure */
        cl = (struct gf_cuda_ceilings){"none", 0, 0, 1, 1, 1};
    else if (gf_cuda_ceilings(0, &cl) < 0)
        return 1;
    const struct gf_model_config *c = &ck->cfg;
    printf("device: %s, %d SMs, %.1f GiB\n", cl.name, cl.sms, cl.mem_gib);
    printf("model: hidden %d, %d layers, vocab %d, %s weights\n", c->hidden, c->n_layers, c->vocab,
           gf_wtype_name(ck->w.layers[0].wq.dtype));
    snprintf(v, sizeof v, "%.0f GB/s", cl.copy_gbs);
    s_row("HBM: device-to-device copy (read + write)", v, "the decode roofline");
    snprintf(v, sizeof v, "%.0f TFLOP/s", cl.bf16_tflops);
    s_row("GEMM: bf16 8192^3, f32 accumulation", v, "the prefill/VQ ceiling");
    snprintf(v, sizeof v, "%.1f TFLOP/s", cl.f32_tflops);
    s_row("GEMM: f32 4096^3, no TF32", v, "(f32 mode)");
    double t0 = s_now();
    if (!(be = s_gpu_new(GF_CUDA_BF16)))
        return 1;
    enum { PRE = S_PRE, PREFILL = 512 };
    int rc = gf_llm_new(be, ck, 1, PREFILL + 1, PREFILL, &m);
    if (rc < 0)
        goto out;
    snprintf(v, sizeof v, "%.2f s", s_now() - t0);
    s_row("load: weights to the device as bf16", v, "");
    struct gf_tok *toks = calloc(PREFILL, sizeof *toks);
    for (int i = 0; i < PREFILL; i++)
        toks[i] = (struct gf_tok){(i * 7919 + 13) % c->vocab, 0, i, GF_TOK_TEXT, i == PREFILL - 1};
    /* prefill: warm once, then the mean of 3 */
    double best = 0;
    for (int k = 0; k < 4; k++) {
        double s = s_now();
        if (gf_llm_forward(m, toks, PREFILL) < 0)
            goto out;
        gf_llm_text_logits(m);
        if (k)
            best += (s_now() - s) / 3;
    }
    double layer_params = (s_step_bytes(ck, 0) - s_mat_bytes(&ck->w.lm_head)) /
                          gf_wtype_size(ck->w.layers[0].wq.dtype);
    double flops = 2.0 * layer_params * PREFILL + 2.0 * c->vocab * c->hidden;
    snprintf(v, sizeof v, "%.0f tokens/s (%.1f ms)", PREFILL / best, best * 1e3);
    snprintf(r, sizeof r, "%.0f TFLOP/s = %.0f%% of GEMM", flops / best * 1e-12,
             100 * flops / best * 1e-12 / cl.bf16_tflops);
    s_row("prefill: 512 tokens, batch 1", v, r);
    free(toks);
    gf_llm_destroy(&m);
    s_time_decode(be, ck, &cl, "");
    s_time_image(be, ck, &cl, "");

    /* VQ decode of one 24x24 grid (384x384) */
    if (gf_ckpt_find(ck, "gen_vision_model.decoder.conv_in.weight")) {
        struct gf_vq *vq = NULL;
        if (gf_vq_new(be, ck, 1, 24, 24, &vq) == 0) {
            int32_t codes[576];
            float *px = malloc(3 * 384 * 384 * 4);
            for (int i = 0; i < 576; i++)
                codes[i] = (i * 131 + 7) % gf_vq_config(vq)->codebook_size;
            double tv = 0;
            for (int k = 0; k < 6; k++) {
                double s = s_now();
                gf_vq_decode(vq, codes, 1, px);
                if (k)
                    tv += (s_now() - s) / 5;
            }
            double vf = gf_vq_flops(vq);
            snprintf(v, sizeof v, "%.2f ms/image", tv * 1e3);
            snprintf(r, sizeof r, "goal <= 5 ms; %.0f TFLOP/s = %.0f%% of GEMM", vf / tv * 1e-12,
                     100 * vf / tv * 1e-12 / cl.bf16_tflops);
            s_row("vq decode: 1 image 384x384", v, r);
            free(px);
        }
        gf_vq_destroy(&vq);
    }

    /* end to end: a 300-token chain, 576 image tokens under CFG, the VQ decode */
    {
        int32_t prompt[PRE];
        for (int i = 0; i < PRE; i++)
            prompt[i] = (i * 7919 + 13) % c->vocab;
        struct gf_loop_params p = {.prompt = prompt,
                                   .n_prompt = PRE,
                                   .boi_id = c->vocab - 1,
                                   .max_text = 300,
                                   .n_image = 576,
                                   .parallel = 1,
                                   .cfg_weight = 5.0f,
                                   .text = {1.0f, 0, 1.0f},
                                   .image = {1.0f, 0, 1.0f},
                                   .seed = 3};
        struct gf_loop_result res = {0};
        struct gf_vq *vq = NULL;
        float *px = malloc(3 * 384 * 384 * 4);
        if (gf_llm_new(be, ck, gf_loop_slots(&p), gf_loop_max_seq(&p), 128, &m) == 0 &&
            gf_vq_new(be, ck, 1, 24, 24, &vq) == 0) {
            double s = s_now();
            if (gf_loop_run(m, &p, &res) == 0 && gf_vq_decode(vq, res.image, 1, px) == 0) {
                double t = s_now() - s;
                snprintf(v, sizeof v, "%.2f s (%d text tokens)", t, res.n_text);
                s_row("end to end: chain, 576 image tokens, VQ", v, "goal <= 2 s");
            }
        }
        gf_loop_result_release(&res);
        gf_vq_destroy(&vq);
        gf_llm_destroy(&m);
        free(px);
    }
    /* the decode steps again, recorded as CUDA graphs and replayed */
    gf_backend_destroy(&be);
    setenv("GOTFLOW_CUDA_GRAPHS", "1", 1);
    if ((be = s_gpu_new(GF_CUDA_BF16))) {
        s_time_decode(be, ck, &cl, ", CUDA graphs");
        s_time_image(be, ck, &cl, ", CUDA graphs");
    }
    unsetenv("GOTFLOW_CUDA_GRAPHS");
    rc = 0;
out:
    gf_llm_destroy(&m);
    gf_backend_destroy(&be);
    gf_ckpt_close(&ck);
    return rc < 0;
}

int main(int argc, char **argv)
{
    gf_log_init("gpu-check", GF_LOG_WARN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && strcmp(argv[1], "ops") == 0)
        return s_cmd_ops(argc, argv);
    if (argc >= 3 && strcmp(argv[1], "loop") == 0)
        return s_cmd_loop(argc, argv);
    if (argc >= 3 && strcmp(argv[1], "time") == 0)
        return s_cmd_time(argc, argv);
    fprintf(stderr, "usage: check ops [SEED] | check loop TINY_CKPT | check time BF16_CKPT\n");
    return 2;
}
