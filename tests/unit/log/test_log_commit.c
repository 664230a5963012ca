/* Group commit measured through the I/O seam: many appends before the loop turns share one
 * round with one write and one fdatasync per partition, made off the loop thread under
 * fsync=always and by the loop under interval; appends made while a round runs share the next
 * one; callbacks run in append order across partitions; a rolled segment is synced before its
 * successor gets a byte, in every mode; a failed fdatasync fails the appends it covered, hides
 * them from readers and makes the partition refuse further appends. */
#include "log_fixture.h"

#include <pthread.h>

/* ---- an I/O table that records the order of writes and syncs, by file name ---- */

typedef struct {
    char kind; /* 'W' pwrite, 'S' fdatasync */
    char name[32];
    int on_loop;
} io_event_t;

static io_event_t events[512];
static atomic_int nevents;
static pthread_t loop_thread;

static void record(char kind, int fd)
{
    char link[64], path[512];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    path[n > 0 ? n : 0] = '\0';
    const char *base = strrchr(path, '/');
    int i = atomic_fetch_add(&nevents, 1);
    if (i >= 512)
        return;
    events[i].kind = kind;
    const char *name = base ? base + 1 : path;
    size_t len = strlen(name) < sizeof events[i].name ? strlen(name) : sizeof events[i].name - 1;
    memcpy(events[i].name, name, len);
    events[i].name[len] = '\0';
    events[i].on_loop = pthread_equal(pthread_self(), loop_thread);
}

static int64_t rec_pwrite(int fd, const void *buf, size_t len, int64_t off)
{
    record('W', fd);
    return fx_io_pwrite(fd, buf, len, off);
}

static int rec_fdatasync(int fd)
{
    int rc = fx_io_fdatasync(fd);
    record('S', fd); /* when it has completed */
    return rc;
}

static void recorder_install(void)
{
    fx_io_install();
    fx_io.pwrite = rec_pwrite;
    fx_io.fdatasync = rec_fdatasync;
    atomic_store(&nevents, 0);
    loop_thread = pthread_self();
}

/* Position of the first event of kind on file name, or -1. */
static int event_at(char kind, const char *name)
{
    int n = atomic_load(&nevents);
    for (int i = 0; i < n && i < 512; i++)
        if (events[i].kind == kind && strcmp(events[i].name, name) == 0)
            return i;
    return -1;
}

static int events_on_loop(char kind)
{
    int n = atomic_load(&nevents), count = 0;
    for (int i = 0; i < n && i < 512; i++)
        count += events[i].kind == kind && events[i].on_loop;
    return count;
}

typedef struct {
    bk_log_t *log;
    bk_partition_t *p;
    fx_acks_t *acks;
    int more; /* appends to issue from the first callback */
    int issued;
} chain_t;

static chain_t chain;

static void on_first(void *arg, int status, int64_t off)
{
    fx_on_append(arg, status, off);
    for (int i = 0; i < chain.more; i++)
        CHECK_EQ_INT(fx_append(chain.p, NULL, "second-wave", chain.acks, 100 + i), 0);
    chain.issued = chain.more;
}

static bk_log_t *open_log(uv_loop_t *loop, const char *dir, bk_partition_t **p0,
                          bk_partition_t **p1)
{
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log = NULL;
    CHECK_EQ_INT(bk_log_open(loop, &cfg, &log), 0);
    bk_topic_t *t = NULL;
    CHECK_EQ_INT(bk_log_topic_create(log, "g", 1, 2, &t), 0);
    *p0 = bk_topic_partition(t, 0);
    if (p1)
        *p1 = bk_topic_partition(t, 1);
    return log;
}

