/* graph_check.c — completes a graph read from YAML and checks it as a whole.
 *
 * In order: the implicit gateway and sink, the defaults, the one-gateway rule, the edges (named
 * ones resolved, or a linear chain), placement, a topological order (which finds the cycles),
 * that every stage lies on a path from the gateway to a sink, and last that tcp endpoints are
 * secured with CURVE unless the graph says `security: none`.
 */
#include <stdio.h>
#include <string.h>

#include "engine/graph_int.h"

static int s_is(const gf_graph_t *g, int i, const char *kind)
{
    return strcmp(g->stages[i].kind, kind) == 0;
}

static int s_has_kind(const gf_graph_t *g, const char *kind)
{
    for (int i = 0; i < g->n_stages; i++)
        if (s_is(g, i, kind))
            return 1;
    return 0;
}

/* Moves the last stage (and what the build knows of it) to the front. */
static void s_last_to_front(struct gf_graph_build *b)
{
    gf_graph_t *g = b->graph;
    int n = g->n_stages;
    struct gf_stage_def st = g->stages[n - 1];
    struct gf_graph_stage_src src = b->src[n - 1];
    memmove(&g->stages[1], &g->stages[0], (size_t)(n - 1) * sizeof g->stages[0]);
    memmove(&b->src[1], &b->src[0], (size_t)(n - 1) * sizeof b->src[0]);
    g->stages[0] = st;
    b->src[0] = src;
}

static void s_implicit_stages(struct gf_graph_build *b)
{
    gf_graph_t *g = b->graph;
    int line = b->has_stages ? b->stages_line : 1, col = b->has_stages ? b->stages_col : 1;
    if (!s_has_kind(g, "gateway") && gf_graph_stage_add(b, "gateway", "gateway", line, col) >= 0)
        s_last_to_front(b);
    if (!s_has_kind(g, "sink"))
        gf_graph_stage_add(b, "sink", "sink", line, col);
}

/* --- defaults --------------------------------------------------------------------------------- */

static void s_defaults_apply(struct gf_graph_build *b, int i)
{
    const struct gf_graph_defaults *d = &b->defaults;
    const struct gf_graph_stage_src *src = &b->src[i];
    struct gf_stage_def *st = &b->graph->stages[i];
    int gateway = strcmp(st->kind, "gateway") == 0;
    if (!src->has_replicas)
        st->replicas = d->has_replicas && !gateway ? d->replicas : 1;
    if (!src->has_device && d->has_device) {
        memcpy(st->devices, d->devices, sizeof d->devices);
        st->n_devices = d->n_devices;
    } else if (!src->has_device) {
        st->devices[0] = (struct gf_device){GF_DEVICE_CPU, 0};
        st->n_devices = 1;
    }
    if (!src->has_batch)
        st->batch = d->has_batch ? d->batch : 1;
    if (!src->has_credits)
        st->credits = d->has_credits ? d->credits : (st->batch > 4 ? 2 * st->batch : 8);
}

static void s_defaults(struct gf_graph_build *b)
{
    gf_graph_t *g = b->graph;
    for (int i = 0; i < g->n_stages; i++) {
        struct gf_stage_def *st = &g->stages[i];
        const struct gf_graph_stage_src *src = &b->src[i];
        s_defaults_apply(b, i);
        if (s_is(g, i, "gateway") && st->replicas != 1)
            gf_graph_error_at(b, src->replicas_line, src->replicas_col,
                              "gateway '%s' must have 1 replica, got %d: the gateway holds the "
                              "client connections",
                              st->name, st->replicas);
        if (st->credits < st->batch)
            gf_graph_error_at(b, src->has_credits ? src->credits_line : b->defaults.credits_line,
                              src->has_credits ? src->credits_col : b->defaults.credits_col,
                              "'credits' (%d) of stage '%s' must be at least its 'batch' (%d)",
                              st->credits, st->name, st->batch);
    }
}

