/* tok_internal.h — the parts of the tokenizer, shared by its .c files only (not a public API).
 *
 * Text moves through the tokenizer as spans into a byte arena: splitting never copies, and steps
 * that change text (byte-level mapping, Metaspace) append the new text to the arena.
 */
#ifndef GF_MODEL_TOK_INTERNAL_H
#define GF_MODEL_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/tokenizer/tokenizer.h"

/* --- growable byte buffer -------------------------------------------------------------------- */
struct gf_buf {
    char *p;
    size_t len, cap;
};
/* Appends n bytes (data NULL: reserves them, uninitialised); keeps a NUL after the end. */
int gf_buf_put(struct gf_buf *b, const void *data, size_t n);
void gf_buf_release(struct gf_buf *b);

/* --- string -> id hash map ------------------------------------------------------------------- */
struct gf_tokmap {
    struct gf_tokmap_slot {
        const char *key; /* borrowed: points into storage the owner keeps alive */
        uint32_t len;
        int32_t val;
    } * slots;
    size_t n, cap;
};
int gf_tokmap_put(struct gf_tokmap *m, const char *key, size_t len, int32_t val);
int32_t gf_tokmap_get(const struct gf_tokmap *m, const char *key, size_t len); /* -1 if absent */
void gf_tokmap_release(struct gf_tokmap *m);
uint64_t gf_hash_bytes(const void *p, size_t n);

/* --- patterns (Split, Replace): a literal string or a regex run as HF runs it ---------------- */
struct gf_pattern {
    char *lit; /* literal when re == NULL */
    size_t lit_len;
    pcre2_code *re;
};
/* Compiles an Oniguruma-style pattern (\s, \w, ^/$ per line as HF tokenizers sees them). */
int gf_pattern_regex(struct gf_pattern *pat, const char *src, char *why, size_t whylen);
int gf_pattern_literal(struct gf_pattern *pat, const char *s, size_t len);
void gf_pattern_release(struct gf_pattern *pat);
/* Calls fn for each non-overlapping match [start, end) of pat in s, left to right. */
typedef int (*gf_match_fn)(size_t start, size_t end, void *ctx);
int gf_pattern_each(const struct gf_pattern *pat, const char *s, size_t len, gf_match_fn fn,
                    void *ctx);

/* --- normalizers --------------------------------------------------------------------------- */
enum gf_norm_type {
    GF_NORM_SEQUENCE,
    GF_NORM_NFC,
    GF_NORM_NFD,
    GF_NORM_NFKC,
    GF_NORM_NFKD,
    GF_NORM_LOWERCASE,
    GF_NORM_REPLACE,
    GF_NORM_PREPEND,
    GF_NORM_STRIP,
    GF_NORM_STRIP_ACCENTS,
};
struct gf_norm {
    enum gf_norm_type type;
    struct gf_norm *sub;
    size_t n_sub;
    struct gf_pattern pat;
    char *content; /* Replace content, Prepend text */
    bool left, right;
};
/* Normalizes s into out (replacing out's contents). *olen (may be NULL): in, how many leading
 * bytes of s come from the original first character; out, the same for the result. */
int gf_norm_apply(const struct gf_norm *n, const char *s, size_t len, struct gf_buf *out,
                  size_t *olen);
void gf_norm_release(struct gf_norm *n);

/* --- pieces and pre-tokenizers --------------------------------------------------------------- */
struct gf_piece {
    size_t off, len; /* span in the arena */
    size_t olen;     /* leading bytes that come from the original text's first character (HF: offset
                        0), what Metaspace prepend_scheme "first" asks about */
};
struct gf_pieces {
    struct gf_buf arena;
    struct gf_piece *v;
    size_t n, cap;
};
int gf_pieces_push(struct gf_pieces *ps, size_t off, size_t len, size_t olen);
void gf_pieces_release(struct gf_pieces *ps);

