/* From a decoded frame to its handler: ApiVersions is answered here (also for versions Brook
 * does not speak: the v0 body with UNSUPPORTED_VERSION and the key list, so the client can
 * pick); any other request outside the API table closes the connection, as Kafka does. With
 * authentication on, a request other than ApiVersions and the SASL exchange on a connection
 * that has not authenticated closes it too, and every other request is decided against the
 * access table (authz.c) before its handler runs. Also the small questions every handler
 * asks: is this broker the leader, how far may consumers read, which topic is named. */
#include <stdio.h>
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

int bk_kafka_allowed(const bk_kreq_t *r, int32_t i, int what)
{
    return bk_kauthz_allowed(&r->authz, i, what);
}

bk_topic_t *bk_kafka_topic(bk_kafka_t *k, const bk_kreq_t *r, int32_t i, bk_kslice_t name)
{
    if (name.len <= 0 || !bk_kafka_allowed(r, i, BK_KAUTHZ_OK))
        return NULL;
    return bk_log_topic_find(k->deps.log, (const char *)name.ptr, (size_t)name.len);
}

typedef struct {
    const bk_auth_t *auth;
    const char *user;
} principal_t;

static int check(void *arg, bk_acl_resource_t res, const char *name, size_t len, bk_acl_op_t op)
{
    const principal_t *p = arg;
    return bk_auth_check(p->auth, p->user, strlen(p->user), res, name, len, op);
}

int bk_kafka_may(bk_kafka_t *k, const bk_kreq_t *r, bk_acl_resource_t res, const char *name,
                 size_t len, bk_acl_op_t op)
{
    if (r->authz.off)
        return 1;
    if (!r->conn || r->conn->sasl_state != BK_KCONN_DONE)
        return 0;
    principal_t p = {k->deps.auth, r->conn->user};
    return bk_kauthz_may(check, &p, res, name, len, op);
}

int bk_kafka_may_list(bk_kafka_t *k, const bk_kreq_t *r, const char *name, size_t len)
{
    const bk_kauthz_rule_t *rule = bk_kauthz_rule(r->req.h.key);
    if (r->authz.off)
        return 1;
    return rule && bk_kafka_may(k, r, BK_RES_TOPIC, name, len, rule->op);
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

/* An acks=0 produce naming a topic its principal may not write: there is no answer to carry
 * TOPIC_AUTHORIZATION_FAILED, so the connection closes (as Kafka does), and nothing of the
 * request is written. */
static int unanswerable_denial(const bk_kreq_t *r)
{
    if (r->req.h.key != BK_KAPI_PRODUCE || r->req.u.produce.acks != 0)
        return 0;
    for (int32_t i = 0; i < r->req.u.produce.ntopics; i++)
        if (!bk_kafka_allowed(r, i, BK_KAUTHZ_OK))
            return 1;
    return 0;
}

static void route(bk_kafka_t *k, bk_kreq_t *r)
{
    if (unanswerable_denial(r)) {
        refuse(r, "acks=0 produce to a topic this principal may not write (no answer to say so)");
        return;
    }
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
    case BK_KAPI_INIT_PRODUCER_ID:
        bk_khandle_init_producer_id(k, r);
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
    case BK_KAPI_SASL_HANDSHAKE:
        bk_khandle_sasl_handshake(k, r);
        break;
    case BK_KAPI_SASL_AUTHENTICATE:
        bk_khandle_sasl_authenticate(k, r);
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

/* With authentication on: refuses (closing the connection, one trace line) a request its
 * connection may not make yet, or one of an API without an access rule; else decides what
 * the principal may do with each resource the request names. 1 when the handler may run. */
static int authorize(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_kapi_t *api = bk_kapi_find(r->req.h.key);
    const char *name = api ? api->name : "?";
    char why[200];
    if (!k->deps.auth) {
        r->authz.off = 1;
        return 1;
    }
    const bk_kauthz_rule_t *rule = bk_kauthz_rule(r->req.h.key);
    if (!rule) {
        snprintf(why, sizeof why, "%s has no access rule: refused", name);
        refuse(r, why);
        return 0;
    }
    if (rule->kind == BK_KAUTHZ_PREAUTH)
        return 1;
    if (bk_kconn_needs_auth(r->conn)) {
        snprintf(why, sizeof why,
                 "%s before SASL authentication (--users-file is set: use "
                 "security.protocol=%s)",
                 name,
                 r->conn->tls ? "SASL_SSL, or SSL with a client certificate" : "SASL_PLAINTEXT");
        refuse(r, why);
        return 0;
    }
    principal_t p = {k->deps.auth, r->conn->user};
    if (bk_kauthz_decide(rule, &r->req, check, &p, &r->arena, &r->authz) != 0) {
        refuse(r, "out of memory");
        return 0;
    }
    return 1;
}

void bk_kafka_dispatch(bk_kafka_t *k, bk_kreq_t *r)
{
    if (r->conn->sasl_raw) { /* after a v0 handshake: a bare SASL token, no header */
        bk_ksasl_raw_token(k, r);
        return;
    }
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
                 h->key, h->version, r->frame_len,
                 rc == UV_ENOMEM ? "out of memory" : "bad encoding");
        refuse(r, why);
        return;
    }
    if (authorize(k, r))
        route(k, r);
}
