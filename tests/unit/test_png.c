/* test_png.c — pictures survive a PNG round trip pixel for pixel, through a file and through
 * memory; damaged or missing PNGs fail cleanly; floats become pixels as the reference does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "model/picture/image.h"
#include "model/picture/png.h"

static void s_random_image(struct gf_image *img, int w, int h, unsigned seed)
{
    assert_int_equal(gf_image_init(img, w, h), 0);
    srand(seed);
    for (size_t i = 0; i < (size_t)w * (size_t)h * 3; i++)
        img->rgb[i] = (uint8_t)rand();
}

static void s_assert_same_image(const struct gf_image *a, const struct gf_image *b)
{
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    assert_memory_equal(a->rgb, b->rgb, (size_t)a->width * (size_t)a->height * 3);
}

static void test_round_trip_memory(void **state)
{
    const int sizes[][2] = {{1, 1}, {7, 5}, {5, 7}, {384, 384}, {1, 300}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        struct gf_image img, back;
        s_random_image(&img, sizes[s][0], sizes[s][1], (unsigned)s + 1);
        uint8_t *png = NULL;
        size_t len = 0;
        assert_int_equal(gf_png_write_mem(&img, &png, &len), 0);
        assert_true(len > 8);
        assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
        assert_int_equal(gf_png_read_mem(png, len, "buffer", &back), 0);
        s_assert_same_image(&img, &back);
        free(png);
        gf_image_release(&img);
        gf_image_release(&back);
    }
}

static void test_round_trip_file(void **state)
{
    char path[] = "/tmp/gotflow-test-png-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct gf_image img, back;
    s_random_image(&img, 384, 384, 42);
    assert_int_equal(gf_png_write_file(path, &img), 0);
    assert_int_equal(gf_png_read_file(path, &back), 0);
    s_assert_same_image(&img, &back);
    /* the file and the memory encoding agree */
    uint8_t *png = NULL;
    size_t len = 0;
    assert_int_equal(gf_png_write_mem(&img, &png, &len), 0);
    FILE *f = fopen(path, "rb");
    uint8_t *disk = malloc(len + 1);
    assert_int_equal(fread(disk, 1, len + 1, f), len);
    fclose(f);
    assert_memory_equal(disk, png, len);
    free(disk);
    free(png);
    gf_image_release(&back);
    gf_image_release(&img);
    unlink(path);
}

static void test_bad_input(void **state)
{
    struct gf_image img = {0}, small;
    assert_int_equal(gf_png_read_file("/nonexistent/x.png", &img), GF_EIO);
    assert_null(img.rgb);
    assert_int_equal(gf_png_read_mem("not a png at all", 16, "junk", &img), GF_EPARSE);
    assert_null(img.rgb);
    /* every truncation of a real PNG fails cleanly */
    s_random_image(&small, 9, 4, 3);
    uint8_t *png = NULL;
    size_t len = 0;
    assert_int_equal(gf_png_write_mem(&small, &png, &len), 0);
    for (size_t k = 0; k < len - 12; k += 3) { /* the last 12 bytes are IEND */
        int rc = gf_png_read_mem(png, k, "truncated", &img);
        assert_true(rc == GF_EPARSE);
        assert_null(img.rgb);
    }
    /* a flipped byte inside the data fails (CRC) or decodes; it never crashes */
    for (size_t k = 8; k < len; k += 5) {
        png[k] ^= 0x5a;
        if (gf_png_read_mem(png, len, "flipped", &img) == 0)
            gf_image_release(&img);
        png[k] ^= 0x5a;
    }
    free(png);
    gf_image_release(&small);
    /* empty pictures and bad sizes are refused */
    struct gf_image empty = {0};
    assert_int_equal(gf_png_write_mem(&empty, &png, &len), GF_EINVAL);
    assert_int_equal(gf_image_init(&empty, 0, 5), GF_EINVAL);
    assert_int_equal(gf_image_init(&empty, GF_IMAGE_MAX_SIDE + 1, 5), GF_EINVAL);
    assert_int_equal(gf_png_write_file("/tmp/x.png", &small), GF_EINVAL); /* released */
    s_random_image(&small, 2, 2, 5);
    assert_int_equal(gf_png_write_file("/nonexistent/dir/x.png", &small), GF_EIO);
    gf_image_release(&small);
}

static void test_pixel_conversion(void **state)
{
    assert_int_equal(gf_image_pixel(-1.0f), 0);
    assert_int_equal(gf_image_pixel(1.0f), 255);
    assert_int_equal(gf_image_pixel(0.0f), 127); /* 127.5 truncated */
    assert_int_equal(gf_image_pixel(-3.0f), 0);
    assert_int_equal(gf_image_pixel(3.0f), 255);
    assert_int_equal(gf_image_pixel(INFINITY), 255);
    assert_int_equal(gf_image_pixel(-INFINITY), 0);
    assert_int_equal(gf_image_pixel(NAN), 0);
    assert_int_equal(gf_image_pixel(0.99f), 253);
    /* float32, not double: 1 + (1 - 2^-24) rounds to 2 in float32, so this is 255, not 254 */
    assert_int_equal(gf_image_pixel(nextafterf(1.0f, 0.0f)), 255);
    /* CHW planes to interleaved RGB */
    float chw[3 * 2 * 2] = {-1, 1, 0, -1, /* R */ 1, 1, -1, -1, /* G */ 0, 0, 0, 1 /* B */};
    uint8_t hwc[12];
    gf_image_pixels_chw(chw, 2, 2, hwc);
    const uint8_t want[12] = {0, 255, 127, 255, 255, 127, 127, 0, 127, 0, 0, 255};
    assert_memory_equal(hwc, want, 12);
    uint8_t flat[4];
    gf_image_pixels(chw, 4, flat);
    const uint8_t want_flat[4] = {0, 255, 127, 0};
    assert_memory_equal(flat, want_flat, 4);

    /* the blocked (vectorised) loops agree with the one-value function, NaN and infinities
     * included, for a plane set whose size is not a multiple of the block */
    enum { H = 23, W = 29, N = 3 * H * W };
    static float many[N];
    static uint8_t got[N], got_chw[N];
    srand(9);
    for (int i = 0; i < N; i++)
        many[i] = (float)rand() / (float)RAND_MAX * 2.4f - 1.2f;
    many[3] = NAN, many[300] = NAN, many[301] = INFINITY, many[700] = -INFINITY;
    gf_image_pixels(many, N, got);
    gf_image_pixels_chw(many, H, W, got_chw);
    for (int i = 0; i < N; i++)
        assert_int_equal(got[i], gf_image_pixel(many[i]));
    for (int p = 0; p < H * W; p++)
        for (int c = 0; c < 3; c++)
            assert_int_equal(got_chw[3 * p + c], got[c * H * W + p]);
    assert_int_equal(got[3], 0);
    assert_int_equal(got[300], 0);
    assert_int_equal(got[301], 255);
    assert_int_equal(got[700], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_memory),
        cmocka_unit_test(test_round_trip_file),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_pixel_conversion),
    };
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