static void test_one_round_for_many_appends(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_io_install();
    bk_partition_t *p;
    bk_log_t *log = open_log(&loop, dir, &p, NULL);
    atomic_store(&fx_fdatasyncs, 0);
    atomic_store(&fx_fsyncs, 0);
    fx_acks_t acks = {0};
    for (int i = 0; i < 500; i++)
        CHECK_EQ_INT(fx_append(p, NULL, "v", &acks, i), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 500);
    CHECK_EQ_INT(atomic_load(&fx_fdatasyncs), 1); /* one partition, one round */
    bk_log_stats_t st;
    bk_log_stats(log, &st);
    CHECK_EQ_INT(st.flushes, 1);
    int in_order = 1;
    for (int i = 0; i < 500; i++)
        in_order &= acks.order[i] == i && acks.offset[i] == i && acks.status[i] == 0;
    CHECK(in_order);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_io_restore();
    fx_rmrf(dir);
}

static void test_appends_during_a_round_share_the_next(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_io_install();
    bk_partition_t *p, *q;
    bk_log_t *log = open_log(&loop, dir, &p, &q);
    atomic_store(&fx_fdatasyncs, 0);
    atomic_store(&fx_sync_delay_ms, 30); /* a slow disk */
    fx_acks_t acks = {0};
    chain = (chain_t){log, p, &acks, 50, 0};
    fx_args[0] = (fx_ack_arg_t){&acks, 0};
    bk_record_t r = {NULL, -1, (const uint8_t *)"first", 5, NULL, 0, 0};
    CHECK_EQ_INT(bk_partition_append(p, &r, 1, 1, on_first, &fx_args[0]), 0);
    /* Interleave a second partition: the round covers both, callbacks keep append order. */
    CHECK_EQ_INT(fx_append(q, NULL, "q", &acks, 1), 0);
    CHECK_EQ_INT(fx_append(p, NULL, "p", &acks, 2), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(chain.issued, 50);
    CHECK_EQ_INT(acks.calls, 53);
    CHECK_EQ_INT(acks.order[0], 0);
    CHECK_EQ_INT(acks.order[1], 1);
    CHECK_EQ_INT(acks.order[2], 2);
    CHECK_EQ_INT(acks.order[3], 100);
    CHECK_EQ_INT(acks.order[52], 149);
    /* Round 1: p and q (2 fdatasyncs); round 2: the 50 later appends, p only (1). */
    CHECK_EQ_INT(atomic_load(&fx_fdatasyncs), 3);
    bk_log_stats_t st;
    bk_log_stats(log, &st);
    CHECK_EQ_INT(st.flushes, 2);
    CHECK(st.flush_usec_total >= 2 * 25000);
    CHECK_EQ_INT(bk_partition_high_watermark(p), 52);
    CHECK_EQ_INT(bk_partition_high_watermark(q), 1);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_io_restore();
    fx_rmrf(dir);
}

static void test_failed_fdatasync(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_io_install();
    bk_partition_t *p, *q;
    bk_log_t *log = open_log(&loop, dir, &p, &q);
    fx_acks_t acks = {0};
    CHECK_EQ_INT(fx_append(p, NULL, "good", &acks, 0), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.status[0], 0);
    CHECK_EQ_INT(bk_partition_high_watermark(p), 1);

    atomic_store(&fx_fail_sync, UV_EIO);
    CHECK_EQ_INT(fx_append(p, NULL, "lost-1", &acks, 1), 0);
    CHECK_EQ_INT(fx_append(p, NULL, "lost-2", &acks, 2), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 3);
    CHECK_EQ_INT(acks.status[1], UV_EIO);
    CHECK_EQ_INT(acks.status[2], UV_EIO);
    CHECK_EQ_INT(acks.offset[1], -1);
    CHECK_EQ_INT(bk_partition_high_watermark(p), 1); /* not advanced past the failure */
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(p, 0, &rd), 1);
    CHECK_EQ_STR(rd.values[0], "good");
    bk_log_stats_t st;
    bk_log_stats(log, &st);
    CHECK_EQ_INT(st.flush_errors, 1);

    /* Even once the disk "recovers", the partition stays refused (fsyncgate). */
    atomic_store(&fx_fail_sync, 0);
    CHECK_EQ_INT(fx_append(p, NULL, "refused", &acks, 3), UV_EIO);
    CHECK_EQ_INT(bk_partition_end_offset(p), 3);
    /* The other partition is unaffected. */
    CHECK_EQ_INT(fx_append(q, NULL, "other", &acks, 4), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 4);
    CHECK_EQ_INT(acks.status[3], 0);
    CHECK_EQ_INT(bk_partition_high_watermark(q), 1);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_io_restore();
    fx_rmrf(dir);
}

