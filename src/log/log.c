/* The log's front door: configuration defaults, opening a data directory (lock, finish
 * interrupted deletes, recover every topic), the retention timer, freeing deleted topics once
 * idle, closing in order, stats and the commit hook. Opening blocks and must run before
 * serving; closing never frees anything a loop handle, a round or a threadpool job still uses. */
#include "brook/log.h"

#include "brook/common.h"
#include "log/cleaner.h"
#include "log/checkpoint.h"
#include "log/commit.h"
#include "log/log_internal.h"
#include "log/partition.h"
#include "log/topic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#define LOCK_NAME "/.lock"

void bk_log_config_defaults(bk_log_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->data_dir = "data";
    cfg->fsync_mode = BK_FSYNC_ALWAYS;
    cfg->fsync_interval_ms = 1000;
    cfg->preallocate_bytes = 1u << 20;
    cfg->segment_bytes = (uint64_t)128 << 20;
    cfg->index_interval_bytes = 4096;
    cfg->default_partitions = 1;
    cfg->retention_ms = 7LL * 24 * 3600 * 1000;
    cfg->retention_bytes = -1;
    cfg->max_message_bytes = 1u << 20;
    cfg->retention_check_ms = 300000;
    cfg->checkpoint_ms = 1000;
    cfg->cleaner_interval_ms = 15000;
}

static int check_config(const bk_log_config_t *cfg)
{
    bk_topic_config_t t = {.retention_ms = cfg->retention_ms,
                           .retention_bytes = cfg->retention_bytes,
                           .segment_bytes = cfg->segment_bytes,
                           .max_message_bytes = cfg->max_message_bytes,
                           .compression = cfg->compression};
    if (!cfg->data_dir || !cfg->data_dir[0] || cfg->fsync_mode > BK_FSYNC_NEVER ||
        cfg->default_partitions > BK_LOG_MAX_PARTITIONS || !bk_topic_config_valid(&t) ||
        cfg->retention_check_ms == 0)
        return BK_EINVAL;
    return 0;
}

/* mkdir -p: each missing component in turn. */
static int make_dirs(const bk_log_io_t *io, char *path)
{
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        int rc = io->mkdir(path, 0755);
        *p = saved;
        if (rc < 0 && rc != UV_EEXIST)
            return rc;
        if (saved == '\0')
            return 0;
    }
}

static int lock_dir(bk_log_t *log)
{
    size_t len = strlen(log->data_dir) + sizeof LOCK_NAME;
    char *path = malloc(len);
    if (!path)
        return UV_ENOMEM;
    snprintf(path, len, "%s%s", log->data_dir, LOCK_NAME);
    int rc = log->lock_fd = log->io->open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (rc >= 0 && flock(log->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        rc = errno == EWOULDBLOCK ? UV_EBUSY : -errno;
        if (rc == UV_EBUSY)
            bk_trace_error("log", "%s is locked by another broker", log->data_dir);
    }
    free(path);
    return rc < 0 ? rc : 0;
}

static void log_free(bk_log_t *log)
{
    for (size_t i = 0; i < log->ntopics; i++)
        bk_topic_free(log->topics[i]);
    while (log->dead) { /* their trash directories are removed at the next open */
        bk_topic_t *t = log->dead;
        log->dead = t->next_dead;
        bk_topic_free(t);
    }
    free(log->topics);
    bk_commit_free(&log->commit);
    bk_io_close(log->io, log->lock_fd); /* releases the flock */
    free(log->reader.buf);
    free(log->ckpt_text);
    free(log->data_dir);
    free(log);
}

/* ---- threadpool jobs: removing trash directories ---- */

typedef struct {
    uv_work_t work;
    bk_log_t *log;
    const bk_log_io_t *io;
    char *path;
} rmtree_job_t;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) < 0)
        bk_trace_warn("log", "cannot remove %s: %s", path, bk_strerror(-errno));
    return 0;
}

static void rm_tree(const char *path)
{
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        bk_trace_warn("log", "cannot remove %s: %s", path, bk_strerror(-errno));
}

/* Removes the subdirectories of dir (a trash entry's partition directories) and fsyncs dir;
 * 0 when all went. */
