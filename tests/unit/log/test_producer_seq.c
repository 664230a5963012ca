/* The idempotent producer's sequence check, table-driven and without I/O: batches in order,
 * a retry of each of the last five, an older retry, a gap, epoch changes, an unknown producer
 * and the wrap of sequences past INT32_MAX; then the merge of a scanned tail with what was
 * appended since. */
#include "log/producer_seq.h"

#include "check.h"

#include <stdio.h>

/* A producer (epoch 0) that sent seven 10-record batches from sequence 0, stored at 100,
 * 110, ..., 160: the last five (20..69) are remembered. */
static bk_pseq_entry_t seven_batches(void)
{
    bk_pseq_entry_t e = {.producer_id = 7};
    for (int i = 0; i < 7; i++)
        bk_pseq_record(&e, 0, i * 10, 10, 100 + i * 10);
    return e;
}

typedef struct {
    const char *what;
    int16_t epoch;
    int32_t first, count;
    bk_pseq_verdict_t want;
    int64_t dup_offset; /* for BK_PSEQ_DUPLICATE */
} seq_case_t;

static void test_table(void)
{
    static const seq_case_t cases[] = {
        {"next in line", 0, 70, 5, BK_PSEQ_ACCEPT, 0},
        {"retry of the newest", 0, 60, 10, BK_PSEQ_DUPLICATE, 160},
        {"retry of the 2nd newest", 0, 50, 10, BK_PSEQ_DUPLICATE, 150},
        {"retry of the 3rd newest", 0, 40, 10, BK_PSEQ_DUPLICATE, 140},
        {"retry of the 4th newest", 0, 30, 10, BK_PSEQ_DUPLICATE, 130},
        {"retry of the oldest kept", 0, 20, 10, BK_PSEQ_DUPLICATE, 120},
        {"retry older than the five", 0, 10, 10, BK_PSEQ_OLD_DUPLICATE, 0},
        {"retry of the very first", 0, 0, 10, BK_PSEQ_OLD_DUPLICATE, 0},
        {"same start, other length", 0, 60, 5, BK_PSEQ_OUT_OF_ORDER, 0},
        {"overlapping the newest", 0, 65, 10, BK_PSEQ_OUT_OF_ORDER, 0},
        {"a gap of one", 0, 71, 5, BK_PSEQ_OUT_OF_ORDER, 0},
        {"far ahead", 0, 1000, 1, BK_PSEQ_OUT_OF_ORDER, 0},
        {"negative epoch", -1, 70, 1, BK_PSEQ_INVALID, 0},
        {"epoch bump from 0", 1, 0, 3, BK_PSEQ_ACCEPT, 0},
        {"epoch bump not from 0", 1, 70, 3, BK_PSEQ_OUT_OF_ORDER, 0},
        {"negative sequence", 0, -1, 3, BK_PSEQ_INVALID, 0},
        {"no records", 0, 70, 0, BK_PSEQ_INVALID, 0},
    };
    bk_pseq_entry_t e = seven_batches();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const seq_case_t *c = &cases[i];
        const bk_pseq_batch_t *dup = NULL;
        bk_pseq_verdict_t v = bk_pseq_check(&e, c->epoch, c->first, c->count, &dup);
        if (v != c->want)
            fprintf(stderr, "case '%s'\n", c->what);
        CHECK_EQ_INT(v, c->want);
        if (c->want == BK_PSEQ_DUPLICATE) {
            CHECK(dup != NULL);
            CHECK_EQ_INT(dup->base_offset, c->dup_offset);
            CHECK_EQ_INT(bk_pseq_span(dup), c->count);
        }
    }
}

static void test_stale_epoch(void)
{
    bk_pseq_entry_t e = {.producer_id = 1};
    bk_pseq_record(&e, 3, 0, 1, 0);
    CHECK_EQ_INT(bk_pseq_check(&e, 2, 1, 1, NULL), BK_PSEQ_STALE_EPOCH);
    CHECK_EQ_INT(bk_pseq_check(&e, 3, 1, 1, NULL), BK_PSEQ_ACCEPT);
    bk_pseq_record(&e, 4, 0, 2, 1); /* a new epoch forgets the old batches */
    CHECK_EQ_INT(e.n, 1);
    CHECK_EQ_INT(bk_pseq_check(&e, 4, 0, 2, NULL), BK_PSEQ_DUPLICATE);
    CHECK_EQ_INT(bk_pseq_check(&e, 3, 0, 1, NULL), BK_PSEQ_STALE_EPOCH);
}

