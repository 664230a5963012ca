/* Zigzag varint and varlong coding for Kafka records. Decoding runs on bytes read from disk
 * or the network, so it must never trust its input: no read past end, no silent overflow. */
#include "common/varint.h"

#include "brook/common.h"

#include <uv.h>

static uint64_t zigzag64(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag64(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static size_t usize(uint64_t u)
{
    size_t n = 1;
    while (u >= 0x80) {
        u >>= 7;
        n++;
    }
    return n;
}

static int uput(uint8_t *dst, const uint8_t *end, uint64_t u)
{
    size_t n = usize(u);
    if (dst > end || (size_t)(end - dst) < n)
        return UV_ENOBUFS;
    for (size_t i = 0; i + 1 < n; i++) {
        dst[i] = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    dst[n - 1] = (uint8_t)u;
    return (int)n;
}

/* Reads at most max bytes; the value must fit in bits bits. */
static int uget(const uint8_t *src, const uint8_t *end, int max, unsigned bits, uint64_t *out)
{
    uint64_t u = 0;
    for (int i = 0; i < max; i++) {
        if (src + i >= end)
            return BK_ECORRUPT;
        uint64_t b = src[i];
        unsigned shift = 7u * (unsigned)i;
        /* Bits of this group that land at or above `bits` would be lost: refuse them. */
        if (shift + 7 > bits && (b & 0x7f) >> (bits - shift) != 0)
            return BK_ECORRUPT;
        u |= (b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = u;
            return i + 1;
        }
    }
    return BK_ECORRUPT;
}

size_t bk_varint_size32(int32_t v)
{
    return usize(zigzag64(v));
}

size_t bk_varint_size64(int64_t v)
{
    return usize(zigzag64(v));
}

int bk_varint_put32(uint8_t *dst, const uint8_t *end, int32_t v)
{
    return uput(dst, end, zigzag64(v));
}

int bk_varint_put64(uint8_t *dst, const uint8_t *end, int64_t v)
{
    return uput(dst, end, zigzag64(v));
}

int bk_varint_get32(const uint8_t *src, const uint8_t *end, int32_t *out)
{
    uint64_t u;
    int n = uget(src, end, BK_VARINT_MAX32, 32, &u);
    if (n > 0)
        *out = (int32_t)unzigzag64(u);
    return n;
}

int bk_varint_get64(const uint8_t *src, const uint8_t *end, int64_t *out)
{
    uint64_t u;
    int n = uget(src, end, BK_VARINT_MAX64, 64, &u);
    if (n > 0)
        *out = unzigzag64(u);
    return n;
}
