/* journal.h — an append-only file of records, for the gateway's request journal.
 *
 * The gateway writes one record for each thing it must not forget: a request accepted (its
 * bytes), an attempt sent, an answer (its bytes), a request forgotten. When the gateway starts, it
 * reads the file back and carries on where the previous process stopped (stages/gateway.c). A
 * record on disk:
 *
 *     [u32 length of what follows the crc][u32 crc32 of it][u8 type][u8 id length][id][u32 n][data]
 *
 * little-endian. A record is written with one write(2) before the action it describes, so it
 * outlives the process however it ends; gf_journal_sync() (fdatasync) makes it outlive the
 * machine, and the gateway calls it on a timer (docs/operations.md gives the policy). A torn or
 * damaged tail, from a crash in the middle of a write, is cut off at the last good record when the
 * file is opened, and said so in the log.
 *
 * One process at a time: gf_journal_open() takes an exclusive lock (on PATH.lock), waiting for a
 * previous holder that is still stopping. Not thread-safe.
 */
#ifndef GF_ENGINE_JOURNAL_H
#define GF_ENGINE_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#define GF_JOURNAL_MAX_RECORD (1u << 30)

typedef struct gf_journal gf_journal_t;

struct gf_journal_rec {
    int type; /* a byte chosen by the writer */
    const char *id;
    uint32_t n;
    const void *data; /* borrowed until the callback returns */
    size_t len;
};

/* Opens (creating) the journal at `path`, waiting up to `wait_ms` for its lock, and calls `fn`
 * for each good record in order (`fn` may be NULL). NULL on failure, with the reason in `why`.
 * Caller owns. */
gf_journal_t *gf_journal_open(const char *path, int wait_ms,
                              void (*fn)(void *ctx, const struct gf_journal_rec *rec), void *ctx,
                              char *why, size_t whylen);
void gf_journal_close(gf_journal_t **self_p);

/* Appends one record with a single write. 0, or GF_EIO with errno set (nothing half-written
 * stays: a short write is cut back). */
int gf_journal_append(gf_journal_t *self, int type, const char *id, uint32_t n, const void *data,
                      size_t len);

/* fdatasync: what was appended survives a power loss. 0 or GF_EIO. */
int gf_journal_sync(gf_journal_t *self);

/* Bytes in the file. */
uint64_t gf_journal_size(const gf_journal_t *self);

/* Compaction: writes a new file with the records `fill` appends to it (through
 * gf_journal_append on the journal it is given), syncs it and renames it over the old one, which
 * it then replaces. On failure the old file stays as it was. 0 or GF_EIO. */
int gf_journal_rewrite(gf_journal_t *self, int (*fill)(void *ctx, gf_journal_t *fresh), void *ctx);

#endif
