/* bench_vq.c — time of the VQ-16 decoder on the CPU backend: full VQ-16 shapes (24x24 codes →
 * 384x384 RGB), weights from mkmodel, random codes. Prints seconds per image and GFLOP/s per
 * round, then the best and the median.
 *
 *   build/bench/bench_vq [--model DIR] [--images N] [--rounds R] [--threads T]
 *
 * Without --model it makes a f32 checkpoint with the VQ-16 decoder (and a one-layer language
 * model) under /tmp/gf-bench-vq, reused by later runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/opts.h"
#include "model/lm/checkpoint.h"
#include "model/lm/vq.h"

#include "bench.h"

int main(int argc, char **argv)
{
    const char *dir = "/tmp/gf-bench-vq";
    int images = 1, rounds = 3, threads = 0;
    const struct gf_opt opts[] = {
        {"model", 0, GF_OPT_STRING, &dir, 0, 0, "DIR",
         "checkpoint with a VQ decoder (default: made under /tmp/gf-bench-vq)"},
        {"images", 0, GF_OPT_INT, &images, 1, 1024, "N", "images decoded at once (default 1)"},
        {"rounds", 0, GF_OPT_INT, &rounds, 1, 100, "R", "timed rounds (default 3)"},
        {"threads", 0, GF_OPT_INT, &threads, 0, 1024, "T", "CPU threads (default: all cores)"},
        {0}};
    const struct gf_opts spec = {"bench_vq", "usage: bench_vq [options]\n\n", opts, NULL};
    int first = gf_opts_parse(&spec, argc, argv);
    if (first < 0)
        return gf_opts_status(first);
    if (first != argc) {
        gf_opts_usage(&spec, stderr);
        return 2;
    }
    gf_log_init("bench_vq", GF_LOG_WARN);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (access(path, R_OK) != 0) {
        const char *bin = getenv("GOTFLOW_BIN");
        char cmd[8192];
        snprintf(cmd, sizeof cmd,
                 "%s/mkmodel --out '%s' --size tiny --layers 1 --image-vocab 16384 --vq-ch 128 "
                 "--dtype f32",
                 bin ? bin : "build/bin", dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "bench_vq: cannot make a checkpoint: %s\n", cmd);
            return 1;
        }
    }
    struct gf_ckpt *ck = NULL;
    struct gf_backend *be = gf_backend_cpu_new(threads);
    struct gf_vq *vq = NULL;
    int32_t *codes = NULL;
    float *out = NULL;
    double *secs = calloc(rounds, sizeof *secs);
    int rc = 1;
    if (!be || !secs || gf_ckpt_open(dir, &ck) < 0 || gf_vq_new(be, ck, images, 24, 24, &vq) < 0)
        goto out;
    int H, W, n_codes = gf_vq_config(vq)->codebook_size;
    gf_vq_image_size(vq, &H, &W);
    codes = malloc((size_t)images * 576 * sizeof *codes);
    out = malloc((size_t)images * 3 * H * W * sizeof *out);
    if (!codes || !out)
        goto out;
    uint64_t s = 1;
    for (int i = 0; i < images * 576; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        codes[i] = (int32_t)((s >> 33) % (uint64_t)n_codes);
    }
    double gflop = gf_vq_flops(vq) * 1e-9;
    printf("vq decode: %d image(s) %dx%d, %.1f GFLOP each, %d threads, weights %s\n", images, H, W,
           gflop, be->n_threads, dir);
    for (int r = 0; r < rounds; r++) {
        double t0 = gf_bench_now();
        if (gf_vq_decode(vq, codes, images, out) < 0)
            goto out;
        secs[r] = (gf_bench_now() - t0) / images;
        printf("round %d: %.3f s/image, %.1f GFLOP/s\n", r, secs[r], gflop / secs[r]);
        fflush(stdout);
    }
    qsort(secs, rounds, sizeof *secs, gf_bench_cmp);
    printf("ours vq decode: best %.3f s/image (%.1f GFLOP/s), median %.3f s/image\n", secs[0],
           gflop / secs[0], secs[rounds / 2]);
    rc = 0;
out:
    gf_vq_destroy(&vq);
    gf_ckpt_close(&ck);
    gf_backend_destroy(&be);
    free(codes), free(out), free(secs);
    return rc;
}