enum gf_split_behavior {
    GF_SPLIT_REMOVED,
    GF_SPLIT_ISOLATED,
    GF_SPLIT_MERGED_PREV,
    GF_SPLIT_MERGED_NEXT,
    GF_SPLIT_CONTIGUOUS,
};
enum gf_prepend { GF_PREPEND_ALWAYS, GF_PREPEND_FIRST, GF_PREPEND_NEVER };
enum gf_pretok_type {
    GF_PRE_SEQUENCE,
    GF_PRE_SPLIT,
    GF_PRE_BYTELEVEL,
    GF_PRE_METASPACE,
    GF_PRE_DIGITS,
    GF_PRE_WHITESPACE,
    GF_PRE_WHITESPACE_SPLIT,
    GF_PRE_PUNCTUATION,
};
struct gf_pretok {
    enum gf_pretok_type type;
    struct gf_pretok *sub;
    size_t n_sub;
    struct gf_pattern pat; /* Split; ByteLevel with use_regex; Whitespace */
    enum gf_split_behavior behavior;
    bool invert, add_prefix_space, use_regex, split, individual_digits;
    char rep[8]; /* Metaspace replacement, UTF-8 */
    size_t rep_len;
    enum gf_prepend prepend;
};
/* Splits/transforms every piece of ps in place. */
int gf_pretok_apply(const struct gf_pretok *p, struct gf_pieces *ps);
void gf_pretok_release(struct gf_pretok *p);
/* The GPT-2 byte -> unicode alphabet, as UTF-8: gf_byte_char[b], gf_byte_char_len[b] bytes;
 * filled by gf_byte_init() (idempotent, thread-safe). */
extern char gf_byte_char[256][3];
extern uint8_t gf_byte_char_len[256];
void gf_byte_init(void);
/* Inverse: the byte of a code point of the alphabet, or -1. */
int gf_byte_of_char(uint32_t cp);

/* --- BPE model ------------------------------------------------------------------------------- */
struct gf_merge_slot {
    uint64_t key; /* (left << 32) | right, 0 = empty (ids are shifted by one) */
    int32_t rank, id;
};
struct gf_bpe {
    struct gf_tokmap vocab;
    struct gf_buf strings; /* all token strings, NUL-separated */
    size_t *tok_off;       /* id -> offset into strings, SIZE_MAX when the id is unused */
    uint32_t *tok_len;
    int32_t n_ids;  /* 1 + largest id */
    size_t ids_cap; /* room in tok_off and tok_len */
    struct gf_merge_slot *merges;
    size_t merges_cap, n_merges;
    bool byte_fallback, ignore_merges, fuse_unk;
    int32_t unk_id;        /* -1 when none */
    char *prefix, *suffix; /* continuing_subword_prefix, end_of_word_suffix, or NULL */
    int32_t byte_ids[256]; /* <0xXX> ids, -1 when absent */
    /* word cache: piece bytes -> ids */
    pthread_mutex_t cache_lock;
    struct gf_cache_slot {
        uint64_t hash;
        char *key;
        uint32_t key_len, n_ids;
        int32_t *ids;
    } * cache;
    size_t cache_cap, cache_n;
};
int gf_bpe_init(struct gf_bpe *b);
int gf_bpe_add_token(struct gf_bpe *b, const char *tok, size_t len, int32_t id);
/* Call once every vocab token is added, before the merges. */
int gf_bpe_build(struct gf_bpe *b);
int gf_bpe_add_merge(struct gf_bpe *b, const char *l, size_t ll, const char *r, size_t rl, int rank,
                     char *why, size_t whylen);
int gf_bpe_encode(struct gf_bpe *b, const char *w, size_t len, struct gf_ids *out);
void gf_bpe_release(struct gf_bpe *b);

