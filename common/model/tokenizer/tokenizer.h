/* tokenizer.h — HuggingFace tokenizer.json in C: text to ids and ids to text, identical to HF.
 *
 * gf_tokenizer_load() reads a tokenizer.json (added tokens, normalizer, pre-tokenizer, BPE model,
 * post-processor, decoder). A component the loader does not know is refused with its name and
 * JSON path; nothing is silently skipped. docs/tokenizer.md lists what is supported.
 *
 * Ownership: the caller owns the tokenizer and frees it with gf_tokenizer_destroy(). After load
 * (and gf_tokenizer_add_tokens(), if used) the tokenizer is read-only apart from an internal word
 * cache guarded by a mutex: encode and decode may run from several threads at once.
 *
 * Errors: 0 or a negative GF_E* code. Loading fills `err` with a lowercase message naming the
 * file and the JSON path. Encoding refuses invalid UTF-8 with GF_EINVAL.
 */
#ifndef GF_MODEL_TOKENIZER_H
#define GF_MODEL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct gf_tokenizer gf_tokenizer_t;

/* A growable array of token ids; zero-initialise, release with gf_ids_release(). */
struct gf_ids {
    int32_t *v;
    size_t n, cap;
};

int gf_ids_push(struct gf_ids *ids, int32_t id);
void gf_ids_release(struct gf_ids *ids);

/* Loads `path`. On failure *tok_p stays NULL and `why` says what and where. */
int gf_tokenizer_load(const char *path, gf_tokenizer_t **tok_p, char *why, size_t whylen);

/* Same, from a JSON text in memory; `name` is used in messages. */
int gf_tokenizer_parse(const char *json, size_t len, const char *name, gf_tokenizer_t **tok_p,
                       char *why, size_t whylen);

void gf_tokenizer_destroy(gf_tokenizer_t **tok_p);

/* Appends the ids of `text` (UTF-8, `len` bytes) to `out`. With add_special the post-processor
 * runs (e.g. BOS first), as HF's encode(text, add_special_tokens=True). */
int gf_tokenizer_encode(const gf_tokenizer_t *tok, const char *text, size_t len, int add_special,
                        struct gf_ids *out);

/* Decodes ids into a NUL-terminated string (caller owns, free()), as HF's
 * decode(ids, skip_special_tokens). Unknown ids are skipped, as HF does. */
int gf_tokenizer_decode(const gf_tokenizer_t *tok, const int32_t *ids, size_t n, int skip_special,
                        char **text_p, size_t *len_p);

/* Id of a token string (added tokens first, then the model vocab), or GF_ENOTFOUND. */
int32_t gf_tokenizer_token_id(const gf_tokenizer_t *tok, const char *token);

/* Token string of an id (borrowed until destroy), or NULL. */
const char *gf_tokenizer_id_token(const gf_tokenizer_t *tok, int32_t id);

/* One past the largest id, added tokens included (HF len(tokenizer)). */
int32_t gf_tokenizer_size(const gf_tokenizer_t *tok);

/* True when `id` is a special added token. */
int gf_tokenizer_is_special(const gf_tokenizer_t *tok, int32_t id);

/* Adds plain (non-special, normalized) tokens like HF add_tokens(): a string that is already an
 * added token or in the vocab keeps its id; new ones get the next free ids in order. */
int gf_tokenizer_add_tokens(gf_tokenizer_t *tok, const char *const *tokens, size_t n);

/* Streaming decode for text_delta frames (HF DecodeStream): push ids one at a time; text comes
 * out only at complete UTF-8 boundaries, so no half character is ever emitted. The emitted pieces,
 * concatenated, equal gf_tokenizer_decode() of all ids pushed (one exception, as in HF: with
 * ByteFallback, byte tokens that are invalid UTF-8 together may decode differently in pieces). */
typedef struct gf_tok_stream gf_tok_stream_t;

/* The stream borrows `tok`, which must outlive it. */
gf_tok_stream_t *gf_tok_stream_new(const gf_tokenizer_t *tok, int skip_special);
void gf_tok_stream_destroy(gf_tok_stream_t **st_p);

/* Pushes one id. Sets *text_p to new text (caller owns, free()) or NULL when nothing is ready. */
int gf_tok_stream_step(gf_tok_stream_t *st, int32_t id, char **text_p, size_t *len_p);

/* Ends the stream: returns whatever is held back (lossy), possibly NULL. */
int gf_tok_stream_finish(gf_tok_stream_t *st, char **text_p, size_t *len_p);

#endif
