/* Retention on real files: sealed segments whose newest record is older than retention.ms go,
 * oldest first; retention.bytes deletes the oldest sealed segments while the partition is
 * larger; the active segment never goes; the start offset moves to the first remaining segment
 * and reads below it get BK_ERANGE; all of it survives a reopen; the timer and the pass at open
 * run it without being asked. */
#include "log_fixture.h"

#include "log/log_internal.h"

#define DAY 86400000LL

/* Appends one record with the given timestamp and value, runs the loop until durable. */
static void put(uv_loop_t *loop, bk_partition_t *p, int64_t ts, const char *value)
{
    bk_record_t r = {NULL, -1, (const uint8_t *)value, (int32_t)strlen(value), NULL, 0, ts};
    fx_acks_t acks = {0};
    fx_args[0] = (fx_ack_arg_t){&acks, 0};
    CHECK_EQ_INT(bk_partition_append(p, &r, 1, 1, fx_on_append, &fx_args[0]), 0);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 1);
    CHECK_EQ_INT(acks.status[0], 0);
}

static int seg_exists(const char *dir, const char *topic, int64_t base)
{
    char rel[128];
    snprintf(rel, sizeof rel, "%s-0/%020lld.log", topic, (long long)base);
    return fx_exists(fx_path(dir, rel));
}

/* Each ~80-byte batch gets its own segment when segment.bytes is 100. */
static bk_partition_t *topic_with(bk_log_t *log, const char *name, int64_t retention_ms,
                                  int64_t retention_bytes)
{
    bk_topic_config_t c;
    bk_log_topic_config_defaults(log, &c);
    c.segment_bytes = 100;
    c.retention_ms = retention_ms;
    c.retention_bytes = retention_bytes;
    bk_topic_t *t = NULL;
    CHECK_EQ_INT(bk_log_topic_create_with(log, name, strlen(name), 1, &c, &t), 0);
    return t ? bk_topic_partition(t, 0) : NULL;
}