static void test_failed_sync_while_others_queue(void)
{
    /* Appends queued behind a round that fails are failed too, never acknowledged. */
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_io_install();
    bk_partition_t *p;
    bk_log_t *log = open_log(&loop, dir, &p, NULL);
    atomic_store(&fx_fail_sync, UV_ENOSPC);
    atomic_store(&fx_sync_delay_ms, 20);
    fx_acks_t acks = {0};
    chain = (chain_t){log, p, &acks, 0, 0};
    CHECK_EQ_INT(fx_append(p, NULL, "a", &acks, 0), 0);
    uv_run(&loop, UV_RUN_NOWAIT);                       /* round 1 starts */
    CHECK_EQ_INT(fx_append(p, NULL, "b", &acks, 1), 0); /* queued behind it */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 2);
    CHECK_EQ_INT(acks.status[0], UV_ENOSPC);
    CHECK(acks.status[1] < 0);
    CHECK_EQ_INT(bk_partition_high_watermark(p), 0);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_io_restore();
    fx_rmrf(dir);
}

static void test_roll_syncs_sealed_segment(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_io_install();
    bk_log_config_t cfg = fx_config(dir);
    cfg.segment_bytes = 150;
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_topic_t *t;
    CHECK_EQ_INT(bk_log_topic_create(log, "r", 1, 1, &t), 0);
    bk_partition_t *p = bk_topic_partition(t, 0);
    atomic_store(&fx_fdatasyncs, 0);
    atomic_store(&fx_fsyncs, 0);
    fx_acks_t acks = {0};
    for (int i = 0; i < 3; i++) /* ~80 bytes each: rolls twice */
        CHECK_EQ_INT(fx_append(p, NULL, "0123456789", &acks, i), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 3);
    /* One round: two sealed segments + the active one, and the directory (new files). */
    CHECK_EQ_INT(atomic_load(&fx_fdatasyncs), 3);
    CHECK_EQ_INT(atomic_load(&fx_fsyncs), 1);
    CHECK(fx_exists(fx_path(dir, "r-0/00000000000000000002.log")));
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_io_restore();
    fx_rmrf(dir);
}

static void test_interval_acks_do_not_wait_for_a_flush(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_io_install();
    bk_log_config_t cfg = fx_config(dir);
    cfg.fsync_mode = BK_FSYNC_INTERVAL;
    cfg.fsync_interval_ms = 0; /* flush at every decision */
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_topic_t *t;
    CHECK_EQ_INT(bk_log_topic_create(log, "i", 1, 1, &t), 0);
    bk_partition_t *p = bk_topic_partition(t, 0);
    atomic_store(&fx_sync_delay_ms, 300); /* a very slow disk */
    fx_acks_t acks = {0};
    CHECK_EQ_INT(fx_append(p, NULL, "a", &acks, 0), 0);
    uv_run(&loop, UV_RUN_NOWAIT); /* acked, and a slow flush starts */
    CHECK_EQ_INT(acks.calls, 1);
    uint64_t t0 = bk_now_ms();
    CHECK_EQ_INT(fx_append(p, NULL, "b", &acks, 1), 0);
    while (acks.calls < 2 && bk_now_ms() - t0 < 2000)
        uv_run(&loop, UV_RUN_ONCE);
    CHECK_EQ_INT(acks.calls, 2);
    CHECK(bk_now_ms() - t0 < 150); /* did not wait for the 300 ms flush */
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_io_restore();
    fx_rmrf(dir);
}

