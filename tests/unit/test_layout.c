/* test_layout.c — the layout parser finds exactly the planned objects of the real GoT-R1 chains,
 * gives the same answer however the text is split, reports every malformed class with its span,
 * and never loses a well-formed object to the garbage around it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/picture/layout.h"

struct expect {
    const char *phrase;
    const char *box_text; /* as written in the chain */
    int box[4];
};

/* Read by hand from tests/data/reasoning-{1B,7B}.txt (copies of the published examples). */
static const struct expect s_1b[] = {
    {"vibrant red tulip bouquet", "(36,66),(907,694)", {36, 66, 907, 694}},
    {"yellow vase", "(202,482),(729,964)", {202, 482, 729, 964}},
    {"tablecloth", "(0,643),(997,997)", {0, 643, 997, 997}},
    {"floral pattern", "(0,528),(998,995)", {0, 528, 998, 995}},
    {"teal vase", "(646,449),(968,918)", {646, 449, 968, 918}},
};
static const struct expect s_7b[] = {
    {"vibrant still life painting", "(0,60),(997,983)", {0, 60, 997, 983}},
    {"bouquet of red tulips", "(0,60),(698,780)", {0, 60, 698, 780}},
    {"yellow vase", "(65,488),(582,982)", {65, 488, 582, 982}},
    {"teal vase", "(625,361),(992,887)", {625, 361, 992, 887}},
    {"colorful tablecloth", "(0,667),(997,983)", {0, 667, 997, 983}},
};

static char *s_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    *len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    char *s = malloc(*len + 1);
    assert_non_null(s);
    memcpy(s, buf, *len);
    s[*len] = '\0';
    return s;
}

static gf_layout_t *s_parse(const char *text, size_t len)
{
    gf_layout_t *l = NULL;
    assert_int_equal(gf_layout_parse(text, len, &l), 0);
    return l;
}

/* Feeds `text` cut at the sorted offsets cuts[0..n). */
static gf_layout_t *s_parse_split(const char *text, size_t len, const size_t *cuts, size_t n)
{
    gf_layout_t *l = gf_layout_new();
    assert_non_null(l);
    size_t at = 0;
    for (size_t i = 0; i <= n; i++) {
        size_t to = i < n ? cuts[i] : len;
        assert_int_equal(gf_layout_feed(l, text + at, to - at), 0);
        at = to;
    }
    assert_int_equal(gf_layout_finish(l), 0);
    return l;
}

static void s_assert_same(const gf_layout_t *a, const gf_layout_t *b)
{
    assert_int_equal(gf_layout_n_objects(a), gf_layout_n_objects(b));
    assert_int_equal(gf_layout_n_issues(a), gf_layout_n_issues(b));
    for (size_t i = 0; i < gf_layout_n_objects(a); i++) {
        const struct gf_layout_object *x = gf_layout_object(a, i), *y = gf_layout_object(b, i);
        assert_string_equal(x->phrase, y->phrase);
        assert_memory_equal(x->box, y->box, sizeof x->box);
        assert_int_equal(x->span.start, y->span.start);
        assert_int_equal(x->span.end, y->span.end);
    }
    for (size_t i = 0; i < gf_layout_n_issues(a); i++) {
        const struct gf_layout_issue *x = gf_layout_issue(a, i), *y = gf_layout_issue(b, i);
        assert_int_equal(x->kind, y->kind);
        assert_int_equal(x->span.start, y->span.start);
        assert_int_equal(x->span.end, y->span.end);
    }
}

