/* Decoding Kafka REST Proxy v2 produce bodies, {"records":[{"key"?, "value"?, "partition"?,
 * "headers"?}, ...]}, with yajl's streaming parser and a depth limit. In JSON mode keys and
 * values are any JSON and are stored as their compact JSON text (what Kafka's JSON serializer
 * writes); in binary mode they are base64 strings or null. Pure: bytes in, records out. */
#ifndef BROOK_API_RECORDS_BODY_H
#define BROOK_API_RECORDS_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "http/exchange.h"

typedef enum { BK_RB_JSON = 0, BK_RB_BINARY = 1 } bk_rb_mode_t;

/* The most records, and the most headers in all, one request may carry: as many records as
 * one read may return (max_records). Counted while decoding, so a body of millions of tiny
 * records is refused (413) after the first BK_RB_MAX_RECORDS, with memory and time bounded. */
#define BK_RB_MAX_RECORDS 100000
#define BK_RB_MAX_HEADERS 100000

typedef struct {
    size_t key_off;
    int32_t key_len; /* -1 = null */
    size_t value_off;
    int32_t value_len; /* -1 = null */
    int64_t partition; /* -1 = not given */
    uint32_t header_first, header_count;
} bk_rb_record_t;

typedef struct {
    size_t key_off, key_len;
    size_t value_off;
    int32_t value_len; /* -1 = null */
} bk_rb_header_t;

typedef struct {
    bk_rb_mode_t mode;
    bk_buf_t arena; /* every key, value and header byte */
    bk_rb_record_t *records;
    size_t count, cap;
    bk_rb_header_t *headers;
    size_t header_count, header_cap;
    int error_status; /* HTTP status when parsing failed */
    int error_code;   /* REST Proxy error code (40001, 42201, ...) */
    char error[200];
    /* parser scratch */
    int depth, in_records, field, seen_records, hfield;
    void *yajl;       /* the parser, while it runs */
    size_t value_end; /* where the top-level value ended (0: not yet) */
    size_t gen_depth;
    void *gen;
    size_t body_len; /* of the last parse, for bk_records_body_trim */
} bk_records_body_t;

/* Parses body in mode. Returns 0 or an HTTP status (400 malformed JSON, 413 too many records or
 * headers, 422 bad records, a lone surrogate escape or invalid UTF-8 anywhere, a NUL in a header
 * key) with error_code and error set. b must be zeroed before first use; it may be reused
 * (buffers are kept) and is released with bk_records_body_free(). */
int bk_records_body_parse(bk_records_body_t *b, bk_rb_mode_t mode, const uint8_t *body, size_t len);
/* Forgets the records and frees the reused buffers that grew past BK_JSON_KEEP_BYTES (call
 * once the records are no longer needed), so one outsized request does not pin its memory.
 * Returns 1 when something was freed. */
int bk_records_body_trim(bk_records_body_t *b);
void bk_records_body_free(bk_records_body_t *b);

#endif
