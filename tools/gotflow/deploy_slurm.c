/* deploy_slurm.c — `gotflow deploy slurm PIPELINE.yaml`: a batch script for one job.
 *
 * One task per graph host, one node each. At start the script fills the hosts' addresses from
 * the job's nodes, makes a key pair per host in the job's directory (0700, keys 0600) and the
 * gateway's endpoint, then starts `gotflow run --host` on every node with srun. scancel signals
 * every process of the job; GOTFLOW_TERM_DRAINS makes that one drain per host. docs/deploy.md.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/opts.h"
#include "core/spawn.h"
#include "deploy.h"
#include "engine/security.h"
#include "util.h"

#define S_MAX_EXTRA 16

static const char s_head[] =
    "usage: gotflow deploy slurm PIPELINE.yaml [--out FILE] [--submit] [options]\n"
    "\n"
    "Writes a Slurm batch script for one job running the pipeline: one node and one task per\n"
    "graph host ('srun --nodes N --ntasks-per-node 1'), '--gres=gpu:G' with G the most GPUs a\n"
    "host's stages ask for (device: cuda:N). At start the job fills the hosts' addresses from its\n"
    "nodes (scontrol show hostnames / NodeAddr), makes a CURVE key pair per host in its job\n"
    "directory (mode 0700; keys 0600), writes the resolved graph there, binds the gateway on\n"
    "its node's address and writes where to reach it: JOBDIR/endpoint (tcp://ADDR:PORT) and\n"
    "JOBDIR/HOST, the run directory of each host, for gotflow submit/status/tap. scancel drains\n"
    "every host (nothing in flight is lost) within the job's KillWait.\n"
    "\n"
    "\n";
static const char s_tail[] =
    "\n"
    "exit status: 0 written (and submitted), 1 failure, 2 usage error or invalid graph\n";

struct s_slurm {
    const char *out, *job_dir, *partition, *time;
    const char *extra[S_MAX_EXTRA];
    int n_extra, submit, gateway_port;
};

/* `s` as one single-quoted shell word. */
static void s_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++)
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    fputc('\'', f);
}

