/* The bridge between a live group and its record in __consumer_offsets: bk_grp_snapshot
 * gives what to persist when the coordinator asks (PERSIST), bk_grp_load rebuilds a group
 * from the replayed record after a broker becomes coordinator, as Kafka loads groups
 * (members Stable at their generation, sessions restarting now). Pure. */
#include "groups/coordinator_internal.h"

#include "brook/common.h"
#include "brook/groups_store.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

static int dup_str(char **dst, const char *s)
{
    *dst = s ? strdup(s) : NULL;
    return !s || *dst ? 0 : UV_ENOMEM;
}

static int dup_mem(uint8_t **dst, size_t *dst_len, const uint8_t *p, size_t len)
{
    *dst = NULL;
    *dst_len = 0;
    if (!p || !len)
        return 0;
    if (!(*dst = malloc(len)))
        return UV_ENOMEM;
    memcpy(*dst, p, len);
    *dst_len = len;
    return 0;
}

static int snap_member(const bk_grp_t *g, const bk_grp_member_t *m, bk_grp_meta_member_t *x)
{
    const bk_grp_protocol_t *p = grp_member_protocol(m, g->protocol);
    x->rebalance_timeout_ms = m->rebalance_timeout_ms;
    x->session_timeout_ms = m->session_timeout_ms;
    if (dup_str(&x->member_id, m->member_id) ||
        dup_str(&x->group_instance_id, m->group_instance_id) ||
        dup_str(&x->client_id, m->client_id) || dup_str(&x->client_host, m->client_host) ||
        (p && dup_mem(&x->subscription, &x->subscription_len, p->metadata, p->metadata_len)) ||
        dup_mem(&x->assignment, &x->assignment_len, m->assignment, m->assignment_len))
        return UV_ENOMEM;
    return 0;
}

int bk_grp_snapshot(const bk_grp_t *g, bk_grp_meta_t *out)
{
    memset(out, 0, sizeof *out);
    out->generation = g->generation;
    out->state_ms = g->state_since_ms;
    int err = dup_str(&out->protocol_type, g->protocol_type ? g->protocol_type : "");
    if (!err && g->member_count) {
        err = dup_str(&out->protocol, g->protocol);
        if (!err)
            err = dup_str(&out->leader, g->leader_id);
        if (!err && !(out->members = calloc(g->member_count, sizeof *out->members)))
            err = UV_ENOMEM;
    }
    for (size_t i = 0; !err && i < g->member_count; i++) {
        out->member_count++;
        err = snap_member(g, g->members[i], &out->members[i]);
    }
    if (err)
        bk_grp_meta_free(out);
    return err;
}

static int load_member(bk_grp_t *g, int64_t now, const bk_grp_meta_t *m,
                       const bk_grp_meta_member_t *x)
{
    bk_grp_member_t *mem = grp_member_new(x->member_id, x->client_id, x->client_host,
                                          x->session_timeout_ms, x->rebalance_timeout_ms);
    bk_grp_protocol_in_t p = {m->protocol, x->subscription, x->subscription_len};
    if (!mem || grp_member_set_protocols(mem, &p, 1) ||
        grp_member_set_assignment(mem, x->assignment, x->assignment_len) ||
        dup_str(&mem->group_instance_id, x->group_instance_id) || grp_append_member(g, mem)) {
        grp_member_free(mem);
        return UV_ENOMEM;
    }
    mem->session_deadline_ms = now + mem->session_timeout_ms;
    return 0;
}

static int all_server(const bk_grp_meta_t *m)
{
    for (size_t i = 0; i < m->member_count; i++)
        if (strcmp(m->members[i].client_host, BK_GRP_SERVER_HOST) != 0)
            return 0;
    return m->member_count > 0;
}

int bk_grp_load(bk_grp_t *g, int64_t now_ms, const bk_grp_meta_t *m)
{
    if (g->member_count || g->generation || g->state != BK_GRP_EMPTY)
        return BK_EINVAL;
    int err = 0;
    for (size_t i = 0; !err && i < m->member_count; i++)
        err = load_member(g, now_ms, m, &m->members[i]);
    if (!err && m->member_count)
        err = dup_str(&g->protocol, m->protocol);
    if (!err && m->member_count) {
        free(g->leader_id);
        err = dup_str(&g->leader_id, m->leader);
    }
    if (!err)
        err = dup_str(&g->protocol_type,
                      m->protocol_type && m->protocol_type[0] ? m->protocol_type : NULL);
    if (!err && m->member_count)
        err = grp_count_topics(g);
    if (err)
        return err; /* the caller frees g */
    g->kind = all_server(m) ? BK_GRP_KIND_SERVER : BK_GRP_KIND_CLIENT;
    g->generation = m->generation;
    grp_set_state(g, m->member_count ? BK_GRP_STABLE : BK_GRP_EMPTY,
                  m->state_ms >= 0 ? m->state_ms : now_ms);
    return 0;
}
