/* Recovery at open, on real files damaged on purpose: torn tails at several cut points,
 * garbage after the last batch, a flipped bit in the tail batch (all cut back to the last
 * good batch, offsets never reused); a flipped bit or a gap in a sealed segment (refused with
 * BK_ECORRUPT); a deleted or stale index (rebuilt byte for byte). */
#include "log_fixture.h"

#include "log/format.h"

#define SEG0 "t-0/00000000000000000000.log"
#define IDX0 "t-0/00000000000000000000.index"

/* Writes n single-record batches "value-<i>" to topic t (partition 0), then closes. */
static void populate(const char *dir, int n, uint64_t segment_bytes, uint32_t index_interval)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    cfg.segment_bytes = segment_bytes;
    cfg.index_interval_bytes = index_interval;
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_topic_t *t;
    CHECK_EQ_INT(bk_log_topic_create(log, "t", 1, 1, &t), 0);
    fx_acks_t acks = {0};
    char v[32];
    for (int i = 0; i < n; i++) {
        snprintf(v, sizeof v, "value-%d", i);
        CHECK_EQ_INT(fx_append(bk_topic_partition(t, 0), NULL, v, &acks, i), 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, n);
    fx_close(&loop, log);
    fx_loop_done(&loop);
}

/* End positions of the batches in a .log (ends[i] = end of batch i); returns the count. */
static int batch_ends(const char *path, long *ends, int max)
{
    size_t len;
    uint8_t *b = fx_read_file(path, &len);
    int n = 0;
    size_t pos = 0;
    bk_batch_header_t h;
    while (b && n < max && pos < len && bk_batch_header_parse(b + pos, len - pos, &h) == 0) {
        pos += bk_batch_total(&h);
        ends[n++] = (long)pos;
    }
    free(b);
    return n;
}

typedef struct {
    uv_loop_t loop;
    bk_log_t *log;
    bk_partition_t *p;
    int rc;
} opened_t;

static uint32_t reopen_index_interval = 4096;

static void reopen(opened_t *o, const char *dir, uint64_t segment_bytes)
{
    uv_loop_init(&o->loop);
    bk_log_config_t cfg = fx_config(dir);
    cfg.segment_bytes = segment_bytes;
    cfg.index_interval_bytes = reopen_index_interval;
    o->log = NULL;
    o->p = NULL;
    o->rc = bk_log_open(&o->loop, &cfg, &o->log);
    if (o->rc == 0) {
        bk_topic_t *t = bk_log_topic_find(o->log, "t", 1);
        CHECK(t != NULL);
        o->p = t ? bk_topic_partition(t, 0) : NULL;
    }
}

static void finish(opened_t *o)
{
    if (o->log)
        fx_close(&o->loop, o->log);
    fx_loop_done(&o->loop);
}

/* After recovery: exactly `good` records value-0..value-<good-1>, and the next append gets
 * offset `good`. */
static void check_prefix(opened_t *o, int good)
{
    CHECK_EQ_INT(o->rc, 0);
    if (o->rc)
        return;
    CHECK_EQ_INT(bk_partition_end_offset(o->p), good);
    CHECK_EQ_INT(bk_partition_high_watermark(o->p), good);
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(o->p, 0, &rd), good);
    char want[32];
    for (int i = 0; i < good && i < rd.n; i++) {
        snprintf(want, sizeof want, "value-%d", i);
        CHECK_EQ_STR(rd.values[i], want);
    }
    fx_acks_t acks = {0};
    CHECK_EQ_INT(fx_append(o->p, NULL, "new", &acks, 0), 0);
    uv_run(&o->loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.offset[0], good);
}

static void test_torn_tail_cut_points(void)
{
    char *dir = fx_tmpdir();
    populate(dir, 5, 1 << 20, 4096);
    long ends[8];
    CHECK_EQ_INT(batch_ends(fx_path(dir, SEG0), ends, 8), 5);
    size_t len;
    uint8_t *orig = fx_read_file(fx_path(dir, SEG0), &len);
    long last = ends[3]; /* start of the last batch */
    long cuts[] = {ends[4] - 1, last + 61, last + 60,   last + 30, last + 12,
                   last + 1,    last,      ends[2] + 5, 3};
    int goods[] = {4, 4, 4, 4, 4, 4, 4, 3, 0};
    for (size_t c = 0; c < BK_ARRAY_LEN(cuts); c++) {
        fx_write_file(fx_path(dir, SEG0), orig, (size_t)cuts[c]);
        opened_t o;
        reopen(&o, dir, 1 << 20);
        long want_size = goods[c] ? ends[goods[c] - 1] : 0;
        CHECK_EQ_INT(fx_file_size(fx_path(dir, SEG0)), want_size); /* cut on open */
        check_prefix(&o, goods[c]);
        finish(&o);
    }
    free(orig);
    fx_rmrf(dir);
}

