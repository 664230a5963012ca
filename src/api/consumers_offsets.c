/* Committed offsets and positions of an instance: POST .../offsets commits (an explicit list
 * commits offset + 1 of each entry, as the REST Proxy does; an empty body commits exactly what
 * this instance has returned to its client, never more), GET .../offsets answers what is
 * committed, POST .../positions[/beginning|/end] seeks partitions of the current assignment
 * (another partition is 409 40903). A commit is answered only once __consumer_offsets holds it
 * with acks=all; a write whose outcome is unknown is a 500 that says so. */
#include <llhttp.h>
#include <stdlib.h>
#include <string.h>

#include "api/consumers.h"
#include "api/consumers_body.h"
#include "brook/common.h"
#include "http/response.h"

typedef struct {
    bk_consumers_t *c;
    bk_exchange_t *ex;
} commit_op_t;

int bk_cons_offset_record(bk_grp_kvs_t *recs, const char *group, const char *topic,
                          int32_t partition, int64_t offset, const char *metadata)
{
    if (recs->count == recs->cap) {
        size_t cap = recs->cap ? recs->cap * 2 : 8;
        bk_grp_kv_t *p = realloc(recs->items, cap * sizeof *p);
        if (!p)
            return UV_ENOMEM;
        recs->items = p;
        recs->cap = cap;
    }
    bk_grp_buf_t k = {0}, v = {0};
    bk_grp_offset_value_t val = {offset, -1, (char *)metadata, bk_wall_ms(), -1};
    int rc = bk_grp_offset_key_encode(&k, group, topic, partition);
    if (!rc)
        rc = bk_grp_offset_value_encode(&v, &val);
    if (rc) {
        bk_grp_buf_free(&k);
        bk_grp_buf_free(&v);
        return rc;
    }
    recs->items[recs->count++] = (bk_grp_kv_t){k.data, k.len, v.data, v.len};
    return 0;
}

int bk_cons_consumed_records(bk_cons_inst_t *in, bk_grp_kvs_t *recs)
{
    for (size_t i = 0; i < in->pos_count; i++) {
        const bk_cons_pos_t *p = &in->pos[i];
        if (p->consumed < 0)
            continue;
        int rc = bk_cons_offset_record(recs, in->group->g.group_id, p->topic, p->partition,
                                       p->consumed, "");
        if (rc)
            return rc;
    }
    return 0;
}

static void after_commit(void *arg, int status)
{
    commit_op_t *op = arg;
    if (status == 0) {
        op->c->commits++;
        bk_exchange_respond(op->ex, 200, NULL, NULL, NULL, 0);
    } else {
        bk_cons_outcome_unknown(op->ex, status, "commit");
    }
    free(op);
}

static void commit(bk_consumers_t *c, bk_exchange_t *ex, const char *group,
                   const bk_grp_kvs_t *recs)
{
    if (recs->count == 0) { /* nothing returned yet: nothing to commit */
        bk_exchange_respond(ex, 200, NULL, NULL, NULL, 0);
        return;
    }
    commit_op_t *op = malloc(sizeof *op);
    int rc = op ? bk_gstore_write(c, group, recs, after_commit, op) : UV_ENOMEM;
    if (rc) {
        free(op);
        bk_cons_write_failed(ex, rc);
        return;
    }
    *op = (commit_op_t){c, ex};
}

static int explicit_records(bk_consumers_t *c, bk_exchange_t *ex, bk_cons_inst_t *in, yajl_val root,
                            bk_grp_kvs_t *recs)
{
    bk_cons_offset_in_t *o = NULL;
    size_t n = 0;
    int ok = bk_cons_body_offsets(ex, root, &o, &n);
    for (size_t i = 0; ok && i < n; i++) {
        ok = bk_cons_may_read(c, ex, o[i].topic);
        if (ok && o[i].offset == INT64_MAX) {
            bk_exchange_errorf(ex, 42204, "entry %zu: offset too large", i);
            ok = 0;
        }
        if (ok && bk_cons_offset_record(recs, in->group->g.group_id, o[i].topic, o[i].partition,
                                        o[i].offset + 1, o[i].metadata)) {
            bk_exchange_error(ex, 42204, "entry names a topic or metadata that cannot be stored");
            ok = 0;
        }
    }
    free(o);
    return ok;
}

static void answer_committed(bk_consumers_t *c, bk_exchange_t *ex, bk_cons_inst_t *in,
                             const bk_grp_assignment_t *a)
{
    const bk_grp_image_t *img = bk_grp_store_find(&c->store, in->group->g.group_id);
    bk_json_t *j = bk_json_begin();
    bk_json_obj(j);
    bk_json_key(j, "offsets");
    bk_json_arr(j);
    for (size_t i = 0; i < a->count; i++)
        for (size_t k = 0; k < a->topics[i].count; k++) {
            const bk_grp_offset_t *o =
                img ? bk_grp_image_offset(img, a->topics[i].topic, a->topics[i].partitions[k])
                    : NULL;
            bk_json_obj(j);
            bk_json_key(j, "topic");
            bk_json_str(j, a->topics[i].topic);
            bk_json_key(j, "partition");
            bk_json_int(j, a->topics[i].partitions[k]);
            bk_json_key(j, "offset");
            bk_json_int(j, o ? o->v.offset : -1);
            bk_json_key(j, "metadata");
            bk_json_str(j, o ? o->v.metadata : "");
            bk_json_obj_end(j);
        }
    bk_json_arr_end(j);
    bk_json_obj_end(j);
    bk_exchange_respond_json(ex, 200, j, NULL);
}

