/* test_quant.c — the q8_0 / q4_0 quantizers byte for byte against llama.cpp's own gguf-py
 * (goldens by tests/oracle/gen_quant.py), and the dequantized values against gguf-py's
 * layout: the blocks of each golden placed as a matrix row (gf_qmat) and read back through
 * gf_mat_get. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu.h"
#include "kernels/ops.h"

#define QUANT_GOLDEN_DIR "tests/oracle/goldens/quant"

static void *s_read(const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", QUANT_GOLDEN_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open '%s' (make oracle writes it)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(n);
    assert_int_equal(fread(p, 1, n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void s_check(enum gf_wtype dt, const char *golden)
{
    size_t nx, nq;
    float *x = s_read("input.f32", &nx);
    uint8_t *want = s_read(golden, &nq);
    int64_t n = (int64_t)(nx / 4);
    assert_int_equal(nq, gf_wtype_bytes(dt, n));
    uint8_t *got = malloc(nq);
    gf_quantize(dt, got, x, n);
    size_t bsize = gf_wtype_bytes(dt, GF_QK);
    for (size_t i = 0; i < nq; i++)
        if (got[i] != want[i])
            fail_msg("%s: block %zu byte %zu is %02x, gguf-py wrote %02x", golden, i / bsize,
                     i % bsize, got[i], want[i]);
    /* the reference backend's element reads, through the matrix layout (gf_qmat), agree with
     * the dequantizer on these bytes */
    float *y = malloc(n * 4);
    gf_dequantize(dt, y, want, n);
    void *mat = calloc(1, gf_qmat_bytes(dt, 1, n));
    gf_qmat_set_row(dt, mat, n, 0, want);
    struct gf_mat m = {dt, 1, n, mat};
    for (int64_t i = 0; i < n; i++)
        assert_true(gf_mat_get(&m, i) == y[i]);
    free(x), free(want), free(got), free(y), free(mat);
}

static void test_q8_0(void **state)
{
    s_check(GF_WTYPE_Q8_0, "q8_0.bin");
}

static void test_q4_0(void **state)
{
    s_check(GF_WTYPE_Q4_0, "q4_0.bin");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q8_0),
        cmocka_unit_test(test_q4_0),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
