/* bpe.c — the BPE model: vocab, merge ranks, byte fallback, unk, and the merge loop.
 *
 * A word's characters start as symbols; the adjacent pair with the lowest merge rank (leftmost on
 * ties) is merged until no pair has a rank. That is the order HF's heap produces. Results for
 * short words are kept in a direct-mapped cache.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/grow.h"
#include "model/tokenizer/tok_internal.h"

#define S_CACHE_CAP 65536
#define S_CACHE_MAX_WORD 64

int gf_bpe_init(struct gf_bpe *b)
{
    memset(b, 0, sizeof *b);
    b->unk_id = -1;
    for (int i = 0; i < 256; i++)
        b->byte_ids[i] = -1;
    if (pthread_mutex_init(&b->cache_lock, NULL))
        return GF_ENOMEM;
    return 0;
}

int gf_bpe_add_token(struct gf_bpe *b, const char *tok, size_t len, int32_t id)
{
    if (id < 0 || id >= INT32_MAX - 1 || len > UINT32_MAX)
        return GF_EINVAL;
    if (id >= b->n_ids) {
        size_t n = (size_t)id + 1;
        size_t cap = b->ids_cap; /* two arrays of one capacity, as gf_strlist_push */
        if (gf_grow((void **)&b->tok_off, &cap, n, sizeof *b->tok_off) != 0)
            return GF_ENOMEM;
        cap = b->ids_cap;
        if (gf_grow((void **)&b->tok_len, &cap, n, sizeof *b->tok_len) != 0)
            return GF_ENOMEM;
        b->ids_cap = cap;
        for (size_t i = (size_t)b->n_ids; i < n; i++)
            b->tok_off[i] = SIZE_MAX;
        b->n_ids = (int32_t)n;
    }
    b->tok_off[id] = b->strings.len;
    b->tok_len[id] = (uint32_t)len;
    return gf_buf_put(&b->strings, tok, len) || gf_buf_put(&b->strings, "", 1) ? GF_ENOMEM : 0;
}

/* Builds the string -> id map once every token is in (the map borrows the strings buffer). */
int gf_bpe_build(struct gf_bpe *b)
{
    for (int32_t id = 0; id < b->n_ids; id++) {
        if (b->tok_off[id] == SIZE_MAX)
            continue;
        const char *s = b->strings.p + b->tok_off[id];
        if (gf_tokmap_put(&b->vocab, s, b->tok_len[id], id))
            return GF_ENOMEM;
    }
    for (int i = 0; i < 256; i++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", i);
        b->byte_ids[i] = gf_tokmap_get(&b->vocab, name, 6);
    }
    b->cache = calloc(S_CACHE_CAP, sizeof *b->cache);
    return b->cache ? 0 : GF_ENOMEM;
}

static uint64_t s_key(int32_t l, int32_t r)
{
    return ((uint64_t)(uint32_t)(l + 1) << 32) | (uint32_t)(r + 1);
}

static size_t s_slot(uint64_t k, size_t cap)
{
    k ^= k >> 33; /* murmur3 finalizer: every key bit reaches the low bits */
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return (size_t)k & (cap - 1);
}

static const struct gf_merge_slot *s_merge_find(const struct gf_bpe *b, int32_t l, int32_t r)
{
    if (!b->merges_cap)
        return NULL;
    uint64_t k = s_key(l, r);
    size_t j = s_slot(k, b->merges_cap);
    while (b->merges[j].key) {
        if (b->merges[j].key == k)
            return &b->merges[j];
        j = (j + 1) & (b->merges_cap - 1);
    }
    return NULL;
}

