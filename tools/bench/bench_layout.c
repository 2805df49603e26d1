/* bench_layout.c — how long the layout and picture steps take: parsing a chain (whole and one
 * byte at a time, as text_delta pieces arrive), the float-to-pixel conversion of one 384x384
 * image, PNG encoding, and drawing the layout. Run from the repository root (`make bench`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/picture/image.h"
#include "model/picture/layout.h"
#include "model/picture/png.h"
#include "model/picture/render.h"

#include "bench.h"

int main(void)
{
    FILE *f = fopen("tests/data/reasoning-1B.txt", "rb");
    if (!f) {
        fprintf(stderr, "bench_layout: cannot open 'tests/data/reasoning-1B.txt': run from the "
                        "repository root\n");
        return 1;
    }
    char text[4096];
    size_t len = fread(text, 1, sizeof text, f);
    fclose(f);

    int reps = 20000;
    double t0 = gf_bench_now();
    for (int r = 0; r < reps; r++) {
        gf_layout_t *l = NULL;
        if (gf_layout_parse(text, len, &l))
            return 1;
        gf_layout_destroy(&l);
    }
    double whole = (gf_bench_now() - t0) / reps;
    t0 = gf_bench_now();
    for (int r = 0; r < reps / 10; r++) {
        gf_layout_t *l = gf_layout_new();
        for (size_t i = 0; i < len; i++)
            gf_layout_feed(l, text + i, 1);
        gf_layout_finish(l);
        gf_layout_destroy(&l);
    }
    double bytewise = (gf_bench_now() - t0) / (reps / 10);
    printf("layout parse, 1B chain (%zu bytes): %.2f us whole (%.0f MB/s), %.2f us one byte at a "
           "time\n",
           len, whole * 1e6, (double)len / whole / 1e6, bytewise * 1e6);

    const int side = 384;
    size_t n = (size_t)side * side * 3;
    float *dec = malloc(n * sizeof *dec);
    struct gf_image img;
    if (!dec || gf_image_init(&img, side, side))
        return 1;
    srand(1);
    for (size_t i = 0; i < n; i++)
        dec[i] = (float)rand() / RAND_MAX * 2.2f - 1.1f;
    reps = 200;
    t0 = gf_bench_now();
    for (int r = 0; r < reps; r++)
        gf_image_pixels_chw(dec, side, side, img.rgb);
    double conv = (gf_bench_now() - t0) / reps;
    printf("pixels, 384x384 CHW float -> HWC uint8: %.3f ms (%.0f Mvalues/s)\n", conv * 1e3,
           (double)n / conv / 1e6);

    uint8_t *png = NULL;
    size_t png_len = 0;
    reps = 50;
    t0 = gf_bench_now();
    for (int r = 0; r < reps; r++) {
        free(png);
        if (gf_png_write_mem(&img, &png, &png_len))
            return 1;
    }
    double enc = (gf_bench_now() - t0) / reps;
    printf("png encode, 384x384 noise-like image: %.2f ms, %zu bytes\n", enc * 1e3, png_len);

    gf_layout_t *l = NULL;
    gf_layout_parse(text, len, &l);
    struct gf_image canvas;
    reps = 500;
    t0 = gf_bench_now();
    for (int r = 0; r < reps; r++) {
        if (gf_render_canvas(&canvas, side, side, gf_layout_objects(l), gf_layout_n_objects(l)))
            return 1;
        if (r + 1 < reps)
            gf_image_release(&canvas);
    }
    double draw = (gf_bench_now() - t0) / reps;
    free(png);
    png = NULL;
    t0 = gf_bench_now();
    for (int r = 0; r < reps / 10; r++) {
        free(png);
        png = NULL;
        if (gf_png_write_mem(&canvas, &png, &png_len))
            return 1;
    }
    double enc_canvas = (gf_bench_now() - t0) / (reps / 10);
    printf("layout canvas 384x384, 5 objects: draw %.3f ms, png encode %.2f ms (%zu bytes)\n",
           draw * 1e3, enc_canvas * 1e3, png_len);
    free(png);
    gf_image_release(&canvas);
    gf_layout_destroy(&l);
    gf_image_release(&img);
    free(dec);
    return 0;
}
