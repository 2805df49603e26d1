/* check_edges.c — `check ops` groups aimed at the edge cases of the CUDA kernels (docs/cuda.md,
 * "How it works"): split-K attention at its chunk and launch edges, the GEMV's unrolled tails,
 * both im2col paths of the 3x3 conv, GroupNorm's splits, the draw with -inf at the end of the
 * vocabulary, the weight cache's fingerprint (with CUDA graphs too) and the pinned staging of
 * small copies. Each group runs in its own process (check.c), in both modes; shapes stay small
 * except where the edge needs size. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "model/lm/sampler.h"

static void s_free(struct check_env *e, int n, void **p)
{
    for (int i = 0; i < n; i++)
        if (p[i])
            e->gpu->ops->free(e->gpu, p[i]);
}

/* --- attention --------------------------------------------------------------------------- */

/* Chunks of 128 positions: tokens just below, at and past the edges 128 and 256, at 300 and the
 * last position of a 320-position cache (its last chunk partial), a prefill run across an edge;
 * head_dim 64, 80, 128 and 256, more query heads than KV heads. */
int check_group_attention_edges(struct check_env *e, const char *arg)
{
    enum { SEQ = 320, N = 11 };
    int32_t slot[N] = {0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 3};
    int32_t pos[N] = {127, 128, 129, 0, 126, 255, 256, 257, 299, 300, SEQ - 1};
    static const int shapes[][3] = {{8, 2, 64}, {6, 3, 80}, {16, 2, 128}, {4, 4, 128}, {4, 1, 256}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        char what[96];
        snprintf(what, sizeof what, "%d heads (%d kv) x %d, positions 0..319 at edges",
                 shapes[i][0], shapes[i][1], shapes[i][2]);
        check_attention(e, shapes[i][0], shapes[i][1], shapes[i][2], 4, SEQ, N, slot, pos, what);
    }
    return 0;
}

/* A cache of 41,000 positions (max_seq past 40k: 321 chunks, the last partial), 205 tokens: more
 * than one launch's worth of partials in the scratch (197 tokens at this shape), most of them
 * cheap (early positions), five near the end. Then 65,600 tokens of one tiny head in one call:
 * past 65,535 blocks of a grid dimension, so the tokens go in two launches. */
int check_group_attention_wide(struct check_env *e, const char *arg)
{
    enum { SEQ = 41000, N = 205, TINY_SEQ = 64, TINY_N = 65600 };
    int32_t *slot = malloc(TINY_N * sizeof *slot), *pos = malloc(TINY_N * sizeof *pos);
    for (int i = 0; i < N - 5; i++)
        slot[i] = 0, pos[i] = i;
    static const int32_t tail[5] = {SEQ - 1, 40960, 40959, 32768, 20000};
    for (int i = 0; i < 5; i++)
        slot[N - 5 + i] = 1, pos[N - 5 + i] = tail[i];
    check_attention(e, 8, 2, 64, 2, SEQ, N, slot, pos,
                    "8 heads (2 kv) x 64, max_seq 41000, 205 tokens");
    for (int i = 0; i < TINY_N; i++)
        slot[i] = i / TINY_SEQ, pos[i] = i % TINY_SEQ;
    check_attention(e, 1, 1, 8, TINY_N / TINY_SEQ, TINY_SEQ, TINY_N, slot, pos,
                    "1 head x 8, 65600 tokens in one call");
    free(slot), free(pos);
    return 0;
}

/* --- GEMV ---------------------------------------------------------------------------------- */

/* n = 1, 2, 3, 5, 8 (the 1-, 2-, 4- and 8-token versions, partly filled); columns past a
 * multiple of one unrolled step (1024 elements of 16-bit weights, 512 of f32) by one 16-byte
 * piece or a few, fewer columns than a warp's first step; rows not a multiple of 8. */
