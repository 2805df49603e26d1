/* test_journal.c — the append-only journal: records come back in order, a torn or damaged tail is
 * cut off at the last good record, compaction replaces the file, one process at a time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/journal.h"

struct s_seen {
    int n;
    char ids[16][64];
    int types[16];
    uint32_t ns[16];
    size_t lens[16];
};

static void s_collect(void *ctx, const struct gf_journal_rec *rec)
{
    struct s_seen *s = ctx;
    if (s->n == 16)
        return;
    snprintf(s->ids[s->n], sizeof s->ids[0], "%s", rec->id);
    s->types[s->n] = rec->type;
    s->ns[s->n] = rec->n;
    s->lens[s->n] = rec->len;
    s->n++;
}

static char s_dir[64];

static void s_path(char *out, size_t cap)
{
    snprintf(out, cap, "%s/j", s_dir);
}

static int s_setup(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof s_dir, "/tmp/gfjournal.XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_round_trip(void **state)
{
    (void)state;
    char path[128], why[256];
    s_path(path, sizeof path);
    unlink(path);
    gf_journal_t *j = gf_journal_open(path, 0, NULL, NULL, why, sizeof why);
    assert_non_null(j);
    assert_int_equal(gf_journal_append(j, 'S', "r1", 0, "prompt\0abc", 10), 0);
    assert_int_equal(gf_journal_append(j, 'A', "r1", 1, NULL, 0), 0);
    assert_int_equal(gf_journal_append(j, 'D', "r1", 1, "answer", 6), 0);
    assert_int_equal(gf_journal_sync(j), 0);
    gf_journal_close(&j);
    assert_null(j);

    struct s_seen seen = {0};
    j = gf_journal_open(path, 0, s_collect, &seen, why, sizeof why);
    assert_non_null(j);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.ids[0], "r1");
    assert_int_equal(seen.types[0], 'S');
    assert_int_equal(seen.lens[0], 10);
    assert_int_equal(seen.types[1], 'A');
    assert_int_equal(seen.ns[1], 1);
    assert_int_equal(seen.types[2], 'D');
    assert_int_equal(seen.lens[2], 6);
    gf_journal_close(&j);
}

/* A crash in the middle of a write leaves a torn record: it is cut off, the rest is kept, and
 * new records follow the last good one. */
static void test_torn_tail(void **state)
{
    (void)state;
    char path[128], why[256];
    s_path(path, sizeof path);
    unlink(path);
    gf_journal_t *j = gf_journal_open(path, 0, NULL, NULL, why, sizeof why);
    assert_non_null(j);
    assert_int_equal(gf_journal_append(j, 'S', "a", 0, "xx", 2), 0);
    assert_int_equal(gf_journal_append(j, 'S', "b", 0, "yyyy", 4), 0);
    uint64_t size = gf_journal_size(j);
    gf_journal_close(&j);
    assert_int_equal(truncate(path, (off_t)size - 3), 0);

    struct s_seen seen = {0};
    j = gf_journal_open(path, 0, s_collect, &seen, why, sizeof why);
    assert_non_null(j);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.ids[0], "a");
    assert_int_equal(gf_journal_append(j, 'S', "c", 0, "z", 1), 0);
    gf_journal_close(&j);

    memset(&seen, 0, sizeof seen);
    j = gf_journal_open(path, 0, s_collect, &seen, why, sizeof why);
    assert_non_null(j);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.ids[1], "c");
    gf_journal_close(&j);
}

/* A flipped byte fails the checksum: reading stops there. */
static void test_damaged_record(void **state)
{
    (void)state;
    char path[128], why[256];
    s_path(path, sizeof path);
    unlink(path);
    gf_journal_t *j = gf_journal_open(path, 0, NULL, NULL, why, sizeof why);
    assert_non_null(j);
    assert_int_equal(gf_journal_append(j, 'S', "a", 0, "xx", 2), 0);
    uint64_t first = gf_journal_size(j);
    assert_int_equal(gf_journal_append(j, 'S', "b", 0, "yyyy", 4), 0);
    gf_journal_close(&j);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, (long)first + 12, SEEK_SET);
    fputc('!', f);
    fclose(f);
    struct s_seen seen = {0};
    j = gf_journal_open(path, 0, s_collect, &seen, why, sizeof why);
    assert_non_null(j);
    assert_int_equal(seen.n, 1);
    assert_int_equal(gf_journal_size(j), first);
    gf_journal_close(&j);
}

static int s_fill(void *ctx, gf_journal_t *fresh)
{
    (void)ctx;
    return gf_journal_append(fresh, 'S', "kept", 7, "k", 1);
}

static void test_rewrite_and_lock(void **state)
{
    (void)state;
    char path[128], why[256];
    s_path(path, sizeof path);
    unlink(path);
    gf_journal_t *j = gf_journal_open(path, 0, NULL, NULL, why, sizeof why);
    assert_non_null(j);
    for (int i = 0; i < 10; i++)
        assert_int_equal(gf_journal_append(j, 'S', "old", 0, "0123456789", 10), 0);
    /* a second opener is refused while the first holds it */
    gf_journal_t *other = gf_journal_open(path, 50, NULL, NULL, why, sizeof why);
    assert_null(other);
    assert_non_null(strstr(why, "held by another process"));
    assert_int_equal(gf_journal_rewrite(j, s_fill, NULL), 0);
    assert_int_equal(gf_journal_append(j, 'A', "kept", 8, NULL, 0), 0);
    gf_journal_close(&j);
    struct s_seen seen = {0};
    j = gf_journal_open(path, 0, s_collect, &seen, why, sizeof why);
    assert_non_null(j);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.ids[0], "kept");
    assert_int_equal(seen.ns[0], 7);
    assert_int_equal(seen.ns[1], 8);
    gf_journal_close(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_torn_tail),
        cmocka_unit_test(test_damaged_record),
        cmocka_unit_test(test_rewrite_and_lock),
    };
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
