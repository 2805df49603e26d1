/* kvfile.h — a KV slot's first positions handed from one stage to the next on the same host, as
 * a file: the reason stage leaves the cache of prompt + chain, and imagegen reads it into its
 * conditional row instead of computing it again (docs/model.md, "The handover").
 *
 * The file says whose cache it is: an identity (the checkpoint, the precision, the backend's
 * kernels, the cache's dtype and shape) and a hash of the tokens at its positions. A reader
 * takes it only when both match its own, so what it reads is what its own forward of those
 * tokens would write, on a batch-invariant backend (the CPU ones). Files are whole or absent:
 * written to a temporary name, then renamed.
 */
#ifndef GF_MODEL_LM_KVFILE_H
#define GF_MODEL_LM_KVFILE_H

#include <stddef.h>
#include <stdint.h>

#include "model/lm/llm.h"

/* What two stages must share for their caches to be the same bits: the checkpoint (its
 * directory and its files' sizes and times), the precision, the backend's kernels, and the
 * cache's dtype and shape. (On a backend gf_kvfile_backend_ok refuses, sharing it is not
 * enough.) */
uint64_t gf_kvfile_identity(const struct gf_llm *m, const struct gf_ckpt *ck,
                            const struct gf_backend *be);

/* 1 when the backend's forward is batch-invariant across prefill and decode (the CPU backends),
 * so that a handed-over cache is the same bits as one computed again; 0 otherwise (CUDA). */
int gf_kvfile_backend_ok(const struct gf_backend *be);

/* Writes positions 0..n_pos-1 of slot, which hold toks[n_pos], to `path` (through path.tmp).
 * 0, or GF_EIO with `why` (a full disk, a missing directory); no file is left on failure. */
int gf_kvfile_write(struct gf_llm *m, int slot, const int32_t *toks, int n_pos, uint64_t identity,
                    const char *path, char *why, size_t whylen);

/* Reads `path` into slot when it holds the cache of a prefix of toks[n_toks] (at most n_toks - 1
 * positions) written under the same identity. Returns its positions (>= 1); GF_ENOTFOUND when
 * there is no such file; GF_EINVAL, with `why`, when it is another model's, other tokens', of
 * another shape, or cut short (the slot's contents are then undefined up to the length read). */
int gf_kvfile_read(struct gf_llm *m, int slot, const int32_t *toks, int n_toks, uint64_t identity,
                   const char *path, char *why, size_t whylen);

#endif
