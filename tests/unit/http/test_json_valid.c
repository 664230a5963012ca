/* bk_json_valid against the check it replaces (bk_json_text_check, then a full yajl parse with
 * strings validated, less the two slips of yajl's that it fixes): a table of JSON and not-JSON
 * values with the expected verdict, each also asked of yajl; the slips; nesting at and past the
 * validator's depth; and mutations of valid documents (bytes changed, cut, inserted), where
 * the two must never disagree. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "brook/common.h"
#include "check.h"
#include "http/json.h"

/* yajl's verdict (strings validated), on the text alone or inside "[ ]". */
static int yajl_parses(const uint8_t *p, size_t len, int wrap)
{
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    if (!h)
        return -1;
    yajl_config(h, yajl_dont_validate_strings, 0);
    int ok = (!wrap || yajl_parse(h, (const unsigned char *)"[", 1) == yajl_status_ok) &&
             yajl_parse(h, p, len) == yajl_status_ok &&
             (!wrap || yajl_parse(h, (const unsigned char *)"]", 1) == yajl_status_ok) &&
             yajl_complete_parse(h) == yajl_status_ok;
    yajl_free(h);
    return ok;
}

/* The verdict of the old is_json (Brook's text check, then yajl) without yajl's two slips,
 * which put text that is not JSON into an answer: an unterminated string after a complete
 * value ("{} \"abc") passes yajl alone but fails inside "[ ]" (and wrapping refuses nothing
 * that is one JSON value); \v and \f pass as whitespace, and since yajl refuses them inside
 * strings (control characters), a text it passes holds them only as whitespace. */
static int yajl_verdict(const uint8_t *p, size_t len)
{
    size_t at;
    if (bk_json_text_check(p, len, &at) != BK_JSON_TEXT_OK || memchr(p, '\v', len) ||
        memchr(p, '\f', len))
        return 0;
    return yajl_parses(p, len, 0) && yajl_parses(p, len, 1);
}

static int agree(const uint8_t *p, size_t len)
{
    int mine = bk_json_valid(p, len), theirs = yajl_verdict(p, len);
    if (mine != theirs) {
        fprintf(stderr, "  disagree on %zu bytes (mine %d, yajl %d): \"", len, mine, theirs);
        for (size_t i = 0; i < len && i < 200; i++)
            fprintf(stderr, p[i] >= 0x20 && p[i] < 0x7f ? "%c" : "\\x%02x", p[i]);
        fprintf(stderr, "\"\n");
    }
    return mine == theirs;
}

typedef struct {
    const char *text;
    size_t len; /* 0: strlen */
    int valid;
} json_case_t;

