/* Compressed batches: each codec's batch encodes, verifies and decodes back to its records;
 * batches made by a real Kafka client (kafka-python, see make_kafka_fixtures.py) decode; the
 * log appends with a codec off the loop and keeps the order appends were made in; reads start
 * inside a compressed batch and count decompressed bytes; replicated compressed batches are
 * accepted byte for byte; a compression bomb fails the read that meets it, bounded. */
#include "log_fixture.h"

#include "common/crc32c.h"
#include "kafka_fixtures.h"
#include "log/format.h"
#include "log/topic.h"

static const bk_header_t hdr = {(const uint8_t *)"h", 1, (const uint8_t *)"hv", 2};

/* n records "value-<i>" repeated, key "k<i>", one header on even ones. */
static bk_record_t *make_records(uint32_t n, char (*vals)[128], char (*keys)[16])
{
    bk_record_t *r = calloc(n, sizeof *r);
    for (uint32_t i = 0; i < n; i++) {
        int len = 0;
        for (int k = 0; k < 8; k++)
            len += snprintf(vals[i] + len, (size_t)(128 - len), "value-%u-", i);
        snprintf(keys[i], 16, "k%u", i);
        r[i] = (bk_record_t){(const uint8_t *)keys[i], (int32_t)strlen(keys[i]),
                             (const uint8_t *)vals[i], len,
                             i % 2 ? NULL : &hdr,      i % 2 ? 0 : 1,
                             1700000000000LL + i};
    }
    return r;
}

/* Decodes every record of a verified batch; returns how many match recs (all: n). */
static uint32_t count_matching(const uint8_t *batch, const bk_batch_header_t *h,
                               const bk_record_t *recs, uint32_t n)
{
    bk_codec_buf_t scratch = {0};
    const uint8_t *records;
    size_t len;
    uint32_t ok = 0;
    CHECK_EQ_INT(bk_batch_records(batch, h, &scratch, &records, &len), 0);
    bk_batch_iter_t it;
    bk_record_view_t v;
    bk_batch_iter_init_records(&it, records, len, h);
    for (uint32_t i = 0; bk_batch_iter_next(&it, &v) == 1 && i < n; i++)
        ok += v.offset == h->base_offset + i && v.value_len == recs[i].value_len &&
              memcmp(v.value, recs[i].value, (size_t)v.value_len) == 0 &&
              v.key_len == recs[i].key_len && v.header_count == recs[i].header_count &&
              v.timestamp == recs[i].timestamp;
    bk_codec_buf_free(&scratch);
    return ok;
}

static void test_each_codec_round_trips(void)
{
    char vals[50][128], keys[50][16];
    bk_record_t *recs = make_records(50, vals, keys);
    size_t size;
    CHECK_EQ_INT(bk_batch_measure(recs, 50, 0, &size), 0);
    uint8_t *plain = malloc(size);
    CHECK_EQ_INT(bk_batch_encode(plain, size, 0, 3, recs, 50, 0), (int)size);
    for (int c = BK_CODEC_GZIP; c < BK_CODEC_COUNT; c++) {
        uint8_t *z = NULL;
        size_t zlen = 0;
        CHECK_EQ_INT(bk_batch_compress((bk_codec_t)c, plain, size, &z, &zlen), 0);
        CHECK(zlen < size / 2); /* repetitive values compress */
        bk_batch_header_t h;
        CHECK_EQ_INT(bk_batch_verify(z, zlen, &h), 0);
        CHECK_EQ_INT(bk_batch_codec(&h), c);
        CHECK_EQ_INT(h.count, 50);
        CHECK_EQ_INT(count_matching(z, &h, recs, 50), 50);
        /* baseOffset and partitionLeaderEpoch are outside the CRC. */
        bk_be64_put(z, 1000);
        bk_be32_put(z + BK_BATCH_OFF_LEADER_EPOCH, 9);
        CHECK_EQ_INT(bk_batch_verify(z, zlen, &h), 0);
        CHECK_EQ_INT(h.base_offset, 1000);
        /* A flipped byte in the compressed records fails the CRC. */
        z[zlen - 3] ^= 0x40;
        CHECK_EQ_INT(bk_batch_verify(z, zlen, &h), BK_ECORRUPT);
        free(z);
    }
    uint8_t *z;
    size_t zlen;
    CHECK_EQ_INT(bk_batch_compress(BK_CODEC_NONE, plain, size, &z, &zlen), BK_EINVAL);
    /* Codec numbers 5-7 name no codec. */
    plain[BK_BATCH_OFF_ATTRIBUTES + 1] = 6;
    bk_be32_put(plain + BK_BATCH_OFF_CRC,
                bk_crc32c(plain + BK_BATCH_OFF_ATTRIBUTES, size - BK_BATCH_OFF_ATTRIBUTES));
    bk_batch_header_t h;
    CHECK_EQ_INT(bk_batch_verify(plain, size, &h), BK_ECORRUPT);
    free(plain);
    free(recs);
}

