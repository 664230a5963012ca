/* The log cleaner. A cleaning takes the oldest sealed segments of one compacted partition
 * (never the active one, never one holding a record newer than min.compaction.lag.ms), builds
 * the offset map of their records on the threadpool (pass 1), then rewrites each segment
 * keeping the records the map says survive (pass 2), each through a temp file, fsync, rename
 * over the old .log and fsync of the directory. The loop thread's segment objects are swapped
 * only when the job has ended, on the loop; until then reads keep using the old files' open
 * descriptors (the renamed-over inode lives on while open). It must never change an offset,
 * never leave a segment that ends elsewhere than where it ended, and never let a crash expose
 * a segment that is half written. */
#include "log/cleaner.h"

#include "brook/common.h"
#include "log/compaction.h"
#include "log/format.h"
#include "log/log_internal.h"
#include "log/partition.h"
#include "log/topic.h"
#include "common/crc32c.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEMP_EXT ".log.cleaned"
#define PATH_CAP 4096
#define READ_CHUNK ((size_t)1 << 20)
#define FLUSH_AT ((size_t)1 << 20)
#define MAP_MAX_BYTES ((size_t)128 << 20) /* offset map cap: the range stops at this size */

typedef struct {
    int64_t base;
    int fd;        /* the loop's descriptor: pread is safe from the worker */
    uint64_t size; /* bytes of batches */
} src_seg_t;

typedef struct {
    uv_work_t work;
    bk_partition_t *p;
    const bk_log_io_t *io;
    char *dir;
    int dir_fd;
    uint32_t index_interval;
    int64_t now_ms, delete_retention_ms;
    bk_clean_cb cb;
    void *arg;
    uint64_t seed[4];
    bk_compact_map_t map;
    bk_codec_buf_t scratch; /* decompressed records of a compressed batch */
    bk_codec_buf_t plain;   /* the survivors of a compressed batch, before compressing again */
    bk_reader_t reader;
    int32_t top_epoch; /* largest leader epoch of the batches passed so far (pass 2) */
    int status;
    size_t n;               /* segments taken */
    size_t nall;            /* src entries: the n taken, then the newer ones only read */
    int64_t limit;          /* records at or past it are not noted (the committed offset) */
    size_t done;            /* segments gone through in pass 2 (replaced or left as they were) */
    uint64_t before, after; /* bytes of the segments replaced, before and after */
    uint64_t bytes_read;
    uint64_t started_us;
    src_seg_t *src;     /* [nall] */
    bk_segment_t **out; /* [n]: the reopened cleaned segment, NULL if left as it was */
    int64_t *tomb_due;  /* [n]: when the oldest tombstone kept in it may go, -1 none */
} clean_job_t;

/* ---- leftovers ---- */

int bk_cleaner_discard_temps(const bk_log_io_t *io, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    struct dirent *de;
    char path[PATH_CAP];
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name), e = strlen(TEMP_EXT);
        if (n <= e || strcmp(de->d_name + n - e, TEMP_EXT) != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        bk_trace_warn("log", "%s: discarding a cleaning a crash interrupted", path);
        rc = io->unlink(path);
    }
    if (closedir(d) < 0 && rc == 0)
        rc = -errno;
    return rc;
}

/* ---- reading batches (worker) ---- */

/* Points *b at the verified batch at pos of s; sets *h. */
static int batch_at(clean_job_t *job, const src_seg_t *s, uint64_t pos, const uint8_t **b,
                    bk_batch_header_t *h)
{
    int rc = bk_reader_get(job->io, &job->reader, s->fd, pos, BK_BATCH_HEADER_SIZE, s->size, b);
    if (rc == 0)
        rc = bk_batch_header_parse(*b, BK_BATCH_HEADER_SIZE, h);
    if (rc == 0)
        rc = bk_reader_get(job->io, &job->reader, s->fd, pos, bk_batch_total(h), s->size, b);
    if (rc == 0)
        rc = bk_batch_verify(*b, bk_batch_total(h), h);
    return rc;
}

static void rec_of(const clean_job_t *job, const bk_record_view_t *v, bk_compact_rec_t *r)
{
    r->has_key = v->key_len >= 0;
    r->key = r->has_key ? bk_compact_key_hash(v->key, (size_t)v->key_len, job->seed)
                        : (bk_key_hash_t){0, 0};
    r->tombstone = v->value_len < 0;
    r->offset = v->offset;
    r->timestamp = v->timestamp;
}

