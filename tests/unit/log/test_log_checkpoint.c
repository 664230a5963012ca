/* The high-watermark checkpoint (issue 9 D9): its text round-trips and any damage is refused
 * whole; on real files the committed offsets survive a close and reopen, never claim more than
 * the partition holds, never apply to a re-created topic of the same name, a damaged file
 * changes nothing, and the retention pass at open stops at the checkpointed offset. */
#include "log_fixture.h"

#include "log/checkpoint.h"
#include "log/log_internal.h"

typedef struct {
    int n;
    bk_checkpoint_entry_t e[4];
} seen_t;

static void on_entry(void *arg, const bk_checkpoint_entry_t *e)
{
    seen_t *s = arg;
    if (s->n < 4)
        s->e[s->n] = *e;
    s->n++;
}

static void test_text(void)
{
    bk_checkpoint_entry_t in[2] = {{"orders", 6, 0x1234abcdULL, 0, 50}, {"a.b-c_d", 7, 0, 9999, 0}};
    char *text;
    int64_t len = bk_checkpoint_format(in, 2, &text);
    CHECK(len > 0);
    seen_t s = {0};
    CHECK_EQ_INT(bk_checkpoint_parse(text, (size_t)len, on_entry, &s), 0);
    CHECK_EQ_INT(s.n, 2);
    CHECK(s.e[0].topic_len == 6 && memcmp(s.e[0].topic, "orders", 6) == 0);
    CHECK(s.e[0].id == 0x1234abcdULL && s.e[0].partition == 0 && s.e[0].hw == 50);
    CHECK(s.e[1].topic_len == 7 && s.e[1].partition == 9999 && s.e[1].hw == 0);
    /* Any flipped byte, a cut or a tail is refused, and nothing is visited. */
    for (int64_t i = 0; i < len; i++) {
        text[i] ^= 0x01;
        s.n = 0;
        CHECK_EQ_INT(bk_checkpoint_parse(text, (size_t)len, on_entry, &s), BK_ECORRUPT);
        CHECK_EQ_INT(s.n, 0);
        text[i] ^= 0x01;
    }
    for (int64_t cut = 0; cut < len; cut++)
        CHECK_EQ_INT(bk_checkpoint_parse(text, (size_t)cut, on_entry, &s), BK_ECORRUPT);
    free(text);
    len = bk_checkpoint_format(NULL, 0, &text);
    s.n = 0;
    CHECK_EQ_INT(bk_checkpoint_parse(text, (size_t)len, on_entry, &s), 0);
    CHECK_EQ_INT(s.n, 0);
    free(text);
}

static void put(uv_loop_t *loop, bk_partition_t *p, int n)
{
    for (int i = 0; i < n; i++) {
        fx_acks_t acks = {0};
        CHECK_EQ_INT(fx_append(p, NULL, "record-of-some-length", &acks, 0), 0);
        uv_run(loop, UV_RUN_DEFAULT);
        CHECK_EQ_INT(acks.calls, 1);
    }
}

static bk_partition_t *part_of(bk_log_t *log, const char *name)
{
    bk_topic_t *t = bk_log_topic_find(log, name, strlen(name));
    CHECK(t != NULL);
    return t ? bk_topic_partition(t, 0) : NULL;
}

