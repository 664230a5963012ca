/* gzip through zlib: one gzip member out; in, a gzip or zlib stream, several gzip members one
 * after another (what concatenating producers write) included. Output grows in the caller's
 * buffer up to its cap, so a deflate bomb stops at the cap. */
#include <limits.h>
#include <uv.h>
#include <zlib.h>

#include "brook/common.h"
#include "codec/codec_impl.h"

#define GZIP_WINDOW (15 + 16) /* 32K window, gzip wrapper */
#define AUTO_WINDOW (15 + 32) /* 32K window, gzip or zlib header detected */

size_t bk_gzip_bound(size_t len)
{
    /* compressBound covers the zlib wrapper (6 bytes); gzip's header and trailer are 18 */
    return (size_t)compressBound((uLong)len) + 32;
}

int bk_gzip_compress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len)
{
    if (len > UINT_MAX || cap < bk_gzip_bound(len))
        return BK_ETOOBIG;
    z_stream zs = {0};
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, GZIP_WINDOW, 8, Z_DEFAULT_STRATEGY))
        return UV_ENOMEM;
    zs.next_in = (Bytef *)(uintptr_t)src;
    zs.avail_in = (uInt)len;
    zs.next_out = dst;
    zs.avail_out = cap > UINT_MAX ? UINT_MAX : (uInt)cap;
    int z = deflate(&zs, Z_FINISH);
    *out_len = (size_t)zs.total_out;
    deflateEnd(&zs);
    return z == Z_STREAM_END ? 0 : BK_ETOOBIG;
}

/* One inflate step into the room after out->len; returns zlib's code. */
static int inflate_step(z_stream *zs, bk_codec_buf_t *out)
{
    size_t room = out->cap - out->len;
    zs->next_out = out->data + out->len;
    zs->avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
    uInt before = zs->avail_out;
    int z = inflate(zs, Z_NO_FLUSH);
    out->len += before - zs->avail_out;
    return z;
}

int bk_gzip_decompress(const uint8_t *src, size_t len, size_t max_out, bk_codec_buf_t *out)
{
    if (len > UINT_MAX)
        return BK_ETOOBIG;
    z_stream zs = {0};
    if (inflateInit2(&zs, AUTO_WINDOW))
        return UV_ENOMEM;
    zs.next_in = (Bytef *)(uintptr_t)src;
    zs.avail_in = (uInt)len;
    int rc;
    for (;;) {
        rc = bk_codec_more_room(out, max_out);
        if (rc)
            break;
        int z = inflate_step(&zs, out);
        if (z == Z_STREAM_END) {
            if (zs.avail_in == 0)
                break;                       /* rc == 0 */
            if (inflateReset(&zs) != Z_OK) { /* another member follows */
                rc = BK_ECORRUPT;
                break;
            }
            continue;
        }
        if (z == Z_MEM_ERROR) {
            rc = UV_ENOMEM;
            break;
        }
        if (z != Z_OK && z != Z_BUF_ERROR) {
            rc = BK_ECORRUPT; /* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
            break;
        }
        if (zs.avail_out != 0 && zs.avail_in == 0) {
            rc = BK_ECORRUPT; /* room left and no input left: the stream is truncated */
            break;
        }
    }
    inflateEnd(&zs);
    return rc;
}
