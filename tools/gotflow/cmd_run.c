/* cmd_run.c — `gotflow run PIPELINE.yaml [--host NAME] [--run-dir DIR]`. */
#include <getopt.h>
#include <stdio.h>

#include "cmd.h"
#include "core/log.h"
#include "supervisor.h"

static const char s_usage[] =
    "usage: gotflow run PIPELINE.yaml [--host NAME] [--run-dir DIR] [--key FILE] [--quiet]\n"
    "\n"
    "Validates the graph, starts one process per stage replica and supervises them: a replica\n"
    "that dies is restarted with back-off, one that misses heartbeats is killed and restarted.\n"
    "SIGINT or SIGTERM drains (no new requests; those in flight finish), then stops the stages\n"
    "in order; a second signal stops at once.\n"
    "\n"
    "  --host NAME     start only the replicas the graph places on host NAME\n"
    "  --run-dir DIR   run directory (default: $XDG_RUNTIME_DIR/gotflow/NAME or\n"
    "                  /tmp/gotflow-UID/NAME; GOTFLOW_RUN_ROOT overrides the parent)\n"
    "  --quiet         log only problems\n"
    "  --key FILE      this host's CURVE key file (from 'gotflow keygen'), needed when the "
    "graph's\n"
    "                  hosts carry curve_public keys; default $GOTFLOW_KEY_FILE\n"
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
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'}, {"run-dir", required_argument, NULL, 'd'},
        {"quiet", no_argument, NULL, 'q'},      {"key", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
    struct gf_supervise_opts o = {0};
    int c;
    while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
        switch (c) {
        case 'H':
            o.host = optarg;
            break;
        case 'd':
            o.run_dir = optarg;
            break;
        case 'q':
            o.quiet = 1;
            break;
        case 'k':
            o.key_file = optarg;
            break;
        case 'h':
            fputs(s_usage, stdout);
            return 0;
        default:
            fputs(s_usage, stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        fputs(s_usage, stderr);
        return 2;
    }
    o.graph_path = argv[optind];
    if (o.quiet)
        gf_log_init("gotflow", GF_LOG_WARN);
    return gf_supervise(&o);
}
