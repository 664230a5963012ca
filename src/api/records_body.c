/* yajl callbacks for REST Proxy produce bodies. The structure is tracked by depth:
 * 1 = the body object, 2 = the records array, 3 = one record object, 4+ = inside a key,
 * value or headers. Values of JSON mode are re-serialized with a yajl_gen into the arena;
 * binary mode decodes base64 straight into it. Any error stops the parse at once. */
#include "api/records_body.h"

#include "brook/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#include "api/produce_body.h" /* BK_JSON_MAX_DEPTH */
#include "common/base64.h"
#include "http/json.h"

enum { F_NONE = 0, F_KEY, F_VALUE, F_PARTITION, F_HEADERS, F_OTHER };
enum { H_NONE = 0, H_KEY, H_VALUE, H_OTHER };

#define CTX(c) ((bk_records_body_t *)(c))

static int fail(bk_records_body_t *b, int status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(bk_records_body_t *b, int status, int code, const char *fmt, ...)
{
    if (b->error_status)
        return 0;
    b->error_status = status;
    b->error_code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->error, sizeof b->error, fmt, ap);
    va_end(ap);
    return 0;
}

static bk_rb_record_t *cur(bk_records_body_t *b)
{
    return &b->records[b->count - 1];
}

static int new_record(bk_records_body_t *b)
{
    if (b->count == BK_RB_MAX_RECORDS)
        return fail(b, 413, 413,
                    "more than %d records in one request; send at most %d per request "
                    "(nothing was written)",
                    BK_RB_MAX_RECORDS, BK_RB_MAX_RECORDS);
    if (bk_grow(&b->records, &b->cap, b->count, 1, sizeof *b->records, 64) != 0)
        return fail(b, 503, 50301, "out of memory");
    b->records[b->count++] = (bk_rb_record_t){0, -1, 0, -1, -1, (uint32_t)b->header_count, 0};
    return 1;
}

static int new_header(bk_records_body_t *b)
{
    if (b->header_count == BK_RB_MAX_HEADERS)
        return fail(b, 413, 413,
                    "more than %d headers in one request; send at most %d in all "
                    "(nothing was written)",
                    BK_RB_MAX_HEADERS, BK_RB_MAX_HEADERS);
    if (bk_grow(&b->headers, &b->header_cap, b->header_count, 1, sizeof *b->headers, 16) != 0)
        return fail(b, 503, 50301, "out of memory");
    b->headers[b->header_count++] = (bk_rb_header_t){b->arena.len, 0, b->arena.len, -1};
    cur(b)->header_count++;
    return 1;
}

/* Stores raw bytes (JSON mode) or decoded base64 (binary mode) in the arena. */
static int store(bk_records_body_t *b, const unsigned char *s, size_t len, int decode, size_t *off,
                 int32_t *out_len, int code, const char *what)
{
    if (len > INT32_MAX / 2)
        return fail(b, 422, code, "record %zu: %s too large", b->count - 1, what);
    if (bk_buf_reserve(&b->arena, len + 4))
        return fail(b, 503, 50301, "out of memory");
    *off = b->arena.len;
    if (!decode) {
        memcpy(b->arena.data + b->arena.len, s, len);
        b->arena.len += len;
        *out_len = (int32_t)len;
        return 1;
    }
    long n = bk_base64_decode((const char *)s, len, (uint8_t *)b->arena.data + b->arena.len);
    if (n < 0)
        return fail(b, 422, code, "record %zu: %s is not valid base64", b->count - 1, what);
    b->arena.len += (size_t)n;
    *out_len = (int32_t)n;
    return 1;
}

/* JSON mode: start re-serializing a key or value. */
static void gen_begin(bk_records_body_t *b)
{
    if (!b->gen)
        b->gen = yajl_gen_alloc(NULL);
    yajl_gen_reset(b->gen, NULL);
    yajl_gen_clear(b->gen);
}

static int gen_finish(bk_records_body_t *b)
{
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(b->gen, &buf, &len);
    bk_rb_record_t *r = cur(b);
    if (b->field == F_KEY)
        return store(b, buf, len, 0, &r->key_off, &r->key_len, 42201, "key");
    return store(b, buf, len, 0, &r->value_off, &r->value_len, 42202, "value");
}

