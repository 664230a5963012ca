/* Preallocation under fsync=always: the active segment is zeroed ahead of small writes (so
 * later fdatasyncs overwrite allocated blocks), a rolled segment loses its zeros in the round
 * that seals it, and open cuts zeros after the last batch quietly in any segment, while a
 * sealed segment whose batches then stop short of its successor is still refused. Also the
 * zero-ahead rule itself, and that the other fsync modes never preallocate. */
#include "log_fixture.h"

#include "log/format.h"
#include "log/segment.h"

#include <dirent.h>
#include <inttypes.h>

#define CHUNK 65536u

typedef struct {
    uv_loop_t loop;
    bk_log_t *log;
    bk_partition_t *p;
    int rc;
} opened_t;

static void open_with(opened_t *o, const char *dir, bk_fsync_mode_t mode, uint64_t segment_bytes)
{
    uv_loop_init(&o->loop);
    bk_log_config_t cfg = fx_config(dir);
    cfg.fsync_mode = mode;
    cfg.preallocate_bytes = CHUNK;
    cfg.segment_bytes = segment_bytes;
    o->log = NULL;
    o->p = NULL;
    o->rc = bk_log_open(&o->loop, &cfg, &o->log);
    if (o->rc < 0)
        return;
    bk_topic_t *t = bk_log_topic_find(o->log, "t", 1);
    if (!t)
        CHECK_EQ_INT(bk_log_topic_create(o->log, "t", 1, 1, &t), 0);
    o->p = bk_topic_partition(t, 0);
}

static void finish(opened_t *o)
{
    if (o->log)
        fx_close(&o->loop, o->log);
    fx_loop_done(&o->loop);
}

/* Appends values "value-<from>".."value-<to - 1>" and waits for their acknowledgements. */
static void produce(opened_t *o, int from, int to)
{
    fx_acks_t acks = {0};
    char v[32];
    for (int i = from; i < to; i++) {
        snprintf(v, sizeof v, "value-%d", i);
        CHECK_EQ_INT(fx_append(o->p, NULL, v, &acks, i - from), 0);
    }
    uv_run(&o->loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, to - from);
    for (int i = 0; i < acks.calls && i < to - from; i++)
        CHECK_EQ_INT((int)acks.offset[i], from + i);
}

static void check_values(opened_t *o, int n)
{
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(o->p, 0, &rd), n);
    char want[32];
    for (int i = 0; i < n && i < rd.n; i++) {
        snprintf(want, sizeof want, "value-%d", i);
        CHECK_EQ_STR(rd.values[i], want);
    }
}

/* Bytes of whole batches at the start of a .log (where its data ends). */
static long data_end(const char *path)
{
    size_t len;
    uint8_t *b = fx_read_file(path, &len);
    size_t pos = 0;
    bk_batch_header_t h;
    while (b && pos < len && bk_batch_header_parse(b + pos, len - pos, &h) == 0 && h.length > 0 &&
           pos + bk_batch_total(&h) <= len)
        pos += bk_batch_total(&h);
    free(b);
    return (long)pos;
}

static const char *seg(const char *dir, int64_t base)
{
    static char buf[2][1024];
    static int i;
    char *p = buf[i++ & 1];
    snprintf(p, 1024, "%s/t-0/%020" PRId64 ".log", dir, base);
    return p;
}

static void test_zero_ahead_rule(void)
{
    bk_segment_t s = {0};
    s.file_size = 100;
    CHECK_EQ_INT((int)bk_segment_zero_ahead(&s, 100, 50, 0, 1 << 20), 0); /* off */
    CHECK_EQ_INT((int)bk_segment_zero_ahead(&s, 100, 50, CHUNK, 1 << 20), (int)CHUNK);
    CHECK_EQ_INT((int)bk_segment_zero_ahead(&s, CHUNK - 10, 10, CHUNK, 1 << 20), 2 * (int)CHUNK);
    /* the step follows the write: 256 writes of 1000 bytes, within 64 KiB .. chunk */
    CHECK_EQ_INT((int)bk_segment_zero_ahead(&s, 100, 1000, 1 << 20, 1 << 30), 256000);
    CHECK_EQ_INT((int)bk_segment_zero_ahead(&s, 100, 8000, 1 << 20, 1 << 30), 1 << 20);
    CHECK_EQ_INT((int)bk_segment_zero_ahead(&s, 100, 50, CHUNK, 4096), 4096); /* roll size */
    CHECK_EQ_INT((int)bk_segment_zero_ahead(&s, 4000, 96, CHUNK, 4096), 0);   /* at the limit */
    CHECK_EQ_INT((int)bk_segment_zero_ahead(&s, 100, 1 << 20, CHUNK, 1 << 30), 0); /* large */
    s.file_size = CHUNK;
    CHECK_EQ_INT((int)bk_segment_zero_ahead(&s, 100, 50, CHUNK, 1 << 20), 0); /* inside */
    s.file_size = 0;
    s.sealed = 1;
    CHECK_EQ_INT((int)bk_segment_zero_ahead(&s, 100, 50, CHUNK, 1 << 20), 0);
}

