/* tensors.c — names and shapes of every tensor mkmodel writes (MODEL.md §2, §3, §4.2, §5). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "tensors.h"

static int s_add(struct mk_list *l, enum mk_init init, int ndim, const int64_t *shape,
                 const char *fmt, ...)
{
    if (gf_grow((void **)&l->t, &l->cap, (size_t)l->n + 1, sizeof *l->t) != 0)
        return -1;
    struct mk_tensor *t = &l->t[l->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->ndim = ndim;
    memcpy(t->shape, shape, ndim * sizeof *shape);
    t->init = init;
    return 0;
}

#define ADD1(init, a, ...) s_add(l, init, 1, (int64_t[]){a}, __VA_ARGS__)
#define ADD2(init, a, b, ...) s_add(l, init, 2, (int64_t[]){a, b}, __VA_ARGS__)
#define ADD4(init, a, b, c, d, ...) s_add(l, init, 4, (int64_t[]){a, b, c, d}, __VA_ARGS__)

static void s_conv(struct mk_list *l, const char *p, int out, int in, int k)
{
    ADD4(MK_LINEAR, out, in, k, k, "%s.weight", p);
    ADD1(MK_BIAS, out, "%s.bias", p);
}

static void s_norm(struct mk_list *l, const char *p, int c)
{
    ADD1(MK_NORM, c, "%s.weight", p);
    ADD1(MK_BIAS, c, "%s.bias", p);
}

static void s_res(struct mk_list *l, const char *p, int in, int out)
{
    char n[128];
    snprintf(n, sizeof n, "%s.norm1", p), s_norm(l, n, in);
    snprintf(n, sizeof n, "%s.conv1", p), s_conv(l, n, out, in, 3);
    snprintf(n, sizeof n, "%s.norm2", p), s_norm(l, n, out);
    snprintf(n, sizeof n, "%s.conv2", p), s_conv(l, n, out, out, 3);
    if (in != out)
        snprintf(n, sizeof n, "%s.nin_shortcut", p), s_conv(l, n, out, in, 1);
}

static void s_attn(struct mk_list *l, const char *p, int c)
{
    char n[128];
    snprintf(n, sizeof n, "%s.norm", p), s_norm(l, n, c);
    static const char *const qkv[] = {"q", "k", "v", "proj_out"};
    for (int i = 0; i < 4; i++)
        snprintf(n, sizeof n, "%s.%s", p, qkv[i]), s_conv(l, n, c, c, 1);
}

/* The VQ decoder path (VQ-16: ch_mult 1,1,2,2,4; z 256) plus quant_conv and the codebook. */
static void s_vq(struct mk_list *l, const struct mk_vq *vq, int n_codes, int code_dim)
{
    const char *P = "gen_vision_model";
    int ch = vq->ch, L = vq->n_levels, z = vq->z_channels ? vq->z_channels : 2 * ch;
    int top = ch * vq->mult[L - 1];
    char n[160];
    ADD2(MK_EMBED, n_codes, code_dim, "%s.quantize.embedding.weight", P);
    ADD1(MK_BIAS, 65536, "%s.quantize.codebook_used", P);
    snprintf(n, sizeof n, "%s.quant_conv", P), s_conv(l, n, code_dim, z, 1);
    snprintf(n, sizeof n, "%s.post_quant_conv", P), s_conv(l, n, z, code_dim, 1);
    snprintf(n, sizeof n, "%s.decoder.conv_in", P), s_conv(l, n, top, z, 3);
    snprintf(n, sizeof n, "%s.decoder.mid.0", P), s_res(l, n, top, top);
    snprintf(n, sizeof n, "%s.decoder.mid.1", P), s_attn(l, n, top);
    snprintf(n, sizeof n, "%s.decoder.mid.2", P), s_res(l, n, top, top);
    int in = top;
    for (int b = 0; b < L; b++) {
        int out = ch * vq->mult[L - 1 - b];
        for (int r = 0; r <= vq->n_res; r++) {
            snprintf(n, sizeof n, "%s.decoder.conv_blocks.%d.res.%d", P, b, r);
            s_res(l, n, r ? out : in, out);
            if (b == 0)
                snprintf(n, sizeof n, "%s.decoder.conv_blocks.%d.attn.%d", P, b, r),
                    s_attn(l, n, out);
        }
        if (b < L - 1)
            snprintf(n, sizeof n, "%s.decoder.conv_blocks.%d.upsample.conv", P, b),
                s_conv(l, n, out, out, 3);
        in = out;
    }
    snprintf(n, sizeof n, "%s.decoder.norm_out", P), s_norm(l, n, in);
    snprintf(n, sizeof n, "%s.decoder.conv_out", P), s_conv(l, n, 3, in, 3);
}

