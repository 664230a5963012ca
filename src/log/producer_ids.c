/* The producer id allocator (producer_ids.h). An id is base | n with n counting up to 2^24 in
 * memory, and the base is durable and never repeats -- in a cluster the term's fencing epoch
 * (Redis bumps it for every new term), standalone a generation counter persisted in the data
 * directory (bk_log_next_generation) with bit 62 set, so the two kinds never meet. It never
 * decides leadership: callers hand it the epoch they lead at. */
#include "log/producer_ids.h"

#include <uv.h>

#define PID_SEQ_BITS 24
#define PID_PER_BASE ((uint32_t)1 << PID_SEQ_BITS)
#define PID_STANDALONE ((int64_t)1 << 62)
#define PID_MAX_BASE ((int64_t)1 << 38) /* epochs and generations below this fit */

/* A fresh base when needed: the term changed (cluster), or none yet or the last one is used
 * up (standalone). 0 or UV_EAGAIN. */
static int renew_base(bk_pid_alloc_t *a, bk_log_t *log, int standalone, int64_t epoch)
{
    if (!standalone && epoch != a->term) {
        if (epoch <= 0 || epoch >= PID_MAX_BASE)
            return UV_EAGAIN;
        a->term = epoch;
        a->base = epoch << PID_SEQ_BITS;
        a->next = 0;
    }
    if (standalone && (a->term != -1 || a->next >= PID_PER_BASE)) {
        int64_t gen = 0;
        int rc = bk_log_next_generation(log, &gen);
        if (rc < 0 || gen >= PID_MAX_BASE)
            return UV_EAGAIN; /* the log traced why */
        a->term = -1;
        a->base = PID_STANDALONE | gen << PID_SEQ_BITS;
        a->next = 0;
    }
    return a->next < PID_PER_BASE ? 0 : UV_EAGAIN;
}

int bk_pid_alloc_next(bk_pid_alloc_t *a, bk_log_t *log, int standalone, int64_t epoch, int64_t *pid)
{
    int rc = renew_base(a, log, standalone, epoch);
    if (rc)
        return rc;
    *pid = a->base | (int64_t)a->next++;
    return 0;
}
