/* Group administration without an instance: POST /consumers/{g}/offsets commits offsets for a
 * group (what a user of the stateless read API needs to hand over to consumer instances or
 * Kafka consumers later) and DELETE /consumers/{g} deletes an empty group (tombstones for its
 * offsets and group record). Both refuse a group with members (409 40903) and answer only once
 * __consumer_offsets holds the records with acks=all; neither ever changes a group that has
 * members. */
#include <stdlib.h>
#include <string.h>

#include "api/consumers.h"
#include "api/consumers_body.h"
#include "brook/common.h"
#include "http/response.h"

typedef struct {
    bk_consumers_t *c;
    bk_exchange_t *ex;
    uint64_t era;
    char *group;
} admin_op_t;

static int group_busy(bk_exchange_t *ex, const bk_cons_group_t *cg, const char *what)
{
    if (cg && cg->deleting) {
        bk_exchange_errorf(ex, 503, "group %s is being deleted; nothing was %s, retry",
                           cg->g.group_id, what);
        return 1;
    }
    if (cg && (cg->g.member_count > 0 || cg->g.pending_count > 0)) {
        bk_exchange_errorf(ex, 40903,
                           "group %s has %zu member(s) (state %s): only a group without "
                           "members can be %s here (Kafka: NON_EMPTY_GROUP)",
                           cg->g.group_id, cg->g.member_count, bk_grp_state_name(cg->g.state),
                           what);
        return 1;
    }
    return 0;
}

static void op_free(admin_op_t *op)
{
    free(op->group);
    free(op);
}

static admin_op_t *op_new(bk_consumers_t *c, bk_exchange_t *ex, const char *group)
{
    admin_op_t *op = calloc(1, sizeof *op);
    if (op && !(op->group = strdup(group))) {
        free(op);
        op = NULL;
    }
    if (op)
        *op = (admin_op_t){c, ex, c->era, op->group};
    return op;
}

void bk_cons_outcome_unknown(bk_exchange_t *ex, int status, const char *what)
{
    bk_exchange_errorf(ex, 500, "%s outcome unknown: %s; it may or may not have taken effect", what,
                       status == BK_ENOTLEADER
                           ? "leadership was lost before it could be acknowledged"
                           : bk_strerror(status));
}

/* ---- POST /consumers/{g}/offsets ---- */

static void after_commit(void *arg, int status)
{
    admin_op_t *op = arg;
    if (status == 0) {
        op->c->commits++;
        bk_exchange_respond(op->ex, 200, NULL, NULL, NULL, 0);
    } else {
        bk_cons_outcome_unknown(op->ex, status, "commit");
    }
    op_free(op);
}

/* One entry: readable, an existing partition of an ordinary topic; 1 or 0 (answered). */
static int committable(bk_consumers_t *c, bk_exchange_t *ex, const bk_cons_offset_in_t *o, size_t i)
{
    if (bk_gstore_is_internal(o->topic, strlen(o->topic))) {
        bk_exchange_errorf(ex, 42204, "entry %zu: topic %s is internal", i, o->topic);
        return 0;
    }
    if (!bk_cons_may_read(c, ex, o->topic))
        return 0;
    bk_topic_t *t = bk_log_topic_find(c->b->log, o->topic, strlen(o->topic));
    if (!t) {
        bk_exchange_errorf(ex, 40401, "entry %zu: topic %.249s not found", i, o->topic);
        return 0;
    }
    uint32_t n = bk_topic_partition_count(t);
    if ((uint32_t)o->partition >= n) {
        bk_exchange_errorf(ex, 40402, "entry %zu: partition %d not found in topic %s (it has %u)",
                           i, o->partition, o->topic, n);
        return 0;
    }
    if (o->offset == INT64_MAX) {
        bk_exchange_errorf(ex, 42204, "entry %zu: offset too large", i);
        return 0;
    }
    return 1;
}

static int commit_records(bk_consumers_t *c, bk_exchange_t *ex, const char *group, yajl_val root,
                          bk_grp_kvs_t *recs)
{
    bk_cons_offset_in_t *o = NULL;
    size_t n = 0;
    int ok = bk_cons_body_offsets(ex, root, &o, &n);
    if (ok && n == 0) {
        bk_exchange_error(ex, 42204, "\"offsets\" must list at least one entry");
        ok = 0;
    }
    for (size_t i = 0; ok && i < n; i++)
        ok = committable(c, ex, &o[i], i);
    for (size_t i = 0; ok && i < n; i++)
        if (bk_cons_offset_record(recs, group, o[i].topic, o[i].partition, o[i].offset + 1,
                                  o[i].metadata)) {
            bk_exchange_errorf(ex, 42204, "entry %zu: metadata too long to be stored", i);
            ok = 0;
        }
    free(o);
    return ok;
}

