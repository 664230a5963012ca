/* The group coordinator on a fake clock and a counting random source: first join and sync,
 * rebalances on join, leave, session expiry, rebalance timeout (a member that does not
 * rejoin is removed), sync timeout, rebalance during rebalance (held syncs answered
 * REBALANCE_IN_PROGRESS, stale persists ignored), generation fencing, the two-step join,
 * the initial delay, protocol checks, server-side members (REST Proxy instances) with the
 * coordinator running the assignor, partition-count changes, deletion. */
#include "brook/common.h"
#include "brook/groups.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

static uint64_t rnd_state;
static uint64_t fake_random(void *ctx)
{
    (void)ctx;
    return ++rnd_state * 0x0101010101010101u;
}

static int32_t parts_t = 6, parts_u = 2;
static int32_t fake_partitions(void *ctx, const char *topic)
{
    (void)ctx;
    if (strcmp(topic, "t") == 0)
        return parts_t;
    if (strcmp(topic, "u") == 0)
        return parts_u;
    return -1;
}

static bk_grp_t g;
static bk_grp_out_t out;

static void setup(int32_t initial_delay)
{
    bk_grp_config_t cfg;
    bk_grp_config_default(&cfg);
    cfg.initial_rebalance_delay_ms = initial_delay;
    cfg.random = fake_random;
    cfg.partitions = fake_partitions;
    rnd_state = 0;
    parts_t = 6;
    parts_u = 2;
    CHECK_EQ_INT(bk_grp_init(&g, "g1", &cfg, 0), 0);
    bk_grp_out_clear(&out);
}

static void teardown(void)
{
    bk_grp_free(&g);
    bk_grp_out_free(&out);
}

static const bk_grp_action_t *find(bk_grp_act_kind_t kind, uint64_t token)
{
    for (size_t i = 0; i < out.count; i++)
        if (out.items[i].kind == kind && (kind > BK_GRP_ACT_SYNC || out.items[i].token == token))
            return &out.items[i];
    return NULL;
}

static size_t count(bk_grp_act_kind_t kind)
{
    size_t n = 0;
    for (size_t i = 0; i < out.count; i++)
        n += out.items[i].kind == kind;
    return n;
}

static const bk_grp_action_t *removed(const char *id)
{
    for (size_t i = 0; i < out.count; i++)
        if (out.items[i].kind == BK_GRP_ACT_REMOVED && strcmp(out.items[i].member_id, id) == 0)
            return &out.items[i];
    return NULL;
}

/* A Kafka consumer's join: protocols "range" (and "roundrobin" when two) over topic t. */
static void join_ex(int64_t now, uint64_t token, const char *id, const char *topic, int nproto,
                    int require)
{
    bk_grp_buf_t meta = {0};
    const char *topics[] = {topic};
    CHECK_EQ_INT(bk_grp_subscription_encode(&meta, topics, 1, NULL, 0), 0);
    bk_grp_protocol_in_t protos[2] = {{"range", meta.data, meta.len},
                                      {"roundrobin", meta.data, meta.len}};
    bk_grp_join_req_t req = {.token = token,
                             .member_id = id,
                             .client_id = "cli",
                             .client_host = "/127.0.0.1",
                             .session_timeout_ms = 10000,
                             .rebalance_timeout_ms = 30000,
                             .protocol_type = "consumer",
                             .protocols = protos,
                             .protocol_count = (size_t)nproto,
                             .require_known_member_id = require};
    CHECK_EQ_INT(bk_grp_join(&g, now, &req, &out), 0);
    bk_grp_buf_free(&meta);
}

static void join(int64_t now, uint64_t token, const char *id)
{
    join_ex(now, token, id, "t", 1, 0);
}

/* The member id given in the JOIN answer to token (copied to buf). */
static const char *joined_id(uint64_t token, char *buf, size_t cap)
{
    const bk_grp_action_t *a = find(BK_GRP_ACT_JOIN, token);
    CHECK(a != NULL);
    snprintf(buf, cap, "%s", a ? a->member_id : "?");
    return buf;
}

static void sync_plan(int64_t now, uint64_t token, const char *id, int32_t gen,
                      const bk_grp_assign_in_t *plan, size_t n)
{
    bk_grp_sync_req_t req = {.token = token,
                             .member_id = id,
                             .generation = gen,
                             .protocol_type = "consumer",
                             .assignments = plan,
                             .assignment_count = n};
    CHECK_EQ_INT(bk_grp_sync(&g, now, &req, &out), 0);
}

/* One member A, Stable at generation 1 with assignment "AA". */
static void stable_one(char *a, size_t cap)
{
    join(0, 1, NULL);
    joined_id(1, a, cap);
    bk_grp_out_clear(&out);
    bk_grp_assign_in_t plan[] = {{a, (const uint8_t *)"AA", 2}};
    sync_plan(1, 2, a, 1, plan, 1);
    bk_grp_persist_done(&g, 2, 1, 1, &out);
    bk_grp_out_clear(&out);
}

