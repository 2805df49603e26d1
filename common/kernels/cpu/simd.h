/* simd.h — the one small layer that hides the vector instructions.
 *
 * Code compiled for the baseline x86-64 target stays portable: functions that use AVX2/FMA/F16C
 * carry GF_SIMD and run only when gf_simd_avx2() says the CPU has them. Elsewhere GF_HAVE_AVX2
 * is 0 and the callers use their scalar paths.
 */
#ifndef GF_KERNELS_CPU_SIMD_H
#define GF_KERNELS_CPU_SIMD_H

#include <stdint.h>

#include "kernels/ops.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define GF_HAVE_AVX2 1
#include <immintrin.h>
#define GF_SIMD __attribute__((target("avx2,fma,f16c")))
#define GF_INLINE __attribute__((always_inline)) inline

static inline int gf_simd_avx2(void)
{
    __builtin_cpu_init();
#if defined(__clang__) && __clang_major__ < 15
    /* older clang knows no "f16c" here; every AVX2 + FMA processor has F16C */
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
#endif
}

/* 8 elements of a stored-dtype array from index i, as f32 lanes. dt is a constant at every
 * call site, so the branches fold away. */
GF_SIMD static GF_INLINE __m256 gf_load8(const void *base, int64_t i, enum gf_wtype dt)
{
    if (dt == GF_WTYPE_F32)
        return _mm256_loadu_ps((const float *)base + i);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)base + i));
    if (dt == GF_WTYPE_F16)
        return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* Sum of the 8 lanes in a fixed order. */
GF_SIMD static GF_INLINE float gf_hsum8(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}
#else
#define GF_HAVE_AVX2 0
static inline int gf_simd_avx2(void)
{
    return 0;
}
#endif

#endif
