/* POST /produce, the seed API: {"message": ..., "topic": ...} → one record appended to the
 * topic's partition, answered {"status":"ok","topic","partition","offset"} only once durable
 * under the fsync policy and only if this broker still holds the lease of the epoch it wrote
 * under. A write whose outcome cannot be known is answered 500, never 200 and never 503
 * (503 always means "nothing was written"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/ack.h"
#include "api/broker.h"
#include "api/partitioner.h"
#include "api/produce_body.h"
#include "brook/common.h"
#include "common/decimal.h"
#include "http/media_type.h"
#include "http/response.h"

#define DEFAULT_TOPIC "default"

typedef struct {
    bk_ack_t ack; /* first: the append callback's argument */
    bk_exchange_t *ex;
    bk_broker_t *broker;
    int64_t offset; /* assigned at append time */
    size_t bytes;
    void *effects; /* acks=0: holds later reads on the connection until the append is done */
} produce_op_t;

static bk_produce_body_t body; /* reused: parsing allocates nothing once warm */

int bk_api_require_json(bk_exchange_t *ex)
{
    size_t len = 0;
    const char *ct = bk_exchange_header(ex, "content-type", &len);
    if (bk_media_type_is_json(ct, len))
        return 1;
    bk_exchange_errorf(ex, 415, "unsupported media type %.*s; send Content-Type: application/json",
                       ct ? (int)(len > 100 ? 100 : len) : 9, ct ? ct : "(missing)");
    return 0;
}

int bk_api_produce_codec(bk_exchange_t *ex, const bk_topic_t *t, int *codec)
{
    size_t len;
    const char *s = bk_exchange_query(ex, "compression", &len);
    int32_t asked = BK_COMPRESSION_NONE;
    if (s && (bk_compression_parse(s, len, &asked) < 0 || asked == BK_COMPRESSION_PRODUCER)) {
        bk_exchange_error(ex, 400,
                          "query parameter compression must be none, gzip, snappy, lz4 or zstd");
        return 0;
    }
    int32_t topic = bk_topic_config(t)->compression;
    *codec = (topic == BK_COMPRESSION_PRODUCER ? asked : topic) - BK_COMPRESSION_NONE;
    return 1;
}

/* "X-Ack-Decided-At: <ms>\r\n" into hdr (48 bytes), without printf: this runs per answer. */
static void decided_header(char *hdr, uint64_t ms)
{
    static const char name[] = "X-Ack-Decided-At: ";
    char num[BK_DECIMAL_MAX];
    char *d = bk_decimal_u64(num, ms);
    size_t n = (size_t)(num + BK_DECIMAL_MAX - d);
    memcpy(hdr, name, sizeof name - 1);
    memcpy(hdr + sizeof name - 1, d, n);
    memcpy(hdr + sizeof name - 1 + n, "\r\n", 3); /* with the terminating NUL */
}

static void answer_ok(bk_exchange_t *ex, bk_partition_t *p, int64_t offset, uint64_t decided_ms)
{
    char hdr[48] = ""; /* when the lease was checked for this 200 (README "Leadership") */
    if (decided_ms)
        decided_header(hdr, decided_ms);
    bk_json_t *j = bk_json_begin();
    bk_json_obj(j);
    bk_json_key(j, "status");
    bk_json_str(j, "ok");
    bk_json_key(j, "topic");
    bk_json_str(j, bk_topic_name(bk_partition_topic(p)));
    bk_json_key(j, "partition");
    bk_json_uint(j, bk_partition_index(p));
    bk_json_key(j, "offset");
    if (offset >= 0)
        bk_json_int(j, offset);
    else /* acks=0 answered while its batch is still being compressed */
        bk_json_null(j);
    bk_json_obj_end(j);
    bk_exchange_respond_json(ex, 200, j, hdr);
}

/* The append's outcome: its offset first (a staged append learns it only now). */
static void after_append(void *arg, int status, int64_t base_offset)
{
    produce_op_t *op = arg;
    if (status == 0)
        op->offset = base_offset;
    bk_ack_after_append(&op->ack, status, base_offset);
}

