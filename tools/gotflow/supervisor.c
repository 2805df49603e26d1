/* supervisor.c — process supervision for `gotflow run` (see supervisor.h for exit codes).
 *
 * One loop: poll the control ROUTER (Hello, Ready, Heartbeat, Fault from replicas), the admin
 * ROUTER (`gotflow status` queries) and a self-pipe written by the signal handlers; reap children;
 * restart the dead with back-off; kill the silent; on SIGINT/SIGTERM drain, then stop in order.
 */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "core/error.h"
#include "core/log.h"
#include "core/spawn.h"
#include "core/version.h"
#include "engine/control.h"
#include "engine/edge.h"
#include "engine/plan.h"
#include "engine/security.h"
#include "metrics.h"

enum s_state { S_STARTING, S_READY, S_EXITED, S_STOPPED };

/* A replica that dies sooner than this after it started is backed off before the next start. */
#define S_QUICK_DEATH_MS 5000
static const char *const s_state_names[] = {"starting", "ready", "restarting", "stopped"};

struct s_replica {
    int stage, replica;
    char rid[GF_GRAPH_NAME_MAX + 16]; /* "<stage>.<replica>" */
    pid_t pid;
    enum s_state state;
    int restarts, in_a_row, backoff_ms;
    int quick_deaths; /* deaths in a row within S_QUICK_DEATH_MS of starting */
    int64_t started_ms, last_hb_ms, restart_at_ms;
    Gotflow__Heartbeat *hb; /* last heartbeat, owned (via its envelope) */
    Gotflow__Control *hb_env;
    uint64_t hb_after_drain; /* heartbeats received since Drain was sent */
    int hb_fresh;            /* a heartbeat came since the last census */
    int killed_by_us;        /* the supervisor killed it (hung, over its memory limit) */
    double rate;             /* requests done per second, smoothed */
    uint64_t rate_done;
    int64_t rate_ms;
};

struct s_sup {
    const struct gf_supervise_opts *opts;
    gf_graph_t *graph;
    int host; /* -1: every replica */
    char run_dir[GF_PATH_MAX];
    void *zctx, *control, *admin, *metrics;
    struct s_replica *reps;
    int n_reps;
    int phase; /* 0 running, 1 draining, 2 stopping */
    int exit_code;
    int64_t drain_deadline_ms, started_ms;
    int census; /* this supervisor sees every replica: it sends the gateways censuses */
    int64_t next_census_ms;
    uint64_t crashes; /* replicas that crashed or hung (Lost.suspect) */
    int lock_fd;      /* flock on the run directory's supervisor.lock */
    int wrote_pid;    /* supervisor.pid is ours to remove */
};

static int s_sigpipe[2] = {-1, -1};

static void s_on_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;
    ssize_t n = write(s_sigpipe[1], &c, 1);
    (void)n;
    errno = saved;
}

/* Starting replicas ------------------------------------------------------------------------- */

/* Starts one replica (gf_spawn: an exec failure is this call's failure), its output in its log. */
static int s_spawn(struct s_sup *sv, struct s_replica *r)
{
    const struct gf_stage_def *d = &sv->graph->stages[r->stage];
    char bin[GF_PATH_MAX], log_path[GF_PATH_MAX + 128], rep[16];
    if (gf_plan_stage_binary(d->kind, bin, sizeof bin) != 0) {
        gf_log_error("no program 'gotflow-%s' for stage '%s'", d->kind, d->name);
        return GF_ENOTFOUND;
    }
    snprintf(log_path, sizeof log_path, "%s/%s.log", sv->run_dir, r->rid);
    snprintf(rep, sizeof rep, "%d", r->replica);
    char *argv[] = {bin, "--run", sv->run_dir, "--stage", (char *)d->name, "--replica", rep, NULL};
    /* its own group: ^C at a terminal reaches the supervisor only; it drains in order */
    const struct gf_spawn_opts so = {
        .log_path = log_path, .stdin_null = 1, .new_group = 1, .death_signal = SIGTERM};
    pid_t pid = gf_spawn(argv, &so);
    if (pid < 0) {
        gf_log_error("cannot start '%s': %s", bin, strerror(errno));
        return GF_EIO;
    }
    r->pid = pid;
    r->state = S_STARTING;
    r->started_ms = gf_mono_ms();
    r->last_hb_ms = r->started_ms;
    char pid_path[GF_PATH_MAX + 128];
    snprintf(pid_path, sizeof pid_path, "%s/%s.pid", sv->run_dir, r->rid);
    FILE *f = fopen(pid_path, "w");
    if (f) {
        fprintf(f, "%d\n", (int)pid);
        fclose(f);
    }
    gf_log_debug("started %s (pid %d)", r->rid, (int)pid);
    return 0;
}

static void s_send(struct s_sup *sv, struct s_replica *r, Gotflow__Control__MsgCase what)
{
    Gotflow__Drain drain = GOTFLOW__DRAIN__INIT;
    Gotflow__Shutdown shutdown = GOTFLOW__SHUTDOWN__INIT;
    Gotflow__Control c = GOTFLOW__CONTROL__INIT;
    c.msg_case = what;
    if (what == GOTFLOW__CONTROL__MSG_DRAIN)
        c.drain = &drain;
    else
        c.shutdown = &shutdown;
    gf_control_send(sv->control, r->rid, strlen(r->rid), &c);
}