void bk_cons_group_commit(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r)
{
    yajl_val root = NULL;
    if (!bk_cons_body(ex, 0, &root))
        return;
    char *group = strndup(r->group, r->group_len);
    bk_grp_kvs_t recs = {0};
    if (!group) {
        bk_exchange_error(ex, 503, "out of memory");
    } else if (!group_busy(ex, bk_cons_group_find(c, r->group, r->group_len), "committed") &&
               commit_records(c, ex, group, root, &recs)) {
        admin_op_t *op = op_new(c, ex, group);
        int rc = op ? bk_gstore_write(c, group, &recs, after_commit, op) : UV_ENOMEM;
        if (rc) {
            if (op)
                op_free(op);
            bk_cons_write_failed(ex, rc);
        }
    }
    bk_grp_kvs_free(&recs);
    free(group);
    yajl_tree_free(root);
}

/* ---- DELETE /consumers/{g} ---- */

static int tombstone(bk_grp_kvs_t *recs, bk_grp_buf_t *key)
{
    if (recs->count == recs->cap) {
        size_t cap = recs->cap ? recs->cap * 2 : 8;
        bk_grp_kv_t *p = realloc(recs->items, cap * sizeof *p);
        if (!p)
            return UV_ENOMEM;
        recs->items = p;
        recs->cap = cap;
    }
    recs->items[recs->count++] = (bk_grp_kv_t){key->data, key->len, NULL, 0};
    *key = (bk_grp_buf_t){0};
    return 0;
}

/* Tombstones for every committed offset of group and for its group record. */
static int delete_records(const bk_grp_image_t *img, const char *group, bk_grp_kvs_t *recs)
{
    int rc = 0;
    bk_grp_buf_t k = {0};
    for (size_t i = 0; !rc && img && i < img->offset_count; i++) {
        rc = bk_grp_offset_key_encode(&k, group, img->offsets[i].topic, img->offsets[i].partition);
        if (!rc)
            rc = tombstone(recs, &k);
    }
    if (!rc)
        rc = bk_grp_group_key_encode(&k, group);
    if (!rc)
        rc = tombstone(recs, &k);
    bk_grp_buf_free(&k);
    return rc;
}

/* A commit (or any record of group) appended but not acknowledged yet is not in c->store, so
 * the tombstones would miss it and it would outlive the deletion: 503, retry once it is in. */
static int writes_pending(bk_consumers_t *c, bk_exchange_t *ex, const char *group)
{
    if (!bk_gstore_writing(c, group))
        return 0;
    bk_exchange_errorf(ex, 503,
                       "a commit to group %s is still being written to %s; nothing was deleted, "
                       "retry",
                       group, BK_GRP_OFFSETS_TOPIC);
    return 1;
}

static void after_delete(void *arg, int status)
{
    admin_op_t *op = arg;
    bk_consumers_t *c = op->c;
    bk_cons_group_t *cg =
        op->era == c->era ? bk_cons_group_find(c, op->group, strlen(op->group)) : NULL;
    if (cg) /* deleted or not, the live group goes: what the store says is the truth */
        bk_cons_group_drop(c, cg);
    if (status == 0) {
        bk_cons_stat_forget(c, op->group);
        bk_cons_no_content(op->ex);
    } else {
        bk_cons_outcome_unknown(op->ex, status, "group deletion");
    }
    op_free(op);
}

/* Marks the live group (made when only the store knows it) Dead, so no member joins and no
 * commit lands while the tombstones are written. NULL on ENOMEM. */
static bk_cons_group_t *mark_deleting(bk_consumers_t *c, const char *group)
{
    bk_cons_group_t *cg = bk_cons_group_get(c, group, strlen(group));
    if (!cg)
        return NULL;
    (void)bk_grp_delete(&cg->g);
    cg->deleting = 1;
    return cg;
}

void bk_cons_group_delete(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r)
{
    bk_cons_group_t *cg = bk_cons_group_find(c, r->group, r->group_len);
    char *group = strndup(r->group, r->group_len);
    const bk_grp_image_t *img = group ? bk_grp_store_find(&c->store, group) : NULL;
    bk_grp_kvs_t recs = {0};
    if (!group) {
        bk_exchange_error(ex, 503, "out of memory");
    } else if (!cg && !img) {
        bk_exchange_errorf(ex, 404, "consumer group %s not found", group);
    } else if (!group_busy(ex, cg, "deleted") && !writes_pending(c, ex, group)) {
        admin_op_t *op = op_new(c, ex, group);
        int rc = op ? delete_records(img, group, &recs) : UV_ENOMEM;
        if (!rc)
            rc = bk_gstore_write(c, group, &recs, after_delete, op);
        if (rc) {
            if (op)
                op_free(op);
            bk_exchange_errorf(ex, 503,
                               "cannot write the tombstones of group %s to %s: %s; nothing was "
                               "deleted, retry",
                               group, BK_GRP_OFFSETS_TOPIC,
                               rc == UV_EAGAIN ? "not enough in-sync replicas" : bk_strerror(rc));
        } else if (!mark_deleting(c, group)) {
            bk_trace_warn("groups", "group %s: out of memory marking it deleted", group);
        }
    }
    bk_grp_kvs_free(&recs);
    free(group);
}
