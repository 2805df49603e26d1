/* test_graph.c — the pipeline graph: what a valid file turns into, and for each kind of mistake
 * the exact `file:line:column:` a user is shown. Also proves tests/graphs/bad-*.yaml against
 * their `# expect:` lines (run from the repository root, as tests/run.sh does). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "engine/graph.h"
#include "engine/plan.h"

static char s_err[16384];

static const char *const gf_graph_builtin_kinds_for_test[] = {
    "gateway", "sink", "tokenize", "reason", "layout", "imagegen", "vq", NULL};

static gf_graph_t *s_parse_ok(const char *yaml, gf_kind_known_fn kind_known, void *ctx)
{
    gf_graph_t *g = NULL;
    int rc = gf_graph_parse(yaml, strlen(yaml), "t.yaml", kind_known, ctx, &g, s_err, sizeof s_err);
    if (rc != 0)
        fprintf(stderr, "unexpected errors:\n%s", s_err);
    assert_int_equal(rc, 0);
    assert_non_null(g);
    assert_string_equal(s_err, "");
    return g;
}

static int s_count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The file has exactly one problem, at `where` ("3:5"), and its message holds `phrase`. */
static void s_expect_one(const char *yaml, int want_rc, const char *where, const char *phrase)
{
    gf_graph_t *g = NULL;
    char prefix[64];
    int rc = gf_graph_parse(yaml, strlen(yaml), "t.yaml", NULL, NULL, &g, s_err, sizeof s_err);
    snprintf(prefix, sizeof prefix, "t.yaml:%s: ", where);
    if (strncmp(s_err, prefix, strlen(prefix)) != 0 || !strstr(s_err, phrase) ||
        s_count_lines(s_err) != 1)
        fprintf(stderr, "want '%s...%s', got:\n%s", prefix, phrase, s_err);
    assert_int_equal(rc, want_rc);
    assert_null(g);
    assert_int_equal(s_count_lines(s_err), 1);
    assert_memory_equal(s_err, prefix, strlen(prefix));
    assert_non_null(strstr(s_err, phrase));
}

static void s_expect_schema(const char *yaml, const char *where, const char *phrase)
{
    s_expect_one(yaml, GF_ESCHEMA, where, phrase);
}

/* --- error classes ---------------------------------------------------------------------------- */

static void test_unknown_key(void **state)
{
    s_expect_schema("stages:\n"
                    "  reason: {kind: reason, replica: 2}\n",
                    "2:26",
                    "unknown key 'replica' in stage 'reason' (allowed: kind, replicas, device, "
                    "batch, credits, params, bind, out)");
    s_expect_schema("stage: [reason]\nstages: [reason]\n", "1:1",
                    "unknown key 'stage' at top level (allowed: name, model,");
    s_expect_schema("stages: [reason]\nsupervisor: {heartbeat: 5}\n", "2:14",
                    "unknown key 'heartbeat' in 'supervisor'");
}

static void test_wrong_type(void **state)
{
    s_expect_schema("stages:\n"
                    "  reason:\n"
                    "    kind: reason\n"
                    "    replicas: two\n",
                    "4:15", "'replicas' must be an integer, got 'two'");
    s_expect_schema("defaults: cpu\nstages: [reason]\n", "1:11",
                    "'defaults' must be a map, got 'cpu'");
    s_expect_schema("stages: reason\n", "1:9",
                    "'stages' must be a map (long form) or a sequence of kinds (short form), got "
                    "'reason'");
    s_expect_schema("stages:\n  reason: [kind, reason]\n", "2:11",
                    "stage 'reason' must be a map, got a sequence");
    /* a broken stage still exists for the edges: no "dangling edge" on top */
    s_expect_schema("stages:\n  a: 5\nedges: [gateway -> a -> sink]\n", "2:6",
                    "stage 'a' must be a map, got '5'");
    s_expect_schema("stages:\n  r: {kind: reason, params: [1, 2]}\n", "2:29",
                    "'params' must be a map, got a sequence");
    s_expect_schema("stages:\n  r: {kind: {a: 1}}\n", "2:13", "'kind' must be a string, got a map");
}

static void test_unknown_kind(void **state)
{
    s_expect_schema("stages:\n  r: {kind: reasonr}\n", "2:13",
                    "unknown stage kind 'reasonr' (known: gateway, sink, tokenize, reason, "
                    "layout, imagegen, vq)");
    s_expect_schema("stages: [tokenize, resaon]\n", "1:20", "unknown stage kind 'resaon'");
}

static int s_only_echo(const char *kind, void *ctx)
{
    (*(int *)ctx)++;
    return strcmp(kind, "echo") == 0;
}

static int s_any_kind(const char *kind, void *ctx)
{
    (void)kind, (void)ctx;
    return 1;
}

static void test_unknown_kind_callback(void **state)
{
    int calls = 0;
    gf_graph_t *g = NULL;
    const char *yaml = "stages: [echo, reason]\n";
    int rc =
        gf_graph_parse(yaml, strlen(yaml), "t.yaml", s_only_echo, &calls, &g, s_err, sizeof s_err);
    assert_int_equal(rc, GF_ESCHEMA);
    assert_string_equal(s_err, "t.yaml:1:16: unknown stage kind 'reason'\n");
    assert_true(calls >= 2);
}

static void test_dangling_edge(void **state)
{
    s_expect_schema("stages: {a: {kind: tokenize}}\n"
                    "edges:\n"
                    "  - gateway -> a\n"
                    "  - a -> sinc\n",
                    "4:5", "dangling edge 'a' -> 'sinc': no stage 'sinc'");
}

static void test_duplicate_edge(void **state)
{
    s_expect_schema("stages: {a: {kind: tokenize}}\n"
                    "edges:\n"
                    "  - gateway -> a -> sink\n"
                    "  - [a, sink]\n",
                    "4:5", "duplicate edge 'a' -> 'sink' (first at 3:5)");
}

static void test_self_edge(void **state)
{
    s_expect_schema("stages: {a: {kind: tokenize}}\n"
                    "edges: [gateway -> a -> sink, a->a]\n",
                    "2:31", "self edge 'a' -> 'a'");
}

