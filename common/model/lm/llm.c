/* llm.c — the LLaMA decoder and the generation heads, written against struct gf_ops only. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "model/lm/llm.h"

static int s_max(int a, int b)
{
    return a > b ? a : b;
}

/* Every weight the model reads, for the backend's prepare (device residency, memory check). */
static int s_weights(const struct gf_model_weights *w, int n_layers, const struct gf_mat **out)
{
    int n = 0;
    const struct gf_mat *top[] = {&w->embed,     &w->norm,    &w->lm_head,   &w->gh_proj,
                                  &w->gh_proj_b, &w->gh_head, &w->gh_head_b, &w->gen_embed,
                                  &w->al0,       &w->al0_b,   &w->al2,       &w->al2_b};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        out[n++] = top[i];
    for (int l = 0; l < n_layers; l++) {
        const struct gf_layer_weights *L = &w->layers[l];
        const struct gf_mat *lw[] = {&L->attn_norm, &L->wq,     &L->wk,   &L->wv,    &L->wo,
                                     &L->mlp_norm,  &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof lw / sizeof lw[0]; i++)
            out[n++] = lw[i];
    }
    return n;
}

static int s_prepare(struct gf_backend *be, const struct gf_ckpt *ck, size_t buffer_bytes)
{
    if (!be->ops->prepare)
        return 0;
    const struct gf_mat **mats = malloc((12 + 9 * (size_t)ck->cfg.n_layers) * sizeof *mats);
    if (!mats)
        return GF_ENOMEM;
    int n = s_weights(&ck->w, ck->cfg.n_layers, mats);
    int rc = be->ops->prepare(be, mats, n, buffer_bytes);
    free(mats);
    return rc;
}

int gf_llm_new(struct gf_backend *be, const struct gf_ckpt *ck, int n_slots, int max_seq,
               int max_tokens, struct gf_llm **out)
{
    const struct gf_model_config *c = &ck->cfg;
    if (n_slots < 1 || max_seq < 1 || max_tokens < 1 || max_seq > c->max_pos) {
        gf_log_error("bad model sizes: %d slots, %d positions (model allows %d), %d tokens",
                     n_slots, max_seq, c->max_pos, max_tokens);
        return GF_EINVAL;
    }
    struct gf_llm *m = calloc(1, sizeof *m);
    if (!m)
        return GF_ENOMEM;
    m->be = be, m->cfg = c, m->w = &ck->w;
    m->n_slots = n_slots, m->max_seq = max_seq, m->max_tokens = max_tokens;
    size_t T = max_tokens, H = c->hidden, qd = (size_t)c->n_heads * c->head_dim;
    size_t kvd = (size_t)c->n_kv_heads * c->head_dim;
    size_t wide = s_max(s_max(c->intermediate, c->image_token_embed), c->hidden);
    size_t nv = s_max(c->vocab, c->image_vocab);
    /* with quantized weights the cache is q8_0 (f16 where a head is not whole blocks): a
     * quarter of the f32 cache's bytes, which an image step reads as much of as a third of its
     * weights; under 16-bit weights as published it is f16 (half the bytes) where the backend
     * takes one; f32 under f32 weights and for precision f32, the exact path (docs/model.md) */
    enum gf_wtype wt = ck->w.layers[0].wq.dtype;
    int w16 = wt == GF_WTYPE_BF16 || wt == GF_WTYPE_F16;
    m->kv_dtype = ck->quant >= 0 && c->head_dim % GF_QK == 0                 ? GF_WTYPE_Q8_0
                  : ck->quant >= 0 || (w16 && !ck->exact && be->ops->kv_f16) ? GF_WTYPE_F16
                                                                             : GF_WTYPE_F32;
    size_t cache = gf_wtype_bytes(m->kv_dtype, (int64_t)c->n_layers * n_slots * max_seq * kvd);
    size_t bufs =
        2 * cache + 4 * (T * (3 * H + 2 * qd + 2 * kvd + 2 * wide + c->aligner_in + nv + 4));
    int rc = s_prepare(be, ck, bufs);
    if (rc < 0) {
        free(m);
        return rc;
    }
    void *(*A)(struct gf_backend *, size_t) = be->ops->alloc;
    m->k_cache = A(be, cache);
    m->v_cache = A(be, cache);
    m->x = A(be, T * H * 4), m->xn = A(be, T * H * 4), m->hidden = A(be, T * H * 4);
    m->q = A(be, T * qd * 4), m->att = A(be, T * qd * 4);
    m->k = A(be, T * kvd * 4), m->v = A(be, T * kvd * 4);
    m->gate = A(be, T * wide * 4), m->up = A(be, T * wide * 4);
    m->small = A(be, T * c->aligner_in * 4);
    m->logits_dev = A(be, T * nv * 4);
    m->ids = A(be, T * 4), m->slot = A(be, T * 4), m->pos = A(be, T * 4);
    m->out_idx = A(be, T * 4);
    m->logits = malloc(T * nv * 4);
    m->h_ids = malloc(T * 4), m->h_slot = malloc(T * 4), m->h_pos = malloc(T * 4);
    m->slot_used = calloc(n_slots, 1);
    if (!m->k_cache || !m->v_cache || !m->x || !m->xn || !m->hidden || !m->q || !m->att || !m->k ||
        !m->v || !m->gate || !m->up || !m->small || !m->logits_dev || !m->ids || !m->slot ||
        !m->pos || !m->out_idx || !m->logits || !m->h_ids || !m->h_slot || !m->h_pos) {
        gf_log_error("cannot allocate the model's buffers (KV cache %zu MiB)", cache >> 20);
        gf_llm_destroy(&m);
        return GF_ENOMEM;
    }
    *out = m;
    return 0;
}

