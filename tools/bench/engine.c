/* engine.c — the engine benchmark: small frames through three stages on ipc://.
 *
 * Starts `gotflow run` on a temporary graph
 *
 *     gateway -> s1 -> s2 -> s3 -> sink        (s1..s3: test-transform, x = ((2x)+1)*3)
 *
 * acts as a client on the gateway's endpoint, and measures, for several repetitions:
 *
 *   latency     requests sent one at a time; per-hop latency from the result's `trace`
 *               (t_in of a stage minus t_out of the one before, realtime clock, one host) and
 *               the round trip seen by the client (monotonic clock);
 *   throughput  many requests in flight (a window), completed requests per second; each
 *               request is one frame on every edge, so this is also frames/s per edge;
 *   direct      the peer: the same work in-process, a plain function call per frame (build the
 *               frame with gf_emit_*, decode it with gf_frame_decode, apply the transform).
 *
 * and prints the medians over the repetitions. Every option has a default, so `make bench`
 * runs it with no arguments; the programs are found beside this one (build/bin, build/test-bin).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "core/opts.h"
#include "core/spawn.h"
#include "engine/edge.h"
#include "engine/frame.h"

#include "bench.h"

#define S_N_STAGES 5 /* gateway, s1, s2, s3, sink: the trace entries of a result */
#define S_N_HOPS 4   /* gateway->s1 ... s3->sink */
#define S_MAX_REPEAT 64
#define S_N_PROCS (S_N_STAGES + 2) /* the stages, the supervisor, this client */

static const char *const s_stage_names[S_N_STAGES] = {"gateway", "s1", "s2", "s3", "sink"};
static const char *const s_proc_names[S_N_PROCS] = {"gateway", "s1",         "s2",    "s3",
                                                    "sink",    "supervisor", "client"};

struct s_opts {
    int repeat;
    long lat_requests, tput_requests, window;
    int credits, batch;
    long direct_iters;
    int keep;
    const char *echo; /* run as the ZeroMQ echo peer on this endpoint */
};

/* One repetition's figures (µs unless said otherwise). */
struct s_rep {
    double hop_p50[S_N_HOPS], hop_p99[S_N_HOPS];
    double hops_p50, hops_p99;             /* the four hops pooled */
    double step_p50, step_p99;             /* stage-to-stage: t_in(k+1) - t_in(k), k = s1, s2 */
    double in_stage_p50, in_stage_p99;     /* t_out - t_in in s1..s3 */
    double client_in_p50, client_in_p99;   /* client send -> gateway t_out */
    double client_out_p50, client_out_p99; /* sink t_out -> client receive (2 hops) */
    double rtt_p50, rtt_p99;
    double tput;              /* requests/s */
    double cpu_us[S_N_PROCS]; /* CPU time per request in the throughput run, per process */
    double direct_ns;
    double zmq_p50, zmq_p99; /* ZeroMQ ipc one way (echo round trip / 2) */
};

struct s_bench {
    struct s_opts o;
    char work[64];
    char run_dir[PATH_MAX];
    char gotflow[PATH_MAX + 16];
    pid_t sup;
    pid_t procs[S_N_PROCS]; /* what s_proc_names name */
    void *zctx, *sock;
    pid_t echo;
    void *echo_sock;
    char self_exe[PATH_MAX];
    size_t frame_len; /* bytes of a frame between two transform stages */
    msgpack_sbuffer req;
    long seq; /* requests sent */
    /* samples of the current repetition */
    double *hops[S_N_HOPS + 1], *steps, *in_stage, *client_in, *client_out, *rtt;
    long n_steps, n_in_stage;
};

/* Small helpers -------------------------------------------------------------------------- */

static int64_t s_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The q-quantile (nearest rank) of `n` samples; sorts them. */
static double s_quantile(double *v, long n, double q)
{
    if (n <= 0)
        return 0.0;
    qsort(v, (size_t)n, sizeof *v, gf_bench_cmp);
    long i = (long)ceil(q * (double)n) - 1;
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return v[i];
}

static double s_median(const double *v, int n)
{
    double tmp[S_MAX_REPEAT];
    memcpy(tmp, v, (size_t)n * sizeof *v);
    qsort(tmp, (size_t)n, sizeof *tmp, gf_bench_cmp);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2.0;
}

static int s_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* Processes ------------------------------------------------------------------------------ */

/* Forks and execs argv[0] with stdout and stderr appended to `log`. A failed exec is reported
 * through a close-on-exec pipe. Returns the pid, or -1 with a message. */