static void test_survives_reopen(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_log_use_replicated_hw(log);
    bk_topic_t *t;
    CHECK_EQ_INT(bk_log_topic_create(log, "kept", 4, 1, &t), 0);
    CHECK_EQ_INT(bk_log_topic_create(log, "gone", 4, 1, &t), 0);
    put(&loop, part_of(log, "kept"), 8);
    put(&loop, part_of(log, "gone"), 4);
    bk_partition_set_committed(part_of(log, "kept"), 5);
    bk_partition_set_committed(part_of(log, "gone"), 4);
    fx_close(&loop, log);
    CHECK(fx_exists(fx_path(dir, BK_CHECKPOINT_NAME)));
    CHECK(!fx_exists(fx_path(dir, BK_CHECKPOINT_NAME ".tmp")));

    /* Restarted: the committed offset is back before any replicator said anything. */
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_log_use_replicated_hw(log);
    CHECK_EQ_INT(bk_partition_committed(part_of(log, "kept")), 5);
    CHECK_EQ_INT(bk_partition_committed(part_of(log, "gone")), 4);
    /* "gone" deleted and created again: a new id, so the old offset does not apply. */
    CHECK_EQ_INT(bk_log_topic_delete(log, bk_log_topic_find(log, "gone", 4)), 0);
    CHECK_EQ_INT(bk_log_topic_create(log, "gone", 4, 1, &t), 0);
    put(&loop, part_of(log, "gone"), 6);
    fx_close(&loop, log);
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_log_use_replicated_hw(log);
    CHECK_EQ_INT(bk_partition_committed(part_of(log, "gone")), 0);
    CHECK_EQ_INT(bk_partition_committed(part_of(log, "kept")), 5);
    fx_close(&loop, log);

    /* A checkpoint that claims more than the log holds (a tail lost with fsync=never) is
     * clamped to the log; one from another incarnation of the name is ignored. */
    char *text;
    bk_checkpoint_entry_t e[2] = {{"kept", 4, 0, 0, 1000}, {"gone", 4, 0, 0, 3}};
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    e[0].id = bk_topic_id(bk_log_topic_find(log, "kept", 4));
    fx_close(&loop, log);
    int64_t len = bk_checkpoint_format(e, 2, &text);
    fx_write_file(fx_path(dir, BK_CHECKPOINT_NAME), text, (size_t)len);
    free(text);
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_log_use_replicated_hw(log);
    CHECK_EQ_INT(bk_partition_committed(part_of(log, "kept")), 8);
    CHECK_EQ_INT(bk_partition_committed(part_of(log, "gone")), 0);
    fx_close(&loop, log);

    /* A damaged checkpoint changes nothing: every committed offset starts at the log start. */
    fx_flip_bit(fx_path(dir, BK_CHECKPOINT_NAME), 3, 2);
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_log_use_replicated_hw(log);
    CHECK_EQ_INT(bk_partition_committed(part_of(log, "kept")), 0);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_open_retention_stops_at_checkpoint(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_log_use_replicated_hw(log);
    bk_topic_config_t c;
    bk_log_topic_config_defaults(log, &c);
    c.segment_bytes = 100; /* a segment per record */
    c.retention_bytes = 0;
    bk_topic_t *t;
    CHECK_EQ_INT(bk_log_topic_create_with(log, "ret", 3, 1, &c, &t), 0);
    put(&loop, part_of(log, "ret"), 6);
    bk_partition_set_committed(part_of(log, "ret"), 2);
    fx_close(&loop, log);
    /* At open nobody has said yet whether a replicator manages the log: the pass deletes only
     * what the checkpoint says every replica had. */
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    CHECK_EQ_INT(bk_partition_start_offset(part_of(log, "ret")), 2);
    CHECK_EQ_INT(bk_partition_end_offset(part_of(log, "ret")), 6);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void on_tick(uv_timer_t *h)
{
    (void)h;
}

static void test_written_periodically(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    cfg.checkpoint_ms = 20;
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_log_use_replicated_hw(log);
    bk_topic_t *t;
    CHECK_EQ_INT(bk_log_topic_create(log, "tick", 4, 1, &t), 0);
    put(&loop, part_of(log, "tick"), 3);
    bk_partition_set_committed(part_of(log, "tick"), 3);
    /* Without a close (a crash): the timer wrote it. */
    uv_timer_t stop;
    uv_timer_init(&loop, &stop);
    int found = 0;
    for (int i = 0; i < 100 && !found; i++) {
        uv_timer_start(&stop, on_tick, 20, 0);
        uv_run(&loop, UV_RUN_ONCE);
        size_t len;
        uint8_t *b = fx_read_file(fx_path(dir, BK_CHECKPOINT_NAME), &len);
        found = b && memmem(b, len, " 0 3\n", 5) != NULL;
        free(b);
    }
    CHECK(found);
    uv_close((uv_handle_t *)&stop, NULL);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

CHECK_MAIN(CASE(test_text), CASE(test_survives_reopen),
           CASE(test_open_retention_stops_at_checkpoint), CASE(test_written_periodically))
