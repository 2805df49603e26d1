/* test_render.c — the layout picture of the real 1B chain, read back from its PNG, has each box
 * outline in the object's colour exactly at the scaled edge coordinates and background inside;
 * the overlay leaves the picture alone away from the boxes; labels use the embedded font. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/picture/font.h"
#include "model/picture/layout.h"
#include "model/picture/png.h"
#include "model/picture/render.h"

static gf_layout_t *s_chain_1b(void)
{
    FILE *f = fopen("tests/data/reasoning-1B.txt", "rb");
    assert_non_null(f);
    char buf[4096];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    gf_layout_t *l = NULL;
    assert_int_equal(gf_layout_parse(buf, len, &l), 0);
    assert_int_equal(gf_layout_n_objects(l), 5);
    return l;
}

static const uint8_t *s_px(const struct gf_image *img, int x, int y)
{
    return img->rgb + 3 * ((size_t)y * (size_t)img->width + (size_t)x);
}

static int s_in(struct gf_render_rect r, int x, int y)
{
    return x >= r.x0 && x <= r.x1 && y >= r.y0 && y <= r.y1;
}

/* On the outline band of width t inside r. */
static int s_on_band(struct gf_render_rect r, int t, int x, int y)
{
    return s_in(r, x, y) && (x < r.x0 + t || x > r.x1 - t || y < r.y0 + t || y > r.y1 - t);
}

/* Covered by a label, or by the outline of an object in [from, n). */
static int s_covered(const struct gf_layout_object *o, size_t n, size_t from, int w, int h, int x,
                     int y)
{
    int t = gf_render_thickness(w, h);
    struct gf_render_rect labels[16];
    assert_true(n <= 16);
    gf_render_label_rects(o, n, w, h, labels);
    for (size_t j = 0; j < n; j++) {
        if (s_in(labels[j], x, y))
            return 1;
        if (j >= from && s_on_band(gf_render_box_rect(&o[j], w, h), t, x, y))
            return 1;
    }
    return 0;
}

static void test_layout_png_1b(void **state)
{
    gf_layout_t *l = s_chain_1b();
    const struct gf_layout_object *o = gf_layout_objects(l);
    size_t n = gf_layout_n_objects(l);
    struct gf_image canvas, img;
    assert_int_equal(gf_render_canvas(&canvas, 384, 384, o, n), 0);
    char path[] = "/tmp/gotflow-test-render-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    assert_int_equal(gf_png_write_file(path, &canvas), 0);
    assert_int_equal(gf_png_read_file(path, &img), 0);
    unlink(path);
    assert_int_equal(img.width, 384);
    assert_int_equal(img.height, 384);

    /* the scaled edges, worked out by hand: (36,66),(907,694) -> 13.8, 25.3, 348.3, 266.5 */
    struct gf_render_rect r0 = gf_render_box_rect(&o[0], 384, 384);
    assert_int_equal(r0.x0, 13);
    assert_int_equal(r0.y0, 25);
    assert_int_equal(r0.x1, 348);
    assert_int_equal(r0.y1, 266);
    int t = gf_render_thickness(384, 384);
    assert_int_equal(t, 2);

    const uint8_t white[3] = {255, 255, 255};
    for (size_t i = 0; i < n; i++) {
        uint8_t rgb[3];
        gf_render_colour(i, rgb);
        struct gf_render_rect r = gf_render_box_rect(&o[i], 384, 384);
        int edge_hits = 0, inside_hits = 0;
        for (int k = 1; k < 16; k++) {
            int x = r.x0 + (r.x1 - r.x0) * k / 16, y = r.y0 + (r.y1 - r.y0) * k / 16;
            /* the outline: t pixels from each scaled edge, inwards */
            const int pts[][2] = {{x, r.y0}, {x, r.y0 + t - 1}, {x, r.y1}, {x, r.y1 - t + 1},
                                  {r.x0, y}, {r.x0 + t - 1, y}, {r.x1, y}, {r.x1 - t + 1, y}};
            for (size_t p = 0; p < sizeof pts / sizeof pts[0]; p++) {
                if (s_covered(o, n, i + 1, 384, 384, pts[p][0], pts[p][1]))
                    continue;
                assert_memory_equal(s_px(&img, pts[p][0], pts[p][1]), rgb, 3);
                edge_hits++;
            }
            /* just inside the outline: background, unless another box or a label is there */
            const int in[][2] = {{x, r.y0 + t}, {x, r.y1 - t}, {r.x0 + t, y}, {r.x1 - t, y}};
            for (size_t p = 0; p < sizeof in / sizeof in[0]; p++) {
                if (s_covered(o, n, 0, 384, 384, in[p][0], in[p][1]))
                    continue;
                assert_memory_equal(s_px(&img, in[p][0], in[p][1]), white, 3);
                inside_hits++;
            }
        }
        print_message("object %zu '%s': %d edge pixels, %d inside pixels checked\n", i, o[i].phrase,
                      edge_hits, inside_hits);
        assert_true(edge_hits >= 30);
        assert_true(inside_hits >= 10);
    }
    /* the label of the first object: box colour behind, text pixels inside it */
    struct gf_render_rect labels[5];
    gf_render_label_rects(o, n, 384, 384, labels);
    struct gf_render_rect lr = labels[0];
    assert_int_equal(lr.x0, 13);
    assert_int_equal(lr.y0, 25);
    assert_int_equal(lr.x1 - lr.x0 + 1, 1 + 25 * GF_FONT_CELL_W); /* 25 characters */
    assert_int_equal(lr.y1 - lr.y0 + 1, 1 + GF_FONT_CELL_H);
    uint8_t c0[3];
    gf_render_colour(0, c0);
    int ink = 0;
    for (int y = lr.y0; y <= lr.y1; y++)
        for (int x = lr.x0; x <= lr.x1; x++)
            ink += memcmp(s_px(&img, x, y), c0, 3) != 0;
    assert_true(ink > 25 * 5); /* some ink for every character */
    gf_image_release(&img);
    gf_image_release(&canvas);
    gf_layout_destroy(&l);
}

