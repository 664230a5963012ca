/* RecordBatch v2 encoding checked against a batch laid out by hand, byte by byte, from the
 * Kafka specification (field offsets, big-endian integers, zigzag varints, CRC-32C computed
 * here bit by bit over bytes 21..end), then decoded back; and the decoder's refusals. */
#include "log/format.h"

#include "brook/common.h"
#include "check.h"

#include <stdlib.h>

static uint32_t crc_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

static const bk_header_t hdrs[] = {
    {(const uint8_t *)"h", 1, (const uint8_t *)"v", 1},
    {(const uint8_t *)"h2", 2, NULL, 0},
};

static const bk_record_t recs[] = {
    {(const uint8_t *)"k", 1, (const uint8_t *)"hello", 5, NULL, 0, 1000},
    {NULL, -1, (const uint8_t *)"", 0, hdrs, 2, 1005},
};

/* The same batch written out by hand (CRC left zero, filled in by the test). */
static const uint8_t expected[89] = {
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    5, /* 0 baseOffset 5 */
    0,
    0,
    0,
    77, /* 8 batchLength 89 - 12 */
    0,
    0,
    0,
    7, /* 12 partitionLeaderEpoch 7 */
    2, /* 16 magic */
    0,
    0,
    0,
    0, /* 17 crc */
    0,
    0, /* 21 attributes */
    0,
    0,
    0,
    1, /* 23 lastOffsetDelta */
    0,
    0,
    0,
    0,
    0,
    0,
    0x03,
    0xe8, /* 27 baseTimestamp 1000 */
    0,
    0,
    0,
    0,
    0,
    0,
    0x03,
    0xed, /* 35 maxTimestamp 1005 */
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff, /* 43 producerId -1 */
    0xff,
    0xff, /* 51 producerEpoch -1 */
    0xff,
    0xff,
    0xff,
    0xff, /* 53 baseSequence -1 */
    0,
    0,
    0,
    2, /* 57 recordsCount */
    /* 61 record 0: length 12, attrs, tsDelta 0, offsetDelta 0, key "k", value "hello", 0 hdrs */
    0x18,
    0,
    0,
    0,
    0x02,
    'k',
    0x0a,
    'h',
    'e',
    'l',
    'l',
    'o',
    0,
    /* 74 record 1: length 14, attrs, tsDelta 5, offsetDelta 1, null key, empty value, 2 hdrs */
    0x1c,
    0,
    0x0a,
    0x02,
    0x01,
    0x00,
    0x04,
    0x02,
    'h',
    0x02,
    'v',
    0x04,
    'h',
    '2',
    0x01,
};

static void test_encode_matches_hand_layout(void)
{
    size_t size = 0;
    CHECK_EQ_INT(bk_batch_measure(recs, 2, 99999, &size), 0);
    CHECK_EQ_INT(size, sizeof expected);
    uint8_t buf[sizeof expected];
    CHECK_EQ_INT(bk_batch_encode(buf, size, 5, 7, recs, 2, 99999), (int)sizeof expected);
    uint8_t want[sizeof expected];
    memcpy(want, expected, sizeof want);
    uint32_t crc = crc_bitwise(want + 21, sizeof want - 21);
    want[17] = (uint8_t)(crc >> 24);
    want[18] = (uint8_t)(crc >> 16);
    want[19] = (uint8_t)(crc >> 8);
    want[20] = (uint8_t)crc;
    CHECK_MEM(buf, want, sizeof want);
    for (size_t i = 0; i < sizeof want; i++)
        if (buf[i] != want[i])
            fprintf(stderr, "  byte %zu: got 0x%02x want 0x%02x\n", i, buf[i], want[i]);
}

static void test_decode_round_trip(void)
{
    size_t size;
    uint8_t buf[sizeof expected];
    CHECK_EQ_INT(bk_batch_measure(recs, 2, 0, &size), 0);
    CHECK_EQ_INT(bk_batch_encode(buf, size, 5, 7, recs, 2, 0), (int)size);
    bk_batch_header_t h;
    CHECK_EQ_INT(bk_batch_verify(buf, size, &h), 0);
    CHECK_EQ_INT(h.base_offset, 5);
    CHECK_EQ_INT(h.leader_epoch, 7);
    CHECK_EQ_INT(h.count, 2);
    CHECK_EQ_INT(h.producer_id, -1);
    CHECK_EQ_INT(h.producer_epoch, -1);
    CHECK_EQ_INT(h.base_sequence, -1);
    CHECK_EQ_INT(h.max_timestamp, 1005);

    bk_batch_iter_t it;
    bk_record_view_t v;
    bk_batch_iter_init(&it, buf, &h);
    CHECK_EQ_INT(bk_batch_iter_next(&it, &v), 1);
    CHECK_EQ_INT(v.offset, 5);
    CHECK_EQ_INT(v.timestamp, 1000);
    CHECK_EQ_INT(v.leader_epoch, 7);
    CHECK_EQ_INT(v.key_len, 1);
    CHECK_MEM(v.key, "k", 1);
    CHECK_EQ_INT(v.value_len, 5);
    CHECK_MEM(v.value, "hello", 5);
    CHECK_EQ_INT(v.header_count, 0);

    CHECK_EQ_INT(bk_batch_iter_next(&it, &v), 1);
    CHECK_EQ_INT(v.offset, 6);
    CHECK_EQ_INT(v.timestamp, 1005);
    CHECK_EQ_INT(v.key_len, -1);
    CHECK(v.key == NULL);
    CHECK_EQ_INT(v.value_len, 0);
    CHECK(v.value != NULL);
    CHECK_EQ_INT(v.header_count, 2);
    const uint8_t *pos = v.headers, *end = v.headers + v.headers_len;
    bk_header_t hd;
    CHECK_EQ_INT(bk_record_header_next(&pos, end, &hd), 1);
    CHECK_EQ_INT(hd.key_len, 1);
    CHECK_MEM(hd.key, "h", 1);
    CHECK_EQ_INT(hd.value_len, 1);
    CHECK_MEM(hd.value, "v", 1);
    CHECK_EQ_INT(bk_record_header_next(&pos, end, &hd), 1);
    CHECK_EQ_INT(hd.key_len, 2);
    CHECK(hd.value == NULL);
    CHECK_EQ_INT(bk_record_header_next(&pos, end, &hd), 0);
    CHECK_EQ_INT(bk_batch_iter_next(&it, &v), 0);
}

