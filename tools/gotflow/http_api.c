/* http_api.c — see http_api.h. */
#include "http_api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/version.h"
#include "engine/json.h"
#include "model/picture/layout.h"

static const char *s_known[] = {"prompt",
                                "n",
                                "response_format",
                                "size",
                                "user",
                                "model",
                                "stream",
                                "seed",
                                "cfg_weight",
                                "text_temperature",
                                "image_temperature",
                                "max_tokens",
                                "quality",
                                "style",
                                "output_format",
                                "partial_images",
                                NULL};

static int s_bad(char *why, size_t whylen, const char **param, const char *field, const char *msg)
{
    snprintf(why, whylen, "%s", msg);
    *param = field;
    return -1;
}

/* A non-negative number field; 0 absent, 1 read, -1 wrong. */
static int s_number(json_t *j, const char *key, double max, double *out)
{
    json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return -1;
    double d = json_number_value(v);
    if (!isfinite(d) || d < 0 || d > max)
        return -1;
    *out = d;
    return 1;
}

/* An integer field in [min, max]; 0 absent, 1 read, -1 wrong. */
static int s_integer(json_t *j, const char *key, long long min, long long max, long long *out)
{
    json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return -1;
    *out = json_integer_value(v);
    return 1;
}

static int s_check_size(json_t *j, const struct gf_http_model *mdl, char *why, size_t whylen,
                        const char **param)
{
    json_t *v = json_object_get(j, "size");
    if (!v || json_is_null(v))
        return 0;
    char want[64];
    snprintf(want, sizeof want, "%dx%d", mdl->width, mdl->height);
    const char *s = json_string_value(v);
    if (s && (strcmp(s, want) == 0 || strcmp(s, "auto") == 0))
        return 0;
    snprintf(why, whylen, "'size' must be '%s', the size the model '%s' makes (or 'auto')", want,
             mdl->id);
    *param = "size";
    return -1;
}

/* The extension fields and n. */
static int s_params(json_t *j, struct gf_http_req *r, char *why, size_t whylen, const char **param)
{
    long long n = 1, seed = 0, max_tokens = 0;
    int k;
    if (s_integer(j, "n", 1, GF_HTTP_MAX_N, &n) < 0)
        return s_bad(why, whylen, param, "n", "'n' must be an integer from 1 to 16");
    r->n = (int)n;
    if (n != 1 || json_object_get(j, "n"))
        r->have |= GF_GENERATE_HAVE_PARALLEL;
    if ((k = s_integer(j, "seed", 0, 0x7fffffffffffffffLL, &seed)) < 0)
        return s_bad(why, whylen, param, "seed", "'seed' must be a non-negative integer");
    if (k) {
        r->seed = seed;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r->seed = (long long)((ts.tv_sec * 1000003LL) ^ ts.tv_nsec) & 0x7fffffff;
    }
    if ((k = s_integer(j, "max_tokens", 1, 4096, &max_tokens)) < 0)
        return s_bad(why, whylen, param, "max_tokens",
                     "'max_tokens' must be an integer from 1 to 4096");
    r->max_tokens = (long)max_tokens;
    r->have |= k ? GF_GENERATE_HAVE_MAX_TOKENS : 0;
    if ((k = s_number(j, "cfg_weight", 1000, &r->cfg_weight)) < 0)
        return s_bad(why, whylen, param, "cfg_weight",
                     "'cfg_weight' must be a number from 0 to 1000");
    r->have |= k ? GF_GENERATE_HAVE_CFG : 0;
    if ((k = s_number(j, "text_temperature", 100, &r->text_temp)) < 0)
        return s_bad(why, whylen, param, "text_temperature",
                     "'text_temperature' must be a number from 0 to 100");
    r->have |= k ? GF_GENERATE_HAVE_TEXT_TEMP : 0;
    if ((k = s_number(j, "image_temperature", 100, &r->image_temp)) < 0)
        return s_bad(why, whylen, param, "image_temperature",
                     "'image_temperature' must be a number from 0 to 100");
    r->have |= k ? GF_GENERATE_HAVE_IMAGE_TEMP : 0;
    return 0;
}

