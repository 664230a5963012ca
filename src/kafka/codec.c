/* The API table, the request header and response framing, and the dispatch of a frame to its
 * body decoder. The table is the one truth about what Brook speaks: ApiVersions advertises
 * exactly its implemented entries, and a request outside them is refused. The group APIs'
 * decoders are in codec_group.c. */
#include "kafka/proto.h"

#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "brook/common.h"

static const bk_kapi_t apis[] = {
    {BK_KAPI_PRODUCE, "Produce", 0, 7, 9, bk_kdecode_produce},
    {BK_KAPI_FETCH, "Fetch", 4, 11, 12, bk_kdecode_fetch},
    {BK_KAPI_LIST_OFFSETS, "ListOffsets", 0, 3, 6, bk_kdecode_list_offsets},
    {BK_KAPI_METADATA, "Metadata", 0, 8, 9, bk_kdecode_metadata},
    {BK_KAPI_OFFSET_COMMIT, "OffsetCommit", 0, 7, 8, bk_kdecode_offset_commit},
    {BK_KAPI_OFFSET_FETCH, "OffsetFetch", 0, 5, 6, bk_kdecode_offset_fetch},
    {BK_KAPI_FIND_COORDINATOR, "FindCoordinator", 0, 2, 3, bk_kdecode_find_coordinator},
    {BK_KAPI_JOIN_GROUP, "JoinGroup", 0, 5, 6, bk_kdecode_join_group},
    {BK_KAPI_HEARTBEAT, "Heartbeat", 0, 3, 4, bk_kdecode_heartbeat},
    {BK_KAPI_LEAVE_GROUP, "LeaveGroup", 0, 3, 4, bk_kdecode_leave_group},
    {BK_KAPI_SYNC_GROUP, "SyncGroup", 0, 3, 4, bk_kdecode_sync_group},
    {BK_KAPI_DESCRIBE_GROUPS, "DescribeGroups", 0, 4, 5, bk_kdecode_describe_groups},
    {BK_KAPI_LIST_GROUPS, "ListGroups", 0, 2, 3, bk_kdecode_list_groups},
    {BK_KAPI_SASL_HANDSHAKE, "SaslHandshake", 0, 1, INT16_MAX, bk_kdecode_sasl_handshake},
    {BK_KAPI_API_VERSIONS, "ApiVersions", 0, 3, 3, bk_kdecode_api_versions},
    {BK_KAPI_CREATE_TOPICS, "CreateTopics", 0, 4, 5, bk_kdecode_create_topics},
    {BK_KAPI_DELETE_TOPICS, "DeleteTopics", 0, 3, 4, bk_kdecode_delete_topics},
    {BK_KAPI_INIT_PRODUCER_ID, "InitProducerId", 0, 1, 2, bk_kdecode_init_producer_id},
    {BK_KAPI_DESCRIBE_CONFIGS, "DescribeConfigs", 0, 2, 4, bk_kdecode_describe_configs},
    {BK_KAPI_SASL_AUTHENTICATE, "SaslAuthenticate", 0, 2, 2, bk_kdecode_sasl_authenticate},
    {BK_KAPI_CREATE_PARTITIONS, "CreatePartitions", 0, 1, 2, bk_kdecode_create_partitions},
};

const bk_kapi_t *bk_kapi_find(int16_t key)
{
    for (size_t i = 0; i < BK_ARRAY_LEN(apis); i++)
        if (apis[i].key == key)
            return &apis[i];
    return NULL;
}

size_t bk_kapi_supported(const bk_kapi_t **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < BK_ARRAY_LEN(apis); i++)
        if (apis[i].decode && n < max)
            out[n++] = &apis[i];
    return n;
}

/* ---- arena ---- */

struct bk_karena_block {
    bk_karena_block_t *next;
    size_t used, cap;
    _Alignas(max_align_t) unsigned char data[];
};

void *bk_karena_alloc(bk_karena_t *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    bk_karena_block_t *b = a->head;
    if (!b || b->cap - b->used < size) {
        size_t cap = size > 4096 ? size : 4096;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

void bk_karena_free(bk_karena_t *a)
{
    while (a->head) {
        bk_karena_block_t *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

/* ---- header and framing ---- */

int bk_kafka_decode(const uint8_t *frame, size_t len, bk_karena_t *a, bk_krequest_t *out)
{
    bk_kr_t r;
    bk_kr_init(&r, frame, len);
    memset(out, 0, sizeof *out);
    bk_khdr_t *h = &out->h;
    h->key = bk_kr_i16(&r);
    h->version = bk_kr_i16(&r);
    h->corr = bk_kr_i32(&r);
    h->client_id = bk_kr_str(&r, 0); /* never compact, even in header v2 */
    if (r.bad)
        return BK_EINVAL;
    const bk_kapi_t *api = bk_kapi_find(h->key);
    if (!api || !api->decode || h->version < api->min || h->version > api->max)
        return UV_ENOTSUP;
    h->flexible = h->version >= api->flex_from;
    if (h->flexible)
        bk_kr_tags(&r);
    int rc = api->decode(&r, h, a, out);
    if (rc == 0 && (r.bad || r.p != r.end))
        rc = BK_EINVAL;
    return rc;
}

void bk_kresp_begin(bk_kw_t *w, const bk_khdr_t *h, int flex_header)
{
    (void)bk_kw_skip(w, 4);
    bk_kw_i32(w, h->corr);
    bk_kw_tags(w, flex_header);
}

void bk_kresp_end(bk_kw_t *w)
{
    bk_kw_put_i32(w, 0, (int32_t)(w->len - 4));
}

void bk_kencode_api_versions(bk_kw_t *w, int16_t version, int16_t error)
{
    if (error)
        version = 0;
    int flex = version >= 3;
    const bk_kapi_t *list[BK_KAPI_KEY_LIMIT];
    size_t n = bk_kapi_supported(list, BK_ARRAY_LEN(list));
    bk_kw_i16(w, error);
    bk_kw_array(w, flex, (int32_t)n);
    for (size_t i = 0; i < n; i++) {
        bk_kw_i16(w, list[i]->key);
        bk_kw_i16(w, list[i]->min);
        bk_kw_i16(w, list[i]->max);
        bk_kw_tags(w, flex);
    }
    if (version >= 1)
        bk_kw_i32(w, 0); /* throttle_time_ms */
    bk_kw_tags(w, flex);
}