static int s_merge_put(struct gf_bpe *b, int32_t l, int32_t r, int32_t rank, int32_t id)
{
    if ((b->n_merges + 1) * 2 > b->merges_cap) {
        size_t cap = b->merges_cap ? b->merges_cap * 2 : 1024;
        struct gf_merge_slot *m = calloc(cap, sizeof *m), *old = b->merges;
        if (!m)
            return GF_ENOMEM;
        size_t old_cap = b->merges_cap;
        b->merges = m;
        b->merges_cap = cap;
        b->n_merges = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].key)
                s_merge_put(b, (int32_t)(old[i].key >> 32) - 1,
                            (int32_t)(old[i].key & 0xFFFFFFFF) - 1, old[i].rank, old[i].id);
        free(old);
    }
    uint64_t k = s_key(l, r);
    size_t j = s_slot(k, b->merges_cap);
    while (b->merges[j].key) {
        if (b->merges[j].key == k)
            return 0; /* a repeated merge keeps its first (lowest) rank */
        j = (j + 1) & (b->merges_cap - 1);
    }
    b->merges[j] = (struct gf_merge_slot){k, rank, id};
    b->n_merges++;
    return 0;
}

int gf_bpe_add_merge(struct gf_bpe *b, const char *l, size_t ll, const char *r, size_t rl, int rank,
                     char *why, size_t whylen)
{
    int32_t li = gf_tokmap_get(&b->vocab, l, ll), ri = gf_tokmap_get(&b->vocab, r, rl);
    if (li < 0 || ri < 0) {
        snprintf(why, whylen, "merge '%.*s %.*s' names a token missing from the vocab", (int)ll, l,
                 (int)rl, r);
        return GF_ESCHEMA;
    }
    /* the merged token drops the right part's continuing-subword prefix */
    size_t pl = b->prefix ? strlen(b->prefix) : 0;
    if (pl && rl >= pl && memcmp(r, b->prefix, pl) == 0) {
        r += pl;
        rl -= pl;
    }
    char stack[256];
    char *m = ll + rl <= sizeof stack ? stack : malloc(ll + rl);
    if (!m)
        return GF_ENOMEM;
    memcpy(m, l, ll);
    memcpy(m + ll, r, rl);
    int32_t id = gf_tokmap_get(&b->vocab, m, ll + rl);
    if (id < 0)
        snprintf(why, whylen, "merge result '%.*s' is missing from the vocab", (int)(ll + rl), m);
    if (m != stack)
        free(m);
    if (id < 0)
        return GF_ESCHEMA;
    return s_merge_put(b, li, ri, rank, id);
}

/* The id of one character (with prefix/suffix as its place in the word asks), or -1. */
static int32_t s_char_id(const struct gf_bpe *b, const char *c, size_t n, bool first, bool last)
{
    if (!(b->prefix && !first) && !(b->suffix && last))
        return gf_tokmap_get(&b->vocab, c, n);
    char tmp[128];
    size_t pl = b->prefix && !first ? strlen(b->prefix) : 0;
    size_t sl = b->suffix && last ? strlen(b->suffix) : 0;
    if (pl + n + sl > sizeof tmp)
        return -1;
    memcpy(tmp, b->prefix ? b->prefix : "", pl);
    memcpy(tmp + pl, c, n);
    memcpy(tmp + pl + n, b->suffix ? b->suffix : "", sl);
    return gf_tokmap_get(&b->vocab, tmp, pl + n + sl);
}

struct s_syms {
    int32_t *v, *stack; /* v starts as the caller's stack buffer */
    size_t n, cap;
    bool last_unk;
};

static int s_sym_push(struct s_syms *s, int32_t id)
{
    if (s->n == s->cap) {
        size_t cap = s->cap * 2;
        int32_t *v = s->v == s->stack ? malloc(cap * sizeof *v) : realloc(s->v, cap * sizeof *v);
        if (!v)
            return GF_ENOMEM;
        if (s->v == s->stack)
            memcpy(v, s->stack, s->n * sizeof *v);
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = id;
    return 0;
}

static int s_initial(const struct gf_bpe *b, const char *w, size_t len, struct s_syms *s)
{
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = gf_utf8_next(w + i, len - i, &cp);
        int32_t id = s_char_id(b, w + i, k, i == 0, i + k == len);
        bool ok = id >= 0;
        if (ok) {
            if (s_sym_push(s, id))
                return GF_ENOMEM;
        } else if (b->byte_fallback) {
            ok = true;
            for (size_t j = 0; j < k; j++)
                ok = ok && b->byte_ids[(unsigned char)w[i + j]] >= 0;
            for (size_t j = 0; ok && j < k; j++)
                if (s_sym_push(s, b->byte_ids[(unsigned char)w[i + j]]))
                    return GF_ENOMEM;
        }
        if (!ok && b->unk_id >= 0 && !(b->fuse_unk && s->last_unk))
            if (s_sym_push(s, b->unk_id))
                return GF_ENOMEM;
        s->last_unk = !ok && b->unk_id >= 0;
        i += k;
    }
    return 0;
}

