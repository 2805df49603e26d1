/* vq.h — the VQ-16 image decoder (LlamaGen VQ model as used by Janus-Pro and GoT-R1, MODEL.md
 * §1.6, §4): codes [n][h*w] → l2-normalised codebook rows [n][h*w][8] → post_quant_conv →
 * decoder (conv_in, mid res/attn/res, levels of res blocks with attention at the first level,
 * nearest ×2 upsample + conv between levels, GroupNorm + swish + conv_out) → f32 [n][3][H][W].
 *
 * Activations live channels last, [n][h*w][c], on the backend; every op goes through struct
 * gf_ops. Sizes come from config.json gen_vision_config.params with the VQ-16 defaults for any
 * field that is absent, so small test checkpoints run the same code. gf_vq_new checks every
 * decoder tensor (presence, shape, dtype) before anything else, logging one line per problem,
 * and sizes every buffer for max_images images of one code grid; decoding does not allocate.
 * Not thread-safe: one caller at a time.
 */
#ifndef GF_MODEL_VQ_H
#define GF_MODEL_VQ_H

#include <stdint.h>

#include "kernels/ops.h"
#include "model/lm/checkpoint.h"

#define GF_VQ_MAX_LEVELS 8
#define GF_VQ_MAX_RES 4

struct gf_vq_config {
    int codebook_size;             /* image_token_size or codebook_size: 16384 */
    int embed_dim;                 /* n_embed or codebook_embed_dim: 8 */
    int l2_norm;                   /* codebook_l2_norm: 1 */
    int ch;                        /* base channels: 128 */
    int n_levels;                  /* entries of decoder_ch_mult: 5 */
    int ch_mult[GF_VQ_MAX_LEVELS]; /* decoder_ch_mult: 1, 1, 2, 2, 4 */
    int z_channels;                /* 256 */
    int n_res;                     /* num_res_blocks: 2 (each level holds n_res + 1) */
    int groups;                    /* GroupNorm groups: 32 */
    float eps;                     /* GroupNorm eps: 1e-6 */
    /* the picture the language model writes codes for (gen_vision_config.params image_size and
     * patch_size, written by the demo-model trainer; GoT-R1 leaves them out): 384 and 16, so a
     * grid of image_size / patch_size = 24 codes a side */
    int image_size;
    int patch_size;
};

/* The VQ-16 defaults (VQ_16() in GoT-R1's vq_model.py takes no arguments). */
void gf_vq_config_default(struct gf_vq_config *c);
/* Reads gen_vision_config.params from the config.json text; absent fields keep the defaults.
 * Logs one line per problem; returns 0, GF_EPARSE or GF_ESCHEMA. */
int gf_vq_config_parse(const char *path, const char *json, struct gf_vq_config *c);

/* Reads `dir`/config.json and parses it as above. 0, GF_EIO, GF_EPARSE or GF_ESCHEMA (logged). */
int gf_vq_config_load(const char *dir, struct gf_vq_config *c);
/* Codes a side of the picture: image_size / patch_size. */
int gf_vq_config_grid(const struct gf_vq_config *c);

struct gf_vq;

/* Checks the decoder tensors of ck (gen_vision_model.*) against the config in ck->dir and
 * sizes buffers for up to max_images images of grid_h x grid_w codes. Returns 0 and a
 * caller-owned *out (gf_vq_destroy), or GF_ESCHEMA / GF_EPARSE / GF_EIO / GF_ENOMEM after
 * logging. be and ck are borrowed and must outlive the decoder. */
int gf_vq_new(struct gf_backend *be, const struct gf_ckpt *ck, int max_images, int grid_h,
              int grid_w, struct gf_vq **out);
void gf_vq_destroy(struct gf_vq **self_p);

const struct gf_vq_config *gf_vq_config(const struct gf_vq *vq);
/* Output picture size: the grid times 2^(n_levels - 1). */
void gf_vq_image_size(const struct gf_vq *vq, int *height, int *width);
/* Operations of one image's decode (2 per multiply-add of the convs and attention). */
double gf_vq_flops(const struct gf_vq *vq);

/* codes[n][grid_h*grid_w] (raster order) → out[n][3][H][W] f32 in host memory, nominally in
 * [-1, 1]. Returns GF_EINVAL (logged) for n out of range or a code outside the codebook. */
int gf_vq_decode(struct gf_vq *vq, const int32_t *codes, int n, float *out);

/* fn(ctx) is called after every convolution of a decode (tens of times per image), e.g. to keep
 * a stage's heartbeats going through a long decode; NULL turns it off. */
void gf_vq_set_tick(struct gf_vq *vq, void (*fn)(void *ctx), void *ctx);

#endif
