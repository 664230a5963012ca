/* Private to src/codec: one compress/decompress pair per codec, and the output-buffer growth
 * they share. Each pair follows the contract of bk_codec_compress / bk_codec_decompress in
 * include/brook/codec.h for its own codec. */
#ifndef BROOK_CODEC_IMPL_H
#define BROOK_CODEC_IMPL_H

#include "brook/codec.h"

/* Makes out->cap at least need bytes (doubling, but never past max_out). Returns 0,
 * BK_ETOOBIG when need > max_out, or UV_ENOMEM. Keeps out->data and out->len. */
int bk_codec_reserve(bk_codec_buf_t *out, size_t need, size_t max_out);

/* Makes room for more output after out->len: 0, BK_ETOOBIG when out->len == max_out. */
int bk_codec_more_room(bk_codec_buf_t *out, size_t max_out);

size_t bk_gzip_bound(size_t len);
int bk_gzip_compress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len);
int bk_gzip_decompress(const uint8_t *src, size_t len, size_t max_out, bk_codec_buf_t *out);

size_t bk_snappy_bound(size_t len);
int bk_snappy_compress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len);
int bk_snappy_decompress(const uint8_t *src, size_t len, size_t max_out, bk_codec_buf_t *out);

size_t bk_lz4_bound(size_t len);
int bk_lz4_compress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len);
int bk_lz4_decompress(const uint8_t *src, size_t len, size_t max_out, bk_codec_buf_t *out);

size_t bk_zstd_bound(size_t len);
int bk_zstd_compress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len);
int bk_zstd_decompress(const uint8_t *src, size_t len, size_t max_out, bk_codec_buf_t *out);

#endif
