/* graph_yaml.c — reads a pipeline YAML document (libyaml's document API) into a graph.
 *
 * Every node keeps its start mark, so each problem is recorded at the key or value it is about.
 * Reading never stops at the first problem: a bad value is reported and the default kept, a bad
 * stage is still added (so that edges naming it do not add noise), and the walk goes on.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "core/error.h"
#include "engine/graph_int.h"
#include "engine/graph_yaml_int.h"

static const char *const s_top_keys[] = {
    "name",      "model",      "defaults",        "stages",  "edges",    "hosts",
    "placement", "supervisor", "max_frame_bytes", "metrics", "security", NULL};
enum {
    TOP_NAME,
    TOP_MODEL,
    TOP_DEFAULTS,
    TOP_STAGES,
    TOP_EDGES,
    TOP_HOSTS,
    TOP_PLACEMENT,
    TOP_SUPERVISOR,
    TOP_MAX_FRAME,
    TOP_METRICS,
    TOP_SECURITY
};

static const char *const s_defaults_keys[] = {"device", "batch", "replicas", "credits", NULL};
enum { DEF_DEVICE, DEF_BATCH, DEF_REPLICAS, DEF_CREDITS };

static const char *const s_host_keys[] = {"address", "curve_public", "port_base", NULL};
enum { HOST_ADDRESS, HOST_CURVE, HOST_PORT_BASE };

/* The `supervisor:` keys are the fields of struct gf_supervisor_opts, all ints. */
#define S_SUP_FIELDS(X)                                                                            \
    X(heartbeat_ms)                                                                                \
    X(heartbeat_timeout_ms)                                                                        \
    X(drain_timeout_ms)                                                                            \
    X(stop_timeout_ms)                                                                             \
    X(restart_backoff_ms)                                                                          \
    X(restart_backoff_max_ms)                                                                      \
    X(max_restarts)                                                                                \
    X(max_rss_mb)
#define S_SUP_KEY(field) #field,
#define S_SUP_OFFSET(field) offsetof(struct gf_supervisor_opts, field),
static const char *const s_sup_keys[] = {S_SUP_FIELDS(S_SUP_KEY) NULL};
static const size_t s_sup_offsets[] = {S_SUP_FIELDS(S_SUP_OFFSET)};

/* --- defaults: -------------------------------------------------------------------------------- */

static void s_defaults_pair(struct gf_graph_yaml *y, int index, yaml_node_t *key,
                            yaml_node_t *value, void *arg)
{
    struct gf_graph_defaults *d = &y->b->defaults;
    long v;
    switch (index) {
    case DEF_DEVICE:
        d->has_device = gf_graph_yaml_devices(y, value, d->devices, &d->n_devices) == 0;
        break;
    case DEF_BATCH:
        if (gf_graph_yaml_int(y, value, "batch", 1, GF_GRAPH_BATCH_MAX, &v) == 0) {
            d->batch = (int)v;
            d->has_batch = 1;
        }
        break;
    case DEF_REPLICAS:
        if (gf_graph_yaml_int(y, value, "replicas", 1, GF_GRAPH_MAX_REPLICAS, &v) == 0) {
            d->replicas = (int)v;
            d->has_replicas = 1;
        }
        break;
    case DEF_CREDITS:
        if (gf_graph_yaml_int(y, value, "credits", 1, GF_GRAPH_CREDITS_MAX, &v) == 0) {
            d->credits = (int)v;
            d->has_credits = 1;
            d->credits_line = GF_YAML_LINE(value);
            d->credits_col = GF_YAML_COL(value);
        }
        break;
    }
}

/* --- supervisor: ------------------------------------------------------------------------------ */

static void s_supervisor_pair(struct gf_graph_yaml *y, int index, yaml_node_t *key,
                              yaml_node_t *value, void *arg)
{
    long v;
    if (gf_graph_yaml_int(y, value, s_sup_keys[index], 0, INT_MAX, &v) == 0)
        *(int *)((char *)&y->b->graph->supervisor + s_sup_offsets[index]) = (int)v;
}

/* --- hosts: ----------------------------------------------------------------------------------- */

