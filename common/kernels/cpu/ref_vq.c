/* ref_vq.c — scalar references of the image decoder ops: one thread, one loop nest per op,
 * f64 accumulators for every long sum. */
#include <math.h>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/vq_ops.h"

void gf_ref_conv2d(struct gf_backend *be, float *y, const float *x, int n, int h, int wd, int k,
                   const struct gf_mat *w, const struct gf_mat *bias, float *work, int64_t work_len)
{
    int64_t cout = w->rows, cin = w->cols / (k * k), hw = (int64_t)h * wd;
    int pad = k / 2;
    for (int b = 0; b < n; b++)
        for (int oy = 0; oy < h; oy++)
            for (int ox = 0; ox < wd; ox++)
                for (int64_t o = 0; o < cout; o++) {
                    double acc = bias ? gf_mat_get(bias, o) : 0.0;
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int iy = oy + ky - pad, ix = ox + kx - pad;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= wd)
                                continue;
                            const float *xp = x + (b * hw + (int64_t)iy * wd + ix) * cin;
                            for (int64_t i = 0; i < cin; i++)
                                acc += (double)xp[i] *
                                       gf_mat_get(w, o * w->cols + (i * k + ky) * k + kx);
                        }
                    y[(b * hw + (int64_t)oy * wd + ox) * cout + o] = (float)acc;
                }
}

void gf_ref_group_norm(struct gf_backend *be, float *y, const float *x, int n, int hw, int c,
                       int groups, const struct gf_mat *w, const struct gf_mat *b, float eps,
                       int swish, float *work)
{
    int cg = c / groups;
    for (int t = 0; t < n; t++)
        for (int g = 0; g < groups; g++) {
            const float *xs = x + (int64_t)t * hw * c + g * cg;
            float *ys = y + (int64_t)t * hw * c + g * cg;
            double sum = 0, ss = 0, cnt = (double)hw * cg;
            for (int64_t p = 0; p < hw; p++)
                for (int i = 0; i < cg; i++)
                    sum += xs[p * c + i];
            double mean = sum / cnt;
            for (int64_t p = 0; p < hw; p++)
                for (int i = 0; i < cg; i++) {
                    double d = xs[p * c + i] - mean;
                    ss += d * d;
                }
            double rstd = 1.0 / sqrt(ss / cnt + eps);
            for (int64_t p = 0; p < hw; p++)
                for (int i = 0; i < cg; i++) {
                    int ch = g * cg + i;
                    double v =
                        (xs[p * c + i] - mean) * rstd * gf_mat_get(w, ch) + gf_mat_get(b, ch);
                    ys[p * c + i] = (float)(swish ? v / (1.0 + exp(-v)) : v);
                }
        }
}

void gf_ref_swish(struct gf_backend *be, float *x, int64_t count)
{
    for (int64_t i = 0; i < count; i++)
        x[i] = (float)(x[i] / (1.0 + exp(-(double)x[i])));
}

void gf_ref_upsample2x(struct gf_backend *be, float *y, const float *x, int n, int h, int wd, int c)
{
    for (int t = 0; t < n; t++)
        for (int oy = 0; oy < 2 * h; oy++)
            for (int ox = 0; ox < 2 * wd; ox++)
                for (int i = 0; i < c; i++)
                    y[(((int64_t)t * 2 * h + oy) * 2 * wd + ox) * c + i] =
                        x[(((int64_t)t * h + oy / 2) * wd + ox / 2) * c + i];
}

void gf_ref_softmax(struct gf_backend *be, float *x, int64_t rows, int cols, float scale)
{
    for (int64_t r = 0; r < rows; r++) {
        float *v = x + r * cols;
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < cols; j++)
            mx = fmax(mx, (double)scale * v[j]);
        for (int j = 0; j < cols; j++)
            sum += exp((double)scale * v[j] - mx);
        for (int j = 0; j < cols; j++)
            v[j] = (float)(exp((double)scale * v[j] - mx) / sum);
    }
}

void gf_ref_transpose(struct gf_backend *be, float *y, const float *x, int rows, int cols)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < cols; j++)
            y[j * rows + r] = x[r * cols + j];
}
