/* Kafka RecordBatch v2 encoding and decoding, and the byte layout of Brook's other log files.
 * Pure functions over memory: nothing here does I/O or allocates, and every decoder treats
 * its input as hostile (bounds-checked, never reads past the given length). */
#ifndef BROOK_LOG_FORMAT_H
#define BROOK_LOG_FORMAT_H

#include "brook/codec.h"
#include "brook/log.h"

#include <stddef.h>
#include <stdint.h>

/* Byte offsets of the RecordBatch v2 header fields (all big-endian). */
enum {
    BK_BATCH_OFF_BASE_OFFSET = 0,
    BK_BATCH_OFF_LENGTH = 8,
    BK_BATCH_OFF_LEADER_EPOCH = 12,
    BK_BATCH_OFF_MAGIC = 16,
    BK_BATCH_OFF_CRC = 17,
    BK_BATCH_OFF_ATTRIBUTES = 21,
    BK_BATCH_OFF_LAST_OFFSET_DELTA = 23,
    BK_BATCH_OFF_BASE_TIMESTAMP = 27,
    BK_BATCH_OFF_MAX_TIMESTAMP = 35,
    BK_BATCH_OFF_PRODUCER_ID = 43,
    BK_BATCH_OFF_PRODUCER_EPOCH = 51,
    BK_BATCH_OFF_BASE_SEQUENCE = 53,
    BK_BATCH_OFF_COUNT = 57,
    BK_BATCH_HEADER_SIZE = 61,  /* records start here */
    BK_BATCH_LOG_OVERHEAD = 12, /* baseOffset + batchLength: size on disk = length + 12 */
    BK_BATCH_MAGIC = 2,
};

/* Largest batch Brook writes or accepts when decoding (bytes on disk, header included). */
#define BK_BATCH_MAX_BYTES ((size_t)64 << 20)

/* Sparse index entry: offset relative to the segment's base, then file position. */
#define BK_INDEX_ENTRY_SIZE 8

typedef struct {
    int64_t base_offset;
    int32_t length; /* batchLength: bytes after this field */
    int32_t leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t count;
} bk_batch_header_t;

/* Size on disk of the batch that would hold recs, stamped with now_ms where a record has no
 * timestamp. Returns 0 and sets *size, BK_EINVAL for a malformed record (length < -1, NULL
 * data with a positive length, n == 0) or BK_ETOOBIG over BK_BATCH_MAX_BYTES. */
int bk_batch_measure(const bk_record_t *recs, uint32_t n, int64_t now_ms, size_t *size);

/* Encodes recs into buf, which must hold exactly the size bk_batch_measure() returned for the
 * same arguments. Returns that size, or a negative error (then buf is garbage). */
int bk_batch_encode(uint8_t *buf, size_t size, int64_t base_offset, int32_t leader_epoch,
                    const bk_record_t *recs, uint32_t n, int64_t now_ms);

/* Parses the fixed 61-byte header at buf (len bytes available). Checks what the header alone
 * can show: magic 2, a length that covers the header and fits BK_BATCH_MAX_BYTES, a record
 * count from 0 to lastOffsetDelta + 1 (fewer than the span: a compacted batch). Returns 0 or
 * BK_ECORRUPT (also when len < 61). */
int bk_batch_header_parse(const uint8_t *buf, size_t len, bk_batch_header_t *h);

/* The offset after a parsed batch: baseOffset + lastOffsetDelta + 1. A compacted batch keeps
 * (or grows) its lastOffsetDelta when records are removed from it, so it may hold fewer
 * records than that span (offset gaps), or none at all. */
static inline int64_t bk_batch_end(const bk_batch_header_t *h)
{
    return h->base_offset + h->last_offset_delta + 1;
}

/* Total bytes on disk of a parsed batch. */
static inline size_t bk_batch_total(const bk_batch_header_t *h)
{
    return (size_t)h->length + BK_BATCH_LOG_OVERHEAD;
}

/* Full check of one batch of exactly len bytes: header, CRC-32C and, for an uncompressed
 * batch, the structure of every record (lengths, offset deltas increasing within
 * 0..lastOffsetDelta, headers). A compressed batch (attributes bits 0-2 naming one of Kafka's
 * codecs) is checked up to its CRC: its records are checked when a read decompresses them.
 * Returns 0 or BK_ECORRUPT (also for codec numbers 5-7, which name no codec). */
int bk_batch_verify(const uint8_t *buf, size_t len, bk_batch_header_t *h);

/* The codec of a parsed batch (attributes bits 0-2). */
static inline int bk_batch_codec(const bk_batch_header_t *h)
{
    return h->attributes & 0x07;
}

/* Most bytes the records of one batch may decompress to: the largest batch Brook writes or
 * accepts, so a legal batch always fits and a compression bomb stops there. */
#define BK_BATCH_MAX_INFLATED (BK_BATCH_MAX_BYTES - BK_BATCH_HEADER_SIZE)

/* Builds the compressed form of an encoded, uncompressed batch (len bytes at batch, as
 * bk_batch_encode made it): the same header with the codec in its attributes, the records
 * section compressed, length and CRC recomputed. baseOffset and partitionLeaderEpoch lie
 * outside the CRC, so they may be set afterwards. Allocates *out (the caller frees it).
 * Thread-safe. Returns 0, BK_EINVAL (no codec, or not an uncompressed batch), BK_ETOOBIG when
 * the result would pass BK_BATCH_MAX_BYTES, or UV_ENOMEM. */
int bk_batch_compress(bk_codec_t codec, const uint8_t *batch, size_t len, uint8_t **out,
                      size_t *out_len);

/* The records section of a verified batch: for an uncompressed one the bytes inside it, for a
 * compressed one its records decompressed into scratch (reused between calls; the caller frees
 * it with bk_codec_buf_free), never past BK_BATCH_MAX_INFLATED bytes. Returns 0, BK_ETOOBIG for
 * a batch that inflates past that (a bomb), BK_ECORRUPT for compressed bytes that do not
 * decode, or UV_ENOMEM. */
int bk_batch_records(const uint8_t *batch, const bk_batch_header_t *h, bk_codec_buf_t *scratch,
                     const uint8_t **records, size_t *len);

/* Walks the records of a verified batch. */
typedef struct {
    const uint8_t *pos;
    const uint8_t *end;
    bk_batch_header_t h;
    int32_t done;
    int32_t next_delta; /* smallest offsetDelta the next record may have (deltas increase) */
} bk_batch_iter_t;

void bk_batch_iter_init(bk_batch_iter_t *it, const uint8_t *batch, const bk_batch_header_t *h);

/* As bk_batch_iter_init over a records section given apart from its batch (what
 * bk_batch_records returned). */
void bk_batch_iter_init_records(bk_batch_iter_t *it, const uint8_t *records, size_t len,
                                const bk_batch_header_t *h);

/* Decodes the next record into *out (pointing into the batch). Returns 1, 0 at the end, or
 * BK_ECORRUPT. */
int bk_batch_iter_next(bk_batch_iter_t *it, bk_record_view_t *out);

/* Big-endian helpers shared by the segment and index code. */
static inline void bk_be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint32_t bk_be32_get(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline void bk_be64_put(uint8_t *p, uint64_t v)
{
    bk_be32_put(p, (uint32_t)(v >> 32));
    bk_be32_put(p + 4, (uint32_t)v);
}

static inline uint64_t bk_be64_get(const uint8_t *p)
{
    return (uint64_t)bk_be32_get(p) << 32 | bk_be32_get(p + 4);
}

#endif
