/* The table of idempotent producers one partition remembers (one bk_pseq_entry_t per producer
 * id), embedded in bk_partition_t. Kept by the append path (bk_pstate_note, for every batch
 * that reaches the log) and read lazily from the log's tail for what was there before the
 * table started: at open, and after truncation, reset or a cleared fence (bk_pstate_restart).
 * Loop thread only. */
#ifndef BROOK_LOG_PRODUCER_STATE_H
#define BROOK_LOG_PRODUCER_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "log/producer_seq.h"

typedef struct {
    bk_pseq_entry_t *v; /* unordered; linear search (at most BK_PSTATE_MAX_PRODUCERS) */
    size_t n, cap;
    int64_t unread_end; /* the log below this offset is not in the table yet (0: none) */
} bk_pstate_t;

/* Forgets every producer: the log below end (all of it written, nothing in flight) is to be
 * read again when a producer's batch next needs the table. */
void bk_pstate_restart(bk_pstate_t *s, int64_t end);
void bk_pstate_free(bk_pstate_t *s);

struct bk_partition;
/* Records the producers' batches among batches (whole, stamped), just appended to p. */
void bk_pstate_note(struct bk_partition *p, const uint8_t *batches, size_t len);

#endif
