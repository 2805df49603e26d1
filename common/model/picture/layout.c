/* layout.c — streaming, tolerant parser of the layout tags in a reasoning chain.
 *
 * Two layers, both fed one byte at a time so that the result cannot depend on how the text was
 * split:
 *
 *   - the tag lexer holds back a '<' and what follows for as long as it is a proper prefix of one
 *     of the four tags, then hands over either a whole tag or the held bytes as plain text (a tag
 *     holds only one '<', its first byte, so held bytes never hide the start of another tag);
 *   - the entry machine, TEXT -> PHRASE -> GAP -> BOX -> TEXT, which collects the phrase and the
 *     box body and decides at <|box_end|> whether the entry is an object or an issue.
 *
 * An entry that goes wrong keeps its first problem and becomes one issue when it ends. A new
 * <|obj_start|> or <|box_start|> always starts a new entry, whatever state the old one was in, so
 * a broken entry cannot swallow the well-formed entry after it.
 */
#include "model/picture/layout.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/grow.h"

enum s_tag { S_OBJ_START, S_OBJ_END, S_BOX_START, S_BOX_END, S_N_TAGS };

static const char *const s_tags[S_N_TAGS] = {"<|obj_start|>", "<|obj_end|>", "<|box_start|>",
                                             "<|box_end|>"};
#define S_MAX_TAG 13 /* strlen("<|obj_start|>") */

enum s_state { S_TEXT, S_PHRASE, S_GAP, S_BOX };

struct gf_layout {
    size_t pos; /* offset of the next byte fed */
    int finished;
    /* lexer: bytes held while they may still become a tag */
    char hold[S_MAX_TAG];
    size_t n_hold;
    unsigned candidates; /* bit t: the held bytes are a prefix of s_tags[t] */
    size_t hold_start;
    /* entry machine */
    enum s_state state;
    size_t entry_start;
    int problem; /* first problem of the current entry + 1, 0 when none */
    int has_object;
    char phrase[GF_LAYOUT_MAX_PHRASE];
    size_t n_phrase;
    int phrase_overflow;
    char body[GF_LAYOUT_MAX_BOX_BODY];
    size_t n_body;
    int body_overflow;
    /* results */
    struct gf_layout_object *objects;
    size_t n_objects, cap_objects;
    struct gf_layout_issue *issues;
    size_t n_issues, cap_issues;
};

static const char *const s_issue_names[] = {
#define GF_X(name, what, desc) what,
    GF_LAYOUT_ISSUES(GF_X)
#undef GF_X
};

static const char *const s_issue_descs[] = {
#define GF_X(name, what, desc) desc,
    GF_LAYOUT_ISSUES(GF_X)
#undef GF_X
};

const char *gf_layout_issue_name(enum gf_layout_issue_kind kind)
{
    return (unsigned)kind < GF_LAYOUT_N_ISSUE_KINDS ? s_issue_names[kind] : "unknown";
}

const char *gf_layout_issue_desc(enum gf_layout_issue_kind kind)
{
    return (unsigned)kind < GF_LAYOUT_N_ISSUE_KINDS ? s_issue_descs[kind] : "unknown issue";
}

gf_layout_t *gf_layout_new(void)
{
    return calloc(1, sizeof(gf_layout_t));
}

void gf_layout_destroy(gf_layout_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gf_layout_t *self = *self_p;
    for (size_t i = 0; i < self->n_objects; i++)
        free(self->objects[i].phrase);
    free(self->objects);
    free(self->issues);
    free(self);
    *self_p = NULL;
}

/* --- results -------------------------------------------------------------------------------- */

static int s_add_issue(gf_layout_t *self, enum gf_layout_issue_kind kind, size_t start, size_t end)
{
    if (gf_grow((void **)&self->issues, &self->cap_issues, self->n_issues + 1,
                sizeof *self->issues))
        return GF_ENOMEM;
    self->issues[self->n_issues++] = (struct gf_layout_issue){kind, {start, end}};
    return 0;
}

