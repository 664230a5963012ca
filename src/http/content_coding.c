/* Content-Encoding and Accept-Encoding, and the buffer work behind them. The parsers read
 * header values a client controls, so they never allocate, never read outside the value and
 * treat anything odd as an error (requests) or as absent (negotiation). Decoding goes through
 * src/codec, whose decompressors stop at a hard cap, so a small bomb costs at most the cap. */
#include "http/content_coding.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>
#include <zlib.h>
#include <zstd.h>

#include "brook/common.h"

#define GZIP_LEVEL 1
#define GZIP_WINDOW (15 + 16) /* 32K window, gzip wrapper (RFC 1952 member) */
#define ZSTD_LEVEL 1

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 9110 §5.6.2 tchar */
static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int token_is(const char *t, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(t, name, n) == 0;
}

/* One list element, OWS trimmed: p[0 .. *n) up to the next comma (or end). Returns the
 * position after the comma (or end). */
static const char *next_element(const char *p, const char *end, const char **elem, size_t *n)
{
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *e = comma ? comma : end;
    while (p < e && is_ows(*p))
        p++;
    while (e > p && is_ows(e[-1]))
        e--;
    *elem = p;
    *n = (size_t)(e - p);
    return comma ? comma + 1 : end;
}

static int coding_of(const char *t, size_t n, bk_codec_t *c)
{
    if (token_is(t, n, "gzip") || token_is(t, n, "x-gzip"))
        *c = BK_CODEC_GZIP;
    else if (token_is(t, n, "zstd"))
        *c = BK_CODEC_ZSTD;
    else if (token_is(t, n, "identity"))
        *c = BK_CODEC_NONE;
    else
        return UV_ENOTSUP;
    return 0;
}

int bk_http_codings_parse_value(const char *v, size_t len, bk_http_codings_t *out)
{
    const char *p = v, *end = v + len;
    while (p < end) {
        const char *t;
        size_t n;
        p = next_element(p, end, &t, &n);
        if (n == 0)
            continue; /* empty list elements are allowed (RFC 9110 §5.6.1) */
        out->bad = t;
        out->bad_len = n;
        for (size_t i = 0; i < n; i++)
            if (!is_tchar((unsigned char)t[i]))
                return BK_EINVAL;
        bk_codec_t c;
        if (coding_of(t, n, &c))
            return UV_ENOTSUP;
        if (c == BK_CODEC_NONE)
            continue;
        if (out->count == BK_HTTP_CODINGS_MAX)
            return BK_ETOOBIG;
        out->codings[out->count++] = c;
    }
    out->bad = NULL;
    out->bad_len = 0;
    return 0;
}

int bk_http_codings_parse(const bk_exchange_t *ex, bk_http_codings_t *out)
{
    memset(out, 0, sizeof *out);
    for (uint32_t i = 0; i < ex->header_count; i++) {
        const bk_http_header_t *h = &ex->headers[i];
        if (!token_is(h->name, h->name_len, "content-encoding"))
            continue;
        int rc = bk_http_codings_parse_value(h->value, h->value_len, out);
        if (rc)
            return rc;
    }
    return 0;
}

