/* credit.c — see credit.h for the invariant this keeps. */
#include "engine/credit.h"

#include <string.h>

void gf_credit_init(struct gf_credit_ledger *l, int capacity)
{
    memset(l, 0, sizeof *l);
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
    if (l->n_peers == GF_CREDIT_MAX_PEERS)
        return -1;
    struct gf_credit_peer *p = &l->peers[l->n_peers];
    memset(p, 0, sizeof *p);
    memcpy(p->rid, rid, rid_len);
    p->rid_len = rid_len;
    p->last_seen_ms = now_ms;
    p->dirty = p->forced = 1; /* a new peer learns its credit and our instance at once */
    return l->n_peers++;
}

void gf_credit_sync(struct gf_credit_ledger *l, int i, uint64_t sent)
{
    struct gf_credit_peer *p = &l->peers[i];
    if (p->received != sent)
        p->dirty = 1;
    p->received = sent;
    if (p->granted < sent)
        p->granted = sent;
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
    l->held++;
}

void gf_credit_release(struct gf_credit_ledger *l, int n)
{
    l->held -= n;
    if (l->held < 0)
        l->held = 0;
}

int gf_credit_outstanding(const struct gf_credit_ledger *l)
{
    int64_t sum = 0;
    for (int i = 0; i < l->n_peers; i++)
        sum += (int64_t)(l->peers[i].granted - l->peers[i].received);
    return (int)sum;
}

int gf_credit_free(const struct gf_credit_ledger *l)
{
    int f = l->capacity - l->held - gf_credit_outstanding(l);
    return f > 0 ? f : 0;
}

int gf_credit_grant(struct gf_credit_ledger *l, int64_t now_ms)
{
    int free_slots = gf_credit_free(l), given = 0;
    while (free_slots > 0) {
        int best = -1;
        for (int i = 0; i < l->n_peers; i++) {
            struct gf_credit_peer *p = &l->peers[i], *b = best >= 0 ? &l->peers[best] : NULL;
            if (p->dormant)
                continue;
            uint64_t pu = p->granted - p->received, bu = b ? b->granted - b->received : 0;
            if (!b || pu < bu || (pu == bu && p->last_grant_ms < b->last_grant_ms))
                best = i;
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
    return 2 * known <= p->granted - p->received;
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
