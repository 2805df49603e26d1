/* frame.c — frame decode (bounded), typed access, tensors and the frame builder. */
#include "engine/frame.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/log.h"

static int s_fail(char *why, size_t whylen, int err, const char *fmt, ...)
{
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return err;
}

int64_t gf_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Raw walk ----------------------------------------------------------------------------------- */

struct s_walk {
    const uint8_t *p;
    size_t len, off;
    int max_depth;
    long max_elems, elems;
    char *why;
    size_t whylen;
};

static uint64_t s_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Reads `n` bytes of big-endian length after the type byte; GF_EPARSE if the input ends. */
static int s_len(struct s_walk *w, int n, uint64_t *out)
{
    if (w->len - w->off < (size_t)n)
        return s_fail(w->why, w->whylen, GF_EPARSE, "truncated at byte %zu", w->off);
    *out = s_be(w->p + w->off, n);
    w->off += (size_t)n;
    return 0;
}

static int s_skip_bytes(struct s_walk *w, uint64_t n)
{
    if (w->len - w->off < n)
        return s_fail(w->why, w->whylen, GF_EPARSE,
                      "object at byte %zu declares %llu bytes but %zu remain", w->off,
                      (unsigned long long)n, w->len - w->off);
    w->off += (size_t)n;
    return 0;
}

/* Skips one object (and everything inside it), enforcing every limit. */
static int s_skip(struct s_walk *w, int depth)
{
    if (++w->elems > w->max_elems)
        return s_fail(w->why, w->whylen, GF_ETOOBIG, "more than %ld objects", w->max_elems);
    if (w->off >= w->len)
        return s_fail(w->why, w->whylen, GF_EPARSE, "truncated at byte %zu", w->off);
    uint8_t t = w->p[w->off++];
    uint64_t n = 0;
    int err = 0, is_map = 0;
    if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
        return 0;
    if (t >= 0xa0 && t <= 0xbf)
        return s_skip_bytes(w, t & 0x1f);
    if (t >= 0x80 && t <= 0x9f) {
        n = t & 0x0f;
        is_map = t <= 0x8f;
        goto container;
    }
    switch (t) {
    case 0xc4:
    case 0xd9:
        err = s_len(w, 1, &n);
        break;
    case 0xc5:
    case 0xda:
        err = s_len(w, 2, &n);
        break;
    case 0xc6:
    case 0xdb:
        err = s_len(w, 4, &n);
        break;
    case 0xca:
        return s_skip_bytes(w, 4);
    case 0xcb:
        return s_skip_bytes(w, 8);
    case 0xcc:
    case 0xd0:
        return s_skip_bytes(w, 1);
    case 0xcd:
    case 0xd1:
        return s_skip_bytes(w, 2);
    case 0xce:
    case 0xd2:
        return s_skip_bytes(w, 4);
    case 0xcf:
    case 0xd3:
        return s_skip_bytes(w, 8);
    case 0xdc:
    case 0xde:
        is_map = t == 0xde;
        err = s_len(w, 2, &n);
        if (err)
            return err;
        goto container;
    case 0xdd:
    case 0xdf:
        is_map = t == 0xdf;
        err = s_len(w, 4, &n);
        if (err)
            return err;
        goto container;
    default: /* 0xc1 and the ext family */
        return s_fail(w->why, w->whylen, GF_EPARSE, "unsupported msgpack type 0x%02x at byte %zu",
                      t, w->off - 1);
    }
    return err ? err : s_skip_bytes(w, n);

container:
    if (is_map)
        n *= 2;
    if (n > w->len - w->off) /* every object takes at least one byte */
        return s_fail(w->why, w->whylen, GF_EPARSE,
                      "container at byte %zu declares %llu items but %zu bytes remain", w->off,
                      (unsigned long long)n, w->len - w->off);
    if (depth + 1 > w->max_depth)
        return s_fail(w->why, w->whylen, GF_ETOOBIG, "nested deeper than %d", w->max_depth);
    for (uint64_t i = 0; i < n; i++)
        if ((err = s_skip(w, depth + 1)))
            return err;
    return 0;
}

int gf_msgpack_check(const uint8_t *data, size_t len, int max_depth, long max_elems, char *why,
                     size_t whylen)
{
    struct s_walk w = {data, len, 0, max_depth, max_elems, 0, why, whylen};
    int err = s_skip(&w, 0);
    if (err)
        return err;
    if (w.off != len)
        return s_fail(why, whylen, GF_EPARSE, "%zu trailing bytes after the frame", len - w.off);
    return 0;
}

