/* plan.c — run directory, endpoints and stage programs (see plan.h). */
#include "engine/plan.h"

#include <arpa/inet.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"

void gf_plan_run_dir(const gf_graph_t *g, const char *host, char *buf, size_t len)
{
    const char *root = getenv("GOTFLOW_RUN_ROOT");
    char tmp[GF_PATH_MAX];
    if (!root || !*root) {
        const char *xdg = getenv("XDG_RUNTIME_DIR");
        if (xdg && *xdg)
            snprintf(tmp, sizeof tmp, "%s/gotflow", xdg);
        else
            snprintf(tmp, sizeof tmp, "/tmp/gotflow-%u", (unsigned)getuid());
        root = tmp;
    }
    if (host && *host)
        snprintf(buf, len, "%s/%s-%s", root, g->name, host);
    else
        snprintf(buf, len, "%s/%s", root, g->name);
}

/* k-th replica placed on this replica's host, counting stages and replicas in graph order. */
static int s_slot(const gf_graph_t *g, int stage, int replica)
{
    int k = 0, host = gf_graph_replica_host(g, stage, replica);
    for (int s = 0; s < g->n_stages; s++)
        for (int r = 0; r < g->stages[s].replicas; r++) {
            if (s == stage && r == replica)
                return k;
            k += gf_graph_replica_host(g, s, r) == host;
        }
    return k;
}

/* The address a replica binds for its host's `address`: ZeroMQ binds only addresses and
 * interface names, so a DNS name (a Kubernetes pod's stable name, a Slurm node's name) is looked
 * up here; an interface name, or a name the lookup fails on, is kept and the bind reports it. */
static const char *s_bind_address(const char *address, char *buf, size_t len)
{
    struct in6_addr a6;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    char ip[INET6_ADDRSTRLEN];
    if (address[0] == '[' || strcmp(address, "*") == 0 || inet_pton(AF_INET, address, &a6) == 1 ||
        if_nametoindex(address) != 0)
        return address;
    if (getaddrinfo(address, NULL, &hints, &res) != 0 || !res)
        return address;
    const void *sa = res->ai_family == AF_INET6
                         ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                         : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
    if (inet_ntop(res->ai_family, sa, ip, sizeof ip))
        snprintf(buf, len, res->ai_family == AF_INET6 ? "[%s]" : "%s", ip);
    else
        snprintf(buf, len, "%s", address);
    freeaddrinfo(res);
    return buf;
}

static int s_endpoint(const gf_graph_t *g, const char *run_dir, int stage, int replica, int bind,
                      int tap, char *buf, size_t len)
{
    char resolved[INET6_ADDRSTRLEN + 2];
    const struct gf_stage_def *st = &g->stages[stage];
    int n;
    if (g->n_hosts > 0) {
        const struct gf_host *h = &g->hosts[gf_graph_replica_host(g, stage, replica)];
        int port = h->port_base + 2 * s_slot(g, stage, replica) + tap;
        n = snprintf(buf, len, "tcp://%s:%d",
                     bind ? s_bind_address(h->address, resolved, sizeof resolved) : h->address,
                     port);
    } else {
        n = snprintf(buf, len, "ipc://%s/%s.%d.%s", run_dir, st->name, replica, tap ? "tap" : "in");
    }
    if (n < 0 || (size_t)n >= len || (g->n_hosts == 0 && n - 6 > 107)) {
        gf_log_error("endpoint for '%s' is too long for an ipc socket path; choose a shorter "
                     "--run-dir",
                     st->name);
        return GF_EINVAL;
    }
    return 0;
}

int gf_plan_inlet(const gf_graph_t *g, const char *run_dir, int stage, int replica, int bind,
                  char *buf, size_t len)
{
    return s_endpoint(g, run_dir, stage, replica, bind, 0, buf, len);
}

int gf_plan_tap(const gf_graph_t *g, const char *run_dir, int stage, int replica, int bind,
                char *buf, size_t len)
{
    return s_endpoint(g, run_dir, stage, replica, bind, 1, buf, len);
}

