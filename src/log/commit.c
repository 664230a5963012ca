/* Group commit on the loop. Appends are written straight away by partition.c and queued
 * here; the check phase that follows the loop's poll phase decides (commit_policy.c) whether
 * to acknowledge them or start a round, in which one threadpool job fdatasyncs every
 * descriptor written since the previous round started. When the round reports back, the
 * callbacks it covers run in append order, then the commit hook. A new round starts at once
 * if appends arrived meanwhile, so one fdatasync serves everything that queued behind it.
 *
 * A failed sync fails every append of that partition in the round, keeps its high watermark
 * where it was, and fails the partition for good: after a failed fdatasync the kernel may
 * have dropped the dirty pages and a retry can report success (PostgreSQL's "fsyncgate"), so
 * nothing about the file can be trusted. This file must never run a callback before the
 * round covering it (fsync=always), never from inside bk_partition_append(), and never free
 * the log while a round is in flight: a running uv_work_t cannot be cancelled. */
#include "log/commit.h"

#include "brook/common.h"
#include "log/commit_policy.h"
#include "log/partition.h"

#include <stddef.h>
#include <stdlib.h>

#define COMMIT_OF(ptr, field) ((bk_commit_t *)(void *)((char *)(ptr)-offsetof(bk_commit_t, field)))

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
                   uint32_t interval_ms, bk_log_stats_t *stats)
{
    c->loop = loop;
    c->io = io;
    c->mode = mode;
    c->interval_ms = interval_ms;
    c->stats = stats;
    c->last_flush_ms = bk_now_ms();
    /* These inits cannot fail in libuv 1.x; if one ever did, the caller must leak (not free)
     * the memory of the handles initialised before it. */
    int rc = uv_check_init(loop, &c->check);
    if (rc == 0 && (rc = uv_idle_init(loop, &c->idle)) == 0)
        rc = uv_timer_init(loop, &c->timer);
    if (rc == 0)
        c->handles_open = 3;
    return rc;
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

void bk_commit_mark_dirty(bk_commit_t *c, bk_partition_t *p)
{
    if (p->in_dirty)
        return;
    p->in_dirty = 1;
    p->dirty_next = c->dirty;
    c->dirty = p;
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
    p->active_dirty = 1;
    bk_commit_mark_dirty(c, p);
    /* Under fsync=always a round in flight will kick when it ends; otherwise acks must not
     * wait for a flush. */
    if (!c->in_flight || c->mode != BK_FSYNC_ALWAYS)
        arm(c);
}

static void notify_add(bk_commit_t *c, bk_partition_t *p)
{
    if (p->notified || !c->hook)
        return;
    if (c->nnotify == c->notify_cap) {
        size_t cap = c->notify_cap ? c->notify_cap * 2 : 16;
        bk_partition_t **n = realloc(c->notify, cap * sizeof *n);
        if (!n)
            return; /* the hook is an optimisation for long polls; readers still see data */
        c->notify = n;
        c->notify_cap = cap;
    }
    p->notified = 1;
    c->notify[c->nnotify++] = p;
}

/* Acknowledges a detached list of entries in order. Callbacks may append, read or even call
 * bk_log_close(): the list is ours alone and the log outlives this call. */
static void complete(bk_commit_t *c, bk_pending_t *e)
{
    while (e) {
        bk_pending_t *next = e->next;
        bk_partition_t *p = e->p;
        bk_append_cb cb = e->cb;
        void *arg = e->arg;
        int64_t base = e->base;
        int status = p->failed;
        if (status == 0) {
            p->hw = e->end;
            notify_add(c, p);
        }
        bk_commit_release(c, e);
        if (cb)
            cb(arg, status, status == 0 ? base : -1);
        e = next;
    }
    for (size_t i = 0; i < c->nnotify; i++) {
        bk_partition_t *p = c->notify[i];
        p->notified = 0;
        if (c->hook)
            c->hook(c->hook_arg, p);
    }
    c->nnotify = 0;
}

static int add_target(bk_commit_t *c, bk_partition_t *p, int fd, int is_dir)
{
    if (c->ntargets == c->targets_cap) {
        size_t cap = c->targets_cap ? c->targets_cap * 2 : 16;
        bk_sync_target_t *n = realloc(c->targets, cap * sizeof *n);
        if (!n)
            return UV_ENOMEM;
        c->targets = n;
        c->targets_cap = cap;
    }
    c->targets[c->ntargets++] = (bk_sync_target_t){fd, is_dir, 0, p};
    return 0;
}

/* Everything of p that the round must make durable: sealed segments not yet synced, the
 * active segment if written, the directory if a file was created in it. */
static void collect(bk_commit_t *c, bk_partition_t *p)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i + 1 < p->nseg; i++) {
        if (p->segs[i]->needs_sync) {
            rc = add_target(c, p, p->segs[i]->fd, 0);
            p->segs[i]->needs_sync = 0;
        }
    }
    if (rc == 0 && p->active_dirty)
        rc = add_target(c, p, p->segs[p->nseg - 1]->fd, 0);
    if (rc == 0 && p->dir_dirty)
        rc = add_target(c, p, p->dir_fd, 1);
    p->active_dirty = 0;
    p->dir_dirty = 0;
    if (rc < 0)
        bk_partition_fail(p, rc);
}

