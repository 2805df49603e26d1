/* png.h — PNG files and buffers for gf_image pictures, through libpng.
 *
 * Writing stores 8-bit RGB without loss, with libpng's fast compression (at 384x384: about 1 ms
 * and 5 kB for a layout canvas, against 15 ms and 3 kB at the default level); reading accepts any
 * PNG libpng reads (grey, palette, 16-bit, alpha) and converts it to 8-bit RGB, so a picture
 * written here reads back pixel for pixel. Pictures larger than GF_IMAGE_MAX_SIDE either way are
 * refused before any pixel is allocated. Failures are logged with their reason.
 */
#ifndef GF_MODEL_PNG_H
#define GF_MODEL_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "model/picture/image.h"

/* Writes `img` to `path`. 0, GF_EINVAL (empty image) or GF_EIO. */
int gf_png_write_file(const char *path, const struct gf_image *img);

/* Encodes `img` into a new buffer *png_p of *len_p bytes (caller owns; free()). 0, GF_EINVAL,
 * GF_ENOMEM or GF_EIO. */
int gf_png_write_mem(const struct gf_image *img, uint8_t **png_p, size_t *len_p);

/* Reads a PNG into `img` (initialised here; caller releases it). `what` names the source in log
 * messages. 0, GF_EIO (cannot open), GF_EPARSE (not a PNG, damaged), GF_ETOOBIG or GF_ENOMEM;
 * on failure `img` is empty. */
int gf_png_read_file(const char *path, struct gf_image *img);
int gf_png_read_mem(const void *png, size_t len, const char *what, struct gf_image *img);

#endif
