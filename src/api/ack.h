/* HTTP's side of the acknowledgement policy (brook/ack.h holds the policy itself, shared with
 * the Kafka front end): the ?acks= query parameter and the 503 for too few in-sync replicas. */
#ifndef BROOK_API_ACK_H
#define BROOK_API_ACK_H

#include <stdint.h>

#include "api/broker.h"
#include "brook/ack.h"

/* Reads ?acks=0|1|all|-1 (default all). Answers 400 and returns 0 when invalid. */
int bk_ack_parse(bk_exchange_t *ex, bk_acks_t *acks);

/* acks=all only: refuses (503, nothing written) when the in-sync set is below the minimum.
 * Returns 1 when the write may proceed, 0 when ex was answered. */
int bk_ack_precheck(bk_broker_t *b, bk_exchange_t *ex, bk_partition_t *p, bk_acks_t acks);

#endif