int check_group_gemv_tails(struct check_env *e, const char *arg)
{
    static const int shapes[][3] = {
        {1001, 1032, 1}, {7, 3000, 2}, {1003, 1544, 3}, {9, 520, 5},
        {1001, 2040, 8}, {15, 8, 5},   {1000, 1028, 2}, {3, 2056, 1},
    };
    enum gf_wtype dts[] = {GF_WTYPE_F32, GF_WTYPE_F16, GF_WTYPE_BF16};
    for (int d = 0; d < 3; d++)
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
            check_linear(e, dts[d], shapes[i][0], shapes[i][1], shapes[i][2], (int)i % 2);
    return 0;
}

/* --- conv2d -------------------------------------------------------------------------------- */

/* A 3x3 conv of n images h x wd, cin -> cout. dev_weight: the weight copied into backend memory
 * first (as the VQ's attention passes activations), which the backend uses as stored, never
 * tap-major. */
static void s_conv3(struct check_env *e, enum gf_wtype dt, int n, int h, int wd, int cin, int cout,
                    int dev_weight)
{
    int64_t in = (int64_t)n * h * wd * cin, outn = (int64_t)n * h * wd * cout;
    struct gf_mat w = check_mat(dt, cout, (int64_t)cin * 9, 0.2f);
    struct gf_mat b = check_mat(GF_WTYPE_F32, 1, cout, 1.0f);
    float *x = check_rnd(in, 1.0f), *y = check_nans(outn);
    int64_t wl = GF_CONV2D_WORK(cin, cout, 3);
    float *work = malloc(wl * sizeof *work);
    float *dx = check_up(e->gpu, x, in * 4), *dy = check_up(e->gpu, NULL, outn * 4);
    float *dwork = check_up(e->gpu, NULL, 4096 * 4);
    void *dw =
        dev_weight ? check_up(e->gpu, w.data, (size_t)cout * cin * 9 * gf_wtype_size(dt)) : NULL;
    struct gf_mat wg = w;
    if (dev_weight)
        wg.data = dw;
    e->cpu->ops->conv2d(e->cpu, y, x, n, h, wd, 3, &w, &b, work, wl);
    if (dx && dy && (!dev_weight || dw))
        e->gpu->ops->conv2d(e->gpu, dy, dx, n, h, wd, 3, &wg, &b, dwork, 4096);
    char what[96];
    snprintf(what, sizeof what, "%s 3x3, %d -> %d ch, %d x %dx%d%s", gf_wtype_name(dt), cin, cout,
             n, h, wd, dev_weight ? ", weight in backend memory" : "");
    check_dev(e, "conv2d", what, dx && (!dev_weight || dw) ? dy : NULL, y, outn, e->tol);
    s_free(e, 4, (void *[]){dx, dy, dwork, dw});
    free(x), free(y), free(work);
}

int check_group_conv_paths(struct check_env *e, const char *arg)
{
    s_conv3(e, GF_WTYPE_F32, 2, 7, 9, 8, 16, 0); /* tap-major: channels a multiple of 4 */
    s_conv3(e, GF_WTYPE_BF16, 1, 12, 5, 4, 12, 0);
    s_conv3(e, GF_WTYPE_F16, 1, 6, 6, 20, 7, 0);
    s_conv3(e, GF_WTYPE_F32, 2, 7, 9, 3, 16, 0); /* as stored: channels not a multiple of 4 */
    s_conv3(e, GF_WTYPE_BF16, 1, 12, 5, 6, 5, 0);
    s_conv3(e, GF_WTYPE_BF16, 1, 5, 11, 1, 8, 0);
    s_conv3(e, GF_WTYPE_F32, 2, 7, 9, 8, 16, 1); /* in backend memory: as stored */
    s_conv3(e, GF_WTYPE_F32, 1, 6, 6, 6, 4, 1);
    return 0;
}

/* --- GroupNorm ----------------------------------------------------------------------------- */

/* Fewer pixels than a split's minimum (32), many (the 512 splits of an image capped), several
 * images, 512 and 2048 channels, channel counts not divisible by 4 (the element-wise apply)
 * and past 1024 (a block's threads). */
