/* The log's replication support on real files: whole batches read with bk_partition_read_raw
 * and appended with bk_partition_append_raw make a byte-identical copy of a partition (files,
 * offsets, epochs, timestamps); read_raw's limits; append_raw's refusals write nothing;
 * truncation at batch boundaries in the active and in older segments, appends after it, and
 * the same state after a reopen; UV_EBUSY while appends are queued; and the leader-epoch
 * list (last epoch, epoch end offsets) through appends, truncation, retention and reopen;
 * and starting over (bk_partition_reset) at a leader's later start. */
#include "log_fixture.h"

#include "common/crc32c.h"
#include "log/epochs.h"
#include "log/format.h"
#include "log/log_internal.h"

#include <dirent.h>

/* ---- helpers ---- */

typedef struct {
    uv_loop_t loop;
    char *dir;
    bk_log_config_t cfg;
    bk_log_t *log;
} env_t;

static void env_open(env_t *e)
{
    CHECK_EQ_INT(bk_log_open(&e->loop, &e->cfg, &e->log), 0);
}

static void env_init(env_t *e, uint32_t index_interval)
{
    e->dir = fx_tmpdir();
    uv_loop_init(&e->loop);
    e->cfg = fx_config(e->dir);
    e->cfg.index_interval_bytes = index_interval;
    env_open(e);
}

static void env_done(env_t *e)
{
    fx_close(&e->loop, e->log);
    fx_loop_done(&e->loop);
    fx_rmrf(e->dir);
}

static void env_reopen(env_t *e)
{
    fx_close(&e->loop, e->log);
    env_open(e);
}

static bk_partition_t *part(env_t *e, const char *name, uint64_t segment_bytes)
{
    bk_topic_t *t = bk_log_topic_find(e->log, name, strlen(name));
    if (!t) {
        bk_topic_config_t c;
        bk_log_topic_config_defaults(e->log, &c);
        c.segment_bytes = segment_bytes;
        c.retention_ms = -1; /* fill() writes old timestamps */
        CHECK_EQ_INT(bk_log_topic_create_with(e->log, name, strlen(name), 1, &c, &t), 0);
    }
    return t ? bk_topic_partition(t, 0) : NULL;
}

/* Appends one batch of n records (values "<tag>-<i>", every other one keyed and with a
 * header) stamped with epoch and timestamps ts, ts+1, ...; runs the loop until durable. */
static void put(env_t *e, bk_partition_t *p, int32_t epoch, uint32_t n, int64_t ts, int tag)
{
    bk_record_t recs[8];
    char vals[8][32];
    bk_header_t hdr = {(const uint8_t *)"h", 1, (const uint8_t *)"hv", 2};
    for (uint32_t i = 0; i < n && i < 8; i++) {
        snprintf(vals[i], sizeof vals[i], "%d-%u", tag, i);
        recs[i] = (bk_record_t){i % 2 ? NULL : (const uint8_t *)"key",
                                i % 2 ? -1 : 3,
                                (const uint8_t *)vals[i],
                                (int32_t)strlen(vals[i]),
                                i % 2 ? NULL : &hdr,
                                i % 2 ? 0 : 1,
                                ts + i};
    }
    fx_acks_t acks = {0};
    fx_args[0] = (fx_ack_arg_t){&acks, 0};
    int64_t end = bk_partition_end_offset(p);
    CHECK_EQ_INT(bk_partition_append(p, recs, n, epoch, fx_on_append, &fx_args[0]), 0);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 1);
    CHECK_EQ_INT(acks.status[0], 0);
    CHECK_EQ_INT(acks.offset[0], end);
}

/* Appends raw batches and runs the loop; returns the status (call's error or callback's). */
static int put_raw(env_t *e, bk_partition_t *p, const uint8_t *b, size_t len, int64_t *base)
{
    fx_acks_t acks = {0};
    fx_args[1] = (fx_ack_arg_t){&acks, 1};
    int rc = bk_partition_append_raw(p, b, len, fx_on_append, &fx_args[1]);
    CHECK_EQ_INT(acks.calls, 0); /* never from inside the call */
    uv_run(&e->loop, UV_RUN_DEFAULT);
    if (rc < 0) {
        CHECK_EQ_INT(acks.calls, 0);
        return rc;
    }
    CHECK_EQ_INT(acks.calls, 1);
    if (base)
        *base = acks.offset[0];
    return acks.status[0];
}

/* Offset after the last batch of a buffer of whole batches (-1 if malformed). */
static int64_t raw_end(const uint8_t *b, size_t len, int *batches)
{
    int64_t end = -1;
    *batches = 0;
    for (size_t pos = 0; pos < len;) {
        bk_batch_header_t h;
        if (bk_batch_header_parse(b + pos, len - pos, &h) < 0 || bk_batch_total(&h) > len - pos)
            return -1;
        end = h.base_offset + h.count;
        pos += bk_batch_total(&h);
        (*batches)++;
    }
    return end;
}

/* Everything from offset to the high watermark as raw batches, max_bytes per call. */
static uint8_t *read_all_raw(bk_partition_t *p, int64_t offset, size_t max_bytes, size_t *total)
{
    uint8_t *all = NULL, *buf = NULL;
    size_t cap = 0, len = 0;
    *total = 0;
    int64_t hw = bk_partition_high_watermark(p);
    while (offset < hw) {
        int n = bk_partition_read_raw(p, offset, hw, max_bytes, &buf, &cap, &len);
        CHECK(n > 0);
        if (n <= 0)
            break;
        int batches;
        int64_t end = raw_end(buf, len, &batches);
        CHECK_EQ_INT(batches, n);
        CHECK(end > offset);
        all = realloc(all, *total + len);
        memcpy(all + *total, buf, len);
        *total += len;
        offset = end;
    }
    free(buf);
    return all;
}

/* Names of the files in a partition directory, sorted, joined by spaces. */
static void list_files(const char *dir, char *out, size_t cap)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            strncat(out, names[i]->d_name, cap - strlen(out) - 2);
            strncat(out, " ", cap - strlen(out) - 1);
        }
        free(names[i]);
    }
    if (n >= 0)
        free(names);
}

/* The partition directories hold the same file names with the same bytes. */
static void check_same_files(const char *a, const char *b)
{
    char la[4096], lb[4096];
    list_files(a, la, sizeof la);
    list_files(b, lb, sizeof lb);
    CHECK_EQ_STR(la, lb);
    CHECK(strlen(la) > 0);
    for (char *name = strtok(la, " "); name; name = strtok(NULL, " ")) {
        char pa[2048], pb[2048];
        snprintf(pa, sizeof pa, "%s/%s", a, name);
        snprintf(pb, sizeof pb, "%s/%s", b, name);
        size_t na, nb;
        uint8_t *da = fx_read_file(pa, &na), *db = fx_read_file(pb, &nb);
        CHECK_EQ_INT(na, nb);
        if (da && db && na == nb && memcmp(da, db, na) != 0) {
            fprintf(stderr, "  %s differs\n", name);
            CHECK(0);
        }
        free(da);
        free(db);
    }
}

