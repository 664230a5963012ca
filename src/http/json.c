/* The response generator: a thin wrapper over one reused yajl_gen. Generation errors (which
 * yajl reports only for misuse such as a key outside an object) are programming errors and
 * are traced, not returned, so handler code stays linear. Also the UTF-8 and integer checks
 * the body decoders share; these are pure. */
#include "http/json.h"

#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>
#include <uv.h>
#include <yajl/yajl_gen.h>

#include "brook/common.h"
#include "common/decimal.h"
#include "http/exchange.h"

struct bk_json {
    yajl_gen g;
};

static bk_json_t gen;
static bk_buf_t fixed; /* a string with its invalid UTF-8 replaced */

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

static void check(yajl_gen_status st)
{
    if (st != yajl_gen_status_ok)
        bk_trace_error("json", "generator misuse (status %d)", (int)st);
}

void bk_heap_trim(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

void bk_json_trim(void)
{
    int freed = 0;
    if (gen.g) { /* a huge last document: give its buffer back rather than keep it */
        const unsigned char *buf;
        size_t len = 0;
        yajl_gen_get_buf(gen.g, &buf, &len);
        if (len > BK_JSON_KEEP_BYTES) {
            yajl_gen_free(gen.g);
            gen.g = NULL;
            freed = 1;
        }
    }
    if (fixed.cap > BK_JSON_KEEP_BYTES) {
        bk_buf_free(&fixed);
        freed = 1;
    }
    if (freed)
        bk_heap_trim();
}

bk_json_t *bk_json_begin(void)
{
    bk_json_trim();
    if (!gen.g) {
        gen.g = yajl_gen_alloc(NULL);
        yajl_gen_config(gen.g, yajl_gen_validate_utf8, 0);
    }
    yajl_gen_reset(gen.g, NULL);
    yajl_gen_clear(gen.g);
    return &gen;
}

void bk_json_obj(bk_json_t *j)
{
    check(yajl_gen_map_open(j->g));
}
void bk_json_obj_end(bk_json_t *j)
{
    check(yajl_gen_map_close(j->g));
}
void bk_json_arr(bk_json_t *j)
{
    check(yajl_gen_array_open(j->g));
}
void bk_json_arr_end(bk_json_t *j)
{
    check(yajl_gen_array_close(j->g));
}
static size_t utf8_seq(const uint8_t *s, size_t len);

/* s with every maximal invalid sequence replaced by U+FFFD, into fixed. */
static int replace_invalid(const uint8_t *s, size_t len)
{
    fixed.len = 0;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_seq(s + i, len - i);
        int rc = n ? bk_buf_append(&fixed, s + i, n) : bk_buf_append(&fixed, REPLACEMENT, 3);
        if (rc)
            return rc;
        if (n) {
            i += n;
            continue;
        }
        /* skip the lead byte and the continuation bytes that follow it */
        for (i++; i < len && (s[i] & 0xC0) == 0x80; i++)
            ;
    }
    return 0;
}

/* 1 when every byte is below 0x80: the common case, checked without a branch per byte. */
static inline int all_ascii(const uint8_t *s, size_t len)
{
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        acc |= w;
    }
    for (; i < len; i++)
        acc |= s[i];
    return !(acc & 0x8080808080808080ull);
}

void bk_json_strn(bk_json_t *j, const void *s, size_t len)
{
    if (all_ascii(s, len) || bk_utf8_valid(s, len)) {
        check(yajl_gen_string(j->g, (const unsigned char *)s, len));
        return;
    }
    if (replace_invalid(s, len) != 0) { /* out of memory: still valid JSON */
        check(yajl_gen_string(j->g, (const unsigned char *)REPLACEMENT, 3));
        return;
    }
    check(yajl_gen_string(j->g, (const unsigned char *)fixed.data, fixed.len));
}
void bk_json_key(bk_json_t *j, const char *key)
{
    /* Keys are Brook's own ASCII names (see json.h): written without the UTF-8 check. */
    check(yajl_gen_string(j->g, (const unsigned char *)key, strlen(key)));
}
void bk_json_str(bk_json_t *j, const char *s)
{
    bk_json_strn(j, s, strlen(s));
}
void bk_json_int(bk_json_t *j, int64_t v)
{
    char num[BK_DECIMAL_MAX];
    char *p = bk_decimal_i64(num, v);
    check(yajl_gen_number(j->g, p, (size_t)(num + BK_DECIMAL_MAX - p)));
}
void bk_json_uint(bk_json_t *j, uint64_t v)
{
    char num[BK_DECIMAL_MAX];
    char *p = bk_decimal_u64(num, v);
    check(yajl_gen_number(j->g, p, (size_t)(num + BK_DECIMAL_MAX - p)));
}
void bk_json_double(bk_json_t *j, double v)
{
    check(yajl_gen_double(j->g, v));
}
void bk_json_bool(bk_json_t *j, int v)
{
    check(yajl_gen_bool(j->g, v));
}
void bk_json_null(bk_json_t *j)
{
    check(yajl_gen_null(j->g));
}
void bk_json_raw(bk_json_t *j, const void *text, size_t len)
{
    /* yajl_gen_number emits its argument verbatim with correct separators. */
    check(yajl_gen_number(j->g, text, len));
}

