/* Fuzz target for Kafka request decoding: any bytes as one frame (the size prefix removed),
 * and the same bytes with the header rewritten to every implemented API key and version, so
 * each body decoder meets hostile input (the group APIs' included). Whatever decodes must point
 * inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void inside(bk_kslice_t s, const uint8_t *data, size_t len)
{
    if (s.len > 0 && (s.ptr < data || s.ptr + s.len > data + len))
        abort();
}

/* The byte arrays of the group APIs the handlers hand on (metadata, assignments, offsets'
 * metadata, member ids). */
static void inside_group(const bk_krequest_t *q, const uint8_t *data, size_t len)
{
    if (q->h.key == BK_KAPI_JOIN_GROUP)
        for (int32_t i = 0; i < q->u.join_group.nprotocols; i++) {
            inside(q->u.join_group.protocols[i].name, data, len);
            inside(q->u.join_group.protocols[i].metadata, data, len);
        }
    if (q->h.key == BK_KAPI_SYNC_GROUP)
        for (int32_t i = 0; i < q->u.sync_group.nassign; i++) {
            inside(q->u.sync_group.assign[i].member_id, data, len);
            inside(q->u.sync_group.assign[i].assignment, data, len);
        }
    if (q->h.key == BK_KAPI_LEAVE_GROUP)
        for (int32_t i = 0; i < q->u.leave_group.nmembers; i++)
            inside(q->u.leave_group.members[i], data, len);
    if (q->h.key == BK_KAPI_OFFSET_COMMIT)
        for (int32_t i = 0; i < q->u.offset_commit.ntopics; i++)
            for (int32_t j = 0; j < q->u.offset_commit.topics[i].nparts; j++)
                inside(q->u.offset_commit.topics[i].parts[j].metadata, data, len);
    if (q->h.key == BK_KAPI_OFFSET_FETCH)
        for (int32_t i = 0; i < q->u.offset_fetch.ntopics; i++)
            inside(q->u.offset_fetch.topics[i].name, data, len);
    if (q->h.key == BK_KAPI_DESCRIBE_GROUPS)
        for (int32_t i = 0; i < q->u.describe_groups.ngroups; i++)
            inside(q->u.describe_groups.groups[i], data, len);
}

static void decode(const uint8_t *data, size_t len)
{
    bk_karena_t a = {0};
    bk_krequest_t q;
    int rc = bk_kafka_decode(data, len, &a, &q);
    if (rc == 0) {
        inside(q.h.client_id, data, len);
        if (q.h.key == BK_KAPI_PRODUCE)
            for (int32_t i = 0; i < q.u.produce.ntopics; i++)
                for (int32_t j = 0; j < q.u.produce.topics[i].nparts; j++)
                    inside(q.u.produce.topics[i].parts[j].records, data, len);
        inside_group(&q, data, len);
    }
    bk_karena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    decode(data, len);
    if (len < 4 || len > (1 << 20))
        return 0;
    uint8_t *copy = malloc(len);
    if (!copy)
        return 0;
    const bk_kapi_t *apis[BK_KAPI_KEY_LIMIT];
    size_t n = bk_kapi_supported(apis, BK_KAPI_KEY_LIMIT);
    const bk_kapi_t *api = apis[data[0] % n];
    int16_t ver = (int16_t)(api->min + data[1] % (api->max - api->min + 1));
    memcpy(copy, data, len);
    copy[0] = (uint8_t)(api->key >> 8);
    copy[1] = (uint8_t)api->key;
    copy[2] = (uint8_t)(ver >> 8);
    copy[3] = (uint8_t)ver;
    decode(copy, len);
    free(copy);
    return 0;
}
