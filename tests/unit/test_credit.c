/* test_credit.c — the credit ledger keeps held + unused credit within capacity, shares credit
 * among upstream peers, survives a peer that vanishes, and counts frames sent without credit;
 * hostile edge-control messages (absurd, wrapping or backwards totals, epoch jumps, a full peer
 * table) leave it bounded and granting, and an outlet ignores absurd grants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "engine/credit.h"
#include "engine/edge.h"

static void s_check_invariant(const struct gf_credit_ledger *l)
{
    assert_true(l->held + gf_credit_outstanding(l) <= l->capacity + l->overruns);
}

static void test_grant_within_capacity(void **state)
{
    struct gf_credit_ledger l;
    gf_credit_init(&l, 8);
    assert_int_equal(gf_credit_grant(&l, 0), 0); /* no peers yet */
    int a = gf_credit_peer(&l, "A", 1, 0);
    assert_int_equal(gf_credit_grant(&l, 1), 8);
    assert_int_equal(gf_credit_free(&l), 0);
    assert_int_equal(l.peers[a].granted, 8);
    for (int i = 0; i < 5; i++)
        gf_credit_on_frame(&l, a);
    assert_int_equal(l.held, 5);
    assert_int_equal(gf_credit_outstanding(&l), 3);
    assert_int_equal(gf_credit_grant(&l, 2), 0); /* nothing freed yet */
    gf_credit_release(&l, 2);
    assert_int_equal(gf_credit_grant(&l, 3), 2);
    s_check_invariant(&l);
    assert_int_equal(l.overruns, 0);
}

