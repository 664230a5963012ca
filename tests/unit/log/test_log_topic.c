/* Topics: name rules, create/find/EEXIST, order, persistence across reopen with the exact
 * metadata bytes, topic settings persisted (and version-1 files read with the log's
 * defaults), refusal of corrupt metadata, clean-up of unfinished writes, a failed rename
 * leaving no topic behind, the data-directory lock, and topic ids (fresh per creation, given
 * for a follower's copy, 0 for topics made before ids, kept across reopen). */
#include "log_fixture.h"

#include <inttypes.h>

#include "common/crc32c.h"
#include "log/topic.h"

static void test_name_rules(void)
{
    CHECK(bk_log_topic_name_valid("orders", 6));
    CHECK(bk_log_topic_name_valid("a.b_c-D9", 8));
    CHECK(bk_log_topic_name_valid("...", 3));
    CHECK(!bk_log_topic_name_valid(".", 1));
    CHECK(!bk_log_topic_name_valid("..", 2));
    CHECK(!bk_log_topic_name_valid("", 0));
    CHECK(!bk_log_topic_name_valid("a/b", 3));
    CHECK(!bk_log_topic_name_valid("a b", 3));
    CHECK(!bk_log_topic_name_valid("caf\xc3\xa9", 5));
    CHECK(!bk_log_topic_name_valid("a\0b", 3));
    char name[251];
    memset(name, 'x', sizeof name);
    CHECK(bk_log_topic_name_valid(name, 249));
    CHECK(!bk_log_topic_name_valid(name, 250));
    CHECK(bk_log_topic_name_valid("orders-extra", 6)); /* only name_len bytes count */
}