static void check_fixture(const char *name, const uint8_t *b, size_t len, int codec)
{
    bk_batch_header_t h;
    int rc = bk_batch_verify(b, len, &h);
    if (rc != 0)
        fprintf(stderr, "  fixture %s: %s\n", name, bk_strerror(rc));
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(bk_batch_codec(&h), codec);
    CHECK_EQ_INT(h.count, KAFKA_FIXTURE_RECORDS);
    bk_codec_buf_t scratch = {0};
    const uint8_t *records;
    size_t rlen;
    CHECK_EQ_INT(bk_batch_records(b, &h, &scratch, &records, &rlen), 0);
    bk_batch_iter_t it;
    bk_record_view_t v;
    bk_batch_iter_init_records(&it, records, rlen, &h);
    int i = 0;
    while ((rc = bk_batch_iter_next(&it, &v)) == 1) {
        char want[256], key[16];
        int wl = 0;
        for (int k = 0; k < 12; k++)
            wl += snprintf(want + wl, sizeof want - (size_t)wl, "value-%d-", i);
        snprintf(key, sizeof key, "key-%d", i);
        CHECK_EQ_INT(v.offset, i);
        CHECK_EQ_INT(v.timestamp, KAFKA_FIXTURE_BASE_TS + i);
        CHECK(v.value_len == wl && memcmp(v.value, want, (size_t)wl) == 0);
        CHECK(v.key_len == (int32_t)strlen(key) && memcmp(v.key, key, strlen(key)) == 0);
        CHECK_EQ_INT(v.header_count, 1);
        i++;
    }
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(i, KAFKA_FIXTURE_RECORDS);
    bk_codec_buf_free(&scratch);
}

static void test_kafka_client_batches(void)
{
    check_fixture("gzip", kafka_gzip, sizeof kafka_gzip, BK_CODEC_GZIP);
    check_fixture("snappy (xerial)", kafka_snappy_xerial, sizeof kafka_snappy_xerial,
                  BK_CODEC_SNAPPY);
    check_fixture("snappy (raw)", kafka_snappy_raw, sizeof kafka_snappy_raw, BK_CODEC_SNAPPY);
    check_fixture("lz4", kafka_lz4, sizeof kafka_lz4, BK_CODEC_LZ4);
    check_fixture("zstd", kafka_zstd, sizeof kafka_zstd, BK_CODEC_ZSTD);
}

static bk_partition_t *make_topic(bk_log_t *log, const char *name)
{
    bk_topic_t *t = NULL;
    CHECK_EQ_INT(bk_log_topic_create(log, name, strlen(name), 1, &t), 0);
    return t ? bk_topic_partition(t, 0) : NULL;
}

/* Appends alternate codecs (none included) and read back in the order made; the segment holds
 * one batch per append, each with its codec's bit. */