static void s_one_gateway(struct gf_graph_build *b)
{
    gf_graph_t *g = b->graph;
    int first = -1;
    for (int i = 0; i < g->n_stages; i++) {
        if (!s_is(g, i, "gateway"))
            continue;
        if (first < 0)
            first = i;
        else
            gf_graph_error_at(b, g->stages[i].line, g->stages[i].col,
                              "a graph has exactly one gateway, but '%s' is another after '%s'",
                              g->stages[i].name, g->stages[first].name);
    }
}

/* --- edges ------------------------------------------------------------------------------------ */

/* Adds from -> to after checking it; returns 0 or -1 (recorded). */
static int s_edge_add(struct gf_graph_build *b, int from, int to, int line, int col)
{
    gf_graph_t *g = b->graph;
    const char *a = g->stages[from].name, *z = g->stages[to].name;
    if (from == to) {
        gf_graph_error_at(b, line, col, "self edge '%s' -> '%s': a stage cannot feed itself", a, z);
        return -1;
    }
    if (s_is(g, to, "gateway")) {
        gf_graph_error_at(b, line, col,
                          "edge into gateway '%s' ('%s' -> '%s'): a gateway only sends", z, a, z);
        return -1;
    }
    if (s_is(g, from, "sink")) {
        gf_graph_error_at(b, line, col,
                          "edge out of sink '%s' ('%s' -> '%s'): a sink only receives", a, a, z);
        return -1;
    }
    for (int i = 0; i < g->n_edges; i++) {
        const struct gf_edge *e = &g->edges[i];
        if (e->from == from && e->to == to) {
            gf_graph_error_at(b, line, col, "duplicate edge '%s' -> '%s' (first at %d:%d)", a, z,
                              e->line, e->col);
            return -1;
        }
    }
    g->edges[g->n_edges++] = (struct gf_edge){from, to, line, col};
    return 0;
}

static int s_edges_named(struct gf_graph_build *b)
{
    int failed = 0;
    for (int i = 0; i < b->n_named_edges; i++) {
        const struct gf_graph_named_edge *e = &b->named_edges[i];
        int from = gf_graph_stage(b->graph, e->from), to = gf_graph_stage(b->graph, e->to);
        if (from < 0 || to < 0) {
            gf_graph_error_at(b, e->line, e->col, "dangling edge '%s' -> '%s': no stage '%s'",
                              e->from, e->to, from < 0 ? e->from : e->to);
            failed = 1;
        } else if (s_edge_add(b, from, to, e->line, e->col) < 0) {
            failed = 1;
        }
    }
    return failed ? -1 : 0;
}

/* No `edges:`: one chain through the stages in declaration order, gateway first, sinks last. */
static int s_edges_linear(struct gf_graph_build *b)
{
    gf_graph_t *g = b->graph;
    int chain[GF_GRAPH_MAX_STAGES], n = 0, failed = 0;
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < g->n_stages; i++) {
            int rank = s_is(g, i, "gateway") ? 0 : s_is(g, i, "sink") ? 2 : 1;
            if (rank == pass)
                chain[n++] = i;
        }
    for (int i = 1; i < n; i++) {
        const struct gf_stage_def *to = &g->stages[chain[i]];
        if (s_edge_add(b, chain[i - 1], chain[i], to->line, to->col) < 0)
            failed = 1;
    }
    return failed ? -1 : 0;
}

/* --- placement -------------------------------------------------------------------------------- */

static void s_placement(struct gf_graph_build *b)
{
    gf_graph_t *g = b->graph;
    for (int i = 0; i < b->n_places; i++) {
        const struct gf_graph_named_place *p = &b->places[i];
        int stage = gf_graph_stage(g, p->stage), host = gf_graph_host(g, p->host);
        if (stage < 0)
            gf_graph_error_at(b, p->line, p->col, "placement of unknown stage '%s'", p->stage);
        if (host < 0)
            gf_graph_error_at(b, p->host_line, p->host_col,
                              "placement of '%s' on unknown host '%s'%s", p->stage, p->host,
                              g->n_hosts ? "" : " (the graph has no 'hosts')");
        if (stage < 0 || host < 0)
            continue;
        struct gf_stage_def *st = &g->stages[stage];
        if (p->list_len > 0) {
            st->replica_hosts[p->list_index] = host;
            st->n_replica_hosts = p->list_len;
        }
        if (p->list_index == 0)
            st->host = host;
    }
}

