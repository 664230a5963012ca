/* Topic administration: POST /topics (create with partitions and configs), DELETE /topics/{t}
 * (removes the data), POST /topics/{t}/partitions (grow, never shrink). Every body is checked
 * completely before anything touches the disk; a refused request changes nothing. Creating
 * and growing run off the loop; a request that meets a growth of its topic under way waits for
 * it and is then judged afresh. Every change is answered once durable here and held by the
 * in-sync followers (confirm_change). */
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/admin_body.h"
#include "api/broker.h"
#include "brook/groups_store.h"
#include "brook/common.h"
#include "http/response.h"

/* Largest replication_factor / min.insync.replicas accepted (the log's limit). */
#define BK_MAX_REPLICATION 64

/* The integer topic configs and their accepted ranges. */
static const struct {
    const char *name;
    int64_t min, max;
} int_configs[] = {
    {"retention.ms", -1, INT64_MAX},
    {"retention.bytes", -1, INT64_MAX},
    {"segment.bytes", 4096, 1 << 30},
    {"max.message.bytes", 1, INT32_MAX},
};

static void set_config(bk_topic_config_t *cfg, size_t which, int64_t v)
{
    switch (which) {
    case 0:
        cfg->retention_ms = v;
        break;
    case 1:
        cfg->retention_bytes = v;
        break;
    case 2:
        cfg->segment_bytes = (uint64_t)v;
        break;
    default:
        cfg->max_message_bytes = (uint32_t)v;
        break;
    }
}

/* ---- compression and replication configs: compression.type, min.insync.replicas ----
 * 1 when name is one of them (then *ok says whether value was valid, ex answered if not). */
static int apply_named_config(bk_exchange_t *ex, const char *name, const char *value,
                              bk_topic_config_t *cfg, int *ok)
{
    *ok = 1;
    if (strcmp(name, "compression.type") == 0) {
        if (bk_compression_parse(value, strlen(value), &cfg->compression) == 0)
            return 1;
        bk_exchange_errorf(ex, 42205,
                           "invalid value %s for topic config compression.type: use producer, "
                           "none, gzip, snappy, lz4 or zstd",
                           value);
    } else if (strcmp(name, "min.insync.replicas") == 0) {
        int64_t v;
        if (bk_parse_int(value, strlen(value), 1, BK_MAX_REPLICATION, &v) == 0) {
            cfg->min_insync_replicas = (uint32_t)v;
            return 1;
        }
        bk_exchange_errorf(ex, 42205,
                           "invalid value %s for topic config min.insync.replicas: use an "
                           "integer from 1 to %d",
                           value, BK_MAX_REPLICATION);
    } else {
        return 0;
    }
    *ok = 0;
    return 1;
}

/* Applies body configs over defaults; answers 422 and returns 0 on a bad one. */
static int apply_configs(bk_exchange_t *ex, const bk_admin_body_t *body, bk_topic_config_t *cfg)
{
    for (int i = 0; i < body->config_count; i++) {
        const char *name = body->configs[i].name, *value = body->configs[i].value;
        char why[200]; /* compaction configs: validated in admin_body.c */
        int cc = bk_admin_compaction_config(name, value, cfg, why, sizeof why);
        if (cc < 0)
            bk_exchange_error(ex, 42205, why);
        if (cc != 0) {
            if (cc < 0)
                return 0;
            continue;
        }
        int ok;
        if (apply_named_config(ex, name, value, cfg, &ok)) {
            if (!ok)
                return 0;
            continue;
        }
        size_t k = 0;
        while (k < BK_ARRAY_LEN(int_configs) && strcmp(name, int_configs[k].name) != 0)
            k++;
        if (k == BK_ARRAY_LEN(int_configs)) {
            bk_exchange_errorf(ex, 42205,
                               "unknown topic config %s (supported: retention.ms, "
                               "retention.bytes, segment.bytes, max.message.bytes, "
                               "compression.type, min.insync.replicas, cleanup.policy, "
                               "delete.retention.ms, min.compaction.lag.ms, "
                               "min.cleanable.dirty.ratio)",
                               name);
            return 0;
        }
        int64_t v = 0;
        if (bk_parse_int(value, strlen(value), int_configs[k].min, int_configs[k].max, &v)) {
            bk_exchange_errorf(ex, 42205,
                               "invalid value %s for topic config %s: use an integer from %lld "
                               "to %lld",
                               value, name, (long long)int_configs[k].min,
                               (long long)int_configs[k].max);
            return 0;
        }
        set_config(cfg, k, v);
    }
    return 1;
}

