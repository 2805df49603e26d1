/* security.c — CURVE keys, server and client socket options, and the ZAP handler. */
#include "engine/security.h"

#include "engine/edge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "core/error.h"
#include "core/log.h"

#define S_REPORT_MS 10000 /* at most one log line per endpoint this often */

/* One CURVE server socket's monitor: the PAIR socket its events arrive on (created and connected
 * by the thread that binds, then read only by the ZAP thread, handed over under `lock`), and the
 * plaintext peers refused since the last report. */
struct s_watched {
    void *pair;
    char endpoint[GF_GRAPH_VALUE_MAX];
    long refused;
    long long last_report_ms;
};

struct gf_security_watch {
    void *zctx;
    pthread_mutex_t lock;
    struct s_watched w[GF_SECURITY_MAX_WATCHED];
    int n;
};

static long long s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Logs what `w` refused since its last report, when there is something and it is time. */
static void s_report(struct s_watched *w, long long now)
{
    if (w->refused == 0 || now - w->last_report_ms < S_REPORT_MS)
        return;
    gf_log_warn("refused %ld plaintext (non-CURVE) connection%s on '%s'%s: the peer does not use "
                "CURVE (a graph with 'security: none', or a client without a key file)",
                w->refused, w->refused == 1 ? "" : "s", w->endpoint,
                w->last_report_ms ? " in the last 10 s" : "");
    w->refused = 0;
    w->last_report_ms = now;
}

/* One monitor event: [u16 event, u32 value][endpoint]. Handshakes that failed before ZAP was
 * asked (no CURVE greeting, a mechanism mismatch, a malformed handshake) count as refused. */
static void s_on_event(struct s_watched *w)
{
    zmq_msg_t msg;
    uint16_t event = 0;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, w->pair, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return;
    }
    if (zmq_msg_size(&msg) >= 6)
        memcpy(&event, zmq_msg_data(&msg), sizeof event);
    while (zmq_msg_more(&msg) && zmq_msg_recv(&msg, w->pair, ZMQ_DONTWAIT) >= 0)
        ;
    zmq_msg_close(&msg);
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
        event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        w->refused++;
    s_report(w, s_now_ms());
}

int gf_security_wanted(const gf_graph_t *g)
{
    for (int h = 0; h < g->n_hosts; h++)
        if (g->hosts[h].curve_public[0])
            return 1;
    return 0;
}

int gf_key_file_read(const char *path, char public_key[GF_KEY_Z85], char secret_key[GF_KEY_Z85])
{
    FILE *f = fopen(path, "r");
    char line[256];
    public_key[0] = secret_key[0] = 0;
    if (!f) {
        gf_log_error("cannot open key file '%s'", path);
        return GF_EIO;
    }
    while (fgets(line, sizeof line, f)) {
        char key[GF_KEY_Z85 + 8];
        if (sscanf(line, "public: %45s", key) == 1 && strlen(key) == 40)
            memcpy(public_key, key, GF_KEY_Z85); /* 40 characters and the NUL */
        else if (sscanf(line, "secret: %45s", key) == 1 && strlen(key) == 40)
            memcpy(secret_key, key, GF_KEY_Z85);
    }
    fclose(f);
    if (!public_key[0] || !secret_key[0]) {
        gf_log_error("'%s' is not a key file (want 'public: Z85' and 'secret: Z85' lines; make "
                     "one with 'gotflow keygen')",
                     path);
        return GF_EPARSE;
    }
    return 0;
}

