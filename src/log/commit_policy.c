/* When to acknowledge and when to flush, per fsync mode. This file must stay free of I/O and
 * of clocks: the caller passes the time in, which is what makes the policy testable.
 *
 *   always    an append is acknowledged only by the round that covers it, so any pending
 *             append starts a round as soon as none is in flight (group commit: every append
 *             made while a round runs shares the next one).
 *   interval  appends are acknowledged as soon as written; dirty data is flushed once
 *             interval_ms have passed since the previous round started.
 *   never     appends are acknowledged as soon as written; flushing is left to the OS.
 *
 * In every mode a closing log flushes what is dirty, one round at a time. */
#include "log/commit_policy.h"

bk_commit_decision_t bk_commit_decide(const bk_commit_input_t *in)
{
    bk_commit_decision_t d = {0, 0, 0};
    if (in->mode != BK_FSYNC_ALWAYS)
        d.ack = in->pending;
    if (in->in_flight)
        return d;
    int work = in->dirty || (in->mode == BK_FSYNC_ALWAYS && in->pending);
    if (!work)
        return d;
    if (in->closing || in->mode == BK_FSYNC_ALWAYS) {
        d.flush = 1;
        return d;
    }
    if (in->mode == BK_FSYNC_INTERVAL) {
        uint64_t due = in->last_flush_ms + in->interval_ms;
        if (in->now_ms >= due)
            d.flush = 1;
        else
            d.timer_ms = due - in->now_ms;
    }
    return d;
}
