/* The log object that ties topics, partitions, group commit and retention together. Private
 * to src/log: other modules see only include/brook/log.h. */
#ifndef BROOK_LOG_LOG_INTERNAL_H
#define BROOK_LOG_LOG_INTERNAL_H

#include "brook/log.h"
#include "log/commit.h"
#include "log/io.h"
#include "log/segment.h"

struct bk_log {
    uv_loop_t *loop;
    bk_log_config_t cfg; /* cfg.data_dir points at data_dir below */
    char *data_dir;
    const bk_log_io_t *io;
    int lock_fd;
    bk_topic_t **topics; /* sorted by name */
    size_t ntopics, topics_cap;
    size_t topics_reserved;        /* registry slots held for creations under way */
    struct bk_topic_job *creating; /* asynchronous creations under way (topic.c) */
    bk_topic_t *dead;              /* deleted topics waiting until nothing refers to them */
    uint64_t trash_gen;
    bk_commit_t commit;
    bk_log_stats_t stats;
    uv_timer_t retention_timer;
    size_t jobs; /* threadpool jobs in flight (retention deletes, trash removal, creations) */
    bk_reader_t reader; /* read window shared by reads that do not nest */
    int reader_busy;
    int replicated_hw;     /* bk_log_use_replicated_hw was called, or the log is opening: the
                              committed offsets are what the replicator (or checkpoint) said */
    uv_timer_t ckpt_timer; /* writes the high-watermark checkpoint (checkpoint.c) */
    char *ckpt_text;       /* the checkpoint last written or being written */
    size_t ckpt_len;
    int ckpt_busy, ckpt_again;
    int ckpt_timer_closed;
    uv_timer_t cleaner_timer; /* compaction (cleaner.c) */
    int cleaner_timer_closed;
    int cleaning; /* a cleaning job runs (one at a time per log) */
    int closing;
    int commit_closed, timer_closed;
    void (*done)(void *arg);
    void *done_arg;
};

/* Frees deleted topics nothing refers to any more (and removes their trash directories). */
void bk_log_reap(bk_log_t *log);

/* A threadpool job of the log ended (on the loop). */
void bk_log_job_done(bk_log_t *log);

/* One retention pass over every partition at now_ms (the timer passes the wall clock; tests
 * pass any). Returns the number of segments detached for deletion. */
size_t bk_log_retention_run(bk_log_t *log, int64_t now_ms);

#endif
