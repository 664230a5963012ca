/* Produce (0), versions 0-7. Each partition's records (RecordBatch v2, as the client built
 * them, compressed or not) are checked and stored unchanged but for baseOffset and
 * partitionLeaderEpoch; acks 0/1/-1 mean what they mean over HTTP (brook/ack.h: durable here,
 * replicated to the in-sync set, lease still held under the write's epoch). Followers answer
 * NOT_LEADER_OR_FOLLOWER so clients refresh metadata and move. acks=0 gets no answer, but a
 * request behind it on the connection is answered only after its appends ended.
 * Idempotent producers (a batch with a producer id): the log checks the sequence and appends
 * in one step (bk_partition_append_producer); a retry of a remembered batch is not written
 * again and is answered, once the original is as safe as acks asks (it may still be on its
 * way), with no error and the original's base offset, as Kafka does; an older retry gets
 * DUPLICATE_SEQUENCE_NUMBER, a gap OUT_OF_ORDER_SEQUENCE_NUMBER, an old producer epoch
 * INVALID_PRODUCER_EPOCH, nothing written.
 * Response: responses [name, partitions [index, error_code, base_offset, log_append_time_ms
 * (v2+), log_start_offset (v5+)]], throttle_time_ms (v1+). */
#include <stdlib.h>
#include <string.h>

#include "brook/ack.h"
#include "brook/common.h"
#include "brook/groups_store.h"
#include "kafka/kafka_impl.h"

struct produce_op;

typedef struct {
    bk_ack_t ack; /* first: the append callback's argument */
    struct produce_op *op;
    int16_t error;
    int64_t base_offset;
    int64_t log_start;
} part_res_t;

typedef struct produce_op {
    bk_kreq_t *r;
    uint32_t pending;
    part_res_t *res; /* per partition, in request order */
} produce_op_t;

static int16_t append_error(int rc)
{
    switch (rc) {
    case BK_ECORRUPT:
    case BK_EINVAL:
        return BK_KERR_CORRUPT_MESSAGE;
    case UV_ENOTSUP:
        return BK_KERR_UNSUPPORTED_COMPRESSION_TYPE;
    case BK_ENOKEY:
        return BK_KERR_INVALID_RECORD;
    case BK_ETOOBIG:
        return BK_KERR_MESSAGE_TOO_LARGE;
    case BK_ENOTLEADER:
    case BK_EFENCED:
        return BK_KERR_NOT_LEADER_OR_FOLLOWER;
    case BK_ENOTOPIC:
    case UV_ECANCELED:
        return BK_KERR_UNKNOWN_TOPIC_OR_PARTITION;
    case UV_EAGAIN:
        return BK_KERR_NOT_ENOUGH_REPLICAS;
    case UV_EBUSY:
        return BK_KERR_REQUEST_TIMED_OUT; /* retriable: the partition is busy a moment */
    default:
        return BK_KERR_KAFKA_STORAGE_ERROR;
    }
}

static void answer(produce_op_t *op)
{
    bk_kreq_t *r = op->r;
    const bk_kreq_produce_t *pr = &r->req.u.produce;
    int16_t ver = r->req.h.version;
    bk_kw_t *w = &r->out;
    if (r->no_answer) {
        bk_kreq_finish(r);
        return;
    }
    bk_kresp_begin(w, &r->req.h, 0);
    bk_kw_array(w, 0, pr->ntopics);
    size_t k = 0;
    for (int32_t i = 0; i < pr->ntopics; i++) {
        const bk_kprod_topic_t *t = &pr->topics[i];
        bk_kw_str(w, 0, (const char *)t->name.ptr, t->name.len);
        bk_kw_array(w, 0, t->nparts);
        for (int32_t j = 0; j < t->nparts; j++, k++) {
            const part_res_t *pr_ = &op->res[k];
            bk_kw_i32(w, t->parts[j].index);
            bk_kw_i16(w, pr_->error);
            bk_kw_i64(w, pr_->error ? -1 : pr_->base_offset);
            if (ver >= 2)
                bk_kw_i64(w, -1); /* log_append_time_ms: CreateTime topics */
            if (ver >= 5)
                bk_kw_i64(w, pr_->log_start);
        }
    }
    if (ver >= 1)
        bk_kw_i32(w, 0); /* throttle_time_ms */
    bk_kreq_finish(r);
}

static void release(produce_op_t *op)
{
    if (--op->pending == 0)
        answer(op);
}

static void after_ack(void *arg, int status)
{
    part_res_t *res = arg;
    if (status < 0)
        res->error = res->ack.acks == BK_ACKS_ALL && status != BK_ENOTLEADER
                         ? BK_KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND
                         : append_error(status);
    release(res->op);
}

static void after_append(void *arg, int status, int64_t base_offset)
{
    part_res_t *res = arg;
    res->base_offset = base_offset;
    bk_ack_after_append(&res->ack, status, base_offset);
}

static int16_t verdict_error(bk_pseq_verdict_t v)
{
    switch (v) {
    case BK_PSEQ_OLD_DUPLICATE:
        return BK_KERR_DUPLICATE_SEQUENCE_NUMBER;
    case BK_PSEQ_OUT_OF_ORDER:
        return BK_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
    case BK_PSEQ_STALE_EPOCH:
        return BK_KERR_INVALID_PRODUCER_EPOCH;
    default:
        return BK_KERR_INVALID_RECORD;
    }
}

