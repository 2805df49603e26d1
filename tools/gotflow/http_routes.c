/* http_routes.c — the routes of the HTTP front (docs/http.md): generation, models, files,
 * health, readiness, metrics and the console. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/error.h"
#include "core/log.h"
#include "core/version.h"
#include "engine/edge.h"
#include "http_int.h"

static enum MHD_Result s_send(struct gf_http_conn *cc, struct MHD_Connection *c, int status,
                              const char *ctype, char *body, size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == 429 || status == 503)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    cc->status = status;
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result s_json(struct gf_http_conn *cc, struct MHD_Connection *c, int status,
                              json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s)
        return MHD_NO;
    return s_send(cc, c, status, "application/json", s, strlen(s));
}

enum MHD_Result gf_http_error(struct gf_http_conn *cc, struct MHD_Connection *c, int status,
                              const char *message, const char *type, const char *param,
                              const char *code)
{
    char *s = gf_http_error_body(message, type, param, code);
    if (!s)
        return MHD_NO;
    return s_send(cc, c, status, "application/json", s, strlen(s));
}

static int s_authorized(struct gf_http *s, struct MHD_Connection *c)
{
    if (!s->n_keys)
        return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    h += 7;
    size_t n = strlen(h);
    int ok = 0;
    for (int i = 0; i < s->n_keys; i++) {
        size_t kn = strlen(s->keys[i]);
        unsigned diff = (unsigned)(kn ^ n);
        for (size_t k = 0; k < kn; k++)
            diff |= (unsigned char)s->keys[i][k] ^ (unsigned char)(k < n ? h[k] : 0);
        ok |= diff == 0;
    }
    return ok;
}

/* Generation ------------------------------------------------------------------------------------
 */

static int s_done(struct gf_http_job *j)
{
    return j->done;
}

void gf_http_store(struct gf_http *s, const void *png, size_t len, char *url, size_t url_len)
{
    uint8_t rnd[12];
    char name[64];
    if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd)
        memset(rnd, 0, sizeof rnd);
    int o = 0;
    for (size_t i = 0; i < sizeof rnd; i++)
        o += snprintf(name + o, sizeof name - o, "%02x", rnd[i]);
    snprintf(name + o, sizeof name - o, ".png");
    uint8_t *copy = malloc(len);
    if (copy)
        memcpy(copy, png, len);
    pthread_mutex_lock(&s->mu);
    struct gf_http_stored *st = &s->store[s->store_next++ % GF_HTTP_STORE];
    free(st->png);
    snprintf(st->name, sizeof st->name, "%s", name);
    st->png = copy;
    st->len = copy ? len : 0;
    pthread_mutex_unlock(&s->mu);
    snprintf(url, url_len, "%sv1/images/files/%s", s->url, name);
}

/* The answer of a finished job: the response or the error. */
static enum MHD_Result s_answer(struct gf_http_conn *cc, struct MHD_Connection *c)
{
    struct gf_http *s = cc->s;
    gf_frame_t *f = NULL;
    char why[512];
    if (!cc->job->answer ||
        gf_frame_decode(cc->job->answer, cc->job->answer_len, 0, &f, why, sizeof why, NULL) != 0)
        return gf_http_error(cc, c, 502, "the pipeline's answer cannot be read", "server_error",
                             NULL, "bad_answer");
    enum MHD_Result rc;
    if (strcmp(f->kind, "error") == 0) {
        const char *type, *code;
        char msg[1024];
        int status = gf_http_error_status(f, &type, &code, msg, sizeof msg);
        rc = gf_http_error(cc, c, status, msg, type, NULL, code);
    } else {
        struct gf_generate_meta m;
        gf_http_req_meta(&cc->req, &s->model, s->o.pipeline, &m);
        gf_http_defaults(s, cc->req.have, &m);
        char *urls[GF_HTTP_MAX_N] = {0};
        const msgpack_object *png = gf_frame_get(f, "png");
        if (!cc->req.b64 && png && png->type == MSGPACK_OBJECT_ARRAY) {
            for (uint32_t k = 0; k < png->via.array.size && k < GF_HTTP_MAX_N; k++) {
                const msgpack_object *b = &png->via.array.ptr[k];
                urls[k] = malloc(512);
                if (urls[k] && b->type == MSGPACK_OBJECT_BIN)
                    gf_http_store(s, b->via.bin.ptr, b->via.bin.size, urls[k], 512);
            }
        }
        size_t len = 0;
        char *body = gf_http_result_body(f, &cc->req, &m, cc->req.b64 ? NULL : urls, &len);
        rc = body ? s_send(cc, c, 200, "application/json", body, len)
                  : gf_http_error(cc, c, 500, "out of memory", "server_error", NULL, NULL);
        for (int k = 0; k < GF_HTTP_MAX_N; k++)
            free(urls[k]);
    }
    gf_frame_destroy(&f);
    return rc;
}

