/* A partition: its directory, its segments in offset order, and the offsets that matter
 * (start, end, high watermark). Appends and reads are in partition.c; acknowledgement and the
 * high watermark's advance belong to commit.c. A partition is owned by its topic and freed
 * only by bk_partition_free() at log close. */
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
    int64_t hw;          /* high watermark: offsets below it are acknowledged */
    uint64_t size_bytes;
    int failed; /* 0, or the error after which the partition refuses appends */

    /* Group-commit bookkeeping (commit.c). */
    struct bk_partition *dirty_next;
    int in_dirty;     /* on the commit's dirty list */
    int active_dirty; /* the active segment was written since the last round started */
    int dir_dirty;    /* a segment file was created since */
    int notified;     /* queued for the commit hook */
};

/* Opens partition index of t under the log's data directory, recovering its segments.
 * create: make the directory and a first segment when missing (else a missing directory is
 * BK_ECORRUPT). */
int bk_partition_open(bk_log_t *log, bk_topic_t *t, uint32_t index, int create,
                      bk_partition_t **out);

/* fsyncs the partition directory (used once at creation, before the topic is published). */
int bk_partition_sync_dir(bk_partition_t *p);

/* Stops appends for good after a failed flush or an undoable write. */
void bk_partition_fail(bk_partition_t *p, int err);

void bk_partition_free(bk_partition_t *p);

#endif
