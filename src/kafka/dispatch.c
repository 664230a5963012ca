/* From a decoded frame to its handler: ApiVersions is answered here (also for versions Brook
 * does not speak: the v0 body with UNSUPPORTED_VERSION and the key list, so the client can
 * pick); any other request outside the API table closes the connection, as Kafka does. Also
 * the small questions every handler asks: is this broker the leader, how far may consumers
 * read, which topic is named. */
#include <string.h>

#include "brook/common.h"
#include "kafka/kafka_impl.h"

int bk_kafka_is_leader(bk_kafka_t *k, int64_t *epoch)
{
    bk_election_t *e = *k->deps.election;
    return e && bk_election_can_ack(e, epoch);
}

int64_t bk_kafka_visible_end(bk_kafka_t *k, bk_partition_t *p)
{
    bk_replicator_t *r = *k->deps.replicator;
    return r ? bk_replicator_high_watermark(r, p) : bk_partition_high_watermark(p);
}

bk_topic_t *bk_kafka_topic(bk_kafka_t *k, bk_kslice_t name)
{
    if (name.len <= 0)
        return NULL;
    return bk_log_topic_find(k->deps.log, (const char *)name.ptr, (size_t)name.len);
}

/* Closes r's connection with one trace line; r, never to be answered, goes with it. */
static void refuse(bk_kreq_t *r, const char *why)
{
    bk_kconn_close(r->conn, why);
    bk_kreq_finish(r); /* detached by the close: freed */
}

static void api_versions(bk_kreq_t *r, int16_t error)
{
    bk_kresp_begin(&r->out, &r->req.h, 0); /* ApiVersions answers with header v0, always */
    bk_kencode_api_versions(&r->out, r->req.h.version, error);
    bk_kreq_finish(r);
}

static void route(bk_kafka_t *k, bk_kreq_t *r)
{
    switch (r->req.h.key) {
    case BK_KAPI_API_VERSIONS:
        api_versions(r, BK_KERR_NONE);
        break;
    case BK_KAPI_METADATA:
        bk_khandle_metadata(k, r);
        break;
    case BK_KAPI_PRODUCE:
        bk_khandle_produce(k, r);
        break;
    case BK_KAPI_FETCH:
        bk_khandle_fetch(k, r);
        break;
    case BK_KAPI_LIST_OFFSETS:
        bk_khandle_list_offsets(k, r);
        break;
    case BK_KAPI_CREATE_TOPICS:
        bk_khandle_create_topics(k, r);
        break;
    case BK_KAPI_DELETE_TOPICS:
        bk_khandle_delete_topics(k, r);
        break;
    case BK_KAPI_CREATE_PARTITIONS:
        bk_khandle_create_partitions(k, r);
        break;
    case BK_KAPI_DESCRIBE_CONFIGS:
        bk_khandle_describe_configs(k, r);
        break;
    case BK_KAPI_FIND_COORDINATOR:
        bk_khandle_find_coordinator(k, r);
        break;
    case BK_KAPI_JOIN_GROUP:
        bk_khandle_join_group(k, r);
        break;
    case BK_KAPI_SYNC_GROUP:
        bk_khandle_sync_group(k, r);
        break;
    case BK_KAPI_HEARTBEAT:
        bk_khandle_heartbeat(k, r);
        break;
    case BK_KAPI_LEAVE_GROUP:
        bk_khandle_leave_group(k, r);
        break;
    case BK_KAPI_OFFSET_COMMIT:
        bk_khandle_offset_commit(k, r);
        break;
    case BK_KAPI_OFFSET_FETCH:
        bk_khandle_offset_fetch(k, r);
        break;
    case BK_KAPI_LIST_GROUPS:
        bk_khandle_list_groups(k, r);
        break;
    case BK_KAPI_DESCRIBE_GROUPS:
        bk_khandle_describe_groups(k, r);
        break;
    default: /* in the table with a decoder but no handler: a bug, said loudly */
        refuse(r, "API without a handler");
    }
}

void bk_kafka_dispatch(bk_kafka_t *k, bk_kreq_t *r)
{
    int rc = bk_kafka_decode(r->frame, r->frame_len, &r->arena, &r->req);
    const bk_khdr_t *h = &r->req.h;
    char why[160];
    if (rc == UV_ENOTSUP && h->key == BK_KAPI_API_VERSIONS) {
        api_versions(r, BK_KERR_UNSUPPORTED_VERSION);
        return;
    }
    if (rc == UV_ENOTSUP) {
        const bk_kapi_t *api = bk_kapi_find(h->key);
        snprintf(why, sizeof why, "unsupported request: API key %d (%s) version %d", h->key,
                 api ? api->name : "unknown", h->version);
        refuse(r, why);
        return;
    }
    if (rc < 0) {
        snprintf(why, sizeof why, "malformed request (API key %d version %d, %zu bytes): %s",
                 h->key, h->version, r->frame_len, rc == UV_ENOMEM ? "out of memory" : "bad encoding");
        refuse(r, why);
        return;
    }
    route(k, r);
}
