/* tensors.h — the tensor list of a GoT-R1 / Janus-Pro checkpoint, as published, for mkmodel. */
#ifndef GF_TOOLS_MKMODEL_TENSORS_H
#define GF_TOOLS_MKMODEL_TENSORS_H

#include <stdint.h>

#include "model/config.h"

enum mk_init { MK_LINEAR, MK_NORM, MK_BIAS, MK_EMBED };

struct mk_tensor {
    char name[128];
    int ndim;
    int64_t shape[4];
    enum mk_init init;
};

struct mk_list {
    struct mk_tensor *t; /* [n], sorted by name once built */
    int n, cap;
};

/* Appends every tensor of the published layout for cfg; vq_ch 0 leaves out gen_vision_model. */
int mk_list_build(struct mk_list *l, const struct gf_model_config *cfg, int vq_ch);
void mk_list_release(struct mk_list *l);

#endif