void gf_llm_destroy(struct gf_llm **self_p)
{
    struct gf_llm *m = *self_p;
    if (!m)
        return;
    void (*F)(struct gf_backend *, void *) = m->be->ops->free;
    if (m->be->ops->graph_drop)
        m->be->ops->graph_drop(m->be, m);
    float *bufs[] = {m->k_cache, m->v_cache, m->x,    m->xn, m->hidden, m->q,         m->att,
                     m->k,       m->v,       m->gate, m->up, m->small,  m->logits_dev};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i])
            F(m->be, bufs[i]);
    int32_t *ibufs[] = {m->ids, m->slot, m->pos, m->out_idx};
    for (size_t i = 0; i < 4; i++)
        if (ibufs[i])
            F(m->be, ibufs[i]);
    free(m->logits), free(m->h_ids), free(m->h_slot), free(m->h_pos), free(m->slot_used);
    free(m);
    *self_p = NULL;
}

/* Input embeddings x[i0..i1) of one kind; ids already on the backend. */
static void s_embed_run(struct gf_llm *m, int i0, int i1, int kind)
{
    const struct gf_ops *o = m->be->ops;
    const struct gf_model_weights *w = m->w;
    int n = i1 - i0, H = m->cfg->hidden;
    float *x = m->x + (size_t)i0 * H;
    if (kind == GF_TOK_TEXT) {
        o->embed(m->be, x, &w->embed, m->ids + i0, n);
        return;
    }
    o->embed(m->be, m->small, &w->gen_embed, m->ids + i0, n);   /* [n][D] */
    o->linear(m->be, m->gate, m->small, n, &w->al0, &w->al0_b); /* [n][H] */
    o->gelu(m->be, m->gate, (int64_t)n * H);
    o->linear(m->be, x, m->gate, n, &w->al2, &w->al2_b); /* [n][H] */
}

static int s_check(struct gf_llm *m, const struct gf_tok *toks, int n)
{
    if (n < 1 || n > m->max_tokens) {
        gf_log_error("forward of %d tokens: must be 1..%d", n, m->max_tokens);
        return GF_EINVAL;
    }
    for (int i = 0; i < n; i++) {
        const struct gf_tok *t = &toks[i];
        int lim = t->kind == GF_TOK_TEXT ? m->cfg->vocab : m->cfg->image_vocab;
        if (t->id < 0 || t->id >= lim || t->slot < 0 || t->slot >= m->n_slots || t->pos < 0 ||
            t->pos >= m->max_seq || t->kind > GF_TOK_IMAGE) {
            gf_log_error("token %d (id %d, slot %d, position %d) is out of range", i, t->id,
                         t->slot, t->pos);
            return GF_EINVAL;
        }
    }
    return 0;
}

