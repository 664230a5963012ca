/* Topic administration over Kafka: CreateTopics (19) v0-4, DeleteTopics (20) v0-3 and
 * CreatePartitions (37) v0-1. The leader is the controller, so only it changes topics
 * (others answer NOT_CONTROLLER and clients look again). Creations and growths run on the
 * log's threadpool jobs; the answer waits for every one of them. Names, partition counts and
 * settings follow the same rules as over HTTP (the log checks them); replica assignments are
 * refused: every broker replicates every partition.
 * Responses: CreateTopics: throttle_time_ms (v2+), topics [name, error_code, error_message
 * (v1+)]. DeleteTopics: throttle_time_ms (v1+), responses [name, error_code].
 * CreatePartitions: throttle_time_ms, results [name, error_code, error_message]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brook/common.h"
#include "brook/groups_store.h"
#include "kafka/kafka_impl.h"

typedef struct {
    int16_t error;
    char message[160];
} result_t;

typedef struct admin_op {
    bk_kreq_t *r;
    uint32_t pending;
    result_t *res;
    void (*answer)(struct admin_op *op);
} admin_op_t;

typedef struct {
    admin_op_t *op;
    int32_t index;
} job_t;

static void free_op(void *state)
{
    admin_op_t *op = state;
    free(op->res);
    free(op);
}

static admin_op_t *op_new(bk_kreq_t *r, int32_t n, void (*answer)(admin_op_t *))
{
    admin_op_t *op = calloc(1, sizeof *op);
    result_t *res = calloc(n > 0 ? (size_t)n : 1, sizeof *res);
    if (!op || !res) {
        free(op);
        free(res);
        r->out.bad = 1;
        bk_kreq_finish(r);
        return NULL;
    }
    *op = (admin_op_t){r, 1, res, answer};
    r->state = op;
    r->free_state = free_op;
    return op;
}

static void release(admin_op_t *op)
{
    if (--op->pending == 0)
        op->answer(op);
}

#define SET(res, err, ...)                                                                         \
    ((res)->error = (err), (void)snprintf((res)->message, sizeof(res)->message, __VA_ARGS__))

static int16_t job_error(int status)
{
    return status == UV_EEXIST   ? BK_KERR_TOPIC_ALREADY_EXISTS
           : status == BK_EINVAL ? BK_KERR_INVALID_CONFIG
                                 : BK_KERR_KAFKA_STORAGE_ERROR;
}

static void after_job(void *arg, int status, bk_topic_t *t)
{
    (void)t;
    job_t *j = arg;
    admin_op_t *op = j->op;
    if (status < 0)
        SET(&op->res[j->index], job_error(status), "%s",
            status == UV_EEXIST ? "topic already exists" : bk_strerror(status));
    free(j);
    release(op);
}

static job_t *job_new(admin_op_t *op, int32_t i)
{
    job_t *j = malloc(sizeof *j);
    if (j)
        *j = (job_t){op, i};
    return j;
}

/* ---- CreateTopics ---- */

static int parse_i64(bk_kslice_t v, int64_t *out)
{
    char buf[32];
    if (v.len <= 0 || v.len >= (int32_t)sizeof buf)
        return -1;
    memcpy(buf, v.ptr, (size_t)v.len);
    buf[v.len] = 0;
    char *end;
    long long x = strtoll(buf, &end, 10);
    if (*end)
        return -1;
    *out = x;
    return 0;
}

/* Applies one "name=value" setting to cfg; -1 when unknown or malformed. */
static int apply_config(bk_topic_config_t *cfg, const bk_kconfig_t *c)
{
    int64_t v;
#define IS(lit)                                                                                    \
    ((size_t)c->name.len == sizeof lit - 1 && memcmp(c->name.ptr, lit, sizeof lit - 1) == 0)
    if (parse_i64(c->value, &v) < 0)
        return IS("cleanup.policy") && c->value.len == 6 && memcmp(c->value.ptr, "delete", 6) == 0
                   ? 0
                   : -1;
    if (IS("retention.ms") && v >= -1)
        cfg->retention_ms = v;
    else if (IS("retention.bytes") && v >= -1)
        cfg->retention_bytes = v;
    else if (IS("segment.bytes") && v > 0)
        cfg->segment_bytes = (uint64_t)v;
    else if (IS("max.message.bytes") && v > 0 && v <= UINT32_MAX)
        cfg->max_message_bytes = (uint32_t)v;
    else
        return -1;
#undef IS
    return 0;
}

static void answer_create(admin_op_t *op)
{
    bk_kreq_t *r = op->r;
    const bk_kreq_create_topics_t *c = &r->req.u.create_topics;
    int16_t ver = r->req.h.version;
    bk_kw_t *w = &r->out;
    bk_kresp_begin(w, &r->req.h, 0);
    if (ver >= 2)
        bk_kw_i32(w, 0);
    bk_kw_array(w, 0, c->ntopics);
    for (int32_t i = 0; i < c->ntopics; i++) {
        bk_kw_str(w, 0, (const char *)c->topics[i].name.ptr, c->topics[i].name.len);
        bk_kw_i16(w, op->res[i].error);
        if (ver >= 1)
            bk_kw_cstr(w, 0, op->res[i].error ? op->res[i].message : NULL);
    }
    bk_kreq_finish(r);
}

