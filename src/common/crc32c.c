/* CRC-32C for record-batch checksums: the SSE4.2 crc32 instruction, chosen once at run time,
 * with a slicing-by-8 table fallback. It must never depend on buffer alignment and never
 * disagree between its two paths (the unit test checks both on the same inputs). */
#include "common/crc32c.h"

#include <pthread.h>
#include <string.h>

#define POLY 0x82F63B78u

static uint32_t table[8][256];
static int use_hw;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void build_table(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = table[0][n];
        for (int t = 1; t < 8; t++) {
            c = table[0][c & 0xff] ^ (c >> 8);
            table[t][n] = c;
        }
    }
}

static void init(void)
{
    build_table();
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    use_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#endif
}

static uint32_t sw_update(uint32_t c, const uint8_t *p, size_t len)
{
    while (len && ((uintptr_t)p & 7)) {
        c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        len--;
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* Slicing-by-8: eight table lookups per 8 bytes; assumes little-endian loads. */
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint32_t lo = c ^ (uint32_t)(w & 0xffffffffu);
        uint32_t hi = (uint32_t)(w >> 32);
        c = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^
            table[4][lo >> 24] ^ table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
            table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
#endif
    while (len--)
        c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("sse4.2"))) static uint32_t hw_update(uint32_t c, const uint8_t *p,
                                                            size_t len)
{
    while (len && ((uintptr_t)p & 7)) {
        c = __builtin_ia32_crc32qi(c, *p++);
        len--;
    }
    uint64_t c64 = c;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c64 = __builtin_ia32_crc32di(c64, w);
        p += 8;
        len -= 8;
    }
    c = (uint32_t)c64;
    while (len--)
        c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif

uint32_t bk_crc32c_extend_sw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&init_once, init);
    return ~sw_update(~crc, buf, len);
}

uint32_t bk_crc32c_extend(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&init_once, init);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (use_hw)
        return ~hw_update(~crc, buf, len);
#endif
    return bk_crc32c_extend_sw(crc, buf, len);
}

uint32_t bk_crc32c(const void *buf, size_t len)
{
    return bk_crc32c_extend(0, buf, len);
}

int bk_crc32c_hw_available(void)
{
    pthread_once(&init_once, init);
    return use_hw;
}
