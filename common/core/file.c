/* file.c — durable whole-file writes: temporary file, write, fsync, rename, fsync the folder. */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

/* Records the failure of `step` on `subject` and returns GF_EIO; errno is the one to report. */
static int s_fail(const char *step, const char *subject, int *sys_err, char *why, size_t why_len)
{
    int e = errno;
    if (sys_err)
        *sys_err = e;
    if (why && why_len)
        snprintf(why, why_len, "cannot %s '%s': %s", step, subject, strerror(e));
    errno = e;
    return GF_EIO;
}

static int s_write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The folder of `path` ("." when it has none) into `dir`. */
static void s_dir_of(const char *path, char *dir, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, len, ".");
    else if (slash == path)
        snprintf(dir, len, "/");
    else
        snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

static int s_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

int gf_file_write_atomic(const char *path, const void *data, size_t len, int *sys_err, char *why,
                         size_t whylen)
{
    char tmp[4200], dir[4200];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return s_fail("write", path, sys_err, why, whylen);
    }
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return s_fail("create a temporary file for", path, sys_err, why, whylen);
    int rc = 0;
    if (fchmod(fd, 0644) != 0)
        rc = s_fail("set the mode of", path, sys_err, why, whylen);
    else if (s_write_all(fd, data, len) != 0)
        rc = s_fail("write", path, sys_err, why, whylen);
    else if (fsync(fd) != 0)
        rc = s_fail("sync", path, sys_err, why, whylen);
    if (close(fd) != 0 && rc == 0)
        rc = s_fail("write", path, sys_err, why, whylen);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = s_fail("rename into", path, sys_err, why, whylen);
    if (rc != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return rc;
    }
    s_dir_of(path, dir, sizeof dir);
    if (s_fsync_dir(dir) != 0) {
        /* the name may not survive a crash: take it back rather than report it as written */
        rc = s_fail("sync the folder of", path, sys_err, why, whylen);
        int e = errno;
        unlink(path);
        errno = e;
    }
    return rc;
}

const char *gf_file_errname(int sys_err)
{
    const char *name = sys_err ? strerrorname_np(sys_err) : NULL;
    return name ? name : "EIO";
}
