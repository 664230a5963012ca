/* The log's replication support: whole batches read and appended byte for byte (a follower's
 * log is a copy of its leader's), truncation of a diverged tail, and leader-epoch queries.
 * It must never write a batch it has not verified, never append part of a refused buffer, and
 * never leave a gap between segments on disk, not even after a crash in the middle of a
 * truncation (the order of its steps is written down in format.c). */
#include "brook/common.h"
#include "log/commit.h"
#include "log/format.h"
#include "log/log_internal.h"
#include "log/partition.h"
#include "log/topic.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading whole batches ---- */

typedef struct {
    int64_t offset, limit;
    size_t max_bytes;
    uint8_t **out;
    size_t *cap, *len;
    int count;
} raw_read_t;

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (*cap >= need)
        return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    uint8_t *n = realloc(*buf, c);
    if (!n)
        return UV_ENOMEM;
    *buf = n;
    *cap = c;
    return 0;
}

/* Whether the batch of header h ends the read before it: past the limit, or over the byte
 * budget (which the first batch may exceed). */
static int raw_full(void *arg, const bk_batch_header_t *h)
{
    const raw_read_t *st = arg;
    if (bk_batch_end(h) > st->limit || st->count == INT_MAX)
        return 1;
    return st->count > 0 && st->max_bytes && *st->len + bk_batch_total(h) > st->max_bytes;
}

static int raw_copy(void *arg, const uint8_t *batch, const bk_batch_header_t *h)
{
    raw_read_t *st = arg;
    size_t total = bk_batch_total(h);
    int rc = grow(st->out, st->cap, *st->len + total);
    if (rc)
        return rc;
    memcpy(*st->out + *st->len, batch, total);
    *st->len += total;
    st->count++;
    return 0;
}

int bk_partition_read_raw(bk_partition_t *p, int64_t offset, int64_t limit, size_t max_bytes,
                          uint8_t **out, size_t *out_cap, size_t *len)
{
    *len = 0;
    if (offset < bk_partition_start_offset(p) || offset > limit)
        return BK_ERANGE;
    if (limit > p->hw)
        limit = p->hw; /* never past what the fsync policy made safe here */
    if (offset >= limit)
        return 0;
    raw_read_t st = {offset, limit, max_bytes, out, out_cap, len, 0};
    /* Headers only: every batch below the high watermark was verified in full when it was
     * appended (or found at open), and whoever takes these bytes (a follower's append_raw,
     * a Kafka client's CRC check) can verify them again; the read does not re-verify. */
    bk_batch_walk_t w = {raw_full, raw_copy, &st, 1};
    int rc = bk_partition_walk(p, offset, &w);
    if (rc < 0) {
        *len = 0;
        return rc;
    }
    return st.count;
}

/* ---- appending whole batches ---- */

/* What a buffer of batches will do to the partition, worked out before anything changes. */
typedef struct {
    uint32_t batches;
    uint64_t records;
    size_t nnew;         /* segments to create */
    size_t epoch_adds;   /* entries the epoch list gains */
    size_t *seg_bytes;   /* [0]: bytes for the active segment, [1..nnew]: for each new one */
    int64_t *seg_base;   /* [1..nnew]: base offset of each new segment */
    bk_segment_t **news; /* the created segments, in order */
} raw_plan_t;

/* Parses one batch at b[0..avail) that must continue at offset expect, verifying it fully
 * (CRC and records) when verify is set; sets *h. */
static int check_batch(const uint8_t *b, size_t avail, int64_t expect, int verify,
                       bk_batch_header_t *h)
{
    if (bk_batch_header_parse(b, avail, h) < 0 || bk_batch_total(h) > avail ||
        (verify && bk_batch_verify(b, bk_batch_total(h), h) < 0))
        return BK_ECORRUPT;
    return h->base_offset == expect ? 0 : BK_EINVAL;
}

/* Offsets a batch takes from next on: lastOffsetDelta + 1, which after compaction may exceed
 * its record count (capped: a larger one rolls). */
