/* genconfig.h — generation_config.json of a checkpoint: the generation defaults it carries.
 *
 * A checkpoint folder may hold generation_config.json (as Hugging Face checkpoints do): a JSON
 * object whose keys are request parameter names of the reason and imagegen stages
 * (text_temperature, text_top_k, text_top_p, max_tokens, image_temperature, image_top_k,
 * image_top_p, cfg_weight, parallel_size) and whose values are numbers. The stages take them as
 * their defaults, under the graph's stage params, which are under the request's params; keys
 * it does not know (Hugging Face's `transformers_version`, ...) are left alone. A folder without
 * the file has no defaults of its own: the stages keep GoT-R1's (temperature 1, cfg_weight 5).
 */
#ifndef GF_MODEL_GENCONFIG_H
#define GF_MODEL_GENCONFIG_H

#include <stddef.h>

#define GF_GENCONFIG_FILE "generation_config.json"

/* The keys, one place: name, lower and upper bound, whole number. */
#define GF_GENCONFIG_KEYS(X)                                                                       \
    X(TEXT_TEMPERATURE, "text_temperature", 0.0, 100.0, 0)                                         \
    X(TEXT_TOP_K, "text_top_k", 0.0, 1073741824.0, 1)                                              \
    X(TEXT_TOP_P, "text_top_p", 1e-6, 1.0, 0)                                                      \
    X(MAX_TOKENS, "max_tokens", 1.0, 600.0, 1)                                                     \
    X(IMAGE_TEMPERATURE, "image_temperature", 0.0, 100.0, 0)                                       \
    X(IMAGE_TOP_K, "image_top_k", 0.0, 1073741824.0, 1)                                            \
    X(IMAGE_TOP_P, "image_top_p", 1e-6, 1.0, 0)                                                    \
    X(CFG_WEIGHT, "cfg_weight", 0.0, 100.0, 0)                                                     \
    X(PARALLEL_SIZE, "parallel_size", 1.0, 16.0, 1)

enum gf_genconfig_key {
#define GF_X(id, name, lo, hi, whole) GF_GEN_##id,
    GF_GENCONFIG_KEYS(GF_X)
#undef GF_X
        GF_GEN_N
};

struct gf_genconfig {
    double value[GF_GEN_N];
    unsigned char set[GF_GEN_N]; /* 1: the file gives this key */
};

/* Reads DIR/generation_config.json into *gc (all unset when the file is not there). 0, or
 * GF_EIO (unreadable), GF_EPARSE (not a JSON object) / GF_ESCHEMA (a known key that is not a
 * number, or out of its range) with `why` naming the file and the key. */
int gf_genconfig_load(const char *dir, struct gf_genconfig *gc, char *why, size_t whylen);

/* The value of the key called `name`, else dflt (also for a name that is not a key). */
double gf_genconfig_get(const struct gf_genconfig *gc, const char *name, double dflt);

#endif
