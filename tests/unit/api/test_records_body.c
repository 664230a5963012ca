/* REST Proxy produce bodies: JSON and binary modes, headers, partitions, and every error with
 * its status and REST Proxy error code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/records_body.h"
#include "check.h"

static bk_records_body_t b;

static int parse(bk_rb_mode_t mode, const char *s)
{
    return bk_records_body_parse(&b, mode, (const uint8_t *)s, strlen(s));
}

static int bytes_eq(size_t off, int32_t len, const char *want)
{
    return len == (int32_t)strlen(want) && memcmp(b.arena.data + off, want, (size_t)len) == 0;
}

static void json_mode(void)
{
    CHECK_EQ_INT(parse(BK_RB_JSON, "{\"records\":[{\"value\":{\"a\":[1,\"x\"]}},"
                                   "{\"key\":\"k\",\"value\":\"s\",\"partition\":2},"
                                   "{\"value\":null,\"key\":null},{\"value\":7.5}]}"),
                 0);
    CHECK_EQ_INT(b.count, 4);
    CHECK(bytes_eq(b.records[0].value_off, b.records[0].value_len, "{\"a\":[1,\"x\"]}"));
    CHECK_EQ_INT(b.records[0].key_len, -1);
    CHECK(bytes_eq(b.records[1].key_off, b.records[1].key_len, "\"k\""));
    CHECK(bytes_eq(b.records[1].value_off, b.records[1].value_len, "\"s\""));
    CHECK_EQ_INT(b.records[1].partition, 2);
    CHECK_EQ_INT(b.records[2].value_len, -1);
    CHECK(bytes_eq(b.records[3].value_off, b.records[3].value_len, "7.5"));
}

static void binary_mode_and_headers(void)
{
    CHECK_EQ_INT(parse(BK_RB_BINARY, "{\"records\":[{\"key\":\"a2V5\",\"value\":\"dmFsdWU=\","
                                     "\"headers\":[{\"key\":\"h1\",\"value\":\"djE=\"},"
                                     "{\"name\":\"h2\",\"value\":null}]}],\"value_schema\":\"x\"}"),
                 0);
    CHECK_EQ_INT(b.count, 1);
    CHECK(bytes_eq(b.records[0].key_off, b.records[0].key_len, "key"));
    CHECK(bytes_eq(b.records[0].value_off, b.records[0].value_len, "value"));
    CHECK_EQ_INT(b.records[0].header_count, 2);
    CHECK_EQ_INT(b.header_count, 2);
    CHECK(b.headers[0].key_len == 2 && memcmp(b.arena.data + b.headers[0].key_off, "h1", 2) == 0);
    CHECK(bytes_eq(b.headers[0].value_off, b.headers[0].value_len, "v1"));
    CHECK_EQ_INT(b.headers[1].value_len, -1);
}

static void errors(void)
{
    CHECK_EQ_INT(parse(BK_RB_JSON, "{\"records\":[]}"), 422);
    CHECK_EQ_INT(parse(BK_RB_JSON, "{}"), 422);
    CHECK_EQ_INT(parse(BK_RB_JSON, "{\"records\":{}}"), 422);
    CHECK_EQ_INT(parse(BK_RB_JSON, "{\"records\":[1]}"), 422);
    CHECK_EQ_INT(parse(BK_RB_JSON, "[]"), 422);
    CHECK_EQ_INT(parse(BK_RB_JSON, "{\"records\":[{\"value\":1}"), 400);
    CHECK_EQ_INT(b.error_code, 40001);
    CHECK_EQ_INT(parse(BK_RB_BINARY, "{\"records\":[{\"value\":\"not base64!\"}]}"), 422);
    CHECK_EQ_INT(b.error_code, 42202);
    CHECK_EQ_INT(parse(BK_RB_BINARY, "{\"records\":[{\"key\":5,\"value\":\"\"}]}"), 422);
    CHECK_EQ_INT(b.error_code, 42201);
    CHECK_EQ_INT(parse(BK_RB_BINARY, "{\"records\":[{\"value\":{\"a\":1}}]}"), 422);
    CHECK_EQ_INT(b.error_code, 42202);
    CHECK_EQ_INT(parse(BK_RB_JSON, "{\"records\":[{\"value\":1,\"partition\":-1}]}"), 422);
    CHECK_EQ_INT(b.error_code, 42206);
    CHECK_EQ_INT(parse(BK_RB_JSON, "{\"records\":[{\"value\":1,\"partition\":\"0\"}]}"), 422);
    CHECK_EQ_INT(parse(BK_RB_JSON, "{\"records\":[{\"value\":1,\"headers\":[{\"key\":1}]}]}"), 422);
    CHECK_EQ_INT(parse(BK_RB_JSON, "{\"records\":[{\"value\":1,\"headers\":[\"x\"]}]}"), 422);
    CHECK_EQ_INT(b.error_code, 42206);
}

static void depth_limit_and_reuse(void)
{
    char s[512] = "{\"records\":[{\"value\":";
    size_t len = strlen(s);
    for (int i = 0; i < 100; i++)
        s[len++] = '[';
    s[len] = 0;
    CHECK_EQ_INT(bk_records_body_parse(&b, BK_RB_JSON, (const uint8_t *)s, len), 400);
    CHECK(strstr(b.error, "nested") != NULL);
    CHECK_EQ_INT(parse(BK_RB_JSON, "{\"records\":[{\"value\":\"again\"}]}"), 0);
    CHECK_EQ_INT(b.count, 1);
    bk_records_body_free(&b);
}

/* Issue 8: a NUL cuts a C string short, and a lone surrogate is no character. */
static void nul_surrogates_and_utf8(void)
{
    CHECK_EQ_INT(parse(BK_RB_BINARY, "{\"records\":[{\"value\":\"\",\"headers\":"
                                     "[{\"key\":\"trace\\u0000id\",\"value\":null}]}]}"),
                 422);
    CHECK_EQ_INT(b.error_code, 42206);
    CHECK(strstr(b.error, "NUL") != NULL);
    CHECK_EQ_INT(parse(BK_RB_BINARY, "{\"records\":[{\"value\":\"\",\"headers\":"
                                     "[{\"key\":\"\\udc00bad\",\"value\":null}]}]}"),
                 422);
    CHECK_EQ_INT(b.error_code, 42200);
    CHECK(strstr(b.error, "surrogate") != NULL);
    CHECK_EQ_INT(parse(BK_RB_JSON, "{\"records\":[{\"value\":{\"\\ud800\":1}}]}"), 422);
    CHECK_EQ_INT(parse(BK_RB_JSON, "{\"records\":[{\"value\":\"\xc0\x80\"}]}"), 422);
    CHECK(strstr(b.error, "UTF-8") != NULL);
    /* allowed: NUL inside values, paired surrogates */
    CHECK_EQ_INT(parse(BK_RB_JSON, "{\"records\":[{\"value\":\"a\\u0000b \\ud83d\\ude00\"}]}"), 0);
}

