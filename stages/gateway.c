/* gateway.c — requests in, results out.
 *
 * Clients connect a DEALER (or REQ) socket to the gateway's ROUTER (`bind:` in the graph, else
 * ipc://RUN/gateway) and send one msgpack map per request: {id?, kind?, params?, ...payload}.
 * The gateway checks it, stamps v/id/n/trace, journals (id -> client) and sends it into the
 * pipeline. Results come back from the sinks to this stage's inlet; each is forwarded to the
 * client that asked, once, and the journal entry is dropped. A request with no result within
 * `params.timeout_ms` (default 600000) is answered ETIMEDOUT. Delivery: every request is kept
 * until its result comes; when the supervisor reports that a replica died holding it, or when an
 * attempt has had no result for `params.attempt_timeout_ms` (default 0: no per-attempt deadline),
 * it is sent again with the next attempt number `n`, up to `params.max_attempts` (default 3) in
 * all. Stages treat (id, n) as a new frame; the first result to come back is the answer and later
 * ones are dropped, so a client hears once. With `params.max_requests` (default
 * 100000) requests in flight, new ones are refused at once with EBUSY (load shedding) instead of
 * waiting without bound. docs/protocol.md is the reference.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "core/error.h"
#include "core/log.h"
#include "core/strmap.h"
#include "engine/edge.h"
#include "engine/plan.h"
#include "engine/stage.h"

/* Who asked: the routing id, and whether it is a REQ socket (its answers need the empty
 * delimiter frame before the body). */
struct s_client {
    uint8_t rid[256];
    size_t rid_len;
    int req;
};

struct s_pending {
    struct s_client client;
    int64_t deadline_ms;         /* the request's: answered ETIMEDOUT after it */
    int64_t attempt_deadline_ms; /* this attempt's: re-issued after it */
    uint32_t n;                  /* current attempt */
    char kind[GF_FRAME_KIND_MAX];
    uint8_t *request; /* the client's map, to send again */
    size_t request_len;
};

struct s_gateway {
    void *clients;
    gf_strmap_t *journal;
    uint64_t instance, seq;
    long timeout_ms, max_requests, attempt_timeout_ms, max_attempts;
    uint64_t reissued;
    int64_t next_sweep_ms;
    gf_emit_t reply;
};

static void s_reply(gf_stage_t *st, const struct s_client *c, const void *data, size_t len)
{
    struct s_gateway *gw = gf_stage_info(st)->user;
    if (zmq_send(gw->clients, c->rid, c->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return;
    if (c->req)
        zmq_send(gw->clients, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(gw->clients, data, len, ZMQ_DONTWAIT);
}

/* An error answer; `id` is the request's when it could be read, else "-". */
static void s_reply_error(gf_stage_t *st, const struct s_client *c, const char *id, int err,
                          const char *message)
{
    struct s_gateway *gw = gf_stage_info(st)->user;
    gf_emit_error(&gw->reply, id[0] ? id : "-", 0, NULL, "gateway", gf_stage_info(st)->replica,
                  gf_errname(err), message);
    s_reply(st, c, gf_emit_data(&gw->reply), gf_emit_len(&gw->reply));
}

static void s_update_requests(gf_stage_t *st)
{
    struct s_gateway *gw = gf_stage_info(st)->user;
    const char *ids[32];
    int n = 0;
    size_t pos = 0;
    const char *k;
    while (n < 32 && (k = gf_strmap_next(gw->journal, &pos, NULL)))
        ids[n++] = k;
    gf_stage_set_requests(st, (int)gf_strmap_size(gw->journal), ids, n);
}

/* Sends attempt p->n of request `id`: the client's keys but the common ones, which are ours. */
static void s_send_attempt(gf_stage_t *st, const char *id, struct s_pending *p,
                           const msgpack_object *req)
{
    struct s_gateway *gw = gf_stage_info(st)->user;
    gf_emit_t *e = gf_stage_begin_id(st, id, p->n, p->kind);
    for (uint32_t i = 0; i < req->via.map.size; i++) {
        const msgpack_object *k = &req->via.map.ptr[i].key;
        char key[GF_EMIT_KEY_MAX];
        snprintf(key, sizeof key, "%.*s", (int)k->via.str.size, k->via.str.ptr);
        if (strcmp(key, "id") && strcmp(key, "kind") && strcmp(key, "v") && strcmp(key, "n") &&
            strcmp(key, "trace"))
            gf_emit_obj(e, key, &req->via.map.ptr[i].val);
    }
    p->attempt_deadline_ms =
        gw->attempt_timeout_ms > 0 ? gf_mono_ms() + gw->attempt_timeout_ms : INT64_MAX;
    gf_stage_send(st, NULL);
}

/* Sends request `id` again with the next attempt number, or answers it when it has had its
 * attempts. Returns 1 when the request is finished (answered and forgotten). */
static int s_reissue(gf_stage_t *st, const char *id, struct s_pending *p, const char *why)
{
    struct s_gateway *gw = gf_stage_info(st)->user;
    if ((long)p->n + 1 >= gw->max_attempts) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s; gave up after %u attempts", why, p->n + 1);
        gf_log_warn("request '%s': %s", id, msg);
        s_reply_error(st, &p->client, id, GF_ETIMEDOUT, msg);
        return 1;
    }
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, (const char *)p->request, p->request_len, &off) ==
        MSGPACK_UNPACK_SUCCESS) {
        p->n++;
        gw->reissued++;
        gf_log_info("request '%s': %s; sending attempt %u", id, why, p->n);
        s_send_attempt(st, id, p, &u.data);
    }
    msgpack_unpacked_destroy(&u);
    return 0;
}

