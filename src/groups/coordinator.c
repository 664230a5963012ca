/* One group's coordinator, the transitions every request shares: rebalance preparation
 * (Kafka's prepareRebalance), the check that everyone has rejoined, member removal and the
 * leader's succession, member ids. Pure: time is `now`, ids come from the injected random
 * source, and every reaction is recorded as an action, never performed. */
#include "groups/coordinator_internal.h"

#include "brook/common.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

const char *bk_grp_state_name(bk_grp_state_t s)
{
    static const char *const names[] = {"Empty", "PreparingRebalance", "CompletingRebalance",
                                        "Stable", "Dead"};
    return (unsigned)s < BK_ARRAY_LEN(names) ? names[s] : "Unknown";
}

const char *bk_grp_errname(int code)
{
    switch (code) {
    case BK_GRP_ERR_NONE:
        return "NONE";
    case BK_GRP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
        return "COORDINATOR_LOAD_IN_PROGRESS";
    case BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE:
        return "COORDINATOR_NOT_AVAILABLE";
    case BK_GRP_ERR_NOT_COORDINATOR:
        return "NOT_COORDINATOR";
    case BK_GRP_ERR_ILLEGAL_GENERATION:
        return "ILLEGAL_GENERATION";
    case BK_GRP_ERR_INCONSISTENT_GROUP_PROTOCOL:
        return "INCONSISTENT_GROUP_PROTOCOL";
    case BK_GRP_ERR_UNKNOWN_MEMBER_ID:
        return "UNKNOWN_MEMBER_ID";
    case BK_GRP_ERR_INVALID_SESSION_TIMEOUT:
        return "INVALID_SESSION_TIMEOUT";
    case BK_GRP_ERR_REBALANCE_IN_PROGRESS:
        return "REBALANCE_IN_PROGRESS";
    case BK_GRP_ERR_NON_EMPTY_GROUP:
        return "NON_EMPTY_GROUP";
    case BK_GRP_ERR_GROUP_ID_NOT_FOUND:
        return "GROUP_ID_NOT_FOUND";
    case BK_GRP_ERR_MEMBER_ID_REQUIRED:
        return "MEMBER_ID_REQUIRED";
    case BK_GRP_ERR_GROUP_MAX_SIZE_REACHED:
        return "GROUP_MAX_SIZE_REACHED";
    default:
        return "UNKNOWN";
    }
}

void bk_grp_config_default(bk_grp_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->min_session_timeout_ms = 6000;
    cfg->max_session_timeout_ms = 1800000;
    cfg->initial_rebalance_delay_ms = 3000;
    cfg->server_assignor = "range";
}

int bk_grp_init(bk_grp_t *g, const char *group_id, const bk_grp_config_t *cfg, int64_t now_ms)
{
    memset(g, 0, sizeof *g);
    if (!group_id || !group_id[0] || !cfg->random || !cfg->partitions ||
        !bk_grp_assignor_known(cfg->server_assignor))
        return BK_EINVAL;
    if (!(g->group_id = strdup(group_id)))
        return UV_ENOMEM;
    g->cfg = *cfg;
    g->state = BK_GRP_EMPTY;
    g->state_since_ms = now_ms;
    return 0;
}

static void free_counted(bk_grp_t *g)
{
    for (size_t i = 0; i < g->counted_count; i++)
        free(g->counted_topics[i]);
    free(g->counted_topics);
    free(g->counted_parts);
    g->counted_topics = NULL;
    g->counted_parts = NULL;
    g->counted_count = 0;
}

void bk_grp_free(bk_grp_t *g)
{
    for (size_t i = 0; i < g->member_count; i++)
        grp_member_free(g->members[i]);
    for (size_t i = 0; i < g->pending_count; i++)
        free(g->pending[i].member_id);
    free(g->members);
    free(g->pending);
    free(g->group_id);
    free(g->protocol_type);
    free(g->protocol);
    free(g->leader_id);
    free_counted(g);
    memset(g, 0, sizeof *g);
}

void grp_set_state(bk_grp_t *g, bk_grp_state_t s, int64_t now)
{
    g->state = s;
    g->state_since_ms = now;
}

int bk_grp_member_find(const bk_grp_t *g, const char *member_id)
{
    for (size_t i = 0; member_id && i < g->member_count; i++)
        if (strcmp(g->members[i]->member_id, member_id) == 0)
            return (int)i;
    return -1;
}

int grp_pending_find(const bk_grp_t *g, const char *member_id)
{
    for (size_t i = 0; member_id && i < g->pending_count; i++)
        if (strcmp(g->pending[i].member_id, member_id) == 0)
            return (int)i;
    return -1;
}

void grp_pending_remove(bk_grp_t *g, size_t i)
{
    free(g->pending[i].member_id);
    memmove(g->pending + i, g->pending + i + 1, (g->pending_count - i - 1) * sizeof *g->pending);
    g->pending_count--;
}

