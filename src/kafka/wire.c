/* Kafka's primitive types (see wire.h). Lengths are checked against what is left before any
 * pointer moves; the reader's failure is sticky so decoders read straight through. */
#include "kafka/wire.h"

#include <stdlib.h>
#include <string.h>

void bk_kr_init(bk_kr_t *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->end = p + len;
    r->bad = 0;
}

size_t bk_kr_left(const bk_kr_t *r)
{
    return r->bad ? 0 : (size_t)(r->end - r->p);
}

static const uint8_t *take(bk_kr_t *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *q = r->p;
    r->p += n;
    return q;
}

static uint64_t be(const uint8_t *q, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | q[i];
    return v;
}

int8_t bk_kr_i8(bk_kr_t *r)
{
    const uint8_t *q = take(r, 1);
    return q ? (int8_t)q[0] : 0;
}

int16_t bk_kr_i16(bk_kr_t *r)
{
    const uint8_t *q = take(r, 2);
    return q ? (int16_t)be(q, 2) : 0;
}

int32_t bk_kr_i32(bk_kr_t *r)
{
    const uint8_t *q = take(r, 4);
    return q ? (int32_t)be(q, 4) : 0;
}

int64_t bk_kr_i64(bk_kr_t *r)
{
    const uint8_t *q = take(r, 8);
    return q ? (int64_t)be(q, 8) : 0;
}

uint32_t bk_kr_uvarint(bk_kr_t *r)
{
    uint32_t v = 0;
    for (int shift = 0; shift < 35; shift += 7) {
        const uint8_t *q = take(r, 1);
        if (!q)
            return 0;
        if (shift == 28 && (*q & 0xf0)) /* more than 32 bits */
            break;
        v |= (uint32_t)(*q & 0x7f) << shift;
        if (!(*q & 0x80))
            return v;
    }
    r->bad = 1;
    return 0;
}

/* A length read as int16/int32 (classic) or uvarint-1 (compact); -1 null, < -1 bad. */
static int64_t length(bk_kr_t *r, int flex, int wide)
{
    if (flex)
        return (int64_t)bk_kr_uvarint(r) - 1;
    return wide ? bk_kr_i32(r) : bk_kr_i16(r);
}

static bk_kslice_t slice(bk_kr_t *r, int64_t len)
{
    bk_kslice_t s = {NULL, -1};
    if (len < -1 || r->bad) {
        r->bad = 1;
        return s;
    }
    if (len == -1)
        return s;
    s.ptr = take(r, (size_t)len);
    s.len = s.ptr ? (int32_t)len : -1;
    return s;
}

bk_kslice_t bk_kr_str(bk_kr_t *r, int flex)
{
    return slice(r, length(r, flex, 0));
}

bk_kslice_t bk_kr_bytes(bk_kr_t *r, int flex)
{
    return slice(r, length(r, flex, 1));
}

int32_t bk_kr_array(bk_kr_t *r, int flex, size_t min_elem)
{
    int64_t n = length(r, flex, 1);
    if (r->bad || n < -1 || (n > 0 && (uint64_t)n * (min_elem ? min_elem : 1) > bk_kr_left(r))) {
        r->bad = 1;
        return 0;
    }
    return (int32_t)n;
}

void bk_kr_tags(bk_kr_t *r)
{
    uint32_t n = bk_kr_uvarint(r);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        (void)bk_kr_uvarint(r); /* tag */
        uint32_t size = bk_kr_uvarint(r);
        (void)take(r, size);
    }
}

/* ---- writer ---- */

static uint8_t *room(bk_kw_t *w, size_t n)
{
    if (w->bad)
        return NULL;
    if (w->cap - w->len < n) {
        size_t c = w->cap ? w->cap : 256;
        while (c - w->len < n)
            c *= 2;
        uint8_t *d = realloc(w->data, c);
        if (!d) {
            w->bad = 1;
            return NULL;
        }
        w->data = d;
        w->cap = c;
    }
    uint8_t *q = w->data + w->len;
    w->len += n;
    return q;
}

static void put_be(uint8_t *q, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        q[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static void wbe(bk_kw_t *w, uint64_t v, size_t n)
{
    uint8_t *q = room(w, n);
    if (q)
        put_be(q, v, n);
}

void bk_kw_i8(bk_kw_t *w, int8_t v)
{
    wbe(w, (uint8_t)v, 1);
}

void bk_kw_i16(bk_kw_t *w, int16_t v)
{
    wbe(w, (uint16_t)v, 2);
}

void bk_kw_i32(bk_kw_t *w, int32_t v)
{
    wbe(w, (uint32_t)v, 4);
}

void bk_kw_i64(bk_kw_t *w, int64_t v)
{
    wbe(w, (uint64_t)v, 8);
}

void bk_kw_uvarint(bk_kw_t *w, uint32_t v)
{
    while (v >= 0x80) {
        wbe(w, (v & 0x7f) | 0x80, 1);
        v >>= 7;
    }
    wbe(w, v, 1);
}

void bk_kw_raw(bk_kw_t *w, const void *b, size_t len)
{
    uint8_t *q = len ? room(w, len) : NULL;
    if (q)
        memcpy(q, b, len);
}

static void wlen(bk_kw_t *w, int flex, int wide, int32_t len)
{
    if (flex)
        bk_kw_uvarint(w, (uint32_t)(len + 1));
    else if (wide)
        bk_kw_i32(w, len);
    else
        bk_kw_i16(w, (int16_t)len);
}

void bk_kw_str(bk_kw_t *w, int flex, const char *s, int32_t len)
{
    if (!s || len < 0) {
        wlen(w, flex, 0, -1);
        return;
    }
    if (len > INT16_MAX)
        len = INT16_MAX;
    wlen(w, flex, 0, len);
    bk_kw_raw(w, s, (size_t)len);
}

void bk_kw_cstr(bk_kw_t *w, int flex, const char *s)
{
    bk_kw_str(w, flex, s, s ? (int32_t)strlen(s) : -1);
}

void bk_kw_bytes(bk_kw_t *w, int flex, const uint8_t *b, int32_t len)
{
    if (!b || len < 0) {
        wlen(w, flex, 1, -1);
        return;
    }
    wlen(w, flex, 1, len);
    bk_kw_raw(w, b, (size_t)len);
}

void bk_kw_array(bk_kw_t *w, int flex, int32_t n)
{
    wlen(w, flex, 1, n);
}

void bk_kw_tags(bk_kw_t *w, int flex)
{
    if (flex)
        bk_kw_uvarint(w, 0);
}

size_t bk_kw_skip(bk_kw_t *w, size_t len)
{
    size_t at = w->len;
    uint8_t *q = room(w, len);
    if (q)
        memset(q, 0, len);
    return at;
}

void bk_kw_put_i32(bk_kw_t *w, size_t at, int32_t v)
{
    if (!w->bad && at + 4 <= w->len)
        put_be(w->data + at, (uint32_t)v, 4);
}

void bk_kw_free(bk_kw_t *w)
{
    free(w->data);
    *w = (bk_kw_t){0};
}