int gf_frame_id_ok(const char *s, size_t len)
{
    if (len == 0 || len >= GF_FRAME_ID_MAX || s[0] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

void gf_frame_peek_id(const void *bytes, size_t len, char id[GF_FRAME_ID_MAX])
{
    const uint8_t *data = bytes;
    struct s_walk w = {data, len, 0, GF_FRAME_MAX_DEPTH, GF_FRAME_MAX_ELEMS, 0, NULL, 0};
    uint64_t n = 0;
    id[0] = 0;
    if (len == 0)
        return;
    uint8_t t = data[w.off++];
    if (t >= 0x80 && t <= 0x8f)
        n = t & 0x0f;
    else if ((t == 0xde && !s_len(&w, 2, &n)) || (t == 0xdf && !s_len(&w, 4, &n)))
        ;
    else
        return;
    for (uint64_t i = 0; i < n && w.off < len; i++) {
        size_t key_at = w.off;
        if (s_skip(&w, 1))
            return;
        int is_id = w.off - key_at == 3 && memcmp(data + key_at, "\xa2id", 3) == 0;
        size_t val_at = w.off;
        if (s_skip(&w, 1))
            return;
        uint8_t vt = data[val_at];
        if (is_id && ((vt >= 0xa0 && vt <= 0xbf) || vt == 0xd9)) {
            size_t at = val_at + (vt == 0xd9 ? 2 : 1);
            size_t vlen = vt == 0xd9 ? data[val_at + 1] : (size_t)(vt & 0x1f);
            if (gf_frame_id_ok((const char *)data + at, vlen)) {
                memcpy(id, data + at, vlen);
                id[vlen] = 0;
            }
            return;
        }
    }
}

/* Decode ------------------------------------------------------------------------------------- */

static int s_obj_is(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           memcmp(o->via.str.ptr, s, n) == 0;
}

const msgpack_object *gf_map_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (s_obj_is(&map->via.map.ptr[i].key, key))
            return &map->via.map.ptr[i].val;
    return NULL;
}

const msgpack_object *gf_frame_get(const gf_frame_t *frame, const char *key)
{
    return gf_map_get(frame->root, key);
}

static int s_kind_ok(const char *s, size_t len)
{
    if (len == 0 || len >= GF_FRAME_KIND_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
            return 0;
    return 1;
}

/* Checks the common keys and fills the header fields. */
static int s_header(gf_frame_t *f, char *why, size_t whylen)
{
    const msgpack_object *root = f->root;
    if (root->type != MSGPACK_OBJECT_MAP)
        return s_fail(why, whylen, GF_ESCHEMA, "frame is not a map");
    if (root->via.map.size > GF_EMIT_MAX_KEYS)
        return s_fail(why, whylen, GF_ESCHEMA, "frame has %u keys (at most %d)", root->via.map.size,
                      GF_EMIT_MAX_KEYS);
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object *k = &root->via.map.ptr[i].key;
        if (k->type != MSGPACK_OBJECT_STR || k->via.str.size == 0 ||
            k->via.str.size >= GF_EMIT_KEY_MAX)
            return s_fail(why, whylen, GF_ESCHEMA, "frame key %u is not a string of 1..%d bytes", i,
                          GF_EMIT_KEY_MAX - 1);
    }
    int64_t v;
    const msgpack_object *o = gf_map_get(root, "v");
    if (!o || gf_obj_int(o, &v) || v < 1)
        return s_fail(why, whylen, GF_ESCHEMA, "missing or bad 'v' (schema version)");
    if (v > GF_FRAME_VERSION)
        return s_fail(why, whylen, GF_ESCHEMA, "frame version %lld is newer than this build's %d",
                      (long long)v, GF_FRAME_VERSION);
    f->v = (int)v;
    o = gf_map_get(root, "kind");
    if (!o || o->type != MSGPACK_OBJECT_STR || !s_kind_ok(o->via.str.ptr, o->via.str.size))
        return s_fail(why, whylen, GF_ESCHEMA, "missing or bad 'kind' (1..15 of [a-z_])");
    memcpy(f->kind, o->via.str.ptr, o->via.str.size);
    f->kind[o->via.str.size] = 0;
    o = gf_map_get(root, "n");
    f->n = 0;
    if (o) {
        int64_t n;
        if (gf_obj_int(o, &n) || n < 0 || n > UINT32_MAX)
            return s_fail(why, whylen, GF_ESCHEMA, "bad 'n' (attempt number)");
        f->n = (uint32_t)n;
    }
    f->params = gf_map_get(root, "params");
    if (f->params && f->params->type != MSGPACK_OBJECT_MAP)
        return s_fail(why, whylen, GF_ESCHEMA, "'params' is not a map");
    f->trace = gf_map_get(root, "trace");
    if (f->trace && f->trace->type != MSGPACK_OBJECT_ARRAY)
        return s_fail(why, whylen, GF_ESCHEMA, "'trace' is not an array");
    return 0;
}

int gf_frame_decode(const void *data, size_t len, long max_bytes, gf_frame_t **frame_p, char *why,
                    size_t whylen, char id[GF_FRAME_ID_MAX])
{
    char idbuf[GF_FRAME_ID_MAX];
    if (!id)
        id = idbuf;
    *frame_p = NULL;
    gf_frame_peek_id(data, len, id);
    if (max_bytes > 0 && len > (size_t)max_bytes)
        return s_fail(why, whylen, GF_ETOOBIG, "frame of %zu bytes exceeds the limit of %ld", len,
                      max_bytes);
    int err = gf_msgpack_check(data, len, GF_FRAME_MAX_DEPTH, GF_FRAME_MAX_ELEMS, why, whylen);
    if (err)
        return err;
    gf_frame_t *f = calloc(1, sizeof *f);
    if (!f)
        return s_fail(why, whylen, GF_ENOMEM, "out of memory");
    f->bytes = malloc(len ? len : 1);
    if (!f->bytes) {
        free(f);
        return s_fail(why, whylen, GF_ENOMEM, "out of memory");
    }
    memcpy(f->bytes, data, len);
    f->len = len;
    msgpack_unpacked_init(&f->unpacked);
    size_t off = 0;
    if (msgpack_unpack_next(&f->unpacked, (const char *)f->bytes, len, &off) !=
        MSGPACK_UNPACK_SUCCESS) {
        err = s_fail(why, whylen, GF_EPARSE, "msgpack decode failed");
        goto out_free;
    }
    f->root = &f->unpacked.data;
    if ((err = s_header(f, why, whylen)))
        goto out_free;
    const msgpack_object *o = gf_map_get(f->root, "id");
    if (!o || o->type != MSGPACK_OBJECT_STR || !gf_frame_id_ok(o->via.str.ptr, o->via.str.size)) {
        err = s_fail(why, whylen, GF_ESCHEMA, "missing or bad 'id' (1..63 of [A-Za-z0-9._:-])");
        goto out_free;
    }
    memcpy(f->id, o->via.str.ptr, o->via.str.size);
    f->id[o->via.str.size] = 0;
    *frame_p = f;
    return 0;

out_free:
    gf_frame_destroy(&f);
    return err;
}

void gf_frame_destroy(gf_frame_t **frame_p)
{
    gf_frame_t *f = *frame_p;
    if (!f)
        return;
    msgpack_unpacked_destroy(&f->unpacked);
    free(f->bytes);
    free(f);
    *frame_p = NULL;
}

/* Typed access ------------------------------------------------------------------------------- */

int gf_obj_int(const msgpack_object *o, int64_t *out)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > INT64_MAX)
            return GF_ESCHEMA;
        *out = (int64_t)o->via.u64;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return 0;
    }
    return GF_ESCHEMA;
}

