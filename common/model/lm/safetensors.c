/* safetensors.c — map a safetensors file and check its header before anything reads it. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "model/lm/safetensors.h"

#define GF_ST_MAX_HEADER (100u << 20) /* the format's own limit is 100 MB */

static int s_dtype(const char *s, enum gf_wtype *dt)
{
    static const struct {
        const char *name;
        enum gf_wtype dt;
    } map[] = {{"F32", GF_WTYPE_F32}, {"F16", GF_WTYPE_F16}, {"BF16", GF_WTYPE_BF16}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(s, map[i].name) == 0) {
            *dt = map[i].dt;
            return 1;
        }
    return 0;
}

/* Element size of any safetensors dtype, 0 if unknown. */
static size_t s_any_size(const char *s)
{
    static const char *const b8[] = {"F64", "I64", "U64"}, *const b4[] = {"F32", "I32", "U32"},
                             *const b2[] = {"F16", "BF16", "I16", "U16"},
                             *const b1[] = {"I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, b8[i]) || !strcmp(s, b4[i]))
            return !strcmp(s, b8[i]) ? 8 : 4;
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, b2[i]))
            return 2;
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, b1[i]))
            return 1;
    return 0;
}

/* Checks one header entry and fills t; logs and returns an error code on a lie. */
static int s_entry(const char *path, const char *name, json_t *e, const uint8_t *data,
                   size_t data_size, struct gf_st_tensor *t)
{
    json_t *dt = json_object_get(e, "dtype"), *shape = json_object_get(e, "shape");
    json_t *off = json_object_get(e, "data_offsets");
    if (!json_is_string(dt) || !json_is_array(shape) || !json_is_array(off) ||
        json_array_size(off) != 2 || json_array_size(shape) > GF_ST_MAX_DIMS) {
        gf_log_error("'%s': tensor '%s': header entry needs dtype, shape (at most %d dims) and "
                     "two data_offsets",
                     path, name, GF_ST_MAX_DIMS);
        return GF_EPARSE;
    }
    size_t esize = s_any_size(json_string_value(dt));
    if (!esize) {
        gf_log_error("'%s': tensor '%s': unknown dtype '%s'", path, name, json_string_value(dt));
        return GF_EPARSE;
    }
    t->dtype_ok = s_dtype(json_string_value(dt), &t->dtype);
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", json_string_value(dt));
    t->ndim = (int)json_array_size(shape);
    uint64_t count = 1;
    for (int i = 0; i < t->ndim; i++) {
        json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0 ||
            json_integer_value(d) > (json_int_t)1 << 40) {
            gf_log_error("'%s': tensor '%s': bad shape dimension %d", path, name, i);
            return GF_EPARSE;
        }
        t->shape[i] = json_integer_value(d);
        count *= (uint64_t)t->shape[i];
        if (count > (uint64_t)1 << 44) {
            gf_log_error("'%s': tensor '%s': shape too large", path, name);
            return GF_ETOOBIG;
        }
    }
    json_t *b = json_array_get(off, 0), *en = json_array_get(off, 1);
    if (!json_is_integer(b) || !json_is_integer(en) || json_integer_value(b) < 0 ||
        json_integer_value(en) < json_integer_value(b)) {
        gf_log_error("'%s': tensor '%s': data_offsets must be 0 <= begin <= end", path, name);
        return GF_ESCHEMA;
    }
    uint64_t begin = (uint64_t)json_integer_value(b), end = (uint64_t)json_integer_value(en);
    if (end - begin != count * esize && !t->dtype_ok) {
        /* a dtype this program does not read, whose size does not add up either: the dtype is
         * what to tell (a header rewritten to another dtype, a quantized layout) */
        gf_log_error("'%s': unsupported dtype '%s' for tensor '%s' (F32, F16 and BF16 are read); "
                     "its data_offsets hold %llu bytes, not the %llu its shape needs in '%s'",
                     path, t->dtype_name, name, (unsigned long long)(end - begin),
                     (unsigned long long)(count * esize), t->dtype_name);
        return GF_EUNSUPPORTED;
    }
    if (end - begin != count * esize) {
        gf_log_error("'%s': tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but shape and "
                     "dtype need %llu",
                     path, name, (unsigned long long)begin, (unsigned long long)end,
                     (unsigned long long)(end - begin), (unsigned long long)(count * esize));
        return GF_ESCHEMA;
    }
    if (end > data_size) {
        gf_log_error("'%s': tensor '%s': data ends at byte %llu but the file holds %llu data "
                     "bytes (truncated?)",
                     path, name, (unsigned long long)end, (unsigned long long)data_size);
        return GF_ESCHEMA;
    }
    t->data = data + begin;
    t->nbytes = end - begin;
    return 0;
}