static int in_json_value(const bk_records_body_t *b)
{
    return b->mode == BK_RB_JSON && b->depth >= 3 && (b->field == F_KEY || b->field == F_VALUE) &&
           b->gen_depth > 0;
}

static int header_scalar(bk_records_body_t *b, int kind, const unsigned char *s, size_t len)
{
    if (b->depth == 3 && kind == 'n') /* "headers": null */
        return 1;
    if (b->depth != 5)
        return fail(b, 422, 42206, "record %zu: headers must be [{\"key\":..., \"value\":...}]",
                    b->count - 1);
    bk_rb_header_t *h = &b->headers[b->header_count - 1];
    if (b->hfield == H_KEY) {
        if (kind != 's')
            return fail(b, 422, 42206, "record %zu: header key must be a string", b->count - 1);
        if (memchr(s, 0, len))
            return fail(b, 422, 42206, "record %zu: header key contains a NUL character (\\u0000)",
                        b->count - 1);
        size_t off = 0;
        int32_t n = 0;
        if (!store(b, s, len, 0, &off, &n, 42206, "header key"))
            return 0;
        h->key_off = off;
        h->key_len = (size_t)n;
        return 1;
    }
    if (b->hfield == H_VALUE) {
        if (kind == 'n') {
            h->value_len = -1;
            return 1;
        }
        if (kind != 's')
            return fail(b, 422, 42206, "record %zu: header value must be a string or null",
                        b->count - 1);
        return store(b, s, len, b->mode == BK_RB_BINARY, &h->value_off, &h->value_len, 42206,
                     "header value");
    }
    return 1;
}

static int record_scalar(bk_records_body_t *b, int kind, const unsigned char *s, size_t len)
{
    bk_rb_record_t *r = cur(b);
    switch (b->field) {
    case F_KEY:
    case F_VALUE: {
        int is_key = b->field == F_KEY;
        if (kind == 'n') {
            if (is_key)
                r->key_len = -1;
            else
                r->value_len = -1;
            return 1;
        }
        if (b->mode == BK_RB_BINARY) {
            if (kind != 's')
                return fail(b, 422, is_key ? 42201 : 42202,
                            "record %zu: %s must be a base64 string or null", b->count - 1,
                            is_key ? "key" : "value");
            return is_key ? store(b, s, len, 1, &r->key_off, &r->key_len, 42201, "key")
                          : store(b, s, len, 1, &r->value_off, &r->value_len, 42202, "value");
        }
        gen_begin(b);
        if (kind == 's')
            yajl_gen_string(b->gen, s, len);
        else if (kind == 'b')
            yajl_gen_bool(b->gen, len != 0);
        else
            yajl_gen_number(b->gen, (const char *)s, len);
        return gen_finish(b);
    }
    case F_PARTITION: {
        if (kind == 'n') {
            r->partition = -1;
            return 1;
        }
        int64_t v = 0;
        if (kind != 'i' || bk_parse_int((const char *)s, len, 0, INT32_MAX, &v) != 0)
            return fail(b, 422, 42206,
                        "record %zu: partition must be an integer from 0 to 2147483647",
                        b->count - 1);
        r->partition = v;
        return 1;
    }
    case F_HEADERS:
        return header_scalar(b, kind, s, len);
    default:
        return 1;
    }
}

static int scalar(bk_records_body_t *b, int kind, const unsigned char *s, size_t len)
{
    if (in_json_value(b)) {
        yajl_gen g = b->gen;
        if (kind == 's')
            yajl_gen_string(g, s, len);
        else if (kind == 'n')
            yajl_gen_null(g);
        else if (kind == 'b')
            yajl_gen_bool(g, len != 0);
        else
            yajl_gen_number(g, (const char *)s, len);
        return 1;
    }
    if (b->depth == 0)
        return fail(b, 422, 42200, "request body must be a JSON object");
    if (b->depth == 1) {
        if (b->field == F_VALUE) /* "records" given as a scalar */
            return fail(b, 422, 42200, "\"records\" must be an array");
        return 1;
    }
    if (b->depth == 2)
        return fail(b, 422, 42200, "each element of \"records\" must be an object");
    if (b->depth >= 3 && b->in_records)
        return record_scalar(b, kind, s, len);
    return 1;
}

