/* strmap.h — a string-keyed hash map (open addressing), for request ids and the like.
 *
 * Keys are copied; values are borrowed pointers the caller manages. Not thread-safe.
 */
#ifndef GF_CORE_STRMAP_H
#define GF_CORE_STRMAP_H

#include <stddef.h>

typedef struct gf_strmap gf_strmap_t;

gf_strmap_t *gf_strmap_new(void);
void gf_strmap_destroy(gf_strmap_t **self_p);

/* Inserts or replaces. 0, or GF_ENOMEM. */
int gf_strmap_put(gf_strmap_t *self, const char *key, void *value);
/* The value, or NULL. */
void *gf_strmap_get(const gf_strmap_t *self, const char *key);
/* Removes and returns the value, or NULL. */
void *gf_strmap_take(gf_strmap_t *self, const char *key);
size_t gf_strmap_size(const gf_strmap_t *self);

/* Iteration: `*pos` starts at 0; returns the next key (and value) or NULL at the end. Do not
 * insert while iterating. */
const char *gf_strmap_next(const gf_strmap_t *self, size_t *pos, void **value);

#endif