int gf_obj_double(const msgpack_object *o, double *out)
{
    int64_t i;
    if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64) {
        *out = o->via.f64;
        return 0;
    }
    if (gf_obj_int(o, &i) == 0) {
        *out = (double)i;
        return 0;
    }
    return GF_ESCHEMA;
}

int gf_frame_get_str(const gf_frame_t *frame, const char *key, const char **s, size_t *len)
{
    const msgpack_object *o = gf_frame_get(frame, key);
    if (!o)
        return GF_ENOTFOUND;
    if (o->type != MSGPACK_OBJECT_STR)
        return GF_ESCHEMA;
    *s = o->via.str.ptr;
    *len = o->via.str.size;
    return 0;
}

int gf_frame_get_int(const gf_frame_t *frame, const char *key, int64_t *out)
{
    const msgpack_object *o = gf_frame_get(frame, key);
    return o ? gf_obj_int(o, out) : GF_ENOTFOUND;
}

int gf_frame_get_double(const gf_frame_t *frame, const char *key, double *out)
{
    const msgpack_object *o = gf_frame_get(frame, key);
    return o ? gf_obj_double(o, out) : GF_ENOTFOUND;
}

/* Tensors ------------------------------------------------------------------------------------ */

static const char *const s_dtype_names[] = {"u8", "i32", "i64", "f16", "bf16", "f32"};
static const size_t s_dtype_sizes[] = {1, 4, 8, 2, 2, 4};

