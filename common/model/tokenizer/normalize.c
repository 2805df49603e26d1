/* normalize.c — HF normalizers: Sequence, NFC/NFD/NFKC/NFKD, Lowercase, Replace, Prepend, Strip,
 * StripAccents. Each maps a string to a string; offsets are not tracked (ids are all we need). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/error.h"
#include "model/tokenizer/tok_internal.h"

static int s_unicode(const char *s, size_t len, int opts, struct gf_buf *out)
{
    utf8proc_uint8_t *res = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &res,
                                      (utf8proc_option_t)(opts | UTF8PROC_STABLE));
    if (n < 0)
        return n == UTF8PROC_ERROR_NOMEM ? GF_ENOMEM : GF_EINVAL;
    int rc = gf_buf_put(out, res, (size_t)n);
    free(res);
    return rc;
}

/* Rust char::to_lowercase, one character at a time (HF does not apply final-sigma rules). */
static int s_lowercase(const char *s, size_t len, struct gf_buf *out)
{
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += gf_utf8_next(s + i, len - i, &cp);
        char tmp[8];
        size_t n;
        if (cp == 0x130) { /* the one unconditional multi-character lowercase mapping */
            memcpy(tmp, "i\xCC\x87", 3);
            n = 3;
        } else {
            n = gf_utf8_put(tmp, (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp));
        }
        if (gf_buf_put(out, tmp, n))
            return GF_ENOMEM;
    }
    return 0;
}

struct s_replace {
    const char *s;
    size_t prev;
    const char *content;
    struct gf_buf *out;
};

static int s_replace_one(size_t start, size_t end, void *ctx)
{
    struct s_replace *r = ctx;
    if (gf_buf_put(r->out, r->s + r->prev, start - r->prev) ||
        gf_buf_put(r->out, r->content, strlen(r->content)))
        return GF_ENOMEM;
    r->prev = end;
    return 0;
}

static int s_replace(const struct gf_norm *n, const char *s, size_t len, struct gf_buf *out)
{
    struct s_replace r = {s, 0, n->content, out};
    int rc = gf_pattern_each(&n->pat, s, len, s_replace_one, &r);
    if (rc)
        return rc;
    return gf_buf_put(out, s + r.prev, len - r.prev);
}

static int s_strip(const struct gf_norm *n, const char *s, size_t len, struct gf_buf *out)
{
    size_t a = 0, b = len;
    uint32_t cp;
    while (n->left && a < b) {
        size_t k = gf_utf8_next(s + a, b - a, &cp);
        if (!gf_uc_is_whitespace(cp))
            break;
        a += k;
    }
    while (n->right && b > a) {
        size_t k = 1;
        while (k < b - a && ((unsigned char)s[b - k] & 0xC0) == 0x80)
            k++;
        gf_utf8_next(s + b - k, k, &cp);
        if (!gf_uc_is_whitespace(cp))
            break;
        b -= k;
    }
    return gf_buf_put(out, s + a, b - a);
}

static int s_strip_accents(const char *s, size_t len, struct gf_buf *out)
{
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = gf_utf8_next(s + i, len - i, &cp);
        utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
        bool mark = c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC ||
                    c == UTF8PROC_CATEGORY_ME; /* HF drops every combining mark */
        if (!mark && gf_buf_put(out, s + i, k))
            return GF_ENOMEM;
        i += k;
    }
    return 0;
}

