/* tokenizer_json.c — reads a HuggingFace tokenizer.json into a gf_tokenizer.
 *
 * Every component is checked against what this library implements; anything else is refused
 * with its JSON path ("pre_tokenizer.pretokenizers[2]: unsupported type 'Foo'"), so a file is
 * never half-understood.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/grow.h"
#include "model/tokenizer/tok_internal.h"

#define S_GPT2_RE                                                                                  \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

struct s_ld {
    const char *name;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 4, 5))) static int s_fail(struct s_ld *ld, int code, const char *path,
                                                        const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(ld->err, ld->errlen, "'%s': %s: %s", ld->name, path, msg);
    return code;
}

static const char *s_type(json_t *o)
{
    return json_is_object(o) ? json_string_value(json_object_get(o, "type")) : NULL;
}

static bool s_bool(json_t *o, const char *key, bool dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static int s_pattern(struct s_ld *ld, json_t *o, const char *path, struct gf_pattern *pat)
{
    json_t *p = json_object_get(o, "pattern");
    json_t *str = json_object_get(p, "String"), *re = json_object_get(p, "Regex");
    if (json_is_string(str))
        return gf_pattern_literal(pat, json_string_value(str), json_string_length(str));
    if (json_is_string(re)) {
        char msg[400];
        int rc = gf_pattern_regex(pat, json_string_value(re), msg, sizeof msg);
        return rc ? s_fail(ld, rc, path, "%s", msg) : 0;
    }
    return s_fail(ld, GF_ESCHEMA, path, "'pattern' must be {\"String\": ...} or {\"Regex\": ...}");
}

static int s_string(struct s_ld *ld, json_t *o, const char *key, const char *path, char **out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        return s_fail(ld, GF_ESCHEMA, path, "'%s' must be a string", key);
    *out = strdup(json_string_value(v));
    return *out ? 0 : GF_ENOMEM;
}

/* --- normalizer -------------------------------------------------------------------------- */

static int s_norm(struct s_ld *ld, json_t *o, const char *path, struct gf_norm *n)
{
    static const struct {
        const char *name;
        enum gf_norm_type type;
    } simple[] = {{"NFC", GF_NORM_NFC},
                  {"NFD", GF_NORM_NFD},
                  {"NFKC", GF_NORM_NFKC},
                  {"NFKD", GF_NORM_NFKD},
                  {"Lowercase", GF_NORM_LOWERCASE},
                  {"StripAccents", GF_NORM_STRIP_ACCENTS}};
    const char *type = s_type(o);
    if (!type)
        return s_fail(ld, GF_ESCHEMA, path, "normalizer without a 'type'");
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (strcmp(type, simple[i].name) == 0) {
            n->type = simple[i].type;
            return 0;
        }
    char sub[256];
    if (strcmp(type, "Sequence") == 0) {
        json_t *arr = json_object_get(o, "normalizers");
        if (!json_is_array(arr))
            return s_fail(ld, GF_ESCHEMA, path, "'normalizers' must be an array");
        n->type = GF_NORM_SEQUENCE;
        n->sub = calloc(json_array_size(arr) + 1, sizeof *n->sub);
        if (!n->sub)
            return GF_ENOMEM;
        for (size_t i = 0; i < json_array_size(arr); i++) {
            snprintf(sub, sizeof sub, "%s.normalizers[%zu]", path, i);
            int rc = s_norm(ld, json_array_get(arr, i), sub, &n->sub[i]);
            n->n_sub = i + 1;
            if (rc)
                return rc;
        }
        return 0;
    }
    if (strcmp(type, "Replace") == 0) {
        n->type = GF_NORM_REPLACE;
        int rc = s_pattern(ld, o, path, &n->pat);
        return rc ? rc : s_string(ld, o, "content", path, &n->content);
    }
    if (strcmp(type, "Prepend") == 0) {
        n->type = GF_NORM_PREPEND;
        return s_string(ld, o, "prepend", path, &n->content);
    }
    if (strcmp(type, "Strip") == 0) {
        n->type = GF_NORM_STRIP;
        n->left = s_bool(o, "strip_left", true);
        n->right = s_bool(o, "strip_right", true);
        return 0;
    }
    return s_fail(ld, GF_EUNSUPPORTED, path, "unsupported normalizer type '%s'", type);
}

