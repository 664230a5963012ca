/* The cleaner on real files: survivors at their original offsets, gaps through reads, index
 * lookups, raw reads and append_raw into another partition, tombstones, and a crash at every
 * step of a cleaning (through the log's I/O seam) leaving a partition that opens with every
 * key's newest value in place. */
#include "log_fixture.h"

#include "log/format.h"
#include "log/partition.h"

#include <stdio.h>

#define KEYS 12
#define VERSIONS 25

/* What was appended: offset -> key and value (value "" with tomb set for a tombstone). */
typedef struct {
    int n;
    int key[4096];
    int tomb[4096];
    char value[4096][32];
} model_t;

static int acked;
static int put_codec; /* the codec of the batches put() appends (a bk_codec_t) */

static void on_ack(void *arg, int status, int64_t base)
{
    (void)arg;
    (void)base;
    CHECK_EQ_INT(status, 0);
    acked++;
}

/* Appends count records in one batch: keys key0, key0+1, ... (mod KEYS); tomb: null values;
 * ts <= 0: now. */
static void put(uv_loop_t *loop, bk_partition_t *p, model_t *m, int key0, int count, int tomb,
                int64_t ts)
{
    bk_record_t recs[8];
    char keys[8][16], vals[8][32];
    for (int i = 0; i < count; i++) {
        int k = (key0 + i) % KEYS;
        int o = m->n + i;
        snprintf(keys[i], sizeof keys[i], "key-%d", k);
        snprintf(vals[i], sizeof vals[i], "v%d-k%d", o, k);
        recs[i] = (bk_record_t){(const uint8_t *)keys[i],
                                (int32_t)strlen(keys[i]),
                                tomb ? NULL : (const uint8_t *)vals[i],
                                tomb ? -1 : (int32_t)strlen(vals[i]),
                                NULL,
                                0,
                                ts};
        m->key[o] = k;
        m->tomb[o] = tomb;
        memcpy(m->value[o], tomb ? "" : vals[i], tomb ? 1 : strlen(vals[i]) + 1);
    }
    int before = acked;
    CHECK_EQ_INT(bk_partition_append_codec(p, recs, (uint32_t)count, 1, put_codec, on_ack, NULL),
                 0);
    while (acked == before)
        uv_run(loop, UV_RUN_ONCE);
    m->n += count;
}

/* Fills p: VERSIONS rounds over the keys, in batches of 1 to 3 records. */
static void fill(uv_loop_t *loop, bk_partition_t *p, model_t *m)
{
    for (int v = 0; v < VERSIONS; v++)
        for (int k = 0; k < KEYS;) {
            int c = 1 + (k + v) % 3;
            if (k + c > KEYS)
                c = KEYS - k;
            put(loop, p, m, k, c, 0, 0);
            k += c;
        }
}

static bk_topic_config_t compact_cfg(void)
{
    bk_topic_config_t c = {.retention_ms = -1,
                           .retention_bytes = -1,
                           .segment_bytes = 1024,
                           .max_message_bytes = 1 << 20};
    bk_topic_config_compaction_defaults(&c);
    c.cleanup_policy = BK_CLEANUP_COMPACT;
    return c;
}

static bk_log_t *open_log(uv_loop_t *loop, const char *dir)
{
    bk_log_config_t cfg = fx_config(dir);
    cfg.index_interval_bytes = 128; /* many index entries, so lookups land inside gaps */
    cfg.cleaner_interval_ms = 0;    /* cleanings only when a test asks */
    bk_log_t *log = NULL;
    CHECK_EQ_INT(bk_log_open(loop, &cfg, &log), 0);
    return log;
}

typedef struct {
    int done, status;
    uint64_t reclaimed;
} cleaned_t;

static void on_cleaned(void *arg, int status, uint64_t reclaimed)
{
    cleaned_t *c = arg;
    c->done = 1;
    c->status = status;
    c->reclaimed = reclaimed;
}

static int clean(uv_loop_t *loop, bk_partition_t *p, int64_t now, cleaned_t *c)
{
    memset(c, 0, sizeof *c);
    int rc = bk_partition_clean(p, now, on_cleaned, c);
    if (rc != 0)
        return rc;
    while (!c->done)
        uv_run(loop, UV_RUN_ONCE);
    return c->status;
}

