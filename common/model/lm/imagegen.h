/* imagegen.h — stage 2 (image tokens under CFG) as a continuous batch: requests join between
 * steps after their re-prefill, every step advances all of them in one ragged forward, and a
 * request leaves (freeing its KV slots) when its last token is drawn.
 *
 * A request's tokens depend only on its own prompt, seed and settings, never on the others in
 * the batch: the forward is batch-invariant and each draw is keyed by (seed, image, step).
 */
#ifndef GF_MODEL_IMAGEGEN_H
#define GF_MODEL_IMAGEGEN_H

#include <stdint.h>

#include "model/lm/llm.h"
#include "model/lm/sampler.h"

#define GF_IMAGEGEN_MAX_ROWS 64

struct gf_imagegen_req {
    /* set by the caller before join */
    int parallel;     /* P images */
    float cfg_weight; /* > 1: cond/uncond pairs */
    int32_t pad_id;
    int n_image; /* tokens per image (576) */
    struct gf_sampler sampler;
    uint64_t seed;
    int32_t *image; /* [parallel][n_image], caller-owned, filled as steps go */
    /* state */
    int rows;                                 /* 2P with CFG, else P */
    int32_t slots[GF_IMAGEGEN_MAX_ROWS];      /* [rows] */
    struct gf_tok next[GF_IMAGEGEN_MAX_ROWS]; /* [rows] the tokens the next step feeds */
    int step;                                 /* image tokens drawn so far */
    int active;                               /* joined and not done: holds its slots */
    int done;
};

/* Takes the request's slots and re-prefills seq[n_seq] (prompt + chain, ending with
 * <begin_of_image>) in every row, the unconditional rows padded at 1..n_seq-2. Returns 0,
 * GF_EBUSY (not enough free slots: try after a step), or GF_EINVAL. */
int gf_imagegen_join(struct gf_llm *m, struct gf_imagegen_req *r, const int32_t *seq, int n_seq);

/* One step for every active request (others in reqs are skipped): one forward, gen_head, CFG, one
 * draw per image. scratch: 2 * image_vocab floats, idx: image_vocab ints (the caller's; nothing is
 * allocated). Requests that drew their last token release their slots and get done = 1.
 *
 * Other work can ride in the same forward, so that the weights are read once per step: toks is
 * then the caller's buffer of m->max_tokens tokens whose first n_extra hold tokens of other slots
 * that keep no hidden state (a chunk of another request's re-prefill); the rows go after them.
 * toks may be NULL when n_extra is 0. */
int gf_imagegen_step(struct gf_llm *m, struct gf_imagegen_req **reqs, int n_reqs,
                     struct gf_tok *toks, int n_extra, float *scratch, int32_t *idx);

/* Gives the slots back early (a cancelled request). */
void gf_imagegen_leave(struct gf_llm *m, struct gf_imagegen_req *r);

#endif
