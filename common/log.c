/* Logging to stderr, one write(2) per line. */
#include "log.h"
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int sl_log_level = SL_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

int sl_log_set_level(const char *name)
{
    for (int i = 0; i <= SL_LOG_OFF; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            sl_log_level = i;
            return 0;
        }
    }
    return SL_EINVAL;
}

void sl_log_write(int level, const char *module, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    int m;
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    m = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s %s: ", ts.tv_nsec / 1000000,
                 level_names[level < 0 || level > SL_LOG_ERROR ? SL_LOG_ERROR : level], module);
    n += m > 0 ? (size_t)m : 0;
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    n += m > 0 ? (size_t)m : 0;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2; /* truncated: keep the newline */
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, n) < 0) {
        /* nowhere left to report it */
    }
}
