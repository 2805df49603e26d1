/* test_tokenizer.c — the tokenizer against HuggingFace `tokenizers`: the 45 llama.cpp/HF vectors,
 * 20,000 seeded strings on the GoT-R1 tokenizer and 5,000 on each of three trained tokenizers
 * (ids, decode with and without special tokens, streaming decode), the GoT-R1 prompt, and the
 * refusals. Goldens: tests/oracle/gen_tokenizer.py (`make oracle`). Runs from the repo root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "model/tokenizer/got_prompt.h"
#include "model/tokenizer/tokenizer.h"

#define DATA "tests/data/deepseek-llm/"
#define GOLD "tests/oracle/goldens/tokenizer/"
#define TMP "build/test-tmp/got-r1/"

static char *s_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail_msg("cannot open '%s' (run the tests from the repository root)", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    p[n] = 0;
    fclose(f);
    if (len)
        *len = (size_t)n;
    return p;
}

static gf_tokenizer_t *s_load(const char *path)
{
    char err[512];
    gf_tokenizer_t *tok = NULL;
    int rc = gf_tokenizer_load(path, &tok, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    return tok;
}

/* The GoT-R1 test tokenizer: the DeepSeek-LLM file with the added tokens HF produced. */
static char *s_got_json(void)
{
    json_error_t je;
    json_t *root = json_load_file(DATA "tokenizer.json", 0, &je);
    json_t *added = json_load_file(GOLD "got-r1-added-tokens.json", 0, &je);
    assert_non_null(root);
    assert_non_null(added);
    json_object_set_new(root, "added_tokens", added);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    assert_non_null(s);
    return s;
}

static void s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A checkpoint folder with the GoT-R1 test tokenizer and the configs. */
static void s_make_ckpt(void)
{
    mkdir("build", 0755);
    mkdir("build/test-tmp", 0755);
    mkdir(TMP, 0755);
    char *json = s_got_json();
    s_write(TMP "tokenizer.json", json);
    free(json);
    char *cfg = s_slurp(DATA "tokenizer_config.json", NULL);
    s_write(TMP "tokenizer_config.json", cfg);
    free(cfg);
    s_write(TMP "processor_config.json", "{\"sft_format\": \"deepseek\"}\n");
}

static void test_hf_vectors(void **state)
{
    gf_tokenizer_t *tok = s_load(DATA "tokenizer.json");
    char *inp = s_slurp(DATA "hf-vectors.inp", NULL), *out = s_slurp(DATA "hf-vectors.out", NULL);
    const char *sep = "\n__ggml_vocab_test__\n";
    char *s = inp, *line = out;
    int n = 0;
    for (;;) {
        char *end = strstr(s, sep);
        char *nl = strchr(line, '\n');
        if (!end || !nl)
            break;
        *end = 0;
        *nl = 0;
        struct gf_ids ids = {0};
        assert_int_equal(gf_tokenizer_encode(tok, s, strlen(s), 0, &ids), 0);
        char got[4096] = "", *w = got;
        for (size_t i = 0; i < ids.n; i++)
            w += sprintf(w, " %d", ids.v[i]);
        if (strcmp(got, line) != 0)
            fail_msg("vector %d '%s': expected '%s', got '%s'", n, s, line, got);
        gf_ids_release(&ids);
        n++;
        s = end + strlen(sep);
        line = nl + 1;
    }
    assert_true(n >= 45);
    free(inp);
    free(out);
    gf_tokenizer_destroy(&tok);
}

static int s_ids_equal(const struct gf_ids *ids, json_t *arr)
{
    if (ids->n != json_array_size(arr))
        return 0;
    for (size_t i = 0; i < ids->n; i++)
        if (ids->v[i] != json_integer_value(json_array_get(arr, i)))
            return 0;
    return 1;
}

