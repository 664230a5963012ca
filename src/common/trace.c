/* Diagnostics to stderr, one line each. Never called on the hot path at info level: the
 * produce and read paths trace only at debug, which is off by default. */
#include "brook/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

int bk_trace_level = BK_TRACE_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void bk_trace(int level, const char *module, const char *fmt, ...)
{
    if (level < bk_trace_level)
        return;
    char stamp[32];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);

    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int idx = level < 0 ? 0 : level > 3 ? 3 : level;
    fprintf(stderr, "%s.%03ldZ %s %s: %s\n", stamp, ts.tv_nsec / 1000000L, level_names[idx], module,
            msg);
}
