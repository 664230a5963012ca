/* Deleting and growing topics: a deleted topic is gone at once (find, count, directories) and
 * its name can be used again with no trace of the old data; appends queued or in a round when
 * it is deleted still get their callbacks (memory freed after the last, ASan watches); a crash
 * on either side of the delete's commit point leaves the whole topic or none of it; a failed
 * delete changes nothing. Adding partitions persists, keeps existing partition pointers valid
 * and refuses to shrink. */
#include "log_fixture.h"

#include "log/log_internal.h"
#include "log/topic.h"

#include <dirent.h>

static bk_log_t *open_log(uv_loop_t *loop, const char *dir)
{
    bk_log_config_t cfg = fx_config(dir);
    bk_log_t *log = NULL;
    CHECK_EQ_INT(bk_log_open(loop, &cfg, &log), 0);
    return log;
}

static bk_topic_t *make(bk_log_t *log, const char *name, uint32_t parts)
{
    bk_topic_t *t = NULL;
    CHECK_EQ_INT(bk_log_topic_create(log, name, strlen(name), parts, &t), 0);
    return t;
}

/* Entries in <dir>/+trash (-1 when it does not exist). */
static int trash_entries(const char *dir)
{
    DIR *d = opendir(fx_path(dir, BK_LOG_TRASH));
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static void fill(uv_loop_t *loop, bk_partition_t *p, const char *value, int n)
{
    fx_acks_t acks = {0};
    for (int i = 0; i < n; i++)
        CHECK_EQ_INT(fx_append(p, NULL, value, &acks, i), 0);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(acks.calls, n);
}

static void test_delete_then_recreate(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_t *log = open_log(&loop, dir);
    bk_topic_t *t = make(log, "d", 2);
    make(log, "keep", 1);
    fill(&loop, bk_topic_partition(t, 0), "old-data", 3);
    fill(&loop, bk_topic_partition(t, 1), "old-data", 2);
    CHECK_EQ_INT(bk_log_topic_delete(log, t), 0);
    CHECK(bk_log_topic_find(log, "d", 1) == NULL);
    CHECK_EQ_INT(bk_log_topic_count(log), 1);
    CHECK_EQ_STR(bk_topic_name(bk_log_topic_at(log, 0)), "keep");
    CHECK(!fx_exists(fx_path(dir, "d.topic")));
    CHECK(!fx_exists(fx_path(dir, "d-0")));
    CHECK(!fx_exists(fx_path(dir, "d-1")));
    uv_run(&loop, UV_RUN_DEFAULT); /* the trash is emptied on the threadpool */
    CHECK_EQ_INT(trash_entries(dir), 0);

    /* The same name again, at once: new and empty. */
    t = make(log, "d", 1);
    bk_partition_t *p = bk_topic_partition(t, 0);
    CHECK_EQ_INT(bk_partition_end_offset(p), 0);
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(p, 0, &rd), 0);
    fill(&loop, p, "new-data", 1);
    fx_close(&loop, log);
    log = open_log(&loop, dir);
    t = bk_log_topic_find(log, "d", 1);
    CHECK(t && bk_topic_partition_count(t) == 1);
    CHECK_EQ_INT(fx_read_all(bk_topic_partition(t, 0), 0, &rd), 1);
    CHECK_EQ_STR(rd.values[0], "new-data");
    /* Deleted twice in a row, and recreated with the old partition count. */
    CHECK_EQ_INT(bk_log_topic_delete(log, t), 0);
    t = make(log, "d", 2);
    CHECK_EQ_INT(bk_log_topic_delete(log, t), 0);
    t = make(log, "d", 2);
    CHECK_EQ_INT(bk_partition_end_offset(bk_topic_partition(t, 1)), 0);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

/* An append callback that uses its partition: it must still be valid then. */
typedef struct {
    bk_partition_t *p;
    int calls, ok;
    char topic[16];
} inflight_t;

static void on_inflight(void *arg, int status, int64_t off)
{
    inflight_t *f = arg;
    f->calls++;
    f->ok += status == 0 && off >= 0;
    snprintf(f->topic, sizeof f->topic, "%s", bk_topic_name(bk_partition_topic(f->p)));
}

static void test_delete_with_appends_queued(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_t *log = open_log(&loop, dir);
    bk_topic_t *t = make(log, "q", 1);
    static inflight_t f[20];
    bk_record_t r = {NULL, -1, (const uint8_t *)"v", 1, NULL, 0, 0};
    for (int i = 0; i < 20; i++) {
        f[i] = (inflight_t){bk_topic_partition(t, 0), 0, 0, ""};
        CHECK_EQ_INT(bk_partition_append(f[i].p, &r, 1, 1, on_inflight, &f[i]), 0);
    }
    CHECK_EQ_INT(bk_log_topic_delete(log, t), 0); /* nothing written yet */
    CHECK(bk_log_topic_find(log, "q", 1) == NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 20; i++) {
        CHECK_EQ_INT(f[i].calls, 1);
        CHECK_EQ_INT(f[i].ok, 1); /* their real status: written and synced */
        CHECK_EQ_STR(f[i].topic, "q");
    }
    CHECK_EQ_INT(trash_entries(dir), 0);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_delete_in_never_mode_frees_at_once(void)
{
    /* Under fsync=never written data waits for no sync: a deleted topic does not wait for
     * one either (its memory and trash go while the log runs, not at close). */
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_config_t cfg = fx_config(dir);
    cfg.fsync_mode = BK_FSYNC_NEVER;
    bk_log_t *log;
    CHECK_EQ_INT(bk_log_open(&loop, &cfg, &log), 0);
    bk_topic_t *t = make(log, "n", 1);
    fill(&loop, bk_topic_partition(t, 0), "unsynced", 3);
    static inflight_t f;
    f = (inflight_t){bk_topic_partition(t, 0), 0, 0, ""};
    bk_record_t r = {NULL, -1, (const uint8_t *)"v", 1, NULL, 0, 0};
    CHECK_EQ_INT(bk_partition_append(f.p, &r, 1, 1, on_inflight, &f), 0);
    CHECK_EQ_INT(bk_log_topic_delete(log, t), 0);
    CHECK_EQ_INT(trash_entries(dir), 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(f.calls, 1);
    CHECK_EQ_INT(f.ok, 1);
    CHECK_EQ_INT(trash_entries(dir), 0);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_delete_during_a_round(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_io_install();
    bk_log_t *log = open_log(&loop, dir);
    bk_topic_t *t = make(log, "r", 2);
    atomic_store(&fx_sync_delay_ms, 40);
    static inflight_t f[4];
    bk_record_t r = {NULL, -1, (const uint8_t *)"v", 1, NULL, 0, 0};
    for (int i = 0; i < 2; i++) {
        f[i] = (inflight_t){bk_topic_partition(t, (uint32_t)i), 0, 0, ""};
        CHECK_EQ_INT(bk_partition_append(f[i].p, &r, 1, 1, on_inflight, &f[i]), 0);
    }
    uv_run(&loop, UV_RUN_NOWAIT); /* the round is on the threadpool now */
    for (int i = 2; i < 4; i++) { /* and these wait for the next one */
        f[i] = (inflight_t){bk_topic_partition(t, (uint32_t)(i - 2)), 0, 0, ""};
        CHECK_EQ_INT(bk_partition_append(f[i].p, &r, 1, 1, on_inflight, &f[i]), 0);
    }
    CHECK_EQ_INT(bk_log_topic_delete(log, t), 0);
    t = make(log, "r", 1); /* recreated while the old one still flushes */
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(f[i].calls, 1);
        CHECK_EQ_INT(f[i].ok, 1);
    }
    CHECK_EQ_INT(bk_partition_end_offset(bk_topic_partition(t, 0)), 0);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_io_restore();
    fx_rmrf(dir);
}

static bk_log_t *cb_log;
static bk_topic_t *cb_topic;
static int cb_delete_rc = 1;

static void on_delete_from_callback(void *arg, int status, int64_t off)
{
    fx_on_append(arg, status, off);
    if (cb_topic) {
        cb_delete_rc = bk_log_topic_delete(cb_log, cb_topic);
        cb_topic = NULL;
    }
}

static void test_delete_from_a_callback(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_t *log = open_log(&loop, dir);
    bk_topic_t *t = make(log, "cb", 1);
    bk_log_set_commit_hook(log, NULL, NULL);
    bk_partition_t *p = bk_topic_partition(t, 0);
    fx_acks_t acks = {0};
    bk_record_t r = {NULL, -1, (const uint8_t *)"v", 1, NULL, 0, 0};
    cb_log = log;
    cb_topic = t;
    for (int i = 0; i < 3; i++) {
        fx_args[i] = (fx_ack_arg_t){&acks, i};
        CHECK_EQ_INT(bk_partition_append(p, &r, 1, 1, on_delete_from_callback, &fx_args[i]), 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(cb_delete_rc, 0);
    CHECK_EQ_INT(acks.calls, 3);
    CHECK_EQ_INT(acks.status[2], 0);
    CHECK_EQ_INT(bk_log_topic_count(log), 0);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_crash_after_commit_point(void)
{
    /* The metadata reached the trash (commit point), the clean-up did not happen. */
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_t *log = open_log(&loop, dir);
    bk_topic_t *t = make(log, "c", 2);
    fill(&loop, bk_topic_partition(t, 0), "gone", 2);
    fx_close(&loop, log);
    const char *entry = BK_LOG_TRASH "/00000000000000000007.c";
    CHECK_EQ_INT(mkdir(fx_path(dir, BK_LOG_TRASH), 0755), 0);
    CHECK_EQ_INT(mkdir(fx_path(dir, entry), 0755), 0);
    char to[256];
    snprintf(to, sizeof to, "%s/%s/c-0", dir, entry);
    CHECK_EQ_INT(rename(fx_path(dir, "c-0"), to), 0);
    snprintf(to, sizeof to, "%s/%s/c-1", dir, entry);
    CHECK_EQ_INT(rename(fx_path(dir, "c-1"), to), 0);
    snprintf(to, sizeof to, "%s/%s/c.topic", dir, entry);
    CHECK_EQ_INT(rename(fx_path(dir, "c.topic"), to), 0);
    log = open_log(&loop, dir);
    CHECK(bk_log_topic_find(log, "c", 1) == NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(trash_entries(dir), 0);
    t = make(log, "c", 2);
    CHECK_EQ_INT(bk_partition_end_offset(bk_topic_partition(t, 0)), 0);
    /* The next delete gets a later generation than the one found on disk. (Its trash entry is
     * removed on the threadpool at once, so the generation is read from the log, not disk.) */
    CHECK_EQ_INT((int)log->trash_gen, 7);
    CHECK_EQ_INT(bk_log_topic_delete(log, t), 0);
    CHECK_EQ_INT((int)log->trash_gen, 8);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_crash_before_commit_point(void)
{
    /* Partition directories moved aside, metadata still in place: the delete never happened
     * and open puts the directories back, data intact. */
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_t *log = open_log(&loop, dir);
    bk_topic_t *t = make(log, "h", 2);
    fill(&loop, bk_topic_partition(t, 1), "kept", 2);
    fx_close(&loop, log);
    const char *entry = BK_LOG_TRASH "/00000000000000000001.h";
    CHECK_EQ_INT(mkdir(fx_path(dir, BK_LOG_TRASH), 0755), 0);
    CHECK_EQ_INT(mkdir(fx_path(dir, entry), 0755), 0);
    char to[256];
    snprintf(to, sizeof to, "%s/%s/h-1", dir, entry);
    CHECK_EQ_INT(rename(fx_path(dir, "h-1"), to), 0);
    log = open_log(&loop, dir);
    t = bk_log_topic_find(log, "h", 1);
    CHECK(t != NULL);
    fx_read_t rd;
    CHECK(t && fx_read_all(bk_topic_partition(t, 1), 0, &rd) == 2);
    CHECK_EQ_STR(rd.values[1], "kept");
    CHECK(fx_exists(fx_path(dir, "h-1/00000000000000000000.log")));
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(trash_entries(dir), 0);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

/* Fails only the rename of a topic's metadata: the delete's commit point. */
static int rename_fail_meta(const char *from, const char *to)
{
    size_t n = strlen(from);
    if (n > 6 && strcmp(from + n - 6, ".topic") == 0)
        return UV_EIO;
    return bk_log_io_default()->rename(from, to);
}

static void test_failed_delete_changes_nothing(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_io_install();
    bk_log_t *log = open_log(&loop, dir);
    bk_topic_t *t = make(log, "f", 3);
    bk_partition_t *p = bk_topic_partition(t, 2);
    fill(&loop, p, "still-here", 1);
    atomic_store(&fx_fail_rename, UV_EIO); /* at the first directory */
    CHECK_EQ_INT(bk_log_topic_delete(log, t), UV_EIO);
    atomic_store(&fx_fail_rename, 0);
    fx_io.rename = rename_fail_meta; /* after every directory was moved: they come back */
    CHECK_EQ_INT(bk_log_topic_delete(log, t), UV_EIO);
    fx_io.rename = fx_io_rename;
    CHECK_EQ_INT(trash_entries(dir), 0);
    CHECK(bk_log_topic_find(log, "f", 1) == t);
    CHECK(fx_exists(fx_path(dir, "f.topic")) && fx_exists(fx_path(dir, "f-2")));
    fill(&loop, p, "more", 1);
    fx_read_t rd;
    CHECK_EQ_INT(fx_read_all(p, 0, &rd), 2);
    fx_close(&loop, log);
    log = open_log(&loop, dir);
    t = bk_log_topic_find(log, "f", 1);
    CHECK(t && bk_topic_partition_count(t) == 3);
    CHECK(t && fx_read_all(bk_topic_partition(t, 2), 0, &rd) == 2);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_io_restore();
    fx_rmrf(dir);
}

static void test_add_partitions(void)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_io_install();
    bk_log_t *log = open_log(&loop, dir);
    bk_topic_t *t = make(log, "g", 2);
    bk_partition_t *p0 = bk_topic_partition(t, 0), *p1 = bk_topic_partition(t, 1);
    fill(&loop, p1, "before", 2);
    CHECK_EQ_INT(bk_log_topic_add_partitions(log, t, 1), BK_EINVAL);
    CHECK_EQ_INT(bk_log_topic_add_partitions(log, t, 2), 0);
    CHECK_EQ_INT(bk_log_topic_add_partitions(log, t, BK_LOG_MAX_PARTITIONS + 1), BK_EINVAL);
    /* A failed metadata rename leaves the topic as it was; the attempt is repeatable. */
    atomic_store(&fx_fail_rename, UV_EIO);
    CHECK_EQ_INT(bk_log_topic_add_partitions(log, t, 5), UV_EIO);
    atomic_store(&fx_fail_rename, 0);
    CHECK_EQ_INT(bk_topic_partition_count(t), 2);
    CHECK(bk_topic_partition(t, 2) == NULL);
    CHECK_EQ_INT(bk_log_topic_add_partitions(log, t, 37), 0); /* the array grows a lot */
    CHECK_EQ_INT(bk_topic_partition_count(t), 37);
    CHECK(bk_topic_partition(t, 0) == p0 && bk_topic_partition(t, 1) == p1);
    CHECK_EQ_INT(bk_partition_index(bk_topic_partition(t, 36)), 36);
    CHECK(bk_partition_topic(bk_topic_partition(t, 36)) == t);
    fill(&loop, p1, "after", 1); /* old pointers still work */
    fill(&loop, bk_topic_partition(t, 36), "new", 1);
    CHECK(fx_exists(fx_path(dir, "g-36/00000000000000000000.log")));
    fx_close(&loop, log);
    log = open_log(&loop, dir);
    t = bk_log_topic_find(log, "g", 1);
    CHECK(t && bk_topic_partition_count(t) == 37);
    fx_read_t rd;
    CHECK(t && fx_read_all(bk_topic_partition(t, 1), 0, &rd) == 3);
    CHECK(t && fx_read_all(bk_topic_partition(t, 36), 0, &rd) == 1);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_io_restore();
    fx_rmrf(dir);
}

/* Moves "<name>-<i>" (or any file) of dir into dir/sub (made if needed). */
static void move_into(const char *dir, const char *sub, const char *file)
{
    char from[512], to[512];
    snprintf(from, sizeof from, "%s/%s", dir, sub);
    mkdir(from, 0755);
    snprintf(from, sizeof from, "%s/%s", dir, file);
    snprintf(to, sizeof to, "%s/%s/%s", dir, sub, file);
    CHECK_EQ_INT(rename(from, to), 0);
}

/* Issue 9 D7: topic "r" (3 partitions) deleted, "r" created again with 1, and a crash while
 * the trash entry of the old one was being removed, its metadata already gone but partitions
 * 1 and 2 not yet. The old undo took the new "r.topic" as proof the delete never finished and
 * moved the old partitions back; growing "r" to 3 then served the old records. Both entry
 * namings: an earlier version's "<generation>.<name>", and "<generation>+<id>". */
static void recreated_after_crash(int legacy)
{
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_t *log = open_log(&loop, dir);
    bk_topic_t *t = make(log, "r", 3);
    fill(&loop, bk_topic_partition(t, 1), "old-record", 3);
    uint64_t old_id = bk_topic_id(t);
    fx_close(&loop, log);
    char entry[128];
    if (legacy)
        snprintf(entry, sizeof entry, "%s/00000000000000000003.r", BK_LOG_TRASH);
    else
        snprintf(entry, sizeof entry, "%s/00000000000000000003+%016llx", BK_LOG_TRASH,
                 (unsigned long long)old_id);
    move_into(dir, "aside", "r-0");
    move_into(dir, "aside", "r-1");
    move_into(dir, "aside", "r-2");
    move_into(dir, "aside", "r.topic");
    log = open_log(&loop, dir);
    CHECK(bk_log_topic_find(log, "r", 1) == NULL);
    t = make(log, "r", 1);
    CHECK(bk_topic_id(t) != old_id);
    fx_close(&loop, log);
    /* The crashed walk had removed the old metadata and partition 0, not yet 1 and 2. */
    CHECK_EQ_INT(mkdir(fx_path(dir, BK_LOG_TRASH), 0755), 0);
    CHECK_EQ_INT(mkdir(fx_path(dir, entry), 0755), 0);
    char from[512], to[512];
    for (int i = 1; i <= 2; i++) {
        snprintf(from, sizeof from, "%s/aside/r-%d", dir, i);
        snprintf(to, sizeof to, "%s/%s/r-%d", dir, entry, i);
        CHECK_EQ_INT(rename(from, to), 0);
    }

    log = open_log(&loop, dir);
    t = bk_log_topic_find(log, "r", 1);
    CHECK(t && bk_topic_partition_count(t) == 1);
    CHECK(!fx_exists(fx_path(dir, "r-1")) && !fx_exists(fx_path(dir, "r-2")));
    CHECK_EQ_INT(bk_log_topic_add_partitions(log, t, 3), 0);
    for (uint32_t i = 0; i < 3; i++)
        CHECK_EQ_INT(bk_partition_end_offset(bk_topic_partition(t, i)), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(trash_entries(dir), 0);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_recreated_topic_never_adopts_old_partitions(void)
{
    recreated_after_crash(0);
    recreated_after_crash(1);
}

static void test_crash_before_commit_point_by_id(void)
{
    /* An entry named by id, without metadata, of the topic still live under that id: the
     * delete never committed; the directories go back, data intact. */
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_t *log = open_log(&loop, dir);
    bk_topic_t *t = make(log, "u", 2);
    fill(&loop, bk_topic_partition(t, 1), "kept", 2);
    char entry[128];
    snprintf(entry, sizeof entry, "%s/00000000000000000002+%016llx", BK_LOG_TRASH,
             (unsigned long long)bk_topic_id(t));
    fx_close(&loop, log);
    CHECK_EQ_INT(mkdir(fx_path(dir, BK_LOG_TRASH), 0755), 0);
    move_into(dir, entry, "u-0");
    move_into(dir, entry, "u-1");
    log = open_log(&loop, dir);
    t = bk_log_topic_find(log, "u", 1);
    fx_read_t rd;
    CHECK(t && fx_read_all(bk_topic_partition(t, 1), 0, &rd) == 2);
    CHECK(fx_exists(fx_path(dir, "u-0")) && fx_exists(fx_path(dir, "u-1")));
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(trash_entries(dir), 0);
    CHECK_EQ_INT((int)log->trash_gen, 2);
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

static void test_longest_names_delete(void)
{
    /* Issue 8 item 5: names of 235-249 characters could be created but not deleted, the trash
     * entry "<20 digits>.<name>" being longer than 255 bytes. Every legal name deletes. */
    char *dir = fx_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    bk_log_t *log = open_log(&loop, dir);
    char name[250];
    for (size_t len = 230; len <= 249; len += 19) {
        memset(name, 'n', len);
        name[len] = '\0';
        bk_topic_t *t = make(log, name, 2);
        fill(&loop, bk_topic_partition(t, 1), "long", 2);
        CHECK_EQ_INT(bk_log_topic_delete(log, t), 0);
        CHECK(bk_log_topic_find(log, name, len) == NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK_EQ_INT(trash_entries(dir), 0);
        t = make(log, name, 1);
        CHECK(t && bk_partition_end_offset(bk_topic_partition(t, 0)) == 0);
    }
    fx_close(&loop, log);
    fx_loop_done(&loop);
    fx_rmrf(dir);
}

CHECK_MAIN(CASE(test_delete_then_recreate), CASE(test_delete_with_appends_queued),
           CASE(test_delete_in_never_mode_frees_at_once), CASE(test_delete_during_a_round),
           CASE(test_delete_from_a_callback), CASE(test_crash_after_commit_point),
           CASE(test_crash_before_commit_point), CASE(test_failed_delete_changes_nothing),
           CASE(test_add_partitions), CASE(test_recreated_topic_never_adopts_old_partitions),
           CASE(test_crash_before_commit_point_by_id), CASE(test_longest_names_delete))