static int duplicate(const bk_kreq_create_topics_t *c, int32_t i)
{
    for (int32_t j = 0; j < c->ntopics; j++)
        if (j != i && c->topics[j].name.len == c->topics[i].name.len &&
            memcmp(c->topics[j].name.ptr, c->topics[i].name.ptr, (size_t)c->topics[i].name.len) ==
                0)
            return 1;
    return 0;
}

/* Checks one topic of the request; returns 0 (cfg and *parts filled) or the error set. */
static int16_t check_create(bk_kafka_t *k, const bk_kreq_create_topics_t *c, int32_t i,
                            result_t *res, bk_topic_config_t *cfg, uint32_t *parts)
{
    const bk_kcreate_topic_t *t = &c->topics[i];
    const char *name = (const char *)t->name.ptr;
    size_t len = t->name.len > 0 ? (size_t)t->name.len : 0;
    bk_knode_t nodes[BK_KAFKA_MAX_NODES];
    size_t live = bk_kregistry_nodes(k, nodes, BK_KAFKA_MAX_NODES);
    if (!name || !bk_log_topic_name_valid(name, len))
        SET(res, BK_KERR_INVALID_TOPIC,
            "invalid topic name: use 1-249 characters of [a-zA-Z0-9._-]");
    else if (bk_grp_is_offsets_topic(name, len))
        SET(res, BK_KERR_INVALID_REQUEST,
            BK_GRP_OFFSETS_TOPIC " is internal: the group coordinator creates it");
    else if (duplicate(c, i))
        SET(res, BK_KERR_INVALID_REQUEST, "topic named twice in one request");
    else if (bk_log_topic_find(k->deps.log, name, len))
        SET(res, BK_KERR_TOPIC_ALREADY_EXISTS, "topic already exists");
    else if (t->num_partitions == 0 || t->num_partitions < -1 || t->num_partitions > 10000)
        SET(res, BK_KERR_INVALID_PARTITIONS, "num_partitions %d: use 1-10000 or -1",
            (int)t->num_partitions);
    else if (t->replication_factor == 0 || t->replication_factor < -1 ||
             (size_t)t->replication_factor > live)
        SET(res, BK_KERR_INVALID_REPLICATION_FACTOR,
            "replication_factor %d: every live broker replicates every partition; use -1 or 1 "
            "up to the %zu live broker(s)",
            (int)t->replication_factor, live);
    else if (t->nassign > 0)
        SET(res, BK_KERR_INVALID_REPLICA_ASSIGNMENT,
            "manual replica assignments are not supported");
    if (res->error)
        return res->error;
    bk_log_topic_config_defaults(k->deps.log, cfg);
    for (int32_t j = 0; j < t->nconfigs; j++)
        if (apply_config(cfg, &t->configs[j]) < 0) {
            res->error = BK_KERR_INVALID_CONFIG;
            snprintf(res->message, sizeof res->message,
                     "unsupported or invalid config %.*s (supported: retention.ms, "
                     "retention.bytes, segment.bytes, max.message.bytes, cleanup.policy=delete)",
                     (int)(t->configs[j].name.len > 60 ? 60 : t->configs[j].name.len),
                     t->configs[j].name.ptr ? (const char *)t->configs[j].name.ptr : "");
            return res->error;
        }
    *parts = t->num_partitions > 0 ? (uint32_t)t->num_partitions
                                   : bk_log_config(k->deps.log)->default_partitions;
    return 0;
}

void bk_khandle_create_topics(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_kreq_create_topics_t *c = &r->req.u.create_topics;
    admin_op_t *op = op_new(r, c->ntopics, answer_create);
    if (!op)
        return;
    int64_t epoch;
    int leader = bk_kafka_is_leader(k, &epoch);
    for (int32_t i = 0; i < c->ntopics; i++) {
        bk_topic_config_t cfg;
        uint32_t parts;
        if (!bk_kafka_allowed(r, i, BK_KAUTHZ_OK)) {
            SET(&op->res[i], BK_KERR_TOPIC_AUTHORIZATION_FAILED,
                "not authorized to create this topic (needs create on the topic or the "
                "cluster)");
            continue;
        }
        if (!leader) {
            SET(&op->res[i], BK_KERR_NOT_CONTROLLER, "this broker is not the leader");
            continue;
        }
        if (check_create(k, c, i, &op->res[i], &cfg, &parts) || c->validate_only)
            continue;
        job_t *j = job_new(op, i);
        int rc =
            j ? bk_log_topic_create_async(k->deps.log, (const char *)c->topics[i].name.ptr,
                                          (size_t)c->topics[i].name.len, parts, &cfg, after_job, j)
              : UV_ENOMEM;
        if (rc) {
            free(j);
            SET(&op->res[i], job_error(rc), "could not create: %s", bk_strerror(rc));
            continue;
        }
        op->pending++;
    }
    release(op);
}

