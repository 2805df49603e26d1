/* vq.c — the VQ-16 decoder on the operator interface (vq.h). */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "model/lm/vq.h"
#include "model/lm/config.h"

struct s_conv {
    struct gf_mat w, b; /* [cout][cin*k*k], [cout] */
    int k;
};

struct s_norm {
    struct gf_mat w, b; /* [c], [c] */
};

struct s_res {
    struct s_norm n1, n2;
    struct s_conv c1, c2, nin; /* nin.w.data is NULL when cin == cout */
    int cin, cout;
};

struct s_attn {
    struct s_norm n;
    struct s_conv q, k, v, proj;
};

struct s_level {
    struct s_res res[GF_VQ_MAX_RES + 1];
    struct s_attn attn[GF_VQ_MAX_RES + 1];
    int has_attn, has_up;
    struct s_conv up;
    int cout;
};

struct gf_vq {
    struct gf_backend *be;
    struct gf_vq_config cfg;
    int max_images, gh, gw;
    struct s_conv post_quant, conv_in, conv_out;
    struct s_res mid0, mid2;
    struct s_attn mid1;
    struct s_level lv[GF_VQ_MAX_LEVELS];
    struct s_norm norm_out;
    /* backend memory */
    float *codebook;    /* [codebook_size][embed_dim], l2-normalised */
    float *x, *t1, *t2; /* [max_images][max_elems] activations, channels last */
    float *k, *v;       /* [max_images][gh*gw][c_top] attention keys and values */
    float *scores, *vt; /* [gh*gw][gh*gw], [c_top][gh*gw] one image at a time */
    float *work;        /* [work_len] conv scratch */
    float *gn_work;     /* GF_GROUP_NORM_WORK(max_images, widest) group norm scratch */
    int64_t work_len, max_elems;
    int32_t *ids;            /* [max_images*gh*gw] checked codes, on the backend */
    void (*tick)(void *ctx); /* called after every conv, if set */
    void *tick_ctx;
};

void gf_vq_config_default(struct gf_vq_config *c)
{
    static const int mult[] = {1, 1, 2, 2, 4};
    memset(c, 0, sizeof *c);
    c->codebook_size = 16384;
    c->embed_dim = 8;
    c->l2_norm = 1;
    c->ch = 128;
    c->n_levels = 5;
    memcpy(c->ch_mult, mult, sizeof mult);
    c->z_channels = 256;
    c->n_res = 2;
    c->groups = 32;
    c->eps = 1e-6f;
    c->image_size = 384;
    c->patch_size = 16;
}

int gf_vq_config_grid(const struct gf_vq_config *c)
{
    return c->image_size / c->patch_size;
}

/* --- config ----------------------------------------------------------------------------------- */

/* num_res_blocks may be 0 (one res block a level); every other size is positive */
static int s_int(const char *path, json_t *p, const char *key, int *val, int *bad)
{
    json_t *v = json_object_get(p, key);
    int min = strcmp(key, "num_res_blocks") == 0 ? 0 : 1;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > 1 << 24) {
        gf_log_error("'%s': gen_vision_config.params.%s must be an integer of at least %d", path,
                     key, min);
        (*bad)++;
        return 0;
    }
    *val = (int)json_integer_value(v);
    return 1;
}

