/* edge.h — credit-based data edges over ZeroMQ.
 *
 * Each replica binds one ROUTER socket, its inlet. An upstream replica holds one outlet per
 * downstream stage: a DEALER per downstream replica, connected to that replica's inlet. Messages
 * on an edge are single-part. A data message is a msgpack frame; an edge-control message starts
 * with the byte 0xC1, which msgpack never uses:
 *
 *     0xC1 'H' <u64 instance> <u64 sent> <u8 flags> <u32 epoch>   upstream -> downstream
 *     0xC1 'C' <u64 instance> <u64 granted> <u32 epoch>           downstream -> upstream
 *
 * 'H' is the hello and keepalive; flags: 1 = frames are waiting for credit (demand), 2 = give
 * back all unused credit (release; `epoch` is the last one the upstream saw). 'C' announces
 * the running total of credit granted, in the peer's current epoch.
 * (integers little-endian; instance = a random id of the sending process, so a restarted peer is
 * recognised; sent = data frames this upstream sent to that downstream instance). The downstream
 * keeps the credit ledger (credit.h); the upstream knows its credit for a replica as granted -
 * sent. A keepalive travels behind the frames it counts, so on its arrival the downstream sets
 * the peer's received total to `sent` exactly: a forgotten or reconnected peer resynchronises
 * within one keepalive and no credit is lost or invented. An upstream idle for
 * GF_EDGE_IDLE_RELEASE_MS with unused credit releases it and ignores older-epoch grants; the
 * downstream then grants it nothing until it shows demand again. The upstream sends
 * only where credit exists, to the replica with the most unused credit (least loaded) first.
 * Frames with no credit anywhere wait in the outlet's queue; the stage stops granting its own
 * credits while any queue is long, which carries back-pressure up the pipeline.
 *
 * The upstream's `sent` counts every frame sent to that downstream replica since the outlet was
 * made: it does not start again when the downstream restarts. A new downstream instance takes
 * it as the baseline of that peer at its first 'H' (credit.h), so the two always count the same
 * frames.
 *
 * Nothing read from an edge is trusted (gf_edge_inlet_control, gf_edge_outlet_grant):
 *   - a control message of another length or letter, with flags other than 1 and 2, or with a
 *     counter beyond GF_CREDIT_TOTAL_MAX is ignored;
 *   - an 'H' `sent` total is checked against the ledger (credit.h): outside
 *     [received, granted + capacity] within one upstream instance, the peer is reset to no unused
 *     credit; a release whose epoch is not the peer's current one is ignored (stale, or of an
 *     earlier instance of this replica);
 *   - a 'C' with instance 0, or whose `granted` passes `sent` + GF_EDGE_CREDIT_MAX (more credit
 *     than any replica can hold), is ignored; a lower total than before is taken as it is (it
 *     only lowers what is sent).
 * Each is counted; the first one from a peer is logged (and at most one such line per second per
 * inlet), and the process keeps serving every other peer.
 *
 * Threads: an inlet or outlet is used by one thread.
 */
#ifndef GF_ENGINE_EDGE_H
#define GF_ENGINE_EDGE_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "engine/credit.h"
#include "engine/frame.h"
#include "engine/security.h"

#define GF_EDGE_CTL 0xC1
#define GF_EDGE_KEEPALIVE_MS 250
#define GF_EDGE_PEER_EXPIRY_MS 3000
#define GF_EDGE_IDLE_RELEASE_MS 20
#define GF_EDGE_HELLO_LEN 23
#define GF_EDGE_CREDIT_LEN 22
#define GF_EDGE_CREDIT_MAX GF_CREDIT_CAPACITY_MAX /* most credit one replica can grant */
#define GF_EDGE_WARN_MS 1000                      /* at most one protocol warning per inlet */

typedef struct gf_inlet gf_inlet_t;
typedef struct gf_outlet gf_outlet_t;

/* Sets the socket options every gotflow socket gets (linger, message size limit). 0, or GF_EZMQ
 * (logged). */
int gf_socket_defaults(void *sock, long max_frame_bytes);

/* zmq_setsockopt of an int (or int64) option, logged by `name` on failure. 0, or GF_EZMQ. */
int gf_sockopt_int(void *sock, int option, int value, const char *name);
int gf_sockopt_i64(void *sock, int option, int64_t value, const char *name);

/* zmq_send that logs a failure (`what` says which message; at most one line a second per
 * process, with the count of the ones not logged) and returns 0 or GF_EZMQ. For sends whose
 * failure costs nothing but that message (a credit announcement, a tap frame, a reply to a
 * client that is gone). */
int gf_zsend(void *sock, const void *data, size_t len, int flags, const char *what);

/* A random 64-bit process instance id (nonzero). */
uint64_t gf_instance_id(void);

/* Checking and applying what a peer says (pure: no sockets) -------------------------------- */

/* An edge-control message `msg` (`len` bytes, first byte GF_EDGE_CTL) that arrived at an inlet
 * from ledger peer `peer` (-1: the ledger had no room for it). Applies a valid 'H' to the ledger
 * and marks the peer to be answered. Returns 0, or a negative GF_E* code when the message broke a
 * rule above (it was ignored, or the peer was reset); then `why` holds a lowercase reason. */