static int s_add_object(gf_layout_t *self, const char *phrase, size_t len, const int box[4],
                        size_t end)
{
    if (gf_grow((void **)&self->objects, &self->cap_objects, self->n_objects + 1,
                sizeof *self->objects))
        return GF_ENOMEM;
    char *copy = malloc(len + 1);
    if (!copy)
        return GF_ENOMEM;
    memcpy(copy, phrase, len);
    copy[len] = '\0';
    struct gf_layout_object *o = &self->objects[self->n_objects++];
    o->phrase = copy;
    memcpy(o->box, box, sizeof o->box);
    o->span = (struct gf_layout_span){self->entry_start, end};
    return 0;
}

/* --- checks on a finished entry ------------------------------------------------------------ */

static int s_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* True when s[0..len) is well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF)
 * and holds no NUL. */
static int s_valid_utf8(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp, min;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (len - i - 1 < n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

/* Parses a box body "(x1,y1),(x2,y2)" (ASCII whitespace allowed around every number and sign).
 * Returns -1 when well-formed and in range, with box[] set, else the issue kind. */
static int s_parse_box(const char *s, size_t len, int box[4])
{
    static const char shape[] = "(n,n),(n,n)";
    size_t i = 0;
    int n_nums = 0;
    const char *p = shape;
    int big = 0;
    for (; *p; p++) {
        while (i < len && s_is_space(s[i]))
            i++;
        if (*p == 'n') {
            if (i >= len || s[i] < '0' || s[i] > '9')
                break;
            long v = 0;
            while (i < len && s[i] >= '0' && s[i] <= '9') {
                if (v <= GF_LAYOUT_GRID)
                    v = v * 10 + (s[i] - '0');
                i++;
            }
            if (v > GF_LAYOUT_GRID)
                big = 1;
            box[n_nums++] = (int)v;
        } else if (i < len && s[i] == *p) {
            i++;
        } else {
            break;
        }
    }
    while (i < len && s_is_space(s[i]))
        i++;
    if (*p == '\0' && i == len) {
        if (big)
            return GF_LAYOUT_OUT_OF_RANGE;
        if (box[0] > box[2] || box[1] > box[3])
            return GF_LAYOUT_INVERTED;
        return -1;
    }
    /* Not the exact shape: a body of only numbers, brackets, commas and spaces that does not hold
     * four numbers is a count problem; anything else is a syntax problem. */
    int digits = 0, count = 0;
    for (i = 0; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            count += !digits;
            digits = 1;
            continue;
        }
        digits = 0;
        if (!strchr("()[],", c) && !s_is_space(c))
            return GF_LAYOUT_BOX_SYNTAX;
    }
    return count != 4 ? GF_LAYOUT_WRONG_COUNT : GF_LAYOUT_BOX_SYNTAX;
}

/* --- the entry machine --------------------------------------------------------------------- */

static void s_problem(gf_layout_t *self, enum gf_layout_issue_kind kind)
{
    if (!self->problem)
        self->problem = (int)kind + 1;
}

static void s_begin(gf_layout_t *self, enum s_state state, size_t start)
{
    self->state = state;
    self->entry_start = start;
    self->problem = 0;
    self->has_object = state == S_PHRASE;
    self->n_phrase = self->n_body = 0;
    self->phrase_overflow = self->body_overflow = 0;
}

/* Ends the current entry at `end` with its first problem, or with `kind` when it had none. */
static int s_fail(gf_layout_t *self, enum gf_layout_issue_kind kind, size_t end)
{
    if (self->problem)
        kind = (enum gf_layout_issue_kind)(self->problem - 1);
    self->state = S_TEXT;
    return s_add_issue(self, kind, self->entry_start, end);
}

/* <|box_end|> closed the box of the current entry; `end` is just past the tag. */
static int s_close_box(gf_layout_t *self, size_t end)
{
    if (!self->has_object)
        s_problem(self, GF_LAYOUT_BOX_WITHOUT_OBJECT);
    if (self->body_overflow)
        s_problem(self, GF_LAYOUT_BOX_SYNTAX);
    int box[4] = {0};
    int bad = s_parse_box(self->body, self->n_body, box);
    if (bad >= 0)
        s_problem(self, (enum gf_layout_issue_kind)bad);
    if (self->problem)
        return s_fail(self, GF_LAYOUT_BOX_SYNTAX, end);
    /* the phrase was checked at <|obj_end|>; trim it now */
    const char *p = self->phrase;
    size_t len = self->n_phrase;
    while (len && s_is_space(*p))
        p++, len--;
    while (len && s_is_space(p[len - 1]))
        len--;
    self->state = S_TEXT;
    return s_add_object(self, p, len, box, end);
}

/* <|obj_end|> closed the phrase of the current entry. */
static void s_close_phrase(gf_layout_t *self)
{
    if (self->phrase_overflow) {
        s_problem(self, GF_LAYOUT_PHRASE_TOO_LONG);
    } else {
        size_t a = 0, b = self->n_phrase;
        while (a < b && s_is_space(self->phrase[a]))
            a++;
        if (a == b)
            s_problem(self, GF_LAYOUT_EMPTY_PHRASE);
        else if (!s_valid_utf8((const unsigned char *)self->phrase, self->n_phrase))
            s_problem(self, GF_LAYOUT_INVALID_UTF8);
    }
    self->state = S_GAP;
}

/* One tag starting at `start`. */
static int s_on_tag(gf_layout_t *self, enum s_tag tag, size_t start)
{
    size_t end = start + strlen(s_tags[tag]);
    int rc = 0;
    switch (self->state) {
    case S_TEXT:
        break;
    case S_PHRASE:
        if (tag == S_OBJ_END) {
            s_close_phrase(self);
            return 0;
        }
        s_problem(self, GF_LAYOUT_MISSING_OBJ_END);
        if (tag == S_BOX_START) { /* keep going: the box belongs to this broken entry */
            self->state = S_BOX;
            return 0;
        }
        if (tag == S_BOX_END)
            return s_fail(self, GF_LAYOUT_MISSING_OBJ_END, end);
        rc = s_fail(self, GF_LAYOUT_MISSING_OBJ_END, start);
        break;
    case S_GAP:
        if (tag == S_BOX_START) {
            self->state = S_BOX;
            return 0;
        }
        rc = s_fail(self, GF_LAYOUT_OBJECT_WITHOUT_BOX, start);
        break;
    case S_BOX:
        if (tag == S_BOX_END)
            return s_close_box(self, end);
        rc = s_fail(self, GF_LAYOUT_MISSING_BOX_END, start);
        break;
    }
    if (rc)
        return rc;
    /* in TEXT now */
    switch (tag) {
    case S_OBJ_START:
        s_begin(self, S_PHRASE, start);
        return 0;
    case S_BOX_START:
        s_begin(self, S_BOX, start);
        return 0;
    case S_OBJ_END:
        return s_add_issue(self, GF_LAYOUT_STRAY_OBJ_END, start, end);
    default:
        return s_add_issue(self, GF_LAYOUT_STRAY_BOX_END, start, end);
    }
}

/* One plain-text byte at offset `at`. */
static int s_on_text(gf_layout_t *self, char c, size_t at)
{
    switch (self->state) {
    case S_TEXT:
        return 0;
    case S_PHRASE:
        if (self->n_phrase < sizeof self->phrase)
            self->phrase[self->n_phrase++] = c;
        else
            self->phrase_overflow = 1;
        return 0;
    case S_GAP:
        if (s_is_space(c))
            return 0;
        return s_fail(self, GF_LAYOUT_OBJECT_WITHOUT_BOX, at);
    case S_BOX:
        if (self->n_body < sizeof self->body)
            self->body[self->n_body++] = c;
        else
            self->body_overflow = 1;
        return 0;
    }
    return 0;
}

/* --- the tag lexer ------------------------------------------------------------------------- */

/* Hands the held bytes over as text. */
static int s_flush_hold(gf_layout_t *self)
{
    int rc = 0;
    for (size_t k = 0; k < self->n_hold && !rc; k++)
        rc = s_on_text(self, self->hold[k], self->hold_start + k);
    self->n_hold = 0;
    return rc;
}

static int s_on_byte(gf_layout_t *self, char c, size_t at)
{
    if (self->n_hold == 0) {
        if (c != '<')
            return s_on_text(self, c, at);
        self->hold[0] = c;
        self->n_hold = 1;
        self->hold_start = at;
        self->candidates = (1u << S_N_TAGS) - 1;
        return 0;
    }
    size_t n = self->n_hold;
    for (int t = 0; t < S_N_TAGS; t++) {
        if (!(self->candidates & 1u << t))
            continue;
        if (s_tags[t][n] != c) {
            self->candidates &= ~(1u << t);
        } else if (s_tags[t][n + 1] == '\0') {
            self->n_hold = 0;
            return s_on_tag(self, (enum s_tag)t, self->hold_start);
        }
    }
    if (self->candidates) {
        self->hold[self->n_hold++] = c;
        return 0;
    }
    int rc = s_flush_hold(self);
    return rc ? rc : s_on_byte(self, c, at);
}

int gf_layout_feed(gf_layout_t *self, const char *text, size_t len)
{
    if (self->finished)
        return GF_EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (self->state == S_TEXT && self->n_hold == 0) {
            /* prose: only a '<' can change anything */
            const char *lt = memchr(text + i, '<', len - i);
            size_t skip = lt ? (size_t)(lt - (text + i)) : len - i;
            self->pos += skip;
            i += skip;
            if (i == len)
                break;
        }
        int rc = s_on_byte(self, text[i], self->pos);
        if (rc)
            return rc;
        self->pos++;
    }
    return 0;
}

