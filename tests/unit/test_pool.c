/* test_pool.c — every item of every parallel loop runs exactly once, loop after loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <stdatomic.h>

#include "kernels/cpu/pool.h"

struct job {
    atomic_int hits[128];
    int scale;
};

static void s_hit(void *arg, int i)
{
    struct job *j = arg;
    atomic_fetch_add(&j->hits[i], j->scale);
}

static void test_each_item_once(void **state)
{
    for (int threads = 1; threads <= 4; threads++) {
        struct gf_pool *p = gf_pool_new(threads);
        assert_non_null(p);
        assert_int_equal(gf_pool_threads(p), threads);
        for (int run = 0; run < 3000; run++) {
            static struct job a, b;
            struct job *j = run & 1 ? &a : &b; /* alternate jobs: a late worker must not mix */
            int n = 1 + run % 97;
            for (int i = 0; i < 128; i++)
                atomic_store(&j->hits[i], 0);
            j->scale = 1 + (run & 1);
            gf_pool_run(p, s_hit, j, n);
            for (int i = 0; i < 128; i++)
                assert_int_equal(atomic_load(&j->hits[i]), i < n ? j->scale : 0);
        }
        gf_pool_destroy(&p);
        assert_null(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_each_item_once)};
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
