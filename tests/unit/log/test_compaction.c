/* The compaction choice from tables: which records of a range survive a cleaning (newest per
 * key, tombstones until delete.retention.ms, keyless records always), which segments a
 * cleaning may take (min.compaction.lag.ms, unsettled ones) and the dirty ratio. No I/O. */
#include "log/compaction.h"

#include "check.h"

#include <string.h>

static const uint64_t SEED[4] = {1, 2, 3, 4};

/* One row: key (NULL = no key), tombstone, offset, timestamp, and whether it must survive. */
typedef struct {
    const char *key;
    int tombstone;
    int64_t offset, ts;
    int keep;
} row_t;

static bk_compact_rec_t rec_of(const row_t *r)
{
    bk_compact_rec_t c = {{0, 0}, r->key != NULL, r->tombstone, r->offset, r->ts};
    if (r->key)
        c.key = bk_compact_key_hash((const uint8_t *)r->key, strlen(r->key), SEED);
    return c;
}

/* Both passes of a cleaning over the rows: note all, then ask each. */
static void check_table(const row_t *rows, size_t n, int64_t now, int64_t retention)
{
    bk_compact_map_t m;
    bk_compact_map_init(&m);
    for (size_t i = 0; i < n; i++) {
        bk_compact_rec_t c = rec_of(&rows[i]);
        CHECK_EQ_INT(bk_compact_map_note(&m, &c), 0);
    }
    for (size_t i = 0; i < n; i++) {
        bk_compact_rec_t c = rec_of(&rows[i]);
        if (bk_compact_keep(&m, &c, now, retention) != rows[i].keep)
            fprintf(stderr, "row %zu (offset %lld): expected keep=%d\n", i,
                    (long long)rows[i].offset, rows[i].keep);
        CHECK_EQ_INT(bk_compact_keep(&m, &c, now, retention), rows[i].keep);
    }
    bk_compact_map_free(&m);
}

static void test_newest_per_key_survives(void)
{
    const row_t rows[] = {
        {"a", 0, 0, 100, 0},   {"b", 0, 1, 100, 0},
        {"a", 0, 2, 100, 0},   {"c", 0, 3, 100, 1}, /* only version of c */
        {"b", 0, 5, 100, 1},                        /* gap before: offsets need not be contiguous */
        {"a", 0, 9, 100, 1},   {NULL, 0, 10, 100, 1}, /* no key: kept */
        {NULL, 0, 11, 100, 1}, {"ab", 0, 12, 100, 1}, /* a prefix is another key */
    };
    check_table(rows, sizeof rows / sizeof *rows, 1000, 500);
}

static void test_tombstones(void)
{
    /* now 10000, delete.retention.ms 1000: a tombstone stamped at or before 9000 is gone. */
    const row_t rows[] = {
        {"x", 0, 0, 100, 0},  {"x", 1, 1, 8999, 0}, /* expired tombstone: gone, old value too */
        {"y", 0, 2, 100, 0},  {"y", 1, 3, 9500, 1}, /* fresh tombstone: stays, old value gone */
        {"z", 1, 4, 100, 0},  {"z", 0, 5, 200, 1},  /* a value after a tombstone: value stays */
        {"w", 1, 6, 9000, 0},                       /* exactly at the horizon: gone */
        {"v", 1, 7, 9001, 1},                       /* just inside: stays */
    };
    check_table(rows, sizeof rows / sizeof *rows, 10000, 1000);
    /* delete.retention.ms 0: every tombstone that is the newest of its key goes. */
    const row_t now0[] = {{"x", 1, 0, 10000, 0}, {"y", 1, 1, 10001, 1}};
    check_table(now0, 2, 10000, 0);
    /* A huge retention keeps them all (no overflow). */
    const row_t big[] = {{"x", 1, 0, 0, 1}};
    check_table(big, 1, 10000, INT64_MAX);
}

static void test_map_grows_and_replaces(void)
{
    bk_compact_map_t m;
    bk_compact_map_init(&m);
    char key[16];
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < 5000; k++) {
            snprintf(key, sizeof key, "k%d", k);
            bk_compact_rec_t c = {bk_compact_key_hash((const uint8_t *)key, strlen(key), SEED), 1,
                                  0, (int64_t)round * 5000 + k, 0};
            CHECK_EQ_INT(bk_compact_map_note(&m, &c), 0);
        }
    CHECK_EQ_INT(m.n, 5000);
    snprintf(key, sizeof key, "k%d", 42);
    CHECK_EQ_INT(bk_compact_map_get(&m, bk_compact_key_hash((const uint8_t *)key, 3, SEED)), 10042);
    CHECK_EQ_INT(bk_compact_map_get(&m, bk_compact_key_hash((const uint8_t *)"nope", 4, SEED)), -1);
    CHECK(bk_compact_map_bytes(&m) >= 5000 * 24);
    bk_compact_map_free(&m);
    /* Another seed gives other hashes; the same seed the same. */
    uint64_t other[4] = {9, 9, 9, 9};
    bk_key_hash_t h1 = bk_compact_key_hash((const uint8_t *)"abc", 3, SEED);
    bk_key_hash_t h2 = bk_compact_key_hash((const uint8_t *)"abc", 3, other);
    bk_key_hash_t h3 = bk_compact_key_hash((const uint8_t *)"abc", 3, SEED);
    CHECK(h1.a != h2.a && h1.a == h3.a && h1.b == h3.b);
}

static void test_cleanable_range_and_ratio(void)
{
    /* now 10000, lag 1000: segment 2 holds a record from 9500, so only 0 and 1 may go. */
    bk_compact_seg_t segs[] = {
        {5000, 100, 1, 1}, {8000, 300, 0, 1}, {9500, 100, 0, 1}, {100, 100, 0, 1}};
    CHECK_EQ_INT(bk_compact_cleanable(segs, 4, 10000, 1000), 2);
    CHECK_EQ_INT(bk_compact_cleanable(segs, 4, 10000, 0), 4); /* lag 0: all sealed ones */
    segs[1].settled = 0; /* a sync outstanding stops it there */
    CHECK_EQ_INT(bk_compact_cleanable(segs, 4, 10000, 0), 1);
    CHECK(bk_compact_dirty_ratio(segs, 2) == 0.75);
    CHECK(bk_compact_dirty_ratio(segs, 1) == 0.0);
    CHECK(bk_compact_dirty_ratio(segs, 0) == 0.0);
}

CHECK_MAIN(CASE(test_newest_per_key_survives), CASE(test_tombstones),
           CASE(test_map_grows_and_replaces), CASE(test_cleanable_range_and_ratio))
