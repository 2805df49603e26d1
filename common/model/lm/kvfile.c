/* kvfile.c — see kvfile.h. The file: a header (struct s_head, host byte order: both sides are on
 * one host), then per layer K and V as gf_llm_kv_get gives them. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/hash.h"
#include "model/lm/kvfile.h"

static const char s_magic[8] = {'G', 'F', 'K', 'V', 0, 0, 0, 1};

struct s_head {
    char magic[8];
    uint64_t identity;
    uint64_t toks_hash; /* of the n_pos tokens */
    int32_t n_pos, n_layers, n_kv_heads, head_dim;
};

static uint64_t s_stat(uint64_t h, const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        int64_t v[3] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
        h = gf_fnv1a(h, v, sizeof v);
    }
    return gf_fnv1a(h, path, strlen(path) + 1);
}

uint64_t gf_kvfile_identity(const struct gf_llm *m, const struct gf_ckpt *ck,
                            const struct gf_backend *be)
{
    char dir[PATH_MAX], cfg[PATH_MAX + 16];
    const char *kernels = gf_backend_kernels(be);
    uint64_t h = gf_fnv1a(GF_FNV1A_SEED, kernels, strlen(kernels) + 1);
    int32_t v[6] = {ck->quant,          m->kv_dtype,      m->cfg->n_layers,
                    m->cfg->n_kv_heads, m->cfg->head_dim, m->cfg->hidden};
    h = gf_fnv1a(h, v, sizeof v);
    h = s_stat(h, realpath(ck->dir, dir) ? dir : ck->dir);
    snprintf(cfg, sizeof cfg, "%s/config.json", ck->dir);
    h = s_stat(h, cfg);
    for (int i = 0; i < ck->n_shards; i++)
        h = s_stat(h, ck->shards[i]->path);
    return h;
}

int gf_kvfile_backend_ok(const struct gf_backend *be)
{
    const char *k = gf_backend_kernels(be);
    return strncmp(k, "cpu", 3) == 0 || strcmp(k, "ref") == 0;
}

static struct s_head s_header(const struct gf_llm *m, const int32_t *toks, int n_pos,
                              uint64_t identity)
{
    struct s_head hd;
    memset(&hd, 0, sizeof hd);
    memcpy(hd.magic, s_magic, sizeof s_magic);
    hd.identity = identity;
    hd.toks_hash = gf_fnv1a(GF_FNV1A_SEED, toks, (size_t)n_pos * sizeof *toks);
    hd.n_pos = n_pos, hd.n_layers = m->cfg->n_layers, hd.n_kv_heads = m->cfg->n_kv_heads;
    hd.head_dim = m->cfg->head_dim;
    return hd;
}

int gf_kvfile_write(struct gf_llm *m, int slot, const int32_t *toks, int n_pos, uint64_t identity,
                    const char *path, char *why, size_t whylen)
{
    char tmp[PATH_MAX];
    size_t bytes = gf_llm_kv_layer_bytes(m, n_pos);
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        snprintf(why, whylen, "the path '%s' is too long", path);
        return GF_EIO;
    }
    void *buf = malloc(bytes);
    FILE *f = buf ? fopen(tmp, "wb") : NULL;
    if (!f) {
        snprintf(why, whylen, "cannot write '%s': %s", tmp, buf ? strerror(errno) : "no memory");
        free(buf);
        return GF_EIO;
    }
    struct s_head hd = s_header(m, toks, n_pos, identity);
    int ok = fwrite(&hd, sizeof hd, 1, f) == 1;
    for (int li = 0; ok && li < m->cfg->n_layers; li++) {
        gf_llm_kv_get(m, slot, li, n_pos, buf);
        ok = fwrite(buf, bytes, 1, f) == 1;
    }
    int err = ok ? 0 : errno;
    if (fclose(f) != 0 && ok)
        ok = 0, err = errno;
    if (ok && rename(tmp, path) != 0)
        ok = 0, err = errno;
    free(buf);
    if (!ok) {
        snprintf(why, whylen, "cannot write '%s': %s", path, strerror(err ? err : EIO));
        remove(tmp);
        return GF_EIO;
    }
    return 0;
}

int gf_kvfile_read(struct gf_llm *m, int slot, const int32_t *toks, int n_toks, uint64_t identity,
                   const char *path, char *why, size_t whylen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whylen, "cannot open '%s': %s", path, strerror(errno));
        return errno == ENOENT ? GF_ENOTFOUND : GF_EINVAL;
    }
    struct s_head hd, want;
    int rc = GF_EINVAL;
    void *buf = NULL;
    if (fread(&hd, sizeof hd, 1, f) != 1 || memcmp(hd.magic, s_magic, sizeof s_magic) != 0) {
        snprintf(why, whylen, "'%s' is not a KV file", path);
        goto done;
    }
    if (hd.identity != identity) {
        snprintf(why, whylen, "'%s' holds another model's cache (checkpoint, precision or kernels)",
                 path);
        goto done;
    }
    if (hd.n_pos < 1 || hd.n_pos > n_toks - 1 || hd.n_pos > m->max_seq) {
        snprintf(why, whylen, "'%s' holds %d positions; this request has %d", path, hd.n_pos,
                 n_toks);
        goto done;
    }
    want = s_header(m, toks, hd.n_pos, identity);
    if (memcmp(&hd, &want, sizeof hd) != 0) {
        snprintf(why, whylen, "'%s' holds the cache of other tokens", path);
        goto done;
    }
    size_t bytes = gf_llm_kv_layer_bytes(m, hd.n_pos);
    if (!(buf = malloc(bytes))) {
        snprintf(why, whylen, "no memory for '%s'", path);
        goto done;
    }
    for (int li = 0; li < m->cfg->n_layers; li++) {
        if (fread(buf, bytes, 1, f) != 1) {
            snprintf(why, whylen, "'%s' is cut short in layer %d", path, li);
            goto done;
        }
        gf_llm_kv_put(m, slot, li, hd.n_pos, buf);
    }
    if (fgetc(f) != EOF) {
        snprintf(why, whylen, "'%s' has bytes past its layers", path);
        goto done;
    }
    rc = hd.n_pos;
done:
    free(buf);
    fclose(f);
    return rc;
}
