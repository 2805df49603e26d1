/* config.c — config.json of a multi_modality checkpoint into struct gf_model_config. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/grow.h"
#include "core/log.h"
#include "model/lm/config.h"

#define S_INT_MAX (1 << 24)

/* An integer field of obj, or def when absent; logs and counts a bad one (not a whole number, or
 * outside 1..S_INT_MAX) with the file and the key. */
static int s_int(const char *path, json_t *obj, const char *sect, const char *key, int def,
                 int *bad)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return def;
    double x = json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v);
    if (!json_is_number(v) || x != floor(x)) {
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        gf_log_error("'%s': %s.%s must be an integer, got %s%.40s", path, sect, key,
                     json_is_string(v) ? "the string " : "", text ? text : "?");
        free(text);
        (*bad)++;
        return def;
    }
    if (x < 1 || x > S_INT_MAX) {
        gf_log_error("'%s': %s.%s is out of range: %.0f (1 .. %d)", path, sect, key, x, S_INT_MAX);
        (*bad)++;
        return def;
    }
    return (int)x;
}

static float s_num(const char *path, json_t *obj, const char *sect, const char *key, double def,
                   int *bad)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return (float)def;
    if (!json_is_number(v) || json_number_value(v) <= 0) {
        gf_log_error("'%s': %s.%s must be a positive number", path, sect, key);
        (*bad)++;
        return (float)def;
    }
    return (float)json_number_value(v);
}

/* obj[key].params, or NULL after logging. */
static json_t *s_params(const char *path, json_t *root, const char *key, int *bad)
{
    json_t *p = json_object_get(json_object_get(root, key), "params");
    if (!json_is_object(p)) {
        gf_log_error("'%s': missing %s.params", path, key);
        (*bad)++;
    }
    return p;
}

static void s_expect(const char *path, int ok, int *bad, const char *fmt, int a, int b)
{
    if (ok)
        return;
    char msg[256];
    snprintf(msg, sizeof msg, fmt, a, b);
    gf_log_error("'%s': %s", path, msg);
    (*bad)++;
}

json_t *gf_config_object(const char *path, const char *text)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (!json_is_object(root)) {
        gf_log_error("'%s': not a JSON object (line %d: %s)", path, jerr.line, jerr.text);
        json_decref(root);
        return NULL;
    }
    return root;
}

