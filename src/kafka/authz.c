/* The Kafka listener's access table: for every API Brook speaks, the ACL operation it needs
 * and where its request names the resources (README "Kafka protocol" lists it). Decisions are
 * made once per request, before its handler runs, and handlers find a topic only through them
 * (bk_kafka_topic), so a handler cannot serve a topic nobody decided on. This file decides;
 * it never answers a client. */
#include "kafka/authz.h"

#include <string.h>
#include <uv.h>

#include "brook/common.h"

/* ---- where each API names its resources ---- */

static int32_t produce_n(const bk_krequest_t *q)
{
    return q->u.produce.ntopics;
}
static bk_kslice_t produce_at(const bk_krequest_t *q, int32_t i, bk_acl_resource_t *res)
{
    *res = BK_RES_TOPIC;
    return q->u.produce.topics[i].name;
}

static int32_t fetch_n(const bk_krequest_t *q)
{
    return q->u.fetch.ntopics;
}
static bk_kslice_t fetch_at(const bk_krequest_t *q, int32_t i, bk_acl_resource_t *res)
{
    *res = BK_RES_TOPIC;
    return q->u.fetch.topics[i].name;
}

static int32_t list_offsets_n(const bk_krequest_t *q)
{
    return q->u.list_offsets.ntopics;
}
static bk_kslice_t list_offsets_at(const bk_krequest_t *q, int32_t i, bk_acl_resource_t *res)
{
    *res = BK_RES_TOPIC;
    return q->u.list_offsets.topics[i].name;
}

static int32_t metadata_n(const bk_krequest_t *q)
{
    return q->u.metadata.ntopics > 0 ? q->u.metadata.ntopics : 0; /* "every topic": filtered */
}
static bk_kslice_t metadata_at(const bk_krequest_t *q, int32_t i, bk_acl_resource_t *res)
{
    *res = BK_RES_TOPIC;
    return q->u.metadata.topics[i];
}

static int32_t create_topics_n(const bk_krequest_t *q)
{
    return q->u.create_topics.ntopics;
}
static bk_kslice_t create_topics_at(const bk_krequest_t *q, int32_t i, bk_acl_resource_t *res)
{
    *res = BK_RES_TOPIC;
    return q->u.create_topics.topics[i].name;
}

static int32_t delete_topics_n(const bk_krequest_t *q)
{
    return q->u.delete_topics.ntopics;
}
static bk_kslice_t delete_topics_at(const bk_krequest_t *q, int32_t i, bk_acl_resource_t *res)
{
    *res = BK_RES_TOPIC;
    return q->u.delete_topics.names[i];
}

static int32_t create_partitions_n(const bk_krequest_t *q)
{
    return q->u.create_partitions.ntopics;
}
static bk_kslice_t create_partitions_at(const bk_krequest_t *q, int32_t i, bk_acl_resource_t *res)
{
    *res = BK_RES_TOPIC;
    return q->u.create_partitions.topics[i].name;
}

static int32_t describe_configs_n(const bk_krequest_t *q)
{
    return q->u.describe_configs.nres;
}
/* A topic (type 2) is itself; a broker (type 4) is the cluster; any other type is nothing
 * anyone may describe. */
static bk_kslice_t describe_configs_at(const bk_krequest_t *q, int32_t i, bk_acl_resource_t *res)
{
    const bk_kdc_resource_t *r = &q->u.describe_configs.res[i];
    *res = r->type == 2 ? BK_RES_TOPIC : r->type == 4 ? BK_RES_CLUSTER : BK_RES_COUNT;
    if (*res == BK_RES_CLUSTER)
        return (bk_kslice_t){(const uint8_t *)BK_ACL_CLUSTER_NAME,
                             (int32_t)sizeof BK_ACL_CLUSTER_NAME - 1};
    return r->name;
}

/* Group APIs: resource 0 is the group; OffsetCommit and OffsetFetch name topics after it
 * (resource i + 1 is topic i). A request denied its group is answered
 * GROUP_AUTHORIZATION_FAILED by its handler (group.c, group_offsets.c), as Kafka does; a
 * FindCoordinator for a transactional id is denied (TRANSACTIONAL_ID_AUTHORIZATION_FAILED). */
