/* fuzz_edge.c — libFuzzer target for the edge protocol: a sequence of edge-control messages,
 * data frames, releases and grant rounds from several fake peers into one inlet's ledger, and
 * of credit messages into one outlet's replicas. After every step the ledger and the outlet's
 * credit must stay bounded (abort otherwise), whatever the peers said.
 *
 * Input: one byte of capacity, then records [op][peer][len][len bytes] until the input ends.
 * op % 8: 0 raw control message to the inlet; 1 an 'H' whose 21 bytes after the letter come
 * from the record; 2 data frame; 3 release; 4 grant round (and announce, expire, time passes);
 * 5 raw message to the outlet; 6 a 'C' whose 20 bytes after the letter come from the record;
 * 7 the outlet sends what its credit allows. Peer ids are the peer byte plus 256 when op >= 8,
 * so the 256-peer limit is reached. At most S_MAX_STEPS records are read. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/credit.h"
#include "engine/edge.h"

#define S_REPLICAS 4
#define S_MAX_STEPS 1024 /* records read from one input: keeps runs fast */

static void s_check_ledger(struct gf_credit_ledger *l)
{
    int out = gf_credit_outstanding(l), free_slots = gf_credit_free(l);
    if (out < 0 || out > l->capacity || free_slots < 0 || free_slots > l->capacity)
        abort();
    if (l->held < 0 || (int64_t)l->held + out > (int64_t)l->capacity + l->overruns)
        abort();
    if (l->n_peers < 0 || l->n_peers > GF_CREDIT_MAX_PEERS)
        abort();
    for (int i = 0; i < l->n_peers; i++) {
        int u = gf_credit_unused(l, i);
        if (u < 0 || u > l->capacity)
            abort();
    }
}

static void s_check_outlet(const struct gf_edge_credit *c, int accepted)
{
    int64_t left = gf_edge_credit_left(c);
    if (left < 0 || left > GF_EDGE_CREDIT_MAX)
        abort();
    if (accepted && c->granted > c->sent && c->granted - c->sent > GF_EDGE_CREDIT_MAX)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gf_credit_ledger l; /* 20 KB: not on the stack */
    struct gf_edge_credit reps[S_REPLICAS];
    if (size < 1)
        return 0;
    gf_credit_init(&l, 1 + data[0] % 64);
    memset(reps, 0, sizeof reps);
    int64_t now = 0;
    char why[160];
    size_t pos = 1;
    for (int steps = 0; pos + 3 <= size && steps < S_MAX_STEPS; steps++) {
        uint8_t op = data[pos], peer_byte = data[pos + 1];
        size_t len = data[pos + 2];
        pos += 3;
        if (len > size - pos)
            len = size - pos;
        const uint8_t *body = data + pos;
        pos += len;
        uint16_t id = (uint16_t)(peer_byte + (op >= 8 ? 256 : 0));
        int peer = -1;
        uint8_t m[GF_EDGE_HELLO_LEN] = {GF_EDGE_CTL};
        struct gf_edge_credit *c = &reps[peer_byte % S_REPLICAS];
        int accepted = 0;
        now += op & 0x70; /* time passes, now and then enough for a peer to expire */
        switch (op % 8) {
        case 0:
        case 1:
            peer = gf_credit_peer(&l, &id, sizeof id, now);
            if (op % 8 == 1) {
                m[1] = 'H';
                memcpy(m + 2, body, len < sizeof m - 2 ? len : sizeof m - 2);
                body = m;
                len = sizeof m;
            }
            gf_edge_inlet_control(&l, peer, body, len, why, sizeof why);
            break;
        case 2:
            peer = gf_credit_peer(&l, &id, sizeof id, now);
            if (peer >= 0)
                gf_credit_on_frame(&l, peer);
            break;
        case 3:
            gf_credit_release(&l, len ? body[0] % 8 : 1);
            break;
        case 4:
            if (gf_credit_grant(&l, now) > l.capacity)
                abort();
            for (int i = 0; i < l.n_peers; i++)
                if (gf_credit_should_announce(&l, i)) {
                    l.peers[i].announced = l.peers[i].granted;
                    l.peers[i].dirty = l.peers[i].forced = 0;
                }
            if (len >= 2)
                now += (int64_t)body[0] << 8 | body[1];
            gf_credit_expire(&l, now, GF_EDGE_PEER_EXPIRY_MS);
            break;
        case 5:
        case 6:
            if (op % 8 == 6) {
                m[1] = 'C';
                memcpy(m + 2, body, len < GF_EDGE_CREDIT_LEN - 2 ? len : GF_EDGE_CREDIT_LEN - 2);
                body = m;
                len = GF_EDGE_CREDIT_LEN;
            }
            accepted = gf_edge_outlet_grant(c, body, len, why, sizeof why) == 0;
            break;
        case 7:
            c->sent += (uint64_t)gf_edge_credit_left(c);
            break;
        }
        s_check_ledger(&l);
        s_check_outlet(c, accepted);
    }
    return 0;
}