int gf_vq_config_parse(const char *path, const char *text, struct gf_vq_config *c)
{
    int bad = 0;
    json_t *root = gf_config_object(path, text);
    if (!root)
        return GF_EPARSE;
    gf_vq_config_default(c);
    json_t *gv = json_object_get(root, "gen_vision_config");
    const char *cls = json_string_value(json_object_get(gv, "cls"));
    if (cls && strcmp(cls, "VQ-16") != 0) {
        gf_log_error("'%s': gen_vision_config.cls '%s' is not supported (only VQ-16)", path, cls);
        bad++;
    }
    json_t *p = json_object_get(gv, "params");
    if (p && !json_is_object(p)) {
        gf_log_error("'%s': gen_vision_config.params is not an object", path);
        bad++;
        p = NULL;
    }
    if (!s_int(path, p, "codebook_size", &c->codebook_size, &bad))
        s_int(path, p, "image_token_size", &c->codebook_size, &bad);
    if (!s_int(path, p, "codebook_embed_dim", &c->embed_dim, &bad))
        s_int(path, p, "n_embed", &c->embed_dim, &bad);
    s_int(path, p, "ch", &c->ch, &bad);
    s_int(path, p, "z_channels", &c->z_channels, &bad);
    s_int(path, p, "num_res_blocks", &c->n_res, &bad);
    s_int(path, p, "image_size", &c->image_size, &bad);
    s_int(path, p, "patch_size", &c->patch_size, &bad);
    if (c->image_size % c->patch_size != 0 || c->image_size > 4096) {
        gf_log_error("'%s': gen_vision_config.params.image_size %d must be a multiple of "
                     "patch_size %d and at most 4096",
                     path, c->image_size, c->patch_size);
        bad++;
    }
    json_t *l2 = json_object_get(p, "codebook_l2_norm");
    if (json_is_boolean(l2))
        c->l2_norm = json_is_true(l2);
    json_t *eps = json_object_get(p, "norm_eps");
    if (json_is_number(eps) && json_number_value(eps) > 0)
        c->eps = (float)json_number_value(eps);
    json_t *m = json_object_get(p, "decoder_ch_mult");
    if (m) {
        size_t n = json_array_size(m);
        if (!json_is_array(m) || n < 1 || n > GF_VQ_MAX_LEVELS) {
            gf_log_error("'%s': gen_vision_config.params.decoder_ch_mult must list 1 to %d "
                         "integers",
                         path, GF_VQ_MAX_LEVELS);
            bad++;
        } else {
            c->n_levels = (int)n;
            for (size_t i = 0; i < n; i++) {
                json_int_t v = json_integer_value(json_array_get(m, i));
                if (v <= 0 || v > 64) {
                    gf_log_error("'%s': gen_vision_config.params.decoder_ch_mult[%zu] must be "
                                 "1 to 64",
                                 path, i);
                    bad++;
                }
                c->ch_mult[i] = (int)v;
            }
        }
    }
    if (c->n_res + 1 > GF_VQ_MAX_RES + 1) {
        gf_log_error("'%s': num_res_blocks %d is more than %d", path, c->n_res, GF_VQ_MAX_RES);
        bad++;
    }
    for (int i = 0; i < c->n_levels; i++)
        if ((int64_t)c->ch * c->ch_mult[i] % c->groups != 0 || c->ch * c->ch_mult[i] > 4096) {
            gf_log_error("'%s': decoder channels %d must be a multiple of %d and at most 4096",
                         path, c->ch * c->ch_mult[i], c->groups);
            bad++;
        }
    json_decref(root);
    return bad ? GF_ESCHEMA : 0;
}

int gf_vq_config_load(const char *dir, struct gf_vq_config *c)
{
    char path[4096], *text;
    int rc = gf_config_read(dir, path, sizeof path, &text);
    if (rc == 0)
        rc = gf_vq_config_parse(path, text, c);
    free(text);
    return rc;
}

/* --- tensors ---------------------------------------------------------------------------------- */

/* The tensor gen_vision_model.<name> with the given shape, as a [shape0][rest] matrix; logs and
 * counts each problem. */
