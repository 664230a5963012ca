/* A partition's segments, offsets, appends, reads and retention. An append is encoded straight
 * into the active segment's pending buffer and handed to group commit, which writes it; the
 * high watermark moves only when commit.c acknowledges it. Reads never go past the high
 * watermark (so never need the pending bytes) and verify every batch's CRC. On the produce
 * path nothing here makes a system call except file creation at a roll; reads use pread
 * (page cache); retention unlinks files on the threadpool. */
#include "log/partition.h"

#include "brook/common.h"
#include "log/cleaner.h"
#include "log/commit.h"
#include "log/format.h"
#include "log/log_internal.h"
#include "log/retention.h"
#include "log/topic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define READ_CHUNK ((size_t)64 << 10)
#define BASE_DIGITS 20

/* ---- open and recovery ---- */

int bk_partition_reserve_slots(bk_partition_t *p, size_t more)
{
    return bk_grow(&p->segs, &p->seg_cap, p->nseg, more, sizeof *p->segs, 4);
}

static int push_segment(bk_partition_t *p, bk_segment_t *s)
{
    int rc = bk_partition_reserve_slots(p, 1);
    if (rc == 0)
        p->segs[p->nseg++] = s;
    return rc;
}

/* "<20 digits>.log" -> base offset; -1 for any other name. */
static int64_t parse_segment_name(const char *name)
{
    if (strlen(name) != BASE_DIGITS + 4 || strcmp(name + BASE_DIGITS, ".log") != 0)
        return -1;
    uint64_t v = 0;
    for (int i = 0; i < BASE_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(name[i] - '0');
        if (v > ((uint64_t)INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    return (int64_t)v;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Base offsets of the .log files in dir, sorted. */
static int list_segments(const char *dir, int64_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    size_t cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        int64_t base = parse_segment_name(de->d_name);
        if (base < 0)
            continue;
        if ((rc = bk_grow(out, &cap, *n, 1, sizeof **out, 8)) != 0)
            break;
        (*out)[(*n)++] = base;
    }
    if (closedir(d) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && *n)
        qsort(*out, *n, sizeof **out, cmp_i64);
    return rc;
}

static uint64_t file_size(const char *dir, int64_t base)
{
    char path[4096];
    struct stat st;
    bk_segment_path(path, sizeof path, dir, base, ".log");
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Trailing empty segments after the last one holding data can only come from a crash or a
 * failed first write right after a roll. The first one is kept as the active segment if it
 * lines up; any that no longer line up (the tail before them was cut) are deleted. */
static int drop_stray_empty(bk_partition_t *p, const int64_t *bases, size_t from, size_t n)
{
    const bk_log_io_t *io = p->log->io;
    for (size_t i = from; i < n; i++) {
        int64_t expect = p->nseg ? p->segs[p->nseg - 1]->next : bases[i];
        if (i == from && bases[i] == expect) {
            bk_segment_t *s;
            int rc = bk_segment_open(io, p->dir, bases[i], 1, p->log->cfg.index_interval_bytes,
                                     &p->epochs, &s);
            if (rc == 0 && (rc = push_segment(p, s)) < 0)
                bk_segment_free(io, s);
            if (rc < 0)
                return rc;
            continue;
        }
        bk_trace_warn("log", "%s: removing empty segment %020" PRId64 " after a cut tail", p->dir,
                      bases[i]);
        int rc = bk_segment_remove(io, p->dir, bases[i]);
        if (rc < 0)
            return rc;
        p->dir_dirty = 1;
    }
    return 0;
}

static int load_segments(bk_partition_t *p, const int64_t *bases, size_t n)
{
    const bk_log_io_t *io = p->log->io;
    size_t tail = n - 1; /* the last segment holding data is the one recovery may cut */
    while (tail > 0 && file_size(p->dir, bases[tail]) == 0)
        tail--;
    for (size_t i = 0; i <= tail; i++) {
        /* Checked before the next segment is opened (which may cut its tail), so a refused
         * start leaves every batch as it found it (at most zeros after them were cut). */
        if (i > 0 && p->segs[i - 1]->next != bases[i]) {
            bk_trace_error("log",
                           "%s: segment %020" PRId64 " ends at offset %" PRId64
                           " but the next one starts at %" PRId64,
                           p->dir, p->segs[i - 1]->base, p->segs[i - 1]->next, bases[i]);
            return BK_ECORRUPT;
        }
        bk_segment_t *s;
        int rc = bk_segment_open(io, p->dir, bases[i], i == tail, p->log->cfg.index_interval_bytes,
                                 &p->epochs, &s);
        if (rc < 0)
            return rc;
        if ((rc = push_segment(p, s)) < 0) {
            bk_segment_free(io, s);
            return rc;
        }
    }
    return drop_stray_empty(p, bases, tail + 1, n);
}

static int open_dir(bk_partition_t *p, int create)
{
    const bk_log_io_t *io = p->log->io;
    if (create) {
        int rc = io->mkdir(p->dir, 0755);
        if (rc < 0 && rc != UV_EEXIST)
            return rc;
    }
    p->dir_fd = io->open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (p->dir_fd == UV_ENOENT && !create) {
        bk_trace_error("log", "%s: partition directory missing", p->dir);
        return BK_ECORRUPT;
    }
    return p->dir_fd < 0 ? p->dir_fd : 0;
}

static int open_segments(bk_partition_t *p)
{
    int64_t *bases = NULL;
    size_t n = 0;
    int rc = bk_cleaner_discard_temps(p->log->io, p->dir); /* half-done cleanings */
    if (rc == 0)
        rc = list_segments(p->dir, &bases, &n);
    if (rc == 0 && n > 0)
        rc = load_segments(p, bases, n);
    free(bases);
    if (rc == 0 && p->nseg == 0) {
        bk_segment_t *s;
        if ((rc = bk_segment_create(p->log->io, p->dir, 0, &s)) < 0)
            return rc;
        if ((rc = push_segment(p, s)) < 0) {
            bk_segment_free(p->log->io, s);
            return rc;
        }
        rc = bk_partition_sync_dir(p);
    }
    if (rc == 0 && p->dir_dirty)
        rc = bk_partition_sync_dir(p);
    return rc;
}

int bk_partition_sync_dir(bk_partition_t *p)
{
    int rc = p->log->io->fsync(p->dir_fd);
    if (rc == 0)
        p->dir_dirty = 0;
    return rc;
}

int bk_partition_open(bk_log_t *log, bk_topic_t *t, uint32_t index, int create,
                      bk_partition_t **out)
{
    bk_partition_t *p = calloc(1, sizeof *p);
    if (!p)
        return UV_ENOMEM;
    p->log = log;
    p->topic = t;
    p->index = index;
    p->dir_fd = -1;
    size_t len = strlen(log->data_dir) + t->name_len + 16;
    int rc = UV_ENOMEM;
    if ((p->dir = malloc(len)) == NULL)
        goto err;
    snprintf(p->dir, len, "%s/%s-%" PRIu32, log->data_dir, t->name, index);
    if ((rc = open_dir(p, create)) < 0 || (rc = open_segments(p)) < 0)
        goto err;
    for (size_t i = 0; i < p->nseg; i++) {
        p->size_bytes += p->segs[i]->size;
        if (i + 1 < p->nseg) {
            bk_segment_seal(p->segs[i]);
            bk_segment_tidy(log->io, p->segs[i]);
        }
    }
    p->next_offset = p->segs[p->nseg - 1]->next;
    /* What survived recovery is whole, checksummed and on disk. */
    p->hw = p->written_off = p->durable_off = p->next_offset;
    p->committed = p->segs[0]->base; /* nothing known to be replicated yet */
    bk_pstate_restart(&p->pstate, p->next_offset);
    *out = p;
    return 0;

err:
    if (rc != BK_ECORRUPT)
        bk_trace_warn("log", "cannot open partition %s-%" PRIu32 ": %s", t->name, index,
                      bk_strerror(rc));
    bk_partition_free(p);
    return rc;
}

void bk_partition_free(bk_partition_t *p)
{
    if (!p)
        return;
    const bk_log_io_t *io = p->log->io;
    for (size_t i = 0; i < p->nseg; i++)
        bk_segment_free(io, p->segs[i]);
    free(p->segs);
    bk_epochs_free(&p->epochs);
    bk_pstate_free(&p->pstate);
    bk_io_close(io, p->dir_fd);
    free(p->dir);
    free(p);
}

void bk_partition_fail(bk_partition_t *p, int err)
{
    if (p->failed == 0)
        p->failed = err ? err : UV_EIO;
    bk_commit_fence_retry(&p->log->commit, p->log);
}

/* ---- clearing a fence (the steps are listed in partition.h) ---- */

/* The probe asks for more room than a failed write can have freed when it was undone (a
 * write of up to 64 KiB plus its preallocated zeros), so a disk still full fails it. */
#define PROBE_BYTES ((uint64_t)1 << 20)

int bk_partition_fenced(const bk_partition_t *p, int *retrying)
{
    if (retrying)
        *retrying = p->failed && !p->fence_final;
    return p->failed;
}

/* The fence stays for good (until a restart re-verifies the files). */
static int fence_for_good(bk_partition_t *p, const char *why)
{
    bk_trace_error("log", "%s: %s; the fence stays until a restart", p->dir, why);
    p->fence_final = 1;
    p->failed = BK_ECORRUPT;
    return BK_ECORRUPT;
}

/* File position in s of the batch boundary at offset hw, among the bytes written; 0 or
 * BK_ECORRUPT (hw is not such a boundary) or an I/O error. */
static int boundary_of(bk_partition_t *p, bk_segment_t *s, int64_t hw, uint64_t *pos)
{
    while (s->nindex > 0 && s->index[s->nindex - 1].pos >= s->written)
        s->nindex--; /* entries of batches that never reached the file */
    uint64_t at = 0;
    int64_t next = s->base;
    for (size_t i = 0; i < s->nindex && s->base + s->index[i].rel <= hw; i++) {
        at = s->index[i].pos; /* the last indexed batch at or before hw */
        next = s->base + s->index[i].rel;
    }
    bk_reader_t own;
    bk_reader_t *r = bk_partition_reader_begin(p, &own);
    int rc = 0;
    while (rc == 0 && next < hw && at < s->written) {
        const uint8_t *b;
        bk_batch_header_t h;
        rc = bk_reader_get(p->log->io, r, s->fd, at, BK_BATCH_HEADER_SIZE, s->written, &b);
        if (rc == 0 && (rc = bk_batch_header_parse(b, BK_BATCH_HEADER_SIZE, &h)) == 0) {
            at += bk_batch_total(&h);
            next = bk_batch_end(&h);
        }
    }
    bk_partition_reader_end(p, r, &own);
    if (rc == 0 && (next != hw || at > s->written))
        rc = BK_ECORRUPT;
    *pos = at;
    return rc;
}

/* Whether the disk takes data again: zeros written past the end of fd and synced, then cut. */
static int probe(const bk_log_io_t *io, int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    uint64_t end = (uint64_t)st.st_size;
    int rc = bk_segment_write_zeros(io, fd, end, end + PROBE_BYTES);
    if (rc == 0)
        rc = io->fdatasync(fd);
    int trc = io->ftruncate(fd, (int64_t)end);
    return rc ? rc : trc;
}

/* Deletes the segments after index keep, newest first, syncing the directory after each. */
static int drop_after(bk_partition_t *p, size_t keep)
{
    const bk_log_io_t *io = p->log->io;
    while (p->nseg > keep + 1) {
        bk_segment_t *s = p->segs[p->nseg - 1];
        int rc = bk_segment_remove_at(io, p->dir_fd, s->base);
        if (rc < 0 && rc != UV_ENOENT)
            return rc;
        p->nseg--;
        bk_segment_free(io, s);
        if ((rc = io->fsync(p->dir_fd)) < 0)
            return rc;
    }
    return 0;
}

/* Step 4: cut segment k at pos, drop its cached pages and reopen it verified from disk. */
static int reverify(bk_partition_t *p, size_t k, uint64_t pos, bk_segment_t **out)
{
    const bk_log_io_t *io = p->log->io;
    bk_segment_t *s = p->segs[k];
    int rc = io->ftruncate(s->fd, (int64_t)pos);
    if (rc == 0)
        rc = io->fsync(s->fd);
    if (rc < 0)
        return rc;
    /* Pages a failed writeback left behind are clean now: read what the disk holds. */
    (void)posix_fadvise(s->fd, 0, 0, POSIX_FADV_DONTNEED);
    return bk_segment_open(io, p->dir, s->base, 1, p->log->cfg.index_interval_bytes, NULL, out);
}

static int unfence_ready(bk_partition_t *p)
{
    if (!p->failed)
        return 0;
    if (p->fence_final)
        return p->failed;
    if (p->log->closing || p->deleted)
        return BK_ECLOSED;
    if (p->cleaning)
        return UV_EBUSY;
    if (p->in_slist && !p->busy) /* fsync=never keeps it there until a roll: it is synced here */
        bk_commit_forget(&p->log->commit, p);
    if (!bk_commit_idle(&p->log->commit, p) || p->retention_busy || p->log->reader_busy)
        return UV_EBUSY;
    return 1;
}

int bk_partition_unfence(bk_partition_t *p)
{
    int rc = unfence_ready(p);
    if (rc <= 0)
        return rc;
    size_t k = bk_partition_find_segment(p, p->hw);
    bk_segment_t *s = p->segs[k], *ns = NULL;
    for (size_t i = k; i < p->nseg; i++)
        bk_segment_discard(p->segs[i]);
    uint64_t pos;
    if ((rc = boundary_of(p, s, p->hw, &pos)) == BK_ECORRUPT)
        return fence_for_good(p, "the acknowledged end is not a batch boundary of the file");
    if (rc < 0 || (rc = probe(p->log->io, s->fd)) < 0 || (rc = drop_after(p, k)) < 0 ||
        (rc = reverify(p, k, pos, &ns)) < 0)
        return rc == BK_ECORRUPT ? fence_for_good(p, "acknowledged data failed verification") : rc;
    if (ns->next != p->hw || ns->size != pos) {
        bk_segment_free(p->log->io, ns);
        return fence_for_good(p, "acknowledged data is missing from the file");
    }
    bk_segment_free(p->log->io, s);
    p->segs[k] = ns;
    p->size_bytes = 0;
    for (size_t i = 0; i < p->nseg; i++)
        p->size_bytes += p->segs[i]->size;
    p->next_offset = p->written_off = p->durable_off = p->hw;
    bk_epochs_cut(&p->epochs, p->hw);
    bk_pstate_restart(&p->pstate, p->hw); /* batches noted past it were never stored */
    p->dir_dirty = 0;
    bk_trace_warn("log", "%s: writes work again (fenced by: %s); appending from offset %" PRId64,
                  p->dir, bk_strerror(p->failed), p->hw);
    p->failed = 0;
    return 0;
}

size_t bk_partition_retry_fenced(bk_log_t *log)
{
    size_t left = 0;
    for (size_t i = 0; i < log->ntopics; i++) {
        bk_topic_t *t = log->topics[i];
        for (uint32_t j = 0; j < t->npart; j++) {
            bk_partition_t *p = t->parts[j];
            if (!p->failed || p->fence_final)
                continue;
            int rc = bk_partition_unfence(p);
            if (rc != 0 && rc != UV_EBUSY)
                bk_trace_debug("log", "%s: still fenced: %s", p->dir, bk_strerror(rc));
            left += rc != 0 && !p->fence_final;
        }
    }
    return left;
}

/* ---- append ---- */

bk_segment_t *bk_partition_active(const bk_partition_t *p)
{
    return p->segs[p->nseg - 1];
}

static bk_segment_t *active(bk_partition_t *p)
{
    return bk_partition_active(p);
}

int bk_partition_roll_needed(const bk_partition_t *p, uint64_t seg_size, int64_t seg_base,
                             int64_t next, size_t size, uint32_t n)
{
    uint64_t limit = p->topic->cfg.segment_bytes;
    if (seg_size == 0)
        return 0; /* a batch never splits and an empty segment takes any batch */
    int fits = seg_size + size <= limit && seg_size + size <= UINT32_MAX &&
               (uint64_t)(next + n - seg_base) <= UINT32_MAX;
    return !fits;
}

void bk_partition_push_rolled(bk_partition_t *p, bk_segment_t *ns)
{
    bk_segment_t *s = active(p);
    bk_segment_seal(s);
    bk_segment_tidy(p->log->io, s);
    p->segs[p->nseg++] = ns;
    p->dir_dirty = 1;
    bk_commit_mark_dirty(&p->log->commit, p);
    bk_trace_debug("log", "%s: rolled to segment %020" PRId64, p->dir, ns->base);
}

static int maybe_roll(bk_partition_t *p, size_t size, uint32_t n)
{
    bk_segment_t *s = active(p);
    if (!bk_partition_roll_needed(p, s->size, s->base, p->next_offset, size, n))
        return 0;
    bk_segment_t *ns;
    /* The slot first, so that nothing can fail once the file exists. */
    int rc = bk_partition_reserve_slots(p, 1);
    if (rc == 0)
        rc = bk_segment_create(p->log->io, p->dir, p->next_offset, &ns);
    if (rc < 0)
        return rc;
    bk_partition_push_rolled(p, ns);
    return 0;
}

/* Key, value and header bytes of the largest record, the measure max.message.bytes limits. */
static uint64_t largest_record(const bk_record_t *recs, uint32_t n)
{
    uint64_t max = 0;
    for (uint32_t i = 0; i < n; i++) {
        const bk_record_t *r = &recs[i];
        uint64_t sz = (uint64_t)(r->key_len > 0 ? r->key_len : 0) +
                      (uint64_t)(r->value_len > 0 ? r->value_len : 0);
        for (uint32_t h = 0; h < r->header_count && r->headers; h++)
            sz += (uint64_t)r->headers[h].key_len + r->headers[h].value_len;
        if (sz > max)
            max = sz;
    }
    return max;
}

int bk_partition_writable(const bk_partition_t *p)
{
    if (p->log->closing)
        return BK_ECLOSED;
    if (p->deleted)
        return BK_ENOTOPIC;
    return p->failed;
}

static int check_append(bk_partition_t *p, const bk_record_t *recs, uint32_t n, int64_t now,
                        size_t *size)
{
    int rc = bk_partition_writable(p);
    if (rc == 0)
        rc = bk_batch_measure(recs, n, now, size);
    if (rc < 0)
        return rc;
    if (largest_record(recs, n) > p->topic->cfg.max_message_bytes)
        return BK_ETOOBIG;
    if (p->next_offset > INT64_MAX - (int64_t)n)
        return BK_ERANGE;
    return 0;
}

/* Puts the encoded batch (size bytes at batch, n records) at the end of p, stamped with base
 * and leader_epoch, and queues it for group commit. Nothing can fail once the batch is in. */
static void append_encoded(bk_partition_t *p, bk_pending_t *e, uint8_t *buf, size_t size,
                           uint32_t n, int32_t leader_epoch, bk_append_cb cb, void *arg)
{
    bk_log_t *log = p->log;
    int64_t base = p->next_offset;
    int64_t max_ts = (int64_t)bk_be64_get(buf + BK_BATCH_OFF_MAX_TIMESTAMP);
    bk_segment_commit(active(p), size, base, base + n, max_ts, log->cfg.index_interval_bytes);
    (void)bk_epochs_note(&p->epochs, leader_epoch, base); /* room reserved by the caller */
    p->next_offset += n;
    p->size_bytes += size;
    log->stats.appends++;
    log->stats.records_appended += n;
    log->stats.bytes_appended += size;
    p->bytes_stored += size;
    bk_commit_submit(&log->commit, e, p, cb, arg, base, p->next_offset);
}

int bk_partition_append(bk_partition_t *p, const bk_record_t *recs, uint32_t n,
                        int32_t leader_epoch, bk_append_cb cb, void *arg)
{
    return bk_partition_append_codec(p, recs, n, leader_epoch, BK_CODEC_NONE, cb, arg);
}

/* The fast path: encoded straight into the active segment's pending buffer. */
static int append_now(bk_partition_t *p, const bk_record_t *recs, uint32_t n, int32_t leader_epoch,
                      int64_t now, size_t size, bk_append_cb cb, void *arg)
{
    bk_log_t *log = p->log;
    if (bk_epochs_reserve(&p->epochs, 1) < 0) /* so that noting the epoch cannot fail */
        return UV_ENOMEM;
    bk_pending_t *e = bk_commit_reserve(&log->commit);
    if (!e)
        return UV_ENOMEM;
    uint8_t *buf = NULL;
    int rc;
    if ((rc = maybe_roll(p, size, n)) == 0 && (buf = bk_segment_reserve(active(p), size, &rc)))
        rc = bk_batch_encode(buf, size, p->next_offset, leader_epoch, recs, n, now);
    if (rc < 0) {
        bk_commit_release(&log->commit, e);
        return rc;
    }
    p->bytes_raw += size;
    append_encoded(p, e, buf, size, n, leader_epoch, cb, arg);
    return 0;
}

/* ---- staged appends: compressed on the threadpool, appended in arrival order ----
 * An append with a codec is encoded on the loop (its records are the caller's only during
 * the call), compressed by a threadpool job, and appended when it is the oldest staged append
 * of its partition. An append without a codec that arrives while others are staged waits
 * behind them, so appends reach the log in the order they were made, whatever the codecs. A
 * staged append counts as a log job (close waits for it) and keeps its partition from being
 * freed; the partition refuses truncation and replicated appends meanwhile (UV_EBUSY). */
typedef struct bk_staged {
    uv_work_t work;
    struct bk_staged *next;
    bk_partition_t *p;
    int codec;
    uint8_t *batch; /* the uncompressed batch, then (job done) what is appended */
    size_t len, raw_len;
    uint32_t n;
    int32_t leader_epoch;
    int status; /* the compression's outcome */
    int ready;  /* the job ended (or there was none) */
    bk_append_cb cb;
    void *arg;
} bk_staged_t;

static void work_compress(uv_work_t *req)
{
    bk_staged_t *sa = req->data;
    uint8_t *out;
    size_t len;
    sa->status = bk_batch_compress((bk_codec_t)sa->codec, sa->batch, sa->len, &out, &len);
    if (sa->status == 0) {
        free(sa->batch);
        sa->batch = out;
        sa->len = len;
    }
}

/* Appends a staged batch whose turn came; reports a failure through its callback. */
static void append_staged(bk_partition_t *p, bk_staged_t *sa)
{
    bk_log_t *log = p->log;
    bk_pending_t *e = NULL;
    int rc = sa->status;
    uint8_t *buf = NULL;
    if (rc == 0)
        rc = bk_partition_writable(p);
    if (rc == 0 && p->next_offset > INT64_MAX - (int64_t)sa->n)
        rc = BK_ERANGE;
    if (rc == 0 && bk_epochs_reserve(&p->epochs, 1) < 0)
        rc = UV_ENOMEM;
    if (rc == 0 && !(e = bk_commit_reserve(&log->commit)))
        rc = UV_ENOMEM;
    if (rc == 0 && (rc = maybe_roll(p, sa->len, sa->n)) == 0)
        buf = bk_segment_reserve(active(p), sa->len, &rc);
    if (rc == 0 && buf) {
        memcpy(buf, sa->batch, sa->len);
        bk_be64_put(buf + BK_BATCH_OFF_BASE_OFFSET, (uint64_t)p->next_offset);
        bk_be32_put(buf + BK_BATCH_OFF_LEADER_EPOCH, (uint32_t)sa->leader_epoch);
        p->bytes_raw += sa->raw_len;
        append_encoded(p, e, buf, sa->len, sa->n, sa->leader_epoch, sa->cb, sa->arg);
        return;
    }
    if (e)
        bk_commit_release(&log->commit, e);
    if (sa->cb)
        sa->cb(sa->arg, rc ? rc : UV_ENOMEM, -1);
}

/* Appends every staged batch at the head of p's queue whose job has ended. Callbacks of
 * failed ones may append again (behind the queue) or delete the topic: p stays valid while
 * any staged append, including the one being handled, is counted. */
static void drain_staged(bk_partition_t *p)
{
    while (p->stage_head && p->stage_head->ready) {
        bk_staged_t *sa = p->stage_head;
        p->stage_head = sa->next;
        if (!p->stage_head)
            p->stage_tail = NULL;
        append_staged(p, sa);
        p->staged--;
        free(sa->batch);
        free(sa);
    }
}

static void after_compress(uv_work_t *req, int status)
{
    bk_staged_t *sa = req->data;
    bk_partition_t *p = sa->p;
    bk_log_t *log = p->log;
    if (status < 0 && sa->status == 0)
        sa->status = status;
    sa->ready = 1;
    p->staged++; /* held across the drain, so that p outlives it */
    drain_staged(p);
    p->staged--;
    bk_log_job_done(log); /* may free a deleted topic whose last staged append this was */
}

static int stage(bk_partition_t *p, const bk_record_t *recs, uint32_t n, int32_t leader_epoch,
                 int codec, int64_t now, size_t size, bk_append_cb cb, void *arg)
{
    bk_staged_t *sa = calloc(1, sizeof *sa);
    uint8_t *batch = malloc(size);
    int rc = sa && batch ? bk_batch_encode(batch, size, 0, leader_epoch, recs, n, now) : UV_ENOMEM;
    if (rc < 0) {
        free(batch);
        free(sa);
        return rc;
    }
    *sa = (bk_staged_t){.p = p,
                        .codec = codec,
                        .batch = batch,
                        .len = size,
                        .raw_len = size,
                        .n = n,
                        .leader_epoch = leader_epoch,
                        .cb = cb,
                        .arg = arg};
    sa->work.data = sa;
    sa->ready = codec == BK_CODEC_NONE;
    if (!sa->ready &&
        (rc = uv_queue_work(p->log->loop, &sa->work, work_compress, after_compress)) < 0) {
        free(batch);
        free(sa);
        return rc;
    }
    if (!sa->ready)
        p->log->jobs++;
    if (p->stage_tail)
        p->stage_tail->next = sa;
    else
        p->stage_head = sa;
    p->stage_tail = sa;
    p->staged++;
    return 0;
}

int bk_partition_append_codec(bk_partition_t *p, const bk_record_t *recs, uint32_t n,
                              int32_t leader_epoch, int codec, bk_append_cb cb, void *arg)
{
    if (codec < 0 || codec >= BK_CODEC_COUNT)
        return BK_EINVAL;
    int64_t now = bk_wall_ms();
    size_t size;
    int rc = check_append(p, recs, n, now, &size);
    if (rc < 0)
        return rc;
    if (codec == BK_CODEC_NONE && !p->stage_head)
        return append_now(p, recs, n, leader_epoch, now, size, cb, arg);
    return stage(p, recs, n, leader_epoch, codec, now, size, cb, arg);
}

void bk_partition_compression_stats(const bk_partition_t *p, uint64_t *raw, uint64_t *stored)
{
    *raw = p->bytes_raw;
    *stored = p->bytes_stored;
}

/* ---- retention ---- */

/* Deletes detached segments, oldest first, on the threadpool. The directory is synced after
 * each one so that a crash can only bring back a prefix of them, never leave a gap. */
typedef struct {
    uv_work_t work;
    bk_partition_t *p;
    const bk_log_io_t *io;
    int dir_fd;
    size_t n;
    bk_segment_t *segs[];
} retention_job_t;

static void work_delete(uv_work_t *req)
{
    retention_job_t *job = req->data;
    for (size_t i = 0; i < job->n; i++) {
        int64_t base = job->segs[i]->base;
        bk_segment_free(job->io, job->segs[i]);
        int rc = bk_segment_remove_at(job->io, job->dir_fd, base);
        if (rc == 0)
            rc = job->io->fsync(job->dir_fd);
        if (rc < 0 && rc != UV_ENOENT)
            bk_trace_warn("log", "retention: cannot delete segment %020" PRId64 ": %s", base,
                          bk_strerror(rc));
    }
}

static void after_delete(uv_work_t *req, int status)
{
    (void)status; /* the work always ran: nothing cancels it */
    retention_job_t *job = req->data;
    bk_partition_t *p = job->p;
    p->retention_busy = 0;
    free(job);
    bk_log_job_done(p->log);
}

static size_t plan(const bk_partition_t *p, int64_t now_ms)
{
    const bk_topic_config_t *cfg = &p->topic->cfg;
    size_t n = p->nseg - 1, k = 0;
    if (cfg->retention_ms < 0 && cfg->retention_bytes < 0)
        return 0;
    if (cfg->cleanup_policy == BK_CLEANUP_COMPACT) /* compact alone: no deletion by age/size */
        return 0;
    bk_retention_seg_t *info = malloc(n * sizeof *info);
    if (!info)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const bk_segment_t *s = p->segs[i];
        info[i] = (bk_retention_seg_t){s->max_ts, s->size, !bk_segment_settled(s), s->next};
    }
    k = bk_retention_plan(info, n, p->size_bytes, now_ms, cfg->retention_ms, cfg->retention_bytes,
                          bk_partition_committed(p));
    free(info);
    return k;
}

size_t bk_partition_retention(bk_partition_t *p, int64_t now_ms)
{
    bk_log_t *log = p->log;
    /* A flush round may run: it only touches unsettled segments, which the plan keeps. */
    if (p->failed || p->retention_busy || p->deleted || p->nseg < 2 || log->closing ||
        p->cleaning) /* a cleaning reads and replaces the sealed segments: next time */
        return 0;
    size_t k = plan(p, now_ms);
    retention_job_t *job = k ? malloc(sizeof *job + k * sizeof job->segs[0]) : NULL;
    if (!job)
        return 0;
    job->p = p;
    job->io = log->io;
    job->dir_fd = p->dir_fd;
    job->n = k;
    job->work.data = job;
    for (size_t i = 0; i < k; i++) {
        job->segs[i] = p->segs[i];
        p->size_bytes -= p->segs[i]->size;
    }
    memmove(p->segs, p->segs + k, (p->nseg - k) * sizeof *p->segs);
    p->nseg -= k;
    bk_epochs_trim(&p->epochs, p->segs[0]->base, p->next_offset);
    log->stats.segments_deleted += k;
    bk_trace_info("log", "%s: retention deletes %zu segment(s); start offset now %" PRId64, p->dir,
                  k, p->segs[0]->base);
    p->retention_busy = 1;
    log->jobs++;
    if (uv_queue_work(log->loop, &job->work, work_delete, after_delete) != 0) {
        work_delete(&job->work); /* cannot happen with a valid loop; do it here then */
        after_delete(&job->work, 0);
    }
    return k;
}

int bk_partition_idle(const bk_partition_t *p)
{
    return !p->retention_busy && !p->staged && !p->cleaning && bk_commit_idle(&p->log->commit, p);
}

/* ---- read ---- */

typedef struct {
    int64_t offset, hw;
    uint32_t max_records;
    size_t max_bytes;
    bk_read_visit_fn visit;
    void *arg;
    int count;
    size_t bytes;
    int64_t next;
    bk_codec_buf_t *scratch; /* decompressed records of the current batch */
    int64_t bad_batch;       /* base offset of a batch whose records do not decode */
    int full; /* stopped by a limit or the visitor, not by reaching the high watermark */
} read_state_t;

size_t bk_partition_find_segment(const bk_partition_t *p, int64_t offset)
{
    size_t lo = 0, hi = p->nseg;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->segs[mid]->base <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? lo - 1 : 0;
}

/* Decompressed records of the batch a read is in. Reads run on the loop, one at a time
 * unless a visitor reads again (that nested read gets its own buffer); the buffer is kept
 * between reads unless a large batch grew it. */
#define INFLATE_KEEP_BYTES ((size_t)1 << 20)
static bk_codec_buf_t inflate_buf;
static int inflate_busy;

static int visit_batch(void *arg, const uint8_t *batch, const bk_batch_header_t *h)
{
    read_state_t *st = arg;
    bk_batch_iter_t it;
    bk_record_view_t v;
    const uint8_t *records;
    size_t len;
    int rc = bk_batch_records(batch, h, st->scratch, &records, &len);
    if (rc < 0) {
        st->bad_batch = h->base_offset;
        return rc;
    }
    bk_batch_iter_init_records(&it, records, len, h);
    while ((rc = bk_batch_iter_next(&it, &v)) == 1) {
        if (v.offset < st->offset)
            continue;
        if (v.offset >= st->hw)
            return 1;
        size_t sz = (v.key_len > 0 ? (size_t)v.key_len : 0) +
                    (v.value_len > 0 ? (size_t)v.value_len : 0) + v.headers_len;
        if (st->count > 0 && st->max_bytes && st->bytes + sz > st->max_bytes)
            return st->full = 1;
        st->count++;
        st->bytes += sz;
        st->next = v.offset + 1;
        if (st->visit(st->arg, &v) != 0 ||
            (st->max_records && (uint32_t)st->count >= st->max_records))
            return st->full = 1;
    }
    if (rc < 0)
        st->bad_batch = h->base_offset;
    return rc;
}

static int before_hw(void *arg, const bk_batch_header_t *h)
{
    const read_state_t *st = arg;
    return h->base_offset >= st->hw;
}

bk_reader_t *bk_partition_reader_begin(bk_partition_t *p, bk_reader_t *own)
{
    /* The shared window serves every read; a read nested inside a visitor gets its own. */
    bk_log_t *log = p->log;
    *own = (bk_reader_t){.chunk = READ_CHUNK, .fd = -1};
    bk_reader_t *r = log->reader_busy ? own : &log->reader;
    log->reader_busy = 1;
    r->fd = -1; /* the file under a window may have changed since: never trust it */
    return r;
}

void bk_partition_reader_end(bk_partition_t *p, bk_reader_t *r, bk_reader_t *own)
{
    if (r != own)
        p->log->reader_busy = 0;
    free(own->buf);
}

/* Whether the header h, read at a position whose batch should start at offset expect (-1:
 * not known), can be trusted for the walk: parsed, and following the batch before it. */
static int header_fits(int rc, const bk_batch_header_t *h, int64_t expect)
{
    if (rc < 0)
        return rc;
    return expect >= 0 && h->base_offset != expect ? BK_ECORRUPT : 0;
}

/* The check of a whole batch read by walk w: in full (CRC, codec, records), or for a walk of
 * batches verified when appended or found at open, only that the codec is one Brook knows. */
static int batch_fits(const bk_batch_walk_t *w, const uint8_t *b, size_t total,
                      bk_batch_header_t *h)
{
    if (!w->headers_only)
        return bk_batch_verify(b, total, h);
    return bk_batch_codec(h) < BK_CODEC_COUNT ? 0 : BK_ECORRUPT;
}

/* Walks one segment from pos; 1 when the walk must stop, < 0 on error. */
static int walk_segment(bk_partition_t *p, bk_reader_t *r, size_t si, uint64_t pos, int64_t offset,
                        const bk_batch_walk_t *w)
{
    const bk_log_io_t *io = p->log->io;
    int64_t expect = pos == 0 ? p->segs[si]->base : -1;
    for (;;) {
        bk_segment_t *s = p->segs[si]; /* re-read: a visitor may append and roll */
        if (pos >= s->written)
            return 0;
        const uint8_t *b;
        bk_batch_header_t h;
        int rc = bk_reader_get(io, r, s->fd, pos, BK_BATCH_HEADER_SIZE, s->written, &b);
        if (rc == 0)
            rc = header_fits(bk_batch_header_parse(b, BK_BATCH_HEADER_SIZE, &h), &h, expect);
        size_t total = rc == 0 ? bk_batch_total(&h) : 0;
        int decided = rc == 0 && bk_batch_end(&h) > offset ? w->check(w->arg, &h) : BK_WALK_SKIP;
        if (decided == 1)
            return 1;
        if (decided == 0) {
            rc = bk_reader_get(io, r, s->fd, pos, total, s->written, &b);
            if (rc == 0)
                rc = batch_fits(w, b, total, &h);
            if (rc == 0)
                rc = w->use(w->arg, b, &h);
        }
        if (rc < 0) {
            bk_trace_error("log",
                           "%s/%020" PRId64 ".log: unreadable batch at position %" PRIu64 ": %s",
                           p->dir, s->base, pos, bk_strerror(rc));
            return rc;
        }
        if (rc == 1)
            return 1;
        pos += total;
        expect = bk_batch_end(&h);
    }
}

int bk_partition_walk(bk_partition_t *p, int64_t offset, const bk_batch_walk_t *w)
{
    bk_reader_t own;
    bk_reader_t *r = bk_partition_reader_begin(p, &own);
    int rc = 0;
    size_t si = bk_partition_find_segment(p, offset);
    uint64_t pos = bk_segment_lookup(p->segs[si], offset);
    for (; rc == 0 && si < p->nseg; si++, pos = 0)
        rc = walk_segment(p, r, si, pos, offset, w);
    bk_partition_reader_end(p, r, &own);
    return rc < 0 ? rc : 0;
}

int bk_partition_read(bk_partition_t *p, int64_t offset, uint32_t max_records, size_t max_bytes,
                      bk_read_visit_fn visit, void *arg, int64_t *next_offset)
{
    return bk_partition_read_to(p, offset, p->hw, max_records, max_bytes, visit, arg, next_offset);
}

int bk_partition_read_to(bk_partition_t *p, int64_t offset, int64_t limit, uint32_t max_records,
                         size_t max_bytes, bk_read_visit_fn visit, void *arg, int64_t *next_offset)
{
    *next_offset = offset;
    if (offset < bk_partition_start_offset(p) || offset > p->hw)
        return BK_ERANGE;
    if (limit > p->hw)
        limit = p->hw;
    if (offset >= limit)
        return 0;
    bk_codec_buf_t own = {0};
    int nested = inflate_busy;
    inflate_busy = 1;
    read_state_t st = {offset, limit, max_records, max_bytes, visit,
                       arg,    0,     0,           offset,    nested ? &own : &inflate_buf,
                       -1,     0};
    bk_batch_walk_t w = {before_hw, visit_batch, &st, 0};
    int rc = bk_partition_walk(p, offset, &w);
    if (!nested) {
        inflate_busy = 0;
        if (inflate_buf.cap > INFLATE_KEEP_BYTES)
            bk_codec_buf_free(&inflate_buf);
    }
    bk_codec_buf_free(&own);
    if (rc < 0) {
        *next_offset = st.count > 0 ? st.next : offset;
        if (st.count > 0)
            return st.count; /* the records before a bad batch; the next read meets it */
        if (st.bad_batch >= 0)
            bk_trace_error("log", "%s: batch at offset %" PRId64 " %s", p->dir, st.bad_batch,
                           rc == BK_ETOOBIG ? "decompresses past 64 MiB, the largest batch"
                                            : "holds records that do not decode");
        return rc;
    }
    /* A read that reached its limit continues there, past any offsets compaction removed
     * after its last record (else a reader would ask for that gap forever). */
    *next_offset = st.full ? st.next : limit;
    return rc < 0 ? rc : st.count;
}

/* ---- accessors ---- */

void bk_log_use_replicated_hw(bk_log_t *log)
{
    log->replicated_hw = 1;
}

void bk_partition_set_committed(bk_partition_t *p, int64_t hw)
{
    p->committed = hw < p->next_offset ? hw : p->next_offset;
}

int64_t bk_partition_committed(const bk_partition_t *p)
{
    if (!p->log->replicated_hw)
        return p->hw;
    int64_t start = bk_partition_start_offset(p);
    return p->committed > start ? p->committed : start;
}

int64_t bk_partition_start_offset(const bk_partition_t *p)
{
    return p->segs[0]->base;
}

int64_t bk_partition_end_offset(const bk_partition_t *p)
{
    return p->next_offset;
}

int64_t bk_partition_high_watermark(const bk_partition_t *p)
{
    return p->hw;
}

uint64_t bk_partition_size_bytes(const bk_partition_t *p)
{
    return p->size_bytes;
}

uint32_t bk_partition_index(const bk_partition_t *p)
{
    return p->index;
}

bk_topic_t *bk_partition_topic(bk_partition_t *p)
{
    return p->topic;
}