static int s_fields(json_t *j, const struct gf_http_model *mdl, struct gf_http_req *r, char *why,
                    size_t whylen, const char **param)
{
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        int known = 0;
        for (int i = 0; s_known[i] && !known; i++)
            known = strcmp(key, s_known[i]) == 0;
        if (!known) {
            snprintf(why, whylen, "unknown parameter '%.64s'", key);
            *param = "";
            return -1;
        }
    }
    v = json_object_get(j, "prompt");
    if (!json_is_string(v) || json_string_length(v) == 0)
        return s_bad(why, whylen, param, "prompt", "'prompt' must be a non-empty string");
    if (json_string_length(v) > GF_HTTP_MAX_PROMPT ||
        strlen(json_string_value(v)) != json_string_length(v))
        return s_bad(why, whylen, param, "prompt",
                     "'prompt' must be at most 32768 bytes, without NUL");
    v = json_object_get(j, "response_format");
    const char *fmt = v && !json_is_null(v) ? json_string_value(v) : "b64_json";
    if (!fmt || (strcmp(fmt, "b64_json") != 0 && strcmp(fmt, "url") != 0))
        return s_bad(why, whylen, param, "response_format",
                     "'response_format' must be 'b64_json' or 'url'");
    r->b64 = strcmp(fmt, "b64_json") == 0;
    v = json_object_get(j, "stream");
    if (v && !json_is_null(v) && !json_is_boolean(v))
        return s_bad(why, whylen, param, "stream", "'stream' must be true or false");
    r->stream = json_is_true(v);
    v = json_object_get(j, "user");
    if (v && !json_is_null(v) && (!json_is_string(v) || json_string_length(v) > 256))
        return s_bad(why, whylen, param, "user", "'user' must be a string of at most 256 bytes");
    snprintf(r->user, sizeof r->user, "%s", v && json_is_string(v) ? json_string_value(v) : "");
    v = json_object_get(j, "model");
    const char *model = v && !json_is_null(v) ? json_string_value(v) : mdl->id;
    if (!model || (strcmp(model, mdl->id) != 0 && strcmp(model, mdl->name) != 0)) {
        snprintf(why, whylen, "the model '%.128s' is not served here; GET /v1/models lists '%s'",
                 model ? model : "?", mdl->id);
        *param = "model";
        return -1;
    }
    v = json_object_get(j, "output_format");
    if (v && !json_is_null(v) && (!json_is_string(v) || strcmp(json_string_value(v), "png") != 0))
        return s_bad(why, whylen, param, "output_format", "'output_format' must be 'png'");
    if (s_check_size(j, mdl, why, whylen, param))
        return -1;
    return s_params(j, r, why, whylen, param);
}

int gf_http_req_parse(const char *body, size_t len, const struct gf_http_model *mdl,
                      struct gf_http_req *r, char *why, size_t whylen, const char **param)
{
    *r = (struct gf_http_req){0};
    *param = NULL;
    json_error_t err;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        snprintf(why, whylen, "the body is not JSON: %s at line %d column %d", err.text, err.line,
                 err.column);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(j)) {
        snprintf(why, whylen, "the body must be a JSON object");
    } else if (s_fields(j, mdl, r, why, whylen, param) == 0) {
        r->prompt = strdup(json_string_value(json_object_get(j, "prompt")));
        rc = r->prompt ? 0 : -1;
        if (rc)
            snprintf(why, whylen, "out of memory");
    }
    json_decref(j);
    return rc;
}

void gf_http_req_release(struct gf_http_req *r)
{
    free(r->prompt);
    r->prompt = NULL;
}

static void s_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

void gf_http_req_pack(const struct gf_http_req *r, const char *id, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4 + (r->user[0] != 0));
    s_str(&pk, "id");
    s_str(&pk, id);
    s_str(&pk, "kind");
    s_str(&pk, "prompt");
    s_str(&pk, "text");
    s_str(&pk, r->prompt);
    if (r->user[0]) {
        s_str(&pk, "user");
        s_str(&pk, r->user);
    }
    unsigned h = r->have;
    s_str(&pk, "params");
    msgpack_pack_map(&pk, 1 + !!(h & GF_GENERATE_HAVE_CFG) + !!(h & GF_GENERATE_HAVE_TEXT_TEMP) +
                              !!(h & GF_GENERATE_HAVE_IMAGE_TEMP) +
                              !!(h & GF_GENERATE_HAVE_PARALLEL) +
                              !!(h & GF_GENERATE_HAVE_MAX_TOKENS));
    s_str(&pk, "seed");
    msgpack_pack_int64(&pk, r->seed);
    if (h & GF_GENERATE_HAVE_CFG) {
        s_str(&pk, "cfg_weight");
        msgpack_pack_double(&pk, r->cfg_weight);
    }
    if (h & GF_GENERATE_HAVE_TEXT_TEMP) {
        s_str(&pk, "text_temperature");
        msgpack_pack_double(&pk, r->text_temp);
    }
    if (h & GF_GENERATE_HAVE_IMAGE_TEMP) {
        s_str(&pk, "image_temperature");
        msgpack_pack_double(&pk, r->image_temp);
    }
    if (h & GF_GENERATE_HAVE_PARALLEL) {
        s_str(&pk, "parallel_size");
        msgpack_pack_int64(&pk, r->n);
    }
    if (h & GF_GENERATE_HAVE_MAX_TOKENS) {
        s_str(&pk, "max_tokens");
        msgpack_pack_int64(&pk, r->max_tokens);
    }
}