const char *gf_dtype_name(enum gf_dtype dtype)
{
    return s_dtype_names[dtype];
}

size_t gf_dtype_size(enum gf_dtype dtype)
{
    return s_dtype_sizes[dtype];
}

int gf_dtype_parse(const char *s, size_t len, enum gf_dtype *out)
{
    for (int i = 0; i <= GF_DTYPE_F32; i++)
        if (strlen(s_dtype_names[i]) == len && memcmp(s, s_dtype_names[i], len) == 0) {
            *out = (enum gf_dtype)i;
            return 0;
        }
    return GF_EINVAL;
}

int gf_obj_tensor(const msgpack_object *o, struct gf_tensor_view *t, char *why, size_t whylen)
{
    if (!o)
        return s_fail(why, whylen, GF_ENOTFOUND, "no tensor");
    if (o->type != MSGPACK_OBJECT_MAP)
        return s_fail(why, whylen, GF_ESCHEMA, "tensor is not a map");
    const msgpack_object *dt = gf_map_get(o, "dtype"), *sh = gf_map_get(o, "shape"),
                         *data = gf_map_get(o, "data");
    if (!dt || dt->type != MSGPACK_OBJECT_STR ||
        gf_dtype_parse(dt->via.str.ptr, dt->via.str.size, &t->dtype))
        return s_fail(why, whylen, GF_ESCHEMA,
                      "tensor dtype missing or not one of "
                      "u8, i32, i64, f16, bf16, f32");
    if (!sh || sh->type != MSGPACK_OBJECT_ARRAY || sh->via.array.size > GF_TENSOR_MAX_DIMS)
        return s_fail(why, whylen, GF_ESCHEMA, "tensor shape missing or of rank > %d",
                      GF_TENSOR_MAX_DIMS);
    if (!data || data->type != MSGPACK_OBJECT_BIN)
        return s_fail(why, whylen, GF_ESCHEMA, "tensor data missing or not bin");
    t->ndim = (int)sh->via.array.size;
    t->numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        int64_t d;
        if (gf_obj_int(&sh->via.array.ptr[i], &d) || d < 0 || d > (1LL << 40))
            return s_fail(why, whylen, GF_ESCHEMA, "tensor dim %d is not a size", i);
        t->shape[i] = d;
        if (d && t->numel > (1LL << 40) / d)
            return s_fail(why, whylen, GF_ESCHEMA, "tensor has too many elements");
        t->numel *= d;
    }
    t->data = data->via.bin.ptr;
    t->nbytes = data->via.bin.size;
    if ((uint64_t)t->numel * gf_dtype_size(t->dtype) != t->nbytes)
        return s_fail(why, whylen, GF_ESCHEMA, "tensor data has %zu bytes, shape needs %lld",
                      t->nbytes, (long long)(t->numel * (int64_t)gf_dtype_size(t->dtype)));
    return 0;
}

int gf_frame_get_tensor(const gf_frame_t *frame, const char *key, struct gf_tensor_view *t,
                        char *why, size_t whylen)
{
    return gf_obj_tensor(gf_frame_get(frame, key), t, why, whylen);
}

/* Builder ------------------------------------------------------------------------------------ */

void gf_emit_init(gf_emit_t *e)
{
    memset(e, 0, sizeof *e);
    msgpack_sbuffer_init(&e->body);
    msgpack_sbuffer_init(&e->out);
    msgpack_packer_init(&e->pk, &e->body, msgpack_sbuffer_write);
}

void gf_emit_release(gf_emit_t *e)
{
    msgpack_sbuffer_destroy(&e->body);
    msgpack_sbuffer_destroy(&e->out);
}

