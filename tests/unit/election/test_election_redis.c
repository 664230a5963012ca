/* The election against a real redis-server (started here on a free loopback port, in a temp
 * dir, stopped by PID): one leader among two brokers on one loop, release on stop, Redis killed
 * and restarted, FLUSHALL and SCRIPT FLUSH under a leader, Redis absent at start, standalone
 * mode, and the client's exactly-once callbacks when closed from inside one. */
#include "brook/common.h"
#include "brook/election.h"
#include "election/redis_client.h"

#include "check.h"
#include "redis_proc.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define LEASE_MS 1000
#define RENEW_MS 300
#define WINDOW_MS 790 /* 1000 - 1% drift - 200 margin */

/* ---- redis-server process ---------------------------------------------------------------- */

/* ---- brokers on a loop -------------------------------------------------------------------- */

typedef struct {
    const char *id;
    bk_election_t *e;
    bk_election_view_t v; /* as of the last on_change */
    int step_downs;
    uint64_t stepped_down_at;
    int64_t last_term; /* epoch of the latest term this broker led */
    int stopped;
    int stop_when_leader; /* calls bk_election_stop from inside on_change */
} broker_t;

static broker_t *brokers[4];
static int exclusive_check; /* at most one broker may ack at any sampled instant */
static int exclusive_violations;

static void on_stopped(void *arg)
{
    broker_t *b = arg;
    b->stopped = 1;
    b->e = NULL;
}

static void on_change(void *arg)
{
    broker_t *b = arg;
    bk_election_view_t v;
    bk_election_view(b->e, &v);
    if (b->v.role == BK_ROLE_LEADER && v.role != BK_ROLE_LEADER) {
        b->step_downs++;
        b->stepped_down_at = bk_now_ms();
    }
    if (v.role == BK_ROLE_LEADER && (b->v.role != BK_ROLE_LEADER || v.epoch != b->v.epoch)) {
        CHECK(v.epoch > b->last_term); /* every new term of ours has a larger epoch */
        b->last_term = v.epoch;
    }
    b->v = v;
    if (b->stop_when_leader && v.role == BK_ROLE_LEADER)
        bk_election_stop(b->e, on_stopped, b);
}

static void start_broker(uv_loop_t *loop, broker_t *b, int port, const char *url)
{
    bk_election_config_t cfg;
    bk_election_config_defaults(&cfg);
    cfg.redis_host = "localhost"; /* must be dialled as 127.0.0.1 */
    cfg.redis_port = port;
    cfg.broker_id = b->id;
    cfg.advertised_url = url;
    cfg.lease_ms = LEASE_MS;
    cfg.renew_ms = RENEW_MS;
    cfg.connect_timeout_ms = 300;
    cfg.command_timeout_ms = 300;
    CHECK_EQ_INT(bk_election_start(loop, &cfg, on_change, b, &b->e), 0);
    bk_election_view(b->e, &b->v);
    for (size_t i = 0; i < BK_ARRAY_LEN(brokers); i++) {
        if (brokers[i] == NULL || brokers[i] == b) {
            brokers[i] = b;
            break;
        }
    }
}

static void stop_broker(uv_loop_t *loop, broker_t *b);

static void on_sample(uv_timer_t *t)
{
    (void)t;
    int ackers = 0;
    for (size_t i = 0; i < BK_ARRAY_LEN(brokers); i++) {
        int64_t epoch;
        if (brokers[i] && brokers[i]->e && bk_election_can_ack(brokers[i]->e, &epoch))
            ackers++;
    }
    if (exclusive_check && ackers > 1)
        exclusive_violations++;
}

typedef int (*pred_fn)(void *arg);

/* Runs the loop until pred(arg) holds or timeout_ms passes; the sampler keeps it ticking. */
static int run_until(uv_loop_t *loop, pred_fn pred, void *arg, uint64_t timeout_ms)
{
    uint64_t end = bk_now_ms() + timeout_ms;
    while (!pred(arg)) {
        if (bk_now_ms() >= end)
            return 0;
        uv_run(loop, UV_RUN_ONCE);
    }
    return 1;
}

