/* The election's in-sync replica set against a real redis-server (started here on a free
 * loopback port, in a temp dir, stopped by PID): the leader publishes and reads it back, a
 * publication is fenced once the leader key is not ours, a broker the ISR does not list can
 * never take the lease (unless unclean election is on), and non-leaders cannot publish; after
 * Redis lost its data, the ACQUIRE script elects only a broker that every registered memory
 * shows in the newest ISR, once every member of it has registered, at an epoch above every
 * one seen; and a publication that reaches Redis after a later one never replaces it. */
#include "brook/common.h"
#include "brook/election.h"
#include "election/isr_memory.h"
#include "election/scripts.h"

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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LEASE_MS 1000
#define RENEW_MS 300

/* ---- redis-server process ---------------------------------------------------------------- */

static redis_proc_t redis;

static void shared_redis_cleanup(void)
{
    redis_cleanup(&redis);
}

/* Starts the shared redis-server once (removed at exit). */
static void shared_redis_start(void)
{
    if (redis.pid > 0)
        return;
    atexit(shared_redis_cleanup);
    if (redis_start(&redis) != 0) {
        fprintf(stderr, "redis-server did not start\n");
        exit(2);
    }
}

static void redis_do(const char *fmt, const char *a, const char *b)
{
    redisReply *r = redis_cmd(redis.port, fmt, a, b);
    CHECK(r != NULL && r->type != REDIS_REPLY_ERROR);
    if (r)
        freeReplyObject(r);
}

/* The raw value of key, or "" (caller's buffer). */
static const char *redis_get(const char *key, char *buf, size_t cap)
{
    redisReply *r = redis_cmd(redis.port, "GET %s", key);
    buf[0] = '\0';
    if (r && r->type == REDIS_REPLY_STRING)
        snprintf(buf, cap, "%s", r->str);
    if (r)
        freeReplyObject(r);
    return buf;
}

/* ---- brokers on a loop ------------------------------------------------------------------- */

typedef struct {
    const char *id;
    const char *state_path; /* remembered ISR membership (NULL: memory only) */
    bk_election_t *e;
    int leader_seen; /* became leader at least once */
    int stopped;
} broker_t;

static void on_change(void *arg)
{
    broker_t *b = arg;
    bk_election_view_t v;
    bk_election_view(b->e, &v);
    if (v.role == BK_ROLE_LEADER)
        b->leader_seen = 1;
}

static void on_stopped(void *arg)
{
    ((broker_t *)arg)->stopped = 1;
}

static void start_broker(uv_loop_t *loop, broker_t *b, const char *cluster, int unclean)
{
    bk_election_config_t cfg;
    bk_election_config_defaults(&cfg);
    cfg.redis_host = "127.0.0.1";
    cfg.redis_port = redis.port;
    cfg.cluster = cluster;
    cfg.broker_id = b->id;
    cfg.advertised_url = "http://127.0.0.1:1";
    cfg.lease_ms = LEASE_MS;
    cfg.renew_ms = RENEW_MS;
    cfg.unclean = unclean;
    cfg.state_path = b->state_path;
    CHECK_EQ_INT(bk_election_start(loop, &cfg, on_change, b, &b->e), 0);
}

static void stop_broker(uv_loop_t *loop, broker_t *b)
{
    bk_election_stop(b->e, on_stopped, b);
    for (int i = 0; i < 300 && !b->stopped; i++)
        uv_run(loop, UV_RUN_ONCE);
    CHECK(b->stopped);
}