static struct gf_mat s_get(const struct gf_ckpt *ck, int *bad, int ndim, const int64_t *shape,
                           const char *fmt, ...)
{
    struct gf_mat m = {GF_WTYPE_F32, 0, 0, NULL};
    char name[256] = "gen_vision_model.";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name + strlen(name), sizeof name - strlen(name), fmt, ap);
    va_end(ap);
    const struct gf_st_tensor *t = gf_ckpt_find(ck, name);
    if (!t) {
        gf_log_error("'%s': missing tensor '%s'", ck->dir, name);
        (*bad)++;
        return m;
    }
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = t->shape[d] == shape[d];
    if (!same) {
        char want[96] = "", got[96] = "";
        for (int d = 0; d < ndim; d++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? "," : "",
                     (long long)shape[d]);
        for (int d = 0; d < t->ndim; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "," : "",
                     (long long)t->shape[d]);
        gf_log_error("'%s': tensor '%s' has shape [%s], expected [%s]", ck->dir, name, got, want);
        (*bad)++;
        return m;
    }
    if (!t->dtype_ok) {
        gf_log_error("'%s': unsupported dtype '%s' for tensor '%s' (F32, F16 and BF16 are read)",
                     ck->dir, t->dtype_name, name);
        (*bad)++;
        return m;
    }
    m.dtype = t->dtype;
    m.rows = ndim > 1 ? shape[0] : 1;
    m.cols = 1;
    for (int d = ndim > 1 ? 1 : 0; d < ndim; d++)
        m.cols *= shape[d];
    m.data = t->data;
    return m;
}

static struct s_conv s_conv(const struct gf_ckpt *ck, int *bad, int cout, int cin, int k,
                            const char *name)
{
    struct s_conv c = {.k = k};
    c.w = s_get(ck, bad, 4, (int64_t[]){cout, cin, k, k}, "%s.weight", name);
    c.b = s_get(ck, bad, 1, (int64_t[]){cout}, "%s.bias", name);
    return c;
}

static struct s_norm s_norm(const struct gf_ckpt *ck, int *bad, int c, const char *name)
{
    struct s_norm n;
    n.w = s_get(ck, bad, 1, (int64_t[]){c}, "%s.weight", name);
    n.b = s_get(ck, bad, 1, (int64_t[]){c}, "%s.bias", name);
    return n;
}

static struct s_res s_res(const struct gf_ckpt *ck, int *bad, int cin, int cout, const char *p)
{
    struct s_res r = {.cin = cin, .cout = cout};
    char n[200];
    snprintf(n, sizeof n, "%s.norm1", p), r.n1 = s_norm(ck, bad, cin, n);
    snprintf(n, sizeof n, "%s.conv1", p), r.c1 = s_conv(ck, bad, cout, cin, 3, n);
    snprintf(n, sizeof n, "%s.norm2", p), r.n2 = s_norm(ck, bad, cout, n);
    snprintf(n, sizeof n, "%s.conv2", p), r.c2 = s_conv(ck, bad, cout, cout, 3, n);
    if (cin != cout)
        snprintf(n, sizeof n, "%s.nin_shortcut", p), r.nin = s_conv(ck, bad, cout, cin, 1, n);
    return r;
}

static struct s_attn s_attn(const struct gf_ckpt *ck, int *bad, int c, const char *p)
{
    struct s_attn a;
    char n[200];
    snprintf(n, sizeof n, "%s.norm", p), a.n = s_norm(ck, bad, c, n);
    snprintf(n, sizeof n, "%s.q", p), a.q = s_conv(ck, bad, c, c, 1, n);
    snprintf(n, sizeof n, "%s.k", p), a.k = s_conv(ck, bad, c, c, 1, n);
    snprintf(n, sizeof n, "%s.v", p), a.v = s_conv(ck, bad, c, c, 1, n);
    snprintf(n, sizeof n, "%s.proj_out", p), a.proj = s_conv(ck, bad, c, c, 1, n);
    return a;
}

