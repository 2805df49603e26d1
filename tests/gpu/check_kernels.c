/* check_kernels.c — `check time kernels`: one op at a time at the checkpoint's shapes, in bf16
 * mode, random weights: the mean over a burst of calls between two synchronisations (a copy of
 * 4 bytes back, which waits for the backend's stream), so launch gaps count as the pipeline would
 * see them. Each row against its ceiling: bytes moved against the HBM copy rate, or flops
 * against the bf16 GEMM rate. On CUDA the burst is timed by two CUDA events on the backend's
 * stream (gf_cuda_event_*: the device's clock, from the end of the warm call's work to the end
 * of the burst's); with a CPU stand-in, by the host's clock between two synchronisations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/cuda/abi.h"
#include "model/lm/checkpoint.h"
#include "model/lm/vq.h"

static struct gf_cuda_ceilings s_cl;
/* the two timing events on CUDA (NULL with a stand-in: the host's clock); s_failed: a timing
 * whose events failed (its row reads FAILED) */
static struct gf_cuda_event *s_ev[2];
static int s_failed;

static void s_sync(struct gf_backend *be, const void *dev)
{
    float x;
    be->ops->to_host(be, &x, dev, sizeof x);
}

/* t seconds for `bytes` moved and `flops` done: one row */
static void s_row(const char *what, double t, double bytes, double flops)
{
    char v[64], r[96] = "";
    if (t <= 0) {
        printf("  %-52s FAILED: the CUDA timing events failed (see the log)\n", what);
        fflush(stdout);
        s_failed = 1;
        return;
    }
    snprintf(v, sizeof v, "%.1f us", t * 1e6);
    if (bytes > 0 && s_cl.copy_gbs > 0)
        snprintf(r, sizeof r, "%.0f GB/s = %.0f%% of HBM copy", bytes / t * 1e-9,
                 100 * bytes / t * 1e-9 / s_cl.copy_gbs);
    else if (flops > 0 && s_cl.bf16_tflops > 0)
        snprintf(r, sizeof r, "%.1f TFLOP/s = %.0f%% of GEMM", flops / t * 1e-12,
                 100 * flops / t * 1e-12 / s_cl.bf16_tflops);
    printf("  %-52s %-30s %s\n", what, v, r);
    fflush(stdout);
}

/* The start of a burst: an event behind the work launched so far, or the host's clock. */
static double s_start(struct gf_backend *be)
{
    if (!s_ev[0])
        return check_now();
    return gf_cuda_event_record(be, s_ev[0]) == 0 ? 0 : -1;
}

/* Seconds per call of a burst of reps begun at s_start's t0 (-1 when an event failed). */
static double s_stop(struct gf_backend *be, const void *out, double t0, int reps)
{
    float ms = 0;
    if (!s_ev[0]) {
        s_sync(be, out);
        return (check_now() - t0) / reps;
    }
    if (t0 < 0 || gf_cuda_event_record(be, s_ev[1]) < 0 ||
        gf_cuda_event_elapsed_ms(be, s_ev[0], s_ev[1], &ms) < 0 || ms <= 0)
        return -1;
    return ms * 1e-3 / reps;
}

/* TIMED(be, out, reps, call): one warm call, then the mean of reps, into double t */
#define TIMED(be, out, reps, call)                                                                 \
    do {                                                                                           \
        call;                                                                                      \
        s_sync(be, out);                                                                           \
        double s0_ = s_start(be);                                                                  \
        for (int r_ = 0; r_ < (reps); r_++)                                                        \
            call;                                                                                  \
        t = s_stop(be, out, s0_, reps);                                                            \
    } while (0)

static int s_linear(struct gf_backend *be, int rows, int cols, int n, int reps, const char *name)
{
    struct gf_mat w = check_mat(GF_WTYPE_BF16, rows, cols, 0.05f);
    float *x = check_rnd((int64_t)n * cols, 1.0f);
    float *dx = check_up(be, x, (size_t)n * cols * 4),
          *dy = check_up(be, NULL, (size_t)n * rows * 4);
    double t = 0;
    char what[96];
    free(x);
    if (!dx || !dy)
        return 1;
    TIMED(be, dy, reps, be->ops->linear(be, dy, dx, n, &w, NULL));
    snprintf(what, sizeof what, "linear %s: %d x %d bf16, %d token%s", name, rows, cols, n,
             n == 1 ? "" : "s");
    double wb = (double)rows * cols * 2;
    if (n <= 8)
        s_row(what, t, wb + (double)n * (rows + cols) * 4, 0);
    else
        s_row(what, t, 0, 2.0 * rows * cols * n);
    be->ops->free(be, dx), be->ops->free(be, dy);
    return 0;
}