static pid_t s_spawn(char *const *argv, const char *log)
{
    const struct gf_spawn_opts so = {.log_path = log};
    pid_t pid = gf_spawn(argv, &so);
    if (pid < 0)
        fprintf(stderr, "bench: cannot run '%s': %s\n", argv[0], strerror(errno));
    return pid;
}

/* Waits up to `ms` for `pid`; its exit status, or -1 if it is still running. */
static int s_wait(pid_t pid, int ms)
{
    for (int64_t end = s_mono_ns() + (int64_t)ms * 1000000; s_mono_ns() < end;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (r < 0)
            return -1;
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    return -1;
}

/* Finds build/bin/gotflow from this program's place, build/bench/engine. */
static int s_find_programs(struct s_bench *b)
{
    char exe[PATH_MAX], stage_path[2 * PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        fprintf(stderr, "bench: cannot read /proc/self/exe: %s\n", strerror(errno));
        return -1;
    }
    exe[n] = '\0';
    snprintf(b->self_exe, sizeof b->self_exe, "%s", exe);
    char *slash = strrchr(exe, '/');
    *slash = '\0';
    slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0'; /* exe is now the build folder */
    snprintf(b->gotflow, sizeof b->gotflow, "%s/bin/gotflow", exe);
    if (access(b->gotflow, X_OK) != 0) {
        fprintf(stderr, "bench: cannot find '%s'; run 'make' first\n", b->gotflow);
        return -1;
    }
    snprintf(stage_path, sizeof stage_path, "%s/bin:%s/test-bin", exe, exe);
    setenv("GOTFLOW_STAGE_PATH", stage_path, 1);
    return 0;
}

static int s_write_graph(const struct s_bench *b, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench: cannot write '%s': %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f,
            "name: bench\n"
            "defaults: {batch: %d, credits: %d}\n"
            "stages:\n"
            "  gateway: {kind: gateway}\n"
            "  s1: {kind: test-transform, params: {mul: 2}}\n"
            "  s2: {kind: test-transform, params: {add: 1}}\n"
            "  s3: {kind: test-transform, params: {mul: 3}}\n"
            "  sink: {kind: sink}\n"
            "edges: [gateway -> s1 -> s2 -> s3 -> sink]\n",
            b->o.batch, b->o.credits);
    return fclose(f) == 0 ? 0 : -1;
}

