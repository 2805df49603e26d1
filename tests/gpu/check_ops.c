/* check_ops.c — `check ops`: every op of struct gf_ops, the backend under test against the CPU
 * backend on fresh random inputs, one group of ops per process (check.c). Outputs the op writes
 * start as NaN on both sides, so an element an op forgets to write fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/lm/sampler.h"

#define S_GEMV_MAX 8 /* tokens up to which the CUDA backend's GEMV (f32 sums) does a product */

static void s_free(struct check_env *e, int n, void **p)
{
    for (int i = 0; i < n; i++)
        if (p[i])
            e->gpu->ops->free(e->gpu, p[i]);
}

/* bf16 mode keeps bf16 and f16 weights as they are and its GEMV sums in f32 like the CPU: there
 * the f32 tolerance holds. f32 weights are rounded to bf16 in bf16 mode. */
static double s_linear_tol(const struct check_env *e, enum gf_wtype dt, int n)
{
    return strcmp(e->mode, "bf16") == 0 && dt != GF_WTYPE_F32 && n <= S_GEMV_MAX ? 1e-5 : e->tol;
}

void check_linear(struct check_env *e, enum gf_wtype dt, int rows, int cols, int n, int bias)
{
    struct gf_mat w = check_mat(dt, rows, cols, 0.5f), b = check_mat(GF_WTYPE_F32, 1, rows, 1.0f);
    float *x = check_rnd((int64_t)n * cols, 1.0f), *y = check_nans((int64_t)n * rows);
    e->cpu->ops->linear(e->cpu, y, x, n, &w, bias ? &b : NULL);
    float *dx = check_up(e->gpu, x, (size_t)n * cols * 4),
          *dy = check_up(e->gpu, NULL, (size_t)n * rows * 4);
    if (dx && dy)
        e->gpu->ops->linear(e->gpu, dy, dx, n, &w, bias ? &b : NULL);
    char what[96];
    snprintf(what, sizeof what, "%s %dx%d, %d tokens%s", gf_wtype_name(dt), rows, cols, n,
             bias ? ", bias" : "");
    check_dev(e, "linear", what, dx ? dy : NULL, y, (int64_t)n * rows, s_linear_tol(e, dt, n));
    s_free(e, 2, (void *[]){dx, dy});
    free(x), free(y);
}

static int s_group_linear(struct check_env *e, const char *arg)
{
    enum gf_wtype dts[] = {GF_WTYPE_F32, GF_WTYPE_F16, GF_WTYPE_BF16};
    int ns[] = {1, 5, 8, 9, 64, 300};
    for (int d = 0; d < 3; d++)
        for (int i = 0; i < 6; i++)
            check_linear(e, dts[d], 1000, 2048, ns[i], i % 2);
    check_linear(e, GF_WTYPE_BF16, 2048, 5632, 3, 0);
    check_linear(e, GF_WTYPE_BF16, 77, 8, 40, 1); /* the gen aligner's narrow first layer */
    check_linear(e, GF_WTYPE_F32, 33, 13, 2, 1);  /* odd widths: the GEMV's scalar path */
    return 0;
}

/* GEMV rows not a multiple of 8 (the rows of a block) and columns not a multiple of 256 (one
 * warp's 16-byte loads), at 1 to 8 tokens, and just past the GEMV. */
static int s_group_gemv_shapes(struct check_env *e, const char *arg)
{
    enum gf_wtype dts[] = {GF_WTYPE_F32, GF_WTYPE_F16, GF_WTYPE_BF16};
    for (int d = 0; d < 3; d++) {
        check_linear(e, dts[d], 1001, 2056, 1, 0);
        check_linear(e, dts[d], 1001, 2056, 3, 1);
        check_linear(e, dts[d], 1001, 2056, 8, 0);
        check_linear(e, dts[d], 999, 1000, 2, 1);
        check_linear(e, dts[d], 13, 264, 7, 0);
        check_linear(e, dts[d], 1003, 1800, 9, 1);
    }
    return 0;
}

