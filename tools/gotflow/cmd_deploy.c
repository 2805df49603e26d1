/* cmd_deploy.c — `gotflow deploy slurm|k8s|resolve PIPELINE.yaml ...`. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "core/opts.h"
#include "deploy.h"
#include "engine/security.h"

static const char s_usage[] =
    "usage: gotflow deploy slurm PIPELINE.yaml [options]   a Slurm batch script (or --submit it)\n"
    "       gotflow deploy k8s PIPELINE.yaml [options]     Kubernetes manifests\n"
    "       gotflow deploy resolve PIPELINE.yaml [options] the graph with hosts filled in\n"
    "\n"
    "gotflow does not schedule: Slurm or Kubernetes allocates the nodes and GPUs and starts\n"
    "'gotflow run PIPELINE --host NAME' for each host of the graph. deploy writes what they need\n"
    "from the graph. Each graph host becomes one Slurm task or one Kubernetes pod, with the GPUs\n"
    "its stages' 'device: cuda:N' ask for; the hosts' addresses are filled in (at job start from\n"
    "the node list; the Services' DNS names), a CURVE key pair is made for every host and the\n"
    "gateway binds tcp so clients elsewhere reach it. A graph without 'hosts:' is one host,\n"
    "'" GF_DEPLOY_LONE_HOST "'; hosts may be listed without addresses. docs/deploy.md says what "
    "each\n"
    "generated line means. 'gotflow deploy slurm --help' and 'gotflow deploy k8s --help' list\n"
    "their options.\n"
    "\n"
    "resolve options (what a job runs at start):\n";
static const char s_tail[] =
    "\n"
    "exit status: 0 written, 1 failure (a file, a key), 2 usage error or invalid graph\n";

/* resolve's options: file-level, so that `gotflow deploy --help` lists them too */
static const char *s_addr_args[GF_GRAPH_MAX_HOSTS];
static struct gf_opt_list s_addrs = {s_addr_args, 0};
static const char *s_key_dir, *s_out, *s_gateway_bind;
static const struct gf_opt s_resolve_opts[] = {
    {"address", 0, GF_OPT_LIST, &s_addrs, 0, GF_GRAPH_MAX_HOSTS, "HOST=ADDR",
     "the address of a graph host (repeatable)"},
    {"key-dir", 0, GF_OPT_STRING, &s_key_dir, 0, 0, "DIR",
     "CURVE keys: DIR/HOST.key, made (mode 0600) when missing; each host's\n"
     "public key goes into the graph as its curve_public"},
    {"gateway-bind", 0, GF_OPT_STRING, &s_gateway_bind, 0, 0, "EP",
     "the gateway's bind endpoint (e.g. tcp://10.0.0.1:7000)"},
    {"out", 'o', GF_OPT_STRING, &s_out, 0, 0, "FILE",
     "write the graph to FILE (mode 0600) instead of stdout"},
    {0}};
static const struct gf_opts s_resolve_spec = {"gotflow deploy resolve", s_usage, s_resolve_opts,
                                              s_tail};

static int s_resolve(int argc, char **argv)
{
    int first = gf_opts_parse(&s_resolve_spec, argc, argv);
    if (first < 0)
        return gf_opts_status(first);
    struct gf_deploy_fill fill = {.gateway_bind = s_gateway_bind};
    const char *key_dir = s_key_dir, *out = s_out, **addr_args = s_addr_args;
    const int n_addr = s_addrs.n;
    for (int j = 0; j < n_addr; j++)
        if (!strchr(addr_args[j], '=')) {
            fprintf(stderr, "gotflow deploy resolve: --address wants HOST=ADDR, got '%s'\n",
                    addr_args[j]);
            return 2;
        }
    if (first != argc - 1) {
        gf_opts_usage(&s_resolve_spec, stderr);
        return 2;
    }
    const char *path = argv[first];
    char names[GF_GRAPH_MAX_HOSTS][GF_GRAPH_NAME_MAX];
    static char pubs[GF_GRAPH_MAX_HOSTS][GF_KEY_Z85];
    int insecure = 0, n = gf_deploy_host_names(path, names, GF_GRAPH_MAX_HOSTS, &insecure);
    if (n < 0)
        return 2;
    if (key_dir && !insecure && mkdir(key_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "gotflow deploy resolve: cannot create '%s': %s\n", key_dir,
                strerror(errno));
        return 1;
    }
    for (int i = 0; i < n; i++) {
        fill.host[i] = names[i];
        for (int j = 0; j < n_addr; j++) {
            size_t len = strcspn(addr_args[j], "=");
            if (strlen(names[i]) == len && strncmp(addr_args[j], names[i], len) == 0)
                fill.address[i] = addr_args[j] + len + 1;
        }
        if (key_dir && !insecure) {
            char key[4096], sec[GF_KEY_Z85];
            snprintf(key, sizeof key, "%s/%s.key", key_dir, names[i]);
            if (access(key, F_OK) != 0 && gf_deploy_keypair(key, pubs[i], sec) != 0)
                return 1;
            if (gf_key_file_read(key, pubs[i], sec) != 0)
                return 1;
            fill.curve_public[i] = pubs[i];
        }
    }
    for (int j = 0; j < n_addr; j++) {
        size_t len = strcspn(addr_args[j], "="), i;
        for (i = 0; i < (size_t)n; i++)
            if (strlen(names[i]) == len && strncmp(addr_args[j], names[i], len) == 0)
                break;
        if (i == (size_t)n) {
            fprintf(stderr, "gotflow deploy resolve: --address '%s': '%s' has no host '%.*s'\n",
                    addr_args[j], path, (int)len, addr_args[j]);
            return 2;
        }
    }
    fill.n = n;
    char *text = NULL;
    if (gf_deploy_resolve(path, &fill, &text, NULL) != 0)
        return 2;
    FILE *f = stdout;
    if (out) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!f) {
            fprintf(stderr, "gotflow deploy resolve: cannot write '%s': %s\n", out,
                    strerror(errno));
            free(text);
            return 1;
        }
    }
    int rc = fputs(text, f) < 0 ? 1 : 0;
    if (out && fclose(f) != 0)
        rc = 1;
    free(text);
    return rc;
}

int cmd_deploy(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        gf_opts_usage(&s_resolve_spec, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "slurm") == 0)
        return gf_deploy_slurm(argc - 1, argv + 1);
    if (strcmp(argv[1], "k8s") == 0 || strcmp(argv[1], "kubernetes") == 0)
        return gf_deploy_k8s(argc - 1, argv + 1);
    if (strcmp(argv[1], "resolve") == 0)
        return s_resolve(argc - 1, argv + 1);
    fprintf(stderr, "gotflow deploy: unknown target '%s' (slurm, k8s or resolve)\n\n", argv[1]);
    gf_opts_usage(&s_resolve_spec, stderr);
    return 2;
}