static void after_ack(void *arg, int status)
{
    produce_op_t *op = arg;
    bk_broker_t *b = op->broker;
    if (status == 0 && !bk_topic_deleted(bk_partition_topic(op->ack.part))) {
        bk_topic_counters_t *tc = bk_metrics_topic(&b->metrics, bk_partition_topic(op->ack.part));
        if (tc) {
            tc->records_in++;
            tc->bytes_in += op->bytes;
        }
    }
    if (op->ack.acks == BK_ACKS_NONE) /* answered when queued */
        bk_exchange_effects_done(op->effects);
    else if (status == 0)
        answer_ok(op->ex, op->ack.part, op->offset, op->ack.decided_ms);
    else if (status == BK_ENOTLEADER)
        bk_exchange_error(op->ex, 500,
                          "write outcome unknown: leadership was lost before the "
                          "write could be acknowledged");
    else
        bk_exchange_errorf(op->ex, 500, "write outcome unknown: %s", bk_strerror(status));
    free(op);
}

static bk_partition_t *pick_partition(bk_broker_t *b, bk_exchange_t *ex, bk_topic_t *t)
{
    uint32_t n = bk_topic_partition_count(t);
    uint32_t idx;
    if (body.partition >= 0) {
        if (body.partition >= n) {
            bk_exchange_errorf(ex, 40402, "partition %lld not found in topic %s (it has %u)",
                               (long long)body.partition, bk_topic_name(t), n);
            return NULL;
        }
        idx = (uint32_t)body.partition;
    } else if (body.has_key) {
        idx = bk_partition_for_key((const uint8_t *)body.key.data, body.key.len, n);
    } else {
        idx = n > 1 ? b->rr_partition++ % n : 0;
    }
    return bk_topic_partition(t, idx);
}

static void produce(bk_broker_t *b, bk_exchange_t *ex)
{
    if (!bk_api_require_json(ex))
        return;
    int status = bk_produce_body_parse(&body, ex->body, ex->body_len);
    if (status) {
        bk_exchange_error(ex, body.error_code ? body.error_code : status, body.error);
        return;
    }
    bk_acks_t acks;
    if (!bk_ack_parse(ex, &acks))
        return;
    int64_t epoch;
    if (!bk_broker_require_leader(b, ex, &epoch))
        return;
    const char *name = body.has_topic ? body.topic.data : DEFAULT_TOPIC;
    size_t name_len = body.has_topic ? body.topic.len : strlen(DEFAULT_TOPIC);
    bk_topic_t *t =
        bk_broker_topic(b, ex, name, name_len, b->cfg.auto_create_topics, body.partition);
    if (!t)
        return;
    if (!body.has_key && bk_topic_config_compacts(bk_topic_config(t))) { /* compaction */
        bk_exchange_errorf(ex, 42201,
                           "the record has no key; topic %s has cleanup.policy compact, which "
                           "needs a key on every record; nothing was written",
                           bk_topic_name(t));
        return;
    }
    bk_partition_t *p = pick_partition(b, ex, t);
    int codec;
    if (!p || !bk_api_produce_codec(ex, t, &codec) || !bk_ack_precheck(b, ex, p, acks))
        return;
    produce_op_t *op = malloc(sizeof *op);
    if (!op) {
        bk_exchange_error(ex, 503, "out of memory");
        return;
    }
    int64_t end = bk_partition_end_offset(p);
    *op = (produce_op_t){{&b->election, &b->replicator, p, 1, acks, epoch, after_ack, op, 0},
                         ex,
                         b,
                         -1,
                         body.message.len,
                         NULL};
    bk_record_t rec = {
        .key = body.has_key ? (const uint8_t *)body.key.data : NULL,
        .key_len = body.has_key ? (int32_t)body.key.len : -1,
        .value = (const uint8_t *)body.message.data,
        .value_len = (int32_t)body.message.len,
        .timestamp = 0,
    };
    int rc = bk_partition_append_codec(p, &rec, 1, (int32_t)epoch, codec, after_append, op);
    if (rc) {
        free(op);
        bk_exchange_errorf(ex, rc == BK_ETOOBIG ? 413 : 503, "write refused: %s", bk_strerror(rc));
        return;
    }
    if (acks == BK_ACKS_NONE) { /* a read pipelined behind it still waits for the append */
        op->effects = bk_exchange_hold_effects(ex);
        /* appended at once: its offset is known; staged behind a compression: not yet (-1) */
        answer_ok(ex, p, bk_partition_end_offset(p) > end ? end : -1, 0);
    }
}

void bk_api_produce(bk_broker_t *b, bk_exchange_t *ex)
{
    produce(b, ex);
    bk_produce_body_trim(&body); /* the record was copied into the log's buffer */
}