/* Pass 1 over one segment: every record into the map. */
static int note_segment(clean_job_t *job, const src_seg_t *s)
{
    for (uint64_t pos = 0; pos < s->size;) {
        const uint8_t *b;
        bk_batch_header_t h;
        int rc = batch_at(job, s, pos, &b, &h);
        bk_batch_iter_t it;
        bk_record_view_t v;
        const uint8_t *recs = NULL;
        size_t rlen = 0;
        if (rc == 0) /* a compressed batch's keys count too: they may supersede older ones */
            rc = bk_batch_records(b, &h, &job->scratch, &recs, &rlen);
        if (rc == 0)
            bk_batch_iter_init_records(&it, recs, rlen, &h);
        while (rc == 0 && (rc = bk_batch_iter_next(&it, &v)) == 1 && v.offset < job->limit) {
            bk_compact_rec_t r;
            rec_of(job, &v, &r);
            rc = bk_compact_map_note(&job->map, &r);
        }
        if (rc < 0)
            return rc;
        if (rc == 1)
            return 0; /* reached the limit */
        pos += bk_batch_total(&h);
        job->bytes_read += bk_batch_total(&h);
    }
    return 0;
}

/* ---- writing a cleaned segment (worker) ---- */

typedef struct {
    int fd;
    uint8_t *buf;
    size_t len, cap;
    uint64_t written;
    size_t last_at; /* where in buf the last batch written starts (it may still grow) */
    int have_last;
} out_t;

static int out_flush(clean_job_t *job, out_t *o)
{
    int rc = bk_io_pwrite_all(job->io, o->fd, o->buf, o->len, (int64_t)o->written);
    if (rc == 0) {
        o->written += o->len;
        o->len = 0;
        o->have_last = 0;
    }
    return rc;
}

/* Room for a new batch of n bytes; what came before it is final, so it may be written. */
static uint8_t *out_batch(clean_job_t *job, out_t *o, size_t n, int *rc)
{
    *rc = 0;
    if (o->len + n > FLUSH_AT && o->len && (*rc = out_flush(job, o)) < 0)
        return NULL;
    if ((*rc = bk_grow(&o->buf, &o->cap, o->len, n, 1, FLUSH_AT)) < 0)
        return NULL;
    uint8_t *p = o->buf + o->len;
    o->last_at = o->len;
    o->have_last = 1;
    o->len += n;
    return p;
}

static void recrc(uint8_t *batch, size_t total)
{
    bk_be32_put(batch + BK_BATCH_OFF_CRC,
                bk_crc32c(batch + BK_BATCH_OFF_ATTRIBUTES, total - BK_BATCH_OFF_ATTRIBUTES));
}

/* A batch dropped whole: the batch before it (still in buf) takes over its offsets through
 * its lastOffsetDelta, so batches stay contiguous on disk. */
static void out_extend(out_t *o, int64_t end)
{
    uint8_t *b = o->buf + o->last_at;
    int64_t base = (int64_t)bk_be64_get(b + BK_BATCH_OFF_BASE_OFFSET);
    bk_be32_put(b + BK_BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)(end - 1 - base));
    recrc(b, o->len - o->last_at);
}

/* Marks which records of a batch survive (keep[i]), walking its records section recs (rlen
 * bytes: in place, or decompressed); returns how many, or an error. *bytes = the kept records'
 * bytes. Lowers *due to the expiry of any tombstone kept. */
static int choose(clean_job_t *job, const bk_batch_header_t *h, const uint8_t *recs, size_t rlen,
                  uint8_t *keep, size_t *bytes, int64_t *due)
{
    bk_batch_iter_t it;
    bk_record_view_t v;
    int rc, kept = 0;
    *bytes = 0;
    bk_batch_iter_init_records(&it, recs, rlen, h);
    const uint8_t *pos = it.pos;
    for (int32_t i = 0; (rc = bk_batch_iter_next(&it, &v)) == 1; pos = it.pos, i++) {
        bk_compact_rec_t r;
        rec_of(job, &v, &r);
        keep[i] = (uint8_t)bk_compact_keep(&job->map, &r, job->now_ms, job->delete_retention_ms);
        kept += keep[i];
        *bytes += keep[i] ? (size_t)(it.pos - pos) : 0;
        if (keep[i] && r.has_key && r.tombstone) {
            int64_t d = r.timestamp + job->delete_retention_ms;
            if (*due < 0 || d < *due)
                *due = d;
        }
    }
    return rc < 0 ? rc : kept;
}

