/* check_time.c — `check time BIG`: the device's ceilings (HBM copy, GEMM) and timings of a bf16
 * checkpoint in bf16 mode, each against its ceiling; one section per process (check.c). A
 * timing never fails for being slow; a section fails when a step of it fails (a forward, a draw,
 * a decode, a device error), and the row says FAILED instead of a figure.
 *
 * The ceilings are measured once by the section `ceilings`, which writes them to the file named
 * by GF_CHECK_CEILINGS for the other sections; without it their ratios read n/a.
 * GF_CHECK_POSITIONS (1500) is the cache length of the long decode rows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "kernels/cuda/abi.h"
#include "model/lm/checkpoint.h"
#include "model/lm/llm.h"
#include "model/lm/loop.h"
#include "model/lm/sampler.h"
#include "model/lm/vq.h"

enum { S_PRE = 64, S_STEPS = 64 };

static struct gf_cuda_ceilings s_cl;

static void s_row(const char *what, const char *value, const char *ratio)
{
    printf("  %-52s %-30s %s\n", what, value, ratio);
    fflush(stdout);
}

/* A failed step: one FAIL row; returns 1. */
static int s_failed(struct check_env *e, const char *what, const char *why)
{
    char v[160];
    snprintf(v, sizeof v, "FAILED: %s (see the log)", why);
    s_row(what, v, "");
    e->checks++, e->failed++;
    return 1;
}

static int s_load_ceilings(void)
{
    const char *path = getenv("GF_CHECK_CEILINGS");
    FILE *f = path ? fopen(path, "r") : NULL;
    memset(&s_cl, 0, sizeof s_cl);
    if (!f)
        return -1;
    int ok = fscanf(f, "%d %lf %lf %lf %lf %127[^\n]", &s_cl.sms, &s_cl.mem_gib, &s_cl.copy_gbs,
                    &s_cl.bf16_tflops, &s_cl.f32_tflops, s_cl.name) == 6;
    fclose(f);
    if (!ok)
        memset(&s_cl, 0, sizeof s_cl);
    return ok ? 0 : -1;
}

/* "x% of what" or "n/a" when the ceiling is unknown */
static const char *s_pct(char *buf, size_t len, double value, double ceiling)
{
    if (ceiling > 0)
        snprintf(buf, len, "%.0f%%", 100 * value / ceiling);
    else
        snprintf(buf, len, "n/a");
    return buf;
}

static int s_open(struct check_env *e, const char *path, struct gf_ckpt **ck,
                  struct gf_backend **be)
{
    s_load_ceilings();
    e->mode = "bf16";
    if (gf_ckpt_open(path, ck) < 0)
        return s_failed(e, "checkpoint", "cannot open it");
    if (!(*be = check_backend_new(GF_CUDA_BF16))) {
        gf_ckpt_close(ck);
        return s_failed(e, "backend", "cuda:0 did not start in bf16 mode");
    }
    return 0;
}

static void s_close(struct gf_ckpt **ck, struct gf_backend **be)
{
    gf_backend_destroy(be);
    gf_ckpt_close(ck);
}

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

/* KV cache bytes one decode step reads: rows x positions x layers x (K + V) in f32. */
static double s_kv_bytes(const struct gf_ckpt *ck, int rows, int positions)
{
    const struct gf_model_config *c = &ck->cfg;
    double kvd = (double)c->n_kv_heads * c->head_dim;
    return (double)rows * positions * c->n_layers * 2 * kvd * sizeof(float);
}

/* --- sections ------------------------------------------------------------------------------ */