/* A CURVE public key as ZeroMQ prints it: 40 characters of the Z85 alphabet. */
static int s_z85_ok(const char *s)
{
    static const char alphabet[] =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    return strlen(s) == 40 && strspn(s, alphabet) == 40;
}

static void s_host_address(struct gf_graph_yaml *y, struct gf_host *h, yaml_node_t *value)
{
    if (gf_graph_yaml_string(y, value, "address", h->address, sizeof h->address) < 0)
        return;
    char endpoint[GF_GRAPH_VALUE_MAX + 16], why[128];
    snprintf(endpoint, sizeof endpoint, "tcp://%s:1", h->address); /* any port will do */
    if (strcmp(h->address, "*") == 0)
        snprintf(why, sizeof why, "a host needs an address the others can connect to");
    else if (gf_endpoint_check(endpoint, why, sizeof why) == 0)
        return;
    gf_graph_yaml_error(y, value, "bad host address '%s': %s", h->address, why);
}

static void s_host_pair(struct gf_graph_yaml *y, int index, yaml_node_t *key, yaml_node_t *value,
                        void *arg)
{
    struct gf_host *h = arg;
    long v;
    switch (index) {
    case HOST_ADDRESS:
        s_host_address(y, h, value);
        break;
    case HOST_CURVE:
        if (gf_graph_yaml_string(y, value, "curve_public", h->curve_public,
                                 sizeof h->curve_public) < 0)
            break;
        if (!s_z85_ok(h->curve_public))
            gf_graph_yaml_error(y, value,
                                "bad 'curve_public' of host '%s': expected 40 Z85 characters "
                                "(a ZeroMQ CURVE public key), got '%s'",
                                h->name, h->curve_public);
        break;
    case HOST_PORT_BASE:
        if (gf_graph_yaml_int(y, value, "port_base", 1024, 65000, &v) == 0)
            h->port_base = (int)v;
        break;
    }
}

static void s_hosts_pair(struct gf_graph_yaml *y, int index, yaml_node_t *key, yaml_node_t *value,
                         void *arg)
{
    gf_graph_t *g = y->b->graph;
    const char *name = GF_YAML_STR(key);
    if (g->n_hosts == GF_GRAPH_MAX_HOSTS) {
        gf_graph_yaml_error(y, key, "too many hosts (at most %d)", GF_GRAPH_MAX_HOSTS);
        return;
    }
    gf_graph_yaml_name_check(y, key, "host", 1);
    y->b->host_line[g->n_hosts] = GF_YAML_LINE(key);
    y->b->host_col[g->n_hosts] = GF_YAML_COL(key);
    struct gf_host *h = &g->hosts[g->n_hosts++];
    snprintf(h->name, sizeof h->name, "%s", name);
    h->port_base = 7100;
    char where[GF_GRAPH_NAME_MAX + 16];
    snprintf(where, sizeof where, "in host '%s'", h->name);
    if (!gf_graph_yaml_expect_map(y, value, "host", h->name))
        return;
    if (!gf_graph_yaml_find(y, value, "address"))
        gf_graph_yaml_error(y, key, "missing required key 'address' in host '%s'", h->name);
    gf_graph_yaml_map_walk(y, value, s_host_keys, where, s_host_pair, h);
}

/* --- placement: ------------------------------------------------------------------------------- */

static void s_placement_pair(struct gf_graph_yaml *y, int index, yaml_node_t *key,
                             yaml_node_t *value, void *arg)
{
    struct gf_graph_build *b = y->b;
    int max = (int)(sizeof b->places / sizeof b->places[0]);
    /* a host name, or a list of them: replica r goes to item r % length */
    yaml_node_t *items[GF_GRAPH_MAX_REPLICAS];
    int n = 0;
    if (value->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = value->data.sequence.items.start;
             it < value->data.sequence.items.top && n < GF_GRAPH_MAX_REPLICAS; it++)
            items[n++] = yaml_document_get_node(&y->doc, *it);
        if (n == 0) {
            gf_graph_yaml_error(y, value, "placement of '%s' is an empty list", GF_YAML_STR(key));
            return;
        }
    } else {
        items[n++] = value;
    }
    for (int i = 0; i < n; i++) {
        if (b->n_places == max) {
            gf_graph_yaml_error(y, key, "too many placements (at most %d)", max);
            return;
        }
        struct gf_graph_named_place *p = &b->places[b->n_places];
        if (gf_graph_yaml_string(y, items[i], "placement", p->host, sizeof p->host) < 0)
            continue;
        snprintf(p->stage, sizeof p->stage, "%s", GF_YAML_STR(key));
        p->line = GF_YAML_LINE(key);
        p->col = GF_YAML_COL(key);
        p->host_line = GF_YAML_LINE(items[i]);
        p->host_col = GF_YAML_COL(items[i]);
        p->list_index = value->type == YAML_SEQUENCE_NODE ? i : 0;
        p->list_len = value->type == YAML_SEQUENCE_NODE ? n : 0;
        b->n_places++;
    }
}

