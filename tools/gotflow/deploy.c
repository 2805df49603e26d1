/* deploy.c — see deploy.h: the resolved graph, and what both cluster managers share.
 *
 * The graph is edited as a YAML document (libyaml's loader and emitter), not re-written from the
 * loaded gf_graph: every key the user wrote stays as written, only the hosts' `address` and
 * `curve_public` and the gateway's `bind` change. The result is then loaded like any graph, so
 * what a deploy writes has passed the same checks `gotflow run` makes.
 */
#include "deploy.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>
#include <zmq.h>

#include "core/error.h"
#include "core/grow.h"
#include "engine/plan.h"

#define S_MAX_FILE (4 << 20)

struct s_buf {
    char *data;
    size_t len, cap;
};

static int s_write(void *arg, unsigned char *bytes, size_t n)
{
    struct s_buf *b = arg;
    if (gf_grow((void **)&b->data, &b->cap, b->len + n + 1, 1) != 0)
        return 0;
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 1;
}

static char *s_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "gotflow deploy: cannot open '%s': ", path);
        perror(NULL);
        return NULL;
    }
    char *text = malloc(S_MAX_FILE + 1);
    size_t n = text ? fread(text, 1, S_MAX_FILE + 1, f) : 0;
    fclose(f);
    if (!text || n > S_MAX_FILE) {
        fprintf(stderr, "gotflow deploy: '%s' is larger than 4 MiB\n", path);
        free(text);
        return NULL;
    }
    text[n] = '\0';
    *len = n;
    return text;
}

static int s_load(const char *path, yaml_document_t *doc)
{
    size_t len;
    char *text = s_read(path, &len);
    if (!text)
        return GF_EIO;
    /* a first check of the file as a graph (bounds, syntax); hosts without addresses are fine
     * here, they are filled in below */
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int ok = yaml_parser_load(&p, doc);
    if (!ok)
        fprintf(stderr, "%s:%zu:%zu: %s\n", path, p.problem_mark.line + 1,
                p.problem_mark.column + 1, p.problem ? p.problem : "malformed YAML");
    yaml_parser_delete(&p);
    free(text);
    if (!ok)
        return GF_EPARSE;
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        fprintf(stderr, "%s:1:1: a pipeline graph is a map (name:, stages:, ...)\n", path);
        yaml_document_delete(doc);
        return GF_ESCHEMA;
    }
    return 0;
}

static int s_is(yaml_node_t *n, const char *s)
{
    return n && n->type == YAML_SCALAR_NODE && strlen(s) == n->data.scalar.length &&
           memcmp(n->data.scalar.value, s, n->data.scalar.length) == 0;
}

/* The pair of `map` whose key is `key`, or NULL. */
static yaml_node_pair_t *s_pair(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
        if (s_is(yaml_document_get_node(doc, p->key), key))
            return p;
    return NULL;
}

static yaml_node_t *s_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    yaml_node_pair_t *p = s_pair(doc, map, key);
    return p ? yaml_document_get_node(doc, p->value) : NULL;
}

static int s_scalar(yaml_document_t *doc, const char *value, yaml_scalar_style_t style)
{
    return yaml_document_add_scalar(doc, NULL, (yaml_char_t *)value, (int)strlen(value), style);
}

/* Sets map[key] = value (a new scalar); `map` is a node index, as nodes move when added. */
static int s_set(yaml_document_t *doc, int map, const char *key, const char *value,
                 yaml_scalar_style_t style)
{
    int v = s_scalar(doc, value, style);
    if (!v)
        return GF_ENOMEM;
    yaml_node_pair_t *p = s_pair(doc, yaml_document_get_node(doc, map), key);
    if (p) {
        p->value = v;
        return 0;
    }
    int k = s_scalar(doc, key, YAML_PLAIN_SCALAR_STYLE);
    return k && yaml_document_append_mapping_pair(doc, map, k, v) ? 0 : GF_ENOMEM;
}

static int s_index(yaml_document_t *doc, yaml_node_t *n)
{
    return (int)(n - doc->nodes.start) + 1;
}