static void test_unknown_producer(void)
{
    /* Not known here (its state went with retention, or the tail read did not reach it):
     * accepted at any sequence, as Kafka does since 2.5. */
    bk_pseq_entry_t empty = {.producer_id = 9};
    CHECK_EQ_INT(bk_pseq_check(NULL, 0, 0, 1, NULL), BK_PSEQ_ACCEPT);
    CHECK_EQ_INT(bk_pseq_check(NULL, 0, 12345, 1, NULL), BK_PSEQ_ACCEPT);
    CHECK_EQ_INT(bk_pseq_check(&empty, 5, 77, 1, NULL), BK_PSEQ_ACCEPT);
}

static void test_wraparound(void)
{
    bk_pseq_entry_t e = {.producer_id = 2};
    CHECK_EQ_INT(bk_pseq_last(INT32_MAX - 1, 4), 1);
    bk_pseq_record(&e, 0, INT32_MAX - 9, 10, 500); /* ends exactly at INT32_MAX */
    CHECK_EQ_INT(e.batches[0].last_seq, INT32_MAX);
    CHECK_EQ_INT(bk_pseq_check(&e, 0, 0, 5, NULL), BK_PSEQ_ACCEPT);
    CHECK_EQ_INT(bk_pseq_check(&e, 0, 1, 5, NULL), BK_PSEQ_OUT_OF_ORDER);
    bk_pseq_record(&e, 0, 0, 5, 510);
    CHECK_EQ_INT(bk_pseq_check(&e, 0, 5, 1, NULL), BK_PSEQ_ACCEPT);
    CHECK_EQ_INT(bk_pseq_check(&e, 0, INT32_MAX - 9, 10, NULL), BK_PSEQ_DUPLICATE);
    /* a batch spanning the wrap: INT32_MAX - 1 .. 1 */
    bk_pseq_entry_t w = {.producer_id = 3};
    bk_pseq_record(&w, 0, INT32_MAX - 5, 4, 0); /* ..INT32_MAX - 2 */
    CHECK_EQ_INT(bk_pseq_check(&w, 0, INT32_MAX - 1, 4, NULL), BK_PSEQ_ACCEPT);
    bk_pseq_record(&w, 0, INT32_MAX - 1, 4, 4);
    CHECK_EQ_INT(w.batches[1].last_seq, 1);
    CHECK_EQ_INT(bk_pseq_check(&w, 0, 2, 1, NULL), BK_PSEQ_ACCEPT);
    const bk_pseq_batch_t *dup = NULL;
    CHECK_EQ_INT(bk_pseq_check(&w, 0, INT32_MAX - 1, 4, &dup), BK_PSEQ_DUPLICATE);
    CHECK_EQ_INT(dup->base_offset, 4);
    CHECK_EQ_INT(bk_pseq_span(dup), 4);
    /* older than the oldest remembered, across the wrap */
    bk_pseq_entry_t o = {.producer_id = 4};
    for (int i = 0; i < 5; i++)
        bk_pseq_record(&o, 0, i * 10, 10, i * 10); /* 0..49 */
    CHECK_EQ_INT(bk_pseq_check(&o, 0, INT32_MAX - 9, 10, NULL), BK_PSEQ_OLD_DUPLICATE);
}

static void test_merge(void)
{
    bk_pseq_entry_t scanned = seven_batches(); /* 20..69 remembered */
    bk_pseq_entry_t since = {.producer_id = 7};
    bk_pseq_record(&since, 0, 70, 10, 170);
    bk_pseq_record(&since, 0, 80, 10, 180);
    bk_pseq_merge(&scanned, &since);
    CHECK_EQ_INT(scanned.n, 5);
    CHECK_EQ_INT(scanned.batches[0].first_seq, 40);
    CHECK_EQ_INT(scanned.batches[4].base_offset, 180);
    CHECK_EQ_INT(scanned.last_offset, 189);
    CHECK_EQ_INT(bk_pseq_check(&scanned, 0, 90, 1, NULL), BK_PSEQ_ACCEPT);
    /* a newer epoch since the scan wins whole */
    bk_pseq_entry_t old = seven_batches(), bumped = {.producer_id = 7};
    bk_pseq_record(&bumped, 1, 0, 3, 200);
    bk_pseq_merge(&old, &bumped);
    CHECK_EQ_INT(old.epoch, 1);
    CHECK_EQ_INT(old.n, 1);
    /* nothing since: the scan stands */
    bk_pseq_entry_t keep = seven_batches(), none = {.producer_id = 7};
    bk_pseq_merge(&keep, &none);
    CHECK_EQ_INT(keep.n, 5);
}

CHECK_MAIN(CASE(test_table), CASE(test_stale_epoch), CASE(test_unknown_producer),
           CASE(test_wraparound), CASE(test_merge))
