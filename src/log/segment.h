/* One segment: a .log file of record batches and its sparse .index, named by base offset.
 * Appended batches are first encoded into the segment's pending buffer; group commit (commit.c)
 * hands those bytes to one write per flush round. A segment never decides when to roll (the
 * partition does) and never writes or syncs on its own. Freed by bk_segment_free(). */
#ifndef BROOK_LOG_SEGMENT_H
#define BROOK_LOG_SEGMENT_H

#include "log/epochs.h"
#include "log/io.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t rel; /* batch baseOffset - segment base offset */
    uint32_t pos; /* file position of that batch */
} bk_index_entry_t;

/* A growable byte buffer. */
typedef struct {
    uint8_t *buf;
    size_t len, cap;
} bk_wbuf_t;

typedef struct {
    int64_t base;       /* offset of the first record; the file name */
    int64_t next;       /* offset after the last batch appended (pending ones included) */
    uint64_t size;      /* bytes appended, pending ones included: the next batch goes here */
    uint64_t written;   /* bytes [0, written) of the file were written successfully */
    uint64_t file_size; /* the .log's length: written, plus zeros written ahead of the data
                           (preallocation, see format.c) once a round has made them */
    int64_t max_ts;     /* largest record timestamp in the segment; -1 while empty (after a
                           truncation it may still count dropped batches until the next open:
                           retention then keeps the segment longer, never shorter) */
    int fd;             /* the .log, open read-write for the segment's life */
    int index_fd;       /* the .index, open until the segment is sealed and settled */
    bk_index_entry_t *index;
    size_t nindex, index_cap;
    uint64_t since_index; /* bytes appended since the batch of the last index entry */
    uint64_t index_end;   /* bytes of .index handed to writes so far */
    /* Bytes [written + inflight.len, size) wait in pend; a flush round moves them to inflight
     * (which only its thread reads) and writes them at position written. ipend/iinflight do
     * the same for encoded index entries. */
    bk_wbuf_t pend, inflight, ipend, iinflight;
    int sealed;       /* no more appends: a newer segment exists */
    int clean;        /* went through a cleaning (compaction) and was not appended to since */
    int64_t tomb_due; /* clean: when its oldest tombstone may go (-1: none) */
    int unsynced;     /* bytes were written since the last fdatasync was started */
    int syncing;      /* an fdatasync of it runs in the flush round in flight */
} bk_segment_t;

/* "<dir>/<20-digit base><ext>" into buf (cap >= strlen(dir) + 32). */
void bk_segment_path(char *buf, size_t cap, const char *dir, int64_t base, const char *ext);

/* Creates the empty files of a new segment (failing with UV_EEXIST if the .log exists). */
int bk_segment_create(const bk_log_io_t *io, const char *dir, int64_t base, bk_segment_t **out);

/* Opens an existing segment and verifies every batch. For the tail segment a bad batch (torn,
 * garbage, wrong CRC) and everything after it is cut off; for a sealed one it is BK_ECORRUPT.
 * A missing or stale index is rewritten. The leader epoch of every good batch is noted in
 * epochs (NULL: not wanted). */
int bk_segment_open(const bk_log_io_t *io, const char *dir, int64_t base, int tail,
                    uint32_t index_interval, bk_epochs_t *epochs, bk_segment_t **out);

/* Room for a batch of len bytes at the end of the pending buffer (NULL: out of memory or the
 * segment would pass the 4 GiB its index can address, *err says which). Nothing is appended
 * until bk_segment_commit(). */
uint8_t *bk_segment_reserve(bk_segment_t *s, size_t len, int *err);

/* Appends the batch encoded into the reserved room: offsets [base, end) (end = the batch's
 * last offset + 1, which compaction may leave past its last record), newest timestamp
 * max_ts. */
void bk_segment_commit(bk_segment_t *s, size_t len, int64_t base, int64_t end, int64_t max_ts,
                       uint32_t index_interval);

/* Writes the pending bytes (and index entries) from the calling thread. On failure the file
 * is cut back to s->written (best effort) and the pending bytes are dropped. */
int bk_segment_write_pending(const bk_log_io_t *io, bk_segment_t *s);