typedef struct {
    int n;
    int64_t offset[256], ts[256];
    int32_t epoch[256];
    char value[256][32];
} recs_t;

static int on_rec(void *arg, const bk_record_view_t *v)
{
    recs_t *r = arg;
    if (r->n < 256) {
        r->offset[r->n] = v->offset;
        r->ts[r->n] = v->timestamp;
        r->epoch[r->n] = v->leader_epoch;
        snprintf(r->value[r->n], sizeof r->value[0], "%.*s", v->value_len, (const char *)v->value);
    }
    r->n++;
    return 0;
}

static void read_recs(bk_partition_t *p, recs_t *r)
{
    memset(r, 0, sizeof *r);
    int64_t off = bk_partition_start_offset(p), next;
    int rc;
    while ((rc = bk_partition_read(p, off, 0, 0, on_rec, r, &next)) > 0)
        off = next;
    CHECK_EQ_INT(rc, 0);
}

static void check_same_records(bk_partition_t *a, bk_partition_t *b)
{
    recs_t *ra = malloc(sizeof *ra), *rb = malloc(sizeof *rb);
    read_recs(a, ra);
    read_recs(b, rb);
    CHECK_EQ_INT(ra->n, rb->n);
    CHECK(ra->n > 0);
    for (int i = 0; i < ra->n && i < rb->n && i < 256; i++) {
        CHECK_EQ_INT(ra->offset[i], rb->offset[i]);
        CHECK_EQ_INT(ra->ts[i], rb->ts[i]);
        CHECK_EQ_INT(ra->epoch[i], rb->epoch[i]);
        CHECK_EQ_STR(ra->value[i], rb->value[i]);
    }
    free(ra);
    free(rb);
}

static void check_same_epochs(bk_partition_t *a, bk_partition_t *b)
{
    CHECK_EQ_INT(bk_partition_last_epoch(a), bk_partition_last_epoch(b));
    for (int32_t ep = -1; ep < 10; ep++) {
        int32_t fa, fb;
        CHECK_EQ_INT(bk_partition_epoch_end(a, ep, &fa), bk_partition_epoch_end(b, ep, &fb));
        CHECK_EQ_INT(fa, fb);
    }
}

static char *part_dir(const env_t *e, const char *topic)
{
    static char buf[2][1024];
    static int i;
    char *p = buf[i++ & 1];
    snprintf(p, 1024, "%s/%s-0", e->dir, topic);
    return p;
}

static char *seg_file(const env_t *e, const char *topic, int64_t base, const char *ext)
{
    static char buf[4][1024];
    static int i;
    char *p = buf[i++ & 3];
    snprintf(p, 1024, "%s/%s-0/%020lld%s", e->dir, topic, (long long)base, ext);
    return p;
}

/* Source data used by several tests: epochs 1,1,3,3,7, mixed batch sizes, old timestamps. */
static void fill(env_t *e, bk_partition_t *p)
{
    int64_t ts = 1600000000000LL;
    put(e, p, 1, 1, ts, 0);      /* 0 */
    put(e, p, 1, 3, ts + 10, 1); /* 1..3 */
    put(e, p, 3, 1, ts + 20, 2); /* 4 */
    put(e, p, 3, 2, ts + 30, 3); /* 5..6 */
    put(e, p, 7, 4, ts + 40, 4); /* 7..10 */
    put(e, p, 7, 1, ts + 50, 5); /* 11 */
    put(e, p, 7, 2, ts + 60, 6); /* 12..13 */
    put(e, p, 7, 1, ts + 70, 7); /* 14 */
}

/* ---- copying ---- */

static void copy_case(size_t max_bytes)
{
    env_t e;
    env_init(&e, 150); /* several index entries per segment */
    bk_partition_t *src = part(&e, "src", 400), *dst = part(&e, "dst", 400);
    fill(&e, src);
    CHECK(fx_exists(seg_file(&e, "src", 7, ".log"))); /* several segments */
    size_t len;
    uint8_t *all = read_all_raw(src, 0, max_bytes, &len);
    CHECK_EQ_INT(len, bk_partition_size_bytes(src));
    /* Appended in pieces of the size a follower would fetch. */
    uint8_t *buf = NULL;
    size_t cap = 0, got;
    int64_t off = 0, base;
    int n;
    while ((n = bk_partition_read_raw(src, off, 15, max_bytes, &buf, &cap, &got)) > 0) {
        CHECK_EQ_INT(put_raw(&e, dst, buf, got, &base), 0);
        CHECK_EQ_INT(base, off);
        int batches;
        off = raw_end(buf, got, &batches);
        CHECK_EQ_INT(bk_partition_end_offset(dst), off);
        CHECK_EQ_INT(bk_partition_high_watermark(dst), off);
    }
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(off, 15);
    free(buf);
    check_same_files(part_dir(&e, "src"), part_dir(&e, "dst"));
    check_same_records(src, dst);
    check_same_epochs(src, dst);
    CHECK_EQ_INT(bk_partition_size_bytes(dst), len);
    /* The copy reads back as raw batches byte for byte. */
    size_t len2;
    uint8_t *all2 = read_all_raw(dst, 0, 0, &len2);
    CHECK_EQ_INT(len2, len);
    CHECK(all && all2 && memcmp(all, all2, len) == 0);
    free(all2);

    env_reopen(&e);
    src = part(&e, "src", 400);
    dst = part(&e, "dst", 400);
    CHECK_EQ_INT(bk_partition_end_offset(dst), 15);
    check_same_files(part_dir(&e, "src"), part_dir(&e, "dst"));
    check_same_records(src, dst);
    check_same_epochs(src, dst);
    CHECK_EQ_INT(bk_partition_last_epoch(dst), 7);
    free(all);
    env_done(&e);
}

static void test_copy_small_fetches(void)
{
    copy_case(1); /* one batch per call */
}

static void test_copy_large_fetches(void)
{
    copy_case(1 << 20); /* everything at once, rolls inside one append_raw */
}

/* One append_raw whose batches need several new segments, and appends mixed with normal ones. */
static void test_raw_then_normal_appends(void)
{
    env_t e;
    env_init(&e, 4096);
    bk_partition_t *src = part(&e, "src", 200), *dst = part(&e, "dst", 200);
    fill(&e, src);
    size_t len;
    uint8_t *all = read_all_raw(src, 0, 0, &len);
    CHECK_EQ_INT(put_raw(&e, dst, all, len, NULL), 0);
    check_same_files(part_dir(&e, "src"), part_dir(&e, "dst"));
    CHECK(fx_exists(seg_file(&e, "dst", 7, ".log"))); /* rolled inside the call */
    /* Normal appends continue the copied log, in a new epoch. */
    put(&e, dst, 9, 2, 0, 50);
    CHECK_EQ_INT(bk_partition_end_offset(dst), 17);
    CHECK_EQ_INT(bk_partition_last_epoch(dst), 9);
    int32_t found;
    CHECK_EQ_INT(bk_partition_epoch_end(dst, 8, &found), 15);
    CHECK_EQ_INT(found, 7);
    recs_t *r = malloc(sizeof *r);
    read_recs(dst, r);
    CHECK_EQ_INT(r->n, 17);
    CHECK_EQ_STR(r->value[15], "50-0");
    CHECK_EQ_INT(r->epoch[15], 9);
    free(r);
    free(all);
    env_done(&e);
}

