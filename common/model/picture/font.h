/* font.h — a small embedded 5x7 bitmap font for labels: printable ASCII, and one box glyph for
 * every other character. Glyphs are drawn in a 6x8 cell (one blank column and row as spacing). */
#ifndef GF_MODEL_FONT_H
#define GF_MODEL_FONT_H

#include <stddef.h>
#include <stdint.h>

#define GF_FONT_W 5
#define GF_FONT_H 7
#define GF_FONT_CELL_W 6
#define GF_FONT_CELL_H 8

/* The glyph of code point `cp` as GF_FONT_H rows of GF_FONT_W characters, '#' for ink and '.'
 * for paper (static). Control characters are blank; anything outside printable ASCII is a box. */
const char (*gf_font_glyph(uint32_t cp))[GF_FONT_W + 1];

/* Decodes the code point at s[0..len) into *cp and returns the bytes it takes (1..4). A byte
 * that does not start a valid UTF-8 sequence counts as one character, U+FFFD. len > 0. */
int gf_font_next(const char *s, size_t len, uint32_t *cp);

#endif
