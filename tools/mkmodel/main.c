/* main.c — `mkmodel`: writes a deterministic random GoT-R1 checkpoint in the published layout.
 *
 * Same flags, same bytes, on any machine: every value comes from an integer hash of
 * (seed, tensor name, element index), converted exactly. Sizes come from a preset (--size) and
 * per-field flags on top of it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "tensors.h"
#include "write.h"

static void s_usage(FILE *f)
{
    fprintf(f,
            "usage: mkmodel --out DIR [options]\n\n"
            "Writes config.json, model.safetensors (or shards + index) and tokenizer configs.\n\n"
            "  --size tiny|1b|7b   preset shapes (default tiny)\n"
            "  --hidden N --intermediate N --layers N --heads N --kv-heads N\n"
            "  --vocab N --image-vocab N --code-dim N --max-pos N\n"
            "  --vq-ch N           VQ decoder base channels (0 = no gen_vision_model; tiny 8)\n"
            "  --vq-mult A,B,..    decoder channel multipliers (default 1,1,2,2,4)\n"
            "  --vq-z N            z_channels (default 2 x vq-ch)\n"
            "  --vq-res N          res blocks per level minus one (default 2)\n"
            "  --image-size N --patch-size N  the picture the codes make, written into\n"
            "                      gen_vision_config (default: not written, so 384 and 16)\n"
            "  --dtype f32|f16|bf16  (default f32)\n"
            "  --shards N          split into N files with model.safetensors.index.json\n"
            "  --seed N            (default 1)\n"
            "  --tokenizer FILE    base tokenizer.json to extend (default: 256 byte tokens)\n"
            "  --dry-run           print parameter counts per part and write nothing\n");
}

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

int main(int argc, char **argv)
{
    enum {
        O_SIZE = 256,
        O_HID,
        O_INT,
        O_LAY,
        O_HEADS,
        O_KV,
        O_VOC,
        O_IVOC,
        O_CD,
        O_MAXP,
        O_VQ,
        O_VQM,
        O_VQZ,
        O_VQR,
        O_IMG,
        O_PATCH,
        O_DT,
        O_SH,
        O_SEED,
        O_OUT,
        O_TOK,
        O_DRY,
        O_HELP
    };
    static const struct option opts[] = {
        {"size", 1, 0, O_SIZE},        {"hidden", 1, 0, O_HID},       {"intermediate", 1, 0, O_INT},
        {"layers", 1, 0, O_LAY},       {"heads", 1, 0, O_HEADS},      {"kv-heads", 1, 0, O_KV},
        {"vocab", 1, 0, O_VOC},        {"image-vocab", 1, 0, O_IVOC}, {"code-dim", 1, 0, O_CD},
        {"max-pos", 1, 0, O_MAXP},     {"vq-ch", 1, 0, O_VQ},         {"vq-mult", 1, 0, O_VQM},
        {"vq-z", 1, 0, O_VQZ},         {"vq-res", 1, 0, O_VQR},       {"image-size", 1, 0, O_IMG},
        {"patch-size", 1, 0, O_PATCH}, {"dtype", 1, 0, O_DT},         {"shards", 1, 0, O_SH},
        {"seed", 1, 0, O_SEED},        {"out", 1, 0, O_OUT},          {"tokenizer", 1, 0, O_TOK},
        {"dry-run", 0, 0, O_DRY},      {"help", 0, 0, O_HELP},        {0, 0, 0, 0}};
    struct mk_opts o = {.dtype = GF_WTYPE_F32, .shards = 1, .seed = 1};
    struct gf_model_config *c = &o.cfg;
    struct mk_vq *vq = &o.vq;
    *vq = (struct mk_vq){.n_levels = 5, .mult = {1, 1, 2, 2, 4}, .n_res = 2};
    int kv_set = 0, dry = 0, bad_vq = 0, op;
    const char *size = "tiny";
    for (int i = 1; i < argc; i++) /* the preset first, so that other flags override it */
        if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            size = argv[i + 1];
        else if (strncmp(argv[i], "--size=", 7) == 0)
            size = argv[i] + 7;
    if (s_preset(size, c, vq) < 0) {
        fprintf(stderr, "mkmodel: unknown --size '%s'\n", size);
        return 2;
    }
    gf_log_init("mkmodel", GF_LOG_INFO);
    while ((op = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        long v = optarg ? strtol(optarg, NULL, 10) : 0;
        switch (op) {
        case O_SIZE:
            break;
        case O_HID:
            c->hidden = (int)v;
            break;
        case O_INT:
            c->intermediate = (int)v;
            break;
        case O_LAY:
            c->n_layers = (int)v;
            break;
        case O_HEADS:
            c->n_heads = (int)v;
            break;
        case O_KV:
            c->n_kv_heads = (int)v, kv_set = 1;
            break;
        case O_VOC:
            c->vocab = (int)v;
            break;
        case O_IVOC:
            c->image_vocab = (int)v;
            break;
        case O_CD:
            c->aligner_in = (int)v;
            break;
        case O_MAXP:
            c->max_pos = (int)v;
            break;
        case O_VQ:
            vq->ch = (int)v;
            break;
        case O_VQM: {
            char *p = optarg, *end;
            vq->n_levels = 0;
            while (*p && vq->n_levels < 8) {
                long m = strtol(p, &end, 10);
                if (end == p || m <= 0 || m > 64)
                    break;
                vq->mult[vq->n_levels++] = (int)m;
                p = *end == ',' ? end + 1 : end;
            }
            bad_vq |= *p != 0 || vq->n_levels == 0;
            break;
        }
        case O_VQZ:
            vq->z_channels = (int)v;
            break;
        case O_VQR:
            vq->n_res = (int)v;
            break;
        case O_IMG:
            vq->image_size = (int)v;
            break;
        case O_PATCH:
            vq->patch_size = (int)v;
            break;
        case O_DT:
            if (strcmp(optarg, "f32") == 0)
                o.dtype = GF_WTYPE_F32;
            else if (strcmp(optarg, "f16") == 0)
                o.dtype = GF_WTYPE_F16;
            else if (strcmp(optarg, "bf16") == 0)
                o.dtype = GF_WTYPE_BF16;
            else {
                fprintf(stderr, "mkmodel: unknown --dtype '%s'\n", optarg);
                return 2;
            }
            break;
        case O_SH:
            o.shards = (int)v;
            break;
        case O_SEED:
            o.seed = strtoull(optarg, NULL, 10);
            break;
        case O_OUT:
            o.out = optarg;
            break;
        case O_TOK:
            o.tokenizer = optarg;
            break;
        case O_DRY:
            dry = 1;
            break;
        case O_HELP:
            s_usage(stdout);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (!kv_set)
        c->n_kv_heads = c->n_heads;
    if ((!o.out && !dry) || c->hidden <= 0 || c->n_heads <= 0 || c->hidden % c->n_heads ||
        c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads || c->intermediate <= 0 ||
        c->n_layers <= 0 || c->vocab <= 0 || c->image_vocab <= 0 || c->aligner_in <= 0 ||
        o.shards < 1 || vq->ch < 0 || bad_vq || vq->z_channels < 0 || vq->n_res < 0 ||
        vq->n_res > 3) {
        s_usage(stderr);
        return 2;
    }
    c->head_dim = c->hidden / c->n_heads;
    c->image_token_embed = c->hidden;
    if (dry)
        return s_dry_run(c, vq);
    if (s_mkdir_p(o.out) != 0) {
        gf_log_error("cannot create '%s': %s", o.out, strerror(errno));
        return 1;
    }
    struct mk_list l = {0};
    int rc = 1;
    if (mk_list_build(&l, c, vq) < 0) {
        gf_log_error("out of memory");
        goto out;
    }
    if (mk_write_config(&o) < 0 || mk_write_tokenizer_configs(&o) < 0 ||
        mk_write_tokenizer(&o) < 0 || mk_write_weights(&o, &l) < 0)
        goto out;
    rc = 0;
out:
    mk_list_release(&l);
    return rc;
}
