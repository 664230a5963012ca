/* The end of a join phase (Kafka's onCompleteJoin): members that did not rejoin are removed,
 * the generation moves on, the protocol is chosen by vote, a leader named, and either the
 * pending joins are answered (client kind) or the broker runs the assignor itself (server
 * kind). Also records the partition counts the generation saw, so a later change of them can
 * trigger a rebalance. Pure. */
#include "groups/coordinator_internal.h"

#include "brook/common.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

static int supported_by_all(const bk_grp_t *g, const char *name)
{
    for (size_t i = 0; i < g->member_count; i++)
        if (!grp_member_protocol(g->members[i], name))
            return 0;
    return 1;
}

/* Each member votes for its most preferred protocol that every member supports; the most
 * votes win, a tie going to the name first in byte order (Kafka leaves ties to a hash map's
 * order). NULL when no protocol is common (the join checks prevent that). */
static const char *select_protocol(const bk_grp_t *g)
{
    const char *best = NULL;
    size_t best_votes = 0;
    const bk_grp_member_t *first = g->members[0];
    for (size_t c = 0; c < first->protocol_count; c++) {
        const char *cand = first->protocols[c].name;
        if (!supported_by_all(g, cand))
            continue;
        size_t votes = 0;
        for (size_t i = 0; i < g->member_count; i++) {
            const bk_grp_member_t *m = g->members[i];
            for (size_t k = 0; k < m->protocol_count; k++) {
                if (!supported_by_all(g, m->protocols[k].name))
                    continue;
                votes += strcmp(m->protocols[k].name, cand) == 0;
                break;
            }
        }
        if (!best || votes > best_votes || (votes == best_votes && strcmp(cand, best) < 0)) {
            best = cand;
            best_votes = votes;
        }
    }
    return best;
}

static int replace_str(char **dst, const char *s)
{
    char *copy = s ? strdup(s) : NULL;
    if (s && !copy)
        return UV_ENOMEM;
    free(*dst);
    *dst = copy;
    return 0;
}

/* The union of subscribed topics with their partition counts now. */
int grp_count_topics(bk_grp_t *g)
{
    size_t n = 0;
    for (size_t i = 0; i < g->member_count; i++)
        n += g->members[i]->topic_count;
    char **topics = calloc(n ? n : 1, sizeof *topics);
    int32_t *parts = calloc(n ? n : 1, sizeof *parts);
    size_t len = 0;
    int err = topics && parts ? 0 : UV_ENOMEM;
    for (size_t i = 0; !err && i < g->member_count; i++) {
        const bk_grp_member_t *m = g->members[i];
        for (size_t k = 0; !err && k < m->topic_count; k++) {
            size_t at = 0;
            while (at < len && strcmp(topics[at], m->topics[k]) != 0)
                at++;
            if (at < len)
                continue;
            if (!(topics[len] = strdup(m->topics[k])))
                err = UV_ENOMEM;
            else
                parts[len++] = g->cfg.partitions(g->cfg.ctx, m->topics[k]);
        }
    }
    for (size_t i = 0; i < g->counted_count; i++)
        free(g->counted_topics[i]);
    free(g->counted_topics);
    free(g->counted_parts);
    g->counted_topics = topics;
    g->counted_parts = parts;
    g->counted_count = len;
    return err;
}

/* Server kind: the coordinator is the leader; each member gets its Assignment bytes. */
static int assign_server_members(bk_grp_t *g)
{
    size_t n = g->member_count;
    bk_grp_assign_member_t *in = calloc(n, sizeof *in);
    bk_grp_assignment_t *res = calloc(n, sizeof *res);
    int err = in && res ? 0 : UV_ENOMEM;
    for (size_t i = 0; !err && i < n; i++)
        in[i] = (bk_grp_assign_member_t){.member_id = g->members[i]->member_id,
                                         .topics = (const char *const *)g->members[i]->topics,
                                         .topic_count = g->members[i]->topic_count};
    if (!err)
        err = bk_grp_assign(g->protocol, in, n, g->cfg.partitions, g->cfg.ctx, res);
    for (size_t i = 0; !err && i < n; i++) {
        bk_grp_buf_t b = {0};
        err = bk_grp_assignment_encode(&b, &res[i]);
        if (!err)
            err = grp_member_set_assignment(g->members[i], b.data, b.len);
        bk_grp_buf_free(&b);
    }
    for (size_t i = 0; res && i < n; i++)
        bk_grp_assignment_free(&res[i]);
    free(res);
    free(in);
    return err;
}

static void remove_not_rejoined(bk_grp_t *g, bk_grp_out_t *out)
{
    if (g->kind == BK_GRP_KIND_SERVER)
        return;
    for (size_t i = g->member_count; i-- > 0;)
        if (!g->members[i]->awaiting_join)
            grp_remove_member(g, i, BK_GRP_GONE_NOT_REJOINED, out);
}

static void become_empty(bk_grp_t *g, int64_t now, bk_grp_out_t *out)
{
    free(g->protocol);
    g->protocol = NULL;
    for (size_t i = 0; i < g->counted_count; i++)
        free(g->counted_topics[i]);
    g->counted_count = 0; /* the arrays stay allocated until the next count or bk_grp_free */
    grp_set_state(g, BK_GRP_EMPTY, now);
    grp_act_persist(out, g->generation);
}

void grp_complete_join(bk_grp_t *g, int64_t now, bk_grp_out_t *out)
{
    remove_not_rejoined(g, out);
    g->delay_until_ms = 0;
    g->generation++;
    if (g->member_count == 0) {
        become_empty(g, now, out);
        return;
    }
    if (replace_str(&g->protocol, select_protocol(g)) ||
        (bk_grp_member_find(g, g->leader_id) < 0 &&
         replace_str(&g->leader_id, g->members[0]->member_id)) ||
        grp_count_topics(g))
        out->lost = 1;
    grp_set_state(g, BK_GRP_COMPLETING_REBALANCE, now);
    g->sync_deadline_ms = now + grp_max_rebalance_ms(g);
    for (size_t i = 0; i < g->member_count; i++) {
        bk_grp_member_t *m = g->members[i];
        if (g->kind == BK_GRP_KIND_CLIENT) /* a server member's idle time runs on */
            m->session_deadline_ms = now + m->session_timeout_ms;
        m->is_new = 0;
        grp_member_set_assignment(m, NULL, 0);
        if (m->awaiting_join) {
            grp_act_join(g, m, out);
            m->awaiting_join = 0;
            m->pending_sync = 1;
        }
    }
    if (g->kind == BK_GRP_KIND_SERVER) {
        if (assign_server_members(g))
            out->lost = 1;
        g->persist_wait = 1;
        grp_act_persist(out, g->generation);
    }
}