static int s_attention(struct gf_backend *be, const struct gf_model_config *c, int rows,
                       int positions, int reps)
{
    int kvd = c->n_kv_heads * c->head_dim, qd = c->n_heads * c->head_dim;
    size_t cache = (size_t)rows * (positions + 1) * kvd * 4;
    float *kc = check_up(be, NULL, cache), *vc = check_up(be, NULL, cache);
    float *q = check_rnd((int64_t)rows * qd, 1.0f);
    float *dq = check_up(be, q, (size_t)rows * qd * 4),
          *dout = check_up(be, NULL, (size_t)rows * qd * 4);
    int32_t *slot = malloc(rows * 4), *pos = malloc(rows * 4);
    for (int i = 0; i < rows; i++)
        slot[i] = i, pos[i] = positions - 1;
    int32_t *dslot = check_up(be, slot, rows * 4), *dpos = check_up(be, pos, rows * 4);
    int bad = !kc || !vc || !dq || !dout || !dslot || !dpos;
    if (!bad) { /* a cache of finite values */
        float *z = calloc(1, cache);
        be->ops->to_device(be, kc, z, cache), be->ops->to_device(be, vc, z, cache);
        free(z);
        struct gf_attn a = {
            kc,          vc, dslot, dpos, c->n_heads, c->n_kv_heads, c->head_dim, positions + 1,
            GF_WTYPE_F32};
        double t = 0;
        char what[96];
        TIMED(be, dout, reps, be->ops->attention(be, dout, dq, rows, &a));
        snprintf(what, sizeof what, "attention: %d row%s at %d positions", rows,
                 rows == 1 ? "" : "s", positions);
        s_row(what, t, (double)rows * positions * kvd * 2 * 4, 0);
    }
    void *d[] = {kc, vc, dq, dout, dslot, dpos};
    for (int i = 0; i < 6; i++)
        if (d[i])
            be->ops->free(be, d[i]);
    free(q), free(slot), free(pos);
    return bad;
}

static int s_rows(struct gf_backend *be, const struct gf_model_config *c, int reps)
{
    int h = c->hidden, n = 32;
    struct gf_mat w = check_mat(GF_WTYPE_BF16, 1, h, 1.0f);
    float *x = check_rnd((int64_t)n * h, 1.0f);
    float *dx = check_up(be, x, (size_t)n * h * 4), *dy = check_up(be, NULL, (size_t)n * h * 4);
    int32_t pos[32];
    for (int i = 0; i < n; i++)
        pos[i] = 1000 + i;
    int32_t *dpos = check_up(be, pos, sizeof pos);
    double t = 0;
    free(x);
    if (!dx || !dy || !dpos)
        return 1;
    TIMED(be, dy, reps, be->ops->rmsnorm(be, dy, dx, 1, h, &w, 1e-6f));
    s_row("rmsnorm: 1 row", t, (double)h * 8, 0);
    TIMED(be, dy, reps, be->ops->rmsnorm(be, dy, dx, n, h, &w, 1e-6f));
    s_row("rmsnorm: 32 rows", t, (double)n * h * 8, 0);
    TIMED(be, dy, reps, be->ops->rope(be, dy, n, h, c->n_heads, c->head_dim, dpos, 10000.0f));
    s_row("rope: 32 rows", t, (double)n * h * 8, 0);
    TIMED(be, dy, reps, be->ops->swiglu(be, dy, dx, dy, (int64_t)n * h));
    s_row("swiglu: 32 rows of the hidden width", t, (double)n * h * 12, 0);
    TIMED(be, dy, reps, be->ops->add(be, dy, dx, (int64_t)n * h));
    s_row("add: 32 rows", t, (double)n * h * 12, 0);
    be->ops->free(be, dx), be->ops->free(be, dy), be->ops->free(be, dpos);
    return 0;
}

static int s_sample(struct gf_backend *be, int vocab, int pairs, int reps, const char *what)
{
    if (!be->ops->sample)
        return 0;
    float *l = check_rnd((int64_t)2 * pairs * vocab, 4.0f);
    float *dl = check_up(be, l, (size_t)2 * pairs * vocab * 4);
    struct gf_draw d[16];
    int32_t ids[16];
    double t = 0;
    free(l);
    if (!dl)
        return 1;
    for (int i = 0; i < pairs; i++)
        d[i] = (struct gf_draw){2 * i, 2 * i + 1, 5.0f, 1.0f, 0.5};
    TIMED(be, dl, reps, be->ops->sample(be, ids, dl, vocab, d, pairs));
    s_row(what, t, (double)2 * pairs * vocab * 4, 0);
    be->ops->free(be, dl);
    return 0;
}