/* Copies the kept records of recs, byte for byte (their offset deltas still count from the
 * batch's base), to dst. */
static void copy_kept(const bk_batch_header_t *h, const uint8_t *recs, size_t rlen,
                      const uint8_t *keep, uint8_t *dst)
{
    bk_batch_iter_t it;
    bk_record_view_t v;
    bk_batch_iter_init_records(&it, recs, rlen, h);
    const uint8_t *pos = it.pos;
    for (int32_t i = 0; bk_batch_iter_next(&it, &v) == 1; pos = it.pos, i++)
        if (keep[i]) {
            memcpy(dst, pos, (size_t)(it.pos - pos));
            dst += it.pos - pos;
        }
}

/* Writes the records of b that keep marks (kept of them, bytes long uncompressed): the header
 * with its baseOffset, lastOffsetDelta, timestamps, epoch and producer fields kept,
 * recordCount and batchLength redone, the CRC recomputed. A compressed batch's survivors are
 * compressed again with its codec (Kafka's cleaner does the same); one left empty is written
 * uncompressed, as there is nothing to compress. */
static int write_part(clean_job_t *job, out_t *o, const uint8_t *b, const bk_batch_header_t *h,
                      const uint8_t *recs, size_t rlen, const uint8_t *keep, int kept, size_t bytes)
{
    int rc, codec = kept ? bk_batch_codec(h) : BK_CODEC_NONE;
    if (codec != BK_CODEC_NONE) {
        rc = bk_grow(&job->plain.data, &job->plain.cap, 0, bytes, 1, FLUSH_AT);
        if (rc < 0)
            return rc;
        copy_kept(h, recs, rlen, keep, job->plain.data);
    }
    size_t room = codec ? bk_codec_compress_bound((bk_codec_t)codec, bytes) : bytes;
    uint8_t *dst = out_batch(job, o, BK_BATCH_HEADER_SIZE + room, &rc);
    if (!dst)
        return rc;
    memcpy(dst, b, BK_BATCH_HEADER_SIZE);
    size_t body = bytes;
    if (codec == BK_CODEC_NONE) {
        copy_kept(h, recs, rlen, keep, dst + BK_BATCH_HEADER_SIZE);
        dst[BK_BATCH_OFF_ATTRIBUTES + 1] &= (uint8_t)~0x07u; /* attributes: low bits, codec */
    } else if ((rc = bk_codec_compress((bk_codec_t)codec, job->plain.data, bytes,
                                       dst + BK_BATCH_HEADER_SIZE, room, &body)) < 0) {
        return rc;
    }
    size_t total = BK_BATCH_HEADER_SIZE + body;
    o->len = o->last_at + total; /* a compressed body is shorter than the room it was given */
    bk_be32_put(dst + BK_BATCH_OFF_LENGTH, (uint32_t)(total - BK_BATCH_LOG_OVERHEAD));
    bk_be32_put(dst + BK_BATCH_OFF_COUNT, (uint32_t)kept);
    recrc(dst, total);
    return 0;
}

/* Whether the last batch in o is an idempotent producer's: its lastOffsetDelta is the end of
 * that producer's sequence range (producer_state.c reads it back after a restart), so it
 * must never take over a dropped batch's offsets. */
static int last_has_producer(const out_t *o)
{
    return o->have_last &&
           (int64_t)bk_be64_get(o->buf + o->last_at + BK_BATCH_OFF_PRODUCER_ID) >= 0;
}

/* One batch into o: whole (as it was, compressed or not) when every record survives, the
 * survivors when some do; when none does it is kept empty if keep_empty or when the batch
 * before it is a producer's, else its offsets go to the batch before it. Sets *changed when
 * the output differs from the input. */
static int filter_batch(clean_job_t *job, out_t *o, const uint8_t *b, const bk_batch_header_t *h,
                        int keep_empty, int *changed, int64_t *due)
{
    size_t total = bk_batch_total(h), rlen, bytes;
    const uint8_t *recs;
    int rc = bk_batch_records(b, h, &job->scratch, &recs, &rlen);
    if (rc < 0)
        return rc;
    uint8_t *keep = malloc(h->count ? (size_t)h->count : 1);
    if (!keep)
        return UV_ENOMEM;
    rc = choose(job, h, recs, rlen, keep, &bytes, due);
    if (rc >= 0 && rc == h->count) {
        uint8_t *dst = out_batch(job, o, total, &rc);
        if (dst)
            memcpy(dst, b, total);
    } else if (rc >= 0 && (rc > 0 || keep_empty || !o->have_last || last_has_producer(o))) {
        *changed = 1;
        rc = write_part(job, o, b, h, recs, rlen, keep, rc, bytes);
    } else if (rc >= 0) {
        *changed = 1;
        out_extend(o, bk_batch_end(h));
        rc = 0;
    }
    free(keep);
    return rc < 0 ? rc : 0;
}

