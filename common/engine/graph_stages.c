/* graph_stages.c — reads `stages:`, long form (a map of stage maps) or short form (a list of
 * kinds), and each stage's `params:` flattened to key/value strings. */
#include <stdio.h>
#include <string.h>

#include "engine/graph_yaml_int.h"

/* Params may nest this deep, and their walk visits at most this many nodes (aliases can make a
 * small file describe a huge tree). */
#define S_PARAMS_DEPTH 8
#define S_PARAMS_VISITS 4096

static const char *const s_stage_keys[] = {"kind",   "replicas", "device", "batch", "credits",
                                           "params", "bind",     "out",    NULL};
enum { ST_KIND, ST_REPLICAS, ST_DEVICE, ST_BATCH, ST_CREDITS, ST_PARAMS, ST_BIND, ST_OUT };

struct s_stage_ctx {
    struct gf_stage_def *st;
    struct gf_graph_stage_src *src;
};

struct s_params_ctx {
    struct gf_stage_def *st;
    const char *prefix;
    int depth;
    int *visits;
};

static void s_kind_unknown(struct gf_graph_yaml *y, yaml_node_t *node, const char *kind)
{
    char known[256];
    size_t used = 0;
    if (y->b->kind_known) {
        gf_graph_yaml_error(y, node, "unknown stage kind '%s'", kind);
        return;
    }
    known[0] = '\0';
    for (int i = 0; gf_graph_builtin_kinds[i]; i++)
        used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "",
                                 gf_graph_builtin_kinds[i]);
    gf_graph_yaml_error(y, node, "unknown stage kind '%s' (known: %s)", kind, known);
}

/* --- params ----------------------------------------------------------------------------------- */

static void s_params_map(struct gf_graph_yaml *y, yaml_node_t *map, struct s_params_ctx *pc);

/* The items of a sequence of scalars joined by commas, or -1 (recorded). */
static int s_params_join(struct gf_graph_yaml *y, yaml_node_t *seq, const char *key, char *out,
                         size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *item = gf_graph_yaml_node(y, *it);
        char buf[64];
        if (item->type != YAML_SCALAR_NODE) {
            gf_graph_yaml_error(y, item,
                                "parameter '%s': a list may hold only plain values, got %s", key,
                                gf_graph_yaml_what(item, buf, sizeof buf));
            return -1;
        }
        int n = snprintf(out + used, len - used, "%s%s", used ? "," : "", GF_YAML_STR(item));
        if (n < 0 || (size_t)n >= len - used) {
            gf_graph_yaml_error(y, seq, "parameter '%s' is too long (at most %zu bytes)", key,
                                len - 1);
            return -1;
        }
        used += (size_t)n;
    }
    return 0;
}

static void s_param_add(struct gf_graph_yaml *y, struct gf_stage_def *st, yaml_node_t *key,
                        const char *name, yaml_node_t *value)
{
    if (gf_graph_param(st, name)) {
        gf_graph_yaml_error(y, key, "duplicate parameter '%s' in stage '%s'", name, st->name);
        return;
    }
    if (st->n_params == GF_GRAPH_MAX_PARAMS) {
        gf_graph_yaml_error(y, key, "too many parameters in stage '%s' (at most %d)", st->name,
                            GF_GRAPH_MAX_PARAMS);
        return;
    }
    struct gf_param *p = &st->params[st->n_params];
    int rc;
    if (value->type == YAML_SEQUENCE_NODE)
        rc = s_params_join(y, value, name, p->value, sizeof p->value);
    else
        rc = gf_graph_yaml_string(y, value, name, p->value, sizeof p->value);
    if (rc < 0)
        return;
    snprintf(p->key, sizeof p->key, "%s", name);
    p->line = GF_YAML_LINE(value);
    p->col = GF_YAML_COL(value);
    st->n_params++;
}

