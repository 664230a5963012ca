/* Kafka RecordBatch v2 coding, and the written-down on-disk format of the whole log. The
 * encoder produces byte-for-byte what a Kafka broker would store; the decoders never trust
 * their input and never read outside the buffer they are given.
 *
 * ON-DISK FORMAT
 *
 * A data directory holds:
 *
 *   .lock                      empty; flock()ed by the broker that owns the directory.
 *   <topic>.topic              topic metadata (below); "<topic>.topic.tmp" while being written.
 *   <topic>-<partition>/       one directory per partition, partition numbered from 0.
 *   +trash/                    deleted topics on their way out (below).
 *   +hw-checkpoint             every partition's committed offset (HIGH-WATERMARK CHECKPOINT
 *                              below); "+hw-checkpoint.tmp" while being written.
 *   +election                  not the log's: the broker's remembered ISR membership
 *                              (src/election/isr_memory.h); the log ignores it.
 *
 * Topic names match [a-zA-Z0-9._-]{1,249} and are not "." or "..", so "<topic>-<n>" parses
 * back unambiguously at the last '-', and nothing of a topic can be named like "+trash".
 *
 * Topic metadata is a short text file, written crash-safely: write "<topic>.topic.tmp",
 * fsync it, fsync the data directory, rename it over "<topic>.topic", fsync the data directory.
 * Partition directories and their first segment are created (and their directory fsynced)
 * before the rename, so a topic that exists on disk always has its partitions; growing a topic
 * creates the new partition directories first and rewrites the metadata the same way (an
 * unpublished directory left by a crash is empty and is reused by the next attempt). The
 * content is exactly (version 4):
 *
 *   brook-topic 4\n
 *   name <topic>\n
 *   id <16 lowercase hex digits: the topic id, 64 random bits chosen at creation, not 0>\n
 *   partitions <decimal count>\n
 *   retention.ms <decimal, -1 = forever>\n
 *   retention.bytes <decimal, -1 = unlimited>\n
 *   segment.bytes <decimal>\n
 *   max.message.bytes <decimal>\n
 *   cleanup.policy <delete | compact | compact,delete>\n
 *   delete.retention.ms <decimal >= 0>\n
 *   min.compaction.lag.ms <decimal >= 0>\n
 *   min.cleanable.dirty.ratio <C's %.17g of a double from 0 to 1>\n
 *   compression.type <producer | none | gzip | snappy | lz4 | zstd>\n
 *   min.insync.replicas <decimal, 0 = the broker's --min-insync-replicas>\n
 *   replication.factor <decimal, 0 = not asked (1)>\n
 *   crc32c <8 lowercase hex digits: CRC-32C of the bytes of the lines above>\n
 *
 * Version 3 files, written before compaction and compression, are the same without the seven
 * lines from cleanup.policy on and with "brook-topic 3"; such a topic gets the defaults
 * (cleanup.policy delete, 86400000, 0, 0.5; compression.type producer, 0, 0) and is rewritten
 * as version 4. A version 4 file's id may be 0: a topic made before ids that was given one of
 * the version 4 settings (compaction or compression); one without keeps version 2.
 * The id tells a topic from an older one of the same name (deleted since); followers create
 * their copy under the leader's id. Version 2 files, written before topics had ids, are the
 * same without the id line and with "brook-topic 2"; such a topic's id is 0 and it keeps
 * version 2 when its metadata is rewritten. Version 1 files, written before topics had
 * settings, are version 2 without the four settings lines and with "brook-topic 1"; such a
 * topic gets the log's configured defaults.
 * A file that is not byte for byte one of these renderings is refused (BK_ECORRUPT).
 *
 * Deleting a topic: make "+trash/<generation>+<id>/" (20 digits, a counter that starts above
 * every entry present at open; '+'; the topic id as 16 lowercase hex digits, 0 for a topic made
 * before ids) and fsync "+trash"; rename every "<topic>-<n>" into it; fsync the data directory
 * and the entry; then rename "<topic>.topic" into it: that rename is the commit point; fsync
 * both again. The entry is then removed off the loop, once no append refers to the topic any
 * more, in this order: every partition directory (recursively), fsync the entry, then the
 * metadata and the entry itself, so an entry without metadata can only be a delete that never
 * committed (or one whose partitions are all gone already). At open, before topics load, every
 * entry is handled: a partition directory "<topic>-<n>" in an entry without "<topic>.topic"
 * is renamed back when the live "<topic>.topic" has the entry's id and more than n partitions
 * and "<topic>-<n>" is not there (the delete never committed); then every entry is removed.
 * A topic created under the name since has another id, so it never adopts the old topic's
 * directories. Entries named "<generation>.<topic>" by earlier versions (no id) are handled
 * the same way without the id check. A crash therefore leaves the whole topic or none of it,
 * and the name can be reused at once: the new topic's directories are fresh. The entry name
 * is 37 bytes whatever the topic name, so every legal name can be deleted.
 *
 * A partition directory holds segments. A segment is a pair of files named by the offset of
 * its first record (the base offset), as 20 decimal digits:
 *
 *   00000000000000000000.log   record batches, back to back, no file header.
 *   00000000000000000000.index the sparse offset index of that .log.
 *
 * Segments of a partition are contiguous: each segment's first batch has the base offset of
 * its name, each batch's baseOffset is the previous batch's baseOffset + lastOffsetDelta + 1,
 * and the next segment's name is the offset after the last batch of the one before. After
 * compaction (below) a batch may hold fewer records than its lastOffsetDelta + 1 (offset
 * gaps inside its range), even none; the ranges still follow each other without gaps. The
 * segment with the largest base offset is the active (tail) segment; appends go only there.
 * A segment rolls (a new, empty active segment is created) when an append would take the
 * active one past the configured segment size; a batch is never split across segments.
 *
 * Every batch in a .log is a Kafka RecordBatch v2 (all integers big-endian):
 *
 *   offset size field
 *        0    8 baseOffset              offset of the first record
 *        8    4 batchLength             bytes after this field (batch size on disk - 12)
 *       12    4 partitionLeaderEpoch    the leader epoch of the broker that appended it
 *       16    1 magic                   2
 *       17    4 crc                     CRC-32C (Castagnoli) of bytes 21..end of batch
 *       21    2 attributes              bits 0-2 the codec (0 none, 1 gzip, 2 snappy,
 *                                       3 lz4, 4 zstd); CreateTime, not transactional
 *       23    4 lastOffsetDelta         record count - 1 (may be more after compaction)
 *       27    8 baseTimestamp           timestamp of the first record (ms since the epoch)
 *       35    8 maxTimestamp            largest record timestamp
 *       43    8 producerId              -1
 *       51    2 producerEpoch           -1
 *       53    4 baseSequence            -1
 *       57    4 recordsCount
 *       61      records
 *
 * and each record is, with varint = zigzag int32 (1..5 bytes), varlong = zigzag int64:
 *
 *   length varint (bytes of the record after this field), attributes int8 (0),
 *   timestampDelta varlong (from baseTimestamp), offsetDelta varint (0, 1, 2, ...; increasing
 *   with gaps after compaction),
 *   keyLength varint (-1 = null key), key, valueLength varint (-1 = null), value,
 *   headersCount varint, then per header: keyLength varint, key, valueLength varint
 *   (-1 = null), value.
 *
 * A compressed batch has the same 61-byte header; what follows it is the records above,
 * back to back, compressed as one stream by the batch's codec (gzip: a gzip member; snappy:
 * the xerial framing Java clients write, or a raw block; lz4: an LZ4 frame; zstd: a zstd
 * frame), and batchLength and the CRC cover those compressed bytes. Batches keep the codec
 * they were stored with, on every replica. Records decompress to at most 64 MiB - 61 bytes
 * (the largest batch); a batch that inflates past that is refused by the read that meets it.
 * Recovery checks a compressed batch up to its CRC, not its records.
 *
 * An .index file is an array of 8-byte entries: relative offset u32 (batch baseOffset minus
 * the segment's base offset), then file position u32 of that batch in the .log. An entry is
 * added for the first batch that starts index_interval_bytes or more after the batch of the
 * previous entry (or after position 0), so a lookup reads at most about that many bytes. The
 * index is derived data: never fsynced, checked at every open and rewritten if it differs
 * from what the .log implies.
 *
 * WRITING. An append encodes its batch into the active segment's pending buffer in memory;
 * group commit writes all pending bytes of a segment with one write per flush round, after
 * the last batch. A rolled (sealed) segment is made durable with fdatasync before a single
 * byte is written to the segment after it, in every fsync mode: a crash can leave a torn
 * tail only in the newest segment that holds data.
 *
 * PREALLOCATION (fsync=always, --preallocate-bytes, default 1 MiB): a round whose small write
 * (64 KiB or less) would pass the end of the file also writes zeros after its data, up to the
 * next multiple of a step of 256 such writes, at least 64 KiB and at most the preallocation
 * size (never past segment.bytes). The rounds after it
 * overwrite blocks that exist and are counted in the file size, so their fdatasync commits
 * no metadata (on ext4, no journal commit: measured about half the CPU and two thirds the
 * time of a sync that grows the file). So the active segment may end in zeros. Readers stop
 * at the last batch written, and zeros can't pass for a batch anyway (an all-zero header has
 * batchLength 0). The round that seals a segment cuts its zeros off; open
 * cuts zeros after the last batch of any segment (a crash can come between a roll and that
 * cut) quietly, whereas other bytes there are a torn or garbage tail (cut with a warning, in
 * the newest segment only) -- and a sealed segment must still end exactly where the next one
 * begins. After open every file holds exactly its batches.
 *
 * COMPACTION (cleanup.policy compact; src/log/cleaner.c) rewrites sealed segments, oldest
 * first, keeping the newest record of each key (by the whole log up to the committed offset),
 * every record without a key, and tombstones younger than delete.retention.ms. A batch some of
 * whose records go keeps its header fields (baseOffset, lastOffsetDelta, timestamps,
 * partitionLeaderEpoch, producer fields) with the surviving records byte for byte, their
 * offsetDeltas unchanged (so increasing, with gaps), recordCount, batchLength and CRC redone.
 * A batch whose records all go is dropped and the batch before it in the segment takes over
 * its offsets (its lastOffsetDelta grows, CRC redone), so batches stay contiguous and a
 * baseOffset damaged on disk is still caught at open; a segment's first batch and the first
 * batch of each larger leader epoch are kept instead, with 0 records if need be (the segment
 * still starts at its name and the epoch list rebuilt at open is unchanged). For each segment:
 * write
 * "<base>.log.cleaned" (created or truncated), fsync it, rename it over "<base>.log", fsync
 * the partition directory; then the .index is rewritten from the new .log (derived data). A
 * segment nothing would change is left alone. A crash at any point leaves every segment
 * either its old or its cleaned self, and every mix is a valid log with each key's newest
 * record at its offset: segments are replaced oldest first, so a tombstone is never gone while
 * an older value of its key survives before it. Open deletes any "*.log.cleaned" (a
 * cleaning that did not reach its rename: discarded); the next cleaning redoes the work.
 * Which segments are clean is not stored: after a restart every segment counts as dirty.
 *
 * RETENTION deletes whole sealed segments, oldest first, never the active one: those whose
 * newest record (the largest maxTimestamp of their batches) is older than retention.ms, and
 * while the partition is larger than retention.bytes, but never a segment holding an offset
 * at or above the partition's committed offset (the replicated high watermark, below), so
 * the start offset never passes the high watermark. For each: unlink the .index, unlink the
 * .log, fsync the partition directory, so a crash brings back at most a prefix of them and
 * never leaves a gap. The partition's start offset is its first segment's base offset, which
 * is therefore not 0 once retention has run.
 *
 * HIGH-WATERMARK CHECKPOINT. "+hw-checkpoint" remembers each partition's committed offset
 * (the replicated high watermark its replicator last gave, or the local one for a log used
 * alone) so that what readers were shown stays readable after a restart, even before any
 * follower is back (Kafka's replication-offset-checkpoint). It is written when it changed,
 * every checkpoint_ms (1 s) and at close, off the loop: write "+hw-checkpoint.tmp", fsync
 * it, rename it over "+hw-checkpoint", fsync the data directory. The content is exactly:
 *
 *   brook-hw 1\n
 *   entries <decimal count>\n
 *   <topic> <16 lowercase hex digits: topic id> <decimal partition> <decimal offset>\n  (each)
 *   crc32c <8 lowercase hex digits: CRC-32C of the bytes of the lines above>\n
 *
 * At open, after the topics load, an entry applies only to the partition of a topic of that
 * name with the same id (a topic deleted and created again does not inherit it), clamped to
 * what the partition holds: a checkpoint lags the offsets it records, never leads them, and a
 * lost tail (fsync=never) lowers it to the end. A missing or damaged file (any byte off) sets
 * nothing: committed offsets then start at the start offsets, as before the file existed. The
 * retention pass at open stops at these offsets.
 *
 * REPLICATED APPENDS (bk_partition_append_raw) store a leader's batches byte for byte: the
 * same baseOffset, partitionLeaderEpoch, timestamps and CRC, rolling segments by the same rule
 * as local appends, so a follower with the same segment.bytes and index interval holds files
 * identical to its leader's. Nothing else about the format changes.
 *
 * LEADER EPOCHS are not stored anywhere but in the batch headers: the (epoch, start offset)
 * list a follower's epoch queries need is rebuilt at every open by the scan below (a new
 * entry wherever partitionLeaderEpoch grows), and kept in memory as batches are appended,
 * truncated or deleted by retention.
 *
 * TRUNCATION (bk_partition_truncate, a follower dropping a diverged tail) removes every batch
 * at or after a batch boundary, in this order: (1) delete every segment after the one holding
 * the cut, newest first, each as retention does (unlink the .index, unlink the .log, fsync the
 * partition directory); (2) ftruncate the .log holding the cut to the cut's file position and
 * fsync it; (3) cut its .index to the entries before that position (not synced: derived
 * data). A cut at a segment's base offset deletes that segment too (in step 1) and the
 * segment before it becomes the active one again (step 2 then cuts nothing but preallocated
 * zeros), unless it is the first segment, which stays, empty: a log truncated and refilled
 * from its leader rolls where the leader rolled, so every replica has the same segment files
 * and retention deletes the same ranges on each. A crash at any point therefore leaves segments
 * that are a prefix of the old ones, contiguous, with at most the last one longer than the cut
 * wants: recovery below sees an ordinary log (an empty trailing segment that lines up is kept as
 * the active one, a stale index is rewritten), never a gap. Truncation finishes before it returns,
 * so no append made after it can reach the disk ahead of it. The partition's next offset becomes
 * the cut, so offsets from the cut on are assigned again (to the leader's batches that replace the
 * dropped ones).
 *
 * RECOVERY. At open every segment is scanned batch by batch (header, length, CRC, record
 * structure, offset continuity). In the newest segment holding data the first batch that
 * fails, and everything after it, is a torn or garbage tail: it was never acknowledged (an
 * append is acknowledged only after the fdatasync that covers it, under fsync=always), so the
 * file is truncated to the end of the last good batch; empty segments after it are kept as
 * the active segment if they line up, deleted otherwise. In a sealed segment any failure, or a
 * size or offset that does not line up with the next segment, means acknowledged data is
 * damaged (the write order above rules out a crash as the cause): the open fails with
 * BK_ECORRUPT naming the file and position. The next offset to assign is the offset after the
 * last good batch, so an acknowledged offset is never handed out again (except after an explicit
 * truncation, above). */