static const json_case_t cases[] = {
    /* scalars at the top level */
    {"0", 0, 1},
    {"-0", 0, 1},
    {"123", 0, 1},
    {"-123.456e+78", 0, 1},
    {"1E5", 0, 1},
    {"1e-0", 0, 1},
    {"0.0", 0, 1},
    {"123456789012345678901234567890", 0, 1}, /* no overflow check without callbacks */
    {"1e99999", 0, 1},
    {"true", 0, 1},
    {"false", 0, 1},
    {"null", 0, 1},
    {"\"\"", 0, 1},
    {"\"plain\"", 0, 1},
    {" \t\r\n 7 \n", 0, 1},
    {"\v1", 0, 0}, /* yajl's whitespace includes \v and \f; JSON's does not */
    {"[1,\f2]", 0, 0},
    /* numbers that are not */
    {"01", 0, 0},
    {"-", 0, 0},
    {"--1", 0, 0},
    {"+1", 0, 0},
    {"1.", 0, 0},
    {".5", 0, 0},
    {"1.e5", 0, 0},
    {"1e", 0, 0},
    {"1e+", 0, 0},
    {"0x10", 0, 0},
    {"1 2", 0, 0},
    {"NaN", 0, 0},
    {"Infinity", 0, 0},
    {"-Infinity", 0, 0},
    {"1x", 0, 0},
    /* literals that are not */
    {"tru", 0, 0},
    {"truex", 0, 0},
    {"True", 0, 0},
    {"nul", 0, 0},
    {"null null", 0, 0},
    /* strings */
    {"\"esc \\\" \\\\ \\/ \\b \\f \\n \\r \\t\"", 0, 1},
    {"\"\\u0041\\u00e9\\uD83D\\uDE00\"", 0, 1},
    {"\"\\uD83D\"", 0, 0},  /* lone high surrogate: Brook refuses it */
    {"\"\\uDE00x\"", 0, 0}, /* lone low surrogate */
    {"\"\\u12\"", 0, 0},
    {"\"\\u12G4\"", 0, 0},
    {"\"\\x41\"", 0, 0},
    {"\"\\a\"", 0, 0},
    {"\"\\'\"", 0, 0},
    {"\"tab\there\"", 0, 0},
    {"\"nl\nhere\"", 0, 0},
    {"\"del\x7f ok\"", 0, 1},
    {"\"unterminated", 0, 0},
    {"\"ends in backslash\\", 0, 0},
    {"\"nul\0inside\"", 12, 0},
    {"'single'", 0, 0},
    /* UTF-8 */
    {"\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", 0, 1},
    {"{\"\xc3\xa9\":\"\xe4\xb8\xad\"}", 0, 1},
    {"\"\xc3\"", 0, 0},             /* truncated */
    {"\"\xc0\xaf\"", 0, 0},         /* overlong */
    {"\"\xed\xa0\x80\"", 0, 0},     /* encoded surrogate */
    {"\"\xf4\x90\x80\x80\"", 0, 0}, /* above U+10FFFF */
    {"\"\xff\"", 0, 0},
    {"\xc3\xa9", 0, 0},       /* outside a string */
    {"\xef\xbb\xbf{}", 0, 0}, /* a byte order mark */
    /* arrays and objects */
    {"[]", 0, 1},
    {"{}", 0, 1},
    {"[1,2,3]", 0, 1},
    {" [ 1 , [ ] , { } , \"x\" ] ", 0, 1},
    {"{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}", 0, 1},
    {"{\"a\":1,\"a\":2}", 0, 1}, /* duplicate keys pass */
    {"[1,]", 0, 0},
    {"[,1]", 0, 0},
    {"[1 2]", 0, 0},
    {"[", 0, 0},
    {"]", 0, 0},
    {"[}", 0, 0},
    {"{]", 0, 0},
    {"{\"a\":1,}", 0, 0},
    {"{,}", 0, 0},
    {"{\"a\"}", 0, 0},
    {"{\"a\":}", 0, 0},
    {"{\"a\" 1}", 0, 0},
    {"{a:1}", 0, 0},
    {"{1:1}", 0, 0},
    {"{\"a\"::1}", 0, 0},
    {"[1]]", 0, 0},
    {"{}}", 0, 0},
    {"[1] [2]", 0, 0},
    {"{} x", 0, 0},
    {"[1,2", 0, 0},
    {"{\"a\":[1,{\"b\":2}]", 0, 0},
    /* not JSON at all */
    {" ", 0, 0},
    {"\t\n", 0, 0},
    {"/* c */ 1", 0, 0},
    {"1 // c", 0, 0},
    {"plain text", 0, 0},
    {"\0", 1, 0},
};

/* What yajl alone let through and is refused now: an unterminated string after the value,
 * \v and \f as whitespace. */
static void yajl_slips(void)
{
    static const char *const slips[] = {"{} \"abc", "3\"j", "[1]\"", "\"a\" \"b\\n", "true \"x"};
    for (size_t i = 0; i < sizeof slips / sizeof slips[0]; i++) {
        const uint8_t *p = (const uint8_t *)slips[i];
        size_t len = strlen(slips[i]);
        CHECK_EQ_INT(yajl_parses(p, len, 0), 1); /* the old check embedded these */
        CHECK_EQ_INT(bk_json_valid(p, len), 0);
    }
    /* A terminated one, or one that a space would break, fails yajl too. */
    CHECK_EQ_INT(yajl_parses((const uint8_t *)"{} \"abc\"", 8, 0), 0);
    CHECK_EQ_INT(yajl_parses((const uint8_t *)"{} \"ab\\", 7, 0), 0);
    CHECK_EQ_INT(yajl_parses((const uint8_t *)"\v[\f1]", 5, 0), 1);
    CHECK_EQ_INT(bk_json_valid((const uint8_t *)"\v[\f1]", 5), 0);
    CHECK_EQ_INT(yajl_parses((const uint8_t *)"\"\v\"", 3, 0), 0); /* never inside a string */
}

static void table(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const json_case_t *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->text);
        const uint8_t *p = (const uint8_t *)c->text;
        if (bk_json_valid(p, len) != c->valid)
            fprintf(stderr, "  case %zu \"%s\": expected %d\n", i, c->text, c->valid);
        CHECK_EQ_INT(bk_json_valid(p, len), c->valid);
        CHECK(agree(p, len));
    }
}

