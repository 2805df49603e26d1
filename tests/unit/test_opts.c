/* test_opts.c — the option table: values, ranges, enums, operands, and the usage it prints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/opts.h"

struct s_vals {
    int count, quiet, mode;
    long big;
    double rate;
    const char *file;
};

static int s_parse(struct s_vals *v, int argc, char **argv, char *usage, size_t len)
{
    const struct gf_opt opts[] = {
        {"count", 0, GF_OPT_INT, &v->count, 1, 10, "N", "at most N"},
        {"quiet", 'q', GF_OPT_FLAG, &v->quiet, 0, 0, NULL, "say nothing"},
        {"mode", 0, GF_OPT_ENUM, &v->mode, 0, 0, "fast|slow", "how\nand why"},
        {"big", 0, GF_OPT_LONG, &v->big, -1, 1e12, "N", "a long"},
        {"rate", 0, GF_OPT_DOUBLE, &v->rate, 0, 1, "R", "a fraction"},
        {"file", 0, GF_OPT_STRING, &v->file, 0, 0, "FILE", NULL},
        {0}};
    const struct gf_opts spec = {"t", "head\n", opts, "tail\n"};
    if (usage) {
        FILE *f = fmemopen(usage, len, "w");
        gf_opts_usage(&spec, f);
        fclose(f);
    }
    return gf_opts_parse(&spec, argc, argv);
}

static void test_values(void **state)
{
    struct s_vals v = {.count = 5, .rate = 0.5};
    char *argv[] = {"t",     "in", "--count", "3",    "-q",       "--mode", "slow",
                    "--big", "-1", "--rate",  "0.25", "--file=x", "out",    NULL};
    int first = s_parse(&v, 13, argv, NULL, 0);
    assert_int_equal(first, 11);
    assert_string_equal(argv[first], "in");
    assert_string_equal(argv[first + 1], "out");
    assert_int_equal(v.count, 3);
    assert_int_equal(v.quiet, 1);
    assert_int_equal(v.mode, 1);
    assert_int_equal(v.big, -1);
    assert_true(v.rate == 0.25);
    assert_string_equal(v.file, "x");
}

static void test_errors(void **state)
{
    struct s_vals v = {0};
    char *range[] = {"t", "--count", "11", NULL}, *junk[] = {"t", "--count", "3x", NULL};
    char *mode[] = {"t", "--mode", "medium", NULL}, *rate[] = {"t", "--rate", "nan", NULL};
    char *help[] = {"t", "--help", NULL}, *unknown[] = {"t", "--nope", NULL};
    assert_int_equal(s_parse(&v, 3, range, NULL, 0), GF_OPTS_USAGE);
    assert_int_equal(s_parse(&v, 3, junk, NULL, 0), GF_OPTS_USAGE);
    assert_int_equal(s_parse(&v, 3, mode, NULL, 0), GF_OPTS_USAGE);
    assert_int_equal(s_parse(&v, 3, rate, NULL, 0), GF_OPTS_USAGE);
    assert_int_equal(v.count, 0);
    assert_int_equal(s_parse(&v, 2, unknown, NULL, 0), GF_OPTS_USAGE);
    assert_int_equal(gf_opts_status(GF_OPTS_USAGE), 2);
    FILE *saved = stdout;
    char out[2048] = "";
    stdout = fmemopen(out, sizeof out, "w");
    int rc = s_parse(&v, 2, help, NULL, 0);
    fclose(stdout);
    stdout = saved;
    assert_int_equal(rc, GF_OPTS_HELP);
    assert_int_equal(gf_opts_status(rc), 0);
    assert_non_null(strstr(out, "--count N"));
}

/* A repeatable option keeps its values in order and refuses one more than its room. */
static void test_list(void **state)
{
    const char *v[2];
    struct gf_opt_list tags = {v, 0};
    const struct gf_opt opts[] = {{"tag", 't', GF_OPT_LIST, &tags, 0, 2, "T", "a tag"}, {0}};
    const struct gf_opts spec = {"t", "", opts, ""};
    char *two[] = {"t", "--tag", "a", "-t", "b", "x", NULL};
    assert_int_equal(gf_opts_parse(&spec, 6, two), 5);
    assert_int_equal(tags.n, 2);
    assert_string_equal(v[0], "a");
    assert_string_equal(v[1], "b");
    char *three[] = {"t", "--tag", "a", "--tag", "b", "--tag", "c", NULL};
    tags.n = 0;
    assert_int_equal(gf_opts_parse(&spec, 7, three), GF_OPTS_USAGE);
    assert_int_equal(tags.n, 2);
}

/* Every listed option is in the usage, aligned, continuation lines under the first. */
static void test_usage(void **state)
{
    struct s_vals v = {0};
    char usage[2048];
    char *argv[] = {"t", NULL};
    s_parse(&v, 1, argv, usage, sizeof usage);
    assert_string_equal(usage, "head\n"
                               "  --count N         at most N\n"
                               "  -q, --quiet       say nothing\n"
                               "  --mode fast|slow  how\n"
                               "                    and why\n"
                               "  --big N           a long\n"
                               "  --rate R          a fraction\n"
                               "tail\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_values), cmocka_unit_test(test_errors),
                                       cmocka_unit_test(test_list), cmocka_unit_test(test_usage)};
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
