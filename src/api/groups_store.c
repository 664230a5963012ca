/* The I/O shell of the group store: the internal compacted topic __consumer_offsets. The
 * leader writes it with acks=all through the same append and acknowledgement path HTTP
 * produce uses (brook/ack.h), and only an acknowledged record changes the in-memory model
 * (c->store), so what a group request answers is never something a failover could take back.
 * A broker replays the topic up to its durable end once per term it leads, before it answers
 * any group request; it must never answer one from state of an earlier term. */
#include <stdlib.h>
#include <string.h>

#include "api/ack.h"
#include "api/consumers.h"
#include "api/partitioner.h"
#include "brook/common.h"
#include "http/response.h"

typedef struct bk_gstore_op {
    bk_ack_t ack;                     /* first: the append callback's argument */
    struct bk_gstore_op *prev, *next; /* c->writing, while appended and unanswered */
    bk_consumers_t *c;
    uint64_t era;
    bk_grp_kvs_t recs; /* copies: applied to the model once acknowledged */
    char *group;
    bk_gstore_done_fn done;
    void *arg;
} write_op_t;

int bk_gstore_writing(const bk_consumers_t *c, const char *group)
{
    for (const write_op_t *op = c->writing; op; op = op->next)
        if (strcmp(op->group, group) == 0)
            return 1;
    return 0;
}

static void writing_add(bk_consumers_t *c, write_op_t *op)
{
    op->next = c->writing;
    if (c->writing)
        c->writing->prev = op;
    c->writing = op;
}

static void writing_remove(bk_consumers_t *c, write_op_t *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else if (c->writing == op)
        c->writing = op->next;
    if (op->next)
        op->next->prev = op->prev;
    op->prev = op->next = NULL;
}

int bk_gstore_is_internal(const char *name, size_t len)
{
    return bk_grp_is_offsets_topic(name, len);
}

static bk_topic_t *offsets_topic(bk_consumers_t *c)
{
    return bk_log_topic_find(c->b->log, BK_GRP_OFFSETS_TOPIC, strlen(BK_GRP_OFFSETS_TOPIC));
}

static int replay_visit(void *arg, const bk_record_view_t *rec)
{
    bk_consumers_t *c = arg;
    if (rec->key_len < 0)
        return 0;
    int rc = bk_grp_store_apply(&c->store, rec->key, (size_t)rec->key_len,
                                rec->value_len < 0 ? NULL : rec->value,
                                rec->value_len < 0 ? 0 : (size_t)rec->value_len);
    if (rc == BK_ECORRUPT)
        bk_trace_warn("groups", "skipping a record of %s at offset %lld that does not decode",
                      BK_GRP_OFFSETS_TOPIC, (long long)rec->offset);
    return rc == UV_ENOMEM ? 1 : 0;
}

/* Reads every partition of the topic from its start to its durable end into c->store. */
static int replay(bk_consumers_t *c)
{
    bk_topic_t *t = offsets_topic(c);
    for (uint32_t i = 0; t && i < bk_topic_partition_count(t); i++) {
        bk_partition_t *p = bk_topic_partition(t, i);
        int64_t off = bk_partition_start_offset(p), end = bk_partition_high_watermark(p);
        while (off < end) {
            int64_t next = off;
            int n = bk_partition_read(p, off, 10000, 4 << 20, replay_visit, c, &next);
            if (n < 0)
                return n;
            if (next <= off)
                return BK_ECORRUPT;
            off = next;
        }
    }
    return 0;
}

static int reload(bk_consumers_t *c, int64_t epoch)
{
    bk_cons_drop_all(c);
    bk_grp_store_free(&c->store);
    c->era++;
    c->loaded = 0;
    int rc = replay(c);
    if (rc == 0)
        rc = bk_cons_rebuild(c);
    if (rc) {
        bk_cons_drop_all(c);
        bk_grp_store_free(&c->store);
        return rc;
    }
    c->loaded = 1;
    c->loaded_epoch = epoch;
    bk_trace_info("groups", "loaded %zu group(s) from %s for epoch %lld", c->store.count,
                  BK_GRP_OFFSETS_TOPIC, (long long)epoch);
    return 0;
}

int bk_gstore_ready(bk_consumers_t *c, bk_exchange_t *ex)
{
    int64_t epoch = 0;
    if (c->stopped) {
        bk_exchange_error(ex, 503, "this broker is shutting down; retry on the new leader");
        return 0;
    }
    if (!bk_broker_require_leader(c->b, ex, &epoch))
        return 0;
    if (c->loaded && c->loaded_epoch == epoch)
        return 1;
    int rc = reload(c, epoch);
    if (rc == 0)
        return 1;
    bk_exchange_errorf(ex, 503,
                       "group coordinator is loading %s (COORDINATOR_LOAD_IN_PROGRESS): %s; "
                       "nothing was changed, retry shortly",
                       BK_GRP_OFFSETS_TOPIC, bk_strerror(rc));
    return 0;
}

int bk_gstore_ready_code(bk_consumers_t *c)
{
    int64_t epoch = 0;
    bk_election_t *e = c->b->election;
    if (c->stopped)
        return BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE;
    if (!e || !bk_election_can_ack(e, &epoch))
        return BK_GRP_ERR_NOT_COORDINATOR;
    if (c->loaded && c->loaded_epoch == epoch)
        return 0;
    int rc = reload(c, epoch);
    if (rc == 0)
        return 0;
    bk_trace_warn("groups", "cannot load %s: %s", BK_GRP_OFFSETS_TOPIC, bk_strerror(rc));
    return BK_GRP_ERR_COORDINATOR_LOAD_IN_PROGRESS;
}

