/* Segment files: create, the pending and in-flight write buffers of appends, verify on open,
 * and the sparse index beside each .log (the format is written down in format.c). This file
 * must never let a torn batch stay in front of later data: a failed write is cut back, a bad
 * tail found at open is truncated, and a bad sealed segment is refused rather than silently
 * shortened. */
#include "log/segment.h"

#include "brook/common.h"
#include "log/format.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#define SCAN_CHUNK ((size_t)1 << 20)
#define PATH_CAP 4096
#define WBUF_KEEP ((size_t)4 << 20)        /* larger write buffers are freed once written */
#define ZERO_MAX_WRITE ((size_t)64 << 10)  /* rounds writing more than this just extend */
#define ZERO_MIN_STEP ((uint64_t)64 << 10) /* smallest preallocation step */

void bk_segment_path(char *buf, size_t cap, const char *dir, int64_t base, const char *ext)
{
    snprintf(buf, cap, "%s/%020" PRId64 "%s", dir, base, ext);
}

static bk_segment_t *segment_new(int64_t base)
{
    bk_segment_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->base = base;
    s->next = base;
    s->fd = -1;
    s->index_fd = -1;
    s->max_ts = -1;
    s->tomb_due = -1;
    return s;
}

static void wbuf_free(bk_wbuf_t *b)
{
    free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
}

/* Room for len more bytes at the end of b. */
static int wbuf_reserve(bk_wbuf_t *b, size_t len)
{
    return bk_grow(&b->buf, &b->cap, b->len, len, 1, 4096);
}

/* An emptied buffer keeps its memory for the next round unless a burst made it huge. */
static void wbuf_reset(bk_wbuf_t *b)
{
    b->len = 0;
    if (b->cap > WBUF_KEEP)
        wbuf_free(b);
}

static void wbuf_swap(bk_wbuf_t *a, bk_wbuf_t *b)
{
    bk_wbuf_t t = *a;
    *a = *b;
    *b = t;
}

void bk_segment_free(const bk_log_io_t *io, bk_segment_t *s)
{
    if (!s)
        return;
    bk_io_close(io, s->fd);
    bk_io_close(io, s->index_fd);
    free(s->index);
    wbuf_free(&s->pend);
    wbuf_free(&s->inflight);
    wbuf_free(&s->ipend);
    wbuf_free(&s->iinflight);
    free(s);
}

void bk_segment_seal(bk_segment_t *s)
{
    s->sealed = 1;
}

void bk_segment_tidy(const bk_log_io_t *io, bk_segment_t *s)
{
    if (!s->sealed || s->index_fd < 0 || s->ipend.len || s->iinflight.len)
        return;
    bk_io_close(io, s->index_fd);
    s->index_fd = -1;
}

int bk_segment_needs_trim(const bk_segment_t *s)
{
    return s->sealed && s->file_size > s->size;
}

int bk_segment_settled(const bk_segment_t *s)
{
    return !s->pend.len && !s->inflight.len && !s->ipend.len && !s->iinflight.len && !s->unsynced &&
           !s->syncing && !bk_segment_needs_trim(s);
}

uint64_t bk_segment_zero_ahead(const bk_segment_t *s, uint64_t off, size_t len, uint64_t chunk,
                               uint64_t limit)
{
    uint64_t end = off + len;
    if (!chunk || s->sealed || end <= s->file_size || len > ZERO_MAX_WRITE)
        return 0;
    /* Sized by the partition's pace: 256 rounds like this one, at least 64 KiB, at most chunk,
     * so a quiet partition does not hold a megabyte of zeros. A round that extends the file
     * commits the size change (on ext4 a journal commit): with 16 rounds' worth ~9% of the
     * bench's rounds did, each 1-2.5 ms instead of < 1 ms; with 256 about one in 200. */
    uint64_t step = (uint64_t)len * 256;
    if (step < ZERO_MIN_STEP)
        step = ZERO_MIN_STEP;
    if (step > chunk)
        step = chunk;
    uint64_t to = (end / step + 1) * step;
    if (to > limit)
        to = limit;
    return to > end ? to : 0;
}

int bk_segment_write_zeros(const bk_log_io_t *io, int fd, uint64_t from, uint64_t to)
{
    static const uint8_t zeros[ZERO_MAX_WRITE];
    while (from < to) {
        size_t n = to - from < sizeof zeros ? (size_t)(to - from) : sizeof zeros;
        int rc = bk_io_pwrite_all(io, fd, zeros, n, (int64_t)from);
        if (rc < 0)
            return rc;
        from += n;
    }
    return 0;
}