static int s_cmp(const void *a, const void *b)
{
    return strcmp(((const struct mk_tensor *)a)->name, ((const struct mk_tensor *)b)->name);
}

int mk_list_build(struct mk_list *l, const struct gf_model_config *c, const struct mk_vq *vq)
{
    int H = c->hidden, I = c->intermediate, V = c->vocab;
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    const char *M = "language_model.model";
    ADD2(MK_EMBED, V, H, "%s.embed_tokens.weight", M);
    for (int i = 0; i < c->n_layers; i++) {
        ADD1(MK_NORM, H, "%s.layers.%d.input_layernorm.weight", M, i);
        ADD2(MK_LINEAR, qd, H, "%s.layers.%d.self_attn.q_proj.weight", M, i);
        ADD2(MK_LINEAR, kvd, H, "%s.layers.%d.self_attn.k_proj.weight", M, i);
        ADD2(MK_LINEAR, kvd, H, "%s.layers.%d.self_attn.v_proj.weight", M, i);
        ADD2(MK_LINEAR, H, qd, "%s.layers.%d.self_attn.o_proj.weight", M, i);
        ADD1(MK_NORM, H, "%s.layers.%d.post_attention_layernorm.weight", M, i);
        ADD2(MK_LINEAR, I, H, "%s.layers.%d.mlp.gate_proj.weight", M, i);
        ADD2(MK_LINEAR, I, H, "%s.layers.%d.mlp.up_proj.weight", M, i);
        ADD2(MK_LINEAR, H, I, "%s.layers.%d.mlp.down_proj.weight", M, i);
    }
    ADD1(MK_NORM, H, "%s.norm.weight", M);
    ADD2(MK_LINEAR, V, H, "language_model.lm_head.weight");
    ADD2(MK_LINEAR, c->image_token_embed, H, "gen_head.output_mlp_projector.weight");
    ADD1(MK_BIAS, c->image_token_embed, "gen_head.output_mlp_projector.bias");
    ADD2(MK_LINEAR, c->image_vocab, c->image_token_embed, "gen_head.vision_head.weight");
    ADD1(MK_BIAS, c->image_vocab, "gen_head.vision_head.bias");
    ADD2(MK_EMBED, c->image_vocab, c->aligner_in, "gen_embed.weight");
    ADD2(MK_LINEAR, H, c->aligner_in, "gen_aligner.layers.0.weight");
    ADD1(MK_BIAS, H, "gen_aligner.layers.0.bias");
    ADD2(MK_LINEAR, H, H, "gen_aligner.layers.2.weight");
    ADD1(MK_BIAS, H, "gen_aligner.layers.2.bias");
    /* the understanding projector (mlp_gelu 1024 -> H -> H): published, unused by generation */
    ADD2(MK_LINEAR, H, 1024, "aligner.layers.0.weight");
    ADD1(MK_BIAS, H, "aligner.layers.0.bias");
    ADD2(MK_LINEAR, H, H, "aligner.layers.2.weight");
    ADD1(MK_BIAS, H, "aligner.layers.2.bias");
    if (vq->ch > 0)
        s_vq(l, vq, c->image_vocab, c->aligner_in);
    if (l->n == 0 || l->t == NULL)
        return -1;
    qsort(l->t, l->n, sizeof *l->t, s_cmp);
    return 0;
}

void mk_list_release(struct mk_list *l)
{
    free(l->t);
    memset(l, 0, sizeof *l);
}
