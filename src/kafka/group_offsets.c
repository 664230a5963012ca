/* The Kafka group offset and listing APIs: OffsetCommit (written to __consumer_offsets with
 * acks=all through the shared store, answered only once acknowledged), OffsetFetch (from
 * what the store acknowledged), ListGroups and DescribeGroups (the live coordinator). A
 * commit from a group member is checked against its generation, as Kafka does; a commit
 * with generation -1 and no member id (a standalone consumer) is taken while the group has
 * no members. */
#include <stdlib.h>
#include <string.h>

#include "brook/common.h"
#include "kafka/group_impl.h"

#define METADATA_MAX 4096 /* Kafka's offset.metadata.max.bytes */

typedef struct {
    bk_kreq_t *r;
    int16_t *errs; /* per partition, in request order (arena) */
} commit_op_t;

/* ---- OffsetCommit ---- */

static void commit_answer(bk_kreq_t *r, const int16_t *errs)
{
    const bk_kreq_offset_commit_t *q = &r->req.u.offset_commit;
    bk_kw_t *w = &r->out;
    bk_kresp_begin(w, &r->req.h, 0);
    if (r->req.h.version >= 3)
        bk_kw_i32(w, 0);
    bk_kw_array(w, 0, q->ntopics);
    size_t e = 0;
    for (int32_t i = 0; i < q->ntopics; i++) {
        bk_kw_str(w, 0, (const char *)q->topics[i].name.ptr, q->topics[i].name.len);
        bk_kw_array(w, 0, q->topics[i].nparts);
        for (int32_t p = 0; p < q->topics[i].nparts; p++) {
            bk_kw_i32(w, q->topics[i].parts[p].partition);
            bk_kw_i16(w, errs[e++]);
        }
    }
    bk_kresp_end(w);
    bk_kreq_finish(r);
}

static void after_commit(void *arg, int status)
{
    commit_op_t *op = arg;
    const bk_kreq_offset_commit_t *q = &op->r->req.u.offset_commit;
    size_t e = 0;
    for (int32_t i = 0; i < q->ntopics; i++)
        for (int32_t p = 0; p < q->topics[i].nparts; p++, e++)
            if (status && op->errs[e] == 0)
                op->errs[e] = BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE;
    bk_kreq_t *r = op->r;
    int16_t *errs = op->errs;
    free(op);
    commit_answer(r, errs);
}

/* The member check: 0 or the error every partition gets. */
static int commit_allowed(const bk_grp_t *g, const bk_kreq_offset_commit_t *q, const char *member)
{
    if (g && g->state == BK_GRP_DEAD) /* being deleted (DELETE /consumers/{g}): retry later */
        return BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE;
    if (q->generation < 0 && !member[0])
        return !g || g->member_count == 0 ? 0 : BK_GRP_ERR_UNKNOWN_MEMBER_ID;
    if (!g || bk_grp_member_find(g, member) < 0)
        return BK_GRP_ERR_UNKNOWN_MEMBER_ID;
    if (g->state == BK_GRP_PREPARING_REBALANCE || g->state == BK_GRP_COMPLETING_REBALANCE)
        return BK_GRP_ERR_REBALANCE_IN_PROGRESS;
    return q->generation == g->generation ? 0 : BK_GRP_ERR_ILLEGAL_GENERATION;
}

/* ti: the topic's index in the request; its authorization resource is ti + 1 (0 is the
 * group, see authz.c). */
static int16_t commit_check(bk_kafka_t *k, const bk_kreq_t *r, int32_t ti, bk_kslice_t topic,
                            const bk_kcommit_part_t *p)
{
    bk_topic_t *t = bk_kafka_topic(k, r, ti + 1, topic);
    if (!t && topic.len > 0 && !bk_kafka_allowed(r, ti + 1, BK_KAUTHZ_OK))
        return BK_KERR_TOPIC_AUTHORIZATION_FAILED;
    if (!t || p->partition < 0 || (uint32_t)p->partition >= bk_topic_partition_count(t))
        return BK_KERR_UNKNOWN_TOPIC_OR_PARTITION;
    if (p->metadata.len > METADATA_MAX)
        return BK_KERR_OFFSET_METADATA_TOO_LARGE;
    if (p->offset < 0)
        return BK_KERR_OFFSET_OUT_OF_RANGE;
    return 0;
}

