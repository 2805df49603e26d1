/* decode.c — ids back to text: HF decoders (ByteLevel, Metaspace, ByteFallback, Fuse, Strip,
 * Replace, Sequence) over the list of token strings, and the streaming decoder. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/tokenizer/tok_internal.h"

#define S_TOK(l, i) ((l)->arena.p + (l)->off[i])

static void s_swap(struct gf_strlist *a, struct gf_strlist *b)
{
    struct gf_strlist t = *a;
    *a = *b;
    *b = t;
}

/* Maps a token of the byte alphabet to its bytes; a token with any other character is kept. */
static int s_bytelevel(struct gf_strlist *l, struct gf_strlist *out)
{
    struct gf_buf raw = {0}, txt = {0};
    int rc = 0;
    gf_byte_init();
    for (size_t i = 0; !rc && i < l->n; i++) {
        const char *t = S_TOK(l, i);
        size_t n = l->len[i], at = raw.len;
        bool all = true;
        for (size_t k = 0; all && k < n;) {
            uint32_t cp;
            k += gf_utf8_next(t + k, n - k, &cp);
            int b = gf_byte_of_char(cp);
            char c = (char)b;
            if (b < 0)
                all = false;
            else
                rc = gf_buf_put(&raw, &c, 1);
        }
        if (!all) {
            raw.len = at;
            rc = gf_buf_put(&raw, t, n);
        }
    }
    if (!rc)
        rc = gf_utf8_lossy(raw.p ? raw.p : "", raw.len, &txt);
    if (!rc)
        rc = gf_strlist_push(out, txt.p ? txt.p : "", txt.len);
    gf_buf_release(&raw);
    gf_buf_release(&txt);
    return rc;
}

static int s_metaspace(const struct gf_decoder *d, struct gf_strlist *l, struct gf_strlist *out)
{
    struct gf_buf b = {0};
    int rc = 0;
    for (size_t i = 0; !rc && i < l->n; i++) {
        const char *t = S_TOK(l, i);
        size_t n = l->len[i];
        b.len = 0;
        for (size_t k = 0; !rc && k < n;) {
            if (k + d->rep_len <= n && !memcmp(t + k, d->rep, d->rep_len)) {
                if (!(i == 0 && d->prepend != GF_PREPEND_NEVER))
                    rc = gf_buf_put(&b, " ", 1);
                k += d->rep_len;
            } else {
                rc = gf_buf_put(&b, t + k, 1);
                k++;
            }
        }
        if (!rc)
            rc = gf_strlist_push(out, b.p ? b.p : "", b.len);
    }
    gf_buf_release(&b);
    return rc;
}

static int s_byte_token(const char *t, size_t n)
{
    if (n != 6 || memcmp(t, "<0x", 3) != 0 || t[5] != '>')
        return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = t[i];
        int x = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
        if (x < 0)
            return -1;
        v = v * 16 + x;
    }
    return v;
}

static int s_flush_bytes(struct gf_buf *bytes, struct gf_strlist *out)
{
    int rc = 0;
    if (!bytes->len)
        return 0;
    if (gf_utf8_valid_prefix(bytes->p, bytes->len) == bytes->len)
        rc = gf_strlist_push(out, bytes->p, bytes->len);
    else
        for (size_t i = 0; !rc && i < bytes->len; i++)
            rc = gf_strlist_push(out, "\xEF\xBF\xBD", 3);
    bytes->len = 0;
    return rc;
}

static int s_bytefallback(struct gf_strlist *l, struct gf_strlist *out)
{
    struct gf_buf bytes = {0};
    int rc = 0;
    for (size_t i = 0; !rc && i < l->n; i++) {
        int v = s_byte_token(S_TOK(l, i), l->len[i]);
        if (v >= 0) {
            char c = (char)v;
            rc = gf_buf_put(&bytes, &c, 1);
            continue;
        }
        rc = s_flush_bytes(&bytes, out);
        if (!rc)
            rc = gf_strlist_push(out, S_TOK(l, i), l->len[i]);
    }
    if (!rc)
        rc = s_flush_bytes(&bytes, out);
    gf_buf_release(&bytes);
    return rc;
}

static int s_fuse(struct gf_strlist *l, struct gf_strlist *out)
{
    int rc = gf_strlist_push(out, "", 0);
    for (size_t i = 0; !rc && i < l->n; i++) {
        rc = gf_buf_put(&out->arena, S_TOK(l, i), l->len[i]);
        out->len[0] += l->len[i];
    }
    return rc;
}