/* --- pre-tokenizer ----------------------------------------------------------------------- */

static int s_behavior(struct s_ld *ld, json_t *o, const char *path, enum gf_split_behavior *b)
{
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                  "Contiguous"};
    const char *v = json_string_value(json_object_get(o, "behavior"));
    if (!v) {
        *b = GF_SPLIT_ISOLATED;
        return 0;
    }
    for (int i = 0; i < 5; i++)
        if (strcmp(v, names[i]) == 0) {
            *b = (enum gf_split_behavior)i;
            return 0;
        }
    return s_fail(ld, GF_EUNSUPPORTED, path, "unsupported split behavior '%s'", v);
}

static int s_prepend(struct s_ld *ld, json_t *o, const char *path, enum gf_prepend *p)
{
    const char *v = json_string_value(json_object_get(o, "prepend_scheme"));
    if (!v) { /* the older form */
        *p = s_bool(o, "add_prefix_space", true) ? GF_PREPEND_ALWAYS : GF_PREPEND_NEVER;
        return 0;
    }
    if (strcmp(v, "always") == 0)
        *p = GF_PREPEND_ALWAYS;
    else if (strcmp(v, "first") == 0)
        *p = GF_PREPEND_FIRST;
    else if (strcmp(v, "never") == 0)
        *p = GF_PREPEND_NEVER;
    else
        return s_fail(ld, GF_EUNSUPPORTED, path, "unsupported prepend_scheme '%s'", v);
    return 0;
}

static int s_replacement(struct s_ld *ld, json_t *o, const char *path, char *rep, size_t *len)
{
    const char *v = json_string_value(json_object_get(o, "replacement"));
    size_t n = v ? strlen(v) : 0;
    if (!v || !n || n > 4 || gf_utf8_valid_prefix(v, n) != n)
        return s_fail(ld, GF_ESCHEMA, path, "'replacement' must be one character");
    uint32_t cp;
    if (gf_utf8_next(v, n, &cp) != n)
        return s_fail(ld, GF_ESCHEMA, path, "'replacement' must be one character");
    memcpy(rep, v, n);
    *len = n;
    return 0;
}

