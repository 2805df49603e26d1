/* file.h — writing a file so that it is either complete and durable, or not there at all.
 *
 * gf_file_write_atomic() writes into a temporary file beside the target (same directory, so the
 * rename cannot cross file systems), writes every byte, fsyncs it, renames it over the target and
 * fsyncs the directory. Whatever step fails, the temporary file is removed and the target is left
 * as it was: a reader never sees a partial or empty file, and a caller that reports success after
 * it returns 0 reports only what is on disk.
 */
#ifndef GF_CORE_FILE_H
#define GF_CORE_FILE_H

#include <stddef.h>

/* Writes `len` bytes of `data` to `path` (mode 0644) as above. 0, or GF_EIO with the failing
 * call's errno in *sys_err (may be NULL) and `why` (may be NULL) set to one line naming the step,
 * the path and strerror: "cannot write 'out/r1.json': No space left on device". Nothing logged. */
int gf_file_write_atomic(const char *path, const void *data, size_t len, int *sys_err, char *why,
                         size_t whylen);

/* The symbolic name of an errno value ("ENOSPC"), or "EIO" when it has none. */
const char *gf_file_errname(int sys_err);

#endif
