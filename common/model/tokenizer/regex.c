/* regex.c — Split/Replace patterns: literal strings, or regexes run with PCRE2 so that they match
 * what HF tokenizers (Oniguruma, Ruby syntax) matches for the same pattern text.
 *
 * Differences bridged here: Oniguruma's \s includes U+0085, its \w is letters, marks, numbers
 * and connectors, its \h is a hex digit, and ^/$ always work per line (PCRE2_MULTILINE).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/tokenizer/tok_internal.h"

#define S_WORD "\\p{L}\\p{M}\\p{N}\\p{Pc}"

/* Rewrites the escapes whose meaning differs between Oniguruma and PCRE2. */
static int s_translate(const char *src, struct gf_buf *out)
{
    bool in_class = false;
    size_t n = strlen(src);
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        const char *rep = NULL;
        if (c == '\\' && i + 1 < n) {
            char e = src[i + 1];
            if (e == 's')
                rep = in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
            else if (e == 'S' && !in_class)
                rep = "[^\\s\\x{85}]";
            else if (e == 'w')
                rep = in_class ? S_WORD : "[" S_WORD "]";
            else if (e == 'W' && !in_class)
                rep = "[^" S_WORD "]";
            else if (e == 'h')
                rep = in_class ? "0-9a-fA-F" : "[0-9a-fA-F]";
            else if (e == 'H' && !in_class)
                rep = "[^0-9a-fA-F]";
            if (rep) {
                if (gf_buf_put(out, rep, strlen(rep)))
                    return GF_ENOMEM;
            } else if (gf_buf_put(out, src + i, 2)) {
                return GF_ENOMEM;
            }
            i++;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = true;
            if (gf_buf_put(out, "[", 1))
                return GF_ENOMEM;
            /* a ']' first in the class (after an optional '^') is literal */
            if (i + 1 < n && src[i + 1] == '^') {
                if (gf_buf_put(out, "^", 1))
                    return GF_ENOMEM;
                i++;
            }
            if (i + 1 < n && src[i + 1] == ']') {
                if (gf_buf_put(out, "]", 1))
                    return GF_ENOMEM;
                i++;
            }
            continue;
        }
        if (in_class && c == '[' && i + 1 < n && src[i + 1] == ':') {
            const char *end = strstr(src + i + 2, ":]");
            if (end) {
                size_t k = (size_t)(end + 2 - (src + i));
                if (gf_buf_put(out, src + i, k))
                    return GF_ENOMEM;
                i += k - 1;
                continue;
            }
        }
        if (in_class && c == ']')
            in_class = false;
        if (gf_buf_put(out, &c, 1))
            return GF_ENOMEM;
    }
    return 0;
}

int gf_pattern_regex(struct gf_pattern *pat, const char *src, char *why, size_t whylen)
{
    struct gf_buf tr = {0};
    pcre2_compile_context *cc = NULL;
    int rc = s_translate(src, &tr);
    if (rc)
        goto out;
    cc = pcre2_compile_context_create(NULL);
    if (!cc) {
        rc = GF_ENOMEM;
        goto out;
    }
    pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
    int ec;
    PCRE2_SIZE eo;
    memset(pat, 0, sizeof *pat);
    pat->re = pcre2_compile((PCRE2_SPTR)tr.p, tr.len, PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &ec,
                            &eo, cc);
    if (!pat->re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        snprintf(why, whylen, "regex '%s' does not compile: %s at offset %zu", src, (char *)msg,
                 (size_t)eo);
        rc = GF_EPARSE;
        goto out;
    }
    pcre2_jit_compile(pat->re, PCRE2_JIT_COMPLETE); /* without JIT it still works, slower */
out:
    pcre2_compile_context_free(cc);
    gf_buf_release(&tr);
    return rc;
}

int gf_pattern_literal(struct gf_pattern *pat, const char *s, size_t len)
{
    memset(pat, 0, sizeof *pat);
    pat->lit = malloc(len + 1);
    if (!pat->lit)
        return GF_ENOMEM;
    memcpy(pat->lit, s, len);
    pat->lit[len] = 0;
    pat->lit_len = len;
    return 0;
}

void gf_pattern_release(struct gf_pattern *pat)
{
    free(pat->lit);
    if (pat->re)
        pcre2_code_free(pat->re);
    memset(pat, 0, sizeof *pat);
}

static int s_each_literal(const struct gf_pattern *pat, const char *s, size_t len, gf_match_fn fn,
                          void *ctx)
{
    if (!pat->lit_len)
        return 0;
    size_t i = 0;
    while (i + pat->lit_len <= len) {
        const char *hit = memmem(s + i, len - i, pat->lit, pat->lit_len);
        if (!hit)
            break;
        size_t at = (size_t)(hit - s);
        int rc = fn(at, at + pat->lit_len, ctx);
        if (rc)
            return rc;
        i = at + pat->lit_len;
    }
    return 0;
}

static pthread_key_t s_md_key;
static pthread_once_t s_md_once = PTHREAD_ONCE_INIT;

static void s_md_free(void *md)
{
    pcre2_match_data_free(md);
}

static void s_md_key_init(void)
{
    pthread_key_create(&s_md_key, s_md_free); /* freed when the thread ends */
}

int gf_pattern_each(const struct gf_pattern *pat, const char *s, size_t len, gf_match_fn fn,
                    void *ctx)
{
    if (!pat->re)
        return s_each_literal(pat, s, len, fn, ctx);
    /* one match block per thread, kept: this runs once per piece per Split */
    pthread_once(&s_md_once, s_md_key_init);
    pcre2_match_data *md = pthread_getspecific(s_md_key);
    if (!md) {
        if (!(md = pcre2_match_data_create(1, NULL)))
            return GF_ENOMEM;
        pthread_setspecific(s_md_key, md);
    }
    int rc = 0;
    size_t pos = 0, last_end = (size_t)-1;
    while (pos <= len) {
        int m = pcre2_match(pat->re, (PCRE2_SPTR)s, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (m == PCRE2_ERROR_NOMATCH)
            break;
        if (m < 0) {
            rc = GF_EINVAL;
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t a = ov[0], b = ov[1];
        if (a == b && a == last_end) {
            /* no empty match right after the previous one: step one character */
            if (pos >= len)
                break;
            uint32_t cp;
            pos += gf_utf8_next(s + pos, len - pos, &cp);
            continue;
        }
        rc = fn(a, b, ctx);
        if (rc)
            break;
        pos = last_end = b;
    }
    return rc;
}
