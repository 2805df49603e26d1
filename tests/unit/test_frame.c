/* test_frame.c — the frame codec: round trips, carrying, tensors, and every limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "engine/frame.h"

/* Packs a map of `n` string keys to values given as already-packed callbacks: kept simple by
 * building frames with msgpack directly. */
static size_t s_pack_header(msgpack_sbuffer *sb, const char *id, const char *kind, int extra)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3 + (size_t)extra);
    msgpack_pack_str_with_body(&pk, "v", 1);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_str_with_body(&pk, "id", 2);
    msgpack_pack_str_with_body(&pk, id, strlen(id));
    msgpack_pack_str_with_body(&pk, "kind", 4);
    msgpack_pack_str_with_body(&pk, kind, strlen(kind));
    return sb->size;
}

static void test_roundtrip_and_carry(void **state)
{
    gf_emit_t e;
    gf_emit_init(&e);
    gf_emit_begin_id(&e, "req-1", 2, "prompt");
    gf_emit_str(&e, "text", "a red circle");
    gf_emit_int(&e, "seed", -42);
    gf_emit_end(&e, "gateway", 0, 100);

    gf_frame_t *f = NULL;
    char why[128], id[GF_FRAME_ID_MAX];
    assert_int_equal(gf_frame_decode(gf_emit_data(&e), gf_emit_len(&e), 0, &f, why, sizeof why, id),
                     0);
    assert_string_equal(f->id, "req-1");
    assert_int_equal(f->n, 2);
    assert_string_equal(f->kind, "prompt");
    const char *s;
    size_t len;
    int64_t v;
    assert_int_equal(gf_frame_get_str(f, "text", &s, &len), 0);
    assert_int_equal(len, 12);
    assert_memory_equal(s, "a red circle", 12);
    assert_int_equal(gf_frame_get_int(f, "seed", &v), 0);
    assert_int_equal(v, -42);
    assert_int_equal(gf_frame_get_int(f, "missing", &v), GF_ENOTFOUND);
    assert_int_equal(gf_frame_get_int(f, "text", &v), GF_ESCHEMA);
    assert_non_null(f->trace);
    assert_int_equal(f->trace->via.array.size, 1);

    /* next stage: overrides text, carries seed, appends its trace entry */
    gf_emit_t e2;
    gf_emit_init(&e2);
    gf_emit_begin(&e2, f, "tokens");
    gf_emit_str(&e2, "text", "changed");
    gf_emit_carry(&e2, f);
    gf_emit_end(&e2, "tokenize", 3, 200);
    gf_frame_t *g = NULL;
    assert_int_equal(
        gf_frame_decode(gf_emit_data(&e2), gf_emit_len(&e2), 0, &g, why, sizeof why, id), 0);
    assert_string_equal(g->kind, "tokens");
    assert_string_equal(g->id, "req-1");
    assert_int_equal(g->n, 2);
    assert_int_equal(gf_frame_get_str(g, "text", &s, &len), 0);
    assert_memory_equal(s, "changed", 7);
    assert_int_equal(gf_frame_get_int(g, "seed", &v), 0);
    assert_int_equal(v, -42);
    assert_int_equal(g->trace->via.array.size, 2);
    const msgpack_object *last = &g->trace->via.array.ptr[1];
    assert_int_equal(last->via.array.size, 4);
    assert_int_equal(gf_obj_int(&last->via.array.ptr[1], &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(g->root->via.map.size, 7); /* v id n kind text seed trace */
    gf_frame_destroy(&f);
    gf_frame_destroy(&g);
    assert_null(g);
    gf_frame_destroy(&g); /* NULL is fine */
    gf_emit_release(&e);
    gf_emit_release(&e2);
}

static void test_tensor(void **state)
{
    int32_t ids[6] = {1, 2, 3, 100000, -1, 7};
    int64_t shape[2] = {2, 3};
    gf_emit_t e;
    gf_emit_init(&e);
    gf_emit_begin_id(&e, "t", 0, "tokens");
    gf_emit_tensor(&e, "prompt_ids", GF_DTYPE_I32, shape, 2, ids);
    gf_emit_end(&e, "tokenize", 0, 0);
    gf_frame_t *f = NULL;
    char why[128];
    assert_int_equal(
        gf_frame_decode(gf_emit_data(&e), gf_emit_len(&e), 0, &f, why, sizeof why, NULL), 0);
    struct gf_tensor_view t;
    assert_int_equal(gf_frame_get_tensor(f, "prompt_ids", &t, why, sizeof why), 0);
    assert_int_equal(t.dtype, GF_DTYPE_I32);
    assert_int_equal(t.ndim, 2);
    assert_int_equal(t.shape[1], 3);
    assert_int_equal(t.numel, 6);
    assert_memory_equal(t.data, ids, sizeof ids);
    gf_frame_destroy(&f);

    /* a tensor whose data does not match its shape is refused */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    s_pack_header(&sb, "t", "tokens", 1);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_str_with_body(&pk, "x", 1);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str_with_body(&pk, "dtype", 5);
    msgpack_pack_str_with_body(&pk, "i32", 3);
    msgpack_pack_str_with_body(&pk, "shape", 5);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_int(&pk, 5);
    msgpack_pack_str_with_body(&pk, "data", 4);
    msgpack_pack_bin_with_body(&pk, ids, 16);
    assert_int_equal(gf_frame_decode(sb.data, sb.size, 0, &f, why, sizeof why, NULL), 0);
    assert_int_equal(gf_frame_get_tensor(f, "x", &t, why, sizeof why), GF_ESCHEMA);
    assert_non_null(strstr(why, "16 bytes"));
    gf_frame_destroy(&f);
    msgpack_sbuffer_destroy(&sb);
    gf_emit_release(&e);
}

static void test_schema_errors_keep_id(void **state)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    gf_frame_t *f = NULL;
    char why[128], id[GF_FRAME_ID_MAX];

    /* newer version: schema error, id still reported */
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str_with_body(&pk, "v", 1);
    msgpack_pack_int(&pk, 99);
    msgpack_pack_str_with_body(&pk, "id", 2);
    msgpack_pack_str_with_body(&pk, "abc", 3);
    msgpack_pack_str_with_body(&pk, "kind", 4);
    msgpack_pack_str_with_body(&pk, "prompt", 6);
    assert_int_equal(gf_frame_decode(sb.data, sb.size, 0, &f, why, sizeof why, id), GF_ESCHEMA);
    assert_null(f);
    assert_string_equal(id, "abc");
    assert_non_null(strstr(why, "newer"));
    msgpack_sbuffer_destroy(&sb);

    /* missing kind */
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "v", 1);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_str_with_body(&pk, "id", 2);
    msgpack_pack_str_with_body(&pk, "r2", 2);
    assert_int_equal(gf_frame_decode(sb.data, sb.size, 0, &f, why, sizeof why, id), GF_ESCHEMA);
    assert_string_equal(id, "r2");
    assert_non_null(strstr(why, "kind"));
    msgpack_sbuffer_destroy(&sb);

    /* an id with a slash is not an id */
    msgpack_sbuffer_init(&sb);
    s_pack_header(&sb, "../x", "prompt", 0);
    assert_int_equal(gf_frame_decode(sb.data, sb.size, 0, &f, why, sizeof why, id), GF_ESCHEMA);
    assert_string_equal(id, "");
    msgpack_sbuffer_destroy(&sb);

    /* not a map */
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 0);
    assert_int_equal(gf_frame_decode(sb.data, sb.size, 0, &f, why, sizeof why, id), GF_ESCHEMA);
    msgpack_sbuffer_destroy(&sb);
}

