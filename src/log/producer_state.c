/* What a partition remembers of idempotent producers, and the append that consults it. The
 * check (producer_seq.c) and the append happen in one call on the loop thread, and the table
 * is fed by bk_partition_append_raw as the batch gets its offset, before it is written: so
 * two batches in flight with consecutive sequences both pass, in order, and a retry of a
 * batch still on its way to the disk is recognised as a duplicate, never appended twice.
 *
 * After open, truncation, reset or a cleared fence the table starts empty and the log below
 * the end at that moment is read once, lazily, when a producer's batch first needs it: only
 * the batch headers (producer id, epoch, base sequence, last offset delta) of the last two
 * segments, so the cost is bounded by two segment.bytes whatever the log's length. A producer
 * silent for longer than that is forgotten and its next batch accepted at any sequence (what
 * Kafka does once retention removed a producer's state). This file never decides a verdict. */
#include "log/producer_state.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "brook/common.h"
#include "log/format.h"
#include "log/log_internal.h"
#include "log/partition.h"

void bk_pstate_restart(bk_pstate_t *s, int64_t end)
{
    s->n = 0;
    s->unread_end = end;
}

void bk_pstate_free(bk_pstate_t *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

static bk_pseq_entry_t *find(bk_pstate_t *s, int64_t pid)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].producer_id == pid)
            return &s->v[i];
    return NULL;
}

/* Room for one more entry (or a full table, where one is evicted): 0 or UV_ENOMEM. */
static int reserve(bk_pstate_t *s)
{
    if (s->n < s->cap || s->n >= BK_PSTATE_MAX_PRODUCERS)
        return 0;
    size_t cap = s->cap ? s->cap * 2 : 8;
    if (cap > BK_PSTATE_MAX_PRODUCERS)
        cap = BK_PSTATE_MAX_PRODUCERS;
    bk_pseq_entry_t *v = realloc(s->v, cap * sizeof *v);
    if (!v)
        return UV_ENOMEM;
    s->v = v;
    s->cap = cap;
    return 0;
}

/* The entry of pid, made (empty) when missing; a full table drops the producer that wrote
 * least recently. NULL only when out of memory. */
static bk_pseq_entry_t *upsert(bk_pstate_t *s, int64_t pid)
{
    bk_pseq_entry_t *e = find(s, pid);
    if (e || reserve(s) < 0)
        return e;
    if (s->n >= BK_PSTATE_MAX_PRODUCERS) {
        size_t old = 0;
        for (size_t i = 1; i < s->n; i++)
            if (s->v[i].last_offset < s->v[old].last_offset)
                old = i;
        s->v[old] = s->v[--s->n];
    }
    e = &s->v[s->n++];
    memset(e, 0, sizeof *e);
    e->producer_id = pid;
    return e;
}

/* Records one stored batch's header in s. */
static void note_header(bk_pstate_t *s, const bk_batch_header_t *h)
{
    if (h->producer_id < 0 || h->base_sequence < 0)
        return;
    bk_pseq_entry_t *e = upsert(s, h->producer_id);
    if (e)
        bk_pseq_record(e, h->producer_epoch, h->base_sequence, h->last_offset_delta + 1,
                       h->base_offset);
}

void bk_pstate_note(bk_partition_t *p, const uint8_t *batches, size_t len)
{
    for (size_t pos = 0; pos < len;) {
        bk_batch_header_t h;
        if (bk_batch_header_parse(batches + pos, len - pos, &h) < 0)
            return; /* cannot be: append_raw verified every batch */
        note_header(&p->pstate, &h);
        pos += bk_batch_total(&h);
    }
}

/* ---- reading the log's tail ---- */

typedef struct {
    bk_pstate_t found;
    int64_t end;
} scan_t;

static int scan_check(void *arg, const bk_batch_header_t *h)
{
    scan_t *sc = arg;
    if (h->base_offset >= sc->end)
        return 1;
    note_header(&sc->found, h);
    return BK_WALK_SKIP; /* the header is all we need */
}