static int s_ceilings(struct check_env *e, const char *path)
{
    char v[96];
    if (check_stand_in()) /* the harness alone: no device to measure */
        s_cl = (struct gf_cuda_ceilings){"none (a CPU stand-in)", 0, 0, 1, 1, 1};
    else if (gf_cuda_ceilings(0, &s_cl) < 0)
        return s_failed(e, "ceilings", "cannot measure cuda:0");
    printf("device: %s, %d SMs, %.1f GiB\n", s_cl.name, s_cl.sms, s_cl.mem_gib);
    snprintf(v, sizeof v, "%.0f GB/s", s_cl.copy_gbs);
    s_row("HBM: device-to-device copy (read + write)", v, "the decode roofline");
    snprintf(v, sizeof v, "%.0f TFLOP/s", s_cl.bf16_tflops);
    s_row("GEMM: bf16 8192^3, f32 accumulation", v, "the prefill/VQ ceiling");
    snprintf(v, sizeof v, "%.1f TFLOP/s", s_cl.f32_tflops);
    s_row("GEMM: f32 4096^3, no TF32", v, "(f32 mode)");
    const char *out = getenv("GF_CHECK_CEILINGS");
    FILE *f = out ? fopen(out, "w") : NULL;
    if (f) {
        fprintf(f, "%d %.17g %.17g %.17g %.17g %s\n", s_cl.sms, s_cl.mem_gib, s_cl.copy_gbs,
                s_cl.bf16_tflops, s_cl.f32_tflops, s_cl.name);
        fclose(f);
    }
    e->checks++;
    return 0;
}

static int s_prefill(struct check_env *e, const char *path)
{
    enum { PREFILL = 512 };
    struct gf_ckpt *ck = NULL;
    struct gf_backend *be = NULL;
    struct gf_llm *m = NULL;
    char v[96], r[96], pct[16];
    int bad = 0;
    if (s_open(e, path, &ck, &be))
        return 1;
    const struct gf_model_config *c = &ck->cfg;
    printf("model: hidden %d, %d layers, vocab %d, %s weights\n", c->hidden, c->n_layers, c->vocab,
           gf_wtype_name(ck->w.layers[0].wq.dtype));
    double t0 = check_now();
    if (gf_llm_new(be, ck, 1, PREFILL + 1, PREFILL, &m) < 0) {
        bad = s_failed(e, "load: weights to the device as bf16", "gf_llm_new");
        goto out;
    }
    snprintf(v, sizeof v, "%.2f s", check_now() - t0);
    s_row("load: weights to the device as bf16", v, "");
    struct gf_tok *toks = calloc(PREFILL, sizeof *toks);
    for (int i = 0; i < PREFILL; i++)
        toks[i] = (struct gf_tok){(i * 7919 + 13) % c->vocab, 0, i, GF_TOK_TEXT, i == PREFILL - 1};
    double t = 0; /* warm once, then the mean of 3 */
    for (int k = 0; k < 4 && !bad; k++) {
        double s = check_now();
        if (gf_llm_forward(m, toks, PREFILL) < 0 || !gf_llm_text_logits(m) || !check_backend_ok(be))
            bad = s_failed(e, "prefill: 512 tokens, batch 1", "the forward failed");
        else if (k)
            t += (check_now() - s) / 3;
    }
    free(toks);
    if (!bad) {
        double layer_params = (s_step_bytes(ck, 0) - s_mat_bytes(&ck->w.lm_head)) /
                              gf_wtype_size(ck->w.layers[0].wq.dtype);
        double flops = 2.0 * layer_params * PREFILL + 2.0 * c->vocab * c->hidden;
        snprintf(v, sizeof v, "%.0f tokens/s (%.1f ms)", PREFILL / t, t * 1e3);
        snprintf(r, sizeof r, "%.0f TFLOP/s = %s of GEMM", flops / t * 1e-12,
                 s_pct(pct, sizeof pct, flops / t * 1e-12, s_cl.bf16_tflops));
        s_row("prefill: 512 tokens, batch 1", v, r);
        e->checks++;
    }
out:
    gf_llm_destroy(&m);
    s_close(&ck, &be);
    return bad;
}

/* Decode steps of `rows` rows after a prefill of `positions` tokens per row, timed over the
 * steps after 4 warm ones. Text rows draw greedy on the device; cfg rows are image tokens in
 * CFG pairs (one draw per pair). Roofline: the weights once plus every row's KV cache per step. */
