/* Producer ids for idempotent producers, handed out by the leader alone (its Kafka listener's
 * InitProducerId and the POST /cluster/producer-ids route followers ask through), from one
 * allocator per broker so an id is never handed out twice. Pure bookkeeping apart from the
 * standalone generation (bk_log_next_generation); the caller decides whether it leads and at
 * which epoch. Ownership: the allocator is a plain struct, zeroed to start, owned by main. */
#ifndef BROOK_LOG_PRODUCER_IDS_H
#define BROOK_LOG_PRODUCER_IDS_H

#include <stdint.h>

#include "brook/log.h"

typedef struct bk_pid_alloc {
    int64_t base; /* the durable part: epoch or generation, shifted */
    int64_t term; /* the epoch base was made from, -1 for a standalone generation */
    uint32_t next;
} bk_pid_alloc_t;

/* The next id into *pid for a leader at epoch (cluster) or a standalone broker (epoch
 * ignored). 0, or UV_EAGAIN when none can be handed out now (an epoch out of range, the
 * generation not persisted, the term's 2^24 ids used up): answer a retriable error. */
int bk_pid_alloc_next(bk_pid_alloc_t *a, bk_log_t *log, int standalone, int64_t epoch,
                      int64_t *pid);

#endif