/* Checks every line of a golden file; returns the number of mismatches (first ones printed). */
static int s_check_goldens(const gf_tokenizer_t *tok, const char *path, int *n_lines)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open '%s'", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int bad = 0, n = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *rec = json_loadb(line, (size_t)len, 0, &je);
        assert_non_null(rec);
        json_t *jt = json_object_get(rec, "t");
        const char *t = json_string_value(jt);
        size_t tl = json_string_length(jt);
        const char *d = json_string_value(json_object_get(rec, "d"));
        const char *sk = json_string_value(json_object_get(rec, "s"));
        d = d ? d : t;
        sk = sk ? sk : d;
        struct gf_ids ids = {0}, with = {0};
        const char *what = NULL;
        assert_int_equal(gf_tokenizer_encode(tok, t, tl, 0, &ids), 0);
        if (!s_ids_equal(&ids, json_object_get(rec, "i")))
            what = "ids";
        json_t *I = json_object_get(rec, "I");
        if (!what && I) {
            assert_int_equal(gf_tokenizer_encode(tok, t, tl, 1, &with), 0);
            if (!s_ids_equal(&with, I))
                what = "ids with special tokens";
        }
        char *dec = NULL;
        if (!what) {
            assert_int_equal(gf_tokenizer_decode(tok, ids.v, ids.n, 0, &dec, NULL), 0);
            if (strcmp(dec, d) != 0)
                what = "decode";
            free(dec);
        }
        if (!what) {
            assert_int_equal(gf_tokenizer_decode(tok, ids.v, ids.n, 1, &dec, NULL), 0);
            if (strcmp(dec, sk) != 0)
                what = "decode skipping special tokens";
            free(dec);
        }
        if (!what) { /* streaming: the pieces add up to the decode, each valid UTF-8 */
            gf_tok_stream_t *st = gf_tok_stream_new(tok, 0);
            char *piece;
            size_t pl, at = 0;
            for (size_t i = 0; i <= ids.n && !what; i++) {
                int rc = i < ids.n ? gf_tok_stream_step(st, ids.v[i], &piece, &pl)
                                   : gf_tok_stream_finish(st, &piece, &pl);
                assert_int_equal(rc, 0);
                if (piece && (strncmp(d + at, piece, pl) != 0 || at + pl > strlen(d)))
                    what = "streaming decode";
                at += pl;
                free(piece);
            }
            if (!what && at != strlen(d))
                what = "streaming decode (length)";
            gf_tok_stream_destroy(&st);
        }
        if (what && bad++ < 5)
            print_message("%s:%d: %s differs for \"%s\"\n", path, n + 1, what, t);
        gf_ids_release(&ids);
        gf_ids_release(&with);
        json_decref(rec);
        n++;
    }
    free(line);
    fclose(f);
    *n_lines = n;
    return bad;
}

static void test_got_r1_goldens(void **state)
{
    char err[512];
    char *json = s_got_json();
    gf_tokenizer_t *tok = NULL;
    assert_int_equal(gf_tokenizer_parse(json, strlen(json), "got-r1", &tok, err, sizeof err), 0);
    free(json);
    int n, bad = s_check_goldens(tok, GOLD "got-r1.jsonl", &n);
    assert_int_equal(n, 20000);
    assert_int_equal(bad, 0);
    gf_tokenizer_destroy(&tok);
}

static void test_sp_bpe_goldens(void **state)
{
    gf_tokenizer_t *tok = s_load(GOLD "sp-bpe.json");
    int n, bad = s_check_goldens(tok, GOLD "sp-bpe.jsonl", &n);
    assert_true(n >= 5000);
    assert_int_equal(bad, 0);
    gf_tokenizer_destroy(&tok);
}

static void test_bl_bpe_goldens(void **state)
{
    gf_tokenizer_t *tok = s_load(GOLD "bl-bpe.json");
    int n, bad = s_check_goldens(tok, GOLD "bl-bpe.jsonl", &n);
    assert_true(n >= 5000);
    assert_int_equal(bad, 0);
    gf_tokenizer_destroy(&tok);
}

static void test_wp_bpe_goldens(void **state)
{
    gf_tokenizer_t *tok = s_load(GOLD "wp-bpe.json");
    int n, bad = s_check_goldens(tok, GOLD "wp-bpe.jsonl", &n);
    assert_true(n >= 5000);
    assert_int_equal(bad, 0);
    gf_tokenizer_destroy(&tok);
}