/* Results are sane for any input: spans inside the text, in order, objects well-formed. */
static void s_assert_sane(const gf_layout_t *l, size_t len)
{
    size_t last = 0;
    for (size_t i = 0; i < gf_layout_n_objects(l); i++) {
        const struct gf_layout_object *o = gf_layout_object(l, i);
        assert_true(o->span.start >= last && o->span.start < o->span.end && o->span.end <= len);
        last = o->span.end;
        assert_true(o->phrase[0] != '\0');
        for (int k = 0; k < 4; k++)
            assert_true(o->box[k] >= 0 && o->box[k] <= GF_LAYOUT_GRID);
        assert_true(o->box[0] <= o->box[2] && o->box[1] <= o->box[3]);
    }
    last = 0;
    for (size_t i = 0; i < gf_layout_n_issues(l); i++) {
        const struct gf_layout_issue *is = gf_layout_issue(l, i);
        assert_true(is->span.start >= last && is->span.start <= is->span.end &&
                    is->span.end <= len);
        last = is->span.start;
        assert_true((unsigned)is->kind < GF_LAYOUT_N_ISSUE_KINDS);
    }
    json_t *j = gf_layout_to_json(l);
    assert_non_null(j);
    json_decref(j);
}

static void s_check_chain(const char *path, const struct expect *want, size_t n_want)
{
    size_t len;
    char *text = s_read(path, &len);
    gf_layout_t *l = s_parse(text, len);
    assert_int_equal(gf_layout_n_issues(l), 0);
    assert_int_equal(gf_layout_n_objects(l), n_want);
    for (size_t i = 0; i < n_want; i++) {
        const struct gf_layout_object *o = gf_layout_object(l, i);
        assert_string_equal(o->phrase, want[i].phrase);
        assert_memory_equal(o->box, want[i].box, sizeof o->box);
        /* the span is exactly "<|obj_start|>PHRASE<|obj_end|> <|box_start|>BOX<|box_end|>" */
        char entry[256];
        snprintf(entry, sizeof entry, "<|obj_start|>%s<|obj_end|> <|box_start|>%s<|box_end|>",
                 want[i].phrase, want[i].box_text);
        const char *at = strstr(text, entry);
        assert_non_null(at);
        assert_int_equal(o->span.start, at - text);
        assert_int_equal(o->span.end, at - text + strlen(entry));
    }
    gf_layout_destroy(&l);
    assert_null(l);
    free(text);
}

static void test_real_chains(void **state)
{
    s_check_chain("tests/data/reasoning-1B.txt", s_1b, 5);
    s_check_chain("tests/data/reasoning-7B.txt", s_7b, 5);
    /* one span written out: "A " then 91 bytes of entry */
    size_t len;
    char *text = s_read("tests/data/reasoning-1B.txt", &len);
    assert_int_equal(len, 1211);
    gf_layout_t *l = s_parse(text, len);
    assert_int_equal(gf_layout_object(l, 0)->span.start, 2);
    assert_int_equal(gf_layout_object(l, 0)->span.end, 93);
    assert_int_equal(gf_layout_length(l), 1211);
    gf_layout_destroy(&l);
    free(text);
}

static void test_json(void **state)
{
    size_t len;
    char *text = s_read("tests/data/reasoning-1B.txt", &len);
    gf_layout_t *l = s_parse(text, len);
    json_t *j = gf_layout_to_json(l);
    assert_non_null(j);
    char *s = json_dumps(j, JSON_COMPACT);
    assert_non_null(strstr(s, "{\"phrase\":\"vibrant red tulip bouquet\",\"box\":[36,66,907,694],"
                              "\"span\":[2,93]}"));
    assert_int_equal(json_array_size(json_object_get(j, "objects")), 5);
    assert_int_equal(json_array_size(json_object_get(j, "issues")), 0);
    free(s);
    json_decref(j);
    gf_layout_destroy(&l);
    free(text);

    l = s_parse("<|box_start|>(1,2),(3,4)<|box_end|>", 35);
    j = gf_layout_to_json(l);
    s = json_dumps(j, JSON_COMPACT);
    assert_string_equal(s, "{\"objects\":[],\"issues\":[{\"what\":\"box_without_object\",\"span\":"
                           "[0,35]}]}");
    free(s);
    json_decref(j);
    gf_layout_destroy(&l);
}