/* Moves the pending bytes to inflight for a flush round (inflight must be empty); *index_at
 * is where in the .index the entries moved to iinflight go. */
void bk_segment_take(bk_segment_t *s, uint64_t *index_at);

/* Preallocation (format.c): how far a flush round writing len bytes at off should zero the
 * file ahead of its data so that the rounds after it overwrite allocated blocks and their
 * fdatasync has no file size or extent to commit: up to the next multiple of a step past the
 * data, the step being 256 times len, at least 64 KiB and at most chunk. Returns the end of
 * the zeros, or 0 for none (chunk 0, the file is long enough, the write is large, or limit
 * stops it). */
uint64_t bk_segment_zero_ahead(const bk_segment_t *s, uint64_t off, size_t len, uint64_t chunk,
                               uint64_t limit);

/* Writes zeros over [from, to) of fd. Returns 0 or an I/O error. */
int bk_segment_write_zeros(const bk_log_io_t *io, int fd, uint64_t from, uint64_t to);

/* Ends a round's write: ok adds inflight to written; inflight is emptied either way. */
void bk_segment_took(bk_segment_t *s, int ok);

/* Drops pending bytes that will never be written (the partition failed). */
void bk_segment_discard(bk_segment_t *s);

/* True when a sealed segment still ends in preallocated zeros, to be cut off by a round. */
int bk_segment_needs_trim(const bk_segment_t *s);

/* True when nothing of s waits for (or is in) a write, a trim or a sync. */
int bk_segment_settled(const bk_segment_t *s);

/* File position from which to scan for offset (the last indexed batch at or before it). */
uint64_t bk_segment_lookup(const bk_segment_t *s, int64_t offset);

/* Marks s sealed: it will get no more appends. Its index file is closed once settled. */
void bk_segment_seal(bk_segment_t *s);

/* Closes the index file of a sealed segment that has nothing left to write. */
void bk_segment_tidy(const bk_log_io_t *io, bk_segment_t *s);

/* Closes the descriptors and frees s (NULL is fine). */
void bk_segment_free(const bk_log_io_t *io, bk_segment_t *s);

/* Deletes both files of a segment that is not open. */
int bk_segment_remove(const bk_log_io_t *io, const char *dir, int64_t base);

/* Deletes both files of segment base inside the open directory dirfd (.index first). */
int bk_segment_remove_at(const bk_log_io_t *io, int dirfd, int64_t base);

/* A read window over one file, reused across reads to keep syscalls and mallocs down. */
typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t chunk; /* preferred read size */
    int fd;
    uint64_t start; /* file position of buf[0] */
    size_t len;     /* valid bytes in buf */
} bk_reader_t;

/* Points *out at bytes [pos, pos + need) of fd, reading when the window does not hold them.
 * limit is where readable data ends. Returns 0, BK_ECORRUPT when the file holds fewer bytes,
 * UV_ENOMEM or an I/O error. */
int bk_reader_get(const bk_log_io_t *io, bk_reader_t *r, int fd, uint64_t pos, size_t need,
                  uint64_t limit, const uint8_t **out);

/* Where truncating s at offset cuts: the file position *pos and offset *cut of the batch
 * that holds offset (the written end and s->next when no written batch does). Reads batch
 * headers only, from the sparse index entry on. Returns 0, BK_ECORRUPT or an I/O error. */
int bk_segment_cut_point(const bk_log_io_t *io, bk_reader_t *r, const bk_segment_t *s,
                         int64_t offset, uint64_t *pos, int64_t *cut);

/* Cuts s back to the batch boundary pos (whose offset is cut): ftruncate and fsync of the
 * .log, index entries at or past pos dropped and the .index file cut to match (best effort:
 * derived data). s becomes the active segment (unsealed, its index file open). Only for a
 * settled segment. Returns 0 or the error of the ftruncate (then s is unchanged) or of the
 * fsync (then s is cut all the same, like the file). */
int bk_segment_truncate(const bk_log_io_t *io, const char *dir, bk_segment_t *s, uint64_t pos,
                        int64_t cut);

#endif