static int s_strip(const struct gf_decoder *d, struct gf_strlist *l, struct gf_strlist *out)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < l->n; i++) {
        const char *t = S_TOK(l, i);
        size_t n = l->len[i], a = 0, b = n;
        uint32_t cp;
        for (int k = 0; k < d->start && a < n; k++) {
            size_t m = gf_utf8_next(t + a, n - a, &cp);
            if (cp != d->strip_cp)
                break;
            a += m;
        }
        for (int k = 0; k < d->stop && b > a; k++) {
            size_t m = 1;
            while (m < b - a && ((unsigned char)t[b - m] & 0xC0) == 0x80)
                m++;
            gf_utf8_next(t + b - m, m, &cp);
            if (cp != d->strip_cp)
                break;
            b -= m;
        }
        rc = gf_strlist_push(out, t + a, b - a);
    }
    return rc;
}

struct s_rep {
    const char *s;
    size_t prev;
    const char *content;
    struct gf_buf *b;
};

static int s_rep_one(size_t start, size_t end, void *ctx)
{
    struct s_rep *r = ctx;
    if (gf_buf_put(r->b, r->s + r->prev, start - r->prev) ||
        gf_buf_put(r->b, r->content, strlen(r->content)))
        return GF_ENOMEM;
    r->prev = end;
    return 0;
}

static int s_replace(const struct gf_decoder *d, struct gf_strlist *l, struct gf_strlist *out)
{
    struct gf_buf b = {0};
    int rc = 0;
    for (size_t i = 0; !rc && i < l->n; i++) {
        b.len = 0;
        struct s_rep r = {S_TOK(l, i), 0, d->content, &b};
        rc = gf_pattern_each(&d->pat, r.s, l->len[i], s_rep_one, &r);
        if (!rc)
            rc = gf_buf_put(&b, r.s + r.prev, l->len[i] - r.prev);
        if (!rc)
            rc = gf_strlist_push(out, b.p, b.len);
    }
    gf_buf_release(&b);
    return rc;
}

int gf_decoder_apply(const struct gf_decoder *d, struct gf_strlist *l)
{
    if (d->type == GF_DEC_SEQUENCE) {
        for (size_t i = 0; i < d->n_sub; i++) {
            int rc = gf_decoder_apply(&d->sub[i], l);
            if (rc)
                return rc;
        }
        return 0;
    }
    struct gf_strlist out = {0};
    int rc = GF_EINVAL;
    switch (d->type) {
    case GF_DEC_BYTELEVEL:
        rc = s_bytelevel(l, &out);
        break;
    case GF_DEC_METASPACE:
        rc = s_metaspace(d, l, &out);
        break;
    case GF_DEC_BYTEFALLBACK:
        rc = s_bytefallback(l, &out);
        break;
    case GF_DEC_FUSE:
        rc = s_fuse(l, &out);
        break;
    case GF_DEC_STRIP:
        rc = s_strip(d, l, &out);
        break;
    case GF_DEC_REPLACE:
        rc = s_replace(d, l, &out);
        break;
    case GF_DEC_SEQUENCE:
        break;
    }
    if (!rc)
        s_swap(l, &out);
    gf_strlist_release(&out);
    return rc;
}

void gf_decoder_release(struct gf_decoder *d)
{
    for (size_t i = 0; i < d->n_sub; i++)
        gf_decoder_release(&d->sub[i]);
    free(d->sub);
    free(d->content);
    gf_pattern_release(&d->pat);
    memset(d, 0, sizeof *d);
}

int gf_tokenizer_decode(const gf_tokenizer_t *tok, const int32_t *ids, size_t n, int skip_special,
                        char **text_p, size_t *len_p)
{
    struct gf_strlist l = {0};
    struct gf_buf out = {0};
    int rc = 0;
    *text_p = NULL;
    for (size_t i = 0; !rc && i < n; i++) {
        const char *t = gf_tokenizer_id_token(tok, ids[i]);
        if (!t || (skip_special && gf_tokenizer_is_special(tok, ids[i])))
            continue;
        rc = gf_strlist_push(&l, t, strlen(t));
    }
    if (!rc && tok->has_decoder)
        rc = gf_decoder_apply(&tok->decoder, &l);
    for (size_t i = 0; !rc && i < l.n; i++) {
        if (!tok->has_decoder && i)
            rc = gf_buf_put(&out, " ", 1);
        if (!rc)
            rc = gf_buf_put(&out, S_TOK(&l, i), l.len[i]);
    }
    if (!rc)
        rc = gf_buf_put(&out, "", 0);
    gf_strlist_release(&l);
    if (rc) {
        gf_buf_release(&out);
        return rc;
    }
    *text_p = out.p;
    if (len_p)
        *len_p = out.len;
    return 0;
}