/* n levels of "[" or "{\"k\":" around a 1, closed again. */
static uint8_t *nested(size_t n, int objects, size_t *len)
{
    uint8_t *b = malloc(n * 5 + 2), *p = b;
    for (size_t i = 0; i < n; i++) {
        if (objects && i % 2) {
            memcpy(p, "{\"k\":", 5);
            p += 5;
        } else {
            *p++ = '[';
        }
    }
    *p++ = '1';
    for (size_t i = n; i-- > 0;)
        *p++ = objects && i % 2 ? '}' : ']';
    *len = (size_t)(p - b);
    return b;
}

static void deep_nesting(void)
{
    size_t len;
    for (int objects = 0; objects < 2; objects++) {
        uint8_t *b = nested(BK_JSON_VALID_DEPTH, objects, &len);
        CHECK_EQ_INT(bk_json_valid(b, len), 1);
        CHECK(agree(b, len));
        b[len - 1] = b[len - 1] == ']' ? '}' : ']'; /* the outermost closed wrongly */
        CHECK_EQ_INT(bk_json_valid(b, len), 0);
        CHECK(agree(b, len));
        CHECK_EQ_INT(bk_json_valid(b, len - 1), 0); /* one level left open */
        CHECK(agree(b, len - 1));
        free(b);
        /* One level more: yajl decides, with the same verdicts. */
        b = nested(BK_JSON_VALID_DEPTH + 1, objects, &len);
        CHECK_EQ_INT(bk_json_valid(b, len), 1);
        CHECK(agree(b, len));
        CHECK_EQ_INT(bk_json_valid(b, len - 1), 0);
        CHECK(agree(b, len - 1));
        b = realloc(b, len + 4);
        memcpy(b + len, " \"ab", 4);
        CHECK_EQ_INT(yajl_parses(b, len + 4, 0), 1);
        CHECK_EQ_INT(bk_json_valid(b, len + 4), 0);
        free(b);
    }
    /* Many levels opened and closed in turn never go deep. */
    size_t n = BK_JSON_VALID_DEPTH * 3;
    uint8_t *b = malloc(n * 3 + 2);
    b[0] = '[';
    len = 1;
    for (size_t i = 0; i < n; i++) {
        memcpy(b + len, i ? ",[]" : "[]", i ? 3 : 2);
        len += i ? 3 : 2;
    }
    b[len++] = ']';
    CHECK_EQ_INT(bk_json_valid(b, len), 1);
    free(b);
}

/* A small deterministic generator (xorshift). */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

/* Bytes a mutation picks from: JSON's own, whitespace, and a few that are not. */
static const char alphabet[] = "{}[]:,\"\\/0123456789+-.eEtrufalsn \t\n\r\v\fxu\x01\x7f\xc3\xa9\xe2"
                               "\x82\xac\xed\xa0\x80\xff";

static void mutations(void)
{
    static const char *const seeds[] = {
        "{\"a\":[1,-2.5e3,true,null,{\"b\":\"c\\n\\u00e9\"}],\"d\":false}",
        "[0,\"\\uD83D\\uDE00\",[[]],{},\"\xc3\xa9\"]",
        "\"just a string with \\\" escapes\"",
        "-0.125E-7",
        " { \"k\" : [ true , false ] } ",
    };
    uint8_t buf[128];
    long disagreements = 0, valid = 0, total = 0;
    for (int round = 0; round < 200000; round++) {
        const char *s = seeds[next_rand() % (sizeof seeds / sizeof seeds[0])];
        size_t len = strlen(s);
        memcpy(buf, s, len);
        int edits = 1 + (int)(next_rand() % 3);
        for (int e = 0; e < edits; e++) {
            size_t at = len ? next_rand() % len : 0;
            uint8_t c = (uint8_t)alphabet[next_rand() % (sizeof alphabet - 1)];
            switch (next_rand() % 4) {
            case 0: /* replace */
                if (len)
                    buf[at] = c;
                break;
            case 1: /* insert */
                if (len < sizeof buf - 1) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = c;
                    len++;
                }
                break;
            case 2: /* delete */
                if (len) {
                    memmove(buf + at, buf + at + 1, len - at - 1);
                    len--;
                }
                break;
            default: /* cut */
                len = at;
                break;
            }
        }
        total++;
        valid += bk_json_valid(buf, len) == 1;
        if (!agree(buf, len) && ++disagreements > 20)
            break;
    }
    CHECK_EQ_INT(disagreements, 0);
    CHECK(valid > total / 50); /* the mutations do reach valid documents too */
}

CHECK_MAIN(CASE(table), CASE(yajl_slips), CASE(deep_nesting), CASE(mutations))
