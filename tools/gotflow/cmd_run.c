/* cmd_run.c — `gotflow run PIPELINE.yaml [--host NAME] [--run-dir DIR]`. */
#include <stdio.h>

#include "cmd.h"
#include "core/log.h"
#include "core/opts.h"
#include "supervisor.h"

static const char s_head[] =
    "usage: gotflow run PIPELINE.yaml [--host NAME] [--run-dir DIR] [--key FILE] [--quiet]\n"
    "\n"
    "Validates the graph, starts one process per stage replica and supervises them: a replica\n"
    "that dies is restarted with back-off, one that misses heartbeats is killed and restarted.\n"
    "SIGINT or SIGTERM drains (no new requests; those in flight finish), then stops the stages\n"
    "in order; a second signal stops at once.\n"
    "\n";
static const char s_tail[] =
    "\n"
    "The run directory (mode 0700) holds graph.yaml, the sockets, and each replica's log and pid.\n"
    "\n"
    "exit status:\n"
    "  0  stopped on request after every in-flight request finished\n"
    "  1  the supervisor itself failed (run directory, sockets)\n"
    "  2  usage error or invalid graph (nothing was started)\n"
    "  3  stopped on request, but the drain timed out or was cut short\n"
    "  4  a stage could not start, or failed more than supervisor.max_restarts times in a row\n";

int cmd_run(int argc, char **argv)
{
    struct gf_supervise_opts o = {0};
    const struct gf_opt opts[] = {
        {"host", 0, GF_OPT_STRING, &o.host, 0, 0, "NAME",
         "start only the replicas the graph places on host NAME"},
        {"run-dir", 0, GF_OPT_STRING, &o.run_dir, 0, 0, "DIR",
         "run directory (default: $XDG_RUNTIME_DIR/gotflow/NAME or\n"
         "/tmp/gotflow-UID/NAME; GOTFLOW_RUN_ROOT overrides the parent)"},
        {"quiet", 'q', GF_OPT_FLAG, &o.quiet, 0, 0, NULL, "log only problems"},
        {"key", 0, GF_OPT_STRING, &o.key_file, 0, 0, "FILE",
         "this host's CURVE key file (from 'gotflow keygen'), needed when the\n"
         "graph's hosts carry curve_public keys; default $GOTFLOW_KEY_FILE"},
        {0}};
    const struct gf_opts spec = {"gotflow run", s_head, opts, s_tail};
    int first = gf_opts_parse(&spec, argc, argv);
    if (first < 0)
        return gf_opts_status(first);
    if (first != argc - 1) {
        gf_opts_usage(&spec, stderr);
        return 2;
    }
    o.graph_path = argv[first];
    if (o.quiet)
        gf_log_init("gotflow", GF_LOG_WARN);
    return gf_supervise(&o);
}