#include "log/format.h"

#include "brook/common.h"
#include "common/crc32c.h"
#include "common/varint.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

static int64_t record_ts(const bk_record_t *r, int64_t now_ms)
{
    return r->timestamp > 0 ? r->timestamp : now_ms;
}

static int check_bytes(const uint8_t *p, int32_t len)
{
    return len < -1 || (len > 0 && p == NULL) ? BK_EINVAL : 0;
}

/* Bytes of one record after its length prefix; 0 with *err set on bad input. */
static size_t record_body_size(const bk_record_t *r, int32_t index, int64_t ts_delta, int *err)
{
    *err = 0;
    if (check_bytes(r->key, r->key_len) || check_bytes(r->value, r->value_len) ||
        (r->header_count && r->headers == NULL)) {
        *err = BK_EINVAL;
        return 0;
    }
    size_t sz = 1 + bk_varint_size64(ts_delta) + bk_varint_size32(index);
    sz += bk_varint_size32(r->key_len) + (r->key_len > 0 ? (size_t)r->key_len : 0);
    sz += bk_varint_size32(r->value_len) + (r->value_len > 0 ? (size_t)r->value_len : 0);
    if (r->header_count > BK_BATCH_MAX_BYTES) {
        *err = BK_ETOOBIG;
        return 0;
    }
    sz += bk_varint_size32((int32_t)r->header_count);
    for (uint32_t i = 0; i < r->header_count; i++) {
        const bk_header_t *h = &r->headers[i];
        if (h->key_len > BK_BATCH_MAX_BYTES || h->value_len > BK_BATCH_MAX_BYTES) {
            *err = BK_ETOOBIG;
            return 0;
        }
        if ((h->key_len && !h->key) || (h->value_len && !h->value)) {
            *err = BK_EINVAL;
            return 0;
        }
        sz += bk_varint_size32((int32_t)h->key_len) + h->key_len;
        sz += (h->value ? bk_varint_size32((int32_t)h->value_len) : 1) + h->value_len;
        if (sz > BK_BATCH_MAX_BYTES) {
            *err = BK_ETOOBIG;
            return 0;
        }
    }
    return sz;
}

