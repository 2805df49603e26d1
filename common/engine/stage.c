/* stage.c — the stage process: startup handshake, the poll loop, emission, taps, heartbeats. */
#include "engine/stage.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "core/error.h"
#include "core/grow.h"
#include "core/log.h"
#include "core/strmap.h"
#include "core/version.h"
#include "engine/control.h"
#include "engine/edge.h"
#include "engine/plan.h"

#define S_MAX_OUTLETS 16
#define S_MAX_WATCH 4
#define S_MAX_KINDS 16
#define S_JOIN_MAX_PARTS 8
#define S_FAILED_RING 256
#define S_HIST_BUCKETS 32
#define S_REPORT_IDS 4096  /* ids a heartbeat lists; more sets in_flight_cut */
#define S_CANCEL_KEEP 4096 /* superseded requests remembered */
#define S_UNKNOWN_N UINT32_MAX
#define S_BIG_FRAME (1u << 20) /* a frame this big is followed by s_trim */

struct s_join {
    char id[GF_FRAME_ID_MAX];
    int n_parts;
    gf_frame_t *parts[S_JOIN_MAX_PARTS];
};

struct gf_stage {
    struct gf_stage_info info;
    const struct gf_stage_ops *ops;
    gf_graph_t *graph;
    char run_dir[GF_PATH_MAX];
    char who[GF_GRAPH_NAME_MAX + 16];
    void *control, *tap;
    gf_inlet_t *inlet;
    gf_outlet_t *outlets[S_MAX_OUTLETS];
    int n_outlets;
    int n_upstream; /* upstream stages; > 1 means requests are joined by id */
    struct {
        void *sock;
        void (*fn)(gf_stage_t *, void *);
    } watch[S_MAX_WATCH];
    int n_watch;
    gf_emit_t emit;
    struct gf_security sec;

    /* frames waiting for process(): a growable ring */
    gf_frame_t **queue;
    int q_cap, q_head, q_len;
    /* frames handed to process() and not done */
    gf_frame_t **active;
    int n_active;
    size_t active_cap;
    int big_seen; /* a frame over S_BIG_FRAME came since the last s_trim */
    struct s_join *joins;
    int n_joins;
    size_t joins_cap;
    char failed[S_FAILED_RING][GF_FRAME_ID_MAX];
    int failed_next;

    struct {
        char kind[GF_FRAME_KIND_MAX];
        uint64_t seq;
    } tap_seq[S_MAX_KINDS];
    int n_tap_kinds;

    int draining, stop, step_pending, last_batch;
    int counts_steps; /* the stage reports its steps: last_batch is step rows */
    uint64_t steps, step_rows;
    int extra_requests;
    char extra_ids[S_REPORT_IDS][GF_FRAME_ID_MAX];
    int n_extra_ids;
    /* frames taken off the inlet during a long process()/step() (gf_stage_keepalive), handled
     * by the loop when it gets back; listed in heartbeats meanwhile */
    struct s_deferred {
        zmq_msg_t msg;
        char id[GF_FRAME_ID_MAX];
    } * deferred;
    int n_deferred;
    size_t deferred_cap;
    /* superseded attempts: id -> lowest attempt number still wanted (as a pointer value) */
    gf_strmap_t *cancelled;
    char (*cancel_ring)[GF_FRAME_ID_MAX];
    int cancel_next;
    uint64_t hb_seq;
    int64_t started_ms, next_hb_ms;
    Gotflow__Counters counters;
    uint64_t hist[S_HIST_BUCKETS];
};

static volatile sig_atomic_t s_terminate;

static pid_t s_supervisor; /* with GOTFLOW_TERM_DRAINS: the parent that drains us */

/* SIGTERM stops the replica, unless GOTFLOW_TERM_DRAINS says the cluster manager signals every
 * process of a job at once (Slurm's scancel): then the supervisor, signalled too, drains this
 * replica and stops it in order, and the signal counts only once the supervisor is gone. */
static void s_on_sigterm(int sig)
{
    (void)sig;
    if (s_supervisor > 1 && getppid() == s_supervisor)
        return;
    s_terminate = 1;
}

struct gf_stage_info *gf_stage_info(gf_stage_t *st)
{
    return &st->info;
}

const struct gf_security *gf_stage_security(const gf_stage_t *st)
{
    return &st->sec;
}

int gf_stage_draining(const gf_stage_t *st)
{
    return st->draining;
}

int gf_stage_outbox(const gf_stage_t *st)
{
    int n = 0;
    for (int i = 0; i < st->n_outlets; i++)
        n += gf_outlet_queued(st->outlets[i]);
    return n;
}

void gf_stage_each_outbox(const gf_stage_t *st, void (*fn)(void *ctx, const char *id, uint32_t n),
                          void *ctx)
{
    for (int i = 0; i < st->n_outlets; i++)
        gf_outlet_each_queued(st->outlets[i], fn, ctx);
}

static void s_cancel(gf_stage_t *st, const char *id, uint32_t below);

void gf_stage_cancel(gf_stage_t *st, const char *id, uint32_t below)
{
    char *ids[1] = {(char *)id};
    uint32_t ns[1] = {below};
    Gotflow__Cancel cancel = GOTFLOW__CANCEL__INIT;
    cancel.ids = ids;
    cancel.n_ids = 1;
    cancel.ns = ns;
    cancel.n_ns = 1;
    Gotflow__Control c = GOTFLOW__CONTROL__INIT;
    c.msg_case = GOTFLOW__CONTROL__MSG_CANCEL;
    c.cancel = &cancel;
    gf_control_send(st->control, NULL, 0, &c);
    s_cancel(st, id, below);
}