static void test_garbage_after_tail(void)
{
    char *dir = fx_tmpdir();
    populate(dir, 3, 1 << 20, 4096);
    long size = fx_file_size(fx_path(dir, SEG0));
    static const uint8_t zeros[4096];
    uint8_t junk[777];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    const uint8_t *garbage[] = {zeros, junk};
    size_t glen[] = {sizeof zeros, sizeof junk};
    for (int g = 0; g < 2; g++) {
        fx_append_file(fx_path(dir, SEG0), garbage[g], glen[g]);
        opened_t o;
        reopen(&o, dir, 1 << 20);
        check_prefix(&o, 3);
        finish(&o);
        /* the "new" record of check_prefix is now part of the log */
        fx_truncate(fx_path(dir, SEG0), size);
    }
    fx_rmrf(dir);
}

static void test_flipped_bit_in_tail_batch(void)
{
    char *dir = fx_tmpdir();
    populate(dir, 4, 1 << 20, 4096);
    long ends[8];
    CHECK_EQ_INT(batch_ends(fx_path(dir, SEG0), ends, 8), 4);
    fx_flip_bit(fx_path(dir, SEG0), ends[3] - 3, 5); /* inside the last value */
    opened_t o;
    reopen(&o, dir, 1 << 20);
    CHECK_EQ_INT(fx_file_size(fx_path(dir, SEG0)), ends[2]);
    check_prefix(&o, 3);
    finish(&o);
    fx_rmrf(dir);
}

static void test_flipped_bit_in_sealed_segment(void)
{
    /* ~75-byte batches, 200-byte segments: two batches per segment. */
    for (int where = 0; where < 3; where++) {
        char *dir = fx_tmpdir();
        populate(dir, 7, 200, 4096);
        long ends[4];
        CHECK_EQ_INT(batch_ends(fx_path(dir, SEG0), ends, 4), 2);
        CHECK(fx_exists(fx_path(dir, "t-0/00000000000000000002.log")));
        long pos = where == 0 ? ends[1] - 2 : where == 1 ? 30 : 20; /* value, header, crc'd attr */
        fx_flip_bit(fx_path(dir, SEG0), pos, 0);
        long before = fx_file_size(fx_path(dir, SEG0));
        opened_t o;
        reopen(&o, dir, 200);
        CHECK_EQ_INT(o.rc, BK_ECORRUPT);
        CHECK(o.log == NULL);
        CHECK_EQ_INT(fx_file_size(fx_path(dir, SEG0)), before); /* never "repaired" */
        finish(&o);
        fx_rmrf(dir);
    }
}

static void test_gap_between_segments(void)
{
    char *dir = fx_tmpdir();
    populate(dir, 7, 200, 4096);
    CHECK_EQ_INT(unlink(fx_path(dir, "t-0/00000000000000000002.log")), 0);
    opened_t o;
    reopen(&o, dir, 200);
    CHECK_EQ_INT(o.rc, BK_ECORRUPT);
    finish(&o);
    fx_rmrf(dir);
}

static void test_torn_sealed_tail_before_empty_segment(void)
{
    /* Crash right after a roll: the sealed segment's last batch torn, the new one empty. */
    char *dir = fx_tmpdir();
    populate(dir, 2, 200, 4096);
    long ends[4];
    CHECK_EQ_INT(batch_ends(fx_path(dir, SEG0), ends, 4), 2);
    fx_write_file(fx_path(dir, "t-0/00000000000000000002.log"), "", 0);
    fx_truncate(fx_path(dir, SEG0), ends[1] - 4);
    opened_t o;
    reopen(&o, dir, 200);
    CHECK(!fx_exists(fx_path(dir, "t-0/00000000000000000002.log")));
    check_prefix(&o, 1);
    finish(&o);
    /* An empty segment that does line up (offset 2 follows value-0 and "new") is kept and
     * becomes the active one. */
    fx_write_file(fx_path(dir, "t-0/00000000000000000002.log"), "", 0);
    opened_t o2;
    reopen(&o2, dir, 200);
    CHECK_EQ_INT(o2.rc, 0);
    CHECK_EQ_INT(bk_partition_end_offset(o2.p), 2);
    fx_acks_t acks = {0};
    CHECK_EQ_INT(fx_append(o2.p, NULL, "in-two", &acks, 0), 0);
    uv_run(&o2.loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.offset[0], 2);
    CHECK(fx_file_size(fx_path(dir, "t-0/00000000000000000002.log")) > 0);
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(o2.p, 0, &rd), 3);
    CHECK_EQ_STR(rd.values[1], "new");
    CHECK_EQ_STR(rd.values[2], "in-two");
    finish(&o2);
    fx_rmrf(dir);
}

