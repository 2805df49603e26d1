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
 *
 * Nothing a peer says is trusted. The `sent` total of a peer's hello (gf_credit_sync) is checked
 * against what this ledger knows of that peer:
 *
 *   - above GF_CREDIT_TOTAL_MAX it is nonsense (no process sends 2^53 frames): the message is
 *     ignored;
 *   - the first hello of a peer entry, or one from a new upstream instance, sets the baseline:
 *     received = sent, and the peer keeps the unused credit it already had here (at most
 *     `capacity`). This is the one resync: a reconnected, forgotten or restarted upstream, or one
 *     whose count started at another instance of this replica, counts on from its own total;
 *   - after that, within one upstream instance, `sent` never goes backwards (sent >= received)
 *     and never passes granted + capacity (an honest peer overruns only by the credit it held
 *     before its entry here was made). A total outside [received, granted + capacity] is a
 *     violation: the peer is reset to received = granted = sent (no unused credit) and told so,
 *     and the violation is counted on the peer for its owner to log.
 *
 * Arithmetic saturates: unused credit per peer is counted as 0 when granted < received and never
 * above `capacity`, sums are done in 64 bits and clamped to int, free slots are in [0, capacity],
 * so gf_credit_grant runs at most capacity x peers steps whatever the totals say. A ledger whose
 * totals are inconsistent (granted below received, more unused credit than capacity, negative
 * held) is repaired by gf_credit_heal, which gf_credit_grant calls first.
 */
#ifndef GF_ENGINE_CREDIT_H
#define GF_ENGINE_CREDIT_H

#include <stddef.h>
#include <stdint.h>

#define GF_CREDIT_MAX_PEERS 256
#define GF_CREDIT_RID_MAX 32
/* Largest capacity a ledger takes (the graph's `credits` limit). */
#define GF_CREDIT_CAPACITY_MAX (1 << 20)
/* Running totals above this are nonsense; far from any wrap of granted + capacity. */
#define GF_CREDIT_TOTAL_MAX (UINT64_C(1) << 53)

struct gf_credit_peer {
    uint8_t rid[GF_CREDIT_RID_MAX]; /* ZeroMQ routing id */
    size_t rid_len;
    uint64_t granted, received; /* running totals */
    int64_t last_seen_ms, last_grant_ms;
    uint32_t epoch;     /* bumped when the peer gives its credit back */
    uint64_t announced; /* granted total the peer was last told */
    uint64_t instance;  /* upstream process instance of its last hello */
    int synced;         /* a hello set its baseline */
    int dirty;          /* granted changed since the last announcement */
    int forced;         /* announce at the next chance (it asked, or it must resync) */
    int dormant;        /* gave its credit back; gets more only on demand */
    long violations;    /* messages from it that broke the protocol */
    int warned;         /* its owner has logged it (once per peer) */
};

struct gf_credit_ledger {
    int capacity;
    int held;
    long overruns;   /* frames that arrived from a peer with no unused credit */
    long violations; /* edge-control messages that broke the protocol, over all peers */
    int n_peers;
    struct gf_credit_peer peers[GF_CREDIT_MAX_PEERS];
};

/* `capacity` is clamped to [0, GF_CREDIT_CAPACITY_MAX]. */
void gf_credit_init(struct gf_credit_ledger *l, int capacity);

/* Finds or adds the peer; refreshes its last-seen time. Returns its index, or -1 when full. */
int gf_credit_peer(struct gf_credit_ledger *l, const void *rid, size_t rid_len, int64_t now_ms);

/* Peer `i`, upstream process `instance`, says it has sent `sent` frames in all, every one of
 * which has arrived (keepalives travel behind the frames). Applies the rules above. Returns 0
 * when the total was taken, GF_ETOOBIG when it was ignored, GF_ESCHEMA when it broke a rule and
 * the peer was reset; then *why (may be NULL) names the rule, and the violation is counted. */
int gf_credit_sync(struct gf_credit_ledger *l, int i, uint64_t instance, uint64_t sent,
                   const char **why);

/* Peer `i` has frames waiting: it is no longer dormant. */
void gf_credit_demand(struct gf_credit_ledger *l, int i);

/* Peer `i` gives back its unused credit (after gf_credit_sync with its sent total): its granted
 * total drops to what it has sent, its epoch advances, and it is dormant. */
void gf_credit_release_peer(struct gf_credit_ledger *l, int i);

/* A data frame arrived from peer `i`: it now holds a slot. */
void gf_credit_on_frame(struct gf_credit_ledger *l, int i);

/* `n` held frames are finished: their slots are free again (held never goes below 0). */
void gf_credit_release(struct gf_credit_ledger *l, int n);

/* Unused credit of peer `i`: granted - received, 0 when below, at most capacity. */
int gf_credit_unused(const struct gf_credit_ledger *l, int i);

/* Credits granted and not yet used, over all peers (saturating, >= 0). */
int gf_credit_outstanding(const struct gf_credit_ledger *l);

/* Slots neither held nor promised, in [0, capacity]. */
int gf_credit_free(const struct gf_credit_ledger *l);

/* Repairs inconsistent totals: held below 0 becomes 0; a peer with totals past
 * GF_CREDIT_TOTAL_MAX starts again at 0 and takes its next hello as baseline; a peer with granted
 * below received, or with more unused credit than capacity, gets granted = received
 * (+ capacity). A repaired peer is announced again. Returns how many repairs were made. */
int gf_credit_heal(struct gf_credit_ledger *l);

/* Hands out every free slot (see above); marks the peers whose totals changed as dirty.
 * Returns how many credits were granted (at most capacity). */
int gf_credit_grant(struct gf_credit_ledger *l, int64_t now_ms);

/* True when peer `i` should be told its new total now: it asked, or what it last heard leaves it
 * at most half the credit it really has (so a peer that still has plenty is told later, in one
 * message for many grants). */
int gf_credit_should_announce(const struct gf_credit_ledger *l, int i);

/* Forgets peers silent for more than `timeout_ms`; returns how many were forgotten. */
int gf_credit_expire(struct gf_credit_ledger *l, int64_t now_ms, int64_t timeout_ms);

#endif