void gf_http_req_meta(const struct gf_http_req *r, const struct gf_http_model *mdl,
                      const char *pipeline, struct gf_generate_meta *m)
{
    *m = (struct gf_generate_meta){.prompt = r->prompt,
                                   .model = mdl->dir,
                                   .pipeline = pipeline,
                                   .seed = r->seed,
                                   .cfg_weight = r->cfg_weight,
                                   .text_temp = r->text_temp,
                                   .image_temp = r->image_temp,
                                   .parallel = r->n,
                                   .max_tokens = r->max_tokens,
                                   .demo = mdl->demo};
}

/* Writes the base64 of data[len] at out ((len + 2) / 3 * 4 bytes, no NUL); returns its length. */
static size_t s_base64_to(char *out, const void *data, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *p = data;
    char *o = out;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63], *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    return (size_t)(o - out);
}

char *gf_http_base64(const void *data, size_t len)
{
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (out)
        out[s_base64_to(out, data, len)] = 0;
    return out;
}

/* The pictures of a result (NULL when it has none). */
static const msgpack_object *s_pngs(const gf_frame_t *answer)
{
    const msgpack_object *png = gf_frame_get(answer, "png");
    return png && png->type == MSGPACK_OBJECT_ARRAY ? png : NULL;
}

/* Everything of the response object but `data`. */
static void s_result_rest(json_t *j, const gf_frame_t *answer, const struct gf_generate_meta *m)
{
    json_object_set_new(j, "output_format", json_string("png"));
    const char *text;
    size_t len;
    if (gf_frame_get_str(answer, "text", &text, &len) == 0) {
        json_object_set_new(j, "reasoning", json_stringn(text, len));
        gf_layout_t *lay = NULL;
        if (gf_layout_parse(text, len, &lay) == 0)
            json_object_set_new(j, "layout", gf_layout_to_json(lay));
        gf_layout_destroy(&lay);
    }
    json_object_set_new(j, "metadata", gf_generate_meta_json(answer, m));
}

json_t *gf_http_result_json(const gf_frame_t *answer, const struct gf_http_req *r,
                            const struct gf_generate_meta *m, char *const *urls)
{
    json_t *j = json_object(), *data = json_array();
    json_object_set_new(j, "created", json_integer((json_int_t)time(NULL)));
    json_object_set_new(j, "id", json_string(answer->id));
    const msgpack_object *png = s_pngs(answer);
    for (uint32_t k = 0; png && k < png->via.array.size; k++) {
        const msgpack_object *b = &png->via.array.ptr[k];
        if (b->type != MSGPACK_OBJECT_BIN)
            continue;
        json_t *e = json_object();
        if (urls) {
            json_object_set_new(e, "url", json_string(urls[k]));
        } else {
            char *s = gf_http_base64(b->via.bin.ptr, b->via.bin.size);
            json_object_set_new(e, "b64_json", s ? json_string(s) : json_null());
            free(s);
        }
        json_object_set_new(e, "revised_prompt", json_string(r->prompt));
        json_array_append_new(data, e);
    }
    json_object_set_new(j, "data", data);
    s_result_rest(j, answer, m);
    return j;
}

/* The body is written in one piece: the base64 of the pictures goes straight into it, as JSON
 * needs no escape for base64; a JSON library would check and copy the string, then escape it
 * byte by byte when dumping (a third of a millisecond for one 384x384 picture). */
