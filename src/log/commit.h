/* Group commit: appends are encoded into their segment's pending buffer by partition.c and
 * queued here; this code writes the pending bytes (one write per segment per round), syncs
 * them per the fsync policy, and acknowledges appends in order once their bytes are where the
 * policy wants them. It is the only code that writes appended bytes, advances a partition's
 * high watermark or runs append callbacks. */
#ifndef BROOK_LOG_COMMIT_H
#define BROOK_LOG_COMMIT_H

#include "brook/log.h"
#include "log/io.h"
#include "log/segment.h"

#include <uv.h>

/* One queued append, waiting for its acknowledgement. Entries come from a free list. */
typedef struct bk_pending {
    struct bk_pending *next;
    bk_partition_t *p;
    bk_append_cb cb;
    void *arg;
    int64_t base; /* first offset of the batch */
    int64_t end;  /* offset after its last record */
} bk_pending_t;

/* One step of a flush round, run on a threadpool thread: write, then sync. The steps of one
 * partition are consecutive, oldest segment first, and run in order on one thread; after a
 * failed step the partition's later steps are skipped (UV_ECANCELED), so a newer segment is
 * never written before the older one is durable. */
typedef struct {
    bk_partition_t *p;
    bk_segment_t *s; /* NULL: the step syncs the partition directory */
    int fd;
    const uint8_t *buf; /* bytes to write at off (len 0: none) */
    size_t len;
    int64_t off;
    uint64_t zero_to; /* > 0: then zeros from off + len to here (preallocation) */
    int trim;         /* then cut the file to trim_to (a sealed segment's zeros) */
    uint64_t trim_to;
    int ifd; /* index entries to write at ioff (ilen 0: none) */
    const uint8_t *ibuf;
    size_t ilen;
    int64_t ioff;
    int sync; /* 0 none, 1 fdatasync, 2 fsync (a directory) */
    int lane;
    int err;
    int write_failed; /* err came from the write, not the sync */
} bk_commit_op_t;

/* How often clearing the fence of partitions failed by a write or flush is retried. */
#define BK_COMMIT_FENCE_RETRY_MS 1000

/* Partitions of a round are spread over this many threadpool jobs (their syncs overlap). */
#define BK_COMMIT_LANES 4

struct bk_commit;

typedef struct {
    uv_work_t work;
    struct bk_commit *c;
    int index;
} bk_commit_lane_t;

typedef struct bk_commit {
    uv_loop_t *loop;
    const bk_log_io_t *io;
    bk_fsync_mode_t mode;
    uint32_t interval_ms;
    uint32_t prealloc_bytes; /* zeros written ahead of small writes (fsync=always; 0: none) */
    bk_log_stats_t *stats;
    void (*hook)(void *arg, bk_partition_t *p);
    void *hook_arg;
    void (*on_settle)(void *arg); /* after acks and rounds: lets the log free deleted topics */
    void *settle_arg;

    uv_check_t check;       /* decides after each poll phase */
    uv_idle_t idle;         /* keeps that poll phase from blocking while a decision is due */
    uv_timer_t timer;       /* interval mode */
    uv_timer_t fence_timer; /* retries clearing fenced partitions while there are some */
    bk_log_t *fence_log;    /* whose partitions it retries */
    bk_commit_lane_t lanes[BK_COMMIT_LANES];
    int lanes_busy;

    bk_pending_t *head, *tail; /* appends not yet acknowledged, in append order */
    bk_pending_t *free_list;
    bk_partition_t *wlist; /* partitions with appended bytes not yet written */
    bk_partition_t *slist; /* partitions with written bytes (or new files) not yet synced */

    bk_commit_op_t *ops; /* of the round in flight */
    size_t nops, ops_cap;
    bk_partition_t **notify; /* partitions whose high watermark advanced, for the hook */
    size_t nnotify, notify_cap;
    uint64_t round_start_ns;

    int in_flight;
    int urgent; /* a rolled partition waits for a round (interval and never modes) */
    uint64_t last_flush_ms;
    int closing;
    int handles_open;
    void (*closed)(void *arg);
    void *closed_arg;
} bk_commit_t;

int bk_commit_init(bk_commit_t *c, uv_loop_t *loop, const bk_log_io_t *io, bk_fsync_mode_t mode,
                   uint32_t interval_ms, uint32_t prealloc_bytes, bk_log_stats_t *stats);

/* Takes an entry off the free list (or allocates one) before anything is appended, so queuing
 * can never fail afterwards. Give it back with bk_commit_release() if the append fails. */
bk_pending_t *bk_commit_reserve(bk_commit_t *c);
void bk_commit_release(bk_commit_t *c, bk_pending_t *e);

/* Queues an append whose bytes wait in its segment's pending buffer. */
void bk_commit_submit(bk_commit_t *c, bk_pending_t *e, bk_partition_t *p, bk_append_cb cb,
                      void *arg, int64_t base, int64_t end);

/* Marks a partition as having something to sync that no append queued (a new segment file). */
void bk_commit_mark_dirty(bk_commit_t *c, bk_partition_t *p);

/* A partition of log was fenced: retries bk_partition_retry_fenced(log) every
 * BK_COMMIT_FENCE_RETRY_MS until none is left to retry (the timer does not keep the loop
 * alive). */
void bk_commit_fence_retry(bk_commit_t *c, bk_log_t *log);

/* Drops p (of a deleted topic) from the partitions waiting only for a sync (interval and
 * never modes); appends still queued for it are written and acknowledged as usual. */
void bk_commit_forget(bk_commit_t *c, bk_partition_t *p);

/* True when commit holds nothing of p: no queued append, no bytes to write or sync, no step
 * in a round in flight, no hook call pending. Only then may p be freed. */
int bk_commit_idle(const bk_commit_t *c, const bk_partition_t *p);

/* Drains: writes and flushes what is dirty, waits for the round in flight, acknowledges
 * everything queued, closes the handles and then calls closed(arg) from the loop. */
void bk_commit_close(bk_commit_t *c, void (*closed)(void *arg), void *arg);

/* Frees the entry free list and buffers (after closed() ran). */
void bk_commit_free(bk_commit_t *c);

#endif
