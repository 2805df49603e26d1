/* graph_yaml_int.h — node helpers shared by the YAML readers of the graph (graph_yaml*.c,
 * graph_stages.c). Every helper that fails records the problem at the node and returns -1 (or
 * 0 for the expect_ ones), so callers only decide whether to go on.
 */
#ifndef GF_ENGINE_GRAPH_YAML_INT_H
#define GF_ENGINE_GRAPH_YAML_INT_H

#include <stddef.h>
#include <yaml.h>

#include "engine/graph_int.h"

#define GF_GRAPH_BATCH_MAX 4096
#define GF_GRAPH_CREDITS_MAX (1 << 20)

/* Bounds on any graph file, checked on the parser's events before a node tree is built (see
 * docs/pipeline-yaml.md, "Limits"): collections nested deeper than DEPTH_MAX, more than NODES_MAX
 * nodes with every alias counted as the nodes it stands for, or more than ANCHORS_MAX anchors are
 * refused at the node that passes the bound. */
#define GF_GRAPH_YAML_DEPTH_MAX 64L
#define GF_GRAPH_YAML_NODES_MAX 100000L
#define GF_GRAPH_YAML_ANCHORS_MAX 256L

#define GF_YAML_LINE(node) ((int)(node)->start_mark.line + 1)
#define GF_YAML_COL(node) ((int)(node)->start_mark.column + 1)
#define GF_YAML_STR(node) ((const char *)(node)->data.scalar.value)

struct gf_graph_yaml {
    struct gf_graph_build *b;
    yaml_document_t doc;
};

/* Called for each pair of a map with the key's index in the allowed list (-1 without a list). */
typedef void (*gf_graph_yaml_pair_fn)(struct gf_graph_yaml *y, int index, yaml_node_t *key,
                                      yaml_node_t *value, void *arg);

/* The first pass (graph_yaml_bounds.c): 0 when `text` is within the bounds above, else the
 * problem is recorded and GF_EPARSE (or GF_ENOMEM) returned. Syntax errors are recorded here too.
 */
int gf_graph_yaml_bounds(struct gf_graph_yaml *y, const char *text, size_t len);

/* Records libyaml's complaint at its mark; GF_EPARSE, or GF_ENOMEM. */
int gf_graph_yaml_parser_error(struct gf_graph_yaml *y, const yaml_parser_t *p, const char *text,
                               size_t len);

void gf_graph_yaml_error(struct gf_graph_yaml *y, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

yaml_node_t *gf_graph_yaml_node(struct gf_graph_yaml *y, int id);

/* "a map", "a sequence", "null" or the quoted scalar (shortened), for messages. */
const char *gf_graph_yaml_what(const yaml_node_t *node, char *buf, size_t len);

/* True for an empty value, `~` or `null` (unquoted). */
int gf_graph_yaml_is_null(const yaml_node_t *node);

/* Walks a map's pairs: reports keys that are not scalars, duplicate keys and, when `allowed` is
 * given, keys not in it (`where` says which map: "in stage 'x'"); calls fn for the rest. */
void gf_graph_yaml_map_walk(struct gf_graph_yaml *y, yaml_node_t *map, const char *const *allowed,
                            const char *where, gf_graph_yaml_pair_fn fn, void *arg);

/* The value of the first pair whose key is `key`, or NULL. */
yaml_node_t *gf_graph_yaml_find(struct gf_graph_yaml *y, yaml_node_t *map, const char *key);

/* Type checks: 1 when `node` is a map (resp. sequence), else record "'what' must be a map". With
 * `name`, the subject reads "what 'name'" ("stage 'reason' must be a map"). */
int gf_graph_yaml_expect_map(struct gf_graph_yaml *y, yaml_node_t *node, const char *what,
                             const char *name);
int gf_graph_yaml_expect_seq(struct gf_graph_yaml *y, yaml_node_t *node, const char *what);

/* Scalar readers for the value of `key`: an integer in lo..hi, a string that fits `len`. */
int gf_graph_yaml_int(struct gf_graph_yaml *y, yaml_node_t *node, const char *key, long lo, long hi,
                      long *out);
int gf_graph_yaml_string(struct gf_graph_yaml *y, yaml_node_t *node, const char *key, char *out,
                         size_t len);

/* Checks a scalar used as a name of `what` (stage, host, graph): [A-Za-z0-9_-]+ (and '.' with
 * allow_dot), shorter than GF_GRAPH_NAME_MAX. */
int gf_graph_yaml_name_check(struct gf_graph_yaml *y, yaml_node_t *node, const char *what,
                             int allow_dot);

/* `cpu`, `cuda:N` or a sequence of those, into devices[] (at most GF_GRAPH_MAX_REPLICAS). */
int gf_graph_yaml_devices(struct gf_graph_yaml *y, yaml_node_t *node, struct gf_device *devices,
                          int *n_devices);

/* The `stages:` value, long form (a map) or short form (a sequence of kinds). */
void gf_graph_yaml_stages(struct gf_graph_yaml *y, yaml_node_t *value);

#endif
