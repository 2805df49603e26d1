/* sink.c — the end of a pipeline: turns the last frame of a request into its `result`.
 *
 * The result carries everything the request gathered, plus `from` (the kind of the frame that
 * arrived) and `timings` ({stage: milliseconds spent there}, and `total`). Results and errors go
 * back to the gateway, which answers the client. With `out:` in the graph, each result is also
 * written as <out>/<id>.json. Several upstream stages are joined by request id first (fan-in).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/log.h"
#include "engine/json.h"
#include "engine/stage.h"

static void s_timings(gf_emit_t *e, const gf_frame_t *f)
{
    msgpack_packer *pk = gf_emit_key(e, "timings");
    const msgpack_object *tr = f->trace;
    uint32_t n = tr ? tr->via.array.size : 0;
    int64_t first = 0, t_in, t_out;
    msgpack_pack_map(pk, n + 1);
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *ent = &tr->via.array.ptr[i];
        if (ent->type != MSGPACK_OBJECT_ARRAY || ent->via.array.size < 4 ||
            ent->via.array.ptr[0].type != MSGPACK_OBJECT_STR ||
            gf_obj_int(&ent->via.array.ptr[2], &t_in) ||
            gf_obj_int(&ent->via.array.ptr[3], &t_out)) {
            msgpack_pack_str_with_body(pk, "?", 1);
            msgpack_pack_nil(pk);
            continue;
        }
        if (i == 0)
            first = t_in;
        msgpack_pack_object(pk, ent->via.array.ptr[0]);
        msgpack_pack_double(pk, (double)(t_out - t_in) / 1000.0);
    }
    msgpack_pack_str_with_body(pk, "total", 5);
    msgpack_pack_double(pk, first ? (double)(gf_now_us() - first) / 1000.0 : 0.0);
}

static void s_write_file(gf_stage_t *st, gf_emit_t *e)
{
    const char *out = gf_stage_info(st)->def->out;
    char path[4096 + 80];
    gf_frame_t *f = NULL;
    if (!out[0] || gf_frame_decode(gf_emit_data(e), gf_emit_len(e), 0, &f, NULL, 0, NULL))
        return;
    mkdir(out, 0755);
    snprintf(path, sizeof path, "%s/%s.json", out, f->id);
    json_t *j = gf_json_from_msgpack(f->root, 4096);
    if (json_dump_file(j, path, JSON_INDENT(2)) != 0)
        gf_log_error("cannot write '%s': %s", path, strerror(errno));
    json_decref(j);
    gf_frame_destroy(&f);
}

static int s_process(gf_stage_t *st, gf_frame_t **frames, int n)
{
    for (int i = 0; i < n; i++) {
        gf_frame_t *f = frames[i];
        int is_error = strcmp(f->kind, "error") == 0;
        gf_emit_t *e = gf_stage_begin(st, f, is_error ? "error" : "result");
        if (!is_error) {
            gf_emit_str(e, "from", f->kind);
            s_timings(e, f);
        }
        gf_stage_send(st, f);
        s_write_file(st, e);
        gf_stage_done(st, &frames[i]);
    }
    return 0;
}

static const struct gf_stage_ops s_ops = {
    .kind = "sink",
    .flags = GF_STAGE_SEES_ERRORS,
    .process = s_process,
};

int main(int argc, char **argv)
{
    return gf_stage_main(argc, argv, &s_ops);
}
