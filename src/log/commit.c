/* Group commit on the loop. An append only encodes its batch into the segment's pending buffer
 * and queues here. The check phase that follows each poll phase then decides
 * (commit_policy.c):
 *
 *   always    a flush round starts whenever none is in flight: one threadpool job per lane
 *             writes each partition's pending bytes with one write per segment and fdatasyncs
 *             them, so the loop thread makes no file system call on the produce path. Appends
 *             made while a round runs share the next one.
 *   interval  the check phase writes each partition's pending bytes itself (one write per
 *   never     partition per turn) and acknowledges them; rounds only sync (interval: every
 *             interval_ms; never: only at close and after a roll).
 *
 * A rolled segment is always made durable before its successor gets a byte: its steps come
 * first in the same lane, a failed step skips the partition's later ones, and in interval and
 * never modes a partition with an unsynced sealed segment is written by a round (at once), not
 * by the check phase. So a crash can never leave a torn sealed segment in front of data.
 *
 * An append is acknowledged, in append order, once its bytes are synced (always) or written
 * (otherwise). A failed write or sync fences the partition: its queued appends get the error,
 * its high watermark stays, and nothing about the file past it is trusted again (after a failed
 * fdatasync the kernel may have dropped the dirty pages, PostgreSQL's "fsyncgate"). A timer
 * here retries clearing the fence every second; partition.c decides whether that is safe (the
 * tail past the high watermark is cut and the rest re-verified from the disk). This file
 * must never run a callback from inside bk_partition_append(), never ack before the policy is
 * met, and never let the log be freed while a round is in flight: running work can't be
 * cancelled. */
#include "log/commit.h"

#include "brook/common.h"
#include "log/commit_policy.h"
#include "log/partition.h"
#include "log/topic.h"

#include <stddef.h>
#include <stdlib.h>

#define COMMIT_OF(ptr, field) ((bk_commit_t *)(void *)((char *)(ptr)-offsetof(bk_commit_t, field)))

const uint32_t BK_LOG_FLUSH_BUCKET_US[11] = {100,   250,   500,   1000,   2500,  5000,
                                             10000, 25000, 50000, 100000, 250000};

static void kick(bk_commit_t *c);

static void on_idle(uv_idle_t *h)
{
    (void)h; /* only there so that poll does not block while a decision is due */
}

static void on_check(uv_check_t *h)
{
    bk_commit_t *c = COMMIT_OF(h, check);
    if (uv_idle_stop(&c->idle) != 0 || uv_check_stop(&c->check) != 0)
        bk_trace_error("log", "cannot stop commit handles");
    kick(c);
}

static void on_timer(uv_timer_t *h)
{
    kick(COMMIT_OF(h, timer));
}

static void arm(bk_commit_t *c)
{
    if (c->closing > 1)
        return;
    if (uv_idle_start(&c->idle, on_idle) != 0 || uv_check_start(&c->check, on_check) != 0)
        bk_trace_error("log", "cannot start commit handles");
}

int bk_commit_init(bk_commit_t *c, uv_loop_t *loop, const bk_log_io_t *io, bk_fsync_mode_t mode,
                   uint32_t interval_ms, uint32_t prealloc_bytes, bk_log_stats_t *stats)
{
    c->prealloc_bytes = mode == BK_FSYNC_ALWAYS ? prealloc_bytes : 0;
    c->loop = loop;
    c->io = io;
    c->mode = mode;
    c->interval_ms = interval_ms;
    c->stats = stats;
    c->last_flush_ms = bk_now_ms();
    for (int i = 0; i < BK_COMMIT_LANES; i++) {
        c->lanes[i].c = c;
        c->lanes[i].index = i;
    }
    /* These inits cannot fail in libuv 1.x; if one ever did, the caller must leak (not free)
     * the memory of the handles initialised before it. */
    int rc = uv_check_init(loop, &c->check);
    if (rc == 0 && (rc = uv_idle_init(loop, &c->idle)) == 0 &&
        (rc = uv_timer_init(loop, &c->timer)) == 0)
        rc = uv_timer_init(loop, &c->fence_timer);
    if (rc == 0) {
        c->handles_open = 4;
        uv_unref((uv_handle_t *)&c->fence_timer); /* housekeeping, like retention */
    }
    return rc;
}

static void on_fence_timer(uv_timer_t *h)
{
    bk_commit_t *c = COMMIT_OF(h, fence_timer);
    if (c->closing || bk_partition_retry_fenced(c->fence_log) == 0)
        (void)uv_timer_stop(&c->fence_timer);
}

