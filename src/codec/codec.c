/* The codec contract's front: names, dispatch by attribute number, and the capped output
 * growth every decompressor uses. The per-codec work lives in gzip.c, snappy.c, lz4.c and
 * zstd.c; nothing here knows a compressed format. */
#include "codec/codec_impl.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "brook/common.h"

#define FIRST_OUT (64 * 1024)

static const char *const names[BK_CODEC_COUNT] = {"none", "gzip", "snappy", "lz4", "zstd"};

const char *bk_codec_name(int codec)
{
    return codec >= 0 && codec < BK_CODEC_COUNT ? names[codec] : NULL;
}

int bk_codec_parse(const char *name, size_t len, bk_codec_t *codec)
{
    for (int i = 0; i < BK_CODEC_COUNT; i++) {
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0) {
            *codec = (bk_codec_t)i;
            return 0;
        }
    }
    return BK_EINVAL;
}

int bk_codec_reserve(bk_codec_buf_t *out, size_t need, size_t max_out)
{
    if (need > max_out)
        return BK_ETOOBIG;
    if (out->cap >= need)
        return 0;
    size_t n = out->cap ? out->cap : FIRST_OUT;
    while (n < need)
        n = n > SIZE_MAX / 2 ? SIZE_MAX : n * 2;
    if (n > max_out)
        n = max_out;
    uint8_t *p = realloc(out->data, n);
    if (!p)
        return UV_ENOMEM;
    out->data = p;
    out->cap = n;
    return 0;
}

int bk_codec_more_room(bk_codec_buf_t *out, size_t max_out)
{
    if (out->len < out->cap)
        return 0;
    return bk_codec_reserve(out, out->len + 1, max_out);
}

size_t bk_codec_compress_bound(bk_codec_t codec, size_t len)
{
    switch (codec) {
    case BK_CODEC_GZIP:
        return bk_gzip_bound(len);
    case BK_CODEC_SNAPPY:
        return bk_snappy_bound(len);
    case BK_CODEC_LZ4:
        return bk_lz4_bound(len);
    case BK_CODEC_ZSTD:
        return bk_zstd_bound(len);
    default:
        return 0;
    }
}

int bk_codec_compress(bk_codec_t codec, const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
                      size_t *out_len)
{
    *out_len = 0;
    switch (codec) {
    case BK_CODEC_GZIP:
        return bk_gzip_compress(src, len, dst, cap, out_len);
    case BK_CODEC_SNAPPY:
        return bk_snappy_compress(src, len, dst, cap, out_len);
    case BK_CODEC_LZ4:
        return bk_lz4_compress(src, len, dst, cap, out_len);
    case BK_CODEC_ZSTD:
        return bk_zstd_compress(src, len, dst, cap, out_len);
    default:
        return BK_EINVAL;
    }
}

/* The codecs decode with one byte more than max_out allowed, so output that ends exactly at
 * the cap is told apart from output that would go on past it (a stream whose end marker
 * comes after its last byte of output needs no special case). */
int bk_codec_decompress(bk_codec_t codec, const uint8_t *src, size_t len, size_t max_out,
                        bk_codec_buf_t *out)
{
    size_t limit = max_out < SIZE_MAX ? max_out + 1 : max_out;
    int rc;
    out->len = 0;
    switch (codec) {
    case BK_CODEC_GZIP:
        rc = bk_gzip_decompress(src, len, limit, out);
        break;
    case BK_CODEC_SNAPPY:
        rc = bk_snappy_decompress(src, len, limit, out);
        break;
    case BK_CODEC_LZ4:
        rc = bk_lz4_decompress(src, len, limit, out);
        break;
    case BK_CODEC_ZSTD:
        rc = bk_zstd_decompress(src, len, limit, out);
        break;
    default:
        return BK_EINVAL;
    }
    if (rc == 0 && out->len > max_out)
        rc = BK_ETOOBIG;
    if (rc)
        out->len = 0;
    return rc;
}

void bk_codec_buf_free(bk_codec_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