int bk_batch_measure(const bk_record_t *recs, uint32_t n, int64_t now_ms, size_t *size)
{
    if (n == 0 || recs == NULL)
        return BK_EINVAL;
    if (n > BK_BATCH_MAX_BYTES / 8)
        return BK_ETOOBIG;
    int64_t base_ts = record_ts(&recs[0], now_ms);
    size_t total = BK_BATCH_HEADER_SIZE;
    for (uint32_t i = 0; i < n; i++) {
        int err;
        int64_t delta = (int64_t)((uint64_t)record_ts(&recs[i], now_ms) - (uint64_t)base_ts);
        size_t body = record_body_size(&recs[i], (int32_t)i, delta, &err);
        if (err)
            return err;
        if (body > BK_BATCH_MAX_BYTES)
            return BK_ETOOBIG;
        total += bk_varint_size32((int32_t)body) + body;
        if (total > BK_BATCH_MAX_BYTES)
            return BK_ETOOBIG;
    }
    *size = total;
    return 0;
}

/* Appends raw bytes; the caller sized the buffer, so running out is a programming error. */
static int put_bytes(uint8_t **p, const uint8_t *end, const void *src, size_t len)
{
    if ((size_t)(end - *p) < len)
        return BK_EINVAL;
    if (len)
        memcpy(*p, src, len);
    *p += len;
    return 0;
}

