/* Topic creation off the loop thread (bk_log_topic_create_async): the topic appears only when
 * its files and metadata are durable, creations run one at a time in the order asked, later
 * creations of the same name join the one under way (after their own checks; the synchronous
 * call is refused meanwhile) as do waiters (bk_log_topic_await_creation), errors are reported
 * to every caller and leave no topic, and a log closed while creations run or wait reports
 * BK_ECLOSED to all of them, the one that ran being on disk for the next open. Growing a
 * topic off the loop (bk_log_topic_grow_async): the topic serves as before until the new
 * partitions are durable, growing or deleting it meanwhile is refused (UV_EBUSY) or waits
 * (bk_log_topic_await_growth), a failed job leaves it unchanged, a close waits for it. */
#include "log_fixture.h"

#include "log/topic.h"

typedef struct {
    int calls;
    int status;
    bk_topic_t *t;
    int seq; /* when it was called, counting all calls */
} created_t;

static int calls_so_far;

static void on_created(void *arg, int status, bk_topic_t *t)
{
    created_t *c = arg;
    c->calls++;
    c->status = status;
    c->t = t;
    c->seq = ++calls_so_far;
}

static void run_until(uv_loop_t *loop, const int *calls, int want)
{
    while (*calls < want)
        uv_run(loop, UV_RUN_ONCE);
}

