/* Topics: name rules, create/find/EEXIST, order, persistence across reopen with the exact
 * metadata bytes, refusal of corrupt metadata, clean-up of unfinished writes, a failed
 * rename leaving no topic behind, and the data-directory lock. */
#include "log_fixture.h"

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
    fx_close(&loop, log);

    /* On disk: metadata and one directory per partition with an empty first segment. */
    size_t len;
    char *meta = (char *)fx_read_file(fx_path(dir, "zeta.topic"), &len);
    char want[256];
    uint32_t n = 0;
    int wl = bk_topic_meta_format(want, sizeof want, "zeta", 2);
    CHECK(meta && (size_t)wl == len && memcmp(meta, want, len) == 0);
    CHECK(meta && strncmp(meta, "brook-topic 1\nname zeta\npartitions 2\ncrc32c ", 44) == 0);
    CHECK_EQ_INT(bk_topic_meta_parse(want, (size_t)wl, "zeta", &n), 0);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(bk_topic_meta_parse(want, (size_t)wl, "zet", &n), BK_ECORRUPT);
    want[30] ^= 1;
    CHECK_EQ_INT(bk_topic_meta_parse(want, (size_t)wl, "zeta", &n), BK_ECORRUPT);
    free(meta);
    CHECK(fx_exists(fx_path(dir, "alpha-2/00000000000000000000.log")));
    CHECK(fx_exists(fx_path(dir, "zeta-1/00000000000000000000.index")));
    CHECK(!fx_exists(fx_path(dir, "zeta-2")));

    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    CHECK_EQ_INT(bk_log_topic_count(log), 2);
    a = bk_log_topic_find(log, "zeta", 4);
    CHECK(a && bk_topic_partition_count(a) == 2);
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
    fx_flip_bit(fx_path(dir, "m.topic"), 32, 1); /* "partitions 1" -> "partitions 3": bad crc */
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

CHECK_MAIN(CASE(test_name_rules), CASE(test_create_find_and_persist),
           CASE(test_corrupt_metadata_refused), CASE(test_unfinished_create_leftovers),
           CASE(test_failed_rename_leaves_no_topic), CASE(test_lock_and_nested_dir))
