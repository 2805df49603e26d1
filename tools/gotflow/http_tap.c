/* http_tap.c — GET /v1/taps/STAGE[?kind=KIND]: a stage's tap as Server-Sent Events, what
 * `gotflow tap` prints (docs/http.md, docs/protocol.md §5). Each connection subscribes with its own
 * SUB socket, in its own thread (libmicrohttpd runs one thread per connection): ZeroMQ sockets
 * are not shared between threads. Every frame is sent as JSON for reading and as its msgpack bytes
 * in base64, so that a client can write a record file that `gotflow replay` reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "engine/edge.h"
#include "engine/json.h"
#include "engine/security.h"
#include "http_int.h"

#define S_MAX_SEEN 256
#define S_BATCH 64 /* frames turned into events at a time */

struct gf_http_tap {
    void *sub;
    char stage[GF_GRAPH_NAME_MAX];
    struct {
        char key[GF_GRAPH_NAME_MAX + 16]; /* "replica/kind" */
        uint64_t last;
    } seen[S_MAX_SEEN];
    int n_seen;
    uint64_t frames, dropped;
    int64_t last_out; /* monotonic ms of the last bytes queued */
    int ended;
};

/* Frames lost since the last of this (replica, kind), from the gap in sequence numbers. */
static uint64_t s_gap(struct gf_http_tap *t, uint32_t replica, const char *kind, uint64_t seq)
{
    char key[sizeof t->seen[0].key];
    snprintf(key, sizeof key, "%u/%.60s", replica, kind);
    for (int i = 0; i < t->n_seen; i++)
        if (strcmp(t->seen[i].key, key) == 0) {
            uint64_t gap = seq > t->seen[i].last + 1 ? seq - t->seen[i].last - 1 : 0;
            t->seen[i].last = seq;
            return gap;
        }
    if (t->n_seen < S_MAX_SEEN) {
        snprintf(t->seen[t->n_seen].key, sizeof key, "%s", key);
        t->seen[t->n_seen++].last = seq;
    }
    return 0;
}

/* One tap message (topic, replica and sequence, frame) as a `tap.frame` event. */
static void s_frame(struct gf_http_conn *cc, zmq_msg_t *parts)
{
    struct gf_http_tap *t = cc->tap;
    if (zmq_msg_size(&parts[1]) != 12)
        return;
    const uint8_t *h = zmq_msg_data(&parts[1]);
    uint32_t replica =
        (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
    uint64_t seq = 0;
    for (int i = 7; i >= 0; i--)
        seq = seq << 8 | h[4 + i];
    char topic[160];
    snprintf(topic, sizeof topic, "%.*s", (int)zmq_msg_size(&parts[0]),
             (const char *)zmq_msg_data(&parts[0]));
    char kind[160];
    const char *dot = strchr(topic, '.');
    snprintf(kind, sizeof kind, "%s", dot ? dot + 1 : topic);
    kind[strcspn(kind, ".")] = 0;
    t->dropped += s_gap(t, replica, kind, seq);
    t->frames++;

    const void *data = zmq_msg_data(&parts[2]);
    size_t len = zmq_msg_size(&parts[2]);
    json_t *ev = json_pack("{s:s,s:s,s:s,s:i,s:s,s:I,s:I}", "type", "tap.frame", "topic", topic,
                           "stage", t->stage, "replica", (int)replica, "kind", kind, "seq",
                           (json_int_t)seq, "dropped", (json_int_t)t->dropped);
    if (!ev)
        return;
    char *b64 = gf_http_base64(data, len);
    json_object_set_new(ev, "msgpack", b64 ? json_string(b64) : json_null());
    free(b64);
    gf_frame_t *f = NULL;
    char why[256];
    if (gf_frame_decode(data, len, 0, &f, why, sizeof why, NULL) == 0) {
        json_object_set_new(ev, "frame", gf_json_from_msgpack(f->root, 64));
        const msgpack_object *png = gf_frame_get(f, "png");
        if (png && png->type == MSGPACK_OBJECT_ARRAY) {
            json_t *pics = json_array();
            for (uint32_t k = 0; k < png->via.array.size; k++) {
                const msgpack_object *b = &png->via.array.ptr[k];
                if (b->type != MSGPACK_OBJECT_BIN)
                    continue;
                char *p = gf_http_base64(b->via.bin.ptr, b->via.bin.size);
                if (p)
                    json_array_append_new(pics, json_string(p));
                free(p);
            }
            json_object_set_new(ev, "pictures", pics);
        }
        gf_frame_destroy(&f);
    } else {
        json_object_set_new(ev, "frame", json_null());
        json_object_set_new(ev, "bad_frame", json_string(why));
    }
    gf_http_sse_event(cc, ev);
}

/* Waits up to 250 ms for frames and queues their events; a comment line when idle for a second
 * (so that a closed connection is noticed); `tap.end` when the front stops. */
static void s_next(struct gf_http_conn *cc)
{
    struct gf_http_tap *t = cc->tap;
    if (cc->s->draining || cc->s->stopping) {
        gf_http_sse_event(cc, json_pack("{s:s,s:s,s:I,s:I}", "type", "tap.end", "why",
                                        "the server is stopping", "frames", (json_int_t)t->frames,
                                        "dropped", (json_int_t)t->dropped));
        t->ended = 1;
        return;
    }
    zmq_pollitem_t it = {t->sub, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 250) > 0) {
        for (int k = 0; k < S_BATCH; k++) {
            zmq_msg_t parts[3];
            int n = 0, more = 1;
            while (more && n < 3) {
                zmq_msg_init(&parts[n]);
                if (zmq_msg_recv(&parts[n], t->sub, ZMQ_DONTWAIT) < 0) {
                    zmq_msg_close(&parts[n]);
                    break;
                }
                more = zmq_msg_more(&parts[n++]);
            }
            if (n == 3)
                s_frame(cc, parts);
            for (int i = 0; i < n; i++)
                zmq_msg_close(&parts[i]);
            if (n == 0)
                break;
        }
    }
    int64_t now = gf_http_now_ms();
    if (cc->out_len > 0)
        t->last_out = now;
    else if (now - t->last_out >= 1000) {
        gf_http_sse_out(cc, ": idle\n\n", 8);
        t->last_out = now;
    }
}