/* ---- read_raw limits ---- */

static size_t batch_size_at(bk_partition_t *p, int64_t offset)
{
    uint8_t *b = NULL;
    size_t cap = 0, len = 0;
    CHECK_EQ_INT(bk_partition_read_raw(p, offset, INT64_MAX, 1, &b, &cap, &len), 1);
    free(b);
    return len;
}

static void test_read_raw_limits(void)
{
    env_t e;
    env_init(&e, 100);
    bk_partition_t *p = part(&e, "lim", 300);
    fill(&e, p);
    uint8_t *b = NULL;
    size_t cap = 0, len = 99;
    int batches;
    /* Ranges. */
    CHECK_EQ_INT(bk_partition_read_raw(p, -1, 15, 0, &b, &cap, &len), BK_ERANGE);
    CHECK_EQ_INT(bk_partition_read_raw(p, 6, 5, 0, &b, &cap, &len), BK_ERANGE);
    CHECK_EQ_INT(bk_partition_read_raw(p, 5, 5, 0, &b, &cap, &len), 0);
    CHECK_EQ_INT(len, 0);
    CHECK_EQ_INT(bk_partition_read_raw(p, 15, 15, 0, &b, &cap, &len), 0);
    CHECK_EQ_INT(bk_partition_read_raw(p, 16, 20, 0, &b, &cap, &len), 0); /* past the hw */
    /* A limit past the high watermark is clamped to it: everything. */
    CHECK_EQ_INT(bk_partition_read_raw(p, 0, INT64_MAX, 0, &b, &cap, &len), 8);
    CHECK_EQ_INT(len, bk_partition_size_bytes(p));
    CHECK_EQ_INT(raw_end(b, len, &batches), 15);
    /* limit is exclusive and only whole batches below it count. */
    CHECK_EQ_INT(bk_partition_read_raw(p, 0, 4, 0, &b, &cap, &len), 2);
    CHECK_EQ_INT(raw_end(b, len, &batches), 4);
    CHECK_EQ_INT(bk_partition_read_raw(p, 0, 3, 0, &b, &cap, &len), 1); /* 1..3 ends at 3 */
    CHECK_EQ_INT(raw_end(b, len, &batches), 1);
    CHECK_EQ_INT(bk_partition_read_raw(p, 1, 3, 0, &b, &cap, &len), 0);
    CHECK_EQ_INT(len, 0);
    /* Starting inside a batch returns that whole batch. */
    CHECK_EQ_INT(bk_partition_read_raw(p, 9, 15, 1, &b, &cap, &len), 1);
    CHECK_EQ_INT(bk_be64_get(b), 7);
    CHECK_EQ_INT(raw_end(b, len, &batches), 11);
    /* max_bytes: at least one batch, then only whole batches within it. */
    size_t s4 = batch_size_at(p, 4), s5 = batch_size_at(p, 5), s7 = batch_size_at(p, 7);
    CHECK_EQ_INT(bk_partition_read_raw(p, 4, 15, 1, &b, &cap, &len), 1);
    CHECK_EQ_INT(len, s4);
    CHECK_EQ_INT(bk_partition_read_raw(p, 4, 15, s4 + s5, &b, &cap, &len), 2);
    CHECK_EQ_INT(len, s4 + s5);
    CHECK_EQ_INT(bk_partition_read_raw(p, 4, 15, s4 + s5 - 1, &b, &cap, &len), 1);
    CHECK_EQ_INT(bk_partition_read_raw(p, 4, 15, s4 + s5 + s7 - 1, &b, &cap, &len), 2);
    /* Spanning rolls: the whole log is several segments; the bytes are their concatenation. */
    CHECK(fx_exists(seg_file(&e, "lim", 4, ".log")) || fx_exists(seg_file(&e, "lim", 5, ".log")));
    size_t whole = 0, flen;
    uint8_t *concat = NULL;
    struct dirent **names;
    int nn = scandir(part_dir(&e, "lim"), &names, NULL, alphasort);
    int segs = 0;
    for (int i = 0; i < nn; i++) {
        const char *nm = names[i]->d_name;
        if (strlen(nm) > 4 && strcmp(nm + strlen(nm) - 4, ".log") == 0) {
            char path[2048];
            snprintf(path, sizeof path, "%s/%s", part_dir(&e, "lim"), nm);
            uint8_t *f = fx_read_file(path, &flen);
            concat = realloc(concat, whole + flen + 1);
            memcpy(concat + whole, f, flen);
            whole += flen;
            free(f);
            segs++;
        }
        free(names[i]);
    }
    free(names);
    CHECK(segs >= 3);
    CHECK_EQ_INT(bk_partition_read_raw(p, 0, 15, 1 << 20, &b, &cap, &len), 8);
    CHECK_EQ_INT(len, whole);
    CHECK(memcmp(b, concat, whole) == 0);
    free(concat);
    free(b);
    env_done(&e);
}

/* What read_raw checks. Batches are verified in full when appended and at open, so a read
 * checks headers only: one that does not parse, runs past the written bytes, names an unknown
 * codec or does not follow the batch before it fails the read; a flipped bit inside a batch's
 * CRC'd bytes is copied as it is, and it is the taker that finds it (append_raw refuses it;
 * a record read, which decodes the records anyway, still verifies and refuses it too). */
typedef struct {
    long at;      /* byte of the second batch to change */
    uint8_t flip; /* the bits to flip there */
    int refused;  /* read_raw fails with BK_ECORRUPT */
} damage_t;