static int commit_record(bk_kreq_t *r, bk_grp_kvs_t *kvs, const char *group, bk_kslice_t topic,
                         const bk_kcommit_part_t *p)
{
    if (kvs->count == kvs->cap) {
        size_t cap = kvs->cap ? kvs->cap * 2 : 8;
        bk_grp_kv_t *items = realloc(kvs->items, cap * sizeof *items);
        if (!items)
            return UV_ENOMEM;
        kvs->items = items;
        kvs->cap = cap;
    }
    bk_grp_buf_t kb = {0}, vb = {0};
    bk_grp_offset_value_t v = {p->offset, p->leader_epoch, bk_kgroup_cstr(r, p->metadata),
                               bk_wall_ms(), -1};
    int rc = v.metadata
                 ? bk_grp_offset_key_encode(&kb, group, bk_kgroup_cstr(r, topic), p->partition)
                 : UV_ENOMEM;
    if (!rc)
        rc = bk_grp_offset_value_encode(&vb, &v);
    if (rc) {
        bk_grp_buf_free(&kb);
        bk_grp_buf_free(&vb);
        return rc;
    }
    kvs->items[kvs->count++] = (bk_grp_kv_t){kb.data, kb.len, vb.data, vb.len};
    return 0;
}

/* A partition's answer: the group denied (every partition), its topic denied, the member
 * check's error (code), or the partition's own checks. */
static int16_t commit_error(bk_kafka_t *k, const bk_kreq_t *r, int32_t ti, int code,
                            const bk_kcommit_part_t *p)
{
    const bk_kreq_offset_commit_t *q = &r->req.u.offset_commit;
    if (code == BK_KERR_GROUP_AUTHORIZATION_FAILED)
        return (int16_t)code;
    if (code && (q->topics[ti].name.len <= 0 || bk_kafka_allowed(r, ti + 1, BK_KAUTHZ_OK)))
        return (int16_t)code;
    return commit_check(k, r, ti, q->topics[ti].name, p); /* TOPIC_AUTHORIZATION_FAILED first */
}

void bk_khandle_offset_commit(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_kreq_offset_commit_t *q = &r->req.u.offset_commit;
    const bk_groups_service_t *s = k->deps.groups;
    size_t total = 0;
    for (int32_t i = 0; i < q->ntopics; i++)
        total += (size_t)q->topics[i].nparts;
    int16_t *errs = bk_karena_alloc(&r->arena, (total + 1) * sizeof *errs);
    char *group = bk_kgroup_cstr(r, q->group_id), *member = bk_kgroup_cstr(r, q->member_id);
    if (!errs || !group || !member) {
        bk_kconn_close(r->conn, "out of memory");
        bk_kreq_finish(r);
        return;
    }
    int code = bk_kgroup_denied(r);
    if (!code)
        code = bk_kgroup_gate(k);
    if (!code && !group[0])
        code = BK_KERR_INVALID_GROUP_ID;
    if (!code)
        code = commit_allowed(s->group(s->ctx, group, 0), q, member);
    bk_grp_kvs_t kvs = {0};
    size_t e = 0;
    for (int32_t i = 0; i < q->ntopics; i++)
        for (int32_t p = 0; p < q->topics[i].nparts; p++, e++) {
            errs[e] = commit_error(k, r, i, code, &q->topics[i].parts[p]);
            if (!errs[e] &&
                commit_record(r, &kvs, group, q->topics[i].name, &q->topics[i].parts[p]))
                errs[e] = BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE;
        }
    size_t to_write = kvs.count;
    commit_op_t *op = to_write ? malloc(sizeof *op) : NULL;
    if (op)
        *op = (commit_op_t){r, errs};
    int rc = op ? s->write(s->ctx, group, &kvs, after_commit, op) : -1;
    bk_grp_kvs_free(&kvs);
    if (op && rc == 0)
        return;
    free(op);
    for (size_t i = 0; to_write && i < total; i++) /* something to write, not written */
        if (!errs[i])
            errs[i] = BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE;
    commit_answer(r, errs);
}

/* ---- OffsetFetch ---- */

