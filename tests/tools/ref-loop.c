/* ref-loop.c — the single-process reference for the pipeline tests: a caption through
 * gf_got_prompt_ids and gf_loop_run (MODEL.md §1) on the CPU backend, printed as one JSON line
 * {"prompt_ids": [...], "reasoning_ids": [...], "codes": [[...] per image]}.
 *
 * usage: ref-loop DIR CAPTION [max_text n_image parallel cfg_weight seed text_temp image_temp]
 *
 * GOTFLOW_PRECISION applies as the stages apply params.precision (q8_0|q4_0 quantize the
 * language model at load, f32 takes the exact path);
 * GOTFLOW_THREADS=N runs the backend with N threads (default 1; 0 = one per core).
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "kernels/ops.h"
#include "model/lm/checkpoint.h"
#include "model/tokenizer/got_prompt.h"
#include "model/lm/loop.h"

static void s_print_ids(const char *key, const int32_t *ids, int n)
{
    printf("\"%s\": [", key);
    for (int i = 0; i < n; i++)
        printf("%s%d", i ? ", " : "", ids[i]);
    printf("]");
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 10) {
        fprintf(stderr, "usage: ref-loop DIR CAPTION [max_text n_image parallel cfg_weight seed "
                        "text_temp image_temp]\n");
        return 2;
    }
    struct gf_ids ids = {0};
    struct gf_got_special sp;
    struct gf_ckpt *ck = NULL;
    struct gf_backend *be = NULL;
    struct gf_llm *m = NULL;
    struct gf_loop_result r = {0};
    char err[512];
    int rc = 1;
    if (gf_got_prompt_ids(argv[1], argv[2], &ids, &sp, err, sizeof err) != 0) {
        fprintf(stderr, "ref-loop: %s\n", err);
        goto out;
    }
    struct gf_loop_params p = {.prompt = ids.v,
                               .n_prompt = (int)ids.n,
                               .boi_id = sp.boi,
                               .pad_id = sp.pad,
                               .max_text = argc == 10 ? atoi(argv[3]) : 600,
                               .n_image = argc == 10 ? atoi(argv[4]) : 576,
                               .parallel = argc == 10 ? atoi(argv[5]) : 1,
                               .cfg_weight = argc == 10 ? (float)atof(argv[6]) : 5.0f,
                               .seed = argc == 10 ? strtoull(argv[7], NULL, 10) : 1000};
    p.text.temperature = argc == 10 ? (float)atof(argv[8]) : 1.0f;
    p.image.temperature = argc == 10 ? (float)atof(argv[9]) : 1.0f;
    p.text.top_p = p.image.top_p = 1.0f;
    const char *prec = getenv("GOTFLOW_PRECISION"), *threads = getenv("GOTFLOW_THREADS");
    int quant = -1;
    if (prec && !*prec)
        prec = NULL;
    if (gf_precision_parse(prec, &quant) < 0) {
        fprintf(stderr, "ref-loop: GOTFLOW_PRECISION '%s' is not bf16, f32, q8_0 or q4_0\n", prec);
        goto out;
    }
    if ((be = gf_backend_cpu_new(threads ? atoi(threads) : 1)) && gf_precision_exact(prec))
        gf_backend_cpu_exact(be);
    if (gf_ckpt_open(argv[1], &ck) < 0 || gf_ckpt_precision(ck, prec) < 0 || !be ||
        gf_llm_new(be, ck, gf_loop_slots(&p), gf_loop_max_seq(&p), 64, &m) < 0 ||
        gf_loop_run(m, &p, &r) < 0) {
        fprintf(stderr, "ref-loop: the reference loop failed\n");
        goto out;
    }
    printf("{");
    s_print_ids("prompt_ids", ids.v, (int)ids.n);
    printf(", ");
    s_print_ids("reasoning_ids", r.text, r.n_text);
    printf(", \"codes\": [");
    for (int k = 0; k < p.parallel; k++) {
        printf("%s{", k ? ", " : "");
        s_print_ids("image", r.image + (size_t)k * p.n_image, p.n_image);
        printf("}");
    }
    printf("]}\n");
    rc = 0;
out:
    gf_loop_result_release(&r);
    gf_llm_destroy(&m);
    gf_backend_destroy(&be);
    gf_ckpt_close(&ck);
    gf_ids_release(&ids);
    return rc;
}