void bk_commit_fence_retry(bk_commit_t *c, bk_log_t *log)
{
    c->fence_log = log;
    if (c->closing || uv_is_active((uv_handle_t *)&c->fence_timer))
        return;
    if (uv_timer_start(&c->fence_timer, on_fence_timer, BK_COMMIT_FENCE_RETRY_MS,
                       BK_COMMIT_FENCE_RETRY_MS) != 0)
        bk_trace_error("log", "cannot start the fence retry timer");
}

bk_pending_t *bk_commit_reserve(bk_commit_t *c)
{
    bk_pending_t *e = c->free_list;
    if (e) {
        c->free_list = e->next;
        return e;
    }
    return malloc(sizeof *e);
}

void bk_commit_release(bk_commit_t *c, bk_pending_t *e)
{
    e->next = c->free_list;
    c->free_list = e;
}

static void wlist_add(bk_commit_t *c, bk_partition_t *p)
{
    if (p->in_wlist)
        return;
    p->in_wlist = 1;
    p->wnext = c->wlist;
    c->wlist = p;
}

static void slist_add(bk_commit_t *c, bk_partition_t *p)
{
    if (p->in_slist)
        return;
    p->in_slist = 1;
    p->snext = c->slist;
    c->slist = p;
}

void bk_commit_mark_dirty(bk_commit_t *c, bk_partition_t *p)
{
    slist_add(c, p);
    arm(c);
}

void bk_commit_submit(bk_commit_t *c, bk_pending_t *e, bk_partition_t *p, bk_append_cb cb,
                      void *arg, int64_t base, int64_t end)
{
    e->next = NULL;
    e->p = p;
    e->cb = cb;
    e->arg = arg;
    e->base = base;
    e->end = end;
    if (c->tail)
        c->tail->next = e;
    else
        c->head = e;
    c->tail = e;
    p->queued++;
    wlist_add(c, p);
    /* Under fsync=always a round in flight kicks when it ends; otherwise the check phase
     * writes and acknowledges this turn's appends. */
    if (!c->in_flight || c->mode != BK_FSYNC_ALWAYS)
        arm(c);
}

void bk_commit_forget(bk_commit_t *c, bk_partition_t *p)
{
    for (bk_partition_t **pp = &c->slist; p->in_slist && *pp; pp = &(*pp)->snext) {
        if (*pp == p) {
            *pp = p->snext;
            p->snext = NULL;
            p->in_slist = 0;
            return;
        }
    }
}

int bk_commit_idle(const bk_commit_t *c, const bk_partition_t *p)
{
    (void)c;
    return !p->queued && !p->in_wlist && !p->in_slist && !p->busy && !p->notified;
}

/* ---- acknowledgement ---- */

/* Offsets below this may be acknowledged under the policy. */
static int64_t ack_limit(const bk_commit_t *c, const bk_partition_t *p)
{
    return c->mode == BK_FSYNC_ALWAYS ? p->durable_off : p->written_off;
}

static void notify_add(bk_commit_t *c, bk_partition_t *p)
{
    if (p->notified || !c->hook)
        return;
    if (bk_grow(&c->notify, &c->notify_cap, c->nnotify, 1, sizeof *c->notify, 16) != 0)
        return; /* the hook is an optimisation for long polls; readers still see data */
    p->notified = 1;
    c->notify[c->nnotify++] = p;
}

/* Runs the callbacks of a detached list in order, then the commit hook. Callbacks may append,
 * read, delete a topic or call bk_log_close(): the list is ours alone, every partition it
 * names is kept alive by its queued count, and the log outlives this call. */
static void complete(bk_commit_t *c, bk_pending_t *e)
{
    while (e) {
        bk_pending_t *next = e->next;
        bk_partition_t *p = e->p;
        bk_append_cb cb = e->cb;
        void *arg = e->arg;
        int64_t base = e->base;
        int status = e->end <= ack_limit(c, p) ? 0 : p->failed;
        if (status == 0) {
            if (e->end > p->hw)
                p->hw = e->end;
            notify_add(c, p);
        }
        p->queued--;
        bk_commit_release(c, e);
        if (cb)
            cb(arg, status, status == 0 ? base : -1);
        e = next;
    }
    for (size_t i = 0; i < c->nnotify; i++) {
        bk_partition_t *p = c->notify[i];
        p->notified = 0;
        if (c->hook && !p->deleted)
            c->hook(c->hook_arg, p);
    }
    c->nnotify = 0;
}

