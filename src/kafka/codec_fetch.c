/* Request bodies of Fetch (1), versions 4-11, and ListOffsets (2), versions 0-3 (all
 * non-flexible).
 *   Fetch: replica_id int32, max_wait_ms int32, min_bytes int32, max_bytes int32 (v3+),
 *   isolation_level int8 (v4+), session_id int32 + session_epoch int32 (v7+), topics [topic
 *   string, partitions [partition int32, current_leader_epoch int32 (v9+), fetch_offset int64,
 *   log_start_offset int64 (v5+), partition_max_bytes int32]], forgotten_topics_data [topic
 *   string, partitions [int32]] (v7+), rack_id string (v11+).
 *   ListOffsets: replica_id int32, isolation_level int8 (v2+), topics [name string,
 *   partitions [partition_index int32, timestamp int64, max_num_offsets int32 (v0 only)]]. */
#include "kafka/proto.h"

#include <uv.h>

#include "brook/common.h"

static int fetch_topic(bk_kr_t *r, int16_t v, bk_karena_t *a, bk_kfetch_topic_t *t)
{
    t->name = bk_kr_str(r, 0);
    int32_t n = bk_kr_array(r, 0, 16);
    if (r->bad || n < 0)
        return BK_EINVAL;
    t->nparts = n;
    if (n > 0 && !(t->parts = bk_karena_alloc(a, (size_t)n * sizeof *t->parts)))
        return UV_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
        bk_kfetch_part_t *p = &t->parts[i];
        p->partition = bk_kr_i32(r);
        p->leader_epoch = v >= 9 ? bk_kr_i32(r) : -1;
        p->offset = bk_kr_i64(r);
        p->log_start = v >= 5 ? bk_kr_i64(r) : -1;
        p->max_bytes = bk_kr_i32(r);
    }
    return r->bad ? BK_EINVAL : 0;
}

static void skip_forgotten(bk_kr_t *r)
{
    int32_t n = bk_kr_array(r, 0, 6);
    for (int32_t i = 0; i < n && !r->bad; i++) {
        (void)bk_kr_str(r, 0);
        int32_t m = bk_kr_array(r, 0, 4);
        for (int32_t k = 0; k < m && !r->bad; k++)
            (void)bk_kr_i32(r);
    }
}

int bk_kdecode_fetch(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    bk_kreq_fetch_t *f = &out->u.fetch;
    int16_t v = h->version;
    f->replica_id = bk_kr_i32(r);
    f->max_wait_ms = bk_kr_i32(r);
    f->min_bytes = bk_kr_i32(r);
    f->max_bytes = bk_kr_i32(r); /* v3+; Brook takes v4+ */
    f->isolation = bk_kr_i8(r);
    if (v >= 7) {
        f->session_id = bk_kr_i32(r);
        f->session_epoch = bk_kr_i32(r);
    }
    int32_t n = bk_kr_array(r, 0, 6);
    if (r->bad || n < 0)
        return BK_EINVAL;
    f->ntopics = n;
    if (n > 0 && !(f->topics = bk_karena_alloc(a, (size_t)n * sizeof *f->topics)))
        return UV_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
        int rc = fetch_topic(r, v, a, &f->topics[i]);
        if (rc)
            return rc;
    }
    if (v >= 7)
        skip_forgotten(r);
    f->rack = (bk_kslice_t){NULL, -1};
    if (v >= 11)
        f->rack = bk_kr_str(r, 0);
    return r->bad ? BK_EINVAL : 0;
}

int bk_kdecode_list_offsets(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    bk_kreq_list_offsets_t *l = &out->u.list_offsets;
    int16_t v = h->version;
    l->replica_id = bk_kr_i32(r);
    if (v >= 2)
        l->isolation = bk_kr_i8(r);
    int32_t n = bk_kr_array(r, 0, 6);
    if (r->bad || n < 0)
        return BK_EINVAL;
    l->ntopics = n;
    if (n > 0 && !(l->topics = bk_karena_alloc(a, (size_t)n * sizeof *l->topics)))
        return UV_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
        bk_klo_topic_t *t = &l->topics[i];
        t->name = bk_kr_str(r, 0);
        int32_t m = bk_kr_array(r, 0, 12);
        if (r->bad || m < 0)
            return BK_EINVAL;
        t->nparts = m;
        if (m > 0 && !(t->parts = bk_karena_alloc(a, (size_t)m * sizeof *t->parts)))
            return UV_ENOMEM;
        for (int32_t k = 0; k < m; k++) {
            t->parts[k].partition = bk_kr_i32(r);
            t->parts[k].timestamp = bk_kr_i64(r);
            t->parts[k].max_offsets = v == 0 ? bk_kr_i32(r) : 1;
        }
    }
    return r->bad ? BK_EINVAL : 0;
}
