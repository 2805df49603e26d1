/* tok_util.c — the small containers the tokenizer is built from: byte buffers, a string->id
 * hash map, piece lists and string lists. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/grow.h"
#include "core/hash.h"
#include "model/tokenizer/tok_internal.h"

int gf_buf_put(struct gf_buf *b, const void *data, size_t n)
{
    if (n > SIZE_MAX - b->len - 1 || gf_grow((void **)&b->p, &b->cap, b->len + n + 1, 1) != 0)
        return GF_ENOMEM;
    if (n && data)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

void gf_buf_release(struct gf_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

uint64_t gf_hash_bytes(const void *p, size_t n)
{
    uint64_t h = gf_fnv1a(GF_FNV1A_SEED, p, n);
    return h ^ (h >> 29);
}

static int s_tokmap_grow(struct gf_tokmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    struct gf_tokmap_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return GF_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        size_t j = gf_hash_bytes(m->slots[i].key, m->slots[i].len) & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int gf_tokmap_put(struct gf_tokmap *m, const char *key, size_t len, int32_t val)
{
    if ((m->n + 1) * 2 > m->cap && s_tokmap_grow(m))
        return GF_ENOMEM;
    size_t j = gf_hash_bytes(key, len) & (m->cap - 1);
    while (m->slots[j].key) {
        if (m->slots[j].len == len && memcmp(m->slots[j].key, key, len) == 0) {
            m->slots[j].val = val;
            return 0;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->slots[j] = (struct gf_tokmap_slot){key, (uint32_t)len, val};
    m->n++;
    return 0;
}

int32_t gf_tokmap_get(const struct gf_tokmap *m, const char *key, size_t len)
{
    if (!m->cap)
        return -1;
    size_t j = gf_hash_bytes(key, len) & (m->cap - 1);
    while (m->slots[j].key) {
        if (m->slots[j].len == len && memcmp(m->slots[j].key, key, len) == 0)
            return m->slots[j].val;
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

void gf_tokmap_release(struct gf_tokmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

int gf_pieces_push(struct gf_pieces *ps, size_t off, size_t len, size_t olen)
{
    if (gf_grow((void **)&ps->v, &ps->cap, ps->n + 1, sizeof *ps->v) != 0)
        return GF_ENOMEM;
    ps->v[ps->n++] = (struct gf_piece){off, len, olen};
    return 0;
}

void gf_pieces_release(struct gf_pieces *ps)
{
    gf_buf_release(&ps->arena);
    free(ps->v);
    memset(ps, 0, sizeof *ps);
}

int gf_strlist_push(struct gf_strlist *l, const char *s, size_t len)
{
    size_t cap = l->cap; /* two arrays of one capacity: grown alike, cap set when both are */
    if (gf_grow((void **)&l->off, &cap, l->n + 1, sizeof *l->off) != 0)
        return GF_ENOMEM;
    cap = l->cap;
    if (gf_grow((void **)&l->len, &cap, l->n + 1, sizeof *l->len) != 0)
        return GF_ENOMEM;
    l->cap = cap;
    size_t at = l->arena.len;
    if (gf_buf_put(&l->arena, s, len))
        return GF_ENOMEM;
    l->off[l->n] = at;
    l->len[l->n] = len;
    l->n++;
    return 0;
}

void gf_strlist_release(struct gf_strlist *l)
{
    gf_buf_release(&l->arena);
    free(l->off);
    free(l->len);
    memset(l, 0, sizeof *l);
}

int gf_ids_push(struct gf_ids *ids, int32_t id)
{
    if (gf_grow((void **)&ids->v, &ids->cap, ids->n + 1, sizeof *ids->v) != 0)
        return GF_ENOMEM;
    ids->v[ids->n++] = id;
    return 0;
}

void gf_ids_release(struct gf_ids *ids)
{
    free(ids->v);
    memset(ids, 0, sizeof *ids);
}
