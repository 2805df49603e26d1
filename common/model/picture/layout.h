/* layout.h — the planned layout inside a GoT-R1 reasoning chain (MODEL §6, DESIGN §3 `layout`).
 *
 * The chain tags each planned object as
 *
 *     <|obj_start|>PHRASE<|obj_end|> <|box_start|>(x1,y1),(x2,y2)<|box_end|>
 *
 * with integer coordinates on a 0..1000 grid. The parser is streaming and tolerant: text is fed in
 * pieces split anywhere (inside a tag, a number or a UTF-8 character) and the result does not
 * depend on where the splits fall. A well-formed entry becomes an object as soon as its
 * `<|box_end|>` arrives; anything malformed becomes one issue with its byte span and no object.
 * Nothing is fatal, and a malformed entry never hides a later well-formed one. docs/layout.md
 * lists the rules and every issue.
 *
 * Spans are byte offsets [start, end) in the whole text fed so far. An object's span runs from
 * the first byte of `<|obj_start|>` to the last byte of `<|box_end|>`.
 *
 * Ownership: a gf_layout_t owns its objects and issues; pointers returned by gf_layout_object()
 * and gf_layout_issue() are borrowed until gf_layout_destroy(). Not thread-safe.
 */
#ifndef GF_MODEL_LAYOUT_H
#define GF_MODEL_LAYOUT_H

#include <jansson.h>
#include <stddef.h>

#define GF_LAYOUT_GRID 1000       /* coordinates are 0..GF_LAYOUT_GRID */
#define GF_LAYOUT_MAX_PHRASE 512  /* bytes of a phrase, before trimming */
#define GF_LAYOUT_MAX_BOX_BODY 64 /* bytes between <|box_start|> and <|box_end|> */

/* Issue kinds: X(enum name, JSON `what`, description). */
#define GF_LAYOUT_ISSUES(X)                                                                        \
    X(GF_LAYOUT_MISSING_OBJ_END, "missing_obj_end", "object phrase not closed by <|obj_end|>")     \
    X(GF_LAYOUT_MISSING_BOX_END, "missing_box_end", "box not closed by <|box_end|>")               \
    X(GF_LAYOUT_OBJECT_WITHOUT_BOX, "object_without_box", "object not followed by a box")          \
    X(GF_LAYOUT_BOX_WITHOUT_OBJECT, "box_without_object", "box not preceded by an object")         \
    X(GF_LAYOUT_WRONG_COUNT, "wrong_count", "box does not hold exactly four numbers")              \
    X(GF_LAYOUT_BOX_SYNTAX, "box_syntax", "box is not of the form (x1,y1),(x2,y2)")                \
    X(GF_LAYOUT_OUT_OF_RANGE, "out_of_range", "box coordinate above 1000")                         \
    X(GF_LAYOUT_INVERTED, "inverted", "box has x1 > x2 or y1 > y2")                                \
    X(GF_LAYOUT_EMPTY_PHRASE, "empty_phrase", "object phrase is empty")                            \
    X(GF_LAYOUT_PHRASE_TOO_LONG, "phrase_too_long", "object phrase longer than 512 bytes")         \
    X(GF_LAYOUT_INVALID_UTF8, "invalid_utf8", "object phrase is not valid UTF-8 without NUL")      \
    X(GF_LAYOUT_STRAY_OBJ_END, "stray_obj_end", "<|obj_end|> outside an object")                   \
    X(GF_LAYOUT_STRAY_BOX_END, "stray_box_end", "<|box_end|> outside a box")                       \
    X(GF_LAYOUT_TRUNCATED, "truncated", "text ends inside an entry or a tag")

enum gf_layout_issue_kind {
#define GF_X(name, what, desc) name,
    GF_LAYOUT_ISSUES(GF_X)
#undef GF_X
        GF_LAYOUT_N_ISSUE_KINDS
};

struct gf_layout_span {
    size_t start, end; /* byte offsets [start, end) in the whole text */
};

struct gf_layout_object {
    char *phrase; /* UTF-8, NUL-terminated, leading and trailing ASCII whitespace trimmed */
    int box[4];   /* x1, y1, x2, y2 on 0..1000, x1 <= x2, y1 <= y2 */
    struct gf_layout_span span;
};

struct gf_layout_issue {
    enum gf_layout_issue_kind kind;
    struct gf_layout_span span;
};

typedef struct gf_layout gf_layout_t;

/* New empty parser (caller owns), or NULL when out of memory. */
gf_layout_t *gf_layout_new(void);
void gf_layout_destroy(gf_layout_t **self_p);

/* Feeds the next `len` bytes. Objects and issues that these bytes complete are available when it
 * returns. 0, GF_ENOMEM, or GF_EINVAL after gf_layout_finish(). */
int gf_layout_feed(gf_layout_t *self, const char *text, size_t len);

/* Ends the text: an entry or tag left open becomes a `truncated` issue. 0 or GF_ENOMEM;
 * calling it again does nothing. */
int gf_layout_finish(gf_layout_t *self);

/* Feeds `len` bytes and finishes, in one call (*self_p: caller owns). 0 or GF_ENOMEM. */
int gf_layout_parse(const char *text, size_t len, gf_layout_t **self_p);

size_t gf_layout_n_objects(const gf_layout_t *self);
size_t gf_layout_n_issues(const gf_layout_t *self);
/* The i-th object or issue in text order (borrowed), or NULL when i is out of range. */
const struct gf_layout_object *gf_layout_object(const gf_layout_t *self, size_t i);
const struct gf_layout_issue *gf_layout_issue(const gf_layout_t *self, size_t i);
/* All objects as one array of gf_layout_n_objects() (borrowed; moves when more are found). */
const struct gf_layout_object *gf_layout_objects(const gf_layout_t *self);
/* Bytes fed so far. */
size_t gf_layout_length(const gf_layout_t *self);

/* The JSON `what` ("missing_box_end") and a one-line description of an issue kind. */
const char *gf_layout_issue_name(enum gf_layout_issue_kind kind);
const char *gf_layout_issue_desc(enum gf_layout_issue_kind kind);

/* The `layout.json` form (caller owns; json_decref), or NULL when out of memory:
 * {"objects": [{"phrase": S, "box": [x1,y1,x2,y2], "span": [start,end]}],
 *  "issues": [{"what": S, "span": [start,end]}]} */
json_t *gf_layout_to_json(const gf_layout_t *self);

#endif
