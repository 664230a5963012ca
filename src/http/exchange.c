/* Exchange pool, buffers and request lookups. The pool is a per-process free list used only
 * from the loop thread; buffers of recycled exchanges are kept (up to a cap) so a keep-alive
 * produce allocates nothing in the steady state. */
#include "http/exchange.h"

#include "brook/common.h"
#include "common/decimal.h"
#include "http/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#define POOL_MAX 1024
#define KEEP_BUF_MAX (64 * 1024) /* larger buffers are freed, not kept in the pool */
#define HEAP_TRIM_MIN (1024 * 1024)

static bk_exchange_t *pool;
static size_t pool_len;

int bk_buf_reserve(bk_buf_t *b, size_t extra)
{
    return bk_grow(&b->data, &b->cap, b->len, extra, 1, 256);
}

int bk_buf_append(bk_buf_t *b, const void *data, size_t len)
{
    int rc = bk_buf_reserve(b, len);
    if (rc)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int bk_buf_append_str(bk_buf_t *b, const char *s)
{
    return bk_buf_append(b, s, strlen(s));
}

int bk_buf_append_int(bk_buf_t *b, int64_t v)
{
    char num[BK_DECIMAL_MAX];
    char *p = bk_decimal_i64(num, v);
    return bk_buf_append(b, p, (size_t)(num + BK_DECIMAL_MAX - p));
}

int bk_buf_appendf(bk_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    for (int attempt = 0; attempt < 2; attempt++) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        int n = vsnprintf(b->data ? b->data + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return UV_EINVAL;
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return 0;
        }
        int rc = bk_buf_reserve(b, (size_t)n + 1);
        if (rc)
            return rc;
    }
    return UV_EINVAL;
}

void bk_buf_free(bk_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Frees a buffer too large to keep; returns its size when it was 1 MiB or more (worth handing
 * the heap back after, or an outsized request would keep its pages for good). */
static size_t trim_buf(bk_buf_t *b)
{
    size_t big = b->cap >= HEAP_TRIM_MIN ? b->cap : 0;
    if (b->cap > KEEP_BUF_MAX)
        bk_buf_free(b);
    b->len = 0;
    return big;
}

bk_exchange_t *bk_exchange_new(void)
{
    bk_exchange_t *ex = pool;
    if (ex) {
        pool = ex->next;
        pool_len--;
        ex->next = NULL;
        return ex;
    }
    return calloc(1, sizeof *ex);
}

void bk_exchange_release(bk_exchange_t *ex)
{
    if (!ex)
        return;
    bk_buf_t head = ex->head, body = ex->body_buf, out = ex->out;
    size_t *offs = ex->hdr_offsets;
    bk_http_header_t *hdrs = ex->headers;
    uint32_t hcap = ex->hdr_cap;
    if (trim_buf(&head) + trim_buf(&body) + trim_buf(&out))
        bk_heap_trim();
    if (pool_len >= POOL_MAX) {
        bk_buf_free(&head);
        bk_buf_free(&body);
        bk_buf_free(&out);
        free(offs);
        free(hdrs);
        free(ex);
        return;
    }
    memset(ex, 0, sizeof *ex);
    ex->head = head;
    ex->body_buf = body;
    ex->out = out;
    ex->hdr_offsets = offs;
    ex->headers = hdrs;
    ex->hdr_cap = hcap;
    ex->next = pool;
    pool = ex;
    pool_len++;
}

void bk_exchange_pool_drain(void)
{
    while (pool) {
        bk_exchange_t *ex = pool;
        pool = ex->next;
        bk_buf_free(&ex->head);
        bk_buf_free(&ex->body_buf);
        bk_buf_free(&ex->out);
        free(ex->hdr_offsets);
        free(ex->headers);
        free(ex);
    }
    pool_len = 0;
}

static bk_exchange_conn_hooks_t conn_hooks;

void bk_exchange_set_conn_hooks(const bk_exchange_conn_hooks_t *hooks)
{
    conn_hooks = *hooks;
}

int bk_exchange_at_head(const bk_exchange_t *ex)
{
    return conn_hooks.at_head ? conn_hooks.at_head(ex) : 1;
}

void *bk_exchange_hold_effects(bk_exchange_t *ex)
{
    return conn_hooks.hold_effects ? conn_hooks.hold_effects(ex) : NULL;
}

void bk_exchange_effects_done(void *token)
{
    if (token && conn_hooks.effects_done)
        conn_hooks.effects_done(token);
}

void bk_exchange_charge(bk_exchange_t *ex, int64_t delta)
{
    if (conn_hooks.charge)
        conn_hooks.charge(ex, delta);
}

int bk_exchange_peer(const bk_exchange_t *ex, struct sockaddr_storage *out)
{
    return conn_hooks.peer && ex->conn ? conn_hooks.peer(ex, out) : UV_ENOTCONN;
}

const char *bk_exchange_header(const bk_exchange_t *ex, const char *name, size_t *len)
{
    size_t nlen = strlen(name);
    for (uint32_t i = 0; i < ex->header_count; i++) {
        const bk_http_header_t *h = &ex->headers[i];
        if (h->name_len == nlen && strncasecmp(h->name, name, nlen) == 0) {
            if (len)
                *len = h->value_len;
            return h->value;
        }
    }
    return NULL;
}

const char *bk_exchange_query(const bk_exchange_t *ex, const char *name, size_t *len)
{
    size_t nlen = strlen(name);
    const char *p = ex->query, *end = ex->query ? ex->query + ex->query_len : NULL;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pair_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pair_end - p));
        const char *key_end = eq ? eq : pair_end;
        if ((size_t)(key_end - p) == nlen && memcmp(p, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : pair_end;
            if (len)
                *len = (size_t)(pair_end - v);
            return v;
        }
        p = amp ? amp + 1 : end;
    }
    return NULL;
}