static int s_group_rows(struct check_env *e, const char *arg)
{
    enum { N = 7, D = 2048 };
    struct gf_mat w = check_mat(GF_WTYPE_BF16, 1, D, 1.0f);
    float *x = check_rnd(N * D, 2.0f), *y = check_nans(N * D);
    float *dx = check_up(e->gpu, x, N * D * 4), *dy = check_up(e->gpu, NULL, N * D * 4);
    e->cpu->ops->rmsnorm(e->cpu, y, x, N, D, &w, 1e-6f);
    e->gpu->ops->rmsnorm(e->gpu, dy, dx, N, D, &w, 1e-6f);
    check_dev(e, "rmsnorm", "7 x 2048, bf16 weight", dy, y, N * D, e->tol);

    /* rope on q-like rows: 16 heads of 128 at positions up to 4000 */
    int32_t pos[N];
    for (int i = 0; i < N; i++)
        pos[i] = (int)((check_rand() + 1) * 2000);
    int32_t *dpos = check_up(e->gpu, pos, sizeof pos);
    memcpy(y, x, N * D * 4);
    e->gpu->ops->to_device(e->gpu, dy, x, N * D * 4);
    e->cpu->ops->rope(e->cpu, y, N, D, 16, 128, pos, 10000.0f);
    e->gpu->ops->rope(e->gpu, dy, N, D, 16, 128, dpos, 10000.0f);
    check_dev(e, "rope", "7 x 16 heads x 128, positions < 4000", dy, y, N * D, e->tol);

    struct gf_mat tb = check_mat(GF_WTYPE_BF16, 500, D, 1.0f);
    struct gf_mat tf = check_mat(GF_WTYPE_F32, 500, D, 1.0f);
    int32_t ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = (int)((check_rand() + 1) * 249.9);
    int32_t *dids = check_up(e->gpu, ids, sizeof ids);
    float *nan = check_nans(N * D);
    for (int t = 0; t < 2; t++) {
        memcpy(y, nan, N * D * 4);
        e->gpu->ops->to_device(e->gpu, dy, nan, N * D * 4);
        e->cpu->ops->embed(e->cpu, y, t ? &tf : &tb, ids, N);
        e->gpu->ops->embed(e->gpu, dy, t ? &tf : &tb, dids, N);
        check_dev(e, "embed", t ? "f32 table 500 x 2048, 7 ids" : "bf16 table 500 x 2048, 7 ids",
                  dy, y, N * D, e->tol);
    }
    s_free(e, 4, (void *[]){dx, dy, dpos, dids});
    free(x), free(y), free(nan);
    return 0;
}

static int s_group_elementwise(struct check_env *e, const char *arg)
{
    enum { N = 100003 };
    float *a = check_rnd(N, 4.0f), *b = check_rnd(N, 4.0f), *y = check_nans(N);
    float *da = check_up(e->gpu, a, N * 4), *db = check_up(e->gpu, b, N * 4),
          *dy = check_up(e->gpu, NULL, N * 4);
    e->cpu->ops->swiglu(e->cpu, y, a, b, N);
    e->gpu->ops->swiglu(e->gpu, dy, da, db, N);
    check_dev(e, "swiglu", "100003", dy, y, N, e->tol);
    memcpy(y, a, N * 4);
    e->gpu->ops->to_device(e->gpu, dy, a, N * 4);
    e->cpu->ops->gelu(e->cpu, y, N);
    e->gpu->ops->gelu(e->gpu, dy, N);
    check_dev(e, "gelu", "100003", dy, y, N, e->tol);
    e->cpu->ops->add(e->cpu, y, b, N);
    e->gpu->ops->add(e->gpu, dy, db, N);
    check_dev(e, "add", "100003 (onto the gelu output)", dy, y, N, e->tol);
    memcpy(y, a, N * 4);
    e->gpu->ops->to_device(e->gpu, dy, a, N * 4);
    e->cpu->ops->swish(e->cpu, y, N);
    e->gpu->ops->swish(e->gpu, dy, N);
    check_dev(e, "swish", "100003", dy, y, N, e->tol);
    /* copy within backend memory (the KV slot copies of gf_llm_copy_slot): exact */
    e->gpu->ops->copy(e->gpu, dy, db, N * 4);
    check_dev(e, "copy", "100003 floats, device to device", dy, b, N, 0.0);
    s_free(e, 3, (void *[]){da, db, dy});
    free(a), free(b), free(y);
    return 0;
}