static struct s_replica *s_find(struct s_sup *sv, const char *rid)
{
    for (int i = 0; i < sv->n_reps; i++)
        if (strcmp(sv->reps[i].rid, rid) == 0)
            return &sv->reps[i];
    return NULL;
}

static void s_fail_pipeline(struct s_sup *sv, const char *why)
{
    gf_log_error("%s; stopping the pipeline", why);
    sv->exit_code = GF_EXIT_STAGE_FAILED;
    sv->phase = 2;
}

/* Prints the last lines a replica wrote, so a crash explains itself where the user looks. */
static void s_log_tail(struct s_sup *sv, struct s_replica *r)
{
    char path[GF_PATH_MAX + 128], buf[2048];
    snprintf(path, sizeof path, "%s/%s.log", sv->run_dir, r->rid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0, SEEK_SET);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *start = buf;
    int lines = 0;
    for (char *p = buf + n; p > buf; p--)
        if (p[-1] == '\n' && ++lines > 4) {
            start = p;
            break;
        }
    if (*start)
        fprintf(stderr, "  last lines of %s:\n%s", path, start);
}

/* Control messages --------------------------------------------------------------------------- */

/* A gateway superseded attempts: every other live replica here hears of it. */
static void s_relay_cancel(struct s_sup *sv, const struct s_replica *from,
                           const Gotflow__Control *c)
{
    for (int i = 0; i < sv->n_reps; i++)
        if (&sv->reps[i] != from && sv->reps[i].pid > 0)
            gf_control_send(sv->control, sv->reps[i].rid, strlen(sv->reps[i].rid), c);
}

static void s_on_control(struct s_sup *sv)
{
    char rid[128];
    Gotflow__Control *c;
    while ((c = gf_control_recv(sv->control, rid, NULL, sizeof rid)) != NULL) {
        struct s_replica *r = s_find(sv, rid);
        if (!r) {
            gf_log_warn("control message from unknown replica '%s'", rid);
            gotflow__control__free_unpacked(c, NULL);
            continue;
        }
        int64_t now = gf_mono_ms();
        r->last_hb_ms = now;
        switch (c->msg_case) {
        case GOTFLOW__CONTROL__MSG_READY:
            r->state = S_READY;
            gf_log_debug("%s ready", rid);
            break;
        case GOTFLOW__CONTROL__MSG_HEARTBEAT:
            if (r->state == S_STARTING)
                r->state = S_READY;
            if (r->hb_env && c->heartbeat->counters &&
                c->heartbeat->counters->done >= r->rate_done) {
                double dt = (double)(now - r->rate_ms) / 1000.0;
                double inst =
                    dt > 0 ? (double)(c->heartbeat->counters->done - r->rate_done) / dt : 0;
                r->rate = r->rate * 0.5 + inst * 0.5;
            }
            if (r->hb_env)
                gotflow__control__free_unpacked(r->hb_env, NULL);
            if (sv->graph->supervisor.max_rss_mb > 0 && r->pid > 0 &&
                c->heartbeat->rss_kb / 1024 > (uint64_t)sv->graph->supervisor.max_rss_mb) {
                gf_log_warn("%s (pid %d) uses %llu MiB, over supervisor.max_rss_mb (%d); "
                            "replacing it",
                            r->rid, (int)r->pid, (unsigned long long)(c->heartbeat->rss_kb / 1024),
                            sv->graph->supervisor.max_rss_mb);
                kill(r->pid, SIGKILL); /* the reaper restarts it and reports its requests */
                r->killed_by_us = 1;
            }
            r->rate_done = c->heartbeat->counters ? c->heartbeat->counters->done : 0;
            r->rate_ms = now;
            r->hb_env = c;
            r->hb = c->heartbeat;
            r->hb_after_drain++;
            r->hb_fresh = 1;
            continue; /* kept */
        case GOTFLOW__CONTROL__MSG_CANCEL:
            s_relay_cancel(sv, r, c);
            break;
        case GOTFLOW__CONTROL__MSG_FAULT: {
            char why[512];
            snprintf(why, sizeof why, "%s failed at %s: %s", rid, c->fault->what, c->fault->why);
            if (r->state == S_STARTING) {
                gotflow__control__free_unpacked(c, NULL);
                s_log_tail(sv, r);
                s_fail_pipeline(sv, why);
                return;
            }
            gf_log_error("%s", why);
            break;
        }
        default:
            break;
        }
        gotflow__control__free_unpacked(c, NULL);
    }
}

/* Children ----------------------------------------------------------------------------------- */

static int s_is_gateway(struct s_sup *sv, struct s_replica *r);

/* Tells the local gateways which requests a dead replica held (from its last heartbeat), so they
 * send them again at once instead of waiting for a deadline. */
