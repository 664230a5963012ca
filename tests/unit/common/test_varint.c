/* Zigzag varint/varlong coding: exact bytes for known values (Kafka's encoding), round trips
 * at the edges of int32/int64, and refusal of truncated, over-long and overflowing input. */
#include "common/varint.h"

#include "brook/common.h"
#include "check.h"

#include <uv.h>

static void test_known_bytes(void)
{
    uint8_t b[16];
    CHECK_EQ_INT(bk_varint_put32(b, b + 16, 0), 1);
    CHECK_EQ_INT(b[0], 0x00);
    CHECK_EQ_INT(bk_varint_put32(b, b + 16, -1), 1);
    CHECK_EQ_INT(b[0], 0x01);
    CHECK_EQ_INT(bk_varint_put32(b, b + 16, 1), 1);
    CHECK_EQ_INT(b[0], 0x02);
    CHECK_EQ_INT(bk_varint_put32(b, b + 16, 63), 1);
    CHECK_EQ_INT(b[0], 0x7e);
    CHECK_EQ_INT(bk_varint_put32(b, b + 16, -64), 1);
    CHECK_EQ_INT(b[0], 0x7f);
    CHECK_EQ_INT(bk_varint_put32(b, b + 16, 64), 2);
    CHECK_EQ_INT(b[0], 0x80);
    CHECK_EQ_INT(b[1], 0x01);
    CHECK_EQ_INT(bk_varint_put32(b, b + 16, 150), 2); /* zigzag 300 = 0xac 0x02 */
    CHECK_EQ_INT(b[0], 0xac);
    CHECK_EQ_INT(b[1], 0x02);
    static const uint8_t max32[] = {0xfe, 0xff, 0xff, 0xff, 0x0f};
    CHECK_EQ_INT(bk_varint_put32(b, b + 16, INT32_MAX), 5);
    CHECK_MEM(b, max32, 5);
    static const uint8_t min32[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    CHECK_EQ_INT(bk_varint_put32(b, b + 16, INT32_MIN), 5);
    CHECK_MEM(b, min32, 5);
    CHECK_EQ_INT(bk_varint_put64(b, b + 16, INT64_MIN), 10);
    CHECK_EQ_INT(b[9], 0x01);
    CHECK_EQ_INT(b[8], 0xff);
}

static void test_round_trip_edges(void)
{
    static const int32_t v32[] = {
        0,         1,          -1,        63,        -64,           64,
        -65,       8191,       -8192,     8192,      1048575,       -1048576,
        134217727, -134217728, INT32_MAX, INT32_MIN, INT32_MAX - 1, INT32_MIN + 1};
    for (size_t i = 0; i < BK_ARRAY_LEN(v32); i++) {
        uint8_t b[BK_VARINT_MAX32];
        int n = bk_varint_put32(b, b + sizeof b, v32[i]);
        CHECK(n > 0);
        CHECK_EQ_INT((size_t)n, bk_varint_size32(v32[i]));
        int32_t out = 0;
        CHECK_EQ_INT(bk_varint_get32(b, b + n, &out), n);
        CHECK_EQ_INT(out, v32[i]);
    }
    static const int64_t v64[] = {0,
                                  1,
                                  -1,
                                  INT64_MAX,
                                  INT64_MIN,
                                  (int64_t)1 << 62,
                                  -((int64_t)1 << 62),
                                  1700000000000LL,
                                  -1700000000000LL,
                                  INT32_MAX,
                                  INT32_MIN,
                                  (int64_t)INT32_MAX + 1};
    for (size_t i = 0; i < BK_ARRAY_LEN(v64); i++) {
        uint8_t b[BK_VARINT_MAX64];
        int n = bk_varint_put64(b, b + sizeof b, v64[i]);
        CHECK(n > 0);
        CHECK_EQ_INT((size_t)n, bk_varint_size64(v64[i]));
        int64_t out = 0;
        CHECK_EQ_INT(bk_varint_get64(b, b + n, &out), n);
        CHECK(out == v64[i]);
    }
    CHECK_EQ_INT(bk_varint_size64(INT64_MIN), 10);
    CHECK_EQ_INT(bk_varint_size32(INT32_MIN), 5);
}

static void test_encode_bounds(void)
{
    uint8_t b[8] = {0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa};
    CHECK_EQ_INT(bk_varint_put32(b, b + 4, INT32_MAX), UV_ENOBUFS);
    CHECK_EQ_INT(b[0], 0xaa); /* nothing written */
    CHECK_EQ_INT(bk_varint_put32(b, b, 0), UV_ENOBUFS);
    CHECK_EQ_INT(bk_varint_put64(b, b + 1, 64), UV_ENOBUFS);
    CHECK_EQ_INT(bk_varint_put64(b, b + 2, 64), 2);
}

static void test_decode_rejects(void)
{
    int32_t v32;
    int64_t v64;
    static const uint8_t trunc[] = {0x80, 0x80};
    CHECK_EQ_INT(bk_varint_get32(trunc, trunc + 2, &v32), BK_ECORRUPT);
    CHECK_EQ_INT(bk_varint_get32(trunc, trunc, &v32), BK_ECORRUPT); /* empty */
    CHECK_EQ_INT(bk_varint_get64(trunc, trunc + 2, &v64), BK_ECORRUPT);
    static const uint8_t toolong32[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    CHECK_EQ_INT(bk_varint_get32(toolong32, toolong32 + 6, &v32), BK_ECORRUPT);
    static const uint8_t over32[] = {0xff, 0xff, 0xff, 0xff, 0x1f}; /* 2^33 - 1 */
    CHECK_EQ_INT(bk_varint_get32(over32, over32 + 5, &v32), BK_ECORRUPT);
    CHECK_EQ_INT(bk_varint_get64(over32, over32 + 5, &v64), 5);
    static const uint8_t toolong64[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                        0x80, 0x80, 0x80, 0x80, 0x00};
    CHECK_EQ_INT(bk_varint_get64(toolong64, toolong64 + 11, &v64), BK_ECORRUPT);
    static const uint8_t over64[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03};
    CHECK_EQ_INT(bk_varint_get64(over64, over64 + 10, &v64), BK_ECORRUPT);
    /* Every strict prefix of a valid encoding is refused. */
    uint8_t b[BK_VARINT_MAX64];
    int n = bk_varint_put64(b, b + sizeof b, INT64_MIN);
    for (int cut = 0; cut < n; cut++)
        CHECK_EQ_INT(bk_varint_get64(b, b + cut, &v64), BK_ECORRUPT);
    /* Trailing bytes are left alone. */
    static const uint8_t two[] = {0x02, 0x04};
    CHECK_EQ_INT(bk_varint_get32(two, two + 2, &v32), 1);
    CHECK_EQ_INT(v32, 1);
}

CHECK_MAIN(CASE(test_known_bytes), CASE(test_round_trip_edges), CASE(test_encode_bounds),
           CASE(test_decode_rejects))
