/* write.c — config.json, tokenizer configs and safetensors files, byte-for-byte reproducible. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/log.h"
#include "write.h"

static int s_dump(const struct mk_opts *o, const char *file, json_t *j)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", o->out, file);
    int rc = json_dump_file(j, path, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    if (rc != 0)
        gf_log_error("cannot write '%s'", path);
    return rc ? -1 : 0;
}

static json_t *s_proj(const char *cls, const char *type, json_t *params)
{
    return json_pack("{s:s, s:s, s:o}", "cls", cls, "model_type", type, "params", params);
}

/* gen_vision_config.params as published, plus the decoder sizes that differ from VQ-16's
 * (the engine reads them with the VQ-16 defaults when absent). */
static json_t *s_vq_params(const struct mk_opts *o)
{
    static const int mult16[] = {1, 1, 2, 2, 4};
    const struct mk_vq *v = &o->vq;
    json_t *p = json_pack("{s:i, s:i}", "image_token_size", o->cfg.image_vocab, "n_embed",
                          o->cfg.aligner_in);
    if (v->image_size > 0)
        json_object_set_new(p, "image_size", json_integer(v->image_size));
    if (v->patch_size > 0)
        json_object_set_new(p, "patch_size", json_integer(v->patch_size));
    if (v->ch <= 0)
        return p;
    int z = v->z_channels ? v->z_channels : 2 * v->ch;
    if (v->ch != 128)
        json_object_set_new(p, "ch", json_integer(v->ch));
    if (z != 256)
        json_object_set_new(p, "z_channels", json_integer(z));
    if (v->n_res != 2)
        json_object_set_new(p, "num_res_blocks", json_integer(v->n_res));
    if (v->n_levels != 5 || memcmp(v->mult, mult16, sizeof mult16) != 0) {
        json_t *m = json_array();
        for (int i = 0; i < v->n_levels; i++)
            json_array_append_new(m, json_integer(v->mult[i]));
        json_object_set_new(p, "decoder_ch_mult", m);
    }
    return p;
}

int mk_write_config(const struct mk_opts *o)
{
    const struct gf_model_config *c = &o->cfg;
    const char *dt = o->dtype == GF_WTYPE_F32   ? "float32"
                     : o->dtype == GF_WTYPE_F16 ? "float16"
                                                : "bfloat16";
    json_t *lc = json_pack(
        "{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:s, s:s, s:b, s:s}", "hidden_size",
        c->hidden, "intermediate_size", c->intermediate, "num_hidden_layers", c->n_layers,
        "num_attention_heads", c->n_heads, "num_key_value_heads", c->n_kv_heads, "vocab_size",
        c->vocab, "max_position_embeddings", c->max_pos, "rms_norm_eps", (double)c->rms_eps,
        "rope_theta", (double)c->rope_theta, "model_type", "llama", "hidden_act", "silu",
        "tie_word_embeddings", 0, "torch_dtype", dt);
    json_t *j = json_pack(
        "{s:[s], s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "architectures",
        "MultiModalityCausalLM", "model_type", "multi_modality", "torch_dtype", dt,
        "transformers_version", "4.49.0", "language_config", lc, "gen_head_config",
        s_proj("vision_head", "gen_head",
               json_pack("{s:i, s:i, s:i}", "n_embed", c->hidden, "image_token_embed",
                         c->image_token_embed, "image_token_size", c->image_vocab)),
        "gen_aligner_config",
        s_proj("MlpProjector", "gen_aligner",
               json_pack("{s:i, s:i, s:i, s:s}", "depth", 2, "input_dim", c->aligner_in, "n_embed",
                         c->hidden, "projector_type", "mlp_gelu")),
        "gen_vision_config", s_proj("VQ-16", "gen_vision", s_vq_params(o)), "aligner_config",
        s_proj("MlpProjector", "aligner",
               json_pack("{s:i, s:i, s:i, s:s}", "depth", 2, "input_dim", 1024, "n_embed",
                         c->hidden, "projector_type", "mlp_gelu")),
        "vision_config",
        s_proj("CLIPVisionTower", "vision",
               json_pack("{s:i, s:s, s:s, s:i}", "image_size", 384, "model_name",
                         "siglip_large_patch16_384", "select_feature", "same", "select_layer",
                         -1)));
    if (!j) {
        gf_log_error("cannot build config.json");
        return -1;
    }
    return s_dump(o, "config.json", j);
}

