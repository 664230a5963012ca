/* ListOffsets (2), versions 0-3: the latest offset (-1: the high watermark consumers may
 * see), the earliest (-2: the log start), or for a timestamp the first offset whose record
 * time is at or after it (-1 when there is none). Timestamps are found by reading the
 * partition from its start: there is no time index yet.
 * Response: throttle_time_ms (v2+), topics [name, partitions [partition_index, error_code,
 * old_style_offsets [int64] (v0 only) | timestamp int64, offset int64 (v1+)]]. */
#include <stdint.h>

#include "brook/common.h"
#include "kafka/kafka_impl.h"

typedef struct {
    int64_t want, offset, timestamp;
} ts_find_t;

static int find_ts(void *arg, const bk_record_view_t *rec)
{
    ts_find_t *f = arg;
    if (rec->timestamp < f->want)
        return 0;
    f->offset = rec->offset;
    f->timestamp = rec->timestamp;
    return 1;
}

/* Sets *offset and *ts for one partition; returns the Kafka error. */
static int16_t lookup(bk_kafka_t *k, bk_topic_t *t, int denied, const bk_klo_part_t *lp, int leader,
                      int64_t *offset, int64_t *ts)
{
    *offset = -1;
    *ts = -1;
    if (denied)
        return BK_KERR_TOPIC_AUTHORIZATION_FAILED;
    if (!t || lp->partition < 0 || (uint32_t)lp->partition >= bk_topic_partition_count(t))
        return BK_KERR_UNKNOWN_TOPIC_OR_PARTITION;
    if (!leader)
        return BK_KERR_NOT_LEADER_OR_FOLLOWER;
    bk_partition_t *p = bk_topic_partition(t, (uint32_t)lp->partition);
    int64_t end = bk_kafka_visible_end(k, p);
    if (lp->timestamp == -1) {
        *offset = end;
        return BK_KERR_NONE;
    }
    if (lp->timestamp == -2) {
        *offset = bk_partition_start_offset(p);
        return BK_KERR_NONE;
    }
    ts_find_t f = {lp->timestamp, -1, -1};
    int64_t next;
    int n = bk_partition_read(p, bk_partition_start_offset(p), UINT32_MAX, 0, find_ts, &f, &next);
    if (n < 0 && n != BK_ERANGE)
        return BK_KERR_KAFKA_STORAGE_ERROR;
    if (f.offset >= 0 && f.offset < end) {
        *offset = f.offset;
        *ts = f.timestamp;
    }
    return BK_KERR_NONE;
}

void bk_khandle_list_offsets(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_kreq_list_offsets_t *l = &r->req.u.list_offsets;
    int16_t ver = r->req.h.version;
    bk_kw_t *w = &r->out;
    int64_t epoch;
    int leader = bk_kafka_is_leader(k, &epoch);
    bk_kresp_begin(w, &r->req.h, 0);
    if (ver >= 2)
        bk_kw_i32(w, 0); /* throttle_time_ms */
    bk_kw_array(w, 0, l->ntopics);
    for (int32_t i = 0; i < l->ntopics; i++) {
        const bk_klo_topic_t *lt = &l->topics[i];
        bk_topic_t *t = bk_kafka_topic(k, r, i, lt->name);
        int denied = !bk_kafka_allowed(r, i, BK_KAUTHZ_OK);
        bk_kw_str(w, 0, (const char *)lt->name.ptr, lt->name.len);
        bk_kw_array(w, 0, lt->nparts);
        for (int32_t j = 0; j < lt->nparts; j++) {
            int64_t off, ts;
            int16_t err = lookup(k, t, denied, &lt->parts[j], leader, &off, &ts);
            bk_kw_i32(w, lt->parts[j].partition);
            bk_kw_i16(w, err);
            if (ver == 0) {
                int has = !err && off >= 0 && lt->parts[j].max_offsets > 0;
                bk_kw_array(w, 0, has ? 1 : 0);
                if (has)
                    bk_kw_i64(w, off);
            } else {
                bk_kw_i64(w, ts);
                bk_kw_i64(w, off);
            }
        }
    }
    bk_kreq_finish(r);
}
