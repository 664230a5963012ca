/* InitProducerId (22), versions 0-1: hands an idempotent producer its id, at producer epoch
 * 0. An id is never handed out twice, across restarts and failovers: only the leader hands
 * them out, as base | n with n counting up to 2^24 in memory, and the base is durable and
 * never repeats -- in a cluster the term's fencing epoch (Redis bumps it for every new term),
 * standalone a generation counter persisted in the data directory (bk_log_next_generation)
 * with bit 62 set, so the two kinds never meet. A transactional id is refused (Brook has no
 * transactions) with TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which clients report as fatal
 * rather than retry. Response v0-1: throttle_time_ms, error_code, producer_id,
 * producer_epoch. */
#include <inttypes.h>

#include "brook/common.h"
#include "brook/election.h"
#include "kafka/kafka_impl.h"

#define PID_SEQ_BITS 24
#define PID_PER_BASE ((uint32_t)1 << PID_SEQ_BITS)
#define PID_STANDALONE ((int64_t)1 << 62)
#define PID_MAX_BASE ((int64_t)1 << 38) /* epochs and generations below this fit */

/* A fresh base when needed: the term changed (cluster), or none yet or the last one is
 * used up (standalone). 0, or the error code to answer. */
static int16_t renew_base(bk_kafka_t *k, int standalone, int64_t epoch)
{
    if (!standalone && epoch != k->pid_term) {
        if (epoch <= 0 || epoch >= PID_MAX_BASE)
            return BK_KERR_COORDINATOR_NOT_AVAILABLE;
        k->pid_term = epoch;
        k->pid_base = epoch << PID_SEQ_BITS;
        k->pid_next = 0;
    }
    if (standalone && (k->pid_term != -1 || k->pid_next >= PID_PER_BASE)) {
        int64_t gen = 0;
        int rc = bk_log_next_generation(k->deps.log, &gen);
        if (rc < 0 || gen >= PID_MAX_BASE)
            return BK_KERR_COORDINATOR_NOT_AVAILABLE; /* retriable; the log traced why */
        k->pid_term = -1;
        k->pid_base = PID_STANDALONE | gen << PID_SEQ_BITS;
        k->pid_next = 0;
    }
    return k->pid_next < PID_PER_BASE ? BK_KERR_NONE : BK_KERR_COORDINATOR_NOT_AVAILABLE;
}

static int16_t next_pid(bk_kafka_t *k, int64_t *pid)
{
    int64_t epoch = 0;
    if (!bk_kafka_is_leader(k, &epoch))
        return BK_KERR_COORDINATOR_NOT_AVAILABLE; /* the leader hands them out: retry there */
    bk_election_view_t v;
    bk_election_view(*k->deps.election, &v);
    int16_t err = renew_base(k, v.role == BK_ROLE_STANDALONE, epoch);
    if (err) {
        bk_trace_warn("kafka", "InitProducerId: no producer id to hand out (term %" PRId64 ")",
                      epoch);
        return err;
    }
    *pid = k->pid_base | (int64_t)k->pid_next++;
    return BK_KERR_NONE;
}

void bk_khandle_init_producer_id(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_kreq_init_producer_id_t *q = &r->req.u.init_producer_id;
    int64_t pid = -1;
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
    } else {
        err = next_pid(k, &pid);
    }
    bk_kw_t *w = &r->out;
    bk_kresp_begin(w, &r->req.h, 0);
    bk_kw_i32(w, 0); /* throttle_time_ms */
    bk_kw_i16(w, err);
    bk_kw_i64(w, err ? -1 : pid);
    bk_kw_i16(w, err ? -1 : 0); /* producer_epoch */
    bk_kreq_finish(r);
}