static void s_params_pair(struct gf_graph_yaml *y, int index, yaml_node_t *key, yaml_node_t *value,
                          void *arg)
{
    struct s_params_ctx *pc = arg;
    char name[GF_GRAPH_NAME_MAX];
    int n = snprintf(name, sizeof name, "%s%s%s", pc->prefix, pc->prefix[0] ? "." : "",
                     GF_YAML_STR(key));
    if (n < 0 || (size_t)n >= sizeof name || !GF_YAML_STR(key)[0]) {
        gf_graph_yaml_error(y, key, "bad parameter name '%s%s%.80s' (1 to %d bytes)", pc->prefix,
                            pc->prefix[0] ? "." : "", GF_YAML_STR(key), GF_GRAPH_NAME_MAX - 1);
        return;
    }
    if (++*pc->visits > S_PARAMS_VISITS) {
        if (*pc->visits == S_PARAMS_VISITS + 1)
            gf_graph_yaml_error(y, key, "'params' of stage '%s' are too large", pc->st->name);
        return;
    }
    if (value->type != YAML_MAPPING_NODE) {
        s_param_add(y, pc->st, key, name, value);
        return;
    }
    if (pc->depth == S_PARAMS_DEPTH) {
        gf_graph_yaml_error(y, value, "'params' nested deeper than %d", S_PARAMS_DEPTH);
        return;
    }
    struct s_params_ctx inner = {pc->st, name, pc->depth + 1, pc->visits};
    s_params_map(y, value, &inner);
}

static void s_params_map(struct gf_graph_yaml *y, yaml_node_t *map, struct s_params_ctx *pc)
{
    char where[GF_GRAPH_NAME_MAX * 2 + 32];
    snprintf(where, sizeof where, "in 'params%s%s' of stage '%s'", pc->prefix[0] ? "." : "",
             pc->prefix, pc->st->name);
    gf_graph_yaml_map_walk(y, map, NULL, where, s_params_pair, pc);
}

/* --- long form -------------------------------------------------------------------------------- */

static void s_only_for(struct gf_graph_yaml *y, yaml_node_t *key, struct gf_stage_def *st,
                       const char *kind)
{
    gf_graph_yaml_error(y, key, "'%s' is only for %s stages ('%s' is a '%s')", GF_YAML_STR(key),
                        kind, st->name, st->kind);
}

static void s_bind(struct gf_graph_yaml *y, yaml_node_t *key, yaml_node_t *value,
                   struct gf_stage_def *st)
{
    char why[128];
    if (strcmp(st->kind, "gateway") != 0) {
        s_only_for(y, key, st, "gateway");
        return;
    }
    if (gf_graph_yaml_string(y, value, "bind", st->bind, sizeof st->bind) < 0 || !st->bind[0])
        return;
    if (gf_endpoint_check(st->bind, why, sizeof why) < 0)
        gf_graph_yaml_error(y, value, "bad endpoint '%s': %s", st->bind, why);
}

static int s_stage_int(struct gf_graph_yaml *y, yaml_node_t *value, const char *key, long hi,
                       int *out, int *has)
{
    long v;
    if (gf_graph_yaml_int(y, value, key, 1, hi, &v) < 0)
        return -1;
    *out = (int)v;
    *has = 1;
    return 0;
}

static void s_stage_pair(struct gf_graph_yaml *y, int index, yaml_node_t *key, yaml_node_t *value,
                         void *arg)
{
    struct s_stage_ctx *sc = arg;
    struct gf_stage_def *st = sc->st;
    struct gf_graph_stage_src *src = sc->src;
    int visits = 0;
    switch (index) {
    case ST_KIND: /* read before the walk */
        break;
    case ST_REPLICAS:
        if (s_stage_int(y, value, "replicas", GF_GRAPH_MAX_REPLICAS, &st->replicas,
                        &src->has_replicas) == 0) {
            src->replicas_line = GF_YAML_LINE(value);
            src->replicas_col = GF_YAML_COL(value);
        }
        break;
    case ST_DEVICE:
        src->has_device = gf_graph_yaml_devices(y, value, st->devices, &st->n_devices) == 0;
        break;
    case ST_BATCH:
        s_stage_int(y, value, "batch", GF_GRAPH_BATCH_MAX, &st->batch, &src->has_batch);
        break;
    case ST_CREDITS:
        if (s_stage_int(y, value, "credits", GF_GRAPH_CREDITS_MAX, &st->credits,
                        &src->has_credits) == 0) {
            src->credits_line = GF_YAML_LINE(value);
            src->credits_col = GF_YAML_COL(value);
        }
        break;
    case ST_PARAMS:
        if (!gf_graph_yaml_is_null(value) && gf_graph_yaml_expect_map(y, value, "params", NULL)) {
            struct s_params_ctx pc = {st, "", 0, &visits};
            s_params_map(y, value, &pc);
        }
        break;
    case ST_BIND:
        s_bind(y, key, value, st);
        src->bind_line = GF_YAML_LINE(value);
        src->bind_col = GF_YAML_COL(value);
        break;
    case ST_OUT:
        if (strcmp(st->kind, "sink") != 0)
            s_only_for(y, key, st, "sink");
        else
            gf_graph_yaml_string(y, value, "out", st->out, sizeof st->out);
        break;
    }
}