int gf_layout_finish(gf_layout_t *self)
{
    if (self->finished)
        return 0;
    self->finished = 1;
    /* a held "<|..." is a cut tag; a lone '<' is just text */
    int cut_tag = self->n_hold >= 2;
    size_t hold_start = self->hold_start;
    self->n_hold = 0;
    if (self->state != S_TEXT) {
        self->problem = 0; /* the entry's real problem is that it never ended */
        return s_fail(self, GF_LAYOUT_TRUNCATED, self->pos);
    }
    return cut_tag ? s_add_issue(self, GF_LAYOUT_TRUNCATED, hold_start, self->pos) : 0;
}

int gf_layout_parse(const char *text, size_t len, gf_layout_t **self_p)
{
    gf_layout_t *self = gf_layout_new();
    if (!self)
        return GF_ENOMEM;
    int rc = gf_layout_feed(self, text, len);
    if (!rc)
        rc = gf_layout_finish(self);
    if (rc) {
        gf_layout_destroy(&self);
        return rc;
    }
    *self_p = self;
    return 0;
}

/* --- access -------------------------------------------------------------------------------- */

size_t gf_layout_n_objects(const gf_layout_t *self)
{
    return self->n_objects;
}

size_t gf_layout_n_issues(const gf_layout_t *self)
{
    return self->n_issues;
}