static void s_layer(struct gf_llm *m, int li, int n, const struct gf_attn *a)
{
    const struct gf_ops *o = m->be->ops;
    const struct gf_model_config *c = m->cfg;
    const struct gf_layer_weights *l = &m->w->layers[li];
    struct gf_backend *be = m->be;
    int H = c->hidden, qd = c->n_heads * c->head_dim;

    o->rmsnorm(be, m->xn, m->x, n, H, &l->attn_norm, c->rms_eps);
    o->linear(be, m->q, m->xn, n, &l->wq, NULL); /* [n][qd] */
    o->linear(be, m->k, m->xn, n, &l->wk, NULL); /* [n][kvd] */
    o->linear(be, m->v, m->xn, n, &l->wv, NULL); /* [n][kvd] */
    o->rope(be, m->q, n, qd, c->n_heads, c->head_dim, m->pos, c->rope_theta);
    o->rope(be, m->k, n, c->n_kv_heads * c->head_dim, c->n_kv_heads, c->head_dim, m->pos,
            c->rope_theta);
    o->kv_store(be, a, m->k, m->v, n);
    o->attention(be, m->att, m->q, n, a);          /* [n][qd] */
    o->linear(be, m->xn, m->att, n, &l->wo, NULL); /* [n][H] */
    o->add(be, m->x, m->xn, (int64_t)n * H);

    o->rmsnorm(be, m->xn, m->x, n, H, &l->mlp_norm, c->rms_eps);
    o->linear(be, m->gate, m->xn, n, &l->w_gate, NULL); /* [n][I] */
    o->linear(be, m->up, m->xn, n, &l->w_up, NULL);     /* [n][I] */
    o->swiglu(be, m->gate, m->gate, m->up, (int64_t)n * c->intermediate);
    o->linear(be, m->xn, m->gate, n, &l->w_down, NULL); /* [n][H] */
    o->add(be, m->x, m->xn, (int64_t)n * H);
}

/* Layer li's KV cache, for the forward's tokens (m->slot, m->pos). */
static struct gf_attn s_attn(const struct gf_llm *m, int li)
{
    const struct gf_model_config *c = m->cfg;
    size_t per_layer =
        gf_wtype_bytes(m->kv_dtype, (int64_t)m->n_slots * m->max_seq * c->n_kv_heads * c->head_dim);
    return (struct gf_attn){(char *)m->k_cache + li * per_layer,
                            (char *)m->v_cache + li * per_layer,
                            m->slot,
                            m->pos,
                            c->n_heads,
                            c->n_kv_heads,
                            c->head_dim,
                            m->max_seq,
                            m->kv_dtype};
}

/* Everything of a forward after the token ids, slots and positions are on the backend: input
 * embeddings, the layers, the final norm of the wanted rows. Only backend ops, so a backend can
 * record it (graph_begin) and replay it for the next step of the same shape. */
static int s_body(struct gf_llm *m, const struct gf_tok *toks, int n)
{
    const struct gf_ops *o = m->be->ops;
    const struct gf_model_config *c = m->cfg;
    for (int i0 = 0, i1; i0 < n; i0 = i1) { /* runs of one kind */
        for (i1 = i0 + 1; i1 < n && toks[i1].kind == toks[i0].kind; i1++)
            ;
        s_embed_run(m, i0, i1, toks[i0].kind);
    }
    for (int li = 0; li < c->n_layers; li++) {
        struct gf_attn a = s_attn(m, li);
        s_layer(m, li, n, &a);
    }
    /* the final norm only on the wanted rows, gathered in order, one call per run of them */
    int H = c->hidden, n_out = 0;
    for (int i0 = 0, i1; i0 < n; i0 = i1) {
        for (i1 = i0 + 1; i1 < n && toks[i1].want == toks[i0].want; i1++)
            ;
        if (!toks[i0].want)
            continue;
        o->rmsnorm(m->be, m->hidden + (size_t)n_out * H, m->x + (size_t)i0 * H, i1 - i0, H,
                   &m->w->norm, c->rms_eps);
        n_out += i1 - i0;
    }
    return n_out;
}

