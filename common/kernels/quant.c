/* quant.c — llama.cpp's q8_0 and q4_0 block quantizers (the reference forms of ggml-quants.c,
 * quantize_row_q8_0_ref and quantize_row_q4_0_ref, step for step, so the bytes are the same:
 * tests/oracle/gen_quant.py checks them against gguf-py), their inverses, and the precision
 * names of the graph and the command line. */
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "kernels/ops.h"

_Static_assert(sizeof(struct gf_block_q8_0) == 34, "q8_0 block is 34 bytes");
_Static_assert(sizeof(struct gf_block_q4_0) == 18, "q4_0 block is 18 bytes");

/* roundf(v) for |v| < 2^23, without the call: half away from zero */
static int s_round(float v)
{
    float a = fabsf(v);
    int i = (int)a;
    i += a - (float)i >= 0.5f;
    return v < 0 ? -i : i;
}

/* d = max|x| / 127, q = round(x / d) half away from zero */
static void s_q8_0(struct gf_block_q8_0 *b, const float *x)
{
    float amax = 0; /* fmaxf(amax, |x|) without the libm call (no NaN can reach amax) */
    for (int j = 0; j < GF_QK; j++) {
        float a = fabsf(x[j]);
        amax = a > amax ? a : amax;
    }
    float d = amax / 127, id = d != 0 ? 1.0f / d : 0.0f;
    b->d = gf_f32_to_f16(d);
    for (int j = 0; j < GF_QK; j++)
        b->qs[j] = (int8_t)s_round(x[j] * id);
}

/* d = (the element of largest magnitude, the first of equals) / -8, nibble = min(15, trunc(x / d
 * + 8.5)) */
static void s_q4_0(struct gf_block_q4_0 *b, const float *x)
{
    float amax = 0, max = 0;
    for (int j = 0; j < GF_QK; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    float d = max / -8, id = d != 0 ? 1.0f / d : 0.0f;
    b->d = gf_f32_to_f16(d);
    for (int j = 0; j < GF_QK / 2; j++) {
        int x0 = (int8_t)(x[j] * id + 8.5f), x1 = (int8_t)(x[j + GF_QK / 2] * id + 8.5f);
        x0 = x0 < 15 ? x0 : 15;
        x1 = x1 < 15 ? x1 : 15;
        b->qs[j] = (uint8_t)(x0 | x1 << 4);
    }
}

void gf_quantize(enum gf_wtype dt, void *blocks, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n / GF_QK; i++)
        if (dt == GF_WTYPE_Q8_0)
            s_q8_0((struct gf_block_q8_0 *)blocks + i, x + i * GF_QK);
        else
            s_q4_0((struct gf_block_q4_0 *)blocks + i, x + i * GF_QK);
}

void gf_dequantize(enum gf_wtype dt, float *x, const void *blocks, int64_t n)
{
    for (int64_t i = 0; i < n / GF_QK; i++) {
        float *y = x + i * GF_QK;
        if (dt == GF_WTYPE_Q8_0) {
            const struct gf_block_q8_0 *b = (const struct gf_block_q8_0 *)blocks + i;
            float d = gf_f16_to_f32(b->d);
            for (int j = 0; j < GF_QK; j++)
                y[j] = d * b->qs[j];
        } else {
            const struct gf_block_q4_0 *b = (const struct gf_block_q4_0 *)blocks + i;
            float d = gf_f16_to_f32(b->d);
            for (int j = 0; j < GF_QK / 2; j++) {
                y[j] = d * ((b->qs[j] & 15) - 8);
                y[j + GF_QK / 2] = d * ((b->qs[j] >> 4) - 8);
            }
        }
    }
}

size_t gf_qmat_bytes(enum gf_wtype dt, int64_t rows, int64_t cols)
{
    return gf_wtype_bytes(dt, ((rows + 7) & ~(int64_t)7) * cols);
}

/* Start of group g, block b (its 8 scales), and the block's size. */
static char *s_group_block(enum gf_wtype dt, const void *mat, int64_t cols, int64_t g, int64_t b,
                           size_t *bsize)
{
    *bsize = gf_wtype_bytes(dt, GF_QK);
    return (char *)mat + (size_t)((g * (cols / GF_QK) + b) * 8) * *bsize;
}

void gf_qmat_set_row(enum gf_wtype dt, void *mat, int64_t cols, int64_t r, const void *blocks)
{
    size_t bsize;
    int qsize = dt == GF_WTYPE_Q8_0 ? GF_QK : GF_QK / 2, lane = (int)(r & 7);
    for (int64_t b = 0; b < cols / GF_QK; b++) {
        char *gb = s_group_block(dt, mat, cols, r >> 3, b, &bsize);
        const char *src = (const char *)blocks + b * bsize; /* {d, qs}: d first in both types */
        memcpy(gb + 2 * lane, src, 2);
        for (int c = 0; c < qsize / 4; c++)
            memcpy(gb + 16 + 32 * c + 4 * lane, src + 2 + 4 * c, 4);
    }
}

float gf_qmat_block(enum gf_wtype dt, const void *mat, int64_t cols, int64_t r, int64_t b,
                    int8_t q[GF_QK])
{
    size_t bsize;
    const char *gb = s_group_block(dt, mat, cols, r >> 3, b, &bsize);
    const uint8_t *qs = (const uint8_t *)gb + 16 + 4 * (r & 7);
    uint16_t d;
    memcpy(&d, gb + 2 * (r & 7), 2);
    for (int j = 0; j < GF_QK; j++) {
        if (dt == GF_WTYPE_Q8_0) {
            q[j] = (int8_t)qs[32 * (j / 4) + j % 4];
        } else {
            int m = j % (GF_QK / 2);
            uint8_t v = qs[32 * (m / 4) + m % 4];
            q[j] = (int8_t)((j < GF_QK / 2 ? v & 15 : v >> 4) - 8);
        }
    }
    return gf_f16_to_f32(d);
}

int gf_precision_exact(const char *name)
{
    return name && strcmp(name, "f32") == 0;
}

int gf_precision_parse(const char *name, int *quant)
{
    *quant = -1;
    if (!name || strcmp(name, "bf16") == 0 || strcmp(name, "f32") == 0)
        return 0;
    if (strcmp(name, "q8_0") == 0)
        *quant = GF_WTYPE_Q8_0;
    else if (strcmp(name, "q4_0") == 0)
        *quant = GF_WTYPE_Q4_0;
    else
        return GF_EINVAL;
    return 0;
}