int bk_segment_remove(const bk_log_io_t *io, const char *dir, int64_t base)
{
    char path[PATH_CAP];
    bk_segment_path(path, sizeof path, dir, base, ".index");
    int rc = io->unlink(path);
    if (rc < 0 && rc != UV_ENOENT)
        return rc;
    bk_segment_path(path, sizeof path, dir, base, ".log");
    return io->unlink(path);
}

int bk_segment_remove_at(const bk_log_io_t *io, int dirfd, int64_t base)
{
    char name[64];
    snprintf(name, sizeof name, "%020" PRId64 ".index", base);
    int rc = io->unlinkat(dirfd, name);
    if (rc < 0 && rc != UV_ENOENT)
        return rc;
    snprintf(name, sizeof name, "%020" PRId64 ".log", base);
    return io->unlinkat(dirfd, name);
}

int bk_segment_create(const bk_log_io_t *io, const char *dir, int64_t base, bk_segment_t **out)
{
    char path[PATH_CAP];
    bk_segment_t *s = segment_new(base);
    if (!s)
        return UV_ENOMEM;
    bk_segment_path(path, sizeof path, dir, base, ".log");
    int rc = s->fd = io->open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (rc < 0)
        goto err;
    bk_segment_path(path, sizeof path, dir, base, ".index");
    rc = s->index_fd = io->open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (rc < 0)
        goto err_after_log;
    *out = s;
    return 0;

err_after_log:
    bk_segment_path(path, sizeof path, dir, base, ".log");
    bk_io_close(io, s->fd);
    s->fd = -1;
    (void)io->unlink(path); /* best effort: an empty stray .log is harmless at open */
err:
    bk_segment_free(io, s);
    bk_trace_warn("log", "cannot create segment %020" PRId64 " in %s: %s", base, dir,
                  bk_strerror(rc));
    return rc;
}

static int index_add(bk_segment_t *s, int64_t batch_base, uint64_t pos)
{
    int rc = bk_grow(&s->index, &s->index_cap, s->nindex, 1, sizeof *s->index, 64);
    if (rc != 0)
        return rc;
    s->index[s->nindex].rel = (uint32_t)(batch_base - s->base);
    s->index[s->nindex].pos = (uint32_t)pos;
    s->nindex++;
    s->since_index = 0;
    return 0;
}

/* Applies the sparse-index rule for a batch about to sit at pos: 1 when it got an entry. */
static int index_maybe(bk_segment_t *s, int64_t batch_base, uint64_t pos, uint32_t interval,
                       int *rc)
{
    *rc = 0;
    if (pos == 0 || s->since_index < interval)
        return 0;
    *rc = index_add(s, batch_base, pos);
    return *rc == 0;
}

static void index_entry_bytes(const bk_index_entry_t *e, uint8_t out[BK_INDEX_ENTRY_SIZE])
{
    bk_be32_put(out, e->rel);
    bk_be32_put(out + 4, e->pos);
}

uint8_t *bk_segment_reserve(bk_segment_t *s, size_t len, int *err)
{
    *err = 0;
    if (s->size + len > UINT32_MAX) {
        *err = BK_ETOOBIG;
        return NULL;
    }
    if ((*err = wbuf_reserve(&s->pend, len)) < 0)
        return NULL;
    return s->pend.buf + s->pend.len;
}

void bk_segment_commit(bk_segment_t *s, size_t len, int64_t base, int64_t end, int64_t max_ts,
                       uint32_t index_interval)
{
    int rc;
    if (index_maybe(s, base, s->size, index_interval, &rc) &&
        wbuf_reserve(&s->ipend, BK_INDEX_ENTRY_SIZE) == 0) {
        index_entry_bytes(&s->index[s->nindex - 1], s->ipend.buf + s->ipend.len);
        s->ipend.len += BK_INDEX_ENTRY_SIZE;
    }
    /* Out of memory for an index entry only makes lookups scan further; a missing entry in
     * the file makes the next open rebuild it. */
    s->pend.len += len;
    s->since_index += len;
    s->size += len;
    s->next = end;
    if (max_ts > s->max_ts)
        s->max_ts = max_ts;
}

