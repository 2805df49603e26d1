/* edge.c — inlets (ROUTER + credit ledger) and outlets (DEALER per replica + queue). */
#include "engine/edge.h"

#include <errno.h>
#include <fcntl.h>
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

void gf_socket_defaults(void *sock, long max_frame_bytes)
{
    int linger = 200;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (max_frame_bytes > 0) {
        /* The application limit is max_frame_bytes (answered with an error frame); the
         * transport drops the connection of a peer sending more than twice that. */
        int64_t hard = (int64_t)max_frame_bytes * 2 + 4096;
        zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &hard, sizeof hard);
    }
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

/* Inlet -------------------------------------------------------------------------------------- */

struct gf_inlet {
    void *sock;
    uint64_t instance;
    int paused;
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
    gf_socket_defaults(self->sock, max_frame_bytes);
    int hwm = 0; /* credits bound the traffic; never drop on the data plane */
    zmq_setsockopt(self->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(self->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    gf_security_server(sec, self->sock, endpoint);
    if (zmq_bind(self->sock, endpoint) != 0) {
        gf_log_error("cannot bind '%s': %s", endpoint, zmq_strerror(zmq_errno()));
        goto out_sock;
    }
    self->instance = gf_instance_id();
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
    int peer = gf_credit_peer(&self->ledger, zmq_msg_data(&rid), zmq_msg_size(&rid), gf_mono_ms());
    zmq_msg_close(&rid);
    const uint8_t *p = zmq_msg_data(msg);
    size_t len = zmq_msg_size(msg);
    if (len >= 2 && p[0] == GF_EDGE_CTL) {
        if (p[1] == 'H' && len == 23 && peer >= 0) {
            struct gf_credit_peer *cp = &self->ledger.peers[peer];
            uint32_t epoch = (uint32_t)p[19] | (uint32_t)p[20] << 8 | (uint32_t)p[21] << 16 |
                             (uint32_t)p[22] << 24;
            gf_credit_sync(&self->ledger, peer, s_get64(p + 10));
            if ((p[18] & 2) && epoch == cp->epoch)
                gf_credit_release_peer(&self->ledger, peer);
            if (p[18] & 1)
                gf_credit_demand(&self->ledger, peer);
            cp->dirty = cp->forced = 1; /* answer with its total: cheap, self-healing */
        }
        zmq_msg_close(msg);
        return 0;
    }
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
        uint8_t m[22] = {GF_EDGE_CTL, 'C'};
        s_put64(m + 2, self->instance);
        s_put64(m + 10, p->granted);
        for (int k = 0; k < 4; k++)
            m[18 + k] = (uint8_t)(p->epoch >> (8 * k));
        if (zmq_send(self->sock, p->rid, p->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) == (int)p->rid_len)
            zmq_send(self->sock, m, sizeof m, ZMQ_DONTWAIT);
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
    uint64_t instance;
    uint64_t granted, sent;
    uint32_t epoch;    /* of the last grant accepted */
    int released;      /* gave credit back in `epoch`: ignore grants of that epoch */
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
    uint8_t m[23] = {GF_EDGE_CTL, 'H'};
    s_put64(m + 2, self->instance);
    s_put64(m + 10, rep->sent);
    m[18] = flags;
    for (int k = 0; k < 4; k++)
        m[19 + k] = (uint8_t)(rep->epoch >> (8 * k));
    zmq_send(rep->sock, m, sizeof m, ZMQ_DONTWAIT);
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
        gf_socket_defaults(s, 0);
        int hwm = 0;
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
        int64_t small = 4096; /* credit messages only, but CURVE handshakes pass here too */
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &small, sizeof small);
        gf_security_client(sec, s, endpoints[r], server_publics ? server_publics[r] : NULL);
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
    return rep->instance ? (int64_t)(rep->granted - rep->sent) : 0;
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
    self->reps[r].sent++;
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
        if (n != 22 || m[0] != GF_EDGE_CTL || m[1] != 'C')
            continue;
        uint64_t inst = s_get64(m + 2), granted = s_get64(m + 10);
        uint32_t epoch =
            (uint32_t)m[18] | (uint32_t)m[19] << 8 | (uint32_t)m[20] << 16 | (uint32_t)m[21] << 24;
        if (inst != rep->instance) {
            /* a new downstream process: its totals start again */
            rep->instance = inst;
            rep->sent = 0;
            rep->epoch = epoch;
            rep->released = 0;
        } else if (rep->released && (int32_t)(epoch - rep->epoch) <= 0) {
            continue; /* granted before our release was seen */
        } else if (epoch != rep->epoch) {
            rep->epoch = epoch;
            rep->released = 0;
        }
        rep->granted = granted;
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
        else if (!rep->released && s_credit(rep) > 0 &&
                 now_ms - rep->active_ms > GF_EDGE_IDLE_RELEASE_MS) {
            /* unused credit nothing here can use: give it back so another peer can */
            s_hello_flags(self, r, 2);
            rep->released = 1;
            rep->granted = rep->sent;
        }
    }
    if (now_ms - self->last_hello_ms >= GF_EDGE_KEEPALIVE_MS) {
        for (int r = 0; r < self->n; r++)
            s_hello_flags(self, r, self->reps[r].wanted ? 1 : 0);
        self->last_hello_ms = now_ms;
    }
}