/* Finds and checks every decoder tensor; returns the number of problems. */
static int s_bind(struct gf_vq *vq, const struct gf_ckpt *ck)
{
    const struct gf_vq_config *c = &vq->cfg;
    int bad = 0, L = c->n_levels, top = c->ch * c->ch_mult[L - 1];
    vq->post_quant = s_conv(ck, &bad, c->z_channels, c->embed_dim, 1, "post_quant_conv");
    vq->conv_in = s_conv(ck, &bad, top, c->z_channels, 3, "decoder.conv_in");
    vq->mid0 = s_res(ck, &bad, top, top, "decoder.mid.0");
    vq->mid1 = s_attn(ck, &bad, top, "decoder.mid.1");
    vq->mid2 = s_res(ck, &bad, top, top, "decoder.mid.2");
    int in = top;
    char n[200];
    for (int l = 0; l < L; l++) {
        struct s_level *lv = &vq->lv[l];
        lv->cout = c->ch * c->ch_mult[L - 1 - l];
        lv->has_attn = l == 0;
        lv->has_up = l != L - 1;
        for (int r = 0; r <= c->n_res; r++) {
            snprintf(n, sizeof n, "decoder.conv_blocks.%d.res.%d", l, r);
            lv->res[r] = s_res(ck, &bad, r ? lv->cout : in, lv->cout, n);
            if (lv->has_attn) {
                snprintf(n, sizeof n, "decoder.conv_blocks.%d.attn.%d", l, r);
                lv->attn[r] = s_attn(ck, &bad, lv->cout, n);
            }
        }
        if (lv->has_up) {
            snprintf(n, sizeof n, "decoder.conv_blocks.%d.upsample.conv", l);
            lv->up = s_conv(ck, &bad, lv->cout, lv->cout, 3, n);
        }
        in = lv->cout;
    }
    vq->norm_out = s_norm(ck, &bad, in, "decoder.norm_out");
    vq->conv_out = s_conv(ck, &bad, 3, in, 3, "decoder.conv_out");
    return bad;
}

/* Element i of a stored-dtype matrix as f32. */
static float s_elem(const struct gf_mat *m, int64_t i)
{
    if (m->dtype == GF_WTYPE_F32)
        return ((const float *)m->data)[i];
    uint16_t h = ((const uint16_t *)m->data)[i];
    return m->dtype == GF_WTYPE_F16 ? gf_f16_to_f32(h) : gf_bf16_to_f32(h);
}

/* --- buffers ---------------------------------------------------------------------------------- */

static int64_t s_max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* Largest activation of one image ([hw][c] elements) and the widest 3x3 conv input. */
static void s_sizes(const struct gf_vq *vq, int64_t *elems, int64_t *cols)
{
    const struct gf_vq_config *c = &vq->cfg;
    int64_t hw = (int64_t)vq->gh * vq->gw, top = vq->lv[0].res[0].cin, e, k;
    e = hw * s_max64(s_max64(c->embed_dim, c->z_channels), top);
    k = 9 * s_max64(c->z_channels, top);
    for (int l = 0; l < c->n_levels; l++) {
        const struct s_level *lv = &vq->lv[l];
        e = s_max64(e, hw * s_max64(lv->res[0].cin, lv->cout));
        k = s_max64(k, 9 * s_max64(lv->res[0].cin, lv->cout));
        if (lv->has_up)
            hw *= 4;
    }
    *elems = s_max64(e, hw * 3);
    *cols = k;
}

/* --- weights on the backend ----------------------------------------------------------------- */

struct s_list {
    const struct gf_mat **m;
    int n;
};

static void s_add(struct s_list *l, const struct gf_mat *m)
{
    if (m->data)
        l->m[l->n++] = m;
}

static void s_add_conv(struct s_list *l, const struct s_conv *c)
{
    s_add(l, &c->w), s_add(l, &c->b);
}

static void s_add_norm(struct s_list *l, const struct s_norm *n)
{
    s_add(l, &n->w), s_add(l, &n->b);
}

static void s_add_res(struct s_list *l, const struct s_res *r)
{
    s_add_norm(l, &r->n1), s_add_norm(l, &r->n2);
    s_add_conv(l, &r->c1), s_add_conv(l, &r->c2), s_add_conv(l, &r->nin);
}