static uint32_t span_of(const bk_batch_header_t *h, int64_t next)
{
    int64_t n = bk_batch_end(h) - next;
    return n > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* Walks the batches of buf, rolling segments as appends would. The first walk (seg_bytes
 * NULL) verifies them and counts batches, records, new segments and epoch entries; the second
 * (over the same, verified bytes) fills seg_bytes and seg_base. */
static int walk(const bk_partition_t *p, const uint8_t *buf, size_t len, raw_plan_t *pl)
{
    const bk_segment_t *s = bk_partition_active(p);
    uint64_t seg_size = s->size;
    int64_t seg_base = s->base, next = p->next_offset;
    int32_t last_epoch = bk_epochs_last(&p->epochs);
    int have_epoch = p->epochs.n > 0;
    size_t seg = 0;
    for (size_t pos = 0; pos < len;) {
        bk_batch_header_t h;
        int rc = check_batch(buf + pos, len - pos, next, !pl->seg_bytes, &h);
        if (rc < 0)
            return rc;
        size_t total = bk_batch_total(&h);
        if (bk_partition_roll_needed(p, seg_size, seg_base, next, total, span_of(&h, next))) {
            seg++;
            seg_size = 0;
            seg_base = next;
        }
        if (pl->seg_bytes) {
            pl->seg_bytes[seg] += total;
            pl->seg_base[seg] = seg_base;
        } else {
            pl->batches++;
            pl->records += (uint64_t)h.count;
            if (!have_epoch || h.leader_epoch > last_epoch) {
                pl->epoch_adds++;
                last_epoch = h.leader_epoch;
                have_epoch = 1;
            }
        }
        seg_size += total;
        next = bk_batch_end(&h);
        pos += total;
    }
    pl->nnew = seg;
    return 0;
}

static void plan_free(bk_partition_t *p, raw_plan_t *pl, int undo)
{
    const bk_log_io_t *io = p->log->io;
    for (size_t i = 0; undo && pl->news && i < pl->nnew && pl->news[i]; i++) {
        int64_t base = pl->news[i]->base;
        bk_segment_free(io, pl->news[i]);
        int rc = bk_segment_remove(io, p->dir, base);
        if (rc < 0)
            bk_trace_warn("log", "%s: cannot remove unused segment %020" PRId64 ": %s", p->dir,
                          base, bk_strerror(rc));
    }
    free(pl->news);
    free(pl->seg_bytes);
    free(pl->seg_base);
}

/* Everything that can fail, done before the first byte is appended: memory for the epoch
 * list, the segment slots and the pending buffers, and the files of the new segments. */
static int prepare(bk_partition_t *p, const uint8_t *buf, size_t len, raw_plan_t *pl)
{
    pl->seg_bytes = calloc(pl->nnew + 1, sizeof *pl->seg_bytes);
    pl->seg_base = calloc(pl->nnew + 1, sizeof *pl->seg_base);
    pl->news = calloc(pl->nnew + 1, sizeof *pl->news);
    if (!pl->seg_bytes || !pl->seg_base || !pl->news)
        return UV_ENOMEM;
    int rc = walk(p, buf, len, pl);
    if (rc == 0)
        rc = bk_epochs_reserve(&p->epochs, pl->epoch_adds);
    if (rc == 0)
        rc = bk_partition_reserve_slots(p, pl->nnew);
    for (size_t i = 0; rc == 0 && i < pl->nnew; i++)
        rc = bk_segment_create(p->log->io, p->dir, pl->seg_base[i + 1], &pl->news[i]);
    for (size_t i = 0; rc == 0 && i <= pl->nnew; i++) {
        bk_segment_t *s = i ? pl->news[i - 1] : bk_partition_active(p);
        if (pl->seg_bytes[i] && !bk_segment_reserve(s, pl->seg_bytes[i], &rc) && rc == 0)
            rc = UV_ENOMEM;
    }
    return rc;
}

/* Appends the verified, prepared batches: nothing here can fail. */
static void commit_batches(bk_partition_t *p, const uint8_t *buf, size_t len, raw_plan_t *pl)
{
    uint32_t interval = p->log->cfg.index_interval_bytes;
    size_t k = 0;
    for (size_t pos = 0; pos < len;) {
        bk_batch_header_t h;
        (void)bk_batch_header_parse(buf + pos, len - pos, &h); /* verified by walk() */
        size_t total = bk_batch_total(&h);
        bk_segment_t *s = bk_partition_active(p);
        if (bk_partition_roll_needed(p, s->size, s->base, p->next_offset, total,
                                     span_of(&h, p->next_offset)))
            bk_partition_push_rolled(p, pl->news[k++]);
        int err;
        s = bk_partition_active(p);
        uint8_t *dst = bk_segment_reserve(s, total, &err); /* room reserved by prepare() */
        memcpy(dst, buf + pos, total);
        bk_segment_commit(s, total, h.base_offset, bk_batch_end(&h), h.max_timestamp, interval);
        (void)bk_epochs_note(&p->epochs, h.leader_epoch, h.base_offset); /* room reserved */
        p->next_offset = bk_batch_end(&h);
        p->size_bytes += total;
        pos += total;
    }
}

int bk_partition_append_raw(bk_partition_t *p, const uint8_t *batches, size_t len, bk_append_cb cb,
                            void *arg)
{
    bk_log_t *log = p->log;
    int wrc = bk_partition_writable(p);
    if (wrc != 0)
        return wrc;
    if (!batches || len == 0)
        return BK_EINVAL;
    if (p->staged) /* local appends still compressing come first (as when we led) */
        return UV_EBUSY;
    raw_plan_t pl = {0};
    int rc = walk(p, batches, len, &pl);
    if (rc < 0)
        return rc;
    bk_pending_t *e = NULL;
    if ((rc = prepare(p, batches, len, &pl)) == 0 && !(e = bk_commit_reserve(&log->commit)))
        rc = UV_ENOMEM;
    if (rc < 0) {
        plan_free(p, &pl, 1);
        return rc;
    }
    int64_t base = p->next_offset;
    commit_batches(p, batches, len, &pl);
    plan_free(p, &pl, 0);
    bk_pstate_note(p, batches, len);
    log->stats.appends += pl.batches;
    log->stats.records_appended += pl.records;
    log->stats.bytes_appended += len;
    bk_commit_submit(&log->commit, e, p, cb, arg, base, p->next_offset);
    return 0;
}

/* ---- truncation ---- */

/* Brings the offsets in line with the (new) last segment. */
static void settle_offsets(bk_partition_t *p)
{
    int64_t end = bk_partition_active(p)->next;
    p->next_offset = end;
    if (p->written_off > end)
        p->written_off = end;
    if (p->durable_off > end)
        p->durable_off = end;
    if (p->hw > end)
        p->hw = end;
    if (p->committed > end)
        p->committed = end;
    bk_epochs_cut(&p->epochs, end);
    bk_pstate_restart(&p->pstate, end);
}

/* Deletes segments, newest first, until keep are left, syncing the directory after each so
 * that a crash can bring back only a prefix of them. */
static int drop_newest(bk_partition_t *p, size_t keep)
{
    const bk_log_io_t *io = p->log->io;
    while (p->nseg > keep) {
        bk_segment_t *s = p->segs[p->nseg - 1];
        int rc = bk_segment_remove_at(io, p->dir_fd, s->base);
        if (rc < 0 && rc != UV_ENOENT)
            return rc;
        p->size_bytes -= s->size;
        p->nseg--;
        bk_trace_info("log", "%s: deleted segment %020" PRId64, p->dir, s->base);
        bk_segment_free(io, s);
        if ((rc = io->fsync(p->dir_fd)) < 0)
            return rc;
    }
    return 0;
}

/* Whether p's segments may be cut or replaced now: 0, or why not. */
static int may_rewrite(const bk_partition_t *p)
{
    int rc = bk_partition_writable(p);
    if (rc != 0)
        return rc;
    /* Appends queued or in a flush round hold pending bytes and step pointers into the
     * segments; a read visitor may be walking them. */
    if (p->queued || p->busy || p->in_wlist || p->log->reader_busy || p->staged || p->cleaning)
        return UV_EBUSY;
    return 0;
}

static int truncate_check(const bk_partition_t *p, int64_t offset)
{
    int rc = bk_partition_writable(p);
    if (rc != 0)
        return rc;
    if (offset < bk_partition_start_offset(p))
        return BK_ERANGE;
    if (offset >= p->next_offset)
        return 1;
    return may_rewrite(p);
}

int bk_partition_truncate(bk_partition_t *p, int64_t offset)
{
    int rc = truncate_check(p, offset);
    if (rc != 0)
        return rc > 0 ? 0 : rc;
    const bk_log_io_t *io = p->log->io;
    size_t si = bk_partition_find_segment(p, offset);
    bk_segment_t *s = p->segs[si];
    uint64_t pos;
    int64_t cut;
    bk_reader_t own;
    bk_reader_t *r = bk_partition_reader_begin(p, &own);
    rc = bk_segment_cut_point(io, r, s, offset, &pos, &cut);
    bk_partition_reader_end(p, r, &own);
    if (rc < 0)
        return rc;
    if (cut != offset)
        bk_trace_warn("log", "%s: truncation to %" PRId64 " cuts at the batch boundary %" PRId64,
                      p->dir, offset, cut);
    if (pos == 0 && si > 0) {
        /* A cut at a segment's base removes that segment too and appends go on in the one
         * before, as they did on a replica that never rolled there: the layout is then the
         * one a fresh copy of the log gets, so retention deletes the same ranges everywhere. */
        s = p->segs[--si];
        pos = s->size;
    }
    rc = drop_newest(p, si + 1);
    if (rc == 0) {
        uint64_t before = s->size;
        rc = bk_segment_truncate(io, p->dir, s, pos, cut);
        p->size_bytes -= before - s->size;
    }
    settle_offsets(p);
    if (rc < 0) {
        bk_trace_error("log", "%s: truncation to %" PRId64 " failed: %s; refusing further appends",
                       p->dir, offset, bk_strerror(rc));
        bk_partition_fail(p, rc);
        return rc;
    }
    bk_trace_info("log", "%s: truncated to offset %" PRId64, p->dir, cut);
    return 0;
}

/* ---- starting over ---- */

int bk_partition_reset(bk_partition_t *p, int64_t start)
{
    int rc = may_rewrite(p);
    if (rc < 0)
        return rc;
    if (start <= p->next_offset)
        return BK_EINVAL;
    const bk_log_io_t *io = p->log->io;
    bk_segment_t *ns;
    /* The new, empty segment first: a crash before the old ones are gone leaves it after
     * them, not lined up, and open deletes it (the partition is then as it was). */
    if ((rc = bk_partition_reserve_slots(p, 1)) < 0 ||
        (rc = bk_segment_create(io, p->dir, start, &ns)) < 0)
        return rc;
    rc = io->fsync(p->dir_fd);
    if (rc == 0)
        rc = drop_newest(p, 0);
    if (rc < 0 && p->nseg > 0) { /* the old log's prefix stays; the new segment goes */
        bk_segment_free(io, ns);
        (void)bk_segment_remove(io, p->dir, start); /* best effort: open removes it too */
    } else {
        p->segs[p->nseg++] = ns;
    }
    if (rc < 0) {
        bk_trace_error("log",
                       "%s: starting over at %" PRId64 " failed: %s; refusing further appends",
                       p->dir, start, bk_strerror(rc));
        bk_partition_fail(p, rc);
        return rc;
    }
    p->next_offset = p->written_off = p->durable_off = p->hw = p->committed = start;
    bk_epochs_trim(&p->epochs, start, start);
    bk_pstate_restart(&p->pstate, start);
    bk_trace_warn("log", "%s: emptied; starts over at offset %" PRId64, p->dir, start);
    return 0;
}

/* ---- leader epochs ---- */

int32_t bk_partition_last_epoch(const bk_partition_t *p)
{
    return bk_epochs_last(&p->epochs);
}

int64_t bk_partition_epoch_end(const bk_partition_t *p, int32_t epoch, int32_t *found_epoch)
{
    int32_t found;
    int64_t end = bk_epochs_end(&p->epochs, epoch, p->next_offset, &found);
    if (found_epoch)
        *found_epoch = found;
    return end;
}