static void test_read_raw_checks(void)
{
    env_t e;
    env_init(&e, 100);
    bk_partition_t *p = part(&e, "chk", 1 << 20), *dst = part(&e, "dst", 1 << 20);
    fill(&e, p); /* one segment */
    const char *path = seg_file(&e, "chk", 0, ".log");
    size_t flen, s0 = batch_size_at(p, 0);
    uint8_t *file = fx_read_file(path, &flen);
    bk_batch_header_t h;
    CHECK_EQ_INT(bk_batch_header_parse(file + s0, flen - s0, &h), 0);
    long second = (long)s0, total = (long)bk_batch_total(&h);
    damage_t cases[] = {
        {BK_BATCH_OFF_BASE_OFFSET + 7, 1, 1},   /* offset not following (the CRC misses it) */
        {BK_BATCH_OFF_BASE_OFFSET, 0x40, 1},    /* a base offset far out */
        {BK_BATCH_OFF_MAGIC, 1, 1},             /* magic 3 */
        {BK_BATCH_OFF_LENGTH + 1, 0x10, 1},     /* runs past the written bytes */
        {BK_BATCH_OFF_LENGTH + 3, 0x01, 1},     /* length off by one: the next header breaks */
        {BK_BATCH_OFF_ATTRIBUTES + 1, 0x07, 1}, /* codec 7 */
        {total - 3, 0x20, 0},                   /* inside the last record's bytes */
        {BK_BATCH_OFF_CRC, 0x01, 0},            /* the CRC itself */
    };
    uint8_t *b = NULL;
    size_t cap = 0, len;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        damage_t c = cases[i];
        file[second + c.at] ^= c.flip;
        fx_write_file(path, file, flen);
        int n = bk_partition_read_raw(p, 0, INT64_MAX, 0, &b, &cap, &len);
        if (c.refused) {
            CHECK_EQ_INT(n, BK_ECORRUPT);
            CHECK_EQ_INT(len, 0);
        } else {
            CHECK_EQ_INT(n, 8); /* every batch, the damaged one as it is on disk */
            CHECK_EQ_INT(len, flen);
            CHECK(len == flen && memcmp(b, file, flen) == 0);
            CHECK_EQ_INT(put_raw(&e, dst, b, len, NULL), BK_ECORRUPT);
            CHECK_EQ_INT(bk_partition_end_offset(dst), 0);
            int64_t next;
            fx_read_t *r = malloc(sizeof *r);
            memset(r, 0, sizeof *r);
            CHECK_EQ_INT(bk_partition_read(p, h.base_offset, 0, 0, fx_on_record, r, &next),
                         BK_ECORRUPT);
            CHECK_EQ_INT(r->n, 0); /* nothing of the damaged batch */
            free(r);
        }
        file[second + c.at] ^= c.flip;
        fx_write_file(path, file, flen);
        CHECK_EQ_INT(bk_partition_read_raw(p, 0, INT64_MAX, 0, &b, &cap, &len), 8);
    }
    free(file);
    free(b);
    env_done(&e);
}

/* ---- append_raw refusals ---- */

static void recrc(uint8_t *b)
{
    size_t total = (size_t)bk_be32_get(b + BK_BATCH_OFF_LENGTH) + BK_BATCH_LOG_OVERHEAD;
    bk_be32_put(b + BK_BATCH_OFF_CRC,
                bk_crc32c(b + BK_BATCH_OFF_ATTRIBUTES, total - BK_BATCH_OFF_ATTRIBUTES));
}

/* The refusal left dst exactly as it was. */
static void check_untouched(env_t *e, bk_partition_t *dst, int64_t end, const char *topic,
                            long size0)
{
    CHECK_EQ_INT(bk_partition_end_offset(dst), end);
    CHECK_EQ_INT(bk_partition_high_watermark(dst), end);
    CHECK_EQ_INT(fx_file_size(seg_file(e, topic, 0, ".log")), size0);
}

static void test_append_raw_refusals(void)
{
    env_t e;
    env_init(&e, 4096);
    bk_partition_t *src = part(&e, "src", 1 << 20), *dst = part(&e, "dst", 1 << 20);
    fill(&e, src);
    size_t len;
    uint8_t *all = read_all_raw(src, 0, 0, &len);
    size_t s0 = batch_size_at(src, 0), s1 = batch_size_at(src, 1), s4 = batch_size_at(src, 4);
    uint8_t *b = malloc(len);

    /* Gap: starts at offset 1 on an empty log. */
    CHECK_EQ_INT(put_raw(&e, dst, all + s0, len - s0, NULL), BK_EINVAL);
    check_untouched(&e, dst, 0, "dst", 0);
    /* Batches not contiguous inside the buffer: batch 0 then batch 4; nothing of it lands. */
    memcpy(b, all, s0);
    memcpy(b + s0, all + s0 + s1, s4);
    CHECK_EQ_INT(put_raw(&e, dst, b, s0 + s4, NULL), BK_EINVAL);
    check_untouched(&e, dst, 0, "dst", 0);
    /* Bad CRC in the second batch. */
    memcpy(b, all, len);
    b[s0 + 70] ^= 1;
    CHECK_EQ_INT(put_raw(&e, dst, b, len, NULL), BK_ECORRUPT);
    check_untouched(&e, dst, 0, "dst", 0);
    /* Truncated buffer: the last batch lacks a byte; and a lone partial header. */
    CHECK_EQ_INT(put_raw(&e, dst, all, len - 1, NULL), BK_ECORRUPT);
    CHECK_EQ_INT(put_raw(&e, dst, all, 30, NULL), BK_ECORRUPT);
    check_untouched(&e, dst, 0, "dst", 0);
    /* Garbage, and a valid batch followed by garbage. */
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)(i * 131 + 7);
    CHECK_EQ_INT(put_raw(&e, dst, b, len, NULL), BK_ECORRUPT);
    memcpy(b, all, s0);
    CHECK_EQ_INT(put_raw(&e, dst, b, s0 + 80, NULL), BK_ECORRUPT);
    check_untouched(&e, dst, 0, "dst", 0);
    /* Codec 5 (no codec has that number) with a correct CRC: Brook refuses to store it.
     * (Compressed batches are accepted: test_log_compress.c.) */
    memcpy(b, all, s0);
    b[BK_BATCH_OFF_ATTRIBUTES + 1] |= 5;
    recrc(b);
    CHECK_EQ_INT(put_raw(&e, dst, b, s0, NULL), BK_ECORRUPT);
    /* Wrong magic with a correct CRC. */
    memcpy(b, all, s0);
    b[BK_BATCH_OFF_MAGIC] = 1;
    CHECK_EQ_INT(put_raw(&e, dst, b, s0, NULL), BK_ECORRUPT);
    /* Nothing at all. */
    CHECK_EQ_INT(put_raw(&e, dst, all, 0, NULL), BK_EINVAL);
    CHECK_EQ_INT(put_raw(&e, dst, NULL, 10, NULL), BK_EINVAL);
    check_untouched(&e, dst, 0, "dst", 0);

    /* A good prefix goes in; then overlap (offset 0 again) and a gap are refused. */
    int64_t base = -1;
    CHECK_EQ_INT(put_raw(&e, dst, all, s0 + s1, &base), 0);
    CHECK_EQ_INT(base, 0);
    long size0 = (long)(s0 + s1);
    check_untouched(&e, dst, 4, "dst", size0);
    CHECK_EQ_INT(put_raw(&e, dst, all, s0 + s1 + s4, NULL), BK_EINVAL);
    CHECK_EQ_INT(put_raw(&e, dst, all + s0, s1 + s4, NULL), BK_EINVAL);
    CHECK_EQ_INT(put_raw(&e, dst, all + s0 + s1 + s4, len - s0 - s1 - s4, NULL), BK_EINVAL);
    check_untouched(&e, dst, 4, "dst", size0);
    CHECK_EQ_INT(bk_partition_last_epoch(dst), 1);
    /* And the rest continues it. */
    CHECK_EQ_INT(put_raw(&e, dst, all + s0 + s1, len - s0 - s1, &base), 0);
    CHECK_EQ_INT(base, 4);
    check_same_files(part_dir(&e, "src"), part_dir(&e, "dst"));
    check_same_epochs(src, dst);
    free(b);
    free(all);
    env_done(&e);
}