static void test_every_split(void **state)
{
    const char *paths[] = {"tests/data/reasoning-1B.txt", "tests/data/reasoning-7B.txt"};
    srand(7);
    for (int p = 0; p < 2; p++) {
        size_t len;
        char *text = s_read(paths[p], &len);
        gf_layout_t *whole = s_parse(text, len);
        /* every single cut */
        for (size_t k = 0; k <= len; k++) {
            gf_layout_t *l = s_parse_split(text, len, &k, 1);
            s_assert_same(whole, l);
            gf_layout_destroy(&l);
        }
        /* one byte at a time */
        size_t *cuts = malloc(len * sizeof *cuts);
        for (size_t k = 0; k < len; k++)
            cuts[k] = k;
        gf_layout_t *l = s_parse_split(text, len, cuts, len);
        s_assert_same(whole, l);
        gf_layout_destroy(&l);
        /* random cuts */
        for (int r = 0; r < 500; r++) {
            size_t n = 0;
            for (size_t k = 1; k < len; k++)
                if (rand() % 8 == 0)
                    cuts[n++] = k;
            l = s_parse_split(text, len, cuts, n);
            s_assert_same(whole, l);
            gf_layout_destroy(&l);
        }
        free(cuts);
        gf_layout_destroy(&whole);
        free(text);
    }
}

/* Every prefix of a real chain (a stream cut short): the objects finished before the cut are all
 * there, and a cut inside an entry or a tag is one `truncated` issue ending at the cut. */
static void test_truncated_prefixes(void **state)
{
    size_t len;
    char *text = s_read("tests/data/reasoning-7B.txt", &len);
    gf_layout_t *whole = s_parse(text, len);
    for (size_t k = 0; k <= len; k++) {
        gf_layout_t *l = s_parse(text, k);
        size_t n = 0;
        while (n < gf_layout_n_objects(whole) && gf_layout_object(whole, n)->span.end <= k)
            n++;
        assert_int_equal(gf_layout_n_objects(l), n);
        for (size_t i = 0; i < n; i++)
            assert_string_equal(gf_layout_object(l, i)->phrase, gf_layout_object(whole, i)->phrase);
        /* (a lone '<' at the very end is still plain text) */
        int inside =
            n < gf_layout_n_objects(whole) && gf_layout_object(whole, n)->span.start + 1 < k;
        const char *lt = memrchr(text + (k > 12 ? k - 12 : 0), '<', k > 12 ? 12 : k);
        int cut_tag = 0;
        if (lt) { /* a "<|..." left unfinished at the cut */
            size_t m = text + k - lt;
            cut_tag = m >= 2 && lt[1] == '|' && !memchr(lt, '>', m);
        }
        if (inside || cut_tag) {
            assert_int_equal(gf_layout_n_issues(l), 1);
            assert_int_equal(gf_layout_issue(l, 0)->kind, GF_LAYOUT_TRUNCATED);
            assert_int_equal(gf_layout_issue(l, 0)->span.end, k);
            if (inside)
                assert_int_equal(gf_layout_issue(l, 0)->span.start,
                                 gf_layout_object(whole, n)->span.start);
        } else {
            assert_int_equal(gf_layout_n_issues(l), 0);
        }
        gf_layout_destroy(&l);
    }
    gf_layout_destroy(&whole);
    free(text);
}

struct issue_case {
    const char *text;
    int n_objects;
    struct {
        enum gf_layout_issue_kind kind;
        size_t start, end;
    } issues[3];
    int n_issues;
};

#define OS "<|obj_start|>" /* 13 bytes */
#define OE "<|obj_end|>"   /* 11 bytes */
#define BS "<|box_start|>" /* 13 bytes */
#define BE "<|box_end|>"   /* 11 bytes */

