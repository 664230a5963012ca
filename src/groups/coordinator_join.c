/* Joining: Kafka's JoinGroup for client-side members (new ids, the two-step join of v4+,
 * rejoin by state: an unchanged follower in Stable just gets the current generation back),
 * and the server-side joins and subscription changes of REST Proxy instances, which rebalance
 * at once. Pure: answers are recorded as JOIN actions. */
#include "groups/coordinator_internal.h"

#include "brook/common.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* Kafka's supportsProtocols: the same protocol type, and one protocol every other member
 * supports too (self: the member rejoining, not counted). */
static int supports(const bk_grp_t *g, const bk_grp_join_req_t *req, const char *self)
{
    if (g->member_count == 0)
        return 1;
    if (g->kind != BK_GRP_KIND_CLIENT || !g->protocol_type ||
        strcmp(g->protocol_type, req->protocol_type) != 0)
        return 0;
    for (size_t p = 0; p < req->protocol_count; p++) {
        size_t ok = 0, others = 0;
        for (size_t i = 0; i < g->member_count; i++) {
            const bk_grp_member_t *m = g->members[i];
            if (self && strcmp(m->member_id, self) == 0)
                continue;
            others++;
            ok += grp_member_protocol(m, req->protocols[p].name) != NULL;
        }
        if (ok == others)
            return 1;
    }
    return 0;
}

static int full(const bk_grp_t *g)
{
    return g->cfg.max_size && g->member_count + g->pending_count >= g->cfg.max_size;
}

static void set_kind(bk_grp_t *g, bk_grp_kind_t kind, const char *protocol_type)
{
    if (g->member_count > 0)
        return;
    g->kind = kind;
    char *copy = strdup(protocol_type);
    if (copy) {
        free(g->protocol_type);
        g->protocol_type = copy;
    }
}

static int add_and_rebalance(bk_grp_t *g, int64_t now, const char *id, const bk_grp_join_req_t *req,
                             bk_grp_out_t *out)
{
    bk_grp_member_t *m = grp_member_new(id, req->client_id, req->client_host,
                                        req->session_timeout_ms, req->rebalance_timeout_ms);
    if (!m || grp_member_set_protocols(m, req->protocols, req->protocol_count)) {
        grp_member_free(m);
        return UV_ENOMEM;
    }
    set_kind(g, BK_GRP_KIND_CLIENT, req->protocol_type);
    m->awaiting_join = 1;
    m->join_token = req->token;
    m->is_new = 1;
    m->session_deadline_ms = now + m->session_timeout_ms;
    if (grp_append_member(g, m)) {
        grp_member_free(m);
        return UV_ENOMEM;
    }
    if (g->state != BK_GRP_PREPARING_REBALANCE) {
        grp_prepare_rebalance(g, now, out);
    } else {
        if (g->delay_until_ms) { /* a newcomer during the initial delay waits it out again */
            int64_t d = now + g->cfg.initial_rebalance_delay_ms;
            g->delay_until_ms = d < g->delay_max_ms ? d : g->delay_max_ms;
        }
        grp_maybe_complete_join(g, now, out);
    }
    return 0;
}

static int join_new(bk_grp_t *g, int64_t now, const bk_grp_join_req_t *req, bk_grp_out_t *out)
{
    if (full(g)) {
        grp_act_join_error(out, req->token, "", BK_GRP_ERR_GROUP_MAX_SIZE_REACHED);
        return 0;
    }
    char *id = grp_new_member_id(g, req->client_id);
    if (!id)
        return UV_ENOMEM;
    int err = 0;
    if (req->require_known_member_id) {
        if (bk_grow(&g->pending, &g->pending_cap, g->pending_count, 1, sizeof *g->pending, 4)) {
            free(id);
            return UV_ENOMEM;
        }
        g->pending[g->pending_count++] =
            (bk_grp_pending_t){.member_id = id, .deadline_ms = now + req->session_timeout_ms};
        grp_act_join_error(out, req->token, id, BK_GRP_ERR_MEMBER_ID_REQUIRED);
        return 0;
    }
    err = add_and_rebalance(g, now, id, req, out);
    free(id);
    return err;
}

