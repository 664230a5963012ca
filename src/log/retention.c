/* Which old segments retention deletes. Kafka's rules on whole segments: by age of the newest
 * record in a segment (retention.ms) and by partition size (retention.bytes), oldest first,
 * never the active segment and never a segment holding a record at or above the high
 * watermark. This file must stay free of I/O and clocks. */
#include "log/retention.h"

size_t bk_retention_plan(const bk_retention_seg_t *segs, size_t n, uint64_t total, int64_t now_ms,
                         int64_t retention_ms, int64_t retention_bytes, int64_t hw)
{
    /* now_ms >= 0 and retention_ms >= 0, so the subtraction cannot overflow. */
    int64_t cutoff = retention_ms >= 0 && now_ms >= 0 ? now_ms - retention_ms : INT64_MIN;
    size_t k = 0;
    for (; k < n; k++) {
        const bk_retention_seg_t *s = &segs[k];
        if (s->busy || s->end > hw)
            break;
        int by_time = cutoff != INT64_MIN && s->max_ts < cutoff;
        int by_size = retention_bytes >= 0 && total > (uint64_t)retention_bytes;
        if (!by_time && !by_size)
            break;
        total = total >= s->size ? total - s->size : 0;
    }
    return k;
}