int gf_deploy_host_names(const char *path, char names[][GF_GRAPH_NAME_MAX], int max, int *insecure)
{
    yaml_document_t doc;
    int rc = s_load(path, &doc), n = 0;
    if (rc < 0)
        return rc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    *insecure = s_is(s_get(&doc, root, "security"), "none");
    yaml_node_t *hosts = s_get(&doc, root, "hosts");
    if (hosts && hosts->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = hosts->data.mapping.pairs.start;
             p < hosts->data.mapping.pairs.top && n < max; p++) {
            yaml_node_t *k = yaml_document_get_node(&doc, p->key);
            if (k->type != YAML_SCALAR_NODE || k->data.scalar.length >= GF_GRAPH_NAME_MAX) {
                fprintf(stderr, "%s:%zu:%zu: bad host name\n", path, k->start_mark.line + 1,
                        k->start_mark.column + 1);
                yaml_document_delete(&doc);
                return GF_ESCHEMA;
            }
            memcpy(names[n], k->data.scalar.value, k->data.scalar.length);
            names[n++][k->data.scalar.length] = '\0';
        }
    }
    if (n == 0)
        snprintf(names[n++], GF_GRAPH_NAME_MAX, "%s", GF_DEPLOY_LONE_HOST);
    yaml_document_delete(&doc);
    return n;
}

/* The gateway's stage map (a node index), added to a long-form `stages:` when the graph leaves
 * the gateway implicit; 0 with the reason printed when there is no place for it. */
static int s_gateway_stage(yaml_document_t *doc, const char *path)
{
    yaml_node_t *root = yaml_document_get_root_node(doc);
    yaml_node_t *stages = s_get(doc, root, "stages");
    if (!stages || stages->type != YAML_MAPPING_NODE) {
        fprintf(stderr,
                "gotflow deploy: '%s': the gateway needs a bind address here, so write the "
                "stages in the long form (a map)\n",
                path);
        return 0;
    }
    int stages_i = s_index(doc, stages);
    for (yaml_node_pair_t *p = stages->data.mapping.pairs.start; p < stages->data.mapping.pairs.top;
         p++) {
        yaml_node_t *st = yaml_document_get_node(doc, p->value);
        if (s_is(s_get(doc, st, "kind"), "gateway"))
            return s_index(doc, st);
    }
    if (s_pair(doc, stages, "gateway")) {
        fprintf(stderr, "gotflow deploy: '%s': declare the gateway stage (kind: gateway)\n", path);
        return 0;
    }
    int m = yaml_document_add_mapping(doc, NULL, YAML_FLOW_MAPPING_STYLE);
    int k = s_scalar(doc, "gateway", YAML_PLAIN_SCALAR_STYLE);
    if (!m || !k || s_set(doc, m, "kind", "gateway", YAML_PLAIN_SCALAR_STYLE) < 0 ||
        !yaml_document_append_mapping_pair(doc, stages_i, k, m))
        return 0;
    return m;
}

static int s_fill(yaml_document_t *doc, const struct gf_deploy_fill *fill, const char *path)
{
    int root = s_index(doc, yaml_document_get_root_node(doc));
    yaml_node_t *hosts = s_get(doc, yaml_document_get_root_node(doc), "hosts");
    int hosts_i;
    if (hosts && hosts->type == YAML_MAPPING_NODE &&
        hosts->data.mapping.pairs.top > hosts->data.mapping.pairs.start) {
        hosts_i = s_index(doc, hosts);
    } else {
        /* a graph for one machine: one host, everything placed on it */
        hosts_i = yaml_document_add_mapping(doc, NULL, YAML_BLOCK_MAPPING_STYLE);
        int h = yaml_document_add_mapping(doc, NULL, YAML_FLOW_MAPPING_STYLE);
        int k = s_scalar(doc, GF_DEPLOY_LONE_HOST, YAML_PLAIN_SCALAR_STYLE);
        if (!hosts_i || !h || !k || !yaml_document_append_mapping_pair(doc, hosts_i, k, h))
            return GF_ENOMEM;
        yaml_node_pair_t *p = s_pair(doc, yaml_document_get_node(doc, root), "hosts");
        if (p) {
            p->value = hosts_i;
        } else {
            int hk = s_scalar(doc, "hosts", YAML_PLAIN_SCALAR_STYLE);
            if (!hk || !yaml_document_append_mapping_pair(doc, root, hk, hosts_i))
                return GF_ENOMEM;
        }
    }
    yaml_node_t *hm = yaml_document_get_node(doc, hosts_i);
    int n_pairs = (int)(hm->data.mapping.pairs.top - hm->data.mapping.pairs.start);
    for (int i = 0; i < n_pairs; i++) {
        hm = yaml_document_get_node(doc, hosts_i);
        yaml_node_pair_t *p = hm->data.mapping.pairs.start + i;
        yaml_node_t *key = yaml_document_get_node(doc, p->key);
        yaml_node_t *h = yaml_document_get_node(doc, p->value);
        if (h->type != YAML_MAPPING_NODE) {
            /* `a:` or `a: ~`: a host named, nothing else said yet */
            int m = yaml_document_add_mapping(doc, NULL, YAML_FLOW_MAPPING_STYLE);
            if (!m)
                return GF_ENOMEM;
            hm = yaml_document_get_node(doc, hosts_i);
            hm->data.mapping.pairs.start[i].value = m;
            h = yaml_document_get_node(doc, m);
            key = yaml_document_get_node(doc, hm->data.mapping.pairs.start[i].key);
        }
        int h_i = s_index(doc, h);
        const char *address = NULL, *pub = NULL;
        for (int j = 0; j < fill->n; j++)
            if (fill->host[j] && s_is(key, fill->host[j])) {
                address = fill->address[j];
                pub = fill->curve_public[j];
            }
        if (address && s_set(doc, h_i, "address", address, YAML_PLAIN_SCALAR_STYLE) < 0)
            return GF_ENOMEM;
        if (!address && !s_get(doc, yaml_document_get_node(doc, h_i), "address") &&
            s_set(doc, h_i, "address", "127.0.0.1", YAML_PLAIN_SCALAR_STYLE) < 0)
            return GF_ENOMEM;
        if (pub && s_set(doc, h_i, "curve_public", pub, YAML_DOUBLE_QUOTED_SCALAR_STYLE) < 0)
            return GF_ENOMEM;
    }
    if (fill->gateway_bind) {
        int gw = s_gateway_stage(doc, path);
        if (!gw)
            return GF_ESCHEMA;
        if (s_set(doc, gw, "bind", fill->gateway_bind, YAML_PLAIN_SCALAR_STYLE) < 0)
            return GF_ENOMEM;
    }
    return 0;
}

