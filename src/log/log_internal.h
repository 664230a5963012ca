/* The log object that ties topics, partitions and group commit together. Private to src/log:
 * other modules see only include/brook/log.h. */
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
    bk_commit_t commit;
    bk_log_stats_t stats;
    uint8_t *enc; /* encode buffer shared by every append (appends are synchronous) */
    size_t enc_cap;
    bk_reader_t reader; /* read window shared by reads that do not nest */
    int reader_busy;
    int closing;
    void (*done)(void *arg);
    void *done_arg;
};

#endif
