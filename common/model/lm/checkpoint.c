/* checkpoint.c — open a checkpoint directory, map its safetensors, check what the model needs. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/grow.h"
#include "core/log.h"
#include "kernels/cpu/pool.h"
#include "model/lm/checkpoint.h"

const struct gf_st_tensor *gf_ckpt_find(const struct gf_ckpt *ck, const char *name)
{
    for (int i = 0; i < ck->n_shards; i++) {
        const struct gf_st_tensor *t = gf_st_find(ck->shards[i], name);
        if (t)
            return t;
    }
    return NULL;
}

size_t gf_ckpt_bytes(const struct gf_ckpt *ck)
{
    size_t n = 0;
    for (int i = 0; i < ck->n_shards; i++)
        n += ck->shards[i]->map_size;
    return n;
}

static int s_add_shard(struct gf_ckpt *ck, const char *file)
{
    for (int i = 0; i < ck->n_shards; i++) { /* already open */
        const char *p = strrchr(ck->shards[i]->path, '/');
        if (p && strcmp(p + 1, file) == 0)
            return 0;
    }
    if (strchr(file, '/') || strcmp(file, "..") == 0 || !*file) {
        gf_log_error("'%s': shard name '%s' must be a plain file name", ck->dir, file);
        return GF_ESCHEMA;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", ck->dir, file);
    if (gf_grow((void **)&ck->shards, &ck->shards_cap, (size_t)ck->n_shards + 1,
                sizeof *ck->shards))
        return GF_ENOMEM;
    int rc = gf_st_open(path, &ck->shards[ck->n_shards]);
    if (rc == 0)
        ck->n_shards++;
    return rc;
}

/* Opens every shard named by the index's weight_map, then checks each entry is where it says. */
static int s_open_index(struct gf_ckpt *ck, const char *ipath)
{
    json_error_t jerr;
    json_t *root = json_load_file(ipath, 0, &jerr);
    json_t *map = json_object_get(root, "weight_map");
    int rc = 0;
    if (!json_is_object(map)) {
        gf_log_error("'%s': no weight_map object (%s)", ipath, root ? "" : jerr.text);
        json_decref(root);
        return GF_EPARSE;
    }
    const char *name;
    json_t *v;
    json_object_foreach(map, name, v)
    {
        if (!json_is_string(v)) {
            gf_log_error("'%s': weight_map entry '%s' is not a file name", ipath, name);
            rc = GF_ESCHEMA;
            break;
        }
        if ((rc = s_add_shard(ck, json_string_value(v))) < 0)
            break;
    }
    json_object_foreach(map, name, v)
    {
        if (rc < 0)
            break;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", ck->dir, json_string_value(v));
        for (int i = 0; i < ck->n_shards; i++)
            if (strcmp(ck->shards[i]->path, path) == 0 && !gf_st_find(ck->shards[i], name)) {
                gf_log_error("'%s': tensor '%s' is not in '%s' as weight_map says", ipath, name,
                             json_string_value(v));
                rc = GF_ESCHEMA;
            }
    }
    json_decref(root);
    return rc;
}

/* Looks up one expected tensor, logs each problem, and fills m. */
static void s_want(struct gf_ckpt *ck, struct gf_mat *m, const char *name, int64_t d0, int64_t d1,
                   int *bad)
{
    const struct gf_st_tensor *t = gf_ckpt_find(ck, name);
    int ndim = d1 ? 2 : 1;
    if (!t) {
        gf_log_error("'%s': missing tensor '%s'", ck->dir, name);
        (*bad)++;
        return;
    }
    if (!t->dtype_ok) {
        gf_log_error("'%s': unsupported dtype '%s' for tensor '%s' (F32, F16 and BF16 are read)",
                     ck->dir, t->dtype_name, name);
        (*bad)++;
        return;
    }
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
        char got[128] = "", want[64];
        for (int i = 0; i < t->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "",
                     (long long)t->shape[i]);
        if (ndim == 2)
            snprintf(want, sizeof want, "%lld, %lld", (long long)d0, (long long)d1);
        else
            snprintf(want, sizeof want, "%lld", (long long)d0);
        gf_log_error("'%s': tensor '%s' has shape [%s], expected [%s]", ck->dir, name, got, want);
        (*bad)++;
        return;
    }
    m->dtype = t->dtype;
    m->rows = ndim == 2 ? d0 : 1;
    m->cols = ndim == 2 ? d1 : d0;
    m->data = t->data;
}

