/* cmd_generate.c — `gotflow generate "PROMPT"`: one picture from a prompt, through a pipeline.
 *
 * Uses the pipeline if it is running, else starts it (and stops it again afterwards). Streams
 * the reasoning chain from the reason stage's tap as it is written, draws a progress bar from
 * the imagegen stage's progress frames, and writes what the result holds into OUT/ID/.
 */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "cmd.h"
#include "core/spawn.h"
#include "core/error.h"
#include "core/opts.h"
#include "core/version.h"
#include "engine/edge.h"
#include "engine/frame.h"
#include "engine/json.h"
#include "generate.h"
#include "model/lm/genconfig.h"
#include "util.h"

static const char s_head[] =
    "usage: gotflow generate \"PROMPT\" [options]\n"
    "\n"
    "Generates pictures for PROMPT with a pipeline: uses it if it is running, else starts it\n"
    "and stops it afterwards. Prints the reasoning chain as it is written and a progress bar\n"
    "for the image tokens, then writes into OUT/ID/: image_K.png (one per parallel image),\n"
    "reasoning.txt, layout.json, layout.png (the planned boxes), overlay.png (the boxes over\n"
    "image_0) and meta.json (prompt, every parameter, seed, model, gotflow version, per-stage\n"
    "timings). Each file is written whole (a temporary file, fsynced and renamed) or not at\n"
    "all; one that cannot be written is named with the cause. Files the pipeline's result has\n"
    "no data for are left out, and said so. With the\n"
    "demo model (config.json has `gotflow_demo`) it also prints the layout-adherence score of\n"
    "image_0 (objects found by colour, IoU with the planned boxes, relations held) and writes\n"
    "it into meta.json as `score` (docs/demo-model.md).\n"
    "\n";
static const char s_tail[] =
    "\n"
    "exit status: 0 written, 1 the pipeline answered an error or failed, or a file could not\n"
    "be written, 2 usage\n";

struct s_opts {
    const char *prompt, *pipeline, *model, *out, *id, *precision;
    long long seed;
    double cfg_weight, text_temp, image_temp;
    long parallel, max_tokens, timeout_s;
    int keep, as_json, have_seed;
    int have_cfg, have_text_temp, have_image_temp, have_parallel, have_max_tokens;
};

/* The five generation values keep the checkpoint's or the graph's unless given (-1 while
 * parsing: not given). 0, 2 after a usage error, or a negative gf_opts_parse result. */
