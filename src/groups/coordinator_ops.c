/* The requests of members already in the group: SyncGroup (the leader's plan, held until it
 * is persisted), Heartbeat with Kafka's generation fencing, LeaveGroup, the persistence
 * outcome, topic metadata changes and group deletion. Pure: answers are returned or recorded
 * as actions. */
#include "groups/coordinator_internal.h"

#include "brook/common.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* Sets every member's assignment from the leader's plan (absent: empty). */
static int take_plan(bk_grp_t *g, const bk_grp_sync_req_t *req)
{
    for (size_t i = 0; i < g->member_count; i++) {
        bk_grp_member_t *m = g->members[i];
        const uint8_t *p = NULL;
        size_t len = 0;
        for (size_t k = 0; k < req->assignment_count; k++) {
            if (req->assignments[k].member_id &&
                strcmp(req->assignments[k].member_id, m->member_id) == 0) {
                p = req->assignments[k].assignment;
                len = req->assignments[k].assignment_len;
            }
        }
        if (grp_member_set_assignment(m, p, len))
            return UV_ENOMEM;
    }
    return 0;
}

static int sync_check(const bk_grp_t *g, const bk_grp_sync_req_t *req)
{
    if (g->state == BK_GRP_DEAD)
        return BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE;
    if (bk_grp_member_find(g, req->member_id) < 0)
        return BK_GRP_ERR_UNKNOWN_MEMBER_ID;
    if (req->generation != g->generation)
        return BK_GRP_ERR_ILLEGAL_GENERATION;
    if (g->kind != BK_GRP_KIND_CLIENT ||
        (req->protocol_type &&
         strcmp(req->protocol_type, g->protocol_type ? g->protocol_type : "")) ||
        (req->protocol && strcmp(req->protocol, g->protocol ? g->protocol : "")))
        return BK_GRP_ERR_INCONSISTENT_GROUP_PROTOCOL;
    if (g->state == BK_GRP_PREPARING_REBALANCE)
        return BK_GRP_ERR_REBALANCE_IN_PROGRESS;
    return BK_GRP_ERR_NONE;
}

int bk_grp_sync(bk_grp_t *g, int64_t now_ms, const bk_grp_sync_req_t *req, bk_grp_out_t *out)
{
    int err = sync_check(g, req);
    if (err) {
        grp_act_sync(out, req->token, req->member_id, err, NULL, 0);
        return 0;
    }
    bk_grp_member_t *m = g->members[bk_grp_member_find(g, req->member_id)];
    m->pending_sync = 0;
    m->session_deadline_ms = now_ms + m->session_timeout_ms;
    if (g->state == BK_GRP_STABLE) {
        grp_act_sync(out, req->token, m->member_id, 0, m->assignment, m->assignment_len);
        return 0;
    }
    if (m->awaiting_sync) /* a retried sync replaces the one held */
        grp_act_sync(out, m->sync_token, m->member_id, BK_GRP_ERR_REBALANCE_IN_PROGRESS, NULL, 0);
    m->awaiting_sync = 1;
    m->sync_token = req->token;
    if (g->leader_id && strcmp(g->leader_id, m->member_id) == 0 && !g->persist_wait) {
        if (take_plan(g, req))
            return UV_ENOMEM;
        g->persist_wait = 1;
        grp_act_persist(out, g->generation);
    }
    return 0;
}

void bk_grp_persist_done(bk_grp_t *g, int64_t now_ms, int32_t generation, int ok, bk_grp_out_t *out)
{
    if (g->state != BK_GRP_COMPLETING_REBALANCE || !g->persist_wait || generation != g->generation)
        return;
    g->persist_wait = 0;
    for (size_t i = 0; i < g->member_count; i++) {
        bk_grp_member_t *m = g->members[i];
        if (!ok)
            grp_member_set_assignment(m, NULL, 0);
        if (m->awaiting_sync)
            grp_act_sync(out, m->sync_token, m->member_id,
                         ok ? 0 : BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE, m->assignment,
                         m->assignment_len);
        m->awaiting_sync = 0;
    }
    if (!ok) {
        grp_prepare_rebalance(g, now_ms, out);
        return;
    }
    grp_set_state(g, BK_GRP_STABLE, now_ms);
    grp_act_stable(out, g->generation);
}

int bk_grp_heartbeat(bk_grp_t *g, int64_t now_ms, const char *member_id, int32_t generation)
{
    if (g->state == BK_GRP_DEAD)
        return BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE;
    int i = bk_grp_member_find(g, member_id);
    if (i < 0)
        return BK_GRP_ERR_UNKNOWN_MEMBER_ID;
    if (generation != g->generation)
        return BK_GRP_ERR_ILLEGAL_GENERATION;
    bk_grp_member_t *m = g->members[i];
    m->session_deadline_ms = now_ms + m->session_timeout_ms;
    return g->state == BK_GRP_PREPARING_REBALANCE ? BK_GRP_ERR_REBALANCE_IN_PROGRESS
                                                  : BK_GRP_ERR_NONE;
}

int bk_grp_touch(bk_grp_t *g, int64_t now_ms, const char *member_id)
{
    int i = bk_grp_member_find(g, member_id);
    if (i < 0)
        return BK_GRP_ERR_UNKNOWN_MEMBER_ID;
    g->members[i]->session_deadline_ms = now_ms + g->members[i]->session_timeout_ms;
    return BK_GRP_ERR_NONE;
}

int bk_grp_leave(bk_grp_t *g, int64_t now_ms, const char *member_id, bk_grp_out_t *out)
{
    if (g->state == BK_GRP_DEAD)
        return BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE;
    int p = grp_pending_find(g, member_id);
    if (p >= 0) {
        grp_pending_remove(g, (size_t)p);
        grp_maybe_complete_join(g, now_ms, out);
        return BK_GRP_ERR_NONE;
    }
    int i = bk_grp_member_find(g, member_id);
    if (i < 0)
        return BK_GRP_ERR_UNKNOWN_MEMBER_ID;
    grp_remove_member(g, (size_t)i, BK_GRP_GONE_LEFT, out);
    grp_after_removal(g, now_ms, out);
    return BK_GRP_ERR_NONE;
}

int bk_grp_metadata_changed(bk_grp_t *g, int64_t now_ms, bk_grp_out_t *out)
{
    if (g->state != BK_GRP_STABLE && g->state != BK_GRP_COMPLETING_REBALANCE)
        return 0; /* Empty: nothing assigned; Preparing: counts are taken at completion */
    for (size_t i = 0; i < g->counted_count; i++) {
        if (g->cfg.partitions(g->cfg.ctx, g->counted_topics[i]) != g->counted_parts[i]) {
            grp_prepare_rebalance(g, now_ms, out);
            return 1;
        }
    }
    return 0;
}

int bk_grp_delete(bk_grp_t *g)
{
    if (g->state == BK_GRP_DEAD)
        return BK_GRP_ERR_GROUP_ID_NOT_FOUND;
    if (g->state != BK_GRP_EMPTY || g->member_count)
        return BK_GRP_ERR_NON_EMPTY_GROUP;
    while (g->pending_count)
        grp_pending_remove(g, g->pending_count - 1);
    g->state = BK_GRP_DEAD;
    return BK_GRP_ERR_NONE;
}
