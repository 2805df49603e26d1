/* edge.c — inlets (ROUTER + credit ledger) and outlets (DEALER per replica + queue). */
#include "engine/edge.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"

int64_t gf_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t gf_instance_id(void)
{
    uint64_t v = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, &v, sizeof v);
        (void)n;
        close(fd);
    }
    if (!v) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 20;
    }
    return v ? v : 1;
}

int gf_sockopt_int(void *sock, int option, int value, const char *name)
{
    if (zmq_setsockopt(sock, option, &value, sizeof value) == 0)
        return 0;
    gf_log_error("cannot set %s on a socket: %s", name, zmq_strerror(zmq_errno()));
    return GF_EZMQ;
}

int gf_sockopt_i64(void *sock, int option, int64_t value, const char *name)
{
    if (zmq_setsockopt(sock, option, &value, sizeof value) == 0)
        return 0;
    gf_log_error("cannot set %s on a socket: %s", name, zmq_strerror(zmq_errno()));
    return GF_EZMQ;
}

int gf_zsend(void *sock, const void *data, size_t len, int flags, const char *what)
{
    static int64_t last_ms;
    static long unlogged;
    if (zmq_send(sock, data, len, flags) == (int)len)
        return 0;
    int64_t now = gf_mono_ms();
    if (now - last_ms >= 1000) {
        gf_log_warn("cannot send %s: %s%s", what, zmq_strerror(zmq_errno()),
                    unlogged ? " (and earlier failures not logged)" : "");
        last_ms = now;
        unlogged = 0;
    } else {
        unlogged++;
    }
    return GF_EZMQ;
}

int gf_socket_defaults(void *sock, long max_frame_bytes)
{
    if (gf_sockopt_int(sock, ZMQ_LINGER, 200, "ZMQ_LINGER"))
        return GF_EZMQ;
    /* The application limit is max_frame_bytes (answered with an error frame); the transport
     * drops the connection of a peer sending more than twice that. */
    if (max_frame_bytes > 0 &&
        gf_sockopt_i64(sock, ZMQ_MAXMSGSIZE, (int64_t)max_frame_bytes * 2 + 4096, "ZMQ_MAXMSGSIZE"))
        return GF_EZMQ;
    return 0;
}

static void s_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t s_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t s_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Checking what a peer says ------------------------------------------------------------------ */