static void s_script(FILE *f, const struct s_slurm *o, const gf_graph_t *g, const char *graph_abs)
{
    int gpus = 0;
    for (int h = 0; h < g->n_hosts; h++)
        if (gf_deploy_host_gpus(g, h) > gpus)
            gpus = gf_deploy_host_gpus(g, h);
    fprintf(f,
            "#!/bin/bash\n# pipeline '%s' as one Slurm job, written by 'gotflow deploy slurm' "
            "(docs/deploy.md)\n",
            g->name);
    fprintf(f,
            "#SBATCH --job-name=gotflow-%s\n#SBATCH --nodes=%d\n#SBATCH --ntasks=%d\n"
            "#SBATCH --ntasks-per-node=1\n",
            g->name, g->n_hosts, g->n_hosts);
    if (gpus)
        fprintf(f, "#SBATCH --gres=gpu:%d\n", gpus);
    if (o->partition)
        fprintf(f, "#SBATCH --partition=%s\n", o->partition);
    if (o->time)
        fprintf(f, "#SBATCH --time=%s\n", o->time);
    for (int i = 0; i < o->n_extra; i++)
        fprintf(f, "#SBATCH %s\n", o->extra[i]);
    fprintf(f, "set -euo pipefail\n");
    fprintf(f, "GRAPH=");
    s_quote(f, graph_abs);
    fprintf(f, "\nHOSTS=(");
    for (int h = 0; h < g->n_hosts; h++) {
        fprintf(f, h ? " " : "");
        s_quote(f, g->hosts[h].name);
    }
    fprintf(f, ")\nGATEWAY_HOST=");
    s_quote(f, g->hosts[gf_deploy_gateway_host(g)].name);
    fprintf(f, "\nGATEWAY_PORT=%d\n", o->gateway_port);
    fprintf(f, "GOTFLOW=${GOTFLOW:-gotflow}\n");
    if (o->job_dir) {
        fprintf(f, "JOB_DIR=");
        s_quote(f, o->job_dir);
        fprintf(f, "\n");
    } else {
        fprintf(f, "JOB_DIR=${GOTFLOW_JOB_DIR:-${SLURM_SUBMIT_DIR:-$PWD}/gotflow-$SLURM_JOB_ID}\n");
    }
    fputs(
        "umask 077\n"
        "mkdir -p \"$JOB_DIR\"\n"
        "chmod 700 \"$JOB_DIR\"\n"
        "mapfile -t NODES < <(scontrol show hostnames \"$SLURM_JOB_NODELIST\")\n"
        "if [ \"${#NODES[@]}\" -lt \"${#HOSTS[@]}\" ]; then\n"
        "    echo \"gotflow: the job has ${#NODES[@]} nodes; the graph needs ${#HOSTS[@]}\" >&2\n"
        "    exit 1\n"
        "fi\n"
        "# graph host i runs on node i; its address is the node's NodeAddr (default: its name)\n"
        "args=() gw_addr=\n"
        "for i in \"${!HOSTS[@]}\"; do\n"
        "    addr=$(scontrol show node \"${NODES[$i]}\" -o | sed -n 's/.* NodeAddr=\\([^ "
        "]*\\).*/\\1/p')\n"
        "    addr=${addr:-${NODES[$i]}}\n"
        "    args+=(--address \"${HOSTS[$i]}=$addr\")\n"
        "    [ \"${HOSTS[$i]}\" = \"$GATEWAY_HOST\" ] && gw_addr=$addr\n"
        "    printf '%s\\n' \"${NODES[$i]}\" >\"$JOB_DIR/${HOSTS[$i]}.node\"\n"
        "done\n"
        "\"$GOTFLOW\" deploy resolve \"$GRAPH\" \"${args[@]}\" --key-dir \"$JOB_DIR/keys\" \\\n"
        "    --gateway-bind \"tcp://$gw_addr:$GATEWAY_PORT\" --out \"$JOB_DIR/graph.yaml\"\n"
        "printf 'tcp://%s:%s\\n' \"$gw_addr\" \"$GATEWAY_PORT\" >\"$JOB_DIR/endpoint\"\n"
        "echo \"gotflow: job $SLURM_JOB_ID: gateway at tcp://$gw_addr:$GATEWAY_PORT; requests:\"\n"
        "echo \"  GOTFLOW_KEY_FILE=$JOB_DIR/keys/$GATEWAY_HOST.key $GOTFLOW submit "
        "$JOB_DIR/$GATEWAY_HOST\"\n"
        "# scancel signals every process of the job: each supervisor drains, its replicas wait\n"
        "export GOTFLOW_TERM_DRAINS=1 GOTFLOW_JOB_DIR=$JOB_DIR GOTFLOW_HOSTS=\"${HOSTS[*]}\"\n"
        "export GOTFLOW_NODES=\"${NODES[*]}\" GOTFLOW_BIN_RUN=$GOTFLOW\n"
        "trap 'echo \"gotflow: job $SLURM_JOB_ID: terminated; draining\"' TERM\n"
        "srun --nodes=\"${#HOSTS[@]}\" --ntasks=\"${#HOSTS[@]}\" --ntasks-per-node=1 "
        "--kill-on-bad-exit=0 \\\n"
        "    bash -c '\n"
        "    trap \":\" TERM\n"
        "    read -r -a hosts <<<\"$GOTFLOW_HOSTS\"; read -r -a nodes <<<\"$GOTFLOW_NODES\"\n"
        "    me=${SLURMD_NODENAME:-$(hostname -s)} host=\n"
        "    for i in \"${!nodes[@]}\"; do [ \"${nodes[$i]}\" = \"$me\" ] && host=${hosts[$i]:-}; "
        "done\n"
        "    host=${host:-${hosts[$SLURM_PROCID]}}\n"
        "    \"$GOTFLOW_BIN_RUN\" run \"$GOTFLOW_JOB_DIR/graph.yaml\" --host \"$host\" \\\n"
        "        --key \"$GOTFLOW_JOB_DIR/keys/$host.key\" --run-dir \"$GOTFLOW_JOB_DIR/$host\" &\n"
        "    sup=$!\n"
        "    while :; do wait $sup; rc=$?; kill -0 $sup 2>/dev/null || break; done\n"
        "    echo $rc >\"$GOTFLOW_JOB_DIR/$host.exit\"\n"
        "    exit $rc' &\n"
        "step=$!\n"
        "while :; do wait $step && rc=0 || rc=$?; kill -0 $step 2>/dev/null || break; done\n"
        "exit $rc\n",
        f);
}

