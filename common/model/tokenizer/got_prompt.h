/* got_prompt.h — the GoT-R1 prompt: caption -> chat template -> prompt ids, plus the special ids
 * the later stages need, all read from a checkpoint directory (MODEL.md 1.2, 2.4-2.6).
 *
 * gf_got_tok_new() loads <dir>/tokenizer.json, <dir>/tokenizer_config.json (BOS/EOS rules) and
 * <dir>/processor_config.json (sft_format; both optional, with the HF defaults), and adds GoT-R1's
 * four box/obj tokens the way its processor does (plain added tokens, next free ids) when the
 * tokenizer lacks them. Special tokens are looked up by string, never by a fixed id.
 *
 * Ownership: the caller owns the returned object (gf_got_tok_destroy). Read-only after open:
 * gf_got_encode_prompt() may run from several threads.
 */
#ifndef GF_MODEL_GOT_PROMPT_H
#define GF_MODEL_GOT_PROMPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/tokenizer/tokenizer.h"

#define GF_GOT_PROMPT_PREFIX                                                                       \
    "Follow the caption to generate an image through a chain of thought process: "

/* Special ids; -1 where the tokenizer has no such token (bos, pad and boi are required). */
struct gf_got_special {
    int32_t bos, eos, pad, boi, eoi;
    int32_t box_start, box_end, obj_start, obj_end;
};

struct gf_got_tok {
    gf_tokenizer_t *tok;
    bool add_bos, add_eos;
    char sft_format[32];
    struct gf_got_special special;
};

int gf_got_tok_new(const char *dir, struct gf_got_tok **got_p, char *why, size_t whylen);
void gf_got_tok_destroy(struct gf_got_tok **got_p);

/* The prompt string for `caption` under `sft_format` ("deepseek" or "deepseek_old"), e.g.
 * "User: Follow the caption ...: {caption}\n\nAssistant:". Caller owns *prompt_p (free()). */
int gf_got_format_prompt(const char *sft_format, const char *caption, char **prompt_p);

/* Prompt ids for `caption`: template, then encode, then BOS/EOS as tokenizer_config says. */
int gf_got_encode_prompt(const struct gf_got_tok *got, const char *caption, struct gf_ids *ids);

/* One call for a caller that tokenizes once: checkpoint dir + caption -> ids and special ids. */
int gf_got_prompt_ids(const char *dir, const char *caption, struct gf_ids *ids,
                      struct gf_got_special *special, char *why, size_t whylen);

#endif