static int s_why(char *why, size_t cap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int s_why(char *why, size_t cap, int rc, const char *fmt, ...)
{
    if (why && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, cap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

struct s_hello_msg {
    uint64_t instance, sent;
    uint8_t flags;
    uint32_t epoch;
};

/* Parses an 'H': 0, or GF_EPARSE / GF_ESCHEMA with `why` set. */
static int s_hello_parse(const uint8_t *p, size_t len, struct s_hello_msg *h, char *why,
                         size_t why_cap)
{
    if (len < 2 || p[0] != GF_EDGE_CTL)
        return s_why(why, why_cap, GF_EPARSE, "not an edge-control message (%zu bytes)", len);
    if (p[1] != 'H')
        return s_why(why, why_cap, GF_EPARSE, "unknown edge-control type 0x%02x at an inlet", p[1]);
    if (len != GF_EDGE_HELLO_LEN)
        return s_why(why, why_cap, GF_EPARSE, "'H' of %zu bytes, not %d", len, GF_EDGE_HELLO_LEN);
    h->instance = s_get64(p + 2);
    h->sent = s_get64(p + 10);
    h->flags = p[18];
    h->epoch = s_get32(p + 19);
    if (h->flags & ~3u)
        return s_why(why, why_cap, GF_ESCHEMA, "'H' with unknown flags 0x%02x", h->flags);
    return 0;
}

int gf_edge_inlet_control(struct gf_credit_ledger *l, int peer, const void *msg, size_t len,
                          char *why, size_t whylen)
{
    struct s_hello_msg h = {0};
    int rc = s_hello_parse(msg, len, &h, why, whylen);
    if (rc < 0) { /* ignored */
        l->violations++;
        if (peer >= 0)
            l->peers[peer].violations++;
        return rc;
    }
    if (peer < 0)
        return s_why(why, whylen, GF_EBUSY, "no room for another peer (%d known)", l->n_peers);
    struct gf_credit_peer *cp = &l->peers[peer];
    const char *rule = NULL;
    if ((rc = gf_credit_sync(l, peer, h.instance, h.sent, &rule)) < 0)
        return s_why(why, whylen, rc, "'H' sent total %" PRIu64 ": %s; %s", h.sent, rule,
                     rc == GF_ESCHEMA ? "the peer is reset to no unused credit" : "ignored");
    if ((h.flags & 2) && h.epoch == cp->epoch)
        gf_credit_release_peer(l, peer);
    if (h.flags & 1)
        gf_credit_demand(l, peer);
    cp->dirty = cp->forced = 1; /* answer with its total: cheap, self-healing */
    return 0;
}

int64_t gf_edge_credit_left(const struct gf_edge_credit *c)
{
    if (!c->instance || c->granted <= c->sent)
        return 0;
    uint64_t left = c->granted - c->sent;
    return left < GF_EDGE_CREDIT_MAX ? (int64_t)left : GF_EDGE_CREDIT_MAX;
}

int gf_edge_outlet_grant(struct gf_edge_credit *c, const void *msg, size_t len, char *why,
                         size_t whylen)
{
    const uint8_t *m = msg;
    if (len != GF_EDGE_CREDIT_LEN || m[0] != GF_EDGE_CTL || m[1] != 'C') {
        c->violations++;
        return s_why(why, whylen, GF_EPARSE, "not a 'C' message (%zu bytes)", len);
    }
    uint64_t inst = s_get64(m + 2), granted = s_get64(m + 10);
    uint32_t epoch = s_get32(m + 18);
    if (!inst) {
        c->violations++;
        return s_why(why, whylen, GF_ESCHEMA, "'C' with instance 0");
    }
    if (granted > c->sent && granted - c->sent > GF_EDGE_CREDIT_MAX) {
        c->violations++;
        return s_why(why, whylen, GF_ESCHEMA,
                     "'C' granted total %" PRIu64 " is more than %d beyond the %" PRIu64
                     " frames sent",
                     granted, GF_EDGE_CREDIT_MAX, c->sent);
    }
    if (inst != c->instance) {
        /* a new downstream process: it takes our sent total as its baseline */
        c->instance = inst;
        c->epoch = epoch;
        c->released = 0;
    } else if (c->released && (int32_t)(epoch - c->epoch) <= 0) {
        return 0; /* granted before our release was seen */
    } else if (epoch != c->epoch) {
        c->epoch = epoch;
        c->released = 0;
    }
    c->granted = granted;
    return 0;
}

/* Inlet -------------------------------------------------------------------------------------- */

struct gf_inlet {
    void *sock;
    uint64_t instance;
    int paused;
    char endpoint[256];
    int64_t warn_ms;     /* last protocol warning */
    long warn_skipped;   /* warnings not logged since, to keep to one a second */
    long warned_unknown; /* violations already reported for messages with no ledger peer */
    struct gf_credit_ledger ledger;
};

gf_inlet_t *gf_inlet_new(void *zctx, const char *endpoint, int capacity, long max_frame_bytes,
                         const struct gf_security *sec)
{
    gf_inlet_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->sock = zmq_socket(zctx, ZMQ_ROUTER);
    if (!self->sock)
        goto out_free;
    /* credits bound the traffic; never drop on the data plane (high-water marks 0) */
    if (gf_socket_defaults(self->sock, max_frame_bytes) ||
        gf_sockopt_int(self->sock, ZMQ_RCVHWM, 0, "ZMQ_RCVHWM") ||
        gf_sockopt_int(self->sock, ZMQ_SNDHWM, 0, "ZMQ_SNDHWM"))
        goto out_sock;
    if (gf_security_server(sec, self->sock, endpoint) != 0)
        goto out_sock;
    if (zmq_bind(self->sock, endpoint) != 0) {
        gf_log_error("cannot bind '%s': %s", endpoint, zmq_strerror(zmq_errno()));
        goto out_sock;
    }
    self->instance = gf_instance_id();
    snprintf(self->endpoint, sizeof self->endpoint, "%s", endpoint);
    self->warn_ms = INT64_MIN / 2;
    gf_credit_init(&self->ledger, capacity);
    return self;

out_sock:
    zmq_close(self->sock);
out_free:
    free(self);
    return NULL;
}

void gf_inlet_destroy(gf_inlet_t **self_p)
{
    gf_inlet_t *self = *self_p;
    if (!self)
        return;
    zmq_close(self->sock);
    free(self);
    *self_p = NULL;
}

void *gf_inlet_socket(gf_inlet_t *self)
{
    return self->sock;
}

const struct gf_credit_ledger *gf_inlet_ledger(const gf_inlet_t *self)
{
    return &self->ledger;
}

/* Logs a peer's first protocol violation, at most one line per GF_EDGE_WARN_MS per inlet. */
static void s_inlet_warn(gf_inlet_t *self, int peer, zmq_msg_t *rid, zmq_msg_t *msg,
                         const char *why, int64_t now)
{
    if (peer >= 0) {
        struct gf_credit_peer *cp = &self->ledger.peers[peer];
        if (cp->warned)
            return;
        cp->warned = 1;
    } else if (self->warned_unknown++ > 0) {
        return; /* a full peer table is reported once */
    }
    if (now - self->warn_ms < GF_EDGE_WARN_MS) {
        self->warn_skipped++;
        return;
    }
    char id[2 * GF_CREDIT_RID_MAX + 1] = "";
    const uint8_t *r = zmq_msg_data(rid);
    size_t n = zmq_msg_size(rid) < GF_CREDIT_RID_MAX ? zmq_msg_size(rid) : GF_CREDIT_RID_MAX;
    for (size_t k = 0; k < n; k++)
        snprintf(id + 2 * k, 3, "%02x", r[k]);
    const char *addr = zmq_msg_gets(msg, "Peer-Address");
    gf_log_warn("inlet '%s': edge peer '%s'%s%s%s broke the protocol: %s; further "
                "violations from it are counted, not logged%s",
                self->endpoint, id, addr && *addr ? " (address '" : "", addr && *addr ? addr : "",
                addr && *addr ? "')" : "", why,
                self->warn_skipped ? " (other peers' first violations were not logged either)"
                                   : "");
    self->warn_ms = now;
    self->warn_skipped = 0;
}

int gf_inlet_recv(gf_inlet_t *self, zmq_msg_t *msg, int *idle)
{
    zmq_msg_t rid;
    zmq_msg_init(&rid);
    *idle = 0;
    if (zmq_msg_recv(&rid, self->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&rid);
        if (zmq_errno() == EAGAIN) {
            *idle = 1;
            return 0;
        }
        return GF_EZMQ;
    }
    zmq_msg_init(msg);
    int more = zmq_msg_more(&rid);
    if (!more || zmq_msg_recv(msg, self->sock, 0) < 0) {
        zmq_msg_close(&rid);
        zmq_msg_close(msg);
        return 0;
    }
    /* a peer sending more parts than one is broken: drop the extra parts */
    while (zmq_msg_more(msg)) {
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        int rc = zmq_msg_recv(&extra, self->sock, 0);
        zmq_msg_close(&extra);
        if (rc < 0)
            break;
    }
    int64_t now = gf_mono_ms();
    int peer = gf_credit_peer(&self->ledger, zmq_msg_data(&rid), zmq_msg_size(&rid), now);
    const uint8_t *p = zmq_msg_data(msg);
    size_t len = zmq_msg_size(msg);
    if (len >= 1 && p[0] == GF_EDGE_CTL) {
        char why[160];
        if (gf_edge_inlet_control(&self->ledger, peer, p, len, why, sizeof why) < 0)
            s_inlet_warn(self, peer, &rid, msg, why, now);
        zmq_msg_close(&rid);
        zmq_msg_close(msg);
        return 0;
    }
    zmq_msg_close(&rid);
    if (peer >= 0)
        gf_credit_on_frame(&self->ledger, peer);
    else
        self->ledger.held++, self->ledger.overruns++;
    return 1;
}

void gf_inlet_release(gf_inlet_t *self, int n)
{
    gf_credit_release(&self->ledger, n);
}

void gf_inlet_pause(gf_inlet_t *self, int paused)
{
    self->paused = paused;
}

void gf_inlet_service(gf_inlet_t *self, int64_t now_ms)
{
    struct gf_credit_ledger *l = &self->ledger;
    gf_credit_expire(l, now_ms, GF_EDGE_PEER_EXPIRY_MS);
    if (!self->paused)
        gf_credit_grant(l, now_ms);
    for (int i = 0; i < l->n_peers; i++) {
        struct gf_credit_peer *p = &l->peers[i];
        if (!gf_credit_should_announce(l, i))
            continue;
        uint8_t m[GF_EDGE_CREDIT_LEN] = {GF_EDGE_CTL, 'C'};
        s_put64(m + 2, self->instance);
        s_put64(m + 10, p->granted);
        for (int k = 0; k < 4; k++)
            m[18 + k] = (uint8_t)(p->epoch >> (8 * k));
        /* a lost announcement is repaired by the peer's next keepalive */
        if (gf_zsend(self->sock, p->rid, p->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT,
                     "a credit grant") == 0)
            gf_zsend(self->sock, m, sizeof m, ZMQ_DONTWAIT, "a credit grant");
        p->announced = p->granted;
        p->dirty = p->forced = 0;
    }
}

/* Outlet ------------------------------------------------------------------------------------- */

struct s_item {
    struct s_item *next;
    int target; /* replica, or -1 for any */
    char id[GF_FRAME_ID_MAX];
    uint32_t n; /* attempt */
    size_t len;
    uint8_t data[];
};

struct s_replica {
    void *sock;
    struct gf_edge_credit c;
    int64_t active_ms; /* last send, or last time frames waited for it */
    int wanted;        /* frames in the queue could go to it */
    long sent_total;
};

struct gf_outlet {
    char stage[64];
    int n, by_id, rr;
    struct s_replica *reps;
    struct s_item *head, *tail;
    int queued;
    uint64_t instance;
    int64_t last_hello_ms;
};

static void s_hello_flags(gf_outlet_t *self, int r, uint8_t flags)
{
    struct s_replica *rep = &self->reps[r];
    uint8_t m[GF_EDGE_HELLO_LEN] = {GF_EDGE_CTL, 'H'};
    s_put64(m + 2, self->instance);
    s_put64(m + 10, rep->c.sent);
    m[18] = flags;
    for (int k = 0; k < 4; k++)
        m[19 + k] = (uint8_t)(rep->c.epoch >> (8 * k));
    gf_zsend(rep->sock, m, sizeof m, ZMQ_DONTWAIT, "an edge keepalive"); /* the next one repairs */
}

static void s_hello(gf_outlet_t *self, int r)
{
    s_hello_flags(self, r, 0);
}

gf_outlet_t *gf_outlet_new(void *zctx, const char *stage, char *const *endpoints, int n, int by_id,
                           long max_frame_bytes, const struct gf_security *sec,
                           const char *const *server_publics)
{
    gf_outlet_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->reps = calloc((size_t)n, sizeof *self->reps);
    if (!self->reps) {
        free(self);
        return NULL;
    }
    snprintf(self->stage, sizeof self->stage, "%s", stage);
    self->n = n;
    self->by_id = by_id;
    self->instance = gf_instance_id();
    for (int r = 0; r < n; r++) {
        void *s = zmq_socket(zctx, ZMQ_DEALER);
        if (!s)
            goto out_fail;
        self->reps[r].sock = s;
        /* what comes back is credit messages only, but CURVE handshakes pass here too */
        if (gf_socket_defaults(s, 0) || gf_sockopt_int(s, ZMQ_SNDHWM, 0, "ZMQ_SNDHWM") ||
            gf_sockopt_i64(s, ZMQ_MAXMSGSIZE, 4096, "ZMQ_MAXMSGSIZE"))
            goto out_fail;
        if (gf_security_client(sec, s, endpoints[r], server_publics ? server_publics[r] : NULL))
            goto out_fail;
        if (zmq_connect(s, endpoints[r]) != 0) {
            gf_log_error("cannot connect to '%s': %s", endpoints[r], zmq_strerror(zmq_errno()));
            goto out_fail;
        }
        s_hello(self, r);
    }
    (void)max_frame_bytes;
    self->last_hello_ms = gf_mono_ms();
    return self;

out_fail:
    gf_outlet_destroy(&self);
    return NULL;
}

void gf_outlet_destroy(gf_outlet_t **self_p)
{
    gf_outlet_t *self = *self_p;
    if (!self)
        return;
    for (int r = 0; r < self->n; r++)
        if (self->reps[r].sock)
            zmq_close(self->reps[r].sock);
    while (self->head) {
        struct s_item *it = self->head;
        self->head = it->next;
        free(it);
    }
    free(self->reps);
    free(self);
    *self_p = NULL;
}

const char *gf_outlet_stage(const gf_outlet_t *self)
{
    return self->stage;
}

int gf_outlet_size(const gf_outlet_t *self)
{
    return self->n;
}

void *gf_outlet_socket(gf_outlet_t *self, int r)
{
    return self->reps[r].sock;
}

static int64_t s_credit(const struct s_replica *rep)
{
    return gf_edge_credit_left(&rep->c);
}

int gf_outlet_credits(const gf_outlet_t *self)
{
    int64_t sum = 0;
    for (int r = 0; r < self->n; r++)
        if (s_credit(&self->reps[r]) > 0)
            sum += s_credit(&self->reps[r]);
    return (int)sum;
}

int gf_outlet_queued(const gf_outlet_t *self)
{
    return self->queued;
}

long gf_outlet_sent(const gf_outlet_t *self, int r)
{
    return self->reps[r].sent_total;
}

static uint32_t s_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* The replica to send to now: the target if it has credit, else the one with the most unused
 * credit (round-robin among equals); -1 when none has credit. */
static int s_pick(gf_outlet_t *self, int target)
{
    if (target >= 0)
        return s_credit(&self->reps[target]) > 0 ? target : -1;
    int best = -1;
    int64_t best_c = 0;
    for (int k = 0; k < self->n; k++) {
        int r = (self->rr + k) % self->n;
        int64_t c = s_credit(&self->reps[r]);
        if (c > best_c) {
            best = r;
            best_c = c;
        }
    }
    if (best >= 0)
        self->rr = (best + 1) % self->n;
    return best;
}

static int s_send_to(gf_outlet_t *self, int r, const void *data, size_t len)
{
    if (zmq_send(self->reps[r].sock, data, len, ZMQ_DONTWAIT) != (int)len)
        return GF_EAGAIN;
    self->reps[r].active_ms = gf_mono_ms();
    self->reps[r].c.sent++;
    self->reps[r].sent_total++;
    return 0;
}

static void s_flush(gf_outlet_t *self)
{
    struct s_item **pp = &self->head, *prev = NULL;
    while (*pp) {
        struct s_item *it = *pp;
        int r = s_pick(self, it->target);
        if (r < 0) {
            if (it->target < 0)
                break; /* nobody has credit: keep the order */
            prev = it;
            pp = &it->next;
            continue;
        }
        if (s_send_to(self, r, it->data, it->len) != 0)
            break;
        *pp = it->next;
        if (self->tail == it)
            self->tail = prev;
        free(it);
        self->queued--;
    }
}

int gf_outlet_send(gf_outlet_t *self, const char *id, uint32_t n, const void *data, size_t len)
{
    int target = self->by_id ? (int)(s_hash(id) % (uint32_t)self->n) : -1;
    if (!self->head) {
        int r = s_pick(self, target);
        if (r >= 0 && s_send_to(self, r, data, len) == 0)
            return 0;
    }
    struct s_item *it = malloc(sizeof *it + len);
    if (!it)
        return GF_ENOMEM;
    it->next = NULL;
    it->target = target;
    snprintf(it->id, sizeof it->id, "%s", id);
    it->n = n;
    it->len = len;
    memcpy(it->data, data, len);
    if (!self->head) /* frames now wait: ask for credit at once, not at the next keepalive */
        for (int r = 0; r < self->n; r++)
            if (target < 0 || r == target)
                s_hello_flags(self, r, 1);
    if (self->tail)
        self->tail->next = it;
    else
        self->head = it;
    self->tail = it;
    self->queued++;
    return 0;
}

void gf_outlet_each_queued(const gf_outlet_t *self,
                           void (*fn)(void *ctx, const char *id, uint32_t n), void *ctx)
{
    for (const struct s_item *it = self->head; it; it = it->next)
        fn(ctx, it->id, it->n);
}

int gf_outlet_cancel(gf_outlet_t *self, const char *id, uint32_t below_n)
{
    int dropped = 0;
    struct s_item **pp = &self->head, *prev = NULL;
    while (*pp) {
        struct s_item *it = *pp;
        if (it->n < below_n && strcmp(it->id, id) == 0) {
            *pp = it->next;
            if (self->tail == it)
                self->tail = prev;
            free(it);
            self->queued--;
            dropped++;
            continue;
        }
        prev = it;
        pp = &it->next;
    }
    return dropped;
}

void gf_outlet_on_readable(gf_outlet_t *self, int r)
{
    struct s_replica *rep = &self->reps[r];
    uint8_t m[64];
    int n;
    while ((n = zmq_recv(rep->sock, m, sizeof m, ZMQ_DONTWAIT)) >= 0) {
        char why[160];
        size_t len = (size_t)n < sizeof m ? (size_t)n : sizeof m; /* longer is wrong anyway */
        if (gf_edge_outlet_grant(&rep->c, m, len, why, sizeof why) < 0 && !rep->c.warned) {
            rep->c.warned = 1;
            gf_log_warn("outlet to '%s': replica %d broke the protocol: %s; ignored; further "
                        "violations from it are counted, not logged",
                        self->stage, r, why);
        }
    }
    s_flush(self);
}

void gf_outlet_service(gf_outlet_t *self, int64_t now_ms)
{
    if (self->head)
        s_flush(self);
    /* which replicas have frames waiting that they could take */
    int any = 0;
    for (int r = 0; r < self->n; r++)
        self->reps[r].wanted = 0;
    for (struct s_item *it = self->head; it && any < self->n; it = it->next) {
        if (it->target < 0) {
            for (int r = 0; r < self->n; r++)
                self->reps[r].wanted = 1;
            break;
        }
        any += !self->reps[it->target].wanted;
        self->reps[it->target].wanted = 1;
    }
    for (int r = 0; r < self->n; r++) {
        struct s_replica *rep = &self->reps[r];
        if (rep->wanted)
            rep->active_ms = now_ms;
        else if (!rep->c.released && s_credit(rep) > 0 &&
                 now_ms - rep->active_ms > GF_EDGE_IDLE_RELEASE_MS) {
            /* unused credit nothing here can use: give it back so another peer can */
            s_hello_flags(self, r, 2);
            rep->c.released = 1;
            rep->c.granted = rep->c.sent;
        }
    }
    if (now_ms - self->last_hello_ms >= GF_EDGE_KEEPALIVE_MS) {
        for (int r = 0; r < self->n; r++)
            s_hello_flags(self, r, self->reps[r].wanted ? 1 : 0);
        self->last_hello_ms = now_ms;
    }
}