/* A and B, Stable at generation 2 (A leader). */
static void stable_two(char *a, char *b, size_t cap)
{
    stable_one(a, cap);
    join(10, 3, NULL);
    join(11, 4, a);
    joined_id(3, b, cap);
    bk_grp_out_clear(&out);
    bk_grp_assign_in_t plan[] = {{a, (const uint8_t *)"A", 1}, {b, (const uint8_t *)"B", 1}};
    sync_plan(12, 5, b, 2, NULL, 0);
    sync_plan(12, 6, a, 2, plan, 2);
    bk_grp_persist_done(&g, 13, 2, 1, &out);
    CHECK_EQ_INT(g.state, BK_GRP_STABLE);
    bk_grp_out_clear(&out);
}

static void test_first_join_and_sync(void)
{
    setup(0);
    join(100, 1, NULL);
    const bk_grp_action_t *j = find(BK_GRP_ACT_JOIN, 1);
    CHECK(j != NULL);
    if (j) {
        CHECK_EQ_INT(j->error, 0);
        CHECK_EQ_INT(j->generation, 1);
        CHECK_EQ_STR(j->protocol, "range");
        CHECK_EQ_STR(j->protocol_type, "consumer");
        CHECK_EQ_STR(j->leader_id, j->member_id);
        CHECK_EQ_INT(j->member_count, 1);
        CHECK(strncmp(j->member_id, "cli-", 4) == 0 && strlen(j->member_id) == 40);
        CHECK_EQ_INT(j->member_id[4 + 14], '4'); /* uuid version */
    }
    CHECK_EQ_INT(g.state, BK_GRP_COMPLETING_REBALANCE);
    char a[64];
    joined_id(1, a, sizeof a);
    bk_grp_out_clear(&out);
    bk_grp_assign_in_t plan[] = {{a, (const uint8_t *)"xyz", 3}};
    sync_plan(101, 2, a, 1, plan, 1);
    CHECK(find(BK_GRP_ACT_SYNC, 2) == NULL); /* held until persisted */
    CHECK(find(BK_GRP_ACT_PERSIST, 0) != NULL && find(BK_GRP_ACT_PERSIST, 0)->generation == 1);
    CHECK_EQ_INT(g.state, BK_GRP_COMPLETING_REBALANCE);
    bk_grp_out_clear(&out);
    bk_grp_persist_done(&g, 102, 1, 1, &out);
    const bk_grp_action_t *s = find(BK_GRP_ACT_SYNC, 2);
    CHECK(s && s->error == 0 && s->assignment_len == 3 && memcmp(s->assignment, "xyz", 3) == 0);
    CHECK(find(BK_GRP_ACT_STABLE, 0) != NULL);
    CHECK_EQ_INT(g.state, BK_GRP_STABLE);
    CHECK_EQ_INT(bk_grp_heartbeat(&g, 103, a, 1), BK_GRP_ERR_NONE);
    /* a sync in Stable answers at once */
    bk_grp_out_clear(&out);
    sync_plan(104, 3, a, 1, NULL, 0);
    s = find(BK_GRP_ACT_SYNC, 3);
    CHECK(s && s->error == 0 && s->assignment_len == 3);
    teardown();
}

static void test_second_member_rebalances(void)
{
    setup(0);
    char a[64], b[64];
    stable_one(a, sizeof a);
    join(10, 3, NULL);
    CHECK_EQ_INT(out.count, 0); /* B waits for A to rejoin */
    CHECK_EQ_INT(g.state, BK_GRP_PREPARING_REBALANCE);
    CHECK_EQ_INT(bk_grp_heartbeat(&g, 11, a, 1), BK_GRP_ERR_REBALANCE_IN_PROGRESS);
    join(12, 4, a);
    const bk_grp_action_t *ja = find(BK_GRP_ACT_JOIN, 4), *jb = find(BK_GRP_ACT_JOIN, 3);
    CHECK(ja && jb);
    if (ja && jb) {
        CHECK_EQ_INT(ja->generation, 2);
        CHECK_EQ_INT(jb->generation, 2);
        CHECK_EQ_STR(ja->leader_id, a);
        CHECK_EQ_STR(jb->leader_id, a);
        CHECK_EQ_INT(ja->member_count, 2); /* only the leader gets the members */
        CHECK_EQ_INT(jb->member_count, 0);
        CHECK(ja->members[1].metadata_len > 0);
    }
    joined_id(3, b, sizeof b);
    CHECK(strcmp(a, b) != 0);
    bk_grp_out_clear(&out);
    sync_plan(13, 5, b, 2, NULL, 0);
    CHECK_EQ_INT(out.count, 0);
    bk_grp_assign_in_t plan[] = {{a, (const uint8_t *)"A", 1}, {b, (const uint8_t *)"B", 1}};
    sync_plan(14, 6, a, 2, plan, 2);
    bk_grp_persist_done(&g, 15, 2, 1, &out);
    const bk_grp_action_t *sa = find(BK_GRP_ACT_SYNC, 6), *sb = find(BK_GRP_ACT_SYNC, 5);
    CHECK(sa && sa->assignment_len == 1 && sa->assignment[0] == 'A');
    CHECK(sb && sb->assignment_len == 1 && sb->assignment[0] == 'B');
    teardown();
}