/* A roll that cannot create its file refuses the whole buffer and leaves no file behind. */
static void test_append_raw_roll_failure(void)
{
    fx_io_install();
    env_t e;
    env_init(&e, 4096);
    bk_partition_t *src = part(&e, "src", 250), *dst = part(&e, "dst", 250);
    fill(&e, src);
    size_t len;
    uint8_t *all = read_all_raw(src, 0, 0, &len);
    atomic_store(&fx_fail_open, UV_ENOSPC);
    CHECK_EQ_INT(put_raw(&e, dst, all, len, NULL), UV_ENOSPC);
    atomic_store(&fx_fail_open, 0);
    check_untouched(&e, dst, 0, "dst", 0);
    char names[4096];
    list_files(part_dir(&e, "dst"), names, sizeof names);
    CHECK_EQ_STR(names, "00000000000000000000.index 00000000000000000000.log ");
    CHECK_EQ_INT(bk_partition_last_epoch(dst), -1);
    CHECK_EQ_INT(put_raw(&e, dst, all, len, NULL), 0);
    check_same_files(part_dir(&e, "src"), part_dir(&e, "dst"));
    free(all);
    env_done(&e);
    fx_io_restore();
}

/* ---- truncation ---- */

static void check_values(bk_partition_t *p, int n, const char *const *values)
{
    recs_t *r = malloc(sizeof *r);
    read_recs(p, r);
    CHECK_EQ_INT(r->n, n);
    for (int i = 0; i < n && i < r->n; i++)
        CHECK_EQ_STR(r->value[i], values[i]);
    free(r);
}

static void test_truncate_active(void)
{
    env_t e;
    env_init(&e, 100);
    bk_partition_t *p = part(&e, "t", 1 << 20);
    fill(&e, p);
    long before = fx_file_size(seg_file(&e, "t", 0, ".log"));
    size_t s14 = batch_size_at(p, 14), s12 = batch_size_at(p, 12);
    CHECK_EQ_INT(bk_partition_truncate(p, 15), 0); /* the end: nothing to do */
    CHECK_EQ_INT(bk_partition_truncate(p, 99), 0);
    CHECK_EQ_INT(bk_partition_truncate(p, -1), BK_ERANGE);
    CHECK_EQ_INT(bk_partition_end_offset(p), 15);
    CHECK_EQ_INT(bk_partition_truncate(p, 12), 0);
    CHECK_EQ_INT(bk_partition_end_offset(p), 12);
    CHECK_EQ_INT(bk_partition_high_watermark(p), 12);
    CHECK_EQ_INT(fx_file_size(seg_file(&e, "t", 0, ".log")), before - (long)(s12 + s14));
    CHECK_EQ_INT(bk_partition_size_bytes(p), (uint64_t)(before - (long)(s12 + s14)));
    /* Index entries all point inside the cut file. */
    size_t ilen;
    uint8_t *idx = fx_read_file(seg_file(&e, "t", 0, ".index"), &ilen);
    CHECK(ilen % 8 == 0 && ilen > 0);
    for (size_t i = 0; i + 8 <= ilen; i += 8)
        CHECK((long)bk_be32_get(idx + i + 4) < before - (long)(s12 + s14));
    free(idx);
    /* A cut inside a batch falls back to its start: 9 is inside 7..10. */
    CHECK_EQ_INT(bk_partition_truncate(p, 9), 0);
    CHECK_EQ_INT(bk_partition_end_offset(p), 7);
    /* Appends continue at the cut; reads see the new record at the reused offset. */
    put(&e, p, 8, 1, 0, 70);
    CHECK_EQ_INT(bk_partition_end_offset(p), 8);
    static const char *const want[] = {"0-0", "1-0", "1-1", "1-2", "2-0", "3-0", "3-1", "70-0"};
    check_values(p, 8, want);
    uint8_t *b = NULL;
    size_t cap = 0, len;
    CHECK_EQ_INT(bk_partition_read_raw(p, 7, 8, 0, &b, &cap, &len), 1);
    CHECK_EQ_INT(bk_be64_get(b), 7);
    CHECK_EQ_INT((int32_t)bk_be32_get(b + BK_BATCH_OFF_LEADER_EPOCH), 8);
    free(b);
    long size_now = fx_file_size(seg_file(&e, "t", 0, ".log"));
    env_reopen(&e);
    p = part(&e, "t", 1 << 20);
    CHECK_EQ_INT(bk_partition_end_offset(p), 8);
    CHECK_EQ_INT(fx_file_size(seg_file(&e, "t", 0, ".log")), size_now);
    check_values(p, 8, want);
    CHECK_EQ_INT(bk_partition_last_epoch(p), 8);
    /* Down to the start: an empty log that takes offset 0 again. */
    CHECK_EQ_INT(bk_partition_truncate(p, 0), 0);
    CHECK_EQ_INT(bk_partition_end_offset(p), 0);
    CHECK_EQ_INT(bk_partition_last_epoch(p), -1);
    CHECK_EQ_INT(fx_file_size(seg_file(&e, "t", 0, ".log")), 0);
    CHECK_EQ_INT(fx_file_size(seg_file(&e, "t", 0, ".index")), 0);
    put(&e, p, 2, 1, 0, 80);
    static const char *const want2[] = {"80-0"};
    check_values(p, 1, want2);
    env_reopen(&e);
    check_values(part(&e, "t", 1 << 20), 1, want2);
    env_done(&e);
}