void gf_emit_trim(gf_emit_t *e, size_t keep)
{
    if (e->body.alloc > keep) {
        msgpack_sbuffer_destroy(&e->body);
        msgpack_sbuffer_init(&e->body);
        msgpack_packer_init(&e->pk, &e->body, msgpack_sbuffer_write);
    }
    if (e->out.alloc > keep) {
        msgpack_sbuffer_destroy(&e->out);
        msgpack_sbuffer_init(&e->out);
    }
}

void gf_emit_begin_id(gf_emit_t *e, const char *id, uint32_t n, const char *kind)
{
    msgpack_sbuffer_clear(&e->body);
    msgpack_sbuffer_clear(&e->out);
    e->n_keys = 0;
    e->n_traces = 0;
    e->sealed = 0;
    snprintf(e->id, sizeof e->id, "%s", id);
    snprintf(e->kind, sizeof e->kind, "%s", kind);
    e->n = n;
}

void gf_emit_begin(gf_emit_t *e, const gf_frame_t *from, const char *kind)
{
    gf_emit_begin_id(e, from->id, from->n, kind);
    if (from->trace)
        e->traces[e->n_traces++] = from->trace;
}

static int s_reserved(const char *key, size_t len)
{
    static const char *const names[] = {"v", "id", "n", "kind", "trace"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == len && memcmp(names[i], key, len) == 0)
            return 1;
    return 0;
}

static int s_has(const gf_emit_t *e, const char *key, size_t len)
{
    for (uint32_t i = 0; i < e->n_keys; i++)
        if (strlen(e->keys[i]) == len && memcmp(e->keys[i], key, len) == 0)
            return 1;
    return 0;
}

int gf_emit_has(const gf_emit_t *e, const char *key)
{
    return s_has(e, key, strlen(key));
}

msgpack_packer *gf_emit_key(gf_emit_t *e, const char *key)
{
    size_t len = strlen(key);
    if (len == 0 || len >= GF_EMIT_KEY_MAX || s_reserved(key, len) || s_has(e, key, len) ||
        e->n_keys >= GF_EMIT_MAX_KEYS) {
        gf_log_error("frame builder: cannot add key '%s' (reserved, repeated or too many)", key);
        return NULL;
    }
    memcpy(e->keys[e->n_keys++], key, len + 1);
    msgpack_pack_str_with_body(&e->pk, key, len);
    return &e->pk;
}

void gf_emit_strn(gf_emit_t *e, const char *key, const char *s, size_t len)
{
    msgpack_packer *pk = gf_emit_key(e, key);
    if (pk)
        msgpack_pack_str_with_body(pk, s, len);
}

void gf_emit_str(gf_emit_t *e, const char *key, const char *s)
{
    gf_emit_strn(e, key, s, strlen(s));
}

void gf_emit_int(gf_emit_t *e, const char *key, int64_t v)
{
    msgpack_packer *pk = gf_emit_key(e, key);
    if (pk)
        msgpack_pack_int64(pk, v);
}

void gf_emit_double(gf_emit_t *e, const char *key, double v)
{
    msgpack_packer *pk = gf_emit_key(e, key);
    if (pk)
        msgpack_pack_double(pk, v);
}

void gf_emit_obj(gf_emit_t *e, const char *key, const msgpack_object *o)
{
    msgpack_packer *pk = gf_emit_key(e, key);
    if (pk)
        msgpack_pack_object(pk, *o);
}

void gf_pack_tensor(msgpack_packer *pk, enum gf_dtype dtype, const int64_t *shape, int ndim,
                    const void *data)
{
    size_t numel = 1;
    msgpack_pack_map(pk, 3);
    msgpack_pack_str_with_body(pk, "dtype", 5);
    msgpack_pack_str_with_body(pk, gf_dtype_name(dtype), strlen(gf_dtype_name(dtype)));
    msgpack_pack_str_with_body(pk, "shape", 5);
    msgpack_pack_array(pk, (size_t)ndim);
    for (int i = 0; i < ndim; i++) {
        msgpack_pack_int64(pk, shape[i]);
        numel *= (size_t)shape[i];
    }
    msgpack_pack_str_with_body(pk, "data", 4);
    msgpack_pack_bin_with_body(pk, data, numel * gf_dtype_size(dtype));
}

void gf_emit_tensor(gf_emit_t *e, const char *key, enum gf_dtype dtype, const int64_t *shape,
                    int ndim, const void *data)
{
    msgpack_packer *pk = gf_emit_key(e, key);
    if (pk)
        gf_pack_tensor(pk, dtype, shape, ndim, data);
}