static void test_generation_fencing(void)
{
    setup(0);
    char a[64], b[64];
    stable_two(a, b, sizeof a);
    CHECK_EQ_INT(bk_grp_heartbeat(&g, 20, a, 1), BK_GRP_ERR_ILLEGAL_GENERATION);
    CHECK_EQ_INT(bk_grp_heartbeat(&g, 20, "nobody", 2), BK_GRP_ERR_UNKNOWN_MEMBER_ID);
    CHECK_EQ_INT(bk_grp_heartbeat(&g, 20, b, 2), BK_GRP_ERR_NONE);
    sync_plan(21, 7, b, 1, NULL, 0);
    CHECK(find(BK_GRP_ACT_SYNC, 7) && find(BK_GRP_ACT_SYNC, 7)->error == 22);
    sync_plan(21, 8, "nobody", 2, NULL, 0);
    CHECK(find(BK_GRP_ACT_SYNC, 8) && find(BK_GRP_ACT_SYNC, 8)->error == 25);
    /* a rejoin with an unknown id */
    join(22, 9, "cli-ghost");
    CHECK(find(BK_GRP_ACT_JOIN, 9) && find(BK_GRP_ACT_JOIN, 9)->error == 25);
    /* during CompletingRebalance a heartbeat of the new generation is fine, old is fenced */
    join(23, 10, a); /* leader rejoins: rebalance */
    CHECK_EQ_INT(g.state, BK_GRP_PREPARING_REBALANCE);
    sync_plan(23, 11, b, 2, NULL, 0);
    CHECK(find(BK_GRP_ACT_SYNC, 11) && find(BK_GRP_ACT_SYNC, 11)->error == 27);
    join(24, 12, b);
    CHECK_EQ_INT(g.state, BK_GRP_COMPLETING_REBALANCE);
    CHECK_EQ_INT(g.generation, 3);
    CHECK_EQ_INT(bk_grp_heartbeat(&g, 25, b, 3), BK_GRP_ERR_NONE);
    CHECK_EQ_INT(bk_grp_heartbeat(&g, 25, b, 2), BK_GRP_ERR_ILLEGAL_GENERATION);
    teardown();
}

static void test_stable_rejoin(void)
{
    setup(0);
    char a[64], b[64];
    stable_two(a, b, sizeof a);
    join(20, 7, b); /* follower, same metadata: current generation, no rebalance */
    const bk_grp_action_t *j = find(BK_GRP_ACT_JOIN, 7);
    CHECK(j && j->error == 0 && j->generation == 2);
    CHECK_EQ_INT(g.state, BK_GRP_STABLE);
    join_ex(21, 8, b, "u", 1, 0); /* new subscription: rebalance */
    CHECK(find(BK_GRP_ACT_JOIN, 8) == NULL);
    CHECK_EQ_INT(g.state, BK_GRP_PREPARING_REBALANCE);
    teardown();
}

static void test_member_id_required(void)
{
    setup(0);
    join_ex(0, 1, NULL, "t", 1, 1);
    const bk_grp_action_t *j = find(BK_GRP_ACT_JOIN, 1);
    CHECK(j && j->error == BK_GRP_ERR_MEMBER_ID_REQUIRED && strncmp(j->member_id, "cli-", 4) == 0);
    char id[64];
    joined_id(1, id, sizeof id);
    CHECK_EQ_INT(g.member_count, 0);
    CHECK_EQ_INT(g.pending_count, 1);
    bk_grp_out_clear(&out);
    join_ex(5, 2, id, "t", 1, 1);
    j = find(BK_GRP_ACT_JOIN, 2);
    CHECK(j && j->error == 0 && j->generation == 1 && strcmp(j->member_id, id) == 0);
    /* an id handed out and never used expires with the session timeout */
    bk_grp_out_clear(&out);
    join_ex(6, 3, NULL, "t", 1, 1);
    CHECK_EQ_INT(g.pending_count, 1);
    CHECK_EQ_INT(bk_grp_tick(&g, 6, &out) <= 6 + 10000, 1);
    bk_grp_tick(&g, 6 + 10000, &out);
    CHECK_EQ_INT(g.pending_count, 0);
    teardown();
}