static enum MHD_Result s_generate(struct gf_http_conn *cc, struct MHD_Connection *c)
{
    struct gf_http *s = cc->s;
    if (cc->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "the body is over the limit of %zu bytes", s->o.max_body);
        return gf_http_error(cc, c, 413, msg, "invalid_request_error", NULL, "request_too_large");
    }
    if (s->draining)
        return gf_http_error(cc, c, 503, "the server is stopping; retry later", "server_error",
                             NULL, "draining");
    char why[512];
    const char *param = NULL;
    if (gf_http_req_parse(cc->body ? cc->body : "", cc->len, &s->model, &cc->req, why, sizeof why,
                          &param) != 0)
        return gf_http_error(cc, c, 400, why, "invalid_request_error", param, "invalid_request");
    cc->have_req = 1;
    cc->job = gf_http_job_submit(s, &cc->req, cc->req.stream);
    if (!cc->job)
        return gf_http_error(cc, c, 500, "out of memory", "server_error", NULL, NULL);
    if (cc->req.stream)
        return gf_http_sse_start(cc, c);
    pthread_mutex_lock(&s->mu);
    int rc = gf_http_wait(s, cc->job, s_done);
    pthread_mutex_unlock(&s->mu);
    if (rc == GF_ETIMEDOUT) {
        char msg[128];
        snprintf(msg, sizeof msg, "no result within %d ms", s->o.timeout_ms);
        return gf_http_error(cc, c, 504, msg, "server_error", NULL, "timeout");
    }
    if (rc)
        return gf_http_error(cc, c, 503, "the server is stopping", "server_error", NULL,
                             "draining");
    return s_answer(cc, c);
}

/* Other routes -----------------------------------------------------------------------------------
 */

static enum MHD_Result s_models(struct gf_http_conn *cc, struct MHD_Connection *c)
{
    json_t *m = json_pack("{s:s,s:s,s:i,s:s}", "id", cc->s->model.id, "object", "model", "created",
                          0, "owned_by", "gotflow");
    return s_json(cc, c, 200, json_pack("{s:s,s:[o]}", "object", "list", "data", m));
}

/* The supervisor's status (caller owns), or NULL after `timeout_ms`. Its own sockets: this runs
 * in a connection thread. */
static json_t *s_status(struct gf_http *s, int timeout_ms)
{
    char ep[GF_PATH_MAX + 16];
    void *ctx = zmq_ctx_new(), *sock = zmq_socket(ctx, ZMQ_DEALER);
    json_t *reply = NULL;
    gf_socket_defaults(sock, 64 << 20);
    gf_plan_admin(s->run_dir, ep, sizeof ep);
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    if (zmq_connect(sock, ep) == 0 && zmq_send(sock, "status", 6, 0) == 6 &&
        zmq_poll(&it, 1, timeout_ms) == 1) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) >= 0)
            reply = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, NULL);
        zmq_msg_close(&m);
    }
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return reply;
}