/* --- edges: ----------------------------------------------------------------------------------- */

static void s_edge_add(struct gf_graph_yaml *y, yaml_node_t *item, const char *from,
                       size_t from_len, const char *to, size_t to_len)
{
    struct gf_graph_build *b = y->b;
    if (b->n_named_edges == GF_GRAPH_MAX_EDGES) {
        gf_graph_yaml_error(y, item, "too many edges (at most %d)", GF_GRAPH_MAX_EDGES);
        return;
    }
    struct gf_graph_named_edge *e = &b->named_edges[b->n_named_edges++];
    snprintf(e->from, sizeof e->from, "%.*s", (int)from_len, from);
    snprintf(e->to, sizeof e->to, "%.*s", (int)to_len, to);
    e->line = GF_YAML_LINE(item);
    e->col = GF_YAML_COL(item);
}

/* Next name of a chain "a -> b -> c": trims blanks, stops at "->" or the end. */
static const char *s_chain_part(const char *p, const char **start, size_t *len)
{
    while (*p == ' ' || *p == '\t')
        p++;
    const char *arrow = strstr(p, "->");
    const char *end = arrow ? arrow : p + strlen(p);
    const char *last = end;
    while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
        last--;
    *start = p;
    *len = (size_t)(last - p);
    return arrow ? arrow + 2 : NULL;
}

static void s_edge_chain(struct gf_graph_yaml *y, yaml_node_t *item)
{
    const char *chain = GF_YAML_STR(item), *prev = NULL, *name, *next = chain;
    size_t prev_len = 0, len, n = 0;
    while (next) {
        next = s_chain_part(next, &name, &len);
        if (len == 0 || len >= GF_GRAPH_NAME_MAX) {
            gf_graph_yaml_error(y, item, "bad edge '%s': %s", chain,
                                len ? "stage name too long" : "empty stage name");
            return;
        }
        if (prev)
            s_edge_add(y, item, prev, prev_len, name, len);
        prev = name;
        prev_len = len;
        n++;
    }
    if (n < 2)
        gf_graph_yaml_error(y, item, "bad edge '%s': expected 'from -> to'", chain);
}

static void s_edge_pair(struct gf_graph_yaml *y, yaml_node_t *item)
{
    yaml_node_item_t *items = item->data.sequence.items.start;
    size_t n = (size_t)(item->data.sequence.items.top - items);
    yaml_node_t *from = n == 2 ? gf_graph_yaml_node(y, items[0]) : NULL;
    yaml_node_t *to = n == 2 ? gf_graph_yaml_node(y, items[1]) : NULL;
    if (!from || !to || from->type != YAML_SCALAR_NODE || to->type != YAML_SCALAR_NODE) {
        gf_graph_yaml_error(y, item, "bad edge: a pair must be [from, to] of two stage names");
        return;
    }
    const char *a = GF_YAML_STR(from), *b = GF_YAML_STR(to);
    if (!a[0] || !b[0] || strlen(a) >= GF_GRAPH_NAME_MAX || strlen(b) >= GF_GRAPH_NAME_MAX) {
        gf_graph_yaml_error(y, item, "bad edge [%s, %s]: bad stage name", a, b);
        return;
    }
    s_edge_add(y, item, a, strlen(a), b, strlen(b));
}

