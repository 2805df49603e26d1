/* http.c — see http.h. The server, the routes, the bridge to the gateway; the JSON is in
 * http_api.c and the Server-Sent Events in http_sse.c. */
#include "http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "core/version.h"
#include "engine/edge.h"
#include "engine/security.h"
#include "model/score/score.h"
#include "util.h"

int64_t gf_http_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits on `job` (s->mu held) until `ready(job)` or the deadline or a stop; 0 ready,
 * GF_ETIMEDOUT, GF_ECLOSED. */
int gf_http_wait(struct gf_http *s, struct gf_http_job *job, int (*ready)(struct gf_http_job *))
{
    while (!ready(job)) {
        if (s->stopping)
            return GF_ECLOSED;
        int64_t now = gf_http_now_ms();
        if (now >= job->deadline)
            return GF_ETIMEDOUT;
        int64_t until = now + 200 < job->deadline ? now + 200 : job->deadline;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (until - now) * 1000000;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&job->cv, &s->mu, &ts);
    }
    return 0;
}

/* Jobs ---------------------------------------------------------------------------------------- */

struct gf_http_job *gf_http_job_submit(struct gf_http *s, const struct gf_http_req *r, int stream)
{
    struct gf_http_job *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    pthread_cond_init(&job->cv, NULL);
    msgpack_sbuffer_init(&job->req);
    job->stream = stream;
    job->deadline = gf_http_now_ms() + s->o.timeout_ms;
    pthread_mutex_lock(&s->mu);
    snprintf(job->id, sizeof job->id, "http-%016llx-%llu", (unsigned long long)s->id_prefix,
             (unsigned long long)++s->id_count);
    gf_http_req_pack(r, job->id, &job->req);
    job->next = s->jobs;
    if (s->jobs)
        s->jobs->prev = job;
    s->jobs = job;
    s->n_jobs++;
    pthread_mutex_unlock(&s->mu);
    char b = 1;
    if (write(s->wake[1], &b, 1) < 0 && errno != EAGAIN)
        gf_log_warn("cannot wake the bridge: %s", strerror(errno));
    return job;
}

void gf_http_job_finish(struct gf_http *s, struct gf_http_job **job_p)
{
    struct gf_http_job *job = *job_p;
    if (!job)
        return;
    pthread_mutex_lock(&s->mu);
    if (job->prev)
        job->prev->next = job->next;
    else
        s->jobs = job->next;
    if (job->next)
        job->next->prev = job->prev;
    s->n_jobs--;
    struct gf_http_event *e = job->events;
    pthread_cond_broadcast(&s->drained);
    pthread_mutex_unlock(&s->mu);
    while (e) {
        struct gf_http_event *next = e->next;
        free(e);
        e = next;
    }
    free(job->answer);
    msgpack_sbuffer_destroy(&job->req);
    pthread_cond_destroy(&job->cv);
    free(job);
    *job_p = NULL;
}

/* The bridge ---------------------------------------------------------------------------------- */

static struct gf_http_job *s_find(struct gf_http *s, const char *id)
{
    for (struct gf_http_job *j = s->jobs; j; j = j->next)
        if (strcmp(j->id, id) == 0)
            return j;
    return NULL;
}

/* Sends what waits to be sent; everything in flight again with `all` (a new connection). */
static void s_bridge_send(struct gf_http *s, int all)
{
    pthread_mutex_lock(&s->mu);
    for (struct gf_http_job *j = s->jobs; j; j = j->next) {
        if (j->done || (j->sent && !all))
            continue;
        if (zmq_send(s->dealer, j->req.data, j->req.size, ZMQ_DONTWAIT) >= 0)
            j->sent = 1;
    }
    pthread_mutex_unlock(&s->mu);
}

static void s_bridge_answer(struct gf_http *s)
{
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s->dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        char id[GF_FRAME_ID_MAX];
        gf_frame_peek_id(zmq_msg_data(&m), zmq_msg_size(&m), id);
        pthread_mutex_lock(&s->mu);
        struct gf_http_job *j = s_find(s, id);
        if (j && !j->done) {
            j->answer = malloc(zmq_msg_size(&m) ? zmq_msg_size(&m) : 1);
            if (j->answer) {
                memcpy(j->answer, zmq_msg_data(&m), zmq_msg_size(&m));
                j->answer_len = zmq_msg_size(&m);
            }
            j->done = 1;
            pthread_cond_signal(&j->cv);
        }
        pthread_mutex_unlock(&s->mu);
        zmq_msg_close(&m);
    }
}