/* A decode step (every token of one kind, every token wanted) can be recorded and replayed:
 * its work depends only on n and the kind. Returns the key, or 0 for another forward. */
static uint64_t s_graph_key(const struct gf_tok *toks, int n)
{
    for (int i = 0; i < n; i++)
        if (toks[i].kind != toks[0].kind || !toks[i].want)
            return 0;
    return (uint64_t)n << 8 | (uint64_t)toks[0].kind << 1 | 1;
}

int gf_llm_forward(struct gf_llm *m, const struct gf_tok *toks, int n)
{
    int rc = s_check(m, toks, n);
    if (rc < 0)
        return rc;
    const struct gf_ops *o = m->be->ops;
    if (o->check && o->check(m->be) < 0) {
        gf_log_error("the backend failed earlier (logged above): forward refused");
        return GF_EIO;
    }
    for (int i = 0; i < n; i++)
        m->h_ids[i] = toks[i].id, m->h_slot[i] = toks[i].slot, m->h_pos[i] = toks[i].pos;
    o->to_device(m->be, m->ids, m->h_ids, n * 4);
    o->to_device(m->be, m->slot, m->h_slot, n * 4);
    o->to_device(m->be, m->pos, m->h_pos, n * 4);
    uint64_t key = o->graph_run ? s_graph_key(toks, n) : 0;
    int kept = key ? o->graph_run(m->be, m, key) : GF_EUNSUPPORTED;
    if (kept == 0) {
        m->n_out = n;
        return n;
    }
    int recording = kept == GF_ENOTFOUND && o->graph_begin(m->be) == 0;
    m->n_out = s_body(m, toks, n);
    if (recording && o->graph_end(m->be, m, key) < 0)
        m->n_out = s_body(m, toks, n); /* recording failed and nothing ran */
    return m->n_out;
}

const float *gf_llm_text_logits(struct gf_llm *m)
{
    const struct gf_ops *o = m->be->ops;
    if (m->n_out == 0)
        return m->logits;
    o->linear(m->be, m->logits_dev, m->hidden, m->n_out, &m->w->lm_head, NULL);
    o->to_host(m->be, m->logits, m->logits_dev, (size_t)m->n_out * m->cfg->vocab * 4);
    return m->logits;
}

const float *gf_llm_image_logits(struct gf_llm *m)
{
    const struct gf_ops *o = m->be->ops;
    const struct gf_model_weights *w = m->w;
    int n = m->n_out;
    if (n == 0)
        return m->logits;
    o->linear(m->be, m->gate, m->hidden, n, &w->gh_proj, &w->gh_proj_b); /* [n][IE] */
    o->gelu(m->be, m->gate, (int64_t)n * m->cfg->image_token_embed);
    o->linear(m->be, m->logits_dev, m->gate, n, &w->gh_head, &w->gh_head_b); /* [n][IV] */
    o->to_host(m->be, m->logits, m->logits_dev, (size_t)n * m->cfg->image_vocab * 4);
    return m->logits;
}

int gf_llm_can_draw(const struct gf_llm *m, const struct gf_sampler *s)
{
    return m->be->ops->sample && (s->temperature <= 0 || s->top_k <= 1) && s->top_p >= 1;
}

int gf_llm_draw(struct gf_llm *m, int image, const struct gf_draw *draws, int n, int32_t *ids)
{
    const struct gf_ops *o = m->be->ops;
    const struct gf_model_weights *w = m->w;
    if (!o->sample)
        return GF_EUNSUPPORTED;
    if (n < 1 || n > GF_MAX_DRAWS)
        return GF_EINVAL;
    for (int i = 0; i < n; i++)
        if (draws[i].cond < 0 || draws[i].cond >= m->n_out || draws[i].uncond >= m->n_out) {
            gf_log_error("draw %d names row %d/%d of %d kept", i, draws[i].cond, draws[i].uncond,
                         m->n_out);
            return GF_EINVAL;
        }
    int vocab = image ? m->cfg->image_vocab : m->cfg->vocab;
    if (image) {
        o->linear(m->be, m->gate, m->hidden, m->n_out, &w->gh_proj, &w->gh_proj_b); /* [n][IE] */
        o->gelu(m->be, m->gate, (int64_t)m->n_out * m->cfg->image_token_embed);
        o->linear(m->be, m->logits_dev, m->gate, m->n_out, &w->gh_head, &w->gh_head_b);
    } else {
        o->linear(m->be, m->logits_dev, m->hidden, m->n_out, &w->lm_head, NULL);
    }
    o->sample(m->be, ids, m->logits_dev, vocab, draws, n);
    if (o->check && o->check(m->be) < 0) {
        gf_log_error("the backend failed during a draw (logged above)");
        return GF_EIO;
    }
    return 0;
}