void check_attention(struct check_env *e, int heads, int kv_heads, int hd, int slots, int seq,
                     int n, const int32_t *slot, const int32_t *pos, const char *what)
{
    int kvd = kv_heads * hd, qd = heads * hd;
    size_t cache = (size_t)slots * seq * kvd;
    float *kc = check_rnd(cache, 1.0f), *vc = check_rnd(cache, 1.0f);
    float *q = check_rnd((int64_t)n * qd, 1.0f), *k = check_rnd((int64_t)n * kvd, 1.0f);
    float *v = check_rnd((int64_t)n * kvd, 1.0f), *out = check_nans((int64_t)n * qd);
    float *dkc = check_up(e->gpu, kc, cache * 4), *dvc = check_up(e->gpu, vc, cache * 4);
    float *dq = check_up(e->gpu, q, (size_t)n * qd * 4);
    float *dk = check_up(e->gpu, k, (size_t)n * kvd * 4);
    float *dv = check_up(e->gpu, v, (size_t)n * kvd * 4);
    float *dout = check_up(e->gpu, NULL, (size_t)n * qd * 4);
    int32_t *dslot = check_up(e->gpu, slot, n * 4), *dpos = check_up(e->gpu, pos, n * 4);
    struct gf_attn a = {kc, vc, slot, pos, heads, kv_heads, hd, seq, GF_WTYPE_F32};
    struct gf_attn da = {dkc, dvc, dslot, dpos, heads, kv_heads, hd, seq, GF_WTYPE_F32};
    e->cpu->ops->kv_store(e->cpu, &a, k, v, n);
    e->cpu->ops->attention(e->cpu, out, q, n, &a);
    e->gpu->ops->kv_store(e->gpu, &da, dk, dv, n);
    e->gpu->ops->attention(e->gpu, dout, dq, n, &da);
    check_dev(e, "kv_store", what, dkc, kc, cache, e->tol);
    check_dev(e, "attention", what, dout, out, (int64_t)n * qd, e->tol);
    s_free(e, 8, (void *[]){dkc, dvc, dq, dk, dv, dout, dslot, dpos});
    free(kc), free(vc), free(q), free(k), free(v), free(out);
}

/* a prefill chunk on top of slot 0, single tokens in slots 1 and 2 (the first and the last
 * position, two neighbours) */
static int s_group_attention(struct check_env *e, const char *arg)
{
    enum { SEQ = 300 };
    int32_t slot[12] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2};
    int32_t pos[12] = {40, 41, 42, 43, 44, 45, 46, 47, 0, SEQ - 1, 150, 151};
    check_attention(e, 16, 16, 128, 3, SEQ, 12, slot, pos, "16 heads x 128, 12 tokens, 3 slots");
    check_attention(e, 8, 2, 64, 3, SEQ, 12, slot, pos, "8 heads (2 kv) x 64, 12 tokens, 3 slots");
    return 0;
}

/* One slot's scores past 48 KiB of shared memory (the opt-in limit, not the default one). */
static int s_group_attention_long(struct check_env *e, const char *arg)
{
    enum { SEQ = 14000 };
    int32_t slot[5] = {0, 0, 1, 1, 1}, pos[5] = {SEQ - 1, SEQ - 2, 0, 7001, 12500};
    check_attention(e, 8, 2, 64, 2, SEQ, 5, slot, pos, "8 heads (2 kv) x 64, 14000 positions");
    check_attention(e, 16, 16, 128, 1, 13000, 2, slot, pos + 3, "16 heads x 128, 13000 positions");
    return 0;
}

static void s_conv(struct check_env *e, enum gf_wtype dt, int k, int cin, int cout)
{
    enum { N = 2, H = 12, W = 12 };
    int64_t in = (int64_t)N * H * W * cin, outn = (int64_t)N * H * W * cout;
    struct gf_mat w = check_mat(dt, cout, (int64_t)cin * k * k, 0.2f);
    struct gf_mat b = check_mat(GF_WTYPE_F32, 1, cout, 1.0f);
    float *x = check_rnd(in, 1.0f), *y = check_nans(outn);
    int64_t wl = GF_CONV2D_WORK(cin, cout, k);
    float *work = malloc(wl * 4);
    float *dx = check_up(e->gpu, x, in * 4), *dy = check_up(e->gpu, NULL, outn * 4);
    float *dwork = check_up(e->gpu, NULL, 4096 * 4);
    e->cpu->ops->conv2d(e->cpu, y, x, N, H, W, k, &w, &b, work, wl);
    e->gpu->ops->conv2d(e->gpu, dy, dx, N, H, W, k, &w, &b, dwork, 4096);
    char what[96];
    snprintf(what, sizeof what, "%s %dx%d, %d -> %d ch, 2 x 12x12", gf_wtype_name(dt), k, k, cin,
             cout);
    check_dev(e, "conv2d", what, dy, y, outn, e->tol);
    s_free(e, 3, (void *[]){dx, dy, dwork});
    free(x), free(y), free(work);
}

