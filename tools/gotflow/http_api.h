/* http_api.h — the OpenAI-shaped body of the HTTP front: request JSON in, gateway request out,
 * answer frame in, response JSON and Server-Sent Events out (docs/http.md). No sockets here. */
#ifndef GF_TOOLS_HTTP_API_H
#define GF_TOOLS_HTTP_API_H

#include <jansson.h>
#include <msgpack.h>
#include <stddef.h>

#include "engine/frame.h"
#include "generate.h"

#define GF_HTTP_MAX_PROMPT 32768 /* bytes of a prompt */
#define GF_HTTP_MAX_N 16         /* images per request (the stages' parallel_size limit) */

/* What the front knows of the model it serves. */
struct gf_http_model {
    char id[128];   /* the `id` of GET /v1/models: the checkpoint folder's name */
    char name[128]; /* the graph's name, also accepted as `model` */
    char dir[4096]; /* the checkpoint folder */
    int width, height;
    int demo; /* 1 the demo model (answers get a layout score), -1 another */
};

/* One POST /v1/images/generations, checked. */
struct gf_http_req {
    char *prompt; /* owned: gf_http_req_release */
    char user[257];
    int n, b64, stream;
    long long seed;
    double cfg_weight, text_temp, image_temp;
    long max_tokens;
    unsigned have; /* GF_GENERATE_HAVE_* of the fields given */
};

/* Reads `body` into `r`. 0, or -1 with `why` and `param` (the field at fault, or NULL) set for
 * an OpenAI `invalid_request_error`. `seed` is taken from the clock when not given. */
int gf_http_req_parse(const char *body, size_t len, const struct gf_http_model *mdl,
                      struct gf_http_req *r, char *why, size_t whylen, const char **param);
void gf_http_req_release(struct gf_http_req *r);

/* The gateway request for `r` under `id` (docs/protocol.md): kind prompt, text, params. */
void gf_http_req_pack(const struct gf_http_req *r, const char *id, msgpack_sbuffer *sb);

/* The parameters as meta.json records them: the request's, and the pipeline's defaults for
 * the rest (filled by the caller with gf_generate_defaults). */
void gf_http_req_meta(const struct gf_http_req *r, const struct gf_http_model *mdl,
                      const char *pipeline, struct gf_generate_meta *m);

/* The response object of a `result` answer (caller owns): created, id, data (one entry per
 * picture: {"b64_json"} or, when urls is not NULL, {"url": urls[k]}), reasoning, layout,
 * metadata. */
json_t *gf_http_result_json(const gf_frame_t *answer, const struct gf_http_req *r,
                            const struct gf_generate_meta *m, char *const *urls);

/* The same object as gf_http_result_json, as compact JSON text (caller owns; its length in
 * *len), with `data` first; NULL when out of memory. */
char *gf_http_result_body(const gf_frame_t *answer, const struct gf_http_req *r,
                          const struct gf_generate_meta *m, char *const *urls, size_t *len);

/* The HTTP status and OpenAI error of an `error` answer: fills type, code (static strings) and
 * message. */
int gf_http_error_status(const gf_frame_t *answer, const char **type, const char **code,
                         char *message, size_t len);

/* {"error": {"message", "type", "param", "code"}} as text (caller frees). */
char *gf_http_error_body(const char *message, const char *type, const char *param,
                         const char *code);

/* Base64 of `len` bytes (caller frees), or NULL when out of memory. */
char *gf_http_base64(const void *data, size_t len);

#endif