/* A tap frame: kept for the streaming job it belongs to. */
static void s_bridge_tap(struct gf_http *s)
{
    for (;;) {
        zmq_msg_t parts[3];
        int n = 0, more = 1;
        while (more && n < 3) {
            zmq_msg_init(&parts[n]);
            if (zmq_msg_recv(&parts[n], s->sub, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&parts[n]);
                break;
            }
            more = zmq_msg_more(&parts[n++]);
        }
        if (n == 0)
            return;
        if (n == 3) {
            char id[GF_FRAME_ID_MAX];
            size_t len = zmq_msg_size(&parts[2]);
            gf_frame_peek_id(zmq_msg_data(&parts[2]), len, id);
            pthread_mutex_lock(&s->mu);
            struct gf_http_job *j = s_find(s, id);
            struct gf_http_event *e = j && j->stream && !j->done ? malloc(sizeof *e + len) : NULL;
            if (e) {
                e->next = NULL;
                e->len = len;
                memcpy(e->data, zmq_msg_data(&parts[2]), len);
                *(j->events ? &j->events_tail->next : &j->events) = e;
                j->events_tail = e;
                pthread_cond_signal(&j->cv);
            }
            pthread_mutex_unlock(&s->mu);
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&parts[i]);
    }
}

/* A connection to the gateway came back after a break: what was in flight is sent again under
 * the same ids (docs/protocol.md, "Across a gateway restart"). */
static void s_bridge_monitor(struct gf_http *s)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    int got = zmq_msg_recv(&m, s->monitor, ZMQ_DONTWAIT);
    uint16_t event = 0;
    if (got >= 6)
        memcpy(&event, zmq_msg_data(&m), 2);
    while (zmq_msg_more(&m)) { /* the endpoint */
        zmq_msg_close(&m);
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s->monitor, ZMQ_DONTWAIT) < 0)
            break;
    }
    zmq_msg_close(&m);
    if (event == ZMQ_EVENT_DISCONNECTED)
        s->broken = 1;
    if (event == ZMQ_EVENT_CONNECTED && s->broken) {
        s->broken = 0;
        gf_log_info("the gateway is back: sending what is in flight again");
        s_bridge_send(s, 1);
    }
}