static void s_add_attn(struct s_list *l, const struct s_attn *a)
{
    s_add_norm(l, &a->n);
    s_add_conv(l, &a->q), s_add_conv(l, &a->k), s_add_conv(l, &a->v), s_add_conv(l, &a->proj);
}

/* Hands every decoder weight and the size of the buffers to come to the backend's prepare. */
static int s_prepare(struct gf_vq *vq, size_t buffer_bytes)
{
    struct gf_backend *be = vq->be;
    if (!be->ops->prepare)
        return 0;
    struct s_list l = {malloc(1024 * sizeof *l.m), 0}; /* VQ-16 has about 300 */
    if (!l.m)
        return GF_ENOMEM;
    s_add_conv(&l, &vq->post_quant), s_add_conv(&l, &vq->conv_in);
    s_add_res(&l, &vq->mid0), s_add_attn(&l, &vq->mid1), s_add_res(&l, &vq->mid2);
    for (int lv = 0; lv < vq->cfg.n_levels && l.n < 1024 - 200; lv++) {
        for (int r = 0; r <= vq->cfg.n_res; r++) {
            s_add_res(&l, &vq->lv[lv].res[r]);
            if (vq->lv[lv].has_attn)
                s_add_attn(&l, &vq->lv[lv].attn[r]);
        }
        if (vq->lv[lv].has_up)
            s_add_conv(&l, &vq->lv[lv].up);
    }
    s_add_norm(&l, &vq->norm_out), s_add_conv(&l, &vq->conv_out);
    int rc = be->ops->prepare(be, l.m, l.n, buffer_bytes);
    free(l.m);
    return rc;
}

static int s_alloc(struct gf_vq *vq, const struct gf_mat *cb)
{
    const struct gf_ops *o = vq->be->ops;
    struct gf_backend *be = vq->be;
    int64_t n = vq->max_images, hw = (int64_t)vq->gh * vq->gw, top = vq->lv[0].cout, cols;
    s_sizes(vq, &vq->max_elems, &cols);
    vq->work_len = GF_CONV2D_WORK(cols / 9, cols / 9, 3); /* the widest conv */
    size_t cbn = (size_t)vq->cfg.codebook_size * vq->cfg.embed_dim;
    size_t bytes = 4 * (cbn + 3 * n * vq->max_elems + 2 * n * hw * top + hw * hw + hw * top +
                        vq->work_len + GF_GROUP_NORM_WORK(n, cols / 9) + n * hw);
    int rc = s_prepare(vq, bytes);
    if (rc < 0)
        return rc;
    vq->codebook = o->alloc(be, cbn * sizeof(float));
    vq->x = o->alloc(be, n * vq->max_elems * sizeof(float));
    vq->t1 = o->alloc(be, n * vq->max_elems * sizeof(float));
    vq->t2 = o->alloc(be, n * vq->max_elems * sizeof(float));
    vq->k = o->alloc(be, n * hw * top * sizeof(float));
    vq->v = o->alloc(be, n * hw * top * sizeof(float));
    vq->scores = o->alloc(be, hw * hw * sizeof(float));
    vq->vt = o->alloc(be, hw * top * sizeof(float));
    vq->work = o->alloc(be, vq->work_len * sizeof(float));
    vq->gn_work = o->alloc(be, GF_GROUP_NORM_WORK(n, cols / 9) * sizeof(float));
    vq->ids = o->alloc(be, n * hw * sizeof *vq->ids);
    float *host = malloc(cbn * sizeof(float));
    if (!vq->codebook || !vq->x || !vq->t1 || !vq->t2 || !vq->k || !vq->v || !vq->scores ||
        !vq->vt || !vq->work || !vq->gn_work || !vq->ids || !host) {
        free(host);
        return GF_ENOMEM;
    }
    /* F.normalize(p=2, dim=-1): each row over max(‖row‖, 1e-12) */
    for (int64_t r = 0; r < vq->cfg.codebook_size; r++) {
        double ss = 0;
        for (int i = 0; i < vq->cfg.embed_dim; i++) {
            double e = s_elem(cb, r * cb->cols + i);
            ss += e * e;
        }
        double d = vq->cfg.l2_norm ? fmax(sqrt(ss), 1e-12) : 1.0;
        for (int i = 0; i < vq->cfg.embed_dim; i++)
            host[r * cb->cols + i] = (float)(s_elem(cb, r * cb->cols + i) / d);
    }
    o->to_device(be, vq->codebook, host, cbn * sizeof(float));
    free(host);
    return 0;
}