static void test_one_write_per_partition_per_round(void)
{
    static const bk_fsync_mode_t modes[] = {BK_FSYNC_ALWAYS, BK_FSYNC_INTERVAL};
    for (int m = 0; m < 2; m++) {
        char *dir = fx_tmpdir();
        uv_loop_t loop;
        uv_loop_init(&loop);
        recorder_install();
        bk_log_config_t cfg = fx_config(dir);
        cfg.fsync_mode = modes[m];
        cfg.fsync_interval_ms = 10000;
        cfg.index_interval_bytes = 1u << 30; /* no index entries: count only .log writes */
        bk_log_t *log;
        CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
        bk_topic_t *t;
        CHECK_EQ_INT(bk_log_topic_create(log, "w", 1, 3, &t), 0);
        atomic_store(&nevents, 0);
        atomic_store(&fx_fdatasyncs, 0);
        atomic_store(&fx_pwrites, 0);
        fx_acks_t acks = {0};
        for (int i = 0; i < 300; i++)
            CHECK_EQ_INT(fx_append(bk_topic_partition(t, (uint32_t)(i % 3)), NULL, "v", &acks, i),
                         0);
        CHECK_EQ_INT(atomic_load(&nevents), 0); /* appends only encode */
        if (modes[m] == BK_FSYNC_ALWAYS)
            uv_run(&loop, UV_RUN_DEFAULT);
        else
            uv_run(&loop, UV_RUN_NOWAIT);
        CHECK_EQ_INT(acks.calls, 300);
        CHECK_EQ_INT(atomic_load(&fx_pwrites), 3);
        if (modes[m] == BK_FSYNC_ALWAYS) {
            CHECK_EQ_INT(atomic_load(&fx_fdatasyncs), 3);
            CHECK_EQ_INT(events_on_loop('W') + events_on_loop('S'), 0); /* all on the pool */
            bk_log_stats_t st;
            bk_log_stats(log, &st);
            CHECK_EQ_INT(st.flushes, 1);
            uint64_t in_buckets = 0;
            for (int b = 0; b < 12; b++)
                in_buckets += st.flush_buckets[b];
            CHECK_EQ_INT(in_buckets, 1);
        } else {
            CHECK_EQ_INT(atomic_load(&fx_fdatasyncs), 0); /* the interval has not passed */
            CHECK_EQ_INT(events_on_loop('W'), 3);         /* the check phase wrote */
        }
        for (int i = 0; i < 300; i++)
            CHECK_EQ_INT(acks.offset[i], i / 3);
        fx_read_t rd;
        CHECK_EQ_INT(fx_read_all(bk_topic_partition(t, 2), 0, &rd), 100);
        fx_close(&loop, log);
        fx_loop_done(&loop);
        fx_io_restore();
        fx_rmrf(dir);
    }
}

static void test_sealed_segment_synced_before_successor_written(void)
{
    static const bk_fsync_mode_t modes[] = {BK_FSYNC_ALWAYS, BK_FSYNC_INTERVAL, BK_FSYNC_NEVER};
    for (int m = 0; m < 3; m++) {
        char *dir = fx_tmpdir();
        uv_loop_t loop;
        uv_loop_init(&loop);
        recorder_install();
        bk_log_config_t cfg = fx_config(dir);
        cfg.fsync_mode = modes[m];
        cfg.fsync_interval_ms = 20;
        cfg.segment_bytes = 150;
        bk_log_t *log;
        CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
        bk_topic_t *t;
        CHECK_EQ_INT(bk_log_topic_create(log, "o", 1, 1, &t), 0);
        bk_partition_t *p = bk_topic_partition(t, 0);
        atomic_store(&nevents, 0);
        fx_acks_t acks = {0};
        /* One turn that rolls twice, then a turn that rolls from a written segment. */
        for (int i = 0; i < 3; i++)
            CHECK_EQ_INT(fx_append(p, NULL, "0123456789", &acks, i), 0);
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK_EQ_INT(fx_append(p, NULL, "0123456789", &acks, 3), 0);
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK_EQ_INT(acks.calls, 4);
        static const char *const segs[] = {"00000000000000000000.log", "00000000000000000001.log",
                                           "00000000000000000002.log", "00000000000000000003.log"};
        for (int i = 0; i < 3; i++) {
            int synced = event_at('S', segs[i]), next_written = event_at('W', segs[i + 1]);
            CHECK(synced >= 0 && next_written >= 0 && synced < next_written);
        }
        fx_close(&loop, log);
        fx_loop_done(&loop);
        fx_io_restore();
        fx_rmrf(dir);
    }
}

