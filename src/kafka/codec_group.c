/* Request bodies of the consumer-group APIs, all non-flexible in the versions Brook takes:
 *   FindCoordinator (10) v0-2: key string, key_type int8 (v1+).
 *   JoinGroup (11) v0-5: group_id, session_timeout_ms int32, rebalance_timeout_ms int32 (v1+),
 *   member_id, group_instance_id nullable (v5+), protocol_type, protocols [name, metadata
 *   bytes].
 *   SyncGroup (14) v0-3: group_id, generation_id int32, member_id, group_instance_id (v3+),
 *   assignments [member_id, assignment bytes].
 *   Heartbeat (12) v0-3: group_id, generation_id, member_id, group_instance_id (v3+).
 *   LeaveGroup (13) v0-2: group_id, member_id; v3: group_id, members [member_id,
 *   group_instance_id].
 *   OffsetCommit (8) v0-7: group_id, generation_id and member_id (v1+), group_instance_id
 *   (v7+), retention_time_ms int64 (v2-4), topics [name, partitions [partition_index,
 *   committed_offset int64, committed_leader_epoch int32 (v6+), commit_timestamp int64 (v1
 *   only), committed_metadata nullable string]].
 *   OffsetFetch (9) v0-5: group_id, topics [name, partition_indexes [int32]] (null from v2:
 *   every topic).
 *   ListGroups (16) v0-2: no body. DescribeGroups (15) v0-4: groups [string],
 *   include_authorized_operations bool (v3+).
 * Pure: no I/O; arrays in the request's arena. */
#include "kafka/proto.h"

#include <uv.h>

#include "brook/common.h"

#define ALLOC(a, ptr, n) ((n) <= 0 || ((ptr) = bk_karena_alloc((a), (size_t)(n) * sizeof *(ptr))))

int bk_kdecode_find_coordinator(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    (void)a;
    bk_kreq_find_coordinator_t *f = &out->u.find_coordinator;
    f->key = bk_kr_str(r, 0);
    if (h->version >= 1)
        f->key_type = bk_kr_i8(r);
    return r->bad ? BK_EINVAL : 0;
}

int bk_kdecode_join_group(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    bk_kreq_join_group_t *j = &out->u.join_group;
    j->group_id = bk_kr_str(r, 0);
    j->session_timeout_ms = bk_kr_i32(r);
    j->rebalance_timeout_ms = h->version >= 1 ? bk_kr_i32(r) : j->session_timeout_ms;
    j->member_id = bk_kr_str(r, 0);
    j->instance_id = h->version >= 5 ? bk_kr_str(r, 0) : (bk_kslice_t){NULL, -1};
    j->protocol_type = bk_kr_str(r, 0);
    int32_t n = bk_kr_array(r, 0, 6);
    if (r->bad || n < 0)
        return BK_EINVAL;
    j->nprotocols = n;
    if (!ALLOC(a, j->protocols, n))
        return UV_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
        j->protocols[i].name = bk_kr_str(r, 0);
        j->protocols[i].metadata = bk_kr_bytes(r, 0);
    }
    return r->bad ? BK_EINVAL : 0;
}

int bk_kdecode_sync_group(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    bk_kreq_sync_group_t *s = &out->u.sync_group;
    s->group_id = bk_kr_str(r, 0);
    s->generation = bk_kr_i32(r);
    s->member_id = bk_kr_str(r, 0);
    s->instance_id = h->version >= 3 ? bk_kr_str(r, 0) : (bk_kslice_t){NULL, -1};
    int32_t n = bk_kr_array(r, 0, 6);
    if (r->bad || n < 0)
        return BK_EINVAL;
    s->nassign = n;
    if (!ALLOC(a, s->assign, n))
        return UV_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
        s->assign[i].member_id = bk_kr_str(r, 0);
        s->assign[i].assignment = bk_kr_bytes(r, 0);
    }
    return r->bad ? BK_EINVAL : 0;
}

int bk_kdecode_heartbeat(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    (void)a;
    bk_kreq_heartbeat_t *hb = &out->u.heartbeat;
    hb->group_id = bk_kr_str(r, 0);
    hb->generation = bk_kr_i32(r);
    hb->member_id = bk_kr_str(r, 0);
    hb->instance_id = h->version >= 3 ? bk_kr_str(r, 0) : (bk_kslice_t){NULL, -1};
    return r->bad ? BK_EINVAL : 0;
}

