/* check.c — the CUDA backend on a GPU, against the CPU backend (tests/gpu/run.sh runs it).
 *
 *   check ops [SEED [MODE [GROUP]]]  every op of struct gf_ops on fresh random inputs, CUDA
 *                                    against the CPU backend: f32 mode within 1e-5, bf16 mode
 *                                    within 1e-2 (1e-5 where it also sums in f32)
 *   check loop TINY [SECTION]        the reference loop (GoT-R1 stage 1 + stage 2 under CFG)
 *                                    greedy on the CPU and on CUDA: every token must agree;
 *                                    with CUDA graphs too; the VQ decode
 *   check time BIG [SECTION]         ceilings (HBM copy, bf16 GEMM) and timings of a bf16
 *                                    checkpoint, each against its ceiling
 *   check list                       the sections of each command
 *   check probe                      loads the CUDA backend, names its libraries, opens cuda:0
 *                                    in both modes (tests/gpu/run.sh's preflight)
 *
 * MODE is f32, bf16 or all; GROUP and SECTION a name from `check list` or all (the default).
 * Each (mode, group) and each section runs in a process of its own: the program starts itself
 * again with the selector and GF_CHECK_CHILD=1 in the environment (which runs a fully named
 * section in this process), so a sticky CUDA fault, a crash or a hang (GF_CHECK_TIMEOUT
 * seconds, 150 by default) ends only that section and is reported as its FAIL. Exit status: 0
 * when every check passed, 1 otherwise, 2 for a usage error.
 *
 * GOTFLOW_CHECK_BACKEND=ref|cpu puts the scalar reference or the CPU backend where CUDA would
 * be (the harness checked on a machine without a GPU); GF_CHECK_BREAK=OP[@INDEX] perturbs one
 * element of op OP's output before the comparison (a test of the harness: it must then fail
 * and print the index); GF_CHECK_BREAK=crash@SECTION aborts that section's process. */
#include "check.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "kernels/cuda/abi.h"
#include "model/lm/sampler.h"

/* --- shared helpers ------------------------------------------------------------------------ */

static uint64_t s_state = 1;

void check_seed(uint64_t seed)
{
    s_state = seed ? seed : 1;
}

float check_rand(void)
{
    s_state ^= s_state << 13;
    s_state ^= s_state >> 7;
    s_state ^= s_state << 17;
    return (float)((s_state >> 40) * (1.0 / (1 << 23))) - 1.0f;
}

double check_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