int gf_deploy_slurm(int argc, char **argv)
{
    struct s_slurm o = {.gateway_port = 7000};
    struct gf_opt_list extra = {o.extra, 0};
    const struct gf_opt opts[] = {
        {"out", 'o', GF_OPT_STRING, &o.out, 0, 0, "FILE",
         "the script (default NAME.sbatch; '-' for stdout)"},
        {"submit", 0, GF_OPT_FLAG, &o.submit, 0, 0, NULL, "run 'sbatch FILE' afterwards"},
        {"job-dir", 0, GF_OPT_STRING, &o.job_dir, 0, 0, "DIR",
         "the job directory, on a file system every node and the submitting\n"
         "host share (default $SLURM_SUBMIT_DIR/gotflow-$SLURM_JOB_ID; ipc\n"
         "socket paths must stay short: at most ~70 characters)"},
        {"partition", 0, GF_OPT_STRING, &o.partition, 0, 0, "P", "#SBATCH --partition"},
        {"time", 0, GF_OPT_STRING, &o.time, 0, 0, "T",
         "#SBATCH --time (default none: the partition's)"},
        {"gateway-port", 0, GF_OPT_INT, &o.gateway_port, 1, 65535, "N",
         "the gateway's tcp port (default 7000)"},
        {"sbatch", 0, GF_OPT_LIST, &extra, 0, S_MAX_EXTRA, "ARG",
         "one more #SBATCH line (e.g. --sbatch=--account=lab); repeatable"},
        {0}};
    const struct gf_opts spec = {"gotflow deploy slurm", s_head, opts, s_tail};
    int first = gf_opts_parse(&spec, argc, argv);
    if (first < 0)
        return gf_opts_status(first);
    o.n_extra = extra.n;
    for (int i = 0; i < o.n_extra; i++)
        if (strchr(o.extra[i], '\n')) {
            fprintf(stderr, "gotflow deploy slurm: bad --sbatch '%s'\n", o.extra[i]);
            return 2;
        }
    if (first != argc - 1) {
        gf_opts_usage(&spec, stderr);
        return 2;
    }
    const char *path = argv[first];
    char names[GF_GRAPH_MAX_HOSTS][GF_GRAPH_NAME_MAX], abs_path[PATH_MAX];
    static char pubs[GF_GRAPH_MAX_HOSTS][GF_KEY_Z85];
    char sec[GF_KEY_Z85];
    int insecure = 0, n = gf_deploy_host_names(path, names, GF_GRAPH_MAX_HOSTS, &insecure);
    if (n < 0)
        return 2;
    /* a planning pass: placeholder addresses and throwaway keys; the job makes its own */
    struct gf_deploy_fill fill = {.n = n};
    for (int i = 0; i < n; i++) {
        fill.host[i] = names[i];
        if (!insecure && gf_deploy_keypair(NULL, pubs[i], sec) != 0)
            return 1;
        fill.curve_public[i] = insecure ? NULL : pubs[i];
    }
    char *text = NULL;
    gf_graph_t *g = NULL;
    if (gf_deploy_resolve(path, &fill, &text, &g) != 0)
        return 2;
    free(text);
    if (!realpath(path, abs_path)) {
        fprintf(stderr, "gotflow deploy slurm: '%s': %s\n", path, strerror(errno));
        gf_graph_destroy(&g);
        return 1;
    }
    char out[4096];
    snprintf(out, sizeof out, "%s", o.out ? o.out : "");
    if (!o.out)
        snprintf(out, sizeof out, "%s.sbatch", g->name);
    FILE *f = strcmp(out, "-") == 0 ? stdout : fopen(out, "w");
    if (!f) {
        fprintf(stderr, "gotflow deploy slurm: cannot write '%s': %s\n", out, strerror(errno));
        gf_graph_destroy(&g);
        return 1;
    }
    s_script(f, &o, g, abs_path);
    int bad = ferror(f);
    if (f != stdout) {
        bad |= fclose(f) != 0;
        chmod(out, 0755);
    }
    gf_graph_destroy(&g);
    if (bad) {
        fprintf(stderr, "gotflow deploy slurm: cannot write '%s'\n", out);
        return 1;
    }
    if (!o.submit)
        return 0;
    if (f == stdout) {
        fprintf(stderr, "gotflow deploy slurm: --submit needs --out FILE\n");
        return 2;
    }
    fflush(stdout);
    char *sbatch[] = {"sbatch", (char *)out, NULL};
    const struct gf_spawn_opts so = {.search_path = 1};
    pid_t pid = gf_spawn(sbatch, &so);
    if (pid < 0)
        fprintf(stderr, "gotflow deploy slurm: cannot run sbatch: %s\n", strerror(errno));
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "gotflow deploy slurm: sbatch '%s' failed\n", out);
        return 1;
    }
    return 0;
}
