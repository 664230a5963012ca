/* The codec contract: every codec round-trips inputs of every size; decompression stops at
 * its cap (a bomb is BK_ETOOBIG with the buffer never grown past the cap); truncated, garbage
 * and trailing bytes are BK_ECORRUPT; the foreign shapes other clients send are read (raw
 * snappy, zlib-wrapped and multi-member gzip, several lz4 and zstd frames). */
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "brook/codec.h"
#include "brook/common.h"
#include "check.h"

static const bk_codec_t codecs[] = {BK_CODEC_GZIP, BK_CODEC_SNAPPY, BK_CODEC_LZ4, BK_CODEC_ZSTD};

/* Text-like bytes that compress, with a pseudo-random part that does not. */
static uint8_t *sample(size_t n, uint32_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = i % 3 ? (uint8_t)("brook log "[i % 10]) : (uint8_t)(seed >> 16);
    }
    return p;
}

static uint8_t *pack(bk_codec_t c, const uint8_t *src, size_t n, size_t *out_len)
{
    size_t cap = bk_codec_compress_bound(c, n);
    uint8_t *dst = malloc(cap);
    CHECK_EQ_INT(bk_codec_compress(c, src, n, dst, cap, out_len), 0);
    return dst;
}

static void round_trips(void)
{
    static const size_t sizes[] = {0, 1, 100, 32768, 32769, 65536 * 3 + 7, 1 << 20};
    bk_codec_buf_t out = {0};
    for (size_t ci = 0; ci < BK_ARRAY_LEN(codecs); ci++) {
        for (size_t si = 0; si < BK_ARRAY_LEN(sizes); si++) {
            size_t n = sizes[si], clen;
            uint8_t *src = sample(n, (uint32_t)si);
            uint8_t *z = pack(codecs[ci], src, n, &clen);
            CHECK_EQ_INT(bk_codec_decompress(codecs[ci], z, clen, n, &out), 0);
            CHECK_EQ_INT(out.len, n);
            CHECK(n == 0 || memcmp(out.data, src, n) == 0);
            if (n > 0) /* a cap one byte short is refused */
                CHECK_EQ_INT(bk_codec_decompress(codecs[ci], z, clen, n - 1, &out), BK_ETOOBIG);
            free(z);
            free(src);
        }
    }
    bk_codec_buf_free(&out);
}

static void bombs_stop_at_the_cap(void)
{
    size_t n = 32u << 20; /* 32 MiB of zeros: a few KiB compressed */
    uint8_t *zeros = calloc(1, n);
    for (size_t ci = 0; ci < BK_ARRAY_LEN(codecs); ci++) {
        size_t clen;
        uint8_t *z = pack(codecs[ci], zeros, n, &clen);
        CHECK(clen < n / 20);
        bk_codec_buf_t out = {0};
        CHECK_EQ_INT(bk_codec_decompress(codecs[ci], z, clen, 1 << 20, &out), BK_ETOOBIG);
        CHECK(out.cap <= (1 << 20) + 1);
        CHECK_EQ_INT(out.len, 0);
        bk_codec_buf_free(&out);
        free(z);
    }
    free(zeros);
}

static void corrupt_inputs(void)
{
    size_t n = 50000, clen;
    uint8_t *src = sample(n, 7);
    bk_codec_buf_t out = {0};
    for (size_t ci = 0; ci < BK_ARRAY_LEN(codecs); ci++) {
        bk_codec_t c = codecs[ci];
        uint8_t *z = pack(c, src, n, &clen);
        uint8_t *longer = malloc(clen + 3);
        memcpy(longer, z, clen);
        memcpy(longer + clen, "xyz", 3);
        CHECK_EQ_INT(bk_codec_decompress(c, z, clen / 2, n, &out), BK_ECORRUPT);
        CHECK_EQ_INT(bk_codec_decompress(c, z, 0, n, &out), BK_ECORRUPT);
        CHECK_EQ_INT(bk_codec_decompress(c, longer, clen + 3, n, &out), BK_ECORRUPT);
        CHECK_EQ_INT(bk_codec_decompress(c, (const uint8_t *)"not compressed at all", 21, n, &out),
                     BK_ECORRUPT);
        free(longer);
        free(z);
    }
    CHECK_EQ_INT(bk_codec_decompress(BK_CODEC_NONE, src, 10, n, &out), BK_EINVAL);
    bk_codec_buf_free(&out);
    free(src);
}

static void foreign_shapes(void)
{
    size_t n = 70000;
    uint8_t *src = sample(n, 3);
    bk_codec_buf_t out = {0};
    /* raw snappy, as librdkafka may send it */
    size_t rlen = snappy_max_compressed_length(n);
    char *raw = malloc(rlen);
    CHECK(snappy_compress((const char *)src, n, raw, &rlen) == SNAPPY_OK);
    CHECK_EQ_INT(bk_codec_decompress(BK_CODEC_SNAPPY, (uint8_t *)raw, rlen, n, &out), 0);
    CHECK(out.len == n && memcmp(out.data, src, n) == 0);
    free(raw);
    /* a zlib-wrapped stream under gzip */
    uLongf zlen = compressBound(n);
    uint8_t *zl = malloc(zlen);
    CHECK(compress2(zl, &zlen, src, n, 6) == Z_OK);
    CHECK_EQ_INT(bk_codec_decompress(BK_CODEC_GZIP, zl, zlen, n, &out), 0);
    CHECK(out.len == n && memcmp(out.data, src, n) == 0);
    free(zl);
    /* two members / frames back to back read as their concatenation */
    static const bk_codec_t multi[] = {BK_CODEC_GZIP, BK_CODEC_LZ4, BK_CODEC_ZSTD};
    for (size_t i = 0; i < BK_ARRAY_LEN(multi); i++) {
        size_t a, b;
        uint8_t *za = pack(multi[i], src, 1000, &a);
        uint8_t *zb = pack(multi[i], src + 1000, n - 1000, &b);
        uint8_t *both = malloc(a + b);
        memcpy(both, za, a);
        memcpy(both + a, zb, b);
        CHECK_EQ_INT(bk_codec_decompress(multi[i], both, a + b, n, &out), 0);
        CHECK(out.len == n && memcmp(out.data, src, n) == 0);
        free(both);
        free(za);
        free(zb);
    }
    bk_codec_buf_free(&out);
    free(src);
}

static void names(void)
{
    bk_codec_t c;
    CHECK_EQ_INT(bk_codec_parse("zstd", 4, &c), 0);
    CHECK_EQ_INT(c, BK_CODEC_ZSTD);
    CHECK_EQ_INT(bk_codec_parse("none", 4, &c), 0);
    CHECK_EQ_INT(c, BK_CODEC_NONE);
    CHECK_EQ_INT(bk_codec_parse("ZSTD", 4, &c), BK_EINVAL);
    CHECK_EQ_INT(bk_codec_parse("lz", 2, &c), BK_EINVAL);
    CHECK_EQ_STR(bk_codec_name(BK_CODEC_SNAPPY), "snappy");
    CHECK(bk_codec_name(5) == NULL && bk_codec_name(-1) == NULL);
}

CHECK_MAIN(CASE(round_trips), CASE(bombs_stop_at_the_cap), CASE(corrupt_inputs),
           CASE(foreign_shapes), CASE(names))
