/* The coordinator's timers, all on the caller's clock: pending member ids (MEMBER_ID_REQUIRED)
 * that never came back, session expiry (members with no request pending), the initial
 * rebalance delay, the rebalance timeout (members that did not rejoin are removed) and the
 * sync timeout (members that got their join answer but never synced are removed). Returns the
 * next deadline so the caller arms one timer per group. Pure. */
#include "groups/coordinator_internal.h"

#include <stdint.h>

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static void expire_pending(bk_grp_t *g, int64_t now, bk_grp_out_t *out)
{
    int gone = 0;
    for (size_t i = g->pending_count; i-- > 0;) {
        if (g->pending[i].deadline_ms <= now) {
            grp_pending_remove(g, i);
            gone = 1;
        }
    }
    if (gone)
        grp_maybe_complete_join(g, now, out);
}

/* Members waiting on a join or sync are kept alive by the rebalance timers instead. */
static int session_counts(const bk_grp_member_t *m)
{
    return !m->awaiting_join && !m->awaiting_sync;
}

static void expire_sessions(bk_grp_t *g, int64_t now, bk_grp_out_t *out)
{
    int gone = 0;
    for (size_t i = g->member_count; i-- > 0;) {
        const bk_grp_member_t *m = g->members[i];
        if (session_counts(m) && m->session_deadline_ms <= now) {
            grp_remove_member(g, i, BK_GRP_GONE_EXPIRED, out);
            gone = 1;
        }
    }
    if (gone)
        grp_after_removal(g, now, out);
}

static int any_pending_sync(const bk_grp_t *g)
{
    if (g->state != BK_GRP_COMPLETING_REBALANCE && g->state != BK_GRP_STABLE)
        return 0;
    for (size_t i = 0; i < g->member_count; i++)
        if (g->members[i]->pending_sync)
            return 1;
    return 0;
}

static void expire_sync(bk_grp_t *g, int64_t now, bk_grp_out_t *out)
{
    if (!any_pending_sync(g) || g->sync_deadline_ms > now)
        return;
    for (size_t i = g->member_count; i-- > 0;)
        if (g->members[i]->pending_sync)
            grp_remove_member(g, i, BK_GRP_GONE_NOT_SYNCED, out);
    grp_after_removal(g, now, out);
}

static void expire_join(bk_grp_t *g, int64_t now, bk_grp_out_t *out)
{
    if (g->state != BK_GRP_PREPARING_REBALANCE)
        return;
    int64_t due = g->delay_until_ms ? g->delay_until_ms : g->join_deadline_ms;
    if (due <= now)
        grp_complete_join(g, now, out);
}

static int64_t next_deadline(const bk_grp_t *g)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < g->pending_count; i++)
        next = min64(next, g->pending[i].deadline_ms);
    for (size_t i = 0; i < g->member_count; i++)
        if (session_counts(g->members[i]))
            next = min64(next, g->members[i]->session_deadline_ms);
    if (g->state == BK_GRP_PREPARING_REBALANCE)
        next = min64(next, g->delay_until_ms ? g->delay_until_ms : g->join_deadline_ms);
    if (any_pending_sync(g))
        next = min64(next, g->sync_deadline_ms);
    return next;
}

int64_t bk_grp_tick(bk_grp_t *g, int64_t now_ms, bk_grp_out_t *out)
{
    if (g->state == BK_GRP_DEAD)
        return INT64_MAX;
    expire_pending(g, now_ms, out);
    expire_sessions(g, now_ms, out);
    expire_join(g, now_ms, out);
    expire_sync(g, now_ms, out);
    return next_deadline(g);
}