/* ---- DeleteTopics ---- */

static void no_op(void *arg, int status, bk_topic_t *t)
{
    (void)arg;
    (void)status;
    (void)t;
}

void bk_khandle_delete_topics(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_kreq_delete_topics_t *d = &r->req.u.delete_topics;
    int16_t ver = r->req.h.version;
    int64_t epoch;
    int leader = bk_kafka_is_leader(k, &epoch);
    bk_kw_t *w = &r->out;
    bk_kresp_begin(w, &r->req.h, 0);
    if (ver >= 1)
        bk_kw_i32(w, 0);
    bk_kw_array(w, 0, d->ntopics);
    for (int32_t i = 0; i < d->ntopics; i++) {
        bk_topic_t *t = bk_kafka_topic(k, r, i, d->names[i]);
        int16_t err = BK_KERR_NONE;
        if (!bk_kafka_allowed(r, i, BK_KAUTHZ_OK))
            err = BK_KERR_TOPIC_AUTHORIZATION_FAILED;
        else if (!leader)
            err = BK_KERR_NOT_CONTROLLER;
        else if (!t)
            err = BK_KERR_UNKNOWN_TOPIC_OR_PARTITION;
        else if (bk_grp_is_offsets_topic(bk_topic_name(t), strlen(bk_topic_name(t))))
            err = BK_KERR_INVALID_REQUEST; /* group state: only the coordinator changes it */
        else if (bk_log_topic_await_growth(k->deps.log, t, no_op, NULL) == 0)
            err = BK_KERR_REQUEST_TIMED_OUT; /* being grown: retriable */
        else {
            if (k->deps.forget_topic)
                k->deps.forget_topic(k->deps.forget_arg, t);
            if (bk_log_topic_delete(k->deps.log, t) < 0)
                err = BK_KERR_KAFKA_STORAGE_ERROR;
        }
        bk_kw_str(w, 0, (const char *)d->names[i].ptr, d->names[i].len);
        bk_kw_i16(w, err);
    }
    bk_kreq_finish(r);
}

/* ---- CreatePartitions ---- */

static void answer_partitions(admin_op_t *op)
{
    bk_kreq_t *r = op->r;
    const bk_kreq_create_partitions_t *c = &r->req.u.create_partitions;
    bk_kw_t *w = &r->out;
    bk_kresp_begin(w, &r->req.h, 0);
    bk_kw_i32(w, 0);
    bk_kw_array(w, 0, c->ntopics);
    for (int32_t i = 0; i < c->ntopics; i++) {
        bk_kw_str(w, 0, (const char *)c->topics[i].name.ptr, c->topics[i].name.len);
        bk_kw_i16(w, op->res[i].error);
        bk_kw_cstr(w, 0, op->res[i].error ? op->res[i].message : NULL);
    }
    bk_kreq_finish(r);
}

void bk_khandle_create_partitions(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_kreq_create_partitions_t *c = &r->req.u.create_partitions;
    admin_op_t *op = op_new(r, c->ntopics, answer_partitions);
    if (!op)
        return;
    int64_t epoch;
    int leader = bk_kafka_is_leader(k, &epoch);
    for (int32_t i = 0; i < c->ntopics; i++) {
        const bk_kcreate_parts_topic_t *ct = &c->topics[i];
        bk_topic_t *t = bk_kafka_topic(k, r, i, ct->name);
        result_t *res = &op->res[i];
        if (!bk_kafka_allowed(r, i, BK_KAUTHZ_OK))
            SET(res, BK_KERR_TOPIC_AUTHORIZATION_FAILED, "not authorized to alter this topic");
        else if (!leader)
            SET(res, BK_KERR_NOT_CONTROLLER, "this broker is not the leader");
        else if (!t)
            SET(res, BK_KERR_UNKNOWN_TOPIC_OR_PARTITION, "unknown topic");
        else if (bk_grp_is_offsets_topic(bk_topic_name(t), strlen(bk_topic_name(t))))
            SET(res, BK_KERR_INVALID_REQUEST,
                BK_GRP_OFFSETS_TOPIC " is internal: its partition count is fixed");
        else if (ct->count <= (int32_t)bk_topic_partition_count(t) || ct->count > 10000)
            SET(res, BK_KERR_INVALID_PARTITIONS,
                "the count must exceed the current %u partitions (at most 10000)",
                bk_topic_partition_count(t));
        else if (ct->nassign >= 0)
            SET(res, BK_KERR_INVALID_REPLICA_ASSIGNMENT,
                "manual replica assignments are not supported");
        if (res->error || c->validate_only)
            continue;
        job_t *j = job_new(op, i);
        int rc = j ? bk_log_topic_grow_async(k->deps.log, t, (uint32_t)ct->count, after_job, j)
                   : UV_ENOMEM;
        if (rc) {
            free(j);
            res->error = rc == UV_EBUSY ? BK_KERR_REQUEST_TIMED_OUT : job_error(rc);
            snprintf(res->message, sizeof res->message, "could not add partitions: %s",
                     bk_strerror(rc));
            continue;
        }
        op->pending++;
    }
    release(op);
}
