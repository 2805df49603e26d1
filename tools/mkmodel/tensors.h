/* tensors.h — the tensor list of a GoT-R1 / Janus-Pro checkpoint, as published, for mkmodel. */
#ifndef GF_TOOLS_MKMODEL_TENSORS_H
#define GF_TOOLS_MKMODEL_TENSORS_H

#include <stdint.h>

#include "model/lm/config.h"

enum mk_init { MK_LINEAR, MK_NORM, MK_BIAS, MK_EMBED };

struct mk_tensor {
    char name[128];
    int ndim;
    int64_t shape[4];
    enum mk_init init;
};

/* Shape of the VQ decoder path (gen_vision_model); ch 0 leaves it out. */
struct mk_vq {
    int ch;         /* base channels (VQ-16: 128) */
    int n_levels;   /* entries of mult (VQ-16: 5) */
    int mult[8];    /* decoder_ch_mult (VQ-16: 1, 1, 2, 2, 4) */
    int z_channels; /* 0 means 2 * ch (VQ-16: 256) */
    int n_res;      /* num_res_blocks (VQ-16: 2) */
    int image_size; /* gen_vision_config image_size, 0 = not written (384) */
    int patch_size; /* gen_vision_config patch_size, 0 = not written (16) */
};

struct mk_list {
    struct mk_tensor *t; /* [n], sorted by name once built */
    int n;
    size_t cap;
};

/* Appends every tensor of the published layout for cfg and vq. */
int mk_list_build(struct mk_list *l, const struct gf_model_config *cfg, const struct mk_vq *vq);
void mk_list_release(struct mk_list *l);

#endif