/* Index entries are derived data, rebuilt at open if stale: a failed write costs nothing. */
static void write_index(const bk_log_io_t *io, bk_segment_t *s, const bk_wbuf_t *b, uint64_t at)
{
    if (b->len && s->index_fd >= 0 &&
        bk_io_pwrite_all(io, s->index_fd, b->buf, b->len, (int64_t)at) < 0)
        bk_trace_debug("log", "index write failed; it will be rebuilt at open");
}

int bk_segment_write_pending(const bk_log_io_t *io, bk_segment_t *s)
{
    int rc = 0;
    if (s->pend.len) {
        rc = bk_io_pwrite_all(io, s->fd, s->pend.buf, s->pend.len, (int64_t)s->written);
        if (rc < 0) {
            int trc = io->ftruncate(s->fd, (int64_t)s->written);
            if (trc < 0)
                bk_trace_error("log", "cannot undo a failed write (%s): %s", bk_strerror(rc),
                               bk_strerror(trc));
            else
                s->file_size = s->written;
            bk_segment_discard(s);
            return rc;
        }
        s->written += s->pend.len;
        if (s->written > s->file_size)
            s->file_size = s->written;
        s->unsynced = 1;
        wbuf_reset(&s->pend);
    }
    write_index(io, s, &s->ipend, s->index_end);
    s->index_end += s->ipend.len;
    wbuf_reset(&s->ipend);
    return 0;
}

void bk_segment_take(bk_segment_t *s, uint64_t *index_at)
{
    wbuf_swap(&s->pend, &s->inflight);
    wbuf_swap(&s->ipend, &s->iinflight);
    *index_at = s->index_end;
    s->index_end += s->iinflight.len;
}

void bk_segment_took(bk_segment_t *s, int ok)
{
    if (ok)
        s->written += s->inflight.len;
    if (s->written > s->file_size)
        s->file_size = s->written;
    wbuf_reset(&s->inflight);
    wbuf_reset(&s->iinflight);
}

void bk_segment_discard(bk_segment_t *s)
{
    wbuf_reset(&s->pend);
    wbuf_reset(&s->ipend);
}

uint64_t bk_segment_lookup(const bk_segment_t *s, int64_t offset)
{
    if (offset <= s->base || s->nindex == 0)
        return 0;
    uint64_t rel = (uint64_t)(offset - s->base);
    size_t lo = 0, hi = s->nindex; /* first entry with rel > target */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->index[mid].rel <= rel)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? 0 : s->index[lo - 1].pos;
}

int bk_reader_get(const bk_log_io_t *io, bk_reader_t *r, int fd, uint64_t pos, size_t need,
                  uint64_t limit, const uint8_t **out)
{
    if (pos > limit || need > limit - pos)
        return BK_ECORRUPT;
    if (r->fd == fd && pos >= r->start && pos + need <= r->start + r->len) {
        *out = r->buf + (pos - r->start);
        return 0;
    }
    size_t want = need > r->chunk ? need : r->chunk;
    if (want > limit - pos)
        want = (size_t)(limit - pos);
    if (want > r->cap) {
        uint8_t *n = realloc(r->buf, want);
        if (!n)
            return UV_ENOMEM;
        r->buf = n;
        r->cap = want;
    }
    r->fd = -1;
    int64_t got = bk_io_pread_all(io, fd, r->buf, want, (int64_t)pos);
    if (got < 0)
        return (int)got;
    if ((size_t)got < need)
        return BK_ECORRUPT;
    r->fd = fd;
    r->start = pos;
    r->len = (size_t)got;
    *out = r->buf;
    return 0;
}

/* Why the batch at a position is not acceptable, or NULL when it is. */
static const char *check_batch(const bk_log_io_t *io, bk_reader_t *r, bk_segment_t *s, uint64_t pos,
                               uint64_t file_size, size_t *total, int32_t *epoch, int64_t *base,
                               int *err)
{
    const uint8_t *p;
    bk_batch_header_t h;
    *err = 0;
    if (file_size - pos < BK_BATCH_HEADER_SIZE)
        return "partial batch header";
    if ((*err = bk_reader_get(io, r, s->fd, pos, BK_BATCH_HEADER_SIZE, file_size, &p)) < 0)
        return "read error";
    if (bk_batch_header_parse(p, BK_BATCH_HEADER_SIZE, &h) < 0)
        return "bad batch header";
    *total = bk_batch_total(&h);
    if (*total > file_size - pos)
        return "batch runs past end of file";
    if ((*err = bk_reader_get(io, r, s->fd, pos, *total, file_size, &p)) < 0)
        return "read error";
    if (bk_batch_verify(p, *total, &h) < 0)
        return "checksum or record structure mismatch";
    if (h.base_offset != s->next)
        return "offset does not follow the previous batch";
    if (pos + *total > UINT32_MAX || bk_batch_end(&h) - s->base > UINT32_MAX)
        return "segment too large for its index";
    s->next = bk_batch_end(&h);
    if (h.max_timestamp > s->max_ts)
        s->max_ts = h.max_timestamp;
    *epoch = h.leader_epoch;
    *base = h.base_offset;
    return NULL;
}