static void s_report_lost(struct s_sup *sv, struct s_replica *dead, int suspect)
{
    if (!dead->hb || dead->hb->n_in_flight == 0 || s_is_gateway(sv, dead))
        return;
    Gotflow__Lost lost = GOTFLOW__LOST__INIT;
    lost.replica = dead->rid;
    lost.ids = dead->hb->in_flight;
    lost.n_ids = dead->hb->n_in_flight;
    if (dead->hb->n_in_flight_n == dead->hb->n_in_flight) {
        lost.ns = dead->hb->in_flight_n;
        lost.n_ns = dead->hb->n_in_flight_n;
    }
    lost.suspect = suspect;
    Gotflow__Control c = GOTFLOW__CONTROL__INIT;
    c.msg_case = GOTFLOW__CONTROL__MSG_LOST;
    c.lost = &lost;
    for (int i = 0; i < sv->n_reps; i++)
        if (s_is_gateway(sv, &sv->reps[i]) && sv->reps[i].pid > 0)
            gf_control_send(sv->control, sv->reps[i].rid, strlen(sv->reps[i].rid), &c);
}

static void s_reap(struct s_sup *sv)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct s_replica *r = NULL;
        for (int i = 0; i < sv->n_reps; i++)
            if (sv->reps[i].pid == pid)
                r = &sv->reps[i];
        if (!r)
            continue;
        r->pid = 0;
        if (sv->phase == 2) {
            r->state = S_STOPPED;
            continue;
        }
        char how[64];
        if (WIFSIGNALED(status))
            snprintf(how, sizeof how, "was killed by signal %d", WTERMSIG(status));
        else
            snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
        int64_t now = gf_mono_ms();
        const struct gf_supervisor_opts *o = &sv->graph->supervisor;
        r->quick_deaths = now - r->started_ms > S_QUICK_DEATH_MS ? 0 : r->quick_deaths + 1;
        if (now - r->started_ms > 30000) /* it ran a good while: forgive earlier crashes */
            r->in_a_row = 0;
        if (r->quick_deaths < 2) {
            /* a one-off death (killed, crashed on one input): restart at once, so a stage with
             * one replica is not left without one */
            r->backoff_ms = 0;
        } else {
            /* it died again within seconds of starting: back off, doubling */
            r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : o->restart_backoff_ms;
            if (r->backoff_ms > o->restart_backoff_max_ms)
                r->backoff_ms = o->restart_backoff_max_ms;
        }
        r->in_a_row++;
        gf_log_warn("%s (pid %d) %s; restarting in %d ms", r->rid, (int)pid, how, r->backoff_ms);
        s_log_tail(sv, r);
        /* killed from outside (SIGKILL or SIGTERM not sent by us) is no fault of its requests */
        int outside = WIFSIGNALED(status) && !r->killed_by_us &&
                      (WTERMSIG(status) == SIGKILL || WTERMSIG(status) == SIGTERM);
        r->killed_by_us = 0;
        sv->crashes += !outside;
        s_report_lost(sv, r, !outside);
        if (r->hb_env) { /* its last heartbeat no longer describes anything */
            gotflow__control__free_unpacked(r->hb_env, NULL);
            r->hb_env = NULL;
            r->hb = NULL;
        }
        if (o->max_restarts > 0 && r->in_a_row > o->max_restarts) {
            char why[256];
            snprintf(why, sizeof why, "%s failed %d times in a row", r->rid, r->in_a_row);
            s_fail_pipeline(sv, why);
            continue;
        }
        r->state = S_EXITED;
        r->restart_at_ms = now + r->backoff_ms;
    }
}

static void s_check_health(struct s_sup *sv, int64_t now)
{
    const struct gf_supervisor_opts *o = &sv->graph->supervisor;
    for (int i = 0; i < sv->n_reps; i++) {
        struct s_replica *r = &sv->reps[i];
        if (r->state == S_EXITED && now >= r->restart_at_ms && sv->phase < 2) {
            r->restarts++;
            if (s_spawn(sv, r) != 0)
                s_fail_pipeline(sv, "cannot restart a replica");
            continue;
        }
        /* a replica loading a model says nothing until it is ready: give it longer */
        int64_t limit = r->state == S_STARTING ? (int64_t)o->heartbeat_timeout_ms * 30
                                               : o->heartbeat_timeout_ms;
        if (r->pid > 0 && (r->state == S_READY || r->state == S_STARTING) &&
            now - r->last_hb_ms > limit) {
            gf_log_warn("%s (pid %d) missed its heartbeats for %lld ms; killing it", r->rid,
                        (int)r->pid, (long long)(now - r->last_hb_ms));
            kill(r->pid, SIGKILL);
            r->killed_by_us = 1;
            r->last_hb_ms = now; /* the reaper restarts it */
        }
    }
}

/* Census ------------------------------------------------------------------------------------ */

/* Once every live replica has sent a heartbeat since the last census (and at most once per
 * heartbeat period), the gateways get the union of the (id, attempt) pairs the others hold. A
 * gateway re-issues an attempt that several censuses in a row do not list (stages/gateway.c):
 * this catches what no death report names, such as a frame that was on its way to a replica when
 * it died. Replicas that are starting or dead hold nothing and are left out. */
