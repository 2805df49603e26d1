/* sink.c — the end of a pipeline: turns the last frame of a request into its `result`.
 *
 * The result carries everything the request gathered, plus `from` (the kind of the frame that
 * arrived) and `timings` ({stage: milliseconds spent there}, and `total`). Results and errors go
 * back to the gateway, which answers the client. With `out:` in the graph, each result is first
 * written as <out>/<id>.json (temporary file, fsync, rename, fsync of the folder) and sent only
 * once it is there; a write that fails answers the request with an `error` frame instead.
 * Several upstream stages are joined by request id first (fan-in).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "engine/json.h"
#include "engine/stage.h"

/* A `phases_ms` entry: a name and a number of milliseconds; anything else is left out. */
static int s_is_phase(const msgpack_object_kv *kv)
{
    return kv->key.type == MSGPACK_OBJECT_STR &&
           (kv->val.type == MSGPACK_OBJECT_FLOAT64 || kv->val.type == MSGPACK_OBJECT_FLOAT32 ||
            kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER);
}

static void s_timings(gf_emit_t *e, const gf_frame_t *f)
{
    msgpack_packer *pk = gf_emit_key(e, "timings");
    const msgpack_object *tr = f->trace;
    uint32_t n = tr ? tr->via.array.size : 0;
    int64_t first = 0, t_in, t_out;
    /* phases a stage measured inside itself (`phases_ms`, e.g. imagegen's re-prefill and steps) */
    const msgpack_object *ph = gf_frame_get(f, "phases_ms");
    uint32_t n_ph = 0, n_map = ph && ph->type == MSGPACK_OBJECT_MAP ? ph->via.map.size : 0;
    for (uint32_t i = 0; i < n_map; i++)
        n_ph += s_is_phase(&ph->via.map.ptr[i]);
    msgpack_pack_map(pk, n + n_ph + 1);
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
    for (uint32_t i = 0; i < n_map; i++) {
        if (!s_is_phase(&ph->via.map.ptr[i]))
            continue;
        msgpack_pack_object(pk, ph->via.map.ptr[i].key);
        msgpack_pack_object(pk, ph->via.map.ptr[i].val);
    }
    msgpack_pack_str_with_body(pk, "total", 5);
    msgpack_pack_double(pk, first ? (double)(gf_now_us() - first) / 1000.0 : 0.0);
}

/* Writes the sealed frame `e` to <out>/<id>.json, durably (core/file.h).
 * 0 when written or when the graph gives no `out:`; else GF_EIO with the errno in *sys_err and
 * one line in `why` naming the path. */
static int s_write_file(gf_stage_t *st, const gf_emit_t *e, int *sys_err, char *why, size_t why_len)
{
    const char *out = gf_stage_info(st)->def->out;
    char path[GF_GRAPH_VALUE_MAX + GF_FRAME_ID_MAX + 8];
    gf_frame_t *f = NULL;
    if (!out[0])
        return 0;
    char *text = NULL;
    int err = gf_frame_decode(gf_emit_data(e), gf_emit_len(e), 0, &f, NULL, 0, NULL);
    if (err) {
        *sys_err = EINVAL;
        snprintf(why, why_len, "cannot write the result: its frame does not decode (%s)",
                 gf_strerror(err));
        return GF_EIO;
    }
    snprintf(path, sizeof path, "%s/%s.json", out, f->id);
    err = GF_EIO;
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        *sys_err = errno;
        snprintf(why, why_len, "cannot create '%s': %s", out, strerror(errno));
        goto out_frame;
    }
    json_t *j = gf_json_from_msgpack(f->root, 4096);
    text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);
    if (!text) {
        *sys_err = ENOMEM;
        snprintf(why, why_len, "cannot write '%s': the result does not convert to JSON", path);
        goto out_frame;
    }
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps leaves no newline; the NUL is not written */
    err = gf_file_write_atomic(path, text, len + 1, sys_err, why, why_len);
    free(text);
out_frame:
    gf_frame_destroy(&f);
    return err;
}

/* Nothing is reported before it is done: with `out:`, the result frame is sent only once its
 * file is on disk; when the write fails the request is answered with an `error` frame whose
 * code names the errno (ENOSPC, EROFS, EACCES, ...) and whose message names the path. An
 * upstream error is forwarded as it is, and a failure to write its file only logged. */
static int s_process(gf_stage_t *st, gf_frame_t **frames, int n)
{
    for (int i = 0; i < n; i++) {
        gf_frame_t *f = frames[i];
        int is_error = strcmp(f->kind, "error") == 0, sys_err = 0;
        char why[600];
        gf_emit_t *e = gf_stage_begin(st, f, is_error ? "error" : "result");
        if (!is_error) {
            gf_emit_str(e, "from", f->kind);
            s_timings(e, f);
        }
        gf_stage_seal(st, f);
        if (s_write_file(st, e, &sys_err, why, sizeof why) != 0) {
            gf_log_error("request '%s': %s", f->id, why);
            if (!is_error) {
                gf_stage_fail_id(st, f->id, f->n, gf_file_errname(sys_err), why);
                gf_stage_done(st, &frames[i]);
                continue;
            }
            /* the sealed error frame was not touched by the failed write */
        }
        gf_stage_send_sealed(st);
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
