/* Content-Type values: the media type (type "/" subtype) apart from its parameters, as RFC 9110
 * section 8.3.1 defines them, so every route that checks a request's Content-Type accepts the
 * same spellings. Pure; never allocates. */
#ifndef BROOK_HTTP_MEDIA_TYPE_H
#define BROOK_HTTP_MEDIA_TYPE_H

#include <stddef.h>

/* The media type of a Content-Type value: ct[0 .. *type_len), leading whitespace skipped.
 * Parameters (";" name=value), with optional SP or HTAB around each ";", are ignored. Returns
 * NULL when ct is NULL or the value has no type/subtype followed only by parameters. */
const char *bk_media_type(const char *ct, size_t len, size_t *type_len);

/* 1 when the media type of ct equals type (ASCII case-insensitive), else 0. */
int bk_media_type_is(const char *ct, size_t len, const char *type);

/* 1 for JSON: application/json or any application/...+json type. */
int bk_media_type_is_json(const char *ct, size_t len);

#endif
