/* The coordinator's output: actions recorded in order, each a self-contained copy (answers
 * to pending JoinGroup/SyncGroup requests, persist requests, removals), so the caller may act
 * on them after the group has moved on. Running out of memory drops the action and sets
 * out->lost; nothing here can fail otherwise. */
#include "groups/coordinator_internal.h"

#include "brook/common.h"

#include <stdlib.h>
#include <string.h>

static void free_action(bk_grp_action_t *a)
{
    free(a->member_id);
    free(a->protocol_type);
    free(a->protocol);
    free(a->leader_id);
    for (size_t i = 0; i < a->member_count; i++) {
        free(a->members[i].member_id);
        free(a->members[i].group_instance_id);
        free(a->members[i].metadata);
    }
    free(a->members);
    free(a->assignment);
}

void bk_grp_out_clear(bk_grp_out_t *out)
{
    for (size_t i = 0; i < out->count; i++)
        free_action(&out->items[i]);
    out->count = 0;
    out->lost = 0;
}

void bk_grp_out_free(bk_grp_out_t *out)
{
    bk_grp_out_clear(out);
    free(out->items);
    memset(out, 0, sizeof *out);
}

static bk_grp_action_t *push(bk_grp_out_t *out, bk_grp_act_kind_t kind)
{
    if (bk_grow(&out->items, &out->cap, out->count, 1, sizeof *out->items, 8)) {
        out->lost = 1;
        return NULL;
    }
    bk_grp_action_t *a = &out->items[out->count++];
    memset(a, 0, sizeof *a);
    a->kind = kind;
    return a;
}

/* Drops the last action when a copy failed (ok == 0). */
static void settle(bk_grp_out_t *out, int ok)
{
    if (ok)
        return;
    free_action(&out->items[--out->count]);
    out->lost = 1;
}

static int dup_into(char **dst, const char *s)
{
    if (!s)
        return 1;
    *dst = strdup(s);
    return *dst != NULL;
}

static int dup_bytes(uint8_t **dst, size_t *dst_len, const uint8_t *p, size_t len)
{
    if (!p || !len)
        return 1;
    if (!(*dst = malloc(len)))
        return 0;
    memcpy(*dst, p, len);
    *dst_len = len;
    return 1;
}

void grp_act_join_error(bk_grp_out_t *out, uint64_t token, const char *member_id, int err)
{
    bk_grp_action_t *a = push(out, BK_GRP_ACT_JOIN);
    if (!a)
        return;
    a->token = token;
    a->error = err;
    a->generation = -1;
    settle(out, dup_into(&a->member_id, member_id ? member_id : ""));
}

static int copy_members(const bk_grp_t *g, bk_grp_action_t *a)
{
    a->members = calloc(g->member_count ? g->member_count : 1, sizeof *a->members);
    if (!a->members)
        return 0;
    a->member_count = g->member_count;
    for (size_t i = 0; i < g->member_count; i++) {
        const bk_grp_member_t *m = g->members[i];
        const bk_grp_protocol_t *p = grp_member_protocol(m, g->protocol);
        bk_grp_join_member_t *j = &a->members[i];
        if (!dup_into(&j->member_id, m->member_id) ||
            !dup_into(&j->group_instance_id, m->group_instance_id) ||
            (p && !dup_bytes(&j->metadata, &j->metadata_len, p->metadata, p->metadata_len)))
            return 0;
    }
    return 1;
}

void grp_act_join(const bk_grp_t *g, const bk_grp_member_t *m, bk_grp_out_t *out)
{
    bk_grp_action_t *a = push(out, BK_GRP_ACT_JOIN);
    if (!a)
        return;
    a->token = m->join_token;
    a->generation = g->generation;
    int leader = g->leader_id && strcmp(g->leader_id, m->member_id) == 0;
    settle(out, dup_into(&a->member_id, m->member_id) &&
                    dup_into(&a->protocol_type, g->protocol_type) &&
                    dup_into(&a->protocol, g->protocol) && dup_into(&a->leader_id, g->leader_id) &&
                    (!leader || copy_members(g, a)));
}

void grp_act_sync(bk_grp_out_t *out, uint64_t token, const char *member_id, int err,
                  const uint8_t *assignment, size_t len)
{
    bk_grp_action_t *a = push(out, BK_GRP_ACT_SYNC);
    if (!a)
        return;
    a->token = token;
    a->error = err;
    settle(out, dup_into(&a->member_id, member_id) &&
                    dup_bytes(&a->assignment, &a->assignment_len, assignment, len));
}

void grp_act_persist(bk_grp_out_t *out, int32_t generation)
{
    bk_grp_action_t *a = push(out, BK_GRP_ACT_PERSIST);
    if (a)
        a->generation = generation;
}

void grp_act_removed(bk_grp_out_t *out, const char *member_id, bk_grp_gone_t why)
{
    bk_grp_action_t *a = push(out, BK_GRP_ACT_REMOVED);
    if (!a)
        return;
    a->reason = why;
    settle(out, dup_into(&a->member_id, member_id));
}

void grp_act_stable(bk_grp_out_t *out, int32_t generation)
{
    bk_grp_action_t *a = push(out, BK_GRP_ACT_STABLE);
    if (a)
        a->generation = generation;
}
