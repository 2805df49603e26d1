/* test_checkpoint.c — checkpoints as published load; broken ones fail with one clear line each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/log.h"
#include "model/lm/checkpoint.h"
#include "../oracle/model_util.h"

/* Captured stderr of the last s_open: the error lines. */
static char s_log[8192];

static int s_open(const char *dir, struct gf_ckpt **ck)
{
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    dup2(fileno(tmp), 2);
    int rc = gf_ckpt_open(dir, ck);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(s_log, 1, sizeof s_log - 1, tmp);
    s_log[n] = 0;
    fclose(tmp);
    fputs(s_log, stderr);
    return rc;
}

/* gf_config_parse of `text`, with its error lines captured in s_log. */
static int s_config(const char *text)
{
    struct gf_model_config c;
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    dup2(fileno(tmp), 2);
    int rc = gf_config_parse("c.json", text, &c);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(s_log, 1, sizeof s_log - 1, tmp);
    s_log[n] = 0;
    fclose(tmp);
    fputs(s_log, stderr);
    return rc;
}

static int s_lines(const char *needle)
{
    int n = 0;
    for (const char *p = s_log; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* Reads dir/model.safetensors, lets edit() change its header, writes it back (data unchanged). */
static void s_rewrite(const char *dir, void (*edit)(json_t *hdr))
{
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    uint8_t *buf = malloc(size);
    assert_int_equal(fread(buf, 1, size, f), (size_t)size);
    fclose(f);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | buf[i];
    json_t *h = json_loadb((char *)buf + 8, hl, 0, NULL);
    assert_non_null(h);
    edit(h);
    char *text = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
    uint64_t nl = strlen(text);
    f = fopen(path, "wb");
    for (int i = 0; i < 8; i++)
        fputc((int)(nl >> (8 * i)) & 0xff, f);
    fwrite(text, 1, nl, f);
    fwrite(buf + 8 + hl, 1, size - 8 - hl, f);
    fclose(f);
    free(text), free(buf);
    json_decref(h);
}

static void test_loads_single_and_sharded(void **state)
{
    static const char *const flags[] = {"", "--shards 3 --dtype f16", "--dtype bf16 --vq-ch 0"};
    for (int i = 0; i < 3; i++) {
        char *dir = mu_mkmodel(NULL, flags[i]);
        struct gf_ckpt *ck = NULL;
        assert_int_equal(s_open(dir, &ck), 0);
        assert_int_equal(ck->cfg.hidden, 64);
        assert_int_equal(ck->cfg.n_layers, 2);
        assert_int_equal(ck->w.layers[1].w_down.cols, 160);
        assert_int_equal(ck->n_shards, i == 1 ? 3 : 1);
        assert_int_equal(ck->w.lm_head.dtype, i == 0   ? GF_WTYPE_F32
                                              : i == 1 ? GF_WTYPE_F16
                                                       : GF_WTYPE_BF16);
        /* tensors generation does not use are reachable but not bound */
        assert_non_null(gf_ckpt_find(ck, "aligner.layers.0.weight"));
        assert_true((gf_ckpt_find(ck, "gen_vision_model.decoder.conv_out.weight") != NULL) ==
                    (i != 2));
        gf_ckpt_close(&ck);
        assert_null(ck);
        /* tokenizer.json carries the Janus and GoT-R1 added tokens, ids below the vocab */
        char path[512];
        snprintf(path, sizeof path, "%s/tokenizer.json", dir);
        json_t *tok = json_load_file(path, 0, NULL), *e;
        size_t k;
        int found = 0;
        json_array_foreach(json_object_get(tok, "added_tokens"), k, e)
        {
            const char *c = json_string_value(json_object_get(e, "content"));
            found += !strcmp(c, "<begin_of_image>") || !strcmp(c, "<|obj_end|>");
            assert_true(json_integer_value(json_object_get(e, "id")) < 512);
        }
        assert_int_equal(found, 2);
        json_decref(tok);
        mu_rmtree(dir);
    }
}

static void test_same_flags_same_bytes(void **state)
{
    char *a = mu_mkmodel(NULL, "--dtype bf16 --seed 9"),
         *b = mu_mkmodel(NULL, "--dtype bf16 --seed 9");
    char *c = mu_mkmodel(NULL, "--dtype bf16 --seed 10");
    char pa[512], pb[512], pc[512];
    snprintf(pa, sizeof pa, "%s/model.safetensors", a);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b);
    snprintf(pc, sizeof pc, "%s/model.safetensors", c);
    assert_true(mu_fnv64(pa) == mu_fnv64(pb));
    assert_true(mu_fnv64(pa) != mu_fnv64(pc));
    mu_rmtree(a), mu_rmtree(b), mu_rmtree(c);
}

/* The tensor list has the published sizes: MODEL.md §2.3, §3, §4.1 (decoder path 42,583,171). */
static void test_published_sizes(void **state)
{
    static const struct {
        const char *size;
        long long lm, head, aligner, vq;
    } want[] = {{"1b", 1652656128, 37767168, 4214784, 42583171},
                {"7b", 6910365696, 83906560, 16818176, 42583171}};
    for (int i = 0; i < 2; i++) {
        char cmd[256], name[64];
        const char *bin = getenv("GOTFLOW_BIN");
        snprintf(cmd, sizeof cmd, "%s/mkmodel --size %s --dry-run", bin ? bin : "build/bin",
                 want[i].size);
        FILE *p = popen(cmd, "r");
        long long v, got[4] = {0};
        while (fscanf(p, "%63s %lld", name, &v) == 2) {
            if (!strcmp(name, "language_model."))
                got[0] = v;
            if (!strcmp(name, "gen_head."))
                got[1] = v;
            if (!strcmp(name, "gen_aligner."))
                got[2] = v;
            if (!strcmp(name, "gen_vision_model."))
                got[3] = v;
        }
        assert_int_equal(pclose(p), 0);
        assert_true(got[0] == want[i].lm && got[1] == want[i].head);
        assert_true(got[2] == want[i].aligner && got[3] == want[i].vq);
    }
}

static void s_drop_norm(json_t *h)
{
    json_object_del(h, "language_model.model.norm.weight");
}

static void test_missing_tensor(void **state)
{
    char *dir = mu_mkmodel(NULL, NULL);
    s_rewrite(dir, s_drop_norm);
    struct gf_ckpt *ck = NULL;
    assert_int_equal(s_open(dir, &ck), GF_ESCHEMA);
    assert_null(ck);
    assert_int_equal(s_lines("missing tensor 'language_model.model.norm.weight'"), 1);
    mu_rmtree(dir);
}

static void s_transpose_head(json_t *h)
{
    json_t *shape = json_object_get(json_object_get(h, "language_model.lm_head.weight"), "shape");
    json_t *d0 = json_incref(json_array_get(shape, 0));
    json_array_remove(shape, 0);
    json_array_append_new(shape, d0);
}

static void test_wrong_shape(void **state)
{
    char *dir = mu_mkmodel(NULL, NULL);
    s_rewrite(dir, s_transpose_head);
    struct gf_ckpt *ck = NULL;
    assert_int_equal(s_open(dir, &ck), GF_ESCHEMA);
    assert_int_equal(s_lines("tensor 'language_model.lm_head.weight' has shape [64, 512], "
                             "expected [512, 64]"),
                     1);
    assert_int_equal(s_lines("error:"), 2); /* the problem and the count */
    mu_rmtree(dir);
}

static void test_truncated(void **state)
{
    char *dir = mu_mkmodel(NULL, NULL), path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    struct stat sb;
    stat(path, &sb);
    assert_int_equal(truncate(path, sb.st_size - 1000), 0);
    struct gf_ckpt *ck = NULL;
    assert_int_equal(s_open(dir, &ck), GF_ESCHEMA);
    assert_int_equal(s_lines("(truncated?)"), 1);
    assert_int_equal(truncate(path, 5), 0);
    assert_int_equal(s_open(dir, &ck), GF_EPARSE);
    assert_int_equal(s_lines("too short"), 1);
    mu_rmtree(dir);
}

static void s_overlap(json_t *h)
{
    json_t *a = json_object_get(h, "language_model.model.layers.0.self_attn.q_proj.weight");
    json_t *b = json_object_get(h, "language_model.model.layers.0.self_attn.k_proj.weight");
    json_object_set(a, "data_offsets", json_object_get(b, "data_offsets"));
}

static void s_past_end(json_t *h)
{
    json_t *a = json_object_get(h, "gen_embed.weight");
    json_array_set_new(json_object_get(a, "data_offsets"), 0, json_integer(1ll << 40));
    json_array_set_new(json_object_get(a, "data_offsets"), 1,
                       json_integer((1ll << 40) + 256 * 8 * 4));
}

static void s_wrong_size(json_t *h)
{
    json_t *a = json_object_get(h, "gen_embed.weight");
    json_array_set_new(json_object_get(a, "data_offsets"), 1, json_integer(3));
}

static void test_lying_offsets(void **state)
{
    struct {
        void (*edit)(json_t *);
        const char *line;
        int rc;
    } cases[] = {
        {s_overlap, "overlap in the data", GF_ESCHEMA},
        {s_past_end, "(truncated?)", GF_ESCHEMA},
        {s_wrong_size, "data_offsets must be 0 <= begin <= end", GF_ESCHEMA},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *dir = mu_mkmodel(NULL, NULL);
        s_rewrite(dir, cases[i].edit);
        struct gf_ckpt *ck = NULL;
        assert_int_equal(s_open(dir, &ck), cases[i].rc);
        assert_int_equal(s_lines(cases[i].line), 1);
        mu_rmtree(dir);
    }
    /* a header length larger than the file */
    char *dir = mu_mkmodel(NULL, NULL), path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int fd = open(path, O_WRONLY);
    uint8_t big[8] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    assert_int_equal(pwrite(fd, big, 8, 0), 8);
    close(fd);
    struct gf_ckpt *ck = NULL;
    assert_int_equal(s_open(dir, &ck), GF_EPARSE);
    assert_int_equal(s_lines("header length 4294967295 exceeds the file"), 1);
    mu_rmtree(dir);
}

/* Random byte flips in a real header: every outcome is a clean return, never a crash. */
static void test_header_mutations(void **state)
{
    char *dir = mu_mkmodel(NULL, "--vq-ch 0"), path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    size_t size = ftell(f);
    rewind(f);
    uint8_t *orig = malloc(size), *buf = malloc(size);
    assert_int_equal(fread(orig, 1, size, f), size);
    fclose(f);
    size_t hl = orig[0] | orig[1] << 8 | orig[2] << 16;
    uint64_t r = 12345;
    gf_log_init("test", GF_LOG_ERROR);
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    int ok = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, orig, size);
        for (int k = 0; k < 1 + it % 4; k++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (r >> 33) % (hl + 8);
            buf[at] = (uint8_t)(r >> 20);
        }
        struct gf_st *st = NULL;
        if (gf_st_parse("mutant", buf, size, &st) == 0) {
            ok++;
            for (int i = 0; i < st->n_tensors; i++) /* every view lies inside the buffer */
                assert_true((const uint8_t *)st->tensors[i].data + st->tensors[i].nbytes <=
                            buf + size);
        }
        gf_st_close(&st);
    }
    dup2(saved, 2);
    close(saved), close(null);
    assert_true(ok < 3000);
    free(orig), free(buf);
    mu_rmtree(dir);
}

