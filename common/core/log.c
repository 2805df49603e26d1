/* log.c — one formatted line per call, written with a single write(2). */
#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char s_who[64] = "gotflow";
static enum gf_log_level s_level = GF_LOG_INFO;

/* the first and the last error message since gf_log_mark() */
static pthread_mutex_t s_errors_lock = PTHREAD_MUTEX_INITIALIZER;
static char s_first_error[512], s_last_error[512];

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

void gf_log_mark(void)
{
    pthread_mutex_lock(&s_errors_lock);
    s_first_error[0] = s_last_error[0] = '\0';
    pthread_mutex_unlock(&s_errors_lock);
}

void gf_log_errors(char *out, size_t len)
{
    pthread_mutex_lock(&s_errors_lock);
    if (!s_first_error[0] || strcmp(s_first_error, s_last_error) == 0)
        snprintf(out, len, "%s", s_last_error);
    else
        snprintf(out, len, "%s (%s)", s_last_error, s_first_error);
    pthread_mutex_unlock(&s_errors_lock);
}

static void s_keep_error(const char *msg)
{
    pthread_mutex_lock(&s_errors_lock);
    if (!s_first_error[0])
        snprintf(s_first_error, sizeof s_first_error, "%s", msg);
    snprintf(s_last_error, sizeof s_last_error, "%s", msg);
    pthread_mutex_unlock(&s_errors_lock);
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
    int prefix = n;
    va_list ap;
    va_start(ap, fmt);
    if (n < (int)sizeof line)
        n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof line - 1)
        n = (int)sizeof line - 2;
    if (level == GF_LOG_ERROR && prefix < n)
        s_keep_error(line + prefix);
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