/* The JSON body of an admin request into body; 0 (and ex answered with the error) if not. */
static int read_body(bk_exchange_t *ex, bk_admin_body_t *body)
{
    if (!bk_api_require_json(ex))
        return 0;
    int st = bk_admin_body_parse(body, ex->body, ex->body_len);
    if (st) {
        bk_exchange_error(ex, body->error_code ? body->error_code : st, body->error);
        return 0;
    }
    return 1;
}

/* replication_factor: at most the brokers alive now (every broker holds every partition; the
 * factor is kept and shown, see the README). Answers 42206 and returns 0 above that. */
static int replication_ok(bk_broker_t *b, bk_exchange_t *ex, const bk_admin_body_t *body,
                          bk_topic_config_t *cfg)
{
    if (body->replication_factor < 0)
        return 1;
    int live = b->replicator ? bk_replicator_live_brokers(b->replicator) : 1;
    if (body->replication_factor > live) {
        bk_exchange_errorf(ex, 42206,
                           "replication_factor %lld is above the %d broker(s) alive in the "
                           "cluster",
                           (long long)body->replication_factor, live);
        return 0;
    }
    cfg->replication_factor = (uint32_t)body->replication_factor;
    return 1;
}

/* ---- acknowledging a topic change ---------------------------------------------------------
 * A creation, deletion or growth is answered only once the in-sync followers have it (the
 * replicator confirms it from their fetches), as acks=all does for records: else a failover
 * could bring a deleted topic back or lose a created one. Not confirmed in time (or the term
 * ended): 500, the change is applied on the leader but may not survive a failover. */

typedef enum { CHANGE_CREATE, CHANGE_GROW, CHANGE_DELETE } change_t;

typedef struct {
    bk_broker_t *b;
    bk_exchange_t *ex;
    change_t kind;
    char name[256];
} confirm_t;

static const char *const change_done[] = {"created", "grown", "deleted"};

static void answer_deleted(bk_exchange_t *ex, const char *name)
{
    bk_json_t *j = bk_json_begin();
    bk_json_obj(j);
    bk_json_key(j, "name");
    bk_json_str(j, name);
    bk_json_key(j, "deleted");
    bk_json_bool(j, 1);
    bk_json_obj_end(j);
    bk_exchange_respond_json(ex, 200, j, NULL);
}

static void answer_unconfirmed(bk_exchange_t *ex, change_t kind, const char *name, int status)
{
    bk_exchange_errorf(ex, 500,
                       "topic %s %s on the leader but not yet confirmed by the in-sync "
                       "replicas (%s); outcome unknown: it may not survive a failover",
                       name, change_done[kind],
                       status == UV_ETIMEDOUT ? "they did not fetch it in time"
                                              : bk_strerror(status));
}

static void answer_change(bk_broker_t *b, bk_exchange_t *ex, change_t kind, const char *name)
{
    if (kind == CHANGE_DELETE) {
        answer_deleted(ex, name);
        return;
    }
    bk_topic_t *t = bk_log_topic_find(b->log, name, strlen(name));
    if (t == NULL) {
        bk_exchange_errorf(ex, 500, "topic %s was deleted before it could be acknowledged as %s",
                           name, change_done[kind]);
        return;
    }
    bk_api_topic_describe(b, ex, t, kind == CHANGE_CREATE ? 201 : 200);
}

static void after_confirmed(void *arg, int status)
{
    confirm_t *c = arg;
    if (status != 0)
        answer_unconfirmed(c->ex, c->kind, c->name, status);
    else
        answer_change(c->b, c->ex, c->kind, c->name);
    free(c);
}

/* The change of topic name is applied here: answers ex once the in-sync followers have it. */
static void confirm_change(bk_broker_t *b, bk_exchange_t *ex, change_t kind, const char *name)
{
    confirm_t *c = malloc(sizeof *c);
    if (c == NULL) {
        answer_unconfirmed(ex, kind, name, UV_ENOMEM);
        return;
    }
    *c = (confirm_t){b, ex, kind, {0}};
    snprintf(c->name, sizeof c->name, "%s", name);
    int rc = b->replicator ? bk_replicator_topics_changed(b->replicator, after_confirmed, c)
                           : BK_ECLOSED; /* stopped: late in a shutdown */
    if (rc == 0)
        return;
    if (rc == 1)
        answer_change(b, ex, kind, name); /* standalone: nobody else to tell */
    else
        answer_unconfirmed(ex, kind, name, rc);
    free(c);
}

