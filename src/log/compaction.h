/* The compaction choice, apart from all I/O: which segments a cleaning may take, how dirty
 * they are, and which records survive it. The cleaner (cleaner.c) feeds every record of the
 * cleanable range to an offset map (newest offset per key), then asks for each record whether
 * it stays. Pure functions over their inputs and a clock reading, unit-tested from a table. */
#ifndef BROOK_LOG_COMPACTION_H
#define BROOK_LOG_COMPACTION_H

#include <stddef.h>
#include <stdint.h>

/* A key stands for itself by 128 bits of keyed SipHash-2-4 (a random key per cleaning, so
 * nobody can choose keys that collide); Kafka uses 16 bytes of MD5 the same way. */
typedef struct {
    uint64_t a, b;
} bk_key_hash_t;

bk_key_hash_t bk_compact_key_hash(const uint8_t *key, size_t len, const uint64_t seed[4]);

/* What the choice needs of one record. */
typedef struct {
    bk_key_hash_t key;
    int has_key;   /* 0: a record without a key (kept: it has no newer version) */
    int tombstone; /* null value */
    int64_t offset;
    int64_t timestamp;
} bk_compact_rec_t;

/* Newest offset per key, open addressing. Owned by its user: bk_compact_map_free(). */
typedef struct {
    bk_key_hash_t *keys;
    int64_t *offsets; /* -1: empty slot */
    size_t cap, n;
} bk_compact_map_t;

void bk_compact_map_init(bk_compact_map_t *m);
void bk_compact_map_free(bk_compact_map_t *m);
/* Notes r (offsets fed in increasing order; a later one replaces an earlier one of the same
 * key). Records without a key are ignored. Returns 0 or UV_ENOMEM. */
int bk_compact_map_note(bk_compact_map_t *m, const bk_compact_rec_t *r);
/* The newest offset noted for key, or -1. */
int64_t bk_compact_map_get(const bk_compact_map_t *m, bk_key_hash_t key);
/* Bytes the map holds (what the cleaner caps). */
size_t bk_compact_map_bytes(const bk_compact_map_t *m);

/* 1 when r survives: it has no key, or it is the newest record of its key in the map and not
 * a tombstone older than delete_retention_ms at now_ms. 0 when it goes. */
int bk_compact_keep(const bk_compact_map_t *m, const bk_compact_rec_t *r, int64_t now_ms,
                    int64_t delete_retention_ms);

/* A sealed segment as the planner sees it. */
typedef struct {
    int64_t max_ts; /* newest record timestamp (-1: empty) */
    uint64_t size;
    int clean;   /* written by a cleaning and unchanged since */
    int settled; /* nothing of it waits for a write or sync */
} bk_compact_seg_t;

/* How many sealed segments, from the oldest on, a cleaning may take: it stops at the first
 * one that is unsettled or holds a record newer than min_lag_ms at now_ms (Kafka's
 * min.compaction.lag.ms: those records are not cleaned yet). */
size_t bk_compact_cleanable(const bk_compact_seg_t *segs, size_t n, int64_t now_ms,
                            int64_t min_lag_ms);

/* Dirty bytes (segments not clean) / all bytes of the first n segments; 0 when empty. */
double bk_compact_dirty_ratio(const bk_compact_seg_t *segs, size_t n);

#endif