static int s_bind(struct gf_ckpt *ck)
{
    const struct gf_model_config *c = &ck->cfg;
    struct gf_model_weights *w = &ck->w;
    int bad = 0, H = c->hidden, I = c->intermediate, V = c->vocab;
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    char n[256];
    w->layers = calloc(c->n_layers, sizeof *w->layers);
    if (!w->layers)
        return GF_ENOMEM;
    s_want(ck, &w->embed, "language_model.model.embed_tokens.weight", V, H, &bad);
    for (int i = 0; i < c->n_layers; i++) {
        struct gf_layer_weights *l = &w->layers[i];
#define L(field, suffix, d0, d1)                                                                   \
    snprintf(n, sizeof n, "language_model.model.layers.%d.%s", i, suffix);                         \
    s_want(ck, &l->field, n, d0, d1, &bad)
        L(attn_norm, "input_layernorm.weight", H, 0);
        L(wq, "self_attn.q_proj.weight", qd, H);
        L(wk, "self_attn.k_proj.weight", kvd, H);
        L(wv, "self_attn.v_proj.weight", kvd, H);
        L(wo, "self_attn.o_proj.weight", H, qd);
        L(mlp_norm, "post_attention_layernorm.weight", H, 0);
        L(w_gate, "mlp.gate_proj.weight", I, H);
        L(w_up, "mlp.up_proj.weight", I, H);
        L(w_down, "mlp.down_proj.weight", H, I);
#undef L
    }
    s_want(ck, &w->norm, "language_model.model.norm.weight", H, 0, &bad);
    s_want(ck, &w->lm_head, "language_model.lm_head.weight", V, H, &bad);
    s_want(ck, &w->gh_proj, "gen_head.output_mlp_projector.weight", c->image_token_embed, H, &bad);
    s_want(ck, &w->gh_proj_b, "gen_head.output_mlp_projector.bias", c->image_token_embed, 0, &bad);
    s_want(ck, &w->gh_head, "gen_head.vision_head.weight", c->image_vocab, c->image_token_embed,
           &bad);
    s_want(ck, &w->gh_head_b, "gen_head.vision_head.bias", c->image_vocab, 0, &bad);
    s_want(ck, &w->gen_embed, "gen_embed.weight", c->image_vocab, c->aligner_in, &bad);
    s_want(ck, &w->al0, "gen_aligner.layers.0.weight", H, c->aligner_in, &bad);
    s_want(ck, &w->al0_b, "gen_aligner.layers.0.bias", H, 0, &bad);
    s_want(ck, &w->al2, "gen_aligner.layers.2.weight", H, H, &bad);
    s_want(ck, &w->al2_b, "gen_aligner.layers.2.bias", H, 0, &bad);
    if (bad)
        gf_log_error("'%s': %d problem%s with the checkpoint's tensors", ck->dir, bad,
                     bad == 1 ? "" : "s");
    return bad ? GF_ESCHEMA : 0;
}

struct s_qjob {
    const struct gf_mat *m;
    char *q;
    int type;
    int64_t rows_per_task;
};

/* Rows of one task, each through an f32 row. */
static void s_quantize_task(void *arg, int task)
{
    struct s_qjob *j = arg;
    const struct gf_mat *m = j->m;
    int64_t r0 = task * j->rows_per_task, r1 = r0 + j->rows_per_task;
    float row[16384];
    struct gf_block_q8_0 blocks[16384 / GF_QK]; /* room for either type's blocks of one row */
    for (int64_t r = r0; r < r1 && r < m->rows; r++) {
        const uint16_t *h = (const uint16_t *)m->data + r * m->cols;
        if (m->dtype == GF_WTYPE_F32)
            memcpy(row, (const float *)m->data + r * m->cols, m->cols * sizeof *row);
        else if (m->dtype == GF_WTYPE_BF16)
            for (int64_t c = 0; c < m->cols; c++) {
                uint32_t u = (uint32_t)h[c] << 16;
                memcpy(&row[c], &u, 4);
            }
        else
            for (int64_t c = 0; c < m->cols; c++)
                row[c] = gf_f16_to_f32(h[c]);
        gf_quantize(j->type, blocks, row, m->cols);
        gf_qmat_set_row(j->type, j->q, m->cols, r, blocks);
    }
}

