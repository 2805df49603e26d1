/* loop.h — the reference generation loop of GoT-R1 infer.py (MODEL.md §1), in one process.
 *
 * Stage 1 writes the reasoning chain: prefill the prompt in slot 0, then sample text tokens
 * until <begin_of_image> or max_text tokens (appending <begin_of_image> if it never came).
 * Stage 2 re-prefills prompt + chain in 2P rows (cond/uncond interleaved, the uncond rows padded
 * at positions 1..L-2) and samples n_image image tokens per image with CFG on the gen_head
 * logits. The pipeline stages call the same pieces (gf_loop_reason, gf_loop_image).
 */
#ifndef GF_MODEL_LOOP_H
#define GF_MODEL_LOOP_H

#include <stdint.h>

#include "model/lm/llm.h"
#include "model/lm/sampler.h"

struct gf_loop_params {
    const int32_t *prompt; /* [n_prompt], BOS first */
    int n_prompt;
    int32_t boi_id, pad_id; /* looked up in the checkpoint's tokenizer by the caller */
    int max_text;           /* 600 in infer.py */
    int n_image;            /* 576 */
    int parallel;           /* P images */
    float cfg_weight;       /* > 1: CFG pairs; <= 1: P rows without CFG */
    struct gf_sampler text, image;
    uint64_t seed;
};

struct gf_loop_result {
    int32_t *text; /* [n_text] generated chain, ending with boi; caller frees */
    int n_text;
    int32_t *image; /* [parallel][n_image]; caller frees */
};

/* Slots and positions a model needs for these parameters. */
int gf_loop_slots(const struct gf_loop_params *p);
int gf_loop_max_seq(const struct gf_loop_params *p);

/* Stage 1. text receives up to max_text + 1 tokens; returns how many, or GF_E*. */
int gf_loop_reason(struct gf_llm *m, const struct gf_loop_params *p, int32_t *text);
/* Stage 2 over seq[n_seq] = prompt + chain; image receives [parallel][n_image]. */
int gf_loop_image(struct gf_llm *m, const struct gf_loop_params *p, const int32_t *seq, int n_seq,
                  int32_t *image);
/* Both stages. */
int gf_loop_run(struct gf_llm *m, const struct gf_loop_params *p, struct gf_loop_result *r);
void gf_loop_result_release(struct gf_loop_result *r);

#endif
