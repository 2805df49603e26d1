/* test_pixels.c — the float-to-pixel conversion matches NumPy's reference post-processing
 * bit for bit (golden from tests/oracle/gen_pixels.py), value by value and for a CHW image. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/picture/image.h"

static uint8_t *s_bytes;
static size_t s_len, s_at;

static const void *s_take(size_t n)
{
    assert_true(s_at + n <= s_len);
    const void *p = s_bytes + s_at;
    s_at += n;
    return p;
}

static uint32_t s_u32(void)
{
    const uint8_t *p = s_take(4);
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* n little-endian float32 values (this machine is little-endian; checked below). */
static float *s_floats(size_t n)
{
    float *f = malloc(n * sizeof *f);
    assert_non_null(f);
    memcpy(f, s_take(n * 4), n * 4);
    return f;
}

static void test_golden(void **state)
{
    const uint16_t one = 1;
    assert_int_equal(*(const uint8_t *)&one, 1);
    FILE *fp = fopen("tests/oracle/goldens/pixels.bin", "rb");
    assert_non_null(fp);
    s_bytes = malloc(1 << 20);
    s_len = fread(s_bytes, 1, 1 << 20, fp);
    fclose(fp);
    s_at = 0;
    assert_memory_equal(s_take(4), "GFPX", 4);

    size_t n = s_u32();
    float *vals = s_floats(n);
    const uint8_t *want = s_take(n);
    uint8_t *got = malloc(n);
    gf_image_pixels(vals, n, got);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i] && bad++ < 10)
            print_error("value %zu: %.9g -> %u, numpy %u\n", i, (double)vals[i], got[i], want[i]);
    assert_int_equal(bad, 0);
    assert_true(n > 9000);

    size_t h = s_u32(), w = s_u32();
    float *chw = s_floats(3 * h * w);
    const uint8_t *want_hwc = s_take(3 * h * w);
    uint8_t *hwc = malloc(3 * h * w);
    gf_image_pixels_chw(chw, (int)h, (int)w, hwc);
    assert_memory_equal(hwc, want_hwc, 3 * h * w);
    assert_int_equal(s_at, s_len);

    free(hwc);
    free(chw);
    free(got);
    free(vals);
    free(s_bytes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_golden)};
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