float *check_rnd(int64_t n, float scale)
{
    float *p = malloc(n * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = check_rand() * scale;
    return p;
}

float *check_nans(int64_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = NAN;
    return p;
}

/* every matrix check_mat made, freed when the section is over and its backends are gone */
static void **s_mats;
static int s_n_mats;

struct gf_mat check_mat(enum gf_wtype dt, int64_t rows, int64_t cols, float scale)
{
    struct gf_mat m = {dt, rows, cols, NULL};
    void *p = malloc(rows * cols * gf_wtype_size(dt));
    s_mats = realloc(s_mats, (s_n_mats + 1) * sizeof *s_mats);
    s_mats[s_n_mats++] = p;
    for (int64_t i = 0; i < rows * cols; i++)
        gf_wtype_put(p, i, dt, check_rand() * scale);
    m.data = p;
    return m;
}

int check_stand_in(void)
{
    const char *fake = getenv("GOTFLOW_CHECK_BACKEND");
    return fake && (strcmp(fake, "ref") == 0 || strcmp(fake, "cpu") == 0);
}

/* A stand-in's sample op: gf_cfg_mix and gf_sample on the host (the stand-ins' memory is host
 * memory), so that the harness's comparison of draws runs without a device too. Added to a copy
 * of the stand-in's table; the copy's destroy puts the original back before destroying. */
static struct {
    struct gf_backend *be;
    const struct gf_ops *orig;
    struct gf_ops ops;
} s_stand_ins[4];

static void s_host_sample(struct gf_backend *be, int32_t *ids, const float *logits, int vocab,
                          const struct gf_draw *draws, int n)
{
    float *mix = malloc(2 * (size_t)vocab * sizeof *mix);
    int32_t *idx = malloc((size_t)vocab * sizeof *idx);
    for (int i = 0; i < n; i++) {
        const float *l = logits + (size_t)draws[i].cond * vocab;
        if (draws[i].uncond >= 0) {
            gf_cfg_mix(mix + vocab, l, logits + (size_t)draws[i].uncond * vocab, vocab,
                       draws[i].cfg_weight);
            l = mix + vocab;
        }
        struct gf_sampler sp = {draws[i].temperature, 0, 1.0f};
        ids[i] = gf_sample(l, vocab, &sp, draws[i].u, mix, idx);
    }
    free(mix), free(idx);
}

static void s_stand_in_destroy(struct gf_backend *be)
{
    for (int i = 0; i < 4; i++)
        if (s_stand_ins[i].be == be) {
            be->ops = s_stand_ins[i].orig;
            s_stand_ins[i].be = NULL;
            gf_backend_destroy(&be);
            return;
        }
}

static struct gf_backend *s_stand_in(struct gf_backend *be)
{
    for (int i = 0; be && i < 4; i++)
        if (!s_stand_ins[i].be) {
            s_stand_ins[i].be = be;
            s_stand_ins[i].orig = be->ops;
            s_stand_ins[i].ops = *be->ops;
            s_stand_ins[i].ops.sample = s_host_sample;
            s_stand_ins[i].ops.destroy = s_stand_in_destroy;
            be->ops = &s_stand_ins[i].ops;
            break;
        }
    return be;
}

struct gf_backend *check_backend_new(enum gf_cuda_mode mode)
{
    const char *fake = getenv("GOTFLOW_CHECK_BACKEND");
    if (fake && strcmp(fake, "ref") == 0)
        return s_stand_in(gf_backend_ref_new());
    if (fake && strcmp(fake, "cpu") == 0)
        return s_stand_in(gf_backend_cpu_new(0));
    return gf_backend_cuda_new(0, mode);
}

int check_backend_ok(struct gf_backend *be)
{
    return !be->ops->check || be->ops->check(be) == 0;
}

void *check_up(struct gf_backend *be, const void *host, size_t bytes)
{
    void *p = be->ops->alloc(be, bytes);
    if (!p)
        return NULL;
    if (host) {
        be->ops->to_device(be, p, host, bytes);
    } else {
        float *nan = check_nans((int64_t)(bytes / sizeof(float)));
        be->ops->to_device(be, p, nan, bytes / sizeof(float) * sizeof(float));
        free(nan);
    }
    return p;
}

int64_t check_break(const char *op, int64_t n)
{
    const char *b = getenv("GF_CHECK_BREAK");
    size_t len = strlen(op);
    if (!b || n <= 0 || strncmp(b, op, len) != 0 || (b[len] != '\0' && b[len] != '@'))
        return -1;
    return b[len] == '@' ? strtoll(b + len + 1, NULL, 10) % n : n / 3;
}

/* --- the comparison ------------------------------------------------------------------------ */

int check_host(struct check_env *e, const char *op, const char *what, float *got, const float *ref,
               int64_t n, double tol)
{
    int64_t bi = check_break(op, n);
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(ref[i]))
            m = fmax(m, fabs((double)ref[i]));
    if (bi >= 0)
        got[bi] += 1.0f + 0.5f * (float)m;
    double limit = tol * (m > 0 ? m : 1), worst = 0;
    int64_t first = -1, wi = -1, over = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!isfinite(got[i]) || !isfinite(ref[i]))
            d = INFINITY;
        if (d > limit || d == INFINITY) {
            over++;
            if (first < 0)
                first = i;
        }
        if (d > worst || (wi < 0 && d == INFINITY)) {
            worst = d;
            wi = i;
        }
    }
    double err = m > 0 ? worst / m : worst;
    int bad = over > 0;
    e->checks++;
    e->failed += bad;
    printf("  %-11s %-46s %-5s %9.2e  (tol %.0e) %s\n", op, what, e->mode, err, tol,
           bad ? "FAIL" : "ok");
    if (bad)
        printf("  %-11s FAIL detail: %lld of %lld over tolerance; worst [%lld] got %.9g want %.9g;"
               " first [%lld] got %.9g want %.9g\n",
               op, (long long)over, (long long)n, (long long)wi, got[wi], ref[wi], (long long)first,
               got[first], ref[first]);
    fflush(stdout);
    return bad;
}

