/* graph_yaml_bounds.c — a first pass over the parser's events that refuses a file too deep or too
 * large for a pipeline graph before libyaml's loader builds a node tree from it.
 *
 * Why a pass of its own: libyaml's scanner keeps one possible simple key per open flow collection
 * and looks at all of them for every token, so `[[[[...` n deep costs n^2; its loader then builds
 * every node. Counting depth on the events stops the parser at GF_GRAPH_YAML_DEPTH_MAX, long
 * before either cost shows, and counting nodes with each alias worth the nodes of its anchor
 * stops a "billion laughs" file at the alias that would pass GF_GRAPH_YAML_NODES_MAX.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/error.h"
#include "engine/graph_yaml_int.h"

struct s_anchor {
    char *name;
    long nodes; /* the anchored node and everything under it, aliases expanded; -1 while open */
};

struct s_open {
    long first; /* node count before this collection started */
    int anchor; /* index in anchors[], or -1 */
};

struct s_bounds {
    struct gf_graph_yaml *y;
    struct s_anchor anchors[GF_GRAPH_YAML_ANCHORS_MAX];
    int n_anchors;
    struct s_open open[GF_GRAPH_YAML_DEPTH_MAX];
    int depth;
    long nodes;
};

__attribute__((format(printf, 3, 4))) static void
s_error_at(struct s_bounds *s, const yaml_mark_t *m, const char *fmt, ...)
{
    char msg[sizeof s->y->b->errors[0].msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gf_graph_error_at(s->y->b, (int)m->line + 1, (int)m->column + 1, "%s", msg);
}

static int s_anchor_find(const struct s_bounds *s, const char *name)
{
    for (int i = s->n_anchors - 1; i >= 0; i--) /* the latest definition wins */
        if (strcmp(s->anchors[i].name, name) == 0)
            return i;
    return -1;
}

/* Registers `name` (an event's anchor, or NULL) as open; its index, -1 without, or GF_EPARSE. */
static int s_anchor_add(struct s_bounds *s, const yaml_mark_t *m, const yaml_char_t *name)
{
    if (!name)
        return -1;
    if (s->n_anchors == GF_GRAPH_YAML_ANCHORS_MAX) {
        s_error_at(s, m, "more than %ld YAML anchors", GF_GRAPH_YAML_ANCHORS_MAX);
        return GF_EPARSE;
    }
    char *copy = strdup((const char *)name);
    if (!copy)
        return GF_ENOMEM;
    s->anchors[s->n_anchors] = (struct s_anchor){copy, -1};
    return s->n_anchors++;
}

static int s_count(struct s_bounds *s, const yaml_mark_t *m, long n)
{
    s->nodes += n;
    if (s->nodes <= GF_GRAPH_YAML_NODES_MAX)
        return 0;
    s_error_at(s, m, "more than %ld YAML nodes (aliases counted as the nodes they stand for)",
               GF_GRAPH_YAML_NODES_MAX);
    return GF_EPARSE;
}

static int s_start(struct s_bounds *s, const yaml_event_t *ev, const yaml_char_t *anchor)
{
    if (s->depth == GF_GRAPH_YAML_DEPTH_MAX) {
        s_error_at(s, &ev->start_mark, "nesting deeper than %ld", GF_GRAPH_YAML_DEPTH_MAX);
        return GF_EPARSE;
    }
    long first = s->nodes;
    int rc = s_count(s, &ev->start_mark, 1);
    int index = rc < 0 ? rc : s_anchor_add(s, &ev->start_mark, anchor);
    if (index < -1)
        return index;
    s->open[s->depth++] = (struct s_open){first, index};
    return 0;
}

static void s_end(struct s_bounds *s)
{
    struct s_open *o = &s->open[--s->depth];
    if (o->anchor >= 0)
        s->anchors[o->anchor].nodes = s->nodes - o->first;
}

static int s_alias(struct s_bounds *s, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    int i = s_anchor_find(s, name);
    if (i < 0)
        return 0; /* the loader reports an undefined alias */
    if (s->anchors[i].nodes < 0) {
        s_error_at(s, &ev->start_mark, "alias '*%.80s' stands for a node that contains it", name);
        return GF_EPARSE;
    }
    return s_count(s, &ev->start_mark, s->anchors[i].nodes);
}

static int s_event(struct s_bounds *s, const yaml_event_t *ev)
{
    int rc, index;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        rc = s_count(s, &ev->start_mark, 1);
        index = rc < 0 ? rc : s_anchor_add(s, &ev->start_mark, ev->data.scalar.anchor);
        if (index >= 0)
            s->anchors[index].nodes = 1;
        return index < -1 ? index : 0;
    case YAML_SEQUENCE_START_EVENT:
        return s_start(s, ev, ev->data.sequence_start.anchor);
    case YAML_MAPPING_START_EVENT:
        return s_start(s, ev, ev->data.mapping_start.anchor);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        s_end(s);
        return 0;
    case YAML_ALIAS_EVENT:
        return s_alias(s, ev);
    default:
        return 0;
    }
}

int gf_graph_yaml_bounds(struct gf_graph_yaml *y, const char *text, size_t len)
{
    struct s_bounds *s = calloc(1, sizeof *s);
    yaml_parser_t parser;
    if (!s)
        return GF_ENOMEM;
    s->y = y;
    int rc = 0;
    if (!yaml_parser_initialize(&parser)) {
        rc = GF_ENOMEM;
        goto out_state;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    for (int done = 0; !done && rc == 0;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = gf_graph_yaml_parser_error(y, &parser, text, len);
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = s_event(s, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
out_state:
    for (int i = 0; i < s->n_anchors; i++)
        free(s->anchors[i].name);
    free(s);
    return rc;
}
