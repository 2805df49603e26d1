/* fuzz_graph.c — libFuzzer target for the YAML graph loader: any text either loads into a
 * graph that passes its own checks again, or is refused with positioned messages. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/graph.h"

static int s_any_kind(const char *kind, void *ctx)
{
    (void)ctx;
    return strncmp(kind, "bad", 3) != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gf_graph_t *g = NULL;
    char err[4096];
    if (gf_graph_parse((const char *)data, size, "fuzz.yaml", s_any_kind, NULL, &g, err,
                       sizeof err) != 0) {
        if (err[0] && strncmp(err, "fuzz.yaml:", 10) != 0)
            abort(); /* every message names the file and a position */
        return 0;
    }
    int down[GF_GRAPH_MAX_STAGES];
    for (int s = 0; s < g->n_stages; s++) {
        if (g->stages[s].replicas < 1 || g->stages[s].credits < g->stages[s].batch)
            abort();
        gf_graph_downstream(g, s, down, GF_GRAPH_MAX_STAGES);
        gf_graph_upstream(g, s, down, GF_GRAPH_MAX_STAGES);
    }
    gf_graph_destroy(&g);
    return 0;
}
