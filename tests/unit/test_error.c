/* test_error.c — the error table: every code has a distinct name and message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <string.h>

#include "core/error.h"

static void test_names_distinct(void **state)
{
    static const int codes[] = {
#define GF_X(name, num, str) name,
        GF_ERRORS(GF_X)
#undef GF_X
    };
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        assert_true(codes[i] < 0);
        assert_string_not_equal(gf_strerror(codes[i]), "unknown error");
        for (size_t j = i + 1; j < n; j++)
            assert_string_not_equal(gf_errname(codes[i]), gf_errname(codes[j]));
    }
    assert_string_equal(gf_errname(GF_EPARSE), "EPARSE");
    assert_string_equal(gf_strerror(-9999), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_names_distinct)};
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
