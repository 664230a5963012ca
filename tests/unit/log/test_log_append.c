/* Appends and reads through a real loop and real files: offsets, values, keys, headers and
 * epochs read back; nothing visible before its callback; the bytes on disk are RecordBatch v2;
 * max.message.bytes refusals; read limits; segment rolls; offsets kept across restarts; the
 * fsync modes; close order. */
#include "log_fixture.h"

#include "log/format.h"

static bk_partition_t *make_topic(bk_log_t *log, const char *name, uint32_t nparts)
{
    bk_topic_t *t = NULL;
    CHECK_EQ_INT(bk_log_topic_create(log, name, strlen(name), nparts, &t), 0);
    return t ? bk_topic_partition(t, 0) : NULL;
}

static void test_round_trip(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_partition_t *p = make_topic(log, "orders", 1);

    bk_header_t hs[2] = {{(const uint8_t *)"trace", 5, (const uint8_t *)"abc", 3},
                         {(const uint8_t *)"nullv", 5, NULL, 0}};
    bk_record_t recs[3] = {
        {(const uint8_t *)"k1", 2, (const uint8_t *)"first", 5, hs, 2, 1700000000001LL},
        {NULL, -1, (const uint8_t *)"second", 6, NULL, 0, 1700000000002LL},
        {(const uint8_t *)"", 0, NULL, -1, NULL, 0, 0},
    };
    fx_acks_t acks = {0};
    fx_args[0] = (fx_ack_arg_t){&acks, 0};
    CHECK_EQ_INT(bk_partition_append(p, recs, 3, 42, fx_on_append, &fx_args[0]), 0);
    CHECK_EQ_INT(fx_append(p, NULL, "fourth", &acks, 1), 0);
    CHECK_EQ_INT(acks.calls, 0); /* never from inside append */
    CHECK_EQ_INT(bk_partition_end_offset(p), 4);
    CHECK_EQ_INT(bk_partition_high_watermark(p), 0);
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(p, 0, &rd), 0); /* written but not yet durable: invisible */

    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 2);
    CHECK_EQ_INT(acks.status[0], 0);
    CHECK_EQ_INT(acks.offset[0], 0);
    CHECK_EQ_INT(acks.offset[1], 3);
    CHECK_EQ_INT(bk_partition_high_watermark(p), 4);

    int64_t next = -1;
    fx_read_t all;
    CHECK_EQ_INT(fx_read_all(p, 0, &all), 4);
    CHECK_EQ_STR(all.values[0], "first");
    CHECK_EQ_STR(all.values[1], "second");
    CHECK_EQ_STR(all.values[2], "");
    CHECK_EQ_STR(all.values[3], "fourth");
    CHECK_EQ_INT(all.epochs[0], 42);
    CHECK_EQ_INT(all.epochs[3], 1);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(all.offsets[i], i);
    CHECK_EQ_INT(bk_partition_read(p, 5, 0, 0, fx_on_record, &all, &next), BK_ERANGE);
    CHECK_EQ_INT(bk_partition_read(p, -1, 0, 0, fx_on_record, &all, &next), BK_ERANGE);
    CHECK_EQ_INT(bk_partition_read(p, 4, 0, 0, fx_on_record, &all, &next), 0);
    CHECK_EQ_INT(next, 4);

    bk_log_stats_t st;
    bk_log_stats(log, &st);
    CHECK_EQ_INT(st.appends, 2);
    CHECK_EQ_INT(st.records_appended, 4);
    CHECK(st.flushes >= 1);
    CHECK_EQ_INT(st.bytes_appended, bk_partition_size_bytes(p));
    fx_close(&loop, log);
    fx_loop_done(&loop);

    /* The file holds exactly the two batches, as RecordBatch v2. */
    size_t len;
    uint8_t *b = fx_read_file(fx_path(dir, "orders-0/00000000000000000000.log"), &len);
    CHECK(b != NULL);
    CHECK_EQ_INT(len, st.bytes_appended);
    bk_batch_header_t h;
    CHECK_EQ_INT(bk_batch_header_parse(b, len, &h), 0);
    CHECK_EQ_INT(h.base_offset, 0);
    CHECK_EQ_INT(h.leader_epoch, 42);
    CHECK_EQ_INT(h.count, 3);
    CHECK_EQ_INT(bk_batch_verify(b, bk_batch_total(&h), &h), 0);
    size_t second = bk_batch_total(&h);
    CHECK_EQ_INT(bk_batch_verify(b + second, len - second, &h), 0);
    CHECK_EQ_INT(h.base_offset, 3);
    free(b);
    fx_rmrf(dir);
}