/* ZAP (RFC 27): one REP socket answering each CURVE handshake with 200 or 400. */
static void *s_zap_main(void *arg)
{
    struct gf_security *sec = arg;
    struct gf_security_watch *wt = sec->watch;
    while (!sec->zap_stop) {
        zmq_pollitem_t it[1 + GF_SECURITY_MAX_WATCHED] = {{sec->zap, 0, ZMQ_POLLIN, 0}};
        pthread_mutex_lock(&wt->lock);
        int n_watched = wt->n;
        pthread_mutex_unlock(&wt->lock);
        for (int i = 0; i < n_watched; i++)
            it[1 + i] = (zmq_pollitem_t){wt->w[i].pair, 0, ZMQ_POLLIN, 0};
        int ready = zmq_poll(it, 1 + n_watched, 100);
        long long now = s_now_ms();
        for (int i = 0; i < n_watched; i++)
            if (ready > 0 && (it[1 + i].revents & ZMQ_POLLIN))
                s_on_event(&wt->w[i]);
            else
                s_report(&wt->w[i], now);
        if (ready <= 0 || !(it[0].revents & ZMQ_POLLIN))
            continue;
        zmq_msg_t part[7];
        int n = 0, more = 1;
        while (more && n < 7) {
            zmq_msg_init(&part[n]);
            if (zmq_msg_recv(&part[n], sec->zap, 0) < 0) {
                zmq_msg_close(&part[n]);
                more = 0;
                break;
            }
            more = zmq_msg_more(&part[n++]);
        }
        while (more) { /* more parts than a ZAP request has */
            zmq_msg_t extra;
            zmq_msg_init(&extra);
            more = zmq_msg_recv(&extra, sec->zap, 0) >= 0 && zmq_msg_more(&extra);
            zmq_msg_close(&extra);
        }
        const char *status = "400", *text = "unknown key";
        char z85[GF_KEY_Z85] = "", address[64] = "";
        if (n == 7 && zmq_msg_size(&part[6]) == 32) {
            zmq_z85_encode(z85, zmq_msg_data(&part[6]), 32);
            for (int i = 0; i < sec->n_allowed; i++)
                if (strcmp(z85, sec->allowed[i]) == 0)
                    status = "200", text = "OK";
        }
        if (n >= 4)
            snprintf(address, sizeof address, "%.*s", (int)zmq_msg_size(&part[3]),
                     (const char *)zmq_msg_data(&part[3]));
        if (status[0] != '2')
            gf_log_warn("refused a connection from %s: CURVE key '%s' is not one of the graph's "
                        "hosts",
                        address[0] ? address : "?", z85[0] ? z85 : "(none)");
        /* reply: version, request id, status code, status text, user id, metadata */
        /* a reply that fails leaves the handshake unanswered: libzmq then refuses the peer */
        if (n >= 2 && (gf_zsend(sec->zap, zmq_msg_data(&part[0]), zmq_msg_size(&part[0]),
                                ZMQ_SNDMORE, "a ZAP reply") ||
                       gf_zsend(sec->zap, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]),
                                ZMQ_SNDMORE, "a ZAP reply") ||
                       gf_zsend(sec->zap, status, 3, ZMQ_SNDMORE, "a ZAP reply") ||
                       gf_zsend(sec->zap, text, strlen(text), ZMQ_SNDMORE, "a ZAP reply") ||
                       gf_zsend(sec->zap, z85, strlen(z85), ZMQ_SNDMORE, "a ZAP reply") ||
                       gf_zsend(sec->zap, "", 0, 0, "a ZAP reply")))
            gf_log_error("the ZAP handler could not answer a handshake");
        for (int i = 0; i < n; i++)
            zmq_msg_close(&part[i]);
    }
    return NULL;
}

int gf_security_init(struct gf_security *sec, void *zctx, const gf_graph_t *g, const char *key_file,
                     int serve)
{
    memset(sec, 0, sizeof *sec);
    if (!gf_security_wanted(g))
        return 0;
    if (!zmq_has("curve")) {
        gf_log_error("the graph's hosts carry CURVE keys but this libzmq has no CURVE");
        return GF_EUNSUPPORTED;
    }
    if (!key_file || !*key_file) {
        gf_log_error("the graph's hosts carry CURVE keys: give this host's key file (--key FILE "
                     "or GOTFLOW_KEY_FILE; make one with 'gotflow keygen')");
        return GF_EINVAL;
    }
    int err = gf_key_file_read(key_file, sec->public_key, sec->secret_key);
    if (err)
        return err;
    int mine = 0;
    for (int h = 0; h < g->n_hosts; h++)
        if (g->hosts[h].curve_public[0]) {
            snprintf(sec->allowed[sec->n_allowed++], GF_KEY_Z85, "%s", g->hosts[h].curve_public);
            mine |= strcmp(g->hosts[h].curve_public, sec->public_key) == 0;
        }
    if (!mine) {
        gf_log_error("the public key in '%s' is not any host's curve_public in the graph",
                     key_file);
        return GF_EINVAL;
    }
    sec->enabled = 1;
    if (serve) {
        sec->watch = calloc(1, sizeof *sec->watch);
        if (!sec->watch)
            return GF_ENOMEM;
        sec->watch->zctx = zctx;
        pthread_mutex_init(&sec->watch->lock, NULL);
        sec->zap = zmq_socket(zctx, ZMQ_REP);
        if (!sec->zap || zmq_bind(sec->zap, "inproc://zeromq.zap.01") != 0) {
            gf_log_error("cannot start the ZAP handler: %s", zmq_strerror(zmq_errno()));
            return GF_EZMQ;
        }
        if (pthread_create(&sec->zap_thread, NULL, s_zap_main, sec) != 0)
            return GF_ENOMEM;
        sec->zap_running = 1;
    }
    return 0;
}

