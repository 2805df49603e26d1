/* cmd_tap.c — `gotflow tap PIPELINE|RUN STAGE[.KIND]`: watch the frames a stage emits. */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cmd.h"
#include "core/error.h"
#include "core/opts.h"
#include "engine/edge.h"
#include "engine/frame.h"
#include "engine/json.h"
#include "record.h"
#include "util.h"

static const char s_head[] =
    "usage: gotflow tap PIPELINE|RUN STAGE[.KIND] [options]\n"
    "\n"
    "Subscribes to the tap of every replica of STAGE and prints each frame it emits (only those\n"
    "of KIND if given) as one JSON line: {\"stage\", \"replica\", \"kind\", \"seq\", \"dropped\",\n"
    "\"frame\"}. `dropped` counts the frames this tap lost so far: a tap never slows the\n"
    "pipeline, so a slow reader loses frames instead. For text_delta frames the text itself is\n"
    "printed as it is written, unless --json.\n"
    "\n";
static const char s_tail[] =
    "\n"
    "On a graph secured with CURVE, GOTFLOW_KEY_FILE names a host's key file.\n"
    "\n"
    "At the end, a summary line goes to stderr: frames seen and dropped.\n";

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

struct s_seen {
    char key[200]; /* "replica/kind" */
    uint64_t last;
};

static uint64_t s_gap(struct s_seen *seen, int *n_seen, uint32_t replica, const char *kind,
                      uint64_t seq)
{
    char key[200];
    snprintf(key, sizeof key, "%u/%s", replica, kind);
    for (int i = 0; i < *n_seen; i++)
        if (strcmp(seen[i].key, key) == 0) {
            uint64_t gap = seq > seen[i].last + 1 ? seq - seen[i].last - 1 : 0;
            seen[i].last = seq;
            return gap;
        }
    if (*n_seen < 256) {
        snprintf(seen[*n_seen].key, sizeof seen[0].key, "%s", key);
        seen[(*n_seen)++].last = seq;
    }
    return 0; /* frames before we subscribed are not ours to count */
}

