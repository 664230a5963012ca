/* HTTP content codings (RFC 9110 §8.4 and §12.5.3): reading a request's Content-Encoding,
 * choosing a response's coding from Accept-Encoding, and the buffer work both need (undo a
 * request's codings under a hard size cap, compress an answer). Pure functions over strings
 * and buffers, safe on any thread; the loop-side job that runs decoding on the threadpool is
 * body_decode.c. Brook speaks gzip (x-gzip) and zstd; identity means no coding. */
#ifndef BROOK_HTTP_CONTENT_CODING_H
#define BROOK_HTTP_CONTENT_CODING_H

#include <stddef.h>
#include <stdint.h>

#include "brook/codec.h"
#include "http/exchange.h"

/* Answers smaller than this are never compressed (nor marked Vary): below it the coding's
 * framing and the CPU cost outweigh the bytes saved, and the produce acknowledgement (about
 * 80 bytes) pays for nothing but one length comparison. */
#define BK_HTTP_COMPRESS_MIN 1024

/* At most this many codings in one request's Content-Encoding (after identity is dropped). */
#define BK_HTTP_CODINGS_MAX 4

typedef struct {
    bk_codec_t codings[BK_HTTP_CODINGS_MAX]; /* in the order the sender applied them */
    unsigned count;                          /* 0: identity (no coding) */
    const char *bad; /* the first unsupported or malformed element (into the header) */
    size_t bad_len;
} bk_http_codings_t;

/* Parses every Content-Encoding line of ex, in order, as one list: names are
 * case-insensitive, x-gzip is gzip, identity is dropped. Returns 0; UV_ENOTSUP for a coding
 * Brook does not decode (out->bad names it); BK_EINVAL for a malformed list (an element with
 * parameters or characters outside a token; out->bad names it); BK_ETOOBIG for more than
 * BK_HTTP_CODINGS_MAX codings. */
int bk_http_codings_parse(const bk_exchange_t *ex, bk_http_codings_t *out);

/* The same for one header value (appends to out; out->count must be set, 0 at first). */
int bk_http_codings_parse_value(const char *v, size_t len, bk_http_codings_t *out);

/* The coding an answer takes under Accept-Encoding value v (NULL: header absent, which gets
 * identity): the highest q among zstd, gzip (x-gzip) and identity, each weighted by its own
 * element or else by "*" (identity named by neither is only the fallback). Equal q prefers
 * zstd, then gzip, then identity; q=0 excludes. Malformed elements are skipped. Returns
 * BK_CODEC_ZSTD, BK_CODEC_GZIP or BK_CODEC_NONE (also when nothing is acceptable: the answer then
 * goes uncoded, as RFC 9110 §12.5.3 allows). */
bk_codec_t bk_http_accept_encoding(const char *v, size_t len);

/* Undoes the codings of src (last applied first) into out, with scratch holding the stages
 * between (both the caller's, and both freed by it: buffers the caller allocated grow in the
 * caller's malloc arena, see body_decode.c), never growing a stage's output past max_out
 * bytes. Returns 0 with the result in out, BK_ETOOBIG (the decoded body would pass max_out),
 * BK_ECORRUPT (not a whole valid stream of its coding) or UV_ENOMEM; *failed is then the
 * coding that failed. */
int bk_http_decode(const bk_http_codings_t *c, const uint8_t *src, size_t len, size_t max_out,
                   bk_codec_buf_t *out, bk_codec_buf_t *scratch, bk_codec_t *failed);

/* Compresses src with codec (gzip or zstd) into dst (cap bytes; *dst_len = bytes written).
 * gzip uses zlib level 1 and zstd level 1, the fast ends: JSON still shrinks severalfold and
 * the answer is not held up. Returns 0, BK_EINVAL for another codec, or BK_ETOOBIG when the
 * coded form does not fit in cap (give cap = len - 1: no smaller, send it uncoded) or could
 * not be made (no memory for the coder's state: also sent uncoded). */
int bk_http_encode(bk_codec_t codec, const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
                   size_t *dst_len);

/* The Content-Encoding token of a codec ("gzip", "zstd"); NULL for another. */
const char *bk_http_coding_name(bk_codec_t codec);

#endif