void gf_stage_set_requests(gf_stage_t *st, int n, const char *const *ids, int n_ids)
{
    st->extra_requests = n;
    st->n_extra_ids = n_ids < S_REPORT_IDS ? n_ids : S_REPORT_IDS;
    for (int i = 0; i < st->n_extra_ids; i++)
        snprintf(st->extra_ids[i], GF_FRAME_ID_MAX, "%s", ids[i]);
}

int gf_stage_watch(gf_stage_t *st, void *sock, void (*fn)(gf_stage_t *st, void *sock))
{
    if (st->n_watch == S_MAX_WATCH)
        return GF_ENOMEM;
    st->watch[st->n_watch].sock = sock;
    st->watch[st->n_watch].fn = fn;
    st->n_watch++;
    return 0;
}

/* Taps --------------------------------------------------------------------------------------- */

static uint64_t s_next_seq(gf_stage_t *st, const char *kind)
{
    for (int i = 0; i < st->n_tap_kinds; i++)
        if (strcmp(st->tap_seq[i].kind, kind) == 0)
            return ++st->tap_seq[i].seq;
    if (st->n_tap_kinds == S_MAX_KINDS)
        return 0;
    snprintf(st->tap_seq[st->n_tap_kinds].kind, GF_FRAME_KIND_MAX, "%s", kind);
    st->tap_seq[st->n_tap_kinds].seq = 1;
    return st->tap_seq[st->n_tap_kinds++].seq;
}

/* Tap message: [topic "stage.kind."][u32 replica, u64 seq, little-endian][frame]. Sequence
 * numbers count per kind, so a subscriber sees from the gaps how many frames it lost. */
static void s_tap(gf_stage_t *st, const char *kind, const void *data, size_t len)
{
    char topic[GF_GRAPH_NAME_MAX + GF_FRAME_KIND_MAX + 2];
    int tl = snprintf(topic, sizeof topic, "%s.%s.", st->info.def->name, kind);
    uint8_t hdr[12];
    uint32_t r = (uint32_t)st->info.replica;
    uint64_t seq = s_next_seq(st, kind);
    for (int i = 0; i < 4; i++)
        hdr[i] = (uint8_t)(r >> (8 * i));
    for (int i = 0; i < 8; i++)
        hdr[4 + i] = (uint8_t)(seq >> (8 * i));
    /* a PUB socket drops for slow subscribers by itself; a failure here is the socket's */
    if (gf_zsend(st->tap, topic, (size_t)tl, ZMQ_SNDMORE | ZMQ_DONTWAIT, "a tap frame") ||
        gf_zsend(st->tap, hdr, sizeof hdr, ZMQ_SNDMORE | ZMQ_DONTWAIT, "a tap frame") ||
        gf_zsend(st->tap, data, len, ZMQ_DONTWAIT, "a tap frame"))
        return;
    st->counters.tap_sent++;
}

/* Emission ----------------------------------------------------------------------------------- */

gf_emit_t *gf_stage_begin(gf_stage_t *st, const gf_frame_t *in, const char *kind)
{
    gf_emit_begin(&st->emit, in, kind);
    return &st->emit;
}

gf_emit_t *gf_stage_begin_id(gf_stage_t *st, const char *id, uint32_t n, const char *kind)
{
    gf_emit_begin_id(&st->emit, id, n, kind);
    return &st->emit;
}

static void s_seal(gf_stage_t *st, const gf_frame_t *in)
{
    if (in && !(st->ops->flags & GF_STAGE_NO_CARRY))
        gf_emit_carry(&st->emit, in);
    gf_emit_end(&st->emit, st->info.def->name, st->info.replica, in ? in->t_in_us : gf_now_us());
}

static int s_superseded(const gf_stage_t *st, const char *id, uint32_t n);

static int s_send_sealed(gf_stage_t *st)
{
    const void *data = gf_emit_data(&st->emit);
    size_t len = gf_emit_len(&st->emit);
    int err = 0;
    if (s_superseded(st, st->emit.id, st->emit.n)) {
        st->counters.superseded++; /* a newer attempt of the request is on its way */
        return 0;
    }
    for (int i = 0; i < st->n_outlets; i++)
        if (gf_outlet_send(st->outlets[i], st->emit.id, st->emit.n, data, len) != 0)
            err = GF_ENOMEM;
    st->counters.emitted++;
    s_tap(st, st->emit.kind, data, len);
    return err;
}

int gf_stage_send(gf_stage_t *st, const gf_frame_t *in)
{
    s_seal(st, in);
    return s_send_sealed(st);
}

void gf_stage_seal(gf_stage_t *st, const gf_frame_t *in)
{
    s_seal(st, in);
}

int gf_stage_send_sealed(gf_stage_t *st)
{
    return s_send_sealed(st);
}

void gf_stage_publish(gf_stage_t *st, const gf_frame_t *in)
{
    gf_emit_end(&st->emit, st->info.def->name, st->info.replica, in ? in->t_in_us : gf_now_us());
    s_tap(st, st->emit.kind, gf_emit_data(&st->emit), gf_emit_len(&st->emit));
}

void gf_stage_fail_id(gf_stage_t *st, const char *id, uint32_t n, const char *code,
                      const char *message)
{
    gf_log_warn("request '%s': %s", id, message);
    gf_emit_error(&st->emit, id, n, NULL, st->info.def->name, st->info.replica, code, message);
    st->counters.errors++;
    s_send_sealed(st);
}

