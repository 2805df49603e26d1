/* test_params.c — request parameters over stage defaults, ranges, token id tensors, special ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "engine/params.h"

static const char s_graph[] = "name: p\n"
                              "stages:\n"
                              "  reason: {kind: test-reason, params: {temperature: 0.5, seed: 9,\n"
                              "           top_k: oops}}\n";

static const struct gf_param_spec s_temp = {
    "text_temperature", NULL, "temperature", 1.0, 0.0, 100.0, 0};
static const struct gf_param_spec s_par = {"parallel_size", "parallel", "parallel", 1, 1, 32, 1};
static const struct gf_param_spec s_top_k = {"top_k", NULL, "top_k", 0, 0, 100, 1};

/* A frame with the given params (packed by `fill`, which packs exactly n_params pairs). */
static gf_frame_t *s_frame(int n_params, void (*fill)(msgpack_packer *pk))
{
    gf_emit_t e;
    gf_emit_init(&e);
    gf_emit_begin_id(&e, "r", 0, "tokens");
    msgpack_packer *pk = gf_emit_key(&e, "params");
    msgpack_pack_map(pk, n_params);
    if (fill)
        fill(pk);
    int32_t ids[3] = {1, 2, 7};
    int64_t shape[1] = {3};
    gf_emit_tensor(&e, "prompt_ids", GF_DTYPE_I32, shape, 1, ids);
    pk = gf_emit_key(&e, "special");
    msgpack_pack_map(pk, 1);
    msgpack_pack_str_with_body(pk, "pad", 3);
    msgpack_pack_int(pk, 5);
    gf_emit_end(&e, "t", 0, 0);
    gf_frame_t *f = NULL;
    assert_int_equal(gf_frame_decode(gf_emit_data(&e), gf_emit_len(&e), 0, &f, NULL, 0, NULL), 0);
    gf_emit_release(&e);
    return f;
}

static void s_fill_request(msgpack_packer *pk)
{
    msgpack_pack_str_with_body(pk, "text_temperature", 16);
    msgpack_pack_double(pk, 0.0);
    msgpack_pack_str_with_body(pk, "parallel", 8);
    msgpack_pack_int(pk, 4);
    msgpack_pack_str_with_body(pk, "seed", 4);
    msgpack_pack_uint64(pk, 18446744073709551615ull);
}

static void s_fill_bad(msgpack_packer *pk)
{
    msgpack_pack_str_with_body(pk, "text_temperature", 16);
    msgpack_pack_str_with_body(pk, "hot", 3);
    msgpack_pack_str_with_body(pk, "parallel_size", 13);
    msgpack_pack_double(pk, 2.5);
}

static int s_any_kind(const char *kind, void *ctx)
{
    (void)kind, (void)ctx;
    return 1;
}

/* A test kind: a built-in kind's params are checked at load (test_graph), so the bad stage value
 * these tests need a stage to meet at run time comes from a kind without a table. */
static const struct gf_stage_def *s_stage(gf_graph_t **g)
{
    char err[512];
    assert_int_equal(
        gf_graph_parse(s_graph, strlen(s_graph), "p.yaml", s_any_kind, NULL, g, err, sizeof err),
        0);
    return &(*g)->stages[gf_graph_stage(*g, "reason")];
}

static void test_request_over_stage_over_default(void **state)
{
    gf_graph_t *g = NULL;
    const struct gf_stage_def *def = s_stage(&g);
    gf_frame_t *f = s_frame(3, s_fill_request), *bare = s_frame(0, NULL);
    double v;
    uint64_t seed;
    char why[256];
    assert_int_equal(gf_params_get(f, def, &s_temp, &v, why, sizeof why), 0);
    assert_true(v == 0.0); /* the request's 0 (greedy), not the stage's 0.5 */
    assert_int_equal(gf_params_get(bare, def, &s_temp, &v, why, sizeof why), 0);
    assert_true(v == 0.5);
    assert_int_equal(gf_params_get(f, def, &s_par, &v, why, sizeof why), 0); /* the alias */
    assert_true(v == 4);
    assert_int_equal(gf_params_get(bare, def, &s_par, &v, why, sizeof why), 0);
    assert_true(v == 1);
    assert_int_equal(gf_params_seed(f, def, 1000, &seed, why, sizeof why), 0);
    assert_true(seed == UINT64_MAX);
    assert_int_equal(gf_params_seed(bare, def, 1000, &seed, why, sizeof why), 0);
    assert_true(seed == 9);
    assert_int_equal(gf_params_get(bare, def, &s_top_k, &v, why, sizeof why), GF_EINVAL);
    assert_non_null(strstr(why, "'top_k' is not a number"));
    gf_frame_destroy(&f);
    gf_frame_destroy(&bare);
    gf_graph_destroy(&g);
}

static void test_bad_values_name_the_key(void **state)
{
    gf_graph_t *g = NULL;
    const struct gf_stage_def *def = s_stage(&g);
    gf_frame_t *f = s_frame(2, s_fill_bad);
    double v;
    char why[256];
    assert_int_equal(gf_params_get(f, def, &s_temp, &v, why, sizeof why), GF_ESCHEMA);
    assert_non_null(strstr(why, "'text_temperature' is not a number"));
    assert_int_equal(gf_params_get(f, def, &s_par, &v, why, sizeof why), GF_EINVAL);
    assert_non_null(strstr(why, "'parallel_size' = 2.5 is out of range (a whole number in 1..32)"));
    gf_frame_destroy(&f);
    gf_graph_destroy(&g);
}

static void test_ids_and_special(void **state)
{
    gf_frame_t *f = s_frame(0, NULL);
    int32_t *ids = NULL, pad = -1, boi = -1;
    int n = 0;
    char why[256];
    assert_int_equal(gf_params_ids(f, "prompt_ids", 8, &ids, &n, why, sizeof why), 0);
    assert_int_equal(n, 3);
    assert_int_equal(ids[2], 7);
    free(ids);
    assert_int_equal(gf_params_ids(f, "prompt_ids", 7, &ids, &n, why, sizeof why), GF_EINVAL);
    assert_null(ids);
    assert_non_null(strstr(why, "'prompt_ids'[2] = 7 is not a token id (0..6)"));
    assert_int_equal(gf_params_ids(f, "reasoning_ids", 8, &ids, &n, why, sizeof why), GF_ESCHEMA);
    assert_int_equal(gf_params_special(f, "pad", 8, &pad, why, sizeof why), 0);
    assert_int_equal(pad, 5);
    assert_int_equal(gf_params_special(f, "pad", 5, &pad, why, sizeof why), GF_ESCHEMA);
    assert_int_equal(gf_params_special(f, "begin_of_image", 8, &boi, why, sizeof why), GF_ESCHEMA);
    gf_frame_destroy(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_request_over_stage_over_default),
                                       cmocka_unit_test(test_bad_values_name_the_key),
                                       cmocka_unit_test(test_ids_and_special)};
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