const char *bk_json_text(bk_json_t *j, size_t *len)
{
    const unsigned char *buf = NULL;
    size_t n = 0;
    yajl_gen_get_buf(j->g, &buf, &n);
    *len = n;
    return (const char *)buf;
}

void bk_json_shutdown(void)
{
    if (gen.g)
        yajl_gen_free(gen.g);
    gen.g = NULL;
    bk_buf_free(&fixed);
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when s does not start one. */
static size_t utf8_seq(const uint8_t *s, size_t len)
{
    uint8_t c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) {
        n = 1;
        cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
        n = 2;
        cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
        n = 3;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (n >= len)
        return 0;
    for (size_t k = 1; k <= n; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3Fu);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n + 1;
}

/* Offset of the first invalid UTF-8 sequence, or len when there is none. */
static size_t utf8_invalid_at(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (i + 8 <= len) { /* ASCII fast path: eight bytes at a time */
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        if (s[i] < 0x80) { /* the tail of a short string is mostly ASCII too */
            i++;
            continue;
        }
        size_t n = utf8_seq(s + i, len - i);
        if (!n)
            return i;
        i += n;
    }
    return len;
}

int bk_utf8_valid(const uint8_t *s, size_t len)
{
    return utf8_invalid_at(s, len) == len;
}

/* The value of the four hex digits at s, or -1. */
static long hex4(const uint8_t *s, size_t avail)
{
    if (avail < 4)
        return -1;
    long v = 0;
    for (int k = 0; k < 4; k++) {
        uint8_t c = s[k];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Offset of the first \u escape of a surrogate that is not a high-low pair, or len. In JSON
 * text a backslash occurs only inside strings, and always starts an escape, so escapes can be
 * found without tracking strings. */
static size_t lone_surrogate_at(const uint8_t *t, size_t len)
{
    size_t i = 0;
    const uint8_t *p;
    while (i < len && (p = memchr(t + i, '\\', len - i)) != NULL) {
        i = (size_t)(p - t);
        if (i + 1 >= len)
            return len;
        if (t[i + 1] != 'u') {
            i += 2;
            continue;
        }
        long cp = hex4(t + i + 2, len - i - 2);
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return i;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            long lo = i + 8 <= len && t[i + 6] == '\\' && t[i + 7] == 'u'
                          ? hex4(t + i + 8, len - i - 8)
                          : -1;
            if (lo < 0xDC00 || lo > 0xDFFF)
                return i;
            i += 12;
            continue;
        }
        i += 6;
    }
    return len;
}

int bk_json_text_check(const uint8_t *text, size_t len, size_t *at)
{
    size_t bad = utf8_invalid_at(text, len);
    size_t lone = lone_surrogate_at(text, len);
    if (bad == len && lone == len)
        return BK_JSON_TEXT_OK;
    *at = bad < lone ? bad : lone;
    return bad < lone ? BK_JSON_BAD_UTF8 : BK_JSON_LONE_SURROGATE;
}

int bk_json_after_value(const uint8_t *text, size_t value_end, size_t len, size_t *at)
{
    size_t i = value_end;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
        i++;
    *at = i;
    return value_end > 0 && i < len ? BK_JSON_MALFORMED : BK_JSON_TEXT_OK;
}

void bk_json_text_problem(int problem, size_t at, char *msg, size_t cap)
{
    if (problem == BK_JSON_MALFORMED)
        snprintf(msg, cap, "malformed JSON: trailing bytes after the value at byte %zu of the body",
                 at);
    else if (problem == BK_JSON_BAD_UTF8)
        snprintf(msg, cap, "invalid UTF-8 at byte %zu of the body", at);
    else
        snprintf(msg, cap,
                 "lone UTF-16 surrogate escape at byte %zu of the body: a \\uD800-\\uDFFF "
                 "escape must be a high-low pair",
                 at);
}

int bk_parse_int(const char *s, size_t len, int64_t min, int64_t max, int64_t *out)
{
    size_t i = (len > 0 && s[0] == '-') ? 1 : 0;
    if (i == len)
        return BK_EINVAL;
    uint64_t mag = 0;
    int over = 0;
    for (size_t k = i; k < len; k++) {
        if (s[k] < '0' || s[k] > '9')
            return BK_EINVAL;
        unsigned d = (unsigned)(s[k] - '0');
        if (mag > (UINT64_MAX - d) / 10)
            over = 1;
        else
            mag = mag * 10 + d;
    }
    /* |INT64_MIN| = INT64_MAX + 1 */
    if (over || mag > (uint64_t)INT64_MAX + (i ? 1u : 0u))
        return UV_ERANGE;
    int64_t v = i ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    if (v < min || v > max)
        return UV_ERANGE;
    *out = v;
    return 0;
}