int check_group_group_norm(struct check_env *e, const char *arg)
{
    check_group_norm(e, 1, 7, 64, 32);
    check_group_norm(e, 2, 31, 128, 32);
    check_group_norm(e, 2, 20000, 64, 32);
    check_group_norm(e, 3, 100, 96, 32);
    check_group_norm(e, 2, 96, 512, 32);
    check_group_norm(e, 1, 20, 2048, 32);
    check_group_norm(e, 2, 33, 18, 6);
    check_group_norm(e, 1, 50, 1030, 10);
    return 0;
}

/* --- sampling ------------------------------------------------------------------------------ */

/* Draws over rows of v logits whose cond rows end in `tail` ids of -inf (the uncond rows are
 * finite, so the mix is -inf there too), u from 0.5 up to the last double below 1: every token
 * must be the host's and none may be an id of probability 0. In some rows the largest logits
 * sit just before the -inf run, so a draw near u = 1 ends right at its edge. */
static void s_sample_tail(struct check_env *e, int v, int tail, const char *what)
{
    enum { ROWS = 8, N = 40 };
    static const float temps[] = {0.0f, 1.0f, 0.7f, 2.0f};
    const double us[] = {nextafter(1.0, 0.0), 1 - 1e-12, 1 - 1e-9, 1 - 1e-6, 0.5};
    float *lg = check_rnd((int64_t)ROWS * v, 4.0f), *mix = malloc(2 * (size_t)v * sizeof *mix);
    int32_t *idx = malloc((size_t)v * sizeof *idx), ids[N], want[N];
    struct gf_draw d[N];
    for (int r = 0; r < ROWS; r += 2) {
        float *row = lg + (int64_t)r * v;
        for (int i = v - tail; i < v; i++)
            row[i] = -INFINITY;
        if (r % 4 == 2)
            for (int i = v - tail - 3; i < v - tail; i++)
                row[i] = 12.0f;
    }
    for (int i = 0; i < N; i++) {
        int cfg = i % 2, cond = (2 * (i / 2)) % ROWS;
        d[i] = (struct gf_draw){cond, cfg ? cond + 1 : -1, 5.0f, temps[(i / 2) % 4], us[i % 5]};
        const float *l = lg + (size_t)cond * v;
        if (cfg) {
            gf_cfg_mix(mix + v, l, lg + (size_t)(cond + 1) * v, v, d[i].cfg_weight);
            l = mix + v;
        }
        struct gf_sampler sp = {d[i].temperature, 0, 1.0f};
        want[i] = gf_sample(l, v, &sp, d[i].u, mix, idx);
        ids[i] = -1;
    }
    float *dl = check_up(e->gpu, lg, (size_t)ROWS * v * 4);
    if (dl)
        e->gpu->ops->sample(e->gpu, ids, dl, v, d, N);
    int same = 0, first = -1, in_tail = 0, host_tail = 0;
    for (int i = 0; i < N; i++) {
        same += ids[i] == want[i];
        in_tail += ids[i] >= v - tail;
        host_tail += want[i] >= v - tail;
        if (first < 0 && ids[i] != want[i])
            first = i;
    }
    char detail[200];
    int len = snprintf(detail, sizeof detail,
                       "%d of %d tokens as on the host; in the -inf run: %d (host %d)", same, N,
                       in_tail, host_tail);
    if (first >= 0)
        snprintf(detail + len, sizeof detail - len, "; first difference: draw %d got %d want %d",
                 first, ids[first], want[first]);
    check_verdict(e, "sample", what,
                  dl && same == N && !in_tail && !host_tail && check_backend_ok(e->gpu), detail);
    if (dl)
        e->gpu->ops->free(e->gpu, dl);
    free(lg), free(mix), free(idx);
}

int check_group_sample_edges(struct check_env *e, const char *arg)
{
    if (!e->gpu->ops->sample) {
        printf("  %-11s %-46s %-5s skipped: the backend has no sample op\n", "sample", "", e->mode);
        return 0;
    }
    s_sample_tail(e, 102400, 64, "102400 ids, last 64 -inf, u up to 1 - 2^-53");
    s_sample_tail(e, 16384, 1, "16384 ids, the last -inf, u up to 1 - 2^-53");
    return 0;
}