/* A retry of a remembered batch: nothing written; answered with the original's offset once
 * the original is acknowledged as acks asks. The original may still be on its way to the
 * disk: then the answer waits as an acks=all write does (the replicated high watermark
 * never passes what is not durable here), whatever acks the retry asked. */
static int16_t answer_duplicate(part_res_t *res, const bk_produce_result_t *out)
{
    bk_partition_t *p = res->ack.part;
    res->ack.count = (uint32_t)out->count;
    if (res->ack.acks == BK_ACKS_LEADER &&
        out->base_offset + out->count > bk_partition_high_watermark(p))
        res->ack.acks = BK_ACKS_ALL;
    res->base_offset = out->base_offset;
    res->op->pending++;
    bk_ack_after_append(&res->ack, 0, out->base_offset);
    return res->error; /* set already when the acknowledgement was decided at once */
}

/* Checks one partition's records and appends them. Returns 0 when the append is under way
 * (res->op->pending counts it), else the Kafka error for the partition. */
static int16_t produce_one(bk_kafka_t *k, bk_kreq_t *r, int32_t ti, const bk_kprod_part_t *pp,
                           int64_t epoch, part_res_t *res)
{
    bk_acks_t acks = (bk_acks_t)r->req.u.produce.acks;
    bk_topic_t *topic = bk_kafka_topic(k, r, ti, r->req.u.produce.topics[ti].name);
    if (!topic || pp->index < 0 || (uint32_t)pp->index >= bk_topic_partition_count(topic))
        return BK_KERR_UNKNOWN_TOPIC_OR_PARTITION;
    if (strcmp(bk_topic_name(topic), BK_GRP_OFFSETS_TOPIC) == 0)
        return BK_KERR_INVALID_TOPIC; /* internal: only the group coordinator writes it (as Kafka)
                                       */
    bk_partition_t *p = bk_topic_partition(topic, (uint32_t)pp->index);
    res->log_start = bk_partition_start_offset(p);
    if (pp->records.len < 17) /* not even a magic byte */
        return BK_KERR_CORRUPT_MESSAGE;
    uint8_t magic = pp->records.ptr[16]; /* same place in MessageSet v0/v1 and RecordBatch v2 */
    if (magic == 0 || magic == 1)
        return BK_KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT;
    if (magic != 2)
        return BK_KERR_CORRUPT_MESSAGE;
    int rc = bk_ack_check_insync(*k->deps.replicator, p, acks);
    if (rc)
        return rc == BK_ECLOSED ? BK_KERR_NOT_LEADER_OR_FOLLOWER : append_error(rc);
    res->ack =
        (bk_ack_t){k->deps.election, k->deps.replicator, p, 0, acks, epoch, after_ack, res, 0};
    uint8_t *batches = r->frame + (pp->records.ptr - r->frame); /* the frame is ours */
    int64_t before = bk_partition_end_offset(p);
    bk_produce_result_t out;
    rc = bk_partition_append_producer(p, batches, (size_t)pp->records.len, (int32_t)epoch, &out,
                                      after_append, res);
    if (rc)
        return append_error(rc);
    if (out.verdict == BK_PSEQ_DUPLICATE)
        return answer_duplicate(res, &out);
    if (out.verdict != BK_PSEQ_ACCEPT)
        return verdict_error(out.verdict);
    res->ack.count = (uint32_t)(bk_partition_end_offset(p) - before);
    res->op->pending++;
    return BK_KERR_NONE;
}

static void free_op(void *state)
{
    produce_op_t *op = state;
    free(op->res);
    free(op);
}

void bk_khandle_produce(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_kreq_produce_t *pr = &r->req.u.produce;
    size_t n = 0;
    for (int32_t i = 0; i < pr->ntopics; i++)
        n += (size_t)pr->topics[i].nparts;
    produce_op_t *op = calloc(1, sizeof *op);
    part_res_t *res = calloc(n ? n : 1, sizeof *res);
    if (!op || !res) {
        free(op);
        free(res);
        r->out.bad = 1;
        bk_kreq_finish(r);
        return;
    }
    *op = (produce_op_t){r, 1, res};
    r->state = op;
    r->free_state = free_op;
    r->no_answer = pr->acks == 0;
    int64_t epoch = 0;
    int16_t all_error = BK_KERR_NONE;
    if (pr->acks != 0 && pr->acks != 1 && pr->acks != -1)
        all_error = BK_KERR_INVALID_REQUIRED_ACKS;
    else if (!bk_kafka_is_leader(k, &epoch))
        all_error = BK_KERR_NOT_LEADER_OR_FOLLOWER;
    size_t idx = 0;
    for (int32_t i = 0; i < pr->ntopics; i++)
        for (int32_t j = 0; j < pr->topics[i].nparts; j++, idx++) {
            res[idx].op = op;
            res[idx].log_start = -1;
            res[idx].error =
                !bk_kafka_allowed(r, i, BK_KAUTHZ_OK) ? BK_KERR_TOPIC_AUTHORIZATION_FAILED
                : all_error                           ? all_error
                            : produce_one(k, r, i, &pr->topics[i].parts[j], epoch, &res[idx]);
        }
    release(op);
}