static void s_hist_add(gf_stage_t *st, int64_t us)
{
    int b = 0;
    while (us > 1 && b < S_HIST_BUCKETS - 1) {
        us >>= 1;
        b++;
    }
    st->hist[b]++;
}

void gf_stage_done(gf_stage_t *st, gf_frame_t **frame_p)
{
    gf_frame_t *f = *frame_p;
    if (!f)
        return;
    for (int i = 0; i < st->n_active; i++)
        if (st->active[i] == f) {
            st->active[i] = st->active[--st->n_active];
            break;
        }
    s_hist_add(st, gf_now_us() - f->t_in_us);
    st->counters.done++;
    gf_inlet_release(st->inlet, 1);
    gf_frame_destroy(frame_p);
}

void gf_stage_fail(gf_stage_t *st, gf_frame_t **frame_p, int err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gf_frame_t *f = *frame_p;
    gf_log_warn("request '%s': %s", f->id, msg);
    gf_emit_error(&st->emit, f->id, f->n, f->trace, st->info.def->name, st->info.replica,
                  gf_errname(err), msg);
    st->counters.errors++;
    s_send_sealed(st);
    gf_stage_done(st, frame_p);
}

void gf_stage_count_step(gf_stage_t *st, int rows)
{
    st->counts_steps = 1;
    st->last_batch = rows;
    st->steps++;
    st->step_rows += (uint64_t)rows;
}

/* Queue, joins ------------------------------------------------------------------------------- */

static int s_enqueue(gf_stage_t *st, gf_frame_t *f)
{
    if (st->q_len == st->q_cap) {
        int ncap = st->q_cap ? st->q_cap * 2 : 16;
        gf_frame_t **q = malloc((size_t)ncap * sizeof *q);
        if (!q)
            return GF_ENOMEM;
        for (int i = 0; i < st->q_len; i++)
            q[i] = st->queue[(st->q_head + i) % st->q_cap];
        free(st->queue);
        st->queue = q;
        st->q_cap = ncap;
        st->q_head = 0;
    }
    st->queue[(st->q_head + st->q_len) % st->q_cap] = f;
    st->q_len++;
    return 0;
}

static gf_frame_t *s_dequeue(gf_stage_t *st)
{
    gf_frame_t *f = st->queue[st->q_head];
    st->q_head = (st->q_head + 1) % st->q_cap;
    st->q_len--;
    return f;
}

static int s_failed_before(gf_stage_t *st, const char *id)
{
    for (int i = 0; i < S_FAILED_RING; i++)
        if (strcmp(st->failed[i], id) == 0)
            return 1;
    return 0;
}

/* Superseded attempts ---------------------------------------------------------------------- */

static int s_superseded(const gf_stage_t *st, const char *id, uint32_t n)
{
    if (!st->cancelled)
        return 0;
    uintptr_t below = (uintptr_t)gf_strmap_get(st->cancelled, id);
    return below && n < below;
}

static int s_drop_superseded_parts(gf_stage_t *st, const char *id)
{
    int dropped = 0;
    for (int i = 0; i < st->n_joins; i++) {
        struct s_join *j = &st->joins[i];
        if (strcmp(j->id, id) != 0)
            continue;
        int keep = 0;
        for (int k = 0; k < j->n_parts; k++) {
            if (s_superseded(st, id, j->parts[k]->n)) {
                gf_frame_destroy(&j->parts[k]); /* waiting parts gave their credit back */
                dropped++;
            } else {
                j->parts[keep++] = j->parts[k];
            }
        }
        j->n_parts = keep;
        if (!keep)
            st->joins[i--] = st->joins[--st->n_joins];
    }
    return dropped;
}

/* The gateway superseded attempts below `below` of request `id`: drop them wherever they wait
 * here. Work already in process() finishes, but what it emits is dropped (s_send_sealed). */
static void s_cancel(gf_stage_t *st, const char *id, uint32_t below)
{
    if (!gf_frame_id_ok(id, strlen(id)) || below == 0)
        return;
    if (!st->cancelled) {
        st->cancelled = gf_strmap_new();
        st->cancel_ring = calloc(S_CANCEL_KEEP, sizeof *st->cancel_ring);
        if (!st->cancelled || !st->cancel_ring)
            return;
    }
    uintptr_t old = (uintptr_t)gf_strmap_get(st->cancelled, id);
    if (old >= below)
        return;
    if (!old) {
        char *slot = st->cancel_ring[st->cancel_next];
        if (slot[0])
            gf_strmap_take(st->cancelled, slot); /* forget the oldest */
        snprintf(slot, GF_FRAME_ID_MAX, "%s", id);
        st->cancel_next = (st->cancel_next + 1) % S_CANCEL_KEEP;
    }
    if (gf_strmap_put(st->cancelled, id, (void *)(uintptr_t)below) != 0)
        return;
    uint64_t dropped = 0;
    for (int i = 0, len = st->q_len; i < len; i++) {
        gf_frame_t *f = s_dequeue(st);
        if (s_superseded(st, f->id, f->n)) {
            gf_stage_done(st, &f);
            dropped++;
        } else {
            s_enqueue(st, f); /* cannot fail: the ring has room for what it held */
        }
    }
    for (int o = 0; o < st->n_outlets; o++)
        dropped += (uint64_t)gf_outlet_cancel(st->outlets[o], id, below);
    dropped += (uint64_t)s_drop_superseded_parts(st, id);
    st->counters.superseded += dropped;
}