/* Every record of p, as a model-shaped table; returns the count. */
typedef struct {
    int n;
    int64_t off[4096];
    int key[4096];
    int tomb[4096];
    char value[4096][32];
} seen_t;

static int on_seen(void *arg, const bk_record_view_t *v)
{
    seen_t *s = arg;
    s->off[s->n] = v->offset;
    s->key[s->n] = v->key_len > 4 ? atoi((const char *)v->key + 4) : -1;
    s->tomb[s->n] = v->value_len < 0;
    int len = v->value_len > 0 && v->value_len < 31 ? v->value_len : 0;
    memcpy(s->value[s->n], v->value ? (const char *)v->value : "", (size_t)len);
    s->value[s->n][len] = '\0';
    s->n++;
    return 0;
}

static void read_everything(bk_partition_t *p, seen_t *s)
{
    s->n = 0;
    int64_t off = bk_partition_start_offset(p), next;
    while (off < bk_partition_high_watermark(p)) {
        int rc = bk_partition_read(p, off, 7, 0, on_seen, s, &next);
        CHECK(rc >= 0);
        CHECK(next > off || rc == 0);
        if (rc <= 0 && next == off)
            break;
        off = next;
    }
}

/* The newest offset of key k below limit in the model, -1 if none. */
static int newest_below(const model_t *m, int k, int limit)
{
    for (int o = limit - 1; o >= 0; o--)
        if (m->key[o] == k)
            return o;
    return -1;
}

/* What any state of p must show: every record is one the model has at that offset, and every
 * key's newest record is there (unless it is an expired tombstone). */
static void check_consistent(bk_partition_t *p, const model_t *m, int tombs_may_go)
{
    seen_t *s = calloc(1, sizeof *s);
    read_everything(p, s);
    int found[KEYS] = {0};
    for (int i = 0; i < s->n; i++) {
        int o = (int)s->off[i];
        CHECK(o >= 0 && o < m->n);
        CHECK(i == 0 || s->off[i] > s->off[i - 1]);
        CHECK_EQ_INT(s->key[i], m->key[o]);
        CHECK_EQ_INT(s->tomb[i], m->tomb[o]);
        CHECK(strcmp(s->value[i], m->value[o]) == 0);
        if (newest_below(m, m->key[o], m->n) == o)
            found[m->key[o]] = 1;
    }
    for (int k = 0; k < KEYS; k++) {
        int o = newest_below(m, k, m->n);
        CHECK(o < 0 || found[k] || (tombs_may_go && m->tomb[o]));
    }
    CHECK_EQ_INT(bk_partition_end_offset(p), m->n);
    free(s);
}

/* After a full cleaning: below the active segment's base only the newest of each key in the
 * whole log (a newer value in the active segment makes an older one obsolete too). */
static void check_compacted(bk_partition_t *p, const model_t *m, int64_t active_base)
{
    seen_t *s = calloc(1, sizeof *s);
    read_everything(p, s);
    int want = 0;
    for (int o = 0; o < m->n; o++)
        want += o >= active_base || newest_below(m, m->key[o], m->n) == o;
    CHECK_EQ_INT(s->n, want);
    check_consistent(p, m, 0);
    free(s);
}

