/* CRC-32C against published vectors (RFC 3720 B.4 and the "123456789" check value), and the
 * hardware path against the table path on every length and alignment up to a few hundred
 * bytes, so a wrong table or a wrong tail loop cannot hide. */
#include "common/crc32c.h"

#include "check.h"

#include <stdlib.h>

static uint32_t bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

static void test_check_value(void)
{
    CHECK_EQ_INT(bk_crc32c("123456789", 9), 0xE3069283u);
    CHECK_EQ_INT(bk_crc32c_extend_sw(0, "123456789", 9), 0xE3069283u);
    CHECK_EQ_INT(bk_crc32c("", 0), 0);
    CHECK_EQ_INT(bk_crc32c("a", 1), 0xC1D04330u);
}

static void test_rfc3720_vectors(void)
{
    uint8_t buf[32];
    memset(buf, 0, sizeof buf);
    CHECK_EQ_INT(bk_crc32c(buf, 32), 0x8A9136AAu);
    memset(buf, 0xff, sizeof buf);
    CHECK_EQ_INT(bk_crc32c(buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    CHECK_EQ_INT(bk_crc32c(buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    CHECK_EQ_INT(bk_crc32c(buf, 32), 0x113FDB5Cu);

    static const uint8_t iscsi[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    CHECK_EQ_INT(bk_crc32c(iscsi, sizeof iscsi), 0xD9963A56u);
    CHECK_EQ_INT(bk_crc32c_extend_sw(0, iscsi, sizeof iscsi), 0xD9963A56u);
}

static void test_paths_agree(void)
{
    enum { MAX = 600 };
    uint8_t *buf = malloc(MAX + 8);
    srand(7);
    for (int i = 0; i < MAX + 8; i++)
        buf[i] = (uint8_t)rand();
    int bad = 0;
    for (size_t align = 0; align < 8; align++) {
        for (size_t n = 0; n <= MAX; n++) {
            uint32_t want = bitwise(buf + align, n);
            if (bk_crc32c(buf + align, n) != want || bk_crc32c_extend_sw(0, buf + align, n) != want)
                bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
    free(buf);
    printf("  (hardware crc32c: %s)\n", bk_crc32c_hw_available() ? "yes" : "no");
}

static void test_extend_in_pieces(void)
{
    uint8_t buf[1000];
    for (int i = 0; i < 1000; i++)
        buf[i] = (uint8_t)(i * 31 + 7);
    uint32_t whole = bk_crc32c(buf, sizeof buf);
    for (size_t cut = 0; cut <= sizeof buf; cut += 37) {
        uint32_t c = bk_crc32c(buf, cut);
        CHECK_EQ_INT(bk_crc32c_extend(c, buf + cut, sizeof buf - cut), whole);
        CHECK_EQ_INT(bk_crc32c_extend_sw(c, buf + cut, sizeof buf - cut), whole);
    }
}

CHECK_MAIN(CASE(test_check_value), CASE(test_rfc3720_vectors), CASE(test_paths_agree),
           CASE(test_extend_in_pieces))
