/* Request bodies of the admin APIs (all non-flexible in the versions Brook takes):
 *   CreateTopics (19) v0-4: topics [name string, num_partitions int32, replication_factor
 *   int16, assignments [partition_index int32, broker_ids [int32]], configs [name string,
 *   value nullable string]], timeout_ms int32, validate_only bool (v1+).
 *   DeleteTopics (20) v0-3: topic_names [string], timeout_ms int32.
 *   CreatePartitions (37) v0-1: topics [name string, count int32, assignments nullable
 *   [broker_ids [int32]]], timeout_ms int32, validate_only bool.
 *   DescribeConfigs (32) v0-2: resources [resource_type int8, resource_name string,
 *   configuration_keys nullable [string]], include_synonyms bool (v1+). */
#include "kafka/proto.h"

#include <uv.h>

#include "brook/common.h"

#define ALLOC(a, ptr, n) ((n) <= 0 || ((ptr) = bk_karena_alloc((a), (size_t)(n) * sizeof *(ptr))))

static void skip_i32_array(bk_kr_t *r)
{
    int32_t n = bk_kr_array(r, 0, 4);
    for (int32_t i = 0; i < n && !r->bad; i++)
        (void)bk_kr_i32(r);
}

static int create_topic(bk_kr_t *r, bk_karena_t *a, bk_kcreate_topic_t *t)
{
    t->name = bk_kr_str(r, 0);
    t->num_partitions = bk_kr_i32(r);
    t->replication_factor = bk_kr_i16(r);
    t->nassign = bk_kr_array(r, 0, 8);
    for (int32_t i = 0; i < t->nassign && !r->bad; i++) {
        (void)bk_kr_i32(r);
        skip_i32_array(r);
    }
    int32_t n = bk_kr_array(r, 0, 4);
    if (r->bad || n < 0)
        return BK_EINVAL;
    t->nconfigs = n;
    if (!ALLOC(a, t->configs, n))
        return UV_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
        t->configs[i].name = bk_kr_str(r, 0);
        t->configs[i].value = bk_kr_str(r, 0);
    }
    return r->bad ? BK_EINVAL : 0;
}

int bk_kdecode_create_topics(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    bk_kreq_create_topics_t *c = &out->u.create_topics;
    int32_t n = bk_kr_array(r, 0, 12);
    if (r->bad || n < 0)
        return BK_EINVAL;
    c->ntopics = n;
    if (!ALLOC(a, c->topics, n))
        return UV_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
        int rc = create_topic(r, a, &c->topics[i]);
        if (rc)
            return rc;
    }
    c->timeout_ms = bk_kr_i32(r);
    if (h->version >= 1)
        c->validate_only = bk_kr_i8(r) != 0;
    return r->bad ? BK_EINVAL : 0;
}

int bk_kdecode_delete_topics(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    (void)h;
    bk_kreq_delete_topics_t *d = &out->u.delete_topics;
    int32_t n = bk_kr_array(r, 0, 2);
    if (r->bad || n < 0)
        return BK_EINVAL;
    d->ntopics = n;
    if (!ALLOC(a, d->names, n))
        return UV_ENOMEM;
    for (int32_t i = 0; i < n; i++)
        d->names[i] = bk_kr_str(r, 0);
    d->timeout_ms = bk_kr_i32(r);
    return r->bad ? BK_EINVAL : 0;
}

int bk_kdecode_create_partitions(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    (void)h;
    bk_kreq_create_partitions_t *c = &out->u.create_partitions;
    int32_t n = bk_kr_array(r, 0, 10);
    if (r->bad || n < 0)
        return BK_EINVAL;
    c->ntopics = n;
    if (!ALLOC(a, c->topics, n))
        return UV_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
        bk_kcreate_parts_topic_t *t = &c->topics[i];
        t->name = bk_kr_str(r, 0);
        t->count = bk_kr_i32(r);
        t->nassign = bk_kr_array(r, 0, 4);
        for (int32_t k = 0; k < t->nassign && !r->bad; k++)
            skip_i32_array(r);
    }
    c->timeout_ms = bk_kr_i32(r);
    c->validate_only = bk_kr_i8(r) != 0;
    return r->bad ? BK_EINVAL : 0;
}

int bk_kdecode_describe_configs(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    bk_kreq_describe_configs_t *d = &out->u.describe_configs;
    int32_t n = bk_kr_array(r, 0, 7);
    if (r->bad || n < 0)
        return BK_EINVAL;
    d->nres = n;
    if (!ALLOC(a, d->res, n))
        return UV_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
        bk_kdc_resource_t *res = &d->res[i];
        res->type = bk_kr_i8(r);
        res->name = bk_kr_str(r, 0);
        res->nkeys = bk_kr_array(r, 0, 2);
        if (r->bad)
            return BK_EINVAL;
        if (!ALLOC(a, res->keys, res->nkeys))
            return UV_ENOMEM;
        for (int32_t k = 0; k < res->nkeys; k++)
            res->keys[k] = bk_kr_str(r, 0);
    }
    if (h->version >= 1)
        d->include_synonyms = bk_kr_i8(r) != 0;
    return r->bad ? BK_EINVAL : 0;
}