static void test_got_prompt(void **state)
{
    s_make_ckpt();
    json_error_t je;
    json_t *g = json_load_file(GOLD "got-r1-prompt.json", 0, &je);
    assert_non_null(g);
    const char *caption = json_string_value(json_object_get(g, "caption"));
    char *prompt = NULL;
    assert_int_equal(gf_got_format_prompt("deepseek", caption, &prompt), 0);
    assert_string_equal(prompt, json_string_value(json_object_get(g, "prompt")));
    free(prompt);

    struct gf_ids ids = {0};
    struct gf_got_special sp;
    char err[512];
    int rc = gf_got_prompt_ids(TMP, caption, &ids, &sp, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    assert_true(s_ids_equal(&ids, json_object_get(g, "ids")));
    /* and the list MODEL.md 1.2 gives for this caption */
    static const int32_t model_md[] = {
        100000, 5726,  25,    23028, 254,   39498, 276,  8293,  274,   3324,  1184,
        245,    8369,  280,   2215,  1699,  25,    338,  29033, 1592,  1728,  14445,
        17713,  245,   58922, 280,   3074,  60505, 2744, 279,   245,   10421, 58638,
        11,     17146, 457,   245,   88002, 58638, 11,   521,   845,   331,   245,
        31292,  2376,  38370, 366,   35220, 11817, 185,  185,   77398, 25};
    assert_int_equal(ids.n, sizeof model_md / sizeof model_md[0]);
    assert_memory_equal(ids.v, model_md, sizeof model_md);
    json_t *special = json_object_get(g, "special");
    assert_int_equal(sp.bos,
                     json_integer_value(json_object_get(special, "<｜begin▁of▁sentence｜>")));
    assert_int_equal(sp.eos, json_integer_value(json_object_get(special, "<｜end▁of▁sentence｜>")));
    assert_int_equal(sp.pad, json_integer_value(json_object_get(special, "<｜▁pad▁｜>")));
    assert_int_equal(sp.boi, json_integer_value(json_object_get(special, "<begin_of_image>")));
    assert_int_equal(sp.eoi, json_integer_value(json_object_get(special, "<end_of_image>")));
    assert_int_equal(sp.box_start, json_integer_value(json_object_get(special, "<|box_start|>")));
    assert_int_equal(sp.obj_end, json_integer_value(json_object_get(special, "<|obj_end|>")));
    gf_ids_release(&ids);
    json_decref(g);

    /* trailing whitespace of the caption goes, as Python's strip() does */
    assert_int_equal(gf_got_format_prompt("deepseek_old", "a cat \n", &prompt), 0);
    assert_string_equal(prompt, "User: " GF_GOT_PROMPT_PREFIX "a cat\n\nAssistant:");
    free(prompt);
    assert_int_equal(gf_got_format_prompt("llama-2", "x", &prompt), GF_EUNSUPPORTED);
}

static void test_got_tokens_added(void **state)
{
    /* a tokenizer without GoT-R1's tokens gets them at the next free ids, like add_tokens() */
    gf_tokenizer_t *tok = s_load(DATA "tokenizer.json");
    const char *toks[] = {"<|box_start|>", "<|box_end|>"};
    int32_t size = gf_tokenizer_size(tok);
    assert_int_equal(size, 100015);
    assert_int_equal(gf_tokenizer_add_tokens(tok, toks, 2), 0);
    assert_int_equal(gf_tokenizer_token_id(tok, "<|box_start|>"), 100015);
    assert_int_equal(gf_tokenizer_token_id(tok, "<|box_end|>"), 100016);
    assert_int_equal(gf_tokenizer_add_tokens(tok, toks, 2), 0);
    assert_int_equal(gf_tokenizer_size(tok), 100017);
    struct gf_ids ids = {0};
    const char *t = "a<|box_start|>(1,2)<|box_end|>";
    assert_int_equal(gf_tokenizer_encode(tok, t, strlen(t), 0, &ids), 0);
    assert_int_equal(ids.v[1], 100015);
    assert_int_equal(ids.v[ids.n - 1], 100016);
    gf_ids_release(&ids);
    gf_tokenizer_destroy(&tok);
}

static void test_stream_utf8(void **state)
{
    /* "€" is three byte-level tokens in the DeepSeek vocab when split; feed bytes one by one */
    gf_tokenizer_t *tok = s_load(DATA "tokenizer.json");
    const char *text = "a€😶‍🌫️b";
    struct gf_ids ids = {0};
    assert_int_equal(gf_tokenizer_encode(tok, text, strlen(text), 0, &ids), 0);
    gf_tok_stream_t *st = gf_tok_stream_new(tok, 1);
    char all[64] = "", *piece;
    size_t pl;
    for (size_t i = 0; i < ids.n; i++) {
        assert_int_equal(gf_tok_stream_step(st, ids.v[i], &piece, &pl), 0);
        if (piece) {
            assert_null(strstr(piece, "\xEF\xBF\xBD")); /* never half a character */
            strcat(all, piece);
        }
        free(piece);
    }
    assert_int_equal(gf_tok_stream_finish(st, &piece, &pl), 0);
    assert_null(piece);
    assert_string_equal(all, text);
    gf_tok_stream_destroy(&st);
    gf_ids_release(&ids);
    gf_tokenizer_destroy(&tok);
}

static void s_expect_refusal(const char *json, int code, const char *needle)
{
    char err[512] = "";
    gf_tokenizer_t *tok = NULL;
    int rc = gf_tokenizer_parse(json, strlen(json), "t.json", &tok, err, sizeof err);
    assert_int_equal(rc, code);
    assert_null(tok);
    if (!strstr(err, needle))
        fail_msg("message '%s' lacks '%s'", err, needle);
}

#define S_MODEL                                                                                    \
    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}"