/* One matrix into `type` blocks, its rows spread over the pool. */
static int s_quantize_mat(struct gf_ckpt *ck, struct gf_pool *pool, struct gf_mat *m, int type,
                          const char *what)
{
    if (m->cols % GF_QK || m->cols > 16384 || gf_wtype_quantized(m->dtype)) {
        gf_log_warn("'%s': %s has %lld columns, not a multiple of %d up to 16384: kept as %s",
                    ck->dir, what, (long long)m->cols, GF_QK, gf_wtype_name(m->dtype));
        return 0;
    }
    if (gf_grow((void **)&ck->blocks, &ck->blocks_cap, (size_t)ck->n_blocks + 1,
                sizeof *ck->blocks))
        return GF_ENOMEM;
    char *q = calloc(1, gf_qmat_bytes(type, m->rows, m->cols)); /* rows past the last: zero */
    if (!q)
        return GF_ENOMEM;
    struct s_qjob j = {m, q, type, 64};
    gf_pool_run(pool, s_quantize_task, &j, (int)((m->rows + 63) / 64));
    ck->blocks[ck->n_blocks++] = q;
    m->dtype = type;
    m->data = q;
    return 0;
}

int gf_ckpt_quantize(struct gf_ckpt *ck, int type)
{
    if (!gf_wtype_quantized(type) || ck->quant >= 0)
        return GF_EINVAL;
    static const char *const names[] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                        "gate_proj", "up_proj", "down_proj"};
    char what[64];
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    struct gf_pool *pool = gf_pool_new(ncpu > 0 ? (int)ncpu : 1);
    if (!pool)
        return GF_ENOMEM;
    int rc = 0;
    for (int l = 0; l < ck->cfg.n_layers && rc == 0; l++) {
        struct gf_layer_weights *L = &ck->w.layers[l];
        struct gf_mat *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int i = 0; i < 7 && rc == 0; i++) {
            snprintf(what, sizeof what, "layer %d %s", l, names[i]);
            rc = s_quantize_mat(ck, pool, mats[i], type, what);
        }
    }
    if (rc == 0)
        rc = s_quantize_mat(ck, pool, &ck->w.lm_head, GF_WTYPE_Q8_0, "lm_head");
    if (rc == 0 && ck->w.gh_head.data) /* the generation head's two matrices (docs/model.md) */
        rc = s_quantize_mat(ck, pool, &ck->w.gh_proj, GF_WTYPE_Q8_0, "gen_head projector");
    if (rc == 0 && ck->w.gh_head.data)
        rc = s_quantize_mat(ck, pool, &ck->w.gh_head, GF_WTYPE_Q8_0, "gen_head vision_head");
    gf_pool_destroy(&pool);
    if (rc < 0) {
        gf_log_error("'%s': no memory to quantize the weights to %s", ck->dir, gf_wtype_name(type));
        return rc;
    }
    ck->quant = type;
    return 0;
}

int gf_ckpt_precision(struct gf_ckpt *ck, const char *name)
{
    int quant;
    if (gf_precision_parse(name, &quant) < 0)
        return GF_EINVAL;
    if (quant >= 0)
        return gf_ckpt_quantize(ck, quant);
    ck->exact = gf_precision_exact(name);
    return 0;
}

int gf_ckpt_open(const char *dir, struct gf_ckpt **out)
{
    int rc = GF_ENOMEM;
    struct gf_ckpt *ck = calloc(1, sizeof *ck);
    if (!ck || !(ck->dir = strdup(dir)))
        goto fail;
    ck->quant = -1;
    if ((rc = gf_config_load(dir, &ck->cfg)) < 0)
        goto fail;
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (access(path, F_OK) == 0) {
        rc = s_open_index(ck, path);
    } else {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (access(path, F_OK) != 0) {
            gf_log_error("'%s': neither model.safetensors nor model.safetensors.index.json", dir);
            rc = GF_ENOTFOUND;
            goto fail;
        }
        rc = s_add_shard(ck, "model.safetensors");
    }
    if (rc < 0 || (rc = s_bind(ck)) < 0)
        goto fail;
    *out = ck;
    return 0;
fail:
    gf_ckpt_close(&ck);
    return rc;
}

void gf_ckpt_close(struct gf_ckpt **self_p)
{
    struct gf_ckpt *ck = *self_p;
    if (!ck)
        return;
    for (int i = 0; i < ck->n_shards; i++)
        gf_st_close(&ck->shards[i]);
    free(ck->shards);
    for (int i = 0; i < ck->n_blocks; i++)
        free(ck->blocks[i]);
    free(ck->blocks);
    free(ck->w.layers);
    free(ck->dir);
    free(ck);
    *self_p = NULL;
}