static bk_kslice_t group_res(bk_kslice_t id, bk_acl_resource_t *res)
{
    *res = BK_RES_GROUP;
    return id;
}
static int32_t one_n(const bk_krequest_t *q)
{
    (void)q;
    return 1;
}
static bk_kslice_t find_coordinator_at(const bk_krequest_t *q, int32_t i, bk_acl_resource_t *res)
{
    (void)i;
    if (q->u.find_coordinator.key_type != 0) { /* a transactional id: nothing granted here */
        *res = BK_RES_COUNT;
        return q->u.find_coordinator.key;
    }
    return group_res(q->u.find_coordinator.key, res);
}
#define find_coordinator_n one_n
static bk_kslice_t join_group_at(const bk_krequest_t *q, int32_t i, bk_acl_resource_t *res)
{
    (void)i;
    return group_res(q->u.join_group.group_id, res);
}
#define join_group_n one_n
static bk_kslice_t sync_group_at(const bk_krequest_t *q, int32_t i, bk_acl_resource_t *res)
{
    (void)i;
    return group_res(q->u.sync_group.group_id, res);
}
#define sync_group_n one_n
static bk_kslice_t heartbeat_at(const bk_krequest_t *q, int32_t i, bk_acl_resource_t *res)
{
    (void)i;
    return group_res(q->u.heartbeat.group_id, res);
}
#define heartbeat_n one_n
static bk_kslice_t leave_group_at(const bk_krequest_t *q, int32_t i, bk_acl_resource_t *res)
{
    (void)i;
    return group_res(q->u.leave_group.group_id, res);
}
#define leave_group_n one_n
static int32_t offset_commit_n(const bk_krequest_t *q)
{
    return 1 + (q->u.offset_commit.ntopics > 0 ? q->u.offset_commit.ntopics : 0);
}
static bk_kslice_t offset_commit_at(const bk_krequest_t *q, int32_t i, bk_acl_resource_t *res)
{
    if (i == 0)
        return group_res(q->u.offset_commit.group_id, res);
    *res = BK_RES_TOPIC;
    return q->u.offset_commit.topics[i - 1].name;
}
static int32_t offset_fetch_n(const bk_krequest_t *q)
{
    return 1 + (q->u.offset_fetch.ntopics > 0 ? q->u.offset_fetch.ntopics : 0);
}
static bk_kslice_t offset_fetch_at(const bk_krequest_t *q, int32_t i, bk_acl_resource_t *res)
{
    if (i == 0)
        return group_res(q->u.offset_fetch.group_id, res);
    *res = BK_RES_TOPIC;
    return q->u.offset_fetch.topics[i - 1].name;
}
static int32_t describe_groups_n(const bk_krequest_t *q)
{
    return q->u.describe_groups.ngroups;
}
static bk_kslice_t describe_groups_at(const bk_krequest_t *q, int32_t i, bk_acl_resource_t *res)
{
    return group_res(q->u.describe_groups.groups[i], res);
}
/* ListGroups: describe on the cluster (Kafka also lists the groups one may describe). */
static bk_kslice_t list_groups_at(const bk_krequest_t *q, int32_t i, bk_acl_resource_t *res)
{
    (void)q;
    (void)i;
    *res = BK_RES_CLUSTER;
    return (bk_kslice_t){(const uint8_t *)BK_ACL_CLUSTER_NAME,
                         (int32_t)sizeof BK_ACL_CLUSTER_NAME - 1};
}
#define list_groups_n one_n
/* InitProducerId: Kafka's IdempotentWrite on the cluster, which Brook spells write on the
 * cluster (a transactional id is refused by the handler whatever the ACLs say). */
static bk_kslice_t init_producer_id_at(const bk_krequest_t *q, int32_t i, bk_acl_resource_t *res)
{
    return list_groups_at(q, i, res);
}
#define init_producer_id_n one_n

/* ---- the table ---- */

/* clang-format off */
#define PRE(key) {key, BK_KAUTHZ_PREAUTH, BK_OP_DESCRIBE, 0, NULL, NULL}
#define RES(key, op, fn, create) {key, BK_KAUTHZ_RESOURCES, op, create, fn##_n, fn##_at}
/* clang-format on */