static int put_v32(uint8_t **p, const uint8_t *end, int32_t v)
{
    int n = bk_varint_put32(*p, end, v);
    if (n < 0)
        return BK_EINVAL;
    *p += n;
    return 0;
}

static int put_v64(uint8_t **p, const uint8_t *end, int64_t v)
{
    int n = bk_varint_put64(*p, end, v);
    if (n < 0)
        return BK_EINVAL;
    *p += n;
    return 0;
}

static int encode_headers(uint8_t **p, const uint8_t *end, const bk_record_t *r)
{
    int rc = put_v32(p, end, (int32_t)r->header_count);
    for (uint32_t i = 0; rc == 0 && i < r->header_count; i++) {
        const bk_header_t *h = &r->headers[i];
        rc = put_v32(p, end, (int32_t)h->key_len);
        rc = rc ? rc : put_bytes(p, end, h->key, h->key_len);
        rc = rc ? rc : put_v32(p, end, h->value ? (int32_t)h->value_len : -1);
        rc = rc ? rc : put_bytes(p, end, h->value, h->value_len);
    }
    return rc;
}

static int encode_record(uint8_t **p, const uint8_t *end, const bk_record_t *r, int32_t index,
                         int64_t ts_delta)
{
    int err;
    size_t body = record_body_size(r, index, ts_delta, &err);
    if (err)
        return err;
    uint8_t attributes = 0;
    int rc = put_v32(p, end, (int32_t)body);
    rc = rc ? rc : put_bytes(p, end, &attributes, 1);
    rc = rc ? rc : put_v64(p, end, ts_delta);
    rc = rc ? rc : put_v32(p, end, index);
    rc = rc ? rc : put_v32(p, end, r->key_len);
    rc = rc ? rc : put_bytes(p, end, r->key, r->key_len > 0 ? (size_t)r->key_len : 0);
    rc = rc ? rc : put_v32(p, end, r->value_len);
    rc = rc ? rc : put_bytes(p, end, r->value, r->value_len > 0 ? (size_t)r->value_len : 0);
    return rc ? rc : encode_headers(p, end, r);
}

