/* Fuzz target for the request path: bytes → parser (in two different splits) → router →
 * produce-body decoder → the error answers a handler would give. Beyond "no crash, no leak" it
 * checks invariants a client relies on: the outcome does not depend on how the bytes were
 * split (same requests, same error); requests come out in order and nothing is delivered after
 * a request that closes the connection; every answer body that quotes the request (unknown
 * path, refused media type, bad produce body) is valid UTF-8 and valid JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "api/produce_body.h"
#include "api/router.h"
#include "http/parser.h"
#include "http/response.h"

#define MAX_SEEN 64

typedef struct {
    uint32_t n;
    int closed;             /* a request that closes the connection was delivered */
    uint64_t sig[MAX_SEEN]; /* per request: path length, body length, route, body status */
} seen_t;

static bk_produce_body_t body;

int bk_api_require_json(bk_exchange_t *ex); /* src/api/produce.c */

/* RFC 3629 UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
static int valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k = c < 0x80             ? 0
                   : (c & 0xe0) == 0xc0 ? 1
                   : (c & 0xf0) == 0xe0 ? 2
                   : (c & 0xf8) == 0xf0 ? 3
                                        : 9;
        if (k == 9 || (k == 1 && c < 0xc2) || i + k >= n + (k ? 0 : 1))
            return 0;
        unsigned cp = k ? c & (0x3f >> k) : c;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* The JSON body of a complete answer in ex->out must be valid UTF-8 and parse. */
static void check_answer(const bk_exchange_t *ex)
{
    if (ex->method == HTTP_HEAD) /* same head, no body */
        return;
    const char *out = ex->out.data;
    const char *sep = out ? memmem(out, ex->out.len, "\r\n\r\n", 4) : NULL;
    if (!sep)
        abort();
    size_t n = ex->out.len - (size_t)(sep + 4 - out);
    char *text = malloc(n + 1);
    if (!text)
        return;
    memcpy(text, sep + 4, n);
    text[n] = '\0';
    char err[128];
    yajl_val v =
        valid_utf8((const unsigned char *)text, n) ? yajl_tree_parse(text, err, sizeof err) : NULL;
    if (!v)
        abort();
    yajl_tree_free(v);
    free(text);
}

/* Answers ex as the dispatcher would for the refusals that quote client bytes. */
static void answer(bk_exchange_t *ex, int rc, int st)
{
    if (rc == 404)
        bk_exchange_errorf(ex, 404, "no such resource: %.*s",
                           (int)(ex->path_len > 200 ? 200 : ex->path_len), ex->path);
    else if (st)
        bk_exchange_error(ex, st, body.error);
    else if (!bk_api_require_json(ex))
        ;
    else
        return;
    check_answer(ex);
}

static int on_request(void *arg, bk_exchange_t *ex)
{
    seen_t *s = arg;
    if (s->closed) /* nothing may come after a request that closes the connection */
        abort();
    s->closed = !ex->keep_alive;
    bk_route_t r;
    int rc = bk_route_match(ex->method, ex->path, ex->path_len, &r);
    int st = 0;
    if (rc == 0 && r.id == BK_ROUTE_PRODUCE)
        st = bk_produce_body_parse(&body, ex->body, ex->body_len);
    if (s->n < MAX_SEEN)
        s->sig[s->n] = (uint64_t)ex->path_len << 40 ^ (uint64_t)ex->body_len << 16 ^
                       (uint64_t)rc << 8 ^ (uint64_t)st ^ (uint64_t)ex->header_count << 52;
    s->n++;
    answer(ex, rc, st);
    bk_exchange_release(ex);
    return 0;
}

static int run(const uint8_t *data, size_t len, size_t step, seen_t *s)
{
    bk_http_limits_t lim;
    bk_http_limits_defaults(&lim);
    lim.max_body = 4096;
    lim.max_header_bytes = 2048;
    bk_http_parser_hooks_t hooks = {NULL, on_request, s};
    bk_http_parser_t p;
    bk_http_parser_init(&p, &lim, &hooks);
    int status = 0;
    size_t pos = 0;
    while (pos < len && !status) {
        size_t n = len - pos < step ? len - pos : step;
        size_t used;
        status = bk_http_parser_feed(&p, (const char *)data + pos, n, &used);
        pos += used;
    }
    bk_http_parser_free(&p);
    return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < 1)
        return 0;
    size_t step = (size_t)data[0] % 17 + 1;
    seen_t whole = {0}, split = {0};
    int a = run(data + 1, len - 1, len, &whole);
    int b = run(data + 1, len - 1, step, &split);
    if (a != b || whole.n != split.n ||
        memcmp(whole.sig, split.sig, sizeof(uint64_t) * (whole.n < MAX_SEEN ? whole.n : MAX_SEEN)))
        abort();
    return 0;
}
