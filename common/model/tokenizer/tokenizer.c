/* tokenizer.c — encode (added tokens, normalizer, pre-tokenizer, BPE, post-processor) and the
 * lookups. The order is HF's: added tokens that are not normalized are cut from the raw text
 * first; each stretch between them is normalized, cut at the normalized added tokens, then
 * pre-tokenized, and each piece goes through BPE. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/tokenizer/tok_internal.h"

/* Longest added token of the given kind at s[i..], or -1. */
static int s_match_at(const struct gf_tokenizer *t, bool normalized, const char *s, size_t len,
                      size_t i)
{
    unsigned char b = (unsigned char)s[i];
    for (uint32_t j = t->first_off[normalized][b]; j < t->first_off[normalized][b + 1]; j++) {
        const struct gf_added *a = &t->added[t->by_first[j]];
        const char *c = normalized ? a->norm : a->content;
        size_t n = normalized ? a->norm_len : a->len;
        if (n <= len - i && memcmp(c, s + i, n) == 0)
            return (int)t->by_first[j]; /* sorted longest first */
    }
    return -1;
}

static const struct gf_tokenizer *s_sort_tok;

static int s_by_first_cmp(const void *pa, const void *pb)
{
    const struct gf_added *a = &s_sort_tok->added[*(const uint32_t *)pa];
    const struct gf_added *b = &s_sort_tok->added[*(const uint32_t *)pb];
    const unsigned char *ca = (const unsigned char *)(a->normalized ? a->norm : a->content);
    const unsigned char *cb = (const unsigned char *)(b->normalized ? b->norm : b->content);
    size_t la = a->normalized ? a->norm_len : a->len, lb = b->normalized ? b->norm_len : b->len;
    if (a->normalized != b->normalized)
        return a->normalized - b->normalized;
    if (ca[0] != cb[0])
        return ca[0] - cb[0];
    if (la != lb)
        return la > lb ? -1 : 1;
    return *(const uint32_t *)pa < *(const uint32_t *)pb ? -1 : 1; /* first defined wins */
}

int gf_added_index(struct gf_tokenizer *t)
{
    static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER; /* qsort has no context */
    free(t->by_first);
    free(t->by_id);
    t->by_first = NULL;
    t->by_id = NULL;
    memset(t->first_off, 0, sizeof t->first_off);
    if (!t->n_added)
        return 0;
    t->by_first = malloc(t->n_added * sizeof *t->by_first);
    if (!t->by_first)
        return GF_ENOMEM;
    int32_t lo = INT32_MAX, hi = -1;
    for (size_t k = 0; k < t->n_added; k++) {
        t->by_first[k] = (uint32_t)k;
        lo = t->added[k].id < lo ? t->added[k].id : lo;
        hi = t->added[k].id > hi ? t->added[k].id : hi;
    }
    pthread_mutex_lock(&sort_lock);
    s_sort_tok = t;
    qsort(t->by_first, t->n_added, sizeof *t->by_first, s_by_first_cmp);
    pthread_mutex_unlock(&sort_lock);
    for (size_t k = 0; k < t->n_added; k++) {
        const struct gf_added *a = &t->added[t->by_first[k]];
        unsigned char b = (unsigned char)(a->normalized ? a->norm : a->content)[0];
        t->first_off[a->normalized][b + 1]++;
    }
    for (int kind = 0; kind < 2; kind++) {
        uint32_t base = kind ? t->first_off[0][256] : 0;
        t->first_off[kind][0] = base;
        for (int b = 1; b <= 256; b++)
            t->first_off[kind][b] += t->first_off[kind][b - 1];
    }
    t->id_min = lo;
    t->id_span = hi - lo + 1; /* ids are below 2^24: the span is bounded */
    t->by_id = malloc((size_t)t->id_span * sizeof *t->by_id);
    if (!t->by_id)
        return GF_ENOMEM;
    for (int32_t i = 0; i < t->id_span; i++)
        t->by_id[i] = -1;
    for (size_t k = t->n_added; k-- > 0;) /* the first token with an id wins */
        t->by_id[t->added[k].id - lo] = (int32_t)k;
    return 0;
}