static void test_create_find_and_persist(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    cfg.default_partitions = 3;
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_topic_t *a = NULL, *b = NULL, *again = NULL;
    CHECK_EQ_INT(bk_log_topic_create(log, "zeta", 4, 2, &a), 0);
    CHECK_EQ_INT(bk_log_topic_create(log, "alpha", 5, 0, &b), 0); /* 0 = default */
    CHECK_EQ_INT(bk_log_topic_create(log, "zeta", 4, 5, &again), UV_EEXIST);
    CHECK(again == a);
    CHECK_EQ_INT(bk_log_topic_create(log, "bad/name", 8, 1, NULL), BK_EINVAL);
    CHECK_EQ_INT(bk_log_topic_create(log, "big", 3, BK_LOG_MAX_PARTITIONS + 1, NULL), BK_EINVAL);
    CHECK(!fx_exists(fx_path(dir, "big.topic")));
    CHECK_EQ_INT(bk_topic_partition_count(a), 2);
    CHECK_EQ_INT(bk_topic_partition_count(b), 3);
    CHECK(bk_topic_partition(a, 2) == NULL);
    CHECK(bk_log_topic_find(log, "zeta", 4) == a);
    CHECK(bk_log_topic_find(log, "zet", 3) == NULL);
    CHECK(bk_log_topic_find(log, "zetaa", 5) == NULL);
    CHECK_EQ_INT(bk_log_topic_count(log), 2);
    CHECK_EQ_STR(bk_topic_name(bk_log_topic_at(log, 0)), "alpha");
    CHECK_EQ_STR(bk_topic_name(bk_log_topic_at(log, 1)), "zeta");
    CHECK(bk_log_topic_at(log, 2) == NULL);
    CHECK(bk_partition_topic(bk_topic_partition(a, 1)) == a);
    CHECK_EQ_INT(bk_partition_index(bk_topic_partition(a, 1)), 1);
    uint64_t zeta_id = bk_topic_id(a), alpha_id = bk_topic_id(b);
    CHECK(zeta_id != 0 && alpha_id != 0 && zeta_id != alpha_id);
    fx_close(&loop, log);

    /* On disk: metadata and one directory per partition with an empty first segment. */
    size_t len;
    char *meta = (char *)fx_read_file(fx_path(dir, "zeta.topic"), &len);
    char want[768];
    uint32_t n = 0;
    uint64_t id = 0;
    int has = 0;
    bk_topic_config_t tc, defaults = {.retention_ms = cfg.retention_ms,
                                      .retention_bytes = cfg.retention_bytes,
                                      .segment_bytes = cfg.segment_bytes,
                                      .max_message_bytes = cfg.max_message_bytes};
    bk_topic_config_compaction_defaults(&defaults);
    int wl = bk_topic_meta_format(want, sizeof want, "zeta", zeta_id, 2, &defaults);
    CHECK(meta && (size_t)wl == len && memcmp(meta, want, len) == 0);
    char head[512];
    snprintf(head, sizeof head,
             "brook-topic 4\nname zeta\nid %016" PRIx64 "\npartitions 2\n"
             "retention.ms 604800000\nretention.bytes -1\nsegment.bytes 134217728\n"
             "max.message.bytes 1048576\ncleanup.policy delete\ndelete.retention.ms 86400000\n"
             "min.compaction.lag.ms 0\nmin.cleanable.dirty.ratio 0.5\n"
             "compression.type producer\nmin.insync.replicas 0\nreplication.factor 0\ncrc32c ",
             zeta_id);
    CHECK(meta && strncmp(meta, head, strlen(head)) == 0);
    CHECK_EQ_INT(bk_topic_meta_parse(want, (size_t)wl, "zeta", &id, &n, &tc, &has), 0);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(has, 1);
    CHECK(id == zeta_id);
    CHECK_EQ_INT(tc.segment_bytes, 134217728);
    CHECK_EQ_INT(bk_topic_meta_parse(want, (size_t)wl, "zet", &id, &n, &tc, &has), BK_ECORRUPT);
    want[30] ^= 1;
    CHECK_EQ_INT(bk_topic_meta_parse(want, (size_t)wl, "zeta", &id, &n, &tc, &has), BK_ECORRUPT);
    free(meta);
    CHECK(fx_exists(fx_path(dir, "alpha-2/00000000000000000000.log")));
    CHECK(fx_exists(fx_path(dir, "zeta-1/00000000000000000000.index")));
    CHECK(!fx_exists(fx_path(dir, "zeta-2")));

    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    CHECK_EQ_INT(bk_log_topic_count(log), 2);
    a = bk_log_topic_find(log, "zeta", 4);
    CHECK(a && bk_topic_partition_count(a) == 2);
    CHECK(a && bk_topic_id(a) == zeta_id); /* the id survives a reopen */
    b = bk_log_topic_find(log, "alpha", 5);
    CHECK(b && bk_topic_partition_count(b) == 3);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_corrupt_metadata_refused(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    CHECK_EQ_INT(bk_log_topic_create(log, "m", 1, 1, NULL), 0);
    fx_close(&loop, log);
    fx_flip_bit(fx_path(dir, "m.topic"), 52, 1); /* "partitions 1" -> "partitions 3": bad crc */
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), BK_ECORRUPT);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_unfinished_create_leftovers(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    /* A crash mid-create: a temp file and a partition directory, but no metadata. */
    fx_write_file(fx_path(dir, "half.topic.tmp"), "brook-topic 1\n", 14);
    CHECK_EQ_INT(mkdir(fx_path(dir, "half-0"), 0755), 0);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    CHECK(!fx_exists(fx_path(dir, "half.topic.tmp")));
    CHECK_EQ_INT(bk_log_topic_count(log), 0);
    CHECK(bk_log_topic_find(log, "half", 4) == NULL);
    /* Creating it again reuses the directory. */
    bk_topic_t *t;
    CHECK_EQ_INT(bk_log_topic_create(log, "half", 4, 1, &t), 0);
    CHECK(fx_exists(fx_path(dir, "half-0/00000000000000000000.log")));
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_failed_rename_leaves_no_topic(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_io_install();
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    atomic_store(&fx_fail_rename, UV_EIO);
    CHECK_EQ_INT(bk_log_topic_create(log, "r", 1, 1, NULL), UV_EIO);
    CHECK(bk_log_topic_find(log, "r", 1) == NULL);
    CHECK(!fx_exists(fx_path(dir, "r.topic")));
    CHECK(!fx_exists(fx_path(dir, "r.topic.tmp")));
    atomic_store(&fx_fail_rename, 0);
    CHECK_EQ_INT(bk_log_topic_create(log, "r", 1, 1, NULL), 0);
    CHECK(fx_exists(fx_path(dir, "r.topic")));
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_io_restore();
    fx_rmrf(dir);
}

static void test_lock_and_nested_dir(void)
{
    char *dir = fx_tmpdir();
    char nested[512];
    snprintf(nested, sizeof nested, "%s/a/b/data", dir);
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(nested);
    bk_log_t *log, *second = NULL;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &second), UV_EBUSY);
    CHECK(second == NULL);
    CHECK_EQ_STR(bk_log_config(log)->data_dir, nested);
    fx_close(&loop, log);
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &second), 0); /* lock released at close */
    fx_close(&loop, second);
    cfg.segment_bytes = 0;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &second), BK_EINVAL);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_configs_persist(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_topic_config_t d;
    bk_log_topic_config_defaults(log, &d);
    CHECK_EQ_INT(d.retention_ms, 604800000);
    CHECK_EQ_INT(d.retention_bytes, -1);
    CHECK_EQ_INT(d.segment_bytes, (uint64_t)128 << 20);
    CHECK_EQ_INT(d.max_message_bytes, 1 << 20);
    bk_topic_config_t c = {.retention_ms = 3600000,
                           .retention_bytes = 1 << 30,
                           .segment_bytes = 1 << 20,
                           .max_message_bytes = 4096};
    bk_topic_t *t = NULL, *plain = NULL;
    CHECK_EQ_INT(bk_log_topic_create_with(log, "conf", 4, 2, &c, &t), 0);
    CHECK_EQ_INT(bk_log_topic_create_with(log, "plain", 5, 1, NULL, &plain), 0);
    CHECK_EQ_INT(bk_topic_config(t)->max_message_bytes, 4096);
    CHECK_EQ_INT(bk_topic_config(plain)->retention_ms, 604800000);
    bk_topic_config_t bad = c;
    bad.segment_bytes = 0;
    CHECK_EQ_INT(bk_log_topic_create_with(log, "bad", 3, 1, &bad, NULL), BK_EINVAL);
    bad = c;
    bad.retention_ms = -2;
    CHECK_EQ_INT(bk_log_topic_create_with(log, "bad", 3, 1, &bad, NULL), BK_EINVAL);
    CHECK(!fx_exists(fx_path(dir, "bad.topic")));
    fx_close(&loop, log);
    /* Reopened with other defaults: explicit settings stay, and so do the defaults a topic
     * was created with (they were written down). */
    cfg.retention_ms = 1000;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    t = bk_log_topic_find(log, "conf", 4);
    CHECK(t != NULL);
    if (t) {
        const bk_topic_config_t *g = bk_topic_config(t);
        CHECK_EQ_INT(g->retention_ms, 3600000);
        CHECK_EQ_INT(g->retention_bytes, 1 << 30);
        CHECK_EQ_INT(g->segment_bytes, 1 << 20);
        CHECK_EQ_INT(g->max_message_bytes, 4096);
    }
    plain = bk_log_topic_find(log, "plain", 5);
    CHECK(plain && bk_topic_config(plain)->retention_ms == 604800000);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_version1_metadata_gets_defaults(void)
{
    /* A data directory written before topic settings existed. */
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    char text[512];
    int len = bk_topic_meta_format(text, sizeof text, "old", 0, 3, NULL);
    CHECK(len > 0 && strncmp(text, "brook-topic 1\nname old\npartitions 3\ncrc32c ", 43) == 0);
    fx_write_file(fx_path(dir, "old.topic"), text, (size_t)len);
    for (int i = 0; i < 3; i++) {
        char part[16];
        snprintf(part, sizeof part, "old-%d", i);
        CHECK_EQ_INT(mkdir(fx_path(dir, part), 0755), 0);
    }
    bk_log_config_t cfg = fx_config(dir);
    cfg.retention_bytes = 5000;
    cfg.max_message_bytes = 77;
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_topic_t *t = bk_log_topic_find(log, "old", 3);
    CHECK(t != NULL);
    if (t) {
        CHECK_EQ_INT(bk_topic_partition_count(t), 3);
        CHECK_EQ_INT(bk_topic_config(t)->retention_bytes, 5000);
        CHECK_EQ_INT(bk_topic_config(t)->max_message_bytes, 77);
        CHECK_EQ_INT(bk_topic_config(t)->segment_bytes, cfg.segment_bytes);
    }
    fx_close(&loop, log);
    /* Version 1 text is still parsed as such. */
    uint32_t n = 0;
    uint64_t id = 1;
    int has = 1;
    bk_topic_config_t c;
    CHECK_EQ_INT(bk_topic_meta_parse(text, (size_t)len, "old", &id, &n, &c, &has), 0);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(has, 0);
    CHECK(id == 0);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_create_as_keeps_the_given_id(void)
{
    /* A follower's copy carries the leader's id, 0 included (a topic made before ids: its
     * metadata stays version 2); other creations get fresh, distinct ids. */
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_topic_t *t = NULL;
    CHECK_EQ_INT(bk_log_topic_create_as(log, "copy", 4, 0xfedcba9876543210u, 2, NULL, &t), 0);
    CHECK(t && bk_topic_id(t) == 0xfedcba9876543210u);
    CHECK_EQ_INT(bk_log_topic_create_as(log, "legacy", 6, 0, 1, NULL, &t), 0);
    CHECK(t && bk_topic_id(t) == 0);
    CHECK_EQ_INT(bk_log_topic_add_partitions(log, t, 2), 0); /* rewrites the metadata */
    CHECK_EQ_INT(bk_log_topic_create(log, "fresh", 5, 1, &t), 0);
    uint64_t fresh = t ? bk_topic_id(t) : 0;
    CHECK(fresh != 0 && fresh != 0xfedcba9876543210u);
    CHECK_EQ_INT(bk_log_topic_delete(log, t), 0);
    CHECK_EQ_INT(bk_log_topic_create(log, "fresh", 5, 1, &t), 0);
    CHECK(t && bk_topic_id(t) != fresh && bk_topic_id(t) != 0); /* same name, new topic */
    fx_close(&loop, log);
    size_t len;
    char *meta = (char *)fx_read_file(fx_path(dir, "legacy.topic"), &len);
    CHECK(meta && strncmp(meta, "brook-topic 2\nname legacy\npartitions 2\n", 39) == 0);
    free(meta);
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    t = bk_log_topic_find(log, "copy", 4);
    CHECK(t && bk_topic_id(t) == 0xfedcba9876543210u);
    t = bk_log_topic_find(log, "legacy", 6);
    CHECK(t && bk_topic_id(t) == 0 && bk_topic_partition_count(t) == 2);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_metadata_parser_is_strict(void)
{
    bk_topic_config_t c = {.retention_ms = 1,
                           .retention_bytes = 2,
                           .segment_bytes = 4096,
                           .max_message_bytes = 4},
                      out;
    char text[768];
    uint32_t n;
    uint64_t id;
    int has;
    for (uint64_t with_id = 0; with_id <= 0xab; with_id += 0xab) { /* versions 2 and 3 */
        int len = bk_topic_meta_format(text, sizeof text, "s", with_id, 1, &c);
        CHECK(len > 0);
        CHECK_EQ_INT(bk_topic_meta_parse(text, (size_t)len, "s", &id, &n, &out, &has), 0);
        CHECK_EQ_INT(out.retention_bytes, 2);
        CHECK(id == with_id);
        for (int cut = 0; cut < len; cut++) /* every truncation is refused */
            CHECK_EQ_INT(bk_topic_meta_parse(text, (size_t)cut, "s", &id, &n, &out, &has),
                         BK_ECORRUPT);
    }
    /* Version 3 needs 16 lowercase hex digits of a non-zero id, under a matching checksum. */
    const char *bad_ids[] = {"00000000000000AB", "00000000000000g1", "0000000000000000", "ab"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++) {
        char body[256];
        int bl = snprintf(body, sizeof body,
                          "brook-topic 3\nname s\nid %s\npartitions 1\nretention.ms 1\n"
                          "retention.bytes 2\nsegment.bytes 4096\nmax.message.bytes 4\n",
                          bad_ids[i]);
        snprintf(body + bl, sizeof body - (size_t)bl, "crc32c %08" PRIx32 "\n",
                 bk_crc32c(body, (size_t)bl));
        CHECK_EQ_INT(bk_topic_meta_parse(body, strlen(body), "s", &id, &n, &out, &has),
                     BK_ECORRUPT);
    }
    /* A value out of range with a matching checksum is refused too. */
    c.segment_bytes = (uint64_t)3 << 30;
    int len = bk_topic_meta_format(text, sizeof text, "s", 7, 1, &c);
    CHECK_EQ_INT(bk_topic_meta_parse(text, (size_t)len, "s", &id, &n, &out, &has), BK_ECORRUPT);
    const char *v5 = "brook-topic 5\nname s\npartitions 1\ncrc32c 00000000\n";
    CHECK_EQ_INT(bk_topic_meta_parse(v5, strlen(v5), "s", &id, &n, &out, &has), BK_ECORRUPT);
}

/* Version 4 adds the compaction block; version 3 files (written before it) load with the
 * defaults: cleanup.policy delete. */
static void test_metadata_compaction_block(void)
{
    bk_topic_config_t c = {.retention_ms = 1,
                           .retention_bytes = 2,
                           .segment_bytes = 4096,
                           .max_message_bytes = 4},
                      out;
    c.cleanup_policy = BK_CLEANUP_COMPACT | BK_CLEANUP_DELETE;
    c.delete_retention_ms = 1234;
    c.min_compaction_lag_ms = 56;
    c.min_cleanable_ratio = 0.125;
    char text[768];
    uint32_t n;
    uint64_t id;
    int has;
    int len = bk_topic_meta_format(text, sizeof text, "s", 9, 1, &c);
    CHECK(len > 0 && strstr(text, "\ncleanup.policy compact,delete\ndelete.retention.ms 1234\n"
                                  "min.compaction.lag.ms 56\nmin.cleanable.dirty.ratio 0.125\n"));
    CHECK_EQ_INT(bk_topic_meta_parse(text, (size_t)len, "s", &id, &n, &out, &has), 0);
    CHECK_EQ_INT(out.cleanup_policy, BK_CLEANUP_COMPACT | BK_CLEANUP_DELETE);
    CHECK(out.delete_retention_ms == 1234 && out.min_compaction_lag_ms == 56);
    CHECK(out.min_cleanable_ratio == 0.125);
    for (int cut = 0; cut < len; cut++)
        CHECK_EQ_INT(bk_topic_meta_parse(text, (size_t)cut, "s", &id, &n, &out, &has), BK_ECORRUPT);
    /* A ratio above 1 under a good checksum is refused. */
    char body[512];
    int bl = snprintf(body, sizeof body,
                      "brook-topic 4\nname s\nid 0000000000000009\npartitions 1\nretention.ms 1\n"
                      "retention.bytes 2\nsegment.bytes 4096\nmax.message.bytes 4\n"
                      "cleanup.policy compact\ndelete.retention.ms 1\nmin.compaction.lag.ms 0\n"
                      "min.cleanable.dirty.ratio 1.5\n");
    snprintf(body + bl, sizeof body - (size_t)bl, "crc32c %08" PRIx32 "\n",
             bk_crc32c(body, (size_t)bl));
    CHECK_EQ_INT(bk_topic_meta_parse(body, strlen(body), "s", &id, &n, &out, &has), BK_ECORRUPT);
    /* A version 3 file: the defaults. */
    bl = snprintf(body, sizeof body,
                  "brook-topic 3\nname s\nid 0000000000000009\npartitions 1\nretention.ms 1\n"
                  "retention.bytes 2\nsegment.bytes 4096\nmax.message.bytes 4\n");
    snprintf(body + bl, sizeof body - (size_t)bl, "crc32c %08" PRIx32 "\n",
             bk_crc32c(body, (size_t)bl));
    CHECK_EQ_INT(bk_topic_meta_parse(body, strlen(body), "s", &id, &n, &out, &has), 0);
    CHECK_EQ_INT(out.cleanup_policy, BK_CLEANUP_DELETE);
    CHECK(out.delete_retention_ms == 86400000 && out.min_cleanable_ratio == 0.5);
    CHECK(id == 9 && out.segment_bytes == 4096);
}

CHECK_MAIN(CASE(test_name_rules), CASE(test_create_find_and_persist), CASE(test_configs_persist),
           CASE(test_version1_metadata_gets_defaults), CASE(test_create_as_keeps_the_given_id),
           CASE(test_metadata_parser_is_strict), CASE(test_metadata_compaction_block),
           CASE(test_corrupt_metadata_refused), CASE(test_unfinished_create_leftovers),
           CASE(test_failed_rename_leaves_no_topic), CASE(test_lock_and_nested_dir))