int mk_write_tokenizer_configs(const struct mk_opts *o)
{
    static const char *const extra[] = {"<image_placeholder>",
                                        "<patch_placeholder>",
                                        "<|ref|>",
                                        "<|/ref|>",
                                        "<|det|>",
                                        "<|/det|>",
                                        "<|grounding|>",
                                        "<|User|>",
                                        "<|Assistant|>"};
    json_t *sp = json_array();
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        json_array_append_new(sp, json_string(extra[i]));
    json_t *stm = json_pack("{s:o, s:s, s:s, s:s}", "additional_special_tokens", sp, "bos_token",
                            "<｜begin▁of▁sentence｜>", "eos_token", "<｜end▁of▁sentence｜>",
                            "pad_token", "<｜▁pad▁｜>");
    json_t *tc = json_pack("{s:s, s:s, s:s, s:n, s:i, s:b, s:s}", "tokenizer_class",
                           "LlamaTokenizer", "bos_token", "<｜begin▁of▁sentence｜>", "eos_token",
                           "<｜end▁of▁sentence｜>", "pad_token", "model_max_length", 16384,
                           "clean_up_tokenization_spaces", 0, "unk_token", "");
    json_t *pc = json_pack("{s:s, s:s, s:i, s:s, s:b, s:s, s:s}", "image_tag",
                           "<image_placeholder>", "pad_tag", "<｜▁pad▁｜>", "num_image_tokens", 576,
                           "processor_class", "VLChatProcessor", "add_special_token", 0,
                           "sft_format", "deepseek", "mask_prompt", "true");
    json_t *pp = json_pack("{s:i, s:[f,f,f], s:[f,f,f], s:s, s:f, s:s}", "image_size", 384,
                           "image_mean", 0.5, 0.5, 0.5, "image_std", 0.5, 0.5, 0.5,
                           "image_processor_type", "VLMImageProcessor", "rescale_factor", 1.0 / 255,
                           "processor_class", "VLChatProcessor");
    if (!stm || !tc || !pc || !pp)
        return -1;
    if (s_dump(o, "special_tokens_map.json", stm) < 0 ||
        s_dump(o, "tokenizer_config.json", tc) < 0 || s_dump(o, "processor_config.json", pc) < 0 ||
        s_dump(o, "preprocessor_config.json", pp) < 0)
        return -1;
    return 0;
}

/* --- weights ---------------------------------------------------------------------------------- */

static uint64_t s_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t s_fnv(const char *s)
{
    return gf_fnv1a(GF_FNV1A_SEED, s, strlen(s));
}