int gf_vq_new(struct gf_backend *be, const struct gf_ckpt *ck, int max_images, int grid_h,
              int grid_w, struct gf_vq **out)
{
    *out = NULL;
    if (max_images < 1 || grid_h < 1 || grid_w < 1 || (int64_t)grid_h * grid_w > 1 << 16) {
        gf_log_error("vq: %d images of %dx%d codes is out of range", max_images, grid_h, grid_w);
        return GF_EINVAL;
    }
    struct gf_vq *vq = calloc(1, sizeof *vq);
    if (!vq)
        return GF_ENOMEM;
    vq->be = be;
    vq->max_images = max_images, vq->gh = grid_h, vq->gw = grid_w;
    int rc = gf_vq_config_load(ck->dir, &vq->cfg);
    if (rc < 0)
        goto fail;
    int bad = 0;
    struct gf_mat cb = s_get(ck, &bad, 2, (int64_t[]){vq->cfg.codebook_size, vq->cfg.embed_dim},
                             "quantize.embedding.weight");
    bad += s_bind(vq, ck);
    if (bad) {
        gf_log_error("'%s': %d problem%s with the VQ decoder tensors", ck->dir, bad,
                     bad > 1 ? "s" : "");
        rc = GF_ESCHEMA;
        goto fail;
    }
    int64_t pixels = (int64_t)grid_h * grid_w << 2 * (vq->cfg.n_levels - 1);
    if ((int64_t)max_images * pixels * vq->lv[vq->cfg.n_levels - 1].cout > (int64_t)1 << 31) {
        gf_log_error("vq: %d images of %dx%d codes need buffers over 8 GiB", max_images, grid_h,
                     grid_w);
        rc = GF_ETOOBIG;
        goto fail;
    }
    rc = s_alloc(vq, &cb);
    if (rc < 0) {
        gf_log_error("vq: out of memory for %d images", max_images);
        goto fail;
    }
    *out = vq;
    return 0;
fail:
    gf_vq_destroy(&vq);
    return rc;
}

void gf_vq_destroy(struct gf_vq **self_p)
{
    struct gf_vq *vq = *self_p;
    if (!vq)
        return;
    struct gf_backend *be = vq->be;
    float *bufs[] = {vq->codebook, vq->x,      vq->t1, vq->t2,   vq->k,
                     vq->v,        vq->scores, vq->vt, vq->work, vq->gn_work};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i])
            be->ops->free(be, bufs[i]);
    if (vq->ids)
        be->ops->free(be, vq->ids);
    free(vq);
    *self_p = NULL;
}

const struct gf_vq_config *gf_vq_config(const struct gf_vq *vq)
{
    return &vq->cfg;
}

void gf_vq_image_size(const struct gf_vq *vq, int *height, int *width)
{
    *height = vq->gh << (vq->cfg.n_levels - 1);
    *width = vq->gw << (vq->cfg.n_levels - 1);
}

/* --- forward ---------------------------------------------------------------------------------- */

static void s_conv_run(struct gf_vq *vq, float *y, const float *x, int n, int h, int w,
                       const struct s_conv *c)
{
    vq->be->ops->conv2d(vq->be, y, x, n, h, w, c->k, &c->w, &c->b, vq->work, vq->work_len);
    if (vq->tick)
        vq->tick(vq->tick_ctx);
}