static void test_truncate_older_segment(void)
{
    env_t e;
    env_init(&e, 100);
    bk_partition_t *p = part(&e, "t", 250);
    fill(&e, p);
    /* Find the segments: bases of the .log files. */
    int64_t bases[16];
    int nb = 0;
    for (int64_t o = 0; o < 15; o++)
        if (fx_exists(seg_file(&e, "t", o, ".log")))
            bases[nb++] = o;
    CHECK(nb >= 3);
    /* Cut inside the second segment, at its second batch when it has one, else at its base. */
    int64_t cut = bases[1];
    uint8_t *b = NULL;
    size_t cap = 0, len;
    CHECK_EQ_INT(bk_partition_read_raw(p, bases[1], bases[2], 0, &b, &cap, &len) >= 1, 1);
    int batches;
    int64_t first_end = raw_end(b, batch_size_at(p, bases[1]), &batches);
    if (first_end < bases[2])
        cut = first_end;
    free(b);
    uint64_t kept = 0;
    for (int i = 0; i < 1; i++)
        kept += (uint64_t)fx_file_size(seg_file(&e, "t", bases[i], ".log"));
    kept += cut > bases[1] ? batch_size_at(p, bases[1]) : 0;
    CHECK_EQ_INT(bk_partition_truncate(p, cut), 0);
    CHECK_EQ_INT(bk_partition_end_offset(p), cut);
    CHECK_EQ_INT(bk_partition_size_bytes(p), kept);
    for (int i = 2; i < nb; i++) {
        CHECK(!fx_exists(seg_file(&e, "t", bases[i], ".log")));
        CHECK(!fx_exists(seg_file(&e, "t", bases[i], ".index")));
    }
    CHECK(fx_exists(seg_file(&e, "t", bases[1], ".log")));
    CHECK_EQ_INT(fx_file_size(seg_file(&e, "t", bases[1], ".log")),
                 (long)(kept - (uint64_t)fx_file_size(seg_file(&e, "t", 0, ".log"))));
    /* Appends continue at the cut, rolling into segment names used before the cut. */
    for (int i = 0; i < 6; i++)
        put(&e, p, 9, 1, 0, 100 + i);
    CHECK_EQ_INT(bk_partition_end_offset(p), cut + 6);
    recs_t *r = malloc(sizeof *r);
    read_recs(p, r);
    CHECK_EQ_INT(r->n, cut + 6);
    for (int i = 0; i < r->n && i < 256; i++)
        CHECK_EQ_INT(r->offset[i], i);
    CHECK_EQ_STR(r->value[cut], "100-0");
    CHECK_EQ_STR(r->value[cut + 5], "105-0");
    char names[4096];
    list_files(part_dir(&e, "t"), names, sizeof names);
    env_reopen(&e);
    p = part(&e, "t", 250);
    char names2[4096];
    list_files(part_dir(&e, "t"), names2, sizeof names2);
    CHECK_EQ_STR(names, names2);
    CHECK_EQ_INT(bk_partition_end_offset(p), cut + 6);
    recs_t *r2 = malloc(sizeof *r2);
    read_recs(p, r2);
    CHECK_EQ_INT(r2->n, r->n);
    for (int i = 0; i < r->n && i < 256; i++)
        CHECK_EQ_STR(r2->value[i], r->value[i]);
    free(r);
    free(r2);

    /* Cut exactly at a segment's base: that segment goes too, and the one before it takes
     * the appends again (issue 9 D10: the layout a fresh copy has). */
    int64_t at = -1;
    for (int64_t o = 1; o < cut + 6; o++)
        if (fx_exists(seg_file(&e, "t", o, ".log")))
            at = o;
    CHECK(at > 0);
    CHECK_EQ_INT(bk_partition_truncate(p, at), 0);
    CHECK_EQ_INT(bk_partition_end_offset(p), at);
    CHECK(!fx_exists(seg_file(&e, "t", at, ".log")) && !fx_exists(seg_file(&e, "t", at, ".index")));
    put(&e, p, 9, 1, 0, 200);
    CHECK_EQ_INT(bk_partition_end_offset(p), at + 1);
    env_reopen(&e);
    p = part(&e, "t", 250);
    CHECK_EQ_INT(bk_partition_end_offset(p), at + 1);
    env_done(&e);
}

static int truncated_in_cb;

static void on_append_truncate(void *arg, int status, int64_t base)
{
    (void)base;
    CHECK_EQ_INT(status, 0);
    truncated_in_cb = bk_partition_truncate(arg, 1);
}

static void test_truncate_busy(void)
{
    env_t e;
    env_init(&e, 4096);
    bk_partition_t *p = part(&e, "b", 1 << 20);
    fill(&e, p);
    fx_acks_t acks = {0};
    CHECK_EQ_INT(fx_append(p, NULL, "queued", &acks, 0), 0);
    CHECK_EQ_INT(bk_partition_truncate(p, 3), UV_EBUSY);
    CHECK_EQ_INT(bk_partition_truncate(p, 16), 0); /* nothing to do is never busy */
    CHECK_EQ_INT(bk_partition_end_offset(p), 16);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 1);
    CHECK_EQ_INT(bk_partition_truncate(p, 4), 0);
    CHECK_EQ_INT(bk_partition_end_offset(p), 4);
    /* append_raw is queued the same way. */
    size_t len;
    uint8_t *one = NULL;
    size_t cap = 0;
    CHECK_EQ_INT(bk_partition_read_raw(p, 1, 4, 0, &one, &cap, &len), 1);
    CHECK_EQ_INT(bk_partition_truncate(p, 1), 0);
    CHECK_EQ_INT(bk_partition_append_raw(p, one, len, NULL, NULL), 0);
    CHECK_EQ_INT(bk_partition_truncate(p, 1), UV_EBUSY);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(bk_partition_end_offset(p), 4);
    /* From the callback of the last queued append, truncation is allowed. */
    bk_record_t rec = {NULL, -1, (const uint8_t *)"x", 1, NULL, 0, 0};
    truncated_in_cb = 99;
    CHECK_EQ_INT(bk_partition_append(p, &rec, 1, 1, on_append_truncate, p), 0);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(truncated_in_cb, 0);
    CHECK_EQ_INT(bk_partition_end_offset(p), 1);
    CHECK_EQ_INT(bk_partition_high_watermark(p), 1);
    free(one);
    env_done(&e);
}

/* A truncation whose ftruncate fails after the later segments went: the partition refuses
 * appends, reads stay safe, and a reopen finds a consistent prefix of the old log. */
static void test_truncate_failure_leaves_prefix(void)
{
    fx_io_install();
    env_t e;
    env_init(&e, 100);
    bk_partition_t *p = part(&e, "f", 250);
    fill(&e, p);
    int64_t bases[16];
    int nb = 0;
    for (int64_t o = 0; o < 15; o++)
        if (fx_exists(seg_file(&e, "f", o, ".log")))
            bases[nb++] = o;
    CHECK(nb >= 3);
    atomic_store(&fx_fail_truncate, UV_EIO);
    CHECK_EQ_INT(bk_partition_truncate(p, bases[1] + 1), UV_EIO);
    atomic_store(&fx_fail_truncate, 0);
    for (int i = 2; i < nb; i++)
        CHECK(!fx_exists(seg_file(&e, "f", bases[i], ".log")));
    CHECK_EQ_INT(bk_partition_end_offset(p), bases[2]); /* what is still on disk */
    CHECK(bk_partition_high_watermark(p) <= bases[2]);
    fx_acks_t acks = {0};
    CHECK_EQ_INT(fx_append(p, NULL, "refused", &acks, 0), UV_EIO);
    CHECK_EQ_INT(bk_partition_truncate(p, 1), UV_EIO);
    recs_t *r = malloc(sizeof *r);
    read_recs(p, r);
    CHECK_EQ_INT(r->n, bases[2]);
    env_reopen(&e);
    p = part(&e, "f", 250);
    CHECK_EQ_INT(bk_partition_start_offset(p), 0);
    CHECK_EQ_INT(bk_partition_end_offset(p), bases[2]);
    read_recs(p, r);
    CHECK_EQ_INT(r->n, bases[2]);
    for (int i = 0; i < r->n && i < 256; i++)
        CHECK_EQ_INT(r->offset[i], i);
    CHECK_EQ_INT(bk_partition_truncate(p, bases[1] + 1), 0); /* and now it works */
    CHECK(bk_partition_end_offset(p) <= bases[1] + 1);
    free(r);
    env_done(&e);
    fx_io_restore();
}

/* Without fsync=always appends are written by the check phase: the same copy, the same
 * EBUSY rule. */
