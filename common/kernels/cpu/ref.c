/* ref.c — the plain scalar reference of every op: one thread, one loop per op, f64 accumulators
 * where a sum is long. Other backends and the optimized CPU kernels are tested against it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/vq_ops.h"

float gf_mat_get(const struct gf_mat *m, int64_t i)
{
    switch (m->dtype) {
    case GF_WTYPE_F32:
        return ((const float *)m->data)[i];
    case GF_WTYPE_F16:
        return gf_f16_to_f32(((const uint16_t *)m->data)[i]);
    case GF_WTYPE_BF16:
        return gf_bf16_to_f32(((const uint16_t *)m->data)[i]);
    case GF_WTYPE_Q8_0:
    case GF_WTYPE_Q4_0: {
        int8_t q[GF_QK];
        int64_t r = i / m->cols, c = i % m->cols;
        return gf_qmat_block(m->dtype, m->data, m->cols, r, c / GF_QK, q) * q[c % GF_QK];
    }
    }
    return 0;
}

/* Buffers are 64-byte aligned behind a 64-byte header {total bytes, mapped}. Large ones (a KV
 * cache sized for max_seq positions of every row) are anonymous mappings, so the pages a model
 * never reaches cost no memory; small ones come from the heap. */
enum { S_HEADER = 64, S_MAP_FROM = 1 << 20 };

void *gf_cpu_alloc(struct gf_backend *be, size_t bytes)
{
    size_t total = ((bytes + 63) & ~(size_t)63) + S_HEADER;
    char *base = NULL;
    if (total >= S_MAP_FROM) {
        base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED)
            return NULL;
    } else {
        void *p = NULL;
        if (posix_memalign(&p, 64, total) != 0)
            return NULL;
        base = memset(p, 0, total);
    }
    size_t *h = (size_t *)base;
    h[0] = total, h[1] = total >= S_MAP_FROM;
    return base + S_HEADER;
}

void gf_cpu_free(struct gf_backend *be, void *p)
{
    if (!p)
        return;
    char *base = (char *)p - S_HEADER;
    size_t *h = (size_t *)base;
    if (h[1])
        munmap(base, h[0]);
    else
        free(base);
}

void gf_cpu_copy(struct gf_backend *be, void *dst, const void *src, size_t bytes)
{
    memmove(dst, src, bytes);
}

static void s_linear(struct gf_backend *be, float *y, const float *x, int n, const struct gf_mat *w,
                     const struct gf_mat *bias)
{
    for (int t = 0; t < n; t++)
        for (int64_t r = 0; r < w->rows; r++) {
            double acc = 0;
            for (int64_t c = 0; c < w->cols; c++)
                acc += (double)x[t * w->cols + c] * gf_mat_get(w, r * w->cols + c);
            if (bias)
                acc += gf_mat_get(bias, r);
            y[t * w->rows + r] = (float)acc;
        }
}

static void s_rmsnorm(struct gf_backend *be, float *y, const float *x, int n, int dim,
                      const struct gf_mat *w, float eps)
{
    for (int t = 0; t < n; t++) {
        double ss = 0;
        for (int i = 0; i < dim; i++)
            ss += (double)x[t * dim + i] * x[t * dim + i];
        float inv = (float)(1.0 / sqrt(ss / dim + eps));
        for (int i = 0; i < dim; i++)
            y[t * dim + i] = x[t * dim + i] * inv * gf_mat_get(w, i);
    }
}

void gf_cpu_rope(struct gf_backend *be, float *x, int n, int stride, int n_heads, int head_dim,
                 const int32_t *pos, float theta)
{
    int half = head_dim / 2;
    for (int t = 0; t < n; t++)
        for (int j = 0; j < half; j++) {
            /* as HF: inv_freq in f32, angle = pos * inv_freq in f32 */
            float inv_freq = (float)(1.0 / pow(theta, (double)(2 * j) / head_dim));
            float ang = (float)pos[t] * inv_freq;
            float c = cosf(ang), s = sinf(ang);
            for (int h = 0; h < n_heads; h++) {
                float *v = x + (int64_t)t * stride + h * head_dim;
                float a = v[j], b = v[j + half];
                v[j] = a * c - b * s;
                v[j + half] = b * c + a * s;
            }
        }
}