int gf_config_parse(const char *path, const char *text, struct gf_model_config *c)
{
    int bad = 0;
    json_t *root = gf_config_object(path, text);
    if (!root)
        return GF_EPARSE;
    const char *mt = json_string_value(json_object_get(root, "model_type"));
    if (!mt || strcmp(mt, "multi_modality") != 0) {
        gf_log_error("'%s': model_type is '%s', expected 'multi_modality'", path, mt ? mt : "");
        bad++;
    }
    json_t *lc = json_object_get(root, "language_config");
    if (!json_is_object(lc)) {
        gf_log_error("'%s': missing language_config", path);
        json_decref(root);
        return GF_ESCHEMA;
    }
    const char *lt = json_string_value(json_object_get(lc, "model_type"));
    if (lt && strcmp(lt, "llama") != 0) {
        gf_log_error("'%s': language_config.model_type is '%s', expected 'llama'", path, lt);
        bad++;
    }
    const char *act = json_string_value(json_object_get(lc, "hidden_act"));
    if (act && strcmp(act, "silu") != 0) {
        gf_log_error("'%s': language_config.hidden_act '%s' is not supported", path, act);
        bad++;
    }
    json_t *rs = json_object_get(lc, "rope_scaling");
    if (rs && !json_is_null(rs)) {
        gf_log_error("'%s': language_config.rope_scaling is not supported", path);
        bad++;
    }
    if (json_is_true(json_object_get(lc, "tie_word_embeddings"))) {
        gf_log_error("'%s': language_config.tie_word_embeddings is not supported", path);
        bad++;
    }
    const char *L = "language_config";
    int bad_before = bad; /* a value already reported bad is not compared with others */
    c->hidden = s_int(path, lc, L, "hidden_size", 4096, &bad);
    c->intermediate = s_int(path, lc, L, "intermediate_size", 11008, &bad);
    c->n_layers = s_int(path, lc, L, "num_hidden_layers", 32, &bad);
    c->n_heads = s_int(path, lc, L, "num_attention_heads", 32, &bad);
    c->n_kv_heads = s_int(path, lc, L, "num_key_value_heads", c->n_heads, &bad);
    c->head_dim = s_int(path, lc, L, "head_dim", c->hidden / c->n_heads, &bad);
    c->vocab = s_int(path, lc, L, "vocab_size", 32000, &bad);
    c->max_pos = s_int(path, lc, L, "max_position_embeddings", 2048, &bad);
    c->rms_eps = s_num(path, lc, L, "rms_norm_eps", 1e-6, &bad);
    c->rope_theta = s_num(path, lc, L, "rope_theta", 10000.0, &bad);
    int lang_ok = bad == bad_before;
    s_expect(path, !lang_ok || c->n_heads * c->head_dim == c->hidden, &bad,
             "heads x head_dim (%d) differs from hidden_size (%d)", c->n_heads * c->head_dim,
             c->hidden);
    s_expect(path, !lang_ok || c->n_heads % c->n_kv_heads == 0, &bad,
             "num_attention_heads %d is not a multiple of num_key_value_heads %d", c->n_heads,
             c->n_kv_heads);
    s_expect(path, !lang_ok || (c->head_dim % 2 == 0 && c->head_dim <= 512), &bad,
             "head_dim %d must be even and at most %d", c->head_dim, 512);

    json_t *gh = s_params(path, root, "gen_head_config", &bad);
    json_t *ga = s_params(path, root, "gen_aligner_config", &bad);
    json_t *gv = s_params(path, root, "gen_vision_config", &bad);
    if (gh && ga && gv) {
        int n_embed = s_int(path, gh, "gen_head_config.params", "n_embed", 0, &bad);
        c->image_token_embed =
            s_int(path, gh, "gen_head_config.params", "image_token_embed", 0, &bad);
        c->image_vocab = s_int(path, gh, "gen_head_config.params", "image_token_size", 0, &bad);
        int vq_size = s_int(path, gv, "gen_vision_config.params", "image_token_size", 0, &bad);
        int vq_dim = s_int(path, gv, "gen_vision_config.params", "n_embed", 0, &bad);
        c->aligner_in = s_int(path, ga, "gen_aligner_config.params", "input_dim", 0, &bad);
        c->aligner_depth = s_int(path, ga, "gen_aligner_config.params", "depth", 2, &bad);
        int al_out = s_int(path, ga, "gen_aligner_config.params", "n_embed", 0, &bad);
        int gen_ok = lang_ok && bad == bad_before;
        const char *pt = json_string_value(json_object_get(ga, "projector_type"));
        if (pt && strcmp(pt, "mlp_gelu") != 0) {
            gf_log_error("'%s': gen_aligner_config projector_type '%s' is not supported", path, pt);
            bad++;
        }
        s_expect(path, !gen_ok || n_embed == c->hidden, &bad,
                 "gen_head_config n_embed %d differs from hidden_size %d", n_embed, c->hidden);
        s_expect(path, !gen_ok || al_out == c->hidden, &bad,
                 "gen_aligner_config n_embed %d differs from hidden_size %d", al_out, c->hidden);
        s_expect(path, !gen_ok || vq_size == c->image_vocab, &bad,
                 "gen_vision_config image_token_size %d differs from gen_head_config's %d", vq_size,
                 c->image_vocab);
        s_expect(path, !gen_ok || vq_dim == c->aligner_in, &bad,
                 "gen_vision_config n_embed %d differs from gen_aligner_config input_dim %d",
                 vq_dim, c->aligner_in);
        s_expect(path, !gen_ok || c->aligner_depth == 2, &bad,
                 "gen_aligner_config depth %d is not supported (only %d)", c->aligner_depth, 2);
    }
    json_decref(root);
    return bad ? GF_ESCHEMA : 0;
}

int gf_config_read(const char *dir, char *path, size_t pathlen, char **text_p)
{
    *text_p = NULL;
    snprintf(path, pathlen, "%s/config.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        gf_log_error("cannot open '%s': %m", path);
        return GF_EIO;
    }
    char *text = NULL;
    size_t cap = 0, len = 0, got;
    int rc = GF_ENOMEM;
    do {
        if (len + 4096 + 1 > cap) {
            if (cap > (16u << 20)) {
                gf_log_error("'%s': larger than 16 MiB", path);
                rc = GF_ETOOBIG;
                goto out;
            }
            if (gf_grow((void **)&text, &cap, len + 4096 + 1, 1) != 0)
                goto out;
        }
        got = fread(text + len, 1, 4096, f);
        len += got;
    } while (got > 0);
    text[len] = 0;
    *text_p = text;
    text = NULL;
    rc = 0;
out:
    fclose(f);
    free(text);
    return rc;
}

int gf_config_load(const char *dir, struct gf_model_config *cfg)
{
    char path[4096], *text;
    int rc = gf_config_read(dir, path, sizeof path, &text);
    if (rc == 0)
        rc = gf_config_parse(path, text, cfg);
    free(text);
    return rc;
}