static int never(void *arg)
{
    (void)arg;
    return 0;
}

static void run_for(uv_loop_t *loop, uint64_t ms)
{
    run_until(loop, never, NULL, ms);
}

static int is_leader(void *arg)
{
    broker_t *b = arg;
    return b->e && b->v.role == BK_ROLE_LEADER;
}

static int is_stopped(void *arg)
{
    return ((broker_t *)arg)->stopped;
}

static int is_not_leader(void *arg)
{
    return !is_leader(arg);
}

static int has_stepped_down(void *arg)
{
    return ((broker_t *)arg)->step_downs > 0;
}

static void stop_broker(uv_loop_t *loop, broker_t *b)
{
    if (b->e == NULL)
        return;
    bk_election_stop(b->e, on_stopped, b);
    CHECK(run_until(loop, is_stopped, b, 3000));
}

static uv_timer_t sampler;

static void loop_begin(uv_loop_t *loop)
{
    signal(SIGPIPE, SIG_IGN); /* hiredis writes with write(2) */
    memset(brokers, 0, sizeof brokers);
    exclusive_check = 0;
    exclusive_violations = 0;
    CHECK_EQ_INT(uv_loop_init(loop), 0);
    CHECK_EQ_INT(uv_timer_init(loop, &sampler), 0);
    CHECK_EQ_INT(uv_timer_start(&sampler, on_sample, 5, 5), 0);
}