const struct gf_layout_object *gf_layout_object(const gf_layout_t *self, size_t i)
{
    return i < self->n_objects ? &self->objects[i] : NULL;
}

const struct gf_layout_issue *gf_layout_issue(const gf_layout_t *self, size_t i)
{
    return i < self->n_issues ? &self->issues[i] : NULL;
}

const struct gf_layout_object *gf_layout_objects(const gf_layout_t *self)
{
    return self->objects;
}

size_t gf_layout_length(const gf_layout_t *self)
{
    return self->pos;
}

/* --- JSON ---------------------------------------------------------------------------------- */

static json_t *s_span_json(struct gf_layout_span span)
{
    return json_pack("[II]", (json_int_t)span.start, (json_int_t)span.end);
}

json_t *gf_layout_to_json(const gf_layout_t *self)
{
    json_t *objects = json_array(), *issues = json_array();
    if (!objects || !issues)
        goto fail;
    for (size_t i = 0; i < self->n_objects; i++) {
        const struct gf_layout_object *o = &self->objects[i];
        json_t *j = json_pack("{s:s, s:[iiii], s:o}", "phrase", o->phrase, "box", o->box[0],
                              o->box[1], o->box[2], o->box[3], "span", s_span_json(o->span));
        if (!j || json_array_append_new(objects, j))
            goto fail;
    }
    for (size_t i = 0; i < self->n_issues; i++) {
        const struct gf_layout_issue *is = &self->issues[i];
        json_t *j = json_pack("{s:s, s:o}", "what", gf_layout_issue_name(is->kind), "span",
                              s_span_json(is->span));
        if (!j || json_array_append_new(issues, j))
            goto fail;
    }
    return json_pack("{s:o, s:o}", "objects", objects, "issues", issues);
fail:
    json_decref(objects);
    json_decref(issues);
    return NULL;
}