static int64_t s_numel(const struct mk_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

/* Writes t's values (in o->dtype) to f. */
static int s_write_tensor(const struct mk_opts *o, const struct mk_tensor *t, FILE *f)
{
    enum { CHUNK = 1 << 16 };
    static uint8_t buf[CHUNK * 4];
    int64_t n = s_numel(t), fan_in = n / (t->shape[0] ? t->shape[0] : 1);
    float scale = t->init == MK_LINEAR  ? 1.0f / sqrtf((float)(fan_in ? fan_in : 1))
                  : t->init == MK_EMBED ? 1.0f
                                        : 0.1f;
    float base = t->init == MK_NORM ? 1.0f : 0.0f;
    uint64_t key = s_fnv(t->name) ^ s_mix(o->seed);
    size_t es = gf_wtype_size(o->dtype);
    for (int64_t i0 = 0; i0 < n; i0 += CHUNK) {
        int64_t m = n - i0 < CHUNK ? n - i0 : CHUNK;
        for (int64_t i = 0; i < m; i++) {
            uint64_t r = s_mix(key + (uint64_t)(i0 + i) * 0xd1b54a32d192ed03ull);
            float u = (float)(r >> 40) * (1.0f / (1 << 23)) - 1.0f; /* exact, in [-1, 1) */
            float v = base + u * scale;
            if (o->dtype == GF_WTYPE_F32)
                memcpy(buf + 4 * i, &v, 4);
            else {
                uint16_t h = o->dtype == GF_WTYPE_F16 ? gf_f32_to_f16(v) : gf_f32_to_bf16(v);
                buf[2 * i] = (uint8_t)h, buf[2 * i + 1] = (uint8_t)(h >> 8);
            }
        }
        if (fwrite(buf, es, m, f) != (size_t)m)
            return -1;
    }
    return 0;
}

/* One safetensors file holding tensors [i0, i1) of the sorted list. */
static int s_write_file(const struct mk_opts *o, const struct mk_list *l, int i0, int i1,
                        const char *file)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", o->out, file);
    json_t *h = json_object();
    json_object_set_new(h, "__metadata__", json_pack("{s:s}", "format", "pt"));
    uint64_t off = 0;
    size_t es = gf_wtype_size(o->dtype);
    for (int i = i0; i < i1; i++) {
        const struct mk_tensor *t = &l->t[i];
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
        uint64_t end = off + (uint64_t)s_numel(t) * es;
        json_object_set_new(h, t->name,
                            json_pack("{s:s, s:o, s:[I,I]}", "dtype", gf_wtype_name(o->dtype),
                                      "shape", shape, "data_offsets", (json_int_t)off,
                                      (json_int_t)end));
        off = end;
    }
    char *text = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(h);
    FILE *f = fopen(path, "wb");
    int rc = -1;
    if (!text || !f) {
        gf_log_error("cannot write '%s': %s", path, strerror(errno));
        goto out;
    }
    size_t len = strlen(text), padded = (len + 7) & ~(size_t)7;
    uint8_t hl[8];
    for (int b = 0; b < 8; b++)
        hl[b] = (uint8_t)((uint64_t)padded >> (8 * b));
    if (fwrite(hl, 1, 8, f) != 8 || fwrite(text, 1, len, f) != len ||
        fwrite("        ", 1, padded - len, f) != padded - len)
        goto out;
    for (int i = i0; i < i1; i++)
        if (s_write_tensor(o, &l->t[i], f) < 0)
            goto out;
    rc = 0;
out:
    if (f && fclose(f) != 0)
        rc = -1;
    if (rc < 0 && f)
        gf_log_error("cannot write '%s': %s", path, strerror(errno));
    free(text);
    return rc;
}

int mk_write_weights(const struct mk_opts *o, const struct mk_list *l)
{
    if (o->shards == 1)
        return s_write_file(o, l, 0, l->n, "model.safetensors");
    uint64_t total = 0, done = 0;
    size_t es = gf_wtype_size(o->dtype);
    for (int i = 0; i < l->n; i++)
        total += s_numel(&l->t[i]) * es;
    json_t *map = json_object();
    int i0 = 0;
    for (int s = 0; s < o->shards; s++) {
        /* close this shard once it reaches its share of the bytes (the last takes the rest) */
        int i1 = i0;
        uint64_t goal = total * (s + 1) / o->shards;
        while (i1 < l->n && (s == o->shards - 1 || done < goal || i1 == i0))
            done += s_numel(&l->t[i1++]) * es;
        char file[64];
        snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", s + 1, o->shards);
        if (s_write_file(o, l, i0, i1, file) < 0) {
            json_decref(map);
            return -1;
        }
        for (int i = i0; i < i1; i++)
            json_object_set_new(map, l->t[i].name, json_string(file));
        i0 = i1;
    }
    json_t *idx =
        json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)total, "weight_map", map);
    return s_dump(o, "model.safetensors.index.json", idx);
}