static int rm_subdirs(const bk_log_io_t *io, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    int left = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        char *sub = malloc(len);
        struct stat st;
        if (!sub) {
            left = 1;
            continue;
        }
        snprintf(sub, len, "%s/%s", dir, de->d_name);
        if (de->d_type == DT_DIR ||
            (de->d_type == DT_UNKNOWN && lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)))
            rm_tree(sub);
        free(sub);
    }
    int fd = dirfd(d);
    int rc = io->fsync(fd);
    if (closedir(d) < 0 && rc == 0)
        rc = -errno;
    return left ? UV_ENOMEM : rc;
}

/* A trash entry goes partition directories first and its topic metadata last, with the
 * entry synced in between: at open an entry without metadata must mean a delete that never
 * committed, never one half removed (see format.c). */
static void work_rmtree(uv_work_t *req)
{
    rmtree_job_t *job = req->data;
    int rc = rm_subdirs(job->io, job->path);
    if (rc < 0) {
        bk_trace_warn("log", "cannot remove %s: %s; the next open retries", job->path,
                      bk_strerror(rc));
        return;
    }
    rm_tree(job->path);
}

static void after_rmtree(uv_work_t *req, int status)
{
    (void)status;
    rmtree_job_t *job = req->data;
    bk_log_t *log = job->log;
    free(job->path);
    free(job);
    bk_log_job_done(log);
}

/* Removes a deleted topic's trash directory off the loop; takes path. */
static void remove_tree(bk_log_t *log, char *path)
{
    rmtree_job_t *job = malloc(sizeof *job);
    if (!job) {
        free(path); /* the next open removes it */
        return;
    }
    job->log = log;
    job->io = log->io;
    job->path = path;
    job->work.data = job;
    log->jobs++;
    if (uv_queue_work(log->loop, &job->work, work_rmtree, after_rmtree) != 0) {
        work_rmtree(&job->work);
        after_rmtree(&job->work, 0);
    }
}

void bk_log_reap(bk_log_t *log)
{
    for (bk_topic_t **pp = &log->dead; *pp;) {
        bk_topic_t *t = *pp;
        if (!bk_topic_idle(t)) {
            pp = &t->next_dead;
            continue;
        }
        *pp = t->next_dead;
        if (!log->closing) {
            remove_tree(log, t->trash);
            t->trash = NULL;
        }
        bk_topic_free(t);
    }
}

static void maybe_free(bk_log_t *log)
{
    if (!log->closing || !log->commit_closed || !log->timer_closed || !log->ckpt_timer_closed ||
        !log->cleaner_timer_closed || log->jobs)
        return;
    void (*done)(void *) = log->done;
    void *done_arg = log->done_arg;
    log_free(log);
    if (done)
        done(done_arg);
}

void bk_log_job_done(bk_log_t *log)
{
    log->jobs--;
    bk_log_reap(log);
    maybe_free(log);
}

/* ---- retention ---- */

size_t bk_log_retention_run(bk_log_t *log, int64_t now_ms)
{
    size_t n = 0;
    for (size_t i = 0; i < log->ntopics; i++) {
        bk_topic_t *t = log->topics[i];
        for (uint32_t j = 0; j < t->npart; j++)
            n += bk_partition_retention(t->parts[j], now_ms);
    }
    return n;
}

static void on_retention_timer(uv_timer_t *h)
{
    bk_log_t *log = h->data;
    bk_log_retention_run(log, bk_wall_ms());
}

static void on_checkpoint_timer(uv_timer_t *h)
{
    bk_checkpoint_save(h->data, 0);
}

/* ---- open and close ---- */

static void on_settle(void *arg)
{
    bk_log_reap(arg);
}

static int start_handles(bk_log_t *log)
{
    int rc = bk_commit_init(&log->commit, log->loop, log->io, log->cfg.fsync_mode,
                            log->cfg.fsync_interval_ms, log->cfg.preallocate_bytes, &log->stats);
    if (rc == 0)
        rc = uv_timer_init(log->loop, &log->retention_timer);
    if (rc == 0)
        rc = uv_timer_init(log->loop, &log->ckpt_timer);
    if (rc == 0)
        rc = bk_cleaner_init(log);
    if (rc < 0)
        return rc;
    log->ckpt_timer.data = log;
    uv_unref((uv_handle_t *)&log->ckpt_timer);
    uint32_t every = log->cfg.checkpoint_ms ? log->cfg.checkpoint_ms : 1000;
    if ((rc = uv_timer_start(&log->ckpt_timer, on_checkpoint_timer, every, every)) < 0)
        return rc;
    log->commit.on_settle = on_settle;
    log->commit.settle_arg = log;
    log->retention_timer.data = log;
    /* Retention is housekeeping: it must not keep the loop running on its own. */
    uv_unref((uv_handle_t *)&log->retention_timer);
    return uv_timer_start(&log->retention_timer, on_retention_timer, log->cfg.retention_check_ms,
                          log->cfg.retention_check_ms);
}