static size_t s_prev_char(const char *s, size_t at, uint32_t *cp)
{
    size_t m = 1;
    while (m < at && ((unsigned char)s[at - m] & 0xC0) == 0x80)
        m++;
    gf_utf8_next(s + at - m, m, cp);
    return m;
}

#define S_OLEN(at) (olen > (at) ? olen - (at) : 0)

int gf_added_split(const struct gf_tokenizer *t, bool normalized, const char *s, size_t len,
                   size_t olen, gf_added_fn fn, void *ctx)
{
    size_t start_off = 0, i = 0;
    int rc;
    bool any = false;
    for (size_t k = 0; k < t->n_added && !any; k++)
        any = t->added[k].normalized == normalized;
    while (any && i < len) {
        unsigned char b = (unsigned char)s[i];
        if (t->first_off[normalized][b] == t->first_off[normalized][b + 1]) {
            i++;
            continue;
        }
        int k = s_match_at(t, normalized, s, len, i);
        if (k < 0) {
            i++;
            continue;
        }
        const struct gf_added *a = &t->added[k];
        size_t start = i, stop = i + (normalized ? a->norm_len : a->len);
        i = stop;
        uint32_t cp;
        if (a->single_word) {
            bool ok_l = start == 0 || (s_prev_char(s, start, &cp), !gf_uc_is_word(cp));
            bool ok_r =
                stop == len || (gf_utf8_next(s + stop, len - stop, &cp), !gf_uc_is_word(cp));
            if (!ok_l || !ok_r)
                continue;
        }
        if (a->lstrip) {
            size_t ns = start;
            while (ns > 0) {
                size_t m = s_prev_char(s, ns, &cp);
                if (!gf_uc_is_whitespace(cp))
                    break;
                ns -= m;
            }
            start = ns > start_off ? ns : start_off;
        }
        if (a->rstrip) {
            while (stop < len) {
                size_t m = gf_utf8_next(s + stop, len - stop, &cp);
                if (!gf_uc_is_whitespace(cp))
                    break;
                stop += m;
            }
        }
        if (start_off < start &&
            (rc = fn(s + start_off, start - start_off, -1, S_OLEN(start_off), ctx)))
            return rc;
        if ((rc = fn(s + start, stop - start, k, S_OLEN(start), ctx)))
            return rc;
        start_off = stop;
        if (i < stop)
            i = stop;
    }
    if (start_off < len || len == 0)
        return fn(s + start_off, len - start_off, -1, S_OLEN(start_off), ctx);
    return 0;
}

struct s_enc {
    const struct gf_tokenizer *t;
    struct gf_ids *out;
    struct gf_pieces ps;
};

static int s_on_normalized(const char *s, size_t len, int added, size_t olen, void *ctx)
{
    struct s_enc *e = ctx;
    if (added >= 0)
        return gf_ids_push(e->out, e->t->added[added].id);
    if (!len) /* HF pre-tokenizes nothing here (ByteLevel would add a prefix space) */
        return 0;
    struct gf_pieces *ps = &e->ps;
    ps->arena.len = 0;
    ps->n = 0;
    int rc = gf_buf_put(&ps->arena, s, len);
    if (!rc)
        rc = gf_pieces_push(ps, 0, len, olen);
    if (!rc && e->t->has_pretok)
        rc = gf_pretok_apply(&e->t->pretok, ps);
    for (size_t i = 0; !rc && i < ps->n; i++)
        rc = gf_bpe_encode((struct gf_bpe *)&e->t->bpe, ps->arena.p + ps->v[i].off, ps->v[i].len,
                           e->out);
    return rc;
}

static int s_on_raw(const char *s, size_t len, int added, size_t olen, void *ctx)
{
    struct s_enc *e = ctx;
    if (added >= 0)
        return gf_ids_push(e->out, e->t->added[added].id);
    if (!e->t->has_norm)
        return gf_added_split(e->t, true, s, len, olen, s_on_normalized, e);
    struct gf_buf norm = {0};
    int rc = gf_norm_apply(&e->t->norm, s, len, &norm, &olen);
    if (!rc)
        rc = gf_added_split(e->t, true, norm.p ? norm.p : "", norm.len, olen, s_on_normalized, e);
    gf_buf_release(&norm);
    return rc;
}