static void encode_header(uint8_t *buf, size_t size, int64_t base_offset, int32_t epoch, uint32_t n,
                          int64_t base_ts, int64_t max_ts)
{
    bk_be64_put(buf + BK_BATCH_OFF_BASE_OFFSET, (uint64_t)base_offset);
    bk_be32_put(buf + BK_BATCH_OFF_LENGTH, (uint32_t)(size - BK_BATCH_LOG_OVERHEAD));
    bk_be32_put(buf + BK_BATCH_OFF_LEADER_EPOCH, (uint32_t)epoch);
    buf[BK_BATCH_OFF_MAGIC] = BK_BATCH_MAGIC;
    buf[BK_BATCH_OFF_ATTRIBUTES] = 0;
    buf[BK_BATCH_OFF_ATTRIBUTES + 1] = 0;
    bk_be32_put(buf + BK_BATCH_OFF_LAST_OFFSET_DELTA, n - 1);
    bk_be64_put(buf + BK_BATCH_OFF_BASE_TIMESTAMP, (uint64_t)base_ts);
    bk_be64_put(buf + BK_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)max_ts);
    bk_be64_put(buf + BK_BATCH_OFF_PRODUCER_ID, UINT64_MAX);
    buf[BK_BATCH_OFF_PRODUCER_EPOCH] = 0xff;
    buf[BK_BATCH_OFF_PRODUCER_EPOCH + 1] = 0xff;
    bk_be32_put(buf + BK_BATCH_OFF_BASE_SEQUENCE, UINT32_MAX);
    bk_be32_put(buf + BK_BATCH_OFF_COUNT, n);
}