static void work_sync(uv_work_t *req)
{
    /* Threadpool thread: touches only the target array, which the loop leaves alone until
     * after_sync runs. */
    bk_commit_t *c = COMMIT_OF(req, work);
    uint64_t t0 = uv_hrtime();
    for (size_t i = 0; i < c->ntargets; i++) {
        bk_sync_target_t *t = &c->targets[i];
        t->err = t->is_dir ? c->io->fsync(t->fd) : c->io->fdatasync(t->fd);
    }
    c->round_usec = (uv_hrtime() - t0) / 1000;
}

static void after_sync(uv_work_t *req, int status)
{
    bk_commit_t *c = COMMIT_OF(req, work);
    int failed = 0;
    for (size_t i = 0; i < c->ntargets; i++) {
        bk_sync_target_t *t = &c->targets[i];
        int err = status ? status : t->err;
        if (err && !t->p->failed) {
            bk_trace_error("log", "%s: %s failed: %s; refusing further appends", t->p->dir,
                           t->is_dir ? "fsync" : "fdatasync", bk_strerror(err));
            bk_partition_fail(t->p, err);
        }
        failed |= err != 0;
    }
    c->stats->flushes++;
    c->stats->flush_errors += (uint64_t)failed;
    c->stats->flush_usec_total += c->round_usec;
    bk_pending_t *e = c->round_head;
    c->round_head = c->round_tail = NULL;
    complete(c, e); /* in_flight stays set: a bk_log_close() from a callback waits for us */
    c->in_flight = 0;
    kick(c);
}

static void start_round(bk_commit_t *c)
{
    c->round_head = c->head;
    c->round_tail = c->tail;
    c->head = c->tail = NULL;
    c->ntargets = 0;
    while (c->dirty) {
        bk_partition_t *p = c->dirty;
        c->dirty = p->dirty_next;
        p->dirty_next = NULL;
        p->in_dirty = 0;
        collect(c, p);
    }
    c->in_flight = 1;
    c->last_flush_ms = bk_now_ms();
    int rc = uv_queue_work(c->loop, &c->work, work_sync, after_sync);
    if (rc != 0)
        after_sync(&c->work, rc);
}

static void finish_close_cb(uv_handle_t *h)
{
    bk_commit_t *c = h->data;
    if (--c->handles_open == 0)
        c->closed(c->closed_arg);
}

static void maybe_finish_close(bk_commit_t *c)
{
    if (c->closing != 1 || c->in_flight || c->head || c->round_head || c->dirty)
        return;
    c->closing = 2;
    c->check.data = c->idle.data = c->timer.data = c;
    uv_close((uv_handle_t *)&c->check, finish_close_cb);
    uv_close((uv_handle_t *)&c->idle, finish_close_cb);
    uv_close((uv_handle_t *)&c->timer, finish_close_cb);
}

static bk_commit_decision_t decide(const bk_commit_t *c)
{
    bk_commit_input_t in = {
        .mode = c->mode,
        .interval_ms = c->interval_ms,
        .pending = c->head != NULL,
        .dirty = c->dirty != NULL,
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
    bk_commit_decision_t d = decide(c);
    if (d.ack) {
        bk_pending_t *e = c->head;
        c->head = c->tail = NULL;
        complete(c, e);
        d = decide(c); /* callbacks may have appended or closed */
    }
    if (d.flush) {
        start_round(c);
        return;
    }
    if (d.timer_ms && uv_timer_start(&c->timer, on_timer, d.timer_ms, 0) != 0)
        bk_trace_error("log", "cannot start the flush timer");
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
    free(c->targets);
    free(c->notify);
    c->targets = NULL;
    c->notify = NULL;
}
