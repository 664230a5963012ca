/* POST /topics/{t} and POST /topics/{t}/partitions/{p}: Kafka REST Proxy v2 produce. Every
 * record is validated before anything is written; then the records are grouped by partition
 * and each partition gets exactly one RecordBatch. The answer lists an offset per record, in
 * request order, once every batch is durable and the lease of the epoch they were written
 * under still holds.
 *
 * Partitioning: the path's partition wins, then the record's "partition", then murmur2 of the
 * key (Kafka's Java client), and keyless records of one request all go to one partition,
 * chosen round-robin per request (sticky, like Kafka's default partitioner). */
#include <stdlib.h>
#include <string.h>

#include "api/ack.h"
#include "api/broker.h"
#include "api/partitioner.h"
#include "api/produce_body.h"
#include "api/records_body.h"
#include "brook/common.h"
#include "http/media_type.h"
#include "http/response.h"

typedef struct {
    bk_broker_t *broker;
    bk_exchange_t *ex;
    bk_topic_t *topic;
    int64_t epoch;
    bk_acks_t acks;
    int codec;          /* the batches' codec (bk_api_produce_codec) */
    uint32_t pending;   /* appends not completed yet */
    int failed_status;  /* first append error (< 0), or 0 */
    size_t count;       /* records in the request */
    uint32_t *rec_part; /* per record: partition */
    uint32_t *rec_pos;  /* per record: position within its partition's batch */
    int64_t *base;      /* per partition: base offset of its batch (-1 = none or not yet
                           known: a staged append learns it in its callback) */
    void *effects;      /* acks=0: holds later reads on the connection until appends end */
} rest_op_t;

typedef struct {
    bk_ack_t ack; /* first: the append callback's argument */
    rest_op_t *op;
    uint32_t partition;
    size_t bytes; /* value bytes, for metrics */
} part_ctx_t;

static bk_records_body_t body;
static bk_record_t *recs;
static size_t recs_cap;
static bk_header_t *hdrs;
static size_t hdrs_cap;