int check_dev(struct check_env *e, const char *op, const char *what, const void *dev,
              const float *ref, int64_t n, double tol)
{
    float *got = check_nans(n);
    if (dev)
        e->gpu->ops->to_host(e->gpu, got, dev, n * sizeof(float));
    int bad = check_host(e, op, what, got, ref, n, tol);
    if (!dev || !check_backend_ok(e->gpu)) {
        printf("  %-11s FAIL %s: a device error (see the log above)\n", op, what);
        e->failed += !bad;
        bad = 1;
    }
    free(got);
    return bad;
}

int check_verdict(struct check_env *e, const char *op, const char *what, int ok, const char *detail)
{
    e->checks++;
    e->failed += !ok;
    printf("  %-11s %-46s %-5s %s%s%s\n", op, what, e->mode ? e->mode : "", ok ? "ok" : "FAIL",
           detail && *detail ? ": " : "", detail ? detail : "");
    fflush(stdout);
    return !ok;
}

/* --- sections, each in its own process ----------------------------------------------------- */

struct s_cmd {
    const char *name;
    const struct check_section *sections;
    int per_mode; /* ops: every section once per mode */
};

static const struct s_cmd s_cmds[] = {
    {"ops", check_ops_sections, 1},
    {"loop", check_loop_sections, 0},
    {"time", check_time_sections, 0},
};

static const struct check_section *s_find(const struct check_section *s, const char *name)
{
    for (; s->name; s++)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

/* Runs one section in this process. */
static int s_run_here(const struct s_cmd *c, const struct check_section *s, const char *mode,
                      const char *arg)
{
    int f32 = strcmp(mode, "f32") == 0;
    struct check_env e = {gf_backend_cpu_new(0), NULL, mode, f32 ? 1e-5 : 1e-2, 0, 0};
    int bad = 0;
    if (c->per_mode) { /* fresh inputs per group, whatever the order the groups run in */
        uint64_t h = strtoull(arg, NULL, 10);
        for (const char *p = s->name; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        check_seed(h);
    }
    const char *brk = getenv("GF_CHECK_BREAK");
    if (brk && strncmp(brk, "crash@", 6) == 0 && strcmp(brk + 6, s->name) == 0)
        abort(); /* GF_CHECK_BREAK=crash@SECTION: a section dying, for the harness's own test */
    if (c->per_mode && !(e.gpu = check_backend_new(f32 ? GF_CUDA_F32 : GF_CUDA_BF16))) {
        printf("  %-11s FAIL the backend did not start in %s mode (see the log)\n", s->name, mode);
        bad = 1;
    } else {
        bad = s->run(&e, arg) != 0 || e.failed;
    }
    printf("%s %s%s%s: %d checks, %d failed\n", c->name, c->per_mode ? mode : "",
           c->per_mode ? " " : "", s->name, e.checks, e.failed + (bad && !e.failed));
    gf_backend_destroy(&e.gpu);
    gf_backend_destroy(&e.cpu);
    for (int i = 0; i < s_n_mats; i++)
        free(s_mats[i]);
    free(s_mats);
    return bad;
}

/* Starts this program again with argv (GF_CHECK_CHILD=1), waits at most `limit` seconds;
 * returns 0 when it exited 0, else 1 after saying how it ended unless it was a plain failure. */
static int s_child(char **argv, const char *label, double limit)
{
    fflush(stdout);
    fflush(stderr);
    double t0 = check_now();
    pid_t pid = fork();
    if (pid < 0) {
        printf("  %s: FAIL cannot fork: %s\n", label, strerror(errno));
        return 1;
    }
    if (pid == 0) {
        setenv("GF_CHECK_CHILD", "1", 1);
        execv("/proc/self/exe", argv);
        fprintf(stderr, "cannot run '/proc/self/exe': %s\n", strerror(errno));
        _exit(127);
    }
    int st = 0;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            printf("  %s: FAIL waitpid: %s\n", label, strerror(errno));
            return 1;
        }
        if (check_now() - t0 > limit) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            printf("  %s: FAIL timed out after %.0f s (killed)\n", label, limit);
            return 1;
        }
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    double t = check_now() - t0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        printf("[%s: ok in %.1f s]\n", label, t);
        return 0;
    }
    if (WIFSIGNALED(st))
        printf("  %s: FAIL killed by signal %d (%s) after %.1f s\n", label, WTERMSIG(st),
               strsignal(WTERMSIG(st)), t);
    else if (WEXITSTATUS(st) != 1)
        printf("  %s: FAIL exit status %d after %.1f s\n", label, WEXITSTATUS(st), t);
    printf("[%s: FAILED in %.1f s]\n", label, t);
    return 1;
}

