/* The idempotent-producer decision, pure: given what a partition remembers of one producer
 * (its epoch and its last five batches' sequence ranges and offsets) and a new batch's
 * producer epoch, base sequence and length, is the batch next in line, a retry of one already
 * stored, or out of order? No I/O and no allocation: producer_state.c keeps the table and
 * feeds it from appends and from the log. Sequences run 0..INT32_MAX and wrap to 0. */
#ifndef BROOK_LOG_PRODUCER_SEQ_H
#define BROOK_LOG_PRODUCER_SEQ_H

#include <stdint.h>

#include "brook/log.h"

#define BK_PSEQ_CACHED 5 /* batches remembered per producer and partition (as Kafka) */

typedef struct {
    int32_t first_seq, last_seq;
    int64_t base_offset;
} bk_pseq_batch_t;

/* One producer in one partition. n == 0: nothing known (a fresh entry). */
typedef struct {
    int64_t producer_id;
    int16_t epoch;
    uint8_t n;                               /* cached batches, oldest first */
    bk_pseq_batch_t batches[BK_PSEQ_CACHED]; /* [n - 1] is the newest */
    int64_t last_offset;                     /* of the newest batch's last record */
} bk_pseq_entry_t;

/* The sequence number count - 1 after first (wrapping past INT32_MAX to 0). */
int32_t bk_pseq_last(int32_t first, int32_t count);

/* The verdict on a batch (epoch, first_seq, count records) from the producer e describes
 * (NULL or n == 0: unknown here). For BK_PSEQ_DUPLICATE, *dup (may be NULL) points at the
 * cached batch it repeats. An unknown producer is accepted at any sequence (as Kafka does
 * since 2.5: its state may have gone with retention); a newer epoch must start at 0. */
bk_pseq_verdict_t bk_pseq_check(const bk_pseq_entry_t *e, int16_t epoch, int32_t first_seq,
                                int32_t count, const bk_pseq_batch_t **dup);

/* Records in a remembered batch (its sequence span). */
int32_t bk_pseq_span(const bk_pseq_batch_t *b);

/* Folds newer (what was appended after some point) into older (what the log held before
 * it), for the same producer: the newer epoch wins; in one epoch the batches line up, the
 * last five kept. */
void bk_pseq_merge(bk_pseq_entry_t *older, const bk_pseq_entry_t *newer);

/* Remembers an accepted batch: a new epoch forgets the old one's batches; the sixth batch
 * pushes out the oldest. */
void bk_pseq_record(bk_pseq_entry_t *e, int16_t epoch, int32_t first_seq, int32_t count,
                    int64_t base_offset);

#endif
