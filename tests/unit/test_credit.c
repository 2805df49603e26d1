/* test_credit.c — the credit ledger keeps held + unused credit within capacity, shares credit
 * among upstream peers, survives a peer that vanishes, and counts frames sent without credit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "engine/credit.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grant_within_capacity), cmocka_unit_test(test_shared_among_peers),
        cmocka_unit_test(test_expiry_returns_credit), cmocka_unit_test(test_overrun_counted)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
