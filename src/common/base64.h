/* Standard base64 (RFC 4648, with padding) for binary keys and values in JSON. Pure. */
#ifndef BROOK_COMMON_BASE64_H
#define BROOK_COMMON_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Bytes needed to encode len bytes (no NUL). */
size_t bk_base64_encoded_len(size_t len);
/* Encodes into out (bk_base64_encoded_len(len) bytes); returns bytes written. */
size_t bk_base64_encode(const uint8_t *in, size_t len, char *out);
/* Decodes; returns bytes written to out (room for len*3/4 bytes) or -1 on invalid input. */
long bk_base64_decode(const char *in, size_t len, uint8_t *out);

#endif
