/* GET /metadata/leader and GET /health: who leads, at which epoch, and how this broker sees
 * itself. Both answer from memory, never touching Redis, so they work while Redis is down. */
#include "api/broker.h"
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
    bk_json_obj_end(j);
    bk_exchange_respond_json(ex, 200, j, NULL);
}
