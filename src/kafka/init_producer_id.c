/* InitProducerId (22), versions 0-1: hands an idempotent producer its id, at producer epoch
 * 0. An id is never handed out twice, across restarts and failovers: only the leader makes
 * them, from the broker's allocator (log/producer_ids.h: a durable base that never repeats |
 * a counter). Any broker answers, as in Kafka: a follower asks the leader for one
 * (pid_ask.c) after checking the client's own rights. A transactional id is refused (Brook
 * has no transactions) with TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which clients report as
 * fatal rather than retry. Response v0-1: throttle_time_ms, error_code, producer_id,
 * producer_epoch. */
#include <inttypes.h>

#include "brook/common.h"
#include "brook/election.h"
#include "kafka/kafka_impl.h"

/* The leader's own: an id from the allocator, or the retriable error to answer. */
static int16_t next_pid(bk_kafka_t *k, int64_t epoch, int64_t *pid)
{
    bk_election_view_t v;
    bk_election_view(*k->deps.election, &v);
    int rc = bk_pid_alloc_next(k->deps.pids, k->deps.log, v.role == BK_ROLE_STANDALONE, epoch, pid);
    if (rc) {
        bk_trace_warn("kafka", "InitProducerId: no producer id to hand out (term %" PRId64 ")",
                      epoch);
        return BK_KERR_COORDINATOR_NOT_AVAILABLE;
    }
    return BK_KERR_NONE;
}

/* 1 when this broker follows a leader it may ask for ids. */
static int may_ask_leader(bk_kafka_t *k)
{
    bk_election_t *e = *k->deps.election;
    if (!e || !k->deps.leader_client || k->stopping)
        return 0;
    bk_election_view_t v;
    bk_election_view(e, &v);
    return v.role == BK_ROLE_FOLLOWER;
}

void bk_kinit_pid_answer(bk_kreq_t *r, int16_t err, int64_t pid)
{
    bk_kw_t *w = &r->out;
    bk_kresp_begin(w, &r->req.h, 0);
    bk_kw_i32(w, 0); /* throttle_time_ms */
    bk_kw_i16(w, err);
    bk_kw_i64(w, err ? -1 : pid);
    bk_kw_i16(w, err ? -1 : 0); /* producer_epoch */
    bk_kreq_finish(r);
}

void bk_khandle_init_producer_id(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_kreq_init_producer_id_t *q = &r->req.u.init_producer_id;
    int64_t pid = -1, epoch = 0;
    int16_t err = BK_KERR_NONE;
    if (q->txn_id.len >= 0) {
        bk_trace_info("kafka",
                      "InitProducerId for transactional id '%.*s' from %s refused: "
                      "Brook has no transactions",
                      (int)(q->txn_id.len > 64 ? 64 : q->txn_id.len), (const char *)q->txn_id.ptr,
                      r->conn ? r->conn->peer : "?");
        err = BK_KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    } else if (!bk_kafka_allowed(r, 0, BK_KAUTHZ_OK)) {
        err = BK_KERR_CLUSTER_AUTHORIZATION_FAILED;
    } else if (bk_kafka_is_leader(k, &epoch)) {
        err = next_pid(k, epoch, &pid);
    } else if (may_ask_leader(k)) {
        bk_kpidask_start(k, r); /* answers r, now or later */
        return;
    } else {
        err = BK_KERR_COORDINATOR_NOT_AVAILABLE; /* no leader known yet: retriable */
    }
    bk_kinit_pid_answer(r, err, pid);
}
