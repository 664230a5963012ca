/* Decoding the seed API's produce body, {"message": ..., "topic": "...", "key"?, "partition"?},
 * with yajl's streaming parser and a nesting-depth limit. Pure: bytes in, fields out, so it is
 * unit-tested and fuzzed. A string message is kept as its bytes; any other JSON value as its
 * compact JSON text. */
#ifndef BROOK_API_PRODUCE_BODY_H
#define BROOK_API_PRODUCE_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "brook/log.h"
#include "http/exchange.h"

#define BK_JSON_MAX_DEPTH 64

typedef struct {
    bk_buf_t message; /* value bytes */
    int has_message;
    int message_is_json; /* the message was not a JSON string: bytes are JSON text */
    bk_buf_t topic;
    int has_topic;
    bk_buf_t key;
    int has_key;       /* 1 for a string key; a JSON null key leaves it 0 */
    int64_t partition; /* -1 when absent or null */
    /* parser scratch */
    int depth;
    int field;        /* which top-level field the current value belongs to */
    void *yajl;       /* the parser, while it runs */
    size_t value_end; /* where the top-level value ended (0: not yet) */
    int error_status;
    int error_code; /* REST Proxy style code when the status alone is not precise, else 0 */
    char error[160];
    void *gen;       /* yajl_gen for non-string messages */
    size_t body_len; /* of the last parse, for bk_produce_body_trim */
} bk_produce_body_t;

/* Decodes body. Returns 0, or an HTTP status (400 malformed JSON, 422 wrong shape, a lone
 * surrogate escape or invalid UTF-8 anywhere, a NUL in "topic" (error_code 42208)) with
 * out->error set. out must be zeroed before its first use; it may then be reused for many
 * parses (its buffers are kept) and is released with bk_produce_body_free(). */
int bk_produce_body_parse(bk_produce_body_t *out, const uint8_t *body, size_t len);
/* Frees the reused buffers that grew past BK_JSON_KEEP_BYTES (after an outsized request). */
void bk_produce_body_trim(bk_produce_body_t *b);
void bk_produce_body_free(bk_produce_body_t *b);

/* The codec an HTTP produce to topic t stores its batches with: ?compression=none|gzip|snappy|
 * lz4|zstd is the producer's choice, kept when t's compression.type is "producer"; any other
 * compression.type overrides it (as Kafka recompresses). No choice: uncompressed. Answers 400
 * and returns 0 for an unknown name; else sets *codec (a bk_codec_t) and returns 1. Defined in
 * produce.c. */
int bk_api_produce_codec(bk_exchange_t *ex, const bk_topic_t *t, int *codec);

#endif