int bk_log_open(uv_loop_t *loop, const bk_log_config_t *cfg, bk_log_t **out)
{
    int rc = check_config(cfg);
    if (rc < 0)
        return rc;
    bk_log_t *log = calloc(1, sizeof *log);
    if (!log)
        return UV_ENOMEM;
    char **trash = NULL;
    log->loop = loop;
    log->cfg = *cfg;
    log->io = bk_log_io_get();
    log->lock_fd = -1;
    log->reader.fd = -1;
    log->reader.chunk = (size_t)64 << 10;
    rc = UV_ENOMEM;
    if (!(log->data_dir = strdup(cfg->data_dir)))
        goto err;
    log->cfg.data_dir = log->data_dir;
    if ((rc = make_dirs(log->io, log->data_dir)) < 0 || (rc = lock_dir(log)) < 0 ||
        (rc = bk_topic_load_all(log, &trash)) < 0)
        goto err;
    if ((rc = start_handles(log)) < 0) {
        bk_trace_error("log", "cannot initialise loop handles: %s", bk_strerror(rc));
        return rc; /* the log is leaked on purpose: the loop may reference its handles */
    }
    for (size_t i = 0; trash && trash[i]; i++)
        remove_tree(log, trash[i]);
    free(trash);
    /* Nobody has said yet whether a replicator manages the high watermarks: the pass at open
     * trusts only what the checkpoint vouches for. */
    bk_checkpoint_load(log);
    log->replicated_hw = 1;
    bk_log_retention_run(log, bk_wall_ms());
    log->replicated_hw = 0;
    bk_trace_info("log", "opened %s: %zu topic(s)", log->data_dir, log->ntopics);
    *out = log;
    return 0;

err:
    bk_trace_warn("log", "cannot open %s: %s", cfg->data_dir, bk_strerror(rc));
    for (size_t i = 0; trash && trash[i]; i++)
        free(trash[i]);
    free(trash);
    log_free(log);
    return rc;
}

static void after_commit_closed(void *arg)
{
    bk_log_t *log = arg;
    log->commit_closed = 1;
    maybe_free(log);
}

static void on_timer_closed(uv_handle_t *h)
{
    bk_log_t *log = h->data;
    log->timer_closed = 1;
    maybe_free(log);
}

static void on_cleaner_timer_closed(uv_handle_t *h)
{
    bk_log_t *log = h->data;
    log->cleaner_timer_closed = 1;
    maybe_free(log);
}

static void on_ckpt_timer_closed(uv_handle_t *h)
{
    bk_log_t *log = h->data;
    log->ckpt_timer_closed = 1;
    maybe_free(log);
}

void bk_log_close(bk_log_t *log, void (*done)(void *arg), void *arg)
{
    if (log->closing)
        return;
    log->closing = 1;
    log->done = done;
    log->done_arg = arg;
    uv_close((uv_handle_t *)&log->retention_timer, on_timer_closed);
    uv_close((uv_handle_t *)&log->ckpt_timer, on_ckpt_timer_closed);
    bk_cleaner_close(log, on_cleaner_timer_closed);
    bk_checkpoint_save(log, 1); /* the last committed offsets, for the next start */
    bk_commit_close(&log->commit, after_commit_closed, log);
}

const bk_log_config_t *bk_log_config(const bk_log_t *log)
{
    return &log->cfg;
}

void bk_log_set_commit_hook(bk_log_t *log, void (*hook)(void *arg, bk_partition_t *p), void *arg)
{
    log->commit.hook = hook;
    log->commit.hook_arg = arg;
}

void bk_log_stats(const bk_log_t *log, bk_log_stats_t *out)
{
    *out = log->stats;
}
