/* Group commit: appends are written on the loop thread, queued here, and acknowledged in
 * append order once the fsync policy is satisfied; fdatasync rounds run on the threadpool.
 * This is the only code that advances a partition's high watermark and the only code that
 * runs append callbacks. It never touches file contents, only descriptors to sync. */
#ifndef BROOK_LOG_COMMIT_H
#define BROOK_LOG_COMMIT_H

#include "brook/log.h"
#include "log/io.h"

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

typedef struct {
    int fd;
    int is_dir; /* fsync (a directory) rather than fdatasync */
    int err;    /* result, filled in on the threadpool */
    bk_partition_t *p;
} bk_sync_target_t;

typedef struct {
    uv_loop_t *loop;
    const bk_log_io_t *io;
    bk_fsync_mode_t mode;
    uint32_t interval_ms;
    bk_log_stats_t *stats;
    void (*hook)(void *arg, bk_partition_t *p);
    void *hook_arg;

    uv_check_t check; /* decides after each poll phase */
    uv_idle_t idle;   /* keeps that poll phase from blocking while a decision is due */
    uv_timer_t timer; /* interval mode */
    uv_work_t work;

    bk_pending_t *head, *tail;             /* written, not yet acknowledged nor in a round */
    bk_pending_t *round_head, *round_tail; /* waiting for the round in flight */
    bk_pending_t *free_list;
    bk_partition_t *dirty; /* partitions written since the last round started */

    bk_sync_target_t *targets; /* of the round in flight */
    size_t ntargets, targets_cap;
    bk_partition_t **notify; /* partitions whose high watermark advanced, for the hook */
    size_t nnotify, notify_cap;
    uint64_t round_usec;

    int in_flight;
    uint64_t last_flush_ms;
    int closing;
    int handles_open;
    void (*closed)(void *arg);
    void *closed_arg;
} bk_commit_t;

int bk_commit_init(bk_commit_t *c, uv_loop_t *loop, const bk_log_io_t *io, bk_fsync_mode_t mode,
                   uint32_t interval_ms, bk_log_stats_t *stats);

/* Takes an entry off the free list (or allocates one) before anything is written, so queuing
 * can never fail after the write. Give it back with bk_commit_release() if the write fails. */
bk_pending_t *bk_commit_reserve(bk_commit_t *c);
void bk_commit_release(bk_commit_t *c, bk_pending_t *e);

/* Queues a written append for acknowledgement and marks its partition dirty. */
void bk_commit_submit(bk_commit_t *c, bk_pending_t *e, bk_partition_t *p, bk_append_cb cb,
                      void *arg, int64_t base, int64_t end);

/* Marks a partition as having unsynced data (writes, a rolled segment, a new file). */
void bk_commit_mark_dirty(bk_commit_t *c, bk_partition_t *p);

/* Drains: flushes what is dirty, waits for the round in flight, acknowledges everything
 * queued, closes the handles and then calls closed(arg) from the loop. */
void bk_commit_close(bk_commit_t *c, void (*closed)(void *arg), void *arg);

/* Frees the entry free list and buffers (after closed() ran). */
void bk_commit_free(bk_commit_t *c);

#endif