/* 1 when bytes [pos, end) of fd are all zero, 0 when not, or an I/O error. */
static int zeros_to_end(const bk_log_io_t *io, bk_reader_t *r, int fd, uint64_t pos, uint64_t end)
{
    while (pos < end) {
        size_t n = end - pos < SCAN_CHUNK ? (size_t)(end - pos) : SCAN_CHUNK;
        const uint8_t *b;
        int rc = bk_reader_get(io, r, fd, pos, n, end, &b);
        if (rc < 0)
            return rc == BK_ECORRUPT ? 0 : rc;
        if (b[0] != 0 || (n > 1 && memcmp(b, b + 1, n - 1) != 0))
            return 0;
        pos += n;
    }
    return 1;
}

/* Verifies every batch; leaves s->size/next at the end of the last good one and *why set
 * when something after it is bad. Rebuilds s->index on the way and notes the leader epoch of
 * every good batch in epochs (when not NULL). */
static int scan(const bk_log_io_t *io, bk_segment_t *s, uint64_t file_size, uint32_t interval,
                bk_epochs_t *epochs, const char **why)
{
    bk_reader_t r = {.chunk = SCAN_CHUNK, .fd = -1};
    uint64_t pos = 0;
    int rc = 0;
    *why = NULL;
    while (pos < file_size) {
        size_t total = 0;
        int64_t batch_base = -1;
        int32_t epoch = -1;
        *why = check_batch(io, &r, s, pos, file_size, &total, &epoch, &batch_base, &rc);
        if (*why)
            break;
        index_maybe(s, batch_base, pos, interval, &rc);
        if (rc == 0 && epochs)
            rc = bk_epochs_note(epochs, epoch, batch_base);
        if (rc < 0)
            break;
        s->since_index += total;
        pos += total;
    }
    if (*why && rc == 0 && (rc = zeros_to_end(io, &r, s->fd, pos, file_size)) >= 0) {
        if (rc == 1)
            *why = NULL; /* preallocated space, not damage */
        rc = 0;
    }
    free(r.buf);
    s->size = pos;
    return rc;
}

/* Compares the .index file with the entries the scan derived; rewrites it when different. */
static int sync_index(const bk_log_io_t *io, bk_segment_t *s, const char *dir, int keep_open)
{
    char path[PATH_CAP];
    bk_segment_path(path, sizeof path, dir, s->base, ".index");
    int fd = io->open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return fd;
    size_t n = s->nindex * BK_INDEX_ENTRY_SIZE;
    uint8_t *want = malloc(n + 1), *have = malloc(n + 1);
    int rc = want && have ? 0 : UV_ENOMEM;
    for (size_t i = 0; rc == 0 && i < s->nindex; i++)
        index_entry_bytes(&s->index[i], want + i * BK_INDEX_ENTRY_SIZE);
    int64_t got = rc ? 0 : bk_io_pread_all(io, fd, have, n + 1, 0);
    if (rc == 0 && (got != (int64_t)n || memcmp(want, have, n) != 0)) {
        bk_trace_info("log", "%s: rebuilding index (%zu entries)", path, s->nindex);
        rc = io->ftruncate(fd, 0);
        if (rc == 0)
            rc = bk_io_pwrite_all(io, fd, want, n, 0);
    }
    free(want);
    free(have);
    if (rc == 0 && keep_open) {
        s->index_fd = fd;
        return 0;
    }
    int crc = bk_io_close(io, fd);
    return rc ? rc : crc;
}

static int cut_tail(const bk_log_io_t *io, bk_segment_t *s, const char *path, uint64_t file_size,
                    const char *why)
{
    bk_trace_warn("log", "%s: %s at position %" PRIu64 "; truncating %" PRIu64 " bytes of tail",
                  path, why, s->size, file_size - s->size);
    int rc = io->ftruncate(s->fd, (int64_t)s->size);
    if (rc == 0)
        rc = io->fsync(s->fd);
    return rc;
}

