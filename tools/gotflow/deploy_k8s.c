/* deploy_k8s.c — `gotflow deploy k8s PIPELINE.yaml`: Kubernetes manifests for a graph.
 *
 * One StatefulSet of one pod per graph host (a stable name, so a stable address), a headless
 * Service per host whose pod DNS name becomes the host's address, the resolved graph in a
 * ConfigMap, the hosts' CURVE keys in a Secret, a Service for the gateway. docs/deploy.md
 * explains every field.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/opts.h"
#include "deploy.h"
#include "engine/security.h"
#include "util.h"

#define S_MAX_SELECTORS 16
#define S_RUN "/run/gotflow"
#define S_ETC "/etc/gotflow"
#define S_WORK "/srv/gotflow"

static const char s_head[] =
    "usage: gotflow deploy k8s PIPELINE.yaml [--out DIR] [--image IMG] [options]\n"
    "\n"
    "Writes Kubernetes manifests for the pipeline into DIR (default k8s-NAME), one object per\n"
    "file, for 'kubectl apply -f DIR': NAME-graph (ConfigMap: the graph with the hosts' addresses\n"
    "and keys filled in), NAME-keys (Secret: one CURVE key pair per host, made now), per graph\n"
    "host HOST a StatefulSet NAME-HOST of one pod (GPUs from the stages' device: cuda:N, node\n"
    "selectors, probes from 'gotflow status') and a headless Service NAME-HOST (the pod's DNS\n"
    "name is the host's address), and NAME-gateway (Service: the gateway's port).\n"
    "Not run on a real cluster by the tests; the manifests are checked against the Kubernetes\n"
    "schemas.\n"
    "\n"
    "\n";
static const char s_tail[] =
    "\n"
    "exit status: 0 written, 1 failure (a file, a key), 2 usage error or invalid graph\n";

struct s_k8s {
    const char *image, *ns, *model_claim;
    const char *selector[S_MAX_SELECTORS];
    int n_selectors;
    int gateway_port;
    char name[GF_GRAPH_NAME_MAX]; /* the graph's name as a DNS label */
    char dir[4096];
};

/* A DNS-1123 label from a graph name: lowercase, [a-z0-9-], no dash at either end. */
static void s_label(const char *in, char *out, size_t len)
{
    size_t n = 0;
    for (const char *c = in; *c && n + 1 < len; c++)
        out[n++] = isalnum((unsigned char)*c) ? (char)tolower((unsigned char)*c) : '-';
    while (n > 0 && out[n - 1] == '-')
        n--;
    out[n] = '\0';
    if (n == 0 || out[0] == '-')
        snprintf(out, len, "g%.*s", (int)len - 2, n ? out : "otflow");
}

static FILE *s_open(const struct s_k8s *k, const char *file, mode_t mode)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", k->dir, file);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f)
        fprintf(stderr, "gotflow deploy k8s: cannot create '%s': %s\n", path, strerror(errno));
    return f;
}

static int s_close(FILE *f)
{
    int bad = ferror(f);
    return fclose(f) != 0 || bad ? 1 : 0;
}

static void s_meta(FILE *f, const struct s_k8s *k, const char *name, const char *host)
{
    fprintf(f, "metadata:\n  name: %s\n", name);
    if (k->ns)
        fprintf(f, "  namespace: %s\n", k->ns);
    fprintf(f,
            "  labels:\n    app.kubernetes.io/name: gotflow\n    app.kubernetes.io/instance: %s\n",
            k->name);
    if (host)
        fprintf(f, "    gotflow.dev/host: %s\n", host);
}

/* Each line of `text` indented by `indent` spaces: the body of a block literal. */
static void s_block(FILE *f, const char *text, int indent)
{
    while (*text) {
        size_t n = strcspn(text, "\n");
        fprintf(f, "%*s%.*s\n", n ? indent : 0, "", (int)n, text);
        text += n + (text[n] == '\n');
    }
}

static int s_selectors(FILE *f, const struct s_k8s *k, const char *host, int gpus)
{
    int any = 0, gpu_key = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < k->n_selectors; i++) {
            const char *s = k->selector[i], *colon = strchr(s, ':'), *eq = strchr(s, '=');
            if (colon && colon < eq) {
                if (strncmp(s, host, (size_t)(colon - s)) != 0 ||
                    strlen(host) != (size_t)(colon - s))
                    continue;
                s = colon + 1;
                eq = strchr(s, '=');
            }
            if (strncmp(s, "nvidia.com/gpu.present=", 23) == 0)
                gpu_key = 1;
            if (pass == 1) {
                if (!any++)
                    fprintf(f, "      nodeSelector:\n");
                fprintf(f, "        %.*s: \"%s\"\n", (int)(eq - s), s, eq + 1);
            }
        }
    if (gpus > 0 && !gpu_key) {
        if (!any++)
            fprintf(f, "      nodeSelector:\n");
        fprintf(f, "        nvidia.com/gpu.present: \"true\"\n");
    }
    return 0;
}