void gf_vq_set_tick(struct gf_vq *vq, void (*fn)(void *ctx), void *ctx)
{
    vq->tick = fn, vq->tick_ctx = ctx;
}

/* *x[n][hw][cin] → *x[n][hw][cout]: shortcut(x) + conv2(swish(GN(conv1(swish(GN(x)))))) */
static void s_res_run(struct gf_vq *vq, float **x, int n, int h, int w, const struct s_res *r)
{
    const struct gf_ops *o = vq->be->ops;
    int hw = h * w, g = vq->cfg.groups;
    float e = vq->cfg.eps;
    o->group_norm(vq->be, vq->t1, *x, n, hw, r->cin, g, &r->n1.w, &r->n1.b, e, 1, vq->gn_work);
    s_conv_run(vq, vq->t2, vq->t1, n, h, w, &r->c1); /* [n][hw][cout] */
    o->group_norm(vq->be, vq->t2, vq->t2, n, hw, r->cout, g, &r->n2.w, &r->n2.b, e, 1, vq->gn_work);
    s_conv_run(vq, vq->t1, vq->t2, n, h, w, &r->c2); /* [n][hw][cout] */
    if (r->nin.w.data) {
        s_conv_run(vq, vq->t2, *x, n, h, w, &r->nin); /* [n][hw][cout] */
        float *t = *x;
        *x = vq->t2, vq->t2 = t;
    }
    o->add(vq->be, *x, vq->t1, (int64_t)n * hw * r->cout);
}

/* x[n][hw][c] += proj_out(softmax(q kᵀ / sqrt(c)) v), q, k, v = 1x1 convs of GN(x) */
static void s_attn_run(struct gf_vq *vq, float *x, int n, int h, int w, int c,
                       const struct s_attn *a)
{
    const struct gf_ops *o = vq->be->ops;
    struct gf_backend *be = vq->be;
    int hw = h * w;
    float *q = vq->t2; /* [n][hw][c] */
    o->group_norm(be, vq->t1, x, n, hw, c, vq->cfg.groups, &a->n.w, &a->n.b, vq->cfg.eps, 0,
                  vq->gn_work);
    s_conv_run(vq, q, vq->t1, n, h, w, &a->q);
    s_conv_run(vq, vq->k, vq->t1, n, h, w, &a->k);
    s_conv_run(vq, vq->v, vq->t1, n, h, w, &a->v);
    for (int b = 0; b < n; b++) {
        int64_t off = (int64_t)b * hw * c;
        struct gf_mat km = {GF_WTYPE_F32, hw, c, vq->k + off};
        struct gf_mat vtm = {GF_WTYPE_F32, c, hw, vq->vt};
        o->linear(be, vq->scores, q + off, hw, &km, NULL); /* [hw][hw] */
        o->softmax(be, vq->scores, hw, hw, 1.0f / sqrtf((float)c));
        o->transpose(be, vq->vt, vq->v + off, hw, c);            /* [c][hw] */
        o->linear(be, vq->t1 + off, vq->scores, hw, &vtm, NULL); /* [hw][c] */
    }
    s_conv_run(vq, vq->t2, vq->t1, n, h, w, &a->proj);
    o->add(be, x, vq->t2, (int64_t)n * hw * c);
}