static const struct issue_case s_cases[] = {
    /* well-formed, with the whitespace between the tags varied */
    {OS "cat" OE " " BS "(1,2),(3,4)" BE, 1, {{0}}, 0},
    {OS " cat\n" OE BS "( 1 , 2 ) , ( 3 , 4 )" BE, 1, {{0}}, 0},
    {OS "cat" OE "\n\t  " BS "(0,0),(1000,1000)" BE, 1, {{0}}, 0},
    /* missing close tags */
    {OS "cat " BS "(1,2),(3,4)" BE, 0, {{GF_LAYOUT_MISSING_OBJ_END, 0, 52}}, 1},
    {OS "cat " OS "dog" OE " " BS "(1,2),(3,4)" BE, 1, {{GF_LAYOUT_MISSING_OBJ_END, 0, 17}}, 1},
    {OS "cat" OE " " BS "(1,2),(3,4) and more " OS "dog" OE " " BS "(1,2),(3,4)" BE,
     1,
     {{GF_LAYOUT_MISSING_BOX_END, 0, 62}},
     1},
    /* three numbers, five numbers, garbage, range, order */
    {OS "cat" OE " " BS "(1,2),(3)" BE, 0, {{GF_LAYOUT_WRONG_COUNT, 0, 61}}, 1},
    {OS "cat" OE " " BS "(1,2),(3,4),(5)" BE, 0, {{GF_LAYOUT_WRONG_COUNT, 0, 67}}, 1},
    {OS "cat" OE " " BS "(1,2),(3,x)" BE, 0, {{GF_LAYOUT_BOX_SYNTAX, 0, 63}}, 1},
    {OS "cat" OE " " BS "(1,2,3,4)" BE, 0, {{GF_LAYOUT_BOX_SYNTAX, 0, 61}}, 1},
    {OS "cat" OE " " BS "(1,-2),(3,4)" BE, 0, {{GF_LAYOUT_BOX_SYNTAX, 0, 64}}, 1},
    {OS "cat" OE " " BS "(1,2),(3,1001)" BE, 0, {{GF_LAYOUT_OUT_OF_RANGE, 0, 66}}, 1},
    {OS "cat" OE " " BS "(1,2),(99999999999999999999,4)" BE,
     0,
     {{GF_LAYOUT_OUT_OF_RANGE, 0, 82}},
     1},
    {OS "cat" OE " " BS "(5,2),(3,4)" BE, 0, {{GF_LAYOUT_INVERTED, 0, 63}}, 1},
    {OS "cat" OE " " BS "(1,9),(3,4)" BE, 0, {{GF_LAYOUT_INVERTED, 0, 63}}, 1},
    /* a box with no object, an object with no box */
    {"x " BS "(1,2),(3,4)" BE, 0, {{GF_LAYOUT_BOX_WITHOUT_OBJECT, 2, 37}}, 1},
    {OS "cat" OE " sat " OS "dog" OE " " BS "(1,2),(3,4)" BE,
     1,
     {{GF_LAYOUT_OBJECT_WITHOUT_BOX, 0, 28}},
     1},
    {OS "cat" OE OS "dog" OE " " BS "(1,2),(3,4)" BE,
     1,
     {{GF_LAYOUT_OBJECT_WITHOUT_BOX, 0, 27}},
     1},
    /* phrases */
    {OS "  " OE " " BS "(1,2),(3,4)" BE, 0, {{GF_LAYOUT_EMPTY_PHRASE, 0, 62}}, 1},
    {OS "caf\xc3" OE " " BS "(1,2),(3,4)" BE, 0, {{GF_LAYOUT_INVALID_UTF8, 0, 64}}, 1},
    /* stray close tags */
    {"a " OE " b " BE, 0, {{GF_LAYOUT_STRAY_OBJ_END, 2, 13}, {GF_LAYOUT_STRAY_BOX_END, 16, 27}}, 2},
    {OS "cat" OE OE " " BS "(1,2),(3,4)" BE,
     0,
     {{GF_LAYOUT_OBJECT_WITHOUT_BOX, 0, 27},
      {GF_LAYOUT_STRAY_OBJ_END, 27, 38},
      {GF_LAYOUT_BOX_WITHOUT_OBJECT, 39, 74}},
     3},
    /* truncated at the end of the stream */
    {OS "cat" OE " " BS "(1,2),(3", 0, {{GF_LAYOUT_TRUNCATED, 0, 49}}, 1},
    {OS "cat" OE " ", 0, {{GF_LAYOUT_TRUNCATED, 0, 28}}, 1},
    {OS "cat<|obj_e", 0, {{GF_LAYOUT_TRUNCATED, 0, 23}}, 1},
    {"the end <|box_st", 0, {{GF_LAYOUT_TRUNCATED, 8, 16}}, 1},
    /* not tags at all */
    {"a < b and <|unknown|> and <begin_of_image> <", 0, {{0}}, 0},
};

