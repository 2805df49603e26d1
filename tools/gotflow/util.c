/* util.c — see util.h. */
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <zmq.h>

#include "core/error.h"
#include "engine/edge.h"
#include "kernels/ops.h"

int gf_cli_open_run(const char *arg, const char *host, char run_dir[GF_PATH_MAX],
                    gf_graph_t **graph_p)
{
    char path[GF_PATH_MAX + 16], err[4096];
    if (gf_plan_find_run(arg, host, run_dir, GF_PATH_MAX, 0) != 0)
        return GF_ENOTFOUND;
    snprintf(path, sizeof path, "%s/graph.yaml", run_dir);
    if (gf_graph_load(path, gf_plan_kind_known, NULL, graph_p, err, sizeof err) != 0) {
        fprintf(stderr, "gotflow: cannot load the run's graph:\n%s\n", err);
        return GF_ENOTFOUND;
    }
    return 0;
}

int gf_cli_supervisor_pid(const char *run_dir)
{
    char path[GF_PATH_MAX + 32];
    int pid = 0;
    snprintf(path, sizeof path, "%s/supervisor.pid", run_dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    if (fscanf(f, "%d", &pid) != 1 || pid < 0)
        pid = 0;
    fclose(f);
    return pid;
}

int gf_cli_supervisor_alive(const char *run_dir)
{
    int pid = gf_cli_supervisor_pid(run_dir);
    return pid > 0 && kill(pid, 0) == 0;
}

void gf_cli_supervisor_dead(const char *cmd, const char *run_dir, const char *pipeline)
{
    int pid = gf_cli_supervisor_pid(run_dir);
    if (pid > 0)
        fprintf(stderr,
                "gotflow %s: the pipeline's supervisor (pid %d) is not running; start it with "
                "'gotflow run %s'\n",
                cmd, pid, pipeline);
    else
        fprintf(stderr,
                "gotflow %s: the pipeline's supervisor is not running (no supervisor.pid in "
                "'%s'); start it with 'gotflow run %s'\n",
                cmd, run_dir, pipeline);
}

static json_t *s_admin(const char *run_dir, const char *request, int timeout_ms, int quiet)
{
    char ep[GF_PATH_MAX + 16];
    if (!gf_cli_supervisor_alive(run_dir)) {
        if (!quiet)
            fprintf(stderr,
                    "gotflow: the pipeline in '%s' is not running (no live supervisor); "
                    "start it with 'gotflow run'\n",
                    run_dir);
        return NULL;
    }
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_DEALER);
    json_t *reply = NULL;
    gf_plan_admin(run_dir, ep, sizeof ep);
    if (!s || gf_socket_defaults(s, 64 << 20) || zmq_connect(s, ep) != 0 ||
        zmq_send(s, request, strlen(request), 0) < 0) {
        fprintf(stderr, "gotflow: cannot reach the supervisor at '%s': %s\n", ep,
                zmq_strerror(zmq_errno()));
        goto out;
    }
    zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) <= 0) {
        if (!quiet)
            fprintf(stderr,
                    "gotflow: no answer from the supervisor at '%s' within %d ms; is the "
                    "pipeline running?\n",
                    ep, timeout_ms);
        goto out;
    }
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, s, 0) >= 0) {
        json_error_t jerr;
        reply = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, &jerr);
    }
    zmq_msg_close(&m);
out:
    zmq_close(s);
    zmq_ctx_term(ctx);
    return reply;
}

json_t *gf_cli_admin(const char *run_dir, const char *request, int timeout_ms)
{
    return s_admin(run_dir, request, timeout_ms, 0);
}

int gf_cli_device_check(const char *cmd, const char *device, const char *precision)
{
    enum gf_cuda_mode mode;
    if (device && strcmp(device, "cpu") != 0 &&
        (strncmp(device, "cuda:", 5) != 0 || device[5] < '0' || device[5] > '9')) {
        fprintf(stderr, "gotflow %s: --device '%s' is not cpu or cuda:N\n", cmd, device);
        return 2;
    }
    if (precision && gf_cuda_mode_parse(precision, &mode) < 0) {
        fprintf(stderr, "gotflow %s: --precision '%s' is not bf16 or f32\n", cmd, precision);
        return 2;
    }
    return 0;
}

int gf_cli_quant_check(const char *cmd, const char *device, const char *precision)
{
    int quant;
    if (gf_precision_parse(precision, &quant) < 0) {
        fprintf(stderr, "gotflow %s: --precision '%s' is not bf16, f32, q8_0 or q4_0\n", cmd,
                precision);
        return 2;
    }
    if (quant >= 0 && device && strcmp(device, "cpu") != 0) {
        fprintf(stderr, "gotflow %s: --precision %s is for the CPU; on %s use bf16 or f32\n", cmd,
                precision, device);
        return 2;
    }
    return 0;
}

