/* I/O faults injected through the log's ops table: ENOSPC in the middle of a flush round's
 * write, from the threadpool (always) and from the loop (interval): nothing of it stays or is
 * acknowledged, the partition refuses appends until reopened; short writes (completed); a
 * write that cannot be undone (the torn bytes are cut at the next open); a failed segment
 * roll (the partition keeps working); flush errors during close. */
#include "log_fixture.h"

static bk_log_t *open_one(uv_loop_t *loop, const char *dir, uint64_t segment_bytes,
                          bk_partition_t **p)
{
    bk_log_config_t cfg = fx_config(dir);
    cfg.segment_bytes = segment_bytes;
    bk_log_t *log = NULL;
    CHECK_EQ_INT(bk_log_open(loop, &cfg, &log), 0);
    bk_topic_t *t = NULL;
    CHECK_EQ_INT(bk_log_topic_create(log, "f", 1, 1, &t), 0);
    *p = t ? bk_topic_partition(t, 0) : NULL;
    return log;
}

#define LOG0 "f-0/00000000000000000000.log"

/* Reopens dir and returns partition f-0 (the log in *log). */
static bk_partition_t *reopen(uv_loop_t *loop, const char *dir, bk_log_t **log)
{
    bk_log_config_t cfg = fx_config(dir);
    *log = NULL;
    CHECK_EQ_INT(bk_log_open(loop, &cfg, log), 0);
    bk_topic_t *t = *log ? bk_log_topic_find(*log, "f", 1) : NULL;
    CHECK(t != NULL);
    return t ? bk_topic_partition(t, 0) : NULL;
}

static void test_enospc_fails_the_round(void)
{
    /* Appends are written by the flush round: a full disk there fails every append of the
     * round (nothing acknowledged, nothing readable, nothing left in the file) and the
     * partition refuses further appends until the next open. */
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_io_install();
    bk_partition_t *p;
    bk_log_t *log = open_one(&loop, dir, 1 << 20, &p);
    fx_acks_t acks = {0};
    CHECK_EQ_INT(fx_append(p, NULL, "one", &acks, 0), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    long size = fx_file_size(fx_path(dir, LOG0));
    CHECK(size > 0);
    atomic_store(&fx_write_budget, 20); /* the disk fills up in the middle of the batch */
    CHECK_EQ_INT(fx_append(p, NULL, "two", &acks, 1), 0);
    CHECK_EQ_INT(fx_append(p, NULL, "three", &acks, 2), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 3);
    CHECK_EQ_INT(acks.status[1], UV_ENOSPC);
    CHECK_EQ_INT(acks.status[2], UV_ENOSPC);
    CHECK_EQ_INT(acks.offset[2], -1);
    CHECK_EQ_INT(fx_file_size(fx_path(dir, LOG0)), size); /* the 20 bytes were cut back */
    CHECK_EQ_INT(bk_partition_high_watermark(p), 1);
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(p, 0, &rd), 1);
    atomic_store(&fx_write_budget, -1);
    CHECK_EQ_INT(fx_append(p, NULL, "refused", &acks, 3), UV_ENOSPC);
    bk_log_stats_t st;
    bk_log_stats(log, &st);
    CHECK_EQ_INT(st.flush_errors, 1);
    fx_close(&loop, log);
    /* After a restart (space freed) the partition carries on from offset 1. */
    p = reopen(&loop, dir, &log);
    CHECK_EQ_INT(bk_partition_end_offset(p), 1);
    CHECK_EQ_INT(fx_append(p, NULL, "four", &acks, 4), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 4);
    CHECK_EQ_INT(acks.offset[3], 1);
    CHECK_EQ_INT(fx_read_all(p, 0, &rd), 2);
    CHECK_EQ_STR(rd.values[1], "four");
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_io_restore();
    fx_rmrf(dir);
}