static void test_refusals(void **state)
{
    s_expect_refusal("{\"model\":", GF_EPARSE, "'t.json'");
    s_expect_refusal("[]", GF_ESCHEMA, "top level");
    s_expect_refusal("{" S_MODEL ",\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":"
                     "[{\"type\":\"ByteLevel\"},{\"type\":\"BertPreTokenizer\"}]}}",
                     GF_EUNSUPPORTED,
                     "pre_tokenizer.pretokenizers[1]: unsupported pre-tokenizer "
                     "type 'BertPreTokenizer'");
    s_expect_refusal("{" S_MODEL ",\"normalizer\":{\"type\":\"Precompiled\"}}", GF_EUNSUPPORTED,
                     "normalizer: unsupported normalizer type 'Precompiled'");
    s_expect_refusal("{" S_MODEL ",\"decoder\":{\"type\":\"WordPiece\"}}", GF_EUNSUPPORTED,
                     "decoder: unsupported decoder type 'WordPiece'");
    s_expect_refusal("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", GF_EUNSUPPORTED,
                     "model: unsupported model type 'Unigram'");
    s_expect_refusal("{\"model\":{\"vocab\":{\"a\":0},\"merges\":[\"a c\"]}}", GF_ESCHEMA,
                     "model.merges[0]");
    s_expect_refusal("{" S_MODEL ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":"
                     "\"(\"},\"behavior\":\"Isolated\"}}",
                     GF_EPARSE, "regex '('");

    /* invalid UTF-8 input is refused, not guessed at */
    gf_tokenizer_t *tok = s_load(DATA "tokenizer.json");
    struct gf_ids ids = {0};
    assert_int_equal(gf_tokenizer_encode(tok, "a\xC3", 2, 0, &ids), GF_EINVAL);
    assert_int_equal(gf_tokenizer_encode(tok, "\xED\xA0\x80", 3, 0, &ids), GF_EINVAL);
    assert_int_equal(ids.n, 0);
    gf_tokenizer_destroy(&tok);

    /* a truncated real file */
    size_t len;
    char *json = s_slurp(DATA "tokenizer.json", &len);
    assert_int_equal(gf_tokenizer_parse(json, len / 2, "half.json", &tok, (char[256]){0}, 256),
                     GF_EPARSE);
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hf_vectors),       cmocka_unit_test(test_got_r1_goldens),
        cmocka_unit_test(test_sp_bpe_goldens),   cmocka_unit_test(test_bl_bpe_goldens),
        cmocka_unit_test(test_wp_bpe_goldens),   cmocka_unit_test(test_got_prompt),
        cmocka_unit_test(test_got_tokens_added), cmocka_unit_test(test_stream_utf8),
        cmocka_unit_test(test_refusals),
    };
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