static const bk_kauthz_rule_t rules[] = {
    PRE(BK_KAPI_API_VERSIONS),
    PRE(BK_KAPI_SASL_HANDSHAKE),
    PRE(BK_KAPI_SASL_AUTHENTICATE),
    RES(BK_KAPI_PRODUCE, BK_OP_WRITE, produce, 0),
    RES(BK_KAPI_INIT_PRODUCER_ID, BK_OP_WRITE, init_producer_id, 0),
    RES(BK_KAPI_FETCH, BK_OP_READ, fetch, 0),
    RES(BK_KAPI_LIST_OFFSETS, BK_OP_DESCRIBE, list_offsets, 0), /* as Kafka: offsets describe */
    RES(BK_KAPI_METADATA, BK_OP_DESCRIBE, metadata, 1),
    RES(BK_KAPI_CREATE_TOPICS, BK_OP_CREATE, create_topics, 0),
    RES(BK_KAPI_DELETE_TOPICS, BK_OP_DELETE, delete_topics, 0),
    RES(BK_KAPI_CREATE_PARTITIONS, BK_OP_ALTER, create_partitions, 0),
    RES(BK_KAPI_DESCRIBE_CONFIGS, BK_OP_DESCRIBE, describe_configs, 0),
    RES(BK_KAPI_FIND_COORDINATOR, BK_OP_DESCRIBE, find_coordinator, 0),
    RES(BK_KAPI_JOIN_GROUP, BK_OP_READ, join_group, 0),
    RES(BK_KAPI_SYNC_GROUP, BK_OP_READ, sync_group, 0),
    RES(BK_KAPI_HEARTBEAT, BK_OP_READ, heartbeat, 0),
    RES(BK_KAPI_LEAVE_GROUP, BK_OP_READ, leave_group, 0),
    RES(BK_KAPI_OFFSET_COMMIT, BK_OP_READ, offset_commit, 0),
    RES(BK_KAPI_OFFSET_FETCH, BK_OP_DESCRIBE, offset_fetch, 0),
    RES(BK_KAPI_LIST_GROUPS, BK_OP_DESCRIBE, list_groups, 0),
    RES(BK_KAPI_DESCRIBE_GROUPS, BK_OP_DESCRIBE, describe_groups, 0),
};

const bk_kauthz_rule_t *bk_kauthz_rule(int16_t key)
{
    for (size_t i = 0; i < BK_ARRAY_LEN(rules); i++)
        if (rules[i].key == key)
            return &rules[i];
    return NULL;
}

int bk_kauthz_may(bk_kauthz_check_fn check, void *arg, bk_acl_resource_t res, const char *name,
                  size_t len, bk_acl_op_t op)
{
    if (res >= BK_RES_COUNT || !name)
        return 0;
    if (check(arg, res, name, len, op))
        return 1;
    return op == BK_OP_CREATE && res == BK_RES_TOPIC &&
           check(arg, BK_RES_CLUSTER, BK_ACL_CLUSTER_NAME, sizeof BK_ACL_CLUSTER_NAME - 1,
                 BK_OP_CREATE);
}

int bk_kauthz_decide(const bk_kauthz_rule_t *rule, const bk_krequest_t *q, bk_kauthz_check_fn check,
                     void *arg, bk_karena_t *a, bk_kauthz_t *out)
{
    memset(out, 0, sizeof *out);
    if (rule->kind != BK_KAUTHZ_RESOURCES)
        return 0;
    int32_t n = rule->count(q);
    if (n <= 0)
        return 0;
    if (!(out->ok = bk_karena_alloc(a, (size_t)n)))
        return UV_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
        bk_acl_resource_t res;
        bk_kslice_t name = rule->name_at(q, i, &res);
        const char *s = (const char *)name.ptr;
        size_t len = name.len > 0 ? (size_t)name.len : 0;
        if (name.len <= 0) /* a null or empty name: nothing to act on, nothing granted */
            continue;
        if (bk_kauthz_may(check, arg, res, s, len, rule->op))
            out->ok[i] |= BK_KAUTHZ_OK;
        if (rule->auto_create && bk_kauthz_may(check, arg, res, s, len, BK_OP_CREATE))
            out->ok[i] |= BK_KAUTHZ_MAY_CREATE;
    }
    out->n = n;
    return 0;
}

int bk_kauthz_allowed(const bk_kauthz_t *z, int32_t i, int what)
{
    if (z->off)
        return 1;
    return i >= 0 && i < z->n && (z->ok[i] & what) == what;
}