/* Writes the cleaned copy of s into fd; *changed when it differs from s. */
static int write_cleaned(clean_job_t *job, const src_seg_t *s, int fd, int *changed, int64_t *due)
{
    out_t o = {fd, NULL, 0, 0, 0, 0, 0};
    int rc = 0;
    for (uint64_t pos = 0; rc == 0 && pos < s->size;) {
        const uint8_t *b;
        bk_batch_header_t h;
        if ((rc = batch_at(job, s, pos, &b, &h)) < 0)
            break;
        /* Kept even when empty: a segment's first batch (the segment starts at its name), the
         * first batch of each larger leader epoch (the epoch list rebuilt at open stays the
         * same), and an idempotent producer's batch (its header is the producer's sequence
         * range: the state rebuilt after a restart must not lose it). */
        int keep_empty = pos == 0 || h.leader_epoch > job->top_epoch || h.producer_id >= 0;
        if (h.leader_epoch > job->top_epoch)
            job->top_epoch = h.leader_epoch;
        pos += bk_batch_total(&h);
        rc = filter_batch(job, &o, b, &h, keep_empty, changed, due);
    }
    if (rc == 0 && *changed && o.len)
        rc = out_flush(job, &o);
    free(o.buf);
    return rc;
}

/* Pass 2 for segment i: temp file, fsync, rename over the .log, fsync the directory, reopen. */
static int clean_segment(clean_job_t *job, size_t i)
{
    const src_seg_t *s = &job->src[i];
    char tmp[PATH_CAP], final[PATH_CAP];
    bk_segment_path(tmp, sizeof tmp, job->dir, s->base, TEMP_EXT);
    bk_segment_path(final, sizeof final, job->dir, s->base, ".log");
    int fd = job->io->open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return fd;
    int changed = 0;
    int rc = write_cleaned(job, s, fd, &changed, &job->tomb_due[i]);
    if (rc == 0 && changed)
        rc = job->io->fsync(fd);
    int crc = bk_io_close(job->io, fd);
    rc = rc ? rc : crc;
    if (rc < 0 || !changed) {
        int urc = job->io->unlink(tmp); /* a crash here leaves it to the next open */
        if (urc < 0 && rc == 0)
            rc = urc;
        return rc;
    }
    if ((rc = job->io->rename(tmp, final)) < 0 || (rc = job->io->fsync(job->dir_fd)) < 0)
        return rc;
    rc = bk_segment_open(job->io, job->dir, s->base, 0, job->index_interval, NULL, &job->out[i]);
    if (rc == 0) {
        job->before += s->size;
        job->after += job->out[i]->size;
    }
    return rc;
}

static void work_clean(uv_work_t *req)
{
    clean_job_t *job = req->data;
    int rc = 0;
    size_t noted = 0;
    /* The map covers the segments taken and then the newer ones (the active one included) up
     * to the committed offset: a newer value anywhere there makes an older one obsolete. */
    while (rc == 0 && noted < job->nall) {
        rc = note_segment(job, &job->src[noted++]);
        if (bk_compact_map_bytes(&job->map) > MAP_MAX_BYTES)
            break; /* the map covers these: clean them, the rest next time */
    }
    if (noted < job->n)
        job->n = noted;
    for (size_t i = 0; rc == 0 && i < job->n; i++) {
        job->tomb_due[i] = -1;
        if ((rc = clean_segment(job, i)) == 0)
            job->done = i + 1;
    }
    job->status = rc;
}

/* ---- the loop side ---- */

static void job_free(clean_job_t *job)
{
    for (size_t i = 0; job->out && i < job->n; i++)
        bk_segment_free(job->io, job->out[i]);
    bk_compact_map_free(&job->map);
    bk_codec_buf_free(&job->scratch);
    bk_codec_buf_free(&job->plain);
    free(job->reader.buf);
    free(job->dir);
    free(job->src);
    free(job->out);
    free(job->tomb_due);
    free(job);
}

/* Segments a cleaning replaced, freed on the threadpool: closing the last descriptor of a
 * renamed-over file makes the kernel free its blocks inside close(), 5-20 ms for a 16 MiB
 * segment (measured with perf trace), which on the loop stalled every connection. */