static void test_config_problems(void **state)
{
    struct gf_model_config c;
    const char *bad = "{\"model_type\": \"multi_modality\", \"language_config\": "
                      "{\"hidden_size\": 64, \"num_attention_heads\": 6},"
                      "\"gen_head_config\": {\"params\": {\"n_embed\": 32, "
                      "\"image_token_embed\": 64, \"image_token_size\": 16}},"
                      "\"gen_aligner_config\": {\"params\": {\"input_dim\": 8, \"n_embed\": 64}},"
                      "\"gen_vision_config\": {\"params\": {\"image_token_size\": 16, "
                      "\"n_embed\": 8}}}";
    assert_int_equal(gf_config_parse("c.json", bad, &c), GF_ESCHEMA);
    assert_int_equal(gf_config_parse("c.json", "{", &c), GF_EPARSE);
    /* the 7B language_config lists only what differs from LlamaConfig's defaults */
    const char *b7 = "{\"model_type\": \"multi_modality\", \"language_config\": "
                     "{\"max_position_embeddings\": 16384, \"model_type\": \"llama\", "
                     "\"num_hidden_layers\": 30, \"torch_dtype\": \"bfloat16\", "
                     "\"vocab_size\": 102400},"
                     "\"gen_head_config\": {\"params\": {\"n_embed\": 4096, "
                     "\"image_token_embed\": 4096, \"image_token_size\": 16384}},"
                     "\"gen_aligner_config\": {\"params\": {\"depth\": 2, \"input_dim\": 8, "
                     "\"n_embed\": 4096, \"projector_type\": \"mlp_gelu\"}},"
                     "\"gen_vision_config\": {\"params\": {\"image_token_size\": 16384, "
                     "\"n_embed\": 8}}}";
    assert_int_equal(gf_config_parse("7b.json", b7, &c), 0);
    assert_int_equal(c.hidden, 4096);
    assert_int_equal(c.intermediate, 11008);
    assert_int_equal(c.n_heads, 32);
    assert_int_equal(c.n_kv_heads, 32);
    assert_int_equal(c.head_dim, 128);
    assert_int_equal(c.n_layers, 30);
    assert_true(c.rope_theta == 10000.0f && c.rms_eps == 1e-6f);
}