/* RFC 9110 §12.4.2 qvalue in thousandths: "0" ["." 0*3DIGIT] / "1" ["." 0*3"0"]. -1 if bad. */
static int parse_qvalue(const char *p, size_t n)
{
    if (n == 0 || (p[0] != '0' && p[0] != '1') || (n > 1 && (p[1] != '.' || n > 5)))
        return -1;
    int q = (p[0] - '0') * 1000, scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        q += (p[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

/* The weight of an Accept-Encoding element's parameters (";" OWS "q=" qvalue), 1000 when
 * there is none; -1 when malformed. Parameters other than q are ignored. */
static int element_weight(const char *p, const char *end)
{
    int q = 1000;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *e = semi ? semi : end;
        while (p < e && is_ows(*p))
            p++;
        const char *pe = e;
        while (pe > p && is_ows(pe[-1]))
            pe--;
        if (pe - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            q = parse_qvalue(p + 2, (size_t)(pe - p - 2));
            if (q < 0)
                return -1;
        }
        p = semi ? semi + 1 : end;
    }
    return q;
}

enum { W_ZSTD, W_GZIP, W_IDENTITY, W_STAR, W_COUNT };

/* Each element's weight into w[] (-1: not named); a name given twice keeps its first. */
static void weigh_elements(const char *v, size_t len, int w[W_COUNT])
{
    const char *p = v, *end = v + len;
    while (p < end) {
        const char *t;
        size_t n;
        p = next_element(p, end, &t, &n);
        const char *semi = memchr(t, ';', n);
        size_t name_len = semi ? (size_t)(semi - t) : n;
        while (name_len && is_ows(t[name_len - 1]))
            name_len--;
        int q = element_weight(semi ? semi + 1 : t + n, t + n);
        if (q < 0 || name_len == 0)
            continue;
        int k = token_is(t, name_len, "zstd")                                      ? W_ZSTD
                : token_is(t, name_len, "gzip") || token_is(t, name_len, "x-gzip") ? W_GZIP
                : token_is(t, name_len, "identity")                                ? W_IDENTITY
                : token_is(t, name_len, "*")                                       ? W_STAR
                                                                                   : -1;
        if (k >= 0 && w[k] < 0)
            w[k] = q;
    }
}

/* zstd before gzip at equal weight: it compresses JSON as small or smaller at several times
 * gzip's speed both ways, so the answer costs the broker and the client less. */
bk_codec_t bk_http_accept_encoding(const char *v, size_t len)
{
    if (!v)
        return BK_CODEC_NONE;
    int w[W_COUNT] = {-1, -1, -1, -1};
    weigh_elements(v, len, w);
    int star = w[W_STAR] < 0 ? 0 : w[W_STAR];
    int zstd = w[W_ZSTD] < 0 ? star : w[W_ZSTD];
    int gzip = w[W_GZIP] < 0 ? star : w[W_GZIP];
    /* identity competes only when weighted (by name or by "*"): unnamed, it is the fallback
     * (always acceptable), not a preference over a coding the client asked for */
    int identity = w[W_IDENTITY] >= 0 ? w[W_IDENTITY] : star;
    if (zstd > 0 && zstd >= gzip && zstd >= identity)
        return BK_CODEC_ZSTD;
    if (gzip > 0 && gzip >= identity)
        return BK_CODEC_GZIP;
    return BK_CODEC_NONE;
}

int bk_http_decode(const bk_http_codings_t *c, const uint8_t *src, size_t len, size_t max_out,
                   bk_codec_buf_t *out, bk_codec_buf_t *scratch, bk_codec_t *failed)
{
    /* stages alternate between the two buffers so that the last one lands in out */
    bk_codec_buf_t *bufs[2] = {c->count % 2 ? out : scratch, c->count % 2 ? scratch : out};
    const uint8_t *in = src;
    size_t in_len = len;
    out->len = 0;
    for (unsigned k = 0; k < c->count; k++) {
        bk_codec_t coding = c->codings[c->count - 1 - k];
        bk_codec_buf_t *dst = bufs[k % 2];
        int rc = bk_codec_decompress(coding, in, in_len, max_out, dst);
        if (rc) {
            *failed = coding;
            return rc;
        }
        in = dst->data;
        in_len = dst->len;
    }
    return 0;
}

static int gzip_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *n)
{
    if (len > UINT_MAX)
        return BK_ETOOBIG;
    z_stream zs = {0};
    if (deflateInit2(&zs, GZIP_LEVEL, Z_DEFLATED, GZIP_WINDOW, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return UV_ENOMEM;
    zs.next_in = (Bytef *)(uintptr_t)src;
    zs.avail_in = (uInt)len;
    zs.next_out = dst;
    zs.avail_out = cap > UINT_MAX ? UINT_MAX : (uInt)cap;
    int z = deflate(&zs, Z_FINISH);
    *n = (size_t)zs.total_out;
    (void)deflateEnd(&zs);
    return z == Z_STREAM_END ? 0 : BK_ETOOBIG;
}

static int zstd_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *n)
{
    size_t r = ZSTD_compress(dst, cap, src, len, ZSTD_LEVEL);
    if (ZSTD_isError(r))
        return BK_ETOOBIG; /* dst too small (or out of memory: sent uncoded either way) */
    *n = r;
    return 0;
}

int bk_http_encode(bk_codec_t codec, const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
                   size_t *dst_len)
{
    if (codec == BK_CODEC_GZIP)
        return gzip_encode(src, len, dst, cap, dst_len) == 0 ? 0 : BK_ETOOBIG;
    if (codec == BK_CODEC_ZSTD)
        return zstd_encode(src, len, dst, cap, dst_len);
    return BK_EINVAL;
}

const char *bk_http_coding_name(bk_codec_t codec)
{
    return codec == BK_CODEC_GZIP ? "gzip" : codec == BK_CODEC_ZSTD ? "zstd" : NULL;
}