/* The sections selected by `sel` (a name or all), each in its own process. */
static int s_run_children(const struct s_cmd *c, char *argv0, char *arg, const char *modes,
                          const char *sel)
{
    const char *env = getenv("GF_CHECK_TIMEOUT");
    double limit = env ? atof(env) : 150;
    int runs = 0, bad = 0;
    char failed[1024] = "";
    static const char *const all_modes[] = {"f32", "bf16"};
    char ceil[64] = "";
    if (strcmp(c->name, "time") == 0) { /* the ceilings, measured once, for every section */
        snprintf(ceil, sizeof ceil, "/tmp/gotflow-check-ceilings.%d", (int)getpid());
        setenv("GF_CHECK_CEILINGS", ceil, 1);
        if (strcmp(sel, "all") != 0 && strcmp(sel, "ceilings") != 0) {
            char *args[] = {argv0, (char *)c->name, arg, "ceilings", NULL};
            bad += s_child(args, "time ceilings", limit);
            runs++;
        }
    }
    for (int mi = 0; mi < (c->per_mode ? 2 : 1); mi++) {
        const char *mode = all_modes[mi];
        if (c->per_mode && strcmp(modes, "all") != 0 && strcmp(modes, mode) != 0)
            continue;
        for (const struct check_section *s = c->sections; s->name; s++) {
            if (strcmp(sel, "all") != 0 && strcmp(sel, s->name) != 0)
                continue;
            char label[128];
            snprintf(label, sizeof label, "%s %s%s%s", c->name, c->per_mode ? mode : "",
                     c->per_mode ? " " : "", s->name);
            char *args[] = {argv0, (char *)c->name, arg, (char *)mode, (char *)s->name, NULL};
            if (!c->per_mode)
                args[3] = (char *)s->name, args[4] = NULL;
            int b = s_child(args, label, limit);
            runs++;
            bad += b;
            if (b && strlen(failed) + strlen(label) + 3 < sizeof failed)
                strcat(strcat(failed, failed[0] ? ", " : ""), label);
        }
    }
    if (ceil[0])
        unlink(ceil);
    printf("%s: %d sections, %d failed%s%s\n", c->name, runs, bad, bad ? ": " : "", failed);
    return bad != 0;
}