static int on_null(void *c)
{
    return scalar(CTX(c), 'n', NULL, 0);
}
static int on_bool(void *c, int v)
{
    return scalar(CTX(c), 'b', NULL, v ? 1u : 0u);
}
static int on_number(void *c, const char *s, size_t len)
{
    int is_int = !memchr(s, '.', len) && !memchr(s, 'e', len) && !memchr(s, 'E', len);
    return scalar(CTX(c), is_int ? 'i' : 'd', (const unsigned char *)s, len);
}
static int on_string(void *c, const unsigned char *s, size_t len)
{
    return scalar(CTX(c), 's', s, len);
}

static int open_container(bk_records_body_t *b, int is_map)
{
    if (++b->depth > BK_JSON_MAX_DEPTH)
        return fail(b, 400, 40001, "JSON nested deeper than %d levels", BK_JSON_MAX_DEPTH);
    if (in_json_value(b) || (b->mode == BK_RB_JSON && b->depth == 4 &&
                             (b->field == F_KEY || b->field == F_VALUE) && b->in_records)) {
        if (b->gen_depth == 0)
            gen_begin(b);
        b->gen_depth++;
        is_map ? yajl_gen_map_open(b->gen) : yajl_gen_array_open(b->gen);
        return 1;
    }
    switch (b->depth) {
    case 1:
        return is_map ? 1 : fail(b, 422, 42200, "request body must be a JSON object");
    case 2:
        if (b->field != F_VALUE) /* F_VALUE at depth 1 marks the "records" key */
            return 1;
        if (is_map)
            return fail(b, 422, 42200, "\"records\" must be an array");
        b->in_records = 1;
        b->seen_records = 1;
        return 1;
    case 3:
        if (!b->in_records)
            return 1;
        if (!is_map)
            return fail(b, 422, 42200, "each element of \"records\" must be an object");
        b->field = F_NONE;
        return new_record(b);
    case 4:
        if (!b->in_records)
            return 1;
        if (b->field == F_HEADERS && !is_map)
            return 1;
        return fail(b, 422,
                    b->field == F_KEY     ? 42201
                    : b->field == F_VALUE ? 42202
                                          : 42206,
                    "record %zu: %s must be a base64 string or null", b->count - 1,
                    b->field == F_KEY     ? "key"
                    : b->field == F_VALUE ? "value"
                                          : "field");
    case 5:
        if (b->in_records && b->field == F_HEADERS) {
            if (!is_map)
                return fail(b, 422, 42206, "record %zu: each header must be an object",
                            b->count - 1);
            b->hfield = H_NONE;
            return new_header(b);
        }
        return 1;
    default:
        if (b->in_records && b->field == F_HEADERS)
            return fail(b, 422, 42206, "record %zu: header key and value must be strings",
                        b->count - 1);
        return 1;
    }
}

static int close_container(bk_records_body_t *b, int is_map)
{
    if (b->gen_depth > 0) {
        is_map ? yajl_gen_map_close(b->gen) : yajl_gen_array_close(b->gen);
        if (--b->gen_depth == 0 && !gen_finish(b))
            return 0;
    }
    if (b->depth == 2 && b->in_records)
        b->in_records = 0;
    if (--b->depth == 0)
        b->value_end = yajl_get_bytes_consumed(b->yajl);
    return 1;
}

static int on_start_map(void *c)
{
    return open_container(CTX(c), 1);
}
static int on_end_map(void *c)
{
    return close_container(CTX(c), 1);
}
static int on_start_array(void *c)
{
    return open_container(CTX(c), 0);
}
static int on_end_array(void *c)
{
    return close_container(CTX(c), 0);
}

#define IS(lit) (len == sizeof lit - 1 && memcmp(k, lit, len) == 0)

