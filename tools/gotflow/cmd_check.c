/* cmd_check.c — `gotflow check PIPELINE.yaml...`: validate without starting anything. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "core/opts.h"
#include "engine/graph.h"
#include "engine/plan.h"

static const char s_usage[] =
    "usage: gotflow check PIPELINE.yaml...\n"
    "\n"
    "Validates each pipeline graph as 'gotflow run' would and prints either a summary or every\n"
    "problem as FILE:LINE:COLUMN: MESSAGE. A stage kind is known when its program gotflow-KIND\n"
    "is found in $GOTFLOW_STAGE_PATH or beside gotflow.\n"
    "\n"
    "exit status: 0 all valid, 1 some invalid, 2 usage error\n";

int cmd_check(int argc, char **argv)
{
    const struct gf_opt opts[] = {{0}};
    const struct gf_opts spec = {"gotflow check", s_usage, opts, NULL};
    int first = gf_opts_parse(&spec, argc, argv);
    if (first < 0)
        return gf_opts_status(first);
    if (first == argc) {
        gf_opts_usage(&spec, stderr);
        return 2;
    }
    int bad = 0;
    for (int i = first; i < argc; i++) {
        gf_graph_t *g = NULL;
        char err[8192];
        if (gf_graph_load(argv[i], gf_plan_kind_known, NULL, &g, err, sizeof err) != 0) {
            fprintf(stderr, "%s%s", err, err[0] && err[strlen(err) - 1] != '\n' ? "\n" : "");
            bad = 1;
            continue;
        }
        int replicas = 0;
        for (int s = 0; s < g->n_stages; s++)
            replicas += g->stages[s].replicas;
        printf("%s: ok: pipeline '%s', %d stages, %d replicas, %d edges, %d hosts\n", argv[i],
               g->name, g->n_stages, replicas, g->n_edges, g->n_hosts);
        gf_graph_destroy(&g);
    }
    return bad;
}
