/* The acknowledgement policy every produce path shares, whatever its protocol (HTTP in
 * src/api/, Kafka in src/kafka/): what must be true before a write is acknowledged. acks=0
 * answers once the write is queued; acks=1 once it is durable here under the fsync policy;
 * acks=all once every in-sync replica holds it (the replicated high watermark passed it) and
 * they are at least --min-insync-replicas (the topic's min.insync.replicas): checked before
 * the append (bk_ack_check_insync: nothing written) and again when the write is replicated
 * (BK_ENOREPLICAS, outcome unknown, when the in-sync set shrank below the minimum meanwhile).
 * In every case but acks=0 the lease is re-checked on a fresh clock read at answer time, under
 * the epoch the batch was written with. It never answers anyone itself: it reports a status. */
#ifndef BROOK_ACK_H
#define BROOK_ACK_H

#include <stdint.h>

#include "brook/election.h"
#include "brook/log.h"
#include "brook/replicator.h"

typedef enum { BK_ACKS_NONE = 0, BK_ACKS_LEADER = 1, BK_ACKS_ALL = -1 } bk_acks_t;

/* acks=all only: whether the write may proceed (0), or why not: UV_EAGAIN (fewer in-sync
 * replicas than the minimum), BK_ECLOSED (replicator stopped, late in a shutdown), another
 * error from bk_replicator_check_insync. Other acks: always 0. */
int bk_ack_check_insync(bk_replicator_t *r, bk_partition_t *p, bk_acks_t acks);

/* Final status of one append: 0 acknowledged, < 0 outcome unknown (BK_ENOTLEADER: the lease
 * of the write's epoch no longer held when it was to be acknowledged). */
typedef void (*bk_ack_done_fn)(void *arg, int status);

/* An append's bookkeeping, embedded by callers; fill it and pass bk_ack_after_append as the
 * append callback with the struct as its argument. done runs exactly once. election and
 * replicator point at the front end's own pointers, read when needed: NULL once stopped. */
typedef struct {
    bk_election_t *const *election;
    bk_replicator_t *const *replicator;
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