static void test_appends_keep_order(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_partition_t *p = make_topic(log, "mixed");
    char vals[10][128], keys[10][16];
    bk_record_t *recs = make_records(10, vals, keys);
    fx_acks_t acks = {0};
    int codecs[12] = {4, 0, 1, 0, 2, 3, 0, 4, 0, 0, 1, 1};
    for (int i = 0; i < 12; i++) {
        fx_args[i] = (fx_ack_arg_t){&acks, i};
        CHECK_EQ_INT(
            bk_partition_append_codec(p, recs, 10, 5, codecs[i], fx_on_append, &fx_args[i]), 0);
    }
    CHECK_EQ_INT(bk_partition_append_codec(p, recs, 10, 5, 5, fx_on_append, &fx_args[20]),
                 BK_EINVAL);
    CHECK_EQ_INT(acks.calls, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 12);
    for (int i = 0; i < 12; i++) {
        CHECK_EQ_INT(acks.order[i], i);
        CHECK_EQ_INT(acks.status[i], 0);
        CHECK_EQ_INT(acks.offset[i], 10 * i);
    }
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(p, 0, &rd), 120);
    for (int i = 0; i < 120; i++) {
        CHECK_EQ_INT(rd.offsets[i], i);
        CHECK(strncmp(rd.values[i], vals[i % 10], 63) == 0);
    }
    /* Starting inside a compressed batch: only the records from there on. */
    CHECK_EQ_INT(fx_read_all(p, 7, &rd), 113);
    CHECK_EQ_INT(rd.offsets[0], 7);
    /* max_bytes counts decompressed bytes: 3 records of key + value + header. */
    size_t three = 0;
    for (int i = 3; i < 6; i++)
        three += (size_t)recs[i].key_len + (size_t)recs[i].value_len + (i % 2 ? 0 : 5);
    int64_t next;
    memset(&rd, 0, sizeof rd);
    CHECK_EQ_INT(bk_partition_read(p, 3, 0, three, fx_on_record, &rd, &next), 3);
    CHECK_EQ_INT(next, 6);
    uint64_t raw, stored;
    bk_partition_compression_stats(p, &raw, &stored);
    CHECK_EQ_INT(stored, bk_partition_size_bytes(p));
    CHECK(stored < raw);
    fx_close(&loop, log);
    fx_loop_done(&loop);

    size_t len;
    uint8_t *b = fx_read_file(fx_path(dir, "mixed-0/00000000000000000000.log"), &len);
    size_t pos = 0;
    for (int i = 0; i < 12 && b; i++) {
        bk_batch_header_t h;
        CHECK_EQ_INT(bk_batch_header_parse(b + pos, len - pos, &h), 0);
        CHECK_EQ_INT(bk_batch_verify(b + pos, bk_batch_total(&h), &h), 0);
        CHECK_EQ_INT(bk_batch_codec(&h), codecs[i]);
        CHECK_EQ_INT(h.base_offset, 10 * i);
        CHECK_EQ_INT(h.leader_epoch, 5);
        pos += bk_batch_total(&h);
    }
    CHECK_EQ_INT(pos, len);
    free(b);
    /* A restart recovers the compressed batches (verified up to their CRC). */
    uv_loop_init(&loop);
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    p = bk_topic_partition(bk_log_topic_find(log, "mixed", 5), 0);
    CHECK_EQ_INT(fx_read_all(p, 0, &rd), 120);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    free(recs);
    fx_rmrf(dir);
}

/* A follower takes a leader's compressed batches unchanged. */
static void test_append_raw_compressed(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_partition_t *p = make_topic(log, "copy");
    size_t len = sizeof kafka_zstd + sizeof kafka_gzip;
    uint8_t *two = malloc(len);
    memcpy(two, kafka_zstd, sizeof kafka_zstd);
    memcpy(two + sizeof kafka_zstd, kafka_gzip, sizeof kafka_gzip);
    bk_be64_put(two + sizeof kafka_zstd, KAFKA_FIXTURE_RECORDS); /* the second continues */
    fx_acks_t acks = {0};
    fx_args[0] = (fx_ack_arg_t){&acks, 0};
    CHECK_EQ_INT(bk_partition_append_raw(p, two, len, fx_on_append, &fx_args[0]), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.status[0], 0);
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(p, 0, &rd), 2 * KAFKA_FIXTURE_RECORDS);
    uint8_t *out = NULL;
    size_t cap = 0, got = 0;
    CHECK_EQ_INT(bk_partition_read_raw(p, 0, 100, 0, &out, &cap, &got), 2);
    CHECK_EQ_INT(got, len);
    CHECK(out && memcmp(out, two, len) == 0);
    free(out);
    free(two);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