int bk_segment_open(const bk_log_io_t *io, const char *dir, int64_t base, int tail,
                    uint32_t index_interval, bk_epochs_t *epochs, bk_segment_t **out)
{
    char path[PATH_CAP];
    struct stat st;
    const char *why;
    bk_segment_t *s = segment_new(base);
    if (!s)
        return UV_ENOMEM;
    bk_segment_path(path, sizeof path, dir, base, ".log");
    int rc = s->fd = io->open(path, O_RDWR | O_CLOEXEC, 0);
    if (rc < 0)
        goto err;
    if (fstat(s->fd, &st) < 0) {
        rc = UV_EIO;
        goto err;
    }
    rc = scan(io, s, (uint64_t)st.st_size, index_interval, epochs, &why);
    if (rc < 0)
        goto err;
    if (why && !tail) {
        bk_trace_error("log", "%s: %s at position %" PRIu64 " of a sealed segment", path, why,
                       s->size);
        rc = BK_ECORRUPT;
        goto err;
    }
    if (why && (rc = cut_tail(io, s, path, (uint64_t)st.st_size, why)) < 0)
        goto err;
    /* Preallocated zeros after the last batch (of the active segment, or of one sealed just
     * before a crash) are cut too, quietly: after open a file holds exactly its batches. */
    if (!why && (uint64_t)st.st_size > s->size) {
        if (!tail)
            bk_trace_info("log", "%s: cutting %" PRIu64 " zero bytes after the last batch", path,
                          (uint64_t)st.st_size - s->size);
        if ((rc = io->ftruncate(s->fd, (int64_t)s->size)) < 0 || (rc = io->fsync(s->fd)) < 0)
            goto err;
    }
    s->file_size = s->size;
    if ((rc = sync_index(io, s, dir, tail)) < 0)
        goto err;
    s->written = s->size;
    s->index_end = s->nindex * BK_INDEX_ENTRY_SIZE;
    *out = s;
    return 0;

err:
    if (rc != BK_ECORRUPT)
        bk_trace_warn("log", "cannot open segment %s: %s", path, bk_strerror(rc));
    bk_segment_free(io, s);
    return rc;
}

int bk_segment_cut_point(const bk_log_io_t *io, bk_reader_t *r, const bk_segment_t *s,
                         int64_t offset, uint64_t *pos, int64_t *cut)
{
    uint64_t at = bk_segment_lookup(s, offset);
    while (at < s->written) {
        const uint8_t *b = NULL;
        bk_batch_header_t h;
        int rc = bk_reader_get(io, r, s->fd, at, BK_BATCH_HEADER_SIZE, s->written, &b);
        if (rc == 0)
            rc = bk_batch_header_parse(b, BK_BATCH_HEADER_SIZE, &h);
        if (rc == 0 && bk_batch_total(&h) > s->written - at)
            rc = BK_ECORRUPT;
        if (rc < 0)
            return rc;
        if (bk_batch_end(&h) > offset) {
            *pos = at;
            *cut = h.base_offset;
            return 0;
        }
        at += bk_batch_total(&h);
    }
    *pos = s->written;
    *cut = s->next;
    return 0;
}

int bk_segment_truncate(const bk_log_io_t *io, const char *dir, bk_segment_t *s, uint64_t pos,
                        int64_t cut)
{
    int rc = io->ftruncate(s->fd, (int64_t)pos);
    if (rc < 0)
        return rc;
    s->file_size = pos;
    rc = io->fsync(s->fd);
    s->unsynced = rc < 0;
    while (s->nindex > 0 && s->index[s->nindex - 1].pos >= pos)
        s->nindex--;
    s->size = s->written = pos;
    s->next = cut;
    s->since_index = pos - (s->nindex ? s->index[s->nindex - 1].pos : 0);
    s->index_end = s->nindex * BK_INDEX_ENTRY_SIZE;
    s->sealed = 0;
    s->clean = 0;
    if (pos == 0)
        s->max_ts = -1;
    /* The index is derived data (checked at open): a failure here costs a rebuild, no more. */
    if (s->index_fd < 0) {
        char path[PATH_CAP];
        bk_segment_path(path, sizeof path, dir, s->base, ".index");
        s->index_fd = io->open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    }
    if (s->index_fd < 0 || io->ftruncate(s->index_fd, (int64_t)s->index_end) < 0)
        bk_trace_debug(
            "log", "%s: cannot cut the index of segment %020" PRId64 "; it will be rebuilt at open",
            dir, s->base);
    return rc;
}