static void *s_bridge(void *arg)
{
    struct gf_http *s = arg;
    while (!s->bridge_stop) {
        zmq_pollitem_t it[4] = {{s->dealer, 0, ZMQ_POLLIN, 0},
                                {s->sub, 0, ZMQ_POLLIN, 0},
                                {NULL, s->wake[0], ZMQ_POLLIN, 0},
                                {s->monitor, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(it, s->monitor ? 4 : 3, 200) <= 0)
            continue;
        if (it[2].revents & ZMQ_POLLIN) {
            char buf[256];
            while (read(s->wake[0], buf, sizeof buf) > 0)
                ;
            s_bridge_send(s, 0);
        }
        if (it[0].revents & ZMQ_POLLIN)
            s_bridge_answer(s);
        if (it[1].revents & ZMQ_POLLIN)
            s_bridge_tap(s);
        if (s->monitor && (it[3].revents & ZMQ_POLLIN))
            s_bridge_monitor(s);
    }
    return NULL;
}

/* Subscribes to `stage.kind.` on every replica of the stages of kind `stage_kind`. */
static void s_subscribe(struct gf_http *s, const char *stage_kind, const char *kind)
{
    const gf_graph_t *g = s->graph;
    for (int si = 0; si < g->n_stages; si++) {
        if (strcmp(g->stages[si].kind, stage_kind) != 0)
            continue;
        char topic[160], ep[GF_PATH_MAX];
        snprintf(topic, sizeof topic, "%s.%s.", g->stages[si].name, kind);
        zmq_setsockopt(s->sub, ZMQ_SUBSCRIBE, topic, strlen(topic));
        for (int r = 0; r < g->stages[si].replicas; r++) {
            gf_plan_tap(g, s->run_dir, si, r, 0, ep, sizeof ep);
            zmq_connect(s->sub, ep);
        }
    }
}

static int s_bridge_start(struct gf_http *s, char *why, size_t whylen)
{
    const gf_graph_t *g = s->graph;
    int gw = -1;
    for (int i = 0; i < g->n_stages && gw < 0; i++)
        if (strcmp(g->stages[i].kind, "gateway") == 0)
            gw = i;
    if (gw < 0) {
        snprintf(why, whylen, "the graph '%s' has no gateway stage", g->name);
        return -1;
    }
    char ep[GF_PATH_MAX];
    gf_plan_gateway(g, s->run_dir, gw, ep, sizeof ep);
    s->zctx = zmq_ctx_new();
    s->dealer = zmq_socket(s->zctx, ZMQ_DEALER);
    s->sub = zmq_socket(s->zctx, ZMQ_SUB);
    gf_socket_defaults(s->dealer, g->max_frame_bytes);
    gf_socket_defaults(s->sub, g->max_frame_bytes);
    int hwm = 0;
    zmq_setsockopt(s->dealer, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s->dealer, ZMQ_RCVHWM, &hwm, sizeof hwm);
    struct gf_security sec = {0};
    if (strncmp(ep, "tcp://", 6) == 0 &&
        gf_security_init(&sec, s->zctx, g, getenv("GOTFLOW_KEY_FILE"), 0) != 0) {
        snprintf(why, whylen, "cannot secure the connection to the gateway '%s'", ep);
        return -1;
    }
    gf_security_client(&sec, s->dealer, ep, gf_plan_host_key(g, gw, 0));
    if (zmq_socket_monitor(s->dealer, "inproc://http-monitor",
                           ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED) == 0) {
        s->monitor = zmq_socket(s->zctx, ZMQ_PAIR);
        if (zmq_connect(s->monitor, "inproc://http-monitor") != 0) {
            zmq_close(s->monitor);
            s->monitor = NULL;
        }
    }
    if (zmq_connect(s->dealer, ep) != 0) {
        snprintf(why, whylen, "cannot connect to the gateway '%s': %s", ep,
                 zmq_strerror(zmq_errno()));
        return -1;
    }
    s_subscribe(s, "reason", "text_delta");
    s_subscribe(s, "imagegen", "progress");
    if (pipe2(s->wake, O_NONBLOCK | O_CLOEXEC) != 0 ||
        pthread_create(&s->bridge, NULL, s_bridge, s) != 0) {
        snprintf(why, whylen, "cannot start the bridge thread: %s", strerror(errno));
        return -1;
    }
    s->bridge_started = 1;
    return 0;
}

/* Setup ---------------------------------------------------------------------------------------- */

/* The model's id and picture size, from the checkpoint's config.json. */
static void s_model(struct gf_http *s)
{
    struct gf_http_model *m = &s->model;
    const gf_graph_t *g = s->graph;
    snprintf(m->dir, sizeof m->dir, "%s", g->model);
    const char *base = strrchr(g->model, '/');
    snprintf(m->id, sizeof m->id, "%.127s", g->model[0] ? (base ? base + 1 : g->model) : g->name);
    snprintf(m->name, sizeof m->name, "%.127s", g->name);
    m->width = m->height = 384;
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", g->model);
    json_t *j = g->model[0] ? json_load_file(path, 0, NULL) : NULL;
    json_t *size = json_object_get(
        json_object_get(json_object_get(j, "gen_vision_config"), "params"), "image_size");
    if (json_is_integer(size) && json_integer_value(size) > 0)
        m->width = m->height = (int)json_integer_value(size);
    json_decref(j);
    m->demo = gf_score_is_demo_model(g->model) ? 1 : -1;
    char why[512];
    if (gf_generate_defaults(g, 0, &s->defaults, why, sizeof why) != 0)
        gf_log_warn("%s", why);
}

void gf_http_defaults(const struct gf_http *s, unsigned have, struct gf_generate_meta *m)
{
    const struct gf_generate_meta *d = &s->defaults;
    if (!(have & GF_GENERATE_HAVE_CFG))
        m->cfg_weight = d->cfg_weight;
    if (!(have & GF_GENERATE_HAVE_TEXT_TEMP))
        m->text_temp = d->text_temp;
    if (!(have & GF_GENERATE_HAVE_IMAGE_TEMP))
        m->image_temp = d->image_temp;
    if (!(have & GF_GENERATE_HAVE_PARALLEL))
        m->parallel = d->parallel;
    if (!(have & GF_GENERATE_HAVE_MAX_TOKENS))
        m->max_tokens = d->max_tokens;
}

static int s_keys(struct gf_http *s, const char *path, char *why, size_t whylen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, whylen, "cannot open the keys file '%s': %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    while (fgets(line, sizeof line, f) && s->n_keys < GF_HTTP_MAX_KEYS) {
        size_t n = strcspn(line, "\r\n");
        line[n] = 0;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        n = strlen(p);
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            p[--n] = 0;
        if (!n || *p == '#')
            continue;
        if (n < 16) {
            snprintf(why, whylen, "'%s': a key must be at least 16 characters", path);
            fclose(f);
            return -1;
        }
        s->keys[s->n_keys++] = strdup(p);
    }
    fclose(f);
    if (!s->n_keys) {
        snprintf(why, whylen, "the keys file '%s' holds no key", path);
        return -1;
    }
    return 0;
}