/* A batch whose records inflate past the largest batch: the read fails, memory bounded. */
static void test_bomb_fails_the_read(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_partition_t *p = make_topic(log, "bomb");
    /* Two small records first, so the bomb sits at offset 2. */
    fx_acks_t acks = {0};
    CHECK_EQ_INT(fx_append(p, NULL, "a", &acks, 0), 0);
    CHECK_EQ_INT(fx_append(p, NULL, "b", &acks, 1), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    size_t zeros = BK_BATCH_MAX_INFLATED + 4096;
    uint8_t *src = calloc(1, zeros);
    size_t cap = bk_codec_compress_bound(BK_CODEC_ZSTD, zeros);
    uint8_t *bomb = malloc(BK_BATCH_HEADER_SIZE + cap);
    size_t clen = 0;
    CHECK_EQ_INT(
        bk_codec_compress(BK_CODEC_ZSTD, src, zeros, bomb + BK_BATCH_HEADER_SIZE, cap, &clen), 0);
    free(src);
    bk_record_t one = {NULL, -1, (const uint8_t *)"x", 1, NULL, 0, 0};
    uint8_t hdr_buf[BK_BATCH_HEADER_SIZE + 16];
    size_t size;
    CHECK_EQ_INT(bk_batch_measure(&one, 1, 0, &size), 0);
    CHECK_EQ_INT(bk_batch_encode(hdr_buf, size, 2, 1, &one, 1, 0), (int)size);
    memcpy(bomb, hdr_buf, BK_BATCH_HEADER_SIZE);
    size_t total = BK_BATCH_HEADER_SIZE + clen;
    bk_be32_put(bomb + BK_BATCH_OFF_LENGTH, (uint32_t)(total - BK_BATCH_LOG_OVERHEAD));
    bomb[BK_BATCH_OFF_ATTRIBUTES + 1] = BK_CODEC_ZSTD;
    bk_be32_put(bomb + BK_BATCH_OFF_CRC,
                bk_crc32c(bomb + BK_BATCH_OFF_ATTRIBUTES, total - BK_BATCH_OFF_ATTRIBUTES));
    fx_args[2] = (fx_ack_arg_t){&acks, 2};
    CHECK_EQ_INT(bk_partition_append_raw(p, bomb, total, fx_on_append, &fx_args[2]), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    free(bomb);
    CHECK_EQ_INT(bk_partition_high_watermark(p), 3);
    fx_read_t rd;
    int64_t next;
    memset(&rd, 0, sizeof rd);
    /* The records before it are delivered; the read that starts at it fails. */
    CHECK_EQ_INT(bk_partition_read(p, 0, 0, 0, fx_on_record, &rd, &next), 2);
    CHECK_EQ_INT(next, 2);
    CHECK_EQ_INT(bk_partition_read(p, 2, 0, 0, fx_on_record, &rd, &next), BK_ETOOBIG);
    CHECK_EQ_INT(next, 2);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

/* Staged appends fail through their callback once the partition's topic is deleted, and the
 * topic is freed after them; truncation waits for them. */
static void test_staged_then_deleted(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_partition_t *p = make_topic(log, "gone");
    char vals[4][128], keys[4][16];
    bk_record_t *recs = make_records(4, vals, keys);
    fx_acks_t acks = {0};
    fx_args[0] = (fx_ack_arg_t){&acks, 0};
    fx_args[1] = (fx_ack_arg_t){&acks, 1};
    CHECK_EQ_INT(bk_partition_append_codec(p, recs, 4, 1, BK_CODEC_GZIP, fx_on_append, &fx_args[0]),
                 0);
    CHECK_EQ_INT(bk_partition_append_codec(p, recs, 4, 1, BK_CODEC_NONE, fx_on_append, &fx_args[1]),
                 0);
    CHECK_EQ_INT(bk_partition_truncate(p, 0), 0); /* nothing appended yet: nothing to cut */
    CHECK_EQ_INT(bk_partition_append_raw(p, kafka_gzip, sizeof kafka_gzip, NULL, NULL), UV_EBUSY);
    CHECK_EQ_INT(bk_log_topic_delete(log, bk_partition_topic(p)), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, 2);
    CHECK_EQ_INT(acks.status[0], BK_ENOTOPIC);
    CHECK_EQ_INT(acks.status[1], BK_ENOTOPIC);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    free(recs);
    fx_rmrf(dir);
}

/* Topic metadata version 4 holds compression.type, min.insync.replicas and the replication
 * factor (after the compaction settings); every topic with an id is written as version 4. */
static void test_metadata_v4(void)
{
    char buf[1024];
    bk_topic_config_t c = {.retention_ms = -1,
                           .retention_bytes = -1,
                           .segment_bytes = 4096,
                           .max_message_bytes = 100,
                           .compression = BK_COMPRESSION_NONE + BK_CODEC_ZSTD,
                           .min_insync_replicas = 2,
                           .replication_factor = 3},
                      out;
    bk_topic_config_compaction_defaults(&c);
    int n = bk_topic_meta_format(buf, sizeof buf, "m", 0x1234, 2, &c);
    CHECK(n > 0 && strncmp(buf, "brook-topic 4\n", 14) == 0);
    CHECK(strstr(buf, "\ncompression.type zstd\nmin.insync.replicas 2\nreplication.factor 3\n"));
    uint64_t id;
    uint32_t parts;
    int has_cfg;
    CHECK_EQ_INT(bk_topic_meta_parse(buf, (size_t)n, "m", &id, &parts, &out, &has_cfg), 0);
    CHECK(out.retention_ms == c.retention_ms && out.retention_bytes == c.retention_bytes &&
          out.segment_bytes == c.segment_bytes && out.max_message_bytes == c.max_message_bytes);
    CHECK(out.compression == c.compression && out.min_insync_replicas == c.min_insync_replicas &&
          out.replication_factor == c.replication_factor);
    CHECK(out.cleanup_policy == c.cleanup_policy &&
          out.delete_retention_ms == c.delete_retention_ms &&
          out.min_compaction_lag_ms == c.min_compaction_lag_ms &&
          out.min_cleanable_ratio == c.min_cleanable_ratio); /* field by field: padding differs */
    CHECK_EQ_INT(id, 0x1234);
    buf[n - 12] ^= 1; /* the crc */
    CHECK_EQ_INT(bk_topic_meta_parse(buf, (size_t)n, "m", &id, &parts, &out, &has_cfg),
                 BK_ECORRUPT);
    /* a topic made before ids keeps version 2 unless it is given a version 4 setting */
    n = bk_topic_meta_format(buf, sizeof buf, "m", 0, 2, &c);
    CHECK(n > 0 && strncmp(buf, "brook-topic 4\n", 14) == 0);
    c.compression = c.min_insync_replicas = c.replication_factor = 0;
    n = bk_topic_meta_format(buf, sizeof buf, "m", 0, 2, &c);
    CHECK(n > 0 && strncmp(buf, "brook-topic 2\n", 14) == 0);
    int32_t v;
    CHECK_EQ_INT(bk_compression_parse("lz4", 3, &v), 0);
    CHECK_EQ_INT(v, BK_COMPRESSION_NONE + BK_CODEC_LZ4);
    CHECK_EQ_INT(bk_compression_parse("brotli", 6, &v), BK_EINVAL);
    CHECK_EQ_STR(bk_compression_name(0), "producer");
}

CHECK_MAIN(CASE(test_metadata_v4), CASE(test_each_codec_round_trips),
           CASE(test_kafka_client_batches), CASE(test_appends_keep_order),
           CASE(test_append_raw_compressed), CASE(test_bomb_fails_the_read),
           CASE(test_staged_then_deleted))
