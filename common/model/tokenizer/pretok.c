/* pretok.c — HF pre-tokenizers: Sequence, Split (every behavior, invert), ByteLevel, Metaspace,
 * Digits, Whitespace, WhitespaceSplit, Punctuation. Each splits the pieces it is given; empty
 * pieces are dropped, as HF drops them. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/grow.h"
#include "model/tokenizer/tok_internal.h"

/* GPT-2 byte -> code point: printable Latin-1 maps to itself, the rest to 256 + n in order. */
char gf_byte_char[256][3];
uint8_t gf_byte_char_len[256];
static uint16_t s_byte_cp[256];
static int16_t s_cp_byte[324];
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void s_init_bytes(void)
{
    int n = 0;
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        s_byte_cp[b] = (uint16_t)(keep ? b : 256 + n++);
    }
    for (int i = 0; i < 324; i++)
        s_cp_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        s_cp_byte[s_byte_cp[b]] = (int16_t)b;
        gf_byte_char_len[b] = (uint8_t)gf_utf8_put(gf_byte_char[b], s_byte_cp[b]);
    }
}

void gf_byte_init(void)
{
    pthread_once(&s_once, s_init_bytes);
}

int gf_byte_of_char(uint32_t cp)
{
    gf_byte_init();
    return cp < 324 ? s_cp_byte[cp] : -1;
}

struct s_vec {
    struct gf_piece *v;
    size_t n, cap;
};

static int s_vec_push(struct s_vec *o, size_t off, size_t len, size_t olen)
{
    if (!len)
        return 0;
    if (gf_grow((void **)&o->v, &o->cap, o->n + 1, sizeof *o->v) != 0)
        return GF_ENOMEM;
    o->v[o->n++] = (struct gf_piece){off, len, olen};
    return 0;
}

/* matches of one piece, HF find_matches: covering spans flagged match / not */
struct s_span {
    size_t a, b;
    bool m;
};
struct s_spans {
    struct s_span *v;
    size_t n, cap, prev;
};

static int s_spans_add(struct s_spans *sp, size_t a, size_t b, bool m)
{
    if (gf_grow((void **)&sp->v, &sp->cap, sp->n + 1, sizeof *sp->v) != 0)
        return GF_ENOMEM;
    sp->v[sp->n++] = (struct s_span){a, b, m};
    return 0;
}

static int s_on_match(size_t a, size_t b, void *ctx)
{
    struct s_spans *sp = ctx;
    if (sp->prev != a && s_spans_add(sp, sp->prev, a, false))
        return GF_ENOMEM;
    sp->prev = b;
    return s_spans_add(sp, a, b, true);
}

typedef bool (*s_char_pred)(uint32_t cp);

static int s_find(const struct gf_pattern *pat, s_char_pred pred, const char *s, size_t len,
                  struct s_spans *sp)
{
    sp->n = 0;
    sp->prev = 0;
    if (!len)
        return s_spans_add(sp, 0, 0, false);
    int rc = 0;
    if (pat) {
        rc = gf_pattern_each(pat, s, len, s_on_match, sp);
    } else {
        for (size_t i = 0; !rc && i < len;) {
            uint32_t cp;
            size_t k = gf_utf8_next(s + i, len - i, &cp);
            if (pred(cp))
                rc = s_on_match(i, i + k, sp);
            i += k;
        }
    }
    if (!rc && sp->prev != len)
        rc = s_spans_add(sp, sp->prev, len, false);
    return rc;
}

