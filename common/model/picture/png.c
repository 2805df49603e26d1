/* png.c — PNG encode and decode with libpng's simplified API (png_image), which reports errors
 * through png_image.message instead of longjmp, and converts any input format for us. */
#include "model/picture/png.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"

static int s_check(const struct gf_image *img)
{
    if (!img->rgb || img->width < 1 || img->height < 1 || img->width > GF_IMAGE_MAX_SIDE ||
        img->height > GF_IMAGE_MAX_SIDE)
        return GF_EINVAL;
    return 0;
}

static void s_describe(png_image *pi, const struct gf_image *img)
{
    memset(pi, 0, sizeof *pi);
    pi->version = PNG_IMAGE_VERSION;
    pi->width = (png_uint_32)img->width;
    pi->height = (png_uint_32)img->height;
    pi->format = PNG_FORMAT_RGB;
    pi->flags = PNG_IMAGE_FLAG_FAST;
}

int gf_png_write_file(const char *path, const struct gf_image *img)
{
    if (s_check(img))
        return GF_EINVAL;
    png_image pi;
    s_describe(&pi, img);
    FILE *f = fopen(path, "wb");
    if (!f) {
        gf_log_error("cannot write '%s': %s", path, strerror(errno));
        return GF_EIO;
    }
    int ok = png_image_write_to_stdio(&pi, f, 0, img->rgb, 0, NULL);
    if (!ok)
        gf_log_error("cannot encode '%s': %s", path, pi.message);
    png_image_free(&pi);
    if (fclose(f) != 0 && ok) {
        gf_log_error("cannot write '%s': %s", path, strerror(errno));
        ok = 0;
    }
    return ok ? 0 : GF_EIO;
}

int gf_png_write_mem(const struct gf_image *img, uint8_t **png_p, size_t *len_p)
{
    if (s_check(img))
        return GF_EINVAL;
    png_image pi;
    s_describe(&pi, img);
    png_alloc_size_t cap = PNG_IMAGE_PNG_SIZE_MAX(pi), len = cap;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return GF_ENOMEM;
    if (!png_image_write_to_memory(&pi, buf, &len, 0, img->rgb, 0, NULL)) {
        gf_log_error("cannot encode a %dx%d png: %s", img->width, img->height, pi.message);
        png_image_free(&pi);
        free(buf);
        return GF_EIO;
    }
    uint8_t *fit = realloc(buf, len);
    *png_p = fit ? fit : buf;
    *len_p = len;
    return 0;
}

/* Finishes a read started on `pi`; `what` names the source in messages. */
static int s_finish_read(png_image *pi, const char *what, struct gf_image *img)
{
    int rc;
    if (pi->width > GF_IMAGE_MAX_SIDE || pi->height > GF_IMAGE_MAX_SIDE) {
        gf_log_error("'%s' is %ux%u, larger than %d pixels a side", what, pi->width, pi->height,
                     GF_IMAGE_MAX_SIDE);
        png_image_free(pi);
        return GF_ETOOBIG;
    }
    pi->format = PNG_FORMAT_RGB;
    rc = gf_image_init(img, (int)pi->width, (int)pi->height);
    if (rc) {
        png_image_free(pi);
        return rc;
    }
    if (!png_image_finish_read(pi, NULL, img->rgb, 0, NULL)) {
        gf_log_error("cannot decode '%s': %s", what, pi->message);
        gf_image_release(img);
        png_image_free(pi);
        return GF_EPARSE;
    }
    png_image_free(pi);
    return 0;
}

int gf_png_read_file(const char *path, struct gf_image *img)
{
    img->width = img->height = 0;
    img->rgb = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        gf_log_error("cannot open '%s': %s", path, strerror(errno));
        return GF_EIO;
    }
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    int rc;
    if (!png_image_begin_read_from_stdio(&pi, f)) {
        gf_log_error("cannot decode '%s': %s", path, pi.message);
        png_image_free(&pi);
        rc = GF_EPARSE;
    } else {
        rc = s_finish_read(&pi, path, img);
    }
    fclose(f);
    return rc;
}

int gf_png_read_mem(const void *png, size_t len, const char *what, struct gf_image *img)
{
    img->width = img->height = 0;
    img->rgb = NULL;
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&pi, png, len)) {
        gf_log_error("cannot decode '%s': %s", what, pi.message);
        png_image_free(&pi);
        return GF_EPARSE;
    }
    return s_finish_read(&pi, what, img);
}