static void test_cycle(void **state)
{
    s_expect_schema("stages: [tokenize, reason, layout]\n"
                    "edges:\n"
                    "  - gateway -> tokenize -> reason -> layout -> sink\n"
                    "  - layout -> tokenize\n",
                    "4:5", "cycle: tokenize -> reason -> layout -> tokenize");
}

static void test_missing_field(void **state)
{
    s_expect_schema("stages:\n  reason: {replicas: 2}\n", "2:3",
                    "missing required key 'kind' in stage 'reason'");
    s_expect_schema("name: x\nmodel: m\n", "1:1", "missing required key 'stages'");
    s_expect_schema("stages: [reason]\nhosts:\n  a: {port_base: 7200}\nsecurity: none\n", "3:3",
                    "missing required key 'address' in host 'a'");
}

static void test_bad_endpoint(void **state)
{
    s_expect_schema("stages:\n  gw: {kind: gateway, bind: \"tcp://127.0.0.1:70000\"}\n", "2:29",
                    "bad endpoint 'tcp://127.0.0.1:70000': port must be 1..65535");
    s_expect_schema("stages:\n  gw: {kind: gateway, bind: \"udp://x:1\"}\n", "2:29",
                    "bad endpoint 'udp://x:1': expected 'ipc://PATH' or 'tcp://HOST:PORT'");
    s_expect_schema("stages: [reason]\nhosts:\n  a: {address: \"10.0.0.300\"}\nsecurity: none\n",
                    "3:16", "bad host address '10.0.0.300': not a valid IPv4 address");
    s_expect_schema("stages:\n  r: {kind: reason, bind: \"ipc:///tmp/x\"}\n", "2:21",
                    "'bind' is only for gateway stages ('r' is a 'reason')");
}

static void test_bad_device(void **state)
{
    s_expect_schema("stages:\n  r: {kind: reason, replicas: 2, device: [cuda:0, gpu1]}\n", "2:51",
                    "bad device 'gpu1' (expected 'cpu' or 'cuda:N')");
    s_expect_schema("defaults: {device: cuda}\nstages: [reason]\n", "1:20", "bad device 'cuda'");
}

static void test_out_of_range(void **state)
{
    s_expect_schema("stages:\n  r: {kind: reason, replicas: 65}\n", "2:31",
                    "'replicas' must be between 1 and 64, got 65");
    s_expect_schema("max_frame_bytes: 100\nstages: [reason]\n", "1:18",
                    "'max_frame_bytes' must be between 1024 and 1073741824, got 100");
    s_expect_schema("stages:\n  r: {kind: reason, batch: 8, credits: 4}\n", "2:40",
                    "'credits' (4) of stage 'r' must be at least its 'batch' (8)");
    s_expect_schema("stages:\n  g: {kind: gateway, replicas: 2}\n", "2:32",
                    "gateway 'g' must have 1 replica, got 2: the gateway holds the client "
                    "connections");
    s_expect_schema("stages: [reason]\nhosts: {a: {address: h, port_base: 99}}\nsecurity: none\n",
                    "2:36", "'port_base' must be between 1024 and 65000, got 99");
}

static void test_duplicate_key(void **state)
{
    s_expect_schema("stages:\n"
                    "  reason: {kind: reason}\n"
                    "  reason: {kind: reason}\n",
                    "3:3", "duplicate key 'reason' in 'stages' (first at 2:3)");
    s_expect_schema("stages: {r: {kind: reason, batch: 2, batch: 4}}\n", "1:38",
                    "duplicate key 'batch' in stage 'r'");
}

static void test_yaml_syntax(void **state)
{
    s_expect_one("stages:\n  r: {kind: reason\n", GF_EPARSE, "3:1",
                 "did not find expected ',' or '}' (while parsing a flow mapping at 2:6)");
    s_expect_one("stages: [a]\n  bad: indent\n", GF_EPARSE, "2:3",
                 "did not find expected key (while parsing a block mapping at 1:1)");
}

static void test_not_a_graph(void **state)
{
    s_expect_schema("", "1:1", "empty file");
    s_expect_schema("- reason\n", "1:1", "top level must be a map, got a sequence");
    s_expect_schema("stages: [reason]\n---\nstages: [vq]\n", "3:1", "a second YAML document");
}

static void test_graph_rules(void **state)
{
    s_expect_schema("stages: {g1: {kind: gateway}, g2: {kind: gateway}, a: {kind: vq}}\n"
                    "edges: [g1 -> a -> sink, g2 -> a]\n",
                    "1:31", "a graph has exactly one gateway, but 'g2' is another after 'g1'");
    s_expect_schema("stages: [vq]\nedges: [gateway -> vq -> sink, vq -> gateway]\n", "2:32",
                    "edge into gateway 'gateway' ('vq' -> 'gateway'): a gateway only sends");
    s_expect_schema("stages: [vq]\nedges: [gateway -> vq -> sink -> vq]\n", "2:9",
                    "edge out of sink 'sink' ('sink' -> 'vq'): a sink only receives");
    s_expect_schema("stages: [vq, layout]\nedges: [gateway -> vq -> sink, layout -> sink]\n",
                    "1:14", "stage 'layout' is not connected to the gateway");
    s_expect_schema("stages: [vq, layout]\nedges: [gateway -> vq -> sink, gateway -> layout]\n",
                    "1:14", "stage 'layout' is not connected to a sink");
    s_expect_schema("stages: [vq]\nplacement: {vq: a}\n", "2:17",
                    "placement of 'vq' on unknown host 'a' (the graph has no 'hosts')");
}

static void test_multiple_errors(void **state)
{
    const char *yaml = "stages:\n"
                       "  a: {kind: tokenize, replicas: 0}\n"
                       "  b: {kind: nope, device: tpu}\n"
                       "edges: [gateway -> a -> b -> sink, b -> c]\n";
    gf_graph_t *g = NULL;
    int rc = gf_graph_parse(yaml, strlen(yaml), "t.yaml", NULL, NULL, &g, s_err, sizeof s_err);
    assert_int_equal(rc, GF_ESCHEMA);
    assert_null(g);
    const char *want = "t.yaml:2:33: 'replicas' must be between 1 and 64, got 0\n"
                       "t.yaml:3:13: unknown stage kind 'nope' (known: gateway, sink, tokenize, "
                       "reason, layout, imagegen, vq)\n"
                       "t.yaml:3:27: bad device 'tpu' (expected 'cpu' or 'cuda:N')\n"
                       "t.yaml:4:36: dangling edge 'b' -> 'c': no stage 'c'\n";
    assert_string_equal(s_err, want);
}

