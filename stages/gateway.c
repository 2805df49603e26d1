/* gateway.c — requests in, results out.
 *
 * Clients connect a DEALER (or REQ) socket to the gateway's ROUTER (`bind:` in the graph, else
 * ipc://RUN/gateway) and send one msgpack map per request: {id?, kind?, params?, ...payload}.
 * The gateway checks it, journals it, stamps v/id/n/trace and sends it into the pipeline. Results
 * come back from the sinks to this stage's inlet; each is journaled and forwarded to the client
 * that asked, once. docs/protocol.md is the reference; docs/operations.md says how delivery works.
 *
 * Delivery. Every request is kept until its answer comes. An attempt is sent again, with the next
 * attempt number `n`, when
 *   - the supervisor reports that a replica died holding it (Lost), at once;
 *   - several censuses in a row (the supervisor's union of what every replica holds) do not list
 *     it: it was lost on the way, e.g. on its way to a replica that died;
 *   - it has had no result within its attempt deadline, which starts when the frame leaves this
 *     gateway (not while it waits here for credit) and follows the observed latency: four times
 *     the slowest of the last 32 answers, at least `attempt_timeout_min_ms` (default 10000); a
 *     fixed `params.attempt_timeout_ms` replaces it, 0 turns it off.
 * A re-issue supersedes the older attempts: every replica drops them wherever they are (Cancel).
 * The first answer to come back is the one, later ones are dropped. A request is given up (answered
 * ETIMEDOUT) after `params.max_attempts` (default 3) attempts lost with a replica that crashed or
 * hung while holding it (a request that kills its replica is not tried for ever), after
 * `max_reissues` (default 100) re-issues of any cause, or at its deadline `params.timeout_ms`
 * (default 600000).
 *
 * Journal. Each request, attempt and answer is appended to RUN/<stage>.<replica>.journal
 * (journal.h) before it is acted on, so a gateway that restarts (or a supervisor that restarts the
 * whole pipeline) carries on: unanswered requests are sent again, answered ones are kept (up to
 * `params.keep_answers_mb`, default 64) for a client that asks again. A client that resubmits the
 * id of a request in flight is attached to it (it gets the one answer); one that resubmits an
 * answered id gets the kept answer. fdatasync runs every `params.journal_sync_ms` (default 1000;
 * 0: after every record).
 *
 * With `params.max_requests` (default 100000) requests in flight, new ones are refused at once
 * with EBUSY (load shedding) instead of waiting without bound.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "core/error.h"
#include "core/log.h"
#include "core/strmap.h"
#include "engine/edge.h"
#include "engine/journal.h"
#include "engine/plan.h"
#include "engine/stage.h"

#define S_LATENCIES 32    /* answers the automatic attempt deadline looks back on */
#define S_CENSUS_MISSES 3 /* complete censuses in a row that must miss an attempt */
#define S_DUE_MAX 256     /* re-issues one census or sweep starts (the rest: the next one) */

/* Journal record types */
enum {
    S_REC_SUBMIT = 'S',  /* a request accepted: its kind and bytes */
    S_REC_ATTEMPT = 'A', /* attempt n sent */
    S_REC_LEFT = 'X',    /* attempt n left the gateway (it was waiting for credit before) */
    S_REC_ANSWER = 'D',  /* its answer came: the answer's bytes */
    S_REC_REPLIED = 'R', /* the answer went to the client */
    S_REC_FORGET = 'F',  /* given up and answered with an error */
};

/* Who asked: the routing id, and whether it is a REQ socket (its answers need the empty
 * delimiter frame before the body). rid_len 0: nobody is attached (a request carried over from
 * an earlier gateway process, until its client asks again). */
struct s_client {
    uint8_t rid[256];
    size_t rid_len;
    int req;
};

struct s_pending {
    struct s_client client;
    int64_t deadline_ms;          /* the request's: answered ETIMEDOUT after it */
    int64_t dispatched_ms;        /* when this attempt left the gateway; 0 while it waits here */
    int64_t attempt_deadline_ms;  /* this attempt's: re-issued after it */
    uint64_t census_at_dispatch;  /* censuses seen when it left */
    uint64_t crashes_at_dispatch; /* replica crashes the supervisor had counted then */
    int missing;                  /* complete censuses in a row that did not list it */
    uint32_t n;                   /* current attempt */
    int suspect_losses, reissues;
    int carried; /* read from an earlier gateway's journal: is it still held anywhere? */
    int left;    /* the current attempt left the gateway (journal 'X'); replay only */
    char kind[GF_FRAME_KIND_MAX];
    uint8_t *request; /* the client's map, to send again */
    size_t request_len;
};