static void test_create_join_and_persist(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    created_t first = {0}, joined = {0}, other = {0}, awaited = {0}, none = {0};
    CHECK_EQ_INT(bk_log_topic_create_async(log, "orders", 6, 3, NULL, on_created, &first), 0);
    CHECK_EQ_INT(bk_log_topic_create_async(log, "orders", 6, 9, NULL, on_created, &joined), 0);
    CHECK_EQ_INT(bk_log_topic_create_async(log, "orders", 6, BK_LOG_MAX_PARTITIONS + 1, NULL,
                                           on_created, &none),
                 BK_EINVAL); /* checked before joining */
    CHECK_EQ_INT(bk_log_topic_create_async(log, "other", 5, 1, NULL, on_created, &other), 0);
    CHECK_EQ_INT(bk_log_topic_await_creation(log, "orders", 6, on_created, &awaited), 0);
    CHECK_EQ_INT(bk_log_topic_await_creation(log, "nothing", 7, on_created, &none), UV_ENOENT);
    CHECK_EQ_INT(first.calls + joined.calls + other.calls + awaited.calls, 0); /* never at once */
    CHECK(bk_log_topic_find(log, "orders", 6) == NULL); /* not before it is durable */
    CHECK_EQ_INT(bk_log_topic_create(log, "orders", 6, 1, NULL), UV_EBUSY);
    run_until(&loop, &other.calls, 1);
    CHECK_EQ_INT(first.calls, 1);
    CHECK_EQ_INT(first.status, 0);
    CHECK_EQ_INT(joined.status, UV_EEXIST); /* the first one's topic, its partition count */
    CHECK_EQ_INT(awaited.status, UV_EEXIST);
    CHECK(first.t != NULL && joined.t == NULL && awaited.t == NULL);
    /* one at a time, in the order asked; callers of one creation in the order they came */
    CHECK(first.seq < joined.seq && joined.seq < awaited.seq && awaited.seq < other.seq);
    CHECK_EQ_INT(none.calls, 0);
    CHECK(bk_log_topic_find(log, "orders", 6) == first.t);
    CHECK_EQ_INT(bk_topic_partition_count(first.t), 3);
    CHECK_EQ_INT(other.status, 0);
    CHECK_EQ_INT(bk_log_topic_count(log), 2);
    CHECK(fx_exists(fx_path(dir, "orders.topic")));
    CHECK(fx_exists(fx_path(dir, "orders-2/00000000000000000000.log")));
    created_t again = {0};
    CHECK_EQ_INT(bk_log_topic_create_async(log, "orders", 6, 3, NULL, on_created, &again),
                 UV_EEXIST);

    /* The topic takes appends like any other. */
    fx_acks_t acks = {0};
    CHECK_EQ_INT(fx_append(bk_topic_partition(first.t, 1), NULL, "v", &acks, 0), 0);
    run_until(&loop, &acks.calls, 1);
    CHECK_EQ_INT(acks.status[0], 0);
    fx_close(&loop, log);
    CHECK_EQ_INT(again.calls, 0);

    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_topic_t *t = bk_log_topic_find(log, "orders", 6);
    CHECK(t != NULL);
    CHECK_EQ_INT(bk_topic_partition_count(t), 3);
    CHECK_EQ_INT((int)bk_partition_end_offset(bk_topic_partition(t, 1)), 1);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_refusals_and_failures(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_io_install();
    bk_log_io_set(&fx_io);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    created_t c = {0};
    CHECK_EQ_INT(bk_log_topic_create_async(log, "a/b", 3, 1, NULL, on_created, &c), BK_EINVAL);
    CHECK_EQ_INT(
        bk_log_topic_create_async(log, "big", 3, BK_LOG_MAX_PARTITIONS + 1, NULL, on_created, &c),
        BK_EINVAL);
    bk_topic_config_t bad;
    bk_log_topic_config_defaults(log, &bad);
    bad.segment_bytes = 0;
    CHECK_EQ_INT(bk_log_topic_create_async(log, "cfg", 3, 1, &bad, on_created, &c), BK_EINVAL);

    /* The job fails (no segment file can be created): one call with the error, no topic and
     * no metadata; a later creation of the name works. */
    atomic_store(&fx_fail_open, UV_ENOSPC);
    created_t failed = {0}, joined = {0};
    CHECK_EQ_INT(bk_log_topic_create_async(log, "t", 1, 2, NULL, on_created, &failed), 0);
    CHECK_EQ_INT(bk_log_topic_create_async(log, "t", 1, 2, NULL, on_created, &joined), 0);
    run_until(&loop, &joined.calls, 1);
    CHECK_EQ_INT(failed.calls, 1);
    CHECK_EQ_INT(failed.status, UV_ENOSPC);
    CHECK_EQ_INT(joined.status, UV_ENOSPC);
    CHECK(failed.t == NULL && joined.t == NULL);
    CHECK(bk_log_topic_find(log, "t", 1) == NULL);
    CHECK(!fx_exists(fx_path(dir, "t.topic")));
    atomic_store(&fx_fail_open, 0);
    created_t ok = {0};
    CHECK_EQ_INT(bk_log_topic_create_async(log, "t", 1, 2, NULL, on_created, &ok), 0);
    run_until(&loop, &ok.calls, 1);
    CHECK_EQ_INT(ok.status, 0);
    CHECK(bk_log_topic_find(log, "t", 1) == ok.t);
    CHECK_EQ_INT(c.calls, 0);
    fx_close(&loop, log);
    bk_log_io_set(NULL);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_close_while_creating(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    created_t c = {0}, queued = {0};
    CHECK_EQ_INT(bk_log_topic_create_async(log, "late", 4, 2, NULL, on_created, &c), 0);
    CHECK_EQ_INT(bk_log_topic_create_async(log, "never", 5, 2, NULL, on_created, &queued), 0);
    fx_close(&loop, log); /* returns only once the job has ended and the log is freed */
    CHECK_EQ_INT(c.calls, 1);
    CHECK_EQ_INT(c.status, BK_ECLOSED);
    CHECK(c.t == NULL);
    CHECK_EQ_INT(queued.calls, 1); /* waited behind it: never started */
    CHECK_EQ_INT(queued.status, BK_ECLOSED);
    CHECK(!fx_exists(fx_path(dir, "never.topic")));

    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    created_t refused = {0};
    CHECK_EQ_INT(bk_log_topic_count(log), 1); /* durable before the close: the open loads it */
    CHECK(bk_log_topic_find(log, "late", 4) != NULL);
    int closed = 0;
    bk_log_close(log, fx_on_closed, &closed);
    CHECK_EQ_INT(bk_log_topic_create_async(log, "x", 1, 1, NULL, on_created, &refused), BK_ECLOSED);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(closed, 1);
    CHECK_EQ_INT(refused.calls, 0);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_grow_off_the_loop(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_io_install();
    bk_log_io_set(&fx_io);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_topic_t *t = NULL;
    CHECK_EQ_INT(bk_log_topic_create(log, "g", 1, 2, &t), 0);
    bk_partition_t *p0 = bk_topic_partition(t, 0);
    created_t grown = {0}, awaited = {0}, none = {0};
    CHECK_EQ_INT(bk_log_topic_grow_async(log, t, 2, on_created, &none), BK_EINVAL);
    CHECK_EQ_INT(bk_log_topic_grow_async(log, t, BK_LOG_MAX_PARTITIONS + 1, on_created, &none),
                 BK_EINVAL);
    CHECK_EQ_INT(bk_log_topic_await_growth(log, t, on_created, &none), UV_ENOENT);
    CHECK_EQ_INT(bk_log_topic_grow_async(log, t, 6, on_created, &grown), 0);
    /* Under way: the topic keeps its partitions and takes appends; growing or deleting it
     * again waits. */
    CHECK_EQ_INT(bk_log_topic_grow_async(log, t, 7, on_created, &none), UV_EBUSY);
    CHECK_EQ_INT(bk_log_topic_add_partitions(log, t, 7), UV_EBUSY);
    CHECK_EQ_INT(bk_log_topic_delete(log, t), UV_EBUSY);
    CHECK_EQ_INT(bk_log_topic_await_growth(log, t, on_created, &awaited), 0);
    CHECK_EQ_INT(bk_topic_partition_count(t), 2);
    fx_acks_t acks = {0};
    CHECK_EQ_INT(fx_append(p0, NULL, "during", &acks, 0), 0);
    run_until(&loop, &awaited.calls, 1);
    CHECK_EQ_INT(grown.calls, 1);
    CHECK_EQ_INT(grown.status, 0);
    CHECK(grown.t == t && awaited.t == NULL && grown.seq < awaited.seq);
    CHECK_EQ_INT(awaited.status, 0);
    CHECK_EQ_INT(bk_topic_partition_count(t), 6);
    CHECK(bk_topic_partition(t, 0) == p0); /* existing partitions stay where they were */
    CHECK(fx_exists(fx_path(dir, "g-5/00000000000000000000.log")));
    CHECK_EQ_INT(fx_append(bk_topic_partition(t, 5), NULL, "new", &acks, 0), 0);
    run_until(&loop, &acks.calls, 2);
    CHECK_EQ_INT(acks.status[0], 0);
    CHECK_EQ_INT(acks.status[1], 0);

    /* A failed job: the error, the topic unchanged, the metadata still the old count. */
    atomic_store(&fx_fail_open, UV_ENOSPC);
    created_t failed = {0};
    CHECK_EQ_INT(bk_log_topic_grow_async(log, t, 9, on_created, &failed), 0);
    run_until(&loop, &failed.calls, 1);
    atomic_store(&fx_fail_open, 0);
    CHECK_EQ_INT(failed.status, UV_ENOSPC);
    CHECK_EQ_INT(bk_topic_partition_count(t), 6);
    CHECK_EQ_INT(bk_log_topic_delete(log, t), 0); /* no growth under way now */
    CHECK_EQ_INT(bk_log_topic_create(log, "h", 1, 1, &t), 0);
    created_t h = {0};
    CHECK_EQ_INT(bk_log_topic_grow_async(log, t, 3, on_created, &h), 0);
    run_until(&loop, &h.calls, 1);
    fx_close(&loop, log);
    CHECK_EQ_INT(none.calls, 0);

    /* Durable: the next open finds the grown topic. */
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    CHECK(bk_log_topic_find(log, "g", 1) == NULL);
    t = bk_log_topic_find(log, "h", 1);
    CHECK(t && bk_topic_partition_count(t) == 3);
    fx_close(&loop, log);
    bk_log_io_set(NULL);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_close_while_growing(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_topic_t *a = NULL, *b = NULL;
    CHECK_EQ_INT(bk_log_topic_create(log, "a", 1, 1, &a), 0);
    CHECK_EQ_INT(bk_log_topic_create(log, "b", 1, 1, &b), 0);
    created_t ran = {0}, queued = {0};
    CHECK_EQ_INT(bk_log_topic_grow_async(log, a, 4, on_created, &ran), 0);
    CHECK_EQ_INT(bk_log_topic_grow_async(log, b, 4, on_created, &queued), 0);
    fx_close(&loop, log);
    CHECK_EQ_INT(ran.calls, 1);
    CHECK_EQ_INT(ran.status, 0); /* it ran: durable, and the topic had it until freed */
    CHECK_EQ_INT(queued.calls, 1);
    CHECK_EQ_INT(queued.status, BK_ECLOSED);
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    CHECK_EQ_INT(bk_topic_partition_count(bk_log_topic_find(log, "a", 1)), 4);
    CHECK_EQ_INT(bk_topic_partition_count(bk_log_topic_find(log, "b", 1)), 1);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

CHECK_MAIN(CASE(test_create_join_and_persist), CASE(test_refusals_and_failures),
           CASE(test_close_while_creating), CASE(test_grow_off_the_loop),
           CASE(test_close_while_growing))