static int s_group_conv(struct check_env *e, const char *arg)
{
    s_conv(e, GF_WTYPE_F32, 3, 64, 96);
    s_conv(e, GF_WTYPE_BF16, 3, 128, 128);
    s_conv(e, GF_WTYPE_F32, 1, 64, 32);
    return 0;
}

void check_group_norm(struct check_env *e, int n, int hw, int c, int groups)
{
    int64_t total = (int64_t)n * hw * c;
    struct gf_mat w = check_mat(GF_WTYPE_F32, 1, c, 1.0f), b = check_mat(GF_WTYPE_F32, 1, c, 1.0f);
    float *x = check_rnd(total, 3.0f);
    for (int64_t i = 0; i < total; i++)
        x[i] += 0.5f; /* a mean away from zero */
    float *work = malloc(GF_GROUP_NORM_WORK(n, c) * 4), *y = check_nans(total);
    float *dx = check_up(e->gpu, x, total * 4), *dy = check_up(e->gpu, NULL, total * 4);
    float *dwork = check_up(e->gpu, NULL, GF_GROUP_NORM_WORK(n, c) * 4);
    for (int sw = 0; sw < 2; sw++) {
        char what[96];
        snprintf(what, sizeof what, "%d x %d x %d, %d groups%s", n, hw, c, groups,
                 sw ? ", swish" : "");
        e->cpu->ops->group_norm(e->cpu, y, x, n, hw, c, groups, &w, &b, 1e-6f, sw, work);
        e->gpu->ops->group_norm(e->gpu, dy, dx, n, hw, c, groups, &w, &b, 1e-6f, sw, dwork);
        check_dev(e, "group_norm", what, dy, y, total, e->tol);
    }
    s_free(e, 3, (void *[]){dx, dy, dwork});
    free(x), free(y), free(work);
}

static int s_group_vq(struct check_env *e, const char *arg)
{
    enum { N = 2, HW = 576, C = 128 };
    int64_t total = (int64_t)N * HW * C;
    check_group_norm(e, N, HW, C, 32);
    check_group_norm(e, 1, 256, 512, 32); /* the VQ decoder's widest level */
    check_group_norm(e, 1, 64, 2048, 32); /* past 1024 channels (one per thread of a block) */
    float *x = check_rnd(total, 3.0f), *y = check_nans(total * 4);
    float *dx = check_up(e->gpu, x, total * 4), *dy = check_up(e->gpu, NULL, total * 4 * 4);
    e->cpu->ops->upsample2x(e->cpu, y, x, N, 24, 24, C);
    e->gpu->ops->upsample2x(e->gpu, dy, dx, N, 24, 24, C);
    check_dev(e, "upsample2x", "2 x 24x24 x 128", dy, y, total * 4, e->tol);
    e->cpu->ops->transpose(e->cpu, y, x, 1000, 37);
    e->gpu->ops->transpose(e->gpu, dy, dx, 1000, 37);
    check_dev(e, "transpose", "1000 x 37", dy, y, 1000 * 37, e->tol);
    float *sm = check_rnd(576 * 576, 8.0f); /* x is smaller than 576 x 576 */
    memcpy(y, sm, 576 * 576 * 4);
    e->gpu->ops->to_device(e->gpu, dy, sm, 576 * 576 * 4);
    free(sm);
    e->cpu->ops->softmax(e->cpu, y, 576, 576, 0.0884f);
    e->gpu->ops->softmax(e->gpu, dy, 576, 576, 0.0884f);
    check_dev(e, "softmax", "576 x 576, scale 1/sqrt(128)", dy, y, 576 * 576, e->tol);
    s_free(e, 2, (void *[]){dx, dy});
    free(x), free(y);
    return 0;
}

/* The sample op against gf_cfg_mix + gf_sample on the host: n draws over rows of v logits,
 * greedy and drawn, with and without CFG; every token must be the host's. With ties, some rows
 * hold their maximum at three ids (the same in the cond and uncond row of a pair, so the mix
 * ties too): greedy must then give the lowest of them. */