static void test_issue_classes(void **state)
{
    for (size_t c = 0; c < sizeof s_cases / sizeof s_cases[0]; c++) {
        const struct issue_case *ic = &s_cases[c];
        size_t len = strlen(ic->text);
        gf_layout_t *l = s_parse(ic->text, len);
        print_message("case %zu: %s\n", c, ic->text);
        assert_int_equal(gf_layout_n_objects(l), ic->n_objects);
        assert_int_equal(gf_layout_n_issues(l), ic->n_issues);
        for (int i = 0; i < ic->n_issues; i++) {
            const struct gf_layout_issue *is = gf_layout_issue(l, i);
            assert_string_equal(gf_layout_issue_name(is->kind),
                                gf_layout_issue_name(ic->issues[i].kind));
            assert_int_equal(is->span.start, ic->issues[i].start);
            assert_int_equal(is->span.end, ic->issues[i].end);
        }
        /* the same, one byte at a time */
        gf_layout_t *b = gf_layout_new();
        for (size_t k = 0; k < len; k++)
            assert_int_equal(gf_layout_feed(b, ic->text + k, 1), 0);
        assert_int_equal(gf_layout_finish(b), 0);
        s_assert_same(l, b);
        s_assert_sane(l, len);
        gf_layout_destroy(&b);
        gf_layout_destroy(&l);
    }
}

static void test_streaming_api(void **state)
{
    gf_layout_t *l = gf_layout_new();
    const char *a = "A " OS "red cat" OE " " BS "(1,2),(3,4)";
    assert_int_equal(gf_layout_feed(l, a, strlen(a)), 0);
    assert_int_equal(gf_layout_n_objects(l), 0);
    assert_int_equal(gf_layout_feed(l, "<|box_e", 7), 0);
    assert_int_equal(gf_layout_n_objects(l), 0);
    assert_int_equal(gf_layout_feed(l, "nd|>", 4), 0);
    assert_int_equal(gf_layout_n_objects(l), 1); /* available as soon as the tag completes */
    assert_string_equal(gf_layout_object(l, 0)->phrase, "red cat");
    assert_null(gf_layout_object(l, 1));
    assert_null(gf_layout_issue(l, 0));
    assert_int_equal(gf_layout_finish(l), 0);
    assert_int_equal(gf_layout_finish(l), 0);
    assert_int_equal(gf_layout_feed(l, "x", 1), -1 /* GF_EINVAL */);
    gf_layout_destroy(&l);
    gf_layout_destroy(&l);
    gf_layout_destroy(NULL);
}

/* Random text built from tag pieces, digits, punctuation and arbitrary bytes. */
static size_t s_random_text(char *buf, size_t cap)
{
    static const char *pieces[] = {
        OS,  OE,  BS,    BE,  "<|", "obj_", "box_", "start|>", "end|>", "<",        "|>",   "(",
        ")", ",", "),(", " ", "\n", "12",   "1000", "1001",    "cat",   "\xc3\xa9", "\xff", "x"};
    size_t n = 0;
    int parts = rand() % 40;
    for (int i = 0; i < parts; i++) {
        if (rand() % 5 == 0) {
            if (n < cap)
                buf[n++] = (char)(rand() % 256);
            continue;
        }
        const char *p = pieces[rand() % (sizeof pieces / sizeof pieces[0])];
        size_t m = strlen(p);
        if (n + m > cap)
            break;
        memcpy(buf + n, p, m);
        n += m;
    }
    return n;
}

