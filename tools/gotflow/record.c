/* record.c — see record.h. */
#include "record.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static int s_put(FILE *f, uint64_t v, int n)
{
    uint8_t b[8];
    for (int i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return fwrite(b, 1, (size_t)n, f) == (size_t)n ? 0 : GF_EIO;
}

static int s_get(FILE *f, uint64_t *v, int n)
{
    uint8_t b[8];
    if (fread(b, 1, (size_t)n, f) != (size_t)n)
        return GF_EPARSE;
    *v = 0;
    for (int i = n - 1; i >= 0; i--)
        *v = *v << 8 | b[i];
    return 0;
}

int gf_record_write_header(FILE *f, const char *run_dir)
{
    return fprintf(f, "%srun %s\n", GF_RECORD_MAGIC, run_dir) > 0 ? 0 : GF_EIO;
}

int gf_record_write(FILE *f, const char *topic, size_t topic_len, uint32_t replica, uint64_t seq,
                    const void *frame, size_t len)
{
    if (s_put(f, topic_len, 4) || fwrite(topic, 1, topic_len, f) != topic_len ||
        s_put(f, replica, 4) || s_put(f, seq, 8) || s_put(f, len, 4) ||
        fwrite(frame, 1, len, f) != len)
        return GF_EIO;
    return 0;
}

int gf_record_read_header(FILE *f, char *run_dir, size_t len)
{
    char line[4200];
    if (!fgets(line, sizeof line, f) || strcmp(line, GF_RECORD_MAGIC) != 0)
        return GF_EPARSE;
    if (!fgets(line, sizeof line, f) || strncmp(line, "run ", 4) != 0)
        return GF_EPARSE;
    line[strcspn(line, "\n")] = 0;
    snprintf(run_dir, len, "%s", line + 4);
    return 0;
}

int gf_record_read(FILE *f, struct gf_record *r, size_t max_frame)
{
    uint64_t tl, rep, seq, len;
    int c = fgetc(f);
    if (c == EOF)
        return 0;
    ungetc(c, f);
    if (s_get(f, &tl, 4) || tl >= sizeof r->topic || fread(r->topic, 1, tl, f) != tl)
        return GF_EPARSE;
    r->topic[tl] = 0;
    if (s_get(f, &rep, 4) || s_get(f, &seq, 8) || s_get(f, &len, 4) || len > max_frame)
        return GF_EPARSE;
    uint8_t *p = realloc(r->frame, len ? len : 1);
    if (!p)
        return GF_ENOMEM;
    r->frame = p;
    if (fread(r->frame, 1, len, f) != len)
        return GF_EPARSE;
    r->replica = (uint32_t)rep;
    r->seq = seq;
    r->len = len;
    return 1;
}