int bk_kdecode_leave_group(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    bk_kreq_leave_group_t *l = &out->u.leave_group;
    l->group_id = bk_kr_str(r, 0);
    int32_t n = h->version >= 3 ? bk_kr_array(r, 0, 4) : 1;
    if (r->bad || n < 0)
        return BK_EINVAL;
    l->nmembers = n;
    if (!ALLOC(a, l->members, n))
        return UV_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
        l->members[i] = bk_kr_str(r, 0);
        if (h->version >= 3)
            (void)bk_kr_str(r, 0); /* group_instance_id */
    }
    return r->bad ? BK_EINVAL : 0;
}

static int commit_topic(bk_kr_t *r, int16_t v, bk_karena_t *a, bk_kcommit_topic_t *t)
{
    t->name = bk_kr_str(r, 0);
    int32_t n = bk_kr_array(r, 0, 14);
    if (r->bad || n < 0)
        return BK_EINVAL;
    t->nparts = n;
    if (!ALLOC(a, t->parts, n))
        return UV_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
        bk_kcommit_part_t *p = &t->parts[i];
        p->partition = bk_kr_i32(r);
        p->offset = bk_kr_i64(r);
        p->leader_epoch = v >= 6 ? bk_kr_i32(r) : -1;
        if (v == 1)
            (void)bk_kr_i64(r); /* commit_timestamp: the broker's clock is used */
        p->metadata = bk_kr_str(r, 0);
    }
    return r->bad ? BK_EINVAL : 0;
}

int bk_kdecode_offset_commit(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    bk_kreq_offset_commit_t *c = &out->u.offset_commit;
    int16_t v = h->version;
    c->group_id = bk_kr_str(r, 0);
    c->generation = -1;
    c->member_id = (bk_kslice_t){NULL, 0};
    c->instance_id = (bk_kslice_t){NULL, -1};
    if (v >= 1) {
        c->generation = bk_kr_i32(r);
        c->member_id = bk_kr_str(r, 0);
    }
    if (v >= 7)
        c->instance_id = bk_kr_str(r, 0);
    if (v >= 2 && v <= 4)
        (void)bk_kr_i64(r); /* retention_time_ms: --offsets-retention-ms decides */
    int32_t n = bk_kr_array(r, 0, 6);
    if (r->bad || n < 0)
        return BK_EINVAL;
    c->ntopics = n;
    if (!ALLOC(a, c->topics, n))
        return UV_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
        int rc = commit_topic(r, v, a, &c->topics[i]);
        if (rc)
            return rc;
    }
    return 0;
}

int bk_kdecode_offset_fetch(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    bk_kreq_offset_fetch_t *f = &out->u.offset_fetch;
    f->group_id = bk_kr_str(r, 0);
    int32_t n = bk_kr_array(r, 0, 6);
    if (r->bad || (n < 0 && h->version < 2))
        return BK_EINVAL;
    f->ntopics = n;
    if (!ALLOC(a, f->topics, n))
        return UV_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
        bk_kofetch_topic_t *t = &f->topics[i];
        t->name = bk_kr_str(r, 0);
        int32_t np = bk_kr_array(r, 0, 4);
        if (r->bad || np < 0)
            return BK_EINVAL;
        t->nparts = np;
        if (!ALLOC(a, t->parts, np))
            return UV_ENOMEM;
        for (int32_t k = 0; k < np; k++)
            t->parts[k] = bk_kr_i32(r);
    }
    return r->bad ? BK_EINVAL : 0;
}

int bk_kdecode_list_groups(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    (void)h;
    (void)a;
    (void)out;
    return r->bad ? BK_EINVAL : 0;
}

int bk_kdecode_describe_groups(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    bk_kreq_describe_groups_t *d = &out->u.describe_groups;
    int32_t n = bk_kr_array(r, 0, 2);
    if (r->bad || n < 0)
        return BK_EINVAL;
    d->ngroups = n;
    if (!ALLOC(a, d->groups, n))
        return UV_ENOMEM;
    for (int32_t i = 0; i < n; i++)
        d->groups[i] = bk_kr_str(r, 0);
    if (h->version >= 3)
        (void)bk_kr_i8(r); /* include_authorized_operations */
    return r->bad ? BK_EINVAL : 0;
}