static void s_list(void)
{
    for (size_t i = 0; i < sizeof s_cmds / sizeof *s_cmds; i++) {
        printf("%s%s:\n", s_cmds[i].name, s_cmds[i].per_mode ? " (modes f32, bf16)" : "");
        for (const struct check_section *s = s_cmds[i].sections; s->name; s++)
            printf("  %-16s %s\n", s->name, s->what);
    }
}

static int s_probe(void)
{
    char buf[256];
    if (check_stand_in()) {
        printf("probe: a CPU stand-in (GOTFLOW_CHECK_BACKEND), no device\n");
        return 0;
    }
    if (gf_cuda_probe_versions(buf, sizeof buf) < 0) {
        printf("probe: FAIL the CUDA backend does not load: %s\n", buf);
        return 1;
    }
    printf("probe: %s\n", buf);
    for (int m = 0; m < 2; m++) {
        struct gf_backend *be = gf_backend_cuda_new(0, m ? GF_CUDA_F32 : GF_CUDA_BF16);
        if (!be) {
            printf("probe: FAIL cuda:0 does not start in %s mode (see the log)\n",
                   m ? "f32" : "bf16");
            return 1;
        }
        gf_backend_destroy(&be);
    }
    printf("probe: cuda:0 starts in bf16 and f32 mode\n");
    return 0;
}

static int s_usage(void)
{
    fprintf(stderr,
            "usage: check ops [SEED [f32|bf16|all [GROUP|all]]] | check loop TINY_CKPT "
            "[SECTION|all] | check time BF16_CKPT [SECTION|all] | check list | check probe\n");
    return 2;
}

int main(int argc, char **argv)
{
    gf_log_init("gpu-check", GF_LOG_WARN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* the CPU backend is the f32 truth the device is held to (1e-5): the exact path, not the
     * AVX-512 BF16 one with bf16 activations; the sections' processes inherit it */
    setenv("GOTFLOW_NO_AVX512", "1", 1);
    if (argc == 2 && strcmp(argv[1], "list") == 0)
        return s_list(), 0;
    if (argc == 2 && strcmp(argv[1], "probe") == 0)
        return s_probe();
    const struct s_cmd *c = NULL;
    for (size_t i = 0; argc >= 2 && i < sizeof s_cmds / sizeof *s_cmds; i++)
        if (strcmp(argv[1], s_cmds[i].name) == 0)
            c = &s_cmds[i];
    if (!c || (!c->per_mode && argc < 3))
        return s_usage();
    char seed[32];
    char *arg = argv[2];
    const char *mode = "all", *sel;
    if (c->per_mode) {
        snprintf(seed, sizeof seed, "%llu",
                 argc > 2 ? strtoull(argv[2], NULL, 10) : (unsigned long long)time(NULL));
        arg = seed;
        mode = argc > 3 ? argv[3] : "all";
        sel = argc > 4 ? argv[4] : "all";
        if (strcmp(mode, "all") && strcmp(mode, "f32") && strcmp(mode, "bf16"))
            return s_usage();
    } else {
        sel = argc > 3 ? argv[3] : "all";
    }
    const struct check_section *s = strcmp(sel, "all") ? s_find(c->sections, sel) : NULL;
    if (strcmp(sel, "all") && !s) {
        fprintf(stderr, "check %s: no section '%s' (check list)\n", c->name, sel);
        return 2;
    }
    const char *child = getenv("GF_CHECK_CHILD");
    if (child && strcmp(child, "1") == 0 && s && (!c->per_mode || strcmp(mode, "all")))
        return s_run_here(c, s, c->per_mode ? mode : "f32", arg);
    if (c->per_mode)
        printf("ops: %s against the CPU backend, random inputs from seed %s\n",
               check_stand_in() ? getenv("GOTFLOW_CHECK_BACKEND") : "CUDA", seed);
    return s_run_children(c, argv[0], arg, mode, sel);
}