static void s_pending_free(struct s_pending *p)
{
    if (p)
        free(p->request);
    free(p);
}

/* Keys are strings of 1..31 bytes, `kind` (default "prompt") is 1..15 of [a-z_], `params` a
 * map: what every stage's decoder will insist on, checked here so the client hears of it. */
static int s_check_request(const msgpack_object *req, char kind[GF_FRAME_KIND_MAX], char *why,
                           size_t whylen)
{
    for (uint32_t i = 0; i < req->via.map.size; i++) {
        const msgpack_object *k = &req->via.map.ptr[i].key;
        if (k->type != MSGPACK_OBJECT_STR || k->via.str.size == 0 ||
            k->via.str.size >= GF_EMIT_KEY_MAX) {
            snprintf(why, whylen, "request key %u is not a string of 1..%d bytes", i,
                     GF_EMIT_KEY_MAX - 1);
            return GF_ESCHEMA;
        }
    }
    const msgpack_object *o = gf_map_get(req, "kind");
    if (o) {
        int ok = o->type == MSGPACK_OBJECT_STR && o->via.str.size > 0 &&
                 o->via.str.size < GF_FRAME_KIND_MAX;
        for (uint32_t i = 0; ok && i < o->via.str.size; i++)
            ok = (o->via.str.ptr[i] >= 'a' && o->via.str.ptr[i] <= 'z') || o->via.str.ptr[i] == '_';
        if (!ok) {
            snprintf(why, whylen, "'kind' must be 1..15 of [a-z_]");
            return GF_ESCHEMA;
        }
        snprintf(kind, GF_FRAME_KIND_MAX, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    }
    o = gf_map_get(req, "params");
    if (o && o->type != MSGPACK_OBJECT_MAP) {
        snprintf(why, whylen, "'params' must be a map");
        return GF_ESCHEMA;
    }
    return 0;
}

/* One client request: [routing id][msgpack map]. */
static void s_on_request(gf_stage_t *st, const struct s_client *c, const uint8_t *data, size_t len)
{
    struct s_gateway *gw = gf_stage_info(st)->user;
    const struct gf_stage_info *info = gf_stage_info(st);
    char why[256], id[GF_FRAME_ID_MAX] = "";
    gf_frame_peek_id(data, len, id);
    if (gf_stage_draining(st)) {
        s_reply_error(st, c, id, GF_EDRAINING, "the pipeline is stopping; retry later");
        return;
    }
    long max = info->graph->max_frame_bytes;
    if (len > (size_t)max) {
        snprintf(why, sizeof why, "request of %zu bytes exceeds the limit of %ld", len, max);
        s_reply_error(st, c, id, GF_ETOOBIG, why);
        return;
    }
    int err = gf_msgpack_check(data, len, GF_FRAME_MAX_DEPTH, GF_FRAME_MAX_ELEMS, why, sizeof why);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (!err && msgpack_unpack_next(&u, (const char *)data, len, &off) != MSGPACK_UNPACK_SUCCESS)
        err = GF_EPARSE, snprintf(why, sizeof why, "not msgpack");
    if (!err && (u.data.type != MSGPACK_OBJECT_MAP || u.data.via.map.size > GF_EMIT_MAX_KEYS - 5))
        err = GF_ESCHEMA,
        snprintf(why, sizeof why, "a request is a map of at most %d keys", GF_EMIT_MAX_KEYS - 5);
    const msgpack_object *o = err ? NULL : gf_map_get(&u.data, "id");
    if (o) {
        if (o->type != MSGPACK_OBJECT_STR || !gf_frame_id_ok(o->via.str.ptr, o->via.str.size))
            err = GF_ESCHEMA,
            snprintf(why, sizeof why, "'id' must be 1..63 of [A-Za-z0-9._:-], not starting '.'");
        else
            snprintf(id, sizeof id, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    } else if (!err) {
        snprintf(id, sizeof id, "%016llx-%llu", (unsigned long long)gw->instance,
                 (unsigned long long)++gw->seq);
    }
    char kind[GF_FRAME_KIND_MAX] = "prompt";
    if (!err)
        err = s_check_request(&u.data, kind, why, sizeof why);
    if (!err && gw->max_requests > 0 && (long)gf_strmap_size(gw->journal) >= gw->max_requests)
        err = GF_EBUSY, snprintf(why, sizeof why,
                                 "the pipeline holds %ld requests, its limit (max_requests); retry "
                                 "later",
                                 gw->max_requests);
    if (!err && gf_strmap_get(gw->journal, id))
        err = GF_EEXIST, snprintf(why, sizeof why, "request '%s' is already in flight", id);
    if (err) {
        s_reply_error(st, c, id, err, why);
        goto out;
    }
    struct s_pending *p = calloc(1, sizeof *p);
    if (!p) {
        s_reply_error(st, c, id, GF_ENOMEM, "cannot journal the request");
        goto out;
    }
    p->client = *c;
    p->deadline_ms = gw->timeout_ms > 0 ? gf_mono_ms() + gw->timeout_ms : INT64_MAX;
    snprintf(p->kind, sizeof p->kind, "%s", kind);
    p->request = malloc(len);
    if (!p->request) {
        free(p);
        s_reply_error(st, c, id, GF_ENOMEM, "cannot journal the request");
        goto out;
    }
    memcpy(p->request, data, len);
    p->request_len = len;
    gf_strmap_put(gw->journal, id, p);
    s_send_attempt(st, id, p, &u.data);
out:
    msgpack_unpacked_destroy(&u);
}

static void s_on_clients(gf_stage_t *st, void *sock)
{
    for (int k = 0; k < 1024; k++) {
        zmq_msg_t rid, body;
        zmq_msg_init(&rid);
        if (zmq_msg_recv(&rid, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&rid);
            return;
        }
        zmq_msg_init(&body);
        struct s_client c = {.req = 0};
        int ok = zmq_msg_more(&rid) && zmq_msg_recv(&body, sock, 0) >= 0;
        /* a REQ client puts an empty delimiter first */
        if (ok && zmq_msg_size(&body) == 0 && zmq_msg_more(&body)) {
            c.req = 1;
            zmq_msg_close(&body);
            zmq_msg_init(&body);
            ok = zmq_msg_recv(&body, sock, 0) >= 0;
        }
        int more = ok && zmq_msg_more(&body);
        while (more) {
            zmq_msg_t extra;
            zmq_msg_init(&extra);
            more = zmq_msg_recv(&extra, sock, 0) >= 0 && zmq_msg_more(&extra);
            zmq_msg_close(&extra);
        }
        if (ok && zmq_msg_size(&rid) <= sizeof c.rid) {
            memcpy(c.rid, zmq_msg_data(&rid), zmq_msg_size(&rid));
            c.rid_len = zmq_msg_size(&rid);
            s_on_request(st, &c, zmq_msg_data(&body), zmq_msg_size(&body));
        }
        zmq_msg_close(&rid);
        zmq_msg_close(&body);
    }
}

/* Results (and errors) from the sinks. */
static int s_process(gf_stage_t *st, gf_frame_t **frames, int n)
{
    struct s_gateway *gw = gf_stage_info(st)->user;
    for (int i = 0; i < n; i++) {
        gf_frame_t *f = frames[i];
        struct s_pending *p = gf_strmap_take(gw->journal, f->id);
        if (!p) {
            gf_log_debug("result for unknown or answered request '%s' dropped", f->id);
        } else {
            s_reply(st, &p->client, f->bytes, f->len);
            s_pending_free(p);
        }
        gf_stage_done(st, &frames[i]);
    }
    return 0;
}

/* Requests past their deadline are answered ETIMEDOUT and forgotten: a client is never left
 * waiting in silence, and a drain is not held up by a request lost with a crashed replica. */
static void s_tick(gf_stage_t *st, int64_t now_ms)
{
    struct s_gateway *gw = gf_stage_info(st)->user;
    if (now_ms < gw->next_sweep_ms)
        return;
    gw->next_sweep_ms = now_ms + 100;
    size_t pos = 0;
    void *v;
    const char *id;
    char due[64][GF_FRAME_ID_MAX];
    int n = 0;
    while (n < 64 && (id = gf_strmap_next(gw->journal, &pos, &v))) {
        struct s_pending *p = v;
        if (p->deadline_ms <= now_ms || p->attempt_deadline_ms <= now_ms)
            snprintf(due[n++], GF_FRAME_ID_MAX, "%s", id);
    }
    for (int i = 0; i < n; i++) {
        struct s_pending *p = gf_strmap_get(gw->journal, due[i]);
        char msg[128];
        if (p->deadline_ms <= now_ms) {
            snprintf(msg, sizeof msg, "no result within %ld ms", gw->timeout_ms);
            gf_log_warn("request '%s': %s", due[i], msg);
            s_reply_error(st, &p->client, due[i], GF_ETIMEDOUT, msg);
        } else {
            snprintf(msg, sizeof msg, "attempt %u had no result within %ld ms", p->n,
                     gw->attempt_timeout_ms);
            if (!s_reissue(st, due[i], p, msg))
                continue;
        }
        s_pending_free(gf_strmap_take(gw->journal, due[i]));
    }
    s_update_requests(st); /* read by the heartbeat; every 100 ms is enough */
}

/* The supervisor saw a replica die holding these requests: send them again now. */
static void s_on_lost(gf_stage_t *st, const char *const *ids, int n)
{
    struct s_gateway *gw = gf_stage_info(st)->user;
    for (int i = 0; i < n; i++) {
        struct s_pending *p = gf_strmap_get(gw->journal, ids[i]);
        if (p && s_reissue(st, ids[i], p, "lost with a replica that died"))
            s_pending_free(gf_strmap_take(gw->journal, ids[i]));
    }
}

static int s_init(gf_stage_t *st)
{
    struct gf_stage_info *info = gf_stage_info(st);
    struct s_gateway *gw = calloc(1, sizeof *gw);
    char ep[GF_PATH_MAX];
    if (!gw)
        return GF_ENOMEM;
    info->user = gw;
    gw->journal = gf_strmap_new();
    gw->instance = gf_instance_id() & 0xffffffffffull;
    gw->timeout_ms = gf_graph_param_long(info->def, "timeout_ms", 600000);
    gw->max_requests = gf_graph_param_long(info->def, "max_requests", 100000);
    gw->attempt_timeout_ms = gf_graph_param_long(info->def, "attempt_timeout_ms", 0);
    gw->max_attempts = gf_graph_param_long(info->def, "max_attempts", 3);
    if (gw->max_attempts < 1)
        gw->max_attempts = 1;
    gf_emit_init(&gw->reply);
    gw->clients = zmq_socket(info->zctx, ZMQ_ROUTER);
    gf_socket_defaults(gw->clients, info->graph->max_frame_bytes);
    int hwm = 0;
    zmq_setsockopt(gw->clients, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(gw->clients, ZMQ_RCVHWM, &hwm, sizeof hwm);
    gf_plan_gateway(info->graph, info->run_dir, info->index, ep, sizeof ep);
    /* a tcp client endpoint of a secured graph admits only the hosts' keys, like every edge */
    gf_security_server(gf_stage_security(st), gw->clients, ep);
    if (zmq_bind(gw->clients, ep) != 0) {
        gf_log_error("cannot bind the client endpoint '%s': %s", ep, zmq_strerror(zmq_errno()));
        return GF_EZMQ;
    }
    gf_log_info("accepting requests on '%s'", ep);
    return gf_stage_watch(st, gw->clients, s_on_clients);
}

static void s_shutdown(gf_stage_t *st)
{
    struct s_gateway *gw = gf_stage_info(st)->user;
    size_t pos = 0;
    void *v;
    while (gf_strmap_next(gw->journal, &pos, &v))
        s_pending_free(v);
    gf_strmap_destroy(&gw->journal);
    zmq_close(gw->clients);
    gf_emit_release(&gw->reply);
    free(gw);
}

static const struct gf_stage_ops s_ops = {
    .kind = "gateway",
    .flags = GF_STAGE_SEES_ERRORS | GF_STAGE_SOURCE,
    .init = s_init,
    .process = s_process,
    .tick = s_tick,
    .on_lost = s_on_lost,
    .shutdown = s_shutdown,
};

int main(int argc, char **argv)
{
    return gf_stage_main(argc, argv, &s_ops);
}