static int s_apply_one(const struct gf_norm *n, const char *s, size_t len, struct gf_buf *out)
{
    switch (n->type) {
    case GF_NORM_NFC:
        return s_unicode(s, len, UTF8PROC_COMPOSE, out);
    case GF_NORM_NFD:
        return s_unicode(s, len, UTF8PROC_DECOMPOSE, out);
    case GF_NORM_NFKC:
        return s_unicode(s, len, UTF8PROC_COMPOSE | UTF8PROC_COMPAT, out);
    case GF_NORM_NFKD:
        return s_unicode(s, len, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, out);
    case GF_NORM_LOWERCASE:
        return s_lowercase(s, len, out);
    case GF_NORM_REPLACE:
        return s_replace(n, s, len, out);
    case GF_NORM_PREPEND:
        if (len && gf_buf_put(out, n->content, strlen(n->content)))
            return GF_ENOMEM;
        return gf_buf_put(out, s, len);
    case GF_NORM_STRIP:
        return s_strip(n, s, len, out);
    case GF_NORM_STRIP_ACCENTS:
        return s_strip_accents(s, len, out);
    case GF_NORM_SEQUENCE:
        break;
    }
    return GF_EINVAL;
}

/* How many leading bytes of the result come from the original first character, given that
 * `olen` leading bytes of the input do: the prefix is normalized alone (with the combining marks
 * that follow it, which compose with it) and measured. */
static int s_origin(const struct gf_norm *n, const char *s, size_t len, size_t olen, size_t out_len,
                    size_t *res)
{
    *res = 0;
    if (!olen || !len)
        return 0;
    if (n->type == GF_NORM_PREPEND) {
        *res = olen + strlen(n->content);
        return 0;
    }
    if (n->type == GF_NORM_STRIP) {
        size_t k = 0;
        uint32_t cp;
        while (n->left && k < len) {
            size_t m = gf_utf8_next(s + k, len - k, &cp);
            if (!gf_uc_is_whitespace(cp))
                break;
            k += m;
        }
        *res = olen > k ? olen - k : 0;
    } else {
        /* the first character alone, and with the marks after it: if they composed, the
         * composed character still starts at the original offset 0 */
        size_t p0 = olen < len ? olen : len, p = p0;
        while (p < len) {
            uint32_t cp;
            size_t m = gf_utf8_next(s + p, len - p, &cp);
            if (!utf8proc_get_property((utf8proc_int32_t)cp)->combining_class)
                break;
            p += m;
        }
        struct gf_buf a = {0}, b = {0}, c = {0};
        int rc = s_apply_one(n, s, p0, &a);
        if (!rc && p > p0)
            rc = s_apply_one(n, s, p, &b);
        if (!rc && p > p0)
            rc = s_apply_one(n, s + p0, p - p0, &c);
        bool separate =
            p == p0 || (b.len == a.len + c.len && (!a.len || !memcmp(b.p, a.p, a.len)) &&
                        (!c.len || !memcmp(b.p + a.len, c.p, c.len)));
        *res = separate ? a.len : b.len;
        gf_buf_release(&a);
        gf_buf_release(&b);
        gf_buf_release(&c);
        if (rc)
            return rc;
    }
    if (*res > out_len)
        *res = out_len;
    return 0;
}

int gf_norm_apply(const struct gf_norm *n, const char *s, size_t len, struct gf_buf *out,
                  size_t *olen)
{
    out->len = 0;
    if (n->type != GF_NORM_SEQUENCE) {
        int rc = s_apply_one(n, s, len, out);
        if (!rc && olen)
            rc = s_origin(n, s, len, *olen, out->len, olen);
        return rc;
    }
    /* a sequence ping-pongs between out and a scratch buffer */
    struct gf_buf tmp = {0};
    int rc = gf_buf_put(out, s, len);
    for (size_t i = 0; !rc && i < n->n_sub; i++) {
        tmp.len = 0;
        rc = gf_norm_apply(&n->sub[i], out->p, out->len, &tmp, olen);
        struct gf_buf t = *out;
        *out = tmp;
        tmp = t;
    }
    gf_buf_release(&tmp);
    return rc;
}

void gf_norm_release(struct gf_norm *n)
{
    for (size_t i = 0; i < n->n_sub; i++)
        gf_norm_release(&n->sub[i]);
    free(n->sub);
    free(n->content);
    gf_pattern_release(&n->pat);
    memset(n, 0, sizeof *n);
}
