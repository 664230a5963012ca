/* Kafka's primitive types on the wire, read and written by hand from the public protocol
 * guide: big-endian integers, unsigned varints, strings and byte arrays in their classic
 * (int16/int32 length) and compact (unsigned varint length + 1) forms, arrays, and tagged
 * fields. The reader treats its input as hostile: it never reads past the end and, once a
 * read fails, every later read returns zero and the failure sticks (check bad once at the
 * end). The writer grows its buffer; an allocation failure sticks the same way. */
#ifndef BROOK_KAFKA_WIRE_H
#define BROOK_KAFKA_WIRE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint8_t *p, *end;
    int bad; /* a read ran past the end or met an impossible length */
} bk_kr_t;

/* A string or byte array inside the input; len -1 is null. */
typedef struct {
    const uint8_t *ptr;
    int32_t len;
} bk_kslice_t;

void bk_kr_init(bk_kr_t *r, const uint8_t *p, size_t len);
int8_t bk_kr_i8(bk_kr_t *r);
int16_t bk_kr_i16(bk_kr_t *r);
int32_t bk_kr_i32(bk_kr_t *r);
int64_t bk_kr_i64(bk_kr_t *r);
uint32_t bk_kr_uvarint(bk_kr_t *r);
/* STRING / NULLABLE_STRING (flex 0) or COMPACT_(NULLABLE_)STRING (flex 1). */
bk_kslice_t bk_kr_str(bk_kr_t *r, int flex);
/* BYTES / NULLABLE_BYTES or their compact forms. */
bk_kslice_t bk_kr_bytes(bk_kr_t *r, int flex);
/* An array's element count (-1 null). A count larger than the bytes left (every element takes
 * at least min_elem bytes) marks the reader bad and returns 0, so no caller allocates for a
 * count the input cannot back. */
int32_t bk_kr_array(bk_kr_t *r, int flex, size_t min_elem);
/* Skips a tagged-field section (flexible versions). */
void bk_kr_tags(bk_kr_t *r);
size_t bk_kr_left(const bk_kr_t *r);

typedef struct {
    uint8_t *data;
    size_t len, cap;
    int bad; /* out of memory */
} bk_kw_t;

void bk_kw_i8(bk_kw_t *w, int8_t v);
void bk_kw_i16(bk_kw_t *w, int16_t v);
void bk_kw_i32(bk_kw_t *w, int32_t v);
void bk_kw_i64(bk_kw_t *w, int64_t v);
void bk_kw_uvarint(bk_kw_t *w, uint32_t v);
/* A string of len bytes (len < 0 or s NULL: null). */
void bk_kw_str(bk_kw_t *w, int flex, const char *s, int32_t len);
void bk_kw_cstr(bk_kw_t *w, int flex, const char *s); /* NULL: null */
void bk_kw_bytes(bk_kw_t *w, int flex, const uint8_t *b, int32_t len);
void bk_kw_array(bk_kw_t *w, int flex, int32_t n); /* n -1: null */
void bk_kw_tags(bk_kw_t *w, int flex);             /* an empty tagged-field section if flex */
void bk_kw_raw(bk_kw_t *w, const void *b, size_t len);
/* Room for a value written later with bk_kw_put_i32 at the returned position. */
size_t bk_kw_skip(bk_kw_t *w, size_t len);
void bk_kw_put_i32(bk_kw_t *w, size_t at, int32_t v);
void bk_kw_free(bk_kw_t *w);

#endif
