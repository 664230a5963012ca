/* One segment: a .log file of record batches and its sparse .index, named by base offset.
 * A segment knows its own files only: it never decides when to roll (the partition does) and
 * never syncs on its own (group commit does). Its memory and descriptors are freed by
 * bk_segment_free(). */
#ifndef BROOK_LOG_SEGMENT_H
#define BROOK_LOG_SEGMENT_H

#include "log/io.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t rel; /* batch baseOffset - segment base offset */
    uint32_t pos; /* file position of that batch */
} bk_index_entry_t;

typedef struct {
    int64_t base;  /* offset of the first record; the file name */
    int64_t next;  /* offset after the last batch (== base when empty) */
    uint64_t size; /* bytes of whole, verified batches; appends go here */
    int fd;        /* the .log, open read-write for the segment's life */
    int index_fd;  /* the .index, open only while the segment is active (-1 once sealed) */
    bk_index_entry_t *index;
    size_t nindex, index_cap;
    uint64_t since_index; /* bytes written since the batch of the last index entry */
    int needs_sync;       /* sealed with data not yet covered by a flush round */
    int broken;           /* a failed write could not be undone: file state unknown */
} bk_segment_t;

/* "<dir>/<20-digit base><ext>" into buf (cap >= strlen(dir) + 32). */
void bk_segment_path(char *buf, size_t cap, const char *dir, int64_t base, const char *ext);

/* Creates the empty files of a new segment (failing with UV_EEXIST if the .log exists). */
int bk_segment_create(const bk_log_io_t *io, const char *dir, int64_t base, bk_segment_t **out);

/* Opens an existing segment and verifies every batch. For the tail segment a bad batch (torn,
 * garbage, wrong CRC) and everything after it is cut off; for a sealed one it is BK_ECORRUPT.
 * A missing or stale index is rewritten. */
int bk_segment_open(const bk_log_io_t *io, const char *dir, int64_t base, int tail,
                    uint32_t index_interval, bk_segment_t **out);

/* Writes one encoded batch (base offset == s->next, count records) at the end. On failure
 * the file is cut back so nothing of the batch remains; if even that fails, s->broken is set.
 * Returns 0 or a negative error. */
int bk_segment_append(const bk_log_io_t *io, bk_segment_t *s, const uint8_t *batch, size_t len,
                      uint32_t count, uint32_t index_interval);

/* File position from which to scan for offset (the last indexed batch at or before it). */
uint64_t bk_segment_lookup(const bk_segment_t *s, int64_t offset);

/* Marks s sealed: it will get no more appends; its index file is closed. */
void bk_segment_seal(const bk_log_io_t *io, bk_segment_t *s);

/* Closes the descriptors and frees s (NULL is fine). */
void bk_segment_free(const bk_log_io_t *io, bk_segment_t *s);

/* Deletes both files of a segment that is not open. */
int bk_segment_remove(const bk_log_io_t *io, const char *dir, int64_t base);

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

#endif