static void test_shared_among_peers(void **state)
{
    struct gf_credit_ledger l;
    gf_credit_init(&l, 9);
    int p[3];
    p[0] = gf_credit_peer(&l, "A", 1, 0);
    p[1] = gf_credit_peer(&l, "B", 1, 0);
    p[2] = gf_credit_peer(&l, "C", 1, 0);
    assert_int_equal(gf_credit_peer(&l, "B", 1, 5), p[1]); /* same peer found again */
    gf_credit_grant(&l, 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(l.peers[p[i]].granted, 3);
    /* random traffic: the invariant holds at every step and nobody starves */
    srand(3);
    for (int step = 0; step < 10000; step++) {
        int i = rand() % 3;
        struct gf_credit_peer *q = &l.peers[p[i]];
        if (q->granted > q->received && rand() % 2)
            gf_credit_on_frame(&l, p[i]);
        else if (l.held > 0 && rand() % 2)
            gf_credit_release(&l, 1);
        gf_credit_grant(&l, step);
        s_check_invariant(&l);
    }
    assert_int_equal(l.overruns, 0);
    for (int i = 0; i < 3; i++)
        assert_true(l.peers[p[i]].received > 1000);
}

static void test_expiry_returns_credit(void **state)
{
    struct gf_credit_ledger l;
    gf_credit_init(&l, 4);
    int a = gf_credit_peer(&l, "A", 1, 0);
    gf_credit_grant(&l, 0);
    assert_int_equal(l.peers[a].granted, 4);
    int b = gf_credit_peer(&l, "B", 1, 2000);
    assert_int_equal(gf_credit_grant(&l, 2000), 0);        /* all promised to A */
    assert_int_equal(gf_credit_expire(&l, 4000, 3000), 1); /* A silent since 0 */
    b = gf_credit_peer(&l, "B", 1, 4000);
    assert_int_equal(gf_credit_grant(&l, 4000), 4);
    assert_int_equal(l.peers[b].granted, 4);
}

static void test_overrun_counted(void **state)
{
    struct gf_credit_ledger l;
    gf_credit_init(&l, 2);
    int x = gf_credit_peer(&l, "X", 1, 0);
    gf_credit_on_frame(&l, x); /* sent without credit */
    assert_int_equal(l.overruns, 1);
    assert_int_equal(l.held, 1);
    assert_int_equal(gf_credit_grant(&l, 1), 1); /* only the slot still free */
}

/* What must hold whatever peers said: bounded credit, free slots in range, a grant that ends. */
static void s_check_bounded(struct gf_credit_ledger *l, int64_t now)
{
    assert_true(gf_credit_outstanding(l) >= 0);
    assert_true(gf_credit_outstanding(l) <= l->capacity);
    assert_true(gf_credit_free(l) >= 0 && gf_credit_free(l) <= l->capacity);
    assert_true(gf_credit_grant(l, now) <= l->capacity);
    assert_true(gf_credit_outstanding(l) <= l->capacity);
    for (int i = 0; i < l->n_peers; i++)
        assert_true(gf_credit_unused(l, i) >= 0 && gf_credit_unused(l, i) <= l->capacity);
}

static void s_put(uint8_t *p, uint64_t v, int n)
{
    for (int k = 0; k < n; k++)
        p[k] = (uint8_t)(v >> (8 * k));
}

/* An 'H' as an upstream sends it. */
static void s_hello(uint8_t m[GF_EDGE_HELLO_LEN], uint64_t inst, uint64_t sent, uint8_t flags,
                    uint32_t epoch)
{
    m[0] = GF_EDGE_CTL;
    m[1] = 'H';
    s_put(m + 2, inst, 8);
    s_put(m + 10, sent, 8);
    m[18] = flags;
    s_put(m + 19, epoch, 4);
}

static void s_grant_msg(uint8_t m[GF_EDGE_CREDIT_LEN], uint64_t inst, uint64_t granted,
                        uint32_t epoch)
{
    m[0] = GF_EDGE_CTL;
    m[1] = 'C';
    s_put(m + 2, inst, 8);
    s_put(m + 10, granted, 8);
    s_put(m + 18, epoch, 4);
}

/* The measured freeze: 'H' with sent near 2^31, then 'H' with sent 0, into an inlet. */
static void test_two_message_freeze(void **state)
{
    struct gf_credit_ledger l;
    gf_credit_init(&l, 8);
    uint8_t m[GF_EDGE_HELLO_LEN];
    char why[160];
    int honest = gf_credit_peer(&l, "honest", 6, 0);
    s_hello(m, 7, 0, 1, 0);
    assert_int_equal(gf_edge_inlet_control(&l, honest, m, sizeof m, why, sizeof why), 0);
    int bad = gf_credit_peer(&l, "bad", 3, 0);
    s_hello(m, 99, (UINT64_C(1) << 31) + (1 << 20), 0, 0); /* int cast of unused < 0 */
    assert_int_equal(gf_edge_inlet_control(&l, bad, m, sizeof m, why, sizeof why), 0);
    s_check_bounded(&l, 1);
    s_hello(m, 99, 0, 0, 0);
    assert_int_equal(gf_edge_inlet_control(&l, bad, m, sizeof m, why, sizeof why), GF_ESCHEMA);
    assert_non_null(strstr(why, "backwards"));
    assert_int_equal(l.peers[bad].violations, 1);
    s_check_bounded(&l, 2);
    /* and again, the other way round and many times: still bounded, still granting */
    for (int k = 0; k < 1000; k++) {
        s_hello(m, 99, k % 2 ? 0 : (UINT64_C(1) << 31) + (uint64_t)k, 1, 0);
        gf_edge_inlet_control(&l, bad, m, sizeof m, why, sizeof why);
        s_check_bounded(&l, 3 + k);
    }
    assert_true(l.peers[bad].violations >= 999);
    /* the honest peer still gets its share and can use it */
    assert_true(gf_credit_unused(&l, honest) > 0);
    gf_credit_on_frame(&l, honest);
    assert_int_equal(l.overruns, 0);
    assert_int_equal(l.peers[honest].violations, 0);
}

/* Totals at and past the wrap of 64 bits, and corrupted totals, never wrap the sums. */
static void test_wrap_around(void **state)
{
    struct gf_credit_ledger l;
    gf_credit_init(&l, 16);
    int a = gf_credit_peer(&l, "A", 1, 0);
    const char *why = NULL;
    assert_int_equal(gf_credit_sync(&l, a, 1, UINT64_MAX, &why), GF_ETOOBIG);
    assert_non_null(why);
    assert_int_equal(gf_credit_sync(&l, a, 1, GF_CREDIT_TOTAL_MAX, NULL), 0); /* baseline */
    assert_int_equal(gf_credit_grant(&l, 1), 16);
    assert_true(l.peers[a].granted == GF_CREDIT_TOTAL_MAX + 16);
    assert_int_equal(gf_credit_sync(&l, a, 1, GF_CREDIT_TOTAL_MAX + 1, NULL), GF_ETOOBIG);
    s_check_bounded(&l, 2);
    /* corrupted totals: received past granted, granted far past received */
    l.peers[a].granted = 5;
    l.peers[a].received = UINT64_MAX - 2;
    assert_int_equal(gf_credit_outstanding(&l), 0);
    s_check_bounded(&l, 3);
    assert_true(l.peers[a].granted >= l.peers[a].received);
    assert_true(l.peers[a].granted <= GF_CREDIT_TOTAL_MAX + 16); /* no wrap */
    assert_false(l.peers[a].synced); /* its next hello is its baseline */
    l.peers[a].received = 100;
    l.peers[a].granted = 100000;
    assert_int_equal(gf_credit_outstanding(&l), 16);
    assert_int_equal(gf_credit_heal(&l), 1);
    assert_true(l.peers[a].granted == 116);
    l.peers[a].granted = UINT64_MAX;
    assert_int_equal(gf_credit_heal(&l), 1);
    assert_true(l.peers[a].granted == 0 && l.peers[a].received == 0);
    s_check_bounded(&l, 4);
    /* held out of range heals too */
    l.held = -7;
    s_check_bounded(&l, 5);
    assert_int_equal(l.held, 0);
    l.held = INT_MAX;
    gf_credit_on_frame(&l, a);
    assert_int_equal(l.held, INT_MAX);
    assert_int_equal(gf_credit_free(&l), 0);
    gf_credit_release(&l, INT_MAX);
    assert_int_equal(l.held, 0);
    gf_credit_release(&l, -3);
    assert_int_equal(l.held, 0);
}

/* Releases only count in the peer's current epoch; wild epochs change nothing. */
static void test_epoch_jumps(void **state)
{
    struct gf_credit_ledger l;
    gf_credit_init(&l, 4);
    uint8_t m[GF_EDGE_HELLO_LEN];
    char why[160];
    int a = gf_credit_peer(&l, "A", 1, 0);
    s_hello(m, 5, 0, 1, 0);
    assert_int_equal(gf_edge_inlet_control(&l, a, m, sizeof m, why, sizeof why), 0);
    assert_int_equal(gf_credit_grant(&l, 1), 4);
    uint32_t wild[] = {1, 0x7fffffffu, 0x80000000u, 0xffffffffu};
    for (size_t k = 0; k < sizeof wild / sizeof wild[0]; k++) {
        s_hello(m, 5, 0, 2, wild[k]);
        assert_int_equal(gf_edge_inlet_control(&l, a, m, sizeof m, why, sizeof why), 0);
        assert_int_equal(gf_credit_unused(&l, a), 4); /* not released */
        assert_int_equal(l.peers[a].epoch, 0);
    }
    /* the right epoch releases; epochs wrap around without harm */
    l.peers[a].epoch = 0xffffffffu;
    s_hello(m, 5, 0, 2, 0xffffffffu);
    assert_int_equal(gf_edge_inlet_control(&l, a, m, sizeof m, why, sizeof why), 0);
    assert_int_equal(gf_credit_unused(&l, a), 0);
    assert_int_equal(l.peers[a].epoch, 0);
    assert_true(l.peers[a].dormant);
    assert_int_equal(gf_credit_grant(&l, 2), 0); /* dormant: nobody to give to */
    s_hello(m, 5, 0, 1, 0);
    assert_int_equal(gf_edge_inlet_control(&l, a, m, sizeof m, why, sizeof why), 0);
    assert_int_equal(gf_credit_grant(&l, 3), 4);
    assert_int_equal(l.violations, 0);
}

/* Malformed control messages are refused and counted; unknown flags too. */
static void test_malformed_control(void **state)
{
    struct gf_credit_ledger l;
    gf_credit_init(&l, 4);
    char why[160];
    int a = gf_credit_peer(&l, "A", 1, 0);
    uint8_t m[64];
    s_hello(m, 5, 3, 0, 0);
    for (size_t len = 0; len < sizeof m; len++) {
        if (len == GF_EDGE_HELLO_LEN)
            continue;
        assert_int_equal(gf_edge_inlet_control(&l, a, m, len, why, sizeof why), GF_EPARSE);
    }
    m[1] = 'C';
    assert_int_equal(gf_edge_inlet_control(&l, a, m, GF_EDGE_HELLO_LEN, why, sizeof why),
                     GF_EPARSE);
    s_hello(m, 5, 3, 0x80, 0);
    assert_int_equal(gf_edge_inlet_control(&l, a, m, GF_EDGE_HELLO_LEN, why, sizeof why),
                     GF_ESCHEMA);
    assert_false(l.peers[a].synced); /* nothing of those was applied */
    assert_int_equal(l.peers[a].violations, (long)sizeof m + 1);
    s_check_bounded(&l, 1);
}

/* Honest resyncs are not violations: a restarted or reconnected upstream counts on from its own
 * total, and an overrun within the credit it held before is taken. */
static void test_honest_resync(void **state)
{
    struct gf_credit_ledger l;
    gf_credit_init(&l, 8);
    int a = gf_credit_peer(&l, "A", 1, 0);
    for (int k = 0; k < 3; k++)
        gf_credit_on_frame(&l, a); /* frames on old credit, before its hello */
    assert_int_equal(l.overruns, 3);
    assert_int_equal(gf_credit_grant(&l, 1), 5);
    gf_credit_on_frame(&l, a);                                     /* on the new credit */
    assert_int_equal(gf_credit_sync(&l, a, 42, 1000004, NULL), 0); /* baseline */
    assert_int_equal(gf_credit_unused(&l, a), 4);                  /* keeps what it had */
    assert_int_equal(gf_credit_sync(&l, a, 42, 1000006, NULL), 0); /* overran by 2 */
    assert_int_equal(gf_credit_sync(&l, a, 43, 17, NULL), 0);      /* new upstream process */
    assert_int_equal(l.violations, 0);
    s_check_bounded(&l, 2);
    /* beyond granted + capacity within one instance is not honest */
    uint64_t g = l.peers[a].granted;
    assert_int_equal(gf_credit_sync(&l, a, 43, g + 9, NULL), GF_ESCHEMA);
    assert_int_equal(gf_credit_unused(&l, a), 0);
    assert_int_equal(l.violations, 1);
    s_check_bounded(&l, 3);
}

/* A full peer table: the 257th peer is turned away, the 256 keep the invariants under random
 * hostile traffic, and grants stay bounded. */
static void test_peer_limit(void **state)
{
    struct gf_credit_ledger l;
    gf_credit_init(&l, 1000);
    char rid[16], why[160];
    uint8_t m[GF_EDGE_HELLO_LEN];
    for (int i = 0; i < GF_CREDIT_MAX_PEERS; i++) {
        snprintf(rid, sizeof rid, "p%d", i);
        assert_int_equal(gf_credit_peer(&l, rid, strlen(rid), 0), i);
    }
    assert_int_equal(gf_credit_peer(&l, "one more", 8, 0), -1);
    s_hello(m, 1, 0, 1, 0);
    assert_int_equal(gf_edge_inlet_control(&l, -1, m, sizeof m, why, sizeof why), GF_EBUSY);
    srand(7);
    for (int step = 0; step < 20000; step++) {
        int i = rand() % GF_CREDIT_MAX_PEERS;
        uint64_t sent;
        switch (rand() % 4) {
        case 0:
            sent = (uint64_t)rand() << 33 ^ (uint64_t)rand();
            break;
        case 1:
            sent = l.peers[i].received;
            break;
        case 2:
            sent = l.peers[i].granted;
            break;
        default:
            sent = l.peers[i].received + (uint64_t)(rand() % 3000);
            break;
        }
        s_hello(m, (uint64_t)(rand() % 3), sent, (uint8_t)(rand() % 4),
                (uint32_t)(rand() % 2 ? l.peers[i].epoch : (uint32_t)rand()));
        gf_edge_inlet_control(&l, i, m, sizeof m, why, sizeof why);
        if (rand() % 2)
            gf_credit_on_frame(&l, i);
        if (rand() % 2)
            gf_credit_release(&l, rand() % 3);
        if (step % 16 == 0)
            s_check_bounded(&l, step);
    }
    s_check_bounded(&l, 20000);
}

/* An outlet takes sane grants and ignores absurd ones. */
static void test_outlet_grant(void **state)
{
    struct gf_edge_credit c = {0};
    uint8_t m[GF_EDGE_CREDIT_LEN];
    char why[160];
    assert_int_equal(gf_edge_credit_left(&c), 0);
    s_grant_msg(m, 11, 8, 0);
    assert_int_equal(gf_edge_outlet_grant(&c, m, sizeof m, why, sizeof why), 0);
    assert_int_equal(gf_edge_credit_left(&c), 8);
    c.sent = 8;
    s_grant_msg(m, 11, UINT64_MAX, 0); /* absurd: ignored */
    assert_int_equal(gf_edge_outlet_grant(&c, m, sizeof m, why, sizeof why), GF_ESCHEMA);
    s_grant_msg(m, 11, 8 + GF_EDGE_CREDIT_MAX + 1, 0);
    assert_int_equal(gf_edge_outlet_grant(&c, m, sizeof m, why, sizeof why), GF_ESCHEMA);
    assert_int_equal(gf_edge_credit_left(&c), 0);
    s_grant_msg(m, 0, 10, 0); /* no instance */
    assert_int_equal(gf_edge_outlet_grant(&c, m, sizeof m, why, sizeof why), GF_ESCHEMA);
    assert_int_equal(gf_edge_outlet_grant(&c, m, sizeof m - 1, why, sizeof why), GF_EPARSE);
    assert_int_equal(c.violations, 4);
    /* a restarted downstream: sent keeps counting, its grant is measured against it */
    s_grant_msg(m, 12, 3, 5);
    assert_int_equal(gf_edge_outlet_grant(&c, m, sizeof m, why, sizeof why), 0);
    assert_int_equal(gf_edge_credit_left(&c), 0); /* below sent: nothing */
    assert_true(c.sent == 8 && c.epoch == 5);
    s_grant_msg(m, 12, 10, 5);
    assert_int_equal(gf_edge_outlet_grant(&c, m, sizeof m, why, sizeof why), 0);
    assert_int_equal(gf_edge_credit_left(&c), 2);
    /* released: grants of the old epoch are ignored, a newer one is taken */
    c.released = 1;
    c.granted = c.sent;
    s_grant_msg(m, 12, 12, 5);
    assert_int_equal(gf_edge_outlet_grant(&c, m, sizeof m, why, sizeof why), 0);
    assert_int_equal(gf_edge_credit_left(&c), 0);
    s_grant_msg(m, 12, 12, 6);
    assert_int_equal(gf_edge_outlet_grant(&c, m, sizeof m, why, sizeof why), 0);
    assert_int_equal(gf_edge_credit_left(&c), 4);
    assert_int_equal(c.violations, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grant_within_capacity), cmocka_unit_test(test_shared_among_peers),
        cmocka_unit_test(test_expiry_returns_credit), cmocka_unit_test(test_overrun_counted),
        cmocka_unit_test(test_two_message_freeze),    cmocka_unit_test(test_wrap_around),
        cmocka_unit_test(test_epoch_jumps),           cmocka_unit_test(test_malformed_control),
        cmocka_unit_test(test_honest_resync),         cmocka_unit_test(test_peer_limit),
        cmocka_unit_test(test_outlet_grant)};
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
