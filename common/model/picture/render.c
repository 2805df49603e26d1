/* render.c — outlines, labels and text on RGB pictures. Plain loops over pixels; the pictures
 * are small (384x384) and this is not on a hot path. */
#include "model/picture/render.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/picture/font.h"

void gf_render_colour(size_t i, uint8_t rgb[3])
{
    /* HSV with the hue stepped by the golden ratio: neighbours in object order get far-apart
     * hues, and no two of the first few dozen are alike. s = 0.85, v = 0.9. */
    double h = fmod((double)i * 0.618033988749895, 1.0) * 6.0;
    double s = 0.85, v = 0.9;
    int sector = (int)h;
    double f = h - sector;
    double p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    double r, g, b;
    switch (sector % 6) {
    case 0:
        r = v, g = t, b = p;
        break;
    case 1:
        r = q, g = v, b = p;
        break;
    case 2:
        r = p, g = v, b = t;
        break;
    case 3:
        r = p, g = q, b = v;
        break;
    case 4:
        r = t, g = p, b = v;
        break;
    default:
        r = v, g = p, b = q;
        break;
    }
    rgb[0] = (uint8_t)lround(r * 255);
    rgb[1] = (uint8_t)lround(g * 255);
    rgb[2] = (uint8_t)lround(b * 255);
}

int gf_render_scale(int v, int size)
{
    if (v < 0)
        v = 0;
    if (v > GF_LAYOUT_GRID)
        v = GF_LAYOUT_GRID;
    int px = (int)((long)v * size / GF_LAYOUT_GRID);
    return px < size ? px : size - 1;
}

static int s_min(int a, int b)
{
    return a < b ? a : b;
}

static int s_max(int a, int b)
{
    return a > b ? a : b;
}

int gf_render_thickness(int width, int height)
{
    return s_max(1, s_min(width, height) / 192);
}

int gf_render_text_scale(int width, int height)
{
    return s_max(1, s_min(width, height) / 384);
}

struct gf_render_rect gf_render_box_rect(const struct gf_layout_object *o, int width, int height)
{
    return (struct gf_render_rect){
        gf_render_scale(o->box[0], width), gf_render_scale(o->box[1], height),
        gf_render_scale(o->box[2], width), gf_render_scale(o->box[3], height)};
}

static int s_text_width(const char *text, int scale)
{
    int n = 0;
    size_t len = strlen(text);
    for (size_t i = 0; i < len; n++) {
        uint32_t cp;
        i += (size_t)gf_font_next(text + i, len - i, &cp);
    }
    return n * GF_FONT_CELL_W * scale;
}

static int s_overlap(struct gf_render_rect a, struct gf_render_rect b)
{
    return a.x0 <= b.x1 && b.x0 <= a.x1 && a.y0 <= b.y1 && b.y0 <= a.y1;
}

void gf_render_label_rects(const struct gf_layout_object *objs, size_t n, int width, int height,
                           struct gf_render_rect *rects)
{
    int scale = gf_render_text_scale(width, height);
    for (size_t i = 0; i < n; i++) {
        struct gf_render_rect box = gf_render_box_rect(&objs[i], width, height);
        /* one font pixel of padding left and top; the cell's spacing pads right and bottom */
        struct gf_render_rect r = {box.x0, box.y0,
                                   box.x0 + scale + s_text_width(objs[i].phrase, scale) - 1,
                                   box.y0 + scale + GF_FONT_CELL_H * scale - 1};
        r.x1 = s_min(r.x1, width - 1);
        r.y1 = s_min(r.y1, height - 1);
        /* move below any earlier label it would cover, while the box has room */
        struct gf_render_rect at = r;
        for (size_t j = 0; j < i; j++) {
            if (!s_overlap(at, rects[j]))
                continue;
            int shift = rects[j].y1 + 1 - at.y0;
            if (at.y1 + shift > box.y1) {
                at = r;
                break;
            }
            at.y0 += shift;
            at.y1 += shift;
            j = (size_t)-1; /* check every earlier label again */
        }
        rects[i] = at;
    }
}

static void s_fill(struct gf_image *img, struct gf_render_rect r, const uint8_t rgb[3])
{
    int x0 = s_max(r.x0, 0), y0 = s_max(r.y0, 0);
    int x1 = s_min(r.x1, img->width - 1), y1 = s_min(r.y1, img->height - 1);
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            memcpy(img->rgb + 3 * ((size_t)y * (size_t)img->width + (size_t)x), rgb, 3);
}

int gf_render_text(struct gf_image *img, int x, int y, const char *text, int scale,
                   const uint8_t rgb[3])
{
    size_t len = strlen(text);
    int x_start = x;
    for (size_t i = 0; i < len; x += GF_FONT_CELL_W * scale) {
        uint32_t cp;
        i += (size_t)gf_font_next(text + i, len - i, &cp);
        const char(*glyph)[GF_FONT_W + 1] = gf_font_glyph(cp);
        for (int gy = 0; gy < GF_FONT_H; gy++)
            for (int gx = 0; gx < GF_FONT_W; gx++)
                if (glyph[gy][gx] == '#') {
                    int px = x + gx * scale, py = y + gy * scale;
                    s_fill(img, (struct gf_render_rect){px, py, px + scale - 1, py + scale - 1},
                           rgb);
                }
    }
    return x - x_start;
}

static void s_outline(struct gf_image *img, struct gf_render_rect r, int t, const uint8_t rgb[3])
{
    s_fill(img, (struct gf_render_rect){r.x0, r.y0, r.x1, s_min(r.y0 + t - 1, r.y1)}, rgb);
    s_fill(img, (struct gf_render_rect){r.x0, s_max(r.y1 - t + 1, r.y0), r.x1, r.y1}, rgb);
    s_fill(img, (struct gf_render_rect){r.x0, r.y0, s_min(r.x0 + t - 1, r.x1), r.y1}, rgb);
    s_fill(img, (struct gf_render_rect){s_max(r.x1 - t + 1, r.x0), r.y0, r.x1, r.y1}, rgb);
}

int gf_render_layout(struct gf_image *img, const struct gf_layout_object *objs, size_t n)
{
    int w = img->width, h = img->height;
    int t = gf_render_thickness(w, h), scale = gf_render_text_scale(w, h);
    uint8_t rgb[3];
    struct gf_render_rect *labels = malloc((n ? n : 1) * sizeof *labels);
    if (!labels)
        return GF_ENOMEM;
    gf_render_label_rects(objs, n, w, h, labels);
    for (size_t i = 0; i < n; i++) {
        gf_render_colour(i, rgb);
        s_outline(img, gf_render_box_rect(&objs[i], w, h), t, rgb);
    }
    for (size_t i = 0; i < n; i++) {
        gf_render_colour(i, rgb);
        struct gf_render_rect r = labels[i];
        s_fill(img, r, rgb);
        int luma = (299 * rgb[0] + 587 * rgb[1] + 114 * rgb[2]) / 1000;
        static const uint8_t black[3] = {0, 0, 0}, white[3] = {255, 255, 255};
        gf_render_text(img, r.x0 + scale, r.y0 + scale, objs[i].phrase, scale,
                       luma > 140 ? black : white);
    }
    free(labels);
    return 0;
}

int gf_render_canvas(struct gf_image *out, int width, int height,
                     const struct gf_layout_object *objs, size_t n)
{
    int rc = gf_image_init(out, width, height);
    if (rc)
        return rc;
    gf_image_fill(out, 255, 255, 255);
    rc = gf_render_layout(out, objs, n);
    if (rc)
        gf_image_release(out);
    return rc;
}