static void test_enospc_in_interval_mode(void)
{
    /* Under fsync=interval the loop writes; the same rules hold. */
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_io_install();
    bk_log_config_t cfg = fx_config(dir);
    cfg.fsync_mode = BK_FSYNC_INTERVAL;
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_topic_t *t;
    CHECK_EQ_INT(bk_log_topic_create(log, "f", 1, 1, &t), 0);
    bk_partition_t *p = bk_topic_partition(t, 0);
    fx_acks_t acks = {0};
    CHECK_EQ_INT(fx_append(p, NULL, "one", &acks, 0), 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK_EQ_INT(acks.calls, 1);
    long size = fx_file_size(fx_path(dir, LOG0));
    atomic_store(&fx_write_budget, 10);
    CHECK_EQ_INT(fx_append(p, NULL, "two", &acks, 1), 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK_EQ_INT(acks.calls, 2);
    CHECK_EQ_INT(acks.status[1], UV_ENOSPC);
    CHECK_EQ_INT(fx_file_size(fx_path(dir, LOG0)), size);
    CHECK_EQ_INT(bk_partition_high_watermark(p), 1);
    CHECK_EQ_INT(fx_append(p, NULL, "refused", &acks, 2), UV_ENOSPC);
    atomic_store(&fx_write_budget, -1);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_io_restore();
    fx_rmrf(dir);
}

static void test_short_writes_completed(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_io_install();
    atomic_store(&fx_short_pwrite, 7);
    bk_partition_t *p;
    bk_log_t *log = open_one(&loop, dir, 1 << 20, &p);
    fx_acks_t acks = {0};
    for (int i = 0; i < 10; i++)
        CHECK_EQ_INT(fx_append(p, "key", "a value longer than seven bytes", &acks, i), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 10);
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(p, 0, &rd), 10);
    CHECK_EQ_STR(rd.values[9], "a value longer than seven bytes");
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_io_restore();
    fx_rmrf(dir);
}

static void test_undoable_write_fails_partition(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_io_install();
    bk_partition_t *p;
    bk_log_t *log = open_one(&loop, dir, 1 << 20, &p);
    fx_acks_t acks = {0};
    CHECK_EQ_INT(fx_append(p, NULL, "kept", &acks, 0), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    long size = fx_file_size(fx_path(dir, LOG0));
    atomic_store(&fx_write_budget, 30);
    atomic_store(&fx_fail_truncate, UV_EIO);
    CHECK_EQ_INT(fx_append(p, NULL, "torn", &acks, 1), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.status[1], UV_ENOSPC);
    CHECK_EQ_INT(fx_file_size(fx_path(dir, LOG0)), size + 30); /* could not be undone */
    atomic_store(&fx_write_budget, -1);
    atomic_store(&fx_fail_truncate, 0);
    CHECK(fx_append(p, NULL, "refused", &acks, 2) < 0);
    fx_close(&loop, log);
    /* The next open cuts the torn bytes and carries on from offset 1. */
    p = reopen(&loop, dir, &log);
    CHECK_EQ_INT(fx_file_size(fx_path(dir, LOG0)), size);
    CHECK_EQ_INT(bk_partition_end_offset(p), 1);
    CHECK_EQ_INT(fx_append(p, NULL, "after", &acks, 3), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(p, 0, &rd), 2);
    CHECK_EQ_STR(rd.values[1], "after");
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_io_restore();
    fx_rmrf(dir);
}

static void test_failed_roll(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_io_install();
    bk_partition_t *p;
    bk_log_t *log = open_one(&loop, dir, 100, &p);
    fx_acks_t acks = {0};
    CHECK_EQ_INT(fx_append(p, NULL, "0123456789012345678901234567890123456789", &acks, 0), 0);
    atomic_store(&fx_fail_open, UV_EMFILE);
    CHECK_EQ_INT(fx_append(p, NULL, "0123456789012345678901234567890123456789", &acks, 1),
                 UV_EMFILE);
    CHECK(!fx_exists(fx_path(dir, "f-0/00000000000000000001.log")));
    atomic_store(&fx_fail_open, 0);
    CHECK_EQ_INT(fx_append(p, NULL, "rolled", &acks, 2), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 2);
    CHECK_EQ_INT(acks.offset[1], 1);
    CHECK(fx_exists(fx_path(dir, "f-0/00000000000000000001.log")));
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(p, 0, &rd), 2);
    CHECK_EQ_STR(rd.values[1], "rolled");
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_io_restore();
    fx_rmrf(dir);
}

static void test_flush_error_at_close(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_io_install();
    bk_partition_t *p;
    bk_log_t *log = open_one(&loop, dir, 1 << 20, &p);
    fx_acks_t acks = {0};
    CHECK_EQ_INT(fx_append(p, NULL, "x", &acks, 0), 0);
    atomic_store(&fx_fail_sync, UV_EIO);
    fx_close(&loop, log); /* still completes */
    CHECK_EQ_INT(acks.calls, 1);
    CHECK_EQ_INT(acks.status[0], UV_EIO);
    fx_loop_done(&loop);
    fx_io_restore();
    fx_rmrf(dir);
}

CHECK_MAIN(CASE(test_enospc_fails_the_round), CASE(test_enospc_in_interval_mode),
           CASE(test_short_writes_completed), CASE(test_undoable_write_fails_partition),
           CASE(test_failed_roll), CASE(test_flush_error_at_close))