/* Acknowledges (or fails) every queued append the policy now allows, keeping the others in
 * order. Within a partition those are always a prefix of its appends. */
static void ack_ready(bk_commit_t *c)
{
    bk_pending_t *done = NULL, **dtail = &done, **pp = &c->head, *last = NULL;
    while (*pp) {
        bk_pending_t *e = *pp;
        if (e->end <= ack_limit(c, e->p) || e->p->failed) {
            *pp = e->next;
            e->next = NULL;
            *dtail = e;
            dtail = &e->next;
        } else {
            last = e;
            pp = &e->next;
        }
    }
    c->tail = last;
    complete(c, done);
}

/* ---- writing from the loop (interval and never modes) ---- */

static bk_segment_t *active(const bk_partition_t *p)
{
    return p->segs[p->nseg - 1];
}

/* A sealed segment still waits for a write or a sync: its successor must not be written
 * before a round made it durable. Rounds settle every segment of a partition they touch, so
 * the newest sealed segments are the only ones to look at. */
static int needs_order(const bk_partition_t *p)
{
    return p->nseg > 1 && !bk_segment_settled(p->segs[p->nseg - 2]);
}

static void discard_pending(bk_partition_t *p)
{
    for (size_t i = 0; i < p->nseg; i++)
        bk_segment_discard(p->segs[i]);
}

static void write_inline(bk_commit_t *c)
{
    c->urgent = 0;
    bk_partition_t **pp = &c->wlist;
    while (*pp) {
        bk_partition_t *p = *pp;
        if (!p->failed && (p->busy_write || needs_order(p))) {
            c->urgent |= !p->busy_write;
            pp = &p->wnext;
            continue;
        }
        *pp = p->wnext;
        p->in_wlist = 0;
        p->wnext = NULL;
        if (p->failed) {
            discard_pending(p);
            continue;
        }
        int rc = bk_segment_write_pending(c->io, active(p));
        if (rc < 0) {
            bk_trace_error("log", "%s: write failed: %s; refusing further appends", p->dir,
                           bk_strerror(rc));
            bk_partition_fail(p, rc);
            continue;
        }
        p->written_off = p->next_offset;
        if (!p->deleted) /* nobody waits for a deleted topic's data to be synced */
            slist_add(c, p);
    }
}

/* ---- flush rounds ---- */

static int ensure_ops(bk_commit_t *c, size_t more)
{
    return bk_grow(&c->ops, &c->ops_cap, c->nops, more, sizeof *c->ops, 32);
}

/* The step for one segment: its pending bytes and index entries (and zeros ahead of them, or
 * the cut of a sealed segment's zeros), and a sync if anything of it is (or will be) written
 * but not synced. Returns 1 when there is a step. */
static int segment_step(const bk_commit_t *c, bk_commit_op_t *op, bk_partition_t *p,
                        bk_segment_t *s)
{
    op->s = s;
    op->fd = s->fd;
    if (s->pend.len || s->ipend.len) {
        uint64_t index_at;
        op->off = (int64_t)s->written;
        bk_segment_take(s, &index_at);
        op->buf = s->inflight.buf;
        op->len = s->inflight.len;
        op->ifd = s->index_fd;
        op->ibuf = s->iinflight.buf;
        op->ilen = s->iinflight.len;
        op->ioff = (int64_t)index_at;
        p->busy_write |= op->len > 0;
        op->zero_to = bk_segment_zero_ahead(s, (uint64_t)op->off, op->len, c->prealloc_bytes,
                                            p->topic->cfg.segment_bytes);
        if (op->zero_to)
            s->file_size = op->zero_to;
    }
    if (bk_segment_needs_trim(s)) {
        op->trim = 1;
        op->trim_to = s->size;
        s->file_size = s->size;
    }
    if (op->len || s->unsynced || op->trim) {
        op->sync = 1;
        s->unsynced = 0;
        s->syncing = 1;
    }
    return op->len || op->ilen || op->sync;
}

/* Everything of p the round must write and make durable, oldest unsettled segment first, then
 * the directory if a file was created in it. Returns 1 when p got steps. */