static int s_vq_ops(struct gf_backend *be, int ch, int hw, int reps)
{
    int64_t total = (int64_t)hw * hw * ch;
    struct gf_mat w = check_mat(GF_WTYPE_BF16, ch, (int64_t)ch * 9, 0.05f);
    struct gf_mat gw = check_mat(GF_WTYPE_F32, 1, ch, 1.0f),
                  gb = check_mat(GF_WTYPE_F32, 1, ch, 1.0f);
    float *x = check_rnd(total, 1.0f);
    int64_t wl = GF_CONV2D_WORK(ch, ch, 3);
    float *dx = check_up(be, x, total * 4), *dy = check_up(be, NULL, total * 4);
    float *dw = check_up(be, NULL, wl * 4);
    double t = 0;
    char what[96];
    free(x);
    if (!dx || !dy || !dw)
        return 1;
    TIMED(be, dy, reps, be->ops->conv2d(be, dy, dx, 1, hw, hw, 3, &w, NULL, dw, wl));
    snprintf(what, sizeof what, "conv2d 3x3: %d -> %d ch at %dx%d", ch, ch, hw, hw);
    s_row(what, t, 0, 2.0 * total * ch * 9);
    TIMED(be, dy, reps,
          be->ops->group_norm(be, dy, dx, 1, hw * hw, ch, 32, &gw, &gb, 1e-6f, 1, dw));
    snprintf(what, sizeof what, "group_norm + swish: %d ch at %dx%d", ch, hw, hw);
    s_row(what, t, (double)total * 8, 0);
    be->ops->free(be, dx), be->ops->free(be, dy), be->ops->free(be, dw);
    return 0;
}

int check_time_kernels(struct check_env *e, const char *path)
{
    struct gf_ckpt *ck = NULL;
    const char *cf = getenv("GF_CHECK_CEILINGS");
    FILE *f = cf ? fopen(cf, "r") : NULL;
    memset(&s_cl, 0, sizeof s_cl);
    if (f) {
        if (fscanf(f, "%d %lf %lf %lf %lf", &s_cl.sms, &s_cl.mem_gib, &s_cl.copy_gbs,
                   &s_cl.bf16_tflops, &s_cl.f32_tflops) != 5)
            memset(&s_cl, 0, sizeof s_cl);
        fclose(f);
    }
    e->mode = "bf16";
    if (gf_ckpt_open(path, &ck) < 0)
        return check_verdict(e, "kernels", "", 0, "cannot open the checkpoint");
    struct gf_backend *be = check_backend_new(GF_CUDA_BF16);
    if (!be) {
        gf_ckpt_close(&ck);
        return check_verdict(e, "kernels", "", 0, "cuda:0 did not start in bf16 mode");
    }
    const struct gf_model_config *c = &ck->cfg;
    int reps = check_stand_in() ? 3 : 50, bad = 0;
    s_failed = 0;
    if (!check_stand_in() &&
        (gf_cuda_event_new(be, &s_ev[0]) < 0 || gf_cuda_event_new(be, &s_ev[1]) < 0)) {
        check_verdict(e, "kernels", "CUDA timing events", 0,
                      "cannot create them (see the log); the host's clock instead");
        gf_cuda_event_destroy(be, &s_ev[0]);
        gf_cuda_event_destroy(be, &s_ev[1]);
        bad = 1;
        check_backend_ok(be); /* the failure is counted once, here */
    }
    printf("  timed by %s\n", s_ev[0] ? "CUDA events on the backend's stream"
                                      : "the host's clock between two synchronisations");
    bad |= s_linear(be, c->hidden, c->hidden, 1, reps, "(wo)");
    bad |= s_linear(be, c->intermediate, c->hidden, 1, reps, "(gate)");
    bad |= s_linear(be, c->hidden, c->intermediate, 1, reps, "(down)");
    bad |= s_linear(be, c->intermediate, c->hidden, 2, reps, "(gate)");
    bad |= s_linear(be, c->intermediate, c->hidden, 8, reps, "(gate)");
    bad |= s_linear(be, c->intermediate, c->hidden, 32, reps, "(gate)");
    bad |= s_linear(be, c->intermediate, c->hidden, 512, check_stand_in() ? 1 : 10, "(gate)");
    bad |= s_linear(be, c->vocab, c->hidden, 1, check_stand_in() ? 1 : 10, "(lm_head)");
    bad |= s_rows(be, c, reps);
    bad |= s_attention(be, c, 1, 1500, reps);
    bad |= s_attention(be, c, 32, 1500, check_stand_in() ? 1 : 10);
    bad |= s_sample(be, c->image_vocab, 16, reps, "sample: 16 CFG pairs over the image vocabulary");
    bad |= s_sample(be, c->vocab, 1, reps, "sample: 1 draw over the text vocabulary");
    struct gf_vq_config vc;
    if (gf_vq_config_load(path, &vc) == 0)
        bad |= s_vq_ops(be, vc.ch, check_stand_in() ? 24 : 96, check_stand_in() ? 1 : 10);
    bad |= s_failed | !check_backend_ok(be);
    check_verdict(e, "kernels", "every op ran", !bad, bad ? "an op failed (see the log)" : "");
    gf_cuda_event_destroy(be, &s_ev[0]);
    gf_cuda_event_destroy(be, &s_ev[1]);
    gf_backend_destroy(&be);
    gf_ckpt_close(&ck);
    return bad;
}