static void test_overlay(void **state)
{
    gf_layout_t *l = s_chain_1b();
    const struct gf_layout_object *o = gf_layout_objects(l);
    size_t n = gf_layout_n_objects(l);
    struct gf_image img, orig;
    assert_int_equal(gf_image_init(&img, 384, 384), 0);
    assert_int_equal(gf_image_init(&orig, 384, 384), 0);
    srand(5);
    for (size_t i = 0; i < 384 * 384 * 3; i++)
        orig.rgb[i] = img.rgb[i] = (uint8_t)rand();
    assert_int_equal(gf_render_layout(&img, o, n), 0);
    int t = gf_render_thickness(384, 384);
    struct gf_render_rect labels[5];
    gf_render_label_rects(o, n, 384, 384, labels);
    size_t same = 0, changed = 0;
    for (int y = 0; y < 384; y++)
        for (int x = 0; x < 384; x++) {
            int drawn = 0;
            for (size_t j = 0; j < n; j++)
                drawn |= s_on_band(gf_render_box_rect(&o[j], 384, 384), t, x, y) ||
                         s_in(labels[j], x, y);
            int differs = memcmp(s_px(&img, x, y), s_px(&orig, x, y), 3) != 0;
            if (!drawn) {
                assert_false(differs);
                same++;
            } else {
                changed += differs;
            }
        }
    assert_true(same > 384 * 300);
    assert_true(changed > 1000);
    gf_image_release(&img);
    gf_image_release(&orig);
    gf_layout_destroy(&l);
}

/* Labels of boxes that share a corner stack instead of covering each other; a label with no
 * room below stays at its corner. */
static void test_label_stacking(void **state)
{
    struct gf_layout_object objs[4] = {
        {.phrase = "painting", .box = {0, 60, 997, 983}},
        {.phrase = "bouquet of red tulips", .box = {0, 60, 698, 780}},
        {.phrase = "vase", .box = {0, 60, 500, 900}},
        {.phrase = "flat", .box = {0, 60, 300, 80}}, /* 8 pixels high: no room */
    };
    struct gf_render_rect r[4];
    gf_render_label_rects(objs, 4, 384, 384, r);
    int step = GF_FONT_CELL_H + 1;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].x0, 0);
        assert_int_equal(r[i].y0, 23 + i * step); /* 60 * 384 / 1000 = 23.04 */
        for (int j = 0; j < i; j++)
            assert_false(r[i].x0 <= r[j].x1 && r[j].x0 <= r[i].x1 && r[i].y0 <= r[j].y1 &&
                         r[j].y0 <= r[i].y1);
    }
    assert_int_equal(r[3].y0, 23);
}

