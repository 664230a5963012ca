/* The response generator's UTF-8 guarantee, the checks request bodies share (UTF-8, surrogate
 * escapes, integers) and Content-Type media types. */
#include <stdint.h>
#include <string.h>
#include <uv.h>

#include "brook/common.h"
#include "check.h"
#include "http/json.h"
#include "http/media_type.h"

/* The document holding one string written with bk_json_strn. */
static const char *one_string(const char *s, size_t len)
{
    static char out[256];
    bk_json_t *j = bk_json_begin();
    bk_json_arr(j);
    bk_json_strn(j, s, len);
    bk_json_arr_end(j);
    size_t n;
    const char *text = bk_json_text(j, &n);
    snprintf(out, sizeof out, "%.*s", (int)n, text);
    return out;
}

static void writer_replaces_invalid_utf8(void)
{
    CHECK_EQ_STR(one_string("ok \xc3\xa9", 5), "[\"ok \xc3\xa9\"]");
    CHECK_EQ_STR(one_string("text/\xff", 6), "[\"text/\xef\xbf\xbd\"]");
    /* an encoded lone surrogate (what yajl makes of "\udc00") and an overlong NUL */
    CHECK_EQ_STR(one_string("\xed\xb0\x80"
                            "bad",
                            6),
                 "[\"\xef\xbf\xbd"
                 "bad\"]");
    CHECK_EQ_STR(one_string("a\xc0\x80z", 4), "[\"a\xef\xbf\xbdz\"]");
    CHECK_EQ_STR(one_string("cut \xe2\x82", 6), "[\"cut \xef\xbf\xbd\"]"); /* truncated */
    CHECK_EQ_STR(one_string("n\0ul", 4), "[\"n\\u0000ul\"]");
    bk_json_t *j = bk_json_begin(); /* keys too */
    bk_json_obj(j);
    bk_json_str(j, "k\xfe"); /* a client-supplied name in key position */
    bk_json_int(j, 1);
    bk_json_obj_end(j);
    size_t n;
    const char *text = bk_json_text(j, &n);
    CHECK(n == 10 && memcmp(text, "{\"k\xef\xbf\xbd\":1}", n) == 0);
    CHECK(bk_utf8_valid((const uint8_t *)text, n));
}

static void big_documents_are_not_kept(void)
{
    bk_json_t *j = bk_json_begin();
    static char big[4096];
    memset(big, 'x', sizeof big);
    bk_json_arr(j);
    for (int i = 0; i < 400; i++) /* 1.6 MB */
        bk_json_strn(j, big, sizeof big);
    bk_json_arr_end(j);
    size_t n;
    bk_json_text(j, &n);
    CHECK(n > BK_JSON_KEEP_BYTES);
    bk_json_trim();
    j = bk_json_begin(); /* a fresh generator works as before */
    bk_json_str(j, "after");
    const char *text = bk_json_text(j, &n);
    CHECK(n == 7 && memcmp(text, "\"after\"", 7) == 0);
    bk_json_shutdown();
}

static int text_check(const char *s, size_t *at)
{
    return bk_json_text_check((const uint8_t *)s, strlen(s), at);
}

static void text_check_finds_lone_surrogates(void)
{
    size_t at = 99;
    CHECK_EQ_INT(text_check("{\"k\":\"\\ud83d\\ude00 and \\u00e9\"}", &at), BK_JSON_TEXT_OK);
    CHECK_EQ_INT(text_check("{\"k\":\"\\\\udc00\"}", &at), BK_JSON_TEXT_OK); /* "\\" then "udc00" */
    CHECK_EQ_INT(text_check("{\"k\":\"\\udc00bad\"}", &at), BK_JSON_LONE_SURROGATE);
    CHECK_EQ_INT(at, 6);
    CHECK_EQ_INT(text_check("[\"\\uD800\"]", &at), BK_JSON_LONE_SURROGATE);
    CHECK_EQ_INT(at, 2);
    CHECK_EQ_INT(text_check("[\"\\ud800x\\udc00\"]", &at), BK_JSON_LONE_SURROGATE);
    CHECK_EQ_INT(text_check("[\"\\ud800\\u0041\"]", &at), BK_JSON_LONE_SURROGATE);
    CHECK_EQ_INT(text_check("[\"\\ud800\\ud800\"]", &at), BK_JSON_LONE_SURROGATE);
    CHECK_EQ_INT(text_check("[\"\\\\\\udbff\\udfff\"]", &at), BK_JSON_TEXT_OK);
    CHECK_EQ_INT(text_check("[\"\\u0000\"]", &at), BK_JSON_TEXT_OK);     /* NUL is a character */
    CHECK_EQ_INT(text_check("[\"\\ud800", &at), BK_JSON_LONE_SURROGATE); /* cut short */
    CHECK_EQ_INT(text_check("[\"\\u", &at), BK_JSON_TEXT_OK);
    CHECK_EQ_INT(text_check("[\"ok\xed\xa0\x80\"]", &at), BK_JSON_BAD_UTF8);
    CHECK_EQ_INT(at, 4);
    CHECK_EQ_INT(text_check("[\"\xf4\x90\x80\x80\"]", &at), BK_JSON_BAD_UTF8); /* > U+10FFFF */
    char msg[160];
    bk_json_text_problem(BK_JSON_LONE_SURROGATE, 6, msg, sizeof msg);
    CHECK(strstr(msg, "byte 6") && strstr(msg, "surrogate"));
}

