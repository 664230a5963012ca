/* The Kafka group membership APIs: FindCoordinator (the coordinator of every group is the
 * current leader), JoinGroup, SyncGroup, Heartbeat and LeaveGroup, on the broker's one
 * coordinator shared with the HTTP consumer API (brook/groups_service.h). Client-side
 * assignment: the leader member's plan is relayed as it came. A JoinGroup or SyncGroup the
 * coordinator holds waits here, keyed by a token, until its answer comes through the
 * service's answer hook; it must never be answered twice, nor after its request is gone. */
#include <stdlib.h>
#include <string.h>

#include "brook/common.h"
#include "kafka/kafka_impl.h"
#include "kafka/group_impl.h"

typedef struct bk_kgwait {
    struct bk_kgwait *next;
    bk_kafka_t *k;
    bk_kreq_t *r;
    uint64_t token;
    int linked;
} wait_t;

static uint64_t next_token = 1;

char *bk_kgroup_cstr(bk_kreq_t *r, bk_kslice_t s)
{
    size_t n = s.len > 0 ? (size_t)s.len : 0;
    char *p = bk_karena_alloc(&r->arena, n + 1);
    if (p && n)
        memcpy(p, s.ptr, n);
    return p;
}

int32_t bk_kafka_leader_node(bk_kafka_t *k, bk_knode_t *node)
{
    bk_election_t *e = *k->deps.election;
    bk_knode_t nodes[BK_KAFKA_MAX_NODES];
    if (!e)
        return -1;
    bk_election_view_t ev;
    bk_election_view(e, &ev);
    int32_t id = -1;
    if (ev.role == BK_ROLE_STANDALONE || ev.role == BK_ROLE_LEADER)
        id = k->cfg.node_id;
    else if (ev.leader_id[0])
        id = bk_kregistry_node_of(k, ev.leader_id);
    size_t n = bk_kregistry_nodes(k, nodes, BK_KAFKA_MAX_NODES);
    for (size_t i = 0; i < n; i++)
        if (nodes[i].node_id == id) {
            *node = nodes[i];
            return id;
        }
    return -1; /* leader known but its address not: not available yet */
}

/* ---- held requests ---- */

static void unlink_wait(wait_t *wt)
{
    if (!wt->linked)
        return;
    for (wait_t **pp = &wt->k->group_waits; *pp; pp = &(*pp)->next)
        if (*pp == wt) {
            *pp = wt->next;
            break;
        }
    wt->linked = 0;
}

static void free_wait(void *state)
{
    wait_t *wt = state;
    unlink_wait(wt);
    free(wt);
}

static void encode_join(bk_kreq_t *r, const bk_grp_action_t *a, int error);
static void encode_sync(bk_kreq_t *r, const bk_grp_action_t *a, int error);

static void answer_wait(wait_t *wt, const bk_grp_action_t *a, int error)
{
    bk_kreq_t *r = wt->r;
    unlink_wait(wt);
    if (r->req.h.key == BK_KAPI_JOIN_GROUP)
        encode_join(r, a, error);
    else
        encode_sync(r, a, error);
    bk_kreq_finish(r);
}

static void on_answer(void *arg, const bk_grp_action_t *a)
{
    bk_kafka_t *k = arg;
    if (!a) {
        while (k->group_waits)
            answer_wait(k->group_waits, NULL, BK_GRP_ERR_NOT_COORDINATOR);
        return;
    }
    for (wait_t *wt = k->group_waits; wt; wt = wt->next)
        if (wt->token == a->token) {
            answer_wait(wt, a, a->error);
            return;
        }
}

void bk_kgroup_stop(bk_kafka_t *k)
{
    const bk_groups_service_t *s = k->deps.groups;
    while (k->group_waits)
        answer_wait(k->group_waits, NULL, BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE);
    if (s && k->group_hooked)
        s->set_answer(s->ctx, NULL, NULL);
    k->group_hooked = 0;
}