/* --- the weight cache ---------------------------------------------------------------------- */

/* New random values in w's host bytes, at the same address and shape. */
static void s_refill(struct gf_mat *w, float scale)
{
    for (int64_t i = 0; i < w->rows * w->cols; i++)
        gf_wtype_put((void *)w->data, i, w->dtype, check_rand() * scale);
}

/* w's product on n tokens on `be` against the CPU's, read back through be. */
static int s_product(struct check_env *e, struct gf_backend *be, const struct gf_mat *w, int n,
                     const char *what)
{
    float *x = check_rnd((int64_t)n * w->cols, 1.0f), *y = check_nans((int64_t)n * w->rows);
    float *dx = check_up(be, x, (size_t)n * w->cols * 4);
    float *dy = check_up(be, NULL, (size_t)n * w->rows * 4);
    e->cpu->ops->linear(e->cpu, y, x, n, w, NULL);
    if (dx && dy)
        be->ops->linear(be, dy, dx, n, w, NULL);
    struct gf_backend *gpu = e->gpu;
    e->gpu = be;
    int bad = check_dev(e, "weights", what, dx ? dy : NULL, y, (int64_t)n * w->rows, e->tol);
    e->gpu = gpu;
    if (dx)
        be->ops->free(be, dx);
    if (dy)
        be->ops->free(be, dy);
    free(x), free(y);
    return bad;
}

/* One step driven as gf_llm_forward drives graphs: replayed when recorded, else recorded at the
 * second sight of the key, else run as usual. Returns 'r' (replayed), 'c' (recorded, then run)
 * or 'e' (run as usual). */
static int s_graph_step(struct gf_backend *be, float *dy, const float *dx, int n,
                        const struct gf_mat *w)
{
    static const char owner = 0;
    int kept = be->ops->graph_run(be, &owner, 1);
    if (kept == 0)
        return 'r';
    if (kept == GF_ENOTFOUND && be->ops->graph_begin(be) == 0) {
        be->ops->linear(be, dy, dx, n, w, NULL);
        if (be->ops->graph_end(be, &owner, 1) == 0)
            return 'c';
    }
    be->ops->linear(be, dy, dx, n, w, NULL);
    return 'e';
}

/* With CUDA graphs: a step run as usual, recorded, replayed; the host weight refilled and
 * re-uploaded by a use outside the graph (which must forget the recordings that point at the old
 * device copy); then run as usual, recorded and replayed again, each against the CPU. */
static void s_weights_graphs(struct check_env *e, enum gf_cuda_mode mode, int n)
{
    char what[96], detail[96];
    setenv("GOTFLOW_CUDA_GRAPHS", "1", 1);
    struct gf_backend *be = check_backend_new(mode);
    unsetenv("GOTFLOW_CUDA_GRAPHS");
    if (!be) {
        check_verdict(e, "weights", "graphs", 0, "a backend with graphs did not start");
        return;
    }
    if (!be->ops->graph_run) {
        printf("  %-11s graphs, refilled weight, %-2d tokens             %-5s skipped: the backend "
               "records no graphs\n",
               "weights", n, e->mode);
        gf_backend_destroy(&be);
        return;
    }
    struct gf_mat w = check_mat(GF_WTYPE_BF16, 200, 264, 0.5f);
    float *x = check_rnd((int64_t)n * w.cols, 1.0f), *y = check_nans((int64_t)n * w.rows);
    float *nan = check_nans((int64_t)n * w.rows);
    float *dx = check_up(be, x, (size_t)n * w.cols * 4);
    float *dy = check_up(be, NULL, (size_t)n * w.rows * 4);
    static const char want[] = "ecr" /* first weights */ "ecr" /* after the re-upload */;
    char got[8] = "";
    struct gf_backend *gpu = e->gpu;
    e->gpu = be;
    for (int round = 0; round < 2 && dx && dy; round++) {
        e->cpu->ops->linear(e->cpu, y, x, n, &w, NULL);
        for (int s = 0; s < 3; s++) {
            be->ops->to_device(be, dy, nan, (size_t)n * w.rows * 4);
            got[round * 3 + s] = (char)s_graph_step(be, dy, dx, n, &w);
            snprintf(what, sizeof what, "%d tokens, %s, step %d: %s", n,
                     round ? "refilled weight" : "first weight", s + 1,
                     got[round * 3 + s] == 'r'   ? "replayed"
                     : got[round * 3 + s] == 'c' ? "recorded"
                                                 : "as usual");
            check_dev(e, "weights", what, dy, y, (int64_t)n * w.rows, e->tol);
        }
        if (round == 0) { /* new bytes at the same address; a use outside any graph */
            s_refill(&w, 0.5f);
            e->cpu->ops->linear(e->cpu, y, x, n, &w, NULL);
            be->ops->linear(be, dy, dx, n, &w, NULL);
            snprintf(what, sizeof what, "%d tokens, refilled weight, outside a graph", n);
            check_dev(e, "weights", what, dy, y, (int64_t)n * w.rows, e->tol);
        }
    }
    e->gpu = gpu;
    snprintf(what, sizeof what, "graphs forgotten at the re-upload, %d tokens", n);
    snprintf(detail, sizeof detail, "steps %s, want %s (e as usual, c recorded, r replayed)", got,
             want);
    check_verdict(e, "weights", what, strcmp(got, want) == 0 && check_backend_ok(be), detail);
    if (dx)
        be->ops->free(be, dx);
    if (dy)
        be->ops->free(be, dy);
    free(x), free(y), free(nan);
    gf_backend_destroy(&be);
}

