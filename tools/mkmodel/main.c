/* main.c — `mkmodel`: writes a deterministic random GoT-R1 checkpoint in the published layout.
 *
 * Same flags, same bytes, on any machine: every value comes from an integer hash of
 * (seed, tensor name, element index), converted exactly. Sizes come from a preset (--size) and
 * per-field flags on top of it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/opts.h"
#include "tensors.h"
#include "write.h"

static int s_preset(const char *name, struct gf_model_config *c, struct mk_vq *vq)
{
    struct gf_model_config tiny = {64, 160, 2, 4, 4, 16, 512, 2048, 1e-6f, 10000.0f, 64, 256, 8, 2};
    struct gf_model_config b1 = {2048,  5632,  24,       16,   16,    128, 102400,
                                 16384, 1e-6f, 10000.0f, 2048, 16384, 8,   2};
    struct gf_model_config b7 = {4096,  11008, 30,       32,   32,    128, 102400,
                                 16384, 1e-6f, 10000.0f, 4096, 16384, 8,   2};
    if (strcmp(name, "tiny") == 0)
        *c = tiny, vq->ch = 8;
    else if (strcmp(name, "1b") == 0)
        *c = b1, vq->ch = 128;
    else if (strcmp(name, "7b") == 0)
        *c = b7, vq->ch = 128;
    else
        return -1;
    return 0;
}

/* mkdir -p */
static int s_mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Parameter counts per part, to hold against the published sizes (MODEL.md §2.3, §4.1, §5). */
static int s_dry_run(const struct gf_model_config *c, const struct mk_vq *vq)
{
    static const char *const parts[] = {"language_model.", "gen_head.",         "gen_aligner.",
                                        "gen_embed.",      "gen_vision_model.", "aligner."};
    long long count[7] = {0}, total = 0;
    struct mk_list l = {0};
    if (mk_list_build(&l, c, vq) < 0)
        return 1;
    for (int i = 0; i < l.n; i++) {
        long long n = 1;
        for (int d = 0; d < l.t[i].ndim; d++)
            n *= l.t[i].shape[d];
        int p = 0;
        while (p < 6 && strncmp(l.t[i].name, parts[p], strlen(parts[p])) != 0)
            p++;
        /* the VQ figure is the decoder path: no encoder-side quant_conv, no usage buffer */
        const char *nm = l.t[i].name;
        if (p == 4 &&
            (strstr(nm, "codebook_used") || strncmp(nm, "gen_vision_model.quant_conv.", 28) == 0))
            p = 6;
        count[p] += n;
        total += n;
    }
    for (int p = 0; p < 6; p++)
        printf("%-20s %lld\n", parts[p], count[p]);
    printf("%-20s %lld\n%-20s %lld\n%-20s %d\n", "other", count[6], "total", total, "tensors", l.n);
    mk_list_release(&l);
    return 0;
}

static int s_write(const struct mk_opts *o)
{
    if (s_mkdir_p(o->out) != 0) {
        gf_log_error("cannot create '%s': %s", o->out, strerror(errno));
        return 1;
    }
    struct mk_list l = {0};
    int rc = 1;
    if (mk_list_build(&l, &o->cfg, &o->vq) < 0) {
        gf_log_error("out of memory");
        goto out;
    }
    if (mk_write_config(o) < 0 || mk_write_tokenizer_configs(o) < 0 || mk_write_tokenizer(o) < 0 ||
        mk_write_weights(o, &l) < 0)
        goto out;
    rc = 0;
out:
    mk_list_release(&l);
    return rc;
}

static const char s_head[] =
    "usage: mkmodel --out DIR [options]\n\n"
    "Writes config.json, model.safetensors (or shards + index) and tokenizer configs.\n\n";

/* "1,1,2,2,4" into vq->mult; -1 when it is not a list of 1..8 multipliers in 1..64. */
static int s_parse_mult(const char *s, struct mk_vq *vq)
{
    const char *p = s;
    char *end;
    vq->n_levels = 0;
    while (*p && vq->n_levels < 8) {
        long m = strtol(p, &end, 10);
        if (end == p || m <= 0 || m > 64)
            break;
        vq->mult[vq->n_levels++] = (int)m;
        p = *end == ',' ? end + 1 : end;
    }
    return *p != 0 || vq->n_levels == 0 ? -1 : 0;
}

/* The shapes must divide as the model needs; 0 when they do. */
static int s_check(const struct mk_opts *o, int dry)
{
    const struct gf_model_config *c = &o->cfg;
    const struct mk_vq *vq = &o->vq;
    return (!o->out && !dry) || c->hidden % c->n_heads || c->n_heads % c->n_kv_heads ||
                   o->shards < 1 || vq->n_res > 3
               ? -1
               : 0;
}