typedef struct {
    bk_broker_t *b;
    bk_exchange_t *ex;
    char name[256];
} create_op_t;

static void on_created(void *arg, int status, bk_topic_t *t)
{
    create_op_t *op = arg;
    int64_t epoch;
    /* Leadership lost while the job ran: the new leader may not have it; the client retries
     * there (redirect) rather than taking this broker's word. */
    if (bk_broker_gone(op->b, op->ex) || !bk_broker_require_leader(op->b, op->ex, &epoch)) {
        free(op);
        return;
    }
    if (status == 0)
        confirm_change(op->b, op->ex, CHANGE_CREATE, bk_topic_name(t));
    else /* UV_EEXIST: a creation of the same name was under way */
        bk_broker_creation_failed(op->ex, op->name, strlen(op->name), status);
    free(op);
}

static void create_topic(bk_broker_t *b, bk_exchange_t *ex)
{
    bk_admin_body_t body;
    if (!read_body(ex, &body))
        return;
    if (!body.has_name) {
        bk_exchange_error(ex, 422, "missing \"name\"");
        return;
    }
    size_t nlen = strlen(body.name);
    if (!bk_log_topic_name_valid(body.name, nlen)) {
        bk_exchange_errorf(ex, 42208,
                           "invalid topic name \"%s\": use 1-249 characters of "
                           "[a-zA-Z0-9._-]",
                           body.name);
        return;
    }
    if (strcmp(body.name, BK_GRP_OFFSETS_TOPIC) == 0) { /* the coordinator makes it, compacted */
        bk_exchange_errorf(ex, 42208, "topic name %s is reserved for consumer groups' offsets",
                           BK_GRP_OFFSETS_TOPIC);
        return;
    }
    /* A follower asking for a Kafka client's auto-creation: this broker's flag applies too. */
    if (!b->cfg.auto_create_topics && bk_exchange_header(ex, "x-brook-auto-create", NULL)) {
        bk_exchange_errorf(ex, 40401,
                           "topic %s not found and not auto-created: the leader runs with "
                           "--no-auto-create-topics",
                           body.name);
        return;
    }
    bk_topic_config_t cfg;
    bk_log_topic_config_defaults(b->log, &cfg);
    if (!replication_ok(b, ex, &body, &cfg) || !apply_configs(ex, &body, &cfg))
        return;
    uint32_t parts = body.partitions > 0 ? (uint32_t)body.partitions : 0; /* 0: the default */
    /* The files are made off the loop thread; the answer follows when they are durable. An
     * existing topic is refused at once, one being created when that creation ends. */
    create_op_t *op = malloc(sizeof *op);
    int rc = op ? 0 : UV_ENOMEM;
    if (op) {
        *op = (create_op_t){b, ex, {0}};
        snprintf(op->name, sizeof op->name, "%s", body.name);
        rc = bk_log_topic_create_async(b->log, body.name, nlen, parts, &cfg, on_created, op);
    }
    if (rc) {
        free(op);
        bk_broker_creation_failed(ex, body.name, nlen, rc);
    }
}

static void delete_topic(bk_broker_t *b, bk_exchange_t *ex, bk_topic_t *t)
{
    char name[256];
    snprintf(name, sizeof name, "%s", bk_topic_name(t));
    if (bk_broker_await_growth(b, ex, t) == 0)
        return; /* being grown: deleted (or not) once that ends */
    bk_broker_forget_topic(b, t);
    int rc = bk_log_topic_delete(b->log, t);
    if (rc) {
        bk_exchange_errorf(ex, 500, "could not delete topic %s: %s", name, bk_strerror(rc));
        return;
    }
    confirm_change(b, ex, CHANGE_DELETE, name);
}

/* A growth in flight: answered with the topic once its new partitions are durable. */
typedef struct {
    bk_broker_t *b;
    bk_exchange_t *ex;
} grow_t;

static void grow_failed(bk_exchange_t *ex, int status)
{
    if (!bk_broker_fd_refusal(ex, status, "could not add partitions"))
        bk_exchange_errorf(ex, status == BK_ECLOSED ? 503 : 500, "could not add partitions: %s",
                           bk_strerror(status));
}