static void on_timeout(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

/* Runs the loop until *flag is set or ms pass. Returns *flag. */
static int run_until(uv_loop_t *loop, const int *flag, uint64_t ms)
{
    uv_timer_t t;
    int expired = 0;
    uv_timer_init(loop, &t);
    t.data = &expired;
    uv_timer_start(&t, on_timeout, ms, 0);
    while (!*flag && !expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *flag;
}

typedef struct {
    int done;
    int status;
    bk_election_isr_t isr;
} result_t;

static void after_publish(void *arg, int status)
{
    result_t *res = arg;
    CHECK(!res->done); /* exactly once */
    res->done = 1;
    res->status = status;
}

static void after_read(void *arg, int status, const bk_election_isr_t *isr)
{
    result_t *res = arg;
    CHECK(!res->done);
    res->done = 1;
    res->status = status;
    CHECK((status == 0) == (isr != NULL));
    if (isr)
        res->isr = *isr;
}

static int publish(uv_loop_t *loop, broker_t *b, const char *const *ids, int n)
{
    result_t res = {0};
    int rc = bk_election_publish_isr(b->e, ids, n, after_publish, &res);
    if (rc != 0)
        return rc;
    CHECK(!res.done); /* never from inside the call */
    CHECK(run_until(loop, &res.done, 2000));
    return res.status;
}

static bk_election_isr_t read_isr(uv_loop_t *loop, broker_t *b)
{
    result_t res = {0};
    CHECK_EQ_INT(bk_election_read_isr(b->e, after_read, &res), 0);
    CHECK(run_until(loop, &res.done, 2000));
    CHECK_EQ_INT(res.status, 0);
    return res.isr;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_publish_and_read(void)
{
    shared_redis_start();
    uv_loop_t loop;
    uv_loop_init(&loop);
    broker_t a = {.id = "A"};
    start_broker(&loop, &a, "t1", 0);
    CHECK(run_until(&loop, &a.leader_seen, 3000));
    bk_election_isr_t isr = read_isr(&loop, &a);
    CHECK_EQ_INT(isr.present, 0); /* a new cluster has none */

    const char *ids[] = {"A", "B/x", "C\"q"};
    CHECK_EQ_INT(publish(&loop, &a, ids, 3), 0);
    isr = read_isr(&loop, &a);
    bk_election_view_t v;
    bk_election_view(a.e, &v);
    CHECK_EQ_INT(isr.present, 1);
    CHECK_EQ_INT(isr.epoch, v.epoch);
    CHECK_EQ_STR(isr.leader, "A");
    CHECK_EQ_INT(isr.count, 3);
    CHECK_EQ_STR(isr.ids[0], "A");
    CHECK_EQ_STR(isr.ids[1], "B/x");
    CHECK_EQ_STR(isr.ids[2], "C\"q");

    CHECK_EQ_INT(publish(&loop, &a, ids, 1), 0); /* shrink */
    isr = read_isr(&loop, &a);
    CHECK_EQ_INT(isr.count, 1);
    char raw[256];
    CHECK(strstr(redis_get("t1:isr", raw, sizeof raw), "\"isr\":[\"A\"]") != NULL);

    CHECK_EQ_INT(publish(&loop, &a, ids, 0), BK_EINVAL);
    const char *bad[] = {""};
    CHECK_EQ_INT(publish(&loop, &a, bad, 1), BK_EINVAL);
    stop_broker(&loop, &a);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

/* The leader key no longer holds our id and epoch (expired and taken, or flushed): a late
 * publication must change nothing. */
static void test_publication_fenced(void)
{
    shared_redis_start();
    uv_loop_t loop;
    uv_loop_init(&loop);
    broker_t a = {.id = "A"};
    start_broker(&loop, &a, "t2", 0);
    CHECK(run_until(&loop, &a.leader_seen, 3000));
    const char *ids[] = {"A", "B"};
    CHECK_EQ_INT(publish(&loop, &a, ids, 2), 0);
    char before[256], after[256];
    redis_get("t2:isr", before, sizeof before);
    redis_do("SET %s %s", "t2:leader", "{\"id\":\"X\",\"epoch\":99,\"url\":\"\"}");
    int rc = publish(&loop, &a, ids, 1);
    CHECK(rc == BK_EFENCED || rc == BK_ENOTLEADER); /* the renew may have noticed first */
    CHECK_EQ_STR(redis_get("t2:isr", after, sizeof after), before);
    stop_broker(&loop, &a);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

/* A broker the ISR does not list never takes the lease; unclean election overrides. */
static void test_lagging_broker_never_elected(void)
{
    shared_redis_start();
    uv_loop_t loop;
    uv_loop_init(&loop);
    redis_do("SET %s %s", "t3:isr", "{\"epoch\":4,\"leader\":\"A\",\"isr\":[\"A\",\"C\"]}");
    broker_t b = {.id = "B"};
    start_broker(&loop, &b, "t3", 0);
    CHECK(!run_until(&loop, &b.leader_seen, 3 * LEASE_MS));
    char raw[256];
    CHECK_EQ_STR(redis_get("t3:leader", raw, sizeof raw), ""); /* nothing written */
    bk_election_view_t v;
    bk_election_view(b.e, &v);
    CHECK(v.role != BK_ROLE_LEADER);
    CHECK_EQ_INT(bk_election_publish_isr(b.e, (const char *const[]){"B"}, 1, after_publish, NULL),
                 BK_ENOTLEADER);

    broker_t c = {.id = "C"}; /* listed: elected at once, with an epoch above the ISR's */
    start_broker(&loop, &c, "t3", 0);
    CHECK(run_until(&loop, &c.leader_seen, 3000));
    bk_election_view(c.e, &v);
    CHECK(v.epoch > 4); /* never below the epoch that published the ISR */
    CHECK(!b.leader_seen);
    stop_broker(&loop, &c);
    stop_broker(&loop, &b);

    broker_t d = {.id = "D"}; /* unlisted but unclean */
    start_broker(&loop, &d, "t3", 1);
    CHECK(run_until(&loop, &d.leader_seen, 3000));
    stop_broker(&loop, &d);

    /* an unreadable ISR value never blocks an election */
    redis_do("SET %s %s", "t4:isr", "not json");
    broker_t e = {.id = "E"};
    start_broker(&loop, &e, "t4", 0);
    CHECK(run_until(&loop, &e.leader_seen, 3000));
    stop_broker(&loop, &e);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

static void test_standalone_has_no_isr(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_election_config_t cfg;
    bk_election_config_defaults(&cfg);
    cfg.standalone = 1;
    cfg.broker_id = "S";
    broker_t s = {.id = "S"};
    CHECK_EQ_INT(bk_election_start(&loop, &cfg, NULL, NULL, &s.e), 0);
    CHECK_EQ_INT(bk_election_publish_isr(s.e, (const char *const[]){"S"}, 1, after_publish, NULL),
                 BK_EINVAL);
    CHECK_EQ_INT(bk_election_read_isr(s.e, after_read, NULL), BK_EINVAL);
    stop_broker(&loop, &s);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

/* Contents of a small file, or "" (caller's buffer). */
static const char *file_text(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(buf, 1, cap - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void flushall(void)
{
    redisReply *r = redis_cmd(redis.port, "FLUSHALL");
    CHECK(r != NULL);
    if (r)
        freeReplyObject(r);
}

/* Redis loses its data (the ISR value with it), through the election on a loop, with
 * memories on disk. A broker that saw itself left out never leads, also after a restart; one
 * that saw itself listed waits until every member of that ISR has registered what it
 * remembers (here A, the leader that published it), then someone listed leads, above every
 * epoch seen; a broker that never saw anything (a new cluster) is not held back. */
static void test_election_after_redis_data_loss(void)
{
    shared_redis_start();
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[] = "/tmp/brook-isr-memory-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path_a[128], path_b[128], path_c[128], text[256], raw[256];
    snprintf(path_a, sizeof path_a, "%s/a", dir);
    snprintf(path_b, sizeof path_b, "%s/b", dir);
    snprintf(path_c, sizeof path_c, "%s/c", dir);
    /* A leader "A" holds the lease and has published {A, C}: B and C only read. */
    redis_do("SET %s %s", "t5:leader", "{\"id\":\"A\",\"epoch\":7,\"url\":\"\"}");
    redis_do("SET %s %s", "t5:isr",
             "{\"epoch\":7,\"version\":3,\"leader\":\"A\",\"isr\":[\"A\",\"C\"]}");
    broker_t b = {.id = "B", .state_path = path_b}, c = {.id = "C", .state_path = path_c};
    start_broker(&loop, &b, "t5", 0);
    start_broker(&loop, &c, "t5", 0);
    int never = 0;
    run_until(&loop, &never, 3 * RENEW_MS);
    CHECK_EQ_STR(file_text(path_b, text, sizeof text), "isr-listed 0\n");
    CHECK_EQ_STR(file_text(path_c, text, sizeof text), "isr-listed 1\n");
    snprintf(raw, sizeof raw, "%s-isr", path_c);
    CHECK_EQ_STR(file_text(raw, text, sizeof text),
                 "brook-isr-memory 1\nseen-epoch 7\nisr 7 3 A 2 A C\nend\n");
    stop_broker(&loop, &c);
    /* FLUSHALL: no leader, no ISR value. B, left out, waits; its restart changes nothing. */
    flushall();
    CHECK(!run_until(&loop, &b.leader_seen, 3 * LEASE_MS));
    stop_broker(&loop, &b);
    b.e = NULL;
    b.stopped = 0;
    start_broker(&loop, &b, "t5", 0);
    CHECK(!run_until(&loop, &b.leader_seen, 2 * LEASE_MS));
    CHECK_EQ_STR(redis_get("t5:leader", raw, sizeof raw), "");
    /* C comes back remembering it was listed: A, in that ISR, has not registered, and might
     * have published a newer one without C: C waits. */
    c.e = NULL;
    c.stopped = 0;
    start_broker(&loop, &c, "t5", 0);
    CHECK(!run_until(&loop, &c.leader_seen, 2 * LEASE_MS));
    CHECK_EQ_STR(redis_get("t5:leader", raw, sizeof raw), "");
    /* A comes back (remembering the same ISR, and epoch 7): A or C leads, above 7. */
    snprintf(raw, sizeof raw, "%s-isr", path_a);
    write_text(raw, "brook-isr-memory 1\nseen-epoch 7\nisr 7 3 A 2 A C\nend\n");
    broker_t a = {.id = "A", .state_path = path_a};
    start_broker(&loop, &a, "t5", 0);
    int either = 0;
    for (int i = 0; i < 100 && !either; i++) {
        run_until(&loop, &never, 50);
        either = a.leader_seen || c.leader_seen;
    }
    CHECK(either);
    bk_election_view_t v;
    bk_election_view((a.leader_seen ? a : c).e, &v);
    CHECK(v.epoch > 7);
    CHECK(!b.leader_seen);
    stop_broker(&loop, &a);
    stop_broker(&loop, &c);
    stop_broker(&loop, &b);
    /* A broker that never saw an ISR value (a new cluster) is not held back. */
    broker_t d = {.id = "D"};
    redis_do("DEL %s %s", "t6:isr", "t6:leader");
    start_broker(&loop, &d, "t6", 0);
    CHECK(run_until(&loop, &d.leader_seen, 3000));
    stop_broker(&loop, &d);
    for (const char *p = "abc"; *p; p++) {
        snprintf(raw, sizeof raw, "%s/%c", dir, *p);
        unlink(raw);
        snprintf(raw, sizeof raw, "%s/%c-isr", dir, *p);
        unlink(raw);
    }
    rmdir(dir);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

/* ---- the ACQUIRE script after a data loss, called as the broker calls it ----------------- */

/* A broker's memory as ACQUIRE's RTAIL: isr "-" for none, else "epoch version leader m1 m2"
 * (up to 4 members). */
typedef struct {
    const char *id;
    const char *lost;
    const char *seen;
    const char *isr;
    const char *unclean;
} cand_t;

/* EVALs ACQUIRE for c in cluster t9 (registration TTL ttl); returns the reply (caller frees). */
static redisReply *acquire(const cand_t *c, const char *ttl)
{
    char isr[128] = "-1 0 -";
    char *tok[8] = {0};
    int ntok = 0;
    if (strcmp(c->isr, "-") != 0)
        snprintf(isr, sizeof isr, "%s", c->isr);
    for (char *save = NULL, *t = strtok_r(isr, " ", &save); t && ntok < 8;
         t = strtok_r(NULL, " ", &save))
        tok[ntok++] = t;
    const char *argv[32];
    int n = 0;
    argv[n++] = "EVAL";
    argv[n++] = bk_scripts_source(BK_SCRIPT_ACQUIRE);
    argv[n++] = "4";
    argv[n++] = "t9:leader";
    argv[n++] = "t9:epoch";
    argv[n++] = "t9:isr";
    argv[n++] = "t9:brokers";
    argv[n++] = c->id;
    argv[n++] = "http://x";
    argv[n++] = "1000";
    argv[n++] = c->unclean ? c->unclean : "0";
    argv[n++] = "1";
    argv[n++] = "inst";
    argv[n++] = ttl;
    argv[n++] = c->seen ? c->seen : "0";
    argv[n++] = c->lost ? c->lost : "0";
    argv[n++] = tok[0];
    argv[n++] = tok[1];
    argv[n++] = strcmp(tok[2], "-") == 0 ? "" : tok[2];
    for (int i = 3; i < ntok; i++)
        argv[n++] = tok[i];
    struct timeval tv = {2, 0};
    redisContext *ctx = redisConnectWithTimeout("127.0.0.1", redis.port, tv);
    if (ctx == NULL || ctx->err) {
        if (ctx)
            redisFree(ctx);
        return NULL;
    }
    redisReply *r = redisCommandArgv(ctx, n, argv, NULL);
    redisFree(ctx);
    return r;
}

/* "won", or the refusal's "reason detail" (caller's buffer); *epoch the term's epoch. */
static const char *verdict_of(const cand_t *c, const char *ttl, char *buf, size_t cap,
                              int64_t *epoch)
{
    redisReply *r = acquire(c, ttl);
    bk_lease_holder_t h;
    bk_scripts_verdict_t v;
    int won = 0;
    int64_t counter = 0;
    snprintf(buf, cap, "malformed");
    if (r && bk_scripts_parse_holder(r, &won, &h, &counter, &v) == 0) {
        if (won)
            snprintf(buf, cap, "won");
        else
            snprintf(buf, cap, "%s %s", v.reason, v.detail);
        if (epoch)
            *epoch = h.epoch;
    } else if (r && r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "  script error: %s\n", r->str);
    }
    if (r)
        freeReplyObject(r);
    return buf;
}

static void reset_t9(void)
{
    redisReply *r = redis_cmd(redis.port, "DEL t9:leader t9:epoch t9:isr t9:brokers");
    if (r)
        freeReplyObject(r);
}

/* Scenario (a) of the issue, at the script: F remembers {L,F}; L remembers the newer {L}. */
static void test_script_after_loss_needs_every_member(void)
{
    shared_redis_start();
    char buf[256];
    int64_t epoch = 0;
    reset_t9();
    cand_t f = {.id = "F", .seen = "1", .isr = "1 1 L L F"};
    cand_t l = {.id = "L", .seen = "1", .isr = "1 2 L L"};
    CHECK_EQ_STR(verdict_of(&f, "60000", buf, sizeof buf, NULL), "waiting L");
    CHECK_EQ_STR(verdict_of(&l, "60000", buf, sizeof buf, &epoch), "won");
    CHECK_EQ_INT(epoch, 2); /* above every epoch registered, with no counter in Redis */
    redisReply *reg = redis_cmd(redis.port, "HGET t9:brokers L");
    CHECK(reg != NULL && reg->type == REDIS_REPLY_STRING &&
          strncmp(reg->str, "{\"seen\":2,", 10) == 0); /* the new term is remembered */
    if (reg)
        freeReplyObject(reg);
    /* Had L not won yet, F would be told L remembers a newer ISR without it. */
    redis_do("DEL %s %s", "t9:leader", "t9:isr");
    CHECK_EQ_STR(verdict_of(&f, "60000", buf, sizeof buf, NULL), "left-out L");

    /* Scenario (c): F remembers {L,F,G}@1; G led at 2 and remembers {G}@2; L never returns. */
    reset_t9();
    cand_t f3 = {.id = "F", .seen = "1", .isr = "1 4 L L F G"};
    cand_t g = {.id = "G", .seen = "2", .isr = "2 1 G G"};
    CHECK_EQ_STR(verdict_of(&f3, "60000", buf, sizeof buf, NULL), "waiting L");
    CHECK_EQ_STR(verdict_of(&g, "60000", buf, sizeof buf, &epoch), "won");
    CHECK_EQ_INT(epoch, 3); /* never the 2 G's term had */

    /* Every member registered, none newer: a listed member leads, above the highest seen. */
    reset_t9();
    cand_t a = {.id = "A", .seen = "4", .isr = "4 2 A A B"};
    cand_t b = {.id = "B", .seen = "9", .isr = "4 2 A A B"};
    CHECK_EQ_STR(verdict_of(&a, "60000", buf, sizeof buf, NULL), "waiting B");
    CHECK_EQ_STR(verdict_of(&b, "60000", buf, sizeof buf, &epoch), "won");
    CHECK_EQ_INT(epoch, 10);

    /* A memory that is lost neither leads nor vouches; unclean overrides. */
    reset_t9();
    cand_t alost = {.id = "A", .lost = "1", .seen = "4", .isr = "-"};
    CHECK_EQ_STR(verdict_of(&alost, "60000", buf, sizeof buf, NULL), "lost A");
    CHECK_EQ_STR(verdict_of(&b, "60000", buf, sizeof buf, NULL), "waiting A");
    cand_t bu = b;
    bu.unclean = "1";
    CHECK_EQ_STR(verdict_of(&bu, "60000", buf, sizeof buf, &epoch), "won");
    CHECK_EQ_INT(epoch, 10);
    /* Or the operator writes the set (README): the ordinary rule applies again. */
    redis_do("DEL %s %s", "t9:leader", "t9:epoch");
    redis_do("SET %s %s", "t9:isr",
             "{\"epoch\":10,\"version\":0,\"leader\":\"B\",\"isr\":[\"B\"]}");
    CHECK_EQ_STR(verdict_of(&alost, "60000", buf, sizeof buf, NULL), "not-listed B");
    CHECK_EQ_STR(verdict_of(&b, "60000", buf, sizeof buf, &epoch), "won");
    CHECK_EQ_INT(epoch, 11);

    /* A new cluster: nobody remembers anything. */
    reset_t9();
    cand_t n1 = {.id = "N1", .isr = "-"}, n2 = {.id = "N2", .isr = "-"};
    CHECK_EQ_STR(verdict_of(&n2, "60000", buf, sizeof buf, NULL), "won");
    reset_t9();
    CHECK_EQ_STR(verdict_of(&n1, "60000", buf, sizeof buf, &epoch), "won");
    CHECK_EQ_INT(epoch, 1);

    /* Registrations older than the TTL are ignored and removed. */
    reset_t9();
    redis_do("HSET t9:brokers %s %s", "Z",
             "{\"seen\":50,\"lost\":false,\"at\":1,\"isr\":{\"epoch\":50,\"version\":1,"
             "\"leader\":\"Z\",\"isr\":[\"Z\"]}}");
    CHECK_EQ_STR(verdict_of(&n1, "60000", buf, sizeof buf, &epoch), "won");
    CHECK_EQ_INT(epoch, 1);
    redisReply *r = redis_cmd(redis.port, "HEXISTS t9:brokers Z");
    CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 0);
    if (r)
        freeReplyObject(r);
    reset_t9();
}

/* A registration never says less than its broker knew: what Redis showed it (the ISR value in
 * a reply) and what it published are merged in, and an older memory never replaces a newer. */
static void test_script_registration_merges(void)
{
    shared_redis_start();
    char buf[256], raw[1024];
    reset_t9();
    redis_do("SET %s %s", "t9:leader", "{\"id\":\"L\",\"epoch\":3,\"url\":\"\"}");
    redis_do("SET %s %s", "t9:isr",
             "{\"epoch\":3,\"version\":5,\"leader\":\"L\",\"isr\":[\"L\",\"F\"]}");
    cand_t f = {.id = "F", .seen = "1", .isr = "1 1 L L F"};
    CHECK_EQ_STR(verdict_of(&f, "60000", buf, sizeof buf, NULL), " "); /* L holds the lease */
    redisReply *r = redis_cmd(redis.port, "HGET t9:brokers F");
    CHECK(r != NULL && r->type == REDIS_REPLY_STRING);
    if (r && r->type == REDIS_REPLY_STRING) {
        CHECK(strstr(r->str, "\"seen\":3,\"lost\":false") != NULL);
        CHECK(strstr(r->str, "\"isr\":{\"epoch\":3,\"version\":5,") != NULL);
    }
    if (r)
        freeReplyObject(r);
    /* L publishes {L} (version 6): its registration reports it at once. */
    r = redis_cmd(redis.port, "EVAL %s 3 t9:leader t9:isr t9:brokers L 3 6 60000 L",
                  bk_scripts_source(BK_SCRIPT_PUBLISH_ISR));
    CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1);
    if (r)
        freeReplyObject(r);
    r = redis_cmd(redis.port, "HGET t9:brokers L");
    CHECK(r != NULL && r->type == REDIS_REPLY_STRING &&
          strstr(r->str, "\"version\":6,\"leader\":\"L\",\"isr\":[\"L\"]") != NULL);
    if (r)
        freeReplyObject(r);
    /* The ISR value is lost; F, sending its older memory, is still known to lag. */
    redis_do("DEL %s %s", "t9:isr", "t9:leader");
    CHECK_EQ_STR(verdict_of(&f, "60000", buf, sizeof buf, NULL), "left-out L");
    (void)raw;
    reset_t9();
}

/* Runs PUBLISH_ISR as the broker sends it (leader A) with two members; returns its integer
 * reply, or -1. */
static long long eval_publish(const char *epoch, const char *version, const char *m1,
                              const char *m2)
{
    redisReply *r = redis_cmd(redis.port, "EVAL %s 3 %s %s %s %s %s %s %s %s %s",
                              bk_scripts_source(BK_SCRIPT_PUBLISH_ISR), "t7:leader", "t7:isr",
                              "t7:brokers", "A", epoch, version, "60000", m1, m2);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r)
        freeReplyObject(r);
    return v;
}

/* A leader's publication {A,F,G} was sent, its connection dropped on a timeout, {A,G} was
 * published on the next connection, and only then did the first one's bytes reach Redis: it
 * must not bring F back (F may lack writes acknowledged with {A,G}). The script keeps the
 * highest (epoch, version). */
static void test_late_publication_never_replaces_a_newer_one(void)
{
    shared_redis_start();
    char raw[256];
    redis_do("SET %s %s", "t7:leader", "{\"id\":\"A\",\"epoch\":5,\"url\":\"\"}");
    /* A value from before versions (or from an older term) is replaced. */
    redis_do("SET %s %s", "t7:isr", "{\"epoch\":5,\"leader\":\"A\",\"isr\":[\"A\"]}");
    CHECK_EQ_INT(eval_publish("5", "1", "A", "G"), 1);
    CHECK_EQ_INT(eval_publish("5", "3", "A", "G"), 1);
    CHECK(strstr(redis_get("t7:isr", raw, sizeof raw), "\"version\":3") != NULL);
    CHECK_EQ_INT(eval_publish("5", "2", "F", "G"), 2); /* the late one: refused */
    CHECK_EQ_INT(eval_publish("5", "3", "F", "G"), 2); /* a replay of the same number too */
    CHECK(strstr(redis_get("t7:isr", raw, sizeof raw), "\"isr\":[\"A\",\"G\"]") != NULL);
    CHECK_EQ_INT(eval_publish("5", "4", "A", "F"), 1); /* a later one is written */
    CHECK(strstr(redis_get("t7:isr", raw, sizeof raw), "\"isr\":[\"A\",\"F\"]") != NULL);
    /* A new term starts its numbers again, above any number of an older term. */
    redis_do("SET %s %s", "t7:leader", "{\"id\":\"A\",\"epoch\":6,\"url\":\"\"}");
    CHECK_EQ_INT(eval_publish("6", "1", "A", "G"), 1);
    CHECK(strstr(redis_get("t7:isr", raw, sizeof raw), "\"epoch\":6,\"version\":1") != NULL);
    CHECK_EQ_INT(eval_publish("5", "9", "A", "F"), 0); /* the old term is fenced as before */

    /* Through the election: each publication gets the next number. */
    uv_loop_t loop;
    uv_loop_init(&loop);
    broker_t a = {.id = "A"};
    start_broker(&loop, &a, "t8", 0);
    CHECK(run_until(&loop, &a.leader_seen, 3000));
    const char *ids[] = {"A", "B"};
    CHECK_EQ_INT(publish(&loop, &a, ids, 2), 0);
    CHECK_EQ_INT(publish(&loop, &a, ids, 1), 0);
    CHECK(strstr(redis_get("t8:isr", raw, sizeof raw), "\"version\":2,") != NULL);
    stop_broker(&loop, &a);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

CHECK_MAIN(CASE(test_publish_and_read), CASE(test_script_after_loss_needs_every_member),
           CASE(test_script_registration_merges),
           CASE(test_late_publication_never_replaces_a_newer_one), CASE(test_publication_fenced),
           CASE(test_lagging_broker_never_elected), CASE(test_standalone_has_no_isr),
           CASE(test_election_after_redis_data_loss))
