/* The retention choice, apart from all I/O: given the sealed segments of a partition (oldest
 * first), the topic's limits, the committed offset and a clock reading, how many of the oldest
 * segments to delete. A pure function, unit-tested with a fake clock; partition.c does the
 * deleting. */
#ifndef BROOK_LOG_RETENTION_H
#define BROOK_LOG_RETENTION_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t max_ts; /* newest record timestamp in the segment (ms since the epoch) */
    uint64_t size;  /* bytes */
    int busy;       /* has writes or syncs outstanding: may not go yet */
    int64_t end;    /* offset after its last record (the next segment's base) */
} bk_retention_seg_t;

/* Number of segments, from segs[0] on, to delete. segs holds only sealed segments (never the
 * active one); total is the partition's size including the active segment. A segment goes
 * when its newest record is older than retention_ms (>= 0), or while the partition is larger
 * than retention_bytes (>= 0), but only when every record in it lies below hw, the high
 * watermark (Kafka's rule: retention never moves the log start past the high watermark, so it
 * never deletes a record some replica may still need, nor one readers have not been able to
 * see). The first segment that stays, is busy, or reaches hw stops the count, so what remains
 * is always contiguous. */
size_t bk_retention_plan(const bk_retention_seg_t *segs, size_t n, uint64_t total, int64_t now_ms,
                         int64_t retention_ms, int64_t retention_bytes, int64_t hw);

#endif
