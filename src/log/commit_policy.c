/* When to start a flush round, per fsync mode. This file must stay free of I/O and of clocks:
 * the caller passes the time in, which is what makes the policy testable.
 *
 *   always    appends are acknowledged only by the round that writes and syncs them, so any
 *             work starts a round as soon as none is in flight (group commit: every append
 *             made while a round runs shares the next one).
 *   interval  appends are written by the check phase and acknowledged then; written data is
 *             synced once interval_ms have passed since the previous round started.
 *   never     like interval, but syncing is left to the OS.
 *
 * In every mode a round starts at once (when none is in flight) for urgent work, a rolled
 * segment that must be durable before its successor is written, and a closing log flushes
 * what is dirty, one round at a time. */
#include "log/commit_policy.h"

bk_commit_decision_t bk_commit_decide(const bk_commit_input_t *in)
{
    bk_commit_decision_t d = {0, 0};
    if (in->in_flight || !(in->writes || in->syncs))
        return d;
    if (in->mode == BK_FSYNC_ALWAYS || in->closing || in->urgent) {
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