/* --- order and cycles ------------------------------------------------------------------------- */

/* `closing` leads back to a stage on path[0..depth]: names the cycle from that stage on. */
static void s_cycle_report(struct gf_graph_build *b, const int *path, int depth,
                           const struct gf_edge *closing)
{
    const gf_graph_t *g = b->graph;
    char msg[320];
    size_t used = 0;
    int start = depth;
    while (start > 0 && path[start] != closing->to)
        start--;
    msg[0] = '\0';
    for (int k = start; k <= depth && used < sizeof msg; k++)
        used += (size_t)snprintf(msg + used, sizeof msg - used, "%s -> ", g->stages[path[k]].name);
    gf_graph_error_at(b, closing->line, closing->col, "cycle: %s%s", msg,
                      g->stages[closing->to].name);
}

/* Depth-first from u; an edge back to a stage on the current path closes a cycle. */
static void s_cycle_dfs(struct gf_graph_build *b, int u, int *color, int *path, int depth)
{
    const gf_graph_t *g = b->graph;
    color[u] = 1;
    path[depth] = u;
    for (int i = 0; i < g->n_edges; i++) {
        const struct gf_edge *e = &g->edges[i];
        if (e->from != u)
            continue;
        if (color[e->to] == 0)
            s_cycle_dfs(b, e->to, color, path, depth + 1);
        else if (color[e->to] == 1)
            s_cycle_report(b, path, depth, e);
    }
    color[u] = 2;
}

/* Kahn's algorithm, taking the gateway first and then the lowest index; the stages it cannot
 * order lie on or behind a cycle, which the depth-first walk then names. */
static void s_order(struct gf_graph_build *b)
{
    gf_graph_t *g = b->graph;
    int indegree[GF_GRAPH_MAX_STAGES] = {0}, color[GF_GRAPH_MAX_STAGES] = {0};
    int path[GF_GRAPH_MAX_STAGES], k;
    for (int i = 0; i < g->n_edges; i++)
        indegree[g->edges[i].to]++;
    for (k = 0; k < g->n_stages; k++) {
        int pick = -1;
        for (int i = 0; i < g->n_stages; i++)
            if (color[i] == 0 && indegree[i] == 0 &&
                (pick < 0 || (s_is(g, i, "gateway") && !s_is(g, pick, "gateway"))))
                pick = i;
        if (pick < 0)
            break;
        color[pick] = 2;
        g->order[k] = pick;
        for (int i = 0; i < g->n_edges; i++)
            if (g->edges[i].from == pick)
                indegree[g->edges[i].to]--;
    }
    for (int i = 0; k < g->n_stages && i < g->n_stages; i++)
        if (color[i] == 0)
            s_cycle_dfs(b, i, color, path, 0);
}

/* --- connectivity ----------------------------------------------------------------------------- */

/* Marks every stage reachable from the marked ones, along edges (down) or against them. */
static void s_reach(const gf_graph_t *g, int *mark, int down)
{
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 0; i < g->n_edges; i++) {
            int from = down ? g->edges[i].from : g->edges[i].to;
            int to = down ? g->edges[i].to : g->edges[i].from;
            if (mark[from] && !mark[to])
                mark[to] = changed = 1;
        }
    }
}

