/* The sequence check of idempotent producers (producer_seq.h), after Kafka's rules: a batch
 * is accepted when its base sequence follows the producer's last one in the same epoch, or
 * is 0 in a newer epoch; a batch that repeats one of the five remembered ranges exactly is a
 * duplicate (answered with the original offset, not written again); one wholly older than
 * those is an old duplicate; anything else is out of order. It never looks at offsets or the
 * disk: it decides. */
#include "log/producer_seq.h"

#include <stddef.h>

#define SEQ_SPAN ((int64_t)INT32_MAX + 1) /* sequences live modulo 2^31 */

int32_t bk_pseq_last(int32_t first, int32_t count)
{
    return (int32_t)(((int64_t)first + count - 1) % SEQ_SPAN);
}

/* How far b lies behind a, modulo 2^31 (0 when equal). */
static int64_t behind(int32_t a, int32_t b)
{
    return ((int64_t)a - b + SEQ_SPAN) % SEQ_SPAN;
}

static int32_t next_seq(int32_t s)
{
    return s == INT32_MAX ? 0 : s + 1;
}

bk_pseq_verdict_t bk_pseq_check(const bk_pseq_entry_t *e, int16_t epoch, int32_t first_seq,
                                int32_t count, const bk_pseq_batch_t **dup)
{
    if (first_seq < 0 || count <= 0 || epoch < 0)
        return BK_PSEQ_INVALID;
    if (!e || e->n == 0)
        return BK_PSEQ_ACCEPT;
    if (epoch < e->epoch)
        return BK_PSEQ_STALE_EPOCH;
    if (epoch > e->epoch)
        return first_seq == 0 ? BK_PSEQ_ACCEPT : BK_PSEQ_OUT_OF_ORDER;
    int32_t last_seq = bk_pseq_last(first_seq, count);
    for (int i = 0; i < e->n; i++)
        if (e->batches[i].first_seq == first_seq && e->batches[i].last_seq == last_seq) {
            if (dup)
                *dup = &e->batches[i];
            return BK_PSEQ_DUPLICATE;
        }
    if (first_seq == next_seq(e->batches[e->n - 1].last_seq))
        return BK_PSEQ_ACCEPT;
    /* Wholly before the oldest remembered batch (within half the sequence space): a retry of
     * something stored long ago. */
    int64_t gap = behind(e->batches[0].first_seq, last_seq);
    if (gap > 0 && gap < SEQ_SPAN / 2)
        return BK_PSEQ_OLD_DUPLICATE;
    return BK_PSEQ_OUT_OF_ORDER;
}

void bk_pseq_record(bk_pseq_entry_t *e, int16_t epoch, int32_t first_seq, int32_t count,
                    int64_t base_offset)
{
    if (e->n > 0 && epoch != e->epoch)
        e->n = 0;
    e->epoch = epoch;
    if (e->n == BK_PSEQ_CACHED) {
        for (int i = 1; i < BK_PSEQ_CACHED; i++)
            e->batches[i - 1] = e->batches[i];
        e->n--;
    }
    e->batches[e->n++] = (bk_pseq_batch_t){first_seq, bk_pseq_last(first_seq, count), base_offset};
    e->last_offset = base_offset + count - 1;
}

int32_t bk_pseq_span(const bk_pseq_batch_t *b)
{
    return (int32_t)(behind(b->last_seq, b->first_seq) + 1);
}

void bk_pseq_merge(bk_pseq_entry_t *older, const bk_pseq_entry_t *newer)
{
    if (newer->n == 0)
        return;
    if (older->n == 0 || newer->epoch != older->epoch) {
        *older = *newer;
        return;
    }
    for (int i = 0; i < newer->n; i++) {
        const bk_pseq_batch_t *b = &newer->batches[i];
        bk_pseq_record(older, newer->epoch, b->first_seq, bk_pseq_span(b), b->base_offset);
    }
    older->last_offset = newer->last_offset;
}