static int update_and_rebalance(bk_grp_t *g, int64_t now, bk_grp_member_t *m,
                                const bk_grp_join_req_t *req, bk_grp_out_t *out)
{
    if (!grp_member_same_protocols(m, req->protocols, req->protocol_count) &&
        grp_member_set_protocols(m, req->protocols, req->protocol_count))
        return UV_ENOMEM;
    m->session_timeout_ms = req->session_timeout_ms;
    m->rebalance_timeout_ms = req->rebalance_timeout_ms;
    if (m->awaiting_join) /* a retried join replaces the one held: answer that one */
        grp_act_join_error(out, m->join_token, m->member_id, BK_GRP_ERR_REBALANCE_IN_PROGRESS);
    m->awaiting_join = 1;
    m->join_token = req->token;
    if (g->state != BK_GRP_PREPARING_REBALANCE)
        grp_prepare_rebalance(g, now, out);
    else
        grp_maybe_complete_join(g, now, out);
    return 0;
}

static int join_known(bk_grp_t *g, int64_t now, const bk_grp_join_req_t *req, bk_grp_out_t *out)
{
    int p = grp_pending_find(g, req->member_id);
    if (p >= 0) {
        grp_pending_remove(g, (size_t)p);
        return add_and_rebalance(g, now, req->member_id, req, out);
    }
    int i = bk_grp_member_find(g, req->member_id);
    if (i < 0 || g->state == BK_GRP_EMPTY) {
        grp_act_join_error(out, req->token, req->member_id, BK_GRP_ERR_UNKNOWN_MEMBER_ID);
        return 0;
    }
    bk_grp_member_t *m = g->members[i];
    int same = grp_member_same_protocols(m, req->protocols, req->protocol_count);
    int leader = strcmp(g->leader_id ? g->leader_id : "", m->member_id) == 0;
    if ((g->state == BK_GRP_COMPLETING_REBALANCE && same) ||
        (g->state == BK_GRP_STABLE && same && !leader)) {
        m->join_token = req->token; /* lost its answer: the current generation again */
        m->session_deadline_ms = now + m->session_timeout_ms;
        grp_act_join(g, m, out);
        return 0;
    }
    return update_and_rebalance(g, now, m, req, out);
}

int bk_grp_join(bk_grp_t *g, int64_t now_ms, const bk_grp_join_req_t *req, bk_grp_out_t *out)
{
    const char *id = req->member_id ? req->member_id : "";
    int err = BK_GRP_ERR_NONE;
    if (req->session_timeout_ms < g->cfg.min_session_timeout_ms ||
        req->session_timeout_ms > g->cfg.max_session_timeout_ms)
        err = BK_GRP_ERR_INVALID_SESSION_TIMEOUT;
    else if (g->state == BK_GRP_DEAD)
        err = BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE;
    else if (!req->protocol_type || !req->protocol_type[0] || req->protocol_count == 0 ||
             !supports(g, req, id[0] ? id : NULL))
        err = BK_GRP_ERR_INCONSISTENT_GROUP_PROTOCOL;
    if (err) {
        grp_act_join_error(out, req->token, id, err);
        return 0;
    }
    return id[0] ? join_known(g, now_ms, req, out) : join_new(g, now_ms, req, out);
}

/* Sorted, duplicate-free copy of topics (pointers borrowed); BK_EINVAL for an empty name. */
static int sorted_topics(const char *const *topics, size_t n, const char ***out, size_t *len)
{
    const char **t = malloc((n ? n : 1) * sizeof *t);
    if (!t)
        return UV_ENOMEM;
    *len = 0;
    for (size_t i = 0; i < n; i++) {
        if (!topics[i] || !topics[i][0]) {
            free(t);
            return BK_EINVAL;
        }
        size_t at = 0;
        while (at < *len && bk_grp_java_strcmp(t[at], topics[i]) < 0)
            at++;
        if (at < *len && strcmp(t[at], topics[i]) == 0)
            continue;
        memmove(t + at + 1, t + at, (*len - at) * sizeof *t);
        t[at] = topics[i];
        (*len)++;
    }
    *out = t;
    return 0;
}

/* A server member's single protocol: the server assignor with a Subscription. */
static int set_server_subscription(const bk_grp_t *g, bk_grp_member_t *m, const char *const *topics,
                                   size_t n, const uint8_t *user, size_t user_len)
{
    const char **t = NULL;
    size_t len = 0;
    bk_grp_buf_t b = {0};
    int err = sorted_topics(topics, n, &t, &len);
    if (!err)
        err = bk_grp_subscription_encode(&b, t, len, user, user_len);
    if (!err) {
        bk_grp_protocol_in_t p = {g->cfg.server_assignor, b.data, b.len};
        err = grp_member_set_protocols(m, &p, 1);
    }
    bk_grp_buf_free(&b);
    free(t);
    return err;
}