/* A bad value is named with its file and key, and is not then compared with other values. */
static void test_config_messages(void **state)
{
    char text[1024];
    const char *fmt = "{\"model_type\": \"multi_modality\", \"language_config\": "
                      "{\"hidden_size\": %s, \"num_hidden_layers\": %s},"
                      "\"gen_head_config\": {\"params\": {\"n_embed\": 256, "
                      "\"image_token_embed\": 256, \"image_token_size\": 16}},"
                      "\"gen_aligner_config\": {\"params\": {\"input_dim\": 8, \"n_embed\": 256}},"
                      "\"gen_vision_config\": {\"params\": {\"image_token_size\": 16, "
                      "\"n_embed\": 8}}}";
    snprintf(text, sizeof text, fmt, "\"256\"", "2");
    assert_int_equal(s_config(text), GF_ESCHEMA);
    assert_int_equal(
        s_lines("'c.json': language_config.hidden_size must be an integer, got the string "
                "\"256\""),
        1);
    assert_int_equal(s_lines("differs from hidden_size"), 0);
    assert_int_equal(s_lines("error:"), 1);

    snprintf(text, sizeof text, fmt, "256", "1e9");
    assert_int_equal(s_config(text), GF_ESCHEMA);
    assert_int_equal(s_lines("'c.json': language_config.num_hidden_layers is out of range: "
                             "1000000000 (1 .. 16777216)"),
                     1);
    assert_int_equal(s_lines("error:"), 1);
    snprintf(text, sizeof text, fmt, "256", "0");
    assert_int_equal(s_config(text), GF_ESCHEMA);
    assert_int_equal(s_lines("num_hidden_layers is out of range: 0 (1 .. 16777216)"), 1);
    snprintf(text, sizeof text, fmt, "256", "2");
    assert_int_equal(s_config(text), 0);
}

