/* json.c — msgpack <-> JSON, with base64 for binary data. */
#include "engine/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static const char s_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *s_b64_encode(const uint8_t *p, size_t n)
{
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        *o++ = s_b64[v >> 18 & 63];
        *o++ = s_b64[v >> 12 & 63];
        *o++ = i + 1 < n ? s_b64[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? s_b64[v & 63] : '=';
    }
    *o = 0;
    return out;
}

static int s_b64_value(char c)
{
    const char *p = c ? strchr(s_b64, c) : NULL;
    return p ? (int)(p - s_b64) : -1;
}

/* Decodes into a new buffer; NULL on malformed input. */
static uint8_t *s_b64_decode(const char *s, size_t len, size_t *out_len)
{
    if (len % 4)
        return NULL;
    uint8_t *out = malloc(len / 4 * 3 + 1);
    size_t n = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            v[k] = s[i + k] == '=' && i + 4 == len && k >= 2 ? 0 : s_b64_value(s[i + k]);
            if (v[k] < 0) {
                free(out);
                return NULL;
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[n++] = (uint8_t)(w >> 16);
        if (s[i + 2] != '=')
            out[n++] = (uint8_t)(w >> 8);
        if (s[i + 3] != '=')
            out[n++] = (uint8_t)w;
    }
    *out_len = n;
    return out;
}

json_t *gf_json_from_msgpack(const msgpack_object *o, long max_bin)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR:
        return json_stringn_nocheck(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN: {
        json_t *j = json_object();
        if (max_bin >= 0 && o->via.bin.size > (size_t)max_bin) {
            json_object_set_new(j, "$bin_bytes", json_integer(o->via.bin.size));
            return j;
        }
        char *b = s_b64_encode((const uint8_t *)o->via.bin.ptr, o->via.bin.size);
        json_object_set_new(j, "$bin", json_string(b ? b : ""));
        free(b);
        return j;
    }
    case MSGPACK_OBJECT_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++)
            json_array_append_new(a, gf_json_from_msgpack(&o->via.array.ptr[i], max_bin));
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *m = json_object();
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            char key[256];
            if (k->type == MSGPACK_OBJECT_STR)
                snprintf(key, sizeof key, "%.*s", (int)k->via.str.size, k->via.str.ptr);
            else if (k->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                snprintf(key, sizeof key, "%llu", (unsigned long long)k->via.u64);
            else
                snprintf(key, sizeof key, "?%u", i);
            json_object_set_new_nocheck(m, key,
                                        gf_json_from_msgpack(&o->via.map.ptr[i].val, max_bin));
        }
        return m;
    }
    default:
        return json_null();
    }
}

int gf_json_to_msgpack(const json_t *j, msgpack_packer *pk, char *why, size_t whylen)
{
    switch (json_typeof(j)) {
    case JSON_NULL:
        return msgpack_pack_nil(pk), 0;
    case JSON_TRUE:
        return msgpack_pack_true(pk), 0;
    case JSON_FALSE:
        return msgpack_pack_false(pk), 0;
    case JSON_INTEGER:
        return msgpack_pack_int64(pk, json_integer_value(j)), 0;
    case JSON_REAL:
        return msgpack_pack_double(pk, json_real_value(j)), 0;
    case JSON_STRING:
        return msgpack_pack_str_with_body(pk, json_string_value(j), json_string_length(j)), 0;
    case JSON_ARRAY: {
        msgpack_pack_array(pk, json_array_size(j));
        for (size_t i = 0; i < json_array_size(j); i++) {
            int err = gf_json_to_msgpack(json_array_get(j, i), pk, why, whylen);
            if (err)
                return err;
        }
        return 0;
    }
    case JSON_OBJECT: {
        const json_t *bin = json_object_get(j, "$bin");
        if (bin && json_object_size(j) == 1) {
            size_t n;
            uint8_t *b = json_is_string(bin)
                             ? s_b64_decode(json_string_value(bin), json_string_length(bin), &n)
                             : NULL;
            if (!b) {
                snprintf(why, whylen, "\"$bin\" is not base64");
                return GF_EINVAL;
            }
            msgpack_pack_bin_with_body(pk, b, n);
            free(b);
            return 0;
        }
        msgpack_pack_map(pk, json_object_size(j));
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)j, key, val)
        {
            msgpack_pack_str_with_body(pk, key, strlen(key));
            int err = gf_json_to_msgpack(val, pk, why, whylen);
            if (err)
                return err;
        }
        return 0;
    }
    }
    return GF_EINVAL;
}