static void s_sample(struct check_env *e, int rows, int v, int n, int ties, const char *what)
{
    float *lg = check_rnd((int64_t)rows * v, 4.0f), *mix = malloc(2 * (size_t)v * 4);
    int32_t *idx = malloc((size_t)v * 4), *ids = malloc(n * 4), *want = malloc(n * 4);
    struct gf_draw *d = malloc(n * sizeof *d);
    int32_t tie[3] = {v / 7 + 3, v / 2 + 1, v - 2};
    for (int r = 0; ties && r < rows; r++)
        for (int t = 0; t < 3; t++)
            lg[(int64_t)r * v + tie[t]] = 9.0f + (r / 2) * 0.25f;
    int lowest = 1;
    for (int i = 0; i < n; i++) {
        int cfg = i % 2, greedy = i % 4 < 2;
        d[i] = (struct gf_draw){(2 * i) % rows, cfg ? (2 * i + 1) % rows : -1, 5.0f,
                                greedy ? 0.0f : (i % 8 < 4 ? 1.0f : 0.7f), (check_rand() + 1) / 2};
        const float *l = lg + (size_t)d[i].cond * v;
        if (cfg) {
            gf_cfg_mix(mix + v, l, lg + (size_t)d[i].uncond * v, v, d[i].cfg_weight);
            l = mix + v;
        }
        struct gf_sampler sp = {d[i].temperature, 0, 1.0f};
        want[i] = gf_sample(l, v, &sp, d[i].u, mix, idx);
        if (ties && greedy && !cfg)
            lowest &= want[i] == tie[0];
    }
    float *dl = check_up(e->gpu, lg, (size_t)rows * v * 4);
    for (int i = 0; i < n; i++)
        ids[i] = -1;
    e->gpu->ops->sample(e->gpu, ids, dl, v, d, n);
    int64_t bi = check_break("sample", n);
    if (bi >= 0)
        ids[bi] = (ids[bi] + 1) % v;
    int same = 0, first = -1;
    for (int i = 0; i < n; i++) {
        same += ids[i] == want[i];
        if (first < 0 && ids[i] != want[i])
            first = i;
    }
    char detail[160];
    int n_out = snprintf(detail, sizeof detail, "%d of %d tokens as on the host", same, n);
    if (first >= 0)
        snprintf(detail + n_out, sizeof detail - n_out,
                 "; first difference: draw %d got %d want %d", first, ids[first], want[first]);
    check_verdict(e, "sample", what, same == n && check_backend_ok(e->gpu), detail);
    if (ties)
        check_verdict(e, "sample", "argmax ties: the lowest id (host)", lowest, "");
    e->gpu->ops->free(e->gpu, dl);
    free(lg), free(mix), free(idx), free(ids), free(want), free(d);
}

static int s_group_sample(struct check_env *e, const char *arg)
{
    if (!e->gpu->ops->sample) {
        printf("  %-11s %-46s %-5s skipped: the backend has no sample op\n", "sample", "", e->mode);
        return 0;
    }
    s_sample(e, 16, 16384, 64, 0, "16 rows x 16384, CFG 5, greedy, T 1 and 0.7");
    s_sample(e, 8, 102400, 32, 1, "8 rows x 102400 (text), ties, CFG 5, T 1, 0.7");
    return 0;
}

const struct check_section check_ops_sections[] = {
    {"linear", s_group_linear, "products: f32/f16/bf16 weights, 1 to 300 tokens, bias"},
    {"gemv-shapes", s_group_gemv_shapes, "rows not a multiple of 8, columns not of 256"},
    {"rows", s_group_rows, "rmsnorm, rope, embed"},
    {"elementwise", s_group_elementwise, "swiglu, gelu, add, swish, copy"},
    {"attention", s_group_attention, "kv_store and attention, GQA, 3 slots"},
    {"attention-long", s_group_attention_long, "attention past 48 KiB of shared memory"},
    {"conv", s_group_conv, "conv2d 3x3 and 1x1"},
    {"vq", s_group_vq, "group_norm (128, 512, 2048 ch), upsample2x, transpose, softmax"},
    {"sample", s_group_sample, "the device draw: CFG, greedy, ties, 102400 vocabulary"},
    {"attention-edges", check_group_attention_edges, "chunk edges; head_dim 64, 80, 128, 256; GQA"},
    {"attention-wide", check_group_attention_wide, "max_seq 41000; 65600 tokens in one call"},
    {"gemv-tails", check_group_gemv_tails, "n 1, 2, 3, 5, 8; unrolled-step tails; odd rows"},
    {"conv-paths", check_group_conv_paths, "3x3 tap-major, as stored, weight in backend memory"},
    {"group-norm", check_group_group_norm, "hw < 32 and 20000, images, 512/2048/18/1030 ch"},
    {"sample-edges", check_group_sample_edges, "-inf at the vocabulary's end, u near 1"},
    {"weights", check_group_weights, "a refilled host weight; graphs replayed after re-upload"},
    {"staging", check_group_staging, "20 copies before a sync; copies past 64 KiB"},
    {NULL, NULL, NULL},
};
