/* test_strmap.c — the id map: put, get, take, growth, iteration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <stdio.h>

#include "core/strmap.h"

static void test_many(void **state)
{
    gf_strmap_t *m = gf_strmap_new();
    char key[32];
    static int values[5000];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "req-%d", i);
        assert_int_equal(gf_strmap_put(m, key, &values[i]), 0);
    }
    assert_int_equal(gf_strmap_size(m), 5000);
    for (int i = 0; i < 5000; i += 2) {
        snprintf(key, sizeof key, "req-%d", i);
        assert_ptr_equal(gf_strmap_take(m, key), &values[i]);
    }
    assert_int_equal(gf_strmap_size(m), 2500);
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "req-%d", i);
        assert_ptr_equal(gf_strmap_get(m, key), i % 2 ? &values[i] : NULL);
    }
    /* churn through tombstones */
    for (int round = 0; round < 20; round++)
        for (int i = 0; i < 1000; i++) {
            snprintf(key, sizeof key, "x-%d-%d", round, i);
            gf_strmap_put(m, key, &values[i]);
            assert_ptr_equal(gf_strmap_take(m, key), &values[i]);
        }
    size_t pos = 0, n = 0;
    void *v;
    while (gf_strmap_next(m, &pos, &v))
        n++;
    assert_int_equal(n, 2500);
    gf_strmap_destroy(&m);
    assert_null(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_many)};
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