static int s_decode_rows(struct check_env *e, struct gf_backend *be, const struct gf_ckpt *ck,
                         int rows, int positions, int cfg, const char *tag)
{
    const struct gf_model_config *c = &ck->cfg;
    struct gf_llm *m = NULL;
    char what[96], v[96], r[128], pct[16];
    int draws = cfg ? rows / 2 : rows, bad = 0, steps = check_stand_in() ? 8 : S_STEPS;
    snprintf(what, sizeof what, "decode: %d %s at %d positions%s", cfg ? rows / 2 : rows,
             cfg ? (rows == 2 ? "CFG pair" : "CFG pairs") : (rows == 1 ? "row" : "rows"), positions,
             tag);
    struct gf_tok *toks = calloc((size_t)rows * (positions > 1 ? positions : 1), sizeof *toks);
    struct gf_draw *d = calloc(draws, sizeof *d);
    int32_t *ids = calloc(draws, sizeof *ids);
    if (gf_llm_new(be, ck, rows, positions + steps + 8, 512, &m) < 0) {
        bad = s_failed(e, what, "gf_llm_new");
        goto out;
    }
    int n = 0;
    for (int s = 0; s < rows; s++)
        for (int i = 0; i < positions; i++)
            toks[n++] = (struct gf_tok){(i * 7919 + 13 + s) % c->vocab, s, i, GF_TOK_TEXT,
                                        i == positions - 1};
    for (int i = 0; i < n && !bad; i += 512)
        if (gf_llm_forward(m, toks + i, n - i < 512 ? n - i : 512) < 0)
            bad = s_failed(e, what, "the prefill failed");
    for (int i = 0; i < draws; i++)
        d[i] = cfg ? (struct gf_draw){2 * i, 2 * i + 1, 5.0f, 0.0f, 0.0}
                   : (struct gf_draw){i, -1, 1.0f, 0.0f, 0.0};
    double t = 0;
    for (int s = 0; s < steps + 4 && !bad; s++) {
        for (int i = 0; i < rows; i++) {
            int32_t id = cfg ? ids[i / 2] % c->image_vocab : ids[i] % c->vocab;
            toks[i] = (struct gf_tok){id, i, positions + s, cfg ? GF_TOK_IMAGE : GF_TOK_TEXT, 1};
        }
        double s0 = check_now();
        int rc = gf_llm_forward(m, toks, rows);
        if (rc >= 0)
            rc = gf_llm_draw(m, cfg, d, draws, ids);
        if (rc == GF_EUNSUPPORTED) { /* a stand-in without a sample op: the host logits */
            const float *l = cfg ? gf_llm_image_logits(m) : gf_llm_text_logits(m);
            int vocab = cfg ? c->image_vocab : c->vocab;
            struct gf_sampler sp = {0, 0, 1.0f};
            for (int i = 0; i < draws; i++)
                ids[i] = gf_sample(l + (size_t)d[i].cond * vocab, vocab, &sp, 0, NULL, NULL);
            rc = 0;
        }
        if (rc < 0 || !check_backend_ok(be))
            bad = s_failed(e, what, "a step failed");
        else if (s >= 4)
            t += check_now() - s0;
    }
    if (!bad) {
        double bytes = s_step_bytes(ck, cfg) + s_kv_bytes(ck, rows, positions);
        double roof = s_cl.copy_gbs * 1e9 / bytes; /* steps/s */
        snprintf(v, sizeof v, "%.0f tokens/s (%.2f ms/step)", draws * steps / t, t / steps * 1e3);
        snprintf(r, sizeof r, "%s of %.0f steps/s (%.2f GB/step, weights + KV)",
                 s_pct(pct, sizeof pct, steps / t, roof), roof, bytes * 1e-9);
        s_row(what, v, r);
        e->checks++;
    }
out:
    gf_llm_destroy(&m);
    free(toks), free(d), free(ids);
    return bad;
}

static int s_positions(void)
{
    const char *p = getenv("GF_CHECK_POSITIONS");
    return p && atoi(p) > 0 ? atoi(p) : 1500;
}