static ssize_t s_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct gf_http_conn *cc = cls;
    while (cc->out_off >= cc->out_len) {
        cc->out_off = cc->out_len = 0;
        if (cc->tap->ended)
            return MHD_CONTENT_READER_END_OF_STREAM;
        s_next(cc);
    }
    size_t n = cc->out_len - cc->out_off < max ? cc->out_len - cc->out_off : max;
    memcpy(buf, cc->out + cc->out_off, n);
    cc->out_off += n;
    return (ssize_t)n;
}

static int s_kind_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
              (k[i] >= '0' && k[i] <= '9') || k[i] == '_' || k[i] == '-'))
            return 0;
    return 1;
}

enum MHD_Result gf_http_tap_start(struct gf_http_conn *cc, struct MHD_Connection *c,
                                  const char *stage, const char *kind)
{
    struct gf_http *s = cc->s;
    const gf_graph_t *g = s->graph;
    char msg[300];
    int si = gf_graph_stage(g, stage);
    if (si < 0) {
        snprintf(msg, sizeof msg, "no stage '%.64s' in pipeline '%s'", stage, g->name);
        return gf_http_error(cc, c, 404, msg, "invalid_request_error", "stage", "not_found");
    }
    if (kind && *kind && !s_kind_ok(kind)) {
        snprintf(msg, sizeof msg, "'%.64s' is not a frame kind (letters, digits, '_', '-')", kind);
        return gf_http_error(cc, c, 400, msg, "invalid_request_error", "kind", "invalid_request");
    }
    if (s->draining)
        return gf_http_error(cc, c, 503, "the server is stopping; retry later", "server_error",
                             NULL, "draining");
    struct gf_http_tap *t = calloc(1, sizeof *t);
    if (!t)
        return MHD_NO;
    cc->tap = t;
    snprintf(t->stage, sizeof t->stage, "%s", stage);
    char topic[GF_GRAPH_NAME_MAX * 2 + 4];
    snprintf(topic, sizeof topic, "%s.%s%s", stage, kind && *kind ? kind : "",
             kind && *kind ? "." : "");
    struct gf_security sec;
    t->sub = zmq_socket(s->zctx, ZMQ_SUB);
    int bad = !t->sub || gf_socket_defaults(t->sub, g->max_frame_bytes) ||
              gf_sockopt_int(t->sub, ZMQ_RCVHWM, 10000, "ZMQ_RCVHWM") ||
              zmq_setsockopt(t->sub, ZMQ_SUBSCRIBE, topic, strlen(topic)) != 0 ||
              gf_security_init(&sec, s->zctx, g, getenv("GOTFLOW_KEY_FILE"), 0) != 0;
    for (int r = 0; !bad && r < g->stages[si].replicas; r++) {
        char ep[GF_PATH_MAX];
        gf_plan_tap(g, s->run_dir, si, r, 0, ep, sizeof ep);
        bad = gf_security_client(&sec, t->sub, ep, gf_plan_host_key(g, si, r)) != 0 ||
              zmq_connect(t->sub, ep) != 0;
    }
    if (bad) {
        snprintf(msg, sizeof msg, "cannot subscribe to the tap of stage '%s': %s", stage,
                 zmq_strerror(zmq_errno()));
        gf_log_warn("%s", msg);
        return gf_http_error(cc, c, 500, msg, "server_error", NULL, "tap_error");
    }
    gf_http_sse_event(cc,
                      json_pack("{s:s,s:s,s:s?,s:s,s:i,s:s}", "type", "tap.start", "stage", stage,
                                "kind", kind && *kind ? kind : NULL, "run_dir", s->run_dir,
                                "replicas", g->stages[si].replicas, "pipeline", g->name));
    t->last_out = gf_http_now_ms();
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 65536, s_read, cc, NULL);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    cc->status = 200;
    enum MHD_Result rc = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return rc;
}

void gf_http_tap_release(struct gf_http_conn *cc)
{
    if (!cc->tap)
        return;
    if (cc->tap->sub) {
        int zero = 0;
        zmq_setsockopt(cc->tap->sub, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(cc->tap->sub);
    }
    free(cc->tap);
    cc->tap = NULL;
}
