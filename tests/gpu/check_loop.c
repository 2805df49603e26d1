/* check_loop.c — `check loop TINY`: the reference loop (GoT-R1 stage 1 + stage 2 under CFG)
 * greedy on the CPU and on the backend under test, every token identical; with decode steps
 * recorded as CUDA graphs, also at 5 CFG pairs (10 rows: cuBLAS products inside the recording);
 * and the VQ decode of the same codes on both. One section per process (check.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/lm/checkpoint.h"
#include "model/lm/llm.h"
#include "model/lm/loop.h"
#include "model/lm/vq.h"

enum { S_L = 20 };

static void s_params(const struct gf_ckpt *ck, int32_t *prompt, int parallel, int n_image,
                     struct gf_loop_params *p)
{
    for (int i = 0; i < S_L; i++)
        prompt[i] = (i * 37 + 5) % ck->cfg.vocab;
    *p = (struct gf_loop_params){.prompt = prompt,
                                 .n_prompt = S_L,
                                 .boi_id = ck->cfg.vocab - 1,
                                 .pad_id = 0,
                                 .max_text = 48,
                                 .n_image = n_image,
                                 .parallel = parallel,
                                 .cfg_weight = 5.0f,
                                 .text = {0, 0, 1.0f},
                                 .image = {0, 0, 1.0f},
                                 .seed = 7};
}

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

/* The loop greedy on the CPU and on the backend under test (graphs: GOTFLOW_CUDA_GRAPHS=1). */
static int s_compare(struct check_env *e, const char *path, enum gf_cuda_mode mode, int graphs,
                     int parallel, int n_image, int must_match, const char *what)
{
    struct gf_ckpt *ck = NULL;
    if (gf_ckpt_open(path, &ck) < 0)
        return check_verdict(e, "loop", what, 0, "cannot open the checkpoint");
    gf_ckpt_precision(ck, "f32"); /* the CPU's exact path, whose cache is f32 as the device's */
    int32_t prompt[S_L];
    struct gf_loop_params p;
    s_params(ck, prompt, parallel, n_image, &p);
    if (graphs)
        setenv("GOTFLOW_CUDA_GRAPHS", "1", 1);
    struct gf_backend *be = check_backend_new(mode);
    unsetenv("GOTFLOW_CUDA_GRAPHS");
    struct gf_loop_result rc = {0}, rg = {0};
    char detail[200];
    int bad;
    if (s_loop_on(e->cpu, ck, &p, &rc) < 0) {
        bad = check_verdict(e, "loop", what, 0, "the CPU run failed (see the log)");
    } else if (!be || s_loop_on(be, ck, &p, &rg) < 0 || !check_backend_ok(be)) {
        bad = check_verdict(e, "loop", what, 0, "the run under test failed (see the log)");
    } else {
        int n = parallel * n_image;
        int64_t bi = check_break("loop", n);
        if (bi >= 0)
            rg.image[bi] ^= 1;
        int dt = rc.n_text == rg.n_text ? s_first_diff(rc.text, rg.text, rc.n_text) : 0;
        int di = s_first_diff(rc.image, rg.image, n), same = 0;
        for (int i = 0; i < n; i++)
            same += rg.image[i] == rc.image[i];
        int len = snprintf(detail, sizeof detail,
                           "%d text tokens (CPU %d), %d of %d image tokens "
                           "as on the CPU",
                           rg.n_text, rc.n_text, same, n);
        if (dt >= 0 || di >= 0)
            len += snprintf(detail + len, sizeof detail - len,
                            "; first difference: text %d, image %d", dt, di);
        if (di >= 0)
            snprintf(detail + len, sizeof detail - len, " (got %d want %d)", rg.image[di],
                     rc.image[di]);
        if (must_match)
            bad = check_verdict(e, "loop", what, dt < 0 && di < 0, detail);
        else
            printf("  %-11s %-46s %-5s not a check: %s\n", "loop", what, e->mode, detail), bad = 0;
    }
    gf_loop_result_release(&rc), gf_loop_result_release(&rg);
    gf_backend_destroy(&be);
    gf_ckpt_close(&ck);
    return bad;
}

static int s_f32(struct check_env *e, const char *path)
{
    return s_compare(e, path, GF_CUDA_F32, 0, 2, 576, 1, "greedy f32, 2 CFG pairs");
}