int bk_batch_encode(uint8_t *buf, size_t size, int64_t base_offset, int32_t leader_epoch,
                    const bk_record_t *recs, uint32_t n, int64_t now_ms)
{
    if (n == 0 || size < BK_BATCH_HEADER_SIZE || size > BK_BATCH_MAX_BYTES)
        return BK_EINVAL;
    int64_t base_ts = record_ts(&recs[0], now_ms), max_ts = base_ts;
    uint8_t *p = buf + BK_BATCH_HEADER_SIZE;
    const uint8_t *end = buf + size;
    for (uint32_t i = 0; i < n; i++) {
        int64_t ts = record_ts(&recs[i], now_ms);
        if (ts > max_ts)
            max_ts = ts;
        int64_t delta = (int64_t)((uint64_t)ts - (uint64_t)base_ts);
        int rc = encode_record(&p, end, &recs[i], (int32_t)i, delta);
        if (rc)
            return rc;
    }
    if (p != end)
        return BK_EINVAL;
    encode_header(buf, size, base_offset, leader_epoch, n, base_ts, max_ts);
    uint32_t crc = bk_crc32c(buf + BK_BATCH_OFF_ATTRIBUTES, size - BK_BATCH_OFF_ATTRIBUTES);
    bk_be32_put(buf + BK_BATCH_OFF_CRC, crc);
    return (int)size;
}

int bk_batch_header_parse(const uint8_t *buf, size_t len, bk_batch_header_t *h)
{
    if (len < BK_BATCH_HEADER_SIZE)
        return BK_ECORRUPT;
    h->base_offset = (int64_t)bk_be64_get(buf + BK_BATCH_OFF_BASE_OFFSET);
    h->length = (int32_t)bk_be32_get(buf + BK_BATCH_OFF_LENGTH);
    h->leader_epoch = (int32_t)bk_be32_get(buf + BK_BATCH_OFF_LEADER_EPOCH);
    h->magic = (int8_t)buf[BK_BATCH_OFF_MAGIC];
    h->crc = bk_be32_get(buf + BK_BATCH_OFF_CRC);
    h->attributes = (int16_t)(buf[BK_BATCH_OFF_ATTRIBUTES] << 8 | buf[BK_BATCH_OFF_ATTRIBUTES + 1]);
    h->last_offset_delta = (int32_t)bk_be32_get(buf + BK_BATCH_OFF_LAST_OFFSET_DELTA);
    h->base_timestamp = (int64_t)bk_be64_get(buf + BK_BATCH_OFF_BASE_TIMESTAMP);
    h->max_timestamp = (int64_t)bk_be64_get(buf + BK_BATCH_OFF_MAX_TIMESTAMP);
    h->producer_id = (int64_t)bk_be64_get(buf + BK_BATCH_OFF_PRODUCER_ID);
    h->producer_epoch =
        (int16_t)(buf[BK_BATCH_OFF_PRODUCER_EPOCH] << 8 | buf[BK_BATCH_OFF_PRODUCER_EPOCH + 1]);
    h->base_sequence = (int32_t)bk_be32_get(buf + BK_BATCH_OFF_BASE_SEQUENCE);
    h->count = (int32_t)bk_be32_get(buf + BK_BATCH_OFF_COUNT);
    if (h->magic != BK_BATCH_MAGIC || h->length < BK_BATCH_HEADER_SIZE - BK_BATCH_LOG_OVERHEAD ||
        bk_batch_total(h) > BK_BATCH_MAX_BYTES || h->count < 0 || h->last_offset_delta < 0 ||
        h->last_offset_delta == INT32_MAX || h->count > h->last_offset_delta + 1 ||
        h->base_offset < 0 || h->base_offset > INT64_MAX - h->last_offset_delta - 1)
        return BK_ECORRUPT;
    return 0;
}

