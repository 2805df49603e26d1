/* render.h — pictures of a planned layout: each object's box outlined in its own colour with its
 * phrase on a label, on a blank white canvas (the picture a judge model scores for the spatial
 * reward) or over a generated image.
 *
 * Geometry, for a picture of width W and height H:
 *   - a coordinate v on the 0..1000 grid maps to pixel min(v * S / 1000, S - 1), S = W for x and
 *     H for y (integer division), so (0,0),(1000,1000) is the whole picture;
 *   - the outline is gf_render_thickness() pixels wide, drawn inside the box's pixel rectangle
 *     (both end pixels included);
 *   - the label sits at the box's top-left corner, inside it: the box colour as background, the
 *     phrase in black or white (whichever reads better) in the embedded 5x7 font, scaled by
 *     gf_render_text_scale(); characters outside printable ASCII are drawn as a box. A label that
 *     would cover an earlier object's label moves down inside its box, below that label, when
 *     the box has room; otherwise it stays at the corner.
 * All outlines are drawn first, in object order, then all labels, so a label is never hidden by
 * a later outline. Everything is clipped to the picture.
 */
#ifndef GF_MODEL_RENDER_H
#define GF_MODEL_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "model/picture/image.h"
#include "model/picture/layout.h"

/* A pixel rectangle, both corners included. */
struct gf_render_rect {
    int x0, y0, x1, y1;
};

/* Object i's colour: hues a golden angle apart, saturated, never white or near-white. */
void gf_render_colour(size_t i, uint8_t rgb[3]);

/* Grid coordinate (0..1000) to pixel, for a side of `size` pixels. */
int gf_render_scale(int v, int size);
/* Outline width and label text scale for a picture of this size (2 and 1 at 384x384). */
int gf_render_thickness(int width, int height);
int gf_render_text_scale(int width, int height);
/* Where object `o`'s outline goes in a width x height picture. */
struct gf_render_rect gf_render_box_rect(const struct gf_layout_object *o, int width, int height);
/* Where the labels of the n objects go (rects[0..n), clipped to the picture). */
void gf_render_label_rects(const struct gf_layout_object *objs, size_t n, int width, int height,
                           struct gf_render_rect *rects);

/* Draws `text` (UTF-8) at (x, y), top-left of the first glyph cell, in `rgb`, each font pixel a
 * scale x scale square. Returns the width drawn in pixels (clipped or not). */
int gf_render_text(struct gf_image *img, int x, int y, const char *text, int scale,
                   const uint8_t rgb[3]);

/* Draws the n objects over `img`, in place. 0 or GF_ENOMEM (nothing drawn). */
int gf_render_layout(struct gf_image *img, const struct gf_layout_object *objs, size_t n);

/* A new white width x height picture (caller releases) with the n objects drawn. 0, GF_EINVAL or
 * GF_ENOMEM. */
int gf_render_canvas(struct gf_image *out, int width, int height,
                     const struct gf_layout_object *objs, size_t n);

#endif