void bk_cons_offsets(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r)
{
    bk_cons_inst_t *in = bk_cons_inst_lookup(c, ex, r);
    yajl_val root = NULL;
    if (!in || !bk_cons_body(ex, 1, &root))
        return;
    bk_grp_assignment_t a = {0};
    bk_grp_kvs_t recs = {0};
    if (ex->method == HTTP_GET) {
        int ok = root ? bk_cons_body_tparts(ex, root, "partitions", 0, &a) : 1;
        if (ok && !root && bk_cons_assignment(in, &a))
            bk_exchange_error(ex, 503, "out of memory");
        else if (ok)
            answer_committed(c, ex, in, &a);
    } else if (root) {
        if (explicit_records(c, ex, in, root, &recs))
            commit(c, ex, in->group->g.group_id, &recs);
    } else if (in->v1 || bk_cons_v1_request(ex)) { /* v1 answers what it committed */
        bk_cons_v1_commit(c, ex, in);
    } else if (bk_cons_consumed_records(in, &recs)) {
        bk_exchange_error(ex, 503, "out of memory");
    } else {
        commit(c, ex, in->group->g.group_id, &recs);
    }
    bk_grp_kvs_free(&recs);
    bk_grp_assignment_free(&a);
    if (root)
        yajl_tree_free(root);
}

/* ---- positions ---- */

static bk_partition_t *find_partition(bk_consumers_t *c, const char *topic, int32_t partition)
{
    bk_topic_t *t = bk_log_topic_find(c->b->log, topic, strlen(topic));
    return t ? bk_topic_partition(t, (uint32_t)partition) : NULL;
}

/* Every partition must be in the current assignment (409 40903) and exist. */
static int seekable(bk_consumers_t *c, bk_exchange_t *ex, const bk_grp_assignment_t *cur,
                    const char *topic, int32_t partition)
{
    if (!bk_grp_assignment_has(cur, topic, partition)) {
        bk_exchange_errorf(ex, 40903,
                           "Illegal state: partition %d of topic %s is not assigned to this "
                           "instance",
                           partition, topic);
        return 0;
    }
    if (!find_partition(c, topic, partition)) {
        bk_exchange_errorf(ex, 40402, "partition %d of topic %s not found", partition, topic);
        return 0;
    }
    return 1;
}

static int seek(bk_cons_inst_t *in, const char *topic, int32_t partition, int64_t offset)
{
    bk_cons_pos_t *p = bk_cons_pos(in, topic, partition);
    if (!p)
        return UV_ENOMEM;
    p->position = offset;
    return 0;
}

static int seek_list(bk_consumers_t *c, bk_exchange_t *ex, bk_cons_inst_t *in, yajl_val root,
                     const bk_grp_assignment_t *cur)
{
    bk_cons_offset_in_t *o = NULL;
    size_t n = 0;
    int ok = bk_cons_body_offsets(ex, root, &o, &n);
    for (size_t i = 0; ok && i < n; i++)
        ok = seekable(c, ex, cur, o[i].topic, o[i].partition);
    for (size_t i = 0; ok && i < n; i++)
        if (seek(in, o[i].topic, o[i].partition, o[i].offset)) {
            bk_exchange_error(ex, 503, "out of memory");
            ok = 0;
        }
    free(o);
    return ok;
}

static int seek_edge(bk_consumers_t *c, bk_exchange_t *ex, bk_cons_inst_t *in, yajl_val root,
                     const bk_grp_assignment_t *cur, int end)
{
    bk_grp_assignment_t a = {0};
    int ok = bk_cons_body_tparts(ex, root, "partitions", 0, &a);
    for (size_t i = 0; ok && i < a.count; i++)
        for (size_t k = 0; ok && k < a.topics[i].count; k++)
            ok = seekable(c, ex, cur, a.topics[i].topic, a.topics[i].partitions[k]);
    for (size_t i = 0; ok && i < a.count; i++)
        for (size_t k = 0; ok && k < a.topics[i].count; k++) {
            bk_partition_t *p = find_partition(c, a.topics[i].topic, a.topics[i].partitions[k]);
            int64_t off = end ? bk_broker_visible_end(c->b, p) : bk_partition_start_offset(p);
            if (seek(in, a.topics[i].topic, a.topics[i].partitions[k], off)) {
                bk_exchange_error(ex, 503, "out of memory");
                ok = 0;
            }
        }
    bk_grp_assignment_free(&a);
    return ok;
}

void bk_cons_positions(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r)
{
    bk_cons_inst_t *in = bk_cons_inst_lookup(c, ex, r);
    yajl_val root = NULL;
    if (!in || !bk_cons_body(ex, 0, &root))
        return;
    bk_grp_assignment_t cur = {0};
    int ok;
    if (bk_cons_assignment(in, &cur)) {
        bk_exchange_error(ex, 503, "out of memory");
        ok = 0;
    } else if (r->id == BK_ROUTE_POSITIONS) {
        ok = seek_list(c, ex, in, root, &cur);
    } else {
        ok = seek_edge(c, ex, in, root, &cur, r->id == BK_ROUTE_POSITIONS_END);
    }
    if (ok)
        bk_cons_no_content(ex);
    bk_grp_assignment_free(&cur);
    yajl_tree_free(root);
}