static void test_leave(void)
{
    setup(0);
    char a[64], b[64];
    stable_two(a, b, sizeof a);
    CHECK_EQ_INT(bk_grp_leave(&g, 20, a, &out), BK_GRP_ERR_NONE);
    CHECK(removed(a) && removed(a)->reason == BK_GRP_GONE_LEFT);
    CHECK_EQ_STR(g.leader_id, b);
    CHECK_EQ_INT(g.state, BK_GRP_PREPARING_REBALANCE);
    CHECK_EQ_INT(bk_grp_leave(&g, 20, a, &out), BK_GRP_ERR_UNKNOWN_MEMBER_ID);
    bk_grp_out_clear(&out);
    join(21, 7, b);
    const bk_grp_action_t *j = find(BK_GRP_ACT_JOIN, 7);
    CHECK(j && j->generation == 3 && strcmp(j->leader_id, b) == 0 && j->member_count == 1);
    bk_grp_out_clear(&out);
    /* the last member leaves: Empty, next generation, persisted */
    CHECK_EQ_INT(bk_grp_leave(&g, 22, b, &out), BK_GRP_ERR_NONE);
    CHECK_EQ_INT(g.state, BK_GRP_EMPTY);
    CHECK_EQ_INT(g.generation, 4);
    CHECK(g.leader_id == NULL && g.protocol == NULL);
    CHECK(find(BK_GRP_ACT_PERSIST, 0) && find(BK_GRP_ACT_PERSIST, 0)->generation == 4);
    CHECK_EQ_INT(g.state_since_ms, 22);
    teardown();
}

static void test_leave_answers_pending(void)
{
    setup(0);
    char a[64], b[64];
    stable_two(a, b, sizeof a);
    join(20, 7, a); /* A waits in PreparingRebalance for B */
    CHECK_EQ_INT(bk_grp_leave(&g, 21, a, &out), 0);
    const bk_grp_action_t *j = find(BK_GRP_ACT_JOIN, 7);
    CHECK(j && j->error == BK_GRP_ERR_UNKNOWN_MEMBER_ID);
    teardown();
}

static void test_session_expiry(void)
{
    setup(0);
    char a[64], b[64];
    stable_two(a, b, sizeof a); /* sessions 10 s, last renewed at 12-13 */
    CHECK_EQ_INT(bk_grp_heartbeat(&g, 5000, a, 2), 0);
    int64_t next = bk_grp_tick(&g, 5000, &out);
    CHECK(next > 5000 && next <= 10013);
    CHECK_EQ_INT(out.count, 0);
    bk_grp_tick(&g, next, &out);
    CHECK(removed(b) && removed(b)->reason == BK_GRP_GONE_EXPIRED);
    CHECK(removed(a) == NULL);
    CHECK_EQ_INT(g.state, BK_GRP_PREPARING_REBALANCE);
    CHECK_EQ_INT(bk_grp_heartbeat(&g, next, b, 2), BK_GRP_ERR_UNKNOWN_MEMBER_ID);
    /* A keeps heartbeating, never rejoins: at the rebalance timeout it is removed too */
    int64_t due = g.join_deadline_ms;
    for (int64_t t = 14000; t < due; t += 9000)
        CHECK_EQ_INT(bk_grp_heartbeat(&g, t, a, 2), BK_GRP_ERR_REBALANCE_IN_PROGRESS);
    next = bk_grp_tick(&g, due - 1, &out);
    CHECK_EQ_INT(next, due);
    bk_grp_out_clear(&out);
    bk_grp_tick(&g, next, &out);
    CHECK(removed(a) && removed(a)->reason == BK_GRP_GONE_NOT_REJOINED);
    CHECK_EQ_INT(g.state, BK_GRP_EMPTY);
    CHECK_EQ_INT(bk_grp_tick(&g, next + 1, &out), INT64_MAX);
    teardown();
}

static void test_rebalance_timeout_removes_laggard(void)
{
    setup(0);
    char a[64], b[64], c[64];
    stable_two(a, b, sizeof a);
    join(100, 7, NULL); /* C */
    join(200, 8, a);
    CHECK_EQ_INT(out.count, 0);
    CHECK_EQ_INT(g.join_deadline_ms, 100 + 30000);
    /* B heartbeats through the rebalance but never rejoins */
    CHECK_EQ_INT(bk_grp_heartbeat(&g, 20000, b, 2), BK_GRP_ERR_REBALANCE_IN_PROGRESS);
    CHECK_EQ_INT(bk_grp_heartbeat(&g, 29000, b, 2), BK_GRP_ERR_REBALANCE_IN_PROGRESS);
    CHECK_EQ_INT(bk_grp_tick(&g, 29000, &out), 100 + 30000);
    CHECK_EQ_INT(out.count, 0);
    bk_grp_tick(&g, 30100, &out);
    CHECK(removed(b) && removed(b)->reason == BK_GRP_GONE_NOT_REJOINED);
    const bk_grp_action_t *ja = find(BK_GRP_ACT_JOIN, 8), *jc = find(BK_GRP_ACT_JOIN, 7);
    CHECK(ja && jc && ja->generation == 3 && jc->generation == 3 && ja->member_count == 2);
    joined_id(7, c, sizeof c);
    CHECK_EQ_INT(g.member_count, 2);
    CHECK(bk_grp_member_find(&g, c) >= 0 && bk_grp_member_find(&g, b) < 0);
    teardown();
}

