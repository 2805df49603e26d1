/* checkpoint.h — a checkpoint directory as published: config.json plus model.safetensors, or
 * shards listed in model.safetensors.index.json; every file memory-mapped, nothing read.
 *
 * gf_ckpt_open checks every tensor generation needs (language model, gen_head, gen_embed,
 * gen_aligner) for presence, shape and dtype before it returns, logging one line per problem,
 * and fills `w` with views into the mapping. Tensors it does not need (vision_model.*, aligner.*,
 * the VQ encoder) stay unread; gf_ckpt_find reaches any tensor, e.g. for the VQ decoder.
 */
#ifndef GF_MODEL_CHECKPOINT_H
#define GF_MODEL_CHECKPOINT_H

#include "kernels/ops.h"
#include "model/lm/config.h"
#include "model/lm/safetensors.h"

struct gf_layer_weights {
    struct gf_mat attn_norm;      /* [H] */
    struct gf_mat wq, wk, wv, wo; /* [heads*hd, H], [kv*hd, H] x2, [H, heads*hd] */
    struct gf_mat mlp_norm;       /* [H] */
    struct gf_mat w_gate, w_up;   /* [I, H] */
    struct gf_mat w_down;         /* [H, I] */
};

struct gf_model_weights {
    struct gf_mat embed;              /* [V, H] */
    struct gf_layer_weights *layers;  /* [n_layers] */
    struct gf_mat norm;               /* [H] */
    struct gf_mat lm_head;            /* [V, H] */
    struct gf_mat gh_proj, gh_proj_b; /* gen_head.output_mlp_projector [IE, H], [IE] */
    struct gf_mat gh_head, gh_head_b; /* gen_head.vision_head [IV, IE], [IV] */
    struct gf_mat gen_embed;          /* [IV, D] */
    struct gf_mat al0, al0_b;         /* gen_aligner.layers.0 [H, D], [H] */
    struct gf_mat al2, al2_b;         /* gen_aligner.layers.2 [H, H], [H] */
};

struct gf_ckpt {
    char *dir;
    struct gf_model_config cfg;
    struct gf_model_weights w;
    struct gf_st **shards; /* [n_shards] */
    int n_shards;
    size_t shards_cap;
    int quant;     /* the block type of gf_ckpt_quantize, or -1: as published */
    int exact;     /* precision f32: the f32 cache under 16-bit weights (gf_llm_new) */
    void **blocks; /* [n_blocks] owned quantized copies */
    int n_blocks;
    size_t blocks_cap;
};

/* Opens and checks the checkpoint in `dir`. Returns 0 and a caller-owned *out (gf_ckpt_close),
 * or GF_EIO / GF_EPARSE / GF_ESCHEMA after logging every problem found. */
int gf_ckpt_open(const char *dir, struct gf_ckpt **out);
void gf_ckpt_close(struct gf_ckpt **self_p);

/* Any tensor of the checkpoint by name, or NULL; borrowed until gf_ckpt_close. */
const struct gf_st_tensor *gf_ckpt_find(const struct gf_ckpt *ck, const char *name);

/* Quantizes at load, in memory, the weights the language model multiplies by: every layer's
 * q, k, v, o, gate, up and down to `type` (GF_WTYPE_Q8_0 or GF_WTYPE_Q4_0), lm_head and the
 * generation head's two matrices to GF_WTYPE_Q8_0; the files stay as published. The
 * embeddings, the norms, the biases, gen_embed and the aligner keep their published dtype
 * (docs/model.md says why), and so does
 * a matrix whose rows are not a whole number of GF_QK blocks (logged). Call once, before the
 * weights are used. 0, GF_EINVAL (not a block type) or GF_ENOMEM. */
int gf_ckpt_quantize(struct gf_ckpt *ck, int type);

/* Applies a precision name (gf_precision_parse) to the language model: "q8_0" and "q4_0"
 * quantize (gf_ckpt_quantize); "f32" asks for the exact path, an f32 KV cache under 16-bit
 * weights (ck->exact); "bf16" or NULL leave the weights as published, with an f16 cache under
 * 16-bit weights on backends that take one (docs/model.md). Call once, before gf_llm_new. 0,
 * GF_EINVAL (another name) or GF_ENOMEM. */
int gf_ckpt_precision(struct gf_ckpt *ck, const char *name);

/* Total bytes of the mapped weight files. */
size_t gf_ckpt_bytes(const struct gf_ckpt *ck);

#endif