typedef struct {
    int n;
    int64_t first;
    int key_null[8];
    char key[8][8];
    uint32_t hcount[8];
    char h0k[8][8], h0v[8][8];
    int h1null[8];
    int64_t ts[8];
} detail_t;

static int on_detail(void *arg, const bk_record_view_t *v)
{
    detail_t *d = arg;
    if (d->n == 0)
        d->first = v->offset;
    int i = d->n++;
    d->key_null[i] = v->key == NULL && v->key_len == -1;
    if (v->key_len > 0)
        memcpy(d->key[i], v->key, (size_t)v->key_len);
    d->hcount[i] = v->header_count;
    d->ts[i] = v->timestamp;
    const uint8_t *pos = v->headers, *end = v->headers + v->headers_len;
    bk_header_t h;
    if (bk_record_header_next(&pos, end, &h) == 1) {
        memcpy(d->h0k[i], h.key, h.key_len);
        memcpy(d->h0v[i], h.value, h.value_len);
    }
    if (bk_record_header_next(&pos, end, &h) == 1)
        d->h1null[i] = h.value == NULL;
    return 0;
}

static void test_keys_headers_timestamps(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_partition_t *p = make_topic(log, "h", 1);
    bk_header_t hs[2] = {{(const uint8_t *)"trace", 5, (const uint8_t *)"abc", 3},
                         {(const uint8_t *)"nullv", 5, NULL, 0}};
    bk_record_t recs[2] = {
        {(const uint8_t *)"k1", 2, (const uint8_t *)"v", 1, hs, 2, 1700000000001LL},
        {NULL, -1, (const uint8_t *)"w", 1, NULL, 0, 0},
    };
    int64_t before = bk_wall_ms();
    CHECK_EQ_INT(bk_partition_append(p, recs, 2, 3, NULL, NULL), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    detail_t d = {0};
    int64_t next;
    CHECK_EQ_INT(bk_partition_read(p, 0, 0, 0, on_detail, &d, &next), 2);
    CHECK_EQ_INT(next, 2);
    CHECK_EQ_STR(d.key[0], "k1");
    CHECK(d.key_null[1]);
    CHECK_EQ_INT(d.hcount[0], 2);
    CHECK_EQ_STR(d.h0k[0], "trace");
    CHECK_EQ_STR(d.h0v[0], "abc");
    CHECK(d.h1null[0]);
    CHECK_EQ_INT(d.ts[0], 1700000000001LL);
    CHECK(d.ts[1] >= before && d.ts[1] <= bk_wall_ms()); /* timestamp 0 = now */
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static int stop_after_two(void *arg, const bk_record_view_t *v)
{
    (void)v;
    return ++*(int *)arg >= 2;
}

static void test_read_limits(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    cfg.index_interval_bytes = 100; /* several index entries */
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_partition_t *p = make_topic(log, "lim", 1);
    fx_acks_t acks = {0};
    /* 20 batches of 5 records each, values "r<offset>" of 10 bytes. */
    for (int b = 0; b < 20; b++) {
        bk_record_t recs[5];
        char vals[5][16];
        for (int i = 0; i < 5; i++) {
            snprintf(vals[i], sizeof vals[i], "r%09d", b * 5 + i);
            recs[i] = (bk_record_t){NULL, -1, (const uint8_t *)vals[i], 10, NULL, 0, 0};
        }
        fx_args[b] = (fx_ack_arg_t){&acks, b};
        CHECK_EQ_INT(bk_partition_append(p, recs, 5, 1, fx_on_append, &fx_args[b]), 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 20);
    fx_read_t rd = {0};
    int64_t next;
    /* From the middle of a batch, at most 7 records. */
    CHECK_EQ_INT(bk_partition_read(p, 37, 7, 0, fx_on_record, &rd, &next), 7);
    CHECK_EQ_INT(rd.offsets[0], 37);
    CHECK_EQ_STR(rd.values[0], "r000000037");
    CHECK_EQ_STR(rd.values[6], "r000000043");
    CHECK_EQ_INT(next, 44);
    /* max_bytes 25 = two 10-byte values; the third would exceed it. */
    memset(&rd, 0, sizeof rd);
    CHECK_EQ_INT(bk_partition_read(p, 90, 0, 25, fx_on_record, &rd, &next), 2);
    CHECK_EQ_INT(next, 92);
    /* max_bytes smaller than one record still delivers one. */
    memset(&rd, 0, sizeof rd);
    CHECK_EQ_INT(bk_partition_read(p, 99, 0, 1, fx_on_record, &rd, &next), 1);
    CHECK_EQ_STR(rd.values[0], "r000000099");
    CHECK_EQ_INT(next, 100);
    /* The visitor stops the read. */
    int seen = 0;
    CHECK_EQ_INT(bk_partition_read(p, 0, 0, 0, stop_after_two, &seen, &next), 2);
    CHECK_EQ_INT(next, 2);
    /* Every offset reads back as itself. */
    for (int64_t o = 0; o < 100; o += 3) {
        memset(&rd, 0, sizeof rd);
        CHECK_EQ_INT(bk_partition_read(p, o, 1, 0, fx_on_record, &rd, &next), 1);
        CHECK_EQ_INT(rd.offsets[0], o);
    }
    fx_close(&loop, log);
    fx_loop_done(&loop);
    /* The index has entries: relative offset and position of batch starts. */
    size_t len;
    uint8_t *idx = fx_read_file(fx_path(dir, "lim-0/00000000000000000000.index"), &len);
    CHECK(idx && len >= 8 && len % 8 == 0);
    if (idx && len >= 8) {
        uint32_t rel = bk_be32_get(idx), pos = bk_be32_get(idx + 4);
        CHECK_EQ_INT(rel % 5, 0);
        CHECK(pos >= 100);
        size_t llen;
        uint8_t *lg = fx_read_file(fx_path(dir, "lim-0/00000000000000000000.log"), &llen);
        bk_batch_header_t h;
        CHECK_EQ_INT(bk_batch_header_parse(lg + pos, llen - pos, &h), 0);
        CHECK_EQ_INT(h.base_offset, rel);
        free(lg);
    }
    free(idx);
    fx_rmrf(dir);
}

static void test_segment_roll_and_restart(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    cfg.segment_bytes = 300; /* about three 80-byte batches per segment */
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_partition_t *p = make_topic(log, "roll", 1);
    fx_acks_t acks = {0};
    char v[32];
    for (int i = 0; i < 10; i++) {
        snprintf(v, sizeof v, "value-%02d-abcdefghij", i);
        CHECK_EQ_INT(fx_append(p, NULL, v, &acks, i), 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 10);
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(p, 0, &rd), 10);
    CHECK_EQ_STR(rd.values[9], "value-09-abcdefghij");
    fx_close(&loop, log);

    /* Several segments, each within the size bound, named by their first offset. */
    int nseg = 0;
    long total = 0;
    for (int64_t base = 0; base < 10; base++) {
        char name[64];
        snprintf(name, sizeof name, "roll-0/%020lld.log", (long long)base);
        long sz = fx_file_size(fx_path(dir, name));
        if (sz >= 0) {
            nseg++;
            total += sz;
            CHECK(sz <= 300);
            size_t len;
            uint8_t *b = fx_read_file(fx_path(dir, name), &len);
            bk_batch_header_t h;
            CHECK_EQ_INT(bk_batch_header_parse(b, len, &h), 0);
            CHECK_EQ_INT(h.base_offset, base);
            free(b);
        }
    }
    CHECK(nseg >= 3);

    /* Restart: offsets continue, nothing reused, all data still readable. */
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_topic_t *t = bk_log_topic_find(log, "roll", 4);
    CHECK(t != NULL);
    p = bk_topic_partition(t, 0);
    CHECK_EQ_INT(bk_partition_end_offset(p), 10);
    CHECK_EQ_INT(bk_partition_high_watermark(p), 10);
    CHECK_EQ_INT(bk_partition_size_bytes(p), total);
    memset(&acks, 0, sizeof acks);
    CHECK_EQ_INT(fx_append(p, NULL, "after-restart", &acks, 0), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.offset[0], 10);
    CHECK_EQ_INT(fx_read_all(p, 0, &rd), 11);
    CHECK_EQ_STR(rd.values[10], "after-restart");
    CHECK_EQ_STR(rd.values[4], "value-04-abcdefghij");
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_big_batch_in_small_segments(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    cfg.segment_bytes = 100;
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_partition_t *p = make_topic(log, "big", 1);
    static char big[5000];
    memset(big, 'x', sizeof big - 1);
    fx_acks_t acks = {0};
    CHECK_EQ_INT(fx_append(p, NULL, "small", &acks, 0), 0);
    CHECK_EQ_INT(fx_append(p, NULL, big, &acks, 1), 0); /* bigger than a segment: own segment */
    CHECK_EQ_INT(fx_append(p, NULL, "small2", &acks, 2), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 3);
    CHECK(fx_exists(fx_path(dir, "big-0/00000000000000000001.log")));
    CHECK(fx_exists(fx_path(dir, "big-0/00000000000000000002.log")));
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(p, 0, &rd), 3);
    CHECK_EQ_STR(rd.values[2], "small2");
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static int hook_calls;
static bk_partition_t *hook_last;
static void on_hook(void *arg, bk_partition_t *p)
{
    (void)arg;
    hook_calls++;
    hook_last = p;
}

static void test_modes_and_hook(void)
{
    static const bk_fsync_mode_t modes[] = {BK_FSYNC_ALWAYS, BK_FSYNC_INTERVAL, BK_FSYNC_NEVER};
    for (size_t m = 0; m < 3; m++) {
        char *dir = fx_tmpdir();
        uv_loop_t loop;
        uv_loop_init(&loop);
        bk_log_config_t cfg = fx_config(dir);
        cfg.fsync_mode = modes[m];
        cfg.fsync_interval_ms = 20;
        fx_io_install();
        bk_log_t *log;
        CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
        bk_partition_t *p = make_topic(log, "m", 1);
        bk_log_set_commit_hook(log, on_hook, NULL);
        hook_calls = 0;
        atomic_store(&fx_fdatasyncs, 0);
        fx_acks_t acks = {0};
        for (int i = 0; i < 5; i++)
            CHECK_EQ_INT(fx_append(p, NULL, "v", &acks, i), 0);
        CHECK_EQ_INT(acks.calls, 0);
        uv_run(&loop, UV_RUN_ONCE);
        if (modes[m] != BK_FSYNC_ALWAYS) {
            /* acknowledged after the write, in the same loop turn, before any sync */
            CHECK_EQ_INT(acks.calls, 5);
            CHECK_EQ_INT(bk_partition_high_watermark(p), 5);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK_EQ_INT(acks.calls, 5);
        for (int i = 0; i < 5; i++) {
            CHECK_EQ_INT(acks.status[i], 0);
            CHECK_EQ_INT(acks.order[i], i);
        }
        CHECK(hook_calls >= 1);
        CHECK(hook_last == p);
        int syncs = atomic_load(&fx_fdatasyncs);
        if (modes[m] == BK_FSYNC_NEVER)
            CHECK_EQ_INT(syncs, 0);
        else
            CHECK(syncs >= 1); /* interval mode: the timer flushed */
        fx_close(&loop, log);
        if (modes[m] == BK_FSYNC_NEVER)
            CHECK(atomic_load(&fx_fdatasyncs) >= 1); /* close flushes in every mode */
        fx_loop_done(&loop);
        fx_io_restore();
        fx_rmrf(dir);
    }
}

static void test_close_acks_pending_and_refuses(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_partition_t *p = make_topic(log, "c", 1);
    fx_acks_t acks = {0};
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(fx_append(p, NULL, "x", &acks, i), 0);
    int closed = 0;
    bk_log_close(log, fx_on_closed, &closed);
    CHECK_EQ_INT(fx_append(p, NULL, "late", &acks, 3), BK_ECLOSED);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(closed, 1);
    CHECK_EQ_INT(acks.calls, 3); /* every queued append answered before done */
    CHECK_EQ_INT(acks.status[2], 0);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_bad_appends_write_nothing(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_partition_t *p = make_topic(log, "bad", 1);
    bk_record_t r = {NULL, -5, NULL, 0, NULL, 0, 0};
    CHECK_EQ_INT(bk_partition_append(p, &r, 1, 1, NULL, NULL), BK_EINVAL);
    CHECK_EQ_INT(bk_partition_append(p, &r, 0, 1, NULL, NULL), BK_EINVAL);
    CHECK_EQ_INT(bk_partition_end_offset(p), 0);
    CHECK_EQ_INT(fx_file_size(fx_path(dir, "bad-0/00000000000000000000.log")), 0);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static const char big_value[128] =
    "0123456789012345678901234567890123456789012345678901234567890123"
    "0123456789";

static void test_max_message_bytes(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    cfg.max_message_bytes = 64; /* the default of topics created without settings */
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_topic_config_t c;
    bk_log_topic_config_defaults(log, &c);
    CHECK_EQ_INT(c.max_message_bytes, 64);
    c.max_message_bytes = 10;
    bk_topic_t *t;
    CHECK_EQ_INT(bk_log_topic_create_with(log, "mm", 2, 1, &c, &t), 0);
    bk_partition_t *p = bk_topic_partition(t, 0);
    bk_header_t h = {(const uint8_t *)"ab", 2, (const uint8_t *)"c", 1};
    bk_record_t ok = {(const uint8_t *)"kkkk", 4, (const uint8_t *)"vvvvvv", 6, NULL, 0, 0};
    bk_record_t with_header = {(const uint8_t *)"kk", 2, (const uint8_t *)"vvvv", 4, &h, 1, 0};
    bk_record_t big = {NULL, -1, (const uint8_t *)"01234567890", 11, NULL, 0, 0};
    bk_record_t big_header = {(const uint8_t *)"kkkk", 4, (const uint8_t *)"vvvv", 4, &h, 1, 0};
    CHECK_EQ_INT(bk_partition_append(p, &ok, 1, 1, NULL, NULL), 0); /* exactly 10 */
    CHECK_EQ_INT(bk_partition_append(p, &with_header, 1, 1, NULL, NULL), 0);
    CHECK_EQ_INT(bk_partition_append(p, &big, 1, 1, NULL, NULL), BK_ETOOBIG);
    CHECK_EQ_INT(bk_partition_append(p, &big_header, 1, 1, NULL, NULL), BK_ETOOBIG);
    bk_record_t batch[2] = {ok, big}; /* one record over the limit refuses the batch */
    CHECK_EQ_INT(bk_partition_append(p, batch, 2, 1, NULL, NULL), BK_ETOOBIG);
    CHECK_EQ_INT(bk_partition_end_offset(p), 2);
    uv_run(&loop, UV_RUN_DEFAULT);
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(p, 0, &rd), 2);
    CHECK_EQ_STR(rd.values[1], "vvvv");
    /* The log-wide default applies to topics without settings. */
    bk_partition_t *q = make_topic(log, "dflt", 1);
    bk_record_t r64 = {NULL, -1, (const uint8_t *)big_value, 64, NULL, 0, 0};
    bk_record_t r65 = {NULL, -1, (const uint8_t *)big_value, 65, NULL, 0, 0};
    CHECK_EQ_INT(bk_partition_append(q, &r64, 1, 1, NULL, NULL), 0);
    CHECK_EQ_INT(bk_partition_append(q, &r65, 1, 1, NULL, NULL), BK_ETOOBIG);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

CHECK_MAIN(CASE(test_round_trip), CASE(test_max_message_bytes), CASE(test_keys_headers_timestamps),
           CASE(test_read_limits), CASE(test_segment_roll_and_restart),
           CASE(test_big_batch_in_small_segments), CASE(test_modes_and_hook),
           CASE(test_close_acks_pending_and_refuses), CASE(test_bad_appends_write_nothing))
