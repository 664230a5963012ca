/* snappy through libsnappy's C API. Kafka's Java clients wrap blocks in the xerial framing
 * (a 16-byte header, then blocks each prefixed by its big-endian length); librdkafka and
 * others may send one raw block. Both are read; the xerial framing is written, since Java
 * consumers expect it and every other client reads it. */
#include <snappy-c.h>
#include <string.h>
#include <uv.h>

#include "brook/common.h"
#include "codec/codec_impl.h"

#define XERIAL_HEADER 16
#define XERIAL_BLOCK (32 * 1024) /* uncompressed bytes per block, as the Java client writes */

static const uint8_t xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t bk_snappy_bound(size_t len)
{
    size_t blocks = len / XERIAL_BLOCK + 1;
    return XERIAL_HEADER + blocks * (4 + snappy_max_compressed_length(XERIAL_BLOCK));
}

int bk_snappy_compress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len)
{
    if (cap < bk_snappy_bound(len))
        return BK_ETOOBIG;
    memcpy(dst, xerial_magic, sizeof xerial_magic);
    put_be32(dst + 8, 1);  /* version */
    put_be32(dst + 12, 1); /* oldest compatible version */
    size_t pos = XERIAL_HEADER;
    for (size_t off = 0; off < len; off += XERIAL_BLOCK) { /* empty input: the header alone */
        size_t n = len - off < XERIAL_BLOCK ? len - off : XERIAL_BLOCK;
        size_t clen = cap - pos - 4;
        if (snappy_compress((const char *)src + off, n, (char *)dst + pos + 4, &clen) != SNAPPY_OK)
            return BK_ETOOBIG;
        put_be32(dst + pos, (uint32_t)clen);
        pos += 4 + clen;
    }
    *out_len = pos;
    return 0;
}

/* Appends one raw snappy block's contents to out. */
static int raw_block(const uint8_t *src, size_t len, size_t max_out, bk_codec_buf_t *out)
{
    size_t n;
    if (snappy_uncompressed_length((const char *)src, len, &n) != SNAPPY_OK)
        return BK_ECORRUPT;
    if (n > max_out - out->len)
        return BK_ETOOBIG;
    if (n == 0) /* nothing to write (and maybe no buffer yet): only check the block */
        return snappy_validate_compressed_buffer((const char *)src, len) == SNAPPY_OK ? 0
                                                                                      : BK_ECORRUPT;
    int rc = bk_codec_reserve(out, out->len + n, max_out);
    if (rc)
        return rc;
    size_t got = n;
    if (snappy_uncompress((const char *)src, len, (char *)out->data + out->len, &got) !=
            SNAPPY_OK ||
        got != n)
        return BK_ECORRUPT;
    out->len += n;
    return 0;
}

int bk_snappy_decompress(const uint8_t *src, size_t len, size_t max_out, bk_codec_buf_t *out)
{
    if (len < XERIAL_HEADER || memcmp(src, xerial_magic, sizeof xerial_magic) != 0)
        return raw_block(src, len, max_out, out);
    size_t pos = XERIAL_HEADER;
    while (pos < len) {
        if (len - pos < 4)
            return BK_ECORRUPT;
        uint32_t n = get_be32(src + pos);
        pos += 4;
        if (n > len - pos)
            return BK_ECORRUPT;
        int rc = raw_block(src + pos, n, max_out, out);
        if (rc)
            return rc;
        pos += n;
    }
    return 0;
}
