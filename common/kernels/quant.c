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
