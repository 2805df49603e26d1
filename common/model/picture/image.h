/* image.h — 8-bit RGB pictures in memory, and the decoder's float output turned into pixels.
 *
 * A gf_image is caller-owned storage: gf_image_init() allocates the pixels, gf_image_release()
 * frees them. Pixels are row-major, 3 bytes (R, G, B) each, no padding between rows (HWC).
 *
 * The pixel conversion is the reference post-processing (MODEL §1.6): the float32 value v becomes
 * floor(clip((v + 1) / 2 * 255, 0, 255)), computed in float32 in that order, as NumPy computes
 * `np.clip((dec + 1) / 2 * 255, 0, 255).astype(np.uint8)`. NaN, which NumPy leaves undefined,
 * becomes 0.
 */
#ifndef GF_MODEL_IMAGE_H
#define GF_MODEL_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define GF_IMAGE_MAX_SIDE 16384 /* pixels, either way */

struct gf_image {
    int width, height;
    uint8_t *rgb; /* width * height * 3 bytes, owned */
};

/* Allocates a width x height picture, all black. 0, GF_EINVAL (a side outside
 * 1..GF_IMAGE_MAX_SIDE) or GF_ENOMEM. */
int gf_image_init(struct gf_image *img, int width, int height);
/* Frees the pixels; safe on a zeroed or released image. */
void gf_image_release(struct gf_image *img);
/* Sets every pixel to (r, g, b). */
void gf_image_fill(struct gf_image *img, uint8_t r, uint8_t g, uint8_t b);

/* One value: floor(clip((v + 1) / 2 * 255, 0, 255)). */
uint8_t gf_image_pixel(float v);
/* n values, in order (a tensor already laid out as HWC). */
void gf_image_pixels(const float *src, size_t n, uint8_t *dst);
/* A decoder output plane set [3, height, width] (CHW, R then G then B) into HWC RGB bytes. */
void gf_image_pixels_chw(const float *chw, int height, int width, uint8_t *hwc);

#endif
