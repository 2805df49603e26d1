/* hash.h — FNV-1a over bytes, 64-bit: the hash of the tokenizer's tables, the
 * KV handover's identity and mkmodel's seeds. Chains: pass the last result as h to go on. */
#ifndef GF_CORE_HASH_H
#define GF_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define GF_FNV1A_SEED 0xcbf29ce484222325ull

static inline uint64_t gf_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

#endif