/* The tcp ports host `h` binds: inlet and tap of every replica placed there. */
static int s_host_ports(const gf_graph_t *g, int h)
{
    int n = 0;
    for (int s = 0; s < g->n_stages; s++)
        for (int r = 0; r < g->stages[s].replicas; r++)
            n += gf_graph_replica_host(g, s, r) == h;
    return 2 * n;
}

static int s_write_host(const struct s_k8s *k, const gf_graph_t *g, int h)
{
    const struct gf_host *host = &g->hosts[h];
    char label[GF_GRAPH_NAME_MAX], obj[2 * GF_GRAPH_NAME_MAX + 2], file[3 * GF_GRAPH_NAME_MAX];
    s_label(host->name, label, sizeof label);
    snprintf(obj, sizeof obj, "%s-%s", k->name, label);
    int gpus = gf_deploy_host_gpus(g, h), n_ports = s_host_ports(g, h);
    int gw = gf_deploy_gateway_host(g) == h;
    int grace = (g->supervisor.drain_timeout_ms + g->supervisor.stop_timeout_ms) / 1000 + 10;

    snprintf(file, sizeof file, "service-%s.yaml", label);
    FILE *f = s_open(k, file, 0644);
    if (!f)
        return 1;
    fprintf(f,
            "# host '%s': a headless Service, so the pod has the stable DNS name %s-0.%s,\n"
            "# the host's address in the graph (published before the pod is ready: the\n"
            "# replicas bind it at start)\n",
            host->name, obj, obj);
    fprintf(f, "apiVersion: v1\nkind: Service\n");
    s_meta(f, k, obj, host->name);
    fprintf(f,
            "spec:\n  clusterIP: None\n  publishNotReadyAddresses: true\n  selector:\n"
            "    app.kubernetes.io/instance: %s\n    gotflow.dev/host: %s\n  ports:\n",
            k->name, host->name);
    for (int p = 0; p < n_ports; p++)
        fprintf(f, "    - {name: %s-%d, port: %d, protocol: TCP}\n", p % 2 ? "tap" : "in", p / 2,
                host->port_base + p);
    if (s_close(f))
        return 1;

    snprintf(file, sizeof file, "statefulset-%s.yaml", label);
    if (!(f = s_open(k, file, 0644)))
        return 1;
    fprintf(f, "# host '%s': one pod running 'gotflow run --host %s'\n", host->name, host->name);
    fprintf(f, "apiVersion: apps/v1\nkind: StatefulSet\n");
    s_meta(f, k, obj, host->name);
    fprintf(f,
            "spec:\n  serviceName: %s\n  replicas: 1\n  podManagementPolicy: Parallel\n"
            "  selector:\n    matchLabels:\n      app.kubernetes.io/instance: %s\n"
            "      gotflow.dev/host: %s\n  template:\n    metadata:\n      labels:\n"
            "        app.kubernetes.io/name: gotflow\n        app.kubernetes.io/instance: %s\n"
            "        gotflow.dev/host: %s\n    spec:\n"
            "      terminationGracePeriodSeconds: %d\n",
            obj, k->name, host->name, k->name, host->name, grace);
    s_selectors(f, k, host->name, gpus);
    fprintf(f,
            "      securityContext: {runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000}\n"
            "      containers:\n        - name: gotflow\n          image: \"%s\"\n"
            "          workingDir: %s\n"
            "          command: [gotflow, run, %s/graph.yaml, --host, \"%s\", --key, "
            "\"%s/keys/%s.key\", --run-dir, \"%s/%s\"]\n",
            k->image, S_WORK, S_ETC, host->name, S_ETC, host->name, S_RUN, host->name);
    fprintf(f, "          ports:\n");
    for (int p = 0; p < n_ports; p++)
        fprintf(f, "            - {name: %s-%d, containerPort: %d, protocol: TCP}\n",
                p % 2 ? "tap" : "in", p / 2, host->port_base + p);
    if (gw)
        fprintf(f, "            - {name: gateway, containerPort: %d, protocol: TCP}\n",
                k->gateway_port);
    if (gpus)
        fprintf(f, "          resources:\n            limits:\n              nvidia.com/gpu: %d\n",
                gpus);
    fprintf(f,
            "          readinessProbe:\n            exec:\n              command: [gotflow, "
            "status, \"%s/%s\", --wait-ready, --timeout, \"5\"]\n"
            "            periodSeconds: 10\n            timeoutSeconds: 10\n"
            "          livenessProbe:\n            exec:\n              command: [gotflow, status, "
            "\"%s/%s\", --timeout, \"5\"]\n"
            "            initialDelaySeconds: 60\n            periodSeconds: 20\n"
            "            timeoutSeconds: 10\n            failureThreshold: 3\n",
            S_RUN, host->name, S_RUN, host->name);
    fprintf(f,
            "          volumeMounts:\n"
            "            - {name: graph, mountPath: %s/graph.yaml, subPath: graph.yaml, "
            "readOnly: true}\n"
            "            - {name: keys, mountPath: %s/keys, readOnly: true}\n"
            "            - {name: run, mountPath: %s}\n",
            S_ETC, S_ETC, S_RUN);
    if (k->model_claim && g->model[0])
        fprintf(f, "            - {name: model, mountPath: \"%s%s%s\", readOnly: true}\n",
                g->model[0] == '/' ? "" : S_WORK, g->model[0] == '/' ? "" : "/", g->model);
    fprintf(f,
            "      volumes:\n        - {name: graph, configMap: {name: %s-graph}}\n"
            "        - {name: keys, secret: {secretName: %s-keys, defaultMode: 288}}  # 0440\n"
            "        - {name: run, emptyDir: {medium: Memory}}\n",
            k->name, k->name);
    if (k->model_claim && g->model[0])
        fprintf(f,
                "        - {name: model, persistentVolumeClaim: {claimName: \"%s\", readOnly: "
                "true}}\n",
                k->model_claim);
    return s_close(f);
}