/* Forwards an error frame downstream unchanged but for the trace. */
static void s_pass_error(gf_stage_t *st, gf_frame_t **f)
{
    gf_stage_begin(st, *f, "error");
    gf_emit_carry(&st->emit, *f);
    gf_emit_end(&st->emit, st->info.def->name, st->info.replica, (*f)->t_in_us);
    s_send_sealed(st);
    gf_stage_done(st, f);
}

/* Adds a part of a joined request; returns the merged frame when all parts are in. */
static gf_frame_t *s_join(gf_stage_t *st, gf_frame_t *f)
{
    struct s_join *j = NULL;
    int idx;
    for (idx = 0; idx < st->n_joins; idx++)
        if (strcmp(st->joins[idx].id, f->id) == 0) {
            j = &st->joins[idx];
            break;
        }
    if (!j) {
        if (gf_grow((void **)&st->joins, &st->joins_cap, (size_t)st->n_joins + 1,
                    sizeof *st->joins))
            return NULL;
        idx = st->n_joins++;
        j = &st->joins[idx];
        memset(j, 0, sizeof *j);
        snprintf(j->id, sizeof j->id, "%s", f->id);
    }
    j->parts[j->n_parts++] = f;
    if (j->n_parts < st->n_upstream && j->n_parts < S_JOIN_MAX_PARTS) {
        /* A waiting part gives its credit back at once: parts of other requests must keep
         * flowing, or two branches that deliver in different orders would wait on each other
         * for ever. The join table is bounded by the requests in flight, which the gateway
         * bounds. The part that completes the request keeps its slot for the merged frame. */
        gf_inlet_release(st->inlet, 1);
        return NULL;
    }
    gf_emit_begin(&st->emit, j->parts[0], j->parts[0]->kind);
    for (int i = 0; i < j->n_parts; i++)
        gf_emit_carry(&st->emit, j->parts[i]);
    char joined[GF_GRAPH_NAME_MAX + 8];
    snprintf(joined, sizeof joined, "%s:join", st->info.def->name);
    gf_emit_end(&st->emit, joined, st->info.replica, j->parts[0]->t_in_us);
    gf_frame_t *merged = NULL;
    char why[256];
    if (gf_frame_decode(gf_emit_data(&st->emit), gf_emit_len(&st->emit), 0, &merged, why,
                        sizeof why, NULL) != 0)
        gf_log_error("request '%s': cannot merge its parts: %s", j->id, why);
    else
        merged->t_in_us = j->parts[0]->t_in_us;
    if (!merged)
        gf_inlet_release(st->inlet, 1);
    for (int i = 0; i < j->n_parts; i++)
        gf_frame_destroy(&j->parts[i]);
    st->joins[idx] = st->joins[--st->n_joins];
    return merged;
}

/* An error for a joined request ends it: its waiting parts go, later ones are dropped. */
static void s_join_fail(gf_stage_t *st, const char *id)
{
    for (int i = 0; i < st->n_joins; i++)
        if (strcmp(st->joins[i].id, id) == 0) {
            for (int k = 0; k < st->joins[i].n_parts; k++)
                gf_frame_destroy(&st->joins[i].parts[k]);
            st->joins[i] = st->joins[--st->n_joins];
            break;
        }
    snprintf(st->failed[st->failed_next], GF_FRAME_ID_MAX, "%s", id);
    st->failed_next = (st->failed_next + 1) % S_FAILED_RING;
}

/* Takes one data message off the inlet and routes it. */
static void s_on_message(gf_stage_t *st, zmq_msg_t *msg)
{
    char why[256], id[GF_FRAME_ID_MAX];
    gf_frame_t *f = NULL;
    size_t len = zmq_msg_size(msg);
    st->counters.received++;
    if (len > S_BIG_FRAME)
        st->big_seen = 1;
    int err = gf_frame_decode(zmq_msg_data(msg), zmq_msg_size(msg), st->graph->max_frame_bytes, &f,
                              why, sizeof why, id);
    zmq_msg_close(msg);
    if (err) {
        st->counters.bad_frames++;
        gf_log_warn("bad frame (%zu bytes)%s%s: %s", len, id[0] ? " for request " : "", id, why);
        gf_inlet_release(st->inlet, 1);
        if (id[0])
            gf_stage_fail_id(st, id, 0, gf_errname(err), why);
        return;
    }
    f->t_in_us = gf_now_us();
    if (s_superseded(st, f->id, f->n)) {
        st->counters.superseded++;
        gf_stage_done(st, &f);
        return;
    }
    int is_error = strcmp(f->kind, "error") == 0;
    if (st->n_upstream > 1) {
        if (is_error) {
            s_join_fail(st, f->id);
        } else if (s_failed_before(st, f->id)) {
            gf_stage_done(st, &f);
            return;
        } else {
            f = s_join(st, f);
            if (!f)
                return;
        }
    }
    if (is_error && !(st->ops->flags & GF_STAGE_SEES_ERRORS)) {
        s_pass_error(st, &f);
        return;
    }
    if (s_enqueue(st, f) != 0)
        gf_stage_fail(st, &f, GF_ENOMEM, "out of memory queueing the request");
}

/* Hands at most one batch to the stage per turn of the loop, so heartbeats, control messages
 * and credits keep flowing while a queue is worked off. */