static int s_start(struct s_bench *b)
{
    char graph[PATH_MAX], log[PATH_MAX];
    snprintf(b->work, sizeof b->work, "/tmp/gfbench.XXXXXX");
    if (!mkdtemp(b->work)) {
        fprintf(stderr, "bench: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    snprintf(graph, sizeof graph, "%s/bench.yaml", b->work);
    snprintf(b->run_dir, sizeof b->run_dir, "%s/run", b->work);
    snprintf(log, sizeof log, "%s/supervisor.log", b->work);
    if (s_write_graph(b, graph) != 0)
        return -1;
    char *run[] = {b->gotflow, "run", graph, "--run-dir", b->run_dir, "--quiet", NULL};
    if ((b->sup = s_spawn(run, log)) < 0)
        return -1;
    char *status[] = {b->gotflow, "status", b->run_dir, "--wait-ready", "--timeout", "30", NULL};
    pid_t st = s_spawn(status, log);
    if (st < 0 || s_wait(st, 40000) != 0) {
        fprintf(stderr, "bench: the pipeline did not become ready; see '%s'\n", log);
        return -1;
    }
    char ep[PATH_MAX + 16];
    snprintf(ep, sizeof ep, "ipc://%s/gateway", b->run_dir);
    b->zctx = zmq_ctx_new();
    b->sock = zmq_socket(b->zctx, ZMQ_DEALER);
    if (gf_sockopt_int(b->sock, ZMQ_LINGER, 0, "ZMQ_LINGER") ||
        gf_sockopt_int(b->sock, ZMQ_SNDHWM, 0, "ZMQ_SNDHWM") ||
        gf_sockopt_int(b->sock, ZMQ_RCVHWM, 0, "ZMQ_RCVHWM") || zmq_connect(b->sock, ep) != 0) {
        fprintf(stderr, "bench: cannot connect to '%s': %s\n", ep, zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

/* SIGTERM: the supervisor drains and stops every stage. Returns its exit status. The run
 * directory and logs are removed unless asked to keep them, or something failed. */
static int s_stop(struct s_bench *b, int failed)
{
    int rc = 0;
    if (b->sock)
        zmq_close(b->sock);
    if (b->zctx)
        zmq_ctx_term(b->zctx);
    b->sock = b->zctx = NULL;
    if (b->sup > 0) {
        kill(b->sup, SIGTERM);
        rc = s_wait(b->sup, 15000);
        if (rc < 0) {
            fprintf(stderr, "bench: the supervisor did not stop; killing it\n");
            kill(b->sup, SIGKILL);
            waitpid(b->sup, NULL, 0);
        }
        b->sup = 0;
    }
    if (b->work[0] && !b->o.keep && !failed && rc == 0)
        nftw(b->work, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    else if (b->work[0])
        fprintf(stderr, "bench: run directory and logs kept in '%s'\n", b->work);
    return rc;
}

/* CPU time (user + system) of `pid` in clock ticks, or -1. */
static long s_cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long utime, stime;
    /* after ')': state, then fields 4..13, then utime (14) and stime (15) */
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return (long)(utime + stime);
}

/* Reads the stage replicas' pids from the run directory. */
static int s_find_procs(struct s_bench *b)
{
    for (int s = 0; s < S_N_STAGES; s++) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/%s.0.pid", b->run_dir, s_stage_names[s]);
        FILE *f = fopen(path, "r");
        int pid = 0;
        if (!f || fscanf(f, "%d", &pid) != 1 || pid <= 0) {
            fprintf(stderr, "bench: cannot read '%s'\n", path);
            if (f)
                fclose(f);
            return -1;
        }
        fclose(f);
        b->procs[s] = pid;
    }
    b->procs[S_N_STAGES] = b->sup;
    b->procs[S_N_STAGES + 1] = getpid();
    return 0;
}

static void s_cpu_sample(const struct s_bench *b, long ticks[S_N_PROCS])
{
    for (int i = 0; i < S_N_PROCS; i++)
        ticks[i] = s_cpu_ticks(b->procs[i]);
}

/* The client ----------------------------------------------------------------------------- */

/* Prints `gotflow status` of the run on stderr: what each replica holds when answers stop. */
static void s_show_status(const struct s_bench *b)
{
    char *argv[] = {(char *)b->gotflow, "status", (char *)b->run_dir, NULL};
    pid_t pid = s_spawn(argv, "/dev/stderr");
    if (pid > 0 && s_wait(pid, 10000) < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
}

/* Sends request {id: PREFIX<i>-<seq>, x: i}; ids are never reused within a run. */
static int s_send(struct s_bench *b, const char *prefix, long i)
{
    char id[48];
    int id_len = snprintf(id, sizeof id, "%s%ld-%ld", prefix, i, b->seq++);
    msgpack_packer pk;
    msgpack_sbuffer_clear(&b->req);
    msgpack_packer_init(&pk, &b->req, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "id", 2);
    msgpack_pack_str_with_body(&pk, id, (size_t)id_len);
    msgpack_pack_str_with_body(&pk, "x", 1);
    msgpack_pack_int64(&pk, i);
    if (zmq_send(b->sock, b->req.data, b->req.size, 0) != (int)b->req.size) {
        fprintf(stderr, "bench: send: %s\n", zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

/* Receives one answer within `timeout_ms`; decodes it (caller owns *f) and checks its result. */
static int s_recv(struct s_bench *b, int timeout_ms, gf_frame_t **f)
{
    zmq_pollitem_t item = {b->sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) <= 0) {
        fprintf(stderr, "bench: no answer within %d ms; see the logs in '%s'\n", timeout_ms,
                b->run_dir);
        s_show_status(b);
        return -1;
    }
    zmq_msg_t m;
    zmq_msg_init(&m);
    int rc = zmq_msg_recv(&m, b->sock, 0) < 0 ? -1 : 0;
    char why[256] = "";
    if (!rc && gf_frame_decode(zmq_msg_data(&m), zmq_msg_size(&m), 0, f, why, sizeof why, NULL))
        rc = -1;
    zmq_msg_close(&m);
    if (rc) {
        fprintf(stderr, "bench: bad answer: %s\n", why[0] ? why : zmq_strerror(zmq_errno()));
        return -1;
    }
    int64_t x;
    long i = strtol((*f)->id + 1, NULL, 10);
    if (strcmp((*f)->kind, "result") != 0 || gf_frame_get_int(*f, "x", &x) != 0 ||
        x != (2 * i + 1) * 3) {
        fprintf(stderr, "bench: request '%s': wrong answer (kind '%s')\n", (*f)->id, (*f)->kind);
        gf_frame_destroy(f);
        return -1;
    }
    return 0;
}

/* Reads the result's trace into t_in/t_out per stage (gateway, s1, s2, s3, sink). */
static int s_trace(const gf_frame_t *f, int64_t t_in[S_N_STAGES], int64_t t_out[S_N_STAGES])
{
    int seen = 0;
    const msgpack_object *tr = f->trace;
    for (uint32_t i = 0; tr && i < tr->via.array.size; i++) {
        const msgpack_object *ent = &tr->via.array.ptr[i];
        if (ent->type != MSGPACK_OBJECT_ARRAY || ent->via.array.size < 4 ||
            ent->via.array.ptr[0].type != MSGPACK_OBJECT_STR)
            continue;
        const msgpack_object_str *name = &ent->via.array.ptr[0].via.str;
        for (int s = 0; s < S_N_STAGES; s++)
            if (name->size == strlen(s_stage_names[s]) &&
                memcmp(name->ptr, s_stage_names[s], name->size) == 0 &&
                gf_obj_int(&ent->via.array.ptr[2], &t_in[s]) == 0 &&
                gf_obj_int(&ent->via.array.ptr[3], &t_out[s]) == 0)
                seen |= 1 << s;
    }
    if (seen != (1 << S_N_STAGES) - 1) {
        fprintf(stderr, "bench: request '%s': incomplete trace\n", f->id);
        return -1;
    }
    return 0;
}

/* Requests one at a time: per-hop latency and round trip. */
static int s_latency(struct s_bench *b, long n, int record, struct s_rep *rep)
{
    b->n_steps = b->n_in_stage = 0;
    for (long i = 0; i < n; i++) {
        int64_t t_send = gf_now_us(), t0 = s_mono_ns();
        gf_frame_t *f = NULL;
        if (s_send(b, "l", i) != 0 || s_recv(b, 10000, &f) != 0)
            return -1;
        int64_t t1 = s_mono_ns(), t_recv = gf_now_us();
        int64_t t_in[S_N_STAGES], t_out[S_N_STAGES];
        int err = s_trace(f, t_in, t_out);
        gf_frame_destroy(&f);
        if (err)
            return -1;
        if (!record)
            continue;
        for (int h = 0; h < S_N_HOPS; h++)
            b->hops[h][i] = (double)(t_in[h + 1] - t_out[h]);
        for (int s = 1; s <= 3; s++)
            b->in_stage[b->n_in_stage++] = (double)(t_out[s] - t_in[s]);
        for (int s = 1; s <= 2; s++)
            b->steps[b->n_steps++] = (double)(t_in[s + 1] - t_in[s]);
        b->client_in[i] = (double)(t_out[0] - t_send);
        b->client_out[i] = (double)(t_recv - t_out[4]);
        b->rtt[i] = (double)(t1 - t0) / 1000.0;
    }
    if (!record)
        return 0;
    double *pooled = b->hops[S_N_HOPS]; /* room for all hops, after the per-hop arrays */
    for (int h = 0; h < S_N_HOPS; h++) {
        memcpy(pooled + h * n, b->hops[h], (size_t)n * sizeof *pooled);
        rep->hop_p50[h] = s_quantile(b->hops[h], n, 0.50);
        rep->hop_p99[h] = s_quantile(b->hops[h], n, 0.99);
    }
    rep->hops_p50 = s_quantile(pooled, n * S_N_HOPS, 0.50);
    rep->hops_p99 = s_quantile(pooled, n * S_N_HOPS, 0.99);
    rep->step_p50 = s_quantile(b->steps, b->n_steps, 0.50);
    rep->step_p99 = s_quantile(b->steps, b->n_steps, 0.99);
    rep->in_stage_p50 = s_quantile(b->in_stage, b->n_in_stage, 0.50);
    rep->in_stage_p99 = s_quantile(b->in_stage, b->n_in_stage, 0.99);
    rep->client_in_p50 = s_quantile(b->client_in, n, 0.50);
    rep->client_in_p99 = s_quantile(b->client_in, n, 0.99);
    rep->client_out_p50 = s_quantile(b->client_out, n, 0.50);
    rep->client_out_p99 = s_quantile(b->client_out, n, 0.99);
    rep->rtt_p50 = s_quantile(b->rtt, n, 0.50);
    rep->rtt_p99 = s_quantile(b->rtt, n, 0.99);
    return 0;
}

/* Up to `window` requests in flight: completed requests per second. */
static int s_throughput(struct s_bench *b, long n, long window, struct s_rep *rep)
{
    long sent = 0, done = 0, cpu0[S_N_PROCS], cpu1[S_N_PROCS];
    s_cpu_sample(b, cpu0);
    int64_t t0 = s_mono_ns();
    while (done < n) {
        while (sent < n && sent - done < window)
            if (s_send(b, "t", sent++) != 0)
                return -1;
        gf_frame_t *f = NULL;
        if (s_recv(b, 10000, &f) != 0)
            return -1;
        gf_frame_destroy(&f);
        done++;
    }
    rep->tput = (double)n / ((double)(s_mono_ns() - t0) / 1e9);
    s_cpu_sample(b, cpu1);
    double us_per_tick = 1e6 / (double)sysconf(_SC_CLK_TCK);
    for (int i = 0; i < S_N_PROCS; i++)
        rep->cpu_us[i] = (double)(cpu1[i] - cpu0[i]) * us_per_tick / (double)n;
    return 0;
}

/* The direct-call peer ------------------------------------------------------------------- */

/* A frame as s2 receives it: what the gateway and s1 made of a request {id, x}. */
static int s_direct_input(gf_emit_t *e, uint8_t **bytes, size_t *len)
{
    gf_emit_begin_id(e, "d0", 0, "prompt");
    gf_emit_int(e, "x", 7);
    gf_emit_end(e, "gateway", 0, gf_now_us());
    gf_frame_t *f = NULL;
    if (gf_frame_decode(gf_emit_data(e), gf_emit_len(e), 0, &f, NULL, 0, NULL) != 0)
        return -1;
    gf_emit_begin(e, f, "tokens");
    gf_emit_int(e, "x", 15);
    gf_emit_carry(e, f);
    gf_emit_end(e, "s1", 0, f->t_in_us);
    gf_frame_destroy(&f);
    *len = gf_emit_len(e);
    *bytes = malloc(*len);
    if (!*bytes)
        return -1;
    memcpy(*bytes, gf_emit_data(e), *len);
    return 0;
}

/* One stage's work on one frame, as a function call: decode, transform, build the next frame. */
static int64_t s_direct_step(gf_emit_t *e, const uint8_t *bytes, size_t len, long mul, long add)
{
    gf_frame_t *f = NULL;
    int64_t x = 0;
    if (gf_frame_decode(bytes, len, 0, &f, NULL, 0, NULL) != 0)
        return -1;
    f->t_in_us = gf_now_us();
    gf_frame_get_int(f, "x", &x);
    gf_emit_begin(e, f, "tokens");
    gf_emit_int(e, "x", x * mul + add);
    gf_emit_carry(e, f);
    gf_emit_end(e, "s2", 0, f->t_in_us);
    gf_frame_destroy(&f);
    return x;
}

/* The size of a frame between two transform stages (what the ZeroMQ peer sends). */
static size_t s_frame_len(void)
{
    gf_emit_t e;
    uint8_t *bytes = NULL;
    size_t len = 100;
    gf_emit_init(&e);
    s_direct_input(&e, &bytes, &len);
    free(bytes);
    gf_emit_release(&e);
    return len;
}

/* Nanoseconds per direct step, over `iters` steps. */
static double s_direct(long iters)
{
    gf_emit_t e;
    uint8_t *bytes = NULL;
    size_t len = 0;
    double ns = -1.0;
    gf_emit_init(&e);
    if (s_direct_input(&e, &bytes, &len) != 0)
        goto out;
    int64_t sum = 0, t0 = s_mono_ns();
    for (long i = 0; i < iters; i++)
        sum += s_direct_step(&e, bytes, len, 1, i & 1);
    ns = (double)(s_mono_ns() - t0) / (double)iters;
    if (sum != 15 * iters)
        ns = -1.0;
out:
    free(bytes);
    gf_emit_release(&e);
    return ns;
}

/* The ZeroMQ peer: the transport alone -------------------------------------------------- */

/* `engine --echo EP`: a ROUTER that sends every message back; an empty one ends it. */
static int s_echo_main(const char *endpoint)
{
    void *ctx = zmq_ctx_new(), *sock = zmq_socket(ctx, ZMQ_ROUTER);
    int rc = 1;
    if (gf_sockopt_int(sock, ZMQ_LINGER, 0, "ZMQ_LINGER") || zmq_bind(sock, endpoint) != 0) {
        fprintf(stderr, "bench: cannot bind '%s': %s\n", endpoint, zmq_strerror(zmq_errno()));
        goto out;
    }
    for (;;) {
        uint8_t rid[256], body[4096];
        int rid_len = zmq_recv(sock, rid, sizeof rid, 0);
        int len = rid_len >= 0 ? zmq_recv(sock, body, sizeof body, 0) : -1;
        if (len <= 0 || rid_len > (int)sizeof rid || len > (int)sizeof body)
            break;
        if (gf_zsend(sock, rid, (size_t)rid_len, ZMQ_SNDMORE, "an echo") ||
            gf_zsend(sock, body, (size_t)len, 0, "an echo"))
            break;
    }
    rc = 0;
out:
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return rc;
}

static int s_echo_start(struct s_bench *b)
{
    char ep[PATH_MAX], log[PATH_MAX];
    snprintf(ep, sizeof ep, "ipc://%s/echo", b->work);
    snprintf(log, sizeof log, "%s/echo.log", b->work);
    char *argv[] = {b->self_exe, "--echo", ep, NULL};
    if ((b->echo = s_spawn(argv, log)) < 0)
        return -1;
    b->echo_sock = zmq_socket(b->zctx, ZMQ_DEALER);
    if (gf_sockopt_int(b->echo_sock, ZMQ_LINGER, 0, "ZMQ_LINGER") ||
        zmq_connect(b->echo_sock, ep) != 0) {
        fprintf(stderr, "bench: cannot connect to '%s': %s\n", ep, zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

static void s_echo_stop(struct s_bench *b)
{
    if (b->echo_sock) {
        gf_zsend(b->echo_sock, "", 0, 0, "the echo's stop"); /* it is killed anyway */
        zmq_close(b->echo_sock);
        b->echo_sock = NULL;
    }
    if (b->echo > 0 && s_wait(b->echo, 5000) < 0) {
        kill(b->echo, SIGKILL);
        waitpid(b->echo, NULL, 0);
    }
    b->echo = 0;
}

/* `n` round trips of a `len`-byte message through the echo peer; one way = round trip / 2. */
static int s_zmq_peer(struct s_bench *b, long n, size_t len, struct s_rep *rep)
{
    uint8_t msg[4096] = {0x80};
    double *one_way = b->rtt; /* reused: the latency run is over */
    for (long i = 0; i < n; i++) {
        int64_t t0 = s_mono_ns();
        zmq_pollitem_t item = {b->echo_sock, 0, ZMQ_POLLIN, 0};
        if (zmq_send(b->echo_sock, msg, len, 0) != (int)len || zmq_poll(&item, 1, 5000) <= 0 ||
            zmq_recv(b->echo_sock, msg, sizeof msg, 0) != (int)len) {
            fprintf(stderr, "bench: the echo peer does not answer\n");
            return -1;
        }
        one_way[i] = (double)(s_mono_ns() - t0) / 2000.0;
    }
    rep->zmq_p50 = s_quantile(one_way, n, 0.50);
    rep->zmq_p99 = s_quantile(one_way, n, 0.99);
    return 0;
}

/* Report --------------------------------------------------------------------------------- */

#define S_FIELD(field) offsetof(struct s_rep, field)

static double s_med_field(const struct s_rep *reps, int n, size_t off)
{
    double v[S_MAX_REPEAT];
    for (int i = 0; i < n; i++)
        v[i] = *(const double *)((const char *)&reps[i] + off);
    return s_median(v, n);
}

static void s_row(const char *name, const struct s_rep *reps, int n, size_t off50, size_t off99)
{
    printf("  %-36s %10.1f %10.1f\n", name, s_med_field(reps, n, off50),
           s_med_field(reps, n, off99));
}

static void s_report(const struct s_bench *b, const struct s_rep *reps, int n)
{
    const struct s_opts *o = &b->o;
    printf("\ngotflow engine: gateway -> s1 -> s2 -> s3 -> sink, test-transform stages, ipc://\n"
           "batch %d, credits %d; medians of %d repetitions; frames of %zu bytes\n\n",
           o->batch, o->credits, n, b->frame_len);
    printf("  latency, %ld requests one at a time     p50 (µs)   p99 (µs)\n", o->lat_requests);
    for (int h = 0; h < S_N_HOPS; h++) {
        char name[64];
        snprintf(name, sizeof name, "hop %s -> %s", s_stage_names[h], s_stage_names[h + 1]);
        s_row(name, reps, n, S_FIELD(hop_p50) + (size_t)h * sizeof(double),
              S_FIELD(hop_p99) + (size_t)h * sizeof(double));
    }
    s_row("hop, all four", reps, n, S_FIELD(hops_p50), S_FIELD(hops_p99));
    s_row("in stage (s1..s3, t_out - t_in)", reps, n, S_FIELD(in_stage_p50), S_FIELD(in_stage_p99));
    s_row("stage to stage (s1->s2, s2->s3, t_in)", reps, n, S_FIELD(step_p50), S_FIELD(step_p99));
    s_row("client -> gateway out", reps, n, S_FIELD(client_in_p50), S_FIELD(client_in_p99));
    s_row("sink out -> client (2 hops)", reps, n, S_FIELD(client_out_p50), S_FIELD(client_out_p99));
    s_row("round trip (client)", reps, n, S_FIELD(rtt_p50), S_FIELD(rtt_p99));
    s_row("peer: ZeroMQ ipc alone, one way", reps, n, S_FIELD(zmq_p50), S_FIELD(zmq_p99));

    double tput = s_med_field(reps, n, S_FIELD(tput));
    double direct = s_med_field(reps, n, S_FIELD(direct_ns));
    double hop = s_med_field(reps, n, S_FIELD(hops_p50));
    double step = s_med_field(reps, n, S_FIELD(step_p50));
    printf("\n  throughput, %ld requests, window %ld    %10.0f requests/s\n", o->tput_requests,
           o->window, tput);
    printf("    = frames/s on each edge; over all %d edges (sink -> gateway too) %.0f frames/s\n",
           S_N_HOPS + 1, tput * (S_N_HOPS + 1));
    printf("  CPU per request in the throughput run (µs):");
    double total = 0.0;
    for (int i = 0; i < S_N_PROCS; i++) {
        double v = s_med_field(reps, n, S_FIELD(cpu_us) + (size_t)i * sizeof(double));
        total += v;
        printf(" %s %.1f,", s_proc_names[i], v);
    }
    printf(" all %.1f\n", total);
    printf("  direct call (decode, transform, emit) %10.2f µs  (%.0f frames/s on one core)\n",
           direct / 1000.0, 1e9 / direct);
    printf("\n  one hop / direct call (latency, p50)         %8.1f x\n", hop * 1000.0 / direct);
    printf("  stage to stage / direct call (latency, p50)  %8.1f x\n", step * 1000.0 / direct);
    double zmq = s_med_field(reps, n, S_FIELD(zmq_p50));
    printf("  one hop / ZeroMQ ipc alone (latency, p50)    %8.1f x\n", hop / zmq);
    printf("  direct call rate / pipeline rate             %8.1f x\n", 1e9 / direct / tput);
    printf("\n  goal: p50 <= 50 µs per hop: %s (%.1f); >= 100k frames/s per edge: %s (%.0f)\n",
           hop <= 50.0 ? "met" : "not met", hop, tput >= 100000.0 ? "met" : "not met", tput);
    fflush(stdout);
}

/* Main ----------------------------------------------------------------------------------- */

static const char s_usage[] =
    "usage: engine [options]\n"
    "\n"
    "Starts a 3-stage test pipeline (gateway -> s1 -> s2 -> s3 -> sink) on ipc:// and measures\n"
    "per-hop latency, round trip, throughput and a direct in-process call doing the same work.\n"
    "\n"
    "\n";

/* 0, or GF_OPTS_HELP / GF_OPTS_USAGE (said so already). */
static int s_parse(int argc, char **argv, struct s_opts *o)
{
    *o = (struct s_opts){5, 2000, 20000, 1000, 64, 1, 200000, 0, NULL};
    const struct gf_opt opts[] = {
        {"repeat", 0, GF_OPT_INT, &o->repeat, 1, S_MAX_REPEAT, "N",
         "repetitions; the table shows medians (default 5)"},
        {"requests", 0, GF_OPT_LONG, &o->lat_requests, 1, 10000000, "N",
         "requests sent one at a time, per repetition (default 2000)"},
        {"tput-requests", 0, GF_OPT_LONG, &o->tput_requests, 1, 100000000, "N",
         "requests for the throughput run, per repetition (default 20000)"},
        {"window", 0, GF_OPT_LONG, &o->window, 1, 1000000, "N",
         "requests in flight in the throughput run (default 1000)"},
        {"credits", 0, GF_OPT_INT, &o->credits, 1, 1048576, "N",
         "credits of every stage (default 64)"},
        {"batch", 0, GF_OPT_INT, &o->batch, 1, 4096, "N", "batch of every stage (default 1)"},
        {"direct-iters", 0, GF_OPT_LONG, &o->direct_iters, 1, 1000000000, "N",
         "direct calls timed per repetition (default 200000)"},
        {"keep", 0, GF_OPT_FLAG, &o->keep, 0, 0, NULL, "keep the run directory and logs"},
        {"echo", 0, GF_OPT_STRING, &o->echo, 0, 0, "EP",
         "(internal) be the ZeroMQ echo peer on endpoint EP"},
        {0}};
    const struct gf_opts spec = {"bench", s_usage, opts, NULL};
    int first = gf_opts_parse(&spec, argc, argv);
    if (first < 0)
        return first;
    if (first != argc || o->credits < o->batch) {
        gf_opts_usage(&spec, stderr);
        return GF_OPTS_USAGE;
    }
    return 0;
}

static int s_alloc(struct s_bench *b)
{
    long n = b->o.lat_requests;
    /* the per-hop arrays, then one holding all hops pooled */
    for (int h = 0; h < S_N_HOPS; h++)
        b->hops[h] = malloc((size_t)n * sizeof(double));
    double *pooled = malloc((size_t)n * S_N_HOPS * sizeof(double));
    b->steps = malloc((size_t)n * 2 * sizeof(double));
    b->in_stage = malloc((size_t)n * 3 * sizeof(double));
    b->client_in = malloc((size_t)n * sizeof(double));
    b->client_out = malloc((size_t)n * sizeof(double));
    b->rtt = malloc((size_t)n * sizeof(double));
    for (int h = 0; h < S_N_HOPS; h++)
        if (!b->hops[h])
            return -1;
    b->hops[S_N_HOPS] = pooled;
    return pooled && b->steps && b->in_stage && b->client_in && b->client_out && b->rtt ? 0 : -1;
}

int main(int argc, char **argv)
{
    static struct s_bench b;
    static struct s_rep reps[S_MAX_REPEAT];
    int rc = 1;
    int parsed = s_parse(argc, argv, &b.o);
    if (parsed < 0)
        return gf_opts_status(parsed);
    if (b.o.echo)
        return s_echo_main(b.o.echo);
    signal(SIGPIPE, SIG_IGN);
    msgpack_sbuffer_init(&b.req);
    if (s_alloc(&b) != 0) {
        fprintf(stderr, "bench: out of memory\n");
        return 1;
    }
    if (s_find_programs(&b) != 0 || s_start(&b) != 0 || s_find_procs(&b) != 0 ||
        s_echo_start(&b) != 0)
        goto out;
    /* warm up: connections, credit, caches */
    struct s_rep scratch;
    b.frame_len = s_frame_len();
    if (s_latency(&b, 200, 0, NULL) != 0 ||
        s_zmq_peer(&b, b.o.lat_requests < 200 ? b.o.lat_requests : 200, b.frame_len, &scratch) != 0)
        goto out;
    fflush(stdout);
    for (int r = 0; r < b.o.repeat; r++) {
        struct s_rep *rep = &reps[r];
        /* a few requests first: edges idle for a while have given their credit back */
        if (s_latency(&b, 50, 0, NULL) != 0 || s_latency(&b, b.o.lat_requests, 1, rep) != 0 ||
            s_throughput(&b, b.o.tput_requests, b.o.window, rep) != 0)
            goto out;
        if (s_zmq_peer(&b, b.o.lat_requests, b.frame_len, rep) != 0)
            goto out;
        rep->direct_ns = s_direct(b.o.direct_iters);
        if (rep->direct_ns < 0) {
            fprintf(stderr, "bench: the direct call gave a wrong result\n");
            goto out;
        }
        fprintf(stderr,
                "repetition %d: hop p50 %.1f µs, round trip p50 %.1f µs, %.0f frames/s, "
                "direct %.2f µs\n",
                r + 1, rep->hops_p50, rep->rtt_p50, rep->tput, rep->direct_ns / 1000.0);
    }
    s_report(&b, reps, b.o.repeat);
    rc = 0;
out:
    s_echo_stop(&b);
    if (s_stop(&b, rc != 0) != 0 && rc == 0) {
        fprintf(stderr, "bench: the supervisor did not stop cleanly\n");
        rc = 1;
    }
    for (int h = 0; h <= S_N_HOPS; h++)
        free(b.hops[h]);
    free(b.steps);
    free(b.in_stage);
    free(b.client_in);
    free(b.client_out);
    free(b.rtt);
    msgpack_sbuffer_destroy(&b.req);
    return rc;
}