static void test_now_fills_missing_timestamps(void)
{
    bk_record_t r[2] = {{NULL, -1, (const uint8_t *)"a", 1, NULL, 0, 0},
                        {NULL, -1, (const uint8_t *)"b", 1, NULL, 0, 1700000000123LL}};
    size_t size;
    CHECK_EQ_INT(bk_batch_measure(r, 2, 1700000000000LL, &size), 0);
    uint8_t *buf = malloc(size);
    CHECK_EQ_INT(bk_batch_encode(buf, size, 0, 1, r, 2, 1700000000000LL), (int)size);
    bk_batch_header_t h;
    CHECK_EQ_INT(bk_batch_verify(buf, size, &h), 0);
    CHECK_EQ_INT(h.base_timestamp, 1700000000000LL);
    CHECK_EQ_INT(h.max_timestamp, 1700000000123LL);
    bk_batch_iter_t it;
    bk_record_view_t v;
    bk_batch_iter_init(&it, buf, &h);
    CHECK_EQ_INT(bk_batch_iter_next(&it, &v), 1);
    CHECK_EQ_INT(v.timestamp, 1700000000000LL);
    CHECK_EQ_INT(bk_batch_iter_next(&it, &v), 1);
    CHECK_EQ_INT(v.timestamp, 1700000000123LL);
    free(buf);
}

static void test_measure_rejects(void)
{
    size_t size;
    bk_record_t r = {NULL, -2, NULL, 0, NULL, 0, 0};
    CHECK_EQ_INT(bk_batch_measure(&r, 1, 0, &size), BK_EINVAL);
    r.key_len = 3; /* NULL key with a positive length */
    CHECK_EQ_INT(bk_batch_measure(&r, 1, 0, &size), BK_EINVAL);
    r.key_len = -1;
    r.header_count = 1; /* headers NULL */
    CHECK_EQ_INT(bk_batch_measure(&r, 1, 0, &size), BK_EINVAL);
    r.header_count = 0;
    CHECK_EQ_INT(bk_batch_measure(&r, 0, 0, &size), BK_EINVAL);
    static uint8_t big[1];
    r.value = big;
    r.value_len = (int32_t)(BK_BATCH_MAX_BYTES); /* pointer never read: size check first */
    CHECK_EQ_INT(bk_batch_measure(&r, 1, 0, &size), BK_ETOOBIG);
}

static void test_verify_rejects_every_flipped_bit(void)
{
    uint8_t buf[sizeof expected];
    size_t size;
    CHECK_EQ_INT(bk_batch_measure(recs, 2, 0, &size), 0);
    CHECK_EQ_INT(bk_batch_encode(buf, size, 5, 7, recs, 2, 0), (int)size);
    bk_batch_header_t h;
    int accepted = 0;
    for (size_t bit = 0; bit < size * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        /* Offset and epoch are outside the CRC (as in Kafka); every other bit must fail. */
        int outside = bit / 8 < BK_BATCH_OFF_LENGTH ||
                      (bit / 8 >= BK_BATCH_OFF_LEADER_EPOCH && bit / 8 < BK_BATCH_OFF_MAGIC);
        if (!outside && bk_batch_verify(buf, size, &h) == 0)
            accepted++;
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    CHECK_EQ_INT(accepted, 0);
    CHECK_EQ_INT(bk_batch_verify(buf, size, &h), 0);
    /* Truncated at every length. */
    int ok = 0;
    for (size_t cut = 0; cut < size; cut++)
        ok += bk_batch_verify(buf, cut, &h) == 0;
    CHECK_EQ_INT(ok, 0);
    CHECK_EQ_INT(bk_batch_header_parse(buf, 60, &h), BK_ECORRUPT);
    CHECK_EQ_INT(bk_batch_header_parse(buf, 61, &h), 0);
}

CHECK_MAIN(CASE(test_encode_matches_hand_layout), CASE(test_decode_round_trip),
           CASE(test_now_fills_missing_timestamps), CASE(test_measure_rejects),
           CASE(test_verify_rejects_every_flipped_bit))