static void on_grown(void *arg, int status, bk_topic_t *t)
{
    grow_t *g = arg;
    int64_t epoch;
    if (bk_broker_gone(g->b, g->ex) || !bk_broker_require_leader(g->b, g->ex, &epoch)) {
        free(g); /* as for a creation */
        return;
    }
    if (status == 0)
        confirm_change(g->b, g->ex, CHANGE_GROW, bk_topic_name(t));
    else
        grow_failed(g->ex, status);
    free(g);
}

static void add_partitions(bk_broker_t *b, bk_exchange_t *ex, bk_topic_t *t)
{
    if (bk_broker_await_growth(b, ex, t) == 0)
        return; /* another growth is under way: this one is judged once it ends */
    bk_admin_body_t body;
    if (!read_body(ex, &body))
        return;
    uint32_t have = bk_topic_partition_count(t);
    if (body.partitions < 0) {
        bk_exchange_error(ex, 422, "missing \"partitions\" (the new total count)");
        return;
    }
    if ((uint64_t)body.partitions < have) {
        bk_exchange_errorf(ex, 422, "topic %s has %u partitions; partitions can only be added",
                           bk_topic_name(t), have);
        return;
    }
    if ((uint64_t)body.partitions == have) {
        bk_api_topic_describe(b, ex, t, 200);
        return;
    }
    grow_t *g = malloc(sizeof *g);
    int rc = g ? 0 : UV_ENOMEM;
    if (g) {
        *g = (grow_t){b, ex};
        rc = bk_log_topic_grow_async(b->log, t, (uint32_t)body.partitions, on_grown, g);
    }
    if (rc) {
        free(g);
        grow_failed(ex, rc);
    }
}

/* ---- PUT /topics/{t}/configs {"configs": {...}}: changes the named configs, keeps the
 * others; every one is checked before anything changes; answered when durable. ---- */

static void on_reconfigured(void *arg, int status, bk_topic_t *t)
{
    grow_t *g = arg;
    int64_t epoch;
    if (bk_broker_gone(g->b, g->ex) || !bk_broker_require_leader(g->b, g->ex, &epoch)) {
        free(g); /* as for a creation */
        return;
    }
    if (status == 0)
        bk_api_topic_describe(g->b, g->ex, t, 200);
    else
        bk_exchange_errorf(g->ex, status == BK_ECLOSED ? 503 : 500,
                           "could not change the configs: %s", bk_strerror(status));
    free(g);
}

static void put_configs(bk_broker_t *b, bk_exchange_t *ex, bk_topic_t *t)
{
    if (bk_broker_await_growth(b, ex, t) == 0)
        return; /* a growth or change is under way: judged once it ends */
    bk_admin_body_t body;
    if (!read_body(ex, &body))
        return;
    if (body.config_count == 0) {
        bk_exchange_error(ex, 422, "missing \"configs\" (an object of config name to value)");
        return;
    }
    bk_topic_config_t cfg = *bk_topic_config(t);
    if (!apply_configs(ex, &body, &cfg))
        return;
    grow_t *g = malloc(sizeof *g);
    int rc = g ? 0 : UV_ENOMEM;
    if (g) {
        *g = (grow_t){b, ex};
        rc = bk_log_topic_reconfigure_async(b->log, t, &cfg, on_reconfigured, g);
    }
    if (rc) {
        free(g);
        bk_exchange_errorf(ex,
                           rc == BK_EINVAL    ? 42205
                           : rc == BK_ECLOSED ? 503
                                              : 500,
                           "could not change the configs: %s", bk_strerror(rc));
    }
}

/* Write routes of the topic resources; requires the leader. */
void bk_api_topics_admin(bk_broker_t *b, bk_exchange_t *ex, const bk_route_t *r)
{
    int64_t epoch;
    if (!bk_broker_require_leader(b, ex, &epoch))
        return;
    if (r->id == BK_ROUTE_TOPICS) {
        create_topic(b, ex);
        return;
    }
    bk_topic_t *t = bk_broker_topic(b, ex, r->topic, r->topic_len, 0, -1);
    if (!t)
        return;
    if (r->id == BK_ROUTE_CONFIGS)
        put_configs(b, ex, t);
    else if (r->id == BK_ROUTE_TOPIC && ex->method == HTTP_DELETE)
        delete_topic(b, ex, t);
    else
        add_partitions(b, ex, t);
}