static int s_write_all(struct s_k8s *k, const gf_graph_t *g, const char *text,
                       char pubs[][GF_KEY_Z85], char secs[][GF_KEY_Z85], int insecure)
{
    FILE *f = s_open(k, "configmap-graph.yaml", 0644);
    if (!f)
        return 1;
    char obj[GF_GRAPH_NAME_MAX + 8];
    snprintf(obj, sizeof obj, "%s-graph", k->name);
    fprintf(f,
            "# the graph every pod loads: hosts' addresses are the pods' DNS names, their\n"
            "# curve_public the keys in %s-keys, the gateway bound on tcp port %d\n",
            k->name, k->gateway_port);
    fprintf(f, "apiVersion: v1\nkind: ConfigMap\n");
    s_meta(f, k, obj, NULL);
    fprintf(f, "data:\n  graph.yaml: |\n");
    s_block(f, text, 4);
    if (s_close(f))
        return 1;

    if (!(f = s_open(k, "secret-keys.yaml", 0600)))
        return 1;
    snprintf(obj, sizeof obj, "%s-keys", k->name);
    fprintf(f, "# one CURVE key pair per graph host, as 'gotflow keygen' writes them; a client of\n"
               "# the gateway (gotflow submit with GOTFLOW_KEY_FILE) uses one of them\n");
    fprintf(f, "apiVersion: v1\nkind: Secret\ntype: Opaque\n");
    s_meta(f, k, obj, NULL);
    fprintf(f, "stringData:\n");
    for (int h = 0; h < g->n_hosts && !insecure; h++)
        fprintf(f, "  %s.key: |\n    public: %s\n    secret: %s\n", g->hosts[h].name, pubs[h],
                secs[h]);
    if (insecure)
        fprintf(f, "  none: \"the graph says security: none\"\n");
    if (s_close(f))
        return 1;

    for (int h = 0; h < g->n_hosts; h++)
        if (s_write_host(k, g, h))
            return 1;

    if (!(f = s_open(k, "service-gateway.yaml", 0644)))
        return 1;
    const struct gf_host *gh = &g->hosts[gf_deploy_gateway_host(g)];
    snprintf(obj, sizeof obj, "%s-gateway", k->name);
    fprintf(f,
            "# clients reach the gateway (on host '%s') here: tcp://%s:%d, under CURVE with a\n"
            "# host's key\n",
            gh->name, obj, k->gateway_port);
    fprintf(f, "apiVersion: v1\nkind: Service\n");
    s_meta(f, k, obj, NULL);
    fprintf(f,
            "spec:\n  type: ClusterIP\n  selector:\n    app.kubernetes.io/instance: %s\n"
            "    gotflow.dev/host: %s\n  ports:\n"
            "    - {name: gateway, port: %d, targetPort: %d, protocol: TCP}\n",
            k->name, gh->name, k->gateway_port, k->gateway_port);
    return s_close(f);
}