static int s_decode(struct check_env *e, const char *path)
{
    struct gf_ckpt *ck = NULL;
    struct gf_backend *be = NULL;
    if (s_open(e, path, &ck, &be))
        return 1;
    int bad = s_decode_rows(e, be, ck, 1, S_PRE, 0, " (goal >= 75%)");
    bad |= s_decode_rows(e, be, ck, 1, s_positions(), 0, "");
    bad |= s_decode_rows(e, be, ck, 2, s_positions(), 1, "");
    bad |= s_decode_rows(e, be, ck, 32, s_positions(), 1, "");
    s_close(&ck, &be);
    return bad;
}

/* Stage 2 with 16 CFG pairs (32 rows): 576 image tokens each after a 64-token prefill. */
static int s_image_on(struct check_env *e, struct gf_backend *be, const struct gf_ckpt *ck,
                      const char *tag)
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
    snprintf(what, sizeof what, "image tokens: 16 CFG pairs, 576 steps%s", tag);
    int bad = 0;
    if (gf_llm_new(be, ck, 2 * IMG, S_PRE + NI + 1, S_PRE, &m) < 0) {
        bad = s_failed(e, what, "gf_llm_new");
    } else {
        double s = check_now();
        if (gf_loop_image(m, &p, seq, S_PRE, out) < 0 || !check_backend_ok(be)) {
            bad = s_failed(e, what, "the image loop failed");
        } else {
            double t = check_now() - s;
            double iroof = s_cl.copy_gbs * 1e9 / s_step_bytes(ck, 1) * IMG;
            snprintf(v, sizeof v, "%.0f tokens/s (%.2f ms/step)", IMG * NI / t, t / NI * 1e3);
            snprintf(r, sizeof r, "goal 10000; weights-only roofline %.0f", iroof);
            s_row(what, v, r);
            e->checks++;
        }
    }
    gf_llm_destroy(&m);
    free(out);
    return bad;
}

static int s_image(struct check_env *e, const char *path)
{
    struct gf_ckpt *ck = NULL;
    struct gf_backend *be = NULL;
    if (s_open(e, path, &ck, &be))
        return 1;
    int bad = s_image_on(e, be, ck, "");
    s_close(&ck, &be);
    return bad;
}

/* VQ decode of one 24x24 grid (384x384) */
static int s_vq(struct check_env *e, const char *path)
{
    const char *what = "vq decode: 1 image 384x384";
    struct gf_ckpt *ck = NULL;
    struct gf_backend *be = NULL;
    struct gf_vq *vq = NULL;
    char v[96], r[96], pct[16];
    if (s_open(e, path, &ck, &be))
        return 1;
    int bad = 0, reps = check_stand_in() ? 2 : 6;
    if (!gf_ckpt_find(ck, "gen_vision_model.decoder.conv_in.weight")) {
        bad = s_failed(e, what, "the checkpoint has no VQ decoder");
    } else if (gf_vq_new(be, ck, 1, 24, 24, &vq) < 0) {
        bad = s_failed(e, what, "gf_vq_new");
    } else {
        int32_t codes[576];
        float *px = malloc(3 * 384 * 384 * 4);
        if (!px)
            bad = s_failed(e, what, "no memory for the picture");
        for (int i = 0; i < 576; i++)
            codes[i] = (i * 131 + 7) % gf_vq_config(vq)->codebook_size;
        double tv = 0;
        for (int k = 0; k < reps && !bad; k++) {
            double s = check_now();
            if (gf_vq_decode(vq, codes, 1, px) < 0 || !check_backend_ok(be))
                bad = s_failed(e, what, "the decode failed");
            else if (k)
                tv += (check_now() - s) / (reps - 1);
        }
        if (!bad) {
            double vf = gf_vq_flops(vq);
            snprintf(v, sizeof v, "%.2f ms/image", tv * 1e3);
            snprintf(r, sizeof r, "goal <= 5 ms; %.0f TFLOP/s = %s of GEMM", vf / tv * 1e-12,
                     s_pct(pct, sizeof pct, vf / tv * 1e-12, s_cl.bf16_tflops));
            s_row(what, v, r);
            e->checks++;
        }
        free(px);
    }
    gf_vq_destroy(&vq);
    s_close(&ck, &be);
    return bad;
}