static void s_edges(struct gf_graph_yaml *y, yaml_node_t *value)
{
    y->b->has_edges = 1;
    if (value->type == YAML_SCALAR_NODE) {
        s_edge_chain(y, value);
        return;
    }
    if (!gf_graph_yaml_expect_seq(y, value, "edges"))
        return;
    for (yaml_node_item_t *it = value->data.sequence.items.start;
         it < value->data.sequence.items.top; it++) {
        yaml_node_t *item = gf_graph_yaml_node(y, *it);
        if (item->type == YAML_SCALAR_NODE)
            s_edge_chain(y, item);
        else if (item->type == YAML_SEQUENCE_NODE)
            s_edge_pair(y, item);
        else
            gf_graph_yaml_error(y, item, "bad edge: expected 'a -> b' or [a, b], got a map");
    }
}

/* --- top level -------------------------------------------------------------------------------- */

static void s_security(struct gf_graph_yaml *y, yaml_node_t *value)
{
    char mode[16];
    if (gf_graph_yaml_string(y, value, "security", mode, sizeof mode) < 0)
        return;
    if (strcmp(mode, "curve") == 0) {
        y->b->graph->security = GF_GRAPH_SECURITY_CURVE;
    } else if (strcmp(mode, "none") == 0) {
        y->b->graph->security = GF_GRAPH_SECURITY_NONE;
    } else {
        gf_graph_yaml_error(y, value, "bad 'security' '%s': expected 'curve' or 'none'", mode);
        return;
    }
    y->b->has_security = 1;
    y->b->security_line = GF_YAML_LINE(value);
    y->b->security_col = GF_YAML_COL(value);
}

static void s_name(struct gf_graph_yaml *y, yaml_node_t *value)
{
    gf_graph_t *g = y->b->graph;
    char name[GF_GRAPH_NAME_MAX];
    if (gf_graph_yaml_string(y, value, "name", name, sizeof name) < 0)
        return;
    if (gf_graph_yaml_name_check(y, value, "graph", 1) == 0)
        snprintf(g->name, sizeof g->name, "%s", name);
}

static void s_top_pair(struct gf_graph_yaml *y, int index, yaml_node_t *key, yaml_node_t *value,
                       void *arg)
{
    gf_graph_t *g = y->b->graph;
    long v;
    int optional_absent = gf_graph_yaml_is_null(value);
    switch (index) {
    case TOP_NAME:
        s_name(y, value);
        break;
    case TOP_MODEL:
        if (!optional_absent)
            gf_graph_yaml_string(y, value, "model", g->model, sizeof g->model);
        break;
    case TOP_MAX_FRAME:
        if (gf_graph_yaml_int(y, value, "max_frame_bytes", 1L << 10, 1L << 30, &v) == 0)
            g->max_frame_bytes = v;
        break;
    case TOP_METRICS:
        if (!optional_absent &&
            gf_graph_yaml_string(y, value, "metrics", g->metrics, sizeof g->metrics) == 0) {
            char why[160];
            if (strncmp(g->metrics, "tcp://", 6) != 0 ||
                gf_endpoint_check(g->metrics, why, sizeof why) != 0)
                gf_graph_yaml_error(y, value,
                                    "'metrics' must be a tcp:// endpoint for the "
                                    "Prometheus text endpoint, got '%s'",
                                    g->metrics);
        }
        break;
    case TOP_STAGES:
        y->b->has_stages = 1;
        y->b->stages_line = GF_YAML_LINE(key);
        y->b->stages_col = GF_YAML_COL(key);
        gf_graph_yaml_stages(y, value);
        break;
    case TOP_EDGES:
        if (!optional_absent)
            s_edges(y, value);
        break;
    case TOP_DEFAULTS:
        if (!optional_absent && gf_graph_yaml_expect_map(y, value, "defaults", NULL))
            gf_graph_yaml_map_walk(y, value, s_defaults_keys, "in 'defaults'", s_defaults_pair,
                                   NULL);
        break;
    case TOP_SUPERVISOR:
        if (!optional_absent && gf_graph_yaml_expect_map(y, value, "supervisor", NULL))
            gf_graph_yaml_map_walk(y, value, s_sup_keys, "in 'supervisor'", s_supervisor_pair,
                                   NULL);
        break;
    case TOP_SECURITY:
        s_security(y, value);
        break;
    case TOP_HOSTS:
        y->b->hosts_line = GF_YAML_LINE(key);
        y->b->hosts_col = GF_YAML_COL(key);
        if (!optional_absent && gf_graph_yaml_expect_map(y, value, "hosts", NULL))
            gf_graph_yaml_map_walk(y, value, NULL, "in 'hosts'", s_hosts_pair, NULL);
        break;
    case TOP_PLACEMENT:
        if (!optional_absent && gf_graph_yaml_expect_map(y, value, "placement", NULL))
            gf_graph_yaml_map_walk(y, value, NULL, "in 'placement'", s_placement_pair, NULL);
        break;
    }
}