static void s_connected(struct gf_graph_build *b)
{
    const gf_graph_t *g = b->graph;
    int from_gateway[GF_GRAPH_MAX_STAGES] = {0}, to_sink[GF_GRAPH_MAX_STAGES] = {0};
    for (int i = 0; i < g->n_stages; i++) {
        from_gateway[i] = s_is(g, i, "gateway");
        to_sink[i] = s_is(g, i, "sink");
    }
    s_reach(g, from_gateway, 1);
    s_reach(g, to_sink, 0);
    for (int i = 0; i < g->n_stages; i++) {
        const struct gf_stage_def *st = &g->stages[i];
        if (!from_gateway[i])
            gf_graph_error_at(
                b, st->line, st->col,
                "stage '%s' is not connected to the gateway (no path from the gateway reaches it)",
                st->name);
        if (!to_sink[i])
            gf_graph_error_at(b, st->line, st->col,
                              "stage '%s' is not connected to a sink (no path from it reaches one)",
                              st->name);
    }
}

/* --- security --------------------------------------------------------------------------------- */

/* True when a tcp:// endpoint can only be reached from this machine: 127.x, ::1, localhost, lo. */
static int s_loopback(const char *endpoint)
{
    const char *host = endpoint + 6, *colon = strrchr(host, ':');
    size_t len = colon ? (size_t)(colon - host) : strlen(host);
    static const char *const names[] = {"localhost", "[::1]", "::1", "lo", NULL};
    if (len > 4 && strncmp(host, "127.", 4) == 0)
        return 1;
    for (int i = 0; names[i]; i++)
        if (strlen(names[i]) == len && strncmp(host, names[i], len) == 0)
            return 1;
    return 0;
}

static const char s_keys_how[] =
    "make a key pair per host with 'gotflow keygen HOST.key' and set each host's 'curve_public' "
    "to the public key it prints, or add 'security: none' to run in plaintext";

/* Secure by default: tcp endpoints (every host's inlets and taps, a gateway bound off loopback)
 * are CURVE servers, which needs every host's key, unless the graph says `security: none`. */
static void s_security(struct gf_graph_build *b)
{
    const gf_graph_t *g = b->graph;
    int keyed = 0;
    for (int h = 0; h < g->n_hosts; h++)
        keyed += g->hosts[h].curve_public[0] != 0;
    if (g->security == GF_GRAPH_SECURITY_NONE) {
        if (keyed)
            gf_graph_error_at(b, b->security_line, b->security_col,
                              "'security: none' but hosts carry 'curve_public' keys: remove the "
                              "keys to run in plaintext, or this line to run under CURVE");
        return;
    }
    if (g->n_hosts > 0 && keyed == 0)
        gf_graph_error_at(b, b->hosts_line, b->hosts_col,
                          "the hosts have no 'curve_public' keys, so their tcp endpoints would "
                          "be open in plaintext to anyone who can reach them: %s",
                          s_keys_how);
    else if (keyed)
        for (int h = 0; h < g->n_hosts; h++)
            if (!g->hosts[h].curve_public[0])
                gf_graph_error_at(b, b->host_line[h], b->host_col[h],
                                  "host '%s' has no 'curve_public' key while other hosts do: "
                                  "under CURVE every host needs one (make it with 'gotflow "
                                  "keygen %s.key')",
                                  g->hosts[h].name, g->hosts[h].name);
    for (int i = 0; i < g->n_stages && !keyed; i++) {
        const struct gf_stage_def *st = &g->stages[i];
        if (s_is(g, i, "gateway") && strncmp(st->bind, "tcp://", 6) == 0 && !s_loopback(st->bind))
            gf_graph_error_at(b, b->src[i].bind_line, b->src[i].bind_col,
                              "gateway '%s' binds '%s' in plaintext, open to anyone who can "
                              "reach it: bind a loopback address (127.0.0.1), or give the graph "
                              "hosts with 'curve_public' keys (made with 'gotflow keygen "
                              "HOST.key'), or add 'security: none'",
                              st->name, st->bind);
    }
}

void gf_graph_check(struct gf_graph_build *b)
{
    s_implicit_stages(b);
    s_defaults(b);
    s_one_gateway(b);
    int edges_rc = b->has_edges ? s_edges_named(b) : s_edges_linear(b);
    s_placement(b);
    s_order(b);
    if (edges_rc == 0)
        s_connected(b);
    s_security(b);
    gf_graph_params_check(b);
}
