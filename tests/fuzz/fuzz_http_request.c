/* Fuzz target for the request path: bytes → parser (in two different splits) → router →
 * produce-body decoder. Beyond "no crash, no leak" it checks that the outcome does not depend
 * on how the bytes were split: both feeds must see the same requests and the same error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/produce_body.h"
#include "api/router.h"
#include "http/parser.h"

#define MAX_SEEN 64

typedef struct {
    uint32_t n;
    uint64_t sig[MAX_SEEN]; /* per request: path length, body length, route, body status */
} seen_t;

static bk_produce_body_t body;

static int on_request(void *arg, bk_exchange_t *ex)
{
    seen_t *s = arg;
    bk_route_t r;
    int rc = bk_route_match(ex->method, ex->path, ex->path_len, &r);
    int st = 0;
    if (rc == 0 && r.id == BK_ROUTE_PRODUCE)
        st = bk_produce_body_parse(&body, ex->body, ex->body_len);
    if (s->n < MAX_SEEN)
        s->sig[s->n] = (uint64_t)ex->path_len << 40 ^ (uint64_t)ex->body_len << 16 ^
                       (uint64_t)rc << 8 ^ (uint64_t)st ^ (uint64_t)ex->header_count << 52;
    s->n++;
    bk_exchange_release(ex);
    return 0;
}

static int run(const uint8_t *data, size_t len, size_t step, seen_t *s)
{
    bk_http_limits_t lim;
    bk_http_limits_defaults(&lim);
    lim.max_body = 4096;
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