int gf_deploy_resolve(const char *path, const struct gf_deploy_fill *fill, char **text_p,
                      gf_graph_t **graph_p)
{
    yaml_document_t doc;
    int rc = s_load(path, &doc);
    if (rc < 0)
        return rc;
    rc = s_fill(&doc, fill, path);
    if (rc < 0) {
        if (rc == GF_ENOMEM)
            fprintf(stderr, "gotflow deploy: out of memory\n");
        yaml_document_delete(&doc);
        return rc;
    }
    struct s_buf out = {0};
    yaml_emitter_t e;
    yaml_emitter_initialize(&e);
    yaml_emitter_set_output(&e, s_write, &out);
    yaml_emitter_set_width(&e, 100);
    yaml_emitter_set_unicode(&e, 1);
    int ok = yaml_emitter_open(&e) && yaml_emitter_dump(&e, &doc) && yaml_emitter_close(&e);
    yaml_emitter_delete(&e); /* yaml_emitter_dump took the document */
    if (!ok || !out.data) {
        fprintf(stderr, "gotflow deploy: cannot write the resolved graph of '%s'\n", path);
        free(out.data);
        return GF_EIO;
    }
    gf_graph_t *g = NULL;
    char err[4096];
    if (gf_graph_parse(out.data, out.len, path, gf_plan_kind_known, NULL, &g, err, sizeof err) !=
        0) {
        fprintf(stderr, "gotflow deploy: the graph with its hosts filled in is not valid:\n%s",
                err);
        free(out.data);
        return GF_ESCHEMA;
    }
    if (graph_p)
        *graph_p = g;
    else
        gf_graph_destroy(&g);
    *text_p = out.data;
    return 0;
}

int gf_deploy_host_gpus(const gf_graph_t *g, int host)
{
    int n = 0;
    for (int s = 0; s < g->n_stages; s++) {
        const struct gf_stage_def *st = &g->stages[s];
        for (int r = 0; r < st->replicas; r++) {
            const struct gf_device *d = &st->devices[r % st->n_devices];
            if (gf_graph_replica_host(g, s, r) == host && d->type == GF_DEVICE_CUDA &&
                d->index + 1 > n)
                n = d->index + 1;
        }
    }
    return n;
}

int gf_deploy_gateway_host(const gf_graph_t *g)
{
    for (int s = 0; s < g->n_stages; s++)
        if (strcmp(g->stages[s].kind, "gateway") == 0)
            return g->n_hosts ? gf_graph_replica_host(g, s, 0) : 0;
    return 0;
}

int gf_deploy_keypair(const char *path, char pub[41], char sec[41])
{
    if (zmq_curve_keypair(pub, sec) != 0) {
        fprintf(stderr, "gotflow deploy: this libzmq cannot make CURVE keys: %s\n",
                zmq_strerror(zmq_errno()));
        return 1;
    }
    if (!path)
        return 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        fprintf(stderr, "gotflow deploy: cannot create '%s': ", path);
        perror(NULL);
        return 1;
    }
    char text[128];
    int n = snprintf(text, sizeof text, "public: %s\nsecret: %s\n", pub, sec);
    if (write(fd, text, (size_t)n) != n || close(fd) != 0) {
        fprintf(stderr, "gotflow deploy: cannot write '%s'\n", path);
        return 1;
    }
    return 0;
}