static void test_rebalance_during_rebalance(void)
{
    setup(0);
    char a[64], b[64];
    stable_two(a, b, sizeof a);
    join(20, 7, a);
    join(21, 8, b); /* generation 3, CompletingRebalance */
    CHECK_EQ_INT(g.generation, 3);
    bk_grp_out_clear(&out);
    sync_plan(22, 9, b, 3, NULL, 0); /* B's sync is held */
    bk_grp_assign_in_t plan[] = {{a, (const uint8_t *)"A", 1}, {b, (const uint8_t *)"B", 1}};
    sync_plan(23, 10, a, 3, plan, 2); /* the leader's plan is being persisted */
    CHECK(find(BK_GRP_ACT_PERSIST, 0) != NULL);
    bk_grp_out_clear(&out);
    join(24, 11, NULL); /* a newcomer before the persist completes */
    CHECK(find(BK_GRP_ACT_SYNC, 9) && find(BK_GRP_ACT_SYNC, 9)->error == 27);
    CHECK(find(BK_GRP_ACT_SYNC, 10) && find(BK_GRP_ACT_SYNC, 10)->error == 27);
    CHECK_EQ_INT(g.state, BK_GRP_PREPARING_REBALANCE);
    bk_grp_out_clear(&out);
    bk_grp_persist_done(&g, 25, 3, 1, &out); /* stale: ignored */
    CHECK_EQ_INT(out.count, 0);
    CHECK_EQ_INT(g.state, BK_GRP_PREPARING_REBALANCE);
    /* another join during the same rebalance only extends who is waited for */
    join(26, 12, NULL);
    join(27, 13, a);
    CHECK_EQ_INT(out.count, 0); /* B has not rejoined yet */
    join(28, 14, b);
    CHECK_EQ_INT(count(BK_GRP_ACT_JOIN), 4);
    CHECK_EQ_INT(g.generation, 4);
    CHECK_EQ_INT(g.member_count, 4);
    teardown();
}

static void test_persist_failure(void)
{
    setup(0);
    char a[64];
    join(0, 1, NULL);
    joined_id(1, a, sizeof a);
    bk_grp_assign_in_t plan[] = {{a, (const uint8_t *)"A", 1}};
    sync_plan(1, 2, a, 1, plan, 1);
    bk_grp_out_clear(&out);
    bk_grp_persist_done(&g, 2, 1, 0, &out);
    const bk_grp_action_t *s = find(BK_GRP_ACT_SYNC, 2);
    CHECK(s && s->error == BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE);
    CHECK_EQ_INT(g.state, BK_GRP_PREPARING_REBALANCE);
    join(3, 3, a);
    CHECK(find(BK_GRP_ACT_JOIN, 3) && find(BK_GRP_ACT_JOIN, 3)->generation == 2);
    teardown();
}

static void test_sync_timeout(void)
{
    setup(0);
    char a[64], b[64];
    stable_one(a, sizeof a);
    join(10, 3, NULL);
    join(11, 4, a); /* generation 2; B never syncs */
    joined_id(3, b, sizeof b);
    bk_grp_assign_in_t plan[] = {{a, (const uint8_t *)"A", 1}};
    sync_plan(12, 5, a, 2, plan, 1);
    bk_grp_persist_done(&g, 13, 2, 1, &out);
    CHECK_EQ_INT(g.state, BK_GRP_STABLE);
    bk_grp_out_clear(&out);
    int64_t next = bk_grp_tick(&g, 14, &out);
    CHECK_EQ_INT(next, 11 + 30000 < 13 + 10000 ? 11 + 30000 : 10011); /* B's session or sync */
    /* A heartbeats; B neither heartbeats nor syncs: removed when the sync timeout fires */
    CHECK_EQ_INT(bk_grp_heartbeat(&g, 10000, a, 2), 0);
    CHECK_EQ_INT(bk_grp_heartbeat(&g, 10000, b, 2), 0);
    CHECK_EQ_INT(bk_grp_heartbeat(&g, 19000, a, 2), 0);
    CHECK_EQ_INT(bk_grp_heartbeat(&g, 19000, b, 2), 0);
    CHECK_EQ_INT(bk_grp_heartbeat(&g, 28000, a, 2), 0);
    CHECK_EQ_INT(bk_grp_heartbeat(&g, 28000, b, 2), 0);
    bk_grp_tick(&g, 30011, &out);
    CHECK(removed(b) && removed(b)->reason == BK_GRP_GONE_NOT_SYNCED);
    CHECK_EQ_INT(g.state, BK_GRP_PREPARING_REBALANCE);
    teardown();
}

static void test_initial_delay(void)
{
    setup(3000);
    join(0, 1, NULL);
    CHECK_EQ_INT(out.count, 0);
    CHECK_EQ_INT(bk_grp_tick(&g, 1000, &out), 3000);
    join(1000, 2, NULL); /* extends the delay to 4000 */
    CHECK_EQ_INT(bk_grp_tick(&g, 3999, &out), 4000);
    CHECK_EQ_INT(out.count, 0);
    bk_grp_tick(&g, 4000, &out);
    CHECK_EQ_INT(count(BK_GRP_ACT_JOIN), 2);
    CHECK_EQ_INT(g.generation, 1);
    CHECK_EQ_INT(g.member_count, 2);
    teardown();
}