/* Maps the Content-Type to a decoding mode; answers 415 and returns -1 when unsupported. */
static int content_mode(bk_exchange_t *ex)
{
    size_t len = 0;
    const char *ct = bk_exchange_header(ex, "content-type", &len);
#define CT(lit) bk_media_type_is(ct, len, lit)
    if (CT("application/vnd.kafka.json.v2+json") || CT("application/json") ||
        CT("application/vnd.kafka.json.v1+json"))
        return BK_RB_JSON;
    if (CT("application/vnd.kafka.binary.v2+json") || CT("application/vnd.kafka.v2+json") ||
        CT("application/vnd.kafka.binary.v1+json") || CT("application/vnd.kafka+json") ||
        CT("application/vnd.kafka.v1+json"))
        return BK_RB_BINARY;
#undef CT
    bk_exchange_errorf(ex, 415,
                       "unsupported media type %.*s; use application/vnd.kafka.json.v2+json, "
                       "application/vnd.kafka.binary.v2+json or application/json",
                       ct ? (int)(len > 100 ? 100 : len) : 9, ct ? ct : "(missing)");
    return -1;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (*cap >= need)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return UV_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

static void op_free(rest_op_t *op)
{
    free(op->rec_part);
    free(op->rec_pos);
    free(op->base);
    free(op);
}

static void answer(rest_op_t *op)
{
    bk_exchange_t *ex = op->ex;
    if (op->failed_status == BK_ENOTLEADER) {
        bk_exchange_error(ex, 500,
                          "write outcome unknown: leadership was lost before the "
                          "write could be acknowledged");
        return;
    }
    if (op->failed_status) {
        bk_exchange_errorf(ex, 500, "write outcome unknown: %s", bk_strerror(op->failed_status));
        return;
    }
    bk_json_t *j = bk_json_begin();
    bk_json_obj(j);
    bk_json_key(j, "key_schema_id");
    bk_json_null(j);
    bk_json_key(j, "value_schema_id");
    bk_json_null(j);
    bk_json_key(j, "offsets");
    bk_json_arr(j);
    for (size_t i = 0; i < op->count; i++) {
        bk_json_obj(j);
        bk_json_key(j, "partition");
        bk_json_uint(j, op->rec_part[i]);
        bk_json_key(j, "offset");
        int64_t base = op->base[op->rec_part[i]];
        if (base < 0) /* acks=0 answered before a staged append took its offsets */
            bk_json_null(j);
        else
            bk_json_int(j, base + op->rec_pos[i]);
        bk_json_key(j, "error_code");
        bk_json_null(j);
        bk_json_key(j, "error");
        bk_json_null(j);
        bk_json_obj_end(j);
    }
    bk_json_arr_end(j);
    bk_json_obj_end(j);
    bk_exchange_respond_json(ex, 200, j, NULL);
}

static void op_release(rest_op_t *op)
{
    if (--op->pending)
        return;
    if (op->acks != BK_ACKS_NONE) /* acks=0 was answered when queued */
        answer(op);
    bk_exchange_effects_done(op->effects);
    op_free(op);
}

/* The append's outcome: its base offset first (a staged append learns it only now). */
static void after_append(void *arg, int status, int64_t base_offset)
{
    part_ctx_t *pc = arg;
    if (status == 0)
        pc->op->base[pc->partition] = base_offset;
    bk_ack_after_append(&pc->ack, status, base_offset);
}

static void after_ack(void *arg, int status)
{
    part_ctx_t *pc = arg;
    rest_op_t *op = pc->op;
    if (status < 0 && !op->failed_status) {
        op->failed_status = status;
    } else if (status == 0 && !bk_topic_deleted(op->topic)) {
        bk_topic_counters_t *tc = bk_metrics_topic(&op->broker->metrics, op->topic);
        if (tc) {
            tc->records_in += pc->ack.count;
            tc->bytes_in += pc->bytes;
        }
    }
    free(pc);
    op_release(op);
}

/* Chooses every record's partition; answers 40402 and returns -1 on a bad partition. */
static int assign_partitions(bk_broker_t *b, bk_exchange_t *ex, rest_op_t *op, int64_t fixed,
                             uint32_t nparts, uint32_t *per_part)
{
    uint32_t sticky = nparts > 1 ? b->rr_partition++ % nparts : 0;
    for (size_t i = 0; i < body.count; i++) {
        const bk_rb_record_t *r = &body.records[i];
        int64_t p = fixed >= 0 ? fixed : r->partition;
        if (p >= (int64_t)nparts) {
            bk_exchange_errorf(ex, 40402,
                               "record %zu: partition %lld not found in topic %s (it "
                               "has %u)",
                               i, (long long)p, bk_topic_name(op->topic), nparts);
            return -1;
        }
        if (p < 0)
            p = r->key_len >= 0
                    ? bk_partition_for_key((const uint8_t *)body.arena.data + r->key_off,
                                           (size_t)r->key_len, nparts)
                    : sticky;
        op->rec_part[i] = (uint32_t)p;
        op->rec_pos[i] = per_part[p]++;
    }
    return 0;
}

static void fill_record(bk_record_t *out, const bk_rb_record_t *r, size_t *hpos)
{
    const uint8_t *arena = (const uint8_t *)body.arena.data;
    out->key = r->key_len >= 0 ? arena + r->key_off : NULL;
    out->key_len = r->key_len;
    out->value = r->value_len >= 0 ? arena + r->value_off : NULL;
    out->value_len = r->value_len;
    out->timestamp = 0;
    out->headers = hdrs + *hpos;
    out->header_count = r->header_count;
    for (uint32_t k = 0; k < r->header_count; k++) {
        const bk_rb_header_t *h = &body.headers[r->header_first + k];
        hdrs[(*hpos)++] = (bk_header_t){arena + h->key_off, h->key_len,
                                        h->value_len >= 0 ? arena + h->value_off : NULL,
                                        h->value_len >= 0 ? (size_t)h->value_len : 0};
    }
}

/* Groups records by partition and issues one append per partition. */
static void append_batches(rest_op_t *op, uint32_t nparts, const uint32_t *per_part)
{
    size_t *start = calloc(nparts + 1, sizeof *start);
    if (!start || grow((void **)&recs, &recs_cap, body.count, sizeof *recs) ||
        grow((void **)&hdrs, &hdrs_cap, body.header_count + 1, sizeof *hdrs)) {
        free(start);
        bk_exchange_error(op->ex, 503, "out of memory");
        op_free(op);
        return;
    }
    for (uint32_t p = 0; p < nparts; p++)
        start[p + 1] = start[p] + per_part[p];
    size_t hpos = 0;
    for (size_t i = 0; i < body.count; i++)
        fill_record(&recs[start[op->rec_part[i]] + op->rec_pos[i]], &body.records[i], &hpos);
    op->pending = 1; /* held until every append is issued */
    int issued = 0;
    for (uint32_t p = 0; p < nparts; p++) {
        if (!per_part[p])
            continue;
        part_ctx_t *pc = malloc(sizeof *pc);
        bk_partition_t *part = bk_topic_partition(op->topic, p);
        int rc = pc ? 0 : UV_ENOMEM;
        if (pc) {
            size_t bytes = 0;
            for (size_t i = start[p]; i < start[p] + per_part[p]; i++)
                bytes += recs[i].value_len > 0 ? (size_t)recs[i].value_len : 0;
            *pc = (part_ctx_t){{&op->broker->election, &op->broker->replicator, part, per_part[p],
                                op->acks, op->epoch, after_ack, pc, 0},
                               op,
                               p,
                               bytes};
            int64_t end = bk_partition_end_offset(part);
            rc = bk_partition_append_codec(part, recs + start[p], per_part[p], (int32_t)op->epoch,
                                           op->codec, after_append, pc);
            op->base[p] = rc == 0 && bk_partition_end_offset(part) > end ? end : -1;
        }
        if (rc) {
            free(pc);
            op->failed_status = op->failed_status ? op->failed_status : rc;
            continue;
        }
        op->pending++;
        issued = 1;
    }
    free(start);
    if (!issued) { /* nothing was written: a definite failure */
        bk_exchange_errorf(op->ex, op->failed_status == BK_ETOOBIG ? 413 : 503, "write refused: %s",
                           bk_strerror(op->failed_status));
        op_free(op);
        return;
    }
    if (op->acks == BK_ACKS_NONE) { /* a read pipelined behind it still waits for the appends */
        op->effects = bk_exchange_hold_effects(op->ex);
        answer(op);
    }
    op_release(op);
}

/* Every record must fit the topic's max.message.bytes (checked before anything is written, so
 * a request is refused whole rather than half-applied). */
static int sizes_ok(bk_exchange_t *ex, const bk_topic_t *t)
{
    uint64_t limit = bk_topic_config(t)->max_message_bytes;
    for (size_t i = 0; i < body.count; i++) {
        const bk_rb_record_t *r = &body.records[i];
        uint64_t size = (r->key_len > 0 ? (uint64_t)r->key_len : 0) +
                        (r->value_len > 0 ? (uint64_t)r->value_len : 0);
        for (uint32_t k = 0; k < r->header_count; k++) {
            const bk_rb_header_t *h = &body.headers[r->header_first + k];
            size += h->key_len + (h->value_len > 0 ? (uint64_t)h->value_len : 0);
        }
        if (size > limit) {
            bk_exchange_errorf(ex, 413,
                               "record %zu is %llu bytes; topic %s takes at most %llu "
                               "(max.message.bytes); nothing was written",
                               i, (unsigned long long)size, bk_topic_name(t),
                               (unsigned long long)limit);
            return 0;
        }
    }
    return 1;
}

/* A compacted topic keeps the newest record per key: every record needs one (Kafka refuses
 * keyless records there too). Checked before anything is written. */
static int keys_ok(bk_exchange_t *ex, const bk_topic_t *t)
{
    if (!bk_topic_config_compacts(bk_topic_config(t)))
        return 1;
    for (size_t i = 0; i < body.count; i++)
        if (body.records[i].key_len < 0) {
            bk_exchange_errorf(ex, 42201,
                               "record %zu has no key; topic %s has cleanup.policy compact, "
                               "which needs a key on every record; nothing was written",
                               i, bk_topic_name(t));
            return 0;
        }
    return 1;
}

/* acks=all: every partition written must have enough in-sync replicas (checked first, so a
 * refused request writes nothing). */
static int insync_ok(bk_broker_t *b, bk_exchange_t *ex, rest_op_t *op, uint32_t nparts,
                     const uint32_t *per_part)
{
    for (uint32_t p = 0; p < nparts; p++)
        if (per_part[p] && !bk_ack_precheck(b, ex, bk_topic_partition(op->topic, p), op->acks))
            return 0;
    return 1;
}

static rest_op_t *op_new(bk_broker_t *b, bk_exchange_t *ex, bk_topic_t *t, int64_t epoch,
                         bk_acks_t acks, uint32_t nparts)
{
    rest_op_t *op = calloc(1, sizeof *op);
    if (!op)
        return NULL;
    *op = (rest_op_t){b, ex, t, epoch, acks, 0, 0, 0, body.count, NULL, NULL, NULL, NULL};
    op->rec_part = malloc(body.count * sizeof *op->rec_part);
    op->rec_pos = malloc(body.count * sizeof *op->rec_pos);
    op->base = malloc(nparts * sizeof *op->base);
    if (!op->rec_part || !op->rec_pos || !op->base) {
        op_free(op);
        return NULL;
    }
    return op;
}

static void produce(bk_broker_t *b, bk_exchange_t *ex, const bk_route_t *r)
{
    int mode = content_mode(ex);
    if (mode < 0)
        return;
    int status = bk_records_body_parse(&body, (bk_rb_mode_t)mode, ex->body, ex->body_len);
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
    int64_t max_part = r->id == BK_ROUTE_PARTITION ? r->partition : -1;
    for (size_t i = 0; i < body.count; i++)
        if (body.records[i].partition > max_part)
            max_part = body.records[i].partition;
    bk_topic_t *t =
        bk_broker_topic(b, ex, r->topic, r->topic_len, b->cfg.auto_create_topics, max_part);
    if (!t)
        return;
    uint32_t nparts = bk_topic_partition_count(t);
    if (r->id == BK_ROUTE_PARTITION && !bk_broker_partition(ex, t, r->partition))
        return;
    uint32_t *per_part = calloc(nparts, sizeof *per_part);
    rest_op_t *op = per_part ? op_new(b, ex, t, epoch, acks, nparts) : NULL;
    if (!op) {
        free(per_part);
        bk_exchange_error(ex, 503, "out of memory");
        return;
    }
    int64_t fixed = r->id == BK_ROUTE_PARTITION ? r->partition : -1;
    if (bk_api_produce_codec(ex, t, &op->codec) &&
        assign_partitions(b, ex, op, fixed, nparts, per_part) == 0 && sizes_ok(ex, t) &&
        keys_ok(ex, t) && insync_ok(b, ex, op, nparts, per_part))
        append_batches(op, nparts, per_part);
    else
        op_free(op);
    free(per_part);
}

/* After an outsized request: give back what the reused arrays grew to. */
static void trim(void)
{
    int freed = bk_records_body_trim(&body);
    if (recs_cap * sizeof *recs > BK_JSON_KEEP_BYTES) {
        free(recs);
        recs = NULL;
        recs_cap = 0;
        freed = 1;
    }
    if (hdrs_cap * sizeof *hdrs > BK_JSON_KEEP_BYTES) {
        free(hdrs);
        hdrs = NULL;
        hdrs_cap = 0;
        freed = 1;
    }
    if (freed)
        bk_heap_trim();
}

void bk_api_produce_rest(bk_broker_t *b, bk_exchange_t *ex, const bk_route_t *r)
{
    produce(b, ex, r);
    trim(); /* every append has copied its records into the log's buffer by now */
}