static int s_graphs(struct check_env *e, const char *path)
{
    return s_compare(e, path, GF_CUDA_F32, 1, 2, 576, 1, "greedy f32, CUDA graphs, 2 pairs");
}

static int s_graphs_cublas(struct check_env *e, const char *path)
{
    return s_compare(e, path, GF_CUDA_F32, 1, 5, 64, 1,
                     "greedy f32, CUDA graphs, 5 pairs (cuBLAS)");
}

static int s_bf16(struct check_env *e, const char *path)
{
    e->mode = "bf16";
    return s_compare(e, path, GF_CUDA_BF16, 0, 2, 576, 0, "greedy bf16, 2 CFG pairs");
}

/* Decodes 2 images of fixed codes on the CPU and on the backend under test. A whole decoder
 * (~40 layers deep): the CPU backend and the scalar reference already differ by ~9e-6 there, so
 * f32 gets 1e-4; bf16 rounds the activations of every conv, so only a gross error (over 0.1, a
 * bug rather than rounding) fails it. */
static int s_vq(struct check_env *e, const char *path, enum gf_cuda_mode mode)
{
    enum { N = 2 };
    const char *what = "2 images 24x24 codes";
    e->mode = mode == GF_CUDA_F32 ? "f32" : "bf16";
    struct gf_ckpt *ck = NULL;
    if (gf_ckpt_open(path, &ck) < 0)
        return check_verdict(e, "vq_decode", what, 0, "cannot open the checkpoint");
    if (!gf_ckpt_find(ck, "gen_vision_model.decoder.conv_in.weight")) {
        gf_ckpt_close(&ck);
        return check_verdict(e, "vq_decode", what, 0,
                             "the checkpoint has no VQ decoder (make it with --vq-ch 32)");
    }
    struct gf_backend *be = check_backend_new(mode);
    struct gf_vq *a = NULL, *b = NULL;
    int bad = 1;
    if (gf_vq_new(e->cpu, ck, N, 24, 24, &a) < 0) {
        bad = check_verdict(e, "vq_decode", what, 0, "the CPU decoder did not start");
    } else if (!be || gf_vq_new(be, ck, N, 24, 24, &b) < 0) {
        bad = check_verdict(e, "vq_decode", what, 0, "the decoder under test did not start");
    } else {
        int h, w, cb = gf_vq_config(a)->codebook_size;
        int32_t codes[N * 576];
        for (int i = 0; i < N * 576; i++)
            codes[i] = (i * 131 + 7) % cb;
        gf_vq_image_size(a, &h, &w);
        int64_t n = (int64_t)N * 3 * h * w;
        float *pa = check_nans(n), *pb = check_nans(n);
        if (gf_vq_decode(a, codes, N, pa) < 0)
            bad = check_verdict(e, "vq_decode", what, 0, "the CPU decode failed");
        else if (gf_vq_decode(b, codes, N, pb) < 0 || !check_backend_ok(be))
            bad = check_verdict(e, "vq_decode", what, 0, "the decode under test failed");
        else
            bad = check_host(e, "vq_decode", what, pb, pa, n, mode == GF_CUDA_F32 ? 1e-4 : 1e-1);
        free(pa), free(pb);
    }
    gf_vq_destroy(&a), gf_vq_destroy(&b);
    gf_backend_destroy(&be);
    gf_ckpt_close(&ck);
    return bad;
}

static int s_vq_f32(struct check_env *e, const char *path)
{
    return s_vq(e, path, GF_CUDA_F32);
}

static int s_vq_bf16(struct check_env *e, const char *path)
{
    return s_vq(e, path, GF_CUDA_BF16);
}

const struct check_section check_loop_sections[] = {
    {"f32", s_f32, "the loop greedy in f32 mode: every token as on the CPU"},
    {"graphs", s_graphs, "the same with decode steps recorded as CUDA graphs"},
    {"graphs-cublas", s_graphs_cublas, "graphs at 5 CFG pairs: cuBLAS inside the recording"},
    {"bf16", s_bf16, "the loop in bf16 mode: agreement reported (not a check), must run"},
    {"vq-f32", s_vq_f32, "VQ decode of 2 images, f32 mode, within 1e-4"},
    {"vq-bf16", s_vq_bf16, "VQ decode of 2 images, bf16 mode, within 1e-1"},
    {NULL, NULL, NULL},
};