/* Applies a split behavior to the spans of the piece at `base` and pushes the results. */
static int s_behave(struct s_spans *sp, enum gf_split_behavior beh, bool invert, size_t base,
                    size_t olen, struct s_vec *out)
{
    if (invert)
        for (size_t i = 0; i < sp->n; i++)
            sp->v[i].m = !sp->v[i].m;
    size_t k = 0; /* compacted result in sp->v[0..k) */
    bool prev_m = false;
    switch (beh) {
    case GF_SPLIT_REMOVED:
        for (size_t i = 0; i < sp->n; i++)
            if (!sp->v[i].m)
                sp->v[k++] = sp->v[i];
        break;
    case GF_SPLIT_ISOLATED:
        k = sp->n;
        break;
    case GF_SPLIT_MERGED_PREV:
        for (size_t i = 0; i < sp->n; i++) {
            if (sp->v[i].m && !prev_m && k)
                sp->v[k - 1].b = sp->v[i].b;
            else
                sp->v[k++] = sp->v[i];
            prev_m = sp->v[i].m;
        }
        break;
    case GF_SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < sp->n; i++) {
            if (sp->v[i].m == prev_m && k)
                sp->v[k - 1].b = sp->v[i].b;
            else
                sp->v[k++] = sp->v[i];
            prev_m = sp->v[i].m;
        }
        break;
    case GF_SPLIT_MERGED_NEXT: {
        /* right to left, then the result is reversed back */
        size_t w = sp->n; /* results grow down from the end */
        for (size_t i = sp->n; i-- > 0;) {
            struct s_span cur = sp->v[i];
            if (cur.m && !prev_m && w < sp->n)
                sp->v[w].a = cur.a;
            else
                sp->v[--w] = cur;
            prev_m = cur.m;
        }
        memmove(sp->v, sp->v + w, (sp->n - w) * sizeof *sp->v);
        k = sp->n - w;
        break;
    }
    }
    for (size_t i = 0; i < k; i++)
        if (s_vec_push(out, base + sp->v[i].a, sp->v[i].b - sp->v[i].a,
                       olen > sp->v[i].a ? olen - sp->v[i].a : 0))
            return GF_ENOMEM;
    return 0;
}

static bool s_is_ws(uint32_t cp)
{
    return gf_uc_is_whitespace(cp);
}