static void s_dispatch(gf_stage_t *st)
{
    int batch = st->info.def->batch;
    if (st->q_len > 0 && st->n_active < batch) {
        gf_frame_t *frames[4096];
        int n = 0;
        while (st->q_len > 0 && st->n_active + n < batch)
            frames[n++] = s_dequeue(st);
        if (gf_grow((void **)&st->active, &st->active_cap, (size_t)st->n_active + n,
                    sizeof *st->active))
            return;
        for (int i = 0; i < n; i++)
            st->active[st->n_active++] = frames[i];
        if (!st->counts_steps)
            st->last_batch = n;
        int err = st->ops->process(st, frames, n);
        if (err < 0) {
            /* fail what the stage did not finish */
            for (int i = 0; i < n; i++)
                for (int k = 0; k < st->n_active; k++)
                    if (st->active[k] == frames[i]) {
                        gf_stage_fail(st, &frames[i], err, "stage '%s' failed: %s",
                                      st->info.def->name, gf_strerror(err));
                        break;
                    }
        }
    }
}

/* Control ------------------------------------------------------------------------------------ */

/* Resident memory, for the supervisor's leak guard. */
static uint64_t s_rss_kb(void)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) / 1024;
}

/* What a heartbeat lists: every (id, attempt) held here. */
struct s_idlist {
    char *ids[S_REPORT_IDS];
    uint32_t ns[S_REPORT_IDS];
    int n, cut;
};

static void s_idlist_add(struct s_idlist *l, const char *id, uint32_t n)
{
    if (l->n == S_REPORT_IDS) {
        l->cut = 1;
        return;
    }
    l->ids[l->n] = (char *)id;
    l->ns[l->n++] = n;
}

static void s_idlist_cb(void *ctx, const char *id, uint32_t n)
{
    s_idlist_add(ctx, id, n);
}

/* After a big frame, once nothing is held here: the frame builder gives back the capacity it
 * kept (a 60 MB request left 130-150 MB resident in every process it passed through; what malloc
 * frees goes back at once, see the mmap threshold in gf_stage_main). */
static void s_trim(gf_stage_t *st)
{
    if (!st->big_seen || st->q_len > 0 || st->n_active > 0)
        return;
    gf_emit_trim(&st->emit, S_BIG_FRAME);
    st->big_seen = 0;
}

static void s_heartbeat(gf_stage_t *st, int64_t now_ms)
{
    s_trim(st);
    Gotflow__Heartbeat hb = GOTFLOW__HEARTBEAT__INIT;
    const struct gf_credit_ledger *l = gf_inlet_ledger(st->inlet);
    struct s_idlist ids = {.n = 0};
    for (int i = 0; i < st->n_active; i++)
        s_idlist_add(&ids, st->active[i]->id, st->active[i]->n);
    for (int i = 0; i < st->q_len; i++) {
        const gf_frame_t *f = st->queue[(st->q_head + i) % st->q_cap];
        s_idlist_add(&ids, f->id, f->n);
    }
    for (int i = 0; i < st->n_joins; i++)
        for (int k = 0; k < st->joins[i].n_parts; k++)
            s_idlist_add(&ids, st->joins[i].id, st->joins[i].parts[k]->n);
    for (int i = 0; i < st->n_deferred; i++)
        s_idlist_add(&ids, st->deferred[i].id, S_UNKNOWN_N);
    for (int o = 0; o < st->n_outlets; o++)
        gf_outlet_each_queued(st->outlets[o], s_idlist_cb, &ids);
    for (int i = 0; i < st->n_extra_ids; i++)
        s_idlist_add(&ids, st->extra_ids[i], S_UNKNOWN_N);
    hb.seq = ++st->hb_seq;
    hb.state = st->draining ? "draining" : "ready";
    hb.in_flight = ids.ids;
    hb.n_in_flight = (size_t)ids.n;
    hb.in_flight_n = ids.ns;
    hb.n_in_flight_n = (size_t)ids.n;
    hb.in_flight_cut = ids.cut;
    hb.requests =
        (uint32_t)(st->n_active + st->q_len + st->n_joins + st->n_deferred + st->extra_requests);
    hb.queue_depth = (uint32_t)st->q_len;
    hb.held = (uint32_t)l->held;
    hb.credits_out = (uint32_t)gf_credit_outstanding(l);
    hb.capacity = (uint32_t)l->capacity;
    hb.outbox = (uint32_t)gf_stage_outbox(st);
    st->counters.overruns = (uint64_t)l->overruns;
    hb.counters = &st->counters;
    hb.latency_us_hist = st->hist;
    hb.n_latency_us_hist = S_HIST_BUCKETS;
    hb.uptime_ms = (uint64_t)(now_ms - st->started_ms);
    hb.batch_rows = (uint32_t)st->last_batch;
    hb.rss_kb = s_rss_kb();
    hb.steps = st->steps;
    hb.step_rows = st->step_rows;
    Gotflow__Control c = GOTFLOW__CONTROL__INIT;
    c.msg_case = GOTFLOW__CONTROL__MSG_HEARTBEAT;
    c.heartbeat = &hb;
    gf_control_send(st->control, NULL, 0, &c);
}

static int s_hb_ms(const gf_stage_t *st)
{
    return st->graph->supervisor.heartbeat_ms > 0 ? st->graph->supervisor.heartbeat_ms : 500;
}

/* Takes the data frames waiting on the inlet aside, so that a heartbeat sent in the middle of a
 * long process() or step() lists them too: a frame is never in nobody's account for longer
 * than the transit between two processes. The loop handles them when it gets back. */