int gf_edge_inlet_control(struct gf_credit_ledger *l, int peer, const void *msg, size_t len,
                          char *why, size_t whylen);

/* An outlet's view of one downstream replica's credit. */
struct gf_edge_credit {
    uint64_t instance; /* of the downstream process; 0 until its first 'C' */
    uint64_t granted;  /* its last accepted total */
    uint64_t sent;     /* frames sent to it in all (since the outlet was made) */
    uint32_t epoch;    /* of the last grant accepted */
    int released;      /* gave credit back in `epoch`: ignore grants of that epoch */
    long violations;   /* 'C' messages from it that broke a rule */
    int warned;        /* logged once */
};

/* A message `msg` (`len` bytes) read from the replica whose credit is `c`. Applies a valid 'C'.
 * Returns 0 (also for a stale grant, quietly ignored), or a negative GF_E* code when the message
 * broke a rule (ignored; `why` says which). */
int gf_edge_outlet_grant(struct gf_edge_credit *c, const void *msg, size_t len, char *why,
                         size_t whylen);

/* Frames that may be sent now: granted - sent, 0 before any 'C' or when below. */
int64_t gf_edge_credit_left(const struct gf_edge_credit *c);

/* Inlet (downstream side) --------------------------------------------------------------------- */

/* Binds a ROUTER at `endpoint` (a CURVE server there when `sec` says so; `sec` may be NULL).
 * Returns NULL and logs on failure. Caller owns. */
gf_inlet_t *gf_inlet_new(void *zctx, const char *endpoint, int capacity, long max_frame_bytes,
                         const struct gf_security *sec);
void gf_inlet_destroy(gf_inlet_t **self_p);
void *gf_inlet_socket(gf_inlet_t *self);

/* Receives one message without blocking. Returns 1 with a data message in `msg` (initialised
 * here; caller closes it) that now holds a credit slot, 0 when an edge-control message was
 * handled or nothing was waiting (then *idle is set), or a negative code on transport failure. */
int gf_inlet_recv(gf_inlet_t *self, zmq_msg_t *msg, int *idle);

/* `n` frames held here are finished; their slots may be granted again. */
void gf_inlet_release(gf_inlet_t *self, int n);

/* While paused, no new credits are granted (drain, or downstream queues full). */
void gf_inlet_pause(gf_inlet_t *self, int paused);

/* Grants free slots and announces changed totals; expires silent peers. Call once per loop. */
void gf_inlet_service(gf_inlet_t *self, int64_t now_ms);

const struct gf_credit_ledger *gf_inlet_ledger(const gf_inlet_t *self);

/* Outlet (upstream side) ---------------------------------------------------------------------- */

/* Connects one DEALER to each endpoint (the replicas of one downstream stage). With
 * `by_id`, a frame goes to replica hash(id) % n (fan-in joins need every part of a request at
 * the same replica); otherwise to the least-loaded replica with credit. On tcp, with `sec`
 * enabled, DEALER r is a CURVE client of server_publics[r] (its host's key; the array may be
 * NULL). Caller
 * owns. */
gf_outlet_t *gf_outlet_new(void *zctx, const char *stage, char *const *endpoints, int n, int by_id,
                           long max_frame_bytes, const struct gf_security *sec,
                           const char *const *server_publics);
void gf_outlet_destroy(gf_outlet_t **self_p);

const char *gf_outlet_stage(const gf_outlet_t *self);
int gf_outlet_size(const gf_outlet_t *self);
void *gf_outlet_socket(gf_outlet_t *self, int replica);

/* Sends (or queues, copying) one frame for attempt `n` of request `id`. 0, or GF_ENOMEM. */
int gf_outlet_send(gf_outlet_t *self, const char *id, uint32_t n, const void *data, size_t len);

/* Calls `fn` for each frame waiting for credit, oldest first (heartbeats list them). */
void gf_outlet_each_queued(const gf_outlet_t *self,
                           void (*fn)(void *ctx, const char *id, uint32_t n), void *ctx);

/* Drops the waiting frames of request `id` with an attempt number below `below_n` (superseded).
 * Returns how many were dropped. */
int gf_outlet_cancel(gf_outlet_t *self, const char *id, uint32_t below_n);

/* Reads credit messages waiting on replica `r`'s socket, then flushes what credit allows. */
void gf_outlet_on_readable(gf_outlet_t *self, int r);

/* Keepalives (every GF_EDGE_KEEPALIVE_MS) and flushing. Call once per loop. */
void gf_outlet_service(gf_outlet_t *self, int64_t now_ms);

int gf_outlet_queued(const gf_outlet_t *self);  /* frames waiting for credit */
int gf_outlet_credits(const gf_outlet_t *self); /* unused credit over all replicas */
long gf_outlet_sent(const gf_outlet_t *self, int r);

/* Milliseconds on the monotonic clock. */
int64_t gf_mono_ms(void);

#endif