int grp_append_member(bk_grp_t *g, bk_grp_member_t *m)
{
    char *leader = g->leader_id ? NULL : strdup(m->member_id);
    if ((!g->leader_id && !leader) ||
        bk_grow(&g->members, &g->member_cap, g->member_count, 1, sizeof *g->members, 4)) {
        free(leader);
        return UV_ENOMEM;
    }
    g->members[g->member_count++] = m;
    if (leader)
        g->leader_id = leader;
    return 0;
}

void grp_remove_member(bk_grp_t *g, size_t i, bk_grp_gone_t why, bk_grp_out_t *out)
{
    bk_grp_member_t *m = g->members[i];
    if (m->awaiting_join)
        grp_act_join_error(out, m->join_token, m->member_id, BK_GRP_ERR_UNKNOWN_MEMBER_ID);
    if (m->awaiting_sync)
        grp_act_sync(out, m->sync_token, m->member_id, BK_GRP_ERR_UNKNOWN_MEMBER_ID, NULL, 0);
    grp_act_removed(out, m->member_id, why);
    memmove(g->members + i, g->members + i + 1, (g->member_count - i - 1) * sizeof *g->members);
    g->member_count--;
    if (g->leader_id && strcmp(g->leader_id, m->member_id) == 0) {
        free(g->leader_id);
        g->leader_id = NULL;
        if (g->member_count) /* on ENOMEM the next completed join names a leader */
            g->leader_id = strdup(g->members[0]->member_id);
    }
    grp_member_free(m);
}

void grp_after_removal(bk_grp_t *g, int64_t now, bk_grp_out_t *out)
{
    if (g->state == BK_GRP_STABLE || g->state == BK_GRP_COMPLETING_REBALANCE)
        grp_prepare_rebalance(g, now, out);
    else if (g->state == BK_GRP_PREPARING_REBALANCE)
        grp_maybe_complete_join(g, now, out);
}

int32_t grp_max_rebalance_ms(const bk_grp_t *g)
{
    int32_t t = 0;
    for (size_t i = 0; i < g->member_count; i++)
        if (g->members[i]->rebalance_timeout_ms > t)
            t = g->members[i]->rebalance_timeout_ms;
    return t;
}

void grp_prepare_rebalance(bk_grp_t *g, int64_t now, bk_grp_out_t *out)
{
    int was_empty = g->state == BK_GRP_EMPTY;
    for (size_t i = 0; i < g->member_count; i++) {
        bk_grp_member_t *m = g->members[i];
        if (m->awaiting_sync) /* Kafka: resetAndPropagateAssignmentError */
            grp_act_sync(out, m->sync_token, m->member_id, BK_GRP_ERR_REBALANCE_IN_PROGRESS, NULL,
                         0);
        m->awaiting_sync = 0;
        m->pending_sync = 0;
    }
    g->persist_wait = 0;
    grp_set_state(g, BK_GRP_PREPARING_REBALANCE, now);
    int32_t rt = grp_max_rebalance_ms(g);
    g->join_deadline_ms = now + rt;
    g->delay_until_ms = 0;
    if (g->kind == BK_GRP_KIND_SERVER) {
        grp_complete_join(g, now, out); /* the broker rejoins its own members at once */
        return;
    }
    if (was_empty && g->cfg.initial_rebalance_delay_ms > 0) {
        int32_t d = g->cfg.initial_rebalance_delay_ms;
        g->delay_until_ms = now + d;
        g->delay_max_ms = now + (rt > d ? rt : d);
        return;
    }
    grp_maybe_complete_join(g, now, out);
}

void grp_maybe_complete_join(bk_grp_t *g, int64_t now, bk_grp_out_t *out)
{
    if (g->state != BK_GRP_PREPARING_REBALANCE || g->delay_until_ms || g->pending_count)
        return;
    for (size_t i = 0; i < g->member_count; i++)
        if (!g->members[i]->awaiting_join)
            return;
    grp_complete_join(g, now, out);
}

char *grp_new_member_id(const bk_grp_t *g, const char *client_id)
{
    uint64_t hi = g->cfg.random(g->cfg.ctx), lo = g->cfg.random(g->cfg.ctx);
    hi = (hi & ~(uint64_t)0xf000) | 0x4000;                     /* version 4 */
    lo = (lo & ~((uint64_t)0xc << 60)) | ((uint64_t)0x8 << 60); /* variant 10 */
    const char *c = client_id ? client_id : "";
    size_t n = strlen(c) + 38;
    char *id = malloc(n);
    if (!id)
        return NULL;
    snprintf(id, n, "%s-%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64, c,
             hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48, lo & 0xffffffffffffu);
    return id;
}