static int s_parse(int argc, char **argv, struct s_opts *o)
{
    long seed = -1;
    *o = (struct s_opts){.pipeline = "pipelines/got-r1-cpu.yaml",
                         .out = "out",
                         .cfg_weight = -1,
                         .text_temp = -1,
                         .image_temp = -1,
                         .parallel = -1,
                         .max_tokens = -1,
                         .timeout_s = 3600};
    const struct gf_opt opts[] = {
        {"pipeline", 0, GF_OPT_STRING, &o->pipeline, 0, 0, "FILE",
         "the graph (default pipelines/got-r1-cpu.yaml)"},
        {"model", 0, GF_OPT_STRING, &o->model, 0, 0, "DIR",
         "checkpoint directory (default: the graph's model:)"},
        {"seed", 0, GF_OPT_LONG, &seed, 0, 0x7fffffffffffffffL, "N",
         "sampling seed (default: from the clock; printed)"},
        {"cfg-weight", 0, GF_OPT_DOUBLE, &o->cfg_weight, 0, 100, "W",
         "classifier-free guidance weight (default 5.0)"},
        {"text-temperature", 0, GF_OPT_DOUBLE, &o->text_temp, 0, 100, "T",
         "temperature of the reasoning chain (default 1.0; 0 = greedy)"},
        {"image-temperature", 0, GF_OPT_DOUBLE, &o->image_temp, 0, 100, "T",
         "temperature of the image tokens (default 1.0; 0 = greedy)"},
        {"parallel", 0, GF_OPT_LONG, &o->parallel, 1, 16, "N",
         "pictures for the prompt (default 1)"},
        {"max-tokens", 0, GF_OPT_LONG, &o->max_tokens, 1, 4096, "N",
         "longest reasoning chain (default 600)\n"
         "(these five: the defaults are GoT-R1's, unless the checkpoint's\n"
         "generation_config.json or the graph's stage params say otherwise;\n"
         "a flag is over both; meta.json records the values used)"},
        {"precision", 0, GF_OPT_STRING, &o->precision, 0, 0, "P",
         "q8_0 or q4_0: the pipeline this command starts quantizes the\n"
         "language model at load (CPU stages whose params name no\n"
         "precision; docs/model.md); bf16 or f32: as published, f32 with\n"
         "the exact path's f32 KV cache"},
        {"out", 0, GF_OPT_STRING, &o->out, 0, 0, "DIR", "output folder (default out)"},
        {"id", 0, GF_OPT_STRING, &o->id, 0, 0, "ID",
         "request id and folder name (default: from the clock)"},
        {"timeout", 0, GF_OPT_LONG, &o->timeout_s, 1, 1 << 24, "SEC",
         "give up after SEC seconds (default 3600)"},
        {"keep", 0, GF_OPT_FLAG, &o->keep, 0, 0, NULL,
         "leave a pipeline this command started running"},
        {"json", 0, GF_OPT_FLAG, &o->as_json, 0, 0, NULL,
         "print one JSON object (files, timings) instead of the stream"},
        {0}};
    const struct gf_opts spec = {"gotflow generate", s_head, opts, s_tail};
    int first = gf_opts_parse(&spec, argc, argv);
    if (first < 0)
        return first; /* GF_OPTS_HELP or GF_OPTS_USAGE */
    if (o->precision && gf_cli_quant_check("generate", NULL, o->precision))
        return 2;
    if (first != argc - 1 || !argv[first][0]) {
        gf_opts_usage(&spec, stderr);
        return 2;
    }
    o->prompt = argv[first];
    /* a value not given keeps GoT-R1's default here; the request leaves it out (have_* = 0) */
    o->have_cfg = o->cfg_weight >= 0;
    o->have_text_temp = o->text_temp >= 0;
    o->have_image_temp = o->image_temp >= 0;
    o->have_parallel = o->parallel > 0;
    o->have_max_tokens = o->max_tokens > 0;
    o->cfg_weight = o->have_cfg ? o->cfg_weight : 5.0;
    o->text_temp = o->have_text_temp ? o->text_temp : 1.0;
    o->image_temp = o->have_image_temp ? o->image_temp : 1.0;
    o->parallel = o->have_parallel ? o->parallel : 1;
    o->max_tokens = o->have_max_tokens ? o->max_tokens : 600;
    o->have_seed = seed >= 0;
    if (o->have_seed) {
        o->seed = seed;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        o->seed = (long long)((ts.tv_sec * 1000003LL) ^ ts.tv_nsec) & 0x7fffffff;
    }
    return 0;
}

/* Pipeline ----------------------------------------------------------------------------------- */

/* With --model, the graph is copied with its top-level `model:` replaced (or added). */
static int s_graph_for(const struct s_opts *o, char *path, size_t len, char *tmpdir)
{
    if (!o->model) {
        snprintf(path, len, "%s", o->pipeline);
        return 0;
    }
    FILE *in = fopen(o->pipeline, "r");
    if (!in) {
        fprintf(stderr, "gotflow generate: cannot open '%s': %s\n", o->pipeline, strerror(errno));
        return 1;
    }
    snprintf(tmpdir, 64, "/tmp/gotflow-generate-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        fclose(in);
        return 1;
    }
    snprintf(path, len, "%s/%s", tmpdir,
             strrchr(o->pipeline, '/') ? strrchr(o->pipeline, '/') + 1 : o->pipeline);
    FILE *out = fopen(path, "w");
    if (!out) {
        fclose(in);
        return 1;
    }
    char line[8192];
    int replaced = 0;
    while (fgets(line, sizeof line, in)) {
        if (!replaced && strncmp(line, "model:", 6) == 0) {
            fprintf(out, "model: \"%s\"\n", o->model);
            replaced = 1;
        } else {
            fputs(line, out);
        }
    }
    if (!replaced)
        fprintf(out, "model: \"%s\"\n", o->model);
    fclose(in);
    fclose(out);
    return 0;
}