static void test_error_truncated(void **state)
{
    const char *yaml = "stages: {a: {kind: x}, b: {kind: y}}\n";
    char small[24];
    gf_graph_t *g = NULL;
    int rc = gf_graph_parse(yaml, strlen(yaml), "t.yaml", NULL, NULL, &g, small, sizeof small);
    assert_int_equal(rc, GF_ESCHEMA);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, "t.yaml:1:20: unknown", 20);
}

/* --- valid graphs ----------------------------------------------------------------------------- */

static void test_short_form(void **state)
{
    gf_graph_t *g = s_parse_ok("stages: [tokenize, reason, reason]\n", NULL, NULL);
    const char *names[] = {"gateway", "tokenize", "reason", "reason-2", "sink"};
    assert_int_equal(g->n_stages, 5);
    for (int i = 0; i < 5; i++) {
        assert_string_equal(g->stages[i].name, names[i]);
        assert_int_equal(g->order[i], i);
    }
    assert_string_equal(g->stages[3].kind, "reason");
    assert_string_equal(g->stages[0].kind, "gateway");
    assert_string_equal(g->stages[4].kind, "sink");
    /* implicit stages stand at the `stages:` key; declared ones at their item */
    assert_int_equal(g->stages[0].line, 1);
    assert_int_equal(g->stages[0].col, 1);
    assert_int_equal(g->stages[2].col, 20);
    assert_int_equal(g->n_edges, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(g->edges[i].from, i);
        assert_int_equal(g->edges[i].to, i + 1);
    }
    assert_string_equal(g->name, "t");
    assert_int_equal(g->n_hosts, 0);
    gf_graph_destroy(&g);
    assert_null(g);
    gf_graph_destroy(&g);
}

static const char s_design[] =
    "name: got-r1\n"
    "model: models/got-r1-1b            # HF-layout checkpoint directory\n"
    "defaults: {device: cpu, batch: 1}\n"
    "stages:\n"
    "  gateway:  {kind: gateway, bind: \"tcp://127.0.0.1:5555\"}\n"
    "  tokenize: {kind: tokenize}\n"
    "  reason:   {kind: reason, replicas: 2, device: [cuda:0, cuda:1], batch: 8,\n"
    "             params: {temperature: 1.0, max_tokens: 600}}\n"
    "  layout:   {kind: layout}\n"
    "  imagegen: {kind: imagegen, replicas: 2, device: [cuda:2, cuda:3], batch: 16,\n"
    "             params: {cfg_weight: 5.0, temperature: 1.0}}\n"
    "  vq:       {kind: vq, device: cuda:0, batch: 16}\n"
    "  sink:     {kind: sink, out: out/}\n"
    "edges: [gateway -> tokenize -> reason -> layout -> imagegen -> vq -> sink]\n"
    "hosts:                              # optional: more than one machine\n"
    "  a: {address: 10.0.0.1, curve_public: \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"}\n"
    "  b: {address: 10.0.0.2, curve_public: \"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID\"}\n"
    "placement: {imagegen: b, vq: b}     # everything else on the first host\n";

static int s_model_kinds(const char *kind, void *ctx)
{
    static const char *const kinds[] = {"tokenize", "reason", "layout", "imagegen", "vq"};
    (*(int *)ctx)++;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kind, kinds[i]) == 0)
            return 1;
    return 0;
}

