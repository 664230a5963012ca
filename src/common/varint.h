/* Zigzag varints as Kafka's record format uses them: "varint" is a zigzag-encoded int32 in at
 * most 5 bytes, "varlong" a zigzag-encoded int64 in at most 10 bytes (protobuf's base-128
 * groups, least significant first). Every function checks its bounds: decoders never read
 * past end and reject over-long or overflowing encodings; encoders never write past end. */
#ifndef BROOK_COMMON_VARINT_H
#define BROOK_COMMON_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define BK_VARINT_MAX32 5
#define BK_VARINT_MAX64 10

/* Encoded size in bytes of v. */
size_t bk_varint_size32(int32_t v);
size_t bk_varint_size64(int64_t v);

/* Writes v at dst (not past end). Returns the number of bytes written, or UV_ENOBUFS with
 * nothing written when it does not fit. */
int bk_varint_put32(uint8_t *dst, const uint8_t *end, int32_t v);
int bk_varint_put64(uint8_t *dst, const uint8_t *end, int64_t v);

/* Reads one value from src (not past end) into *out. Returns the number of bytes consumed, or
 * BK_ECORRUPT for truncated input, more than 5 (10) bytes, or a value that overflows. */
int bk_varint_get32(const uint8_t *src, const uint8_t *end, int32_t *out);
int bk_varint_get64(const uint8_t *src, const uint8_t *end, int64_t *out);

#endif