const char *gf_plan_host_key(const gf_graph_t *g, int stage, int replica)
{
    if (g->n_hosts == 0)
        return NULL;
    const char *k = g->hosts[gf_graph_replica_host(g, stage, replica)].curve_public;
    return k[0] ? k : NULL;
}

void gf_plan_gateway(const gf_graph_t *g, const char *run_dir, int stage, char *buf, size_t len)
{
    if (g->stages[stage].bind[0])
        snprintf(buf, len, "%s", g->stages[stage].bind);
    else
        snprintf(buf, len, "ipc://%s/gateway", run_dir);
}

void gf_plan_bind_endpoint(const char *ep, char *buf, size_t len)
{
    char host[256], resolved[INET6_ADDRSTRLEN + 2];
    const char *colon = strrchr(ep, ':');
    size_t n = colon ? (size_t)(colon - ep) : 0;
    if (strncmp(ep, "tcp://", 6) != 0 || n <= 6 || n - 6 >= sizeof host) {
        snprintf(buf, len, "%s", ep);
        return;
    }
    memcpy(host, ep + 6, n - 6);
    host[n - 6] = '\0';
    snprintf(buf, len, "tcp://%s%s", s_bind_address(host, resolved, sizeof resolved), colon);
}

void gf_plan_control(const char *run_dir, char *buf, size_t len)
{
    snprintf(buf, len, "ipc://%s/control", run_dir);
}

void gf_plan_admin(const char *run_dir, char *buf, size_t len)
{
    snprintf(buf, len, "ipc://%s/admin", run_dir);
}

static int s_exec_in(const char *dir, const char *kind, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/gotflow-%s", dir, kind);
    return n > 0 && (size_t)n < len && access(buf, X_OK) == 0;
}

int gf_plan_stage_binary(const char *kind, char *buf, size_t len)
{
    for (const char *k = kind; *k; k++)
        if (*k == '/')
            return GF_ENOTFOUND;
    const char *path = getenv("GOTFLOW_STAGE_PATH");
    if (path) {
        char dirs[GF_PATH_MAX], *save = NULL;
        snprintf(dirs, sizeof dirs, "%s", path);
        for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save))
            if (s_exec_in(d, kind, buf, len))
                return 0;
    }
    char self[GF_PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            if (s_exec_in(self, kind, buf, len))
                return 0;
        }
    }
    return GF_ENOTFOUND;
}

int gf_plan_kind_known(const char *kind, void *ctx)
{
    static const char *const builtin[] = {"gateway", "sink",     "tokenize", "reason",
                                          "layout",  "imagegen", "vq"};
    char buf[GF_PATH_MAX];
    (void)ctx;
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        if (strcmp(kind, builtin[i]) == 0)
            return 1; /* a missing program is reported when the stage is started */
    return gf_plan_stage_binary(kind, buf, sizeof buf) == 0;
}

int gf_plan_find_run(const char *arg, const char *host, char *run_dir, size_t len, int quiet)
{
    char probe[GF_PATH_MAX];
    struct stat sb;
    if (stat(arg, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        snprintf(probe, sizeof probe, "%s/graph.yaml", arg);
        if (access(probe, R_OK) != 0) {
            if (!quiet)
                gf_log_error("'%s' is not a gotflow run directory (no graph.yaml)", arg);
            return GF_ENOTFOUND;
        }
        snprintf(run_dir, len, "%s", arg);
        return 0;
    }
    gf_graph_t *g = NULL;
    char err[2048];
    if (gf_graph_load(arg, gf_plan_kind_known, NULL, &g, err, sizeof err) != 0) {
        if (!quiet)
            gf_log_error("'%s' is neither a run directory nor a valid pipeline file:\n%s", arg,
                         err);
        return GF_ENOTFOUND;
    }
    gf_plan_run_dir(g, host, run_dir, len);
    gf_graph_destroy(&g);
    snprintf(probe, sizeof probe, "%s/graph.yaml", run_dir);
    if (access(probe, R_OK) != 0) {
        if (!quiet)
            gf_log_error("pipeline '%s' is not running (no '%s'); start it with 'gotflow run %s'",
                         arg, probe, arg);
        return GF_ENOTFOUND;
    }
    return 0;
}