static void test_by_time(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_partition_t *p = topic_with(log, "age", 7 * DAY, -1);
    int64_t now = bk_wall_ms();
    put(&loop, p, now - 10 * DAY, "ten-days-old-record-0");
    put(&loop, p, now - 9 * DAY, "nine-days-old-record-1");
    put(&loop, p, now - 1 * DAY, "one-day-old-record-2");
    put(&loop, p, now - 20 * DAY, "odd-old-record-3"); /* behind a young one: stays */
    put(&loop, p, now - 20 * DAY, "active-but-old-4");
    CHECK(seg_exists(dir, "age", 0) && seg_exists(dir, "age", 4));
    uint64_t before = bk_partition_size_bytes(p);

    CHECK_EQ_INT(bk_log_retention_run(log, now), 2);
    CHECK_EQ_INT(bk_partition_start_offset(p), 2); /* moved at once, files go on the pool */
    CHECK(bk_partition_size_bytes(p) < before);
    fx_read_t rd;
    int64_t next;
    CHECK_EQ_INT(bk_partition_read(p, 0, 0, 0, fx_on_record, &rd, &next), BK_ERANGE);
    CHECK_EQ_INT(bk_partition_read(p, 1, 0, 0, fx_on_record, &rd, &next), BK_ERANGE);
    CHECK_EQ_INT(fx_read_all(p, 2, &rd), 3);
    CHECK_EQ_STR(rd.values[0], "one-day-old-record-2");
    uv_run(&loop, UV_RUN_DEFAULT); /* the deleting job */
    CHECK(!seg_exists(dir, "age", 0) && !seg_exists(dir, "age", 1));
    CHECK(!fx_exists(fx_path(dir, "age-0/00000000000000000000.index")));
    CHECK(seg_exists(dir, "age", 2) && seg_exists(dir, "age", 4));
    bk_log_stats_t st;
    bk_log_stats(log, &st);
    CHECK_EQ_INT(st.segments_deleted, 2);

    /* A day later the young segment has aged: everything sealed goes, the active one stays
     * although its record is old. */
    CHECK_EQ_INT(bk_log_retention_run(log, now + 7 * DAY), 2);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(bk_partition_start_offset(p), 4);
    CHECK(seg_exists(dir, "age", 4));
    CHECK_EQ_INT(bk_log_retention_run(log, now + 700 * DAY), 0);
    CHECK_EQ_INT(fx_read_all(p, 4, &rd), 1);
    CHECK_EQ_INT(bk_partition_end_offset(p), 5);
    fx_close(&loop, log);

    /* Survives a reopen: same start, same end, appends continue. */
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    p = bk_topic_partition(bk_log_topic_find(log, "age", 3), 0);
    CHECK_EQ_INT(bk_partition_start_offset(p), 4);
    CHECK_EQ_INT(bk_partition_end_offset(p), 5);
    CHECK_EQ_INT(bk_partition_read(p, 3, 0, 0, fx_on_record, &rd, &next), BK_ERANGE);
    put(&loop, p, 0, "after-reopen");
    CHECK_EQ_INT(fx_read_all(p, 4, &rd), 2);
    CHECK_EQ_STR(rd.values[1], "after-reopen");
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_by_bytes(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_partition_t *p = topic_with(log, "size", -1, 250);
    char v[32];
    for (int i = 0; i < 6; i++) {
        snprintf(v, sizeof v, "record-number-%d-xxxxx", i);
        put(&loop, p, 0, v);
    }
    uint64_t one = bk_partition_size_bytes(p) / 6; /* equal-sized batches */
    CHECK(one * 3 > 250 && one * 2 < 250);
    /* Six segments of ~one bytes; keep deleting the oldest while over 250 bytes. */
    CHECK_EQ_INT(bk_log_retention_run(log, bk_wall_ms()), 4);
    CHECK_EQ_INT(bk_partition_start_offset(p), 4);
    CHECK(bk_partition_size_bytes(p) <= 250);
    CHECK_EQ_INT(bk_log_retention_run(log, bk_wall_ms()), 0); /* a job still runs: waits */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(bk_log_retention_run(log, bk_wall_ms()), 0); /* under the limit now */
    for (int64_t b = 0; b < 4; b++)
        CHECK(!seg_exists(dir, "size", b));
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(p, 4, &rd), 2);
    CHECK_EQ_STR(rd.values[0], "record-number-4-xxxxx");
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_active_segment_never_deleted(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_topic_config_t c;
    bk_log_topic_config_defaults(log, &c);
    c.retention_ms = 0;
    c.retention_bytes = 0;
    bk_topic_t *t;
    CHECK_EQ_INT(bk_log_topic_create_with(log, "one", 3, 1, &c, &t), 0);
    bk_partition_t *p = bk_topic_partition(t, 0);
    for (int i = 0; i < 5; i++)
        put(&loop, p, 1000, "ancient");
    CHECK_EQ_INT(bk_log_retention_run(log, bk_wall_ms()), 0);
    CHECK_EQ_INT(bk_partition_start_offset(p), 0);
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(p, 0, &rd), 5);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_during_a_flush_round(void)
{
    /* Under steady load a round is almost always in flight: retention must not wait for a
     * quiet moment, only leave alone the segments the round touches. */
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_io_install();
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_partition_t *p = topic_with(log, "busy", 7 * DAY, -1);
    int64_t now = bk_wall_ms();
    put(&loop, p, now - 30 * DAY, "old-0");
    atomic_store(&fx_sync_delay_ms, 60);
    fx_acks_t acks = {0};
    bk_record_t r[2] = {{NULL, -1, (const uint8_t *)"old-1", 5, NULL, 0, now - 30 * DAY},
                        {NULL, -1, (const uint8_t *)"young-record", 12, NULL, 0, now}};
    for (int i = 0; i < 2; i++) { /* each rolls: segments 1 and 2 */
        fx_args[i] = (fx_ack_arg_t){&acks, i};
        CHECK_EQ_INT(bk_partition_append(p, &r[i], 1, 1, fx_on_append, &fx_args[i]), 0);
    }
    uv_run(&loop, UV_RUN_NOWAIT); /* the round writes and syncs segments 1 and 2 */
    CHECK_EQ_INT(acks.calls, 0);
    /* Segment 0 is settled and goes; segment 1 is in the round and stays for now. */
    CHECK_EQ_INT(bk_log_retention_run(log, now), 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 2);
    CHECK_EQ_INT(acks.status[1], 0);
    CHECK_EQ_INT(bk_log_retention_run(log, now), 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(bk_partition_start_offset(p), 2);
    CHECK(!seg_exists(dir, "busy", 0) && !seg_exists(dir, "busy", 1) && seg_exists(dir, "busy", 2));
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(p, 2, &rd), 1);
    CHECK_EQ_STR(rd.values[0], "young-record");
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_io_restore();
    fx_rmrf(dir);
}

static void on_stop(uv_timer_t *h)
{
    uv_close((uv_handle_t *)h, NULL);
}

/* Runs the loop for ms milliseconds (the retention timer alone does not keep it running). */
static void run_for(uv_loop_t *loop, uint64_t ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, on_stop, ms, 0);
    uv_run(loop, UV_RUN_DEFAULT);
}

