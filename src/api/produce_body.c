/* yajl callbacks for the seed produce body. Depth is counted on every open bracket so a
 * deeply nested body is refused at depth BK_JSON_MAX_DEPTH instead of exhausting anything.
 * Strings handed to callbacks are only valid during the call, so they are copied. */
#include "api/produce_body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#include "http/json.h"

enum { F_NONE = 0, F_MESSAGE, F_TOPIC, F_KEY, F_PARTITION, F_OTHER };

#define CTX(c) ((bk_produce_body_t *)(c))

static int shape_error(bk_produce_body_t *b, const char *msg)
{
    b->error_status = 422;
    snprintf(b->error, sizeof b->error, "%s", msg);
    return 0; /* stops yajl */
}

/* Called for every scalar; dispatches on where it sits. */
static int scalar(bk_produce_body_t *b, int kind, const unsigned char *s, size_t len)
{
    if (b->depth == 0)
        return shape_error(b, "request body must be a JSON object");
    if (b->depth > 1 || b->field == F_OTHER) {
        if (b->gen && b->field == F_MESSAGE) {
            yajl_gen g = b->gen;
            if (kind == 's')
                yajl_gen_string(g, s, len);
            else if (kind == 'n')
                yajl_gen_null(g);
            else if (kind == 'b')
                yajl_gen_bool(g, len != 0);
            else
                yajl_gen_number(g, (const char *)s, len);
        }
        return 1;
    }
    switch (b->field) {
    case F_MESSAGE:
        b->message.len = 0;
        b->has_message = 1;
        b->message_is_json = kind != 's';
        if (kind == 'n')
            return bk_buf_append(&b->message, "null", 4) == 0;
        if (kind == 'b')
            return bk_buf_append(&b->message, len ? "true" : "false", len ? 4 : 5) == 0;
        return bk_buf_append(&b->message, s, len) == 0;
    case F_TOPIC:
        if (kind != 's')
            return shape_error(b, "\"topic\" must be a string");
        if (memchr(s, 0, len)) {
            b->error_code = 42208;
            return shape_error(b, "invalid topic name: \"topic\" contains a NUL character "
                                  "(\\u0000); use 1-249 characters of [a-zA-Z0-9._-]");
        }
        b->topic.len = 0;
        b->has_topic = 1;
        return bk_buf_append(&b->topic, s, len) == 0;
    case F_KEY:
        if (kind == 'n') {
            b->has_key = 0;
            return 1;
        }
        if (kind != 's')
            return shape_error(b, "\"key\" must be a string or null");
        b->key.len = 0;
        b->has_key = 1;
        return bk_buf_append(&b->key, s, len) == 0;
    case F_PARTITION: {
        if (kind == 'n') {
            b->partition = -1;
            return 1;
        }
        int64_t v = 0;
        if (kind != 'i' || bk_parse_int((const char *)s, len, 0, INT32_MAX, &v) != 0)
            return shape_error(b, "\"partition\" must be an integer from 0 to 2147483647");
        b->partition = v;
        return 1;
    }
    default:
        return 1;
    }
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
    int is_int =
        memchr(s, '.', len) == NULL && memchr(s, 'e', len) == NULL && memchr(s, 'E', len) == NULL;
    return scalar(CTX(c), is_int ? 'i' : 'd', (const unsigned char *)s, len);
}
static int on_string(void *c, const unsigned char *s, size_t len)
{
    return scalar(CTX(c), 's', s, len);
}

static int open_container(bk_produce_body_t *b, int is_map)
{
    if (++b->depth > BK_JSON_MAX_DEPTH) {
        b->error_status = 400;
        snprintf(b->error, sizeof b->error, "JSON nested deeper than %d levels", BK_JSON_MAX_DEPTH);
        return 0;
    }
    if (b->depth == 1) {
        if (!is_map)
            return shape_error(b, "request body must be a JSON object");
        return 1;
    }
    if (b->depth == 2 && b->field != F_MESSAGE && b->field != F_OTHER) {
        return shape_error(b, b->field == F_TOPIC ? "\"topic\" must be a string"
                              : b->field == F_KEY ? "\"key\" must be a string or null"
                                                  : "\"partition\" must be a non-negative integer");
    }
    if (b->field == F_MESSAGE) {
        if (b->depth == 2) {
            if (!b->gen)
                b->gen = yajl_gen_alloc(NULL);
            yajl_gen_reset(b->gen, NULL);
            yajl_gen_clear(b->gen);
        }
        if (b->gen)
            is_map ? yajl_gen_map_open(b->gen) : yajl_gen_array_open(b->gen);
    }
    return 1;
}

