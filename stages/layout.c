/* layout.c — the layout stage: a `reasoning` frame in, a `layout` frame out.
 *
 * Parses the chain in `text` for <|obj_start|>phrase<|obj_end|> <|box_start|>(x1,y1),(x2,y2)
 * <|box_end|> entries (common/model/picture/layout.h) and adds `objects` — [{phrase, box [x1, y1,
 * x2, y2] on 0..1000, span [start, end) in bytes of text}] — and `issues` — [{what, span}] for
 * every malformed entry — to everything the request carried. Malformed entries are reported, never
 * fatal; a frame without a `text` string is answered with an ESCHEMA error.
 */
#include <string.h>

#include "core/error.h"
#include "engine/stage.h"
#include "model/picture/layout.h"

static void s_pack_span(msgpack_packer *pk, const struct gf_layout_span *sp)
{
    msgpack_pack_array(pk, 2);
    msgpack_pack_uint64(pk, sp->start);
    msgpack_pack_uint64(pk, sp->end);
}

static void s_emit_layout(gf_emit_t *e, const gf_layout_t *lay)
{
    msgpack_packer *pk = gf_emit_key(e, "objects");
    size_t n = gf_layout_n_objects(lay);
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) {
        const struct gf_layout_object *o = gf_layout_object(lay, i);
        msgpack_pack_map(pk, 3);
        msgpack_pack_str_with_body(pk, "phrase", 6);
        msgpack_pack_str_with_body(pk, o->phrase, strlen(o->phrase));
        msgpack_pack_str_with_body(pk, "box", 3);
        msgpack_pack_array(pk, 4);
        for (int k = 0; k < 4; k++)
            msgpack_pack_int(pk, o->box[k]);
        msgpack_pack_str_with_body(pk, "span", 4);
        s_pack_span(pk, &o->span);
    }
    pk = gf_emit_key(e, "issues");
    n = gf_layout_n_issues(lay);
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) {
        const struct gf_layout_issue *is = gf_layout_issue(lay, i);
        const char *what = gf_layout_issue_name(is->kind);
        msgpack_pack_map(pk, 2);
        msgpack_pack_str_with_body(pk, "what", 4);
        msgpack_pack_str_with_body(pk, what, strlen(what));
        msgpack_pack_str_with_body(pk, "span", 4);
        s_pack_span(pk, &is->span);
    }
}

static int s_process(gf_stage_t *st, gf_frame_t **frames, int n)
{
    for (int i = 0; i < n; i++) {
        const char *text;
        size_t len;
        if (gf_frame_get_str(frames[i], "text", &text, &len) != 0) {
            gf_stage_fail(st, &frames[i], GF_ESCHEMA, "no 'text' string to parse a layout from");
            continue;
        }
        gf_layout_t *lay = NULL;
        int err = gf_layout_parse(text, len, &lay);
        if (err) {
            gf_stage_fail(st, &frames[i], err, "cannot parse the layout: %s", gf_strerror(err));
            continue;
        }
        s_emit_layout(gf_stage_begin(st, frames[i], "layout"), lay);
        gf_layout_destroy(&lay);
        gf_stage_send(st, frames[i]);
        gf_stage_done(st, &frames[i]);
    }
    return 0;
}

static const struct gf_stage_ops s_ops = {
    .kind = "layout",
    .process = s_process,
};

int main(int argc, char **argv)
{
    return gf_stage_main(argc, argv, &s_ops);
}