static void loop_end(uv_loop_t *loop)
{
    uv_close((uv_handle_t *)&sampler, NULL);
    CHECK_EQ_INT(uv_run(loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(uv_loop_close(loop), 0);
}

static char *get_str(int port, const char *key)
{
    redisReply *r = redis_cmd(port, "GET %s", key);
    char *s = NULL;
    if (r && r->type == REDIS_REPLY_STRING)
        s = strdup(r->str);
    if (r)
        freeReplyObject(r);
    return s;
}

static long long get_int(int port, const char *cmd, const char *key)
{
    redisReply *r = redis_cmd(port, "%s %s", cmd, key);
    long long v = -999;
    if (r && r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    else if (r && r->type == REDIS_REPLY_STRING)
        v = strtoll(r->str, NULL, 10);
    if (r)
        freeReplyObject(r);
    return v;
}

/* ---- cases -------------------------------------------------------------------------------- */

static void test_two_brokers_one_leader(void)
{
    redis_proc_t r = {0};
    if (redis_start(&r) != 0) {
        CHECK(!"redis-server did not start");
        return;
    }
    uv_loop_t loop;
    loop_begin(&loop);
    exclusive_check = 1;
    broker_t b1 = {.id = "b1"}, b2 = {.id = "b2"};
    start_broker(&loop, &b1, r.port, "http://127.0.0.1:5001");
    CHECK(run_until(&loop, is_leader, &b1, 3000));
    int64_t e1 = b1.v.epoch;
    CHECK(e1 >= 1);
    CHECK_EQ_STR(b1.v.leader_id, "b1");
    CHECK_EQ_INT(b1.v.redis_connected, 1);

    start_broker(&loop, &b2, r.port, "http://127.0.0.1:5002");
    run_for(&loop, 3 * RENEW_MS); /* several renews and polls */
    CHECK_EQ_INT(b1.v.role, BK_ROLE_LEADER);
    CHECK_EQ_INT(b1.v.epoch, e1);
    CHECK_EQ_INT(b1.step_downs, 0);
    CHECK_EQ_INT(b2.v.role, BK_ROLE_FOLLOWER);
    CHECK_EQ_STR(b2.v.leader_id, "b1");
    CHECK_EQ_STR(b2.v.leader_url, "http://127.0.0.1:5001");
    CHECK_EQ_INT(b2.v.epoch, e1);
    int64_t ep = -1;
    CHECK_EQ_INT(bk_election_can_ack(b1.e, &ep), 1);
    CHECK_EQ_INT(ep, e1);
    CHECK_EQ_INT(bk_election_can_ack(b2.e, &ep), 0);

    /* The key as other tools see it. */
    char want[128];
    snprintf(want, sizeof want,
             "{\"id\":\"b1\",\"epoch\":%lld,\"url\":\"http:\\/\\/127.0.0.1:5001\",\"instance\":\"",
             (long long)e1);
    char *val = get_str(r.port, "brook:leader");
    CHECK(val != NULL && strncmp(val, want, strlen(want)) == 0); /* then 16 hex digits */
    CHECK(val != NULL && strlen(val) == strlen(want) + 16 + 2);
    if (val != NULL)
        CHECK_EQ_STR(val + strlen(val) - 2, "\"}");
    free(val);
    long long pttl = get_int(r.port, "PTTL", "brook:leader");
    CHECK(pttl > 0 && pttl <= LEASE_MS);

    /* Clean stop releases: b2 takes over within about one poll interval, at a higher epoch. */
    uint64_t t0 = bk_now_ms();
    bk_election_stop(b1.e, on_stopped, &b1);
    CHECK(run_until(&loop, is_leader, &b2, 2000));
    uint64_t took = bk_now_ms() - t0;
    CHECK(took < RENEW_MS + 400);
    CHECK(b2.v.epoch > e1);
    CHECK(run_until(&loop, is_stopped, &b1, 1000));
    val = get_str(r.port, "brook:leader");
    CHECK(val != NULL && strstr(val, "\"id\":\"b2\"") != NULL);
    free(val);

    stop_broker(&loop, &b2);
    val = get_str(r.port, "brook:leader");
    CHECK(val == NULL); /* released */
    free(val);
    CHECK_EQ_INT(exclusive_violations, 0);
    loop_end(&loop);
    redis_cleanup(&r);
}

static void test_redis_killed_then_back(void)
{
    redis_proc_t r = {0};
    if (redis_start(&r) != 0) {
        CHECK(!"redis-server did not start");
        return;
    }
    uv_loop_t loop;
    loop_begin(&loop);
    broker_t b1 = {.id = "b1"};
    start_broker(&loop, &b1, r.port, "http://127.0.0.1:5001");
    CHECK(run_until(&loop, is_leader, &b1, 3000));
    run_for(&loop, 500);
    int64_t e1 = b1.v.epoch;

    uint64_t t_kill = bk_now_ms();
    redis_stop(&r, SIGKILL);
    CHECK(run_until(&loop, is_not_leader, &b1, 3000));
    uint64_t after = b1.stepped_down_at - t_kill;
    /* The last good renew was sent at most one interval before the kill: the deadline falls
     * in [kill + window - interval, kill + window]. Not at the disconnect, not after. */
    CHECK(after >= WINDOW_MS - RENEW_MS - 50);
    CHECK(after <= WINDOW_MS + 60);
    CHECK_EQ_INT(bk_election_can_ack(b1.e, NULL), 0);
    CHECK_EQ_INT(b1.v.role, BK_ROLE_NONE);
    CHECK_EQ_INT(b1.v.redis_connected, 0);
    run_for(&loop, 500); /* reconnect attempts against a dead port: no crash */

    CHECK_EQ_INT(redis_start(&r), 0); /* same port, empty data: the epoch counter is gone */
    CHECK(run_until(&loop, is_leader, &b1, 5000));
    CHECK(b1.v.epoch > e1);
    CHECK(get_int(r.port, "GET", "brook:epoch") == b1.v.epoch);

    stop_broker(&loop, &b1);
    loop_end(&loop);
    redis_cleanup(&r);
}

typedef struct {
    broker_t *a, *b;
    int64_t above;
} new_term_t;

static int new_leader_above(void *arg)
{
    new_term_t *t = arg;
    return (is_leader(t->a) && t->a->v.epoch > t->above) ||
           (is_leader(t->b) && t->b->v.epoch > t->above);
}

static void test_flushall_under_leader(void)
{
    redis_proc_t r = {0};
    if (redis_start(&r) != 0) {
        CHECK(!"redis-server did not start");
        return;
    }
    uv_loop_t loop;
    loop_begin(&loop);
    broker_t b1 = {.id = "b1"}, b2 = {.id = "b2"};
    start_broker(&loop, &b1, r.port, "http://127.0.0.1:5001");
    CHECK(run_until(&loop, is_leader, &b1, 3000));
    /* Push the counter up so a fresh INCR after the flush would go backwards. */
    for (int i = 0; i < 3; i++) {
        b1.stop_when_leader = 0;
        stop_broker(&loop, &b1);
        b1 = (broker_t){.id = "b1", .last_term = b1.last_term};
        start_broker(&loop, &b1, r.port, "http://127.0.0.1:5001");
        CHECK(run_until(&loop, is_leader, &b1, 3000));
    }
    start_broker(&loop, &b2, r.port, "http://127.0.0.1:5002");
    run_for(&loop, RENEW_MS);
    int64_t e1 = b1.v.epoch;
    CHECK(e1 >= 4);
    CHECK_EQ_INT(b2.v.epoch, e1);

    redisReply *rep = redis_cmd(r.port, "FLUSHALL");
    CHECK(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    if (rep)
        freeReplyObject(rep);
    uint64_t t0 = bk_now_ms();
    CHECK(run_until(&loop, has_stepped_down, &b1, 2000));
    CHECK(b1.stepped_down_at - t0 <= RENEW_MS + 100); /* noticed at the next renew */
    new_term_t nt = {&b1, &b2, e1};
    CHECK(run_until(&loop, new_leader_above, &nt, 2000));
    run_for(&loop, RENEW_MS);
    int leaders = (b1.v.role == BK_ROLE_LEADER) + (b2.v.role == BK_ROLE_LEADER);
    CHECK_EQ_INT(leaders, 1);
    broker_t *lead = b1.v.role == BK_ROLE_LEADER ? &b1 : &b2;
    broker_t *other = lead == &b1 ? &b2 : &b1;
    CHECK(lead->v.epoch > e1);
    CHECK_EQ_INT(other->v.role, BK_ROLE_FOLLOWER);
    CHECK_EQ_INT(other->v.epoch, lead->v.epoch);
    CHECK(get_int(r.port, "GET", "brook:epoch") == lead->v.epoch);

    stop_broker(&loop, &b1);
    stop_broker(&loop, &b2);
    loop_end(&loop);
    redis_cleanup(&r);
}

static void test_script_flush_keeps_leader(void)
{
    redis_proc_t r = {0};
    if (redis_start(&r) != 0) {
        CHECK(!"redis-server did not start");
        return;
    }
    uv_loop_t loop;
    loop_begin(&loop);
    broker_t b1 = {.id = "b1"};
    start_broker(&loop, &b1, r.port, "");
    CHECK(run_until(&loop, is_leader, &b1, 3000));
    run_for(&loop, 2 * RENEW_MS); /* SHA1s learned, renews go by EVALSHA */
    int64_t e1 = b1.v.epoch;
    redisReply *rep = redis_cmd(r.port, "SCRIPT FLUSH");
    CHECK(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    if (rep)
        freeReplyObject(rep);
    run_for(&loop, 3 * RENEW_MS);
    CHECK_EQ_INT(b1.v.role, BK_ROLE_LEADER);
    CHECK_EQ_INT(b1.v.epoch, e1);
    CHECK_EQ_INT(b1.step_downs, 0);
    rep = redis_cmd(r.port, "INFO errorstats");
    CHECK(rep != NULL && rep->type == REDIS_REPLY_STRING &&
          strstr(rep->str, "errorstat_NOSCRIPT") != NULL); /* the fallback really ran */
    if (rep)
        freeReplyObject(rep);
    stop_broker(&loop, &b1);
    loop_end(&loop);
    redis_cleanup(&r);
}

static void test_redis_absent_at_start(void)
{
    redis_proc_t r = {0};
    r.port = free_port();
    uv_loop_t loop;
    loop_begin(&loop);
    broker_t b1 = {.id = "b1"};
    start_broker(&loop, &b1, r.port, "http://127.0.0.1:5001");
    run_for(&loop, 700);
    bk_election_view_t v;
    bk_election_view(b1.e, &v);
    CHECK_EQ_INT(v.role, BK_ROLE_NONE);
    CHECK_EQ_INT(v.redis_connected, 0);
    CHECK_EQ_INT(v.epoch, 0);
    CHECK_EQ_STR(v.leader_id, "");
    CHECK_EQ_INT(bk_election_can_ack(b1.e, NULL), 0);
    bk_election_refresh(b1.e); /* harmless without Redis */

    CHECK_EQ_INT(redis_start(&r), 0);
    CHECK(run_until(&loop, is_leader, &b1, 5000));
    CHECK_EQ_INT(b1.v.epoch, 1);
    CHECK_EQ_INT(b1.v.redis_connected, 1);
    stop_broker(&loop, &b1);
    loop_end(&loop);
    redis_cleanup(&r);
}

static void test_stop_from_on_change(void)
{
    redis_proc_t r = {0};
    if (redis_start(&r) != 0) {
        CHECK(!"redis-server did not start");
        return;
    }
    uv_loop_t loop;
    loop_begin(&loop);
    broker_t b1 = {.id = "b1", .stop_when_leader = 1};
    start_broker(&loop, &b1, r.port, "");
    CHECK(run_until(&loop, is_stopped, &b1, 3000));
    CHECK_EQ_INT(b1.last_term, 1);
    char *val = get_str(r.port, "brook:leader");
    CHECK(val == NULL); /* released on the way out */
    free(val);
    loop_end(&loop);
    redis_cleanup(&r);
}

/* A broker that died holding the lease and comes back with the same id and url takes it over
 * at once, at a higher epoch; a broker with the same id but another url does not steal it. */
static void test_restart_takes_over_own_lease(void)
{
    redis_proc_t r = {0};
    if (redis_start(&r) != 0) {
        CHECK(!"redis-server did not start");
        return;
    }
    const char *dead = "{\"id\":\"b1\",\"epoch\":7,\"url\":\"http:\\/\\/127.0.0.1:5001\"}";
    redisReply *rep = redis_cmd(r.port, "SET brook:leader %s PX 5000", dead);
    CHECK(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    if (rep)
        freeReplyObject(rep);
    uv_loop_t loop;
    loop_begin(&loop);
    broker_t imposter = {.id = "b1"};
    start_broker(&loop, &imposter, r.port, "http://127.0.0.1:5999");
    run_for(&loop, 2 * RENEW_MS);
    CHECK_EQ_INT(imposter.v.role, BK_ROLE_FOLLOWER);
    CHECK_EQ_STR(imposter.v.leader_url, "http://127.0.0.1:5001");
    CHECK_EQ_INT(imposter.v.epoch, 7);
    stop_broker(&loop, &imposter);

    broker_t b1 = {.id = "b1"};
    uint64_t t0 = bk_now_ms();
    start_broker(&loop, &b1, r.port, "http://127.0.0.1:5001");
    CHECK(run_until(&loop, is_leader, &b1, 1000));
    CHECK(bk_now_ms() - t0 < 500); /* not after the old lease's 5 s */
    CHECK_EQ_INT(b1.v.epoch, 8);   /* above the dead term's 7, though the counter was unset */
    stop_broker(&loop, &b1);
    loop_end(&loop);
    redis_cleanup(&r);
}

static void test_standalone(void)
{
    uv_loop_t loop;
    loop_begin(&loop);
    bk_election_config_t cfg;
    bk_election_config_defaults(&cfg);
    CHECK_EQ_STR(cfg.redis_host, "localhost");
    CHECK_EQ_INT(cfg.redis_port, 6379);
    CHECK_EQ_STR(cfg.cluster, "brook");
    CHECK_EQ_INT(cfg.lease_ms, 10000);
    CHECK_EQ_INT(cfg.renew_ms, 5000);
    cfg.standalone = 1;
    cfg.broker_id = "solo";
    cfg.advertised_url = "http://127.0.0.1:5001";
    broker_t b = {.id = "solo"};
    CHECK_EQ_INT(bk_election_start(&loop, &cfg, on_change, &b, &b.e), 0);
    bk_election_view_t v;
    bk_election_view(b.e, &v);
    CHECK_EQ_INT(v.role, BK_ROLE_STANDALONE);
    CHECK_EQ_INT(v.epoch, 1);
    CHECK_EQ_STR(v.leader_id, "solo");
    CHECK_EQ_STR(v.leader_url, "http://127.0.0.1:5001");
    CHECK_EQ_INT(v.redis_connected, 0);
    int64_t ep = 0;
    CHECK_EQ_INT(bk_election_can_ack(b.e, &ep), 1);
    CHECK_EQ_INT(ep, 1);
    bk_election_refresh(b.e);
    bk_election_stop(b.e, on_stopped, &b);
    CHECK_EQ_INT(b.stopped, 0); /* done comes from the loop, not from inside stop */
    CHECK(run_until(&loop, is_stopped, &b, 1000));

    cfg.standalone = 0;
    cfg.broker_id = "";
    cfg.lease_ms = 0;
    bk_election_t *e = NULL;
    CHECK_EQ_INT(bk_election_start(&loop, &cfg, on_change, &b, &e), BK_EINVAL);
    loop_end(&loop);
}

/* ---- the client itself: close from inside a reply callback ------------------------------- */

typedef struct {
    bk_redis_client_t *c;
    int up;
    int calls[3];
    int status[3];
    int closed;
} client_ctx_t;

static client_ctx_t cctx;

static void on_client_state(void *arg, bk_redis_state_t s)
{
    ((client_ctx_t *)arg)->up = s == BK_REDIS_CONNECTED;
}

static void on_client_closed(void *arg)
{
    ((client_ctx_t *)arg)->closed = 1;
}

static void after_ping(void *arg, int status, const redisReply *r)
{
    int i = (int)(intptr_t)arg;
    cctx.calls[i]++;
    cctx.status[i] = status;
    if (i == 0) {
        CHECK(r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0);
        bk_redis_client_close(cctx.c, on_client_closed, &cctx);
        bk_redis_client_close(cctx.c, on_client_closed, &cctx); /* idempotent */
    }
}

static int client_up(void *arg)
{
    return ((client_ctx_t *)arg)->up;
}

static int client_closed(void *arg)
{
    return ((client_ctx_t *)arg)->closed;
}

static void test_client_close_inside_reply(void)
{
    redis_proc_t r = {0};
    if (redis_start(&r) != 0) {
        CHECK(!"redis-server did not start");
        return;
    }
    uv_loop_t loop;
    loop_begin(&loop);
    memset(&cctx, 0, sizeof cctx);
    bk_redis_config_t cfg = {.host = "localhost", .port = r.port};
    CHECK_EQ_INT(bk_redis_client_start(&loop, &cfg, on_client_state, &cctx, &cctx.c), 0);
    CHECK_EQ_INT(bk_redis_client_command(cctx.c, 1, (const char *[]){"PING"}, (size_t[]){4},
                                         after_ping, NULL),
                 BK_EREDIS); /* not connected yet: refused, callback never runs */
    CHECK(run_until(&loop, client_up, &cctx, 3000));
    CHECK_EQ_INT(bk_redis_client_state(cctx.c), BK_REDIS_CONNECTED);
    for (intptr_t i = 0; i < 3; i++)
        CHECK_EQ_INT(bk_redis_client_command(cctx.c, 1, (const char *[]){"PING"}, (size_t[]){4},
                                             after_ping, (void *)i),
                     0);
    CHECK(run_until(&loop, client_closed, &cctx, 3000));
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(cctx.calls[i], 1);
    CHECK_EQ_INT(cctx.status[0], 0);
    CHECK_EQ_INT(cctx.status[1], BK_ECLOSED);
    CHECK_EQ_INT(cctx.status[2], BK_ECLOSED);
    loop_end(&loop);
    redis_cleanup(&r);
}

CHECK_MAIN(CASE(test_standalone), CASE(test_client_close_inside_reply),
           CASE(test_two_brokers_one_leader), CASE(test_redis_killed_then_back),
           CASE(test_flushall_under_leader), CASE(test_script_flush_keeps_leader),
           CASE(test_redis_absent_at_start), CASE(test_stop_from_on_change),
           CASE(test_restart_takes_over_own_lease))