static int s_by_data(const void *a, const void *b)
{
    const struct gf_st_tensor *x = *(const struct gf_st_tensor *const *)a;
    const struct gf_st_tensor *y = *(const struct gf_st_tensor *const *)b;
    return x->data < y->data ? -1 : x->data > y->data;
}

/* Two tensors may not share bytes: a header that says so lies about its offsets. */
static int s_check_overlap(const char *path, struct gf_st *st)
{
    int rc = 0;
    const struct gf_st_tensor **by = malloc((st->n_tensors + 1) * sizeof *by);
    if (!by)
        return GF_ENOMEM;
    for (int i = 0; i < st->n_tensors; i++)
        by[i] = &st->tensors[i];
    qsort(by, st->n_tensors, sizeof *by, s_by_data);
    for (int i = 0; i + 1 < st->n_tensors; i++)
        if ((const uint8_t *)by[i]->data + by[i]->nbytes > (const uint8_t *)by[i + 1]->data) {
            gf_log_error("'%s': tensors '%s' and '%s' overlap in the data", path, by[i]->name,
                         by[i + 1]->name);
            rc = GF_ESCHEMA;
            break;
        }
    free(by);
    return rc;
}

int gf_st_parse(const char *path, const void *buf, size_t len, struct gf_st **out)
{
    int rc = GF_ENOMEM;
    json_t *root = NULL;
    struct gf_st *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path)))
        goto fail;
    if (len < 8) {
        gf_log_error("'%s': file of %zu bytes is too short for a safetensors header", path, len);
        rc = GF_EPARSE;
        goto fail;
    }
    const uint8_t *p = buf;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | p[i];
    if (hlen > len - 8 || hlen > GF_ST_MAX_HEADER) {
        gf_log_error("'%s': header length %llu exceeds the file (%zu bytes)", path,
                     (unsigned long long)hlen, len);
        rc = GF_EPARSE;
        goto fail;
    }
    json_error_t jerr;
    root = json_loadb((const char *)p + 8, hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        gf_log_error("'%s': header is not a JSON object: %s", path, root ? "" : jerr.text);
        rc = GF_EPARSE;
        goto fail;
    }
    st->tensors = calloc(json_object_size(root) + 1, sizeof *st->tensors);
    if (!st->tensors)
        goto fail;
    const char *name;
    json_t *e;
    json_object_foreach(root, name, e)
    {
        if (strcmp(name, "__metadata__") == 0)
            continue;
        struct gf_st_tensor *t = &st->tensors[st->n_tensors];
        if (!json_is_object(e)) {
            gf_log_error("'%s': tensor '%s': header entry is not an object", path, name);
            rc = GF_EPARSE;
            goto fail;
        }
        if (!(t->name = strdup(name)))
            goto fail;
        st->n_tensors++;
        rc = s_entry(path, name, e, p + 8 + hlen, len - 8 - hlen, t);
        if (rc < 0)
            goto fail;
    }
    if ((rc = s_check_overlap(path, st)) < 0)
        goto fail;
    json_decref(root);
    *out = st;
    return 0;
fail:
    json_decref(root);
    gf_st_close(&st);
    return rc;
}

int gf_st_open(const char *path, struct gf_st **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        gf_log_error("cannot open '%s': %s", path, strerror(errno));
        return GF_EIO;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size == 0) {
        gf_log_error("'%s': empty or unreadable file", path);
        close(fd);
        return GF_EPARSE;
    }
    void *map = mmap(NULL, sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        gf_log_error("cannot map '%s': %s", path, strerror(errno));
        return GF_EIO;
    }
    int rc = gf_st_parse(path, map, sb.st_size, out);
    if (rc < 0) {
        munmap(map, sb.st_size);
        return rc;
    }
    (*out)->map = map;
    (*out)->map_size = sb.st_size;
    return 0;
}

void gf_st_close(struct gf_st **self_p)
{
    struct gf_st *st = *self_p;
    if (!st)
        return;
    for (int i = 0; i < st->n_tensors; i++)
        free(st->tensors[i].name);
    free(st->tensors);
    if (st->map)
        munmap(st->map, st->map_size);
    free(st->path);
    free(st);
    *self_p = NULL;
}

const struct gf_st_tensor *gf_st_find(const struct gf_st *st, const char *name)
{
    for (int i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}