static void test_roll_while_its_sync_runs(void)
{
    /* Interval mode: a flush round is syncing the active segment when an append rolls it. The
     * check phase must not write the new segment before that sync has completed. */
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    recorder_install();
    bk_log_config_t cfg = fx_config(dir);
    cfg.fsync_mode = BK_FSYNC_INTERVAL;
    cfg.fsync_interval_ms = 0;
    cfg.segment_bytes = 100;
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_topic_t *t;
    CHECK_EQ_INT(bk_log_topic_create(log, "s", 1, 1, &t), 0);
    bk_partition_t *p = bk_topic_partition(t, 0);
    atomic_store(&fx_sync_delay_ms, 50);
    atomic_store(&nevents, 0);
    fx_acks_t acks = {0};
    CHECK_EQ_INT(fx_append(p, NULL, "0123456789", &acks, 0), 0);
    uv_run(&loop, UV_RUN_NOWAIT); /* written, acked, and its sync started */
    CHECK_EQ_INT(acks.calls, 1);
    CHECK_EQ_INT(fx_append(p, NULL, "0123456789", &acks, 1), 0); /* rolls */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 2);
    int synced = event_at('S', "00000000000000000000.log");
    int written = event_at('W', "00000000000000000001.log");
    CHECK(synced >= 0 && written >= 0 && synced < written);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_io_restore();
    fx_rmrf(dir);
}

static void test_failed_sync_of_sealed_segment_keeps_successor_empty(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_io_install();
    bk_log_config_t cfg = fx_config(dir);
    cfg.segment_bytes = 150;
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_topic_t *t;
    CHECK_EQ_INT(bk_log_topic_create(log, "e", 1, 1, &t), 0);
    bk_partition_t *p = bk_topic_partition(t, 0);
    atomic_store(&fx_fail_sync, UV_EIO);
    fx_acks_t acks = {0};
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(fx_append(p, NULL, "0123456789", &acks, i), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 3);
    CHECK_EQ_INT(acks.status[2], UV_EIO);
    CHECK(fx_file_size(fx_path(dir, "e-0/00000000000000000000.log")) > 0);
    CHECK_EQ_INT(fx_file_size(fx_path(dir, "e-0/00000000000000000001.log")), 0);
    CHECK_EQ_INT(fx_file_size(fx_path(dir, "e-0/00000000000000000002.log")), 0);
    atomic_store(&fx_fail_sync, 0);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_io_restore();
    fx_rmrf(dir);
}

CHECK_MAIN(CASE(test_one_write_per_partition_per_round),
           CASE(test_sealed_segment_synced_before_successor_written),
           CASE(test_roll_while_its_sync_runs),
           CASE(test_failed_sync_of_sealed_segment_keeps_successor_empty),
           CASE(test_one_round_for_many_appends), CASE(test_interval_acks_do_not_wait_for_a_flush),
           CASE(test_appends_during_a_round_share_the_next), CASE(test_failed_fdatasync),
           CASE(test_failed_sync_while_others_queue), CASE(test_roll_syncs_sealed_segment))
