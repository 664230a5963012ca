/* A partition: its directory, its segments in offset order, and the offsets that matter
 * (start, end, high watermark). Appends, reads and retention are in partition.c; raw batches,
 * truncation and epoch queries for replication in replica.c; writing, acknowledgement and the
 * high watermark's advance belong to commit.c. A partition is owned by its topic and freed only
 * by bk_partition_free(), at log close or once a deleted topic's partition is idle. */
#ifndef BROOK_LOG_PARTITION_H
#define BROOK_LOG_PARTITION_H

#include "brook/log.h"
#include "log/format.h"
#include "log/producer_state.h"
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
    int64_t committed;   /* replicated high watermark as its replicator last said (see
                            bk_partition_set_committed); never above next_offset */
    uint64_t size_bytes;
    int failed;      /* 0, or the error after which the partition refuses appends (fenced) */
    int fence_final; /* the fence cannot be cleared safely: only a restart (reopen) does */
    int deleted;     /* its topic was deleted: freed once idle */

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
    int cleaning;       /* a cleaner job reads its sealed segments and replaces their files */

    /* Appends waiting for their turn (compression on the threadpool, or an earlier one still
     * compressing), oldest first; see bk_partition_append_codec. */
    struct bk_staged *stage_head, *stage_tail;
    uint32_t staged;
    uint64_t bytes_raw, bytes_stored; /* batches appended here (not replicated): encoded
                                         size before compression, size stored */

    bk_epochs_t epochs; /* leader epochs of the batches held, from their headers */
    bk_pstate_t pstate; /* idempotent producers' last batches (producer_state.c) */
};

/* Opens partition index of t under the log's data directory, recovering its segments.
 * create: make the directory and a first segment when missing (else a missing directory is
 * BK_ECORRUPT). */
int bk_partition_open(bk_log_t *log, bk_topic_t *t, uint32_t index, int create,
                      bk_partition_t **out);

/* fsyncs the partition directory (used once at creation, before the topic is published). */
int bk_partition_sync_dir(bk_partition_t *p);

/* Fences p after a failed write or flush: appends are refused until bk_partition_unfence()
 * clears it (group commit retries every BK_COMMIT_FENCE_RETRY_MS) or the log is reopened. */
void bk_partition_fail(bk_partition_t *p, int err);

/* Clears p's fence once writing works again, never trusting what the failed round left:
 *   1. p must be idle (nothing queued, in a round, retention or a read; else UV_EBUSY);
 *   2. the acknowledged end (the high watermark) must sit on a batch boundary within what
 *      was written, else the fence becomes final (BK_ECORRUPT: a restart re-verifies);
 *   3. a probe: 1 MiB of zeros written past the file's end and fdatasynced (the disk takes
 *      data again), then cut off;
 *   4. the segments after the one holding the high watermark are deleted, that one is cut at
 *      its position and fsynced, its cached pages dropped and it is reopened and verified
 *      batch by batch from the disk, as at start-up; it must end exactly at the high
 *      watermark (else the fence becomes final).
 * Then the end offset is the high watermark and appends are taken again. Returns 0 (cleared,
 * or not fenced), UV_EBUSY, or the error that keeps the fence. Blocking file I/O on the
 * calling thread, like truncation. */
int bk_partition_unfence(bk_partition_t *p);

/* bk_partition_unfence() on every fenced partition of the log; returns how many stay fenced
 * with a retry still worth making (not final). */
size_t bk_partition_retry_fenced(bk_log_t *log);

/* Retention for one partition at now_ms: detaches the sealed segments the topic's limits let
 * go (moving the start offset) and deletes their files on the threadpool. Returns how many
 * segments were detached. */
size_t bk_partition_retention(bk_partition_t *p, int64_t now_ms);

/* True when nothing but the partition's owner refers to it. */
int bk_partition_idle(const bk_partition_t *p);

void bk_partition_free(bk_partition_t *p);

/* Helpers shared with replica.c (raw batches and truncation). */

/* The active segment: the last one. */
bk_segment_t *bk_partition_active(const bk_partition_t *p);

/* Index of the segment holding offset: the last one whose base is <= offset. */
size_t bk_partition_find_segment(const bk_partition_t *p, int64_t offset);

/* Whether a batch of size bytes and n records, to be appended at offset next to a segment of
 * seg_size bytes based at seg_base, needs a new segment first (never for an empty one). */
int bk_partition_roll_needed(const bk_partition_t *p, uint64_t seg_size, int64_t seg_base,
                             int64_t next, size_t size, uint32_t n);

/* Whether p takes writes (appends, truncation, reset): 0, BK_ECLOSED (the log is closing),
 * BK_ENOTOPIC (its topic was deleted) or the error that failed it. */
int bk_partition_writable(const bk_partition_t *p);

/* Room in p->segs for more segments, so that pushing them cannot fail. */
int bk_partition_reserve_slots(bk_partition_t *p, size_t more);

/* Makes ns (created at p's end offset, a slot reserved) the active segment, sealing the old
 * one and queuing the directory sync. */
void bk_partition_push_rolled(bk_partition_t *p, bk_segment_t *ns);

/* Walks p's batches in order from the one holding offset, across segments, for both reads
 * (record views and raw batches). Batches wholly below offset are skipped. For each other
 * batch, check(arg, h) first decides from its header alone (0 read it, 1 stop before it,
 * BK_WALK_SKIP go on to the next without reading this one);
 * then the whole batch is read and checked, and use(arg, batch, h) runs (0 go on, 1 stop,
 * < 0 error). Every header met must parse (magic, length, counts) and follow the batch before
 * it in the segment without a gap (the first batch of a segment starts at its base); the
 * batch must lie within the segment's written bytes. A walk with headers_only unset also
 * verifies each batch it reads in full (CRC-32C, a known codec, and an uncompressed batch's
 * records); with it set only the codec is checked beyond the header: for raw reads of batches
 * that were verified in full when appended or found at open. Unreadable or corrupt batches
 * are traced and returned as errors. */
enum { BK_WALK_SKIP = 2 };
typedef struct {
    int (*check)(void *arg, const bk_batch_header_t *h);
    int (*use)(void *arg, const uint8_t *batch, const bk_batch_header_t *h);
    void *arg;
    int headers_only;
} bk_batch_walk_t;
int bk_partition_walk(bk_partition_t *p, int64_t offset, const bk_batch_walk_t *w);

/* The log's read window for a read that does not nest in another (else own, which the caller
 * frees); give it back with bk_partition_reader_end(). */
bk_reader_t *bk_partition_reader_begin(bk_partition_t *p, bk_reader_t *own);
void bk_partition_reader_end(bk_partition_t *p, bk_reader_t *r, bk_reader_t *own);

#endif