void gf_emit_carry(gf_emit_t *e, const gf_frame_t *from)
{
    const msgpack_object *root = from->root;
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object *k = &root->via.map.ptr[i].key;
        const char *name = k->via.str.ptr;
        size_t len = k->via.str.size;
        if (s_reserved(name, len) || s_has(e, name, len) || e->n_keys >= GF_EMIT_MAX_KEYS)
            continue;
        memcpy(e->keys[e->n_keys], name, len);
        e->keys[e->n_keys++][len] = 0;
        msgpack_pack_object(&e->pk, *k);
        msgpack_pack_object(&e->pk, root->via.map.ptr[i].val);
    }
    if (from->trace && e->n_traces < (int)(sizeof e->traces / sizeof e->traces[0])) {
        for (int i = 0; i < e->n_traces; i++)
            if (e->traces[i] == from->trace)
                return;
        e->traces[e->n_traces++] = from->trace;
    }
}

#define S_TRACE_MAX 64

/* True when trace `k` repeats an entry of an earlier carried trace: the branches of a joined
 * request share the stages before the fork. */
static int s_trace_seen(const gf_emit_t *e, int k, const msgpack_object *ent)
{
    for (int i = 0; i < k; i++)
        for (uint32_t j = 0; j < e->traces[i]->via.array.size; j++)
            if (msgpack_object_equal(e->traces[i]->via.array.ptr[j], *ent))
                return 1;
    return 0;
}

static void s_seal(gf_emit_t *e, const char *stage, int replica, int64_t t_in_us)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, &e->out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5 + e->n_keys);
    msgpack_pack_str_with_body(&pk, "v", 1);
    msgpack_pack_int(&pk, GF_FRAME_VERSION);
    msgpack_pack_str_with_body(&pk, "id", 2);
    msgpack_pack_str_with_body(&pk, e->id, strlen(e->id));
    msgpack_pack_str_with_body(&pk, "n", 1);
    msgpack_pack_uint32(&pk, e->n);
    msgpack_pack_str_with_body(&pk, "kind", 4);
    msgpack_pack_str_with_body(&pk, e->kind, strlen(e->kind));
    msgpack_sbuffer_write(&e->out, e->body.data, e->body.size);
    /* trace: the carried entries (newest S_TRACE_MAX - 1 kept) and ours */
    uint32_t total = 0, skip;
    for (int i = 0; i < e->n_traces; i++)
        for (uint32_t j = 0; j < e->traces[i]->via.array.size; j++)
            total += !s_trace_seen(e, i, &e->traces[i]->via.array.ptr[j]);
    skip = total > S_TRACE_MAX - 1 ? total - (S_TRACE_MAX - 1) : 0;
    msgpack_pack_str_with_body(&pk, "trace", 5);
    msgpack_pack_array(&pk, total - skip + 1);
    for (int i = 0; i < e->n_traces; i++)
        for (uint32_t j = 0; j < e->traces[i]->via.array.size; j++) {
            const msgpack_object *ent = &e->traces[i]->via.array.ptr[j];
            if (s_trace_seen(e, i, ent))
                continue;
            if (skip) {
                skip--;
                continue;
            }
            msgpack_pack_object(&pk, *ent);
        }
    msgpack_pack_array(&pk, 4);
    msgpack_pack_str_with_body(&pk, stage, strlen(stage));
    msgpack_pack_int(&pk, replica);
    msgpack_pack_int64(&pk, t_in_us);
    msgpack_pack_int64(&pk, gf_now_us());
    e->sealed = 1;
}

void gf_emit_end(gf_emit_t *e, const char *stage, int replica, int64_t t_in_us)
{
    s_seal(e, stage, replica, t_in_us);
}

void gf_emit_error(gf_emit_t *e, const char *id, uint32_t n, const msgpack_object *trace,
                   const char *stage, int replica, const char *code, const char *message)
{
    gf_emit_begin_id(e, id, n, "error");
    if (trace && trace->type == MSGPACK_OBJECT_ARRAY)
        e->traces[e->n_traces++] = trace;
    gf_emit_str(e, "stage", stage);
    gf_emit_str(e, "code", code);
    gf_emit_str(e, "message", message);
    s_seal(e, stage, replica, gf_now_us());
}

const void *gf_emit_data(const gf_emit_t *e)
{
    return e->out.data;
}

size_t gf_emit_len(const gf_emit_t *e)
{
    return e->out.size;
}