static int on_map_key(void *c, const unsigned char *k, size_t len)
{
    bk_records_body_t *b = CTX(c);
    if (in_json_value(b)) {
        yajl_gen_string(b->gen, k, len);
        return 1;
    }
    if (b->depth == 1)
        b->field = IS("records") ? F_VALUE : F_OTHER; /* F_VALUE marks "records" here */
    else if (b->depth == 3 && b->in_records)
        b->field = IS("key")         ? F_KEY
                   : IS("value")     ? F_VALUE
                   : IS("partition") ? F_PARTITION
                   : IS("headers")   ? F_HEADERS
                                     : F_OTHER;
    else if (b->depth == 5 && b->in_records && b->field == F_HEADERS)
        b->hfield = IS("key") || IS("name") ? H_KEY : IS("value") ? H_VALUE : H_OTHER;
    return 1;
}

#undef IS

static const yajl_callbacks callbacks = {
    on_null,      on_bool,    NULL,       NULL,           on_number,    on_string,
    on_start_map, on_map_key, on_end_map, on_start_array, on_end_array,
};

static void reset(bk_records_body_t *b, bk_rb_mode_t mode)
{
    bk_buf_t arena = b->arena;
    bk_rb_record_t *records = b->records;
    bk_rb_header_t *headers = b->headers;
    size_t cap = b->cap, hcap = b->header_cap;
    void *gen = b->gen;
    memset(b, 0, sizeof *b);
    b->arena = arena;
    b->arena.len = 0;
    b->records = records;
    b->cap = cap;
    b->headers = headers;
    b->header_cap = hcap;
    b->gen = gen;
    b->mode = mode;
}

int bk_records_body_parse(bk_records_body_t *b, bk_rb_mode_t mode, const uint8_t *body, size_t len)
{
    reset(b, mode);
    b->body_len = len;
    yajl_handle h = yajl_alloc(&callbacks, NULL, b);
    if (!h)
        return fail(b, 503, 50301, "out of memory"), 503;
    b->yajl = h;
    yajl_status st = yajl_parse(h, body, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    b->yajl = NULL;
    size_t at = 0;
    if (st == yajl_status_ok && !b->error_status &&
        bk_json_after_value(body, b->value_end, len, &at)) {
        char msg[sizeof b->error];
        bk_json_text_problem(BK_JSON_MALFORMED, at, msg, sizeof msg);
        fail(b, 400, 40001, "%s", msg);
    }
    if (st != yajl_status_ok && !b->error_status) {
        unsigned char *e = len ? yajl_get_error(h, 0, body, len) : NULL;
        fail(b, 400, 40001, "malformed JSON: %s", e ? (const char *)e : "empty body");
        for (char *p = b->error; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        if (e)
            yajl_free_error(h, e);
    }
    yajl_free(h);
    int problem = b->error_status ? 0 : bk_json_text_check(body, len, &at);
    if (problem) {
        char msg[sizeof b->error];
        bk_json_text_problem(problem, at, msg, sizeof msg);
        fail(b, 422, 42200, "%s", msg);
    }
    if (!b->error_status && !b->seen_records)
        fail(b, 422, 42200, "missing \"records\" array");
    if (!b->error_status && b->count == 0)
        fail(b, 422, 42200, "\"records\" is empty");
    return b->error_status;
}

int bk_records_body_trim(bk_records_body_t *b)
{
    int freed = 0;
    b->count = b->header_count = 0; /* the records are gone either way */
    b->arena.len = 0;
    if (b->arena.cap > BK_JSON_KEEP_BYTES) {
        bk_buf_free(&b->arena);
        freed = 1;
    }
    if (b->cap * sizeof *b->records > BK_JSON_KEEP_BYTES) {
        free(b->records);
        b->records = NULL;
        b->cap = 0;
        freed = 1;
    }
    if (b->header_cap * sizeof *b->headers > BK_JSON_KEEP_BYTES) {
        free(b->headers);
        b->headers = NULL;
        b->header_cap = 0;
        freed = 1;
    }
    if (b->gen && b->body_len > BK_JSON_KEEP_BYTES) {
        yajl_gen_free(b->gen); /* its buffer may have grown to the size of the body */
        b->gen = NULL;
        freed = 1;
    }
    return freed;
}

void bk_records_body_free(bk_records_body_t *b)
{
    bk_buf_free(&b->arena);
    free(b->records);
    free(b->headers);
    if (b->gen)
        yajl_gen_free(b->gen);
    memset(b, 0, sizeof *b);
}
