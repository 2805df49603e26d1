/* llm.h — the Janus-Pro language model on a backend: LLaMA decoder with a KV cache of row slots,
 * text head (lm_head), image head (gen_head) and image-token input (gen_embed → gen_aligner).
 *
 * One forward call takes a ragged batch of tokens: each token names its cache slot and its
 * position, so a prefill (one slot, consecutive positions), a batched decode (one token per
 * slot, each at its own position) and any mix of them are the same call. A token sees the
 * positions 0..pos of its own slot, written by earlier calls or earlier in the same call.
 * CFG pairs and parallel images are simply different slots.
 *
 * All buffers are sized at gf_llm_new; forward and the heads do not allocate. Not thread-safe:
 * one caller at a time.
 */
#ifndef GF_MODEL_LLM_H
#define GF_MODEL_LLM_H

#include <stdint.h>

#include "kernels/ops.h"
#include "model/lm/checkpoint.h"
#include "model/lm/sampler.h"

enum gf_tok_kind {
    GF_TOK_TEXT,  /* id indexes embed_tokens */
    GF_TOK_IMAGE, /* id indexes gen_embed, then gen_aligner */
};

struct gf_tok {
    int32_t id;
    int32_t slot;
    int32_t pos;
    uint8_t kind; /* enum gf_tok_kind */
    uint8_t want; /* keep this token's final hidden state for a head */
};

struct gf_llm {
    struct gf_backend *be; /* borrowed */
    const struct gf_model_config *cfg;
    const struct gf_model_weights *w; /* borrowed from the checkpoint */
    int n_slots, max_seq, max_tokens;
    int n_out; /* hidden rows kept by the last forward */
    /* backend memory */
    void *k_cache, *v_cache; /* [n_layers] caches of n_slots * max_seq * kv_dim kv_dtype */
    enum gf_wtype kv_dtype;  /* f32, f16 or q8_0: see gf_llm_new */
    float *x;                /* [T][H] residual stream, T = max_tokens */
    float *xn;               /* [T][H] normed input of a block */
    float *q;                /* [T][heads*hd] */
    float *k, *v;            /* [T][kv_dim] */
    float *att;              /* [T][heads*hd] */
    float *gate, *up;        /* [T][max(I, IE, H)] */
    float *small;            /* [T][D] gen_embed rows */
    float *hidden;           /* [T][H] final hidden states of the wanted tokens */
    float *logits_dev;       /* [T][max(V, IV)] */
    int32_t *ids, *slot, *pos, *out_idx; /* [T] */
    /* host memory */
    float *logits; /* [T][max(V, IV)] the last head's output */
    int32_t *h_ids, *h_slot, *h_pos;
    uint8_t *slot_used; /* [n_slots] */
};

/* Sizes everything for n_slots rows of max_seq positions and at most max_tokens tokens per
 * forward call. The checkpoint and backend must outlive the model. Returns 0 or GF_E*. */
int gf_llm_new(struct gf_backend *be, const struct gf_ckpt *ck, int n_slots, int max_seq,
               int max_tokens, struct gf_llm **out);
void gf_llm_destroy(struct gf_llm **self_p);

/* Runs the decoder over toks[n]; keeps the final hidden state (after the last RMSNorm) of every
 * token with want set, in order. Returns the number kept, or GF_EINVAL (logged) for an id, slot,
 * position or n out of range. */
int gf_llm_forward(struct gf_llm *m, const struct gf_tok *toks, int n);

/* lm_head over the kept hidden states: returns host logits [n_out][vocab], borrowed until the
 * next call. */
const float *gf_llm_text_logits(struct gf_llm *m);
/* gen_head over the kept hidden states: host logits [n_out][image_vocab]. */
const float *gf_llm_image_logits(struct gf_llm *m);
/* The head (image = 0: lm_head, 1: gen_head) over the kept hidden states, then one token per
 * draw on the backend (ops->sample; draws name rows of the kept states): only ids[n] come back
 * to the host. Returns 0, GF_EUNSUPPORTED when the backend has no sample op (use the host
 * logits and gf_sample), or GF_EINVAL for a row out of range. */
int gf_llm_draw(struct gf_llm *m, int image, const struct gf_draw *draws, int n, int32_t *ids);
/* 1 when gf_llm_draw can stand for gf_sample with this sampler (no top-k above 1, no top-p). */
int gf_llm_can_draw(const struct gf_llm *m, const struct gf_sampler *s);
/* Continuous batching: takes n free slots (lowest first) into slots[n], or returns GF_EBUSY and
 * takes none. A request keeps its slots until it releases them; positions start again at 0. */
int gf_llm_slots_acquire(struct gf_llm *m, int n, int32_t *slots);
void gf_llm_slots_release(struct gf_llm *m, int n, const int32_t *slots);
int gf_llm_slots_free(const struct gf_llm *m);

/* Copies positions 0..n_pos-1 of slot src's KV cache, every layer and KV head, into slot dst:
 * dst then holds what a forward of src's tokens at those positions would have written (the
 * same bits on a batch-invariant backend). Slots in range, n_pos <= max_seq; dst == src, or
 * n_pos < 1, does nothing. */
void gf_llm_copy_slot(struct gf_llm *m, int dst, int src, int n_pos);

/* One layer's KV of positions 0..n_pos-1 of a slot, as host bytes: K then V, each
 * [n_kv_heads][n_pos][head_dim] in the cache's dtype (kv_dtype), gf_llm_kv_layer_bytes in all. _get
 * copies them out of the cache, _put into it (the slot then holds what a forward of the same tokens
 * on the same weights and backend writes). Slot, layer and n_pos in range. */
size_t gf_llm_kv_layer_bytes(const struct gf_llm *m, int n_pos);
void gf_llm_kv_get(struct gf_llm *m, int slot, int layer, int n_pos, void *buf);
void gf_llm_kv_put(struct gf_llm *m, int slot, int layer, int n_pos, const void *buf);

/* The kept hidden states, copied to host dst[n_out][H]. */
void gf_llm_hidden(struct gf_llm *m, float *dst);

#endif
