/* utf8.c — UTF-8 decoding, validation, lossy repair and the character classes HF relies on.
 *
 * The classes follow Rust's char methods (HF tokenizers is Rust), read from utf8proc's tables.
 */
#include <utf8proc.h>

#include "core/error.h"
#include "model/tokenizer/tok_internal.h"

size_t gf_utf8_next(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80 || len < 2) {
        *cp = u[0];
        return 1;
    }
    if (u[0] < 0xE0) {
        *cp = ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
        return 2;
    }
    if (u[0] < 0xF0 || len < 4) {
        *cp = ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
        return 3;
    }
    *cp = ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
          ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
    return 4;
}

size_t gf_utf8_put(char *dst, uint32_t cp)
{
    unsigned char *d = (unsigned char *)dst;
    if (cp < 0x80) {
        d[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (unsigned char)(0xC0 | (cp >> 6));
        d[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (unsigned char)(0xE0 | (cp >> 12));
        d[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (unsigned char)(0xF0 | (cp >> 18));
    d[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid sequence at s, 0 when invalid; *need is set to the bytes a complete
 * sequence would take when s is a valid but truncated prefix. */
static size_t s_seq(const unsigned char *s, size_t len, size_t *need)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    *need = 0;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if (i >= len) {
            *need = n;
            return 0;
        }
        unsigned char a = i == 1 ? lo : 0x80, b = i == 1 ? hi : 0xBF;
        if (s[i] < a || s[i] > b)
            return 0;
    }
    return n;
}

size_t gf_utf8_valid_prefix(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, need;
    while (i < len) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = s_seq(u + i, len - i, &need);
        if (!n)
            break;
        i += n;
    }
    return i;
}

int gf_utf8_lossy(const char *s, size_t len, struct gf_buf *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, start = 0, need;
    while (i < len) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = s_seq(u + i, len - i, &need);
        if (n) {
            i += n;
            continue;
        }
        /* maximal subpart: the lead byte plus the continuation bytes that fit it */
        size_t bad = 1;
        unsigned char c = u[i];
        size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 1;
        if (want > 1 && c <= 0xF4) {
            while (bad < want && i + bad < len) {
                unsigned char lo = 0x80, hi = 0xBF;
                if (bad == 1 && c == 0xE0)
                    lo = 0xA0;
                if (bad == 1 && c == 0xED)
                    hi = 0x9F;
                if (bad == 1 && c == 0xF0)
                    lo = 0x90;
                if (bad == 1 && c == 0xF4)
                    hi = 0x8F;
                if (u[i + bad] < lo || u[i + bad] > hi)
                    break;
                bad++;
            }
        }
        if (gf_buf_put(out, s + start, i - start) || gf_buf_put(out, "\xEF\xBF\xBD", 3))
            return GF_ENOMEM;
        i += bad;
        start = i;
    }
    return gf_buf_put(out, s + start, len - start);
}

bool gf_uc_is_whitespace(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

bool gf_uc_is_numeric(uint32_t cp)
{
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

bool gf_uc_is_word(uint32_t cp)
{
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    if (c == UTF8PROC_CATEGORY_NO)
        return false;
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_PC) || cp == 0x200C || cp == 0x200D;
}

bool gf_uc_is_punctuation(uint32_t cp)
{
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}
