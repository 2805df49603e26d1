/* json.h — msgpack <-> JSON for the command line (submit, tap, status) and result files.
 *
 * The mapping is the obvious one; msgpack bin, which JSON lacks, is the object
 * {"$bin": "<base64>"} both ways (or {"$bin_bytes": N} when output is cut at `max_bin` bytes).
 */
#ifndef GF_ENGINE_JSON_H
#define GF_ENGINE_JSON_H

#include <jansson.h>
#include <msgpack.h>
#include <stddef.h>

/* New JSON value for `o` (caller owns; json_decref). Bins longer than `max_bin` are summarised;
 * max_bin < 0 keeps every byte. */
json_t *gf_json_from_msgpack(const msgpack_object *o, long max_bin);

/* Packs `j` as msgpack. 0, or GF_EINVAL with `why` for a malformed {"$bin": ...}. */
int gf_json_to_msgpack(const json_t *j, msgpack_packer *pk, char *why, size_t whylen);

#endif