/* The kind of a long-form stage; "" (recorded) when missing or unusable. */
static void s_stage_kind(struct gf_graph_yaml *y, yaml_node_t *key, yaml_node_t *map, char *kind,
                         size_t len)
{
    const char *name = GF_YAML_STR(key);
    yaml_node_t *node = gf_graph_yaml_find(y, map, "kind");
    if (!node) {
        gf_graph_yaml_error(y, key, "missing required key 'kind' in stage '%s'", name);
        return;
    }
    if (gf_graph_yaml_string(y, node, "kind", kind, len) < 0)
        return;
    if (!kind[0])
        gf_graph_yaml_error(y, node, "'kind' of stage '%s' is empty", name);
    else if (!gf_graph_kind_known(y->b, kind))
        s_kind_unknown(y, node, kind);
}

static void s_stages_pair(struct gf_graph_yaml *y, int index, yaml_node_t *key, yaml_node_t *value,
                          void *arg)
{
    char kind[GF_GRAPH_NAME_MAX], where[GF_GRAPH_NAME_MAX + 16];
    const char *name = GF_YAML_STR(key);
    int is_map = gf_graph_yaml_expect_map(y, value, "stage", name);
    gf_graph_yaml_name_check(y, key, "stage", 0);
    kind[0] = '\0';
    if (is_map)
        s_stage_kind(y, key, value, kind, sizeof kind);
    /* added even when broken, so that edges naming it are not reported as dangling too */
    int i = gf_graph_stage_add(y->b, name, kind, GF_YAML_LINE(key), GF_YAML_COL(key));
    if (i < 0 || !is_map)
        return;
    struct s_stage_ctx sc = {&y->b->graph->stages[i], &y->b->src[i]};
    snprintf(where, sizeof where, "in stage '%s'", sc.st->name);
    gf_graph_yaml_map_walk(y, value, s_stage_keys, where, s_stage_pair, &sc);
}

/* --- short form ------------------------------------------------------------------------------- */

static void s_stage_short(struct gf_graph_yaml *y, yaml_node_t *item)
{
    char buf[64];
    if (item->type != YAML_SCALAR_NODE || gf_graph_yaml_is_null(item)) {
        gf_graph_yaml_error(y, item, "a stage in the short form must be a kind name, got %s",
                            gf_graph_yaml_what(item, buf, sizeof buf));
        return;
    }
    const char *kind = GF_YAML_STR(item);
    if (gf_graph_yaml_name_check(y, item, "stage", 0) < 0)
        return;
    if (!gf_graph_kind_known(y->b, kind))
        s_kind_unknown(y, item, kind);
    gf_graph_stage_add(y->b, kind, kind, GF_YAML_LINE(item), GF_YAML_COL(item));
}

void gf_graph_yaml_stages(struct gf_graph_yaml *y, yaml_node_t *value)
{
    char buf[64];
    if (value->type == YAML_MAPPING_NODE) {
        gf_graph_yaml_map_walk(y, value, NULL, "in 'stages'", s_stages_pair, NULL);
        return;
    }
    if (value->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = value->data.sequence.items.start;
             it < value->data.sequence.items.top; it++)
            s_stage_short(y, gf_graph_yaml_node(y, *it));
        return;
    }
    gf_graph_yaml_error(
        y, value, "'stages' must be a map (long form) or a sequence of kinds (short form), got %s",
        gf_graph_yaml_what(value, buf, sizeof buf));
}