static void s_f8(json_t *h)
{
    json_object_set_new(json_object_get(h, "gen_embed.weight"), "dtype", json_string("F8_E4M3"));
}

/* A dtype this program does not read is what is reported, not the size it makes wrong. */
static void test_unsupported_dtype(void **state)
{
    char *dir = mu_mkmodel(NULL, NULL);
    s_rewrite(dir, s_f8);
    struct gf_ckpt *ck = NULL;
    assert_true(s_open(dir, &ck) < 0);
    assert_int_equal(s_lines("unsupported dtype 'F8_E4M3' for tensor 'gen_embed.weight'"), 1);
    assert_int_equal(s_lines("error:"), 1);
    mu_rmtree(dir);
}

/* Opening maps the weights: resident memory grows by far less than the file. */
static void test_open_maps_not_reads(void **state)
{
    char *dir = mu_mkmodel(NULL, "--hidden 512 --intermediate 1024 --vocab 8192 --heads 8 "
                                 "--layers 4 --image-vocab 1024 --vq-ch 0 --dtype bf16");
    long page = sysconf(_SC_PAGESIZE), before = 0, after = 0, dummy;
    FILE *f = fopen("/proc/self/statm", "r");
    assert_int_equal(fscanf(f, "%ld %ld", &dummy, &before), 2);
    fclose(f);
    struct gf_ckpt *ck = NULL;
    assert_int_equal(s_open(dir, &ck), 0);
    f = fopen("/proc/self/statm", "r");
    assert_int_equal(fscanf(f, "%ld %ld", &dummy, &after), 2);
    fclose(f);
    size_t bytes = gf_ckpt_bytes(ck), grown = (size_t)(after - before) * page;
    assert_true(bytes > 20u << 20);
    assert_true(grown < bytes / 20);
    gf_ckpt_close(&ck);
    mu_rmtree(dir);
}

int main(void)
{
    gf_log_init("test_checkpoint", GF_LOG_INFO);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loads_single_and_sharded),
        cmocka_unit_test(test_same_flags_same_bytes),
        cmocka_unit_test(test_published_sizes),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_wrong_shape),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_lying_offsets),
        cmocka_unit_test(test_header_mutations),
        cmocka_unit_test(test_config_problems),
        cmocka_unit_test(test_config_messages),
        cmocka_unit_test(test_unsupported_dtype),
        cmocka_unit_test(test_open_maps_not_reads),
    };
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