/* --- streaming ------------------------------------------------------------------------------ */

struct gf_tok_stream {
    const gf_tokenizer_t *tok;
    int skip;
    struct gf_ids ids; /* the window: ids from prefix_index's start */
    char *prefix;      /* decode of the window's first prefix_index ids */
    size_t prefix_len, prefix_index;
};

gf_tok_stream_t *gf_tok_stream_new(const gf_tokenizer_t *tok, int skip_special)
{
    gf_tok_stream_t *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->tok = tok;
    st->skip = skip_special;
    return st;
}

void gf_tok_stream_destroy(gf_tok_stream_t **st_p)
{
    if (!st_p || !*st_p)
        return;
    gf_ids_release(&(*st_p)->ids);
    free((*st_p)->prefix);
    free(*st_p);
    *st_p = NULL;
}

static bool s_ends_incomplete(const char *s, size_t n)
{
    return n >= 3 && memcmp(s + n - 3, "\xEF\xBF\xBD", 3) == 0;
}

int gf_tok_stream_step(gf_tok_stream_t *st, int32_t id, char **text_p, size_t *len_p)
{
    char *full = NULL;
    size_t n = 0;
    *text_p = NULL;
    *len_p = 0;
    int rc = gf_ids_push(&st->ids, id);
    if (!rc)
        rc = gf_tokenizer_decode(st->tok, st->ids.v, st->ids.n, st->skip, &full, &n);
    if (rc)
        return rc;
    if (n <= st->prefix_len || s_ends_incomplete(full, n)) {
        free(full);
        return 0;
    }
    if (memcmp(full, st->prefix ? st->prefix : "", st->prefix_len) != 0) {
        free(full);
        return GF_EINVAL; /* a decoder that rewrites earlier text cannot stream */
    }
    size_t new_len = n - st->prefix_len;
    memmove(full, full + st->prefix_len, new_len + 1);
    /* slide the window: keep the ids after the old prefix */
    size_t new_index = st->ids.n - st->prefix_index;
    memmove(st->ids.v, st->ids.v + st->prefix_index, new_index * sizeof *st->ids.v);
    st->ids.n = new_index;
    free(st->prefix);
    st->prefix = NULL;
    rc = gf_tokenizer_decode(st->tok, st->ids.v, st->ids.n, st->skip, &st->prefix, &st->prefix_len);
    if (rc) {
        free(full);
        return rc;
    }
    st->prefix_index = new_index;
    *text_p = full;
    *len_p = new_len;
    return 0;
}

int gf_tok_stream_finish(gf_tok_stream_t *st, char **text_p, size_t *len_p)
{
    char *full = NULL;
    size_t n = 0;
    *text_p = NULL;
    *len_p = 0;
    int rc = gf_tokenizer_decode(st->tok, st->ids.v, st->ids.n, st->skip, &full, &n);
    if (rc)
        return rc;
    if (memcmp(full, st->prefix ? st->prefix : "", st->prefix_len < n ? st->prefix_len : n) ||
        n < st->prefix_len) {
        /* the held-back ids changed how earlier ones decode (ByteFallback decodes a run of byte
         * tokens as a whole): what is left is the decode of the held-back ids alone */
        free(full);
        rc = gf_tokenizer_decode(st->tok, st->ids.v + st->prefix_index,
                                 st->ids.n - st->prefix_index, st->skip, &full, &n);
        if (rc)
            return rc;
    } else {
        n -= st->prefix_len;
        memmove(full, full + st->prefix_len, n + 1);
    }
    if (n) {
        *text_p = full;
        *len_p = n;
    } else {
        free(full);
    }
    st->ids.n = 0;
    st->prefix_index = 0;
    free(st->prefix);
    st->prefix = NULL;
    st->prefix_len = 0;
    return 0;
}
