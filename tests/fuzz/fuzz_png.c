/* fuzz_png.c — libFuzzer target for PNG reading (the `--image` of `gotflow layout`).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon \
 *       $(pkg-config --cflags libpng) tests/fuzz/fuzz_png.c common/model/picture/png.c \
 *       common/model/picture/image.c common/core/log.c common/core/error.c $(pkg-config --libs
 * libpng) \ -o build/fuzz_png && build/fuzz_png -max_total_time=60
 *
 * Whatever the bytes, reading either fails with an empty image or gives a picture within the
 * size limit that writes and reads back unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "model/picture/png.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        gf_log_init("fuzz", GF_LOG_ERROR);
        init = 1;
    }
    struct gf_image img, back;
    if (gf_png_read_mem(data, size, "fuzz", &img) != 0) {
        if (img.rgb || img.width || img.height)
            abort();
        return 0;
    }
    if (img.width < 1 || img.height < 1 || img.width > GF_IMAGE_MAX_SIDE ||
        img.height > GF_IMAGE_MAX_SIDE)
        abort();
    uint8_t *png = NULL;
    size_t len = 0;
    if (gf_png_write_mem(&img, &png, &len) != 0 || gf_png_read_mem(png, len, "again", &back) != 0 ||
        back.width != img.width || back.height != img.height ||
        memcmp(back.rgb, img.rgb, (size_t)img.width * (size_t)img.height * 3) != 0)
        abort();
    free(png);
    gf_image_release(&back);
    gf_image_release(&img);
    return 0;
}
