/* cmd_decode_image.c — `gotflow decode-image --model DIR`: image codes in, PNG files out. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "core/error.h"
#include "core/opts.h"
#include "kernels/ops.h"
#include "model/lm/checkpoint.h"
#include "model/picture/image.h"
#include "model/picture/png.h"
#include "model/lm/vq.h"
#include "util.h"

static const char s_head[] =
    "usage: gotflow decode-image --model DIR [--out DIR] [--threads N] [--device cpu|cuda:N]\n"
    "                            [--precision bf16|f32] [FILE|-]\n"
    "\n"
    "Decodes image token codes with the checkpoint's VQ decoder and writes PNG files. Each input\n"
    "line is a JSON object with `codes`: a list of images, each a list of grid_h*grid_w codes\n"
    "(raster order), and optionally `grid` [h, w] (default: square) and `id`. A line printed by\n"
    "`gotflow tap PIPELINE imagegen.image_tokens --json --max-bin -1` works as it is. Writes\n"
    "OUT/ID_K.png (ID = the line's id, or its number) and prints each path.\n"
    "\n";
static const char s_tail[] = "\n"
                             "exit status: 0 all written, 1 a line could not be decoded, 2 usage\n";

/* Codes of a line: a list of lists, or a tensor {dtype: i32, shape: [n, hw], data: {$bin}}. */
static int32_t *s_codes(json_t *line, int *n, int *hw)
{
    json_t *frame = json_object_get(line, "frame"), *c;
    if (frame)
        line = frame;
    c = json_object_get(line, "codes");
    if (json_is_array(c) && json_array_size(c) > 0 && json_is_array(json_array_get(c, 0))) {
        *n = (int)json_array_size(c);
        *hw = (int)json_array_size(json_array_get(c, 0));
        int32_t *v = malloc((size_t)*n * (size_t)*hw * sizeof *v);
        for (int i = 0; v && i < *n; i++) {
            json_t *row = json_array_get(c, (size_t)i);
            if ((int)json_array_size(row) != *hw) {
                free(v);
                return NULL;
            }
            for (int k = 0; k < *hw; k++)
                v[(size_t)i * (size_t)*hw + (size_t)k] =
                    (int32_t)json_integer_value(json_array_get(row, (size_t)k));
        }
        return v;
    }
    return NULL;
}

int cmd_decode_image(int argc, char **argv)
{
    const char *model = NULL, *out = ".", *device = NULL, *prec = NULL;
    int threads = 0, rc = 0;
    const struct gf_opt opts[] = {
        {"model", 0, GF_OPT_STRING, &model, 0, 0, "DIR", "checkpoint directory (HF layout)"},
        {"out", 0, GF_OPT_STRING, &out, 0, 0, "DIR", "output folder (default .)"},
        {"threads", 0, GF_OPT_INT, &threads, 0, 1024, "N", "CPU threads (default: all cores)"},
        {"device", 0, GF_OPT_STRING, &device, 0, 0, "D", "cpu (default) or cuda:N"},
        {"precision", 0, GF_OPT_STRING, &prec, 0, 0, "P", "on cuda:N: bf16 (default) or f32"},
        {0}};
    const struct gf_opts spec = {"gotflow decode-image", s_head, opts, s_tail};
    int first = gf_opts_parse(&spec, argc, argv);
    if (first < 0)
        return gf_opts_status(first);
    if (!model || argc - first > 1) {
        gf_opts_usage(&spec, stderr);
        return 2;
    }
    if (gf_cli_device_check("decode-image", device, prec))
        return 2;
    FILE *in = stdin;
    if (first < argc && strcmp(argv[first], "-") != 0 && !(in = fopen(argv[first], "r"))) {
        fprintf(stderr, "gotflow decode-image: cannot open '%s'\n", argv[first]);
        return 1;
    }
    struct gf_backend *be = gf_cli_backend(device, threads, prec);
    struct gf_ckpt *ck = NULL;
    if (!be)
        return 1;
    if (gf_ckpt_open(model, &ck) != 0) {
        fprintf(stderr, "gotflow decode-image: cannot open the checkpoint '%s'\n", model);
        gf_backend_destroy(&be);
        return 1;
    }
    mkdir(out, 0755);
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    while (getline(&line, &cap, in) > 0) {
        lineno++;
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        int n = 0, hw = 0;
        int32_t *codes = j ? s_codes(j, &n, &hw) : NULL;
        if (!codes) {
            fprintf(stderr, "gotflow decode-image: line %ld: no 'codes' list of equal rows\n",
                    lineno);
            rc = 1;
            json_decref(j);
            continue;
        }
        json_t *g =
            json_object_get(json_object_get(j, "frame") ? json_object_get(j, "frame") : j, "grid");
        int gh = g ? (int)json_integer_value(json_array_get(g, 0)) : (int)lround(sqrt(hw));
        int gw = g ? (int)json_integer_value(json_array_get(g, 1)) : gh;
        struct gf_vq *vq = NULL;
        float *pix = NULL;
        int h = 0, w = 0;
        if (gh * gw != hw) {
            fprintf(stderr,
                    "gotflow decode-image: line %ld: %d codes per image do not fill a "
                    "%dx%d grid\n",
                    lineno, hw, gh, gw);
            rc = 1;
        } else if (gf_vq_new(be, ck, n, gh, gw, &vq) != 0) {
            fprintf(stderr,
                    "gotflow decode-image: line %ld: cannot build the VQ decoder of '%s' "
                    "(see above)\n",
                    lineno, model);
            rc = 1;
        } else {
            gf_vq_image_size(vq, &h, &w);
            pix = malloc((size_t)n * 3 * (size_t)h * (size_t)w * sizeof *pix);
        }
        if (vq && pix && gf_vq_decode(vq, codes, n, pix) == 0) {
            const char *id = json_string_value(json_object_get(
                json_object_get(j, "frame") ? json_object_get(j, "frame") : j, "id"));
            struct gf_image img;
            gf_image_init(&img, w, h);
            for (int k = 0; k < n; k++) {
                char path[4096];
                if (id)
                    snprintf(path, sizeof path, "%s/%s_%d.png", out, id, k);
                else
                    snprintf(path, sizeof path, "%s/%ld_%d.png", out, lineno, k);
                gf_image_pixels_chw(pix + (size_t)k * 3 * (size_t)h * (size_t)w, h, w, img.rgb);
                if (gf_png_write_file(path, &img) == 0) {
                    printf("%s\n", path);
                } else {
                    fprintf(stderr, "gotflow decode-image: cannot write '%s'\n", path);
                    rc = 1;
                }
            }
            gf_image_release(&img);
        } else if (vq) {
            fprintf(stderr,
                    "gotflow decode-image: line %ld: cannot decode (a code outside the "
                    "codebook?)\n",
                    lineno);
            rc = 1;
        }
        free(pix);
        gf_vq_destroy(&vq);
        free(codes);
        json_decref(j);
    }
    free(line);
    if (in != stdin)
        fclose(in);
    gf_ckpt_close(&ck);
    gf_backend_destroy(&be);
    return rc;
}