static void s_census(struct s_sup *sv, int64_t now)
{
    if (!sv->census || sv->phase == 2 || now < sv->next_census_ms)
        return;
    size_t total = 0;
    int complete = 1, gateways = 0;
    for (int i = 0; i < sv->n_reps; i++) {
        struct s_replica *r = &sv->reps[i];
        if (s_is_gateway(sv, r)) {
            gateways += r->pid > 0 && r->state == S_READY;
            continue;
        }
        if (r->pid <= 0 || r->state != S_READY)
            continue;
        if (!r->hb_fresh || !r->hb)
            return; /* wait for its heartbeat */
        complete &= !r->hb->in_flight_cut && r->hb->n_in_flight_n == r->hb->n_in_flight;
        total += r->hb->n_in_flight;
    }
    if (!gateways)
        return;
    char **ids = malloc((total ? total : 1) * sizeof *ids);
    uint32_t *ns = malloc((total ? total : 1) * sizeof *ns);
    if (!ids || !ns)
        goto out;
    size_t n = 0;
    for (int i = 0; i < sv->n_reps; i++) {
        struct s_replica *r = &sv->reps[i];
        if (s_is_gateway(sv, r) || r->pid <= 0 || r->state != S_READY || !r->hb)
            continue;
        for (size_t k = 0; k < r->hb->n_in_flight && k < r->hb->n_in_flight_n; k++) {
            ids[n] = r->hb->in_flight[k];
            ns[n++] = r->hb->in_flight_n[k];
        }
        r->hb_fresh = 0;
    }
    Gotflow__Census census = GOTFLOW__CENSUS__INIT;
    census.ids = ids;
    census.n_ids = n;
    census.ns = ns;
    census.n_ns = n;
    census.complete = complete;
    census.crashes = sv->crashes;
    Gotflow__Control c = GOTFLOW__CONTROL__INIT;
    c.msg_case = GOTFLOW__CONTROL__MSG_CENSUS;
    c.census = &census;
    for (int i = 0; i < sv->n_reps; i++)
        if (s_is_gateway(sv, &sv->reps[i]) && sv->reps[i].pid > 0)
            gf_control_send(sv->control, sv->reps[i].rid, strlen(sv->reps[i].rid), &c);
    sv->next_census_ms = now + sv->graph->supervisor.heartbeat_ms;
out:
    free(ids);
    free(ns);
}

/* Draining and stopping ---------------------------------------------------------------------- */

static int s_is_gateway(struct s_sup *sv, struct s_replica *r)
{
    return strcmp(sv->graph->stages[r->stage].kind, "gateway") == 0;
}

static void s_begin_drain(struct s_sup *sv)
{
    gf_log_info("draining: no new requests; waiting for %s in flight", "the requests");
    sv->phase = 1;
    sv->drain_deadline_ms = gf_mono_ms() + sv->graph->supervisor.drain_timeout_ms;
    for (int i = 0; i < sv->n_reps; i++) {
        sv->reps[i].hb_after_drain = 0;
        if (sv->reps[i].pid > 0)
            s_send(sv, &sv->reps[i], GOTFLOW__CONTROL__MSG_DRAIN);
    }
}

/* Drained when every local gateway reports nothing in flight; with no gateway here, when every
 * local replica reports nothing held and nothing waiting, in two heartbeats after the Drain. */
static int s_drained(struct s_sup *sv)
{
    int have_gateway = 0;
    for (int i = 0; i < sv->n_reps; i++)
        have_gateway |= s_is_gateway(sv, &sv->reps[i]);
    for (int i = 0; i < sv->n_reps; i++) {
        struct s_replica *r = &sv->reps[i];
        if (have_gateway && !s_is_gateway(sv, r))
            continue;
        if (r->pid <= 0)
            continue;
        if (r->hb_after_drain < 2 || !r->hb || r->hb->requests > 0 || r->hb->outbox > 0)
            return 0;
    }
    return 1;
}

/* Shuts stages down in topological order, each stage's replicas together. */
static void s_stop_all(struct s_sup *sv)
{
    const gf_graph_t *g = sv->graph;
    for (int k = 0; k < g->n_stages; k++) {
        int s = g->order[k];
        int64_t deadline = gf_mono_ms() + g->supervisor.stop_timeout_ms, resend_ms = 0;
        /* a replica still starting reads no control message until its init is done, and one
         * that has not connected yet never gets the Shutdown (the ROUTER drops it): SIGTERM
         * makes it leave as soon as its init returns, and the Shutdown is sent again until
         * every replica is gone */
        for (int i = 0; i < sv->n_reps; i++)
            if (sv->reps[i].stage == s && sv->reps[i].pid > 0 && sv->reps[i].state == S_STARTING)
                kill(sv->reps[i].pid, SIGTERM);
        for (;;) {
            if (gf_mono_ms() >= resend_ms) {
                for (int i = 0; i < sv->n_reps; i++)
                    if (sv->reps[i].stage == s && sv->reps[i].pid > 0)
                        s_send(sv, &sv->reps[i], GOTFLOW__CONTROL__MSG_SHUTDOWN);
                resend_ms = gf_mono_ms() + 100;
            }
            s_reap(sv);
            int alive = 0;
            for (int i = 0; i < sv->n_reps; i++)
                alive += sv->reps[i].stage == s && sv->reps[i].pid > 0;
            if (!alive)
                break;
            if (gf_mono_ms() > deadline) {
                for (int i = 0; i < sv->n_reps; i++)
                    if (sv->reps[i].stage == s && sv->reps[i].pid > 0) {
                        gf_log_warn("%s did not stop in time; killing it", sv->reps[i].rid);
                        kill(sv->reps[i].pid, SIGKILL);
                    }
                deadline = gf_mono_ms() + 1000;
            }
            usleep(5000);
        }
    }
}

