/* Random identifiers (topic ids, process instances): 64 bits from the kernel, never 0. Not for
 * secrets: should the kernel have no randomness to give yet, the clock, the process and a
 * counter still make a repeat vanishingly unlikely. */
#include "brook/common.h"

#include <stdatomic.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

uint64_t bk_random_id(void)
{
    static atomic_uint_fast64_t counter;
    uint64_t id = 0;
    if (getrandom(&id, sizeof id, GRND_NONBLOCK) != (ssize_t)sizeof id) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        id = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^ (uint64_t)getpid() << 40;
        id += (atomic_fetch_add(&counter, 1) + 1) * 0x9e3779b97f4a7c15u;
    }
    return id ? id : 1;
}
