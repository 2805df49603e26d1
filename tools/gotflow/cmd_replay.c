/* cmd_replay.c — `gotflow replay FILE STAGE`: feed recorded frames into a running stage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cmd.h"
#include "core/error.h"
#include "core/opts.h"
#include "engine/edge.h"
#include "engine/frame.h"
#include "record.h"
#include "util.h"

static const char s_head[] =
    "usage: gotflow replay FILE STAGE [--run PIPELINE|RUN] [--kind KIND] [--timeout SEC]\n"
    "\n"
    "Sends the frames recorded by `gotflow tap --record FILE` into STAGE of a running pipeline,\n"
    "as an upstream stage would: respecting the replicas' credits, least loaded first. The\n"
    "pipeline is the one recorded in FILE unless --run names another. Replayed frames keep their\n"
    "request ids; watch their effect with `gotflow tap` (the gateway has no client for them).\n"
    "\n";
static const char s_tail[] =
    "\n"
    "On a graph secured with CURVE, GOTFLOW_KEY_FILE names a host's key file.\n";

int cmd_replay(int argc, char **argv)
{
    const char *run = NULL, *kind = NULL, *host = NULL;
    long timeout_s = 30;
    int rc = 1;
    const struct gf_opt opts[] = {
        {"run", 0, GF_OPT_STRING, &run, 0, 0, "P",
         "the pipeline (graph file or run directory) to replay into"},
        {"kind", 0, GF_OPT_STRING, &kind, 0, 0, "KIND", "only the recorded frames of this kind"},
        {"timeout", 0, GF_OPT_LONG, &timeout_s, 1, 1 << 20, "SEC",
         "give up when the stage grants no credit for SEC seconds (default 30)"},
        {"host", 0, GF_OPT_STRING, &host, 0, 0, "NAME", "the run of `gotflow run --host NAME`"},
        {0}};
    const struct gf_opts spec = {"gotflow replay", s_head, opts, s_tail};
    int first = gf_opts_parse(&spec, argc, argv);
    if (first < 0)
        return gf_opts_status(first);
    if (first != argc - 2) {
        gf_opts_usage(&spec, stderr);
        return 2;
    }
    const char *path = argv[first], *stage = argv[first + 1];
    FILE *f = fopen(path, "rb");
    char recorded_run[GF_PATH_MAX], run_dir[GF_PATH_MAX];
    if (!f || gf_record_read_header(f, recorded_run, sizeof recorded_run) != 0) {
        fprintf(stderr, "gotflow replay: '%s' is not a gotflow record file\n", path);
        if (f)
            fclose(f);
        return 1;
    }
    gf_graph_t *g = NULL;
    if (gf_cli_open_run(run ? run : recorded_run, host, run_dir, &g) != 0) {
        fclose(f);
        return 1;
    }
    int si = gf_graph_stage(g, stage);
    if (si < 0) {
        fprintf(stderr, "gotflow replay: no stage '%s' in pipeline '%s'\n", stage, g->name);
        goto out_graph;
    }
    char eps[GF_GRAPH_MAX_REPLICAS][GF_PATH_MAX / 16], *ptrs[GF_GRAPH_MAX_REPLICAS];
    const char *keys[GF_GRAPH_MAX_REPLICAS];
    for (int r = 0; r < g->stages[si].replicas; r++) {
        gf_plan_inlet(g, run_dir, si, r, 0, eps[r], sizeof eps[r]);
        ptrs[r] = eps[r];
        keys[r] = gf_plan_host_key(g, si, r);
    }
    void *ctx = zmq_ctx_new();
    struct gf_security sec;
    if (gf_security_init(&sec, ctx, g, getenv("GOTFLOW_KEY_FILE"), 0) != 0)
        goto out_ctx;
    gf_outlet_t *out =
        gf_outlet_new(ctx, stage, ptrs, g->stages[si].replicas, 0, g->max_frame_bytes, &sec, keys);
    if (!out)
        goto out_ctx;
    struct gf_record r = {0};
    long n = 0;
    int got;
    char id[GF_FRAME_ID_MAX];
    while ((got = gf_record_read(f, &r, (size_t)g->max_frame_bytes * 2)) == 1) {
        if (kind) {
            const char *k = strchr(r.topic, '.');
            if (!k || strncmp(k + 1, kind, strlen(kind)) != 0 || k[1 + strlen(kind)] != '.')
                continue;
        }
        gf_frame_t *fr = NULL;
        uint32_t attempt = 0;
        snprintf(id, sizeof id, "replay");
        if (gf_frame_decode(r.frame, r.len, 0, &fr, NULL, 0, NULL) == 0) {
            snprintf(id, sizeof id, "%s", fr->id);
            attempt = fr->n;
        }
        gf_frame_destroy(&fr);
        gf_outlet_send(out, id, attempt, r.frame, r.len);
        n++;
    }
    free(r.frame);
    if (got < 0)
        fprintf(stderr, "gotflow replay: '%s' is damaged after %ld frames; replaying those\n", path,
                n);
    /* serve credits until everything left */
    int64_t last = gf_mono_ms();
    int queued = gf_outlet_queued(out);
    while (gf_outlet_queued(out) > 0) {
        zmq_pollitem_t items[GF_GRAPH_MAX_REPLICAS];
        for (int k = 0; k < gf_outlet_size(out); k++)
            items[k] = (zmq_pollitem_t){gf_outlet_socket(out, k), 0, ZMQ_POLLIN, 0};
        zmq_poll(items, gf_outlet_size(out), 50);
        for (int k = 0; k < gf_outlet_size(out); k++)
            if (items[k].revents & ZMQ_POLLIN)
                gf_outlet_on_readable(out, k);
        gf_outlet_service(out, gf_mono_ms());
        if (gf_outlet_queued(out) != queued) {
            queued = gf_outlet_queued(out);
            last = gf_mono_ms();
        } else if (gf_mono_ms() - last > timeout_s * 1000) {
            fprintf(stderr,
                    "gotflow replay: stage '%s' granted no credit for %ld s; %d frames "
                    "not sent\n",
                    stage, timeout_s, queued);
            goto out_outlet;
        }
    }
    printf("replayed %ld frames into '%s'\n", n, stage);
    rc = 0;
out_outlet:
    gf_outlet_destroy(&out);
out_ctx:
    zmq_ctx_term(ctx);
out_graph:
    gf_graph_destroy(&g);
    fclose(f);
    return rc;
}
