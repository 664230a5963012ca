/* Pure decisions of the replicator (src/replication/replicator.c, leader.c, follower.c), kept
 * apart from its I/O so they are unit-tested on their own: the leader's divergence check
 * (KIP-101/279), the follower's truncation point, fetch backoff, the high watermark a
 * follower may expose, the end offset of raw batches, who is eligible cluster-wide, and
 * whether a replicated write may be acknowledged. */
#ifndef BROOK_REPLICATION_REPLICA_LOGIC_H
#define BROOK_REPLICATION_REPLICA_LOGIC_H

#include <stddef.h>
#include <stdint.h>

#include "brook/replication.h"

/* Leader side. A follower holds [.., fetch_offset) and its last batch carries
 * last_fetched_epoch (-1: empty log). epoch_end / found_epoch are the leader's
 * bk_partition_epoch_end(p, last_fetched_epoch, &found_epoch). Returns -1 when the follower's
 * log is a prefix of the leader's (serve it from fetch_offset), else the diverging end offset
 * to answer: the follower must truncate before it may fetch. */
int64_t bk_repl_diverging_end(int32_t last_fetched_epoch, int64_t fetch_offset, int64_t epoch_end,
                              int32_t found_epoch);

/* Follower side, on a diverging_end_offset answer. local_end: its end offset; last_epoch_start:
 * the start offset of its batches of its last epoch. Truncate to diverging_end when that drops
 * something; otherwise the leader lacks the follower's last epoch altogether (the answer is the
 * end of an older epoch that reaches past our end): drop that epoch's batches. Each round
 * removes at least one batch or one epoch, so the exchange converges (Kafka KIP-279). */
int64_t bk_repl_truncate_target(int64_t diverging_end, int64_t local_end, int64_t last_epoch_start);

/* Fetch retry delay after a failure: 100 ms, doubling, at most 1 s. prev_ms 0 = first. */
uint32_t bk_repl_backoff_next(uint32_t prev_ms);

/* High watermark a follower may expose to readers. prev_hw: what it exposed so far (data below
 * it was committed); durable_end: its local durable end; leader_hw: the leader's HW as last
 * heard (-1: none); verified_end: end of the prefix checked against the current leader's log
 * (-1: not yet checked in this follower term). Never above durable_end, never above unchecked
 * data, never below min(prev_hw, durable_end). */
int64_t bk_repl_follower_hw(int64_t prev_hw, int64_t durable_end, int64_t leader_hw,
                            int64_t verified_end);

/* End offset (last offset + 1) of the last whole RecordBatch in data[0, len), walking only the
 * baseOffset / batchLength / lastOffsetDelta header fields. Returns 0 and sets *end, or
 * BK_EINVAL when len holds no whole batch or a length field is out of bounds. */
int bk_repl_batches_end(const uint8_t *data, size_t len, int64_t *end);

/* Cluster eligibility: 1 when follower id is listed and desired (pending) in every one of the
 * n ISRs (vacuously true for n = 0), else 0. */
int bk_repl_eligible(const bk_isr_t *const *isrs, size_t n, const char *id);

/* Largest fetch answer a follower must accept for a request of request_len bytes asking for
 * max_bytes of records: the records (max_bytes, or one batch of up to BK_FETCH_MAX_BATCH when
 * the first is larger), a partition head per requested partition (each at most 12 bytes more
 * than its request entry: within twice request_len), the leader's topic list (as many topics
 * as requested, each at most 42 bytes more than a request entry, plus BK_FETCH_TOPICS_ROOM for
 * topics the follower lacks) and 64 KiB for the fixed fields. The leader keeps its answers
 * within this (leader.c, budget_t). */
uint64_t bk_repl_answer_cap(uint32_t max_bytes, size_t request_len);

/* acks=all on the leader, for a write the replicated high watermark covers now: 0 (acknowledge)
 * when the HW was computed over at least min_insync replicas (isr_size: bk_isr_size, leader
 * included), else BK_ENOREPLICAS: the in-sync set shrank below the minimum after the append,
 * so the write is held by fewer replicas than promised and its outcome is unknown (Kafka's
 * NOT_ENOUGH_REPLICAS_AFTER_APPEND). The check before the append is bk_replicator_check_insync. */
int bk_repl_ack_status(int isr_size, uint32_t min_insync);

#endif
