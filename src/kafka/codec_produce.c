/* Request bodies of the produce family, all non-flexible.
 * Produce (0), versions 0-7:
 *   v3+: transactional_id nullable string; then acks int16, timeout_ms int32,
 *   topic_data [name string, partition_data [index int32, records nullable bytes]].
 * InitProducerId (22), versions 0-1: transactional_id nullable string,
 *   transaction_timeout_ms int32 (v1 changes only the answer's meaning of throttling).
 * The records bytes stay in the frame: they are stored from there (stamped in place). */
#include "kafka/proto.h"

#include <uv.h>

#include "brook/common.h"

static int decode_topic(bk_kr_t *r, bk_karena_t *a, bk_kprod_topic_t *t)
{
    t->name = bk_kr_str(r, 0);
    int32_t n = bk_kr_array(r, 0, 8);
    if (r->bad || n < 0)
        return BK_EINVAL;
    t->nparts = n;
    if (n > 0 && !(t->parts = bk_karena_alloc(a, (size_t)n * sizeof *t->parts)))
        return UV_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
        t->parts[i].index = bk_kr_i32(r);
        t->parts[i].records = bk_kr_bytes(r, 0);
    }
    return r->bad ? BK_EINVAL : 0;
}

int bk_kdecode_produce(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    bk_kreq_produce_t *p = &out->u.produce;
    p->txn_id = (bk_kslice_t){NULL, -1};
    if (h->version >= 3)
        p->txn_id = bk_kr_str(r, 0);
    p->acks = bk_kr_i16(r);
    p->timeout_ms = bk_kr_i32(r);
    int32_t n = bk_kr_array(r, 0, 6);
    if (r->bad || n < 0)
        return BK_EINVAL;
    p->ntopics = n;
    if (n > 0 && !(p->topics = bk_karena_alloc(a, (size_t)n * sizeof *p->topics)))
        return UV_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
        int rc = decode_topic(r, a, &p->topics[i]);
        if (rc)
            return rc;
    }
    return 0;
}

int bk_kdecode_init_producer_id(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    (void)h;
    (void)a;
    bk_kreq_init_producer_id_t *q = &out->u.init_producer_id;
    q->txn_id = bk_kr_str(r, 0);
    q->txn_timeout_ms = bk_kr_i32(r);
    return r->bad ? BK_EINVAL : 0;
}
