/* GET /metadata/leader and GET /health: who leads, at which epoch, and how this broker sees
 * itself, including partitions fenced by a failed write. Both answer from memory, never
 * touching Redis or the disk, so they work while Redis is down or the disk is full. */
#include "api/broker.h"
#include "brook/common.h"
#include "http/response.h"

static const char *role_name(bk_role_t r)
{
    switch (r) {
    case BK_ROLE_STANDALONE:
        return "standalone";
    case BK_ROLE_LEADER:
        return "leader";
    case BK_ROLE_FOLLOWER:
        return "follower";
    default:
        return "none";
    }
}

void bk_api_leader(bk_broker_t *b, bk_exchange_t *ex)
{
    bk_election_view_t v;
    bk_election_view(b->election, &v);
    if (!v.leader_id[0]) {
        bk_exchange_error(ex, 503, "no leader elected");
        return;
    }
    bk_json_t *j = bk_json_begin();
    bk_json_obj(j);
    bk_json_key(j, "leader");
    bk_json_str(j, v.leader_id);
    bk_json_key(j, "epoch");
    bk_json_int(j, v.epoch);
    bk_json_key(j, "url");
    bk_json_str(j, v.leader_url);
    bk_json_obj_end(j);
    bk_exchange_respond_json(ex, 200, j, NULL);
}

#define HEALTH_FENCED_LISTED 100 /* the count is always complete; the list stops here */

/* "fenced_partitions": how many partitions refuse appends after a failed write or flush, and
 * "fenced": the first of them with the error and whether the broker keeps retrying (it clears
 * the fence once writes work again) or only a restart can. */
static void health_fenced(bk_broker_t *b, bk_json_t *j)
{
    uint64_t count = 0;
    bk_json_key(j, "fenced");
    bk_json_arr(j);
    for (size_t i = 0; i < bk_log_topic_count(b->log); i++) {
        bk_topic_t *t = bk_log_topic_at(b->log, i);
        for (uint32_t k = 0; k < bk_topic_partition_count(t); k++) {
            int retrying;
            int err = bk_partition_fenced(bk_topic_partition(t, k), &retrying);
            if (!err || count++ >= HEALTH_FENCED_LISTED)
                continue;
            bk_json_obj(j);
            bk_json_key(j, "topic");
            bk_json_str(j, bk_topic_name(t));
            bk_json_key(j, "partition");
            bk_json_uint(j, k);
            bk_json_key(j, "error");
            bk_json_str(j, bk_strerror(err));
            bk_json_key(j, "retrying");
            bk_json_bool(j, retrying);
            bk_json_obj_end(j);
        }
    }
    bk_json_arr_end(j);
    bk_json_key(j, "fenced_partitions");
    bk_json_uint(j, count);
}

void bk_api_health(bk_broker_t *b, bk_exchange_t *ex)
{
    bk_election_view_t v;
    bk_election_view(b->election, &v);
    bk_json_t *j = bk_json_begin();
    bk_json_obj(j);
    bk_json_key(j, "status");
    bk_json_str(j, "ok");
    bk_json_key(j, "broker_id");
    bk_json_str(j, b->cfg.broker_id);
    bk_json_key(j, "role");
    bk_json_str(j, role_name(v.role));
    bk_json_key(j, "epoch");
    bk_json_int(j, v.epoch);
    bk_json_key(j, "leader");
    if (v.leader_id[0])
        bk_json_str(j, v.leader_id);
    else
        bk_json_null(j);
    bk_json_key(j, "leader_url");
    if (v.leader_url[0])
        bk_json_str(j, v.leader_url);
    else
        bk_json_null(j);
    bk_json_key(j, "redis_connected");
    bk_json_bool(j, v.redis_connected);
    bk_json_key(j, "connections");
    bk_json_uint(j, b->server ? bk_server_connection_count(b->server) : 0);
    health_fenced(b, j);
    bk_json_obj_end(j);
    bk_exchange_respond_json(ex, 200, j, NULL);
}
