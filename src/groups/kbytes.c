/* Big-endian Kafka primitives for the group layer's byte formats. Decoders of untrusted
 * bytes stand on bk_gkr_*: every read is bounds-checked and a failure sticks, so a decoder
 * checks r.err once at the end; nothing is ever read past r.end. */
#include "groups/kbytes.h"

#include "brook/common.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

static uint8_t *kw_room(bk_gkw_t *w, size_t n)
{
    if (w->err)
        return NULL;
    if (bk_grow(&w->b->data, &w->b->cap, w->b->len, n, 1, 64)) {
        w->err = UV_ENOMEM;
        return NULL;
    }
    uint8_t *p = w->b->data + w->b->len;
    w->b->len += n;
    return p;
}

static void put_be(bk_gkw_t *w, uint64_t v, size_t n)
{
    uint8_t *p = kw_room(w, n);
    if (!p)
        return;
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

void bk_gkw_i16(bk_gkw_t *w, int16_t v)
{
    put_be(w, (uint16_t)v, 2);
}

void bk_gkw_i32(bk_gkw_t *w, int32_t v)
{
    put_be(w, (uint32_t)v, 4);
}

void bk_gkw_i64(bk_gkw_t *w, int64_t v)
{
    put_be(w, (uint64_t)v, 8);
}

void bk_gkw_str(bk_gkw_t *w, const char *s)
{
    if (!s) {
        bk_gkw_i16(w, -1);
        return;
    }
    size_t n = strlen(s);
    if (n > INT16_MAX || !bk_kb_text_ok((const uint8_t *)s, n)) {
        if (!w->err)
            w->err = BK_EINVAL;
        return;
    }
    bk_gkw_i16(w, (int16_t)n);
    uint8_t *p = kw_room(w, n);
    if (p && n)
        memcpy(p, s, n);
}

void bk_gkw_bytes(bk_gkw_t *w, const uint8_t *p, size_t len)
{
    if (!p) {
        bk_gkw_i32(w, -1);
        return;
    }
    if (len > INT32_MAX) {
        if (!w->err)
            w->err = BK_EINVAL;
        return;
    }
    bk_gkw_i32(w, (int32_t)len);
    uint8_t *d = kw_room(w, len);
    if (d && len)
        memcpy(d, p, len);
}

static const uint8_t *kr_take(bk_gkr_t *r, size_t n)
{
    if (r->err)
        return NULL;
    if ((size_t)(r->end - r->p) < n) {
        r->err = BK_ECORRUPT;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

static uint64_t get_be(bk_gkr_t *r, size_t n)
{
    const uint8_t *p = kr_take(r, n);
    uint64_t v = 0;
    if (!p)
        return 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

int16_t bk_gkr_i16(bk_gkr_t *r)
{
    return (int16_t)(uint16_t)get_be(r, 2);
}

int32_t bk_gkr_i32(bk_gkr_t *r)
{
    return (int32_t)(uint32_t)get_be(r, 4);
}

int64_t bk_gkr_i64(bk_gkr_t *r)
{
    return (int64_t)get_be(r, 8);
}

char *bk_gkr_str(bk_gkr_t *r, int nullable)
{
    int16_t n = bk_gkr_i16(r);
    if (r->err)
        return NULL;
    if (n < 0) {
        if (n != -1 || !nullable)
            r->err = BK_ECORRUPT;
        return NULL;
    }
    const uint8_t *p = kr_take(r, (size_t)n);
    if (!p)
        return NULL;
    if (!bk_kb_text_ok(p, (size_t)n)) {
        r->err = BK_ECORRUPT;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        r->err = UV_ENOMEM;
        return NULL;
    }
    memcpy(s, p, (size_t)n);
    s[n] = 0;
    return s;
}

void bk_gkr_bytes(bk_gkr_t *r, uint8_t **out, size_t *len, int *is_null)
{
    *out = NULL;
    *len = 0;
    *is_null = 0;
    int32_t n = bk_gkr_i32(r);
    if (r->err)
        return;
    if (n < 0) {
        if (n != -1)
            r->err = BK_ECORRUPT;
        *is_null = 1;
        return;
    }
    const uint8_t *p = kr_take(r, (size_t)n);
    if (!p || n == 0)
        return;
    *out = malloc((size_t)n);
    if (!*out) {
        r->err = UV_ENOMEM;
        return;
    }
    memcpy(*out, p, (size_t)n);
    *len = (size_t)n;
}

int32_t bk_gkr_count(bk_gkr_t *r, size_t min_item)
{
    int32_t n = bk_gkr_i32(r);
    if (r->err)
        return 0;
    if (n < 0 || (min_item && (size_t)n > (size_t)(r->end - r->p) / min_item)) {
        r->err = BK_ECORRUPT;
        return 0;
    }
    return n;
}

int bk_kb_text_ok(const uint8_t *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = p[i];
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
        if (c < 0xc2 || c > 0xf4 || len - i <= n)
            return 0;
        uint32_t cp = c & (0x3fu >> n);
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i + k] & 0x3fu);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}
