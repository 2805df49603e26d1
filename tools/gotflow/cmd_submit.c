/* cmd_submit.c — `gotflow submit PIPELINE|RUN [FILE]`: requests in, results out, as JSON lines. */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cmd.h"
#include "core/error.h"
#include "core/opts.h"
#include "core/strmap.h"
#include "engine/edge.h"
#include "engine/frame.h"
#include "engine/json.h"
#include "util.h"

static const char s_head[] =
    "usage: gotflow submit PIPELINE|RUN [FILE] [options]\n"
    "\n"
    "Sends the requests in FILE (or stdin), one JSON object per line, to the gateway of a running\n"
    "pipeline and prints each answer as one JSON line as soon as it arrives (in completion "
    "order).\n"
    "A request is {\"id\": ..., \"kind\": ..., \"params\": {...}, ...payload}; id is optional\n"
    "(one is made), kind defaults to \"prompt\". Binary values are {\"$bin\": BASE64}.\n"
    "Each request is answered once: when the connection to the gateway breaks (the gateway\n"
    "restarted), the requests not yet answered are sent again under their ids, and the gateway\n"
    "attaches them to the work already in flight or answers them from its journal.\n"
    "\n";
static const char s_tail[] =
    "\n"
    "A tcp gateway of a graph secured with CURVE admits the hosts' keys only: GOTFLOW_KEY_FILE\n"
    "names the key file to connect with.\n"
    "\n"
    "exit status: 0 every request got a result, 1 some got an error or no answer, 2 usage\n";

struct s_submit {
    void *sock, *monitor;
    long max_bin;
    long answered, errors, duplicates;
    gf_strmap_t *outstanding; /* id -> struct s_out: sent, not yet answered */
    int disconnected;         /* the connection broke since the last resubmission */
};

struct s_out {
    size_t len;
    uint8_t bytes[];
};

/* Sends every request not yet answered again (after the gateway came back). */
static void s_resubmit(struct s_submit *s)
{
    size_t pos = 0, n = 0;
    void *v;
    while (gf_strmap_next(s->outstanding, &pos, &v)) {
        struct s_out *o = v;
        if (zmq_send(s->sock, o->bytes, o->len, 0) < 0)
            fprintf(stderr, "gotflow submit: cannot send a request again: %s\n",
                    zmq_strerror(zmq_errno()));
        n++;
    }
    if (n)
        fprintf(stderr,
                "gotflow submit: reconnected to the gateway; sent %zu unanswered requests "
                "again\n",
                n);
}

static int s_print_answer(struct s_submit *s)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, s->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return 0;
    }
    gf_frame_t *f = NULL;
    char why[256];
    if (gf_frame_decode(zmq_msg_data(&m), zmq_msg_size(&m), 0, &f, why, sizeof why, NULL) != 0) {
        fprintf(stderr, "gotflow submit: undecodable answer (%s)\n", why);
        s->errors++;
    } else if (!gf_strmap_get(s->outstanding, f->id)) {
        s->duplicates++; /* answered already (sent twice across a gateway restart) */
        gf_frame_destroy(&f);
        zmq_msg_close(&m);
        return 1;
    } else {
        free(gf_strmap_take(s->outstanding, f->id));
        json_t *j = gf_json_from_msgpack(f->root, s->max_bin);
        char *line = json_dumps(j, JSON_COMPACT);
        printf("%s\n", line);
        fflush(stdout);
        free(line);
        json_decref(j);
        if (strcmp(f->kind, "error") == 0)
            s->errors++;
        gf_frame_destroy(&f);
    }
    zmq_msg_close(&m);
    s->answered++;
    return 1;
}