int bk_kgroup_gate(bk_kafka_t *k)
{
    const bk_groups_service_t *s = k->deps.groups;
    if (!s || k->stopping)
        return BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE;
    if (!k->group_hooked) {
        s->set_answer(s->ctx, on_answer, k);
        k->group_hooked = 1;
    }
    return s->ready(s->ctx);
}

static wait_t *hold(bk_kafka_t *k, bk_kreq_t *r)
{
    wait_t *wt = calloc(1, sizeof *wt);
    if (!wt)
        return NULL;
    *wt = (wait_t){k->group_waits, k, r, next_token++, 1};
    k->group_waits = wt;
    r->state = wt;
    r->free_state = free_wait;
    return wt;
}

/* ---- FindCoordinator ---- */

int bk_kgroup_denied(const bk_kreq_t *r)
{
    return bk_kafka_allowed(r, 0, BK_KAUTHZ_OK) ? 0 : BK_KERR_GROUP_AUTHORIZATION_FAILED;
}

/* The error a FindCoordinator gets, with its message: a key the principal may not describe
 * (a transactional id never: no ACL grants one), or no coordinator known. */
static int16_t coordinator_error(bk_kafka_t *k, const bk_kreq_t *r, bk_knode_t *node, int32_t *id,
                                 const char **msg)
{
    int group = r->req.u.find_coordinator.key_type == 0;
    *id = -1;
    if (bk_kgroup_denied(r)) {
        *msg = group ? "not authorized to describe this group"
                     : "not authorized to describe this transactional id";
        return group ? BK_KERR_GROUP_AUTHORIZATION_FAILED
                     : BK_KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    }
    *id = group ? bk_kafka_leader_node(k, node) : -1;
    if (*id >= 0 && bk_kafka_node_addr(r->conn, node) != 0) /* none on this client's listener */
        *id = -1;
    *msg = "no coordinator known: no leader with a Kafka address";
    return *id >= 0 && k->deps.groups ? BK_KERR_NONE : BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE;
}

void bk_khandle_find_coordinator(bk_kafka_t *k, bk_kreq_t *r)
{
    int16_t v = r->req.h.version;
    bk_knode_t node = {0};
    int32_t id;
    const char *msg;
    int16_t err = coordinator_error(k, r, &node, &id, &msg);
    bk_kw_t *w = &r->out;
    bk_kresp_begin(w, &r->req.h, 0);
    if (v >= 1)
        bk_kw_i32(w, 0);
    bk_kw_i16(w, err);
    if (v >= 1)
        bk_kw_cstr(w, 0, err ? msg : NULL);
    bk_kw_i32(w, err ? -1 : id);
    bk_kw_cstr(w, 0, err ? "" : node.host);
    bk_kw_i32(w, err ? -1 : node.port);
    bk_kresp_end(w);
    bk_kreq_finish(r);
}

/* ---- JoinGroup ---- */

static void encode_join(bk_kreq_t *r, const bk_grp_action_t *a, int error)
{
    int16_t v = r->req.h.version;
    bk_kw_t *w = &r->out;
    const bk_kreq_join_group_t *j = &r->req.u.join_group;
    bk_kresp_begin(w, &r->req.h, 0);
    if (v >= 2)
        bk_kw_i32(w, 0);
    bk_kw_i16(w, (int16_t)error);
    bk_kw_i32(w, a && !error ? a->generation : -1);
    bk_kw_cstr(w, 0, a && a->protocol ? a->protocol : "");
    bk_kw_cstr(w, 0, a && a->leader_id ? a->leader_id : "");
    if (a && a->member_id)
        bk_kw_cstr(w, 0, a->member_id);
    else
        bk_kw_str(w, 0, (const char *)j->member_id.ptr,
                  j->member_id.len < 0 ? 0 : j->member_id.len);
    size_t n = a && !error ? a->member_count : 0;
    bk_kw_array(w, 0, (int32_t)n);
    for (size_t i = 0; i < n; i++) {
        bk_kw_cstr(w, 0, a->members[i].member_id);
        if (v >= 5)
            bk_kw_cstr(w, 0, NULL);
        bk_kw_bytes(w, 0, a->members[i].metadata, (int32_t)a->members[i].metadata_len);
    }
    bk_kresp_end(w);
}