void gf_cpu_kv_store(struct gf_backend *be, const struct gf_attn *a, const float *k, const float *v,
                     int n, gf_cpu_q8_fn q8)
{
    int hd = a->head_dim, kv_dim = a->n_kv_heads * hd;
    for (int t = 0; t < n; t++)
        for (int h = 0; h < a->n_kv_heads; h++) {
            size_t off = gf_attn_at(a, a->slot[t], h, a->pos[t]);
            size_t from = (size_t)t * kv_dim + h * hd;
            if (a->kv_dtype == GF_WTYPE_Q8_0) { /* whole blocks: hd is a multiple of GF_QK */
                q8(be, (struct gf_block_q8_0 *)a->k + off / GF_QK, k + from, hd);
                q8(be, (struct gf_block_q8_0 *)a->v + off / GF_QK, v + from, hd);
            } else if (a->kv_dtype == GF_WTYPE_F16) {
                for (int i = 0; i < hd; i++) {
                    ((uint16_t *)a->k)[off + i] = gf_f32_to_f16(k[from + i]);
                    ((uint16_t *)a->v)[off + i] = gf_f32_to_f16(v[from + i]);
                }
            } else {
                memcpy((float *)a->k + off, k + from, hd * sizeof(float));
                memcpy((float *)a->v + off, v + from, hd * sizeof(float));
            }
        }
}

static void s_quantize_q8_0(struct gf_backend *be, struct gf_block_q8_0 *blocks, const float *x,
                            int64_t n)
{
    gf_quantize(GF_WTYPE_Q8_0, blocks, x, n);
}

static void s_kv_store(struct gf_backend *be, const struct gf_attn *a, const float *k,
                       const float *v, int n)
{
    gf_cpu_kv_store(be, a, k, v, n, s_quantize_q8_0);
}

static void s_attention(struct gf_backend *be, float *out, const float *q, int n,
                        const struct gf_attn *a)
{
    int hd = a->head_dim, group = a->n_heads / a->n_kv_heads;
    double scale = 1.0 / sqrt((double)hd);
    for (int t = 0; t < n; t++)
        for (int h = 0; h < a->n_heads; h++) {
            const float *qh = q + ((size_t)t * a->n_heads + h) * hd;
            size_t base = gf_attn_at(a, a->slot[t], h / group, 0);
            double mx = -INFINITY, sum = 0;
            for (int p = 0; p <= a->pos[t]; p++) {
                double s = 0;
                for (int i = 0; i < hd; i++)
                    s +=
                        (double)qh[i] * gf_cpu_kv_get(a->k, base + (size_t)p * hd + i, a->kv_dtype);
                if (s * scale > mx)
                    mx = s * scale;
            }
            double acc[GF_CPU_MAX_HEAD_DIM] = {0}; /* [hd] */
            for (int p = 0; p <= a->pos[t]; p++) {
                double s = 0;
                for (int i = 0; i < hd; i++)
                    s +=
                        (double)qh[i] * gf_cpu_kv_get(a->k, base + (size_t)p * hd + i, a->kv_dtype);
                double e = exp(s * scale - mx);
                sum += e;
                for (int i = 0; i < hd; i++)
                    acc[i] += e * gf_cpu_kv_get(a->v, base + (size_t)p * hd + i, a->kv_dtype);
            }
            for (int i = 0; i < hd; i++)
                out[((size_t)t * a->n_heads + h) * hd + i] = (float)(acc[i] / sum);
        }
}

static void s_swiglu(struct gf_backend *be, float *y, const float *gate, const float *up,
                     int64_t count)
{
    for (int64_t i = 0; i < count; i++)
        y[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void gf_cpu_gelu(struct gf_backend *be, float *x, int64_t count)
{
    for (int64_t i = 0; i < count; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}

static void s_add(struct gf_backend *be, float *y, const float *x, int64_t count)
{
    for (int64_t i = 0; i < count; i++)
        y[i] += x[i];
}

void gf_cpu_embed(struct gf_backend *be, float *y, const struct gf_mat *table, const int32_t *ids,
                  int n)
{
    for (int t = 0; t < n; t++)
        for (int64_t c = 0; c < table->cols; c++)
            y[t * table->cols + c] = gf_mat_get(table, (int64_t)ids[t] * table->cols + c);
}

static const struct gf_ops s_ref_ops = {
    .name = "ref",
    .alloc = gf_cpu_alloc,
    .free = gf_cpu_free,
    .to_host = gf_cpu_copy,
    .to_device = gf_cpu_copy,
    .copy = gf_cpu_copy,
    .linear = s_linear,
    .rmsnorm = s_rmsnorm,
    .rope = gf_cpu_rope,
    .kv_store = s_kv_store,
    .attention = s_attention,
    .swiglu = s_swiglu,
    .gelu = gf_cpu_gelu,
    .add = s_add,
    .embed = gf_cpu_embed,
    .conv2d = gf_ref_conv2d,
    .group_norm = gf_ref_group_norm,
    .swish = gf_ref_swish,
    .upsample2x = gf_ref_upsample2x,
    .softmax = gf_ref_softmax,
    .transpose = gf_ref_transpose,
    .kv_f16 = 1,
};

struct gf_backend *gf_backend_ref_new(void)
{
    struct gf_backend *be = calloc(1, sizeof *be);
    if (!be)
        return NULL;
    be->ops = &s_ref_ops;
    be->n_threads = 1;
    return be;
}