static void test_random_text(void **state)
{
    srand(11);
    char buf[2048];
    const char *good = OS "blue \xe2\x98\x82 umbrella" OE " " BS "(10,20),(300,400)" BE;
    size_t good_len = strlen(good);
    for (int r = 0; r < 3000; r++) {
        size_t len = s_random_text(buf, 900);
        /* garbage alone: sane, and the same whatever the split */
        gf_layout_t *whole = s_parse(buf, len);
        s_assert_sane(whole, len);
        size_t cuts[8], n = 0;
        for (int i = 0; i < 8 && len; i++)
            cuts[n++] = (size_t)rand() % (len + 1);
        for (size_t i = 1; i < n; i++) /* sort */
            for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
                size_t t = cuts[j];
                cuts[j] = cuts[j - 1];
                cuts[j - 1] = t;
            }
        gf_layout_t *split = s_parse_split(buf, len, cuts, n);
        s_assert_same(whole, split);
        gf_layout_destroy(&split);
        /* every object found alone parses to itself */
        for (size_t i = 0; i < gf_layout_n_objects(whole); i++) {
            const struct gf_layout_object *o = gf_layout_object(whole, i);
            gf_layout_t *one = s_parse(buf + o->span.start, o->span.end - o->span.start);
            assert_int_equal(gf_layout_n_objects(one), 1);
            assert_int_equal(gf_layout_n_issues(one), 0);
            assert_string_equal(gf_layout_object(one, 0)->phrase, o->phrase);
            gf_layout_destroy(&one);
        }
        gf_layout_destroy(&whole);
        /* a well-formed entry between garbage is never lost */
        size_t pre = len;
        memcpy(buf + pre, good, good_len);
        size_t post = s_random_text(buf + pre + good_len, 900);
        len = pre + good_len + post;
        whole = s_parse(buf, len);
        s_assert_sane(whole, len);
        int found = 0;
        for (size_t i = 0; i < gf_layout_n_objects(whole); i++) {
            const struct gf_layout_object *o = gf_layout_object(whole, i);
            if (o->span.start == pre && o->span.end == pre + good_len) {
                assert_string_equal(o->phrase, "blue \xe2\x98\x82 umbrella");
                assert_int_equal(o->box[3], 400);
                found = 1;
            }
        }
        assert_true(found);
        gf_layout_destroy(&whole);
    }
}

static void test_long_phrase(void **state)
{
    char buf[2048];
    size_t n = 0;
    n += (size_t)sprintf(buf, OS);
    memset(buf + n, 'a', 600);
    n += 600;
    n += (size_t)sprintf(buf + n, OE " " BS "(1,2),(3,4)" BE " " OS "ok" OE BS "(1,2),(3,4)" BE);
    gf_layout_t *l = s_parse(buf, n);
    assert_int_equal(gf_layout_n_issues(l), 1);
    assert_int_equal(gf_layout_issue(l, 0)->kind, GF_LAYOUT_PHRASE_TOO_LONG);
    assert_int_equal(gf_layout_n_objects(l), 1);
    assert_string_equal(gf_layout_object(l, 0)->phrase, "ok");
    gf_layout_destroy(&l);
    for (int k = 0; k < GF_LAYOUT_N_ISSUE_KINDS; k++) {
        assert_string_not_equal(gf_layout_issue_name(k), "unknown");
        assert_string_not_equal(gf_layout_issue_desc(k), "unknown issue");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_chains),   cmocka_unit_test(test_json),
        cmocka_unit_test(test_every_split),   cmocka_unit_test(test_truncated_prefixes),
        cmocka_unit_test(test_issue_classes), cmocka_unit_test(test_streaming_api),
        cmocka_unit_test(test_random_text),   cmocka_unit_test(test_long_phrase),
    };
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
