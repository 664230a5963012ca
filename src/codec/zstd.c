/* zstd: one frame with its content size out (level 3, zstd's default); in, one or more
 * frames. The decoder's window is limited (ZSTD_d_windowLogMax) so a frame cannot make it
 * allocate more than WINDOW_LOG_MAX allows, whatever it declares. */
#include <uv.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "brook/common.h"
#include "codec/codec_impl.h"

#define LEVEL 3
#define WINDOW_LOG_MAX 24 /* 16 MiB: producers at default levels use 2-8 MiB */

size_t bk_zstd_bound(size_t len)
{
    return ZSTD_compressBound(len);
}

int bk_zstd_compress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len)
{
    size_t n = ZSTD_compress(dst, cap, src, len, LEVEL);
    if (ZSTD_isError(n))
        return ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ? UV_ENOMEM : BK_ETOOBIG;
    *out_len = n;
    return 0;
}

int bk_zstd_decompress(const uint8_t *src, size_t len, size_t max_out, bk_codec_buf_t *out)
{
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (!d)
        return UV_ENOMEM;
    ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, WINDOW_LOG_MAX);
    ZSTD_inBuffer in = {src, len, 0};
    size_t hint = 1;
    int rc;
    for (;;) {
        rc = bk_codec_more_room(out, max_out);
        if (rc)
            break;
        ZSTD_outBuffer ob = {out->data, out->cap, out->len};
        size_t before_in = in.pos, before_out = ob.pos;
        hint = ZSTD_decompressStream(d, &ob, &in);
        out->len = ob.pos;
        if (ZSTD_isError(hint)) {
            rc = ZSTD_getErrorCode(hint) == ZSTD_error_memory_allocation ? UV_ENOMEM : BK_ECORRUPT;
            break;
        }
        if (hint == 0 && in.pos == in.size)
            break; /* the last frame is whole and flushed */
        if (out->len == out->cap)
            continue; /* output may be pending */
        if (in.pos == in.size || (in.pos == before_in && ob.pos == before_out)) {
            rc = BK_ECORRUPT; /* truncated, or no progress possible */
            break;
        }
    }
    ZSTD_freeDCtx(d);
    return rc;
}