void gf_llm_hidden(struct gf_llm *m, float *dst)
{
    m->be->ops->to_host(m->be, dst, m->hidden, (size_t)m->n_out * m->cfg->hidden * 4);
}

void gf_llm_copy_slot(struct gf_llm *m, int dst, int src, int n_pos)
{
    enum gf_wtype dt = m->kv_dtype;
    size_t bytes = gf_wtype_bytes(dt, (size_t)n_pos * m->cfg->head_dim);
    if (n_pos < 1 || dst == src)
        return;
    for (int li = 0; li < m->cfg->n_layers; li++) {
        struct gf_attn a = s_attn(m, li);
        for (int h = 0; h < a.n_kv_heads; h++) { /* one head's positions are one run */
            size_t to = gf_wtype_bytes(dt, gf_attn_at(&a, dst, h, 0));
            size_t from = gf_wtype_bytes(dt, gf_attn_at(&a, src, h, 0));
            m->be->ops->copy(m->be, (char *)a.k + to, (char *)a.k + from, bytes);
            m->be->ops->copy(m->be, (char *)a.v + to, (char *)a.v + from, bytes);
        }
    }
}

size_t gf_llm_kv_layer_bytes(const struct gf_llm *m, int n_pos)
{
    return 2 * gf_wtype_bytes(m->kv_dtype, (int64_t)m->cfg->n_kv_heads * n_pos * m->cfg->head_dim);
}

/* One layer's K and V of a slot to (put = 0) or from (put = 1) host buf, one run per head. */
static void s_kv_io(struct gf_llm *m, int slot, int layer, int n_pos, char *buf, int put)
{
    struct gf_attn a = s_attn(m, layer);
    size_t run = gf_wtype_bytes(m->kv_dtype, (size_t)n_pos * m->cfg->head_dim);
    for (int kv = 0; kv < 2; kv++) {
        char *cache = kv ? a.v : a.k;
        for (int h = 0; h < a.n_kv_heads; h++, buf += run) {
            char *at = cache + gf_wtype_bytes(m->kv_dtype, gf_attn_at(&a, slot, h, 0));
            if (put)
                m->be->ops->to_device(m->be, at, buf, run);
            else
                m->be->ops->to_host(m->be, buf, at, run);
        }
    }
}

void gf_llm_kv_get(struct gf_llm *m, int slot, int layer, int n_pos, void *buf)
{
    s_kv_io(m, slot, layer, n_pos, buf, 0);
}

void gf_llm_kv_put(struct gf_llm *m, int slot, int layer, int n_pos, const void *buf)
{
    s_kv_io(m, slot, layer, n_pos, (char *)buf, 1);
}

int gf_llm_slots_free(const struct gf_llm *m)
{
    int n = 0;
    for (int i = 0; i < m->n_slots; i++)
        n += !m->slot_used[i];
    return n;
}

int gf_llm_slots_acquire(struct gf_llm *m, int n, int32_t *slots)
{
    if (n < 1 || gf_llm_slots_free(m) < n)
        return GF_EBUSY;
    for (int i = 0, k = 0; k < n; i++)
        if (!m->slot_used[i]) {
            m->slot_used[i] = 1;
            slots[k++] = i;
        }
    return 0;
}

void gf_llm_slots_release(struct gf_llm *m, int n, const int32_t *slots)
{
    for (int k = 0; k < n; k++)
        if (slots[k] >= 0 && slots[k] < m->n_slots)
            m->slot_used[slots[k]] = 0;
}