static void fetch_part(bk_kw_t *w, int16_t v, const bk_grp_offset_t *o, int32_t partition,
                       int16_t err)
{
    bk_kw_i32(w, partition);
    bk_kw_i64(w, o ? o->v.offset : -1);
    if (v >= 5)
        bk_kw_i32(w, o ? o->v.leader_epoch : -1);
    bk_kw_cstr(w, 0, o ? o->v.metadata : "");
    bk_kw_i16(w, err);
}

/* Every committed offset of img the principal may describe the topic of, grouped by topic
 * (the store keeps them sorted); topics it may not are left out, as Kafka does. */
static void fetch_all(bk_kafka_t *k, bk_kreq_t *r, const bk_grp_image_t *img)
{
    bk_kw_t *w = &r->out;
    size_t n = img ? img->offset_count : 0, topics = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t = img->offsets[i].topic;
        topics += (i == 0 || strcmp(t, img->offsets[i - 1].topic) != 0) &&
                  bk_kafka_may_list(k, r, t, strlen(t));
    }
    bk_kw_array(w, 0, (int32_t)topics);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && strcmp(img->offsets[j].topic, img->offsets[i].topic) == 0)
            j++;
        const char *t = img->offsets[i].topic;
        if (!bk_kafka_may_list(k, r, t, strlen(t))) {
            i = j;
            continue;
        }
        bk_kw_cstr(w, 0, t);
        bk_kw_array(w, 0, (int32_t)(j - i));
        for (; i < j; i++)
            fetch_part(w, r->req.h.version, &img->offsets[i], img->offsets[i].partition, 0);
    }
}

/* The topics named: a topic the principal may not describe answers TOPIC_AUTHORIZATION_FAILED
 * on each partition (resource i + 1, see authz.c); code (a group error) goes on every one. */
static void fetch_named(bk_kreq_t *r, const bk_grp_image_t *img, int code)
{
    const bk_kreq_offset_fetch_t *q = &r->req.u.offset_fetch;
    bk_kw_t *w = &r->out;
    bk_kw_array(w, 0, q->ntopics);
    for (int32_t i = 0; i < q->ntopics; i++) {
        const bk_kofetch_topic_t *t = &q->topics[i];
        int ok = bk_kafka_allowed(r, i + 1, BK_KAUTHZ_OK);
        char *topic = ok ? bk_kgroup_cstr(r, t->name) : NULL;
        int16_t err = (int16_t)(code ? code : ok ? 0 : BK_KERR_TOPIC_AUTHORIZATION_FAILED);
        bk_kw_str(w, 0, (const char *)t->name.ptr, t->name.len);
        bk_kw_array(w, 0, t->nparts);
        for (int32_t p = 0; p < t->nparts; p++)
            fetch_part(w, r->req.h.version,
                       img && topic ? bk_grp_image_offset(img, topic, t->parts[p]) : NULL,
                       t->parts[p], err);
    }
}

/* A group the principal may not describe: v2+ says so once at the top with no topics, older
 * versions on every partition named (Kafka's error response). */
void bk_khandle_offset_fetch(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_kreq_offset_fetch_t *q = &r->req.u.offset_fetch;
    const bk_groups_service_t *s = k->deps.groups;
    int16_t v = r->req.h.version;
    char *group = bk_kgroup_cstr(r, q->group_id);
    int denied = bk_kgroup_denied(r);
    int code = denied ? denied : bk_kgroup_gate(k);
    const bk_grp_image_t *img = !code && group ? bk_grp_store_find(s->store(s->ctx), group) : NULL;
    bk_kw_t *w = &r->out;
    bk_kresp_begin(w, &r->req.h, 0);
    if (v >= 3)
        bk_kw_i32(w, 0);
    if (denied && v >= 2)
        bk_kw_array(w, 0, 0);
    else if (q->ntopics < 0)
        fetch_all(k, r, img);
    else
        fetch_named(r, img, code);
    if (v >= 2)
        bk_kw_i16(w, (int16_t)code);
    bk_kresp_end(w);
    bk_kreq_finish(r);
}

/* ---- ListGroups, DescribeGroups ---- */

/* Without describe on the cluster, the groups the principal may describe (as Kafka). */
static int may_list(bk_kafka_t *k, const bk_kreq_t *r, const bk_grp_t *g)
{
    return bk_kafka_allowed(r, 0, BK_KAUTHZ_OK) ||
           bk_kafka_may(k, r, BK_RES_GROUP, g->group_id, strlen(g->group_id), BK_OP_DESCRIBE);
}