static void test_active_segment_zeroed_ahead(void)
{
    char *dir = fx_tmpdir();
    opened_t o;
    open_with(&o, dir, BK_FSYNC_ALWAYS, 1 << 20);
    CHECK_EQ_INT(o.rc, 0);
    produce(&o, 0, 10);
    CHECK_EQ_INT(fx_file_size(seg(dir, 0)), (long)CHUNK);
    long end10 = data_end(seg(dir, 0));
    CHECK(end10 > 0 && end10 < (long)CHUNK);
    produce(&o, 10, 20); /* overwrites zeros: the file does not grow */
    CHECK_EQ_INT(fx_file_size(seg(dir, 0)), (long)CHUNK);
    long end20 = data_end(seg(dir, 0));
    CHECK(end20 > end10);
    check_values(&o, 20);
    finish(&o);
    /* Open cuts the zeros, quietly, and offsets go on. */
    open_with(&o, dir, BK_FSYNC_ALWAYS, 1 << 20);
    CHECK_EQ_INT(o.rc, 0);
    CHECK_EQ_INT(fx_file_size(seg(dir, 0)), end20);
    check_values(&o, 20);
    produce(&o, 20, 21);
    check_values(&o, 21);
    finish(&o);
    fx_rmrf(dir);
}

static void test_roll_cuts_zeros_of_sealed_segment(void)
{
    char *dir = fx_tmpdir();
    opened_t o;
    open_with(&o, dir, BK_FSYNC_ALWAYS, 4096);
    CHECK_EQ_INT(o.rc, 0);
    produce(&o, 0, 5);
    CHECK_EQ_INT(fx_file_size(seg(dir, 0)), 4096); /* zeros up to the roll size, no further */
    produce(&o, 5, 200);                           /* rolls several times */
    check_values(&o, 200);
    /* Every sealed segment holds exactly its batches; only the newest may end in zeros. */
    struct dirent **names;
    int n = scandir(fx_path(dir, "t-0"), &names, NULL, alphasort), logs = 0, exact = 0;
    for (int i = 0; i < n; i++) {
        const char *nm = names[i]->d_name;
        size_t l = strlen(nm);
        if (l > 4 && strcmp(nm + l - 4, ".log") == 0) {
            char path[1100];
            snprintf(path, sizeof path, "%s/t-0/%s", dir, nm);
            logs++;
            exact += fx_file_size(path) == data_end(path);
        }
        free(names[i]);
    }
    free(names);
    CHECK(logs >= 3);
    CHECK(exact >= logs - 1);
    finish(&o);
    fx_rmrf(dir);
}

static void test_crash_before_the_cut(void)
{
    /* A crash between a roll and the round that cuts the sealed segment's zeros: open
     * accepts the zeros (the batches still meet the next segment) and cuts them. */
    char *dir = fx_tmpdir();
    opened_t o;
    open_with(&o, dir, BK_FSYNC_ALWAYS, 4096);
    produce(&o, 0, 120);
    finish(&o);
    long exact = fx_file_size(seg(dir, 0));
    CHECK_EQ_INT(data_end(seg(dir, 0)), exact);
    static const uint8_t zeros[5000];
    fx_append_file(seg(dir, 0), zeros, sizeof zeros);
    open_with(&o, dir, BK_FSYNC_ALWAYS, 4096);
    CHECK_EQ_INT(o.rc, 0);
    CHECK_EQ_INT(fx_file_size(seg(dir, 0)), exact);
    check_values(&o, 120);
    finish(&o);
    /* The same zeros after a sealed segment that lost its last batch: a gap, refused. */
    long ends_before_last = 0, pos = 0;
    {
        size_t len;
        uint8_t *b = fx_read_file(seg(dir, 0), &len);
        bk_batch_header_t h;
        while ((size_t)pos < len && bk_batch_header_parse(b + pos, len - (size_t)pos, &h) == 0) {
            ends_before_last = pos;
            pos += (long)bk_batch_total(&h);
        }
        free(b);
    }
    fx_truncate(seg(dir, 0), ends_before_last);
    fx_append_file(seg(dir, 0), zeros, sizeof zeros);
    open_with(&o, dir, BK_FSYNC_ALWAYS, 4096);
    CHECK_EQ_INT(o.rc, BK_ECORRUPT);
    finish(&o);
    fx_rmrf(dir);
}

static void test_torn_write_into_zeros(void)
{
    /* A batch torn while overwriting preallocated zeros: cut back to the last whole batch. */
    char *dir = fx_tmpdir();
    opened_t o;
    open_with(&o, dir, BK_FSYNC_ALWAYS, 1 << 20);
    produce(&o, 0, 3);
    finish(&o);
    long end = data_end(seg(dir, 0));
    CHECK_EQ_INT(fx_file_size(seg(dir, 0)), (long)CHUNK);
    size_t len;
    uint8_t *b = fx_read_file(seg(dir, 0), &len);
    memcpy(b + end, b, 40); /* the first 40 bytes of a batch header, then zeros */
    fx_write_file(seg(dir, 0), b, len);
    free(b);
    open_with(&o, dir, BK_FSYNC_ALWAYS, 1 << 20);
    CHECK_EQ_INT(o.rc, 0);
    CHECK_EQ_INT(fx_file_size(seg(dir, 0)), end);
    check_values(&o, 3);
    produce(&o, 3, 4);
    check_values(&o, 4);
    finish(&o);
    fx_rmrf(dir);
}

static void test_other_modes_never_preallocate(void)
{
    static const bk_fsync_mode_t modes[] = {BK_FSYNC_INTERVAL, BK_FSYNC_NEVER};
    for (int m = 0; m < 2; m++) {
        char *dir = fx_tmpdir();
        opened_t o;
        open_with(&o, dir, modes[m], 1 << 20);
        produce(&o, 0, 10);
        CHECK_EQ_INT(fx_file_size(seg(dir, 0)), data_end(seg(dir, 0)));
        finish(&o);
        fx_rmrf(dir);
    }
}

CHECK_MAIN(CASE(test_zero_ahead_rule), CASE(test_active_segment_zeroed_ahead),
           CASE(test_roll_cuts_zeros_of_sealed_segment), CASE(test_crash_before_the_cut),
           CASE(test_torn_write_into_zeros), CASE(test_other_modes_never_preallocate))
