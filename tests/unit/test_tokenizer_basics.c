/* test_tokenizer_basics.c — tokenizer behaviour that needs no oracle: UTF-8 repair as Rust does it,
 * streaming decode holding back partial characters, added-token ids, threads sharing one
 * tokenizer, and the GoT-R1 checkpoint errors. HF parity is in tests/oracle/test_tokenizer.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "model/tokenizer/got_prompt.h"
#include "model/tokenizer/tok_internal.h"
#include "model/tokenizer/tokenizer.h"

#define DEEPSEEK "tests/data/deepseek-llm/tokenizer.json"

/* A byte-fallback tokenizer with a ByteLevel-free decoder chain, written inline. */
static const char s_fallback_json[] =
    "{\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,"
    "\"use_regex\":true},\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":"
    "\"ByteFallback\"},{\"type\":\"Fuse\"}]},\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,"
    "\"vocab\":{\"\\u0120\":0,\"a\":1,\"\\u0120a\":2,\"<0xE2>\":3,\"<0x82>\":4,\"<0xAC>\":5},"
    "\"merges\":[\"\\u0120 a\"]}}";

static gf_tokenizer_t *s_parse(const char *json)
{
    char err[512];
    gf_tokenizer_t *tok = NULL;
    int rc = gf_tokenizer_parse(json, strlen(json), "inline", &tok, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    return tok;
}

static void s_lossy(const char *in, size_t n, const char *want)
{
    struct gf_buf out = {0};
    assert_int_equal(gf_utf8_lossy(in, n, &out), 0);
    assert_string_equal(out.p, want);
    gf_buf_release(&out);
}

static void test_utf8_lossy(void **state)
{
    /* one U+FFFD per maximal invalid subpart, like Rust's from_utf8_lossy */
    s_lossy("\xF0\x9F\x98"
            "a",
            4,
            "\xEF\xBF\xBD"
            "a");
    s_lossy("\xC0\x80", 2, "\xEF\xBF\xBD\xEF\xBF\xBD");
    s_lossy("\xED\xA0\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    s_lossy("\xE2\x82", 2, "\xEF\xBF\xBD");
    s_lossy("a\xFF"
            "b",
            3,
            "a\xEF\xBF\xBD"
            "b");
    s_lossy("\xF4\x90\x80\x80", 4, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_int_equal(gf_utf8_valid_prefix("ab\xE2\x82", 4), 2);
}

static void test_empty_and_bytes(void **state)
{
    gf_tokenizer_t *tok = s_parse(s_fallback_json);
    struct gf_ids ids = {0};
    assert_int_equal(gf_tokenizer_encode(tok, "", 0, 1, &ids), 0);
    assert_int_equal(ids.n, 0); /* no prefix space for nothing */
    assert_int_equal(gf_tokenizer_encode(tok, "a", 1, 0, &ids), 0);
    assert_int_equal(ids.n, 1);
    assert_int_equal(ids.v[0], 2);
    gf_ids_release(&ids);

    /* "€" = E2 82 AC through byte fallback: the stream holds it back until complete */
    gf_tok_stream_t *st = gf_tok_stream_new(tok, 0);
    char *piece;
    size_t n;
    const int32_t euro[] = {3, 4, 5};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(gf_tok_stream_step(st, euro[i], &piece, &n), 0);
        assert_null(piece);
    }
    assert_int_equal(gf_tok_stream_step(st, euro[2], &piece, &n), 0);
    assert_non_null(piece);
    assert_string_equal(piece, "\xE2\x82\xAC");
    free(piece);
    /* a lone lead byte comes out as U+FFFD only when the stream ends */
    assert_int_equal(gf_tok_stream_step(st, 3, &piece, &n), 0);
    assert_null(piece);
    assert_int_equal(gf_tok_stream_finish(st, &piece, &n), 0);
    assert_string_equal(piece, "\xEF\xBF\xBD");
    free(piece);
    gf_tok_stream_destroy(&st);
    gf_tok_stream_destroy(&st); /* NULL-safe */
    gf_tokenizer_destroy(&tok);
    assert_null(tok);
}

static void test_lookups(void **state)
{
    char err[512];
    gf_tokenizer_t *tok = NULL;
    assert_int_equal(gf_tokenizer_load(DEEPSEEK, &tok, err, sizeof err), 0);
    assert_int_equal(gf_tokenizer_token_id(tok, "<｜begin▁of▁sentence｜>"), 100000);
    assert_int_equal(gf_tokenizer_token_id(tok, "Hello"), 17464);
    assert_int_equal(gf_tokenizer_token_id(tok, "<nope>"), GF_ENOTFOUND);
    assert_string_equal(gf_tokenizer_id_token(tok, 100001), "<｜end▁of▁sentence｜>");
    assert_null(gf_tokenizer_id_token(tok, 100015));
    assert_null(gf_tokenizer_id_token(tok, -1));
    assert_true(gf_tokenizer_is_special(tok, 100000));
    assert_false(gf_tokenizer_is_special(tok, 100002));
    assert_false(gf_tokenizer_is_special(tok, 5));
    /* an existing vocab string keeps its id; a new one takes the next free id */
    const char *toks[] = {"Hello", "<|obj_start|>"};
    assert_int_equal(gf_tokenizer_add_tokens(tok, toks, 2), 0);
    assert_int_equal(gf_tokenizer_token_id(tok, "Hello"), 17464);
    assert_int_equal(gf_tokenizer_token_id(tok, "<|obj_start|>"), 100015);
    const char *bad[] = {""};
    assert_int_equal(gf_tokenizer_add_tokens(tok, bad, 1), GF_EINVAL);
    gf_tokenizer_destroy(&tok);

    assert_int_equal(gf_tokenizer_load("/nonexistent.json", &tok, err, sizeof err), GF_EIO);
    assert_non_null(strstr(err, "'/nonexistent.json'"));
}

struct s_job {
    const gf_tokenizer_t *tok;
    int ok;
};

static const char *const s_texts[] = {
    "User: Follow the caption to generate an image through a chain of thought process: a cat",
    "A <|obj_start|>red tulip<|obj_end|> <|box_start|>(36,66),(907,694)<|box_end|>",
    "нещо на Български 你好世界 안녕하세요 😶‍🌫️ 1234567",
    "   spaces\t\ttabs\r\n\r\nnewlines   ",
};

static void *s_worker(void *arg)
{
    struct s_job *job = arg;
    job->ok = 1;
    for (int round = 0; round < 200; round++)
        for (size_t i = 0; i < 4; i++) {
            struct gf_ids a = {0};
            char *back = NULL;
            if (gf_tokenizer_encode(job->tok, s_texts[i], strlen(s_texts[i]), 0, &a) ||
                gf_tokenizer_decode(job->tok, a.v, a.n, 0, &back, NULL) ||
                strcmp(back, s_texts[i]) != 0)
                job->ok = 0;
            free(back);
            gf_ids_release(&a);
        }
    return NULL;
}

static void test_threads(void **state)
{
    char err[512];
    gf_tokenizer_t *tok = NULL;
    assert_int_equal(gf_tokenizer_load(DEEPSEEK, &tok, err, sizeof err), 0);
    pthread_t th[4];
    struct s_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct s_job){tok, 0};
        assert_int_equal(pthread_create(&th[i], NULL, s_worker, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(jobs[i].ok);
    }
    gf_tokenizer_destroy(&tok);
}

static void test_got_errors(void **state)
{
    char err[512];
    struct gf_got_tok *g = NULL;
    assert_int_equal(gf_got_tok_new("/nonexistent", &g, err, sizeof err), GF_EIO);
    assert_null(g);
    assert_non_null(strstr(err, "'/nonexistent/tokenizer.json'"));

    /* the DeepSeek base tokenizer has no <｜▁pad▁｜>: the stage cannot run CFG without it */
    mkdir("build", 0755);
    mkdir("build/test-tmp", 0755);
    mkdir("build/test-tmp/base", 0755);
    unlink("build/test-tmp/base/tokenizer.json");
    assert_int_equal(symlink("../../../" DEEPSEEK, "build/test-tmp/base/tokenizer.json"), 0);
    assert_int_equal(gf_got_tok_new("build/test-tmp/base", &g, err, sizeof err), GF_ENOTFOUND);
    assert_non_null(strstr(err, "pad"));

    FILE *f = fopen("build/test-tmp/base/processor_config.json", "w");
    fputs("{\"sft_format\": \"llava\"}", f);
    fclose(f);
    assert_int_equal(gf_got_tok_new("build/test-tmp/base", &g, err, sizeof err), GF_EUNSUPPORTED);
    assert_non_null(strstr(err, "'llava'"));
    unlink("build/test-tmp/base/processor_config.json");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_lossy), cmocka_unit_test(test_empty_and_bytes),
        cmocka_unit_test(test_lookups),    cmocka_unit_test(test_threads),
        cmocka_unit_test(test_got_errors),
    };
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