static void test_protocol_checks(void)
{
    setup(0);
    char a[64];
    join_ex(0, 1, NULL, "t", 2, 0); /* range, roundrobin */
    joined_id(1, a, sizeof a);
    bk_grp_out_clear(&out);
    bk_grp_join_req_t req = {.token = 2,
                             .client_id = "x",
                             .session_timeout_ms = 10000,
                             .rebalance_timeout_ms = 10000,
                             .protocol_type = "connect"};
    bk_grp_protocol_in_t p = {"roundrobin", (const uint8_t *)"", 0};
    req.protocols = &p;
    req.protocol_count = 1;
    CHECK_EQ_INT(bk_grp_join(&g, 1, &req, &out), 0);
    CHECK(find(BK_GRP_ACT_JOIN, 2) && find(BK_GRP_ACT_JOIN, 2)->error == 23);
    req.protocol_type = "consumer";
    p.name = "sticky";
    req.token = 3;
    CHECK_EQ_INT(bk_grp_join(&g, 1, &req, &out), 0);
    CHECK(find(BK_GRP_ACT_JOIN, 3) && find(BK_GRP_ACT_JOIN, 3)->error == 23);
    req.session_timeout_ms = 5999;
    req.token = 4;
    CHECK_EQ_INT(bk_grp_join(&g, 1, &req, &out), 0);
    CHECK(find(BK_GRP_ACT_JOIN, 4) && find(BK_GRP_ACT_JOIN, 4)->error == 26);
    req.session_timeout_ms = 10000;
    req.protocol_count = 0;
    req.token = 5;
    CHECK_EQ_INT(bk_grp_join(&g, 1, &req, &out), 0);
    CHECK(find(BK_GRP_ACT_JOIN, 5) && find(BK_GRP_ACT_JOIN, 5)->error == 23);
    /* a newcomer supporting only roundrobin: accepted, and the vote picks roundrobin (the
     * only protocol both support, though A prefers range) */
    p.name = "roundrobin";
    req.protocol_count = 1;
    req.token = 6;
    CHECK_EQ_INT(bk_grp_join(&g, 2, &req, &out), 0);
    join_ex(3, 7, a, "t", 2, 0);
    CHECK(find(BK_GRP_ACT_JOIN, 7) &&
          strcmp(find(BK_GRP_ACT_JOIN, 7)->protocol, "roundrobin") == 0);
    teardown();
}

static const char *const T[] = {"t"};

static void server_assignment(const char *id, char *buf, size_t cap)
{
    int i = bk_grp_member_find(&g, id);
    buf[0] = 0;
    if (i < 0)
        return;
    bk_grp_assignment_t a;
    CHECK_EQ_INT(
        bk_grp_assignment_decode(g.members[i]->assignment, g.members[i]->assignment_len, &a), 0);
    size_t n = 0;
    for (size_t t = 0; t < a.count; t++)
        for (size_t k = 0; k < a.topics[t].count; k++)
            n +=
                (size_t)snprintf(buf + n, cap - n, "%s%d", n ? "," : "", a.topics[t].partitions[k]);
    bk_grp_assignment_free(&a);
}