int bk_grp_server_join(bk_grp_t *g, int64_t now_ms, const char *member_id, const char *client_id,
                       int32_t session_timeout_ms, const char *const *topics, size_t topic_count,
                       const uint8_t *user_data, size_t user_data_len, const char **id_out,
                       bk_grp_out_t *out)
{
    if (g->state == BK_GRP_DEAD)
        return BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE;
    if (g->member_count > 0 && g->kind != BK_GRP_KIND_SERVER)
        return BK_GRP_ERR_INCONSISTENT_GROUP_PROTOCOL;
    if (full(g))
        return BK_GRP_ERR_GROUP_MAX_SIZE_REACHED;
    if (member_id && (bk_grp_member_find(g, member_id) >= 0 || !member_id[0]))
        return member_id[0] ? UV_EEXIST : BK_EINVAL;
    char *id = member_id ? strdup(member_id) : grp_new_member_id(g, client_id);
    bk_grp_member_t *m =
        id ? grp_member_new(id, client_id, BK_GRP_SERVER_HOST, session_timeout_ms, 0) : NULL;
    free(id);
    if (!m)
        return UV_ENOMEM;
    int err = set_server_subscription(g, m, topics, topic_count, user_data, user_data_len);
    if (!err) {
        set_kind(g, BK_GRP_KIND_SERVER, "consumer");
        err = grp_append_member(g, m);
    }
    if (err) {
        grp_member_free(m);
        return err;
    }
    m->session_deadline_ms = now_ms + session_timeout_ms;
    if (id_out)
        *id_out = m->member_id;
    grp_prepare_rebalance(g, now_ms, out);
    return BK_GRP_ERR_NONE;
}

int bk_grp_server_subscribe(bk_grp_t *g, int64_t now_ms, const char *member_id,
                            const char *const *topics, size_t topic_count, bk_grp_out_t *out)
{
    int i = bk_grp_member_find(g, member_id);
    if (i < 0 || g->kind != BK_GRP_KIND_SERVER)
        return BK_GRP_ERR_UNKNOWN_MEMBER_ID;
    bk_grp_member_t *m = g->members[i];
    bk_grp_subscription_t old;
    const bk_grp_protocol_t *p = &m->protocols[0];
    int err = bk_grp_subscription_decode(p->metadata, p->metadata_len, &old);
    if (err)
        return err;
    const char **now_topics = NULL;
    size_t len = 0;
    err = sorted_topics(topics, topic_count, &now_topics, &len);
    int same = !err && len == old.topic_count;
    for (size_t k = 0; same && k < len; k++)
        same = strcmp(now_topics[k], old.topics[k]) == 0;
    free(now_topics);
    if (!err && !same)
        err = set_server_subscription(
            g, m, topics, topic_count,
            old.has_user_data ? (old.user_data ? old.user_data : (const uint8_t *)"") : NULL,
            old.user_data_len);
    bk_grp_subscription_free(&old);
    m->session_deadline_ms = now_ms + m->session_timeout_ms;
    if (!err && !same)
        grp_prepare_rebalance(g, now_ms, out);
    return err;
}

int bk_grp_server_set_user_data(bk_grp_t *g, const char *member_id, const uint8_t *user_data,
                                size_t user_data_len)
{
    int i = bk_grp_member_find(g, member_id);
    if (i < 0 || g->kind != BK_GRP_KIND_SERVER)
        return BK_GRP_ERR_UNKNOWN_MEMBER_ID;
    bk_grp_member_t *m = g->members[i];
    bk_grp_subscription_t old;
    const bk_grp_protocol_t *p = &m->protocols[0];
    int err = bk_grp_subscription_decode(p->metadata, p->metadata_len, &old);
    if (err)
        return err;
    int same = old.has_user_data && old.user_data_len == user_data_len &&
               (user_data_len == 0 || memcmp(old.user_data, user_data, user_data_len) == 0);
    if (!same)
        err = set_server_subscription(g, m, (const char *const *)old.topics, old.topic_count,
                                      user_data ? user_data : (const uint8_t *)"", user_data_len);
    bk_grp_subscription_free(&old);
    return err ? err : same ? 0 : 1;
}