static void test_fsync_never(void)
{
    env_t e;
    e.dir = fx_tmpdir();
    uv_loop_init(&e.loop);
    e.cfg = fx_config(e.dir);
    e.cfg.fsync_mode = BK_FSYNC_NEVER;
    e.cfg.index_interval_bytes = 100;
    env_open(&e);
    bk_partition_t *src = part(&e, "src", 300), *dst = part(&e, "dst", 300);
    fill(&e, src);
    size_t len;
    uint8_t *all = read_all_raw(src, 0, 0, &len);
    CHECK_EQ_INT(bk_partition_append_raw(dst, all, len, NULL, NULL), 0);
    CHECK_EQ_INT(bk_partition_end_offset(dst), 15);
    CHECK_EQ_INT(bk_partition_high_watermark(dst), 0);
    CHECK_EQ_INT(bk_partition_truncate(dst, 3), UV_EBUSY);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(bk_partition_high_watermark(dst), 15);
    check_same_files(part_dir(&e, "src"), part_dir(&e, "dst"));
    CHECK_EQ_INT(bk_partition_truncate(dst, 4), 0);
    CHECK_EQ_INT(bk_partition_end_offset(dst), 4);
    CHECK_EQ_INT(bk_partition_high_watermark(dst), 4);
    size_t len4;
    uint8_t *first = read_all_raw(src, 0, 0, &len4);
    free(first);
    uint8_t *b = NULL;
    size_t cap = 0, got;
    CHECK_EQ_INT(bk_partition_read_raw(src, 4, 15, 0, &b, &cap, &got), 6);
    CHECK_EQ_INT(put_raw(&e, dst, b, got, NULL), 0);
    check_same_files(part_dir(&e, "src"), part_dir(&e, "dst"));
    free(b);
    free(all);
    env_done(&e);
}

/* ---- leader epochs ---- */

static void check_epoch_end(bk_partition_t *p, int32_t epoch, int64_t end, int32_t found)
{
    int32_t f = 12345;
    CHECK_EQ_INT(bk_partition_epoch_end(p, epoch, &f), end);
    CHECK_EQ_INT(f, found);
}

static void test_epochs(void)
{
    env_t e;
    env_init(&e, 4096);
    bk_partition_t *p = part(&e, "ep", 1 << 20);
    CHECK_EQ_INT(bk_partition_last_epoch(p), -1);
    check_epoch_end(p, 5, 0, -1);
    /* Epochs 1,1,3,3,7 at offsets 0,1,2,3,4. */
    int32_t eps[] = {1, 1, 3, 3, 7};
    for (int i = 0; i < 5; i++)
        put(&e, p, eps[i], 1, 0, i);
    for (int round = 0; round < 2; round++) {
        CHECK_EQ_INT(bk_partition_last_epoch(p), 7);
        check_epoch_end(p, 0, 0, -1);
        check_epoch_end(p, 1, 2, 1);
        check_epoch_end(p, 2, 2, 1);
        check_epoch_end(p, 3, 4, 3);
        check_epoch_end(p, 6, 4, 3);
        check_epoch_end(p, 7, 5, 7);
        check_epoch_end(p, 100, 5, 7);
        env_reopen(&e); /* rebuilt from the batch headers */
        p = part(&e, "ep", 1 << 20);
    }
    /* A lower epoch after a higher one belongs to the higher one's entry. */
    put(&e, p, 2, 1, 0, 5);
    CHECK_EQ_INT(bk_partition_last_epoch(p), 7);
    check_epoch_end(p, 7, 6, 7);
    /* Truncation cuts the list. */
    CHECK_EQ_INT(bk_partition_truncate(p, 4), 0);
    CHECK_EQ_INT(bk_partition_last_epoch(p), 3);
    check_epoch_end(p, 7, 4, 3);
    check_epoch_end(p, 1, 2, 1);
    CHECK_EQ_INT(bk_partition_truncate(p, 3), 0);
    check_epoch_end(p, 3, 3, 3);
    CHECK_EQ_INT(bk_partition_truncate(p, 2), 0);
    CHECK_EQ_INT(bk_partition_last_epoch(p), 1);
    check_epoch_end(p, 3, 2, 1);
    put(&e, p, 5, 1, 0, 6);
    for (int round = 0; round < 2; round++) {
        CHECK_EQ_INT(bk_partition_last_epoch(p), 5);
        check_epoch_end(p, 1, 2, 1);
        check_epoch_end(p, 4, 2, 1);
        check_epoch_end(p, 5, 3, 5);
        check_epoch_end(p, 0, 0, -1);
        env_reopen(&e);
        p = part(&e, "ep", 1 << 20);
    }
    env_done(&e);
}

static void test_epochs_retention(void)
{
    env_t e;
    env_init(&e, 4096);
    bk_topic_config_t c;
    bk_log_topic_config_defaults(e.log, &c);
    c.segment_bytes = 100; /* one batch per segment */
    c.retention_bytes = 300;
    bk_topic_t *t = NULL;
    CHECK_EQ_INT(bk_log_topic_create_with(e.log, "r", 1, 1, &c, &t), 0);
    bk_partition_t *p = bk_topic_partition(t, 0);
    int32_t eps[] = {1, 1, 3, 3, 7};
    for (int i = 0; i < 5; i++)
        put(&e, p, eps[i], 1, 0, i);
    CHECK(bk_log_retention_run(e.log, bk_wall_ms()) >= 1);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    int64_t start = bk_partition_start_offset(p);
    CHECK(start >= 1 && start <= 3);
    for (int round = 0; round < 2; round++) {
        CHECK_EQ_INT(bk_partition_start_offset(p), start);
        CHECK_EQ_INT(bk_partition_last_epoch(p), 7);
        int32_t first = start < 2 ? 1 : 3;
        /* Below the first remaining epoch: the log start. */
        check_epoch_end(p, 0, start, -1);
        check_epoch_end(p, first, first == 1 ? 2 : 4, first);
        check_epoch_end(p, 7, 5, 7);
        if (first == 3)
            check_epoch_end(p, 1, start, -1);
        env_reopen(&e);
        p = bk_topic_partition(bk_log_topic_find(e.log, "r", 1), 0);
    }
    env_done(&e);
}

/* The list on its own. */
static void test_epoch_list(void)
{
    bk_epochs_t l = {0};
    int32_t f;
    CHECK_EQ_INT(bk_epochs_end(&l, 3, 10, &f), 10);
    CHECK_EQ_INT(f, -1);
    CHECK_EQ_INT(bk_epochs_note(&l, 2, 10), 0);
    CHECK_EQ_INT(bk_epochs_note(&l, 2, 11), 0);
    CHECK_EQ_INT(bk_epochs_note(&l, 4, 20), 0);
    CHECK_EQ_INT(bk_epochs_note(&l, 3, 25), 0); /* lower: ignored */
    CHECK_EQ_INT(bk_epochs_note(&l, 6, 30), 0);
    CHECK_EQ_INT(l.n, 3);
    CHECK_EQ_INT(bk_epochs_end(&l, 1, 40, &f), 10);
    CHECK_EQ_INT(f, -1);
    CHECK_EQ_INT(bk_epochs_end(&l, 5, 40, &f), 30);
    CHECK_EQ_INT(f, 4);
    bk_epochs_trim(&l, 20, 40); /* 2's entry is wholly below 20 */
    CHECK_EQ_INT(l.n, 2);
    CHECK_EQ_INT(l.v[0].start, 20);
    bk_epochs_trim(&l, 25, 40); /* 4 covers 25: kept, moved up */
    CHECK_EQ_INT(l.n, 2);
    CHECK_EQ_INT(l.v[0].start, 25);
    CHECK_EQ_INT(bk_epochs_end(&l, 2, 40, &f), 25);
    CHECK_EQ_INT(f, -1);
    bk_epochs_cut(&l, 30);
    CHECK_EQ_INT(bk_epochs_last(&l), 4);
    bk_epochs_trim(&l, 30, 30); /* nothing left */
    CHECK_EQ_INT(bk_epochs_last(&l), -1);
    bk_epochs_free(&l);
}

