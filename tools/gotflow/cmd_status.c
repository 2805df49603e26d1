/* cmd_status.c — `gotflow status PIPELINE|RUN`: what each replica is doing. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "core/opts.h"
#include "engine/edge.h"
#include "util.h"

static const char s_head[] =
    "usage: gotflow status PIPELINE|RUN [--json] [--wait-ready] [--timeout SEC] [--stop]\n"
    "\n"
    "Shows each replica of a running pipeline: state, restarts, requests held, queue depth,\n"
    "credit slots held / capacity, credits granted upstream, frames waiting for downstream\n"
    "credit (outbox), requests done, errors, bad frames, throughput (requests/s) and latency\n"
    "(p50/p99 of time spent in the stage, power-of-two buckets).\n"
    "\n";

static long s_int(json_t *o, const char *key)
{
    return (long)json_integer_value(json_object_get(o, key));
}

static void s_print_table(json_t *st)
{
    printf("pipeline %s  state %s  run %s  uptime %.1fs\n",
           json_string_value(json_object_get(st, "pipeline")),
           json_string_value(json_object_get(st, "state")),
           json_string_value(json_object_get(st, "run_dir")),
           (double)s_int(st, "uptime_ms") / 1000.0);
    printf("%-20s %-8s %-10s %4s %5s %5s %9s %5s %6s %9s %6s %5s %8s %8s %8s %6s\n", "REPLICA",
           "PID", "STATE", "RST", "REQS", "QUEUE", "HELD/CAP", "CRED", "OUTBOX", "DONE", "ERRORS",
           "BAD", "REQ/S", "P50", "P99", "ROWS");
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(st, "replicas"), i, r)
    {
        char name[64], held[24], p50[16], p99[16], rows[16] = "-";
        snprintf(name, sizeof name, "%s.%ld", json_string_value(json_object_get(r, "stage")),
                 s_int(r, "replica"));
        snprintf(held, sizeof held, "%ld/%ld", s_int(r, "held"),
                 json_object_get(r, "capacity") ? s_int(r, "capacity") : s_int(r, "credits"));
        snprintf(p50, sizeof p50, "%.2fms", (double)s_int(r, "p50_us") / 1000.0);
        snprintf(p99, sizeof p99, "%.2fms", (double)s_int(r, "p99_us") / 1000.0);
        if (json_object_get(r, "mean_batch_rows")) /* mean rows per model step */
            snprintf(rows, sizeof rows, "%.2f",
                     json_real_value(json_object_get(r, "mean_batch_rows")));
        printf("%-20s %-8ld %-10s %4ld %5ld %5ld %9s %5ld %6ld %9ld %6ld %5ld %8.1f %8s %8s %6s\n",
               name, s_int(r, "pid"), json_string_value(json_object_get(r, "state")),
               s_int(r, "restarts"), s_int(r, "requests"), s_int(r, "queue"), held,
               s_int(r, "credits_out"), s_int(r, "outbox"), s_int(r, "done"), s_int(r, "errors"),
               s_int(r, "bad_frames"), json_real_value(json_object_get(r, "rate")), p50, p99, rows);
    }
}

int cmd_status(int argc, char **argv)
{
    int as_json = 0, wait_ready = 0, stop = 0;
    long timeout_s = 30;
    const char *host = NULL;
    const struct gf_opt opts[] = {
        {"json", 0, GF_OPT_FLAG, &as_json, 0, 0, NULL, "the supervisor's answer as JSON"},
        {"wait-ready", 0, GF_OPT_FLAG, &wait_ready, 0, 0, NULL,
         "wait until every replica is ready (exit 1 at the timeout)"},
        {"timeout", 0, GF_OPT_LONG, &timeout_s, 1, 86400, "SEC",
         "how long to wait for --wait-ready or an answer (default 30)"},
        {"stop", 0, GF_OPT_FLAG, &stop, 0, 0, NULL,
         "ask the supervisor to drain and stop, as SIGTERM does"},
        {"host", 0, GF_OPT_STRING, &host, 0, 0, "NAME", "the run of `gotflow run --host NAME`"},
        {0}};
    const struct gf_opts spec = {"gotflow status", s_head, opts, NULL};
    int first = gf_opts_parse(&spec, argc, argv);
    if (first < 0)
        return gf_opts_status(first);
    if (first != argc - 1) {
        gf_opts_usage(&spec, stderr);
        return 2;
    }
    const char *run = argv[first];
    char run_dir[GF_PATH_MAX];
    int64_t deadline = gf_mono_ms() + timeout_s * 1000;
    if (wait_ready && gf_cli_wait_ready("status", run, host, 0, run_dir, deadline) != 0)
        return 1;
    if (!wait_ready && gf_plan_find_run(run, host, run_dir, sizeof run_dir, 0) != 0)
        return 1;
    int64_t left = deadline - gf_mono_ms(); /* after a wait, at least a second for the answer */
    json_t *st = gf_cli_admin(run_dir, stop ? "stop" : "status", left > 1000 ? (int)left : 1000);
    if (!st)
        return 1;
    if (as_json || stop) {
        char *s = json_dumps(st, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
    } else {
        s_print_table(st);
    }
    json_decref(st);
    return 0;
}