void gf_security_release(struct gf_security *sec)
{
    if (sec->zap_running) {
        sec->zap_stop = 1;
        pthread_join(sec->zap_thread, NULL);
        sec->zap_running = 0;
    }
    if (sec->zap) {
        zmq_close(sec->zap);
        sec->zap = NULL;
    }
    if (sec->watch) {
        for (int i = 0; i < sec->watch->n; i++)
            zmq_close(sec->watch->w[i].pair);
        pthread_mutex_destroy(&sec->watch->lock);
        free(sec->watch);
        sec->watch = NULL;
    }
}

/* Starts the socket monitor of CURVE server `sock` and hands its PAIR end to the ZAP thread. */
static void s_watch(const struct gf_security *sec, void *sock, const char *endpoint)
{
    struct gf_security_watch *wt = sec->watch;
    char mon[64];
    if (!wt || !sec->zap_running || wt->n == GF_SECURITY_MAX_WATCHED)
        return;
    snprintf(mon, sizeof mon, "inproc://gotflow.security.monitor.%d", wt->n);
    if (zmq_socket_monitor(sock, mon,
                           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0) {
        gf_log_warn("cannot watch '%s' for plaintext peers: %s", endpoint,
                    zmq_strerror(zmq_errno()));
        return;
    }
    void *pair = zmq_socket(wt->zctx, ZMQ_PAIR);
    if (!pair || zmq_connect(pair, mon) != 0) {
        if (pair)
            zmq_close(pair);
        zmq_socket_monitor(sock, NULL, 0);
        return;
    }
    pthread_mutex_lock(&wt->lock);
    struct s_watched *w = &wt->w[wt->n];
    memset(w, 0, sizeof *w);
    w->pair = pair;
    snprintf(w->endpoint, sizeof w->endpoint, "%s", endpoint);
    wt->n++;
    pthread_mutex_unlock(&wt->lock);
}

static int s_tcp(const char *endpoint)
{
    return strncmp(endpoint, "tcp://", 6) == 0;
}

/* zmq_setsockopt, logged with the option's name when it fails. */
static int s_setopt(void *sock, int opt, const char *name, const void *value, size_t len,
                    const char *endpoint)
{
    if (zmq_setsockopt(sock, opt, value, len) == 0)
        return 0;
    gf_log_error("cannot set %s for '%s': %s", name, endpoint, zmq_strerror(zmq_errno()));
    return GF_EZMQ;
}

int gf_security_server(const struct gf_security *sec, void *sock, const char *endpoint)
{
    if (!sec || !sec->enabled || !s_tcp(endpoint))
        return 0;
    int one = 1;
    if (s_setopt(sock, ZMQ_CURVE_SERVER, "ZMQ_CURVE_SERVER", &one, sizeof one, endpoint) ||
        s_setopt(sock, ZMQ_CURVE_SECRETKEY, "ZMQ_CURVE_SECRETKEY", sec->secret_key, 40, endpoint) ||
        s_setopt(sock, ZMQ_ZAP_DOMAIN, "ZMQ_ZAP_DOMAIN", "gotflow", 7, endpoint))
        return GF_EZMQ;
    s_watch(sec, sock, endpoint);
    return 0;
}

int gf_security_client(const struct gf_security *sec, void *sock, const char *endpoint,
                       const char *server_public)
{
    if (!sec || !sec->enabled || !s_tcp(endpoint) || !server_public || !server_public[0])
        return 0;
    if (s_setopt(sock, ZMQ_CURVE_SERVERKEY, "ZMQ_CURVE_SERVERKEY", server_public, 40, endpoint) ||
        s_setopt(sock, ZMQ_CURVE_PUBLICKEY, "ZMQ_CURVE_PUBLICKEY", sec->public_key, 40, endpoint) ||
        s_setopt(sock, ZMQ_CURVE_SECRETKEY, "ZMQ_CURVE_SECRETKEY", sec->secret_key, 40, endpoint))
        return GF_EZMQ;
    return 0;
}
