/* lz4 in the LZ4 frame format (Kafka's lz4 since message format 2): frames of independent
 * 64 KiB blocks without a content checksum out (what Kafka's own Java reader accepts); in, any
 * valid frames, one after another. */
#include <lz4frame.h>
#include <string.h>
#include <uv.h>

#include "brook/common.h"
#include "codec/codec_impl.h"

static const LZ4F_preferences_t prefs = {
    .frameInfo = {.blockSizeID = LZ4F_max64KB, .blockMode = LZ4F_blockIndependent},
};

size_t bk_lz4_bound(size_t len)
{
    return LZ4F_compressFrameBound(len, &prefs);
}

int bk_lz4_compress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len)
{
    size_t n = LZ4F_compressFrame(dst, cap, src, len, &prefs);
    if (LZ4F_isError(n))
        return BK_ETOOBIG;
    *out_len = n;
    return 0;
}

int bk_lz4_decompress(const uint8_t *src, size_t len, size_t max_out, bk_codec_buf_t *out)
{
    LZ4F_dctx *dctx;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
        return UV_ENOMEM;
    size_t pos = 0;
    int rc;
    for (;;) {
        rc = bk_codec_more_room(out, max_out);
        if (rc)
            break;
        size_t room = out->cap - out->len, used = len - pos;
        size_t hint = LZ4F_decompress(dctx, out->data + out->len, &room, src + pos, &used, NULL);
        if (LZ4F_isError(hint)) {
            rc = BK_ECORRUPT;
            break;
        }
        pos += used;
        out->len += room;
        if (hint == 0 && pos == len)
            break; /* the last frame ended exactly at the end of the input */
        if (out->len == out->cap)
            continue; /* output may be pending: make room and ask again */
        if (pos == len || (used == 0 && room == 0)) {
            rc = BK_ECORRUPT; /* truncated, or no progress possible */
            break;
        }
    }
    LZ4F_freeDecompressionContext(dctx);
    return rc;
}
