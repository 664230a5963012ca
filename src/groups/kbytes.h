/* Kafka's primitive types, big-endian, for the group layer's byte formats (the consumer
 * protocol and the __consumer_offsets records): a growing writer and a bounds-checked reader.
 * The reader never reads past its end; any failure sticks (err) so a decoder checks once. */
#ifndef BROOK_GROUPS_KBYTES_H
#define BROOK_GROUPS_KBYTES_H

#include <stddef.h>
#include <stdint.h>

#include "brook/groups.h"

/* Writer: appends to b; the first failure (UV_ENOMEM, BK_EINVAL for a string too long or not
 * valid UTF-8 without NUL) is kept in *err and later writes do nothing. */
typedef struct {
    bk_grp_buf_t *b;
    int err;
} bk_gkw_t;

void bk_gkw_i16(bk_gkw_t *w, int16_t v);
void bk_gkw_i32(bk_gkw_t *w, int32_t v);
void bk_gkw_i64(bk_gkw_t *w, int64_t v);
/* STRING (int16 length); NULL writes the null string (-1), for NULLABLE_STRING fields. */
void bk_gkw_str(bk_gkw_t *w, const char *s);
/* BYTES (int32 length); NULL writes null (-1). */
void bk_gkw_bytes(bk_gkw_t *w, const uint8_t *p, size_t len);

/* Reader over [p, end). err: 0, BK_ECORRUPT or UV_ENOMEM (first failure). */
typedef struct {
    const uint8_t *p, *end;
    int err;
} bk_gkr_t;

int16_t bk_gkr_i16(bk_gkr_t *r);
int32_t bk_gkr_i32(bk_gkr_t *r);
int64_t bk_gkr_i64(bk_gkr_t *r);
/* A string as a new C string (caller frees), NULL for null when nullable, else corrupt.
 * Refuses invalid UTF-8 and NUL bytes. */
char *bk_gkr_str(bk_gkr_t *r, int nullable);
/* Bytes copied to *out (malloc'd, NULL for null or empty), length to *len; *is_null set. */
void bk_gkr_bytes(bk_gkr_t *r, uint8_t **out, size_t *len, int *is_null);
/* An array count: corrupt when negative (or -1 unless nullable: then 0) or when even
 * min_item bytes per item cannot fit in what is left. */
int32_t bk_gkr_count(bk_gkr_t *r, size_t min_item);

/* 1 when p[0..len) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF) without NUL. */
int bk_kb_text_ok(const uint8_t *p, size_t len);

#endif