typedef struct {
    uv_work_t work;
    bk_log_t *log;
    size_t n;
    bk_segment_t *segs[];
} release_job_t;

static void work_release(uv_work_t *req)
{
    release_job_t *job = req->data;
    for (size_t i = 0; i < job->n; i++)
        bk_segment_free(job->log->io, job->segs[i]);
}

static void after_release(uv_work_t *req, int status)
{
    (void)status; /* nothing cancels the work */
    release_job_t *job = req->data;
    bk_log_t *log = job->log;
    free(job);
    bk_log_job_done(log);
}

/* Puts the reopened cleaned segment ns in the place of p->segs[i]; the old one goes to rel
 * (its file is gone already; reads now use ns), or is freed here when rel is NULL. */
static void swap_in(bk_partition_t *p, size_t i, bk_segment_t *ns, release_job_t *rel)
{
    bk_segment_t *old = p->segs[i];
    bk_segment_seal(ns);
    bk_segment_tidy(p->log->io, ns);
    p->size_bytes = p->size_bytes - old->size + ns->size;
    p->segs[i] = ns;
    if (rel)
        rel->segs[rel->n++] = old;
    else
        bk_segment_free(p->log->io, old);
}

static void release_start(bk_log_t *log, release_job_t *rel)
{
    if (!rel)
        return;
    if (rel->n == 0) {
        free(rel);
        return;
    }
    rel->log = log;
    rel->work.data = rel;
    log->jobs++;
    if (uv_queue_work(log->loop, &rel->work, work_release, after_release) != 0) {
        work_release(&rel->work); /* cannot happen with a valid loop */
        after_release(&rel->work, 0);
    }
}

static void after_clean(uv_work_t *req, int status)
{
    (void)status; /* nothing cancels the work */
    clean_job_t *job = req->data;
    bk_partition_t *p = job->p;
    bk_log_t *log = p->log;
    p->cleaning = 0;
    log->cleaning = 0;
    /* Nothing removed or replaced p's first n segments meanwhile (retention skips p,
     * truncation and reset are refused): they are still at the same places. */
    release_job_t *rel = calloc(1, sizeof *rel + (job->done ? job->done : 1) * sizeof(void *));
    for (size_t i = 0; i < job->done; i++) {
        if (job->out[i]) {
            swap_in(p, i, job->out[i], rel);
            job->out[i] = NULL;
        }
        p->segs[i]->clean = 1;
        p->segs[i]->tomb_due = job->tomb_due[i];
    }
    release_start(log, rel);
    uint64_t reclaimed = job->before - job->after;
    log->stats.cleaner_bytes_reclaimed += reclaimed;
    log->stats.cleaner_bytes_read += job->bytes_read;
    log->stats.cleaner_usec_total += uv_hrtime() / 1000 - job->started_us;
    if (job->status == 0)
        log->stats.cleaner_runs++;
    else
        log->stats.cleaner_errors++;
    if (job->status < 0)
        bk_trace_warn("log", "%s: cleaning stopped: %s", p->dir, bk_strerror(job->status));
    else
        bk_trace_info("log", "%s: cleaned %zu segment(s), reclaimed %" PRIu64 " bytes", p->dir,
                      job->done, reclaimed);
    if (job->cb)
        job->cb(job->arg, job->status, reclaimed);
    job_free(job);
    bk_log_job_done(log);
}

/* The sealed segments of p as the planner sees them, at now_ms. */
static size_t plan(const bk_partition_t *p, int64_t now_ms, double *ratio)
{
    size_t n = p->nseg - 1;
    *ratio = 0;
    bk_compact_seg_t *info = malloc((n ? n : 1) * sizeof *info);
    if (!info)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const bk_segment_t *s = p->segs[i];
        int tomb_due = s->tomb_due >= 0 && now_ms >= s->tomb_due; /* a tombstone may go */
        info[i] =
            (bk_compact_seg_t){s->max_ts, s->size, s->clean && !tomb_due, bk_segment_settled(s)};
    }
    size_t k = bk_compact_cleanable(info, n, now_ms, p->topic->cfg.min_compaction_lag_ms);
    /* Only what every in-sync replica holds (as retention): readers are shown no further. */
    int64_t committed = bk_partition_committed(p);
    while (k > 0 && p->segs[k - 1]->next > committed)
        k--;
    *ratio = bk_compact_dirty_ratio(info, k);
    free(info);
    return k;
}

