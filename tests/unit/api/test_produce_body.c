/* The seed produce body decoder: accepted shapes, every error with its status, the depth
 * limit, and reuse of one decoder across many bodies. */
#include <stdlib.h>
#include <string.h>

#include "api/produce_body.h"
#include "http/json.h"
#include "check.h"

static bk_produce_body_t b;

static int parse(const char *s)
{
    return bk_produce_body_parse(&b, (const uint8_t *)s, strlen(s));
}

static void string_message(void)
{
    CHECK_EQ_INT(parse("{\"message\": \"hi \\u00e9\\n\", \"topic\": \"orders\"}"), 0);
    CHECK_EQ_INT(b.message.len, 6);
    CHECK(memcmp(b.message.data, "hi \xc3\xa9\n", 6) == 0);
    CHECK(!b.message_is_json);
    CHECK(b.has_topic);
    CHECK(b.topic.len == 6 && memcmp(b.topic.data, "orders", 6) == 0);
    CHECK(!b.has_key);
    CHECK_EQ_INT(b.partition, -1);
}

static void json_message(void)
{
    CHECK_EQ_INT(parse("{\"topic\":\"t\",\"message\": {\"a\": [1, 2.5, null, true, \"x\"]}}"), 0);
    CHECK(b.message_is_json);
    CHECK(b.message.len == strlen("{\"a\":[1,2.5,null,true,\"x\"]}"));
    CHECK(memcmp(b.message.data, "{\"a\":[1,2.5,null,true,\"x\"]}", b.message.len) == 0);
    CHECK_EQ_INT(parse("{\"message\": 42}"), 0);
    CHECK(b.message_is_json && b.message.len == 2 && memcmp(b.message.data, "42", 2) == 0);
    CHECK(!b.has_topic);
}

static void key_and_partition(void)
{
    CHECK_EQ_INT(parse("{\"message\":\"m\",\"key\":\"k1\",\"partition\":3,\"extra\":{\"x\":1}}"),
                 0);
    CHECK(b.has_key && b.key.len == 2);
    CHECK_EQ_INT(b.partition, 3);
    CHECK_EQ_INT(parse("{\"message\":\"m\",\"key\":null,\"partition\":null}"), 0);
    CHECK(!b.has_key);
    CHECK_EQ_INT(b.partition, -1);
}

static void errors(void)
{
    CHECK_EQ_INT(parse(""), 400);
    CHECK_EQ_INT(parse("{\"message\":"), 400);
    CHECK_EQ_INT(parse("{\"message\":\"x\"} trailing"), 400);
    CHECK_EQ_INT(parse("[1,2]"), 422);
    CHECK_EQ_INT(parse("\"just a string\""), 422);
    CHECK_EQ_INT(parse("{\"topic\":\"t\"}"), 422);
    CHECK(strstr(b.error, "message") != NULL);
    CHECK_EQ_INT(parse("{\"message\":\"m\",\"topic\":5}"), 422);
    CHECK_EQ_INT(parse("{\"message\":\"m\",\"topic\":{\"a\":1}}"), 422);
    CHECK_EQ_INT(parse("{\"message\":\"m\",\"partition\":-1}"), 422);
    CHECK_EQ_INT(parse("{\"message\":\"m\",\"partition\":1.5}"), 422);
    CHECK_EQ_INT(parse("{\"message\":\"m\",\"key\":7}"), 422);
}

static void depth_limit(void)
{
    size_t n = 100000;
    char *s = malloc(n * 2 + 32);
    strcpy(s, "{\"message\":");
    size_t len = strlen(s);
    for (size_t i = 0; i < n; i++)
        s[len++] = '[';
    for (size_t i = 0; i < n; i++)
        s[len++] = ']';
    s[len++] = '}';
    CHECK_EQ_INT(bk_produce_body_parse(&b, (const uint8_t *)s, len), 400);
    CHECK(strstr(b.error, "nested") != NULL);
    free(s);
    /* Just under the limit is fine. */
    char ok[256] = "{\"message\":";
    len = strlen(ok);
    for (int i = 0; i < BK_JSON_MAX_DEPTH - 1; i++)
        ok[len++] = '[';
    for (int i = 0; i < BK_JSON_MAX_DEPTH - 1; i++)
        ok[len++] = ']';
    ok[len++] = '}';
    CHECK_EQ_INT(bk_produce_body_parse(&b, (const uint8_t *)ok, len), 0);
}

/* Issue 8: NUL in the topic, lone surrogates, out-of-range partitions. */
static void input_hardening(void)
{
    CHECK_EQ_INT(parse("{\"message\":\"m\",\"topic\":\"orders\\u0000../../etc\"}"), 422);
    CHECK_EQ_INT(b.error_code, 42208);
    CHECK(strstr(b.error, "NUL") != NULL);
    CHECK_EQ_INT(parse("{\"message\":\"\\udc00bad\",\"topic\":\"t\"}"), 422);
    CHECK(strstr(b.error, "surrogate") != NULL);
    CHECK_EQ_INT(parse("{\"message\":{\"\\ud800\":1},\"topic\":\"t\"}"), 422);
    CHECK_EQ_INT(parse("{\"message\":\"\xed\xa0\x80\"}"), 422);
    CHECK_EQ_INT(parse("{\"message\":\"m\",\"partition\":2147483648}"), 422);
    CHECK(strstr(b.error, "from 0 to 2147483647") != NULL);
    CHECK_EQ_INT(parse("{\"message\":\"m\",\"partition\":99999999999999999999999999}"), 422);
    /* still fine: NUL in a message or key (bytes), a surrogate pair */
    CHECK_EQ_INT(parse("{\"message\":\"a\\u0000b\",\"key\":\"k\\u0000\"}"), 0);
    CHECK_EQ_INT(b.message.len, 3);
    CHECK_EQ_INT(b.key.len, 2);
    CHECK_EQ_INT(b.error_code, 0);
    CHECK_EQ_INT(parse("{\"message\":\"\\ud83d\\ude00\"}"), 0);
    CHECK_EQ_INT(b.message.len, 4);
}

static void trim_after_big_message(void)
{
    size_t n = 2u << 20;
    char *s = malloc(n + 32);
    memcpy(s, "{\"message\":\"", 12);
    memset(s + 12, 'x', n);
    memcpy(s + 12 + n, "\"}", 3);
    CHECK_EQ_INT(parse(s), 0);
    CHECK(b.message.cap > BK_JSON_KEEP_BYTES);
    bk_produce_body_trim(&b);
    CHECK(b.message.cap == 0);
    CHECK_EQ_INT(parse("{\"message\":\"small\"}"), 0);
    bk_produce_body_trim(&b);
    CHECK(b.message.cap > 0); /* small buffers are kept */
    free(s);
}

static void teardown(void)
{
    bk_produce_body_free(&b);
}

CHECK_MAIN(CASE(string_message), CASE(json_message), CASE(key_and_partition), CASE(errors),
           CASE(depth_limit), CASE(input_hardening), CASE(trim_after_big_message), CASE(teardown))