/* An answer kept for a client that asks again; oldest first. */
struct s_answer {
    struct s_answer *next;
    char id[GF_FRAME_ID_MAX];
    size_t len;
    uint8_t bytes[];
};

struct s_gateway {
    void *clients;
    gf_strmap_t *journal; /* id -> struct s_pending */
    gf_strmap_t *answers; /* id -> struct s_answer */
    struct s_answer *ans_head, *ans_tail;
    size_t ans_bytes, ans_max_bytes;
    gf_journal_t *file;
    uint64_t instance, seq, censuses, crashes;
    long timeout_ms, max_requests, attempt_timeout_ms, attempt_timeout_min_ms, max_attempts,
        max_reissues, sync_ms;
    int64_t latencies[S_LATENCIES];
    int n_latencies, next_latency;
    uint64_t reissued;
    long undispatched;     /* attempts sent since the last s_track_dispatch found all gone */
    long carried;          /* requests carried over and not yet found held or sent again */
    int64_t carried_by_ms; /* without a census by then, the carried ones are sent again */
    int64_t next_sweep_ms, next_sync_ms;
    int unsynced;
    gf_emit_t reply;
};

static struct s_gateway *s_gw(gf_stage_t *st)
{
    return gf_stage_info(st)->user;
}

/* 0 when the answer is on its way to the client; -1 when there is nobody to send it to (no
 * client attached, or its connection is gone: ZMQ_ROUTER_MANDATORY says so). */