static void topics_confirmed(void *arg, int status)
{
    (void)arg;
    (void)status;
}

/* The topic, created here (compacted, a few partitions) on first use. */
static int ensure_topic(bk_consumers_t *c, bk_topic_t **out)
{
    *out = offsets_topic(c);
    if (*out)
        return 0;
    bk_topic_config_t cfg;
    bk_log_topic_config_defaults(c->b->log, &cfg);
    bk_topic_config_compaction_defaults(&cfg);
    cfg.cleanup_policy = BK_CLEANUP_COMPACT;
    cfg.retention_ms = -1;
    cfg.retention_bytes = -1;
    cfg.segment_bytes = 16u << 20;
    int rc = bk_log_topic_create_with(c->b->log, BK_GRP_OFFSETS_TOPIC, strlen(BK_GRP_OFFSETS_TOPIC),
                                      c->partitions, &cfg, out);
    if (rc == UV_EEXIST)
        return 0;
    if (rc)
        return rc;
    bk_trace_info("groups", "created %s (%u partition(s), cleanup.policy compact)",
                  BK_GRP_OFFSETS_TOPIC, c->partitions);
    if (c->b->replicator) /* followers learn of it from their next fetch answer */
        (void)bk_replicator_topics_changed(c->b->replicator, topics_confirmed, NULL);
    return 0;
}

static void op_free(write_op_t *op)
{
    bk_grp_kvs_free(&op->recs);
    free(op->group);
    free(op);
}

static void after_ack(void *arg, int status)
{
    write_op_t *op = arg;
    bk_consumers_t *c = op->c;
    writing_remove(c, op);
    if (status == 0 && op->era == c->era) {
        for (size_t i = 0; i < op->recs.count; i++) {
            const bk_grp_kv_t *kv = &op->recs.items[i];
            (void)bk_grp_store_apply(&c->store, kv->key, kv->key_len, kv->value, kv->value_len);
        }
        bk_cons_stat_written(c, op->group, &op->recs);
    }
    bk_gstore_done_fn done = op->done;
    void *darg = op->arg;
    op_free(op);
    done(darg, status);
}

static int copy_kvs(const bk_grp_kvs_t *in, bk_grp_kvs_t *out)
{
    out->items = calloc(in->count ? in->count : 1, sizeof *out->items);
    if (!out->items)
        return UV_ENOMEM;
    out->cap = in->count;
    for (size_t i = 0; i < in->count; i++) {
        const bk_grp_kv_t *a = &in->items[i];
        bk_grp_kv_t *b = &out->items[out->count++];
        b->key = malloc(a->key_len ? a->key_len : 1);
        b->value = a->value ? malloc(a->value_len ? a->value_len : 1) : NULL;
        if (!b->key || (a->value && !b->value))
            return UV_ENOMEM;
        memcpy(b->key, a->key, a->key_len);
        b->key_len = a->key_len;
        if (a->value)
            memcpy(b->value, a->value, a->value_len);
        b->value_len = a->value_len;
    }
    return 0;
}

static int append(bk_consumers_t *c, bk_partition_t *p, write_op_t *op)
{
    size_t n = op->recs.count;
    bk_record_t *recs = calloc(n, sizeof *recs);
    if (!recs)
        return UV_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const bk_grp_kv_t *kv = &op->recs.items[i];
        recs[i] = (bk_record_t){kv->key,   (int32_t)kv->key_len,
                                kv->value, kv->value ? (int32_t)kv->value_len : -1,
                                NULL,      0,
                                0};
    }
    op->ack = (bk_ack_t){&c->b->election,
                         &c->b->replicator,
                         p,
                         (uint32_t)n,
                         BK_ACKS_ALL,
                         c->loaded_epoch,
                         after_ack,
                         op,
                         0};
    int rc = bk_partition_append(p, recs, (uint32_t)n, (int32_t)c->loaded_epoch,
                                 bk_ack_after_append, &op->ack);
    free(recs);
    return rc;
}

int bk_gstore_write(bk_consumers_t *c, const char *group, const bk_grp_kvs_t *recs,
                    bk_gstore_done_fn done, void *arg)
{
    if (recs->count == 0 || recs->count > UINT32_MAX)
        return BK_EINVAL;
    bk_topic_t *t;
    int rc = ensure_topic(c, &t);
    if (rc)
        return rc;
    uint32_t nparts = bk_topic_partition_count(t);
    bk_partition_t *p = bk_topic_partition(
        t, bk_partition_for_key((const uint8_t *)group, strlen(group), nparts ? nparts : 1));
    if (!p)
        return BK_ENOPART;
    if ((rc = bk_ack_check_insync(c->b->replicator, p, BK_ACKS_ALL)))
        return rc;
    write_op_t *op = calloc(1, sizeof *op);
    if (!op)
        return UV_ENOMEM;
    op->c = c;
    op->era = c->era;
    op->done = done;
    op->arg = arg;
    if (!(op->group = strdup(group)))
        rc = UV_ENOMEM;
    if (!rc && !(rc = copy_kvs(recs, &op->recs))) {
        writing_add(c, op); /* before the append: its callback may not wait for a return */
        if ((rc = append(c, p, op)))
            writing_remove(c, op);
    }
    if (rc)
        op_free(op);
    return rc;
}
