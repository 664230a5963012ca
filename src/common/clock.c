/* Clocks. The monotonic clock is read fresh on every call because lease decisions must not
 * trust the loop's cached time (a paused process resumes with a stale uv_now()). */
#include "brook/common.h"

#include <time.h>

uint64_t bk_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t bk_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + (int64_t)ts.tv_nsec / 1000000;
}
