/* JSON generation for responses, over yajl_gen, without leaking yajl types to handlers.
 * One generator is reused for every response on the loop thread (bk_json_begin resets it),
 * so building a response allocates nothing in the steady state. Strings are escaped by yajl. */
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
void bk_json_key(bk_json_t *j, const char *key);
void bk_json_str(bk_json_t *j, const char *s);
void bk_json_strn(bk_json_t *j, const void *s, size_t len);
void bk_json_int(bk_json_t *j, int64_t v);
void bk_json_uint(bk_json_t *j, uint64_t v);
void bk_json_double(bk_json_t *j, double v);
void bk_json_bool(bk_json_t *j, int v);
void bk_json_null(bk_json_t *j);
/* Embeds already valid JSON text (e.g. a stored JSON value) as the next value. */
void bk_json_raw(bk_json_t *j, const void *text, size_t len);
/* The document so far; valid until the next bk_json_begin. */
const char *bk_json_text(bk_json_t *j, size_t *len);
/* Frees the generator (at shutdown). */
void bk_json_shutdown(void);

/* 1 when the bytes are valid UTF-8 (what yajl requires of strings it emits verbatim). */
int bk_utf8_valid(const uint8_t *s, size_t len);

#endif