/* Status ------------------------------------------------------------------------------------- */

static int64_t s_percentile(const Gotflow__Heartbeat *hb, double q)
{
    uint64_t total = 0, seen = 0;
    for (size_t i = 0; i < hb->n_latency_us_hist; i++)
        total += hb->latency_us_hist[i];
    if (!total)
        return 0;
    for (size_t i = 0; i < hb->n_latency_us_hist; i++) {
        seen += hb->latency_us_hist[i];
        if ((double)seen >= q * (double)total)
            return (int64_t)1 << (i + 1); /* bucket upper bound */
    }
    return 0;
}

static json_t *s_status_json(struct s_sup *sv)
{
    static const char *const phases[] = {"running", "draining", "stopping"};
    json_t *root = json_object(), *reps = json_array();
    json_object_set_new(root, "pipeline", json_string(sv->graph->name));
    json_object_set_new(root, "graph", json_string(sv->graph->path));
    json_object_set_new(root, "run_dir", json_string(sv->run_dir));
    json_object_set_new(root, "host", sv->opts->host ? json_string(sv->opts->host) : json_null());
    json_object_set_new(root, "state", json_string(phases[sv->phase]));
    json_object_set_new(root, "version", json_string(GF_VERSION));
    json_object_set_new(root, "supervisor_pid", json_integer(getpid()));
    json_object_set_new(root, "uptime_ms", json_integer(gf_mono_ms() - sv->started_ms));
    for (int i = 0; i < sv->n_reps; i++) {
        struct s_replica *r = &sv->reps[i];
        const struct gf_stage_def *d = &sv->graph->stages[r->stage];
        json_t *o = json_object();
        json_object_set_new(o, "stage", json_string(d->name));
        json_object_set_new(o, "kind", json_string(d->kind));
        json_object_set_new(o, "replica", json_integer(r->replica));
        json_object_set_new(o, "pid", json_integer(r->pid));
        const char *state = s_state_names[r->state];
        if (r->hb && r->state == S_READY)
            state = r->hb->state;
        json_object_set_new(o, "state", json_string(state));
        json_object_set_new(o, "restarts", json_integer(r->restarts));
        json_object_set_new(o, "batch", json_integer(d->batch));
        json_object_set_new(o, "credits", json_integer(d->credits));
        const Gotflow__Heartbeat *hb = r->hb;
        if (hb) {
            const Gotflow__Counters *c = hb->counters;
            json_object_set_new(o, "requests", json_integer(hb->requests));
            json_object_set_new(o, "queue", json_integer(hb->queue_depth));
            json_object_set_new(o, "held", json_integer(hb->held));
            json_object_set_new(o, "credits_out", json_integer(hb->credits_out));
            json_object_set_new(o, "outbox", json_integer(hb->outbox));
            json_object_set_new(o, "capacity", json_integer(hb->capacity));
            json_object_set_new(o, "batch_rows", json_integer(hb->batch_rows));
            json_object_set_new(o, "rss_kb", json_integer((json_int_t)hb->rss_kb));
            if (hb->steps) {
                json_object_set_new(o, "steps", json_integer((json_int_t)hb->steps));
                json_object_set_new(o, "mean_batch_rows",
                                    json_real((double)hb->step_rows / (double)hb->steps));
            }
            if (c) {
                json_object_set_new(o, "received", json_integer((json_int_t)c->received));
                json_object_set_new(o, "emitted", json_integer((json_int_t)c->emitted));
                json_object_set_new(o, "done", json_integer((json_int_t)c->done));
                json_object_set_new(o, "errors", json_integer((json_int_t)c->errors));
                json_object_set_new(o, "bad_frames", json_integer((json_int_t)c->bad_frames));
                json_object_set_new(o, "overruns", json_integer((json_int_t)c->overruns));
                json_object_set_new(o, "tap_sent", json_integer((json_int_t)c->tap_sent));
            }
            json_object_set_new(o, "rate", json_real(r->rate));
            json_object_set_new(o, "p50_us", json_integer(s_percentile(hb, 0.5)));
            json_object_set_new(o, "p99_us", json_integer(s_percentile(hb, 0.99)));
            json_t *ids = json_array();
            for (size_t k = 0; k < hb->n_in_flight; k++)
                json_array_append_new(ids, json_string(hb->in_flight[k]));
            json_object_set_new(o, "in_flight", ids);
            json_t *hist = json_array();
            for (size_t k = 0; k < hb->n_latency_us_hist; k++)
                json_array_append_new(hist, json_integer((json_int_t)hb->latency_us_hist[k]));
            json_object_set_new(o, "latency_hist", hist);
        }
        json_array_append_new(reps, o);
    }
    json_object_set_new(root, "replicas", reps);
    return root;
}