int gf_deploy_k8s(int argc, char **argv)
{
    struct s_k8s k = {.image = "gotflow:latest", .gateway_port = 7000};
    struct gf_opt_list selectors = {k.selector, 0};
    const char *out = NULL;
    const struct gf_opt opts[] = {
        {"out", 'o', GF_OPT_STRING, &out, 0, 0, "DIR",
         "where to write (created; must not hold manifests already)"},
        {"image", 0, GF_OPT_STRING, &k.image, 0, 0, "IMG",
         "container image with gotflow (default gotflow:latest; built\n"
         "by tools/deploy/Dockerfile)"},
        {"namespace", 0, GF_OPT_STRING, &k.ns, 0, 0, "NS",
         "metadata.namespace of every object (default: kubectl's)"},
        {"node-selector", 0, GF_OPT_LIST, &selectors, 0, S_MAX_SELECTORS, "[HOST:]KEY=VALUE",
         "a node label every pod (or HOST's pod) must carry; repeatable.\n"
         "Pods with GPUs also get nvidia.com/gpu.present=true unless a\n"
         "selector names that key"},
        {"gateway-port", 0, GF_OPT_INT, &k.gateway_port, 1, 65535, "N",
         "the gateway's tcp port (default 7000)"},
        {"model-claim", 0, GF_OPT_STRING, &k.model_claim, 0, 0, "CLAIM",
         "mount the PersistentVolumeClaim CLAIM (read-only) where the\n"
         "graph's model: points; default: the model is in the image"},
        {0}};
    const struct gf_opts spec = {"gotflow deploy k8s", s_head, opts, s_tail};
    int first = gf_opts_parse(&spec, argc, argv);
    if (first < 0)
        return gf_opts_status(first);
    k.n_selectors = selectors.n;
    for (int i = 0; i < k.n_selectors; i++)
        if (!strchr(k.selector[i], '=')) {
            fprintf(stderr,
                    "gotflow deploy k8s: --node-selector wants [HOST:]KEY=VALUE, got '%s'\n",
                    k.selector[i]);
            return 2;
        }
    if (first != argc - 1) {
        gf_opts_usage(&spec, stderr);
        return 2;
    }
    const char *path = argv[first];
    for (const char *p = k.image; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) {
            fprintf(stderr, "gotflow deploy k8s: --image '%s' has a character images do not\n",
                    k.image);
            return 2;
        }
    char names[GF_GRAPH_MAX_HOSTS][GF_GRAPH_NAME_MAX];
    int insecure = 0, n = gf_deploy_host_names(path, names, GF_GRAPH_MAX_HOSTS, &insecure);
    if (n < 0)
        return 2;
    static char pubs[GF_GRAPH_MAX_HOSTS][GF_KEY_Z85], secs[GF_GRAPH_MAX_HOSTS][GF_KEY_Z85];
    static char addrs[GF_GRAPH_MAX_HOSTS][4 * GF_GRAPH_NAME_MAX + 8];
    struct gf_deploy_fill fill = {.n = n};
    char *text = NULL, bind[64];
    gf_graph_t *g = NULL;
    for (int i = 0; i < n; i++) {
        fill.host[i] = names[i];
        if (!insecure) {
            if (gf_deploy_keypair(NULL, pubs[i], secs[i]) != 0)
                return 1;
            fill.curve_public[i] = pubs[i];
        }
    }
    /* a first pass with placeholder addresses gives the graph's name, which the addresses use */
    if (gf_deploy_resolve(path, &fill, &text, &g) != 0)
        return 2;
    s_label(g->name, k.name, sizeof k.name);
    free(text);
    gf_graph_destroy(&g);
    for (int i = 0; i < n; i++) {
        char label[GF_GRAPH_NAME_MAX];
        s_label(names[i], label, sizeof label);
        snprintf(addrs[i], sizeof addrs[i], "%s-%s-0.%s-%s", k.name, label, k.name, label);
        fill.address[i] = addrs[i];
    }
    snprintf(bind, sizeof bind, "tcp://*:%d", k.gateway_port);
    fill.gateway_bind = bind;
    if (gf_deploy_resolve(path, &fill, &text, &g) != 0)
        return 2;
    if (!out) {
        snprintf(k.dir, sizeof k.dir, "k8s-%s", k.name);
        out = k.dir;
    } else {
        snprintf(k.dir, sizeof k.dir, "%s", out);
    }
    int rc = 1;
    if (mkdir(k.dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "gotflow deploy k8s: cannot create '%s': %s\n", k.dir, strerror(errno));
        goto out;
    }
    rc = s_write_all(&k, g, text, pubs, secs, insecure);
    if (rc == 0)
        printf("wrote the manifests of '%s' (%d host%s) into '%s'; apply with 'kubectl apply -f "
               "%s'\n",
               g->name, g->n_hosts, g->n_hosts == 1 ? "" : "s", k.dir, k.dir);
out:
    free(text);
    gf_graph_destroy(&g);
    return rc;
}
