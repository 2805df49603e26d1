/* graph_yaml_node.c — typed reads of libyaml nodes, each recording its problem at the node. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/graph_yaml_int.h"

/* Maps longer than this are not checked for duplicate keys pair by pair (the check is
 * quadratic); no map of the schema gets near it. */
#define S_MAP_PAIRS_MAX 4096

void gf_graph_yaml_error(struct gf_graph_yaml *y, const yaml_node_t *node, const char *fmt, ...)
{
    char msg[sizeof y->b->errors[0].msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gf_graph_error_at(y->b, GF_YAML_LINE(node), GF_YAML_COL(node), "%s", msg);
}

yaml_node_t *gf_graph_yaml_node(struct gf_graph_yaml *y, int id)
{
    return yaml_document_get_node(&y->doc, id);
}

int gf_graph_yaml_is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = GF_YAML_STR(node);
    return !s[0] || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

const char *gf_graph_yaml_what(const yaml_node_t *node, char *buf, size_t len)
{
    if (node->type == YAML_MAPPING_NODE)
        return "a map";
    if (node->type == YAML_SEQUENCE_NODE)
        return "a sequence";
    if (gf_graph_yaml_is_null(node))
        return "nothing";
    const char *s = GF_YAML_STR(node);
    if (strlen(s) > 40)
        snprintf(buf, len, "'%.37s...'", s);
    else
        snprintf(buf, len, "'%s'", s);
    return buf;
}

static int s_key_index(const char *key, const char *const *allowed)
{
    for (int i = 0; allowed[i]; i++)
        if (strcmp(key, allowed[i]) == 0)
            return i;
    return -1;
}

static void s_unknown_key(struct gf_graph_yaml *y, yaml_node_t *key, const char *const *allowed,
                          const char *where)
{
    char list[512];
    size_t used = 0;
    list[0] = '\0';
    for (int i = 0; allowed[i] && used < sizeof list; i++)
        used +=
            (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", allowed[i]);
    gf_graph_yaml_error(y, key, "unknown key '%s' %s (allowed: %s)", GF_YAML_STR(key), where, list);
}

/* Index of an earlier pair of `map` with the same scalar key as pair `i`, or -1. */
static int s_earlier_key(struct gf_graph_yaml *y, yaml_node_pair_t *pairs, int i)
{
    const char *key = GF_YAML_STR(gf_graph_yaml_node(y, pairs[i].key));
    for (int j = 0; j < i; j++) {
        yaml_node_t *k = gf_graph_yaml_node(y, pairs[j].key);
        if (k->type == YAML_SCALAR_NODE && strcmp(GF_YAML_STR(k), key) == 0)
            return j;
    }
    return -1;
}

void gf_graph_yaml_map_walk(struct gf_graph_yaml *y, yaml_node_t *map, const char *const *allowed,
                            const char *where, gf_graph_yaml_pair_fn fn, void *arg)
{
    yaml_node_pair_t *pairs = map->data.mapping.pairs.start;
    int n = (int)(map->data.mapping.pairs.top - pairs);
    if (n > S_MAP_PAIRS_MAX) {
        gf_graph_yaml_error(y, map, "map has %d keys (at most %d)", n, S_MAP_PAIRS_MAX);
        return;
    }
    for (int i = 0; i < n; i++) {
        yaml_node_t *key = gf_graph_yaml_node(y, pairs[i].key);
        yaml_node_t *value = gf_graph_yaml_node(y, pairs[i].value);
        if (key->type != YAML_SCALAR_NODE) {
            gf_graph_yaml_error(y, key, "a key must be a plain name, got a %s",
                                key->type == YAML_MAPPING_NODE ? "map" : "sequence");
            continue;
        }
        int first = s_earlier_key(y, pairs, i);
        if (first >= 0) {
            yaml_node_t *k = gf_graph_yaml_node(y, pairs[first].key);
            gf_graph_yaml_error(y, key, "duplicate key '%s' %s (first at %d:%d)", GF_YAML_STR(key),
                                where, GF_YAML_LINE(k), GF_YAML_COL(k));
            continue;
        }
        int index = allowed ? s_key_index(GF_YAML_STR(key), allowed) : -1;
        if (allowed && index < 0) {
            s_unknown_key(y, key, allowed, where);
            continue;
        }
        fn(y, index, key, value, arg);
    }
}

yaml_node_t *gf_graph_yaml_find(struct gf_graph_yaml *y, yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = gf_graph_yaml_node(y, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp(GF_YAML_STR(k), key) == 0)
            return gf_graph_yaml_node(y, p->value);
    }
    return NULL;
}

static int s_expect(struct gf_graph_yaml *y, yaml_node_t *node, yaml_node_type_t type,
                    const char *what, const char *name)
{
    if (node->type == type)
        return 1;
    char buf[64];
    const char *want = type == YAML_MAPPING_NODE ? "a map" : "a sequence";
    if (name)
        gf_graph_yaml_error(y, node, "%s '%s' must be %s, got %s", what, name, want,
                            gf_graph_yaml_what(node, buf, sizeof buf));
    else
        gf_graph_yaml_error(y, node, "'%s' must be %s, got %s", what, want,
                            gf_graph_yaml_what(node, buf, sizeof buf));
    return 0;
}

int gf_graph_yaml_expect_map(struct gf_graph_yaml *y, yaml_node_t *node, const char *what,
                             const char *name)
{
    return s_expect(y, node, YAML_MAPPING_NODE, what, name);
}

int gf_graph_yaml_expect_seq(struct gf_graph_yaml *y, yaml_node_t *node, const char *what)
{
    return s_expect(y, node, YAML_SEQUENCE_NODE, what, NULL);
}

int gf_graph_yaml_int(struct gf_graph_yaml *y, yaml_node_t *node, const char *key, long lo, long hi,
                      long *out)
{
    char buf[64];
    if (node->type != YAML_SCALAR_NODE || gf_graph_yaml_is_null(node))
        goto out_type;
    const char *s = GF_YAML_STR(node);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0')
        goto out_type;
    if (errno == ERANGE || v < lo || v > hi) {
        gf_graph_yaml_error(y, node, "'%s' must be between %ld and %ld, got %s", key, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
out_type:
    gf_graph_yaml_error(y, node, "'%s' must be an integer, got %s", key,
                        gf_graph_yaml_what(node, buf, sizeof buf));
    return -1;
}

int gf_graph_yaml_string(struct gf_graph_yaml *y, yaml_node_t *node, const char *key, char *out,
                         size_t len)
{
    char buf[64];
    if (node->type != YAML_SCALAR_NODE) {
        gf_graph_yaml_error(y, node, "'%s' must be a string, got %s", key,
                            gf_graph_yaml_what(node, buf, sizeof buf));
        return -1;
    }
    const char *s = gf_graph_yaml_is_null(node) ? "" : GF_YAML_STR(node);
    if (strlen(s) >= len) {
        gf_graph_yaml_error(y, node, "'%s' is too long (at most %zu bytes)", key, len - 1);
        return -1;
    }
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

int gf_graph_yaml_name_check(struct gf_graph_yaml *y, yaml_node_t *node, const char *what,
                             int allow_dot)
{
    const char *s = GF_YAML_STR(node);
    size_t len = strlen(s);
    int ok = len > 0 && len < GF_GRAPH_NAME_MAX;
    for (size_t i = 0; ok && i < len; i++) {
        char c = s[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-' || (allow_dot && c == '.');
    }
    if (ok)
        return 0;
    gf_graph_yaml_error(y, node, "bad %s name '%.80s' (letters, digits, '_', '-'%s; 1 to %d)", what,
                        s, allow_dot ? ", '.'" : "", GF_GRAPH_NAME_MAX - 1);
    return -1;
}

static int s_device_parse(const char *s, struct gf_device *d)
{
    if (strcmp(s, "cpu") == 0) {
        *d = (struct gf_device){GF_DEVICE_CPU, 0};
        return 0;
    }
    if (strncmp(s, "cuda:", 5) != 0 || !s[5] || strlen(s + 5) > 4 ||
        strspn(s + 5, "0123456789") != strlen(s + 5))
        return -1;
    *d = (struct gf_device){GF_DEVICE_CUDA, atoi(s + 5)};
    return 0;
}

static int s_device(struct gf_graph_yaml *y, yaml_node_t *node, struct gf_device *d)
{
    char buf[64];
    if (node->type != YAML_SCALAR_NODE || s_device_parse(GF_YAML_STR(node), d) < 0) {
        gf_graph_yaml_error(y, node, "bad device %s (expected 'cpu' or 'cuda:N')",
                            gf_graph_yaml_what(node, buf, sizeof buf));
        return -1;
    }
    return 0;
}

int gf_graph_yaml_devices(struct gf_graph_yaml *y, yaml_node_t *node, struct gf_device *devices,
                          int *n_devices)
{
    if (node->type != YAML_SEQUENCE_NODE) {
        if (s_device(y, node, &devices[0]) < 0)
            return -1;
        *n_devices = 1;
        return 0;
    }
    yaml_node_item_t *items = node->data.sequence.items.start;
    long n = node->data.sequence.items.top - items;
    if (n == 0 || n > GF_GRAPH_MAX_REPLICAS) {
        gf_graph_yaml_error(y, node, "'device' must list 1 to %d devices, got %ld",
                            GF_GRAPH_MAX_REPLICAS, n);
        return -1;
    }
    int rc = 0;
    for (long i = 0; i < n; i++)
        if (s_device(y, gf_graph_yaml_node(y, items[i]), &devices[i]) < 0)
            rc = -1;
    if (rc == 0)
        *n_devices = (int)n;
    return rc;
}
