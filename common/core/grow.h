/* grow.h — one way to grow a heap array.
 *
 *   struct gf_piece *v = NULL;
 *   size_t n = 0, cap = 0;
 *   if (gf_grow((void **)&v, &cap, n + 1, sizeof *v) != 0)
 *       return GF_ENOMEM;
 *   v[n++] = piece;
 *
 * The capacity at least doubles (16 elements at first), so appending n elements one at a time
 * reallocates O(log n) times. The caller owns the array (free it); `cap` is in elements.
 */
#ifndef GF_CORE_GROW_H
#define GF_CORE_GROW_H

#include <stddef.h>

/* Makes *p hold at least `need` elements of `elem` bytes: does nothing when *cap >= need, else
 * reallocates to max(need, 2 * *cap, 16) elements (need alone when
 * the doubled size would not fit in size_t) and updates *p and *cap. The bytes past the
 * old capacity are not initialised. 0, or GF_ENOMEM (the size overflows, or no memory) with *p
 * and *cap unchanged. */
int gf_grow(void **p, size_t *cap, size_t need, size_t elem);

#endif
