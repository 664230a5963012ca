/* A partition's leader-epoch list: (epoch, start offset) pairs in offset order, one per run of
 * batches stamped with the same partitionLeaderEpoch, kept in memory and rebuilt at open from
 * the batch headers. Pure bookkeeping over memory: nothing here does I/O, and an entry is
 * added only when the epoch grows, so the list stays sorted by epoch and by start offset. */
#ifndef BROOK_LOG_EPOCHS_H
#define BROOK_LOG_EPOCHS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int32_t epoch;
    int64_t start; /* offset of the first batch stamped with epoch */
} bk_epoch_entry_t;

typedef struct {
    bk_epoch_entry_t *v;
    size_t n, cap;
} bk_epochs_t;

/* Room for more entries, so that a later bk_epochs_note() cannot fail. 0 or UV_ENOMEM. */
int bk_epochs_reserve(bk_epochs_t *e, size_t more);

/* Whether a batch of epoch appended now would add an entry (the list is empty or its last
 * epoch is smaller). A batch with a smaller epoch than the last entry's is counted as part of
 * that entry, as Kafka's leader-epoch cache does. */
int bk_epochs_would_add(const bk_epochs_t *e, int32_t epoch);

/* Records a batch of epoch starting at start. Returns 0, or UV_ENOMEM when an entry was due
 * and no room had been reserved (the entry is then lost). */
int bk_epochs_note(bk_epochs_t *e, int32_t epoch, int64_t start);

/* After a truncation to end: drops the entries that start at or after end. */
void bk_epochs_cut(bk_epochs_t *e, int64_t end);

/* After retention moved the start of a log ending at end to start: drops the entries wholly
 * below it and moves the start of the one that covers it up to start (all of them when the
 * log holds nothing any more, start == end). */
void bk_epochs_trim(bk_epochs_t *e, int64_t start, int64_t end);

/* Epoch of the last entry, -1 when the list is empty. */
int32_t bk_epochs_last(const bk_epochs_t *e);

/* Kafka's OffsetsForLeaderEpoch over a log ending at end: the end offset of the largest epoch
 * <= epoch (the start of the next entry, or end), with *found set to that epoch. When every
 * entry has a larger epoch, *found = -1 and the result is the first entry's start; for an
 * empty list, *found = -1 and the result is end. */
int64_t bk_epochs_end(const bk_epochs_t *e, int32_t epoch, int64_t end, int32_t *found);

void bk_epochs_free(bk_epochs_t *e);

#endif
