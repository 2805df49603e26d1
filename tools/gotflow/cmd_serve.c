/* cmd_serve.c — `gotflow serve [PIPELINE]`: the pipeline and the HTTP front in one command.
 *
 * Uses the pipeline if it is running, else starts it (`gotflow run`, in its own process group)
 * and stops it again on exit. SIGINT or SIGTERM drains the front (new generation requests are
 * answered 503, those in flight finish), then stops the pipeline it started.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "core/spawn.h"
#include "core/log.h"
#include "core/opts.h"
#include "engine/edge.h"
#include "http.h"
#include "util.h"

static const char s_head[] =
    "usage: gotflow serve [PIPELINE] [options]\n"
    "\n"
    "Serves a pipeline over HTTP: an OpenAI-style images API (POST /v1/images/generations,\n"
    "GET /v1/models), health (/healthz, /readyz), /metrics and the web console at /\n"
    "(docs/http.md). Uses the pipeline if it is running, else starts it and stops it on exit.\n"
    "Prints the URL once it listens. SIGINT or SIGTERM drains: new generation requests are\n"
    "answered 503, those in flight finish, then the pipeline it started is stopped.\n"
    "\n"
    "PIPELINE is the graph (default pipelines/got-r1-cpu.yaml, the demo model).\n"
    "\n";
static const char s_tail[] =
    "\n"
    "exit status: 0 stopped on request, 1 the front or the pipeline failed, 2 usage\n";

struct s_opts {
    struct gf_http_opts http;
    long drain_s;
};

/* 0, 2 after a usage error, or a negative gf_opts_parse result. */
static int s_parse(int argc, char **argv, struct s_opts *o)
{
    long max_body = 1 << 20, max_conns = 256, timeout_s = 600, idle_s = 30;
    *o = (struct s_opts){
        .http = {.listen = "127.0.0.1:8000", .pipeline = "pipelines/got-r1-cpu.yaml"},
        .drain_s = 60};
    const struct gf_opt opts[] = {
        {"listen", 0, GF_OPT_STRING, &o->http.listen, 0, 0, "HOST:PORT",
         "where to listen (default 127.0.0.1:8000; port 0 picks a free one)"},
        {"keys", 0, GF_OPT_STRING, &o->http.keys_file, 0, 0, "FILE",
         "bearer keys, one a line ('#' comments; 16 characters at least);\n"
         "required when HOST is beyond loopback"},
        {"max-body", 0, GF_OPT_LONG, &max_body, 64, 1L << 30, "BYTES",
         "largest request body (default 1048576; larger: 413)"},
        {"max-connections", 0, GF_OPT_LONG, &max_conns, 1, 65536, "N",
         "connections at once (default 256)"},
        {"timeout", 0, GF_OPT_LONG, &timeout_s, 1, 1 << 20, "SEC",
         "a request's deadline (default 600; after it: 504)"},
        {"idle", 0, GF_OPT_LONG, &idle_s, 1, 1 << 20, "SEC",
         "close a keep-alive connection idle this long (default 30)"},
        {"drain", 0, GF_OPT_LONG, &o->drain_s, 0, 1 << 20, "SEC",
         "longest wait for requests in flight on SIGTERM (default 60)"},
        {0}};
    const struct gf_opts spec = {"gotflow serve", s_head, opts, s_tail};
    int first = gf_opts_parse(&spec, argc, argv);
    if (first < 0)
        return first; /* GF_OPTS_HELP or GF_OPTS_USAGE */
    if (argc - first > 1) {
        gf_opts_usage(&spec, stderr);
        return 2;
    }
    if (first < argc)
        o->http.pipeline = argv[first];
    o->http.max_body = (size_t)max_body;
    o->http.max_conns = (unsigned)max_conns;
    o->http.timeout_ms = (int)timeout_s * 1000;
    o->http.idle_s = (int)idle_s;
    return 0;
}

static pid_t s_start(const char *graph)
{
    char self[GF_PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = 0;
    char *argv[] = {self, "run", (char *)graph, "--quiet", NULL};
    /* its own group: a terminal's ^C reaches serve, which stops the pipeline in order */
    const struct gf_spawn_opts so = {.new_group = 1};
    pid_t pid = gf_spawn(argv, &so);
    if (pid < 0)
        fprintf(stderr, "gotflow serve: cannot start '%s': %s\n", self, strerror(errno));
    return pid;
}

int cmd_serve(int argc, char **argv)
{
    struct s_opts o;
    int rc = s_parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? gf_opts_status(rc) : rc;
    char run_dir[GF_PATH_MAX], err[8192];
    gf_graph_t *g = NULL;
    if (gf_graph_load(o.http.pipeline, gf_plan_kind_known, NULL, &g, err, sizeof err) != 0) {
        fprintf(stderr, "%s", err);
        return 2;
    }
    /* SIGINT/SIGTERM/SIGPIPE are taken here only: blocked in every thread started below */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    pid_t sup = -1;
    gf_http_t *front = NULL;
    rc = 1;
    int running = gf_plan_find_run(o.http.pipeline, NULL, run_dir, sizeof run_dir, 1) == 0 &&
                  gf_cli_supervisor_alive(run_dir);
    if (!running) {
        fprintf(stderr, "starting pipeline '%s' (%s)\n", g->name, o.http.pipeline);
        sup = s_start(o.http.pipeline);
        if (sup < 0 ||
            gf_cli_wait_ready("serve", o.http.pipeline, NULL, sup, run_dir, gf_mono_ms() + 600000))
            goto out;
    }
    front = gf_http_new(&o.http, g, run_dir, err, sizeof err);
    if (!front) {
        fprintf(stderr, "gotflow serve: %s\n", err);
        goto out;
    }
    printf("gotflow serve: %s (pipeline '%s')\n", gf_http_url(front), g->name);
    fflush(stdout);
    for (;;) {
        struct timespec ts = {0, 500000000};
        int sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            fprintf(stderr, "gotflow serve: draining\n");
            if (gf_http_drain(front, (int)o.drain_s * 1000) != 0)
                fprintf(stderr, "gotflow serve: requests still in flight after %ld s\n", o.drain_s);
            rc = 0;
            break;
        }
        if (sup > 0 && waitpid(sup, NULL, WNOHANG) == sup) {
            fprintf(stderr, "gotflow serve: the pipeline stopped\n");
            sup = -1;
            break;
        }
    }
out:
    gf_http_destroy(&front);
    if (sup > 0) {
        kill(sup, SIGTERM);
        int st = 0;
        waitpid(sup, &st, 0);
        if (rc == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
            fprintf(stderr, "gotflow serve: the pipeline stopped with status %d\n",
                    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    }
    gf_graph_destroy(&g);
    return rc;
}
