/* strmap.c — linear probing with tombstones; grows at 50% load. */
#include "core/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

struct s_slot {
    char *key; /* NULL empty; s_tomb removed */
    void *value;
};

struct gf_strmap {
    struct s_slot *slots;
    size_t cap, size, used; /* used counts tombstones too */
};

static char s_tomb_mark;
#define S_TOMB (&s_tomb_mark)

static uint64_t s_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

gf_strmap_t *gf_strmap_new(void)
{
    gf_strmap_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = 64;
    self->slots = calloc(self->cap, sizeof *self->slots);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    return self;
}

void gf_strmap_destroy(gf_strmap_t **self_p)
{
    gf_strmap_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->cap; i++)
        if (self->slots[i].key && self->slots[i].key != S_TOMB)
            free(self->slots[i].key);
    free(self->slots);
    free(self);
    *self_p = NULL;
}

static struct s_slot *s_find(const gf_strmap_t *self, const char *key)
{
    size_t mask = self->cap - 1, i = s_hash(key) & mask;
    for (;;) {
        struct s_slot *s = &self->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != S_TOMB && strcmp(s->key, key) == 0)
            return s;
        i = (i + 1) & mask;
    }
}

static int s_rehash(gf_strmap_t *self, size_t cap)
{
    struct s_slot *old = self->slots;
    size_t old_cap = self->cap;
    self->slots = calloc(cap, sizeof *self->slots);
    if (!self->slots) {
        self->slots = old;
        return GF_ENOMEM;
    }
    self->cap = cap;
    self->used = self->size;
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].key || old[i].key == S_TOMB)
            continue;
        size_t j = s_hash(old[i].key) & (cap - 1);
        while (self->slots[j].key)
            j = (j + 1) & (cap - 1);
        self->slots[j] = old[i];
    }
    free(old);
    return 0;
}

int gf_strmap_put(gf_strmap_t *self, const char *key, void *value)
{
    struct s_slot *s = s_find(self, key);
    if (s) {
        s->value = value;
        return 0;
    }
    if ((self->used + 1) * 2 > self->cap &&
        s_rehash(self, self->size * 4 > self->cap ? self->cap * 2 : self->cap))
        return GF_ENOMEM;
    size_t mask = self->cap - 1, i = s_hash(key) & mask;
    while (self->slots[i].key && self->slots[i].key != S_TOMB)
        i = (i + 1) & mask;
    char *k = strdup(key);
    if (!k)
        return GF_ENOMEM;
    if (!self->slots[i].key)
        self->used++;
    self->slots[i].key = k;
    self->slots[i].value = value;
    self->size++;
    return 0;
}

void *gf_strmap_get(const gf_strmap_t *self, const char *key)
{
    struct s_slot *s = s_find(self, key);
    return s ? s->value : NULL;
}

void *gf_strmap_take(gf_strmap_t *self, const char *key)
{
    struct s_slot *s = s_find(self, key);
    if (!s)
        return NULL;
    void *v = s->value;
    free(s->key);
    s->key = S_TOMB;
    s->value = NULL;
    self->size--;
    return v;
}

size_t gf_strmap_size(const gf_strmap_t *self)
{
    return self->size;
}

const char *gf_strmap_next(const gf_strmap_t *self, size_t *pos, void **value)
{
    for (; *pos < self->cap; (*pos)++) {
        struct s_slot *s = &self->slots[*pos];
        if (s->key && s->key != S_TOMB) {
            (*pos)++;
            if (value)
                *value = s->value;
            return s->key;
        }
    }
    return NULL;
}
