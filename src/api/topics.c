/* Topic metadata in the Kafka REST Proxy v2 shapes: GET /topics, /topics/{t},
 * /topics/{t}/partitions[/{p}], /topics/{t}/partitions/{p}/offsets and /brokers. With one
 * replica per partition (until replication lands) the leader of every partition is the
 * cluster leader. */
#include <inttypes.h>
#include <llhttp.h>
#include <stdio.h>
#include <string.h>

#include "api/broker.h"
#include "api/consumers.h"
#include "http/response.h"

static void partition_json(bk_broker_t *b, bk_json_t *j, bk_partition_t *p)
{
    bk_election_view_t v;
    bk_election_view(b->election, &v);
    const char *leader = v.leader_id[0] ? v.leader_id : b->cfg.broker_id;
    bk_replica_info_t reps[16];
    int n = b->replicator ? bk_replicator_replicas(b->replicator, p, reps, 16) : 0;
    if (n <= 0) { /* no replication state known: this broker alone */
        snprintf(reps[0].broker, sizeof reps[0].broker, "%s", b->cfg.broker_id);
        reps[0].leader = strcmp(leader, b->cfg.broker_id) == 0;
        reps[0].in_sync = 1;
        n = 1;
    }
    bk_json_obj(j);
    bk_json_key(j, "partition");
    bk_json_uint(j, bk_partition_index(p));
    bk_json_key(j, "leader");
    bk_json_str(j, leader);
    bk_json_key(j, "replicas");
    bk_json_arr(j);
    for (int i = 0; i < n; i++) {
        bk_json_obj(j);
        bk_json_key(j, "broker");
        bk_json_str(j, reps[i].broker);
        bk_json_key(j, "leader");
        bk_json_bool(j, reps[i].leader);
        bk_json_key(j, "in_sync");
        bk_json_bool(j, reps[i].in_sync);
        bk_json_obj_end(j);
    }
    bk_json_arr_end(j);
    bk_json_obj_end(j);
}

static void list_topics(bk_broker_t *b, bk_exchange_t *ex)
{
    bk_json_t *j = bk_json_begin();
    bk_json_arr(j);
    size_t n = bk_log_topic_count(b->log);
    for (size_t i = 0; i < n; i++) {
        const char *name = bk_topic_name(bk_log_topic_at(b->log, i));
        if (bk_broker_may_describe(b, name, strlen(name))) /* left out, not an error */
            bk_json_str(j, name);
    }
    bk_json_arr_end(j);
    bk_exchange_respond_json(ex, 200, j, NULL);
}

/* The compaction settings, as Kafka names and renders them. */
static void compaction_configs_json(bk_json_t *j, const bk_topic_config_t *cfg)
{
    static const char *const policies[] = {"delete", "delete", "compact", "compact,delete"};
    char num[40];
    bk_json_key(j, "cleanup.policy");
    bk_json_str(j, policies[cfg->cleanup_policy & 3u]);
    bk_json_key(j, "delete.retention.ms");
    snprintf(num, sizeof num, "%lld", (long long)cfg->delete_retention_ms);
    bk_json_str(j, num);
    bk_json_key(j, "min.compaction.lag.ms");
    snprintf(num, sizeof num, "%lld", (long long)cfg->min_compaction_lag_ms);
    bk_json_str(j, num);
    bk_json_key(j, "min.cleanable.dirty.ratio");
    snprintf(num, sizeof num, "%g", cfg->min_cleanable_ratio);
    bk_json_str(j, num);
}