static void test_timer(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    cfg.retention_check_ms = 400; /* longer than the three durable appends below take */
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_partition_t *p = topic_with(log, "tick", 60000, -1);
    int64_t now = bk_wall_ms();
    put(&loop, p, now - 2 * DAY, "old-a");
    put(&loop, p, now, "new-b");
    put(&loop, p, now, "new-c");
    CHECK_EQ_INT(bk_partition_start_offset(p), 0); /* uv_run returned: the timer is unref'd */
    /* The timer's pass and the deleting job take a few ticks; a loaded machine may need more
     * than one window of 150 ms. */
    for (int i = 0; i < 20 && (bk_partition_start_offset(p) != 1 || seg_exists(dir, "tick", 0));
         i++)
        run_for(&loop, 150);
    CHECK_EQ_INT(bk_partition_start_offset(p), 1);
    CHECK(!seg_exists(dir, "tick", 0));
    fx_close(&loop, log); /* closes the timer: the loop can end */
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_open_pass_deletes(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    cfg.retention_check_ms = 3600000;
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_partition_t *p = topic_with(log, "boot", 7 * DAY, -1);
    int64_t now = bk_wall_ms();
    put(&loop, p, now - 30 * DAY, "stale-0");
    put(&loop, p, now - 30 * DAY, "stale-1");
    put(&loop, p, now, "fresh-2");
    fx_close(&loop, log);
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    p = bk_topic_partition(bk_log_topic_find(log, "boot", 4), 0);
    CHECK_EQ_INT(bk_partition_start_offset(p), 2);
    fx_close(&loop, log); /* waits for the deleting job */
    CHECK(!seg_exists(dir, "boot", 0) && !seg_exists(dir, "boot", 1));
    CHECK(seg_exists(dir, "boot", 2));
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_replicated_hw_bounds_retention(void)
{
    /* Issue 9 D2: with a follower in the ISR paused, retention deleted records no replica held
     * yet. Once a replicator manages the log, retention stops at the committed offset it
     * gives, whatever the topic's limits say. */
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_log_use_replicated_hw(log);
    bk_partition_t *p = topic_with(log, "repl", 0, 0); /* delete everything allowed */
    for (int i = 0; i < 6; i++)
        put(&loop, p, 1000, "replicated-or-not");
    CHECK_EQ_INT(bk_partition_high_watermark(p), 6);
    CHECK_EQ_INT(bk_partition_committed(p), 0); /* nothing said yet: nothing committed */
    CHECK_EQ_INT(bk_log_retention_run(log, bk_wall_ms()), 0);
    CHECK_EQ_INT(bk_partition_start_offset(p), 0);
    bk_partition_set_committed(p, 3); /* the ISR holds [0,3) */
    CHECK_EQ_INT(bk_log_retention_run(log, bk_wall_ms()), 3);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(bk_partition_start_offset(p), 3);
    CHECK(seg_exists(dir, "repl", 3) && !seg_exists(dir, "repl", 2));
    CHECK_EQ_INT(bk_log_retention_run(log, bk_wall_ms()), 0);
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(p, 3, &rd), 3);
    bk_partition_set_committed(p, 100); /* never more than the log holds */
    CHECK_EQ_INT(bk_partition_committed(p), 6);
    CHECK_EQ_INT(bk_log_retention_run(log, bk_wall_ms()), 2); /* never the active segment */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(bk_partition_start_offset(p), 5);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

CHECK_MAIN(CASE(test_by_time), CASE(test_by_bytes), CASE(test_active_segment_never_deleted),
           CASE(test_during_a_flush_round), CASE(test_timer), CASE(test_open_pass_deletes),
           CASE(test_replicated_hw_bounds_retention))