static enum MHD_Result s_ready(struct gf_http_conn *cc, struct MHD_Connection *c)
{
    const char *why = NULL;
    json_t *st = cc->s->draining ? NULL : s_status(cc->s, 2000);
    if (cc->s->draining)
        why = "the server is stopping";
    else if (!st)
        why = "the supervisor does not answer";
    else if (!json_is_string(json_object_get(st, "state")) ||
             strcmp(json_string_value(json_object_get(st, "state")), "running") != 0)
        why = "the pipeline is not running";
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(st, "replicas"), i, r)
    {
        const char *state = json_string_value(json_object_get(r, "state"));
        if (!why && (!state || strcmp(state, "ready") != 0))
            why = "a replica is not ready";
    }
    json_decref(st);
    if (why)
        return s_json(cc, c, 503, json_pack("{s:b,s:s}", "ready", 0, "why", why));
    return s_json(cc, c, 200, json_pack("{s:b}", "ready", 1));
}

static enum MHD_Result s_status_route(struct gf_http_conn *cc, struct MHD_Connection *c)
{
    json_t *st = s_status(cc->s, 2000);
    if (!st)
        return gf_http_error(cc, c, 503, "the supervisor does not answer", "server_error", NULL,
                             "unavailable");
    return s_json(cc, c, 200, st);
}

static enum MHD_Result s_metrics(struct gf_http_conn *cc, struct MHD_Connection *c)
{
    struct gf_http *s = cc->s;
    size_t cap = 8192, n = 0;
    char *b = malloc(cap);
    if (!b)
        return MHD_NO;
    pthread_mutex_lock(&s->mu);
    n += snprintf(b + n, cap - n,
                  "# HELP gotflow_http_responses_total HTTP responses by status.\n"
                  "# TYPE gotflow_http_responses_total counter\n");
    for (int st = 100; st < 600 && n < cap - 128; st++)
        if (s->status_count[st])
            n += snprintf(b + n, cap - n, "gotflow_http_responses_total{code=\"%d\"} %llu\n", st,
                          (unsigned long long)s->status_count[st]);
    n += snprintf(b + n, cap - n,
                  "# HELP gotflow_http_in_flight Generation requests waiting on the pipeline.\n"
                  "# TYPE gotflow_http_in_flight gauge\ngotflow_http_in_flight %d\n"
                  "# HELP gotflow_http_generation_seconds Time to answer a generation request.\n"
                  "# TYPE gotflow_http_generation_seconds summary\n"
                  "gotflow_http_generation_seconds_sum %.6f\n"
                  "gotflow_http_generation_seconds_count %llu\n"
                  "# TYPE gotflow_http_draining gauge\ngotflow_http_draining %d\n",
                  s->n_jobs, s->gen_seconds, (unsigned long long)s->gen_count, s->draining);
    pthread_mutex_unlock(&s->mu);
    return s_send(cc, c, 200, "text/plain; version=0.0.4", b, n);
}