static void test_clean_keeps_newest_at_offsets(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char *dir = fx_tmpdir();
    bk_log_t *log = open_log(&loop, dir);
    bk_topic_config_t c = compact_cfg();
    bk_topic_t *t;
    CHECK_EQ_INT(bk_log_topic_create_with(log, "c", 1, 1, &c, &t), 0);
    bk_partition_t *p = bk_topic_partition(t, 0);
    static model_t m;
    memset(&m, 0, sizeof m);
    fill(&loop, p, &m);
    CHECK(p->nseg > 5);
    uint64_t size0 = bk_partition_size_bytes(p);
    int64_t active = bk_partition_active(p)->base;
    CHECK(bk_partition_dirty_ratio(p, bk_wall_ms()) == 1.0);
    cleaned_t cl;
    CHECK_EQ_INT(clean(&loop, p, bk_wall_ms(), &cl), 0);
    CHECK(cl.reclaimed > 0);
    CHECK_EQ_INT(bk_partition_size_bytes(p), size0 - cl.reclaimed);
    CHECK(bk_partition_dirty_ratio(p, bk_wall_ms()) == 0.0);
    CHECK_EQ_INT(bk_partition_start_offset(p), 0);
    check_compacted(p, &m, active);
    /* Lookups from every offset, gaps included, find the first record at or after it. */
    seen_t *all = calloc(1, sizeof *all), *one = calloc(1, sizeof *one);
    read_everything(p, all);
    for (int64_t o = 0, i = 0; o < m.n; o++) {
        while (all->off[i] < o)
            i++;
        int64_t next;
        one->n = 0;
        CHECK_EQ_INT(bk_partition_read(p, o, 1, 0, on_seen, one, &next), 1);
        CHECK_EQ_INT(one->off[0], all->off[i]);
        CHECK_EQ_INT(next, all->off[i] + 1);
    }
    /* A second cleaning finds nothing dirty and changes nothing. */
    CHECK_EQ_INT(clean(&loop, p, bk_wall_ms(), &cl), 0);
    CHECK_EQ_INT(cl.reclaimed, 0);

    /* The gaps travel: raw batches into a plain partition, which reads the same. */
    bk_topic_t *t2;
    CHECK_EQ_INT(bk_log_topic_create(log, "copy", 4, 1, &t2), 0);
    bk_partition_t *q = bk_topic_partition(t2, 0);
    int64_t off = 0;
    while (off < bk_partition_end_offset(p)) {
        uint8_t *raw = NULL;
        size_t cap = 0, len = 0;
        CHECK(bk_partition_read_raw(p, off, bk_partition_end_offset(p), 300, &raw, &cap, &len) > 0);
        int before = acked;
        CHECK_EQ_INT(bk_partition_append_raw(q, raw, len, on_ack, NULL), 0);
        while (acked == before)
            uv_run(&loop, UV_RUN_ONCE);
        free(raw);
        off = bk_partition_end_offset(q);
    }
    CHECK_EQ_INT(bk_partition_end_offset(q), m.n);
    read_everything(q, one);
    CHECK_EQ_INT(one->n, all->n);
    for (int i = 0; i < all->n && i < one->n; i++)
        CHECK(one->off[i] == all->off[i] && strcmp(one->value[i], all->value[i]) == 0);
    fx_close(&loop, log);

    /* On disk the batches stay contiguous (a dropped batch's offsets went to the one before):
     * each starts where the previous one ended, across files; some have records missing. */
    int64_t expect = 0;
    int gappy = 0;
    for (int64_t base = 0; base < m.n;) {
        char path[4096];
        snprintf(path, sizeof path, "%s/c-0/%020lld.log", dir, (long long)base);
        size_t len;
        uint8_t *f = fx_read_file(path, &len);
        CHECK(f != NULL && base == expect);
        if (!f)
            break;
        bk_batch_header_t h;
        for (size_t at = 0, total; at + 12 <= len; at += total) {
            total = (size_t)bk_be32_get(f + at + BK_BATCH_OFF_LENGTH) + BK_BATCH_LOG_OVERHEAD;
            CHECK(total <= len - at);
            if (total > len - at)
                break;
            CHECK_EQ_INT(bk_batch_verify(f + at, total, &h), 0);
            CHECK_EQ_INT(h.base_offset, expect);
            gappy += h.count < h.last_offset_delta + 1;
            expect = bk_batch_end(&h);
        }
        free(f);
        base = expect;
    }
    CHECK_EQ_INT(expect, m.n);
    CHECK(gappy > 0);

    /* Reopened: the same, from the disk. */
    log = open_log(&loop, dir);
    p = bk_topic_partition(bk_log_topic_find(log, "c", 1), 0);
    check_compacted(p, &m, active);
    q = bk_topic_partition(bk_log_topic_find(log, "copy", 4), 0);
    read_everything(q, one);
    CHECK_EQ_INT(one->n, all->n);
    fx_close(&loop, log);
    free(all);
    free(one);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_tombstones_expire(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char *dir = fx_tmpdir();
    bk_log_t *log = open_log(&loop, dir);
    bk_topic_config_t c = compact_cfg();
    c.delete_retention_ms = 60000;
    bk_topic_t *t;
    CHECK_EQ_INT(bk_log_topic_create_with(log, "c", 1, 1, &c, &t), 0);
    bk_partition_t *p = bk_topic_partition(t, 0);
    static model_t m;
    memset(&m, 0, sizeof m);
    int64_t now = 10000000;
    fill(&loop, p, &m);
    put(&loop, p, &m, 0, 1, 1, now - 120000); /* key 0: an old tombstone */
    put(&loop, p, &m, 1, 1, 1, now - 1000);   /* key 1: a fresh one */
    fill(&loop, p, &m);                       /* roll them out of the active segment */
    for (int k = 2; k < KEYS; k++)            /* ... with keys 0 and 1 left deleted */
        put(&loop, p, &m, k, 1, 0, 0);
    fill(&loop, p, &m);
    put(&loop, p, &m, 0, 1, 1, now - 120000);
    put(&loop, p, &m, 1, 1, 1, now - 1000);
    for (int i = 0; i < 40; i++)
        put(&loop, p, &m, 2 + i % (KEYS - 2), 1, 0, 0);
    int64_t active = bk_partition_active(p)->base;
    CHECK(active > m.n - 40);
    cleaned_t cl;
    CHECK_EQ_INT(clean(&loop, p, now, &cl), 0);
    seen_t *s = calloc(1, sizeof *s);
    read_everything(p, s);
    int k0 = 0, k1 = 0;
    for (int i = 0; i < s->n; i++) {
        k0 += s->key[i] == 0;
        k1 += s->key[i] == 1 && s->off[i] < active;
    }
    CHECK_EQ_INT(k0, 0); /* tombstone and values gone */
    CHECK_EQ_INT(k1, 1); /* the tombstone alone */
    check_consistent(p, &m, 1);
    /* Later, the fresh tombstone is due: the segment counts as dirty again and it goes. */
    CHECK(bk_partition_dirty_ratio(p, now) == 0.0);
    CHECK(bk_partition_dirty_ratio(p, now + 60000) > 0.0);
    CHECK_EQ_INT(clean(&loop, p, now + 60000, &cl), 0);
    read_everything(p, s);
    k1 = 0;
    for (int i = 0; i < s->n; i++)
        k1 += s->key[i] == 1;
    CHECK_EQ_INT(k1, 0);
    free(s);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_lag_and_refusals(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char *dir = fx_tmpdir();
    bk_log_t *log = open_log(&loop, dir);
    bk_topic_config_t c = compact_cfg();
    c.min_compaction_lag_ms = 3600000;
    bk_topic_t *t, *plain;
    CHECK_EQ_INT(bk_log_topic_create_with(log, "c", 1, 1, &c, &t), 0);
    CHECK_EQ_INT(bk_log_topic_create(log, "plain", 5, 1, &plain), 0);
    bk_partition_t *p = bk_topic_partition(t, 0);
    static model_t m;
    memset(&m, 0, sizeof m);
    fill(&loop, p, &m);
    cleaned_t cl;
    /* Every record is newer than the lag: nothing to clean. */
    CHECK_EQ_INT(bk_partition_clean(p, bk_wall_ms(), on_cleaned, &cl), 1);
    /* Two hours later it all may go. */
    CHECK_EQ_INT(clean(&loop, p, bk_wall_ms() + 7200000, &cl), 0);
    CHECK(cl.reclaimed > 0);
    CHECK_EQ_INT(bk_partition_clean(bk_topic_partition(plain, 0), bk_wall_ms(), on_cleaned, &cl),
                 BK_EINVAL);
    /* While a cleaning runs: a second one and a truncation wait. */
    fill(&loop, p, &m);
    memset(&cl, 0, sizeof cl);
    CHECK_EQ_INT(bk_partition_clean(p, bk_wall_ms() + 7200000, on_cleaned, &cl), 0);
    CHECK_EQ_INT(bk_partition_clean(p, bk_wall_ms() + 7200000, on_cleaned, &cl), UV_EBUSY);
    CHECK_EQ_INT(bk_partition_truncate(p, 5), UV_EBUSY);
    while (!cl.done)
        uv_run(&loop, UV_RUN_ONCE);
    CHECK_EQ_INT(cl.status, 0);
    check_consistent(p, &m, 0);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

/* ---- a crash at every step ---- */

/* Counts the changes a cleaning makes to the disk; from the limit on, none lands (they fail
 * with EIO, as if the process had died just before). */
static atomic_int crash_ops, crash_limit;

static int crashed(void)
{
    int n = atomic_fetch_add(&crash_ops, 1);
    int lim = atomic_load(&crash_limit);
    return lim >= 0 && n >= lim;
}

static int cr_open(const char *path, int flags, int mode)
{
    if ((flags & (O_CREAT | O_TRUNC)) && crashed())
        return UV_EIO;
    return bk_log_io_default()->open(path, flags, mode);
}
static int64_t cr_pwrite(int fd, const void *buf, size_t len, int64_t off)
{
    return crashed() ? UV_EIO : bk_log_io_default()->pwrite(fd, buf, len, off);
}
static int cr_fsync(int fd)
{
    return crashed() ? UV_EIO : bk_log_io_default()->fsync(fd);
}
static int cr_ftruncate(int fd, int64_t len)
{
    return crashed() ? UV_EIO : bk_log_io_default()->ftruncate(fd, len);
}
static int cr_rename(const char *from, const char *to)
{
    return crashed() ? UV_EIO : bk_log_io_default()->rename(from, to);
}
static int cr_unlink(const char *path)
{
    return crashed() ? UV_EIO : bk_log_io_default()->unlink(path);
}

static void test_crash_at_every_step(void)
{
    static bk_log_io_t io;
    io = *bk_log_io_default();
    io.open = cr_open;
    io.pwrite = cr_pwrite;
    io.fsync = cr_fsync;
    io.ftruncate = cr_ftruncate;
    io.rename = cr_rename;
    io.unlink = cr_unlink;
    static model_t m;
    int steps = 0, finished = 0;
    for (int limit = 0; !finished && limit < 400; limit++) {
        atomic_store(&crash_limit, -1);
        bk_log_io_set(&io);
        uv_loop_t loop;
        uv_loop_init(&loop);
        char *dir = fx_tmpdir();
        bk_log_t *log = open_log(&loop, dir);
        bk_topic_config_t c = compact_cfg();
        bk_topic_t *t;
        CHECK_EQ_INT(bk_log_topic_create_with(log, "c", 1, 1, &c, &t), 0);
        bk_partition_t *p = bk_topic_partition(t, 0);
        memset(&m, 0, sizeof m);
        fill(&loop, p, &m);
        int64_t active = bk_partition_active(p)->base;
        atomic_store(&crash_ops, 0);
        atomic_store(&crash_limit, limit);
        cleaned_t cl;
        int rc = clean(&loop, p, bk_wall_ms(), &cl);
        finished = rc == 0 && atomic_load(&crash_ops) <= limit;
        steps = atomic_load(&crash_ops);
        atomic_store(&crash_limit, -1); /* the "process" is gone: what is on disk stays */
        check_consistent(p, &m, 0);     /* still consistent in memory too */
        fx_close(&loop, log);
        bk_log_io_set(NULL);
        log = open_log(&loop, dir); /* restart: finishes or discards */
        p = bk_topic_partition(bk_log_topic_find(log, "c", 1), 0);
        check_consistent(p, &m, 0);
        if (finished)
            check_compacted(p, &m, active);
        /* No temp file is left behind by the open. */
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s/c-0/00000000000000000000.log.cleaned", dir);
        CHECK(!fx_exists(tmp));
        /* And a cleaning after the restart completes the job. */
        CHECK_EQ_INT(clean(&loop, p, bk_wall_ms(), &cl), 0);
        check_compacted(p, &m, active);
        fx_close(&loop, log);
        fx_loop_done(&loop);
        fx_rmrf(dir);
    }
    CHECK(finished);
    CHECK(steps > 10); /* many steps were each interrupted */
}

/* The same with every batch compressed: a cleaning decompresses a batch, keeps its survivors
 * and compresses them again with the batch's codec, so superseded records and expired
 * tombstones go from compressed batches too (before, such batches were kept whole). */
static void test_compressed_batches_cleaned(void)
{
    for (int codec = BK_CODEC_GZIP; codec <= BK_CODEC_ZSTD; codec++) {
        put_codec = codec;
        test_clean_keeps_newest_at_offsets();
        test_tombstones_expire();
    }
    put_codec = BK_CODEC_NONE;
}

CHECK_MAIN(CASE(test_clean_keeps_newest_at_offsets), CASE(test_tombstones_expire),
           CASE(test_lag_and_refusals), CASE(test_crash_at_every_step),
           CASE(test_compressed_batches_cleaned))