int main(int argc, char **argv)
{
    static const enum gf_wtype dtypes[] = {GF_WTYPE_F32, GF_WTYPE_F16, GF_WTYPE_BF16};
    struct mk_opts o = {.shards = 1};
    struct gf_model_config *c = &o.cfg;
    struct mk_vq *vq = &o.vq;
    *vq = (struct mk_vq){.n_levels = 5, .mult = {1, 1, 2, 2, 4}, .n_res = 2};
    int kv = -1, dry = 0, dtype = 0;
    const char *size = "tiny", *mult = NULL, *seed = "1";
    for (int i = 1; i < argc; i++) /* the preset first, so that other flags override it */
        if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            size = argv[i + 1];
        else if (strncmp(argv[i], "--size=", 7) == 0)
            size = argv[i] + 7;
    if (s_preset(size, c, vq) < 0) {
        fprintf(stderr, "mkmodel: unknown --size '%s'\n", size);
        return 2;
    }
    const double big = 1 << 30;
    const struct gf_opt opts[] = {
        {"out", 0, GF_OPT_STRING, &o.out, 0, 0, "DIR", "where to write (created if missing)"},
        {"size", 0, GF_OPT_STRING, &size, 0, 0, "tiny|1b|7b", "preset shapes (default tiny)"},
        {"hidden", 0, GF_OPT_INT, &c->hidden, 1, big, "N", "hidden size"},
        {"intermediate", 0, GF_OPT_INT, &c->intermediate, 1, big, "N", "MLP intermediate size"},
        {"layers", 0, GF_OPT_INT, &c->n_layers, 1, big, "N", "transformer layers"},
        {"heads", 0, GF_OPT_INT, &c->n_heads, 1, big, "N", "attention heads"},
        {"kv-heads", 0, GF_OPT_INT, &kv, 1, big, "N", "key/value heads (default: --heads)"},
        {"vocab", 0, GF_OPT_INT, &c->vocab, 1, big, "N", "text vocabulary"},
        {"image-vocab", 0, GF_OPT_INT, &c->image_vocab, 1, big, "N", "image code vocabulary"},
        {"code-dim", 0, GF_OPT_INT, &c->aligner_in, 1, big, "N", "image code embedding size"},
        {"max-pos", 0, GF_OPT_INT, &c->max_pos, 0, big, "N", "maximum positions"},
        {"vq-ch", 0, GF_OPT_INT, &vq->ch, 0, big, "N",
         "VQ decoder base channels (0 = no gen_vision_model; tiny 8)"},
        {"vq-mult", 0, GF_OPT_STRING, &mult, 0, 0, "A,B,..",
         "decoder channel multipliers (default 1,1,2,2,4)"},
        {"vq-z", 0, GF_OPT_INT, &vq->z_channels, 0, big, "N", "z_channels (default 2 x vq-ch)"},
        {"vq-res", 0, GF_OPT_INT, &vq->n_res, 0, 3, "N",
         "res blocks per level minus one (default 2)"},
        {"image-size", 0, GF_OPT_INT, &vq->image_size, 0, big, "N",
         "the picture the codes make, written into gen_vision_config\n"
         "(default: not written, so 384 and 16)"},
        {"patch-size", 0, GF_OPT_INT, &vq->patch_size, 0, big, "N", "with --image-size"},
        {"dtype", 0, GF_OPT_ENUM, &dtype, 0, 0, "f32|f16|bf16", "(default f32)"},
        {"shards", 0, GF_OPT_INT, &o.shards, 1, big, "N",
         "split into N files with model.safetensors.index.json"},
        {"seed", 0, GF_OPT_STRING, &seed, 0, 0, "N", "(default 1)"},
        {"tokenizer", 0, GF_OPT_STRING, &o.tokenizer, 0, 0, "FILE",
         "base tokenizer.json to extend (default: 256 byte tokens)"},
        {"dry-run", 0, GF_OPT_FLAG, &dry, 0, 0, NULL,
         "print parameter counts per part and write nothing"},
        {0}};
    const struct gf_opts spec = {"mkmodel", s_head, opts, NULL};
    gf_log_init("mkmodel", GF_LOG_INFO);
    int first = gf_opts_parse(&spec, argc, argv);
    if (first < 0)
        return gf_opts_status(first);
    o.dtype = dtypes[dtype];
    o.seed = strtoull(seed, NULL, 10);
    c->n_kv_heads = kv > 0 ? kv : c->n_heads;
    if ((mult && s_parse_mult(mult, vq) < 0) || s_check(&o, dry) < 0) {
        gf_opts_usage(&spec, stderr);
        return 2;
    }
    c->head_dim = c->hidden / c->n_heads;
    c->image_token_embed = c->hidden;
    if (dry)
        return s_dry_run(c, vq);
    return s_write(&o);
}