int gf_tokenizer_encode(const gf_tokenizer_t *tok, const char *text, size_t len, int add_special,
                        struct gf_ids *out)
{
    if (!tok || (!text && len))
        return GF_EINVAL;
    if (gf_utf8_valid_prefix(text, len) != len)
        return GF_EINVAL;
    struct gf_ids seq = {0};
    struct s_enc e = {.t = tok, .out = add_special && tok->n_tmpl ? &seq : out};
    uint32_t cp;
    size_t first = len ? gf_utf8_next(text, len, &cp) : 0;
    int rc = gf_added_split(tok, false, text ? text : "", len, first, s_on_raw, &e);
    if (!rc && add_special && tok->n_tmpl) {
        for (size_t i = 0; !rc && i < tok->n_tmpl; i++) {
            const struct gf_tmpl_item *it = &tok->tmpl[i];
            const int32_t *v = it->is_seq ? seq.v : it->ids;
            size_t n = it->is_seq ? seq.n : it->n_ids;
            for (size_t k = 0; !rc && k < n; k++)
                rc = gf_ids_push(out, v[k]);
        }
    }
    gf_ids_release(&seq);
    gf_pieces_release(&e.ps);
    return rc;
}

int32_t gf_tokenizer_token_id(const gf_tokenizer_t *tok, const char *token)
{
    size_t n = strlen(token);
    int32_t k = gf_tokmap_get(&tok->added_map, token, n);
    if (k >= 0)
        return tok->added[k].id;
    int32_t id = gf_tokmap_get(&tok->bpe.vocab, token, n);
    return id >= 0 ? id : GF_ENOTFOUND;
}

static const struct gf_added *s_added_by_id(const gf_tokenizer_t *tok, int32_t id)
{
    if (!tok->by_id || id < tok->id_min || id - tok->id_min >= tok->id_span)
        return NULL;
    int32_t k = tok->by_id[id - tok->id_min];
    return k >= 0 ? &tok->added[k] : NULL;
}

const char *gf_tokenizer_id_token(const gf_tokenizer_t *tok, int32_t id)
{
    if (id < 0)
        return NULL;
    /* added tokens win over the vocab, as in HF; the common case is a vocab id without one */
    if (id >= tok->bpe.n_ids || tok->n_added) {
        const struct gf_added *a = s_added_by_id(tok, id);
        if (a) /* HF gives a normalized added token back in its normalized form */
            return a->norm;
    }
    if (id >= tok->bpe.n_ids || tok->bpe.tok_off[id] == SIZE_MAX)
        return NULL;
    return tok->bpe.strings.p + tok->bpe.tok_off[id];
}

int gf_tokenizer_is_special(const gf_tokenizer_t *tok, int32_t id)
{
    const struct gf_added *a = s_added_by_id(tok, id);
    return a && a->special;
}

int32_t gf_tokenizer_size(const gf_tokenizer_t *tok)
{
    int32_t n = tok->bpe.n_ids;
    for (size_t k = 0; k < tok->n_added; k++)
        if (tok->added[k].id >= n)
            n = tok->added[k].id + 1;
    return n;
}

void gf_tokenizer_destroy(gf_tokenizer_t **tok_p)
{
    if (!tok_p || !*tok_p)
        return;
    gf_tokenizer_t *t = *tok_p;
    for (size_t k = 0; k < t->n_added; k++) {
        free(t->added[k].content);
        free(t->added[k].norm);
    }
    free(t->added);
    free(t->by_first);
    free(t->by_id);
    gf_tokmap_release(&t->added_map);
    gf_norm_release(&t->norm);
    gf_pretok_release(&t->pretok);
    gf_bpe_release(&t->bpe);
    gf_decoder_release(&t->decoder);
    for (size_t i = 0; i < t->n_tmpl; i++)
        free(t->tmpl[i].ids);
    free(t->tmpl);
    free(t);
    *tok_p = NULL;
}