struct gf_backend *gf_cli_backend(const char *device, int threads, const char *precision)
{
    enum gf_cuda_mode mode = GF_CUDA_BF16;
    if (!device || strcmp(device, "cpu") == 0) {
        struct gf_backend *be = gf_backend_cpu_new(threads);
        if (gf_precision_exact(precision))
            gf_backend_cpu_exact(be);
        return be;
    }
    gf_cuda_mode_parse(precision, &mode);
    return gf_backend_cuda_new(atoi(device + 5), mode);
}

void *gf_cli_watch_new(void *ctx, void *sock, const char *name)
{
    char ep[128];
    snprintf(ep, sizeof ep, "inproc://watch-%s-%p", name, sock);
    if (zmq_socket_monitor(sock, ep, ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED) != 0)
        return NULL;
    void *mon = zmq_socket(ctx, ZMQ_PAIR);
    if (mon && zmq_connect(mon, ep) != 0) {
        zmq_close(mon);
        return NULL;
    }
    return mon;
}

int gf_cli_watch_reconnected(void *monitor, int *broken)
{
    int back = 0;
    for (;;) {
        zmq_msg_t ev;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return back;
        }
        uint16_t event = 0;
        if (zmq_msg_size(&ev) >= 2)
            memcpy(&event, zmq_msg_data(&ev), 2);
        int more = zmq_msg_more(&ev);
        zmq_msg_close(&ev);
        while (more) { /* the endpoint */
            zmq_msg_t part;
            zmq_msg_init(&part);
            more = zmq_msg_recv(&part, monitor, 0) >= 0 && zmq_msg_more(&part);
            zmq_msg_close(&part);
        }
        if (event == ZMQ_EVENT_DISCONNECTED) {
            *broken = 1;
        } else if (event == ZMQ_EVENT_CONNECTED && *broken) {
            *broken = 0;
            back = 1;
        }
    }
}

/* 1 when every replica of a supervisor's status answer is ready. */
static int s_all_ready(json_t *status)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(status, "replicas"), i, r)
    {
        const char *s = json_string_value(json_object_get(r, "state"));
        if (!s || strcmp(s, "ready") != 0)
            return 0;
    }
    return 1;
}

/* 1 when a supervisor copied its graph into `run_dir` after `t` (it does so once it holds the
 * run directory's lock and has written its pid): it started after the wait began. */
static int s_started_since(const char *run_dir, const struct timespec *t)
{
    char path[GF_PATH_MAX + 16];
    struct stat sb;
    snprintf(path, sizeof path, "%s/graph.yaml", run_dir);
    return stat(path, &sb) == 0 &&
           (sb.st_mtim.tv_sec > t->tv_sec ||
            (sb.st_mtim.tv_sec == t->tv_sec && sb.st_mtim.tv_nsec > t->tv_nsec));
}

int gf_cli_wait_ready(const char *cmd, const char *graph, const char *host, pid_t sup,
                      char run_dir[GF_PATH_MAX], int64_t deadline_ms)
{
    /* A supervisor seen alive, or one that started after this wait began, being gone ends the
     * wait at once; one that started before (killed just before a new one starts) does not. */
    struct timespec t0;
    clock_gettime(CLOCK_REALTIME, &t0);
    int seen = 0, found = 0;
    while (gf_mono_ms() < deadline_ms) {
        if (sup > 0 && waitpid(sup, NULL, WNOHANG) == sup) {
            fprintf(stderr, "gotflow %s: the pipeline did not start (see the lines above)\n", cmd);
            return 1;
        }
        if (gf_plan_find_run(graph, host, run_dir, GF_PATH_MAX, 1) == 0) {
            found = 1;
            if (gf_cli_supervisor_alive(run_dir)) {
                seen = 1;
                /* short turns, so that a supervisor dying is seen */
                json_t *st = s_admin(run_dir, "status", 1000, 1);
                int ready = st && s_all_ready(st);
                json_decref(st);
                if (ready)
                    return 0;
            } else if (seen || s_started_since(run_dir, &t0)) {
                fprintf(stderr,
                        "gotflow %s: the supervisor of '%s' stopped before every replica was "
                        "ready (its own output says why)\n",
                        cmd, run_dir);
                return 1;
            }
        }
        usleep(100000);
    }
    if (!found) /* says why the run directory was not found */
        gf_plan_find_run(graph, host, run_dir, GF_PATH_MAX, 0);
    fprintf(stderr, "gotflow %s: not every replica is ready in time\n", cmd);
    return 1;
}