int cmd_submit(int argc, char **argv)
{
    long window = 256, timeout_s = 60;
    const char *endpoint = NULL, *host = NULL;
    struct s_submit s = {.max_bin = 256};
    const struct gf_opt opts[] = {
        {"window", 0, GF_OPT_LONG, &window, 1, 1 << 20, "N",
         "at most N requests in flight at once (default 256)"},
        {"timeout", 0, GF_OPT_LONG, &timeout_s, 1, 1 << 20, "SEC",
         "give up on answers after SEC seconds of silence (default 60)"},
        {"endpoint", 0, GF_OPT_STRING, &endpoint, 0, 0, "EP",
         "gateway endpoint (default: from the run's graph)"},
        {"max-bin", 0, GF_OPT_LONG, &s.max_bin, -1, 1L << 40, "N",
         "print binary values longer than N bytes as their length (default 256;\n"
         "-1 prints everything)"},
        {"host", 0, GF_OPT_STRING, &host, 0, 0, "NAME", "the run of `gotflow run --host NAME`"},
        {0}};
    const struct gf_opts spec = {"gotflow submit", s_head, opts, s_tail};
    int first = gf_opts_parse(&spec, argc, argv);
    if (first < 0)
        return gf_opts_status(first);
    if (first >= argc || argc - first > 2) {
        gf_opts_usage(&spec, stderr);
        return 2;
    }
    char run_dir[GF_PATH_MAX], ep[GF_PATH_MAX];
    gf_graph_t *g = NULL;
    if (!endpoint) {
        if (gf_cli_open_run(argv[first], host, run_dir, &g) != 0)
            return 1;
        int gw = -1;
        for (int i = 0; i < g->n_stages && gw < 0; i++)
            if (strcmp(g->stages[i].kind, "gateway") == 0)
                gw = i;
        gf_plan_gateway(g, run_dir, gw, ep, sizeof ep);
        endpoint = ep;
        if (!gf_cli_supervisor_alive(run_dir)) {
            gf_cli_supervisor_dead("submit", run_dir, argv[first]);
            gf_graph_destroy(&g);
            return 1;
        }
    }
    FILE *in = stdin;
    if (first + 1 < argc && strcmp(argv[first + 1], "-") != 0) {
        in = fopen(argv[first + 1], "r");
        if (!in) {
            fprintf(stderr, "gotflow submit: cannot open '%s'\n", argv[first + 1]);
            gf_graph_destroy(&g);
            return 1;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    void *ctx = zmq_ctx_new();
    s.sock = zmq_socket(ctx, ZMQ_DEALER);
    if (!s.sock || gf_socket_defaults(s.sock, g ? g->max_frame_bytes : GF_FRAME_DEFAULT_MAX) ||
        gf_sockopt_int(s.sock, ZMQ_SNDHWM, 0, "ZMQ_SNDHWM") ||
        gf_sockopt_int(s.sock, ZMQ_RCVHWM, 0, "ZMQ_RCVHWM"))
        return 1;
    struct gf_security sec = {0};
    if (g && strncmp(endpoint, "tcp://", 6) == 0 &&
        gf_security_init(&sec, ctx, g, getenv("GOTFLOW_KEY_FILE"), 0) != 0)
        return 1;
    if (g) {
        int gw = -1;
        for (int i = 0; i < g->n_stages && gw < 0; i++)
            if (strcmp(g->stages[i].kind, "gateway") == 0)
                gw = i;
        if (gf_security_client(&sec, s.sock, endpoint, gf_plan_host_key(g, gw, 0)) != 0)
            return 1;
    }
    s.outstanding = gf_strmap_new();
    if (!s.outstanding)
        return 1;
    s.monitor = gf_cli_watch_new(ctx, s.sock, "submit");
    if (zmq_connect(s.sock, endpoint) != 0) {
        fprintf(stderr, "gotflow submit: cannot connect to '%s': %s\n", endpoint,
                zmq_strerror(zmq_errno()));
        return 1;
    }
    long sent = 0, lineno = 0, bad = 0, made = 0;
    uint64_t instance = gf_instance_id() & 0xffffffffffull;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    int eof = 0;
    int64_t last_progress = gf_mono_ms(), next_alive_ms = 0;
    int sup_alive = 1;
    while (!eof || s.answered < sent) {
        while (!eof && sent - s.answered < window) {
            if ((len = getline(&line, &cap, in)) < 0) {
                eof = 1;
                break;
            }
            lineno++;
            if (len <= 1)
                continue;
            json_error_t jerr;
            json_t *j = json_loadb(line, (size_t)len, 0, &jerr);
            char why[256] = "", id[GF_FRAME_ID_MAX];
            if (j && json_is_object(j) && !json_object_get(j, "id")) {
                snprintf(id, sizeof id, "%016llx-%ld", (unsigned long long)instance, ++made);
                json_object_set_new(j, "id", json_string(id));
            }
            msgpack_sbuffer_clear(&sb);
            msgpack_packer pk;
            msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
            if (!j || !json_is_object(j) || gf_json_to_msgpack(j, &pk, why, sizeof why) != 0) {
                fprintf(stderr, "gotflow submit: line %ld: not a JSON object%s%s\n", lineno,
                        j ? ": " : ": ", j ? why : jerr.text);
                bad++;
                json_decref(j);
                continue;
            }
            json_t *jv = json_object_get(j, "id");
            const char *jid = json_string_value(jv);
            if (!jid || !gf_frame_id_ok(jid, strlen(jid))) {
                /* the gateway could answer it only under another id: say it here */
                fprintf(stderr,
                        "gotflow submit: line %ld: 'id' must be a string of 1..63 of "
                        "[A-Za-z0-9._:-], not starting '.'\n",
                        lineno);
                bad++;
                json_decref(j);
                continue;
            }
            snprintf(id, sizeof id, "%s", jid);
            json_decref(j);
            struct s_out *o = malloc(sizeof *o + sb.size);
            if (o) {
                o->len = sb.size;
                memcpy(o->bytes, sb.data, sb.size);
                if (gf_strmap_get(s.outstanding, id) || gf_strmap_put(s.outstanding, id, o) != 0) {
                    free(o); /* a repeated id: the gateway answers it; no resubmission */
                    o = NULL;
                }
            }
            if (zmq_send(s.sock, sb.data, sb.size, 0) < 0) {
                fprintf(stderr, "gotflow submit: line %ld: cannot send: %s\n", lineno,
                        zmq_strerror(zmq_errno()));
                free(gf_strmap_take(s.outstanding, id));
                bad++;
                continue;
            }
            sent++;
        }
        zmq_pollitem_t items[2] = {{s.sock, 0, ZMQ_POLLIN, 0}, {s.monitor, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, s.monitor ? 2 : 1, eof ? 200 : 0) > 0) {
            while (s_print_answer(&s))
                last_progress = gf_mono_ms();
            if (s.monitor && (items[1].revents & ZMQ_POLLIN) &&
                gf_cli_watch_reconnected(s.monitor, &s.disconnected)) {
                s_resubmit(&s); /* the gateway keeps a journal: sending again is safe */
                last_progress = gf_mono_ms();
            }
        }
        if (g && gf_mono_ms() >= next_alive_ms) {
            /* a supervisor that died does not answer; one started again by hand carries on
             * (the gateway's journal keeps the requests), so say it and keep waiting */
            int alive = gf_cli_supervisor_alive(run_dir);
            if (!alive && sup_alive)
                gf_cli_supervisor_dead("submit", run_dir, argv[first]);
            else if (alive && !sup_alive)
                fprintf(stderr, "gotflow submit: the pipeline's supervisor (pid %d) runs again\n",
                        gf_cli_supervisor_pid(run_dir));
            sup_alive = alive;
            next_alive_ms = gf_mono_ms() + 500;
        }
        if (eof && s.answered < sent && gf_mono_ms() - last_progress > timeout_s * 1000) {
            if (g && !sup_alive)
                gf_cli_supervisor_dead("submit", run_dir, argv[first]);
            fprintf(stderr, "gotflow submit: %ld of %ld requests unanswered after %ld s\n",
                    sent - s.answered, sent, timeout_s);
            s.errors += sent - s.answered;
            break;
        }
    }
    free(line);
    msgpack_sbuffer_destroy(&sb);
    size_t pos = 0;
    void *v;
    while (gf_strmap_next(s.outstanding, &pos, &v))
        free(v);
    gf_strmap_destroy(&s.outstanding);
    if (s.monitor)
        zmq_close(s.monitor);
    if (in != stdin)
        fclose(in);
    zmq_close(s.sock);
    zmq_ctx_term(ctx);
    gf_graph_destroy(&g);
    return s.errors || bad ? 1 : 0;
}