static void test_long_form_design(void **state)
{
    int calls = 0;
    gf_graph_t *g = s_parse_ok(s_design, s_model_kinds, &calls);
    assert_int_equal(calls, 5); /* gateway and sink are known without asking */
    assert_string_equal(g->name, "got-r1");
    assert_string_equal(g->model, "models/got-r1-1b");
    assert_int_equal(g->n_stages, 7);
    assert_int_equal(g->n_edges, 6);
    int r = gf_graph_stage(g, "reason");
    assert_int_equal(r, 2);
    assert_int_equal(g->stages[r].replicas, 2);
    assert_int_equal(g->stages[r].n_devices, 2);
    assert_int_equal(g->stages[r].devices[1].type, GF_DEVICE_CUDA);
    assert_int_equal(g->stages[r].devices[1].index, 1);
    assert_int_equal(g->stages[r].batch, 8);
    assert_int_equal(g->stages[r].credits, 16);
    assert_int_equal(g->stages[r].line, 7);
    assert_int_equal(g->stages[r].col, 3);
    assert_string_equal(gf_graph_param(&g->stages[r], "max_tokens"), "600");
    assert_int_equal(gf_graph_param_long(&g->stages[r], "max_tokens", 0), 600);
    assert_string_equal(g->stages[0].bind, "tcp://127.0.0.1:5555");
    assert_string_equal(g->stages[6].out, "out/");
    int vq = gf_graph_stage(g, "vq");
    assert_int_equal(g->stages[vq].devices[0].type, GF_DEVICE_CUDA);
    assert_int_equal(g->stages[vq].n_devices, 1);
    assert_int_equal(g->stages[gf_graph_stage(g, "layout")].devices[0].type, GF_DEVICE_CPU);
    assert_int_equal(g->n_hosts, 2);
    assert_int_equal(g->hosts[1].port_base, 7100);
    assert_string_equal(g->hosts[0].curve_public, "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
    assert_int_equal(g->stages[vq].host, 1);
    assert_int_equal(g->stages[gf_graph_stage(g, "imagegen")].host, 1);
    assert_int_equal(g->stages[r].host, 0);
    assert_int_equal(g->stages[0].host, 0);
    gf_graph_destroy(&g);
}

static void test_defaults_applied(void **state)
{
    gf_graph_t *g = s_parse_ok("defaults: {device: [cuda:0, cuda:1], batch: 4, replicas: 3}\n"
                               "stages:\n"
                               "  a: {kind: reason}\n"
                               "  b: {kind: vq, batch: 2, replicas: 1, device: cpu, credits: 9}\n",
                               NULL, NULL);
    const struct gf_stage_def *a = &g->stages[gf_graph_stage(g, "a")];
    const struct gf_stage_def *b = &g->stages[gf_graph_stage(g, "b")];
    const struct gf_stage_def *gw = &g->stages[gf_graph_stage(g, "gateway")];
    assert_int_equal(a->replicas, 3);
    assert_int_equal(a->batch, 4);
    assert_int_equal(a->credits, 8);
    assert_int_equal(a->n_devices, 2);
    assert_int_equal(a->devices[1].index, 1);
    assert_int_equal(b->replicas, 1);
    assert_int_equal(b->batch, 2);
    assert_int_equal(b->credits, 9);
    assert_int_equal(b->devices[0].type, GF_DEVICE_CPU);
    assert_int_equal(gw->replicas, 1); /* `defaults: replicas` leaves the gateway alone */
    assert_string_equal(gw->bind, "");
    assert_int_equal(g->max_frame_bytes, 64L << 20);
    assert_int_equal(g->supervisor.heartbeat_ms, 500);
    assert_int_equal(g->supervisor.heartbeat_timeout_ms, 10000);
    assert_int_equal(g->supervisor.drain_timeout_ms, 30000);
    assert_int_equal(g->supervisor.stop_timeout_ms, 5000);
    assert_int_equal(g->supervisor.restart_backoff_ms, 100);
    assert_int_equal(g->supervisor.restart_backoff_max_ms, 10000);
    assert_int_equal(g->supervisor.max_restarts, 0);
    gf_graph_destroy(&g);

    g = s_parse_ok("max_frame_bytes: 1048576\n"
                   "supervisor: {heartbeat_ms: 1, heartbeat_timeout_ms: 2, drain_timeout_ms: 3,\n"
                   "  stop_timeout_ms: 4, restart_backoff_ms: 5, restart_backoff_max_ms: 6,\n"
                   "  max_restarts: 7}\n"
                   "stages: [reason]\n",
                   NULL, NULL);
    assert_int_equal(g->max_frame_bytes, 1048576);
    assert_int_equal(g->supervisor.heartbeat_ms, 1);
    assert_int_equal(g->supervisor.heartbeat_timeout_ms, 2);
    assert_int_equal(g->supervisor.drain_timeout_ms, 3);
    assert_int_equal(g->supervisor.stop_timeout_ms, 4);
    assert_int_equal(g->supervisor.restart_backoff_ms, 5);
    assert_int_equal(g->supervisor.restart_backoff_max_ms, 6);
    assert_int_equal(g->supervisor.max_restarts, 7);
    gf_graph_destroy(&g);
}

static void test_params_flattened(void **state)
{
    gf_graph_t *g = s_parse_ok("stages:\n"
                               "  r:\n"
                               "    kind: echo\n"
                               "    params:\n"
                               "      temperature: 0.7\n"
                               "      sampler: {top_k: 50, top_p: 0.9, stop: [\"a b\", 2]}\n"
                               "      seeds: [1, 2, 3]\n"
                               "      name: \"x: y\"\n"
                               "      bad: 12abc\n",
                               s_any_kind, NULL);
    const struct gf_stage_def *r = &g->stages[gf_graph_stage(g, "r")];
    assert_int_equal(r->n_params, 7);
    assert_string_equal(gf_graph_param(r, "sampler.top_k"), "50");
    assert_string_equal(gf_graph_param(r, "sampler.stop"), "a b,2");
    assert_string_equal(gf_graph_param(r, "seeds"), "1,2,3");
    assert_string_equal(gf_graph_param(r, "name"), "x: y");
    assert_null(gf_graph_param(r, "sampler"));
    assert_int_equal(r->params[1].line, 6);
    assert_int_equal(r->params[1].col, 24);
    assert_true(gf_graph_param_double(r, "sampler.top_p", 0) == 0.9);
    assert_true(gf_graph_param_double(r, "temperature", 1) == 0.7);
    assert_true(gf_graph_param_double(r, "missing", 1.5) == 1.5);
    assert_int_equal(gf_graph_param_long(r, "bad", 7), 7); /* malformed: warns, default */
    assert_int_equal(gf_graph_param_long(r, "temperature", 7), 7);
    assert_true(gf_graph_param_double(r, "bad", 2.5) == 2.5);
    gf_graph_destroy(&g);

    s_expect_schema("stages:\n  r: {kind: reason, params: {a: [{b: 1}]}}\n", "2:34",
                    "parameter 'a': a list may hold only plain values, got a map");
    const char *dup = "stages:\n  r: {kind: echo, params: {a.b: 1, a: {b: 2}}}\n";
    assert_int_equal(
        gf_graph_parse(dup, strlen(dup), "t.yaml", s_any_kind, NULL, &g, s_err, sizeof s_err),
        GF_ESCHEMA);
    assert_string_equal(s_err, "t.yaml:2:40: duplicate parameter 'a.b' in stage 'r'\n");
}

/* A built-in kind takes only the params it reads, each checked for type and range where it
 * stands; a kind without a table (a test kind) takes any. */
static void test_params_declared(void **state)
{
    s_expect_schema("stages:\n  r: {kind: reason, params: {chunk: 0}}\n", "2:37",
                    "stage 'r': parameter 'chunk' must be between 1 and 65536, got 0");
    s_expect_schema("stages:\n  r: {kind: reason, params: {chunck: 64}}\n", "2:38",
                    "unknown parameter 'chunck' of stage 'r'; did you mean 'chunk'?");
    s_expect_schema("stages:\n  r: {kind: reason, params: {sampler: {top_k: 5}}}\n", "2:47",
                    "did you mean 'top_k'?");
    s_expect_schema("stages:\n  r: {kind: reason, params: {temperature: hot}}\n", "2:43",
                    "parameter 'temperature' must be a number, got 'hot'");
    s_expect_schema("stages:\n  r: {kind: reason, params: {max_seq: 1.5}}\n", "2:39",
                    "parameter 'max_seq' must be an integer, got '1.5'");
    s_expect_schema("stages:\n  r: {kind: imagegen, params: {precision: fp16}}\n", "2:43",
                    "parameter 'precision' must be one of bf16,f32,q8_0,q4_0, got 'fp16'");
    s_expect_schema("stages:\n  s: {kind: sink, params: {x: 1}}\n", "2:31",
                    "unknown parameter 'x' of stage 's': a 'sink' stage takes no params");
    s_expect_schema("stages:\n  g: {kind: gateway, params: {max_attempts: 0}}\n", "2:45",
                    "parameter 'max_attempts' must be between 1 and 1000, got 0");
    gf_graph_t *g = s_parse_ok("stages:\n"
                               "  r: {kind: reason, params: {seed: 18446744073709551615, "
                               "chunk: 64, precision: f32, model: m}}\n"
                               "  t: {kind: test-x, params: {anything: at all}}\n",
                               s_any_kind, NULL);
    gf_graph_destroy(&g);
}

/* docs/pipeline-yaml.md lists every parameter of every table, as "| `kind` | `name` |". */
static void test_params_documented(void **state)
{
    FILE *f = fopen("docs/pipeline-yaml.md", "r");
    assert_non_null(f);
    static char doc[1 << 20];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = 0;
    for (int k = 0; gf_graph_builtin_kinds_for_test[k]; k++) {
        const char *kind = gf_graph_builtin_kinds_for_test[k];
        const struct gf_param_decl *d = gf_graph_param_decls(kind);
        assert_non_null(d);
        for (; d->name; d++) {
            char row[192];
            snprintf(row, sizeof row, "| `%s` | `%s` |", kind, d->name);
            if (!strstr(doc, row))
                fprintf(stderr, "docs/pipeline-yaml.md lacks the row '%s'\n", row);
            assert_non_null(strstr(doc, row));
        }
    }
}

static void test_hosts_placement(void **state)
{
    gf_graph_t *g = s_parse_ok("stages: [tokenize, reason, vq]\n"
                               "placement: {reason: gpu, vq: gpu, sink: cpu-box}\n"
                               "hosts:\n"
                               "  cpu-box: {address: cpu.example.org}\n"
                               "  gpu: {address: \"[fd00::2]\", port_base: 9000}\n"
                               "security: none\n",
                               NULL, NULL);
    assert_int_equal(g->n_hosts, 2);
    assert_int_equal(gf_graph_host(g, "gpu"), 1);
    assert_int_equal(gf_graph_host(g, "nope"), -1);
    assert_string_equal(g->hosts[1].address, "[fd00::2]");
    assert_int_equal(g->hosts[1].port_base, 9000);
    assert_string_equal(g->hosts[1].curve_public, "");
    assert_int_equal(g->stages[gf_graph_stage(g, "tokenize")].host, 0);
    assert_int_equal(g->stages[gf_graph_stage(g, "reason")].host, 1);
    assert_int_equal(g->stages[gf_graph_stage(g, "vq")].host, 1);
    assert_int_equal(g->stages[gf_graph_stage(g, "sink")].host, 0);
    gf_graph_destroy(&g);

    s_expect_schema("stages: [vq]\nhosts: {a: {address: h}}\nplacement: {vk: a}\nsecurity: none\n",
                    "3:13", "placement of unknown stage 'vk'");
    s_expect_schema("stages: [vq]\nhosts: {a: {address: h, curve_public: abc}}\n", "2:39",
                    "bad 'curve_public' of host 'a': expected 40 Z85 characters");
}

/* A diamond declared back to front: the order is topological with the gateway first. */
static void test_topological_order(void **state)
{
    gf_graph_t *g = s_parse_ok("stages:\n"
                               "  out: {kind: sink}\n"
                               "  join: {kind: vq}\n"
                               "  left: {kind: reason}\n"
                               "  right: {kind: layout}\n"
                               "  in: {kind: gateway}\n"
                               "edges:\n"
                               "  - in -> left -> join\n"
                               "  - [in, right]\n"
                               "  - right->join\n"
                               "  - join ->out\n",
                               NULL, NULL);
    int pos[GF_GRAPH_MAX_STAGES];
    assert_int_equal(g->n_stages, 5);
    assert_int_equal(g->order[0], gf_graph_stage(g, "in"));
    for (int i = 0; i < g->n_stages; i++)
        pos[g->order[i]] = i;
    for (int i = 0; i < g->n_edges; i++)
        assert_true(pos[g->edges[i].from] < pos[g->edges[i].to]);
    assert_int_equal(g->n_edges, 5);
    assert_int_equal(g->edges[2].line, 9);
    assert_int_equal(g->edges[2].col, 5);
    gf_graph_destroy(&g);
}

static void test_downstream_upstream(void **state)
{
    gf_graph_t *g = s_parse_ok("stages: [tokenize, reason, layout]\n"
                               "edges: [gateway -> tokenize -> reason -> sink, tokenize -> "
                               "layout -> sink]\n",
                               NULL, NULL);
    int out[GF_GRAPH_MAX_STAGES];
    int tok = gf_graph_stage(g, "tokenize"), sink = gf_graph_stage(g, "sink");
    assert_int_equal(gf_graph_downstream(g, tok, out, GF_GRAPH_MAX_STAGES), 2);
    assert_int_equal(out[0], gf_graph_stage(g, "reason"));
    assert_int_equal(out[1], gf_graph_stage(g, "layout"));
    assert_int_equal(gf_graph_downstream(g, tok, out, 1), 1);
    assert_int_equal(gf_graph_upstream(g, sink, out, GF_GRAPH_MAX_STAGES), 2);
    assert_int_equal(out[0], gf_graph_stage(g, "reason"));
    assert_int_equal(gf_graph_upstream(g, 0, out, GF_GRAPH_MAX_STAGES), 0);
    assert_int_equal(gf_graph_downstream(g, sink, out, GF_GRAPH_MAX_STAGES), 0);
    assert_int_equal(gf_graph_stage(g, "nope"), -1);
    gf_graph_destroy(&g);
}

static void test_endpoint_check(void **state)
{
    static const char *const good[] = {
        "ipc:///tmp/gotflow/run-1/gateway",
        "tcp://127.0.0.1:5555",
        "tcp://*:1",
        "tcp://[::1]:65535",
        "tcp://host-1.example.org:80",
        "tcp://localhost:7100",
    };
    static const struct {
        const char *endpoint, *why;
    } bad[] = {
        {"", "empty"},
        {"ipc://", "missing path"},
        {"tcp://127.0.0.1", "expected 'tcp://HOST:PORT'"},
        {"tcp://127.0.0.1:0", "1..65535"},
        {"tcp://127.0.0.1:65536", "1..65535"},
        {"tcp://127.0.0.1:+80", "digits only"},
        {"tcp://127.0.0.1:", "missing port"},
        {"tcp://:80", "missing host"},
        {"tcp://256.1.1.1:80", "IPv4"},
        {"tcp://::1:80", "[ADDR]"},
        {"tcp://[::g]:80", "IPv6"},
        {"tcp://-bad.host:80", "not an address or a valid name"},
        {"tcp://a..b:80", "not an address or a valid name"},
        {"http://x:80", "expected 'ipc://PATH' or 'tcp://HOST:PORT'"},
    };
    char why[128], longpath[128];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(gf_endpoint_check(good[i], why, sizeof why), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        assert_int_equal(gf_endpoint_check(bad[i].endpoint, why, sizeof why), GF_EINVAL);
        if (!strstr(why, bad[i].why))
            fprintf(stderr, "'%s': got '%s'\n", bad[i].endpoint, why);
        assert_non_null(strstr(why, bad[i].why));
    }
    snprintf(longpath, sizeof longpath, "ipc://%0100d", 0);
    assert_int_equal(gf_endpoint_check(longpath, why, sizeof why), 0);
    snprintf(longpath, sizeof longpath, "ipc://%0101d", 0);
    assert_int_equal(gf_endpoint_check(longpath, why, sizeof why), GF_EINVAL);
}

/* Every prefix of a valid file, and the file with each byte replaced by a troublesome one, either
 * loads or fails with messages that all carry a position. */
static void s_check_positioned(const char *text, size_t len)
{
    gf_graph_t *g = NULL;
    int rc = gf_graph_parse(text, len, "t.yaml", NULL, NULL, &g, s_err, sizeof s_err);
    assert_true((rc == 0) == (g != NULL));
    assert_true((rc == 0) == (s_err[0] == '\0'));
    for (const char *line = s_err; *line; line = strchr(line, '\n') + 1) {
        int l = 0, c = 0, n = 0;
        if (sscanf(line, "t.yaml:%d:%d: %n", &l, &c, &n) != 2 || n == 0)
            fprintf(stderr, "no position: %s", line);
        assert_true(l >= 1 && c >= 1 && n > 0);
        assert_true(line[n] != '\n');
    }
    gf_graph_destroy(&g);
}

static void test_damaged_input(void **state)
{
    static const char swaps[] = {'\0', ':', '-', '[', '{', '\n', '\xff', '&', '*'};
    char copy[sizeof s_design];
    size_t len = sizeof s_design - 1;
    for (size_t cut = 0; cut <= len; cut++)
        s_check_positioned(s_design, cut);
    for (size_t i = 0; i < len; i += 3) {
        memcpy(copy, s_design, sizeof copy);
        copy[i] = swaps[i % sizeof swaps];
        s_check_positioned(copy, len);
    }
}

/* --- bounds on the YAML itself ---------------------------------------------------------------- */

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* `prefix`, then `open` n times, then `close` n times: a file nested n + 1 deep. */
static char *s_nested(const char *prefix, const char *open, const char *close, size_t n)
{
    size_t lp = strlen(prefix), lo = strlen(open), lc = strlen(close);
    char *text = malloc(lp + n * (lo + lc) + 2);
    assert_non_null(text);
    char *p = text;
    memcpy(p, prefix, lp);
    p += lp;
    for (size_t i = 0; i < n; i++, p += lo)
        memcpy(p, open, lo);
    for (size_t i = 0; i < n; i++, p += lc)
        memcpy(p, close, lc);
    memcpy(p, "\n", 2);
    return text;
}

static void test_nesting_bound(void **state)
{
    /* a million flow sequences deep: refused where the 64th level opens, at once (libyaml's
     * scanner alone would take hours over the whole file) */
    char *deep = s_nested("stages: ", "[", "]", 1000000);
    double t0 = s_now();
    s_expect_one(deep, GF_EPARSE, "1:72", "nesting deeper than 64");
    assert_true(s_now() - t0 < 5.0);
    free(deep);
    /* block sequences on one line, and block maps */
    deep = s_nested("stages:\n", "- ", "", 100000);
    s_expect_one(deep, GF_EPARSE, "2:127", "nesting deeper than 64");
    free(deep);
    deep = s_nested("", "{a: ", "}", 100);
    s_expect_one(deep, GF_EPARSE, "1:257", "nesting deeper than 64");
    free(deep);
    /* 64 levels are within the bound: the schema speaks, not the bound */
    deep = s_nested("stages: [x]\nedges: ", "[", "]", 63);
    gf_graph_t *g = NULL;
    assert_int_equal(
        gf_graph_parse(deep, strlen(deep), "t.yaml", NULL, NULL, &g, s_err, sizeof s_err),
        GF_ESCHEMA);
    assert_non_null(strstr(s_err, "t.yaml:2:9: bad edge"));
    assert_null(strstr(s_err, "nesting"));
    free(deep);
}

/* A stage whose params are `levels` maps deep: {a: {a: ... {a: 1}}}. */
static char *s_deep_params(int levels, const char *kind)
{
    char *inner = s_nested("", "{a: ", "}", (size_t)levels);
    char *yaml = malloc(strlen(inner) + 64);
    assert_non_null(yaml);
    int n =
        sprintf(yaml, "stages:\n  r:\n    kind: %s\n    params: %.*s1", kind, levels * 4, inner);
    sprintf(yaml + n, "%s", inner + levels * 4);
    free(inner);
    return yaml;
}

/* The deepest file the schema allows (params nested 8 below the top map) loads. */
static void test_deep_legal(void **state)
{
    /* a kind without a params table: any parameter name goes */
    char *yaml = s_deep_params(9, "echo");
    gf_graph_t *g = s_parse_ok(yaml, s_any_kind, NULL);
    const struct gf_stage_def *r = &g->stages[gf_graph_stage(g, "r")];
    assert_string_equal(gf_graph_param(r, "a.a.a.a.a.a.a.a.a"), "1");
    gf_graph_destroy(&g);
    free(yaml);
    yaml = s_deep_params(10, "reason");
    s_expect_schema(yaml, "4:49", "'params' nested deeper than 8");
    free(yaml);
}

static void test_alias_bound(void **state)
{
    /* aliases within the bound work as in any YAML */
    gf_graph_t *g = s_parse_ok("defaults: {device: &two [cpu, cpu]}\n"
                               "stages: {r: {kind: reason, device: *two}}\n",
                               NULL, NULL);
    assert_int_equal(g->stages[gf_graph_stage(g, "r")].n_devices, 2);
    gf_graph_destroy(&g);
    /* "billion laughs": nine levels of ten aliases each would stand for 10^9 nodes */
    char yaml[2048];
    int n =
        snprintf(yaml, sizeof yaml, "stages: [reason]\nl0: &l0 [a, a, a, a, a, a, a, a, a, a]\n");
    for (int i = 1; i < 10; i++) {
        n += snprintf(yaml + n, sizeof yaml - (size_t)n, "l%d: &l%d [", i, i);
        for (int k = 0; k < 10; k++)
            n += snprintf(yaml + n, sizeof yaml - (size_t)n, "%s*l%d", k ? ", " : "", i - 1);
        n += snprintf(yaml + n, sizeof yaml - (size_t)n, "]\n");
    }
    double t0 = s_now();
    s_expect_one(yaml, GF_EPARSE, "6:45", "more than 100000 YAML nodes");
    assert_true(s_now() - t0 < 5.0);
    s_expect_one("stages: &s [reason, *s]\n", GF_EPARSE, "1:21",
                 "alias '*s' stands for a node that contains it");
    /* anchors are counted too */
    char *many = malloc(300 * 16 + 64);
    assert_non_null(many);
    n = sprintf(many, "stages: [reason]\nx: [");
    for (int i = 0; i < 300; i++)
        n += sprintf(many + n, "%s&a%d 1", i ? ", " : "", i);
    sprintf(many + n, "]\n");
    char where[32];
    snprintf(where, sizeof where, "2:%d", (int)(strstr(many, "&a256 ") - strchr(many, '\n')));
    s_expect_one(many, GF_EPARSE, where, "more than 256 YAML anchors");
    free(many);
}

/* --- files ------------------------------------------------------------------------------------ */

static void test_load_missing_file(void **state)
{
    gf_graph_t *g = NULL;
    int rc = gf_graph_load("tests/graphs/no-such.yaml", NULL, NULL, &g, s_err, sizeof s_err);
    assert_int_equal(rc, GF_EIO);
    assert_null(g);
    assert_non_null(strstr(s_err, "tests/graphs/no-such.yaml: cannot read: "));
}

/* `# expect: LINE:COL substring` on the first line of a bad-*.yaml file: some error line must
 * start with `path:LINE:COL: ` and hold the substring. */
static void s_check_bad_file(const char *path)
{
    char first[256], where[32], prefix[512];
    int pos = 0;
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(first, sizeof first, f));
    fclose(f);
    first[strcspn(first, "\n")] = '\0';
    assert_int_equal(sscanf(first, "# expect: %31s %n", where, &pos), 1);
    assert_true(pos > 0 && first[pos] != '\0');
    const char *phrase = first + pos;

    gf_graph_t *g = NULL;
    int rc = gf_graph_load(path, NULL, NULL, &g, s_err, sizeof s_err);
    assert_true(rc == GF_ESCHEMA || rc == GF_EPARSE);
    assert_null(g);
    snprintf(prefix, sizeof prefix, "%s:%s: ", path, where);
    int found = 0;
    for (const char *line = s_err; *line && !found; line = strchr(line, '\n') + 1) {
        const char *end = strchr(line, '\n');
        const char *hit = strstr(line, phrase);
        found = strncmp(line, prefix, strlen(prefix)) == 0 && hit && hit < end;
    }
    if (!found)
        fprintf(stderr, "%s: want '%s...%s', got:\n%s", path, prefix, phrase, s_err);
    assert_true(found);
}

