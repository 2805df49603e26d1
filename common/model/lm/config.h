/* config.h — the model's shape, read from a checkpoint's config.json (`multi_modality` schema).
 *
 * language_config fields that are absent take transformers' LlamaConfig defaults (the 7B config
 * lists only what differs from them, MODEL.md §2.1). The heads and the aligner come from
 * gen_head_config, gen_aligner_config and gen_vision_config `params`.
 */
#ifndef GF_MODEL_CONFIG_H
#define GF_MODEL_CONFIG_H

#include <stdint.h>

struct gf_model_config {
    /* language_config */
    int hidden;       /* H */
    int intermediate; /* I */
    int n_layers;
    int n_heads;
    int n_kv_heads;
    int head_dim;
    int vocab; /* rows of embed_tokens and lm_head */
    int max_pos;
    float rms_eps;
    float rope_theta;
    /* gen_head_config.params */
    int image_token_embed; /* output_mlp_projector width */
    int image_vocab;       /* image_token_size: rows of vision_head, gen_embed */
    /* gen_aligner_config.params */
    int aligner_in;    /* input_dim: width of gen_embed */
    int aligner_depth; /* 2 for mlp_gelu as published */
};

/* Reads DIR/config.json (at most 16 MiB) into a NUL-terminated text (caller frees); `path`
 * receives the file's path for messages. 0, or GF_EIO / GF_ETOOBIG / GF_ENOMEM, logged. */
int gf_config_read(const char *dir, char *path, size_t pathlen, char **text_p);

/* The JSON object of a config.json text, or NULL after logging where it is not one (path is
 * only used in the message). The caller json_decref()s it. */
struct json_t;
struct json_t *gf_config_object(const char *path, const char *text);

/* Reads and checks `dir`/config.json. Each problem is logged on its own line; returns 0,
 * GF_EIO, GF_EPARSE or GF_ESCHEMA. */
int gf_config_load(const char *dir, struct gf_model_config *cfg);
/* Same from a JSON text (path is only used in messages). */
int gf_config_parse(const char *path, const char *json, struct gf_model_config *cfg);

#endif