static void test_server_members(void)
{
    setup(3000); /* the initial delay is for Kafka clients only */
    const char *id = NULL;
    char buf[64];
    CHECK_EQ_INT(
        bk_grp_server_join(&g, 0, "x", "rest", 300000, T, 1, (const uint8_t *)"cfg", 3, &id, &out),
        0);
    CHECK_EQ_STR(id, "x");
    CHECK_EQ_INT(g.state, BK_GRP_COMPLETING_REBALANCE);
    CHECK_EQ_INT(g.generation, 1);
    CHECK(find(BK_GRP_ACT_PERSIST, 0) && find(BK_GRP_ACT_PERSIST, 0)->generation == 1);
    server_assignment("x", buf, sizeof buf);
    CHECK_EQ_STR(buf, "0,1,2,3,4,5");
    bk_grp_persist_done(&g, 1, 1, 1, &out);
    CHECK_EQ_INT(g.state, BK_GRP_STABLE);
    CHECK(find(BK_GRP_ACT_STABLE, 0) != NULL);
    CHECK_EQ_INT(bk_grp_server_join(&g, 2, "x", "rest", 300000, T, 1, NULL, 0, NULL, &out),
                 UV_EEXIST);
    CHECK_EQ_INT(bk_grp_server_join(&g, 2, "y", "rest", 300000, T, 1, NULL, 0, NULL, &out), 0);
    CHECK_EQ_INT(bk_grp_server_join(&g, 3, NULL, "rest", 300000, T, 1, NULL, 0, &id, &out), 0);
    char z[64];
    snprintf(z, sizeof z, "%s", id);
    CHECK(strncmp(z, "rest-", 5) == 0);
    CHECK_EQ_INT(g.generation, 3);
    /* range over sorted ids: "rest-…" < "x" < "y" */
    server_assignment(z, buf, sizeof buf);
    CHECK_EQ_STR(buf, "0,1");
    server_assignment("x", buf, sizeof buf);
    CHECK_EQ_STR(buf, "2,3");
    server_assignment("y", buf, sizeof buf);
    CHECK_EQ_STR(buf, "4,5");
    bk_grp_persist_done(&g, 3, 2, 1, &out); /* stale */
    CHECK_EQ_INT(g.state, BK_GRP_COMPLETING_REBALANCE);
    bk_grp_persist_done(&g, 3, 3, 1, &out);
    CHECK_EQ_INT(g.state, BK_GRP_STABLE);
    /* an instance deleted: its partitions move */
    bk_grp_out_clear(&out);
    CHECK_EQ_INT(bk_grp_leave(&g, 4, "y", &out), 0);
    CHECK(removed("y") != NULL);
    server_assignment("x", buf, sizeof buf);
    CHECK_EQ_STR(buf, "3,4,5");
    bk_grp_persist_done(&g, 4, g.generation, 1, &out);
    /* an instance left idle past its timeout: the same */
    CHECK_EQ_INT(bk_grp_touch(&g, 200000, "x"), 0);
    bk_grp_out_clear(&out);
    int64_t next = bk_grp_tick(&g, 200000, &out);
    CHECK_EQ_INT(next, 300003);
    bk_grp_tick(&g, next, &out);
    CHECK(removed(z) && removed(z)->reason == BK_GRP_GONE_EXPIRED);
    server_assignment("x", buf, sizeof buf);
    CHECK_EQ_STR(buf, "0,1,2,3,4,5");
    CHECK_EQ_INT(bk_grp_touch(&g, next, z), BK_GRP_ERR_UNKNOWN_MEMBER_ID);
    /* the instance definition survives in the Subscription's user_data */
    bk_grp_subscription_t s;
    const bk_grp_member_t *mx = g.members[bk_grp_member_find(&g, "x")];
    CHECK_EQ_STR(mx->protocols[0].name, "range");
    CHECK_EQ_INT(
        bk_grp_subscription_decode(mx->protocols[0].metadata, mx->protocols[0].metadata_len, &s),
        0);
    CHECK(s.has_user_data && s.user_data_len == 3 && memcmp(s.user_data, "cfg", 3) == 0);
    bk_grp_subscription_free(&s);
    teardown();
}

static void test_server_subscription_and_partitions(void)
{
    setup(0);
    char buf[64];
    const char *const TU[] = {"u", "t", "u"};
    CHECK_EQ_INT(bk_grp_server_join(&g, 0, "a", "r", 1000, T, 1, NULL, 0, NULL, &out), 0);
    CHECK_EQ_INT(bk_grp_server_join(&g, 0, "b", "r", 1000, NULL, 0, NULL, 0, NULL, &out), 0);
    bk_grp_persist_done(&g, 0, 2, 1, &out);
    server_assignment("b", buf, sizeof buf);
    CHECK_EQ_STR(buf, "");
    int32_t gen = g.generation;
    CHECK_EQ_INT(bk_grp_server_subscribe(&g, 1, "a", T, 1, &out), 0); /* unchanged */
    CHECK_EQ_INT(g.generation, gen);
    CHECK_EQ_INT(bk_grp_server_subscribe(&g, 1, "b", TU, 3, &out), 0);
    CHECK_EQ_INT(g.generation, gen + 1);
    server_assignment("b", buf, sizeof buf);
    CHECK_EQ_STR(buf, "3,4,5,0,1"); /* t 3-5 and u 0-1 (topics in order t, u) */
    bk_grp_persist_done(&g, 1, g.generation, 1, &out);
    CHECK_EQ_INT(bk_grp_metadata_changed(&g, 2, &out), 0);
    parts_t = 8; /* a topic grew */
    CHECK_EQ_INT(bk_grp_metadata_changed(&g, 2, &out), 1);
    CHECK_EQ_INT(g.generation, gen + 2);
    server_assignment("a", buf, sizeof buf);
    CHECK_EQ_STR(buf, "0,1,2,3");
    CHECK_EQ_INT(bk_grp_server_subscribe(&g, 1, "nobody", T, 1, &out), 25);
    const char *const bad[] = {""};
    CHECK_EQ_INT(bk_grp_server_join(&g, 3, "c", "r", 1000, bad, 1, NULL, 0, NULL, &out), BK_EINVAL);
    teardown();
}

/* An instance's definition changes (a topic_pattern, a manual assignment) without a
 * rebalance: user_data is replaced, topics and assignment kept. */
