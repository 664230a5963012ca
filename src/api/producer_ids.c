/* POST /cluster/producer-ids: the leader hands a follower a producer id for an idempotent
 * producer that asked the follower (InitProducerId, src/kafka/pid_ask.c), from the same
 * allocator as its own Kafka listener, so an id is never handed out twice. Brokers' route
 * (cluster_action on the cluster); a broker not leading answers 503 rather than redirect, so
 * an ask never travels further than one hop. */
#include <inttypes.h>

#include "api/broker.h"
#include "brook/common.h"
#include "http/response.h"
#include "log/producer_ids.h"

void bk_api_producer_ids(bk_broker_t *b, bk_exchange_t *ex)
{
    int64_t epoch = 0, pid = -1;
    if (b->stopping || !b->pids || !bk_election_can_ack(b->election, &epoch)) {
        bk_exchange_error(ex, 503,
                          "this broker is not the leader (or cannot confirm its lease): "
                          "producer ids come from the leader");
        return;
    }
    bk_election_view_t v;
    bk_election_view(b->election, &v);
    if (bk_pid_alloc_next(b->pids, b->log, v.role == BK_ROLE_STANDALONE, epoch, &pid)) {
        bk_trace_warn("api", "no producer id to hand out (term %" PRId64 ")", epoch);
        bk_exchange_error(ex, 503, "no producer id to hand out in this term; retry");
        return;
    }
    bk_json_t *j = bk_json_begin();
    bk_json_obj(j);
    bk_json_key(j, "producer_id");
    bk_json_int(j, pid);
    bk_json_key(j, "producer_epoch");
    bk_json_int(j, 0);
    bk_json_obj_end(j);
    bk_exchange_respond_json(ex, 200, j, NULL);
}
