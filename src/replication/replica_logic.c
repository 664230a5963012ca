/* The replicator's pure decisions (contract in replica_logic.h). Every function here is a
 * function of its arguments only: no clock, no I/O, no allocation, so each rule can be checked
 * in a unit test with made-up logs. */
#include "replication/replica_logic.h"

#include "brook/common.h"

int64_t bk_repl_diverging_end(int32_t last_fetched_epoch, int64_t fetch_offset, int64_t epoch_end,
                              int32_t found_epoch)
{
    if (last_fetched_epoch < 0)
        return -1; /* an empty log is a prefix of every log */
    if (found_epoch != last_fetched_epoch || epoch_end < fetch_offset)
        return epoch_end;
    return -1;
}

int64_t bk_repl_truncate_target(int64_t diverging_end, int64_t local_end, int64_t last_epoch_start)
{
    if (diverging_end < local_end)
        return diverging_end;
    return last_epoch_start < local_end ? last_epoch_start : local_end;
}

uint32_t bk_repl_backoff_next(uint32_t prev_ms)
{
    if (prev_ms < 100)
        return 100;
    return prev_ms >= 500 ? 1000 : prev_ms * 2;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int64_t bk_repl_follower_hw(int64_t prev_hw, int64_t durable_end, int64_t leader_hw,
                            int64_t verified_end)
{
    int64_t floor = min64(prev_hw, durable_end);
    if (leader_hw < 0 || verified_end < 0)
        return floor;
    int64_t hw = min64(min64(leader_hw, durable_end), verified_end);
    return hw > floor ? hw : floor;
}

static int64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)v;
}

static int32_t be32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

/* RecordBatch v2 header: baseOffset int64 @0, batchLength int32 @8 (bytes after it),
 * partitionLeaderEpoch int32 @12, magic int8 @16, crc uint32 @17, attributes int16 @21,
 * lastOffsetDelta int32 @23; 61 bytes of header in all. */
#define BATCH_HEADER 61

int bk_repl_batches_end(const uint8_t *data, size_t len, int64_t *end)
{
    size_t pos = 0;
    int found = 0;
    while (len - pos >= BATCH_HEADER) {
        int32_t blen = be32(data + pos + 8);
        if (blen < BATCH_HEADER - 12 || (size_t)blen > len - pos - 12)
            return BK_EINVAL;
        int64_t base = be64(data + pos);
        int32_t delta = be32(data + pos + 23);
        if (delta < 0 || base < 0 || base > INT64_MAX - delta - 1)
            return BK_EINVAL;
        *end = base + delta + 1;
        found = 1;
        pos += 12 + (size_t)blen;
    }
    return found && pos == len ? 0 : BK_EINVAL;
}

int bk_repl_eligible(const bk_isr_t *const *isrs, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++) {
        int k = bk_isr_find(isrs[i], id);
        if (k < 1 || !isrs[i]->replicas[k].pending)
            return 0;
    }
    return 1;
}

int bk_repl_ack_status(int isr_size, uint32_t min_insync)
{
    return isr_size >= 0 && (uint32_t)isr_size >= min_insync ? 0 : BK_ENOREPLICAS;
}

uint64_t bk_repl_answer_cap(uint32_t max_bytes, size_t request_len)
{
    uint64_t records = max_bytes > BK_FETCH_MAX_BATCH ? max_bytes : BK_FETCH_MAX_BATCH;
    uint64_t listed = (uint64_t)request_len * 4; /* heads (2x) and topic entries (2x) */
    return records + listed + BK_FETCH_TOPICS_ROOM + ((uint64_t)64 << 10);
}
