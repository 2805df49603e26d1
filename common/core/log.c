/* log.c — one formatted line per call, written with a single write(2). */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char s_who[64] = "gotflow";
static enum gf_log_level s_level = GF_LOG_INFO;

static const char *const s_names[] = {"error", "warn", "info", "debug"};

void gf_log_init(const char *who, enum gf_log_level level)
{
    snprintf(s_who, sizeof s_who, "%s", who);
    s_level = level;
    const char *env = getenv("GOTFLOW_LOG");
    if (env)
        for (int i = 0; i <= GF_LOG_DEBUG; i++)
            if (strcmp(env, s_names[i]) == 0)
                s_level = (enum gf_log_level)i;
}

void gf_log(enum gf_log_level level, const char *fmt, ...)
{
    if (level > s_level)
        return;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s[%d] %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), s_who, (int)getpid(), s_names[level]);
    va_list ap;
    va_start(ap, fmt);
    if (n < (int)sizeof line)
        n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof line - 1)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