static bool s_is_punc(uint32_t cp)
{
    return (cp < 0x80 && cp > 0x20 && cp != 0x7F &&
            !((cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z'))) ||
           gf_uc_is_punctuation(cp);
}

/* Splits every piece with a pattern or a character class. */
static int s_split_all(struct gf_pieces *ps, const struct gf_pattern *pat, s_char_pred pred,
                       enum gf_split_behavior beh, bool invert)
{
    struct s_vec out = {0};
    struct s_spans sp = {0};
    int rc = 0;
    for (size_t i = 0; !rc && i < ps->n; i++) {
        struct gf_piece p = ps->v[i];
        rc = s_find(pat, pred, ps->arena.p + p.off, p.len, &sp);
        if (!rc)
            rc = s_behave(&sp, beh, invert, p.off, p.olen, &out);
    }
    free(sp.v);
    if (rc) {
        free(out.v);
        return rc;
    }
    free(ps->v);
    ps->v = out.v;
    ps->n = out.n;
    ps->cap = out.cap;
    return 0;
}

/* Appends `pre` + the piece's text with every `from` byte sequence replaced by `to`. */
static int s_rewrite(struct gf_pieces *ps, struct gf_piece *p, const char *pre, size_t pre_len,
                     const char *from, size_t from_len, const char *to, size_t to_len)
{
    size_t at = ps->arena.len, off = p->off, len = p->len;
    if (gf_buf_put(&ps->arena, pre, pre_len))
        return GF_ENOMEM;
    size_t i = 0, prev = 0;
    while (from_len && i + from_len <= len) {
        if (memcmp(ps->arena.p + off + i, from, from_len) == 0) {
            /* the arena may move while growing: copy through offsets */
            struct gf_buf *a = &ps->arena;
            size_t chunk = i - prev;
            if (gf_buf_put(a, NULL, chunk + to_len))
                return GF_ENOMEM;
            memmove(a->p + a->len - chunk - to_len, a->p + off + prev, chunk);
            memcpy(a->p + a->len - to_len, to, to_len);
            i += from_len;
            prev = i;
        } else {
            i++;
        }
    }
    size_t chunk = len - prev;
    if (gf_buf_put(&ps->arena, NULL, chunk))
        return GF_ENOMEM;
    memmove(ps->arena.p + ps->arena.len - chunk, ps->arena.p + off + prev, chunk);
    p->off = at;
    p->len = ps->arena.len - at;
    if (p->olen)
        p->olen = p->len;
    return 0;
}

static int s_bytelevel(const struct gf_pretok *p, struct gf_pieces *ps)
{
    pthread_once(&s_once, s_init_bytes);
    int rc;
    if (p->add_prefix_space)
        for (size_t i = 0; i < ps->n; i++)
            if (ps->arena.p[ps->v[i].off] != ' ' &&
                (rc = s_rewrite(ps, &ps->v[i], " ", 1, NULL, 0, NULL, 0)))
                return rc;
    if (p->use_regex && (rc = s_split_all(ps, &p->pat, NULL, GF_SPLIT_ISOLATED, false)))
        return rc;
    for (size_t i = 0; i < ps->n; i++) {
        struct gf_piece *pc = &ps->v[i];
        size_t at = ps->arena.len;
        if (gf_buf_put(&ps->arena, NULL, pc->len * 2))
            return GF_ENOMEM;
        char *d = ps->arena.p + at;
        const unsigned char *s = (const unsigned char *)ps->arena.p + pc->off;
        for (size_t k = 0; k < pc->len; k++) {
            memcpy(d, gf_byte_char[s[k]], gf_byte_char_len[s[k]]);
            d += gf_byte_char_len[s[k]];
        }
        ps->arena.len = (size_t)(d - ps->arena.p);
        pc->off = at;
        pc->len = ps->arena.len - at;
    }
    return 0;
}

static int s_metaspace(const struct gf_pretok *p, struct gf_pieces *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        struct gf_piece *pc = &ps->v[i];
        bool starts = pc->len >= p->rep_len && !memcmp(ps->arena.p + pc->off, p->rep, p->rep_len);
        /* after the replacement a leading space becomes the replacement too */
        bool lead_space = pc->len && ps->arena.p[pc->off] == ' ';
        bool pre = !(starts || lead_space) && (p->prepend == GF_PREPEND_ALWAYS ||
                                               (p->prepend == GF_PREPEND_FIRST && pc->olen));
        int rc = s_rewrite(ps, pc, p->rep, pre ? p->rep_len : 0, " ", 1, p->rep, p->rep_len);
        if (rc)
            return rc;
    }
    if (!p->split)
        return 0;
    struct gf_pattern lit = {.lit = (char *)p->rep, .lit_len = p->rep_len};
    return s_split_all(ps, &lit, NULL, GF_SPLIT_MERGED_NEXT, false);
}

/* Whitespace: \w+|[^\w\s]+ with the regex crate's classes (\w takes joiners, not No numbers):
 * maximal runs of word characters or of other non-space characters. */
static int s_whitespace(struct gf_pieces *ps)
{
    struct s_vec out = {0};
    int rc = 0;
    for (size_t i = 0; !rc && i < ps->n; i++) {
        struct gf_piece p = ps->v[i];
        const char *s = ps->arena.p + p.off;
        size_t k = 0, start = 0;
        int cls = 0; /* 0 space, 1 word, 2 other */
        while (!rc && k <= p.len) {
            uint32_t cp = 0;
            size_t m = k < p.len ? gf_utf8_next(s + k, p.len - k, &cp) : 0;
            int c = k == p.len || gf_uc_is_whitespace(cp) ? 0 : gf_uc_is_word(cp) ? 1 : 2;
            if (c != cls) {
                if (cls)
                    rc = s_vec_push(&out, p.off + start, k - start,
                                    p.olen > start ? p.olen - start : 0);
                start = k;
                cls = c;
            }
            if (k == p.len)
                break;
            k += m;
        }
    }
    if (rc) {
        free(out.v);
        return rc;
    }
    free(ps->v);
    ps->v = out.v;
    ps->n = out.n;
    ps->cap = out.cap;
    return 0;
}

int gf_pretok_apply(const struct gf_pretok *p, struct gf_pieces *ps)
{
    switch (p->type) {
    case GF_PRE_SEQUENCE:
        for (size_t i = 0; i < p->n_sub; i++) {
            int rc = gf_pretok_apply(&p->sub[i], ps);
            if (rc)
                return rc;
        }
        return 0;
    case GF_PRE_SPLIT:
        return s_split_all(ps, &p->pat, NULL, p->behavior, p->invert);
    case GF_PRE_BYTELEVEL:
        return s_bytelevel(p, ps);
    case GF_PRE_METASPACE:
        return s_metaspace(p, ps);
    case GF_PRE_DIGITS:
        return s_split_all(ps, NULL, gf_uc_is_numeric,
                           p->individual_digits ? GF_SPLIT_ISOLATED : GF_SPLIT_CONTIGUOUS, false);
    case GF_PRE_WHITESPACE:
        return s_whitespace(ps);
    case GF_PRE_WHITESPACE_SPLIT:
        return s_split_all(ps, NULL, s_is_ws, GF_SPLIT_REMOVED, false);
    case GF_PRE_PUNCTUATION:
        return s_split_all(ps, NULL, s_is_punc, p->behavior, false);
    }
    return GF_EINVAL;
}

void gf_pretok_release(struct gf_pretok *p)
{
    for (size_t i = 0; i < p->n_sub; i++)
        gf_pretok_release(&p->sub[i]);
    free(p->sub);
    gf_pattern_release(&p->pat);
    memset(p, 0, sizeof *p);
}
