/* grow.c — the array-growth helper (grow.h). */
#include "core/grow.h"

#include <stdint.h>
#include <stdlib.h>

#include "core/error.h"

int gf_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    if (elem == 0 || need > SIZE_MAX / elem)
        return GF_ENOMEM;
    size_t ncap = *cap < 8 ? 16 : *cap > SIZE_MAX / 2 ? need : *cap * 2;
    if (ncap < need || ncap > SIZE_MAX / elem) /* too small, or doubling would not fit: need */
        ncap = need;
    void *q = realloc(*p, ncap * elem);
    if (!q)
        return GF_ENOMEM;
    *p = q;
    *cap = ncap;
    return 0;
}