static void test_server_user_data(void)
{
    setup(0);
    char buf[64];
    CHECK_EQ_INT(
        bk_grp_server_join(&g, 0, "a", "r", 1000, T, 1, (const uint8_t *)"old", 3, NULL, &out), 0);
    bk_grp_persist_done(&g, 0, g.generation, 1, &out);
    int32_t gen = g.generation;
    CHECK_EQ_INT(bk_grp_server_set_user_data(&g, "a", (const uint8_t *)"newer", 5), 1);
    CHECK_EQ_INT(bk_grp_server_set_user_data(&g, "a", (const uint8_t *)"newer", 5), 0);
    CHECK_EQ_INT(bk_grp_server_set_user_data(&g, "nobody", (const uint8_t *)"x", 1), 25);
    CHECK_EQ_INT(g.generation, gen);
    CHECK_EQ_INT(g.state, BK_GRP_STABLE);
    server_assignment("a", buf, sizeof buf);
    CHECK_EQ_STR(buf, "0,1,2,3,4,5");
    bk_grp_subscription_t s;
    const bk_grp_member_t *m = g.members[0];
    CHECK_EQ_INT(
        bk_grp_subscription_decode(m->protocols[0].metadata, m->protocols[0].metadata_len, &s), 0);
    CHECK(s.has_user_data && s.user_data_len == 5 && memcmp(s.user_data, "newer", 5) == 0);
    CHECK(s.topic_count == 1 && strcmp(s.topics[0], "t") == 0);
    bk_grp_subscription_free(&s);
    CHECK(m->topic_count == 1 && strcmp(m->topics[0], "t") == 0);
    teardown();
}

static void test_client_partition_change(void)
{
    setup(0);
    char a[64];
    stable_one(a, sizeof a);
    CHECK_EQ_INT(bk_grp_metadata_changed(&g, 5, &out), 0);
    parts_t = 7;
    CHECK_EQ_INT(bk_grp_metadata_changed(&g, 5, &out), 1);
    CHECK_EQ_INT(g.state, BK_GRP_PREPARING_REBALANCE);
    CHECK_EQ_INT(bk_grp_heartbeat(&g, 6, a, 1), BK_GRP_ERR_REBALANCE_IN_PROGRESS);
    teardown();
}

static void test_kinds_do_not_mix(void)
{
    setup(0);
    CHECK_EQ_INT(bk_grp_server_join(&g, 0, "a", "r", 1000, T, 1, NULL, 0, NULL, &out), 0);
    join(1, 1, NULL);
    CHECK(find(BK_GRP_ACT_JOIN, 1) && find(BK_GRP_ACT_JOIN, 1)->error == 23);
    sync_plan(1, 2, "a", 1, NULL, 0);
    CHECK(find(BK_GRP_ACT_SYNC, 2) && find(BK_GRP_ACT_SYNC, 2)->error == 23);
    CHECK_EQ_INT(bk_grp_leave(&g, 2, "a", &out), 0);
    CHECK_EQ_INT(g.state, BK_GRP_EMPTY);
    bk_grp_out_clear(&out);
    join(3, 3, NULL); /* an Empty group takes either kind */
    CHECK(find(BK_GRP_ACT_JOIN, 3) && find(BK_GRP_ACT_JOIN, 3)->error == 0);
    CHECK_EQ_INT(bk_grp_server_join(&g, 4, "b", "r", 1000, T, 1, NULL, 0, NULL, &out), 23);
    teardown();
}

static void test_delete_and_max_size(void)
{
    setup(0);
    g.cfg.max_size = 1;
    char a[64];
    join(0, 1, NULL);
    joined_id(1, a, sizeof a);
    join(1, 2, NULL);
    CHECK(find(BK_GRP_ACT_JOIN, 2) && find(BK_GRP_ACT_JOIN, 2)->error == 81);
    CHECK_EQ_INT(bk_grp_delete(&g), BK_GRP_ERR_NON_EMPTY_GROUP);
    CHECK_EQ_INT(bk_grp_leave(&g, 2, a, &out), 0);
    CHECK_EQ_INT(bk_grp_delete(&g), BK_GRP_ERR_NONE);
    CHECK_EQ_INT(g.state, BK_GRP_DEAD);
    CHECK_EQ_INT(bk_grp_delete(&g), BK_GRP_ERR_GROUP_ID_NOT_FOUND);
    join(3, 3, NULL);
    CHECK(find(BK_GRP_ACT_JOIN, 3) && find(BK_GRP_ACT_JOIN, 3)->error == 15);
    CHECK_EQ_INT(bk_grp_heartbeat(&g, 3, a, 1), 15);
    CHECK_EQ_INT(bk_grp_tick(&g, 3, &out), INT64_MAX);
    CHECK_EQ_STR(bk_grp_state_name(g.state), "Dead");
    CHECK_EQ_STR(bk_grp_errname(27), "REBALANCE_IN_PROGRESS");
    teardown();
}

CHECK_MAIN(CASE(test_first_join_and_sync), CASE(test_second_member_rebalances),
           CASE(test_generation_fencing), CASE(test_stable_rejoin), CASE(test_member_id_required),
           CASE(test_leave), CASE(test_leave_answers_pending), CASE(test_session_expiry),
           CASE(test_rebalance_timeout_removes_laggard), CASE(test_rebalance_during_rebalance),
           CASE(test_persist_failure), CASE(test_sync_timeout), CASE(test_initial_delay),
           CASE(test_protocol_checks), CASE(test_server_members),
           CASE(test_server_subscription_and_partitions), CASE(test_server_user_data),
           CASE(test_client_partition_change), CASE(test_kinds_do_not_mix),
           CASE(test_delete_and_max_size))