static void s_defer_inlet(gf_stage_t *st)
{
    for (int k = 0; k < 1024; k++) {
        if (gf_grow((void **)&st->deferred, &st->deferred_cap, (size_t)st->n_deferred + 1,
                    sizeof *st->deferred))
            return;
        int idle;
        zmq_msg_t *msg = &st->deferred[st->n_deferred].msg;
        int got = gf_inlet_recv(st->inlet, msg, &idle);
        if (got != 1) {
            if (idle || got < 0)
                return;
            continue;
        }
        gf_frame_peek_id(zmq_msg_data(msg), zmq_msg_size(msg), st->deferred[st->n_deferred].id);
        st->n_deferred++;
    }
}

static void s_on_message(gf_stage_t *st, zmq_msg_t *msg);

static void s_take_deferred(gf_stage_t *st)
{
    int n = st->n_deferred;
    st->n_deferred = 0; /* s_on_message never defers */
    for (int i = 0; i < n; i++)
        s_on_message(st, &st->deferred[i].msg);
}

void gf_stage_keepalive(gf_stage_t *st)
{
    int64_t now = gf_mono_ms();
    if (!st || now < st->next_hb_ms)
        return;
    s_defer_inlet(st);
    s_heartbeat(st, now);
    st->next_hb_ms = now + s_hb_ms(st);
}

static void s_on_control(gf_stage_t *st)
{
    Gotflow__Control *c;
    while ((c = gf_control_recv(st->control, NULL, NULL, 0)) != NULL) {
        if (c->msg_case == GOTFLOW__CONTROL__MSG_DRAIN) {
            gf_log_info("draining");
            st->draining = 1;
        } else if (c->msg_case == GOTFLOW__CONTROL__MSG_SHUTDOWN) {
            st->stop = 1;
        } else if (c->msg_case == GOTFLOW__CONTROL__MSG_LOST && st->ops->on_lost) {
            st->ops->on_lost(st, c->lost);
        } else if (c->msg_case == GOTFLOW__CONTROL__MSG_CENSUS && st->ops->on_census) {
            st->ops->on_census(st, c->census);
        } else if (c->msg_case == GOTFLOW__CONTROL__MSG_CANCEL) {
            size_t n = c->cancel->n_ids < c->cancel->n_ns ? c->cancel->n_ids : c->cancel->n_ns;
            for (size_t i = 0; i < n; i++)
                s_cancel(st, c->cancel->ids[i], c->cancel->ns[i]);
        }
        gotflow__control__free_unpacked(c, NULL);
    }
}

/* Tells the supervisor why this replica cannot go on: in the stage's own words (the errors it
 * logged since gf_log_mark()), else the code's name. */
static void s_fault(gf_stage_t *st, const char *what, int err)
{
    char why[1024];
    gf_log_errors(why, sizeof why);
    Gotflow__Fault fault = GOTFLOW__FAULT__INIT;
    fault.what = (char *)what;
    fault.why = why[0] ? why : (char *)gf_strerror(err);
    fault.code = err;
    Gotflow__Control c = GOTFLOW__CONTROL__INIT;
    c.msg_case = GOTFLOW__CONTROL__MSG_FAULT;
    c.fault = &fault;
    gf_control_send(st->control, NULL, 0, &c);
}

/* Setup -------------------------------------------------------------------------------------- */

static int s_usage(const char *prog, const char *kind)
{
    fprintf(stderr,
            "usage: %s --run DIR --stage NAME --replica N\n\n"
            "The '%s' stage process. The supervisor ('gotflow run') starts it; it is not meant\n"
            "to be run by hand.\n",
            prog, kind);
    return 2;
}

static int s_setup_outlets(gf_stage_t *st)
{
    const gf_graph_t *g = st->graph;
    int down[GF_GRAPH_MAX_STAGES], n_down;
    if (strcmp(st->info.def->kind, "sink") == 0) {
        n_down = 0;
        for (int s = 0; s < g->n_stages; s++)
            if (strcmp(g->stages[s].kind, "gateway") == 0)
                down[n_down++] = s;
    } else {
        n_down = gf_graph_downstream(g, st->info.index, down, GF_GRAPH_MAX_STAGES);
    }
    for (int i = 0; i < n_down && st->n_outlets < S_MAX_OUTLETS; i++) {
        const struct gf_stage_def *d = &g->stages[down[i]];
        char eps[GF_GRAPH_MAX_REPLICAS][GF_PATH_MAX / 16];
        char *ptrs[GF_GRAPH_MAX_REPLICAS];
        const char *keys[GF_GRAPH_MAX_REPLICAS];
        for (int r = 0; r < d->replicas; r++) {
            if (gf_plan_inlet(g, st->run_dir, down[i], r, 0, eps[r], sizeof eps[r]))
                return GF_EINVAL;
            ptrs[r] = eps[r];
            keys[r] = gf_plan_host_key(g, down[i], r);
        }
        int up[GF_GRAPH_MAX_STAGES];
        int by_id = gf_graph_upstream(g, down[i], up, GF_GRAPH_MAX_STAGES) > 1;
        st->outlets[st->n_outlets] = gf_outlet_new(st->info.zctx, d->name, ptrs, d->replicas, by_id,
                                                   g->max_frame_bytes, &st->sec, keys);
        if (!st->outlets[st->n_outlets])
            return GF_EZMQ;
        st->n_outlets++;
    }
    return 0;
}