static int close_container(bk_produce_body_t *b, int is_map)
{
    if (b->field == F_MESSAGE && b->depth >= 2 && b->gen) {
        is_map ? yajl_gen_map_close(b->gen) : yajl_gen_array_close(b->gen);
        if (b->depth == 2) {
            const unsigned char *buf;
            size_t len;
            yajl_gen_get_buf(b->gen, &buf, &len);
            b->message.len = 0;
            b->has_message = 1;
            b->message_is_json = 1;
            if (bk_buf_append(&b->message, buf, len))
                return 0;
        }
    }
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

static int on_map_key(void *c, const unsigned char *k, size_t len)
{
    bk_produce_body_t *b = CTX(c);
    if (b->depth != 1) {
        if (b->gen && b->field == F_MESSAGE)
            yajl_gen_string(b->gen, k, len);
        return 1;
    }
#define IS(lit) (len == sizeof lit - 1 && memcmp(k, lit, len) == 0)
    b->field = IS("message")     ? F_MESSAGE
               : IS("topic")     ? F_TOPIC
               : IS("key")       ? F_KEY
               : IS("partition") ? F_PARTITION
                                 : F_OTHER;
#undef IS
    return 1;
}

static const yajl_callbacks callbacks = {
    on_null,      on_bool,    NULL,       NULL,           on_number,    on_string,
    on_start_map, on_map_key, on_end_map, on_start_array, on_end_array,
};

int bk_produce_body_parse(bk_produce_body_t *b, const uint8_t *body, size_t len)
{
    /* Keep buffers and generator from an earlier parse: a reused body allocates nothing. */
    bk_buf_t message = b->message, topic = b->topic, key = b->key;
    void *gen = b->gen;
    memset(b, 0, sizeof *b);
    b->message = message;
    b->topic = topic;
    b->key = key;
    b->message.len = b->topic.len = b->key.len = 0;
    b->gen = gen;
    b->partition = -1;
    b->body_len = len;
    yajl_handle h = yajl_alloc(&callbacks, NULL, b);
    if (!h) {
        b->error_status = 503;
        snprintf(b->error, sizeof b->error, "out of memory");
        return 503;
    }
    b->yajl = h;
    yajl_status st = yajl_parse(h, body, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    b->yajl = NULL;
    size_t at = 0;
    if (st == yajl_status_ok && !b->error_status &&
        bk_json_after_value(body, b->value_end, len, &at)) {
        b->error_status = 400;
        bk_json_text_problem(BK_JSON_MALFORMED, at, b->error, sizeof b->error);
    }
    if (st != yajl_status_ok && !b->error_status) {
        b->error_status = 400;
        if (len == 0) {
            snprintf(b->error, sizeof b->error, "request body is empty; expected a JSON object");
        } else {
            unsigned char *e = yajl_get_error(h, 0, body, len);
            snprintf(b->error, sizeof b->error, "malformed JSON: %s", e ? (char *)e : "?");
            for (char *p = b->error; *p; p++)
                if (*p == '\n' || *p == '\r')
                    *p = ' ';
            if (e)
                yajl_free_error(h, e);
        }
    }
    yajl_free(h);
    int problem = b->error_status ? 0 : bk_json_text_check(body, len, &at);
    if (problem) {
        b->error_status = 422;
        bk_json_text_problem(problem, at, b->error, sizeof b->error);
    }
    if (!b->error_status && !b->has_message) {
        b->error_status = 422;
        snprintf(b->error, sizeof b->error, "missing \"message\"");
    }
    return b->error_status;
}

static int trim_buf(bk_buf_t *buf)
{
    if (buf->cap <= BK_JSON_KEEP_BYTES)
        return 0;
    bk_buf_free(buf);
    return 1;
}

void bk_produce_body_trim(bk_produce_body_t *b)
{
    int freed = trim_buf(&b->message) | trim_buf(&b->topic) | trim_buf(&b->key);
    if (b->gen && b->body_len > BK_JSON_KEEP_BYTES) {
        yajl_gen_free(b->gen); /* its buffer may have grown to the body's size */
        b->gen = NULL;
        freed = 1;
    }
    if (freed)
        bk_heap_trim();
}

void bk_produce_body_free(bk_produce_body_t *b)
{
    bk_buf_free(&b->message);
    bk_buf_free(&b->topic);
    bk_buf_free(&b->key);
    if (b->gen)
        yajl_gen_free(b->gen);
    b->gen = NULL;
}
