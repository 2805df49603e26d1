/* record.h — the file `gotflow tap --record` writes and `gotflow replay` reads.
 *
 * Layout: the line "gotflow-record 1\n", the line "run <run directory>\n", then one record per
 * frame: u32 topic length, topic ("stage.kind."), u32 replica, u64 tap sequence, u32 frame
 * length, frame bytes (msgpack) — integers little-endian.
 */
#ifndef GF_TOOLS_RECORD_H
#define GF_TOOLS_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define GF_RECORD_MAGIC "gotflow-record 1\n"

struct gf_record {
    char topic[160];
    uint32_t replica;
    uint64_t seq;
    uint8_t *frame; /* owned by the reader until the next read */
    size_t len;
};

int gf_record_write_header(FILE *f, const char *run_dir);
int gf_record_write(FILE *f, const char *topic, size_t topic_len, uint32_t replica, uint64_t seq,
                    const void *frame, size_t len);

/* Reads the header; fills run_dir. 0, or GF_EPARSE. */
int gf_record_read_header(FILE *f, char *run_dir, size_t len);
/* Reads the next record into `r` (r->frame reallocated as needed; free it at the end).
 * 1 read, 0 end of file, GF_EPARSE for a damaged record. */
int gf_record_read(FILE *f, struct gf_record *r, size_t max_frame);

#endif
