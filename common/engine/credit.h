/* credit.h — credit accounting for one replica's input (pure bookkeeping, no sockets).
 *
 * A replica may hold at most `capacity` frames: queued, joining or in process. It grants credits
 * to its upstream peers; a peer sends one frame per credit. Invariant kept by the ledger:
 *
 *     held + sum over peers of (granted - received) <= capacity
 *
 * so a slow replica stops its producers instead of queueing without bound. Granted and received
 * are running totals per peer: the peer learns its credit as granted_total - frames it sent, so a
 * lost or reordered grant message cannot inflate anybody's credit. A peer not heard from within
 * the expiry time is forgotten and its unused credits return to the pool.
 *
 * Free credits go one at a time to the live peer with the fewest unused credits, ties to the
 * one granted longest ago, so every upstream replica keeps a share. An upstream that sits idle
 * on unused credit gives it back (gf_credit_release_peer) and is dormant until it asks again
 * (gf_credit_demand): so credit never sits with idle peers while a busy one waits, whatever
 * the number of peers and the capacity.
 */
#ifndef GF_ENGINE_CREDIT_H
#define GF_ENGINE_CREDIT_H

#include <stddef.h>
#include <stdint.h>

#define GF_CREDIT_MAX_PEERS 256
#define GF_CREDIT_RID_MAX 32

struct gf_credit_peer {
    uint8_t rid[GF_CREDIT_RID_MAX]; /* ZeroMQ routing id */
    size_t rid_len;
    uint64_t granted, received; /* running totals */
    int64_t last_seen_ms, last_grant_ms;
    uint32_t epoch;     /* bumped when the peer gives its credit back */
    uint64_t announced; /* granted total the peer was last told */
    int dirty;          /* granted changed since the last announcement */
    int forced;         /* announce at the next chance (it asked, or it must resync) */
    int dormant;        /* gave its credit back; gets more only on demand */
};

struct gf_credit_ledger {
    int capacity;
    int held;
    long overruns; /* frames that arrived from a peer with no unused credit */
    int n_peers;
    struct gf_credit_peer peers[GF_CREDIT_MAX_PEERS];
};

void gf_credit_init(struct gf_credit_ledger *l, int capacity);

/* Finds or adds the peer; refreshes its last-seen time. Returns its index, or -1 when full. */
int gf_credit_peer(struct gf_credit_ledger *l, const void *rid, size_t rid_len, int64_t now_ms);

/* Peer `i` says it has sent `sent` frames in all, every one of which has arrived (keepalives
 * travel behind the frames). Resynchronises its totals, e.g. after it was forgotten. */
void gf_credit_sync(struct gf_credit_ledger *l, int i, uint64_t sent);

/* Peer `i` has frames waiting: it is no longer dormant. */
void gf_credit_demand(struct gf_credit_ledger *l, int i);

/* Peer `i` gives back its unused credit (after gf_credit_sync with its sent total): its granted
 * total drops to what it has sent, its epoch advances, and it is dormant. */
void gf_credit_release_peer(struct gf_credit_ledger *l, int i);

/* A data frame arrived from peer `i`: it now holds a slot. */
void gf_credit_on_frame(struct gf_credit_ledger *l, int i);

/* `n` held frames are finished: their slots are free again. */
void gf_credit_release(struct gf_credit_ledger *l, int n);

/* Credits granted and not yet used, over all peers. */
int gf_credit_outstanding(const struct gf_credit_ledger *l);

/* Slots neither held nor promised. */
int gf_credit_free(const struct gf_credit_ledger *l);

/* Hands out every free slot (see above); marks the peers whose totals changed as dirty.
 * Returns how many credits were granted. */
int gf_credit_grant(struct gf_credit_ledger *l, int64_t now_ms);

/* True when peer `i` should be told its new total now: it asked, or what it last heard leaves it
 * at most half the credit it really has (so a peer that still has plenty is told later, in one
 * message for many grants). */
int gf_credit_should_announce(const struct gf_credit_ledger *l, int i);

/* Forgets peers silent for more than `timeout_ms`; returns how many were forgotten. */
int gf_credit_expire(struct gf_credit_ledger *l, int64_t now_ms, int64_t timeout_ms);

#endif
