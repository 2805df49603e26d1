/* dtype.c — element types of stored weights and their conversions to and from f32. */
#include <string.h>

#include "kernels/ops.h"

size_t gf_wtype_size(enum gf_wtype dt)
{
    return dt == GF_WTYPE_F32 ? 4 : gf_wtype_quantized(dt) ? 0 : 2;
}

int gf_wtype_quantized(enum gf_wtype dt)
{
    return dt == GF_WTYPE_Q8_0 || dt == GF_WTYPE_Q4_0;
}

size_t gf_wtype_bytes(enum gf_wtype dt, int64_t count)
{
    if (dt == GF_WTYPE_Q8_0)
        return (size_t)(count / GF_QK) * sizeof(struct gf_block_q8_0);
    if (dt == GF_WTYPE_Q4_0)
        return (size_t)(count / GF_QK) * sizeof(struct gf_block_q4_0);
    return (size_t)count * gf_wtype_size(dt);
}

const char *gf_wtype_name(enum gf_wtype dt)
{
    switch (dt) {
    case GF_WTYPE_F32:
        return "F32";
    case GF_WTYPE_F16:
        return "F16";
    case GF_WTYPE_BF16:
        return "BF16";
    case GF_WTYPE_Q8_0:
        return "Q8_0";
    case GF_WTYPE_Q4_0:
        return "Q4_0";
    }
    return "?";
}

float gf_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t gf_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN stays NaN */
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

float gf_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: normalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            u = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t gf_f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000, abs = u & 0x7fffffffu;
    if (abs >= 0x7f800000u) /* inf or NaN */
        return (uint16_t)(sign | 0x7c00 | (abs > 0x7f800000u ? 0x200 : 0));
    if (abs >= 0x477ff000u) /* rounds past the largest half */
        return (uint16_t)(sign | 0x7c00);
    if (abs < 0x38800000u) { /* subnormal half or zero */
        if (abs < 0x33000000u)
            return (uint16_t)sign;
        uint32_t e = abs >> 23, m = (abs & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* bits to drop so that 2^-24 is the unit */
        uint32_t half = m >> shift, rem = m & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t r = abs + 0xfff + ((abs >> 13) & 1) - ((127 - 15) << 23);
    return (uint16_t)(sign | (r >> 13));
}

void gf_wtype_put(void *data, int64_t i, enum gf_wtype dt, float v)
{
    if (dt == GF_WTYPE_F32)
        ((float *)data)[i] = v;
    else if (dt == GF_WTYPE_F16)
        ((uint16_t *)data)[i] = gf_f32_to_f16(v);
    else
        ((uint16_t *)data)[i] = gf_f32_to_bf16(v);
}