static int s_loopback(const struct sockaddr *a)
{
    if (a->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
    if (a->sa_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &in6addr_loopback, 16) == 0;
    return 0;
}

static int s_listen(struct gf_http *s, char *why, size_t whylen)
{
    char host[256];
    const char *colon = strrchr(s->o.listen, ':');
    if (!colon || colon == s->o.listen || (size_t)(colon - s->o.listen) >= sizeof host) {
        snprintf(why, whylen, "'%s' is not HOST:PORT", s->o.listen);
        return -1;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - s->o.listen), s->o.listen);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = 0;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0) {
        snprintf(why, whylen, "cannot resolve '%s': %s", s->o.listen, gai_strerror(rc));
        return -1;
    }
    memcpy(&s->addr, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (!s_loopback((struct sockaddr *)&s->addr) && !s->n_keys) {
        snprintf(why, whylen, "'%s' is beyond loopback: give --keys FILE (bearer keys, one a line)",
                 s->o.listen);
        return -1;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG | MHD_USE_SUSPEND_RESUME;
    if (s->addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, gf_http_access, s, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&s->addr, MHD_OPTION_CONNECTION_LIMIT,
                            s->o.max_conns, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->o.idle_s,
                            MHD_OPTION_NOTIFY_COMPLETED, gf_http_completed, s, MHD_OPTION_END);
    if (!s->d) {
        snprintf(why, whylen, "cannot listen on '%s': %s", s->o.listen, strerror(errno));
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info ? info->port : 0;
    char shown[300];
    if (s->addr.ss_family == AF_INET6)
        snprintf(shown, sizeof shown, "[%s]", host);
    else
        snprintf(shown, sizeof shown, "%s", host);
    snprintf(s->url, sizeof s->url, "http://%s:%u/", shown, port);
    return 0;
}

gf_http_t *gf_http_new(const struct gf_http_opts *o, const gf_graph_t *g, const char *run_dir,
                       char *why, size_t whylen)
{
    struct gf_http *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    s->o = *o;
    s->graph = g;
    s->wake[0] = s->wake[1] = -1;
    snprintf(s->run_dir, sizeof s->run_dir, "%s", run_dir);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->drained, NULL);
    if (getrandom(&s->id_prefix, sizeof s->id_prefix, 0) != sizeof s->id_prefix)
        s->id_prefix = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
    s_model(s);
    if ((o->keys_file && s_keys(s, o->keys_file, why, whylen) != 0) ||
        s_bridge_start(s, why, whylen) != 0 || s_listen(s, why, whylen) != 0) {
        gf_http_destroy(&s);
        return NULL;
    }
    return s;
}

const char *gf_http_url(const gf_http_t *self)
{
    return self->url;
}

int gf_http_drain(gf_http_t *s, int timeout_ms)
{
    int64_t deadline = gf_http_now_ms() + timeout_ms;
    pthread_mutex_lock(&s->mu);
    s->draining = 1;
    while (s->n_jobs > 0 && gf_http_now_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100000000;
        if (ts.tv_nsec >= 1000000000)
            ts.tv_sec++, ts.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&s->drained, &s->mu, &ts);
    }
    int left = s->n_jobs;
    pthread_mutex_unlock(&s->mu);
    return left ? GF_ETIMEDOUT : 0;
}

void gf_http_destroy(gf_http_t **self_p)
{
    struct gf_http *s = *self_p;
    if (!s)
        return;
    s->stopping = 1;
    if (s->d)
        MHD_stop_daemon(s->d);
    s->bridge_stop = 1;
    if (s->bridge_started)
        pthread_join(s->bridge, NULL);
    if (s->monitor)
        zmq_close(s->monitor);
    if (s->dealer)
        zmq_close(s->dealer);
    if (s->sub)
        zmq_close(s->sub);
    if (s->zctx)
        zmq_ctx_term(s->zctx);
    for (int i = 0; i < 2; i++)
        if (s->wake[i] >= 0)
            close(s->wake[i]);
    for (int i = 0; i < s->n_keys; i++)
        free(s->keys[i]);
    for (int i = 0; i < GF_HTTP_STORE; i++)
        free(s->store[i].png);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->drained);
    free(s);
    *self_p = NULL;
}
