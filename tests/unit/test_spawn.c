/* test_spawn.c — starting a program: its log, its exit status, and an exec failure as ours. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/spawn.h"

static void test_runs_with_log(void **state)
{
    char log[] = "/tmp/gf-spawn-XXXXXX";
    int fd = mkstemp(log);
    assert_true(fd >= 0);
    close(fd);
    char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    const struct gf_spawn_opts so = {.log_path = log, .stdin_null = 1, .search_path = 1};
    pid_t pid = gf_spawn(argv, &so);
    assert_true(pid > 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 3);
    char buf[256] = "";
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    unlink(log);
    buf[n] = 0;
    assert_string_equal(buf, "out\nerr\n");
}

static void test_exec_failure(void **state)
{
    char *argv[] = {"/nonexistent/program", NULL};
    errno = 0;
    assert_int_equal(gf_spawn(argv, NULL), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1); /* the failed child was reaped */
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_runs_with_log),
                                       cmocka_unit_test(test_exec_failure)};
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
