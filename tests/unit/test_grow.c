/* test_grow.c — gf_grow: first capacity, doubling, a large need, overflow refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/grow.h"

static void test_grow(void **state)
{
    int *v = NULL;
    size_t cap = 0;
    assert_int_equal(gf_grow((void **)&v, &cap, 1, sizeof *v), 0);
    assert_int_equal(cap, 16);
    for (int i = 0; i < 16; i++)
        v[i] = i;
    int *before = v;
    assert_int_equal(gf_grow((void **)&v, &cap, 16, sizeof *v), 0); /* room already */
    assert_ptr_equal(v, before);
    assert_int_equal(gf_grow((void **)&v, &cap, 17, sizeof *v), 0);
    assert_int_equal(cap, 32);
    assert_int_equal(v[15], 15); /* kept */
    assert_int_equal(gf_grow((void **)&v, &cap, 1000, sizeof *v), 0);
    assert_int_equal(cap, 1000);
    free(v);
}

static void test_overflow(void **state)
{
    char *v = NULL;
    size_t cap = 0;
    assert_int_equal(gf_grow((void **)&v, &cap, SIZE_MAX / 2, 4), GF_ENOMEM);
    assert_null(v);
    assert_int_equal(cap, 0);
    assert_int_equal(gf_grow((void **)&v, &cap, 1, 0), GF_ENOMEM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_grow),
                                       cmocka_unit_test(test_overflow)};
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