static void test_graph_files(void **state)
{
    glob_t bad, all;
    assert_int_equal(glob("tests/graphs/bad-*.yaml", 0, NULL, &bad), 0);
    assert_true(bad.gl_pathc >= 19);
    for (size_t i = 0; i < bad.gl_pathc; i++)
        s_check_bad_file(bad.gl_pathv[i]);
    globfree(&bad);

    assert_int_equal(glob("tests/graphs/*.yaml", 0, NULL, &all), 0);
    for (size_t i = 0; i < all.gl_pathc; i++) {
        if (strncmp(all.gl_pathv[i], "tests/graphs/bad-", 17) == 0)
            continue;
        gf_graph_t *g = NULL;
        int rc = gf_graph_load(all.gl_pathv[i], NULL, NULL, &g, s_err, sizeof s_err);
        if (rc != 0)
            fprintf(stderr, "%s", s_err);
        assert_int_equal(rc, 0);
        assert_true(g->n_stages >= 3);
        gf_graph_destroy(&g);
    }
    globfree(&all);
}

/* A stage placed on a list of hosts: replica r on item r % length, and each host numbers its own
 * replicas' ports from its port_base. */
static void test_placement_list(void **state)
{
    gf_graph_t *g = s_parse_ok("hosts:\n"
                               "  a: {address: 10.0.0.1, port_base: 7000}\n"
                               "  b: {address: 10.0.0.2, port_base: 8000}\n"
                               "placement: {work: [a, b]}\n"
                               "stages: {work: {kind: reason, replicas: 3}}\n"
                               "security: none\n",
                               NULL, NULL);
    int w = gf_graph_stage(g, "work");
    assert_int_equal(gf_graph_replica_host(g, w, 0), 0);
    assert_int_equal(gf_graph_replica_host(g, w, 1), 1);
    assert_int_equal(gf_graph_replica_host(g, w, 2), 0);
    char ep[256];
    /* on a: gateway.0 (7000), work.0 (7002), work.2 (7004), sink.0 (7006); on b: work.1 (8000) */
    assert_int_equal(gf_plan_inlet(g, "/run", w, 1, 0, ep, sizeof ep), 0);
    assert_string_equal(ep, "tcp://10.0.0.2:8000");
    assert_int_equal(gf_plan_inlet(g, "/run", w, 2, 0, ep, sizeof ep), 0);
    assert_string_equal(ep, "tcp://10.0.0.1:7004");
    gf_graph_destroy(&g);
    const char *empty = "placement: {reason: []}\nstages: [reason]\n";
    assert_int_equal(
        gf_graph_parse(empty, strlen(empty), "p.yaml", NULL, NULL, &g, s_err, sizeof s_err),
        GF_ESCHEMA);
    assert_non_null(strstr(s_err, "p.yaml:1:21: placement of 'reason' is an empty list"));
}