int cmd_tap(int argc, char **argv)
{
    const char *record = NULL, *host = NULL;
    int as_json = 0, quiet = 0;
    long count = -1, timeout_s = -1, max_bin = 64;
    const struct gf_opt opts[] = {
        {"record", 0, GF_OPT_STRING, &record, 0, 0, "FILE",
         "also write every frame to FILE (for `gotflow replay`)"},
        {"json", 0, GF_OPT_FLAG, &as_json, 0, 0, NULL, "JSON lines for every kind"},
        {"count", 0, GF_OPT_LONG, &count, 1, 1L << 40, "N", "stop after N frames"},
        {"timeout", 0, GF_OPT_LONG, &timeout_s, 1, 1 << 20, "SEC",
         "stop after SEC seconds without a frame"},
        {"quiet", 'q', GF_OPT_FLAG, &quiet, 0, 0, NULL, "print nothing per frame (with --record)"},
        {"max-bin", 0, GF_OPT_LONG, &max_bin, -1, 1L << 40, "N",
         "print binary values longer than N bytes as their length (default 64)"},
        {"host", 0, GF_OPT_STRING, &host, 0, 0, "NAME", "the run of `gotflow run --host NAME`"},
        {0}};
    const struct gf_opts spec = {"gotflow tap", s_head, opts, s_tail};
    int first = gf_opts_parse(&spec, argc, argv);
    if (first < 0)
        return gf_opts_status(first);
    if (first != argc - 2) {
        gf_opts_usage(&spec, stderr);
        return 2;
    }
    char run_dir[GF_PATH_MAX], stage[GF_GRAPH_NAME_MAX], topic[GF_GRAPH_NAME_MAX + 20];
    gf_graph_t *g = NULL;
    if (gf_cli_open_run(argv[first], host, run_dir, &g) != 0)
        return 1;
    snprintf(stage, sizeof stage, "%s", argv[first + 1]);
    char *dot = strchr(stage, '.');
    if (dot)
        *dot = 0;
    snprintf(topic, sizeof topic, "%s.%s%s", stage, dot ? dot + 1 : "", dot ? "." : "");
    int si = gf_graph_stage(g, stage);
    if (si < 0) {
        fprintf(stderr, "gotflow tap: no stage '%s' in pipeline '%s'\n", stage, g->name);
        gf_graph_destroy(&g);
        return 1;
    }
    FILE *rec = NULL;
    if (record) {
        rec = fopen(record, "wb");
        if (!rec || gf_record_write_header(rec, run_dir)) {
            fprintf(stderr, "gotflow tap: cannot write '%s'\n", record);
            gf_graph_destroy(&g);
            return 1;
        }
    }
    void *ctx = zmq_ctx_new(), *sub = zmq_socket(ctx, ZMQ_SUB);
    if (!sub || gf_socket_defaults(sub, g->max_frame_bytes) ||
        gf_sockopt_int(sub, ZMQ_RCVHWM, 100000, "ZMQ_RCVHWM") ||
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, topic, strlen(topic)) != 0) {
        fprintf(stderr, "gotflow tap: cannot set up the subscriber socket: %s\n",
                zmq_strerror(zmq_errno()));
        gf_graph_destroy(&g);
        return 1;
    }
    struct gf_security sec;
    if (gf_security_init(&sec, ctx, g, getenv("GOTFLOW_KEY_FILE"), 0) != 0) {
        gf_graph_destroy(&g);
        return 1;
    }
    for (int r = 0; r < g->stages[si].replicas; r++) {
        char ep[GF_PATH_MAX];
        gf_plan_tap(g, run_dir, si, r, 0, ep, sizeof ep);
        if (gf_security_client(&sec, sub, ep, gf_plan_host_key(g, si, r)) != 0)
            return 1;
        if (zmq_connect(sub, ep) != 0) {
            fprintf(stderr, "gotflow tap: cannot connect to '%s': %s\n", ep,
                    zmq_strerror(zmq_errno()));
            return 1;
        }
    }
    signal(SIGINT, s_on_signal);
    signal(SIGTERM, s_on_signal);
    signal(SIGPIPE, SIG_IGN);
    struct s_seen seen[256];
    int n_seen = 0;
    long frames = 0;
    uint64_t dropped = 0;
    int64_t last = gf_mono_ms();
    while (!s_stop && (count < 0 || frames < count)) {
        zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 100) <= 0) {
            if (timeout_s > 0 && gf_mono_ms() - last > timeout_s * 1000)
                break;
            continue;
        }
        zmq_msg_t parts[3];
        int n = 0, more = 1;
        while (more && n < 3) {
            zmq_msg_init(&parts[n]);
            if (zmq_msg_recv(&parts[n], sub, 0) < 0)
                break;
            more = zmq_msg_more(&parts[n]);
            n++;
        }
        if (n == 3 && zmq_msg_size(&parts[1]) == 12) {
            const uint8_t *h = zmq_msg_data(&parts[1]);
            uint32_t replica =
                (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
            uint64_t seq = 0;
            for (int i = 7; i >= 0; i--)
                seq = seq << 8 | h[4 + i];
            char tp[160];
            snprintf(tp, sizeof tp, "%.*s", (int)zmq_msg_size(&parts[0]),
                     (const char *)zmq_msg_data(&parts[0]));
            char *kind = strchr(tp, '.') ? strchr(tp, '.') + 1 : tp;
            kind[strcspn(kind, ".")] = 0;
            dropped += s_gap(seen, &n_seen, replica, kind, seq);
            frames++;
            last = gf_mono_ms();
            if (rec)
                gf_record_write(rec, zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]), replica, seq,
                                zmq_msg_data(&parts[2]), zmq_msg_size(&parts[2]));
            gf_frame_t *f = NULL;
            if (!quiet && gf_frame_decode(zmq_msg_data(&parts[2]), zmq_msg_size(&parts[2]), 0, &f,
                                          NULL, 0, NULL) == 0) {
                const char *text;
                size_t tl;
                if (!as_json && strcmp(kind, "text_delta") == 0 &&
                    gf_frame_get_str(f, "text", &text, &tl) == 0) {
                    fwrite(text, 1, tl, stdout);
                } else {
                    json_t *j = json_object();
                    json_object_set_new(j, "stage", json_string(stage));
                    json_object_set_new(j, "replica", json_integer(replica));
                    json_object_set_new(j, "kind", json_string(kind));
                    json_object_set_new(j, "seq", json_integer((json_int_t)seq));
                    json_object_set_new(j, "dropped", json_integer((json_int_t)dropped));
                    json_object_set_new(j, "frame", gf_json_from_msgpack(f->root, max_bin));
                    char *line = json_dumps(j, JSON_COMPACT);
                    printf("%s\n", line);
                    free(line);
                    json_decref(j);
                }
                fflush(stdout);
                gf_frame_destroy(&f);
            }
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&parts[i]);
    }
    fprintf(stderr, "gotflow tap: %ld frames, %llu dropped\n", frames, (unsigned long long)dropped);
    if (rec)
        fclose(rec);
    zmq_close(sub);
    zmq_ctx_term(ctx);
    gf_graph_destroy(&g);
    return 0;
}