double bk_partition_dirty_ratio(const bk_partition_t *p, int64_t now_ms)
{
    double r;
    (void)plan(p, now_ms, &r);
    return r;
}

static clean_job_t *job_new(bk_partition_t *p, size_t k, int64_t now_ms)
{
    clean_job_t *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    size_t nall = p->nseg;
    job->src = calloc(nall, sizeof *job->src);
    job->out = calloc(k, sizeof *job->out);
    job->tomb_due = calloc(k, sizeof *job->tomb_due);
    job->dir = strdup(p->dir);
    if (!job->src || !job->out || !job->tomb_due || !job->dir) {
        job_free(job);
        return NULL;
    }
    job->p = p;
    job->io = p->log->io;
    job->dir_fd = p->dir_fd;
    job->index_interval = p->log->cfg.index_interval_bytes;
    job->now_ms = now_ms;
    job->delete_retention_ms = p->topic->cfg.delete_retention_ms;
    job->reader = (bk_reader_t){.chunk = READ_CHUNK, .fd = -1};
    job->top_epoch = -1;
    job->n = k;
    job->nall = nall;
    job->limit = bk_partition_committed(p);
    job->started_us = uv_hrtime() / 1000;
    for (int i = 0; i < 4; i++)
        job->seed[i] = bk_random_id();
    bk_compact_map_init(&job->map);
    /* Bytes below a segment's written end never change while the cleaning runs (truncation,
     * reset and retention wait for it); appends only add after it. */
    for (size_t i = 0; i < nall; i++)
        job->src[i] = (src_seg_t){p->segs[i]->base, p->segs[i]->fd, p->segs[i]->written};
    return job;
}

int bk_partition_clean(bk_partition_t *p, int64_t now_ms, bk_clean_cb cb, void *arg)
{
    bk_log_t *log = p->log;
    int rc = bk_partition_writable(p);
    if (rc != 0)
        return rc;
    if (!bk_topic_config_compacts(&p->topic->cfg))
        return BK_EINVAL;
    if (log->cleaning || p->retention_busy)
        return UV_EBUSY;
    double ratio;
    size_t k = plan(p, now_ms, &ratio);
    if (k == 0)
        return 1;
    clean_job_t *job = job_new(p, k, now_ms);
    if (!job)
        return UV_ENOMEM;
    job->cb = cb;
    job->arg = arg;
    job->work.data = job;
    p->cleaning = 1;
    log->cleaning = 1;
    log->jobs++;
    bk_trace_debug("log", "%s: cleaning %zu segment(s), dirty ratio %.3f", p->dir, k, ratio);
    if (uv_queue_work(log->loop, &job->work, work_clean, after_clean) != 0) {
        work_clean(&job->work); /* cannot happen with a valid loop */
        after_clean(&job->work, 0);
    }
    return 0;
}

/* ---- the timer ---- */

int bk_cleaner_run(bk_log_t *log, int64_t now_ms)
{
    if (log->cleaning || log->closing)
        return 0;
    bk_partition_t *best = NULL;
    double best_ratio = 0;
    for (size_t i = 0; i < log->ntopics; i++) {
        bk_topic_t *t = log->topics[i];
        if (!bk_topic_config_compacts(&t->cfg))
            continue;
        for (uint32_t j = 0; j < t->npart; j++) {
            bk_partition_t *p = t->parts[j];
            double r;
            if (p->failed || p->deleted || p->retention_busy || plan(p, now_ms, &r) == 0)
                continue;
            if (r > 0 && r >= t->cfg.min_cleanable_ratio && r > best_ratio) {
                best = p;
                best_ratio = r;
            }
        }
    }
    return best && bk_partition_clean(best, now_ms, NULL, NULL) == 0;
}

static void on_cleaner_timer(uv_timer_t *h)
{
    bk_cleaner_run(h->data, bk_wall_ms());
}

int bk_cleaner_init(bk_log_t *log)
{
    int rc = uv_timer_init(log->loop, &log->cleaner_timer);
    if (rc < 0)
        return rc;
    log->cleaner_timer.data = log;
    uv_unref((uv_handle_t *)&log->cleaner_timer);
    uint32_t every = log->cfg.cleaner_interval_ms;
    return every ? uv_timer_start(&log->cleaner_timer, on_cleaner_timer, every, every) : 0;
}

void bk_cleaner_close(bk_log_t *log, uv_close_cb cb)
{
    uv_close((uv_handle_t *)&log->cleaner_timer, cb);
}