static int s_pretok(struct s_ld *ld, json_t *o, const char *path, struct gf_pretok *p)
{
    const char *type = s_type(o);
    char sub[256], msg[400];
    int rc;
    if (!type)
        return s_fail(ld, GF_ESCHEMA, path, "pre-tokenizer without a 'type'");
    if (strcmp(type, "Sequence") == 0) {
        json_t *arr = json_object_get(o, "pretokenizers");
        if (!json_is_array(arr))
            return s_fail(ld, GF_ESCHEMA, path, "'pretokenizers' must be an array");
        p->type = GF_PRE_SEQUENCE;
        p->sub = calloc(json_array_size(arr) + 1, sizeof *p->sub);
        if (!p->sub)
            return GF_ENOMEM;
        for (size_t i = 0; i < json_array_size(arr); i++) {
            snprintf(sub, sizeof sub, "%s.pretokenizers[%zu]", path, i);
            rc = s_pretok(ld, json_array_get(arr, i), sub, &p->sub[i]);
            p->n_sub = i + 1;
            if (rc)
                return rc;
        }
        return 0;
    }
    if (strcmp(type, "Split") == 0) {
        p->type = GF_PRE_SPLIT;
        p->invert = s_bool(o, "invert", false);
        rc = s_behavior(ld, o, path, &p->behavior);
        return rc ? rc : s_pattern(ld, o, path, &p->pat);
    }
    if (strcmp(type, "ByteLevel") == 0) {
        p->type = GF_PRE_BYTELEVEL;
        p->add_prefix_space = s_bool(o, "add_prefix_space", true);
        p->use_regex = s_bool(o, "use_regex", true);
        if (p->use_regex && (rc = gf_pattern_regex(&p->pat, S_GPT2_RE, msg, sizeof msg)))
            return s_fail(ld, rc, path, "%s", msg);
        return 0;
    }
    if (strcmp(type, "Metaspace") == 0) {
        p->type = GF_PRE_METASPACE;
        p->split = s_bool(o, "split", true);
        rc = s_replacement(ld, o, path, p->rep, &p->rep_len);
        return rc ? rc : s_prepend(ld, o, path, &p->prepend);
    }
    if (strcmp(type, "Digits") == 0) {
        p->type = GF_PRE_DIGITS;
        p->individual_digits = s_bool(o, "individual_digits", false);
        return 0;
    }
    if (strcmp(type, "Whitespace") == 0) {
        p->type = GF_PRE_WHITESPACE;
        return 0;
    }
    if (strcmp(type, "WhitespaceSplit") == 0) {
        p->type = GF_PRE_WHITESPACE_SPLIT;
        return 0;
    }
    if (strcmp(type, "Punctuation") == 0) {
        p->type = GF_PRE_PUNCTUATION;
        return s_behavior(ld, o, path, &p->behavior);
    }
    return s_fail(ld, GF_EUNSUPPORTED, path, "unsupported pre-tokenizer type '%s'", type);
}

/* --- decoder ---------------------------------------------------------------------------- */

static int s_decoder(struct s_ld *ld, json_t *o, const char *path, struct gf_decoder *d)
{
    const char *type = s_type(o);
    char sub[256];
    int rc;
    if (!type)
        return s_fail(ld, GF_ESCHEMA, path, "decoder without a 'type'");
    if (strcmp(type, "Sequence") == 0) {
        json_t *arr = json_object_get(o, "decoders");
        if (!json_is_array(arr))
            return s_fail(ld, GF_ESCHEMA, path, "'decoders' must be an array");
        d->type = GF_DEC_SEQUENCE;
        d->sub = calloc(json_array_size(arr) + 1, sizeof *d->sub);
        if (!d->sub)
            return GF_ENOMEM;
        for (size_t i = 0; i < json_array_size(arr); i++) {
            snprintf(sub, sizeof sub, "%s.decoders[%zu]", path, i);
            rc = s_decoder(ld, json_array_get(arr, i), sub, &d->sub[i]);
            d->n_sub = i + 1;
            if (rc)
                return rc;
        }
        return 0;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        d->type = GF_DEC_BYTELEVEL;
        return 0;
    }
    if (strcmp(type, "ByteFallback") == 0) {
        d->type = GF_DEC_BYTEFALLBACK;
        return 0;
    }
    if (strcmp(type, "Fuse") == 0) {
        d->type = GF_DEC_FUSE;
        return 0;
    }
    if (strcmp(type, "Metaspace") == 0) {
        d->type = GF_DEC_METASPACE;
        rc = s_replacement(ld, o, path, d->rep, &d->rep_len);
        return rc ? rc : s_prepend(ld, o, path, &d->prepend);
    }
    if (strcmp(type, "Strip") == 0) {
        d->type = GF_DEC_STRIP;
        const char *c = json_string_value(json_object_get(o, "content"));
        json_int_t start = json_integer_value(json_object_get(o, "start"));
        json_int_t stop = json_integer_value(json_object_get(o, "stop"));
        if (!c || !*c || start < 0 || stop < 0 || start > 1 << 20 || stop > 1 << 20)
            return s_fail(ld, GF_ESCHEMA, path, "Strip needs 'content', 'start' and 'stop'");
        gf_utf8_next(c, strlen(c), &d->strip_cp);
        d->start = (int)start;
        d->stop = (int)stop;
        return 0;
    }
    if (strcmp(type, "Replace") == 0) {
        d->type = GF_DEC_REPLACE;
        rc = s_pattern(ld, o, path, &d->pat);
        return rc ? rc : s_string(ld, o, "content", path, &d->content);
    }
    return s_fail(ld, GF_EUNSUPPORTED, path, "unsupported decoder type '%s'", type);
}

