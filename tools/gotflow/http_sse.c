/* http_sse.c — `stream: true`: Server-Sent Events of one generation request (docs/http.md):
 * the reasoning as it is written, each layout object as it is parsed, image-token progress, the
 * pictures, then the final object and `data: [DONE]`. Every event is one `data:` line holding a
 * JSON object with a `type`. The connection thread blocks here (one thread per connection). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "http_int.h"

void gf_http_sse_out(struct gf_http_conn *cc, const char *p, size_t n)
{
    if (cc->out_len + n > cc->out_cap) {
        size_t cap = (cc->out_len + n) * 2 + 4096;
        char *q = realloc(cc->out, cap);
        if (!q)
            return;
        cc->out = q;
        cc->out_cap = cap;
    }
    memcpy(cc->out + cc->out_len, p, n);
    cc->out_len += n;
}

void gf_http_sse_event(struct gf_http_conn *cc, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s)
        return;
    gf_http_sse_out(cc, "data: ", 6);
    gf_http_sse_out(cc, s, strlen(s));
    gf_http_sse_out(cc, "\n\n", 2);
    free(s);
}

/* Reasoning text: the delta event, and the layout objects it completes. */
static void s_text(struct gf_http_conn *cc, const char *text, size_t len)
{
    if (!len)
        return;
    char *t = realloc(cc->text, cc->text_len + len + 1);
    if (!t)
        return;
    cc->text = t;
    memcpy(cc->text + cc->text_len, text, len);
    cc->text_len += len;
    json_t *d = json_stringn(text, len);
    if (d)
        gf_http_sse_event(cc, json_pack("{s:s,s:o}", "type", "reasoning.delta", "delta", d));
    if (!cc->layout)
        cc->layout = gf_layout_new();
    if (!cc->layout || gf_layout_feed(cc->layout, text, len) != 0)
        return;
    for (; cc->objects_sent < gf_layout_n_objects(cc->layout); cc->objects_sent++) {
        const struct gf_layout_object *o = gf_layout_object(cc->layout, cc->objects_sent);
        gf_http_sse_event(cc, json_pack("{s:s,s:i,s:s,s:[i,i,i,i]}", "type", "layout.object",
                                        "index", (int)cc->objects_sent, "phrase", o->phrase, "box",
                                        o->box[0], o->box[1], o->box[2], o->box[3]));
    }
}

static void s_tap_frame(struct gf_http_conn *cc, const struct gf_http_event *e)
{
    gf_frame_t *f = NULL;
    if (gf_frame_decode(e->data, e->len, 0, &f, NULL, 0, NULL) != 0)
        return;
    const char *text;
    size_t len;
    int64_t step, of;
    if (strcmp(f->kind, "text_delta") == 0 && gf_frame_get_str(f, "text", &text, &len) == 0)
        s_text(cc, text, len);
    else if (strcmp(f->kind, "progress") == 0 && gf_frame_get_int(f, "step", &step) == 0 &&
             gf_frame_get_int(f, "of", &of) == 0)
        gf_http_sse_event(cc, json_pack("{s:s,s:I,s:I}", "type", "image_generation.progress",
                                        "step", (json_int_t)step, "of", (json_int_t)of));
    gf_frame_destroy(&f);
}

static void s_error(struct gf_http_conn *cc, const char *message, const char *type,
                    const char *code)
{
    gf_http_sse_event(cc, json_pack("{s:s,s:{s:s,s:s,s:n,s:s}}", "type", "error", "error",
                                    "message", message, "type", type, "param", "code", code));
}