static int collect(bk_commit_t *c, bk_partition_t *p, int lane)
{
    size_t first = p->nseg - 1;
    while (first > 0 && !bk_segment_settled(p->segs[first - 1]))
        first--;
    if (!p->failed && ensure_ops(c, p->nseg - first + 1) < 0) {
        bk_trace_error("log", "%s: out of memory for a flush round; refusing further appends",
                       p->dir);
        bk_partition_fail(p, UV_ENOMEM);
    }
    if (p->failed) {
        discard_pending(p);
        p->dir_dirty = 0;
        return 0;
    }
    size_t from = c->nops;
    for (size_t i = first; i < p->nseg; i++) {
        bk_commit_op_t *op = &c->ops[c->nops];
        *op = (bk_commit_op_t){.p = p, .ifd = -1, .lane = lane};
        c->nops += (size_t)segment_step(c, op, p, p->segs[i]);
    }
    if (p->dir_dirty) {
        c->ops[c->nops++] =
            (bk_commit_op_t){.p = p, .fd = p->dir_fd, .ifd = -1, .sync = 2, .lane = lane};
        p->dir_dirty = 0;
    }
    p->round_target = p->next_offset;
    p->busy = c->nops > from;
    return p->busy;
}

static void run_op(const bk_log_io_t *io, bk_commit_op_t *op)
{
    if (op->len) {
        op->err = bk_io_pwrite_all(io, op->fd, op->buf, op->len, op->off);
        if (op->err < 0) {
            op->write_failed = 1;
            int trc = io->ftruncate(op->fd, op->off); /* leave no torn batch behind */
            if (trc < 0)
                bk_trace_error("log", "cannot undo a failed write (%s): %s", bk_strerror(op->err),
                               bk_strerror(trc));
            return;
        }
    }
    if (op->zero_to && (op->err = bk_segment_write_zeros(io, op->fd, (uint64_t)op->off + op->len,
                                                         op->zero_to)) < 0) {
        op->write_failed = 1;
        return;
    }
    if (op->trim && (op->err = io->ftruncate(op->fd, (int64_t)op->trim_to)) < 0) {
        op->write_failed = 1;
        return;
    }
    if (op->ilen && op->ifd >= 0 && bk_io_pwrite_all(io, op->ifd, op->ibuf, op->ilen, op->ioff) < 0)
        bk_trace_debug("log", "index write failed; it will be rebuilt at open");
    if (op->sync)
        op->err = op->sync == 2 ? io->fsync(op->fd) : io->fdatasync(op->fd);
}

static void work_lane(uv_work_t *req)
{
    /* Threadpool thread: touches only its steps and the buffers they point at, which the
     * loop leaves alone until the round has ended. */
    bk_commit_lane_t *lane = req->data;
    bk_commit_t *c = lane->c;
    const bk_partition_t *failed = NULL;
    for (size_t i = 0; i < c->nops; i++) {
        bk_commit_op_t *op = &c->ops[i];
        if (op->lane != lane->index)
            continue;
        if (op->p == failed) {
            op->err = UV_ECANCELED;
            continue;
        }
        run_op(c->io, op);
        if (op->err)
            failed = op->p;
    }
}

static void record_round(bk_commit_t *c, int failed)
{
    uint64_t usec = (uv_hrtime() - c->round_start_ns) / 1000;
    size_t b = 0;
    while (b < 11 && usec > BK_LOG_FLUSH_BUCKET_US[b])
        b++;
    c->stats->flush_buckets[b]++;
    c->stats->flushes++;
    c->stats->flush_errors += (uint64_t)(failed != 0);
    c->stats->flush_usec_total += usec;
}

static void after_round(bk_commit_t *c)
{
    int failed = 0;
    for (size_t i = 0; i < c->nops; i++) {
        bk_commit_op_t *op = &c->ops[i];
        if (op->s && (op->len || op->ilen))
            bk_segment_took(op->s, op->err == 0);
        if (op->s)
            op->s->syncing = 0;
        if (op->err && op->err != UV_ECANCELED) {
            if (!op->p->failed)
                bk_trace_error("log", "%s: %s failed: %s; refusing further appends", op->p->dir,
                               op->write_failed ? "write"
                               : op->sync == 2  ? "fsync"
                                                : "fdatasync",
                               bk_strerror(op->err));
            bk_partition_fail(op->p, op->err);
            failed = 1;
        }
    }
    for (size_t i = 0; i < c->nops; i++) {
        bk_commit_op_t *op = &c->ops[i];
        bk_partition_t *p = op->p;
        if (op->s)
            bk_segment_tidy(c->io, op->s);
        if (!p->busy)
            continue;
        p->busy = p->busy_write = 0;
        if (!p->failed) {
            if (p->round_target > p->written_off)
                p->written_off = p->round_target;
            if (p->round_target > p->durable_off)
                p->durable_off = p->round_target;
        }
    }
    c->nops = 0;
    record_round(c, failed);
    c->in_flight = 0;
    kick(c);
}

