/* Fuzzes log recovery: the input bytes become the only segment of a partition, the log is
 * opened, and what survives must be a prefix of the input (recovery only ever cuts a tail),
 * must read back as exactly end_offset records (a compressed batch is checked by recovery only
 * up to its CRC: a read may refuse one whose records do not decompress, and only such a batch,
 * which is then skipped), and must not change on a second open. Any violation aborts. Never writes
 * outside its own temp directory.
 *
 * Then the replication paths over what survived: bk_partition_read_raw returns exactly the
 * surviving bytes, the leader-epoch list matches the batch headers, bk_partition_append_raw of
 * them into a second (emptied) partition gives an identical file, and a truncation of that copy
 * at an offset taken from the input leaves a batch-aligned prefix that survives a reopen.
 *
 * Input: one mode byte, then the segment. With an odd mode byte the CRC of every batch whose
 * header parses is recomputed first, so the fuzzer gets past the checksum and exercises the
 * record decoder too. The mode byte's upper bits pick the truncation offset. */
#include "brook/common.h"
#include "brook/log.h"

#include "common/crc32c.h"
#include "log/format.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/brook-fuzz-log-XXXXXX";
static char seg_path[256], idx_path[256], copy_path[256];

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_log_recovery: %s failed at line %d\n", #cond, __LINE__);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void on_closed(void *arg)
{
    *(int *)arg = 1;
}

