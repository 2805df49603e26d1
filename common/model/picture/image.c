/* image.c — RGB pictures and the float-to-pixel conversion of the reference post-processing. */
#include "model/picture/image.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int gf_image_init(struct gf_image *img, int width, int height)
{
    img->width = img->height = 0;
    img->rgb = NULL;
    if (width < 1 || height < 1 || width > GF_IMAGE_MAX_SIDE || height > GF_IMAGE_MAX_SIDE)
        return GF_EINVAL;
    img->rgb = calloc((size_t)width * (size_t)height, 3);
    if (!img->rgb)
        return GF_ENOMEM;
    img->width = width;
    img->height = height;
    return 0;
}

void gf_image_release(struct gf_image *img)
{
    free(img->rgb);
    img->rgb = NULL;
    img->width = img->height = 0;
}

void gf_image_fill(struct gf_image *img, uint8_t r, uint8_t g, uint8_t b)
{
    size_t n = (size_t)img->width * (size_t)img->height;
    for (size_t i = 0; i < n; i++) {
        img->rgb[3 * i] = r;
        img->rgb[3 * i + 1] = g;
        img->rgb[3 * i + 2] = b;
    }
}

uint8_t gf_image_pixel(float v)
{
    /* float32 throughout, one rounding per operation, as NumPy does it: (v + 1) rounds, the
     * halving is exact, the product by 255 rounds. The comparisons also catch NaN (-> 0). */
    float x = (v + 1.0f) / 2.0f * 255.0f;
    x = x > 0.0f ? x : 0.0f;     /* NaN fails the test: 0 */
    x = x < 255.0f ? x : 255.0f; /* branch-free, so the loops below vectorise */
    return (uint8_t)x;           /* truncation == floor for x >= 0 */
}

/* A fixed-length block: with a constant trip count the compiler vectorises this loop even at
 * -O2 (its cheap cost model refuses loops that would need a scalar tail). */
#define S_BLOCK 256

static void s_block(const float *restrict src, uint8_t *restrict dst)
{
    for (int k = 0; k < S_BLOCK; k++)
        dst[k] = gf_image_pixel(src[k]);
}

void gf_image_pixels(const float *src, size_t n, uint8_t *dst)
{
    size_t i = 0;
    for (; i + S_BLOCK <= n; i += S_BLOCK)
        s_block(src + i, dst + i);
    for (; i < n; i++)
        dst[i] = gf_image_pixel(src[i]);
}

void gf_image_pixels_chw(const float *chw, int height, int width, uint8_t *hwc)
{
    size_t plane = (size_t)height * (size_t)width, p = 0;
    uint8_t planes[3][S_BLOCK];
    for (; p + S_BLOCK <= plane; p += S_BLOCK) {
        for (int c = 0; c < 3; c++)
            s_block(chw + (size_t)c * plane + p, planes[c]);
        for (int k = 0; k < S_BLOCK; k++)
            for (int c = 0; c < 3; c++)
                hwc[3 * (p + (size_t)k) + (size_t)c] = planes[c][k];
    }
    for (; p < plane; p++)
        for (int c = 0; c < 3; c++)
            hwc[3 * p + (size_t)c] = gf_image_pixel(chw[(size_t)c * plane + p]);
}
