/* write.h — the files mkmodel writes. */
#ifndef GF_TOOLS_MKMODEL_WRITE_H
#define GF_TOOLS_MKMODEL_WRITE_H

#include <stdint.h>

#include "kernels/ops.h"
#include "model/lm/config.h"
#include "tensors.h"

struct mk_opts {
    struct gf_model_config cfg;
    struct mk_vq vq;
    enum gf_wtype dtype;
    int shards;
    uint64_t seed;
    const char *out;
    const char *tokenizer; /* base tokenizer.json, or NULL for a byte-level one */
};

int mk_write_config(const struct mk_opts *o);
int mk_write_tokenizer_configs(const struct mk_opts *o);
/* tokenizer.json: the base plus the Janus and GoT-R1 added tokens */
int mk_write_tokenizer(const struct mk_opts *o);
/* model.safetensors, or model-0000i-of-0000N.safetensors + model.safetensors.index.json */
int mk_write_weights(const struct mk_opts *o, const struct mk_list *l);

#endif
