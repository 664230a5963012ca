/* The log's front door: configuration defaults, opening a data directory (lock, recover every
 * topic), closing it in order, stats and the commit hook. Opening blocks and must run before
 * serving; closing never frees anything a loop handle or an in-flight flush still uses. */
#include "brook/log.h"

#include "brook/common.h"
#include "log/commit.h"
#include "log/log_internal.h"
#include "log/partition.h"
#include "log/topic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#define LOCK_NAME "/.lock"
#define MAX_SEGMENT_BYTES ((uint64_t)2 << 30)

void bk_log_config_defaults(bk_log_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->data_dir = "data";
    cfg->fsync_mode = BK_FSYNC_ALWAYS;
    cfg->fsync_interval_ms = 1000;
    cfg->segment_bytes = (uint64_t)128 << 20;
    cfg->index_interval_bytes = 4096;
    cfg->default_partitions = 1;
}

static int check_config(const bk_log_config_t *cfg)
{
    if (!cfg->data_dir || !cfg->data_dir[0] || cfg->segment_bytes == 0 ||
        cfg->segment_bytes > MAX_SEGMENT_BYTES || cfg->fsync_mode > BK_FSYNC_NEVER ||
        cfg->default_partitions > BK_LOG_MAX_PARTITIONS)
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
    free(log->topics);
    bk_commit_free(&log->commit);
    bk_io_close(log->io, log->lock_fd); /* releases the flock */
    free(log->enc);
    free(log->reader.buf);
    free(log->data_dir);
    free(log);
}

int bk_log_open(uv_loop_t *loop, const bk_log_config_t *cfg, bk_log_t **out)
{
    int rc = check_config(cfg);
    if (rc < 0)
        return rc;
    bk_log_t *log = calloc(1, sizeof *log);
    if (!log)
        return UV_ENOMEM;
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
        (rc = bk_topic_load_all(log)) < 0)
        goto err;
    rc = bk_commit_init(&log->commit, loop, log->io, cfg->fsync_mode, cfg->fsync_interval_ms,
                        &log->stats);
    if (rc < 0) {
        bk_trace_error("log", "cannot initialise loop handles: %s", bk_strerror(rc));
        return rc; /* the log is leaked on purpose: the loop may reference its handles */
    }
    bk_trace_info("log", "opened %s: %zu topic(s)", log->data_dir, log->ntopics);
    *out = log;
    return 0;

err:
    bk_trace_warn("log", "cannot open %s: %s", cfg->data_dir, bk_strerror(rc));
    log_free(log);
    return rc;
}

static void after_commit_closed(void *arg)
{
    bk_log_t *log = arg;
    void (*done)(void *) = log->done;
    void *done_arg = log->done_arg;
    log_free(log);
    if (done)
        done(done_arg);
}

void bk_log_close(bk_log_t *log, void (*done)(void *arg), void *arg)
{
    if (log->closing)
        return;
    log->closing = 1;
    log->done = done;
    log->done_arg = arg;
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