static void close_log(uv_loop_t *loop, bk_log_t *log)
{
    int closed = 0;
    bk_log_close(log, on_closed, &closed);
    uv_run(loop, UV_RUN_DEFAULT);
    REQUIRE(closed);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Rewrites the crc field of each batch in turn, following batchLength. */
static void fix_crcs(uint8_t *b, size_t len)
{
    size_t pos = 0;
    while (len - pos >= 61) {
        uint32_t blen = be32(b + pos + 8);
        if (blen < 49 || blen > len - pos - 12)
            return;
        size_t total = (size_t)blen + 12;
        uint32_t crc = bk_crc32c(b + pos + 21, total - 21);
        b[pos + 17] = (uint8_t)(crc >> 24);
        b[pos + 18] = (uint8_t)(crc >> 16);
        b[pos + 19] = (uint8_t)(crc >> 8);
        b[pos + 20] = (uint8_t)crc;
        pos += total;
    }
}

static void setup(void)
{
    bk_trace_level = 99; /* recovery warnings are expected here */
    REQUIRE(mkdtemp(dir) != NULL);
    atexit(cleanup);
    snprintf(seg_path, sizeof seg_path, "%s/t-0/00000000000000000000.log", dir);
    snprintf(idx_path, sizeof idx_path, "%s/t-0/00000000000000000000.index", dir);
    snprintf(copy_path, sizeof copy_path, "%s/u-0/00000000000000000000.log", dir);
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    bk_log_config_t cfg;
    bk_log_config_defaults(&cfg);
    cfg.data_dir = dir;
    bk_log_t *log;
    REQUIRE(bk_log_open(&loop, &cfg, &log) == 0);
    REQUIRE(bk_log_topic_create(log, "t", 1, 1, NULL) == 0);
    REQUIRE(bk_log_topic_create(log, "u", 1, 1, NULL) == 0);
    close_log(&loop, log);
    REQUIRE(uv_loop_close(&loop) == 0);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    REQUIRE(f != NULL);
    REQUIRE(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    REQUIRE(n >= 0 && fseek(f, 0, SEEK_SET) == 0);
    uint8_t *b = malloc((size_t)n + 1);
    REQUIRE(b != NULL);
    *len = fread(b, 1, (size_t)n, f);
    REQUIRE(*len == (size_t)n);
    fclose(f);
    return b;
}

/* A read refused the batch holding *next: it must be a compressed one (its CRC held, its
 * records did not decompress or decode); steps past it. Returns 1. */
static int skip_compressed(bk_partition_t *p, int64_t *next, int64_t *expect)
{
    uint8_t *raw = NULL;
    size_t cap = 0, len = 0;
    REQUIRE(bk_partition_read_raw(p, *next, bk_partition_high_watermark(p), 1, &raw, &cap, &len) ==
            1);
    bk_batch_header_t h;
    /* The read may have delivered the records before the first that did not decode. */
    REQUIRE(bk_batch_verify(raw, len, &h) == 0 && bk_batch_codec(&h) != 0 &&
            h.base_offset <= *next && *next < bk_batch_end(&h)); /* its offset span: gaps too */
    *next = *expect = bk_batch_end(&h);
    free(raw);
    return 1;
}

static int count_record(void *arg, const bk_record_view_t *v)
{
    int64_t *expect = arg;
    REQUIRE(v->offset >= *expect); /* increasing; gaps inside a compacted batch's range */
    REQUIRE(v->key_len >= -1 && v->value_len >= -1);
    const uint8_t *pos = v->headers, *end = v->headers + v->headers_len;
    bk_header_t h;
    for (uint32_t i = 0; i < v->header_count; i++)
        REQUIRE(bk_record_header_next(&pos, end, &h) == 1);
    REQUIRE(bk_record_header_next(&pos, end, &h) == 0);
    *expect = v->offset + 1;
    return 0;
}

/* Offsets after each batch of a recovered (valid) segment, and the epoch list its headers
 * imply: an entry wherever partitionLeaderEpoch grows. Returns the number of batches. */
static size_t batch_ends(const uint8_t *b, size_t len, int64_t *ends, size_t cap, int32_t *eps,
                         int64_t *starts, size_t *neps)
{
    size_t n = 0;
    *neps = 0;
    for (size_t pos = 0; pos < len && n < cap;) {
        bk_batch_header_t h;
        REQUIRE(bk_batch_header_parse(b + pos, len - pos, &h) == 0);
        if (*neps == 0 || h.leader_epoch > eps[*neps - 1]) {
            eps[*neps] = h.leader_epoch;
            starts[(*neps)++] = h.base_offset;
        }
        pos += bk_batch_total(&h);
        ends[n++] = bk_batch_end(&h); /* lastOffsetDelta + 1 may exceed the count */
    }
    return n;
}

enum { MAX_BATCHES = 4096 };
static int64_t ends[MAX_BATCHES], starts[MAX_BATCHES];
static int32_t eps[MAX_BATCHES];

/* The epoch queries agree with the list the headers imply. */
static void check_epochs(bk_partition_t *p, size_t neps)
{
    int64_t end = bk_partition_end_offset(p);
    REQUIRE(bk_partition_last_epoch(p) == (neps ? eps[neps - 1] : -1));
    for (size_t i = 0; i < neps; i++) {
        int32_t found;
        REQUIRE(bk_partition_epoch_end(p, eps[i], &found) == (i + 1 < neps ? starts[i + 1] : end));
        REQUIRE(found == eps[i]);
        if (eps[i] > INT32_MIN) { /* just below: the end of the previous epoch */
            REQUIRE(bk_partition_epoch_end(p, eps[i] - 1, &found) == starts[i]);
            REQUIRE(found == (i ? eps[i - 1] : -1));
        }
    }
}

static void on_raw_appended(void *arg, int status, int64_t base)
{
    REQUIRE(status == 0 && base == 0);
    (*(int *)arg)++;
}

/* Copies the recovered segment of t into u with raw batches, then truncates the copy at cut
 * and checks the result, also after a reopen. */
static void replicate_and_cut(const uint8_t *kept, size_t len, int64_t cut)
{
    size_t neps;
    size_t n = batch_ends(kept, len, ends, MAX_BATCHES, eps, starts, &neps);
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    bk_log_config_t cfg;
    bk_log_config_defaults(&cfg);
    cfg.data_dir = dir;
    cfg.index_interval_bytes = 128;
    bk_log_t *log;
    REQUIRE(bk_log_open(&loop, &cfg, &log) == 0);
    bk_partition_t *t = bk_topic_partition(bk_log_topic_find(log, "t", 1), 0);
    bk_partition_t *u = bk_topic_partition(bk_log_topic_find(log, "u", 1), 0);
    check_epochs(t, neps);
    int64_t end = bk_partition_end_offset(t);
    uint8_t *raw = NULL;
    size_t cap = 0, rlen = 0;
    int got = bk_partition_read_raw(t, 0, end, 0, &raw, &cap, &rlen);
    REQUIRE(got == (int)n && rlen == len && (len == 0 || memcmp(raw, kept, len) == 0));
    REQUIRE(bk_partition_truncate(u, 0) == 0 && bk_partition_end_offset(u) == 0);
    int acked = 0;
    if (len > 0) {
        REQUIRE(bk_partition_append_raw(u, raw, rlen, on_raw_appended, &acked) == 0);
        uv_run(&loop, UV_RUN_DEFAULT);
        REQUIRE(acked == 1);
    }
    free(raw);
    size_t clen;
    uint8_t *copy = slurp(copy_path, &clen);
    /* The copy holds the same batches, then possibly preallocated zeros (format.c). */
    REQUIRE(clen >= len && (len == 0 || memcmp(copy, kept, len) == 0));
    for (size_t i = len; i < clen; i++)
        REQUIRE(copy[i] == 0);
    free(copy);
    check_epochs(u, neps);
    /* Truncate the copy: the end becomes the largest batch end <= cut. */
    size_t keep = 0;
    while (keep < n && ends[keep] <= cut)
        keep++;
    int64_t want = keep ? ends[keep - 1] : 0;
    REQUIRE(bk_partition_truncate(u, cut) == 0);
    REQUIRE(bk_partition_end_offset(u) == (cut < end ? want : end));
    int64_t uend = bk_partition_end_offset(u);
    close_log(&loop, log);
    REQUIRE(bk_log_open(&loop, &cfg, &log) == 0);
    u = bk_topic_partition(bk_log_topic_find(log, "u", 1), 0);
    REQUIRE(bk_partition_end_offset(u) == uend);
    copy = slurp(copy_path, &clen);
    REQUIRE(clen <= len && (clen == 0 || memcmp(copy, kept, clen) == 0));
    free(copy);
    size_t ueps = 0;
    while (ueps < neps && starts[ueps] < uend)
        ueps++;
    check_epochs(u, ueps);
    close_log(&loop, log);
    REQUIRE(uv_loop_close(&loop) == 0);
}

/* Opens the log, checks the partition, closes; returns its end offset. */
static int64_t open_and_check(void)
{
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    bk_log_config_t cfg;
    bk_log_config_defaults(&cfg);
    cfg.data_dir = dir;
    cfg.index_interval_bytes = 128;
    bk_log_t *log;
    REQUIRE(bk_log_open(&loop, &cfg, &log) == 0); /* a tail segment is cut, never refused */
    bk_topic_t *t = bk_log_topic_find(log, "t", 1);
    REQUIRE(t != NULL);
    bk_partition_t *p = bk_topic_partition(t, 0);
    int64_t end = bk_partition_end_offset(p);
    REQUIRE(bk_partition_start_offset(p) == 0 && bk_partition_high_watermark(p) == end);
    int64_t expect = 0, next = 0;
    for (;;) {
        int n = bk_partition_read(p, next, 0, 0, count_record, &expect, &next);
        if (n == BK_ECORRUPT || n == BK_ETOOBIG)
            n = skip_compressed(p, &next, &expect);
        REQUIRE(n >= 0);
        if (n == 0)
            break;
    }
    REQUIRE(expect <= end && next == end);
    close_log(&loop, log);
    REQUIRE(uv_loop_close(&loop) == 0);
    return end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    if (size == 0)
        return 0;
    int fix = data[0] & 1;
    int64_t cut = data[0] >> 1;
    size--;
    uint8_t *seg = malloc(size + 1);
    REQUIRE(seg != NULL);
    memcpy(seg, data + 1, size);
    if (fix)
        fix_crcs(seg, size);
    data = seg;
    FILE *f = fopen(seg_path, "wb");
    REQUIRE(f != NULL);
    REQUIRE(size == 0 || fwrite(data, 1, size, f) == size);
    REQUIRE(fclose(f) == 0);
    (void)unlink(idx_path);

    int64_t end = open_and_check();
    size_t len, idx_len;
    uint8_t *kept = slurp(seg_path, &len);
    REQUIRE(len <= size && (len == 0 || memcmp(kept, data, len) == 0));
    uint8_t *idx = slurp(idx_path, &idx_len);

    REQUIRE(open_and_check() == end); /* recovery is idempotent */
    size_t len2, idx_len2;
    uint8_t *kept2 = slurp(seg_path, &len2);
    uint8_t *idx2 = slurp(idx_path, &idx_len2);
    REQUIRE(len2 == len && (len == 0 || memcmp(kept, kept2, len) == 0));
    REQUIRE(idx_len2 == idx_len && (idx_len == 0 || memcmp(idx, idx2, idx_len) == 0));
    replicate_and_cut(kept, len, cut);
    free(kept);
    free(kept2);
    free(idx);
    free(idx2);
    free(seg);
    return 0;
}