static void test_limits(void **state)
{
    gf_frame_t *f = NULL;
    char why[128], id[GF_FRAME_ID_MAX];

    /* an array32 header claiming 4 billion items in 5 bytes */
    const uint8_t bomb[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(gf_frame_decode(bomb, sizeof bomb, 0, &f, why, sizeof why, id), GF_EPARSE);
    assert_non_null(strstr(why, "declares"));

    /* nesting deeper than the limit */
    uint8_t deep[64];
    memset(deep, 0x91, sizeof deep); /* fixarray of 1, 64 times */
    deep[63] = 0xc0;
    assert_int_equal(gf_frame_decode(deep, sizeof deep, 0, &f, why, sizeof why, id), GF_ETOOBIG);
    assert_non_null(strstr(why, "deeper"));

    /* over the byte limit, but its id still found for the error answer */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    s_pack_header(&sb, "big-1", "prompt", 1);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_str_with_body(&pk, "blob", 4);
    char *blob = calloc(1, 5000);
    msgpack_pack_bin_with_body(&pk, blob, 5000);
    free(blob);
    assert_int_equal(gf_frame_decode(sb.data, sb.size, 4096, &f, why, sizeof why, id), GF_ETOOBIG);
    assert_string_equal(id, "big-1");
    assert_int_equal(gf_frame_decode(sb.data, sb.size, 8192, &f, why, sizeof why, id), 0);
    gf_frame_destroy(&f);

    /* trailing bytes and truncation */
    msgpack_sbuffer_write(&sb, "\xc0", 1);
    assert_int_equal(gf_frame_decode(sb.data, sb.size, 0, &f, why, sizeof why, id), GF_EPARSE);
    assert_non_null(strstr(why, "trailing"));
    assert_int_equal(gf_frame_decode(sb.data, sb.size - 100, 0, &f, why, sizeof why, id),
                     GF_EPARSE);
    msgpack_sbuffer_destroy(&sb);

    /* random bytes never crash and never decode into something without an id */
    srand(7);
    uint8_t buf[256];
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)(rand() % (int)sizeof buf);
        for (size_t j = 0; j < n; j++)
            buf[j] = (uint8_t)rand();
        if (i % 3 == 0 && n)
            buf[0] = 0x83; /* make maps likely */
        if (gf_frame_decode(buf, n, 0, &f, why, sizeof why, id) == 0) {
            assert_true(f->id[0] != 0);
            gf_frame_destroy(&f);
        }
    }
}

static void test_error_frame(void **state)
{
    gf_emit_t e;
    gf_emit_init(&e);
    gf_emit_error(&e, "r9", 1, NULL, "reason", 2, "ESCHEMA", "bad 'text'");
    gf_frame_t *f = NULL;
    assert_int_equal(gf_frame_decode(gf_emit_data(&e), gf_emit_len(&e), 0, &f, NULL, 0, NULL), 0);
    assert_string_equal(f->kind, "error");
    const char *s;
    size_t len;
    assert_int_equal(gf_frame_get_str(f, "code", &s, &len), 0);
    assert_memory_equal(s, "ESCHEMA", len);
    assert_int_equal(gf_frame_get_str(f, "stage", &s, &len), 0);
    assert_memory_equal(s, "reason", len);
    gf_frame_destroy(&f);
    gf_emit_release(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_carry), cmocka_unit_test(test_tensor),
        cmocka_unit_test(test_schema_errors_keep_id), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_error_frame)};
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