static void test_index_rebuilt(void)
{
    char *dir = fx_tmpdir();
    populate(dir, 40, 1 << 20, 100); /* an index entry every couple of batches */
    reopen_index_interval = 100;
    size_t ilen;
    uint8_t *orig = fx_read_file(fx_path(dir, IDX0), &ilen);
    CHECK(orig && ilen >= 8 * 10);
    /* Deleted. */
    CHECK_EQ_INT(unlink(fx_path(dir, IDX0)), 0);
    opened_t o;
    reopen(&o, dir, 1 << 20);
    CHECK_EQ_INT(o.rc, 0);
    size_t len;
    uint8_t *now = fx_read_file(fx_path(dir, IDX0), &len);
    CHECK_EQ_INT(len, ilen);
    CHECK(now && memcmp(now, orig, ilen) == 0);
    free(now);
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(o.p, 17, &rd), 23);
    CHECK_EQ_STR(rd.values[0], "value-17");
    finish(&o);
    /* Stale: garbage entries pointing anywhere, and a truncated one. */
    uint8_t junk[64];
    memset(junk, 0x5a, sizeof junk);
    fx_write_file(fx_path(dir, IDX0), junk, sizeof junk);
    reopen(&o, dir, 1 << 20);
    now = fx_read_file(fx_path(dir, IDX0), &len);
    CHECK_EQ_INT(len, ilen);
    CHECK(now && memcmp(now, orig, ilen) == 0);
    free(now);
    CHECK_EQ_INT(fx_read_all(o.p, 33, &rd), 7);
    CHECK_EQ_STR(rd.values[0], "value-33");
    finish(&o);
    /* Opening with another interval rewrites the index to match it. */
    reopen_index_interval = 4096;
    reopen(&o, dir, 1 << 20);
    CHECK_EQ_INT(fx_file_size(fx_path(dir, IDX0)), 0);
    CHECK_EQ_INT(fx_read_all(o.p, 0, &rd), 40);
    finish(&o);
    free(orig);
    fx_rmrf(dir);
}

static void test_missing_partition_dir(void)
{
    char *dir = fx_tmpdir();
    populate(dir, 1, 1 << 20, 4096);
    CHECK_EQ_INT(unlink(fx_path(dir, SEG0)), 0);
    CHECK_EQ_INT(unlink(fx_path(dir, IDX0)), 0);
    CHECK_EQ_INT(rmdir(fx_path(dir, "t-0")), 0);
    opened_t o;
    reopen(&o, dir, 1 << 20);
    CHECK_EQ_INT(o.rc, BK_ECORRUPT);
    finish(&o);
    fx_rmrf(dir);
}

static void test_restarts_never_reuse_offsets(void)
{
    char *dir = fx_tmpdir();
    populate(dir, 3, 1 << 20, 4096);
    for (int round = 0; round < 3; round++) {
        opened_t o;
        reopen(&o, dir, 1 << 20);
        CHECK_EQ_INT(bk_partition_end_offset(o.p), 3 + round);
        fx_acks_t acks = {0};
        CHECK_EQ_INT(fx_append(o.p, NULL, "again", &acks, 0), 0);
        uv_run(&o.loop, UV_RUN_DEFAULT);
        CHECK_EQ_INT(acks.offset[0], 3 + round);
        finish(&o);
    }
    fx_rmrf(dir);
}

CHECK_MAIN(CASE(test_torn_tail_cut_points), CASE(test_garbage_after_tail),
           CASE(test_flipped_bit_in_tail_batch), CASE(test_flipped_bit_in_sealed_segment),
           CASE(test_gap_between_segments), CASE(test_torn_sealed_tail_before_empty_segment),
           CASE(test_index_rebuilt), CASE(test_missing_partition_dir),
           CASE(test_restarts_never_reuse_offsets))