/* --- decoders ------------------------------------------------------------------------------- */
enum gf_dec_type {
    GF_DEC_SEQUENCE,
    GF_DEC_BYTELEVEL,
    GF_DEC_METASPACE,
    GF_DEC_BYTEFALLBACK,
    GF_DEC_FUSE,
    GF_DEC_STRIP,
    GF_DEC_REPLACE,
};
struct gf_decoder {
    enum gf_dec_type type;
    struct gf_decoder *sub;
    size_t n_sub;
    struct gf_pattern pat;
    char *content;
    uint32_t strip_cp; /* Strip content */
    int start, stop;
    char rep[8];
    size_t rep_len;
    enum gf_prepend prepend;
};
/* A list of strings in one arena; decoders map lists to lists. */
struct gf_strlist {
    struct gf_buf arena;
    size_t *off, *len;
    size_t n, cap;
};
int gf_strlist_push(struct gf_strlist *l, const char *s, size_t len);
void gf_strlist_release(struct gf_strlist *l);
int gf_decoder_apply(const struct gf_decoder *d, struct gf_strlist *l);
void gf_decoder_release(struct gf_decoder *d);

/* --- added tokens and post-processor ------------------------------------------------------- */
struct gf_added {
    char *content;
    size_t len;
    char *norm; /* content after the normalizer, for normalized tokens */
    size_t norm_len;
    int32_t id;
    bool special, lstrip, rstrip, single_word, normalized;
};
struct gf_tmpl_item {
    bool is_seq; /* Sequence A (the text) rather than a special token */
    int32_t *ids;
    size_t n_ids;
};

struct gf_tokenizer {
    struct gf_added *added;
    size_t n_added, added_cap;
    struct gf_tokmap added_map; /* content -> index into added */
    /* lookup indexes, rebuilt by gf_added_index(): added tokens by kind and first byte (longest
     * first) in by_first[first_off[kind][b] .. first_off[kind][b + 1]); index by id */
    uint32_t *by_first;
    uint32_t first_off[2][257];
    int32_t *by_id; /* by_id[id - id_min] = index or -1; NULL when there is no added token */
    int32_t id_min, id_span;
    bool has_norm, has_pretok, has_decoder;
    struct gf_norm norm;
    struct gf_pretok pretok;
    struct gf_bpe bpe;
    struct gf_decoder decoder;
    struct gf_tmpl_item *tmpl; /* post-processor, single sequence */
    size_t n_tmpl;
};

/* Rebuilds the added-token indexes after added tokens changed. */
int gf_added_index(struct gf_tokenizer *t);

/* Splits `s` at added tokens of one kind (normalized or not): calls fn for each stretch, with
 * the index of the added token or -1 for plain text. */
typedef int (*gf_added_fn)(const char *s, size_t len, int added, size_t olen, void *ctx);
int gf_added_split(const struct gf_tokenizer *t, bool normalized, const char *s, size_t len,
                   size_t olen, gf_added_fn fn, void *ctx);

/* --- utf-8 helpers ------------------------------------------------------------------------ */
/* Decodes one code point at s (len > 0, valid UTF-8 assumed); returns its length. */
size_t gf_utf8_next(const char *s, size_t len, uint32_t *cp);
size_t gf_utf8_put(char *dst, uint32_t cp);
/* Length of the valid UTF-8 prefix of s; equals len when s is valid. */
size_t gf_utf8_valid_prefix(const char *s, size_t len);
/* Appends s to out, each maximal invalid subpart replaced by U+FFFD (Rust from_utf8_lossy). */
int gf_utf8_lossy(const char *s, size_t len, struct gf_buf *out);
bool gf_uc_is_whitespace(uint32_t cp); /* Rust char::is_whitespace */
/* A word character for single_word added tokens: letters, marks, Nd/Nl numbers, connector
 * punctuation, joiners (what HF treats as word, measured against it). */
bool gf_uc_is_word(uint32_t cp);
bool gf_uc_is_numeric(uint32_t cp);     /* Rust char::is_numeric */
bool gf_uc_is_punctuation(uint32_t cp); /* Unicode P* */

#endif
