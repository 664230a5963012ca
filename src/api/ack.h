/* The acknowledgement policy shared by every produce route: what must be true before a
 * write is answered 200. acks=0 answers once the write is queued; acks=1 once it is durable
 * here under the fsync policy; acks=all once every in-sync replica holds it (the replicated
 * high watermark passed it) and they are at least --min-insync-replicas: checked before the
 * append (503, nothing written) and again when the write is replicated (BK_ENOREPLICAS, an
 * outcome-unknown 500, when the in-sync set shrank below the minimum meanwhile). In every
 * case but acks=0 the lease is re-checked on a fresh clock read at answer time, under the
 * epoch the batch was written with. */
#ifndef BROOK_API_ACK_H
#define BROOK_API_ACK_H

#include <stdint.h>

#include "api/broker.h"

typedef enum { BK_ACKS_NONE = 0, BK_ACKS_LEADER = 1, BK_ACKS_ALL = -1 } bk_acks_t;

/* Reads ?acks=0|1|all|-1 (default all). Answers 400 and returns 0 when invalid. */
int bk_ack_parse(bk_exchange_t *ex, bk_acks_t *acks);

/* acks=all only: refuses (503, nothing written) when the in-sync set is below the minimum.
 * Returns 1 when the write may proceed, 0 when ex was answered. */
int bk_ack_precheck(bk_broker_t *b, bk_exchange_t *ex, bk_partition_t *p, bk_acks_t acks);

/* Final status of one append: 0 acknowledged, < 0 outcome unknown. */
typedef void (*bk_ack_done_fn)(void *arg, int status);

/* An append's bookkeeping, embedded by callers; fill it and pass bk_ack_after_append as the
 * append callback with the struct as its argument. done runs exactly once. */
typedef struct {
    bk_broker_t *broker;
    bk_partition_t *part;
    uint32_t count; /* records in the batch */
    bk_acks_t acks;
    int64_t epoch; /* the term the batch was written under */
    bk_ack_done_fn done;
    void *arg;
    uint64_t decided_ms; /* set before done runs: bk_now_ms() of the final lease check */
} bk_ack_t;

void bk_ack_after_append(void *arg, int status, int64_t base_offset);

#endif