/* The weight cache knows a weight by its host address and a fingerprint of 16 sampled words:
 * the same buffer refilled with new values at the same shape must give the new results, through
 * the GEMV, cuBLAS and a tap-major conv weight; with graphs, a replay after the re-upload. */
int check_group_weights(struct check_env *e, const char *arg)
{
    enum gf_wtype dts[] = {GF_WTYPE_F32, GF_WTYPE_BF16};
    int ns[] = {2, 12};
    for (int d = 0; d < 2; d++)
        for (int i = 0; i < 2; i++) {
            struct gf_mat w = check_mat(dts[d], 300, 520, 0.5f);
            char what[96];
            snprintf(what, sizeof what, "%s 300x520, %d tokens", gf_wtype_name(dts[d]), ns[i]);
            s_product(e, e->gpu, &w, ns[i], what);
            s_refill(&w, 0.5f);
            snprintf(what, sizeof what, "%s 300x520, %d tokens, refilled", gf_wtype_name(dts[d]),
                     ns[i]);
            s_product(e, e->gpu, &w, ns[i], what);
        }
    /* a 3x3 conv weight kept tap-major, refilled: s_conv3 with the weight made here */
    enum { N = 1, H = 6, W = 7, CIN = 8, COUT = 12 };
    struct gf_mat cw = check_mat(GF_WTYPE_BF16, COUT, CIN * 9, 0.2f);
    float *x = check_rnd(N * H * W * CIN, 1.0f), *y = check_nans(N * H * W * COUT);
    float *work = malloc(GF_CONV2D_WORK(CIN, COUT, 3) * sizeof *work);
    float *dx = check_up(e->gpu, x, sizeof(float) * N * H * W * CIN);
    float *dy = check_up(e->gpu, NULL, sizeof(float) * N * H * W * COUT);
    float *dwork = check_up(e->gpu, NULL, 4096 * 4);
    for (int round = 0; round < 2; round++) {
        if (round)
            s_refill(&cw, 0.2f);
        e->cpu->ops->conv2d(e->cpu, y, x, N, H, W, 3, &cw, NULL, work,
                            GF_CONV2D_WORK(CIN, COUT, 3));
        if (dx && dy)
            e->gpu->ops->conv2d(e->gpu, dy, dx, N, H, W, 3, &cw, NULL, dwork, 4096);
        check_dev(e, "weights",
                  round ? "conv 3x3 8 -> 12 ch (tap-major), refilled"
                        : "conv 3x3 8 -> 12 ch (tap-major)",
                  dx ? dy : NULL, y, N * H * W * COUT, e->tol);
    }
    s_free(e, 3, (void *[]){dx, dy, dwork});
    free(x), free(y), free(work);
    enum gf_cuda_mode mode = strcmp(e->mode, "f32") == 0 ? GF_CUDA_F32 : GF_CUDA_BF16;
    s_weights_graphs(e, mode, 2);  /* the GEMV inside the graph */
    s_weights_graphs(e, mode, 12); /* cuBLAS inside the graph */
    return 0;
}

