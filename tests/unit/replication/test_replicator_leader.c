/* The replicator's leader side on one loop, with a real log in a temp dir and a real
 * redis-server (started here on a free loopback port, stopped by PID): fetches are served as
 * synthetic exchanges whose answers are captured from the response hook and decoded. Checks
 * the records and high watermark a follower gets, the ISR it joins (as Redis sees it),
 * acks=all waiters answered only once the follower holds the write (and never from inside
 * bk_replicator_wait), divergence answers, long polls woken by a commit, fencing, and a clean
 * stop. A standalone replicator is checked too. */
#include "brook/common.h"
#include "brook/election.h"
#include "brook/http_client.h"
#include "brook/log.h"
#include "brook/replication.h"
#include "brook/replicator.h"
#include "http/exchange.h"
#include "http/response.h"
#include "replication/replica_logic.h"

#include "check.h"
#include "redis_proc.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- redis-server and temp dirs ---------------------------------------------------------- */

static redis_proc_t redis;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    redis_cleanup(&redis);
}

static void shared_redis_start(void)
{
    if (redis.pid > 0)
        return; /* started by an earlier case */
    atexit(cleanup);
    if (redis_start(&redis) != 0) {
        fprintf(stderr, "redis-server did not start\n");
        exit(2);
    }
}

/* GET key through a blocking connection (test side only); "" when absent. */
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

/* ---- loop helpers ------------------------------------------------------------------------ */