static pid_t s_start(const char *graph)
{
    char self[GF_PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = 0;
    char *argv[] = {self, "run", (char *)graph, "--quiet", NULL};
    pid_t pid = gf_spawn(argv, NULL);
    if (pid < 0)
        fprintf(stderr, "gotflow generate: cannot start '%s': %s\n", self, strerror(errno));
    return pid;
}

/* The request -------------------------------------------------------------------------------- */

/* The request: the seed and the parameters given on the command line; the rest the stages take
 * from their graph params and the checkpoint's generation_config.json. */
static void s_pack_request(const struct s_opts *o, const char *id, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    msgpack_pack_str_with_body(&pk, "id", 2);
    msgpack_pack_str_with_body(&pk, id, strlen(id));
    msgpack_pack_str_with_body(&pk, "kind", 4);
    msgpack_pack_str_with_body(&pk, "prompt", 6);
    msgpack_pack_str_with_body(&pk, "text", 4);
    msgpack_pack_str_with_body(&pk, o->prompt, strlen(o->prompt));
    msgpack_pack_str_with_body(&pk, "params", 6);
    msgpack_pack_map(&pk, 1 + o->have_cfg + o->have_text_temp + o->have_image_temp +
                              o->have_parallel + o->have_max_tokens);
    msgpack_pack_str_with_body(&pk, "seed", 4);
    msgpack_pack_int64(&pk, o->seed);
    if (o->have_cfg) {
        msgpack_pack_str_with_body(&pk, "cfg_weight", 10);
        msgpack_pack_double(&pk, o->cfg_weight);
    }
    if (o->have_text_temp) {
        msgpack_pack_str_with_body(&pk, "text_temperature", 16);
        msgpack_pack_double(&pk, o->text_temp);
    }
    if (o->have_image_temp) {
        msgpack_pack_str_with_body(&pk, "image_temperature", 17);
        msgpack_pack_double(&pk, o->image_temp);
    }
    if (o->have_parallel) {
        msgpack_pack_str_with_body(&pk, "parallel_size", 13);
        msgpack_pack_int64(&pk, o->parallel);
    }
    if (o->have_max_tokens) {
        msgpack_pack_str_with_body(&pk, "max_tokens", 10);
        msgpack_pack_int64(&pk, o->max_tokens);
    }
}

/* Fills in what the flags did not give, as the stages will (for meta.json); 0, or 1 after saying
 * why the checkpoint cannot be used. */
static int s_defaults(struct s_opts *o, const gf_graph_t *g)
{
    struct gf_generate_meta m = {.cfg_weight = o->cfg_weight,
                                 .text_temp = o->text_temp,
                                 .image_temp = o->image_temp,
                                 .parallel = o->parallel,
                                 .max_tokens = o->max_tokens};
    unsigned have = (o->have_cfg ? GF_GENERATE_HAVE_CFG : 0) |
                    (o->have_text_temp ? GF_GENERATE_HAVE_TEXT_TEMP : 0) |
                    (o->have_image_temp ? GF_GENERATE_HAVE_IMAGE_TEMP : 0) |
                    (o->have_parallel ? GF_GENERATE_HAVE_PARALLEL : 0) |
                    (o->have_max_tokens ? GF_GENERATE_HAVE_MAX_TOKENS : 0);
    char why[4600];
    if (gf_generate_defaults(g, have, &m, why, sizeof why)) {
        fprintf(stderr, "gotflow generate: %s\n", why);
        return 1;
    }
    o->cfg_weight = m.cfg_weight;
    o->text_temp = m.text_temp;
    o->image_temp = m.image_temp;
    o->parallel = m.parallel;
    o->max_tokens = m.max_tokens;
    return 0;
}

/* Subscribes to `stage.kind.` of every replica of `stage`, if the graph has that stage. */
static void s_subscribe(void *sub, const gf_graph_t *g, const char *run_dir, const char *stage,
                        const char *kind)
{
    int si = gf_graph_stage(g, stage);
    if (si < 0)
        return;
    char topic[160], ep[GF_PATH_MAX];
    snprintf(topic, sizeof topic, "%s.%s.", stage, kind);
    /* the chain and the progress bar are extras: without them the answer still comes */
    if (zmq_setsockopt(sub, ZMQ_SUBSCRIBE, topic, strlen(topic)) != 0)
        fprintf(stderr, "gotflow generate: cannot subscribe to '%s': %s\n", topic,
                zmq_strerror(zmq_errno()));
    for (int r = 0; r < g->stages[si].replicas; r++) {
        gf_plan_tap(g, run_dir, si, r, 0, ep, sizeof ep);
        if (zmq_connect(sub, ep) != 0)
            fprintf(stderr, "gotflow generate: cannot connect to the tap '%s': %s\n", ep,
                    zmq_strerror(zmq_errno()));
    }
}

static int s_bar_open;     /* a progress bar line is on the terminal, not yet ended */
static long long s_bar_of; /* its total */
static int s_text_open;    /* chain text is on stdout without its line ended */

/* A tap frame of our request: stream the chain, draw the progress bar. */
static void s_on_tap(void *sub, const char *id, int quiet)
{
    zmq_msg_t parts[3];
    int n = 0, more = 1;
    while (more && n < 3) {
        zmq_msg_init(&parts[n]);
        if (zmq_msg_recv(&parts[n], sub, ZMQ_DONTWAIT) < 0)
            break;
        more = zmq_msg_more(&parts[n++]);
    }
    gf_frame_t *f = NULL;
    if (n == 3 && !quiet &&
        gf_frame_decode(zmq_msg_data(&parts[2]), zmq_msg_size(&parts[2]), 0, &f, NULL, 0, NULL) ==
            0 &&
        strcmp(f->id, id) == 0) {
        const char *text;
        size_t len;
        int64_t step, of;
        if (strcmp(f->kind, "text_delta") == 0 && gf_frame_get_str(f, "text", &text, &len) == 0) {
            fwrite(text, 1, len, stdout);
            fflush(stdout);
            if (len)
                s_text_open = text[len - 1] != '\n';
        } else if (strcmp(f->kind, "progress") == 0 && gf_frame_get_int(f, "step", &step) == 0 &&
                   gf_frame_get_int(f, "of", &of) == 0 && of > 0) {
            int w = 40, done = (int)(step * w / of);
            if (!s_bar_open)
                fputc('\n', stdout), fflush(stdout);
            s_text_open = 0;
            s_bar_open = step < of;
            s_bar_of = of;
            fprintf(stderr, "\rimage tokens [%.*s%*s] %lld/%lld", done,
                    "########################################", w - done, "", (long long)step,
                    (long long)of);
            if (step >= of)
                fputc('\n', stderr);
        }
    }
    gf_frame_destroy(&f);
    for (int i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
}

/* Sends the request and waits for its answer (caller owns the frame). */
static gf_frame_t *s_ask(const struct s_opts *o, const gf_graph_t *g, const char *run_dir,
                         const char *id)
{
    void *ctx = zmq_ctx_new(), *req = zmq_socket(ctx, ZMQ_DEALER), *sub = zmq_socket(ctx, ZMQ_SUB);
    gf_frame_t *answer = NULL;
    char ep[GF_PATH_MAX];
    if (!req || !sub || gf_socket_defaults(req, g->max_frame_bytes) ||
        gf_socket_defaults(sub, g->max_frame_bytes))
        goto out;
    s_subscribe(sub, g, run_dir, "reason", "text_delta");
    s_subscribe(sub, g, run_dir, "imagegen", "progress");
    int gw = -1;
    for (int i = 0; i < g->n_stages && gw < 0; i++)
        if (strcmp(g->stages[i].kind, "gateway") == 0)
            gw = i;
    gf_plan_gateway(g, run_dir, gw, ep, sizeof ep);
    if (zmq_connect(req, ep) != 0) {
        fprintf(stderr, "gotflow generate: cannot connect to '%s'\n", ep);
        goto out;
    }
    usleep(200000); /* let the subscriptions reach the taps before the first frame */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    s_pack_request(o, id, &sb);
    if (zmq_send(req, sb.data, sb.size, 0) < 0) {
        fprintf(stderr, "gotflow generate: cannot send the request: %s\n",
                zmq_strerror(zmq_errno()));
        msgpack_sbuffer_destroy(&sb);
        goto out;
    }
    void *mon = gf_cli_watch_new(ctx, req, "generate");
    int broken = 0;
    int64_t deadline = gf_mono_ms() + o->timeout_s * 1000;
    while (!answer && gf_mono_ms() < deadline) {
        zmq_pollitem_t items[] = {
            {req, 0, ZMQ_POLLIN, 0}, {sub, 0, ZMQ_POLLIN, 0}, {mon, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, mon ? 3 : 2, 200) <= 0)
            continue;
        if (mon && (items[2].revents & ZMQ_POLLIN) && gf_cli_watch_reconnected(mon, &broken)) {
            /* the gateway restarted: ask again under the same id (docs/protocol.md) */
            fprintf(stderr, "\ngotflow generate: reconnected to the gateway; asking again\n");
            if (zmq_send(req, sb.data, sb.size, 0) < 0)
                fprintf(stderr, "gotflow generate: cannot send the request again: %s\n",
                        zmq_strerror(zmq_errno()));
        }
        if (items[1].revents & ZMQ_POLLIN)
            s_on_tap(sub, id, o->as_json);
        if (items[0].revents & ZMQ_POLLIN) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            char why[256];
            if (zmq_msg_recv(&m, req, 0) >= 0 &&
                gf_frame_decode(zmq_msg_data(&m), zmq_msg_size(&m), 0, &answer, why, sizeof why,
                                NULL) != 0)
                fprintf(stderr, "gotflow generate: undecodable answer: %s\n", why);
            zmq_msg_close(&m);
        }
    }
    if (s_bar_open && answer && strcmp(answer->kind, "error") != 0) /* the last steps */
        fprintf(stderr, "\rimage tokens [########################################] %lld/%lld\n",
                s_bar_of, s_bar_of);
    else if (s_bar_open)
        fputc('\n', stderr);
    if (s_text_open) /* no progress frame came (the tap drops frames when a reader is slow) */
        fputc('\n', stdout), s_text_open = 0;
    if (!answer)
        fprintf(stderr, "gotflow generate: no answer within %ld s\n", o->timeout_s);
    msgpack_sbuffer_destroy(&sb);
    if (mon)
        zmq_close(mon);
out:
    zmq_close(req);
    zmq_close(sub);
    zmq_ctx_term(ctx);
    return answer;
}

int cmd_generate(int argc, char **argv)
{
    struct s_opts o;
    int rc = s_parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? gf_opts_status(rc) : rc;
    char graph_path[GF_PATH_MAX + 128], tmpdir[64] = "", run_dir[GF_PATH_MAX], err[8192];
    if (s_graph_for(&o, graph_path, sizeof graph_path, tmpdir))
        return 1;
    gf_graph_t *g = NULL;
    if (gf_graph_load(graph_path, gf_plan_kind_known, NULL, &g, err, sizeof err) != 0) {
        fprintf(stderr, "%s", err);
        return 2;
    }
    pid_t sup = -1;
    rc = 1;
    if (s_defaults(&o, g))
        goto out;
    int running = gf_plan_find_run(graph_path, NULL, run_dir, sizeof run_dir, 1) == 0 &&
                  gf_cli_supervisor_alive(run_dir);
    if (running && (o.model || o.precision)) {
        fprintf(stderr,
                "gotflow generate: pipeline '%s' is already running (in '%s'); stop it "
                "or leave out --%s to use it\n",
                g->name, run_dir, o.model ? "model" : "precision");
        goto out;
    }
    if (o.precision)
        setenv("GOTFLOW_PRECISION", o.precision, 1);
    if (!running) {
        if (!o.as_json)
            fprintf(stderr, "starting pipeline '%s' (%s)\n", g->name, graph_path);
        sup = s_start(graph_path);
        if (sup < 0 ||
            gf_cli_wait_ready("generate", graph_path, NULL, sup, run_dir, gf_mono_ms() + 600000))
            goto out;
    }
    char id[GF_FRAME_ID_MAX];
    if (o.id)
        snprintf(id, sizeof id, "%s", o.id);
    else
        snprintf(id, sizeof id, "g%lld-%d", (long long)time(NULL), (int)getpid());
    if (!gf_frame_id_ok(id, strlen(id))) {
        fprintf(stderr, "gotflow generate: '%s' is not a request id (1..63 of [A-Za-z0-9._:-])\n",
                id);
        goto out;
    }
    if (!o.as_json)
        fprintf(stderr, "request '%s', seed %lld\n", id, o.seed);
    gf_frame_t *answer = s_ask(&o, g, run_dir, id);
    if (answer) {
        struct gf_generate_meta meta = {.prompt = o.prompt,
                                        .model = g->model,
                                        .seed = o.seed,
                                        .cfg_weight = o.cfg_weight,
                                        .text_temp = o.text_temp,
                                        .image_temp = o.image_temp,
                                        .parallel = o.parallel,
                                        .max_tokens = o.max_tokens,
                                        .pipeline = o.pipeline};
        rc = gf_generate_write(answer, o.out, &meta, o.as_json);
        gf_frame_destroy(&answer);
    }
out:
    if (sup > 0 && !o.keep) {
        kill(sup, SIGTERM);
        waitpid(sup, NULL, 0);
    }
    gf_graph_destroy(&g);
    if (tmpdir[0]) {
        unlink(graph_path);
        rmdir(tmpdir);
    }
    return rc;
}