/* end to end: a chain of up to 300 tokens, 576 image tokens under CFG, the VQ decode */
static int s_e2e(struct check_env *e, const char *path)
{
    const char *what = "end to end: chain, 576 image tokens, VQ";
    struct gf_ckpt *ck = NULL;
    struct gf_backend *be = NULL;
    struct gf_llm *m = NULL;
    struct gf_vq *vq = NULL;
    struct gf_loop_result res = {0};
    char v[96];
    if (s_open(e, path, &ck, &be))
        return 1;
    int32_t prompt[S_PRE];
    for (int i = 0; i < S_PRE; i++)
        prompt[i] = (i * 7919 + 13) % ck->cfg.vocab;
    struct gf_loop_params p = {.prompt = prompt,
                               .n_prompt = S_PRE,
                               .boi_id = ck->cfg.vocab - 1,
                               .max_text = 300,
                               .n_image = 576,
                               .parallel = 1,
                               .cfg_weight = 5.0f,
                               .text = {1.0f, 0, 1.0f},
                               .image = {1.0f, 0, 1.0f},
                               .seed = 3};
    float *px = malloc(3 * 384 * 384 * 4);
    int bad = 0;
    if (gf_llm_new(be, ck, gf_loop_slots(&p), gf_loop_max_seq(&p), 128, &m) < 0 ||
        gf_vq_new(be, ck, 1, 24, 24, &vq) < 0) {
        bad = s_failed(e, what, "the model or the decoder did not start");
    } else {
        double s = check_now();
        if (gf_loop_run(m, &p, &res) < 0 || gf_vq_decode(vq, res.image, 1, px) < 0 ||
            !check_backend_ok(be)) {
            bad = s_failed(e, what, "the run failed");
        } else {
            snprintf(v, sizeof v, "%.2f s (%d text tokens)", check_now() - s, res.n_text);
            s_row(what, v, "goal <= 2 s");
            e->checks++;
        }
    }
    gf_loop_result_release(&res);
    gf_vq_destroy(&vq);
    gf_llm_destroy(&m);
    free(px);
    s_close(&ck, &be);
    return bad;
}

/* the decode steps again, recorded as CUDA graphs and replayed */
static int s_graphs(struct check_env *e, const char *path)
{
    struct gf_ckpt *ck = NULL;
    struct gf_backend *be = NULL;
    setenv("GOTFLOW_CUDA_GRAPHS", "1", 1);
    int bad = s_open(e, path, &ck, &be);
    unsetenv("GOTFLOW_CUDA_GRAPHS");
    if (bad)
        return 1;
    bad = s_decode_rows(e, be, ck, 1, S_PRE, 0, ", CUDA graphs");
    bad |= s_decode_rows(e, be, ck, 32, s_positions(), 1, ", CUDA graphs");
    bad |= s_image_on(e, be, ck, ", CUDA graphs");
    s_close(&ck, &be);
    return bad;
}

const struct check_section check_time_sections[] = {
    {"ceilings", s_ceilings, "HBM copy and GEMM ceilings of cuda:0"},
    {"prefill", s_prefill, "weights load, prefill of 512 tokens"},
    {"decode", s_decode, "decode at 1 row, 1 CFG pair and 16 CFG pairs (32 rows), long caches"},
    {"image", s_image, "stage 2: 16 CFG pairs, 576 image tokens"},
    {"vq", s_vq, "VQ decode of one 384x384 image"},
    {"e2e", s_e2e, "one image end to end: chain, image tokens, VQ decode"},
    {"graphs", s_graphs, "decode and image tokens with CUDA graphs"},
    {"kernels", check_time_kernels, "per-op micro-timings at the 1B model's shapes"},
    {NULL, NULL, NULL},
};
