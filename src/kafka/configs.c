/* DescribeConfigs (32), versions 0-2: a topic's settings under Kafka's names (the ones Brook
 * keeps per topic, plus the fixed cleanup.policy and compression.type), and for a broker
 * resource the defaults new topics get. Everything is read-only over Kafka for now.
 * Response: throttle_time_ms, results [error_code, error_message, resource_type,
 * resource_name, configs [name, value, read_only, is_default (v0) | config_source (v1+),
 * is_sensitive, synonyms (v1+) [name, value, source]]]. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "brook/common.h"
#include "kafka/kafka_impl.h"

enum { RES_TOPIC = 2, RES_BROKER = 4 };
enum { SRC_TOPIC = 1, SRC_STATIC_BROKER = 4, SRC_DEFAULT = 5 };

typedef struct {
    const char *name;
    char value[32];
    int is_default;
} entry_t;

static size_t entries_of(const bk_topic_config_t *c, const bk_topic_config_t *d, entry_t *e)
{
    size_t n = 0;
    e[n] = (entry_t){"retention.ms", "", c->retention_ms == d->retention_ms};
    snprintf(e[n++].value, sizeof e->value, "%" PRId64, c->retention_ms);
    e[n] = (entry_t){"retention.bytes", "", c->retention_bytes == d->retention_bytes};
    snprintf(e[n++].value, sizeof e->value, "%" PRId64, c->retention_bytes);
    e[n] = (entry_t){"segment.bytes", "", c->segment_bytes == d->segment_bytes};
    snprintf(e[n++].value, sizeof e->value, "%" PRIu64, c->segment_bytes);
    e[n] = (entry_t){"max.message.bytes", "", c->max_message_bytes == d->max_message_bytes};
    snprintf(e[n++].value, sizeof e->value, "%" PRIu32, c->max_message_bytes);
    e[n++] = (entry_t){"cleanup.policy", "delete", 1};
    e[n++] = (entry_t){"compression.type", "producer", 1};
    return n;
}

static int wanted(const bk_kdc_resource_t *res, const char *name)
{
    if (res->nkeys < 0)
        return 1;
    for (int32_t i = 0; i < res->nkeys; i++)
        if ((size_t)res->keys[i].len == strlen(name) &&
            memcmp(res->keys[i].ptr, name, strlen(name)) == 0)
            return 1;
    return 0;
}

static void write_entries(bk_kw_t *w, int16_t ver, const bk_kdc_resource_t *res, const entry_t *e,
                          size_t n, int topic)
{
    int32_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += wanted(res, e[i].name);
    bk_kw_array(w, 0, count);
    for (size_t i = 0; i < n; i++) {
        if (!wanted(res, e[i].name))
            continue;
        int8_t src = e[i].is_default ? SRC_DEFAULT : topic ? SRC_TOPIC : SRC_STATIC_BROKER;
        bk_kw_cstr(w, 0, e[i].name);
        bk_kw_cstr(w, 0, e[i].value);
        bk_kw_i8(w, 1); /* read_only over Kafka */
        if (ver == 0)
            bk_kw_i8(w, (int8_t)e[i].is_default);
        else
            bk_kw_i8(w, src);
        bk_kw_i8(w, 0); /* is_sensitive */
        if (ver >= 1)
            bk_kw_array(w, 0, 0); /* synonyms */
    }
}

static void write_resource(bk_kafka_t *k, bk_kreq_t *r, int32_t i)
{
    bk_kw_t *w = &r->out;
    int16_t ver = r->req.h.version;
    const bk_kdc_resource_t *res = &r->req.u.describe_configs.res[i];
    int allowed = bk_kafka_allowed(r, i, BK_KAUTHZ_OK);
    bk_topic_config_t d;
    bk_log_topic_config_defaults(k->deps.log, &d);
    entry_t e[8];
    size_t n = 0;
    int16_t err = BK_KERR_NONE;
    const char *msg = NULL;
    if (res->type == RES_TOPIC && !allowed) {
        err = BK_KERR_TOPIC_AUTHORIZATION_FAILED, msg = "not authorized to describe this topic";
    } else if (res->type == RES_BROKER && !allowed) {
        err = BK_KERR_CLUSTER_AUTHORIZATION_FAILED,
        msg = "not authorized to describe the cluster (kafka-cluster)";
    } else if (res->type == RES_TOPIC) {
        bk_topic_t *t = bk_kafka_topic(k, r, i, res->name);
        if (t)
            n = entries_of(bk_topic_config(t), &d, e);
        else
            err = BK_KERR_UNKNOWN_TOPIC_OR_PARTITION, msg = "unknown topic";
    } else if (res->type == RES_BROKER) {
        n = entries_of(&d, &d, e); /* the defaults of new topics */
    } else {
        err = BK_KERR_INVALID_REQUEST, msg = "only topic (2) and broker (4) resources exist";
    }
    bk_kw_i16(w, err);
    bk_kw_cstr(w, 0, msg);
    bk_kw_i8(w, res->type);
    bk_kw_str(w, 0, (const char *)res->name.ptr, res->name.len);
    write_entries(w, ver, res, e, n, res->type == RES_TOPIC);
}

void bk_khandle_describe_configs(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_kreq_describe_configs_t *d = &r->req.u.describe_configs;
    bk_kw_t *w = &r->out;
    bk_kresp_begin(w, &r->req.h, 0);
    bk_kw_i32(w, 0);
    bk_kw_array(w, 0, d->nres);
    for (int32_t i = 0; i < d->nres; i++)
        write_resource(k, r, i);
    bk_kreq_finish(r);
}