/* What follows the top-level value (bk_json_after_value): JSON whitespace only. */
static void after_value_is_whitespace_only(void)
{
    size_t at = 0;
#define AV(s, end) bk_json_after_value((const uint8_t *)(s), end, strlen(s), &at)
    CHECK_EQ_INT(AV("{\"m\":1}", 7), BK_JSON_TEXT_OK);
    CHECK_EQ_INT(AV("{\"m\":1} \t\r\n", 7), BK_JSON_TEXT_OK);
    CHECK_EQ_INT(AV("{\"m\":1} \"abc", 7), BK_JSON_MALFORMED);
    CHECK_EQ_INT(at, 8);
    CHECK_EQ_INT(AV("{\"m\":1}\v", 7), BK_JSON_MALFORMED);
    CHECK_EQ_INT(at, 7);
    CHECK_EQ_INT(AV("\"scalar\" x", 0), BK_JSON_TEXT_OK); /* no container closed: not judged */
#undef AV
    char msg[160];
    bk_json_text_problem(BK_JSON_MALFORMED, 8, msg, sizeof msg);
    CHECK(strstr(msg, "byte 8") && strstr(msg, "trailing"));
}

static void parse_int_ranges(void)
{
    int64_t v = 0;
#define P(s, lo, hi) bk_parse_int(s, strlen(s), lo, hi, &v)
    CHECK_EQ_INT(P("5000", -1, INT64_MAX), 0);
    CHECK_EQ_INT(v, 5000);
    CHECK_EQ_INT(P("-1", -1, INT64_MAX), 0);
    CHECK_EQ_INT(v, -1);
    CHECK_EQ_INT(P("9223372036854775807", 0, INT64_MAX), 0);
    CHECK_EQ_INT(v, INT64_MAX);
    CHECK_EQ_INT(P("-9223372036854775808", INT64_MIN, 0), 0);
    CHECK(v == INT64_MIN);
    CHECK_EQ_INT(P("9223372036854775808", 0, INT64_MAX), UV_ERANGE);
    CHECK_EQ_INT(P("99999999999999999999", -1, INT64_MAX), UV_ERANGE);
    CHECK_EQ_INT(P("184467440737095516160", 0, INT64_MAX), UV_ERANGE);
    CHECK_EQ_INT(P("-2", -1, 10), UV_ERANGE);
    CHECK_EQ_INT(P("11", -1, 10), UV_ERANGE);
    CHECK_EQ_INT(P("", 0, 10), BK_EINVAL);
    CHECK_EQ_INT(P("-", 0, 10), BK_EINVAL);
    CHECK_EQ_INT(P("+5", 0, 10), BK_EINVAL);
    CHECK_EQ_INT(P(" 5", 0, 10), BK_EINVAL);
    CHECK_EQ_INT(P("5x", 0, 10), BK_EINVAL);
    CHECK_EQ_INT(P("1.5", 0, 10), BK_EINVAL);
    CHECK_EQ_INT(bk_parse_int("12", 1, 0, 10, &v), 0); /* only len bytes are read */
    CHECK_EQ_INT(v, 1);
#undef P
}

static void media_types(void)
{
#define IS(ct, t) bk_media_type_is(ct, strlen(ct), t)
#define JSON(ct) bk_media_type_is_json(ct, strlen(ct))
    const char *k = "application/vnd.kafka.json.v2+json";
    CHECK(IS("application/vnd.kafka.json.v2+json", k));
    CHECK(IS("Application/VND.kafka.json.v2+JSON", k));
    CHECK(IS("application/vnd.kafka.json.v2+json; charset=utf-8", k));
    CHECK(IS("application/vnd.kafka.json.v2+json\t; charset=utf-8", k));
    CHECK(IS("application/vnd.kafka.json.v2+json \t;\tcharset=utf-8", k));
    CHECK(IS("application/vnd.kafka.json.v2+json ", k));
    CHECK(!IS("application/vnd.kafka.json.v2+json x", k));
    CHECK(!IS("application/vnd.kafka.json.v2+jsonx", k));
    CHECK(!IS("", k));
    CHECK(!bk_media_type_is(NULL, 0, k));
    CHECK(JSON("application/json"));
    CHECK(JSON("application/json\t;charset=utf-8"));
    CHECK(JSON("application/problem+json"));
    CHECK(!JSON("application/+json"));
    CHECK(!JSON("text/json"));
    CHECK(!JSON("text/\xff"));
    CHECK(!JSON("application/json, text/plain"));
#undef IS
#undef JSON
}

CHECK_MAIN(CASE(writer_replaces_invalid_utf8), CASE(big_documents_are_not_kept),
           CASE(text_check_finds_lone_surrogates), CASE(after_value_is_whitespace_only),
           CASE(parse_int_ranges), CASE(media_types))
