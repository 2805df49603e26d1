/* journal.c — see journal.h for the record format and the guarantees. */
#include "engine/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/error.h"
#include "core/log.h"

struct gf_journal {
    int fd, lock_fd;
    uint64_t size;
    char path[4096];
};

static void s_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t s_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int s_read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (uint8_t *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

static int s_write_full(int fd, const void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, (const uint8_t *)buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

/* Reads the records; returns the offset after the last good one. */
static uint64_t s_replay(int fd, void (*fn)(void *, const struct gf_journal_rec *), void *ctx,
                         const char *path)
{
    uint64_t good = 0;
    uint8_t hdr[8];
    uint8_t *body = NULL;
    size_t cap = 0;
    const char *damage = NULL;
    while (s_read_full(fd, hdr, 4) == 0) {
        uint32_t len = s_get32(hdr);
        if (len < 6 || len > GF_JOURNAL_MAX_RECORD) {
            damage = "a record of impossible length";
            break;
        }
        if (s_read_full(fd, hdr + 4, 4) != 0) {
            damage = "a torn record";
            break;
        }
        if (len > cap) {
            uint8_t *b = realloc(body, len);
            if (!b) {
                damage = "a record too large for memory";
                break;
            }
            body = b;
            cap = len;
        }
        if (s_read_full(fd, body, len) != 0) {
            damage = "a torn record";
            break;
        }
        if ((uint32_t)crc32(0L, body, len) != s_get32(hdr + 4)) {
            damage = "a record whose checksum does not match";
            break;
        }
        size_t id_len = body[1];
        if (2 + id_len + 4 > len) {
            damage = "a record of impossible layout";
            break;
        }
        char id[256];
        memcpy(id, body + 2, id_len);
        id[id_len] = 0;
        struct gf_journal_rec rec = {.type = body[0],
                                     .id = id,
                                     .n = s_get32(body + 2 + id_len),
                                     .data = body + 2 + id_len + 4,
                                     .len = len - 2 - id_len - 4};
        if (fn)
            fn(ctx, &rec);
        good += 8 + (uint64_t)len;
    }
    if (damage)
        gf_log_warn("journal '%s': %s at byte %llu; keeping the %llu bytes before it", path, damage,
                    (unsigned long long)good, (unsigned long long)good);
    free(body);
    return good;
}

gf_journal_t *gf_journal_open(const char *path, int wait_ms,
                              void (*fn)(void *ctx, const struct gf_journal_rec *rec), void *ctx,
                              char *why, size_t whylen)
{
    gf_journal_t *self = calloc(1, sizeof *self);
    char lock_path[4096 + 8];
    if (!self) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    self->fd = self->lock_fd = -1;
    snprintf(self->path, sizeof self->path, "%s", path);
    snprintf(lock_path, sizeof lock_path, "%s.lock", path);
    self->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->lock_fd < 0) {
        snprintf(why, whylen, "cannot open '%s': %s", lock_path, strerror(errno));
        goto out_fail;
    }
    for (int waited = 0; flock(self->lock_fd, LOCK_EX | LOCK_NB) != 0; waited += 20) {
        if (errno != EWOULDBLOCK || waited >= wait_ms) {
            snprintf(why, whylen, "'%s' is held by another process (a gateway still stopping?)",
                     path);
            goto out_fail;
        }
        usleep(20000);
    }
    self->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->fd < 0) {
        snprintf(why, whylen, "cannot open '%s': %s", path, strerror(errno));
        goto out_fail;
    }
    self->size = s_replay(self->fd, fn, ctx, path);
    struct stat st;
    if (fstat(self->fd, &st) == 0 && (uint64_t)st.st_size != self->size &&
        ftruncate(self->fd, (off_t)self->size) != 0) {
        snprintf(why, whylen, "cannot cut the damaged tail of '%s': %s", path, strerror(errno));
        goto out_fail;
    }
    if (lseek(self->fd, (off_t)self->size, SEEK_SET) < 0) {
        snprintf(why, whylen, "cannot seek in '%s': %s", path, strerror(errno));
        goto out_fail;
    }
    return self;

out_fail:
    gf_journal_close(&self);
    return NULL;
}

void gf_journal_close(gf_journal_t **self_p)
{
    gf_journal_t *self = *self_p;
    if (!self)
        return;
    if (self->fd >= 0)
        close(self->fd);
    if (self->lock_fd >= 0)
        close(self->lock_fd); /* releases the lock */
    free(self);
    *self_p = NULL;
}

int gf_journal_append(gf_journal_t *self, int type, const char *id, uint32_t n, const void *data,
                      size_t len)
{
    size_t id_len = strlen(id);
    if (id_len > 255 || len > GF_JOURNAL_MAX_RECORD - 2 - 255 - 4) {
        errno = EINVAL;
        return GF_EIO;
    }
    size_t body = 2 + id_len + 4 + len;
    uint8_t *rec = malloc(8 + body);
    if (!rec) {
        errno = ENOMEM;
        return GF_EIO;
    }
    s_put32(rec, (uint32_t)body);
    rec[8] = (uint8_t)type;
    rec[9] = (uint8_t)id_len;
    memcpy(rec + 10, id, id_len);
    s_put32(rec + 10 + id_len, n);
    if (len)
        memcpy(rec + 14 + id_len, data, len);
    s_put32(rec + 4, (uint32_t)crc32(0L, rec + 8, (uInt)body));
    int rc = s_write_full(self->fd, rec, 8 + body);
    int saved = errno;
    free(rec);
    if (rc != 0) {
        /* leave no torn record behind: the next append starts where this one should have */
        if (ftruncate(self->fd, (off_t)self->size) == 0)
            lseek(self->fd, (off_t)self->size, SEEK_SET);
        errno = saved;
        return GF_EIO;
    }
    self->size += 8 + body;
    return 0;
}

int gf_journal_sync(gf_journal_t *self)
{
    return fdatasync(self->fd) == 0 ? 0 : GF_EIO;
}

uint64_t gf_journal_size(const gf_journal_t *self)
{
    return self->size;
}

int gf_journal_rewrite(gf_journal_t *self, int (*fill)(void *ctx, gf_journal_t *fresh), void *ctx)
{
    char tmp[4096 + 8], dir[4096];
    snprintf(tmp, sizeof tmp, "%s.new", self->path);
    gf_journal_t fresh = {.fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600),
                          .lock_fd = -1};
    if (fresh.fd < 0)
        return GF_EIO;
    int rc = fill(ctx, &fresh);
    if (rc == 0 && fsync(fresh.fd) != 0)
        rc = GF_EIO;
    if (rc == 0 && rename(tmp, self->path) != 0)
        rc = GF_EIO;
    if (rc != 0) {
        int saved = errno;
        close(fresh.fd);
        unlink(tmp);
        errno = saved;
        return rc;
    }
    /* the directory entry too, or a power loss could bring the old file back */
    snprintf(dir, sizeof dir, "%s", self->path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    close(self->fd);
    self->fd = fresh.fd;
    self->size = fresh.size;
    return 0;
}