char *gf_http_result_body(const gf_frame_t *answer, const struct gf_http_req *r,
                          const struct gf_generate_meta *m, char *const *urls, size_t *len)
{
    static const char head[] = "{\"data\":[", b64_key[] = "{\"b64_json\":\"",
                      prompt_key[] = "\"revised_prompt\":", url_key[] = "{\"url\":";
    json_t *rest = json_object(), *prompt = json_string(r->prompt);
    json_object_set_new(rest, "created", json_integer((json_int_t)time(NULL)));
    json_object_set_new(rest, "id", json_string(answer->id));
    s_result_rest(rest, answer, m);
    char *rest_s = json_dumps(rest, JSON_COMPACT), *prompt_s = NULL, *out = NULL;
    char *url_s[GF_HTTP_MAX_N] = {0};
    json_decref(rest);
    if (prompt)
        prompt_s = json_dumps(prompt, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(prompt);
    if (!rest_s || !prompt_s)
        goto out;
    const msgpack_object *png = s_pngs(answer);
    uint32_t n = png ? png->via.array.size : 0;
    size_t need = sizeof head + strlen(rest_s) + 2;
    for (uint32_t k = 0; k < n; k++) {
        const msgpack_object *b = &png->via.array.ptr[k];
        if (b->type != MSGPACK_OBJECT_BIN || (urls && k >= GF_HTTP_MAX_N))
            continue;
        if (urls) {
            json_t *u = json_string(urls[k] ? urls[k] : "");
            url_s[k] = u ? json_dumps(u, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            json_decref(u);
            if (!url_s[k])
                goto out;
        }
        need += sizeof b64_key + sizeof prompt_key + strlen(prompt_s) + 4 +
                (urls ? strlen(url_s[k]) : (b->via.bin.size + 2) / 3 * 4);
    }
    if (!(out = malloc(need)))
        goto out;
    char *o = out;
#define S_PUT(p, l) (memcpy(o, (p), (l)), o += (l))
    S_PUT(head, sizeof head - 1);
    int first = 1;
    for (uint32_t k = 0; k < n; k++) {
        const msgpack_object *b = &png->via.array.ptr[k];
        if (b->type != MSGPACK_OBJECT_BIN || (urls && k >= GF_HTTP_MAX_N))
            continue;
        if (!first)
            *o++ = ',';
        first = 0;
        if (urls) {
            S_PUT(url_key, sizeof url_key - 1);
            S_PUT(url_s[k], strlen(url_s[k]));
        } else {
            S_PUT(b64_key, sizeof b64_key - 1);
            o += s_base64_to(o, b->via.bin.ptr, b->via.bin.size);
            *o++ = '"';
        }
        *o++ = ',';
        S_PUT(prompt_key, sizeof prompt_key - 1);
        S_PUT(prompt_s, strlen(prompt_s));
        *o++ = '}';
    }
    *o++ = ']';
    if (rest_s[1] != '}') /* rest_s is "{...}": its members follow data's */
        *o++ = ',';
    S_PUT(rest_s + 1, strlen(rest_s + 1));
#undef S_PUT
    *o = 0;
    *len = (size_t)(o - out);
out:
    for (int k = 0; k < GF_HTTP_MAX_N; k++)
        free(url_s[k]);
    free(rest_s);
    free(prompt_s);
    return out;
}

int gf_http_error_status(const gf_frame_t *answer, const char **type, const char **code,
                         char *message, size_t len)
{
    const char *c = "ESTAGE", *msg = "", *stage = "?";
    size_t cl = 6, ml = 0, sl = 1;
    gf_frame_get_str(answer, "code", &c, &cl);
    gf_frame_get_str(answer, "message", &msg, &ml);
    gf_frame_get_str(answer, "stage", &stage, &sl);
    snprintf(message, len, "%.*s (stage '%.*s', %.*s)", (int)ml, msg, (int)sl, stage, (int)cl, c);
    static const struct {
        const char *code;
        int status;
        const char *type, *ocode;
    } map[] = {
        {"EBUSY", 429, "rate_limit_error", "rate_limit_exceeded"},
        {"EDRAINING", 503, "server_error", "draining"},
        {"ETIMEDOUT", 504, "server_error", "timeout"},
        {"ETOOBIG", 413, "invalid_request_error", "request_too_large"},
        {"ESCHEMA", 400, "invalid_request_error", "invalid_request"},
        {"EPARSE", 400, "invalid_request_error", "invalid_request"},
        {"EINVAL", 400, "invalid_request_error", "invalid_request"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strlen(map[i].code) == cl && memcmp(map[i].code, c, cl) == 0) {
            *type = map[i].type;
            *code = map[i].ocode;
            return map[i].status;
        }
    }
    *type = "server_error";
    *code = "pipeline_error";
    return 500;
}

char *gf_http_error_body(const char *message, const char *type, const char *param, const char *code)
{
    json_t *e = json_object(), *j = json_object();
    json_object_set_new(e, "message", json_string(message));
    json_object_set_new(e, "type", json_string(type));
    json_object_set_new(e, "param", param ? json_string(param) : json_null());
    json_object_set_new(e, "code", code ? json_string(code) : json_null());
    json_object_set_new(j, "error", e);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}
