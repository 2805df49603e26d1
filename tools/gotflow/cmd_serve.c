/* cmd_serve.c — `gotflow serve [PIPELINE]`: the pipeline and the HTTP front in one command.
 *
 * Uses the pipeline if it is running, else starts it (`gotflow run`, in its own process group)
 * and stops it again on exit. SIGINT or SIGTERM drains the front (new generation requests are
 * answered 503, those in flight finish), then stops the pipeline it started.
 */
#include <errno.h>
#include <getopt.h>
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
#include "engine/edge.h"
#include "http.h"
#include "util.h"

static const char s_usage[] =
    "usage: gotflow serve [PIPELINE] [options]\n"
    "\n"
    "Serves a pipeline over HTTP: an OpenAI-style images API (POST /v1/images/generations,\n"
    "GET /v1/models), health (/healthz, /readyz), /metrics and the web console at /\n"
    "(docs/http.md). Uses the pipeline if it is running, else starts it and stops it on exit.\n"
    "Prints the URL once it listens. SIGINT or SIGTERM drains: new generation requests are\n"
    "answered 503, those in flight finish, then the pipeline it started is stopped.\n"
    "\n"
    "  PIPELINE               the graph (default pipelines/got-r1-cpu.yaml, the demo model)\n"
    "  --listen HOST:PORT     where to listen (default 127.0.0.1:8000; port 0 picks a free one)\n"
    "  --keys FILE            bearer keys, one a line ('#' comments; 16 characters at least);\n"
    "                         required when HOST is beyond loopback\n"
    "  --max-body BYTES       largest request body (default 1048576; larger: 413)\n"
    "  --max-connections N    connections at once (default 256)\n"
    "  --timeout SEC          a request's deadline (default 600; after it: 504)\n"
    "  --idle SEC             close a keep-alive connection idle this long (default 30)\n"
    "  --drain SEC            longest wait for requests in flight on SIGTERM (default 60)\n"
    "\n"
    "exit status: 0 stopped on request, 1 the front or the pipeline failed, 2 usage\n";

struct s_opts {
    struct gf_http_opts http;
    long drain_s;
};

static int s_parse(int argc, char **argv, struct s_opts *o)
{
    static const struct option opts[] = {
        {"listen", 1, 0, 'l'},          {"keys", 1, 0, 'k'},    {"max-body", 1, 0, 'b'},
        {"max-connections", 1, 0, 'c'}, {"timeout", 1, 0, 't'}, {"idle", 1, 0, 'i'},
        {"drain", 1, 0, 'd'},           {"help", 0, 0, 'h'},    {0, 0, 0, 0}};
    *o = (struct s_opts){.http = {.listen = "127.0.0.1:8000",
                                  .pipeline = "pipelines/got-r1-cpu.yaml",
                                  .max_body = 1 << 20,
                                  .max_conns = 256,
                                  .timeout_ms = 600000,
                                  .idle_s = 30},
                         .drain_s = 60};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            o->http.listen = optarg;
            break;
        case 'k':
            o->http.keys_file = optarg;
            break;
        case 'b':
            o->http.max_body = (size_t)gf_cli_long("serve", "--max-body", optarg, 64, 1L << 30);
            break;
        case 'c':
            o->http.max_conns =
                (unsigned)gf_cli_long("serve", "--max-connections", optarg, 1, 65536);
            break;
        case 't':
            o->http.timeout_ms = (int)gf_cli_long("serve", "--timeout", optarg, 1, 1 << 20) * 1000;
            break;
        case 'i':
            o->http.idle_s = (int)gf_cli_long("serve", "--idle", optarg, 1, 1 << 20);
            break;
        case 'd':
            o->drain_s = gf_cli_long("serve", "--drain", optarg, 0, 1 << 20);
            break;
        case 'h':
            fputs(s_usage, stdout);
            exit(0);
        default:
            fputs(s_usage, stderr);
            return 2;
        }
    }
    if (argc - optind > 1) {
        fputs(s_usage, stderr);
        return 2;
    }
    if (optind < argc)
        o->http.pipeline = argv[optind];
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
        return rc;
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
            gf_cli_wait_ready("serve", o.http.pipeline, sup, run_dir, gf_mono_ms() + 600000))
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