static void partition_range(void)
{
    CHECK_EQ_INT(parse(BK_RB_JSON, "{\"records\":[{\"value\":1,\"partition\":2147483647}]}"), 0);
    CHECK_EQ_INT(parse(BK_RB_JSON, "{\"records\":[{\"value\":1,\"partition\":2147483648}]}"), 422);
    CHECK_EQ_INT(b.error_code, 42206);
    CHECK(strstr(b.error, "from 0 to 2147483647") != NULL);
    CHECK_EQ_INT(parse(BK_RB_JSON, "{\"records\":[{\"value\":1,\"partition\":"
                                   "99999999999999999999999}]}"),
                 422);
}

/* A body of many tiny records: refused once the count passes the cap, not after decoding. */
static void record_and_header_caps(void)
{
    size_t n = BK_RB_MAX_RECORDS + 1, len = 0;
    char *s = malloc(n * 3 + 64);
    len += (size_t)sprintf(s, "{\"records\":[");
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(s + len, i + 1 < n ? "{}," : "{}");
    len += (size_t)sprintf(s + len, "]}");
    CHECK_EQ_INT(bk_records_body_parse(&b, BK_RB_JSON, (const uint8_t *)s, len), 413);
    CHECK_EQ_INT(b.count, BK_RB_MAX_RECORDS);
    CHECK(strstr(b.error, "100000") != NULL);
    /* exactly the cap is fine */
    memcpy(s + len - 5, "]}", 3);
    CHECK_EQ_INT(bk_records_body_parse(&b, BK_RB_JSON, (const uint8_t *)s, len - 3), 0);
    CHECK_EQ_INT(b.count, BK_RB_MAX_RECORDS);
    len = (size_t)sprintf(s, "{\"records\":[{\"headers\":[");
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(s + len, i + 1 < n ? "{}," : "{}");
    len += (size_t)sprintf(s + len, "]}]}");
    CHECK_EQ_INT(bk_records_body_parse(&b, BK_RB_JSON, (const uint8_t *)s, len), 413);
    CHECK(strstr(b.error, "headers") != NULL);
    /* the grown arrays are given back, and the body still works afterwards */
    CHECK_EQ_INT(bk_records_body_trim(&b), 1);
    CHECK(b.records == NULL && b.headers == NULL && b.count == 0);
    CHECK_EQ_INT(bk_records_body_trim(&b), 0);
    CHECK_EQ_INT(parse(BK_RB_JSON, "{\"records\":[{\"value\":\"small\"}]}"), 0);
    CHECK_EQ_INT(b.count, 1);
    CHECK_EQ_INT(bk_records_body_trim(&b), 0); /* small buffers are kept */
    CHECK(b.records != NULL);
    free(s);
    bk_records_body_free(&b);
}

CHECK_MAIN(CASE(json_mode), CASE(binary_mode_and_headers), CASE(errors),
           CASE(depth_limit_and_reuse), CASE(nul_surrogates_and_utf8), CASE(partition_range),
           CASE(record_and_header_caps))