static json_t *s_status_fn(void *ctx)
{
    return s_status_json(ctx);
}

/* The Prometheus endpoint: `metrics:` of the graph; with --host, its port plus the host's index,
 * so the supervisors of several hosts on one machine do not collide. */
static int s_bind_metrics(struct s_sup *sv)
{
    char ep[GF_GRAPH_VALUE_MAX + 16];
    snprintf(ep, sizeof ep, "%s", sv->graph->metrics);
    char *colon = strrchr(ep, ':');
    if (sv->host > 0 && colon)
        snprintf(colon + 1, sizeof ep - (size_t)(colon + 1 - ep), "%ld",
                 strtol(colon + 1, NULL, 10) + sv->host);
    sv->metrics = zmq_socket(sv->zctx, ZMQ_STREAM);
    if (!sv->metrics || gf_sockopt_int(sv->metrics, ZMQ_LINGER, 0, "ZMQ_LINGER"))
        return GF_EZMQ;
    if (zmq_bind(sv->metrics, ep) != 0) {
        gf_log_error("cannot bind the metrics endpoint '%s': %s", ep, zmq_strerror(zmq_errno()));
        return GF_EZMQ;
    }
    gf_log_info("metrics on http://%s/metrics", ep + 6);
    return 0;
}

static void s_on_admin(struct s_sup *sv)
{
    for (;;) {
        zmq_msg_t rid, req;
        zmq_msg_init(&rid);
        if (zmq_msg_recv(&rid, sv->admin, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&rid);
            return;
        }
        zmq_msg_init(&req);
        if (!zmq_msg_more(&rid) || zmq_msg_recv(&req, sv->admin, 0) < 0) {
            zmq_msg_close(&rid);
            zmq_msg_close(&req);
            continue;
        }
        char reply_buf[64];
        char *reply = NULL;
        size_t n = zmq_msg_size(&req);
        const char *cmd = zmq_msg_data(&req);
        if (n == 6 && memcmp(cmd, "status", 6) == 0) {
            json_t *j = s_status_json(sv);
            reply = json_dumps(j, JSON_COMPACT);
            json_decref(j);
        } else if (n == 4 && memcmp(cmd, "stop", 4) == 0) {
            if (sv->phase == 0)
                s_begin_drain(sv);
            snprintf(reply_buf, sizeof reply_buf, "{\"ok\":true}");
        } else {
            snprintf(reply_buf, sizeof reply_buf, "{\"error\":\"unknown request\"}");
        }
        const char *out = reply ? reply : reply_buf;
        if (gf_zsend(sv->admin, zmq_msg_data(&rid), zmq_msg_size(&rid), ZMQ_SNDMORE | ZMQ_DONTWAIT,
                     "a status answer") == 0)
            gf_zsend(sv->admin, out, strlen(out), ZMQ_DONTWAIT, "a status answer");
        free(reply);
        zmq_msg_close(&rid);
        zmq_msg_close(&req);
    }
}

/* Setup -------------------------------------------------------------------------------------- */

static int s_mkdirs(const char *path)
{
    char tmp[GF_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return -1;
    return chmod(tmp, 0700);
}

static int s_copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    char buf[65536];
    size_t n;
    int rc = in && out ? 0 : -1;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            rc = -1;
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        rc = -1;
    return rc;
}

/* True when process `pid` runs with `run_dir` on its command line (a replica of that run). */
static int s_runs_in(pid_t pid, const char *run_dir)
{
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    for (size_t i = 0; i + 1 < n; i++)
        if (buf[i] == 0 && strcmp(buf + i + 1, run_dir) == 0)
            return 1;
    return 0;
}

/* Replicas left running by an earlier supervisor of this run directory that died without
 * stopping them: asked to stop, then killed, so that the new ones start clean (the gateway's
 * journal carries what they held). */
