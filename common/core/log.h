/* log.h — process-wide logging to stderr.
 *
 * Lines look like `2026-11-27T10:00:00.123Z reason.1[4242] error: cannot open 'x': ...`.
 * The prefix (who is talking) is set once per process with gf_log_init(). Messages are lowercase,
 * without a final period, and quote their subject. Thread-safe (one write(2) per line).
 */
#ifndef GF_CORE_LOG_H
#define GF_CORE_LOG_H

#include <stddef.h>

enum gf_log_level { GF_LOG_ERROR, GF_LOG_WARN, GF_LOG_INFO, GF_LOG_DEBUG };

/* Sets the prefix ("reason.1") and the level; GOTFLOW_LOG=debug|info|warn|error overrides it. */
void gf_log_init(const char *who, enum gf_log_level level);
void gf_log(enum gf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Remembers the error lines logged from now on (their message, without the prefix), so that a
 * process can report what went wrong in its own words: gf_log_errors() writes the last one, and
 * the first in parentheses when it differs ("cannot open the checkpoint 'm' (cannot open
 * 'm/config.json': No such file or directory)"), or "" when none was logged since. */
void gf_log_mark(void);
void gf_log_errors(char *out, size_t len);

#define gf_log_error(...) gf_log(GF_LOG_ERROR, __VA_ARGS__)
#define gf_log_warn(...) gf_log(GF_LOG_WARN, __VA_ARGS__)
#define gf_log_info(...) gf_log(GF_LOG_INFO, __VA_ARGS__)
#define gf_log_debug(...) gf_log(GF_LOG_DEBUG, __VA_ARGS__)

#endif
