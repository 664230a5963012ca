/* The replicator: the I/O shell of replication (DESIGN.md §6 phase 2), driving the pure parts
 * in brook/replication.h. On the leader it serves followers' fetches (POST /replication/fetch),
 * keeps per-partition ISR state, publishes the cluster's in-sync set to Redis (through the
 * election) before relying on it, and computes each partition's replicated high watermark;
 * acks=all writes wait on that. On a follower it runs the fetch loop against the leader:
 * creates topics the leader has, truncates a diverged tail (leader epochs, KIP-101/279),
 * appends batches unchanged, and tracks the leader's high watermark.
 *
 * All calls from the loop thread. Ownership: bk_replicator_new allocates; bk_replicator_stop
 * cancels fetches and waits, closes handles, frees, then calls done(arg). */
#ifndef BROOK_REPLICATOR_H
#define BROOK_REPLICATOR_H

#include <stdint.h>
#include <uv.h>

#include "brook/election.h"
#include "brook/http_client.h"
#include "brook/log.h"
#include "http/exchange.h"

typedef struct {
    const char *broker_id;
    uint32_t replica_lag_ms;  /* --replica-lag-ms: a follower not caught up this long leaves
                                 the ISR (default 10000) */
    uint32_t fetch_wait_ms;   /* follower long-poll wait (default 500) */
    uint32_t fetch_max_bytes; /* per fetch answer (default 8 MiB) */
    uint32_t min_insync;      /* --min-insync-replicas for acks=all (default 1; 2 for a
                                 three-broker cluster is the usual choice) */
} bk_replication_config_t;

void bk_replication_config_defaults(bk_replication_config_t *cfg);

typedef struct bk_replicator bk_replicator_t;

/* Standalone brokers pass election = NULL-equivalent standalone role: the replicator then
 * does nothing and the replicated high watermark is the log's. */
int bk_replicator_new(uv_loop_t *loop, bk_log_t *log, bk_election_t *election,
                      bk_http_client_t *client, const bk_replication_config_t *cfg,
                      bk_replicator_t **out);

/* Hooks the broker must forward: the log's commit hook (p's durable end moved) and the
 * election's on_change (role, epoch or leader changed: start/stop the fetch loop, new term). */
void bk_replicator_on_commit(bk_replicator_t *r, bk_partition_t *p);
void bk_replicator_on_election_change(bk_replicator_t *r);

/* Called (from the loop) whenever p's replicated high watermark advances, so the broker can
 * wake long-poll reads and streams. */
void bk_replicator_set_hw_hook(bk_replicator_t *r, void (*hook)(void *arg, bk_partition_t *p),
                               void *arg);

/* End of what consumers may read on this broker: leader → replicated HW; follower →
 * min(leader's HW as last heard, local durable end); standalone → the log's HW. */
int64_t bk_replicator_high_watermark(bk_replicator_t *r, bk_partition_t *p);

/* acks=all: 0 when the write may proceed, or BK_ENOTLEADER / UV_EAGAIN (fewer in-sync
 * replicas than min_insync: refuse with 503 before appending anything). */
int bk_replicator_check_insync(bk_replicator_t *r, bk_partition_t *p);

/* acks=all: cb(arg, 0) once p's replicated HW >= end_offset; cb(arg, error) if this broker
 * stops leading (or the term changes) first. Exactly once, never from inside this call.
 * When the HW covers end_offset while fewer than min_insync replicas are in sync (the set
 * shrank after the append), the status is BK_ENOREPLICAS instead of 0: outcome unknown, never
 * acknowledged (returned at once when that is already the case at this call). */
int bk_replicator_wait(bk_replicator_t *r, bk_partition_t *p, int64_t end_offset,
                       void (*cb)(void *arg, int status), void *arg);

/* A topic creation, deletion or growth was just applied on this leader: wakes parked fetches
 * (followers learn the topic list from their answers) and calls cb(arg, 0) once every
 * follower that Redis may list as in sync (and so could be elected) has fetched with the
 * change applied (its fetch lists exactly this leader's topics and partitions); a follower
 * leaving the ISR stops counting once that is published. cb(arg, UV_ETIMEDOUT) after
 * replica_lag_ms + 5 s without that, cb(arg, BK_ENOTLEADER) if the term ends first,
 * cb(arg, BK_ECLOSED) on stop: the change stays applied here, unconfirmed. Returns 0 (cb runs
 * exactly once, never from inside this call), 1 when there is nothing to wait for
 * (standalone: cb never runs), or BK_ENOTLEADER / BK_ECLOSED / UV_ENOMEM (cb never runs). */
int bk_replicator_topics_changed(bk_replicator_t *r, void (*cb)(void *arg, int status), void *arg);

/* Serves POST /replication/fetch (answers ex exactly once, possibly after a long-poll). */
void bk_replicator_serve_fetch(bk_replicator_t *r, bk_exchange_t *ex);

/* Brokers alive as this leader sees them: itself and every follower whose last fetch is
 * recent (1 when standalone or not leading). For replication_factor checks. */
int bk_replicator_live_brokers(bk_replicator_t *r);

/* The min.insync.replicas that applies to p: its topic's setting, else --min-insync-replicas. */
uint32_t bk_replicator_min_insync(const bk_replicator_t *r, bk_partition_t *p);

/* Replica list of p for metadata: fills up to max entries, returns the count. */
typedef struct {
    char broker[128];
    int leader;
    int in_sync;
} bk_replica_info_t;
int bk_replicator_replicas(bk_replicator_t *r, bk_partition_t *p, bk_replica_info_t *out, int max);

/* Before a topic is deleted (bk_log_topic_delete): drops its replication state; its acks=all
 * waiters get UV_ECANCELED, and waiters already satisfied (of any topic) are answered now. */
void bk_replicator_forget_topic(bk_replicator_t *r, bk_topic_t *t);

/* Called (from the loop) right before a follower deletes a topic its leader no longer lists,
 * so the broker can end reads and streams of it; the hook must call
 * bk_replicator_forget_topic (unset: only that runs). */
void bk_replicator_set_delete_hook(bk_replicator_t *r, void (*hook)(void *arg, bk_topic_t *t),
                                   void *arg);

/* A graceful stop begins (SIGTERM): the server is about to drain every connection, the
 * followers' fetch connections included, so nothing still waiting for a follower can finish.
 * acks=all writes still waiting are answered now as outcome unknown (BK_ECLOSED), topic changes
 * waiting for confirmation likewise, and no ISR change is published from now on: a shrink
 * published on the way out would keep the in-sync followers from taking the lease this broker
 * is about to release. Idempotent; bk_replicator_stop still follows. */
void bk_replicator_drain(bk_replicator_t *r);

void bk_replicator_stop(bk_replicator_t *r, void (*done)(void *arg), void *arg);

#endif