static int s_setup(gf_stage_t *st, const char *stage_name)
{
    char path[GF_PATH_MAX + 16], ep[GF_PATH_MAX], err[4096];
    snprintf(path, sizeof path, "%s/graph.yaml", st->run_dir);
    int rc = gf_graph_load(path, NULL, NULL, &st->graph, err, sizeof err);
    if (rc == GF_ESCHEMA) /* kinds are checked by the supervisor; accept any here */
        rc = gf_graph_load(path, gf_plan_kind_known, NULL, &st->graph, err, sizeof err);
    if (rc) {
        gf_log_error("cannot load '%s':\n%s", path, err);
        return rc;
    }
    const gf_graph_t *g = st->graph;
    st->info.graph = g;
    st->info.index = gf_graph_stage(g, stage_name);
    if (st->info.index < 0 || st->info.replica >= g->stages[st->info.index].replicas) {
        gf_log_error("no stage '%s' replica %d in '%s'", stage_name, st->info.replica, path);
        return GF_ENOTFOUND;
    }
    st->info.def = &g->stages[st->info.index];
    st->info.device = st->info.def->devices[st->info.replica % st->info.def->n_devices];
    int up[GF_GRAPH_MAX_STAGES];
    st->n_upstream = gf_graph_upstream(g, st->info.index, up, GF_GRAPH_MAX_STAGES);
    if (strcmp(st->info.def->kind, "gateway") == 0)
        st->n_upstream = 1; /* results from the sinks are not joined */

    if ((rc = gf_security_init(&st->sec, st->info.zctx, g, getenv("GOTFLOW_KEY_FILE"), 1)) != 0)
        return rc;
    gf_plan_inlet(g, st->run_dir, st->info.index, st->info.replica, 1, ep, sizeof ep);
    /* a source's inlet takes results, which cost it nothing to hold: a wide window */
    int capacity = st->info.def->credits;
    if ((st->ops->flags & GF_STAGE_SOURCE) && capacity < 1024)
        capacity = 1024;
    st->inlet = gf_inlet_new(st->info.zctx, ep, capacity, g->max_frame_bytes, &st->sec);
    if (!st->inlet)
        return GF_EZMQ;
    st->tap = zmq_socket(st->info.zctx, ZMQ_PUB);
    if (!st->tap || gf_socket_defaults(st->tap, 0) ||
        gf_sockopt_int(st->tap, ZMQ_SNDHWM, 1000, "ZMQ_SNDHWM") ||
        gf_sockopt_int(st->tap, ZMQ_LINGER, 0, "ZMQ_LINGER"))
        return GF_EZMQ;
    gf_plan_tap(g, st->run_dir, st->info.index, st->info.replica, 1, ep, sizeof ep);
    if (gf_security_server(&st->sec, st->tap, ep) != 0)
        return GF_EZMQ;
    if (zmq_bind(st->tap, ep) != 0) {
        gf_log_error("cannot bind tap '%s': %s", ep, zmq_strerror(zmq_errno()));
        return GF_EZMQ;
    }
    return s_setup_outlets(st);
}

static void s_hello(gf_stage_t *st)
{
    Gotflow__Hello h = GOTFLOW__HELLO__INIT;
    h.stage = (char *)st->info.def->name;
    h.replica = (uint32_t)st->info.replica;
    h.pid = (uint32_t)getpid();
    h.build = GF_VERSION;
    h.kind = (char *)st->info.def->kind;
    h.protocol = GF_CONTROL_PROTOCOL;
    Gotflow__Control c = GOTFLOW__CONTROL__INIT;
    c.msg_case = GOTFLOW__CONTROL__MSG_HELLO;
    c.hello = &h;
    gf_control_send(st->control, NULL, 0, &c);
}

static void s_ready(gf_stage_t *st)
{
    Gotflow__Ready r = GOTFLOW__READY__INIT;
    r.capacity = (uint32_t)st->info.def->credits;
    r.batch = (uint32_t)st->info.def->batch;
    Gotflow__Control c = GOTFLOW__CONTROL__INIT;
    c.msg_case = GOTFLOW__CONTROL__MSG_READY;
    c.ready = &r;
    gf_control_send(st->control, NULL, 0, &c);
}

/* The loop ----------------------------------------------------------------------------------- */

static void s_loop(gf_stage_t *st)
{
    int hb_ms = s_hb_ms(st);
    zmq_pollitem_t items[2 + S_MAX_WATCH + S_MAX_OUTLETS * GF_GRAPH_MAX_REPLICAS];
    int owner[S_MAX_OUTLETS * GF_GRAPH_MAX_REPLICAS][2];
    pid_t parent = getppid();
    while (!st->stop && !s_terminate) {
        int n = 0;
        items[n++] = (zmq_pollitem_t){gf_inlet_socket(st->inlet), 0, ZMQ_POLLIN, 0};
        items[n++] = (zmq_pollitem_t){st->control, 0, ZMQ_POLLIN, 0};
        for (int i = 0; i < st->n_watch; i++)
            items[n++] = (zmq_pollitem_t){st->watch[i].sock, 0, ZMQ_POLLIN, 0};
        int first_out = n;
        for (int o = 0; o < st->n_outlets; o++)
            for (int r = 0; r < gf_outlet_size(st->outlets[o]); r++) {
                owner[n - first_out][0] = o;
                owner[n - first_out][1] = r;
                items[n++] =
                    (zmq_pollitem_t){gf_outlet_socket(st->outlets[o], r), 0, ZMQ_POLLIN, 0};
            }
        int ready = st->q_len > 0 && st->n_active < st->info.def->batch;
        int rc = zmq_poll(items, n, st->step_pending || ready ? 0 : 20);
        if (rc < 0 && zmq_errno() != EINTR)
            break;
        int64_t now = gf_mono_ms();
        if (items[1].revents & ZMQ_POLLIN)
            s_on_control(st);
        for (int i = first_out; i < n; i++)
            if (items[i].revents & ZMQ_POLLIN)
                gf_outlet_on_readable(st->outlets[owner[i - first_out][0]],
                                      owner[i - first_out][1]);
        if (st->n_deferred)
            s_take_deferred(st);
        if (items[0].revents & ZMQ_POLLIN) {
            for (int k = 0; k < 1024; k++) {
                zmq_msg_t msg;
                int idle;
                int got = gf_inlet_recv(st->inlet, &msg, &idle);
                if (got == 1)
                    s_on_message(st, &msg);
                else if (idle || got < 0)
                    break;
            }
        }
        for (int i = 0; i < st->n_watch; i++)
            if (items[2 + i].revents & ZMQ_POLLIN)
                st->watch[i].fn(st, st->watch[i].sock);
        s_dispatch(st);
        if (st->ops->tick)
            st->ops->tick(st, now);
        if (st->ops->step && (st->step_pending || st->n_active > 0))
            st->step_pending = st->ops->step(st) > 0;
        for (int o = 0; o < st->n_outlets; o++)
            gf_outlet_service(st->outlets[o], now);
        /* back-pressure: no new credit while our own output cannot leave. Draining does not
         * pause: requests already in the pipeline must still flow; the gateway refuses new ones */
        gf_inlet_pause(st->inlet, !(st->ops->flags & GF_STAGE_SOURCE) &&
                                      gf_stage_outbox(st) >= st->info.def->credits);
        gf_inlet_service(st->inlet, now);
        if (now >= st->next_hb_ms) {
            s_heartbeat(st, now);
            st->next_hb_ms = now + hb_ms;
            if (getppid() != parent) {
                gf_log_error("supervisor is gone; exiting");
                break;
            }
        }
    }
}