/* Records libyaml's complaint at its mark (reader errors carry a byte offset instead). */
int gf_graph_yaml_parser_error(struct gf_graph_yaml *y, const yaml_parser_t *p, const char *text,
                               size_t len)
{
    if (p->error == YAML_MEMORY_ERROR)
        return GF_ENOMEM;
    if (p->error == YAML_READER_ERROR) {
        int line = 1, col = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++, col++)
            if (text[i] == '\n')
                line++, col = 0;
        gf_graph_error_at(y->b, line, col, "not valid YAML: %s", p->problem);
        return GF_EPARSE;
    }
    const yaml_mark_t *m = &p->problem_mark;
    if (p->context)
        gf_graph_error_at(y->b, (int)m->line + 1, (int)m->column + 1, "%s (%s at %d:%d)",
                          p->problem, p->context, (int)p->context_mark.line + 1,
                          (int)p->context_mark.column + 1);
    else
        gf_graph_error_at(y->b, (int)m->line + 1, (int)m->column + 1, "%s",
                          p->problem ? p->problem : "not valid YAML");
    return GF_EPARSE;
}

/* One document per file: a second one is reported rather than silently ignored. */
static int s_no_second_document(struct gf_graph_yaml *y, yaml_parser_t *parser, const char *text,
                                size_t len)
{
    yaml_document_t next;
    if (!yaml_parser_load(parser, &next))
        return gf_graph_yaml_parser_error(y, parser, text, len);
    yaml_node_t *root = yaml_document_get_root_node(&next);
    if (root)
        gf_graph_error_at(y->b, GF_YAML_LINE(root), GF_YAML_COL(root),
                          "a second YAML document: a graph file holds exactly one");
    yaml_document_delete(&next);
    return 0;
}

static int s_root(struct gf_graph_yaml *y, yaml_node_t *root)
{
    if (!root) {
        gf_graph_error_at(y->b, 1, 1, "empty file: a graph needs at least 'stages'");
        return GF_ESCHEMA;
    }
    if (root->type != YAML_MAPPING_NODE) {
        char what[64];
        gf_graph_yaml_error(y, root, "top level must be a map, got %s",
                            gf_graph_yaml_what(root, what, sizeof what));
        return GF_ESCHEMA;
    }
    gf_graph_yaml_map_walk(y, root, s_top_keys, "at top level", s_top_pair, NULL);
    if (!y->b->has_stages)
        gf_graph_yaml_error(y, root, "missing required key 'stages'");
    return 0;
}

int gf_graph_yaml_read(struct gf_graph_build *b, const char *text, size_t len)
{
    struct gf_graph_yaml y = {.b = b};
    yaml_parser_t parser;
    int rc = gf_graph_yaml_bounds(&y, text, len);
    if (rc < 0)
        return rc;
    if (!yaml_parser_initialize(&parser))
        return GF_ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &y.doc)) {
        rc = gf_graph_yaml_parser_error(&y, &parser, text, len);
        goto out_parser;
    }
    rc = s_root(&y, yaml_document_get_root_node(&y.doc));
    if (rc == 0 && yaml_document_get_root_node(&y.doc))
        rc = s_no_second_document(&y, &parser, text, len);
    yaml_document_delete(&y.doc);
out_parser:
    yaml_parser_delete(&parser);
    return rc;
}