static int get_v32(const uint8_t **p, const uint8_t *end, int32_t *v)
{
    int n = bk_varint_get32(*p, end, v);
    if (n < 0)
        return BK_ECORRUPT;
    *p += n;
    return 0;
}

static int get_v64(const uint8_t **p, const uint8_t *end, int64_t *v)
{
    int n = bk_varint_get64(*p, end, v);
    if (n < 0)
        return BK_ECORRUPT;
    *p += n;
    return 0;
}

/* Reads a length-prefixed byte string; null (-1) allowed only when nullable. */
static int get_bytes(const uint8_t **p, const uint8_t *end, int nullable, const uint8_t **data,
                     int32_t *len)
{
    if (get_v32(p, end, len))
        return BK_ECORRUPT;
    if (*len == -1 && nullable) {
        *data = NULL;
        return 0;
    }
    if (*len < 0 || *len > end - *p)
        return BK_ECORRUPT;
    *data = *p;
    *p += *len;
    return 0;
}

int bk_record_header_next(const uint8_t **pos, const uint8_t *end, bk_header_t *out)
{
    if (*pos >= end)
        return 0;
    const uint8_t *p = *pos, *key, *value;
    int32_t klen, vlen;
    if (get_bytes(&p, end, 0, &key, &klen) || get_bytes(&p, end, 1, &value, &vlen))
        return BK_ECORRUPT;
    out->key = key;
    out->key_len = (size_t)klen;
    out->value = value;
    out->value_len = value ? (size_t)vlen : 0;
    *pos = p;
    return 1;
}

void bk_batch_iter_init(bk_batch_iter_t *it, const uint8_t *batch, const bk_batch_header_t *h)
{
    bk_batch_iter_init_records(it, batch + BK_BATCH_HEADER_SIZE,
                               bk_batch_total(h) - BK_BATCH_HEADER_SIZE, h);
}

void bk_batch_iter_init_records(bk_batch_iter_t *it, const uint8_t *records, size_t len,
                                const bk_batch_header_t *h)
{
    it->pos = records;
    it->end = len ? records + len : records; /* records is NULL for a batch inflating to nothing */
    it->h = *h;
    it->done = 0;
    it->next_delta = 0;
}

static int decode_headers(const uint8_t **p, const uint8_t *end, bk_record_view_t *out)
{
    int32_t count;
    if (get_v32(p, end, &count) || count < 0)
        return BK_ECORRUPT;
    out->header_count = (uint32_t)count;
    out->headers = *p;
    bk_header_t h;
    for (int32_t i = 0; i < count; i++)
        if (bk_record_header_next(p, end, &h) != 1)
            return BK_ECORRUPT;
    out->headers_len = (size_t)(*p - out->headers);
    return 0;
}

int bk_batch_iter_next(bk_batch_iter_t *it, bk_record_view_t *out)
{
    if (it->done >= it->h.count)
        return it->pos == it->end ? 0 : BK_ECORRUPT;
    const uint8_t *p = it->pos;
    int32_t len, delta;
    int64_t ts_delta;
    if (get_v32(&p, it->end, &len) || len < 1 || len > it->end - p)
        return BK_ECORRUPT;
    const uint8_t *rend = p + len;
    p++; /* attributes */
    if (get_v64(&p, rend, &ts_delta) || get_v32(&p, rend, &delta) || delta < it->next_delta ||
        delta > it->h.last_offset_delta || get_bytes(&p, rend, 1, &out->key, &out->key_len) ||
        get_bytes(&p, rend, 1, &out->value, &out->value_len) || decode_headers(&p, rend, out) ||
        p != rend)
        return BK_ECORRUPT;
    out->offset = it->h.base_offset + delta;
    out->timestamp = (int64_t)((uint64_t)it->h.base_timestamp + (uint64_t)ts_delta);
    out->leader_epoch = it->h.leader_epoch;
    it->pos = rend;
    it->done++;
    it->next_delta = delta + 1;
    return 1;
}