static void after_lane(uv_work_t *req, int status)
{
    bk_commit_lane_t *lane = req->data;
    bk_commit_t *c = lane->c;
    for (size_t i = 0; status && i < c->nops; i++)
        if (c->ops[i].lane == lane->index && !c->ops[i].err)
            c->ops[i].err = status;
    if (--c->lanes_busy == 0)
        after_round(c);
}

/* Takes every dirty partition into a round; returns 0 when there was nothing to do. */
static int start_round(bk_commit_t *c)
{
    int groups = 0;
    c->nops = 0;
    while (c->wlist || c->slist) {
        int from_w = c->wlist != NULL;
        bk_partition_t *p = from_w ? c->wlist : c->slist;
        if (from_w) {
            c->wlist = p->wnext;
            p->wnext = NULL;
            p->in_wlist = 0;
        } else {
            c->slist = p->snext;
            p->snext = NULL;
            p->in_slist = 0;
        }
        if (!p->busy && collect(c, p, groups % BK_COMMIT_LANES))
            groups++;
    }
    if (groups == 0)
        return 0;
    int lanes = groups < BK_COMMIT_LANES ? groups : BK_COMMIT_LANES;
    c->in_flight = 1;
    c->lanes_busy = lanes;
    c->round_start_ns = uv_hrtime();
    c->last_flush_ms = bk_now_ms();
    for (int i = 0; i < lanes; i++) {
        c->lanes[i].work.data = &c->lanes[i];
        int rc = uv_queue_work(c->loop, &c->lanes[i].work, work_lane, after_lane);
        if (rc != 0)
            after_lane(&c->lanes[i].work, rc);
    }
    return 1;
}

/* ---- deciding ---- */

static void finish_close_cb(uv_handle_t *h)
{
    bk_commit_t *c = h->data;
    if (--c->handles_open == 0)
        c->closed(c->closed_arg);
}

static void maybe_finish_close(bk_commit_t *c)
{
    if (c->closing != 1 || c->in_flight || c->head || c->wlist || c->slist)
        return;
    c->closing = 2;
    c->check.data = c->idle.data = c->timer.data = c->fence_timer.data = c;
    uv_close((uv_handle_t *)&c->check, finish_close_cb);
    uv_close((uv_handle_t *)&c->idle, finish_close_cb);
    uv_close((uv_handle_t *)&c->timer, finish_close_cb);
    uv_close((uv_handle_t *)&c->fence_timer, finish_close_cb);
}

static bk_commit_decision_t decide(const bk_commit_t *c)
{
    bk_commit_input_t in = {
        .mode = c->mode,
        .interval_ms = c->interval_ms,
        .writes = c->wlist != NULL,
        .syncs = c->slist != NULL,
        .urgent = c->urgent,
        .in_flight = c->in_flight,
        .closing = c->closing != 0,
        .now_ms = bk_now_ms(),
        .last_flush_ms = c->last_flush_ms,
    };
    return bk_commit_decide(&in);
}

static void kick(bk_commit_t *c)
{
    if (c->closing > 1)
        return;
    if (c->mode != BK_FSYNC_ALWAYS)
        write_inline(c);
    ack_ready(c); /* callbacks may append, delete or close */
    bk_commit_decision_t d = decide(c);
    if (d.flush && start_round(c))
        d.timer_ms = 0;
    if (d.timer_ms && uv_timer_start(&c->timer, on_timer, d.timer_ms, 0) != 0)
        bk_trace_error("log", "cannot start the flush timer");
    if (c->on_settle)
        c->on_settle(c->settle_arg);
    maybe_finish_close(c);
}

void bk_commit_close(bk_commit_t *c, void (*closed)(void *arg), void *arg)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->closed = closed;
    c->closed_arg = arg;
    arm(c); /* decide in the next check phase, never inside the caller's stack */
}

void bk_commit_free(bk_commit_t *c)
{
    while (c->free_list) {
        bk_pending_t *e = c->free_list;
        c->free_list = e->next;
        free(e);
    }
    free(c->ops);
    free(c->notify);
    c->ops = NULL;
    c->notify = NULL;
}