void bk_api_topic_describe(bk_broker_t *b, bk_exchange_t *ex, bk_topic_t *t, int status)
{
    const bk_topic_config_t *cfg = bk_topic_config(t);
    bk_json_t *j = bk_json_begin();
    bk_json_obj(j);
    bk_json_key(j, "name");
    bk_json_str(j, bk_topic_name(t));
    bk_json_key(j, "topic_id"); /* null for a topic made before ids */
    char id[17];
    if (bk_topic_id(t) != 0) {
        snprintf(id, sizeof id, "%016" PRIx64, bk_topic_id(t));
        bk_json_str(j, id);
    } else {
        bk_json_null(j);
    }
    bk_json_key(j, "internal"); /* written only by the group coordinator */
    bk_json_bool(j, bk_gstore_is_internal(bk_topic_name(t), strlen(bk_topic_name(t))));
    bk_json_key(j, "configs");
    bk_json_obj(j);
    char num[32];
    bk_json_key(j, "retention.ms");
    snprintf(num, sizeof num, "%lld", (long long)cfg->retention_ms);
    bk_json_str(j, num);
    bk_json_key(j, "retention.bytes");
    snprintf(num, sizeof num, "%lld", (long long)cfg->retention_bytes);
    bk_json_str(j, num);
    bk_json_key(j, "segment.bytes");
    snprintf(num, sizeof num, "%llu", (unsigned long long)cfg->segment_bytes);
    bk_json_str(j, num);
    bk_json_key(j, "max.message.bytes");
    snprintf(num, sizeof num, "%u", cfg->max_message_bytes);
    bk_json_str(j, num);
    /* compression and replication settings */
    bk_json_key(j, "compression.type");
    bk_json_str(j, bk_compression_name(cfg->compression));
    bk_json_key(j, "min.insync.replicas");
    snprintf(num, sizeof num, "%u",
             b->replicator && bk_topic_partition_count(t)
                 ? bk_replicator_min_insync(b->replicator, bk_topic_partition(t, 0))
                 : (cfg->min_insync_replicas ? cfg->min_insync_replicas : 1));
    bk_json_str(j, num);
    compaction_configs_json(j, cfg);
    bk_json_obj_end(j);
    bk_json_key(j, "replication_factor");
    bk_json_uint(j, cfg->replication_factor ? cfg->replication_factor : 1);
    bk_json_key(j, "partitions");
    bk_json_arr(j);
    for (uint32_t i = 0; i < bk_topic_partition_count(t); i++)
        partition_json(b, j, bk_topic_partition(t, i));
    bk_json_arr_end(j);
    bk_json_obj_end(j);
    bk_exchange_respond_json(ex, status, j, NULL);
}

static void list_partitions(bk_broker_t *b, bk_exchange_t *ex, bk_topic_t *t)
{
    bk_json_t *j = bk_json_begin();
    bk_json_arr(j);
    for (uint32_t i = 0; i < bk_topic_partition_count(t); i++)
        partition_json(b, j, bk_topic_partition(t, i));
    bk_json_arr_end(j);
    bk_exchange_respond_json(ex, 200, j, NULL);
}

static void offsets(bk_broker_t *b, bk_exchange_t *ex, bk_partition_t *p)
{
    bk_json_t *j = bk_json_begin();
    bk_json_obj(j);
    bk_json_key(j, "beginning_offset");
    bk_json_int(j, bk_partition_start_offset(p));
    bk_json_key(j, "end_offset");
    bk_json_int(j, bk_broker_visible_end(b, p));
    bk_json_obj_end(j);
    bk_exchange_respond_json(ex, 200, j, NULL);
}

static void brokers(bk_broker_t *b, bk_exchange_t *ex)
{
    bk_election_view_t v;
    bk_election_view(b->election, &v);
    bk_json_t *j = bk_json_begin();
    bk_json_obj(j);
    bk_json_key(j, "brokers");
    bk_json_arr(j);
    bk_json_str(j, b->cfg.broker_id);
    if (v.leader_id[0] && strcmp(v.leader_id, b->cfg.broker_id) != 0)
        bk_json_str(j, v.leader_id);
    bk_json_arr_end(j);
    bk_json_obj_end(j);
    bk_exchange_respond_json(ex, 200, j, NULL);
}

void bk_api_topics(bk_broker_t *b, bk_exchange_t *ex, const bk_route_t *r)
{
    if (r->id == BK_ROUTE_TOPICS) {
        list_topics(b, ex);
        return;
    }
    if (r->id == BK_ROUTE_BROKERS) {
        brokers(b, ex);
        return;
    }
    bk_topic_t *t = bk_broker_topic(b, ex, r->topic, r->topic_len, 0, -1);
    if (!t)
        return;
    if (r->id == BK_ROUTE_TOPIC || r->id == BK_ROUTE_CONFIGS) {
        bk_api_topic_describe(b, ex, t, 200);
        return;
    }
    if (r->id == BK_ROUTE_PARTITIONS) {
        list_partitions(b, ex, t);
        return;
    }
    bk_partition_t *p = bk_broker_partition(ex, t, r->partition);
    if (!p)
        return;
    if (r->id == BK_ROUTE_OFFSETS) {
        offsets(b, ex, p);
        return;
    }
    bk_json_t *j = bk_json_begin();
    partition_json(b, j, p);
    bk_exchange_respond_json(ex, 200, j, NULL);
}
