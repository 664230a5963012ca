/* Appending a client's RecordBatch v2 batches (what a Kafka producer sends) with offsets
 * assigned here: each batch gets the next baseOffset and the caller's partitionLeaderEpoch,
 * both outside the CRC, and everything else stays byte for byte as the client wrote it. It
 * never writes a batch that failed a check: every record is walked first (a compressed batch
 * decompressed, bounded), then the stamped buffer goes through the same verified, all-or-
 * nothing path as a replica's (bk_partition_append_raw). */
#include "brook/common.h"
#include "brook/log.h"
#include "common/crc32c.h"
#include "log/format.h"
#include "log/log_internal.h"
#include "log/partition.h"
#include "log/topic.h"

/* Why a batch the raw path refused as corrupt was refused: a checksum that does not match
 * stays BK_ECORRUPT; a sound batch with one of Kafka's codecs that this log cannot store is
 * UV_ENOTSUP. */
static int diagnose(const uint8_t *b, size_t len)
{
    bk_batch_header_t h;
    for (size_t pos = 0; pos < len;) {
        if (bk_batch_header_parse(b + pos, len - pos, &h) < 0 || bk_batch_total(&h) > len - pos)
            return BK_ECORRUPT;
        size_t total = bk_batch_total(&h);
        const uint8_t *x = b + pos;
        if (bk_crc32c(x + BK_BATCH_OFF_ATTRIBUTES, total - BK_BATCH_OFF_ATTRIBUTES) != h.crc)
            return BK_ECORRUPT;
        int codec = h.attributes & 0x07;
        if (codec >= 1 && codec <= 4 && bk_batch_verify(x, total, &h) < 0)
            return UV_ENOTSUP;
        pos += total;
    }
    return BK_ECORRUPT;
}

/* The records of one client batch, checked before anything is written: a compressed batch's
 * CRC covers only its compressed bytes, so its records are decompressed (bounded, as a read
 * does) and walked like an uncompressed one's. Offset deltas must be exactly 0..count-1 (a
 * producer's batch has no gaps), and in a compacted topic every record needs a key. Returns
 * 0, BK_ECORRUPT, BK_ETOOBIG (a decompression bomb) or BK_ENOKEY. */
static int check_records(const uint8_t *b, const bk_batch_header_t *h, int need_keys,
                         bk_codec_buf_t *scratch)
{
    if (h->count <= 0 || bk_batch_end(h) - h->base_offset != h->count)
        return BK_ECORRUPT;
    if (bk_batch_codec(h) == BK_CODEC_NONE && !need_keys)
        return 0; /* bk_batch_verify walks an uncompressed batch's records itself */
    const uint8_t *recs;
    size_t rlen;
    int rc = bk_batch_records(b, h, scratch, &recs, &rlen);
    if (rc < 0)
        return rc == UV_ENOMEM ? rc : rc == BK_ETOOBIG ? BK_ETOOBIG : BK_ECORRUPT;
    bk_batch_iter_t it;
    bk_record_view_t v;
    bk_batch_iter_init_records(&it, recs, rlen, h);
    int32_t n = 0;
    while ((rc = bk_batch_iter_next(&it, &v)) == 1) {
        if (v.offset != h->base_offset + n++)
            return BK_ECORRUPT;
        if (need_keys && v.key_len < 0)
            return BK_ENOKEY;
    }
    return rc < 0 || n != h->count ? BK_ECORRUPT : 0;
}

/* check_records over every batch of a verified (CRC-checked) buffer. */
static int check_all(const uint8_t *b, size_t len, int need_keys)
{
    bk_codec_buf_t scratch = {0};
    int rc = 0;
    for (size_t pos = 0; rc == 0 && pos < len;) {
        bk_batch_header_t h;
        if (bk_batch_header_parse(b + pos, len - pos, &h) < 0 || bk_batch_total(&h) > len - pos ||
            bk_batch_verify(b + pos, bk_batch_total(&h), &h) < 0)
            rc = BK_ECORRUPT;
        else
            rc = check_records(b + pos, &h, need_keys, &scratch);
        pos += rc == 0 ? bk_batch_total(&h) : 0;
    }
    bk_codec_buf_free(&scratch);
    return rc;
}

/* Stamps baseOffset (contiguous from next) and the epoch into every batch; checks sizes.
 * Returns the records counted, or a negative error. */
static int64_t stamp(uint8_t *b, size_t len, int64_t next, int32_t epoch, uint32_t max_bytes)
{
    int64_t records = 0;
    for (size_t pos = 0; pos < len;) {
        bk_batch_header_t h;
        if (bk_batch_header_parse(b + pos, len - pos, &h) < 0 || bk_batch_total(&h) > len - pos)
            return BK_ECORRUPT;
        if (bk_batch_total(&h) > max_bytes)
            return BK_ETOOBIG;
        if (next > INT64_MAX - h.count)
            return BK_ERANGE;
        bk_be64_put(b + pos + BK_BATCH_OFF_BASE_OFFSET, (uint64_t)next);
        bk_be32_put(b + pos + BK_BATCH_OFF_LEADER_EPOCH, (uint32_t)epoch);
        next += h.count;
        records += h.count;
        pos += bk_batch_total(&h);
    }
    return records;
}

int bk_partition_append_batch(bk_partition_t *p, uint8_t *batches, size_t len, int32_t leader_epoch,
                              bk_append_cb cb, void *arg)
{
    int rc = bk_partition_writable(p);
    if (rc != 0)
        return rc;
    if (!batches || len == 0)
        return BK_EINVAL;
    int64_t n = stamp(batches, len, p->next_offset, leader_epoch, p->topic->cfg.max_message_bytes);
    if (n < 0)
        return (int)n;
    rc = check_all(batches, len, bk_topic_config_compacts(&p->topic->cfg));
    if (rc == BK_ECORRUPT)
        rc = diagnose(batches, len);
    if (rc < 0)
        return rc;
    rc = bk_partition_append_raw(p, batches, len, cb, arg);
    if (rc == BK_ECORRUPT)
        rc = diagnose(batches, len);
    return rc;
}