static void s_merge_all(const struct gf_bpe *b, struct s_syms *s, int32_t *rank)
{
    size_t n = s->n;
    int32_t *v = s->v;
    if (n < 2)
        return;
    for (size_t i = 0; i + 1 < n; i++) {
        const struct gf_merge_slot *m = s_merge_find(b, v[i], v[i + 1]);
        rank[i] = m ? m->rank : INT32_MAX;
    }
    for (;;) {
        size_t best = SIZE_MAX;
        int32_t br = INT32_MAX;
        for (size_t i = 0; i + 1 < n; i++)
            if (rank[i] < br) {
                br = rank[i];
                best = i;
            }
        if (best == SIZE_MAX)
            break;
        v[best] = s_merge_find(b, v[best], v[best + 1])->id;
        memmove(v + best + 1, v + best + 2, (n - best - 2) * sizeof *v);
        memmove(rank + best + 1, rank + best + 2, (n - best - 2) * sizeof *rank);
        n--;
        if (best + 1 < n) {
            const struct gf_merge_slot *m = s_merge_find(b, v[best], v[best + 1]);
            rank[best] = m ? m->rank : INT32_MAX;
        } else {
            rank[best] = INT32_MAX;
        }
        if (best > 0) {
            const struct gf_merge_slot *m = s_merge_find(b, v[best - 1], v[best]);
            rank[best - 1] = m ? m->rank : INT32_MAX;
        }
    }
    s->n = n;
}

/* Long words: the same merge order with a heap of candidate pairs (rank, then position) over a
 * linked list of symbols, O(n log n) instead of the scan's O(n^2). Stale entries are skipped. */
struct s_cand {
    int32_t rank, pos, id;
};