/* --- model ----------------------------------------------------------------------------- */

static int s_opt_string(struct s_ld *ld, json_t *o, const char *key, const char *path, char **out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    return s_string(ld, o, key, path, out);
}

static int s_model(struct s_ld *ld, json_t *o, struct gf_bpe *b)
{
    const char *type = s_type(o);
    int rc;
    if (!json_is_object(o))
        return s_fail(ld, GF_ESCHEMA, "model", "missing");
    if (type && strcmp(type, "BPE") != 0)
        return s_fail(ld, GF_EUNSUPPORTED, "model", "unsupported model type '%s'", type);
    json_t *dropout = json_object_get(o, "dropout");
    if (dropout && !json_is_null(dropout) && json_number_value(dropout) != 0.0)
        return s_fail(ld, GF_EUNSUPPORTED, "model.dropout", "BPE dropout is not supported");
    b->byte_fallback = s_bool(o, "byte_fallback", false);
    b->ignore_merges = s_bool(o, "ignore_merges", false);
    b->fuse_unk = s_bool(o, "fuse_unk", false);
    if ((rc = s_opt_string(ld, o, "continuing_subword_prefix", "model", &b->prefix)) ||
        (rc = s_opt_string(ld, o, "end_of_word_suffix", "model", &b->suffix)))
        return rc;
    json_t *vocab = json_object_get(o, "vocab");
    if (!json_is_object(vocab))
        return s_fail(ld, GF_ESCHEMA, "model.vocab", "must be an object");
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val)
    {
        json_int_t id = json_integer_value(val);
        if (!json_is_integer(val) || id < 0 || id >= (1 << 24))
            return s_fail(ld, GF_ESCHEMA, "model.vocab", "'%s' has an invalid id", key);
        if ((rc = gf_bpe_add_token(b, key, strlen(key), (int32_t)id)))
            return rc;
    }
    if ((rc = gf_bpe_build(b)))
        return rc;
    char *unk = NULL;
    if ((rc = s_opt_string(ld, o, "unk_token", "model", &unk)))
        return rc;
    if (unk) {
        b->unk_id = gf_tokmap_get(&b->vocab, unk, strlen(unk));
        free(unk);
        if (b->unk_id < 0)
            return s_fail(ld, GF_ESCHEMA, "model.unk_token", "not in the vocab");
    }
    json_t *merges = json_object_get(o, "merges");
    if (!json_is_array(merges))
        return s_fail(ld, GF_ESCHEMA, "model.merges", "must be an array");
    char msg[400], path[64];
    for (size_t i = 0; i < json_array_size(merges); i++) {
        json_t *m = json_array_get(merges, i);
        const char *l, *r;
        size_t ll, rl;
        snprintf(path, sizeof path, "model.merges[%zu]", i);
        if (json_is_string(m)) { /* "left right" */
            l = json_string_value(m);
            const char *sp = strchr(l, ' ');
            if (!sp || strchr(sp + 1, ' '))
                return s_fail(ld, GF_ESCHEMA, path, "'%s' is not 'left right'", l);
            ll = (size_t)(sp - l);
            r = sp + 1;
            rl = strlen(r);
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            l = json_string_value(json_array_get(m, 0));
            ll = json_string_length(json_array_get(m, 0));
            r = json_string_value(json_array_get(m, 1));
            rl = json_string_length(json_array_get(m, 1));
        } else {
            return s_fail(ld, GF_ESCHEMA, path, "must be a string or a pair of strings");
        }
        if ((rc = gf_bpe_add_merge(b, l, ll, r, rl, (int)i, msg, sizeof msg)))
            return s_fail(ld, rc, path, "%s", msg);
    }
    return 0;
}

