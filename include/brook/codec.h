/* Kafka's batch compression codecs behind one contract: gzip (zlib), snappy (raw blocks and
 * the xerial framing Java clients write), lz4 (the LZ4 frame format) and zstd. The numbers are
 * the RecordBatch attribute bits 0-2. Pure functions over buffers, safe on any thread (the
 * loop hands compression and decompression to the threadpool). Decompression never grows its
 * output past the cap it is given: a small input that inflates past it is BK_ETOOBIG, never a
 * large allocation. */
#ifndef BROOK_CODEC_H
#define BROOK_CODEC_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    BK_CODEC_NONE = 0,
    BK_CODEC_GZIP = 1,
    BK_CODEC_SNAPPY = 2,
    BK_CODEC_LZ4 = 3,
    BK_CODEC_ZSTD = 4,
} bk_codec_t;

#define BK_CODEC_COUNT 5

/* "none", "gzip", "snappy", "lz4", "zstd"; NULL for a number that is no codec. */
const char *bk_codec_name(int codec);

/* Parses one of the names above (exact, lower case). Returns 0, or BK_EINVAL. */
int bk_codec_parse(const char *name, size_t len, bk_codec_t *codec);

/* Largest output bk_codec_compress can produce for len input bytes (0 for BK_CODEC_NONE). */
size_t bk_codec_compress_bound(bk_codec_t codec, size_t len);

/* Compresses src into dst (cap bytes, at least bk_codec_compress_bound), *out_len = bytes
 * written. gzip writes one gzip member, snappy the xerial framing (what Java consumers expect,
 * and librdkafka reads), lz4 one frame, zstd one frame with its content size. Returns 0,
 * BK_EINVAL for BK_CODEC_NONE or an unknown codec, BK_ETOOBIG when dst is too small, or
 * UV_ENOMEM. */
int bk_codec_compress(bk_codec_t codec, const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
                      size_t *out_len);

/* A growable output buffer the caller owns and reuses (free data with free()). */
typedef struct {
    uint8_t *data;
    size_t len; /* bytes of the last result */
    size_t cap; /* allocated */
} bk_codec_buf_t;

/* Decompresses src into out (replacing its contents), growing it as needed but never past
 * max_out bytes. Accepts for gzip a gzip or zlib stream (several gzip members too), for snappy
 * a raw block or xerial framing, for lz4 one or more frames, for zstd one or more frames.
 * Returns 0; BK_ETOOBIG when the output would pass max_out; BK_ECORRUPT for input that is
 * not a whole valid stream of that codec (truncated, bad checksum, trailing garbage);
 * BK_EINVAL for BK_CODEC_NONE or an unknown codec; UV_ENOMEM. */
int bk_codec_decompress(bk_codec_t codec, const uint8_t *src, size_t len, size_t max_out,
                        bk_codec_buf_t *out);

void bk_codec_buf_free(bk_codec_buf_t *b);

#endif