static void s_stop_strays(struct s_sup *sv)
{
    pid_t strays[GF_GRAPH_MAX_STAGES * GF_GRAPH_MAX_REPLICAS];
    int n = 0;
    DIR *d = opendir(sv->run_dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && n < (int)(sizeof strays / sizeof *strays)) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".pid") != 0 ||
            strcmp(e->d_name, "supervisor.pid") == 0)
            continue;
        char path[GF_PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", sv->run_dir, e->d_name);
        FILE *f = fopen(path, "r");
        int pid = 0;
        if (f) {
            if (fscanf(f, "%d", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        if (pid > 0 && pid != getpid() && s_runs_in(pid, sv->run_dir) && kill(pid, SIGTERM) == 0)
            strays[n++] = pid;
    }
    closedir(d);
    if (!n)
        return;
    gf_log_warn("stopping %d replica(s) left by an earlier supervisor of '%s'", n, sv->run_dir);
    int64_t deadline = gf_mono_ms() + 3000;
    for (int i = 0; i < n; i++) {
        while (kill(strays[i], 0) == 0 && s_runs_in(strays[i], sv->run_dir)) {
            if (gf_mono_ms() > deadline) {
                kill(strays[i], SIGKILL);
                break;
            }
            usleep(10000);
        }
    }
}

static int s_prepare_run_dir(struct s_sup *sv)
{
    char path[GF_PATH_MAX + 32];
    if (s_mkdirs(sv->run_dir) != 0) {
        gf_log_error("cannot create run directory '%s': %s", sv->run_dir, strerror(errno));
        return GF_EIO;
    }
    /* one supervisor per run directory: the lock dies with its holder, however it ends */
    snprintf(path, sizeof path, "%s/supervisor.lock", sv->run_dir);
    sv->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (sv->lock_fd < 0) {
        gf_log_error("cannot open '%s': %s", path, strerror(errno));
        return GF_EIO;
    }
    snprintf(path, sizeof path, "%s/supervisor.pid", sv->run_dir);
    if (flock(sv->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int pid = 0;
        FILE *f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%d", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        gf_log_error("pipeline '%s' is already running in '%s' (supervisor pid %d); stop it "
                     "first or pass another --run-dir",
                     sv->graph->name, sv->run_dir, pid);
        return GF_EEXIST;
    }
    s_stop_strays(sv);
    FILE *f = fopen(path, "w");
    if (!f) {
        gf_log_error("cannot write '%s': %s", path, strerror(errno));
        return GF_EIO;
    }
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    sv->wrote_pid = 1;
    snprintf(path, sizeof path, "%s/graph.yaml", sv->run_dir);
    if (s_copy_file(sv->opts->graph_path, path) != 0) {
        gf_log_error("cannot copy the graph to '%s'", path);
        return GF_EIO;
    }
    return 0;
}

static int s_bind(struct s_sup *sv, void **sock, const char *endpoint)
{
    *sock = zmq_socket(sv->zctx, ZMQ_ROUTER);
    if (!*sock || gf_socket_defaults(*sock, 1 << 20))
        return GF_EZMQ;
    if (zmq_bind(*sock, endpoint) != 0) {
        gf_log_error("cannot bind '%s': %s", endpoint, zmq_strerror(zmq_errno()));
        return GF_EZMQ;
    }
    return 0;
}

static int s_setup(struct s_sup *sv)
{
    char err[8192], ep[GF_PATH_MAX];
    if (gf_graph_load(sv->opts->graph_path, gf_plan_kind_known, NULL, &sv->graph, err,
                      sizeof err) != 0) {
        fprintf(stderr, "%s", err);
        if (err[0] && err[strlen(err) - 1] != '\n')
            fputc('\n', stderr);
        return GF_EXIT_USAGE;
    }
    sv->host = -1;
    if (sv->opts->host) {
        sv->host = gf_graph_host(sv->graph, sv->opts->host);
        if (sv->host < 0) {
            fprintf(stderr, "gotflow: host '%s' is not in the graph's hosts\n", sv->opts->host);
            return GF_EXIT_USAGE;
        }
    }
    if (gf_security_wanted(sv->graph)) {
        /* the replicas read the key file named by GOTFLOW_KEY_FILE; check it once here */
        const char *key = sv->opts->key_file ? sv->opts->key_file : getenv("GOTFLOW_KEY_FILE");
        char abs[GF_PATH_MAX];
        struct gf_security sec;
        if (gf_security_init(&sec, NULL, sv->graph, key, 0) != 0)
            return GF_EXIT_USAGE;
        if (!realpath(key, abs))
            snprintf(abs, sizeof abs, "%s", key);
        setenv("GOTFLOW_KEY_FILE", abs, 1);
    }
    if (sv->opts->run_dir)
        snprintf(sv->run_dir, sizeof sv->run_dir, "%s", sv->opts->run_dir);
    else
        gf_plan_run_dir(sv->graph, sv->opts->host, sv->run_dir, sizeof sv->run_dir);
    if (strlen(sv->run_dir) > 90) { /* sockaddr_un holds 107 bytes; replicas add their names */
        fprintf(stderr,
                "gotflow: run directory '%s' is too long for ipc sockets; pass a shorter "
                "--run-dir\n",
                sv->run_dir);
        return GF_EXIT_USAGE;
    }
    if (s_prepare_run_dir(sv) != 0)
        return GF_EXIT_FAILURE;
    sv->zctx = zmq_ctx_new();
    gf_plan_control(sv->run_dir, ep, sizeof ep);
    if (s_bind(sv, &sv->control, ep))
        return GF_EXIT_FAILURE;
    gf_plan_admin(sv->run_dir, ep, sizeof ep);
    if (s_bind(sv, &sv->admin, ep))
        return GF_EXIT_FAILURE;
    if (sv->graph->metrics[0] && s_bind_metrics(sv))
        return GF_EXIT_FAILURE;
    const gf_graph_t *g = sv->graph;
    int total = 0;
    for (int s = 0; s < g->n_stages; s++)
        total += g->stages[s].replicas;
    sv->reps = calloc((size_t)total, sizeof *sv->reps);
    if (!sv->reps)
        return GF_EXIT_FAILURE;
    /* downstream first, so every inlet exists before its producers start */
    for (int k = g->n_stages - 1; k >= 0; k--) {
        int s = g->order[k];
        for (int r = 0; r < g->stages[s].replicas; r++) {
            if (sv->host >= 0 && gf_graph_replica_host(g, s, r) != sv->host)
                continue;
            struct s_replica *rep = &sv->reps[sv->n_reps++];
            rep->stage = s;
            rep->replica = r;
            snprintf(rep->rid, sizeof rep->rid, "%s.%d", g->stages[s].name, r);
        }
    }
    /* the census needs every replica's heartbeat: one supervisor of a multi-host graph sees only
     * its own, so there the death reports and the attempt deadlines do the work */
    sv->census = sv->n_reps == total;
    return 0;
}

static void s_cleanup(struct s_sup *sv)
{
    for (int i = 0; i < sv->n_reps; i++) {
        if (sv->reps[i].pid > 0) {
            kill(sv->reps[i].pid, SIGKILL);
            waitpid(sv->reps[i].pid, NULL, 0);
        }
        if (sv->reps[i].hb_env)
            gotflow__control__free_unpacked(sv->reps[i].hb_env, NULL);
    }
    free(sv->reps);
    if (sv->control)
        zmq_close(sv->control);
    if (sv->admin)
        zmq_close(sv->admin);
    if (sv->metrics)
        zmq_close(sv->metrics);
    if (sv->zctx)
        zmq_ctx_term(sv->zctx);
    if (sv->wrote_pid) { /* only the supervisor that wrote it removes it */
        char path[GF_PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/supervisor.pid", sv->run_dir);
        unlink(path);
    }
    if (sv->lock_fd > 0)
        close(sv->lock_fd);
    gf_graph_destroy(&sv->graph);
}

static void s_on_signal_byte(struct s_sup *sv)
{
    char c;
    while (read(s_sigpipe[0], &c, 1) == 1) {
        if (c == SIGCHLD)
            continue;
        if (sv->phase == 0) {
            gf_log_info("%s: stopping after the requests in flight (again to stop now)",
                        c == SIGINT ? "interrupted" : "terminated");
            s_begin_drain(sv);
        } else if (sv->phase == 1 && c == SIGTERM && getenv("GOTFLOW_TERM_DRAINS")) {
            /* a cluster manager signals every process of a job, and may signal twice (Slurm's
             * scancel and srun's forwarding): the drain goes on, bounded by drain_timeout_ms */
            gf_log_info("terminated again: still draining (GOTFLOW_TERM_DRAINS)");
        } else if (sv->phase == 1) {
            gf_log_warn("stopping now; requests in flight are lost");
            sv->exit_code = GF_EXIT_DRAIN_CUT;
            sv->phase = 2;
        }
    }
}

int gf_supervise(const struct gf_supervise_opts *opts)
{
    struct s_sup sv = {.opts = opts, .exit_code = GF_EXIT_OK};
    int rc = s_setup(&sv);
    if (rc != 0) {
        s_cleanup(&sv);
        return rc;
    }
    if (pipe2(s_sigpipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return GF_EXIT_FAILURE;
    struct sigaction sa = {0};
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sv.started_ms = gf_mono_ms();

    for (int i = 0; i < sv.n_reps; i++)
        if (s_spawn(&sv, &sv.reps[i]) != 0) {
            s_fail_pipeline(&sv, "cannot start a replica");
            break;
        }
    if (sv.phase == 0 && !opts->quiet)
        gf_log_info("pipeline '%s' started: %d replicas; run directory '%s'", sv.graph->name,
                    sv.n_reps, sv.run_dir);
    while (sv.phase < 2) {
        zmq_pollitem_t items[] = {{sv.control, 0, ZMQ_POLLIN, 0},
                                  {sv.admin, 0, ZMQ_POLLIN, 0},
                                  {NULL, s_sigpipe[0], ZMQ_POLLIN, 0},
                                  {sv.metrics, 0, ZMQ_POLLIN, 0}};
        zmq_poll(items, sv.metrics ? 4 : 3, 50);
        if (sv.metrics && (items[3].revents & ZMQ_POLLIN))
            gf_metrics_serve(sv.metrics, s_status_fn, &sv);
        s_on_signal_byte(&sv);
        s_on_control(&sv);
        s_on_admin(&sv);
        s_reap(&sv);
        int64_t now = gf_mono_ms();
        s_check_health(&sv, now);
        s_census(&sv, now);
        if (sv.phase == 1) {
            if (s_drained(&sv)) {
                gf_log_info("drained; stopping");
                sv.phase = 2;
            } else if (now > sv.drain_deadline_ms) {
                gf_log_warn("drain timed out after %d ms; stopping with requests in flight",
                            sv.graph->supervisor.drain_timeout_ms);
                sv.exit_code = GF_EXIT_DRAIN_CUT;
                sv.phase = 2;
            }
        }
    }
    s_stop_all(&sv);
    if (!opts->quiet)
        gf_log_info("stopped (exit %d)", sv.exit_code);
    rc = sv.exit_code;
    s_cleanup(&sv);
    return rc;
}
