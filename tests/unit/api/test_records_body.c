/* REST Proxy produce bodies: JSON and binary modes, headers, partitions, and every error with
 * its status and REST Proxy error code. */
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

CHECK_MAIN(CASE(json_mode), CASE(binary_mode_and_headers), CASE(errors),
           CASE(depth_limit_and_reuse))