int gf_vq_decode(struct gf_vq *vq, const int32_t *codes, int n, float *out)
{
    const struct gf_vq_config *c = &vq->cfg;
    const struct gf_ops *o = vq->be->ops;
    struct gf_backend *be = vq->be;
    int h = vq->gh, w = vq->gw, hw = h * w;
    if (n < 1 || n > vq->max_images) {
        gf_log_error("vq: %d images, expected 1 to %d", n, vq->max_images);
        return GF_EINVAL;
    }
    for (int64_t i = 0; i < (int64_t)n * hw; i++)
        if (codes[i] < 0 || codes[i] >= c->codebook_size) {
            gf_log_error("vq: code %d at %lld is outside the codebook (%d entries)", codes[i],
                         (long long)i, c->codebook_size);
            return GF_EINVAL;
        }
    if (o->check && o->check(be) < 0) {
        gf_log_error("vq: the backend failed earlier (logged above): decode refused");
        return GF_EIO;
    }
    o->to_device(be, vq->ids, codes, (size_t)n * hw * sizeof *codes);
    struct gf_mat cb = {GF_WTYPE_F32, c->codebook_size, c->embed_dim, vq->codebook};
    o->embed(be, vq->t1, &cb, vq->ids, n * hw);               /* [n][hw][embed_dim] */
    s_conv_run(vq, vq->t2, vq->t1, n, h, w, &vq->post_quant); /* [n][hw][z] */
    s_conv_run(vq, vq->x, vq->t2, n, h, w, &vq->conv_in);     /* [n][hw][top] */
    s_res_run(vq, &vq->x, n, h, w, &vq->mid0);
    s_attn_run(vq, vq->x, n, h, w, vq->mid0.cout, &vq->mid1);
    s_res_run(vq, &vq->x, n, h, w, &vq->mid2);
    for (int l = 0; l < c->n_levels; l++) {
        const struct s_level *lv = &vq->lv[l];
        for (int r = 0; r <= c->n_res; r++) {
            s_res_run(vq, &vq->x, n, h, w, &lv->res[r]);
            if (lv->has_attn)
                s_attn_run(vq, vq->x, n, h, w, lv->cout, &lv->attn[r]);
        }
        if (lv->has_up) {
            o->upsample2x(be, vq->t1, vq->x, n, h, w, lv->cout); /* [n][4hw][c] */
            h *= 2, w *= 2, hw = h * w;
            s_conv_run(vq, vq->x, vq->t1, n, h, w, &lv->up);
        }
    }
    int cl = vq->lv[c->n_levels - 1].cout;
    o->group_norm(be, vq->t1, vq->x, n, hw, cl, c->groups, &vq->norm_out.w, &vq->norm_out.b, c->eps,
                  1, vq->gn_work);
    s_conv_run(vq, vq->t2, vq->t1, n, h, w, &vq->conv_out); /* [n][hw][3] */
    for (int b = 0; b < n; b++)                             /* → [n][3][hw] */
        o->transpose(be, vq->t1 + (int64_t)b * hw * 3, vq->t2 + (int64_t)b * hw * 3, hw, 3);
    o->to_host(be, out, vq->t1, (size_t)n * hw * 3 * sizeof(float));
    if (o->check && o->check(be) < 0) {
        gf_log_error("vq: the backend failed during the decode (logged above)");
        return GF_EIO;
    }
    return 0;
}

double gf_vq_flops(const struct gf_vq *vq)
{
    const struct gf_vq_config *c = &vq->cfg;
    double hw = (double)vq->gh * vq->gw, top = vq->lv[0].res[0].cin, f;
    /* per-pixel multiply-adds: 3x3 conv = 9 cin cout, 1x1 = cin cout */
    double res_top = 9 * top * top * 2, attn_top = 4 * top * top + 2 * hw * top;
    f = hw * (c->embed_dim * c->z_channels + 9.0 * c->z_channels * top);
    f += hw * (2 * res_top + attn_top);
    int in = (int)top;
    for (int l = 0; l < c->n_levels; l++) {
        const struct s_level *lv = &vq->lv[l];
        double co = lv->cout;
        for (int r = 0; r <= c->n_res; r++) {
            double ci = r ? co : in;
            f += hw * (9 * ci * co + 9 * co * co + (ci != co ? ci * co : 0));
            if (lv->has_attn)
                f += hw * (4 * co * co + 2 * hw * co);
        }
        if (lv->has_up)
            hw *= 4, f += hw * 9 * co * co;
        in = lv->cout;
    }
    f += hw * 9.0 * in * 3;
    return 2 * f;
}