/* The answer: the rest of the chain, the pictures, the final object. */
static void s_final(struct gf_http_conn *cc)
{
    struct gf_http *s = cc->s;
    gf_frame_t *f = NULL;
    if (!cc->job->answer ||
        gf_frame_decode(cc->job->answer, cc->job->answer_len, 0, &f, NULL, 0, NULL) != 0) {
        s_error(cc, "the pipeline's answer cannot be read", "server_error", "bad_answer");
        return;
    }
    if (strcmp(f->kind, "error") == 0) {
        const char *type, *code;
        char msg[1024];
        gf_http_error_status(f, &type, &code, msg, sizeof msg);
        s_error(cc, msg, type, code);
        gf_frame_destroy(&f);
        return;
    }
    const char *text;
    size_t len;
    if (gf_frame_get_str(f, "text", &text, &len) == 0 && len > cc->text_len &&
        (cc->text_len == 0 || memcmp(text, cc->text, cc->text_len) == 0))
        s_text(cc, text + cc->text_len, len - cc->text_len); /* what the taps did not bring */
    struct gf_generate_meta m;
    gf_http_req_meta(&cc->req, &s->model, s->o.pipeline, &m);
    gf_http_defaults(s, cc->req.have, &m);
    json_t *res = gf_http_result_json(f, &cc->req, &m, NULL);
    size_t k;
    json_t *d;
    json_array_foreach(json_object_get(res, "data"), k, d)
    {
        json_t *b = json_object_get(d, "b64_json");
        gf_http_sse_event(cc,
                          json_pack("{s:s,s:i,s:O,s:s,s:s}", "type", "image_generation.completed",
                                    "index", (int)k, "b64_json", b ? b : json_null(),
                                    "output_format", "png", "size", "auto"));
        if (!cc->req.b64) {
            json_object_del(d, "b64_json");
            const msgpack_object *png = gf_frame_get(f, "png");
            const msgpack_object *bin = &png->via.array.ptr[k];
            char url[512];
            gf_http_store(s, bin->via.bin.ptr, bin->via.bin.size, url, sizeof url);
            json_object_set_new(d, "url", json_string(url));
        }
    }
    json_object_set_new(res, "type", json_string("response.completed"));
    gf_http_sse_event(cc, res);
    gf_frame_destroy(&f);
}

static int s_ready(struct gf_http_job *j)
{
    return j->done || j->events;
}

/* Waits for what comes next and turns it into events; sets sse_done at the end. */
static void s_next(struct gf_http_conn *cc)
{
    struct gf_http *s = cc->s;
    pthread_mutex_lock(&s->mu);
    int rc = gf_http_wait(s, cc->job, s_ready);
    struct gf_http_event *e = cc->job->events;
    cc->job->events = cc->job->events_tail = NULL;
    int done = cc->job->done;
    pthread_mutex_unlock(&s->mu);
    while (e) {
        struct gf_http_event *next = e->next;
        s_tap_frame(cc, e);
        free(e);
        e = next;
    }
    if (done)
        s_final(cc);
    else if (rc == GF_ETIMEDOUT)
        s_error(cc, "no result in time", "server_error", "timeout");
    else if (rc)
        s_error(cc, "the server is stopping", "server_error", "draining");
    if (done || rc) {
        gf_http_sse_out(cc, "data: [DONE]\n\n", 14);
        cc->sse_done = 1;
    }
}

static ssize_t s_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct gf_http_conn *cc = cls;
    while (cc->out_off >= cc->out_len) {
        cc->out_off = cc->out_len = 0;
        if (cc->sse_done)
            return MHD_CONTENT_READER_END_OF_STREAM;
        s_next(cc);
    }
    size_t n = cc->out_len - cc->out_off < max ? cc->out_len - cc->out_off : max;
    memcpy(buf, cc->out + cc->out_off, n);
    cc->out_off += n;
    return (ssize_t)n;
}

enum MHD_Result gf_http_sse_start(struct gf_http_conn *cc, struct MHD_Connection *c)
{
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, s_read, cc, NULL);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Request-Id", cc->job->id);
    cc->status = 200;
    enum MHD_Result rc = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return rc;
}

void gf_http_sse_release(struct gf_http_conn *cc)
{
    free(cc->out);
    free(cc->text);
    gf_layout_destroy(&cc->layout);
    cc->out = cc->text = NULL;
}
