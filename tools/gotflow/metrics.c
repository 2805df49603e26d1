/* metrics.c — Prometheus text from the supervisor's status, served over a ZMQ_STREAM socket. */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "core/grow.h"
#include "engine/edge.h"

struct s_buf {
    char *p;
    size_t len, cap;
};

static void s_add(struct s_buf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        if (n < 0 || gf_grow((void **)&b->p, &b->cap, b->len + (size_t)n + 256, 1) != 0)
            return;
    }
}

/* One counter or gauge over every replica that reports `key`. */
static void s_family(struct s_buf *b, const json_t *st, const char *name, const char *type,
                     const char *help, const char *key)
{
    s_add(b, "# HELP gotflow_%s %s\n# TYPE gotflow_%s %s\n", name, help, name, type);
    const char *pipeline = json_string_value(json_object_get(st, "pipeline"));
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(st, "replicas"), i, r)
    {
        json_t *v = json_object_get(r, key);
        if (!json_is_number(v))
            continue;
        s_add(b, "gotflow_%s{pipeline=\"%s\",stage=\"%s\",replica=\"%lld\"} %.17g\n", name,
              pipeline, json_string_value(json_object_get(r, "stage")),
              (long long)json_integer_value(json_object_get(r, "replica")), json_number_value(v));
    }
}

static void s_histogram(struct s_buf *b, const json_t *st)
{
    const char *name = "stage_latency_seconds";
    s_add(b, "# HELP gotflow_%s time a request spent in a stage\n# TYPE gotflow_%s histogram\n",
          name, name);
    const char *pipeline = json_string_value(json_object_get(st, "pipeline"));
    size_t i, k;
    json_t *r, *c;
    json_array_foreach(json_object_get(st, "replicas"), i, r)
    {
        json_t *hist = json_object_get(r, "latency_hist");
        if (!json_is_array(hist))
            continue;
        char labels[256];
        snprintf(labels, sizeof labels, "pipeline=\"%s\",stage=\"%s\",replica=\"%lld\"", pipeline,
                 json_string_value(json_object_get(r, "stage")),
                 (long long)json_integer_value(json_object_get(r, "replica")));
        long long total = 0;
        json_array_foreach(hist, k, c)
        {
            total += json_integer_value(c); /* bucket k: [2^k, 2^(k+1)) microseconds */
            s_add(b, "gotflow_%s_bucket{%s,le=\"%.9g\"} %lld\n", name, labels,
                  (double)(1LL << (k + 1)) / 1e6, total);
        }
        s_add(b, "gotflow_%s_bucket{%s,le=\"+Inf\"} %lld\n", name, labels, total);
        s_add(b, "gotflow_%s_count{%s} %lld\n", name, labels, total);
    }
}

char *gf_metrics_text(const json_t *st)
{
    struct s_buf b = {malloc(4096), 0, 4096};
    if (!b.p)
        return NULL;
    b.p[0] = 0;
    s_family(&b, st, "replica_restarts_total", "counter", "restarts of the replica", "restarts");
    s_family(&b, st, "frames_received_total", "counter", "data frames received", "received");
    s_family(&b, st, "frames_emitted_total", "counter", "frames sent downstream", "emitted");
    s_family(&b, st, "requests_done_total", "counter", "requests finished here", "done");
    s_family(&b, st, "errors_total", "counter", "error frames made here", "errors");
    s_family(&b, st, "bad_frames_total", "counter", "frames that did not decode", "bad_frames");
    s_family(&b, st, "requests_in_flight", "gauge", "requests held (a gateway: journaled)",
             "requests");
    s_family(&b, st, "queue_depth", "gauge", "frames waiting for the stage", "queue");
    s_family(&b, st, "credits_held", "gauge", "credit slots held by frames", "held");
    s_family(&b, st, "credits_capacity", "gauge", "credit slots in all", "capacity");
    s_family(&b, st, "credits_granted", "gauge", "credits granted upstream, not used yet",
             "credits_out");
    s_family(&b, st, "outbox", "gauge", "frames waiting for downstream credit", "outbox");
    s_family(&b, st, "batch_rows", "gauge", "rows in the last batch", "batch_rows");
    s_histogram(&b, st);
    return b.p;
}

void gf_metrics_serve(void *stream, json_t *(*status_fn)(void *ctx), void *ctx)
{
    for (;;) {
        uint8_t rid[256];
        char req[2048];
        int rl = zmq_recv(stream, rid, sizeof rid, ZMQ_DONTWAIT);
        if (rl < 0)
            return;
        int n = zmq_recv(stream, req, sizeof req - 1, 0);
        if (n <= 0 || rl > (int)sizeof rid)
            continue; /* a connection opened or closed */
        req[n < (int)sizeof req - 1 ? n : (int)sizeof req - 1] = 0;
        char *body = NULL, head[256];
        const char *status = "404 Not Found";
        if (strncmp(req, "GET /metrics ", 13) == 0 || strncmp(req, "GET /metrics?", 13) == 0) {
            json_t *st = status_fn(ctx);
            body = gf_metrics_text(st);
            json_decref(st);
            status = "200 OK";
        }
        const char *text = body ? body : "not found; try /metrics\n";
        int hl = snprintf(head, sizeof head,
                          "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4\r\n"
                          "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                          status, strlen(text));
        /* a STREAM socket takes exactly [id][data]: header and body in one part */
        size_t tl = strlen(text);
        char *msg = malloc((size_t)hl + tl);
        if (msg) {
            memcpy(msg, head, (size_t)hl);
            memcpy(msg + hl, text, tl);
            if (gf_zsend(stream, rid, (size_t)rl, ZMQ_SNDMORE, "a metrics answer") == 0)
                gf_zsend(stream, msg, (size_t)hl + tl, 0, "a metrics answer");
            free(msg);
        }
        /* close the connection */
        if (gf_zsend(stream, rid, (size_t)rl, ZMQ_SNDMORE, "a metrics close") == 0)
            gf_zsend(stream, "", 0, 0, "a metrics close");
        free(body);
    }
}
