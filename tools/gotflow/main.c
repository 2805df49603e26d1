/* main.c — `gotflow <command> ...`: dispatch from the command table. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "core/log.h"

static const struct gf_cmd s_cmds[] = {
    {"decode-image", cmd_decode_image, "decode image token codes into PNG files"},
    {"generate", cmd_generate, "generate pictures for a prompt through a pipeline"},
    {"serve", cmd_serve, "serve a pipeline over HTTP (OpenAI images API, web console)"},
    {"run", cmd_run, "start a pipeline from its YAML graph and supervise it"},
    {"check", cmd_check, "validate pipeline YAML graphs without starting them"},
    {"submit", cmd_submit, "send requests to a running pipeline and print the results"},
    {"status", cmd_status, "show each replica's state, credits, queue depth and throughput"},
    {"tap", cmd_tap, "print (or record) the frames a stage emits"},
    {"replay", cmd_replay, "re-inject recorded frames into a stage of a running pipeline"},
    {"deploy", cmd_deploy, "write a Slurm batch script or Kubernetes manifests for a pipeline"},
    {"keygen", cmd_keygen, "make a CURVE key pair for a host of a multi-host pipeline"},
    {"layout", cmd_layout, "print and draw the planned layout of a reasoning chain"},
    {"tokenize", cmd_tokenize, "text to token ids and back (JSON lines)"},
    {"version", cmd_version, "print the gotflow version"},
    {"bench", cmd_bench, "measure model throughput (decode, prefill)"},
};

static void s_usage(FILE *f)
{
    fprintf(f, "usage: gotflow <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        fprintf(f, "  %-10s %s\n", s_cmds[i].name, s_cmds[i].summary);
    fprintf(f, "\n'gotflow <command> --help' describes a command.\n");
}

int gf_cmd_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        s_usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        s_usage(stdout);
        return 0;
    }
    gf_log_init("gotflow", GF_LOG_INFO);
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        if (strcmp(argv[1], s_cmds[i].name) == 0)
            return s_cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "gotflow: unknown command '%s'\n\n", argv[1]);
    s_usage(stderr);
    return 2;
}