int bk_batch_verify(const uint8_t *buf, size_t len, bk_batch_header_t *h)
{
    if (bk_batch_header_parse(buf, len, h) || bk_batch_total(h) != len)
        return BK_ECORRUPT;
    int codec = bk_batch_codec(h);
    if (codec >= BK_CODEC_COUNT)
        return BK_ECORRUPT;
    uint32_t crc = bk_crc32c(buf + BK_BATCH_OFF_ATTRIBUTES, len - BK_BATCH_OFF_ATTRIBUTES);
    if (crc != h->crc)
        return BK_ECORRUPT;
    if (codec != BK_CODEC_NONE) /* records checked when a read decompresses them */
        return 0;
    bk_batch_iter_t it;
    bk_record_view_t rec;
    bk_batch_iter_init(&it, buf, h);
    int rc;
    while ((rc = bk_batch_iter_next(&it, &rec)) == 1)
        ;
    return rc == 0 ? 0 : BK_ECORRUPT;
}

int bk_batch_compress(bk_codec_t codec, const uint8_t *batch, size_t len, uint8_t **out,
                      size_t *out_len)
{
    bk_batch_header_t h;
    if (codec == BK_CODEC_NONE || (int)codec >= BK_CODEC_COUNT ||
        bk_batch_header_parse(batch, len, &h) < 0 || bk_batch_total(&h) != len ||
        bk_batch_codec(&h) != BK_CODEC_NONE)
        return BK_EINVAL;
    size_t in = len - BK_BATCH_HEADER_SIZE;
    size_t cap = BK_BATCH_HEADER_SIZE + bk_codec_compress_bound(codec, in);
    uint8_t *buf = malloc(cap);
    if (!buf)
        return UV_ENOMEM;
    size_t clen;
    int rc = bk_codec_compress(codec, batch + BK_BATCH_HEADER_SIZE, in, buf + BK_BATCH_HEADER_SIZE,
                               cap - BK_BATCH_HEADER_SIZE, &clen);
    if (rc == 0 && BK_BATCH_HEADER_SIZE + clen > BK_BATCH_MAX_BYTES)
        rc = BK_ETOOBIG;
    if (rc < 0) {
        free(buf);
        return rc;
    }
    size_t total = BK_BATCH_HEADER_SIZE + clen;
    memcpy(buf, batch, BK_BATCH_HEADER_SIZE);
    bk_be32_put(buf + BK_BATCH_OFF_LENGTH, (uint32_t)(total - BK_BATCH_LOG_OVERHEAD));
    uint16_t attributes = (uint16_t)(((uint16_t)h.attributes & ~0x07u) | (uint16_t)codec);
    buf[BK_BATCH_OFF_ATTRIBUTES] = (uint8_t)(attributes >> 8);
    buf[BK_BATCH_OFF_ATTRIBUTES + 1] = (uint8_t)attributes;
    uint32_t crc = bk_crc32c(buf + BK_BATCH_OFF_ATTRIBUTES, total - BK_BATCH_OFF_ATTRIBUTES);
    bk_be32_put(buf + BK_BATCH_OFF_CRC, crc);
    *out = buf;
    *out_len = total;
    return 0;
}

int bk_batch_records(const uint8_t *batch, const bk_batch_header_t *h, bk_codec_buf_t *scratch,
                     const uint8_t **records, size_t *len)
{
    const uint8_t *src = batch + BK_BATCH_HEADER_SIZE;
    size_t n = bk_batch_total(h) - BK_BATCH_HEADER_SIZE;
    int codec = bk_batch_codec(h);
    if (codec == BK_CODEC_NONE) {
        *records = src;
        *len = n;
        return 0;
    }
    int rc = bk_codec_decompress((bk_codec_t)codec, src, n, BK_BATCH_MAX_INFLATED, scratch);
    if (rc == BK_EINVAL)
        rc = BK_ECORRUPT; /* a codec number 5-7: verify refuses those already */
    if (rc < 0)
        return rc;
    *records = scratch->data;
    *len = scratch->len;
    return 0;
}