static bool s_cand_less(const struct s_cand *a, const struct s_cand *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void s_heap_push(struct s_cand *h, size_t *n, struct s_cand c)
{
    size_t i = (*n)++;
    while (i && s_cand_less(&c, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = c;
}

static struct s_cand s_heap_pop(struct s_cand *h, size_t *n)
{
    struct s_cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && s_cand_less(&h[c + 1], &h[c]))
            c++;
        if (!s_cand_less(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = last;
    return top;
}

static int s_merge_heap(const struct gf_bpe *b, struct s_syms *s)
{
    size_t n = s->n, hn = 0;
    int32_t *next = malloc(n * sizeof *next), *prev = malloc(n * sizeof *prev);
    struct s_cand *heap = malloc(2 * n * sizeof *heap); /* each merge adds at most 2, removes 1 */
    int rc = next && prev && heap ? 0 : GF_ENOMEM;
    if (rc)
        goto out;
    int32_t *v = s->v;
    for (size_t i = 0; i < n; i++) {
        next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        prev[i] = (int32_t)i - 1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        const struct gf_merge_slot *m = s_merge_find(b, v[i], v[i + 1]);
        if (m)
            s_heap_push(heap, &hn, (struct s_cand){m->rank, (int32_t)i, m->id});
    }
    while (hn) {
        struct s_cand c = s_heap_pop(heap, &hn);
        int32_t r = next[c.pos];
        if (v[c.pos] < 0 || r < 0)
            continue;
        const struct gf_merge_slot *m = s_merge_find(b, v[c.pos], v[r]);
        if (!m || m->id != c.id || m->rank != c.rank)
            continue; /* stale: a neighbour changed since this pair was queued */
        v[c.pos] = c.id;
        v[r] = -1;
        next[c.pos] = next[r];
        if (next[r] >= 0)
            prev[next[r]] = c.pos;
        if (prev[c.pos] >= 0 && (m = s_merge_find(b, v[prev[c.pos]], v[c.pos])))
            s_heap_push(heap, &hn, (struct s_cand){m->rank, prev[c.pos], m->id});
        if (next[c.pos] >= 0 && (m = s_merge_find(b, v[c.pos], v[next[c.pos]])))
            s_heap_push(heap, &hn, (struct s_cand){m->rank, c.pos, m->id});
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] >= 0)
            v[k++] = v[i];
    s->n = k;
out:
    free(next);
    free(prev);
    free(heap);
    return rc;
}

static bool s_cache_get(struct gf_bpe *b, const char *w, size_t len, uint64_t h, struct gf_ids *out,
                        int *rc)
{
    bool hit = false;
    pthread_mutex_lock(&b->cache_lock);
    struct gf_cache_slot *c = &b->cache[h & (S_CACHE_CAP - 1)];
    if (c->key && c->hash == h && c->key_len == len && memcmp(c->key, w, len) == 0) {
        hit = true;
        for (uint32_t i = 0; i < c->n_ids && !*rc; i++)
            *rc = gf_ids_push(out, c->ids[i]);
    }
    pthread_mutex_unlock(&b->cache_lock);
    return hit;
}

static void s_cache_put(struct gf_bpe *b, const char *w, size_t len, uint64_t h, const int32_t *ids,
                        size_t n)
{
    size_t at = (len + 3) & ~(size_t)3; /* one block: the key, then the ids, aligned */
    char *blk = malloc(at + n * sizeof *ids);
    if (!blk)
        return; /* the cache is an optimisation only */
    memcpy(blk, w, len);
    int32_t *copy = (int32_t *)(void *)(blk + at);
    memcpy(copy, ids, n * sizeof *ids);
    pthread_mutex_lock(&b->cache_lock);
    struct gf_cache_slot *c = &b->cache[h & (S_CACHE_CAP - 1)];
    free(c->key);
    *c = (struct gf_cache_slot){h, blk, (uint32_t)len, (uint32_t)n, copy};
    pthread_mutex_unlock(&b->cache_lock);
}

int gf_bpe_encode(struct gf_bpe *b, const char *w, size_t len, struct gf_ids *out)
{
    if (!len)
        return 0;
    if (b->ignore_merges) {
        int32_t id = gf_tokmap_get(&b->vocab, w, len);
        if (id >= 0)
            return gf_ids_push(out, id);
    }
    int rc = 0;
    uint64_t h = 0;
    bool cacheable = len <= S_CACHE_MAX_WORD && b->cache;
    if (cacheable) {
        h = gf_hash_bytes(w, len);
        if (s_cache_get(b, w, len, h, out, &rc))
            return rc;
    }
    int32_t vbuf[64], rbuf[64];
    struct s_syms s = {vbuf, vbuf, 0, 64, false};
    int32_t *rank = rbuf;
    rc = s_initial(b, w, len, &s);
    if (rc)
        goto out;
    if (s.n > 64)
        rc = s_merge_heap(b, &s); /* ids are >= 0, so -1 can mark merged-away symbols */
    else
        s_merge_all(b, &s, rank);
    if (rc)
        goto out;
    for (size_t i = 0; i < s.n && !rc; i++)
        rc = gf_ids_push(out, s.v[i]);
    if (!rc && cacheable)
        s_cache_put(b, w, len, h, s.v, s.n);
out:
    if (s.v != vbuf)
        free(s.v);
    return rc;
}

void gf_bpe_release(struct gf_bpe *b)
{
    gf_tokmap_release(&b->vocab);
    gf_buf_release(&b->strings);
    free(b->tok_off);
    free(b->tok_len);
    free(b->merges);
    free(b->prefix);
    free(b->suffix);
    if (b->cache) {
        for (size_t i = 0; i < S_CACHE_CAP; i++)
            free(b->cache[i].key);
        free(b->cache);
    }
    pthread_mutex_destroy(&b->cache_lock);
    memset(b, 0, sizeof *b);
}