/* --- pinned staging ------------------------------------------------------------------------ */

static void s_pattern(float *p, int64_t n, int k)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(k * 1000 + i % 997) * 0.25f;
}

/* Small copies go through 8 pinned slots of 64 KiB, each reused once its copy has landed;
 * larger ones from pageable memory. The host buffer is rewritten right after every copy. */
int check_group_staging(struct check_env *e, const char *arg)
{
    enum { SMALL = 1024, COPIES = 20, ADDS = 12, SLOT = 16384 };
    struct gf_backend *be = e->gpu;
    /* 1. 20 copies of 4 KiB, no synchronisation between them: the slots wrap twice */
    float *src = malloc(COPIES * SMALL * sizeof *src), *want = malloc(COPIES * SMALL * 4);
    float *d = check_up(be, NULL, (size_t)COPIES * SMALL * 4);
    for (int k = 0; k < COPIES; k++) {
        s_pattern(src, SMALL, k + 1);
        memcpy(want + (int64_t)k * SMALL, src, SMALL * 4);
        if (d)
            be->ops->to_device(be, d + (int64_t)k * SMALL, src, SMALL * 4);
        s_pattern(src, SMALL, -7); /* the caller reuses its buffer at once */
    }
    check_dev(e, "staging", "20 copies of 4 KiB before a sync", d, want, COPIES * SMALL, 0);

    /* 2. 12 copies into one buffer, each added to an accumulator: every add must see its copy */
    float *acc = check_up(be, NULL, SMALL * 4), *tmp = check_up(be, NULL, SMALL * 4);
    float *sum = calloc(SMALL, sizeof *sum);
    if (acc) {
        memset(src, 0, SMALL * 4);
        be->ops->to_device(be, acc, src, SMALL * 4);
    }
    for (int k = 0; k < ADDS; k++) {
        s_pattern(src, SMALL, k + 3);
        for (int i = 0; i < SMALL; i++)
            sum[i] += src[i];
        if (acc && tmp) {
            be->ops->to_device(be, tmp, src, SMALL * 4);
            be->ops->add(be, acc, tmp, SMALL);
        }
        s_pattern(src, SMALL, -9);
    }
    check_dev(e, "staging", "12 copies into one buffer, each added", acc && tmp ? acc : NULL, sum,
              SMALL, 0);

    /* 3. exactly one slot, one float past it, 1 MiB and more, between small copies */
    static const int64_t sizes[] = {SLOT, SLOT + 1, 262147, 64, SLOT - 1, 3};
    enum { NS = sizeof sizes / sizeof *sizes };
    int64_t total = 0;
    for (int i = 0; i < NS; i++)
        total += sizes[i];
    float *big = malloc(total * sizeof *big), *bwant = malloc(total * sizeof *bwant);
    float *db = check_up(be, NULL, (size_t)total * 4);
    for (int rep = 0, off = 0; rep < 2; rep++, off = 0) /* the second round overwrites */
        for (int i = 0; i < NS; i++) {
            s_pattern(big, sizes[i], 10 * rep + i);
            memcpy(bwant + off, big, sizes[i] * 4);
            if (db)
                be->ops->to_device(be, db + off, big, (size_t)sizes[i] * 4);
            s_pattern(big, sizes[i], -3);
            off += (int)sizes[i];
        }
    check_dev(e, "staging", "64 KiB, 64 KiB+4 B, 1 MiB+12 B, small; twice", db, bwant, total, 0);
    s_free(e, 4, (void *[]){d, acc, tmp, db});
    free(src), free(want), free(sum), free(big), free(bwant);
    return 0;
}