/* --- added tokens and post-processor ------------------------------------------------------- */

static int s_added_finish(gf_tokenizer_t *t, struct gf_added *a)
{
    if (!a->normalized || !t->has_norm) {
        a->norm = strdup(a->content);
        a->norm_len = a->len;
        return a->norm ? 0 : GF_ENOMEM;
    }
    struct gf_buf out = {0};
    int rc = gf_norm_apply(&t->norm, a->content, a->len, &out, NULL);
    if (rc || !out.len) {
        gf_buf_release(&out);
        return rc ? rc : GF_EINVAL;
    }
    a->norm = out.p;
    a->norm_len = out.len;
    return 0;
}

static int s_added(struct s_ld *ld, json_t *arr, gf_tokenizer_t *t)
{
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return s_fail(ld, GF_ESCHEMA, "added_tokens", "must be an array");
    t->added = calloc(json_array_size(arr) + 1, sizeof *t->added);
    if (!t->added)
        return GF_ENOMEM;
    char path[64];
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i);
        snprintf(path, sizeof path, "added_tokens[%zu]", i);
        json_t *id = json_object_get(o, "id"), *content = json_object_get(o, "content");
        if (!json_is_integer(id) || !json_is_string(content) || json_string_length(content) == 0 ||
            json_integer_value(id) < 0 || json_integer_value(id) >= (1 << 24))
            return s_fail(ld, GF_ESCHEMA, path, "needs an 'id' and a non-empty 'content'");
        struct gf_added *a = &t->added[t->n_added];
        a->content = strdup(json_string_value(content));
        if (!a->content)
            return GF_ENOMEM;
        t->n_added++;
        a->len = json_string_length(content);
        if (strlen(a->content) != a->len)
            return s_fail(ld, GF_ESCHEMA, path, "'content' holds a NUL");
        a->id = (int32_t)json_integer_value(id);
        a->special = s_bool(o, "special", false);
        a->lstrip = s_bool(o, "lstrip", false);
        a->rstrip = s_bool(o, "rstrip", false);
        a->single_word = s_bool(o, "single_word", false);
        a->normalized = s_bool(o, "normalized", !a->special);
        if (s_added_finish(t, a))
            return s_fail(ld, GF_ESCHEMA, path, "content does not normalize");
    }
    for (size_t i = 0; i < t->n_added; i++) {
        if (gf_tokmap_put(&t->added_map, t->added[i].content, t->added[i].len, (int32_t)i))
            return GF_ENOMEM;
    }
    return gf_added_index(t);
}

static int s_tmpl_special(struct s_ld *ld, gf_tokenizer_t *t, json_t *specials, const char *name,
                          const char *path, struct gf_tmpl_item *it)
{
    json_t *ids = json_object_get(json_object_get(specials, name), "ids");
    if (!json_is_array(ids))
        return s_fail(ld, GF_ESCHEMA, path, "special token '%s' is not in 'special_tokens'", name);
    it->ids = calloc(json_array_size(ids) + 1, sizeof *it->ids);
    if (!it->ids)
        return GF_ENOMEM;
    for (size_t i = 0; i < json_array_size(ids); i++) {
        json_t *v = json_array_get(ids, i);
        if (!json_is_integer(v))
            return s_fail(ld, GF_ESCHEMA, path, "ids of '%s' must be integers", name);
        it->ids[it->n_ids++] = (int32_t)json_integer_value(v);
    }
    (void)t;
    return 0;
}