void bk_khandle_list_groups(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_groups_service_t *s = k->deps.groups;
    int code = bk_kgroup_gate(k);
    size_t n = 0, shown = 0;
    while (!code && s->group_at(s->ctx, n))
        shown += (size_t)may_list(k, r, s->group_at(s->ctx, n++));
    bk_kw_t *w = &r->out;
    bk_kresp_begin(w, &r->req.h, 0);
    if (r->req.h.version >= 1)
        bk_kw_i32(w, 0);
    bk_kw_i16(w, (int16_t)code);
    bk_kw_array(w, 0, (int32_t)shown);
    for (size_t i = 0; i < n; i++) {
        const bk_grp_t *g = s->group_at(s->ctx, i);
        if (!may_list(k, r, g))
            continue;
        bk_kw_cstr(w, 0, g->group_id);
        bk_kw_cstr(w, 0, g->protocol_type ? g->protocol_type : "");
    }
    bk_kresp_end(w);
    bk_kreq_finish(r);
}

static const bk_grp_protocol_t *chosen(const bk_grp_t *g, const bk_grp_member_t *m)
{
    for (size_t i = 0; g->protocol && i < m->protocol_count; i++)
        if (strcmp(m->protocols[i].name, g->protocol) == 0)
            return &m->protocols[i];
    return NULL;
}

static void describe_one(bk_kw_t *w, int16_t v, bk_kslice_t id, const bk_grp_t *g, int code)
{
    int live = g && g->state != BK_GRP_DEAD && !code;
    bk_kw_i16(w, (int16_t)code);
    bk_kw_str(w, 0, (const char *)id.ptr, id.len);
    bk_kw_cstr(w, 0,
               live                                         ? bk_grp_state_name(g->state)
               : code == BK_KERR_GROUP_AUTHORIZATION_FAILED ? ""
                                                            : "Dead");
    bk_kw_cstr(w, 0, live && g->protocol_type ? g->protocol_type : "");
    bk_kw_cstr(w, 0, live && g->protocol ? g->protocol : "");
    size_t n = live ? g->member_count : 0;
    bk_kw_array(w, 0, (int32_t)n);
    for (size_t i = 0; i < n; i++) {
        const bk_grp_member_t *m = g->members[i];
        const bk_grp_protocol_t *p = chosen(g, m);
        int stable = g->state == BK_GRP_STABLE && m->assignment;
        bk_kw_cstr(w, 0, m->member_id);
        if (v >= 4)
            bk_kw_cstr(w, 0, NULL);
        bk_kw_cstr(w, 0, m->client_id ? m->client_id : "");
        bk_kw_cstr(w, 0, m->client_host ? m->client_host : "");
        bk_kw_bytes(w, 0, p ? p->metadata : (const uint8_t *)"", p ? (int32_t)p->metadata_len : 0);
        bk_kw_bytes(w, 0, stable ? m->assignment : (const uint8_t *)"",
                    stable ? (int32_t)m->assignment_len : 0);
    }
    if (v >= 3)
        bk_kw_i32(w, INT32_MIN); /* authorized_operations: not computed */
}

void bk_khandle_describe_groups(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_kreq_describe_groups_t *q = &r->req.u.describe_groups;
    const bk_groups_service_t *s = k->deps.groups;
    int16_t v = r->req.h.version;
    int code = bk_kgroup_gate(k);
    bk_kw_t *w = &r->out;
    bk_kresp_begin(w, &r->req.h, 0);
    if (v >= 1)
        bk_kw_i32(w, 0);
    bk_kw_array(w, 0, q->ngroups);
    for (int32_t i = 0; i < q->ngroups; i++) {
        int err = bk_kafka_allowed(r, i, BK_KAUTHZ_OK) ? code : BK_KERR_GROUP_AUTHORIZATION_FAILED;
        char *id = bk_kgroup_cstr(r, q->groups[i]);
        const bk_grp_t *g = !err && id && id[0] ? s->group(s->ctx, id, 0) : NULL;
        describe_one(w, v, q->groups[i], g, err);
    }
    bk_kresp_end(w);
    bk_kreq_finish(r);
}