static int scan_use(void *arg, const uint8_t *batch, const bk_batch_header_t *h)
{
    (void)arg;
    (void)batch;
    (void)h;
    return 0;
}

/* Folds what the scan found (older) under what the table learnt since (newer). */
static int merge(bk_pstate_t *live, bk_pstate_t *found)
{
    for (size_t i = 0; i < found->n; i++) {
        bk_pseq_entry_t old = found->v[i];
        bk_pseq_entry_t *e = find(live, old.producer_id);
        if (e)
            bk_pseq_merge(&old, e);
        else if (!(e = upsert(live, old.producer_id)))
            return UV_ENOMEM;
        *e = old;
    }
    return 0;
}

/* Reads the unread tail into p's table, once. */
static int load(bk_partition_t *p)
{
    bk_pstate_t *s = &p->pstate;
    int64_t start = bk_partition_start_offset(p);
    if (s->unread_end <= start) {
        s->unread_end = 0;
        return 0;
    }
    size_t si = bk_partition_find_segment(p, s->unread_end - 1);
    int64_t from = p->segs[si > 0 ? si - 1 : 0]->base;
    if (from < start)
        from = start;
    scan_t sc = {{0}, s->unread_end};
    bk_batch_walk_t w = {scan_check, scan_use, &sc, 1}; /* never reads a whole batch */
    int rc = bk_partition_walk(p, from, &w);
    if (rc == 0)
        rc = merge(s, &sc.found);
    bk_pstate_free(&sc.found);
    if (rc == 0) {
        bk_trace_info("log",
                      "%s: %zu idempotent producer(s) read from offsets %" PRId64 "..%" PRId64,
                      p->dir, s->n, from, sc.end);
        s->unread_end = 0;
    }
    return rc;
}

/* The producer's verdict on the single batch at b (header h). */
static int judge(bk_partition_t *p, const bk_batch_header_t *h, bk_produce_result_t *res)
{
    int rc = bk_partition_writable(p);
    if (rc == 0 && p->pstate.unread_end > 0)
        rc = load(p);
    if (rc == 0)
        rc = reserve(&p->pstate); /* so that the append's note cannot fail */
    if (rc < 0)
        return rc;
    const bk_pseq_batch_t *dup = NULL;
    res->verdict = bk_pseq_check(find(&p->pstate, h->producer_id), h->producer_epoch,
                                 h->base_sequence, h->count, &dup);
    if (res->verdict == BK_PSEQ_DUPLICATE) {
        res->base_offset = dup->base_offset;
        res->count = bk_pseq_span(dup);
    }
    return 0;
}

/* Whether any batch in batches (before verification: a header that does not parse ends the
 * walk, the append refuses it) carries a producer id. */
static int any_producer(const uint8_t *batches, size_t len)
{
    bk_batch_header_t h;
    for (size_t pos = 0; pos < len && bk_batch_header_parse(batches + pos, len - pos, &h) == 0;
         pos += bk_batch_total(&h))
        if (h.producer_id >= 0)
            return 1;
    return 0;
}

int bk_partition_append_producer(bk_partition_t *p, uint8_t *batches, size_t len,
                                 int32_t leader_epoch, bk_produce_result_t *res, bk_append_cb cb,
                                 void *arg)
{
    bk_batch_header_t h;
    *res = (bk_produce_result_t){BK_PSEQ_ACCEPT, -1, 0};
    if (batches && any_producer(batches, len)) {
        /* Kafka too wants one batch per partition; a producer's batch behind another one
         * would otherwise reach the log unchecked. */
        if (bk_batch_header_parse(batches, len, &h) < 0 || bk_batch_total(&h) != len) {
            res->verdict = BK_PSEQ_INVALID;
            return 0;
        }
        int rc = judge(p, &h, res);
        if (rc < 0 || res->verdict != BK_PSEQ_ACCEPT)
            return rc;
    }
    return bk_partition_append_batch(p, batches, len, leader_epoch, cb, arg);
}