/* What a replica or the gateway binds: a DNS name is looked up (ZeroMQ binds only addresses and
 * interface names); addresses, '*', interface names, names that do not resolve and ipc stay. */
static void test_bind_endpoint(void **state)
{
    (void)state;
    char ep[256];
    gf_plan_bind_endpoint("tcp://localhost:7000", ep, sizeof ep);
    assert_true(strcmp(ep, "tcp://127.0.0.1:7000") == 0 || strcmp(ep, "tcp://[::1]:7000") == 0);
    static const char *const kept[] = {"tcp://10.0.0.1:7000",
                                       "tcp://*:7000",
                                       "tcp://[::1]:7000",
                                       "tcp://lo:7000",
                                       "tcp://no-such-host.invalid:7000",
                                       "ipc:///run/x/gateway"};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        gf_plan_bind_endpoint(kept[i], ep, sizeof ep);
        assert_string_equal(ep, kept[i]);
    }
}

/* Secure by default: tcp endpoints without CURVE keys are refused unless the graph says
 * `security: none`. */
static void test_security(void **state)
{
    static const char key_a[] = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    char yaml[512];
    s_expect_schema("stages: [reason]\nhosts:\n  a: {address: 10.0.0.1}\n", "2:1",
                    "the hosts have no 'curve_public' keys, so their tcp endpoints would be open "
                    "in plaintext to anyone who can reach them: make a key pair per host with "
                    "'gotflow keygen HOST.key'");
    s_expect_schema("stages: [reason]\nsecurity: curve\nhosts: {a: {address: h}}\n", "3:1",
                    "or add 'security: none' to run in plaintext");
    s_expect_schema("stages:\n  gw: {kind: gateway, bind: \"tcp://0.0.0.0:5555\"}\n", "2:29",
                    "gateway 'gw' binds 'tcp://0.0.0.0:5555' in plaintext");
    s_expect_schema("stages:\n  gw: {kind: gateway, bind: \"tcp://*:5555\"}\n", "2:29",
                    "or add 'security: none'");
    s_expect_schema("stages: [reason]\nsecurity: plain\n", "2:11",
                    "bad 'security' 'plain': expected 'curve' or 'none'");
    snprintf(yaml, sizeof yaml,
             "stages: [reason]\nsecurity: none\nhosts: {a: {address: h, curve_public: \"%s\"}}\n",
             key_a);
    s_expect_schema(yaml, "2:11", "'security: none' but hosts carry 'curve_public' keys");
    snprintf(yaml, sizeof yaml,
             "stages: [reason]\nhosts:\n  a: {address: h, curve_public: \"%s\"}\n"
             "  b: {address: i}\n",
             key_a);
    s_expect_schema(yaml, "4:3", "host 'b' has no 'curve_public' key while other hosts do");

    /* accepted: the explicit plaintext form, keys on every host, a loopback gateway */
    gf_graph_t *g =
        s_parse_ok("stages: [reason]\nhosts: {a: {address: h}}\nsecurity: none\n", NULL, NULL);
    assert_int_equal(g->security, GF_GRAPH_SECURITY_NONE);
    gf_graph_destroy(&g);
    g = s_parse_ok("security: none\nstages: {gw: {kind: gateway, bind: \"tcp://*:5555\"}}\n", NULL,
                   NULL);
    gf_graph_destroy(&g);
    snprintf(yaml, sizeof yaml,
             "stages: [reason]\nsecurity: curve\nhosts: {a: {address: h, curve_public: \"%s\"}}\n"
             "placement: {gateway: a}\n",
             key_a);
    g = s_parse_ok(yaml, NULL, NULL);
    assert_int_equal(g->security, GF_GRAPH_SECURITY_CURVE);
    gf_graph_destroy(&g);
    static const char *const loopback[] = {"tcp://127.0.0.1:5555", "tcp://localhost:5555",
                                           "tcp://[::1]:5555", "ipc:///tmp/gw"};
    for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++) {
        snprintf(yaml, sizeof yaml, "stages: {gw: {kind: gateway, bind: \"%s\"}}\n", loopback[i]);
        g = s_parse_ok(yaml, NULL, NULL);
        assert_int_equal(g->security, GF_GRAPH_SECURITY_CURVE);
        gf_graph_destroy(&g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_security),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_unknown_kind),
        cmocka_unit_test(test_unknown_kind_callback),
        cmocka_unit_test(test_dangling_edge),
        cmocka_unit_test(test_duplicate_edge),
        cmocka_unit_test(test_self_edge),
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_missing_field),
        cmocka_unit_test(test_bad_endpoint),
        cmocka_unit_test(test_bad_device),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_yaml_syntax),
        cmocka_unit_test(test_not_a_graph),
        cmocka_unit_test(test_graph_rules),
        cmocka_unit_test(test_multiple_errors),
        cmocka_unit_test(test_error_truncated),
        cmocka_unit_test(test_short_form),
        cmocka_unit_test(test_long_form_design),
        cmocka_unit_test(test_defaults_applied),
        cmocka_unit_test(test_params_flattened),
        cmocka_unit_test(test_params_declared),
        cmocka_unit_test(test_params_documented),
        cmocka_unit_test(test_hosts_placement),
        cmocka_unit_test(test_topological_order),
        cmocka_unit_test(test_downstream_upstream),
        cmocka_unit_test(test_endpoint_check),
        cmocka_unit_test(test_damaged_input),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_graph_files),
        cmocka_unit_test(test_placement_list),
        cmocka_unit_test(test_nesting_bound),
        cmocka_unit_test(test_deep_legal),
        cmocka_unit_test(test_alias_bound),
        cmocka_unit_test(test_bind_endpoint),
    };
    cmocka_set_test_filter(getenv("CMOCKA_FILTER")); /* one case: CMOCKA_FILTER=NAME */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