static void test_colours(void **state)
{
    uint8_t c[64][3];
    for (size_t i = 0; i < 64; i++) {
        gf_render_colour(i, c[i]);
        int lo = c[i][0] < c[i][1] ? c[i][0] : c[i][1];
        lo = lo < c[i][2] ? lo : c[i][2];
        assert_true(lo < 60); /* saturated: never white, never grey */
        for (size_t j = 0; j < i; j++)
            assert_memory_not_equal(c[i], c[j], 3);
    }
    /* the first five (one chain) differ clearly */
    for (size_t i = 0; i < 5; i++)
        for (size_t j = 0; j < i; j++) {
            int d = abs(c[i][0] - c[j][0]) + abs(c[i][1] - c[j][1]) + abs(c[i][2] - c[j][2]);
            assert_true(d > 120);
        }
}

static void test_text(void **state)
{
    struct gf_image img;
    const uint8_t black[3] = {0, 0, 0}, white[3] = {255, 255, 255};
    assert_int_equal(gf_render_canvas(&img, 40, 20, NULL, 0), 0);
    assert_int_equal(gf_render_text(&img, 2, 3, "A", 1, black), GF_FONT_CELL_W);
    const char(*a)[GF_FONT_W + 1] = gf_font_glyph('A');
    for (int y = 0; y < GF_FONT_H; y++)
        for (int x = 0; x < GF_FONT_W; x++)
            assert_memory_equal(s_px(&img, 2 + x, 3 + y), a[y][x] == '#' ? black : white, 3);
    /* one box glyph per non-ASCII character, whatever its UTF-8 length */
    assert_int_equal(gf_render_text(&img, 10, 3, "\xc3\xa9\xe2\x98\x82", 1, black),
                     2 * GF_FONT_CELL_W);
    assert_memory_equal(s_px(&img, 10, 3), black, 3);         /* corner */
    assert_memory_equal(s_px(&img, 14, 9), black, 3);         /* opposite corner */
    assert_memory_equal(s_px(&img, 12, 6), white, 3);         /* hollow */
    assert_memory_equal(s_px(&img, 16 + 4, 3 + 6), black, 3); /* second box */
    /* scale 2, clipped at the border without harm */
    assert_int_equal(gf_render_text(&img, 35, 15, "WW", 2, black), 2 * 2 * GF_FONT_CELL_W);
    gf_image_release(&img);
    uint32_t cp;
    assert_int_equal(gf_font_next("\xff", 1, &cp), 1);
    assert_int_equal(cp, 0xfffd);
    assert_int_equal(gf_font_next("\xe2\x98", 2, &cp), 1); /* cut short */
    assert_int_equal(gf_font_next("\xf0\x9f\x98\x80", 4, &cp), 4);
    assert_int_equal(cp, 0x1f600);
}

static void test_edge_cases(void **state)
{
    struct gf_layout_object objs[3] = {
        {.phrase = "dot", .box = {0, 0, 0, 0}},
        {.phrase = "all", .box = {0, 0, 1000, 1000}},
        {.phrase = "long label \xe2\x98\x82 that runs off the picture",
         .box = {990, 990, 1000, 1000}},
    };
    const int sizes[][2] = {{1, 1}, {3, 7}, {384, 384}, {1024, 512}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        struct gf_image img;
        int w = sizes[s][0], h = sizes[s][1];
        assert_int_equal(gf_render_canvas(&img, w, h, objs, 3), 0);
        struct gf_render_rect r = gf_render_box_rect(&objs[1], w, h);
        assert_int_equal(r.x0, 0);
        assert_int_equal(r.y0, 0);
        assert_int_equal(r.x1, w - 1);
        assert_int_equal(r.y1, h - 1);
        gf_image_release(&img);
    }
    assert_int_equal(gf_render_thickness(1024, 512), 2);
    assert_int_equal(gf_render_text_scale(1024, 768), 2);
    struct gf_image img;
    assert_int_equal(gf_render_canvas(&img, 0, 10, objs, 3), -1 /* GF_EINVAL */);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_png_1b),  cmocka_unit_test(test_overlay),
        cmocka_unit_test(test_label_stacking), cmocka_unit_test(test_colours),
        cmocka_unit_test(test_text),           cmocka_unit_test(test_edge_cases),
    };
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