static int s_reply(gf_stage_t *st, const struct s_client *c, const void *data, size_t len)
{
    struct s_gateway *gw = s_gw(st);
    if (!c->rid_len)
        return -1;
    if (zmq_send(gw->clients, c->rid, c->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    if (c->req && zmq_send(gw->clients, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    if (zmq_send(gw->clients, data, len, ZMQ_DONTWAIT) < 0) {
        gf_log_debug("cannot answer a client: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

/* An error answer; `id` is the request's when it could be read, else "-". */
static void s_reply_error(gf_stage_t *st, const struct s_client *c, const char *id, int err,
                          const char *message)
{
    struct s_gateway *gw = s_gw(st);
    gf_emit_error(&gw->reply, id[0] ? id : "-", 0, NULL, "gateway", gf_stage_info(st)->replica,
                  gf_errname(err), message);
    s_reply(st, c, gf_emit_data(&gw->reply), gf_emit_len(&gw->reply));
}

/* Journal ------------------------------------------------------------------------------------ */

static void s_journal(gf_stage_t *st, int type, const char *id, uint32_t n, const void *data,
                      size_t len)
{
    struct s_gateway *gw = s_gw(st);
    if (!gw->file)
        return;
    if (gf_journal_append(gw->file, type, id, n, data, len) != 0) {
        gf_log_error("cannot append to the journal: %s", strerror(errno));
        return;
    }
    gw->unsynced = 1;
    if (gw->sync_ms == 0 && gf_journal_sync(gw->file) == 0)
        gw->unsynced = 0;
}

static void s_answer_keep(struct s_gateway *gw, const char *id, const void *bytes, size_t len)
{
    if (len > gw->ans_max_bytes || gf_strmap_get(gw->answers, id))
        return;
    struct s_answer *a = malloc(sizeof *a + len);
    if (!a)
        return;
    a->next = NULL;
    snprintf(a->id, sizeof a->id, "%s", id);
    a->len = len;
    memcpy(a->bytes, bytes, len);
    if (gf_strmap_put(gw->answers, a->id, a) != 0) {
        free(a);
        return;
    }
    if (gw->ans_tail)
        gw->ans_tail->next = a;
    else
        gw->ans_head = a;
    gw->ans_tail = a;
    gw->ans_bytes += len;
    while (gw->ans_bytes > gw->ans_max_bytes && gw->ans_head) {
        struct s_answer *old = gw->ans_head;
        gw->ans_head = old->next;
        if (!gw->ans_head)
            gw->ans_tail = NULL;
        gf_strmap_take(gw->answers, old->id);
        gw->ans_bytes -= old->len;
        free(old);
    }
}

static void s_answer_drop(struct s_gateway *gw, const char *id)
{
    struct s_answer *a = gf_strmap_take(gw->answers, id), *prev = NULL;
    if (!a)
        return;
    for (struct s_answer *it = gw->ans_head; it && it != a; it = it->next)
        prev = it;
    if (prev)
        prev->next = a->next;
    else
        gw->ans_head = a->next;
    if (gw->ans_tail == a)
        gw->ans_tail = prev;
    gw->ans_bytes -= a->len;
    free(a);
}

static void s_pending_free(struct s_pending *p)
{
    if (p)
        free(p->request);
    free(p);
}

static struct s_pending *s_pending_new(const char *kind, const void *request, size_t len)
{
    struct s_pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->request = malloc(len ? len : 1);
    if (!p->request) {
        free(p);
        return NULL;
    }
    memcpy(p->request, request, len);
    p->request_len = len;
    snprintf(p->kind, sizeof p->kind, "%s", kind);
    return p;
}

/* Rebuilds the journal and the kept answers from the file of an earlier process. */
static void s_on_record(void *ctx, const struct gf_journal_rec *rec)
{
    struct s_gateway *gw = ctx;
    if (!gf_frame_id_ok(rec->id, strlen(rec->id)))
        return;
    if (rec->type == S_REC_SUBMIT) {
        const char *kind = rec->data;
        size_t klen = strnlen(kind, rec->len < GF_FRAME_KIND_MAX ? rec->len : GF_FRAME_KIND_MAX);
        if (klen == 0 || klen >= GF_FRAME_KIND_MAX || klen >= rec->len)
            return;
        s_pending_free(gf_strmap_take(gw->journal, rec->id));
        struct s_pending *p =
            s_pending_new(kind, (const uint8_t *)rec->data + klen + 1, rec->len - klen - 1);
        if (p) {
            p->n = rec->n;
            if (gf_strmap_put(gw->journal, rec->id, p) != 0)
                s_pending_free(p);
        }
    } else if (rec->type == S_REC_ATTEMPT) {
        struct s_pending *p = gf_strmap_get(gw->journal, rec->id);
        if (p && rec->n > p->n)
            p->n = rec->n, p->left = 0;
    } else if (rec->type == S_REC_LEFT) {
        struct s_pending *p = gf_strmap_get(gw->journal, rec->id);
        if (p && rec->n == p->n)
            p->left = 1;
    } else if (rec->type == S_REC_ANSWER) {
        s_pending_free(gf_strmap_take(gw->journal, rec->id));
        s_answer_keep(gw, rec->id, rec->data, rec->len);
    } else if (rec->type == S_REC_REPLIED) {
        s_answer_drop(gw, rec->id);
    } else if (rec->type == S_REC_FORGET) {
        s_pending_free(gf_strmap_take(gw->journal, rec->id));
    }
}

static int s_put_submit(gf_journal_t *j, const char *id, const struct s_pending *p)
{
    size_t klen = strlen(p->kind);
    uint8_t *buf = malloc(klen + 1 + p->request_len);
    if (!buf)
        return GF_ENOMEM;
    memcpy(buf, p->kind, klen + 1);
    memcpy(buf + klen + 1, p->request, p->request_len);
    int rc = gf_journal_append(j, S_REC_SUBMIT, id, p->n, buf, klen + 1 + p->request_len);
    free(buf);
    return rc;
}

/* Compaction: what is in flight and the kept answers, nothing else. */
static int s_fill(void *ctx, gf_journal_t *fresh)
{
    struct s_gateway *gw = ctx;
    size_t pos = 0;
    void *v;
    const char *id;
    while ((id = gf_strmap_next(gw->journal, &pos, &v))) {
        const struct s_pending *p = v;
        if (s_put_submit(fresh, id, p) != 0 ||
            ((p->dispatched_ms || p->left) &&
             gf_journal_append(fresh, S_REC_LEFT, id, p->n, NULL, 0) != 0))
            return GF_EIO;
    }
    for (struct s_answer *a = gw->ans_head; a; a = a->next)
        if (gf_journal_append(fresh, S_REC_ANSWER, a->id, 0, a->bytes, a->len) != 0)
            return GF_EIO;
    return 0;
}

static void s_compact(gf_stage_t *st)
{
    struct s_gateway *gw = s_gw(st);
    if (gw->file && gf_journal_rewrite(gw->file, s_fill, gw) != 0)
        gf_log_warn("cannot compact the journal: %s", strerror(errno));
}

/* Attempts ----------------------------------------------------------------------------------- */

static void s_update_requests(gf_stage_t *st)
{
    struct s_gateway *gw = s_gw(st);
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
    gf_emit_t *e = gf_stage_begin_id(st, id, p->n, p->kind);
    for (uint32_t i = 0; i < req->via.map.size; i++) {
        const msgpack_object *k = &req->via.map.ptr[i].key;
        char key[GF_EMIT_KEY_MAX];
        snprintf(key, sizeof key, "%.*s", (int)k->via.str.size, k->via.str.ptr);
        if (strcmp(key, "id") && strcmp(key, "kind") && strcmp(key, "v") && strcmp(key, "n") &&
            strcmp(key, "trace"))
            gf_emit_obj(e, key, &req->via.map.ptr[i].val);
    }
    p->dispatched_ms = 0; /* set when it leaves the outbox (s_track_dispatch) */
    s_gw(st)->undispatched++;
    p->attempt_deadline_ms = INT64_MAX;
    p->missing = 0;
    gf_stage_send(st, NULL);
}

/* Sends request `id` again with the next attempt number, superseding the older ones, or answers
 * it when it has had its attempts. Returns 1 when the request is finished (answered and to be
 * forgotten by the caller). */
static int s_reissue(gf_stage_t *st, const char *id, struct s_pending *p, int suspect,
                     const char *why)
{
    struct s_gateway *gw = s_gw(st);
    p->suspect_losses += suspect;
    if (p->suspect_losses >= gw->max_attempts || p->reissues >= gw->max_reissues) {
        char msg[200];
        if (p->suspect_losses >= gw->max_attempts)
            snprintf(msg, sizeof msg,
                     "%s; gave up after %d attempts lost with a replica that crashed or hung "
                     "(max_attempts)",
                     why, p->suspect_losses);
        else
            snprintf(msg, sizeof msg, "%s; gave up after %d attempts (max_reissues)", why,
                     p->reissues + 1);
        gf_log_warn("request '%s': %s", id, msg);
        s_journal(st, S_REC_FORGET, id, p->n, NULL, 0);
        gf_stage_cancel(st, id, p->n + 1);
        s_reply_error(st, &p->client, id, GF_ETIMEDOUT, msg);
        return 1;
    }
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, (const char *)p->request, p->request_len, &off) ==
        MSGPACK_UNPACK_SUCCESS) {
        p->n++;
        p->reissues++;
        gw->reissued++;
        gf_log_info("request '%s': %s; sending attempt %u", id, why, p->n);
        s_journal(st, S_REC_ATTEMPT, id, p->n, NULL, 0);
        gf_stage_cancel(st, id, p->n);
        s_send_attempt(st, id, p, &u.data);
    }
    msgpack_unpacked_destroy(&u);
    return 0;
}

/* The attempt deadline: fixed when the graph sets one, else four times the slowest recent answer
 * (at least the minimum); none until some answers have been seen. */
static int64_t s_attempt_timeout(const struct s_gateway *gw)
{
    if (gw->attempt_timeout_ms >= 0)
        return gw->attempt_timeout_ms > 0 ? gw->attempt_timeout_ms : INT64_MAX;
    if (gw->n_latencies < 8)
        return INT64_MAX;
    int64_t slowest = 0;
    for (int i = 0; i < gw->n_latencies; i++)
        if (gw->latencies[i] > slowest)
            slowest = gw->latencies[i];
    return slowest * 4 > gw->attempt_timeout_min_ms ? slowest * 4 : gw->attempt_timeout_min_ms;
}

static void s_mark_queued(void *ctx, const char *id, uint32_t n)
{
    gf_strmap_put(ctx, id, (void *)(uintptr_t)1);
    (void)n;
}

/* An attempt's clocks start when it leaves the gateway: a backlog here is not its fault. */
static void s_track_dispatch(gf_stage_t *st, int64_t now_ms)
{
    struct s_gateway *gw = s_gw(st);
    gf_strmap_t *queued = NULL;
    if (!gw->undispatched)
        return;
    if (gf_stage_outbox(st) > 0) {
        queued = gf_strmap_new();
        if (!queued)
            return;
        gf_stage_each_outbox(st, s_mark_queued, queued);
    }
    int64_t timeout = s_attempt_timeout(gw);
    long left = 0;
    size_t pos = 0;
    void *v;
    const char *id;
    while ((id = gf_strmap_next(gw->journal, &pos, &v))) {
        struct s_pending *p = v;
        if (p->dispatched_ms)
            continue;
        if (queued && gf_strmap_get(queued, id)) {
            left++;
            continue;
        }
        p->dispatched_ms = now_ms;
        s_journal(st, S_REC_LEFT, id, p->n, NULL, 0);
        p->census_at_dispatch = gw->censuses;
        p->crashes_at_dispatch = gw->crashes;
        p->attempt_deadline_ms = timeout == INT64_MAX ? INT64_MAX : now_ms + timeout;
    }
    gw->undispatched = left;
    gf_strmap_destroy(&queued);
}

/* Requests ----------------------------------------------------------------------------------- */

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

/* A request whose id is known: attach the client to it, or give it the kept answer. Returns 1
 * when handled. */
static int s_known(gf_stage_t *st, const struct s_client *c, const char *id)
{
    struct s_gateway *gw = s_gw(st);
    struct s_pending *p = gf_strmap_get(gw->journal, id);
    if (p) {
        gf_log_debug("request '%s': its client asked again; it gets the answer", id);
        p->client = *c;
        return 1;
    }
    struct s_answer *a = gf_strmap_get(gw->answers, id);
    if (a) {
        if (s_reply(st, c, a->bytes, a->len) == 0) {
            s_journal(st, S_REC_REPLIED, id, 0, NULL, 0);
            s_answer_drop(gw, id); /* delivered: the id is free again */
        }
        return 1;
    }
    return 0;
}

/* One client request: [routing id][msgpack map]. */
static void s_on_request(gf_stage_t *st, const struct s_client *c, const uint8_t *data, size_t len)
{
    struct s_gateway *gw = s_gw(st);
    const struct gf_stage_info *info = gf_stage_info(st);
    char why[256], id[GF_FRAME_ID_MAX] = "";
    gf_frame_peek_id(data, len, id);
    if (id[0] && s_known(st, c, id))
        return;
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
    if (!err && (u.data.type != MSGPACK_OBJECT_MAP || u.data.via.map.size > GF_REQUEST_MAX_KEYS))
        err = GF_ESCHEMA,
        snprintf(why, sizeof why, "a request is a map of at most %d keys", GF_REQUEST_MAX_KEYS);
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
    if (err) {
        s_reply_error(st, c, id, err, why);
        goto out;
    }
    struct s_pending *p = s_pending_new(kind, data, len);
    if (!p) {
        s_reply_error(st, c, id, GF_ENOMEM, "cannot journal the request");
        goto out;
    }
    p->client = *c;
    p->deadline_ms = gw->timeout_ms > 0 ? gf_mono_ms() + gw->timeout_ms : INT64_MAX;
    if (gw->file && s_put_submit(gw->file, id, p) != 0) {
        snprintf(why, sizeof why, "cannot journal the request: %s; retry later", strerror(errno));
        gf_log_error("request '%s': %s", id, why);
        s_reply_error(st, c, id, GF_EIO, why);
        s_pending_free(p);
        goto out;
    }
    gw->unsynced = 1;
    if (gf_strmap_put(gw->journal, id, p) != 0) {
        s_reply_error(st, c, id, GF_ENOMEM, "cannot journal the request");
        s_pending_free(p);
        goto out;
    }
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
        if (ok && zmq_msg_size(&rid) > 0 && zmq_msg_size(&rid) <= sizeof c.rid) {
            memcpy(c.rid, zmq_msg_data(&rid), zmq_msg_size(&rid));
            c.rid_len = zmq_msg_size(&rid);
            s_on_request(st, &c, zmq_msg_data(&body), zmq_msg_size(&body));
        }
        zmq_msg_close(&rid);
        zmq_msg_close(&body);
    }
}

/* Results (and errors) from the sinks: journaled, kept, then answered. */
static int s_process(gf_stage_t *st, gf_frame_t **frames, int n)
{
    struct s_gateway *gw = s_gw(st);
    int64_t now = gf_mono_ms();
    for (int i = 0; i < n; i++) {
        gf_frame_t *f = frames[i];
        struct s_pending *p = gf_strmap_take(gw->journal, f->id);
        if (!p) {
            gf_log_debug("answer for unknown or answered request '%s' dropped", f->id);
        } else {
            s_journal(st, S_REC_ANSWER, f->id, f->n, f->bytes, f->len);
            if (p->dispatched_ms && f->n == p->n) {
                gw->latencies[gw->next_latency] = now - p->dispatched_ms;
                gw->next_latency = (gw->next_latency + 1) % S_LATENCIES;
                gw->n_latencies += gw->n_latencies < S_LATENCIES;
            }
            if (p->n > f->n) /* an older attempt answered first: the newer ones can go */
                gf_stage_cancel(st, f->id, p->n + 1);
            if (s_reply(st, &p->client, f->bytes, f->len) == 0)
                s_journal(st, S_REC_REPLIED, f->id, f->n, NULL, 0);
            else /* its client is gone: kept for when it asks again */
                s_answer_keep(gw, f->id, f->bytes, f->len);
            s_pending_free(p);
        }
        gf_stage_done(st, &frames[i]);
    }
    return 0;
}

/* Sends again the requests carried over from an earlier gateway (only those that never left it,
 * with `never_left`), in batches. */
static void s_send_carried(gf_stage_t *st, int never_left, const char *why)
{
    struct s_gateway *gw = s_gw(st);
    char due[S_DUE_MAX][GF_FRAME_ID_MAX];
    int n;
    do {
        size_t pos = 0;
        void *v;
        const char *id;
        n = 0;
        while (n < S_DUE_MAX && (id = gf_strmap_next(gw->journal, &pos, &v))) {
            const struct s_pending *p = v;
            if (p->carried && !(never_left && p->left))
                snprintf(due[n++], GF_FRAME_ID_MAX, "%s", id);
        }
        for (int i = 0; i < n; i++) {
            struct s_pending *p = gf_strmap_get(gw->journal, due[i]);
            p->carried = 0;
            gw->carried--;
            if (s_reissue(st, due[i], p, 0, why))
                s_pending_free(gf_strmap_take(gw->journal, due[i]));
        }
    } while (n == S_DUE_MAX);
}

/* Requests past their deadline are answered ETIMEDOUT and forgotten: a client is never left
 * waiting in silence, and a drain is not held up by a request lost with a crashed replica. */
static void s_tick(gf_stage_t *st, int64_t now_ms)
{
    struct s_gateway *gw = s_gw(st);
    s_track_dispatch(st, now_ms);
    if (gw->file && gw->unsynced && now_ms >= gw->next_sync_ms) {
        if (gf_journal_sync(gw->file) != 0)
            gf_log_error("cannot sync the journal: %s", strerror(errno));
        gw->unsynced = 0;
        gw->next_sync_ms = now_ms + gw->sync_ms;
    }
    if (now_ms < gw->next_sweep_ms)
        return;
    gw->next_sweep_ms = now_ms + 100;
    if (gw->carried && gw->censuses < 2 && now_ms > gw->carried_by_ms)
        /* no census here (several hosts): send them all again */
        s_send_carried(st, 0, "carried over from an earlier gateway");
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
            s_journal(st, S_REC_FORGET, due[i], p->n, NULL, 0);
            gf_stage_cancel(st, due[i], p->n + 1);
            s_reply_error(st, &p->client, due[i], GF_ETIMEDOUT, msg);
        } else {
            snprintf(msg, sizeof msg, "attempt %u had no result within %lld ms", p->n,
                     (long long)(now_ms - p->dispatched_ms));
            if (!s_reissue(st, due[i], p, 0, msg))
                continue;
        }
        s_pending_free(gf_strmap_take(gw->journal, due[i]));
    }
    if (gw->file && gf_journal_size(gw->file) > 2 * gw->ans_max_bytes + (64u << 20))
        s_compact(st);
    s_update_requests(st); /* read by the heartbeat; every 100 ms is enough */
}

/* The supervisor saw a replica die holding these requests: send them again now. */
static void s_on_lost(gf_stage_t *st, const Gotflow__Lost *lost)
{
    struct s_gateway *gw = s_gw(st);
    for (size_t i = 0; i < lost->n_ids; i++) {
        struct s_pending *p = gf_strmap_get(gw->journal, lost->ids[i]);
        if (!p || (lost->n_ns == lost->n_ids && lost->ns[i] != UINT32_MAX && lost->ns[i] < p->n))
            continue; /* answered, or an attempt already superseded */
        char why[128];
        snprintf(why, sizeof why, "lost with replica %s, which %s", lost->replica,
                 lost->suspect ? "crashed or hung" : "was killed");
        if (s_reissue(st, lost->ids[i], p, lost->suspect, why))
            s_pending_free(gf_strmap_take(gw->journal, lost->ids[i]));
    }
}

/* The supervisor's census of what every replica holds: an attempt that left here and that
 * several complete censuses in a row do not list is held nowhere; send it again. */
static void s_on_census(gf_stage_t *st, const Gotflow__Census *census)
{
    struct s_gateway *gw = s_gw(st);
    gw->censuses++;
    gw->crashes = census->crashes;
    if (!census->complete || census->n_ns != census->n_ids)
        return;
    gf_strmap_t *held = gf_strmap_new(); /* id -> highest attempt listed, plus one */
    if (!held)
        return;
    for (size_t i = 0; i < census->n_ids; i++) {
        uintptr_t have = (uintptr_t)gf_strmap_get(held, census->ids[i]);
        uintptr_t n1 = census->ns[i] == UINT32_MAX ? UINTPTR_MAX : (uintptr_t)census->ns[i] + 1;
        if (n1 > have)
            gf_strmap_put(held, census->ids[i], (void *)n1);
    }
    char due[S_DUE_MAX][GF_FRAME_ID_MAX];
    int due_suspect[S_DUE_MAX];
    int n_due = 0;
    size_t pos = 0;
    void *v;
    const char *id;
    while ((id = gf_strmap_next(gw->journal, &pos, &v))) {
        struct s_pending *p = v;
        uintptr_t have = (uintptr_t)gf_strmap_get(held, id);
        if (p->carried) {
            if (gw->censuses < 2)
                continue; /* the first may hold heartbeats from before this process */
            p->carried = 0;
            gw->carried--;
            if (have) { /* some attempt of it is at work: that one goes on */
                if (have != UINTPTR_MAX && have - 1 > p->n)
                    p->n = (uint32_t)(have - 1);
                p->census_at_dispatch = gw->censuses;
            } else if (n_due < S_DUE_MAX) {
                due_suspect[n_due] = 2; /* carried over and held nowhere */
                snprintf(due[n_due++], GF_FRAME_ID_MAX, "%s", id);
            } else {
                p->carried = 1, gw->carried++; /* the next census */
            }
            continue;
        }
        if (!p->dispatched_ms || gw->censuses <= p->census_at_dispatch + 1)
            continue; /* still here, or left too recently for every heartbeat to know */
        if (have > p->n)
            p->missing = 0;
        else if (++p->missing >= S_CENSUS_MISSES && n_due < S_DUE_MAX) {
            /* gone while a replica crashed: it may be what crashed it */
            due_suspect[n_due] = gw->crashes > p->crashes_at_dispatch;
            snprintf(due[n_due++], GF_FRAME_ID_MAX, "%s", id);
        }
    }
    gf_strmap_destroy(&held);
    for (int i = 0; i < n_due; i++) {
        struct s_pending *p = gf_strmap_get(gw->journal, due[i]);
        static const char *const why[] = {
            "held by no replica (census)", "held by no replica after a replica crashed (census)",
            "carried over from an earlier gateway, held by no replica"};
        if (p && s_reissue(st, due[i], p, due_suspect[i] == 1, why[due_suspect[i]]))
            s_pending_free(gf_strmap_take(gw->journal, due[i]));
    }
}

/* Opens the journal and carries on what an earlier gateway process left: every request in it is
 * sent again with its next attempt number. */
static int s_open_journal(gf_stage_t *st)
{
    struct s_gateway *gw = s_gw(st);
    const struct gf_stage_info *info = gf_stage_info(st);
    char path[GF_PATH_MAX + 128], why[512];
    snprintf(path, sizeof path, "%s/%s.%d.journal", info->run_dir, info->def->name, info->replica);
    gw->file = gf_journal_open(path, 5000, s_on_record, gw, why, sizeof why);
    if (!gw->file) {
        gf_log_error("%s", why);
        return GF_EIO;
    }
    size_t carried = gf_strmap_size(gw->journal);
    s_compact(st);
    if (carried || gw->ans_head)
        gf_log_info("journal '%s': %zu requests in flight and %zu kept answers carried over", path,
                    carried, gf_strmap_size(gw->answers));
    int64_t now = gf_mono_ms();
    /* What the replicas still hold goes on (the census says which): sending everything again
     * would throw away the work in flight. The rest is sent again at the second census. */
    size_t pos = 0;
    void *v;
    const char *id;
    while ((id = gf_strmap_next(gw->journal, &pos, &v))) {
        struct s_pending *p = v;
        p->deadline_ms = gw->timeout_ms > 0 ? now + gw->timeout_ms : INT64_MAX;
        p->dispatched_ms = now;
        p->attempt_deadline_ms = INT64_MAX;
        p->carried = 1;
    }
    gw->carried = (long)carried;
    /* those that never left the earlier gateway are held nowhere: send them now */
    s_send_carried(st, 1, "carried over from an earlier gateway, never sent");
    int hb = info->graph->supervisor.heartbeat_ms > 0 ? info->graph->supervisor.heartbeat_ms : 500;
    gw->carried_by_ms = now + 10 * hb;
    return 0;
}

static int s_init(gf_stage_t *st)
{
    struct gf_stage_info *info = gf_stage_info(st);
    struct s_gateway *gw = calloc(1, sizeof *gw);
    char ep[GF_PATH_MAX], bind_ep[GF_PATH_MAX];
    if (!gw)
        return GF_ENOMEM;
    info->user = gw;
    gw->journal = gf_strmap_new();
    gw->answers = gf_strmap_new();
    if (!gw->journal || !gw->answers)
        return GF_ENOMEM;
    gw->instance = gf_instance_id() & 0xffffffffffull;
    gw->timeout_ms = gf_graph_param_long(info->def, "timeout_ms", 600000);
    gw->max_requests = gf_graph_param_long(info->def, "max_requests", 100000);
    gw->attempt_timeout_ms = gf_graph_param_long(info->def, "attempt_timeout_ms", -1);
    gw->attempt_timeout_min_ms = gf_graph_param_long(info->def, "attempt_timeout_min_ms", 10000);
    gw->max_attempts = gf_graph_param_long(info->def, "max_attempts", 3);
    gw->max_reissues = gf_graph_param_long(info->def, "max_reissues", 100);
    gw->sync_ms = gf_graph_param_long(info->def, "journal_sync_ms", 1000);
    gw->ans_max_bytes = (size_t)gf_graph_param_long(info->def, "keep_answers_mb", 64) << 20;
    if (gw->max_attempts < 1)
        gw->max_attempts = 1;
    gf_emit_init(&gw->reply);
    gw->clients = zmq_socket(info->zctx, ZMQ_ROUTER);
    if (!gw->clients)
        return GF_EZMQ;
    if (gf_socket_defaults(gw->clients, info->graph->max_frame_bytes))
        return GF_EZMQ;
    int hwm = 0;
    int mandatory = 1; /* an answer for a client that is gone fails instead of vanishing */
    if (zmq_setsockopt(gw->clients, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(gw->clients, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(gw->clients, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof mandatory) != 0)
        return GF_EZMQ;
    int rc = s_open_journal(st);
    if (rc)
        return rc;
    gf_plan_gateway(info->graph, info->run_dir, info->index, ep, sizeof ep);
    /* a tcp client endpoint of a secured graph admits only the hosts' keys, like every edge */
    if (gf_security_server(gf_stage_security(st), gw->clients, ep) != 0)
        return GF_EZMQ;
    gf_plan_bind_endpoint(ep, bind_ep, sizeof bind_ep); /* a DNS name: its address */
    if (zmq_bind(gw->clients, bind_ep) != 0) {
        gf_log_error("cannot bind the client endpoint '%s': %s", bind_ep,
                     zmq_strerror(zmq_errno()));
        return GF_EZMQ;
    }
    if (strcmp(ep, bind_ep) != 0)
        gf_log_info("accepting requests on '%s' ('%s')", ep, bind_ep);
    else
        gf_log_info("accepting requests on '%s'", ep);
    return gf_stage_watch(st, gw->clients, s_on_clients);
}

static void s_shutdown(gf_stage_t *st)
{
    struct s_gateway *gw = s_gw(st);
    if (!gw)
        return;
    if (gw->file && gw->unsynced)
        gf_journal_sync(gw->file);
    gf_journal_close(&gw->file);
    size_t pos = 0;
    void *v;
    while (gf_strmap_next(gw->journal, &pos, &v))
        s_pending_free(v);
    gf_strmap_destroy(&gw->journal);
    while (gw->ans_head) {
        struct s_answer *a = gw->ans_head;
        gw->ans_head = a->next;
        free(a);
    }
    gf_strmap_destroy(&gw->answers);
    if (gw->clients)
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
    .on_census = s_on_census,
    .shutdown = s_shutdown,
};

int main(int argc, char **argv)
{
    return gf_stage_main(argc, argv, &s_ops);
}