static int s_post(struct s_ld *ld, json_t *o, const char *path, gf_tokenizer_t *t)
{
    const char *type = s_type(o);
    char sub[256];
    int rc;
    if (!o || json_is_null(o))
        return 0;
    if (!type)
        return s_fail(ld, GF_ESCHEMA, path, "post-processor without a 'type'");
    if (strcmp(type, "ByteLevel") == 0)
        return 0; /* only moves offsets */
    if (strcmp(type, "Sequence") == 0) {
        json_t *arr = json_object_get(o, "processors");
        for (size_t i = 0; i < json_array_size(arr); i++) {
            snprintf(sub, sizeof sub, "%s.processors[%zu]", path, i);
            if ((rc = s_post(ld, json_array_get(arr, i), sub, t)))
                return rc;
        }
        return 0;
    }
    if (t->n_tmpl)
        return s_fail(ld, GF_EUNSUPPORTED, path, "more than one template post-processor");
    if (strcmp(type, "RobertaProcessing") == 0 || strcmp(type, "BertProcessing") == 0) {
        json_t *cls = json_object_get(o, "cls"), *sep = json_object_get(o, "sep");
        if (!json_is_integer(json_array_get(cls, 1)) || !json_is_integer(json_array_get(sep, 1)))
            return s_fail(ld, GF_ESCHEMA, path, "'cls' and 'sep' must be [token, id]");
        t->tmpl = calloc(3, sizeof *t->tmpl);
        if (!t->tmpl)
            return GF_ENOMEM;
        t->n_tmpl = 3;
        for (int i = 0; i < 3; i += 2) {
            t->tmpl[i].ids = malloc(sizeof(int32_t));
            if (!t->tmpl[i].ids)
                return GF_ENOMEM;
            t->tmpl[i].n_ids = 1;
            t->tmpl[i].ids[0] = (int32_t)json_integer_value(json_array_get(i ? sep : cls, 1));
        }
        t->tmpl[1].is_seq = true;
        return 0;
    }
    if (strcmp(type, "TemplateProcessing") != 0)
        return s_fail(ld, GF_EUNSUPPORTED, path, "unsupported post-processor type '%s'", type);
    json_t *single = json_object_get(o, "single"), *specials = json_object_get(o, "special_tokens");
    if (!json_is_array(single))
        return s_fail(ld, GF_ESCHEMA, path, "'single' must be an array");
    t->tmpl = calloc(json_array_size(single) + 1, sizeof *t->tmpl);
    if (!t->tmpl)
        return GF_ENOMEM;
    for (size_t i = 0; i < json_array_size(single); i++) {
        json_t *it = json_array_get(single, i);
        snprintf(sub, sizeof sub, "%s.single[%zu]", path, i);
        json_t *sp = json_object_get(it, "SpecialToken"), *seq = json_object_get(it, "Sequence");
        struct gf_tmpl_item *item = &t->tmpl[t->n_tmpl++];
        if (json_is_object(seq)) {
            item->is_seq = true;
        } else if (json_is_string(json_object_get(sp, "id"))) {
            rc = s_tmpl_special(ld, t, specials, json_string_value(json_object_get(sp, "id")), sub,
                                item);
            if (rc)
                return rc;
        } else {
            return s_fail(ld, GF_ESCHEMA, sub, "must be a SpecialToken or a Sequence");
        }
    }
    return 0;
}

/* --- entry points ---------------------------------------------------------------------------- */

static int s_build(struct s_ld *ld, json_t *root, gf_tokenizer_t *t)
{
    int rc;
    if (!json_is_object(root))
        return s_fail(ld, GF_ESCHEMA, "$", "the top level must be an object");
    json_t *v;
    if ((v = json_object_get(root, "truncation")) && !json_is_null(v))
        return s_fail(ld, GF_EUNSUPPORTED, "truncation", "truncation is not supported");
    if ((v = json_object_get(root, "padding")) && !json_is_null(v))
        return s_fail(ld, GF_EUNSUPPORTED, "padding", "padding is not supported");
    if ((v = json_object_get(root, "normalizer")) && !json_is_null(v)) {
        t->has_norm = true;
        if ((rc = s_norm(ld, v, "normalizer", &t->norm)))
            return rc;
    }
    if ((v = json_object_get(root, "pre_tokenizer")) && !json_is_null(v)) {
        t->has_pretok = true;
        if ((rc = s_pretok(ld, v, "pre_tokenizer", &t->pretok)))
            return rc;
    }
    if ((v = json_object_get(root, "decoder")) && !json_is_null(v)) {
        t->has_decoder = true;
        if ((rc = s_decoder(ld, v, "decoder", &t->decoder)))
            return rc;
    }
    if ((rc = s_model(ld, json_object_get(root, "model"), &t->bpe)))
        return rc;
    if ((rc = s_added(ld, json_object_get(root, "added_tokens"), t)))
        return rc;
    return s_post(ld, json_object_get(root, "post_processor"), "post_processor", t);
}

