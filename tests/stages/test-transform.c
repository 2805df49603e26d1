/* test-transform.c — a stage for testing the engine with real processes and sockets.
 *
 * Reads the integer payload key `x` and writes x * mul + add. Params (graph `params:`):
 *   mul, add          the arithmetic (defaults 1 and 0)
 *   delay_us          time spent per frame (sleeping), to make a stage slow
 *   kind              kind of the frames it emits (default "tokens")
 *   out               the key the result is written to (default "x")
 *   leak_kb           memory allocated, touched and never freed per frame (a leaking stage)
 * Per-request commands in the payload, each naming the stage that obeys it:
 *   fail: STAGE       answer with an error frame
 *   crash: STAGE      abort() the process (the supervisor restarts it)
 *   hang: STAGE       stop answering anything (missed heartbeats); with once: PATH, only
 *                     while the file PATH does not exist (it is created first), so a second
 *                     attempt of the request goes through
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include "core/error.h"
#include "engine/stage.h"

struct s_conf {
    long mul, add, delay_us, leak_kb;
    const char *kind, *out;
};

static int s_names_me(gf_stage_t *st, const gf_frame_t *f, const char *key)
{
    const char *s;
    size_t len;
    const char *me = gf_stage_info(st)->def->name;
    return gf_frame_get_str(f, key, &s, &len) == 0 && len == strlen(me) && memcmp(s, me, len) == 0;
}

static int s_process(gf_stage_t *st, gf_frame_t **frames, int n)
{
    struct s_conf *c = gf_stage_info(st)->user;
    for (int i = 0; i < n; i++) {
        gf_frame_t *f = frames[i];
        if (s_names_me(st, f, "crash"))
            abort();
        if (s_names_me(st, f, "hang")) {
            const char *once;
            size_t len;
            char path[1024] = "";
            if (gf_frame_get_str(f, "once", &once, &len) == 0 && len < sizeof path)
                memcpy(path, once, len), path[len] = 0;
            if (!path[0] || access(path, F_OK) != 0) {
                if (path[0])
                    close(open(path, O_CREAT | O_WRONLY, 0600));
                for (;;)
                    pause();
            }
        }
        if (c->leak_kb > 0) {
            char *p = malloc((size_t)c->leak_kb * 1024);
            if (p)
                memset(p, 1, (size_t)c->leak_kb * 1024); /* resident, never freed */
        }
        if (s_names_me(st, f, "fail")) {
            gf_stage_fail(st, &frames[i], GF_ESTAGE, "failed on request");
            continue;
        }
        int64_t x = 0;
        int err = gf_frame_get_int(f, "x", &x);
        if (err == GF_ESCHEMA) {
            gf_stage_fail(st, &frames[i], GF_ESCHEMA, "'x' is not an integer");
            continue;
        }
        if (c->delay_us > 0) {
            struct timespec ts = {c->delay_us / 1000000, (c->delay_us % 1000000) * 1000};
            nanosleep(&ts, NULL);
        }
        gf_emit_t *e = gf_stage_begin(st, f, c->kind);
        gf_emit_int(e, c->out, x * c->mul + c->add);
        gf_stage_send(st, f);
        gf_stage_done(st, &frames[i]);
    }
    return 0;
}

static int s_init(gf_stage_t *st)
{
    struct gf_stage_info *info = gf_stage_info(st);
    static struct s_conf conf;
    conf.mul = gf_graph_param_long(info->def, "mul", 1);
    conf.add = gf_graph_param_long(info->def, "add", 0);
    conf.delay_us = gf_graph_param_long(info->def, "delay_us", 0);
    conf.leak_kb = gf_graph_param_long(info->def, "leak_kb", 0);
    conf.kind = gf_graph_param(info->def, "kind");
    if (!conf.kind)
        conf.kind = "tokens";
    conf.out = gf_graph_param(info->def, "out");
    if (!conf.out)
        conf.out = "x";
    info->user = &conf;
    return 0;
}

static const struct gf_stage_ops s_ops = {
    .kind = "test-transform",
    .init = s_init,
    .process = s_process,
};

int main(int argc, char **argv)
{
    return gf_stage_main(argc, argv, &s_ops);
}