/* ---- starting over ---- */

static int count_rec(void *arg, const bk_record_view_t *v)
{
    (void)v;
    (*(int *)arg)++;
    return 0;
}

/* A follower behind its leader's retention empties the partition and restarts at the
 * leader's start: offsets, high watermark and epochs start over there, the old files are
 * gone, and it all survives a reopen. A reset is refused while appends wait and when the
 * new start is not past the end; a crash between creating the new segment and deleting the
 * old ones leaves the old log, the stray segment removed at open. */
static void test_reset(void)
{
    env_t e;
    env_init(&e, 4096);
    bk_partition_t *p = part(&e, "z", 200);
    fill(&e, p);
    int64_t end = bk_partition_end_offset(p);
    CHECK(fx_exists(seg_file(&e, "z", 0, ".log")));
    CHECK_EQ_INT(bk_partition_reset(p, end), BK_EINVAL);
    fx_acks_t acks = {0};
    CHECK_EQ_INT(fx_append(p, NULL, "queued", &acks, 0), 0);
    CHECK_EQ_INT(bk_partition_reset(p, 100), UV_EBUSY);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 1);
    CHECK_EQ_INT(bk_partition_reset(p, 100), 0);
    CHECK_EQ_INT(bk_partition_start_offset(p), 100);
    CHECK_EQ_INT(bk_partition_end_offset(p), 100);
    CHECK_EQ_INT(bk_partition_high_watermark(p), 100);
    CHECK_EQ_INT(bk_partition_last_epoch(p), -1);
    CHECK(!fx_exists(seg_file(&e, "z", 0, ".log")));
    CHECK(fx_exists(seg_file(&e, "z", 100, ".log")));
    int n = 0;
    int64_t next;
    CHECK_EQ_INT(bk_partition_read(p, 0, 10, 0, count_rec, &n, &next), BK_ERANGE);
    put(&e, p, 9, 2, 1600000000000LL, 8);
    CHECK_EQ_INT(bk_partition_end_offset(p), 102);
    CHECK_EQ_INT(bk_partition_last_epoch(p), 9);
    env_reopen(&e);
    p = part(&e, "z", 200);
    CHECK_EQ_INT(bk_partition_start_offset(p), 100);
    CHECK_EQ_INT(bk_partition_end_offset(p), 102);
    CHECK_EQ_INT(bk_partition_read(p, 100, 10, 0, count_rec, &n, &next), 2);
    /* A crash right after a reset created its segment: the stray goes at open. */
    fx_close(&e.loop, e.log);
    fx_write_file(seg_file(&e, "z", 500, ".log"), "", 0);
    env_open(&e);
    p = part(&e, "z", 200);
    CHECK_EQ_INT(bk_partition_end_offset(p), 102);
    CHECK(!fx_exists(seg_file(&e, "z", 500, ".log")));
    env_done(&e);
}

/* Issue 9 D10: a deposed leader rolled at offset 1 for a batch of its own that the new leader
 * never had; the new leader put its smaller batch at 1 in segment 0. Truncating the deposed
 * one to 1 used to leave an empty segment 1 that took the new leader's batch, so the two held
 * different segment files and retention deleted different ranges. Now the cut removes segment
 * 1 and the files come out identical to the leader's. */
static void test_truncate_at_segment_base_matches_leader(void)
{
    env_t e;
    env_init(&e, 4096);
    bk_partition_t *lead = part(&e, "lead", 250), *dep = part(&e, "dep", 250);
    put(&e, lead, 1, 1, 1000, 1);
    size_t len;
    uint8_t *first = read_all_raw(lead, 0, 0, &len);
    CHECK_EQ_INT(put_raw(&e, dep, first, len, NULL), 0);
    free(first);
    put(&e, dep, 2, 8, 2000, 2); /* the deposed leader's own batch: too big, it rolls */
    CHECK(fx_exists(seg_file(&e, "dep", 1, ".log")));
    put(&e, lead, 3, 1, 3000, 3); /* the new leader's batch at 1 fits in segment 0 */
    CHECK(!fx_exists(seg_file(&e, "lead", 1, ".log")));
    CHECK_EQ_INT(bk_partition_truncate(dep, 1), 0);
    CHECK(!fx_exists(seg_file(&e, "dep", 1, ".log")));
    uint8_t *rest = read_all_raw(lead, 1, 0, &len);
    CHECK_EQ_INT(put_raw(&e, dep, rest, len, NULL), 0);
    free(rest);
    for (int i = 0; i < 2; i++) { /* the same layout, before and after a reopen */
        char a[4096], b[4096];
        list_files(part_dir(&e, "lead"), a, sizeof a);
        list_files(part_dir(&e, "dep"), b, sizeof b);
        CHECK_EQ_STR(a, b);
        size_t la, lb;
        uint8_t *fa = fx_read_file(seg_file(&e, "lead", 0, ".log"), &la);
        uint8_t *fb = fx_read_file(seg_file(&e, "dep", 0, ".log"), &lb);
        CHECK(fa && fb && la == lb && memcmp(fa, fb, la) == 0);
        free(fa);
        free(fb);
        env_reopen(&e);
        lead = part(&e, "lead", 250);
        dep = part(&e, "dep", 250);
    }
    CHECK_EQ_INT(bk_partition_end_offset(dep), 2);
    CHECK_EQ_INT(bk_partition_last_epoch(dep), 3);
    put(&e, dep, 4, 1, 4000, 4); /* appends go on in segment 0 */
    CHECK_EQ_INT(bk_partition_end_offset(dep), 3);
    env_done(&e);
}

CHECK_MAIN(CASE(test_copy_small_fetches), CASE(test_copy_large_fetches),
           CASE(test_raw_then_normal_appends), CASE(test_read_raw_limits),
           CASE(test_read_raw_checks), CASE(test_append_raw_refusals),
           CASE(test_append_raw_roll_failure), CASE(test_truncate_active),
           CASE(test_truncate_older_segment), CASE(test_truncate_busy),
           CASE(test_truncate_failure_leaves_prefix), CASE(test_fsync_never), CASE(test_epochs),
           CASE(test_epochs_retention), CASE(test_epoch_list), CASE(test_reset),
           CASE(test_truncate_at_segment_base_matches_leader))