static void on_timeout(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

/* Runs the loop until pred(arg) or ms pass; returns pred's last value. */
static int run_until(uv_loop_t *loop, int (*pred)(void *), void *arg, uint64_t ms)
{
    uv_timer_t t;
    int expired = 0;
    uv_timer_init(loop, &t);
    t.data = &expired;
    uv_timer_start(&t, on_timeout, ms, 0);
    int ok;
    while (!(ok = pred(arg)) && !expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}

static int flag_set(void *arg)
{
    return *(int *)arg;
}

static void run_for(uv_loop_t *loop, uint64_t ms)
{
    int never = 0;
    run_until(loop, flag_set, &never, ms);
}

/* ---- captured answers -------------------------------------------------------------------- */

static bk_exchange_t *answered[8];
static int nanswered;

static void on_ready(bk_exchange_t *ex)
{
    if (nanswered < 8)
        answered[nanswered++] = ex;
}

typedef struct {
    int status;
    uint8_t *body;
    size_t len;
    bk_fetch_resp_t resp;
    bk_fetch_resp_part_t part;   /* the first partition */
    bk_fetch_resp_part_t second; /* the second one, if any */
    int nparts;
    int ntopics;
} answer_t;

/* Takes the answer of ex (which must have been answered), releases ex. */
static void take_answer(bk_exchange_t *ex, answer_t *a)
{
    memset(a, 0, sizeof *a);
    CHECK(ex->state == BK_EX_RESPONDED);
    a->status = ex->status;
    const char *end = memmem(ex->out.data, ex->out.len, "\r\n\r\n", 4);
    CHECK(end != NULL);
    if (end) {
        size_t off = (size_t)(end + 4 - ex->out.data);
        a->len = ex->out.len - off;
        a->body = malloc(a->len + 1);
        memcpy(a->body, ex->out.data + off, a->len);
        a->body[a->len] = 0;
    }
    if (a->status == 200 && bk_fetch_response_decode(a->body, a->len, &a->resp) == 0) {
        a->ntopics = (int)a->resp.topic_count;
        bk_fetch_resp_t it = a->resp;
        bk_fetch_resp_part_t p;
        while (bk_fetch_response_next_part(&it, &p)) {
            if (a->nparts == 0)
                a->part = p;
            else if (a->nparts == 1)
                a->second = p;
            a->nparts++;
        }
    } else if (a->status == 200) {
        CHECK(!"undecodable fetch answer");
    }
    for (int i = 0; i < nanswered; i++)
        if (answered[i] == ex)
            answered[i] = answered[--nanswered];
    bk_exchange_release(ex);
}

static bk_fetch_buf_t bufs[8]; /* request bodies, alive until their exchange is answered */
static int nbufs;
static uint64_t fetch_topic_id;     /* the id fetch() gives topic "t" */
static uint64_t fetch_instance = 1; /* the process instance fetch() claims */

static bk_exchange_t *fetch(bk_replicator_t *r, const char *id, int64_t known_epoch, int64_t offset,
                            int32_t last_epoch, uint32_t wait_ms)
{
    bk_fetch_req_t req = {.known_epoch = known_epoch,
                          .id = id,
                          .id_len = strlen(id),
                          .instance = fetch_instance,
                          .max_wait_ms = wait_ms,
                          .max_bytes = 1 << 20};
    bk_fetch_req_part_t part = {"t", 1, 0, offset, last_epoch, fetch_topic_id};
    bk_fetch_buf_t *b = &bufs[nbufs++ & 7];
    bk_fetch_buf_free(b);
    CHECK_EQ_INT(bk_fetch_request_encode(b, &req, &part, 1), 0);
    bk_exchange_t *ex = bk_exchange_new();
    ex->body = b->data;
    ex->body_len = b->len;
    ex->keep_alive = 1;
    ex->state = BK_EX_DISPATCHED;
    bk_replicator_serve_fetch(r, ex);
    return ex;
}

/* A fetch of partitions first and second of "t" (in that order) from the given offsets (empty
 * logs assumed: last epoch -1 at offset 0, else epoch), asking for max_bytes of records. */
static bk_exchange_t *fetch2(bk_replicator_t *r, int64_t known_epoch, uint32_t first, int64_t off1,
                             uint32_t second, int64_t off2, int32_t epoch, uint32_t max_bytes,
                             size_t *req_len)
{
    bk_fetch_req_t req = {.known_epoch = known_epoch,
                          .id = "F",
                          .id_len = 1,
                          .instance = fetch_instance,
                          .max_wait_ms = 0,
                          .max_bytes = max_bytes};
    bk_fetch_req_part_t parts[2] = {{"t", 1, first, off1, off1 ? epoch : -1, fetch_topic_id},
                                    {"t", 1, second, off2, off2 ? epoch : -1, fetch_topic_id}};
    bk_fetch_buf_t *b = &bufs[nbufs++ & 7];
    bk_fetch_buf_free(b);
    CHECK_EQ_INT(bk_fetch_request_encode(b, &req, parts, 2), 0);
    *req_len = b->len;
    bk_exchange_t *ex = bk_exchange_new();
    ex->body = b->data;
    ex->body_len = b->len;
    ex->keep_alive = 1;
    ex->state = BK_EX_DISPATCHED;
    bk_replicator_serve_fetch(r, ex);
    return ex;
}

static void free_bufs(void)
{
    for (int i = 0; i < 8; i++)
        bk_fetch_buf_free(&bufs[i]);
    bk_exchange_pool_drain();
}

/* ---- pieces of a broker ------------------------------------------------------------------ */

typedef struct {
    int done;
    int status;
    int inside; /* set while bk_replicator_wait runs */
    int ran_inside;
} waiter_t;

static void after_wait(void *arg, int status)
{
    waiter_t *w = arg;
    CHECK(!w->done);
    w->ran_inside |= w->inside;
    w->done = 1;
    w->status = status;
}

static int wait_for(bk_replicator_t *r, bk_partition_t *p, int64_t end, waiter_t *w)
{
    memset(w, 0, sizeof *w);
    w->inside = 1;
    int rc = bk_replicator_wait(r, p, end, after_wait, w);
    w->inside = 0;
    return rc;
}

typedef struct {
    int done, status;
    int64_t base;
} append_t;

static void after_append(void *arg, int status, int64_t base)
{
    append_t *a = arg;
    a->done = 1;
    a->status = status;
    a->base = base;
}

static void append(uv_loop_t *loop, bk_partition_t *p, const char *value, int32_t epoch)
{
    bk_record_t rec = {NULL, -1, (const uint8_t *)value, (int32_t)strlen(value), NULL, 0, 0};
    append_t a = {0};
    CHECK_EQ_INT(bk_partition_append(p, &rec, 1, epoch, after_append, &a), 0);
    CHECK(run_until(loop, flag_set, &a.done, 3000));
    CHECK_EQ_INT(a.status, 0);
}

static bk_replicator_t *commit_target;

static void on_commit(void *arg, bk_partition_t *p)
{
    (void)arg;
    if (commit_target)
        bk_replicator_on_commit(commit_target, p);
}

static bk_replicator_t *change_target;
static int leader_now;

static void on_change(void *arg)
{
    bk_election_t **e = arg;
    bk_election_view_t v;
    bk_election_view(*e, &v);
    leader_now = v.role == BK_ROLE_LEADER;
    if (change_target)
        bk_replicator_on_election_change(change_target);
}

static int hw_hooks;

static void on_hw(void *arg, bk_partition_t *p)
{
    (void)arg;
    (void)p;
    hw_hooks++;
}

static void on_flag(void *arg)
{
    *(int *)arg = 1;
}

static const char *isr_key = "rt:isr";

static int isr_lists(void *arg)
{
    char buf[512];
    return strstr(redis_get(isr_key, buf, sizeof buf), (const char *)arg) != NULL;
}

static int64_t batches_end(const answer_t *a)
{
    int64_t end = -1;
    if (bk_repl_batches_end(a->part.records, a->part.records_len, &end) != 0)
        return -1;
    return end;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_leader_serves_fetches(void)
{
    shared_redis_start();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_http_set_ready_hook(on_ready);
    char dir[] = "/tmp/brook-repl-log-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);

    bk_log_config_t lc;
    bk_log_config_defaults(&lc);
    lc.data_dir = dir;
    bk_log_t *log = NULL;
    CHECK_EQ_INT(bk_log_open(&loop, &lc, &log), 0);
    bk_log_set_commit_hook(log, on_commit, NULL);
    bk_topic_t *t = NULL;
    CHECK_EQ_INT(bk_log_topic_create(log, "t", 1, 1, &t), 0);
    fetch_topic_id = bk_topic_id(t);
    bk_partition_t *p = bk_topic_partition(t, 0);

    bk_election_t *e = NULL;
    bk_election_config_t ec;
    bk_election_config_defaults(&ec);
    ec.redis_host = "127.0.0.1";
    ec.redis_port = redis.port;
    ec.cluster = "rt";
    ec.broker_id = "L";
    ec.advertised_url = "http://127.0.0.1:1";
    ec.lease_ms = 2000;
    ec.renew_ms = 500;
    CHECK_EQ_INT(bk_election_start(&loop, &ec, on_change, &e, &e), 0);
    CHECK(run_until(&loop, flag_set, &leader_now, 3000));
    bk_election_view_t v;
    bk_election_view(e, &v);
    int32_t epoch = (int32_t)v.epoch;

    append(&loop, p, "a", epoch);
    append(&loop, p, "b", epoch);
    append(&loop, p, "c", epoch);

    bk_http_client_t *client = NULL;
    CHECK_EQ_INT(bk_http_client_new(&loop, &client), 0);
    bk_replication_config_t rc;
    bk_replication_config_defaults(&rc);
    rc.broker_id = "L";
    rc.replica_lag_ms = 1000;
    bk_replicator_t *r = NULL;
    CHECK_EQ_INT(bk_replicator_new(&loop, log, e, client, &rc, &r), 0);
    bk_replicator_set_hw_hook(r, on_hw, NULL);
    commit_target = change_target = r;
    /* The new term publishes {L} before anything counts. */
    CHECK(run_until(&loop, isr_lists, "\"isr\":[\"L\"]", 3000));
    run_for(&loop, 50);
    CHECK_EQ_INT(bk_replicator_high_watermark(r, p), 3);
    CHECK_EQ_INT(bk_replicator_check_insync(r, p), 0);

    /* A new follower gets the topic, the leader's batches and HW. */
    answer_t a;
    take_answer(fetch(r, "F", v.epoch, 0, -1, 0), &a);
    CHECK_EQ_INT(a.status, 200);
    CHECK_EQ_INT(a.resp.error, BK_FETCH_OK);
    CHECK_EQ_INT(a.resp.leader_epoch, v.epoch);
    CHECK_EQ_INT(a.ntopics, 1);
    CHECK_EQ_INT(a.nparts, 1);
    CHECK_EQ_INT(a.part.error, BK_FETCH_PART_OK);
    CHECK_EQ_INT(a.part.diverging_end_offset, -1);
    CHECK_EQ_INT(a.part.high_watermark, 3);
    CHECK_EQ_INT(batches_end(&a), 3);
    free(a.body);

    /* Another process fetching as F while F is live, or as the leader itself, is refused:
     * one id, one replica. */
    fetch_instance = 2;
    take_answer(fetch(r, "F", v.epoch, 3, epoch, 0), &a);
    CHECK_EQ_INT(a.status, 409);
    CHECK(a.body && strstr((const char *)a.body, "in use by another process") != NULL);
    free(a.body);
    fetch_instance = 1;
    take_answer(fetch(r, "L", v.epoch, 3, epoch, 0), &a);
    CHECK_EQ_INT(a.status, 409);
    free(a.body);

    /* Caught up: it joins the ISR, and Redis lists it once published. */
    take_answer(fetch(r, "F", v.epoch, 3, epoch, 0), &a);
    CHECK_EQ_INT(a.part.records_len, 0);
    free(a.body);
    CHECK(run_until(&loop, isr_lists, "\"F\"", 3000));

    /* acks=all: a write is acknowledged only once F holds it; never from inside wait. */
    append(&loop, p, "d", epoch);
    waiter_t w;
    CHECK_EQ_INT(wait_for(r, p, 4, &w), 0);
    run_for(&loop, 50);
    CHECK(!w.done);
    CHECK_EQ_INT(bk_replicator_high_watermark(r, p), 3);
    /* F asking for an older topic of that name (another id): neither served nor counted. */
    fetch_topic_id ^= 1;
    take_answer(fetch(r, "F", v.epoch, 4, epoch, 0), &a);
    fetch_topic_id ^= 1;
    CHECK_EQ_INT(a.part.error, BK_FETCH_PART_UNKNOWN);
    CHECK_EQ_INT(a.part.records_len, 0);
    free(a.body);
    run_for(&loop, 20);
    CHECK(!w.done);
    CHECK_EQ_INT(bk_replicator_high_watermark(r, p), 3);
    int hooks = hw_hooks;
    take_answer(fetch(r, "F", v.epoch, 3, epoch, 0), &a);
    CHECK_EQ_INT(batches_end(&a), 4);
    free(a.body);
    CHECK(!w.done);
    take_answer(fetch(r, "F", v.epoch, 4, epoch, 0), &a);
    free(a.body);
    CHECK(w.done && w.status == 0 && !w.ran_inside);
    CHECK(hw_hooks > hooks);
    CHECK_EQ_INT(bk_replicator_high_watermark(r, p), 4);
    waiter_t w2;
    CHECK_EQ_INT(wait_for(r, p, 4, &w2), 0); /* already covered: later, not inside */
    CHECK(!w2.done);
    run_for(&loop, 20);
    CHECK(w2.done && w2.status == 0 && !w2.ran_inside);

    /* A follower with a longer tail of our epoch must truncate to our end. */
    take_answer(fetch(r, "G", v.epoch, 9, epoch, 0), &a);
    CHECK_EQ_INT(a.part.diverging_end_offset, 4);
    CHECK_EQ_INT(a.part.records_len, 0);
    free(a.body);
    /* ... and one whose last epoch we never had, to where our older epoch ends. */
    take_answer(fetch(r, "G", v.epoch, 2, epoch + 7, 0), &a);
    CHECK_EQ_INT(a.part.diverging_end_offset, 4);
    free(a.body);

    /* A caught-up follower's fetch waits; a commit answers it with the new batch. */
    bk_exchange_t *parked = fetch(r, "F", v.epoch, 4, epoch, 5000);
    run_for(&loop, 50);
    CHECK(parked->state == BK_EX_DISPATCHED);
    append(&loop, p, "e", epoch);
    run_for(&loop, 20);
    CHECK(parked->state == BK_EX_RESPONDED);
    take_answer(parked, &a);
    CHECK_EQ_INT(batches_end(&a), 5);
    free(a.body);

    /* A follower that knows a newer epoch fences us; an unknown partition is reported. */
    take_answer(fetch(r, "F", v.epoch + 1, 5, epoch, 0), &a);
    CHECK_EQ_INT(a.resp.error, BK_FETCH_EFENCED);
    free(a.body);

    /* F stops fetching: after the lag it leaves the ISR (published), and the HW moves with
     * the leader alone. min_insync 2 refuses then. */
    waiter_t w3;
    CHECK_EQ_INT(wait_for(r, p, 5, &w3), 0);
    CHECK(run_until(&loop, isr_lists, "\"isr\":[\"L\"]", 4000));
    CHECK(run_until(&loop, flag_set, &w3.done, 1000));
    CHECK_EQ_INT(w3.status, 0);
    /* Silent for over a second after its last answer, F's process counts as gone: F's id
     * goes to the next process that fetches as F (a restart); the old one is refused from
     * then on. */
    run_for(&loop, 1100);
    fetch_instance = 3;
    take_answer(fetch(r, "F", v.epoch, 5, epoch, 0), &a);
    CHECK_EQ_INT(a.status, 200);
    free(a.body);
    fetch_instance = 1;
    take_answer(fetch(r, "F", v.epoch, 5, epoch, 0), &a);
    CHECK_EQ_INT(a.status, 409);
    free(a.body);
    fetch_instance = 3;

    /* Stop with a fetch parked and a waiter pending. */
    append(&loop, p, "f", epoch);
    take_answer(fetch(r, "F", v.epoch, 6, epoch, 0), &a); /* F (in sync again) has it */
    free(a.body);
    parked = fetch(r, "F", v.epoch, 6, epoch, 5000);
    run_for(&loop, 20);
    CHECK(parked->state == BK_EX_DISPATCHED);
    waiter_t w4;
    CHECK_EQ_INT(wait_for(r, p, 7, &w4), 0); /* beyond the end: never covered */
    int stopped = 0;
    commit_target = change_target = NULL;
    bk_replicator_stop(r, on_flag, &stopped);
    CHECK(w4.done && w4.status == BK_ENOTLEADER);
    CHECK(parked->state == BK_EX_RESPONDED);
    take_answer(parked, &a);
    CHECK_EQ_INT(a.resp.error, BK_FETCH_ENOTLEADER);
    free(a.body);
    CHECK(run_until(&loop, flag_set, &stopped, 2000));

    int closed = 0;
    bk_http_client_close(client, on_flag, &closed);
    CHECK(run_until(&loop, flag_set, &closed, 2000));
    int estopped = 0;
    bk_election_stop(e, on_flag, &estopped);
    CHECK(run_until(&loop, flag_set, &estopped, 3000));
    int lclosed = 0;
    bk_log_close(log, on_flag, &lclosed);
    CHECK(run_until(&loop, flag_set, &lclosed, 3000));
    run_for(&loop, 10);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free_bufs();
}

/* A leader with its log, election (cluster "rm" on the shared Redis) and replicator, and a
 * follower F in the ISR as Redis sees it; torn down by cluster_down. */
typedef struct {
    uv_loop_t loop;
    char dir[32];
    bk_log_t *log;
    bk_topic_t *t;
    bk_partition_t *p;
    bk_election_t *e;
    bk_http_client_t *client;
    bk_replicator_t *r;
    int64_t epoch;
} cluster_t;

static void cluster_up(cluster_t *c, const char *cluster, uint32_t partitions,
                       const bk_replication_config_t *rc)
{
    shared_redis_start();
    uv_loop_init(&c->loop);
    bk_http_set_ready_hook(on_ready);
    snprintf(c->dir, sizeof c->dir, "/tmp/brook-repl-log-XXXXXX");
    CHECK(mkdtemp(c->dir) != NULL);
    bk_log_config_t lc;
    bk_log_config_defaults(&lc);
    lc.data_dir = c->dir;
    CHECK_EQ_INT(bk_log_open(&c->loop, &lc, &c->log), 0);
    bk_log_set_commit_hook(c->log, on_commit, NULL);
    CHECK_EQ_INT(bk_log_topic_create(c->log, "t", 1, partitions, &c->t), 0);
    fetch_topic_id = bk_topic_id(c->t);
    c->p = bk_topic_partition(c->t, 0);
    bk_election_config_t ec;
    bk_election_config_defaults(&ec);
    ec.redis_host = "127.0.0.1";
    ec.redis_port = redis.port;
    ec.cluster = cluster;
    ec.broker_id = "L";
    ec.advertised_url = "http://127.0.0.1:1";
    /* Long: a test serves fetches of tens of MiB without running the loop in between, so
     * nothing renews the lease then; under ASan on a busy machine that took past 2 s and the
     * leader, its lease lapsed, answered "not the leader". No test here waits for expiry. */
    ec.lease_ms = 15000;
    ec.renew_ms = 1000;
    leader_now = 0;
    CHECK_EQ_INT(bk_election_start(&c->loop, &ec, on_change, &c->e, &c->e), 0);
    CHECK(run_until(&c->loop, flag_set, &leader_now, 3000));
    bk_election_view_t v;
    bk_election_view(c->e, &v);
    c->epoch = v.epoch;
    CHECK_EQ_INT(bk_http_client_new(&c->loop, &c->client), 0);
    CHECK_EQ_INT(bk_replicator_new(&c->loop, c->log, c->e, c->client, rc, &c->r), 0);
    commit_target = change_target = c->r;
    char key[64];
    snprintf(key, sizeof key, "%s:isr", cluster);
    isr_key = strdup(key);
    CHECK(run_until(&c->loop, isr_lists, "\"isr\":[\"L\"]", 3000));
}

static void cluster_down(cluster_t *c)
{
    int stopped = 0;
    commit_target = change_target = NULL;
    if (c->r != NULL) {
        bk_replicator_stop(c->r, on_flag, &stopped);
        CHECK(run_until(&c->loop, flag_set, &stopped, 2000));
    }
    int closed = 0;
    bk_http_client_close(c->client, on_flag, &closed);
    CHECK(run_until(&c->loop, flag_set, &closed, 2000));
    int estopped = 0;
    bk_election_stop(c->e, on_flag, &estopped);
    CHECK(run_until(&c->loop, flag_set, &estopped, 3000));
    int lclosed = 0;
    bk_log_close(c->log, on_flag, &lclosed);
    CHECK(run_until(&c->loop, flag_set, &lclosed, 3000));
    run_for(&c->loop, 10);
    CHECK_EQ_INT(uv_loop_close(&c->loop), 0);
    nftw(c->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free_bufs();
    free((char *)isr_key);
    isr_key = "rt:isr";
}

/* Issue 9, D8: --min-insync-replicas is checked again when the write is replicated. With a
 * minimum of 2, a write appended while F was in sync, whose HW passes it only once F has left
 * the ISR (the leader alone), is answered BK_ENOREPLICAS, never 0; so is a wait registered
 * when that has already happened. Once F is back in sync, writes are acknowledged again. */
static void test_min_insync_after_append(void)
{
    cluster_t c;
    bk_replication_config_t rc;
    bk_replication_config_defaults(&rc);
    rc.broker_id = "L";
    rc.replica_lag_ms = 600;
    rc.min_insync = 2;
    cluster_up(&c, "rm", 1, &rc);
    int32_t epoch = (int32_t)c.epoch;
    answer_t a;
    take_answer(fetch(c.r, "F", c.epoch, 0, -1, 0), &a);
    free(a.body);
    CHECK(run_until(&c.loop, isr_lists, "\"F\"", 3000));
    CHECK_EQ_INT(bk_replicator_check_insync(c.r, c.p), 0);

    append(&c.loop, c.p, "a", epoch);
    waiter_t w;
    CHECK_EQ_INT(wait_for(c.r, c.p, 1, &w), 0);
    take_answer(fetch(c.r, "F", c.epoch, 1, epoch, 0), &a); /* F holds it: acknowledged */
    free(a.body);
    CHECK(run_until(&c.loop, flag_set, &w.done, 1000));
    CHECK_EQ_INT(w.status, 0);

    /* F goes silent with the write appended: the ISR shrinks to {L}, the HW passes it. */
    append(&c.loop, c.p, "b", epoch);
    CHECK_EQ_INT(wait_for(c.r, c.p, 2, &w), 0);
    CHECK(run_until(&c.loop, isr_lists, "\"isr\":[\"L\"]", 4000));
    CHECK(run_until(&c.loop, flag_set, &w.done, 1000));
    CHECK_EQ_INT(w.status, BK_ENOREPLICAS);
    CHECK(!w.ran_inside);
    CHECK_EQ_INT(bk_replicator_high_watermark(c.r, c.p), 2);
    /* Appended under the minimum already passed: refused at once, not acknowledged. */
    CHECK_EQ_INT(bk_replicator_check_insync(c.r, c.p), UV_EAGAIN);
    append(&c.loop, c.p, "c", epoch);
    CHECK_EQ_INT(wait_for(c.r, c.p, 3, &w), BK_ENOREPLICAS);
    CHECK(!w.done);

    /* F back and caught up: in sync again, acknowledged again. */
    take_answer(fetch(c.r, "F", c.epoch, 3, epoch, 0), &a);
    free(a.body);
    CHECK(run_until(&c.loop, isr_lists, "\"F\"", 3000));
    append(&c.loop, c.p, "d", epoch);
    CHECK_EQ_INT(wait_for(c.r, c.p, 4, &w), 0);
    take_answer(fetch(c.r, "F", c.epoch, 4, epoch, 0), &a);
    free(a.body);
    CHECK(run_until(&c.loop, flag_set, &w.done, 1000));
    CHECK_EQ_INT(w.status, 0);
    cluster_down(&c);
}

/* Appends count records of size bytes to p as one batch. */
static void append_big(uv_loop_t *loop, bk_partition_t *p, uint32_t count, size_t size,
                       int32_t epoch)
{
    uint8_t *v = malloc(size);
    memset(v, 'x', size);
    bk_record_t *recs = calloc(count, sizeof *recs);
    for (uint32_t i = 0; i < count; i++)
        recs[i] = (bk_record_t){NULL, -1, v, (int32_t)size, NULL, 0, 0};
    append_t a = {0};
    CHECK_EQ_INT(bk_partition_append(p, recs, count, epoch, after_append, &a), 0);
    CHECK(run_until(loop, flag_set, &a.done, 20000));
    CHECK_EQ_INT(a.status, 0);
    free(recs);
    free(v);
}

/* Issue 9, D4: nine 0.9 MiB batches in partition 0 and one 63 MiB batch in partition 1. An
 * answer stops adding once its record budget is spent, so it stays within what the follower's
 * client accepts; the large batch still goes, alone, once its partition is the first with
 * data: every fetch makes progress. */
static void test_answers_bounded_and_progress(void)
{
    cluster_t c;
    bk_replication_config_t rc;
    bk_replication_config_defaults(&rc);
    rc.broker_id = "L";
    cluster_up(&c, "rb", 2, &rc);
    int32_t epoch = (int32_t)c.epoch;
    bk_partition_t *p1 = bk_topic_partition(c.t, 1);
    size_t mib9 = (size_t)(0.9 * (1 << 20));
    for (int i = 0; i < 9; i++)
        append_big(&c.loop, c.p, 1, mib9, epoch);
    append_big(&c.loop, p1, 70, mib9, epoch);
    uint32_t max = 8u << 20;
    size_t req_len = 0;
    answer_t a;
    take_answer(fetch2(c.r, c.epoch, 0, 0, 1, 0, epoch, max, &req_len), &a);
    CHECK_EQ_INT(a.status, 200);
    CHECK_EQ_INT(a.nparts, 2);
    CHECK(a.part.records_len > 0 && a.part.records_len <= max);
    CHECK_EQ_INT(a.second.records_len, 0); /* would pass the budget: not now */
    CHECK(a.len <= max + (64u << 10));
    CHECK(a.len <= bk_repl_answer_cap(max, req_len));
    int64_t end0 = batches_end(&a);
    CHECK(end0 >= 8 && end0 < 9);
    free(a.body);
    /* The rest of partition 0 first: the large batch still does not fit after it. */
    take_answer(fetch2(c.r, c.epoch, 0, end0, 1, 0, epoch, max, &req_len), &a);
    CHECK_EQ_INT(batches_end(&a), 9);
    CHECK_EQ_INT(a.second.records_len, 0);
    free(a.body);
    /* Partition 1 first with data (the follower rotates its list, or 0 is done): the 63 MiB
     * batch alone, within the follower's cap. */
    take_answer(fetch2(c.r, c.epoch, 1, 0, 0, 9, epoch, max, &req_len), &a);
    CHECK_EQ_INT(batches_end(&a), 70);
    CHECK(a.part.records_len > 60u << 20);
    CHECK_EQ_INT(a.second.records_len, 0);
    CHECK(a.len <= bk_repl_answer_cap(max, req_len));
    free(a.body);
    take_answer(fetch2(c.r, c.epoch, 0, 0, 1, 0, epoch, max, &req_len), &a);
    CHECK(a.part.records_len > 0); /* ... and first in the list, whatever comes after */
    free(a.body);
    cluster_down(&c);
}

/* Issue 9, D6: a topic change is confirmed only once the in-sync follower's fetch lists
 * exactly the leader's topics and partitions; parked fetches are woken by the change. */
static void test_topic_changes_confirmed_by_fetches(void)
{
    cluster_t c;
    bk_replication_config_t rc;
    bk_replication_config_defaults(&rc);
    rc.broker_id = "L";
    rc.replica_lag_ms = 3000;
    cluster_up(&c, "rd", 1, &rc);
    answer_t a;
    take_answer(fetch(c.r, "F", c.epoch, 0, -1, 0), &a);
    free(a.body);
    CHECK(run_until(&c.loop, isr_lists, "\"F\"", 3000));
    bk_exchange_t *parked = fetch(c.r, "F", c.epoch, 0, -1, 5000);
    run_for(&c.loop, 20);
    CHECK(parked->state == BK_EX_DISPATCHED);

    bk_topic_t *u = NULL;
    CHECK_EQ_INT(bk_log_topic_create(c.log, "u", 1, 1, &u), 0);
    waiter_t w1, w2;
    memset(&w1, 0, sizeof w1);
    w1.inside = 1;
    CHECK_EQ_INT(bk_replicator_topics_changed(c.r, after_wait, &w1), 0);
    w1.inside = 0;
    CHECK(parked->state == BK_EX_RESPONDED); /* woken: F learns of "u" now */
    take_answer(parked, &a);
    CHECK_EQ_INT(a.ntopics, 2);
    free(a.body);
    take_answer(fetch(c.r, "F", c.epoch, 0, -1, 0), &a); /* F without "u": not confirmed */
    free(a.body);
    run_for(&c.loop, 50);
    CHECK(!w1.done);

    /* "u" deleted again: F listing only "t" is in step with both changes. */
    CHECK_EQ_INT(bk_log_topic_delete(c.log, u), 0);
    memset(&w2, 0, sizeof w2);
    CHECK_EQ_INT(bk_replicator_topics_changed(c.r, after_wait, &w2), 0);
    CHECK(!w1.done && !w2.done);
    take_answer(fetch(c.r, "F", c.epoch, 0, -1, 0), &a);
    free(a.body);
    CHECK(w1.done && w1.status == 0 && !w1.ran_inside);
    CHECK(w2.done && w2.status == 0);

    /* Unconfirmed when the term ends: the waiter hears it. */
    waiter_t w3;
    memset(&w3, 0, sizeof w3);
    CHECK_EQ_INT(bk_replicator_topics_changed(c.r, after_wait, &w3), 0);
    int stopped = 0;
    commit_target = change_target = NULL;
    bk_replicator_stop(c.r, on_flag, &stopped);
    CHECK(w3.done && w3.status == BK_ENOTLEADER); /* the term ends with the stop */
    CHECK(run_until(&c.loop, flag_set, &stopped, 2000));
    c.r = NULL;
    cluster_down(&c);
}

static void test_standalone(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_http_set_ready_hook(on_ready);
    char dir[] = "/tmp/brook-repl-log-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    bk_log_config_t lc;
    bk_log_config_defaults(&lc);
    lc.data_dir = dir;
    bk_log_t *log = NULL;
    CHECK_EQ_INT(bk_log_open(&loop, &lc, &log), 0);
    bk_log_set_commit_hook(log, on_commit, NULL);
    bk_topic_t *t = NULL;
    CHECK_EQ_INT(bk_log_topic_create(log, "t", 1, 1, &t), 0);
    fetch_topic_id = bk_topic_id(t);
    bk_partition_t *p = bk_topic_partition(t, 0);

    bk_election_t *e = NULL;
    bk_election_config_t ec;
    bk_election_config_defaults(&ec);
    ec.standalone = 1;
    ec.broker_id = "S";
    CHECK_EQ_INT(bk_election_start(&loop, &ec, NULL, NULL, &e), 0);
    bk_replication_config_t rc;
    bk_replication_config_defaults(&rc);
    rc.broker_id = "S";
    rc.min_insync = 2; /* meaningless alone */
    bk_replicator_t *r = NULL;
    CHECK_EQ_INT(bk_replicator_new(&loop, log, e, NULL, &rc, &r), 0);
    commit_target = r;
    hw_hooks = 0;
    bk_replicator_set_hw_hook(r, on_hw, NULL);
    CHECK_EQ_INT(bk_replicator_check_insync(r, p), 0);
    append(&loop, p, "a", 1);
    CHECK_EQ_INT(bk_replicator_high_watermark(r, p), 1);
    CHECK(hw_hooks >= 1);
    waiter_t w;
    CHECK_EQ_INT(wait_for(r, p, 1, &w), 0);
    CHECK(!w.done);
    run_for(&loop, 20);
    CHECK(w.done && w.status == 0 && !w.ran_inside);
    CHECK_EQ_INT(wait_for(r, p, 2, &w), 0);
    append(&loop, p, "b", 1);
    CHECK(w.done && w.status == 0);
    answer_t a;
    take_answer(fetch(r, "F", 1, 0, -1, 0), &a);
    CHECK_EQ_INT(a.resp.error, BK_FETCH_ENOTLEADER);
    free(a.body);
    bk_replica_info_t ri[4];
    CHECK_EQ_INT(bk_replicator_replicas(r, p, ri, 4), 1);
    CHECK_EQ_STR(ri[0].broker, "S");
    CHECK(ri[0].leader && ri[0].in_sync);

    int stopped = 0;
    commit_target = NULL;
    bk_replicator_stop(r, on_flag, &stopped);
    CHECK(run_until(&loop, flag_set, &stopped, 2000));
    int estopped = 0;
    bk_election_stop(e, on_flag, &estopped);
    CHECK(run_until(&loop, flag_set, &estopped, 2000));
    int lclosed = 0;
    bk_log_close(log, on_flag, &lclosed);
    CHECK(run_until(&loop, flag_set, &lclosed, 3000));
    run_for(&loop, 10);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free_bufs();
}

CHECK_MAIN(CASE(test_standalone), CASE(test_leader_serves_fetches),
           CASE(test_min_insync_after_append), CASE(test_answers_bounded_and_progress),
           CASE(test_topic_changes_confirmed_by_fetches))