static void join_now(bk_kreq_t *r, int error)
{
    encode_join(r, NULL, error);
    bk_kreq_finish(r);
}

void bk_khandle_join_group(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_kreq_join_group_t *j = &r->req.u.join_group;
    const bk_groups_service_t *s = k->deps.groups;
    int code = bk_kgroup_denied(r);
    if (!code)
        code = bk_kgroup_gate(k);
    if (code) {
        join_now(r, code);
        return;
    }
    if (j->group_id.len <= 0) {
        join_now(r, BK_KERR_INVALID_GROUP_ID);
        return;
    }
    bk_grp_t *g = s->group(s->ctx, bk_kgroup_cstr(r, j->group_id), 1);
    bk_grp_protocol_in_t *protos =
        bk_karena_alloc(&r->arena, (size_t)(j->nprotocols + 1) * sizeof *protos);
    if (!g || !protos) {
        join_now(r, BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    for (int32_t i = 0; i < j->nprotocols; i++)
        protos[i] = (bk_grp_protocol_in_t){
            bk_kgroup_cstr(r, j->protocols[i].name), j->protocols[i].metadata.ptr,
            j->protocols[i].metadata.len > 0 ? (size_t)j->protocols[i].metadata.len : 0};
    wait_t *wt = hold(k, r);
    if (!wt) {
        join_now(r, BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    bk_grp_join_req_t req = {
        .token = wt->token,
        .member_id = bk_kgroup_cstr(r, j->member_id),
        .client_id = bk_kgroup_cstr(r, r->req.h.client_id),
        .client_host = r->conn ? r->conn->peer : "",
        .session_timeout_ms = j->session_timeout_ms,
        .rebalance_timeout_ms = j->rebalance_timeout_ms,
        .protocol_type = bk_kgroup_cstr(r, j->protocol_type),
        .protocols = protos,
        .protocol_count = (size_t)j->nprotocols,
        .require_known_member_id = r->req.h.version >= 4,
    };
    bk_grp_out_t out = {0};
    int rc = bk_grp_join(g, bk_wall_ms(), &req, &out);
    s->act(s->ctx, g, &out); /* the answer, if ready, goes through on_answer */
    bk_grp_out_free(&out);
    if (rc < 0 && wt->linked)
        answer_wait(wt, NULL, BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE);
}

/* ---- SyncGroup ---- */

static void encode_sync(bk_kreq_t *r, const bk_grp_action_t *a, int error)
{
    bk_kw_t *w = &r->out;
    bk_kresp_begin(w, &r->req.h, 0);
    if (r->req.h.version >= 1)
        bk_kw_i32(w, 0);
    bk_kw_i16(w, (int16_t)error);
    if (a && !error && a->assignment)
        bk_kw_bytes(w, 0, a->assignment, (int32_t)a->assignment_len);
    else
        bk_kw_bytes(w, 0, (const uint8_t *)"", 0);
    bk_kresp_end(w);
}

static void sync_now(bk_kreq_t *r, int error)
{
    encode_sync(r, NULL, error);
    bk_kreq_finish(r);
}

void bk_khandle_sync_group(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_kreq_sync_group_t *q = &r->req.u.sync_group;
    const bk_groups_service_t *s = k->deps.groups;
    int code = bk_kgroup_denied(r);
    if (!code)
        code = bk_kgroup_gate(k);
    if (code) {
        sync_now(r, code);
        return;
    }
    bk_grp_t *g = q->group_id.len > 0 ? s->group(s->ctx, bk_kgroup_cstr(r, q->group_id), 0) : NULL;
    if (!g) {
        sync_now(r, q->group_id.len > 0 ? BK_GRP_ERR_UNKNOWN_MEMBER_ID : BK_KERR_INVALID_GROUP_ID);
        return;
    }
    bk_grp_assign_in_t *as = bk_karena_alloc(&r->arena, (size_t)(q->nassign + 1) * sizeof *as);
    wait_t *wt = as ? hold(k, r) : NULL;
    if (!wt) {
        sync_now(r, BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    for (int32_t i = 0; i < q->nassign; i++)
        as[i] = (bk_grp_assign_in_t){
            bk_kgroup_cstr(r, q->assign[i].member_id), q->assign[i].assignment.ptr,
            q->assign[i].assignment.len > 0 ? (size_t)q->assign[i].assignment.len : 0};
    bk_grp_sync_req_t req = {
        wt->token,         bk_kgroup_cstr(r, q->member_id), q->generation, NULL, NULL, as,
        (size_t)q->nassign};
    bk_grp_out_t out = {0};
    int rc = bk_grp_sync(g, bk_wall_ms(), &req, &out);
    s->act(s->ctx, g, &out);
    bk_grp_out_free(&out);
    if (rc < 0 && wt->linked)
        answer_wait(wt, NULL, BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE);
}

/* ---- Heartbeat, LeaveGroup ---- */

void bk_khandle_heartbeat(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_kreq_heartbeat_t *q = &r->req.u.heartbeat;
    const bk_groups_service_t *s = k->deps.groups;
    int code = bk_kgroup_denied(r);
    if (!code)
        code = bk_kgroup_gate(k);
    if (!code) {
        bk_grp_t *g = s->group(s->ctx, bk_kgroup_cstr(r, q->group_id), 0);
        code = g ? bk_grp_heartbeat(g, bk_wall_ms(), bk_kgroup_cstr(r, q->member_id), q->generation)
                 : BK_GRP_ERR_UNKNOWN_MEMBER_ID;
    }
    bk_kw_t *w = &r->out;
    bk_kresp_begin(w, &r->req.h, 0);
    if (r->req.h.version >= 1)
        bk_kw_i32(w, 0);
    bk_kw_i16(w, (int16_t)(code < 0 ? BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE : code));
    bk_kresp_end(w);
    bk_kreq_finish(r);
}

static int leave_one(const bk_groups_service_t *s, bk_grp_t *g, const char *member)
{
    if (!g)
        return BK_GRP_ERR_UNKNOWN_MEMBER_ID;
    bk_grp_out_t out = {0};
    int code = bk_grp_leave(g, bk_wall_ms(), member, &out);
    s->act(s->ctx, g, &out);
    bk_grp_out_free(&out);
    return code < 0 ? BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE : code;
}

void bk_khandle_leave_group(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_kreq_leave_group_t *q = &r->req.u.leave_group;
    const bk_groups_service_t *s = k->deps.groups;
    int16_t v = r->req.h.version;
    int code = bk_kgroup_denied(r);
    if (!code)
        code = bk_kgroup_gate(k);
    int16_t *errs = bk_karena_alloc(&r->arena, (size_t)(q->nmembers + 1) * sizeof *errs);
    if (!errs)
        code = BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE;
    bk_grp_t *g = code ? NULL : s->group(s->ctx, bk_kgroup_cstr(r, q->group_id), 0);
    for (int32_t i = 0; !code && i < q->nmembers; i++) {
        errs[i] = (int16_t)leave_one(s, g, bk_kgroup_cstr(r, q->members[i]));
        if (v < 3)
            code = errs[i];
    }
    bk_kw_t *w = &r->out;
    bk_kresp_begin(w, &r->req.h, 0);
    if (v >= 1)
        bk_kw_i32(w, 0);
    bk_kw_i16(w, (int16_t)code);
    if (v >= 3) {
        bk_kw_array(w, 0, code ? 0 : q->nmembers);
        for (int32_t i = 0; !code && i < q->nmembers; i++) {
            bk_kw_str(w, 0, (const char *)q->members[i].ptr,
                      q->members[i].len < 0 ? 0 : q->members[i].len);
            bk_kw_cstr(w, 0, NULL);
            bk_kw_i16(w, errs[i]);
        }
    }
    bk_kresp_end(w);
    bk_kreq_finish(r);
}