int gf_stage_main(int argc, char **argv, const struct gf_stage_ops *ops)
{
    static const struct option opts[] = {{"run", required_argument, NULL, 'r'},
                                         {"stage", required_argument, NULL, 's'},
                                         {"replica", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    gf_stage_t *st = calloc(1, sizeof *st);
    const char *stage_name = NULL;
    int c, rc = 1;
    if (!st)
        return 1;
    st->info.replica = -1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'r')
            snprintf(st->run_dir, sizeof st->run_dir, "%s", optarg);
        else if (c == 's')
            stage_name = optarg;
        else if (c == 'n')
            st->info.replica = atoi(optarg);
        else
            return s_usage(argv[0], ops->kind);
    }
    if (!st->run_dir[0] || !stage_name || st->info.replica < 0)
        return s_usage(argv[0], ops->kind);
    snprintf(st->who, sizeof st->who, "%s.%d", stage_name, st->info.replica);
    gf_log_init(st->who, GF_LOG_INFO);
    if (getenv("GOTFLOW_TERM_DRAINS"))
        s_supervisor = getppid();
    signal(SIGTERM, s_on_sigterm);
    signal(SIGINT, SIG_IGN); /* the supervisor handles ^C and drains in order */
    signal(SIGPIPE, SIG_IGN);
    /* Big frames (up to max_frame_bytes, 64 MiB by default) pass through every stage: a fixed
     * mmap threshold gives each one back to the system when it is freed. glibc's sliding
     * threshold would otherwise rise to the frame's size after the first, and later copies would
     * stay in the heap for good. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    st->ops = ops;
    st->info.run_dir = st->run_dir;
    st->info.zctx = zmq_ctx_new();
    gf_emit_init(&st->emit);
    st->started_ms = gf_mono_ms();
    st->counters = (Gotflow__Counters)GOTFLOW__COUNTERS__INIT;

    char ep[GF_PATH_MAX];
    gf_plan_control(st->run_dir, ep, sizeof ep);
    st->control = zmq_socket(st->info.zctx, ZMQ_DEALER);
    if (!st->control || gf_socket_defaults(st->control, 1 << 20))
        goto out;
    if (zmq_setsockopt(st->control, ZMQ_ROUTING_ID, st->who, strlen(st->who)) != 0) {
        gf_log_error("cannot set ZMQ_ROUTING_ID: %s", zmq_strerror(zmq_errno()));
        goto out;
    }
    if (zmq_connect(st->control, ep) != 0) {
        gf_log_error("cannot connect to '%s': %s", ep, zmq_strerror(zmq_errno()));
        goto out;
    }
    gf_log_mark();
    int err = s_setup(st, stage_name);
    if (err) {
        s_fault(st, "setup", err);
        goto out;
    }
    s_hello(st);
    gf_log_mark();
    if (ops->init && (err = ops->init(st)) != 0) {
        s_fault(st, "init", err);
        gf_log_error("init failed: %s", gf_strerror(err));
        goto out;
    }
    s_ready(st);
    gf_log_debug("ready");
    s_loop(st);
    if (ops->shutdown)
        ops->shutdown(st);
    rc = 0;
out:
    for (int i = 0; i < st->n_outlets; i++)
        gf_outlet_destroy(&st->outlets[i]);
    gf_inlet_destroy(&st->inlet);
    if (st->tap)
        zmq_close(st->tap);
    if (st->control)
        zmq_close(st->control);
    gf_security_release(&st->sec);
    zmq_ctx_term(st->info.zctx);
    gf_emit_release(&st->emit);
    gf_graph_destroy(&st->graph);
    for (int i = 0; i < st->n_deferred; i++)
        zmq_msg_close(&st->deferred[i].msg);
    free(st->deferred);
    gf_strmap_destroy(&st->cancelled);
    free(st->cancel_ring);
    free(st->queue), free(st->active), free(st->joins);
    free(st);
    return rc;
}
