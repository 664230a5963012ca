/* JSON generation for responses, over yajl_gen, without leaking yajl types to handlers, and
 * the checks every JSON request body shares. One generator is reused for every response on the
 * loop thread (bk_json_begin resets it), so building a response allocates nothing in the
 * steady state. Every string written is valid UTF-8 whatever its source: invalid sequences
 * become U+FFFD, so an answer that quotes client input is still JSON. */
#ifndef BROOK_HTTP_JSON_H
#define BROOK_HTTP_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef struct bk_json bk_json_t;

/* Returns the reset loop-wide generator. Only one document may be built at a time. */
bk_json_t *bk_json_begin(void);
void bk_json_obj(bk_json_t *j);
void bk_json_obj_end(bk_json_t *j);
void bk_json_arr(bk_json_t *j);
void bk_json_arr_end(bk_json_t *j);
/* Strings: bytes that are not valid UTF-8 are written as U+FFFD (one per bad lead byte with
 * the continuation bytes after it); escaping is yajl's. A key is one of Brook's own ASCII
 * names, never client bytes (a client-supplied name is written with bk_json_str). */
void bk_json_key(bk_json_t *j, const char *key);
void bk_json_str(bk_json_t *j, const char *s);
void bk_json_strn(bk_json_t *j, const void *s, size_t len);
void bk_json_int(bk_json_t *j, int64_t v);
void bk_json_uint(bk_json_t *j, uint64_t v);
void bk_json_double(bk_json_t *j, double v);
void bk_json_bool(bk_json_t *j, int v);
void bk_json_null(bk_json_t *j);
/* Embeds already valid JSON text (e.g. a stored JSON value) as the next value; the caller
 * vouches for it (bk_json_text_check). */
void bk_json_raw(bk_json_t *j, const void *text, size_t len);
/* The document so far; valid until the next bk_json_begin (which frees the generator's
 * buffer when that document was over BK_JSON_KEEP_BYTES, so one huge answer does not pin its
 * memory). */
const char *bk_json_text(bk_json_t *j, size_t *len);
/* Frees the generator (at shutdown). */
void bk_json_shutdown(void);

/* Reused buffers (here and in the body decoders) larger than this are freed after use. */
#define BK_JSON_KEEP_BYTES ((size_t)1 << 20)
/* Frees the generator when its document is over BK_JSON_KEEP_BYTES (the document is then
 * gone: call it once the text was copied out, as bk_exchange_respond_json does). */
void bk_json_trim(void);
/* After freeing an outsized buffer: hands free heap pages back to the system (glibc keeps
 * them mapped otherwise, so the process stays at its peak size). */
void bk_heap_trim(void);

/* 1 when the bytes are valid UTF-8: no overlong forms, no encoded surrogates (U+D800-DFFF),
 * nothing above U+10FFFF. */
int bk_utf8_valid(const uint8_t *s, size_t len);

/* What a JSON parser (yajl) lets through that Brook refuses: bytes that are not valid UTF-8
 * (yajl checks only the shape of multi-byte sequences) and \u escapes of UTF-16 surrogates
 * that are not a high-low pair (yajl turns a lone one into '?' or into bytes that are not
 * UTF-8). Meant for text that yajl has parsed without error. Returns BK_JSON_TEXT_OK, or the
 * problem with *at set to the byte offset of the first offence (a 422: JSON Brook does not
 * take). BK_JSON_MALFORMED is bk_json_after_value's (a 400: not JSON). */
enum {
    BK_JSON_TEXT_OK = 0,
    BK_JSON_BAD_UTF8 = 1,
    BK_JSON_LONE_SURROGATE = 2,
    BK_JSON_MALFORMED = 3,
};
int bk_json_text_check(const uint8_t *text, size_t len, size_t *at);
/* yajl's end of parse misses an unterminated string after the top-level value ('{} "abc')
 * and takes \v and \f as whitespace: a streaming parser notes where its top-level value
 * ended (yajl_get_bytes_consumed in the callback that closes it) and asks here whether only
 * JSON whitespace follows. Returns BK_JSON_TEXT_OK (also when value_end is 0: no container
 * closed), or BK_JSON_MALFORMED with *at at the first other byte. */
int bk_json_after_value(const uint8_t *text, size_t value_end, size_t len, size_t *at);
/* 1 when text is one JSON value (whitespace around it allowed) that bk_json_text_check
 * passes, else 0: what Brook accepts as JSON input (that check, then yajl 2 with its default
 * settings), except for two things yajl lets through that are not JSON and are refused here:
 * \v and \f as whitespace, and an unterminated string after the value. Allocates nothing
 * unless the text nests deeper than BK_JSON_VALID_DEPTH arrays and objects (then yajl parses
 * it). src/http/json_valid.c. */
#define BK_JSON_VALID_DEPTH 4096
int bk_json_valid(const uint8_t *text, size_t len);
/* A message for a problem bk_json_text_check found, e.g. "invalid UTF-8 at byte 12". */
void bk_json_text_problem(int problem, size_t at, char *msg, size_t cap);

/* Parses a decimal integer (an optional '-' then digits, nothing else: no spaces, no '+') in
 * [min, max]. Returns 0, BK_EINVAL when s is not such an integer, or UV_ERANGE when it is
 * outside the range (however many digits it has). */
int bk_parse_int(const char *s, size_t len, int64_t min, int64_t max, int64_t *out);

#endif
