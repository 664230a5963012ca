/* A partition: its directory, its segments in offset order, and the offsets that matter
 * (start, end, high watermark). Appends, reads and retention are in partition.c; writing,
 * acknowledgement and the high watermark's advance belong to commit.c. A partition is owned by
 * its topic and freed only by bk_partition_free(), at log close or once a deleted topic's
 * partition is idle. */
#ifndef BROOK_LOG_PARTITION_H
#define BROOK_LOG_PARTITION_H

#include "brook/log.h"
#include "log/segment.h"

struct bk_partition {
    bk_log_t *log;
    bk_topic_t *topic;
    uint32_t index;
    char *dir;
    int dir_fd;          /* the partition directory, fsynced after a segment file is created */
    bk_segment_t **segs; /* by base offset; the last one is active */
    size_t nseg, seg_cap;
    int64_t next_offset; /* next offset to assign */
    int64_t written_off; /* offsets below reached write(2) */
    int64_t durable_off; /* offsets below are covered by an fdatasync */
    int64_t hw;          /* high watermark: offsets below it are acknowledged */
    uint64_t size_bytes;
    int failed;  /* 0, or the error after which the partition refuses appends */
    int deleted; /* its topic was deleted: freed once idle */

    /* Group-commit bookkeeping (commit.c). */
    struct bk_partition *wnext, *snext;
    int in_wlist, in_slist;
    int dir_dirty;        /* a segment file was created since the directory was last synced */
    int busy;             /* has steps in the round in flight */
    int busy_write;       /* ... and one of them writes appended bytes */
    int64_t round_target; /* next_offset when the round in flight took the partition */
    uint32_t queued;      /* appends queued, not yet called back */
    int notified;         /* queued for the commit hook */

    int retention_busy; /* a retention job is deleting segments in dir_fd */
};

/* Opens partition index of t under the log's data directory, recovering its segments.
 * create: make the directory and a first segment when missing (else a missing directory is
 * BK_ECORRUPT). */
int bk_partition_open(bk_log_t *log, bk_topic_t *t, uint32_t index, int create,
                      bk_partition_t **out);

/* fsyncs the partition directory (used once at creation, before the topic is published). */
int bk_partition_sync_dir(bk_partition_t *p);

/* Stops appends for good after a failed write or flush. */
void bk_partition_fail(bk_partition_t *p, int err);

/* Retention for one partition at now_ms: detaches the sealed segments the topic's limits let
 * go (moving the start offset) and deletes their files on the threadpool. Returns how many
 * segments were detached. */
size_t bk_partition_retention(bk_partition_t *p, int64_t now_ms);

/* True when nothing but the partition's owner refers to it. */
int bk_partition_idle(const bk_partition_t *p);

void bk_partition_free(bk_partition_t *p);

#endif
