/* credit.c — see credit.h for the invariant this keeps and the rules a peer's totals must obey. */
#include "engine/credit.h"

#include <limits.h>
#include <string.h>

#include "core/error.h"

void gf_credit_init(struct gf_credit_ledger *l, int capacity)
{
    memset(l, 0, sizeof *l);
    if (capacity < 0)
        capacity = 0;
    if (capacity > GF_CREDIT_CAPACITY_MAX)
        capacity = GF_CREDIT_CAPACITY_MAX;
    l->capacity = capacity;
}

int gf_credit_peer(struct gf_credit_ledger *l, const void *rid, size_t rid_len, int64_t now_ms)
{
    if (rid_len > GF_CREDIT_RID_MAX)
        return -1;
    for (int i = 0; i < l->n_peers; i++) {
        struct gf_credit_peer *p = &l->peers[i];
        if (p->rid_len == rid_len && memcmp(p->rid, rid, rid_len) == 0) {
            p->last_seen_ms = now_ms;
            return i;
        }
    }
    if (l->n_peers >= GF_CREDIT_MAX_PEERS)
        return -1;
    struct gf_credit_peer *p = &l->peers[l->n_peers];
    memset(p, 0, sizeof *p);
    memcpy(p->rid, rid, rid_len);
    p->rid_len = rid_len;
    p->last_seen_ms = now_ms;
    p->dirty = p->forced = 1; /* a new peer learns its credit and our instance at once */
    return l->n_peers++;
}

/* granted - received as a count of credits, 0 when below, at most capacity. */
static uint64_t s_unused(const struct gf_credit_ledger *l, const struct gf_credit_peer *p)
{
    if (p->granted <= p->received)
        return 0;
    uint64_t u = p->granted - p->received;
    return u < (uint64_t)l->capacity ? u : (uint64_t)l->capacity;
}

static int s_violation(struct gf_credit_ledger *l, struct gf_credit_peer *p, uint64_t sent,
                       const char *rule, const char **why)
{
    /* reset to a state the peer cannot abuse: everything it sent is accounted, nothing unused */
    p->received = p->granted = sent;
    p->dirty = p->forced = 1;
    p->violations++;
    l->violations++;
    if (why)
        *why = rule;
    return GF_ESCHEMA;
}

int gf_credit_sync(struct gf_credit_ledger *l, int i, uint64_t instance, uint64_t sent,
                   const char **why)
{
    struct gf_credit_peer *p = &l->peers[i];
    if (sent > GF_CREDIT_TOTAL_MAX) {
        p->violations++;
        l->violations++;
        if (why)
            *why = "sent total beyond any real count";
        return GF_ETOOBIG;
    }
    if (!p->synced || p->instance != instance) {
        /* the baseline: it counts on from its own total and keeps what credit it had here */
        uint64_t unused = s_unused(l, p);
        p->received = sent;
        p->granted = sent + unused;
        p->instance = instance;
        p->synced = 1;
        p->dirty = p->forced = 1;
        return 0;
    }
    if (sent < p->received)
        return s_violation(l, p, sent, "sent total went backwards", why);
    if (sent - p->received > s_unused(l, p) + (uint64_t)l->capacity)
        return s_violation(l, p, sent, "sent total beyond the credit granted", why);
    if (p->received != sent)
        p->dirty = 1;
    p->received = sent;
    if (p->granted < sent)
        p->granted = sent; /* it overran: those frames are held, not owed */
    return 0;
}

void gf_credit_demand(struct gf_credit_ledger *l, int i)
{
    l->peers[i].dormant = 0;
}

void gf_credit_release_peer(struct gf_credit_ledger *l, int i)
{
    struct gf_credit_peer *p = &l->peers[i];
    p->granted = p->received;
    p->epoch++;
    p->dormant = 1;
    p->dirty = p->forced = 1;
}

void gf_credit_on_frame(struct gf_credit_ledger *l, int i)
{
    struct gf_credit_peer *p = &l->peers[i];
    if (p->received >= p->granted)
        l->overruns++;
    else
        p->received++;
    if (l->held < INT_MAX)
        l->held++;
}

void gf_credit_release(struct gf_credit_ledger *l, int n)
{
    if (n < 0)
        return;
    l->held = l->held > n ? l->held - n : 0;
}

int gf_credit_unused(const struct gf_credit_ledger *l, int i)
{
    return (int)s_unused(l, &l->peers[i]);
}

int gf_credit_outstanding(const struct gf_credit_ledger *l)
{
    int64_t sum = 0; /* at most 256 peers x 2^20: no overflow */
    for (int i = 0; i < l->n_peers; i++)
        sum += (int64_t)s_unused(l, &l->peers[i]);
    return sum < INT_MAX ? (int)sum : INT_MAX;
}

int gf_credit_free(const struct gf_credit_ledger *l)
{
    int64_t held = l->held > 0 ? l->held : 0;
    int64_t f = (int64_t)l->capacity - held - gf_credit_outstanding(l);
    return f > 0 ? (int)f : 0;
}

int gf_credit_heal(struct gf_credit_ledger *l)
{
    int fixed = 0;
    if (l->held < 0) {
        l->held = 0;
        fixed++;
    }
    for (int i = 0; i < l->n_peers; i++) {
        struct gf_credit_peer *p = &l->peers[i];
        if (p->received > GF_CREDIT_TOTAL_MAX ||
            p->granted > GF_CREDIT_TOTAL_MAX + (uint64_t)GF_CREDIT_CAPACITY_MAX) {
            /* past any real count: start again from the peer's next hello */
            p->received = p->granted = 0;
            p->synced = 0;
        } else if (p->granted < p->received) {
            p->granted = p->received;
        } else if (p->granted - p->received > (uint64_t)l->capacity) {
            p->granted = p->received + (uint64_t)l->capacity;
        } else {
            continue;
        }
        p->dirty = p->forced = 1;
        fixed++;
    }
    return fixed;
}

int gf_credit_grant(struct gf_credit_ledger *l, int64_t now_ms)
{
    gf_credit_heal(l);
    int free_slots = gf_credit_free(l), given = 0;
    /* free_slots <= capacity, and each pass gives one or stops: capacity x peers steps at most */
    while (free_slots > 0) {
        int best = -1;
        uint64_t best_unused = 0;
        for (int i = 0; i < l->n_peers; i++) {
            struct gf_credit_peer *p = &l->peers[i];
            if (p->dormant)
                continue;
            uint64_t u = s_unused(l, p);
            if (best < 0 || u < best_unused ||
                (u == best_unused && p->last_grant_ms < l->peers[best].last_grant_ms)) {
                best = i;
                best_unused = u;
            }
        }
        if (best < 0)
            break;
        struct gf_credit_peer *p = &l->peers[best];
        p->granted++;
        p->last_grant_ms = now_ms;
        p->dirty = 1;
        free_slots--;
        given++;
    }
    return given;
}

int gf_credit_should_announce(const struct gf_credit_ledger *l, int i)
{
    const struct gf_credit_peer *p = &l->peers[i];
    if (p->forced)
        return 1;
    if (!p->dirty)
        return 0;
    uint64_t known = p->announced > p->received ? p->announced - p->received : 0;
    return known <= s_unused(l, p) / 2;
}

int gf_credit_expire(struct gf_credit_ledger *l, int64_t now_ms, int64_t timeout_ms)
{
    int gone = 0;
    for (int i = 0; i < l->n_peers;) {
        if (now_ms - l->peers[i].last_seen_ms > timeout_ms) {
            l->peers[i] = l->peers[--l->n_peers];
            gone++;
        } else {
            i++;
        }
    }
    return gone;
}
