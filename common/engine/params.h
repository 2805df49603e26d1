/* params.h — what a model stage reads from a request: generation parameters over the stage's
 * defaults, token id tensors and the special ids.
 *
 * A value is looked up first in the frame's `params` map (under `req`, then `req_alt`), then in
 * the stage's graph `params:` (under `stage`), and is otherwise `dflt`. Every value, wherever it
 * came from, is checked against [lo, hi] (and to be a whole number when `integer` is set), so an
 * out-of-range request is answered with a message that names the key and the range.
 */
#ifndef GF_ENGINE_PARAMS_H
#define GF_ENGINE_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/frame.h"
#include "engine/graph.h"

struct gf_param_spec {
    const char *req;     /* key in the request's params */
    const char *req_alt; /* a second request key, or NULL */
    const char *stage;   /* key in the stage's graph params, or NULL */
    double dflt, lo, hi;
    int integer;
};

/* 0 and *out, or GF_ESCHEMA (not a number) / GF_EINVAL (out of range) with `why` filled. */
int gf_params_get(const gf_frame_t *f, const struct gf_stage_def *def,
                  const struct gf_param_spec *spec, double *out, char *why, size_t whylen);

/* The request's `seed` (any 64-bit integer), else the stage's `seed`, else dflt. 0 or
 * GF_ESCHEMA with `why`. */
int gf_params_seed(const gf_frame_t *f, const struct gf_stage_def *def, uint64_t dflt,
                   uint64_t *out, char *why, size_t whylen);

/* The i32 tensor [n] under `key` (n >= 1, every id in 0..limit-1), copied into *ids_p (caller
 * owns, free()). 0, GF_ESCHEMA / GF_EINVAL with `why`, or GF_ENOMEM. */
int gf_params_ids(const gf_frame_t *f, const char *key, int32_t limit, int32_t **ids_p, int *n_p,
                  char *why, size_t whylen);

/* The id `special.<name>` that the tokenize stage wrote (0..limit-1). 0 or GF_ESCHEMA. */
int gf_params_special(const gf_frame_t *f, const char *name, int32_t limit, int32_t *out, char *why,
                      size_t whylen);

#endif