static gf_tokenizer_t *s_new(void)
{
    gf_tokenizer_t *t = calloc(1, sizeof *t);
    if (t && gf_bpe_init(&t->bpe)) {
        free(t);
        return NULL;
    }
    return t;
}

int gf_tokenizer_parse(const char *json, size_t len, const char *name, gf_tokenizer_t **tok_p,
                       char *why, size_t whylen)
{
    struct s_ld ld = {name, why, whylen};
    json_error_t je;
    *tok_p = NULL;
    if (whylen)
        why[0] = 0;
    json_t *root = json_loadb(json, len, JSON_ALLOW_NUL, &je);
    if (!root) {
        snprintf(why, whylen, "'%s': line %d column %d: %s", name, je.line, je.column, je.text);
        return GF_EPARSE;
    }
    gf_tokenizer_t *t = s_new();
    int rc = t ? s_build(&ld, root, t) : GF_ENOMEM;
    json_decref(root);
    if (rc) {
        if (rc == GF_ENOMEM && whylen && !why[0])
            snprintf(why, whylen, "'%s': out of memory", name);
        gf_tokenizer_destroy(&t);
        return rc;
    }
    *tok_p = t;
    return 0;
}

int gf_tokenizer_load(const char *path, gf_tokenizer_t **tok_p, char *why, size_t whylen)
{
    *tok_p = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whylen, "cannot open '%s': %m", path);
        return GF_EIO;
    }
    struct gf_buf b = {0};
    char chunk[65536];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = gf_buf_put(&b, chunk, n);
    if (!rc && ferror(f)) {
        snprintf(why, whylen, "cannot read '%s': %m", path);
        rc = GF_EIO;
    }
    fclose(f);
    if (!rc)
        rc = gf_tokenizer_parse(b.p ? b.p : "", b.len, path, tok_p, why, whylen);
    gf_buf_release(&b);
    return rc;
}

int gf_tokenizer_add_tokens(gf_tokenizer_t *tok, const char *const *tokens, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(tokens[i]);
        if (!len || gf_utf8_valid_prefix(tokens[i], len) != len)
            return GF_EINVAL;
        if (gf_tokmap_get(&tok->added_map, tokens[i], len) >= 0)
            continue;
        int32_t id = gf_tokmap_get(&tok->bpe.vocab, tokens[i], len);
        if (id < 0)
            id = gf_tokenizer_size(tok);
        if (gf_grow((void **)&tok->added, &tok->added_cap, tok->n_added + 1, sizeof *tok->added))
            return GF_ENOMEM;
        struct gf_added *a = &tok->added[tok->n_added];
        *a = (struct gf_added){.id = id, .normalized = true, .len = len};
        a->content = strdup(tokens[i]);
        if (!a->content)
            return GF_ENOMEM;
        int rc = s_added_finish(tok, a);
        if (rc) {
            free(a->content);
            return rc;
        }
        tok->n_added++;
        /* the map borrows contents; rebuild it since the array moved */
        gf_tokmap_release(&tok->added_map);
        for (size_t k = 0; k < tok->n_added; k++)
            if (gf_tokmap_put(&tok->added_map, tok->added[k].content, tok->added[k].len,
                              (int32_t)k))
                return GF_ENOMEM;
    }
    return gf_added_index(tok);
}
