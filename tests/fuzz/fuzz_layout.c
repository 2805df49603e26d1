/* fuzz_layout.c — libFuzzer target for the layout parser.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon \
 *       tests/fuzz/fuzz_layout.c common/model/picture/layout.c common/core/error.c -ljansson \
 *       -o build/fuzz_layout && build/fuzz_layout -max_total_time=60 -dict=tests/fuzz/layout.dict
 *
 * The input is a whole chain. It is parsed in one piece and again in pieces whose sizes follow
 * from the input; both must agree exactly, every span must lie inside the input, every object must
 * be well-formed, and every object's span parsed alone must give that object back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/picture/layout.h"

static void s_same(const gf_layout_t *a, const gf_layout_t *b)
{
    if (gf_layout_n_objects(a) != gf_layout_n_objects(b) ||
        gf_layout_n_issues(a) != gf_layout_n_issues(b))
        abort();
    for (size_t i = 0; i < gf_layout_n_objects(a); i++) {
        const struct gf_layout_object *x = gf_layout_object(a, i), *y = gf_layout_object(b, i);
        if (strcmp(x->phrase, y->phrase) || memcmp(x->box, y->box, sizeof x->box) ||
            x->span.start != y->span.start || x->span.end != y->span.end)
            abort();
    }
    for (size_t i = 0; i < gf_layout_n_issues(a); i++) {
        const struct gf_layout_issue *x = gf_layout_issue(a, i), *y = gf_layout_issue(b, i);
        if (x->kind != y->kind || x->span.start != y->span.start || x->span.end != y->span.end)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    gf_layout_t *whole = NULL, *split = gf_layout_new();
    if (!split || gf_layout_parse(text, size, &whole) != 0)
        abort();
    uint32_t seed = (uint32_t)size * 2654435761u;
    for (size_t at = 0; at < size;) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 16) % 17;
        if (n > size - at)
            n = size - at;
        if (gf_layout_feed(split, text + at, n) != 0)
            abort();
        at += n;
    }
    if (gf_layout_finish(split) != 0)
        abort();
    s_same(whole, split);
    for (size_t i = 0; i < gf_layout_n_objects(whole); i++) {
        const struct gf_layout_object *o = gf_layout_object(whole, i);
        if (o->span.start >= o->span.end || o->span.end > size || !o->phrase[0] || o->box[0] < 0 ||
            o->box[2] > GF_LAYOUT_GRID || o->box[0] > o->box[2] || o->box[1] < 0 ||
            o->box[3] > GF_LAYOUT_GRID || o->box[1] > o->box[3])
            abort();
        gf_layout_t *one = NULL;
        if (gf_layout_parse(text + o->span.start, o->span.end - o->span.start, &one) != 0 ||
            gf_layout_n_objects(one) != 1 || gf_layout_n_issues(one) != 0 ||
            strcmp(gf_layout_object(one, 0)->phrase, o->phrase))
            abort();
        gf_layout_destroy(&one);
    }
    for (size_t i = 0; i < gf_layout_n_issues(whole); i++) {
        const struct gf_layout_issue *is = gf_layout_issue(whole, i);
        if (is->span.start > is->span.end || is->span.end > size)
            abort();
    }
    json_t *j = gf_layout_to_json(whole);
    if (!j)
        abort();
    json_decref(j);
    gf_layout_destroy(&whole);
    gf_layout_destroy(&split);
    return 0;
}