static enum MHD_Result s_file(struct gf_http_conn *cc, struct MHD_Connection *c, const char *name)
{
    struct gf_http *s = cc->s;
    uint8_t *copy = NULL;
    size_t len = 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < GF_HTTP_STORE && !copy; i++) {
        if (s->store[i].png && strcmp(s->store[i].name, name) == 0 &&
            (copy = malloc(s->store[i].len))) {
            memcpy(copy, s->store[i].png, s->store[i].len);
            len = s->store[i].len;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (!copy)
        return gf_http_error(cc, c, 404, "no such picture (pictures are kept for the last 256)",
                             "invalid_request_error", NULL, "not_found");
    return s_send(cc, c, 200, "image/png", (char *)copy, len);
}

static enum MHD_Result s_static(struct gf_http_conn *cc, struct MHD_Connection *c, const char *url)
{
    const char *ctype, *data;
    size_t len;
    if (gf_http_console_file(url, &ctype, &data, &len) != 0)
        return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    cc->status = 200;
    enum MHD_Result rc = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* Dispatch ---------------------------------------------------------------------------------------
 */

static enum MHD_Result s_route(struct gf_http_conn *cc, struct MHD_Connection *c, const char *url,
                               const char *method)
{
    struct gf_http *s = cc->s;
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int post = strcmp(method, "POST") == 0;
    const char *ct, *d;
    size_t l;
    if (strcmp(url, "/healthz") == 0 && get)
        return s_json(cc, c, 200, json_pack("{s:s,s:s}", "status", "ok", "version", GF_VERSION));
    if (strcmp(url, "/readyz") == 0 && get)
        return s_ready(cc, c);
    if (strncmp(url, "/v1/images/files/", 17) == 0 && get)
        return s_file(cc, c, url + 17);
    if (get && gf_http_console_file(url, &ct, &d, &l) == 0)
        return s_static(cc, c, url);
    int tap = strncmp(url, "/v1/taps/", 9) == 0 && url[9] && !strchr(url + 9, '/');
    int known = strcmp(url, "/v1/images/generations") == 0 || strcmp(url, "/v1/models") == 0 ||
                strcmp(url, "/metrics") == 0 || strcmp(url, "/v1/status") == 0 || tap;
    if (!known) {
        char msg[300];
        snprintf(msg, sizeof msg, "no route '%.200s'", url);
        return gf_http_error(cc, c, 404, msg, "invalid_request_error", NULL, "not_found");
    }
    if (!s_authorized(s, c))
        return gf_http_error(cc, c, 401, "a valid API key is needed: 'Authorization: Bearer KEY'",
                             "invalid_request_error", NULL, "invalid_api_key");
    if (strcmp(url, "/v1/images/generations") == 0 && post)
        return s_generate(cc, c);
    if (strcmp(url, "/v1/models") == 0 && get)
        return s_models(cc, c);
    if (strcmp(url, "/metrics") == 0 && get)
        return s_metrics(cc, c);
    if (strcmp(url, "/v1/status") == 0 && get)
        return s_status_route(cc, c);
    if (tap && get)
        return gf_http_tap_start(cc, c, url + 9,
                                 MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "kind"));
    char msg[300];
    snprintf(msg, sizeof msg, "method %s is not allowed on '%.200s'", method, url);
    return gf_http_error(cc, c, 405, msg, "invalid_request_error", NULL, "method_not_allowed");
}

enum MHD_Result gf_http_access(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    struct gf_http *s = cls;
    struct gf_http_conn *cc = *con_cls;
    if (!cc) {
        cc = calloc(1, sizeof *cc);
        if (!cc)
            return MHD_NO;
        cc->s = s;
        cc->t0 = gf_http_now_ms();
        *con_cls = cc;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->o.max_body) {
            char msg[128];
            snprintf(msg, sizeof msg, "the body of %s bytes is over the limit of %zu bytes", cl,
                     s->o.max_body);
            return gf_http_error(cc, c, 413, msg, "invalid_request_error", NULL,
                                 "request_too_large");
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (cc->too_big || cc->len + *upload_size > s->o.max_body) {
            cc->too_big = 1;
        } else {
            if (cc->len + *upload_size + 1 > cc->cap) {
                size_t cap = (cc->len + *upload_size + 1) * 2;
                char *p = realloc(cc->body, cap);
                if (!p)
                    return MHD_NO;
                cc->body = p;
                cc->cap = cap;
            }
            memcpy(cc->body + cc->len, upload, *upload_size);
            cc->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return s_route(cc, c, url, method);
}

void gf_http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                       enum MHD_RequestTerminationCode why)
{
    struct gf_http *s = cls;
    struct gf_http_conn *cc = *con_cls;
    if (!cc)
        return;
    gf_http_job_finish(s, &cc->job);
    pthread_mutex_lock(&s->mu);
    if (cc->status > 0 && cc->status < 600)
        s->status_count[cc->status]++;
    if (cc->have_req) {
        s->gen_count++;
        s->gen_seconds += (gf_http_now_ms() - cc->t0) / 1000.0;
    }
    pthread_mutex_unlock(&s->mu);
    gf_http_sse_release(cc);
    gf_http_tap_release(cc);
    if (cc->have_req)
        gf_http_req_release(&cc->req);
    free(cc->body);
    free(cc);
    *con_cls = NULL;
}
