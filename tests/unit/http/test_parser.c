/* The request parser: results must not depend on how the bytes are split; limits and
 * request-smuggling shapes are refused with the right status; pipelined requests come out in
 * order; pausing hands back exactly the unparsed rest. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http/parser.h"

#define MAXREQ 16

typedef struct {
    bk_exchange_t *got[MAXREQ];
    int n;
    int pause_after; /* pause after this many requests (0 = never) */
    uint64_t body_limit;
} sink_t;

static int on_headers(void *arg, bk_exchange_t *ex, const char **msg)
{
    sink_t *s = arg;
    (void)msg;
    if (s->body_limit)
        ex->body_limit = s->body_limit;
    return 0;
}

static int on_request(void *arg, bk_exchange_t *ex)
{
    sink_t *s = arg;
    if (s->n < MAXREQ)
        s->got[s->n++] = ex;
    else
        bk_exchange_release(ex);
    return s->pause_after && s->n == s->pause_after;
}

static void reset(sink_t *s)
{
    for (int i = 0; i < s->n; i++)
        bk_exchange_release(s->got[i]);
    memset(s, 0, sizeof *s);
}

/* Feeds in pieces of `step` bytes (0 = all at once); returns the final status. */
static int feed(const char *req, size_t step, sink_t *s, const bk_http_limits_t *lim)
{
    bk_http_parser_hooks_t hooks = {on_headers, on_request, s};
    bk_http_parser_t p;
    bk_http_limits_t def;
    bk_http_limits_defaults(&def);
    bk_http_parser_init(&p, lim ? lim : &def, &hooks);
    size_t len = strlen(req), pos = 0;
    int status = 0;
    while (pos < len && !status) {
        size_t n = step ? (len - pos < step ? len - pos : step) : len - pos;
        size_t used;
        status = bk_http_parser_feed(&p, req + pos, n, &used);
        pos += used;
        if (used < n)
            bk_http_parser_resume(&p);
    }
    bk_http_parser_free(&p);
    return status;
}

static const char pipelined[] =
    "POST /produce?x=1&y=two HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
    "Content-Length: 16\r\n\r\n{\"message\":\"hi\"}"
    "GET /health HTTP/1.1\r\nHost: a\r\n\r\n"
    "POST /produce HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";

static void check_pipelined(sink_t *s)
{
    CHECK_EQ_INT(s->n, 3);
    if (s->n != 3)
        return;
    bk_exchange_t *a = s->got[0], *b = s->got[1], *c = s->got[2];
    CHECK(a->path_len == 8 && memcmp(a->path, "/produce", 8) == 0);
    size_t len;
    const char *y = bk_exchange_query(a, "y", &len);
    CHECK(y && len == 3 && memcmp(y, "two", 3) == 0);
    CHECK(bk_exchange_query(a, "z", NULL) == NULL);
    const char *ct = bk_exchange_header(a, "CONTENT-type", &len);
    CHECK(ct && len == 16 && memcmp(ct, "application/json", 16) == 0);
    CHECK(a->body_len == 16 && memcmp(a->body, "{\"message\":\"hi\"}", 16) == 0);
    CHECK(a->keep_alive);
    CHECK(b->path_len == 7 && b->body_len == 0);
    CHECK(c->body_len == 11 && memcmp(c->body, "hello world", 11) == 0);
}

static void any_split(void)
{
    static const size_t steps[] = {0, 1, 2, 3, 7, 13, 64};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        sink_t s = {0};
        CHECK_EQ_INT(feed(pipelined, steps[i], &s, NULL), 0);
        check_pipelined(&s);
        reset(&s);
    }
}

static void pause_and_resume(void)
{
    sink_t s = {0};
    s.pause_after = 1;
    CHECK_EQ_INT(feed(pipelined, 0, &s, NULL), 0);
    check_pipelined(&s);
    reset(&s);
}

static void limits(void)
{
    bk_http_limits_t lim;
    bk_http_limits_defaults(&lim);
    lim.max_url = 32;
    lim.max_header_line = 64;
    lim.max_header_bytes = 128;
    lim.max_headers = 4;
    lim.max_body = 10;
    sink_t s = {0};
    CHECK_EQ_INT(feed("GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n", 1,
                      &s, &lim),
                 414);
    char big[200];
    memset(big, 'v', sizeof big);
    big[sizeof big - 1] = 0;
    char req[512];
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: %.80s\r\n\r\n", big);
    CHECK_EQ_INT(feed(req, 0, &s, &lim), 431);
    snprintf(req, sizeof req,
             "GET / HTTP/1.1\r\nHost: a\r\nA: %.50s\r\nB: %.50s\r\nC: %.50s\r\n\r\n", big, big,
             big);
    CHECK_EQ_INT(feed(req, 5, &s, &lim), 431);
    CHECK_EQ_INT(feed("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n",
                      0, &s, &lim),
                 431);
    CHECK_EQ_INT(feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", 0, &s, &lim),
                 413);
    CHECK_EQ_INT(feed("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n",
                      3, &s, &lim),
                 413);
    CHECK_EQ_INT(s.n, 0);
    s.body_limit = 100; /* a route may raise the body limit at headers time */
    CHECK_EQ_INT(
        feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world", 0, &s, &lim),
        0);
    CHECK_EQ_INT(s.n, 1);
    reset(&s);
}

static void smuggling_shapes(void)
{
    sink_t s = {0};
    CHECK_EQ_INT(
        feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
             "0\r\n\r\n",
             0, &s, NULL),
        400);
    CHECK_EQ_INT(
        feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
             0, &s, NULL),
        400);
    CHECK_EQ_INT(feed("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
                      "chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
                      0, &s, NULL),
                 400);
    CHECK_EQ_INT(feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 0, &s, NULL),
                 400);
    CHECK_EQ_INT(feed("GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", 0, &s, NULL), 400);
    CHECK_EQ_INT(feed("GARBAGE\r\n\r\n", 0, &s, NULL), 400);
    CHECK_EQ_INT(feed("GET / HTTP/1.1\nHost: a\n\n", 0, &s, NULL), 400);
    CHECK_EQ_INT(s.n, 0);
    reset(&s);
}

static void expect_and_versions(void)
{
    sink_t s = {0};
    CHECK_EQ_INT(
        feed("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok", 0,
             &s, NULL),
        0);
    CHECK(s.n == 1 && s.got[0]->expect_continue);
    reset(&s);
    CHECK_EQ_INT(feed("POST / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n", 0, &s, NULL), 417);
    CHECK_EQ_INT(feed("GET / HTTP/1.0\r\n\r\n", 0, &s, NULL), 0);
    CHECK(s.n == 1 && !s.got[0]->keep_alive);
    reset(&s);
    CHECK_EQ_INT(feed("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0, &s, NULL), 0);
    CHECK(s.n == 1 && !s.got[0]->keep_alive);
    reset(&s);
}

static void host_and_upgrade(void)
{
    sink_t s = {0};
    CHECK_EQ_INT(feed("GET / HTTP/1.1\r\n\r\n", 0, &s, NULL), 400);
    CHECK_EQ_INT(feed("GET / HTTP/1.0\r\n\r\n", 0, &s, NULL), 0); /* 1.0 needs no Host */
    reset(&s);
    static const char up[] = "GET /a HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
                             "Upgrade: websocket\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n";
    for (size_t step = 0; step < 4; step++) {
        CHECK_EQ_INT(feed(up, step * 5, &s, NULL), 0);
        CHECK_EQ_INT(s.n, 2);
        if (s.n == 2)
            CHECK(s.got[1]->path_len == 2 && memcmp(s.got[1]->path, "/b", 2) == 0);
        reset(&s);
    }
    CHECK_EQ_INT(feed("CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: a\r\n\r\n",
                      0, &s, NULL),
                 0);
    CHECK_EQ_INT(s.n, 2);
    reset(&s);
}

/* Chunked trailers are counted against the header limits and dropped: they never touch the
 * head the path and headers point into (a trailer once reallocated it after it was resolved:
 * use-after-free in routing). Checked at every split, with a trailer larger than the head. */
static void trailers(void)
{
    char req[1024];
    char big[301];
    memset(big, '0', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(req, sizeof req,
             "POST /produce HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n0\r\nX-Trailer: %s\r\nX-Two: b\r\n\r\n"
             "GET /health HTTP/1.1\r\nHost: b\r\n\r\n",
             big);
    sink_t s = {0};
    for (size_t step = 0; step < 8; step++) {
        CHECK_EQ_INT(feed(req, step * 7, &s, NULL), 0);
        CHECK_EQ_INT(s.n, 2);
        if (s.n == 2) {
            bk_exchange_t *a = s.got[0], *b = s.got[1];
            CHECK(a->path_len == 8 && memcmp(a->path, "/produce", 8) == 0);
            CHECK(a->head.len < 100); /* the trailer was not stored */
            size_t n;
            const char *te = bk_exchange_header(a, "transfer-encoding", &n);
            CHECK(te && n == 7 && memcmp(te, "chunked", 7) == 0);
            CHECK(!bk_exchange_header(a, "x-trailer", NULL));
            CHECK(a->body_len == 5 && memcmp(a->body, "hello", 5) == 0);
            CHECK(b->path_len == 7 && memcmp(b->path, "/health", 7) == 0);
        }
        reset(&s);
    }
    bk_http_limits_t lim;
    bk_http_limits_defaults(&lim);
    lim.max_header_line = 100;
    CHECK_EQ_INT(feed(req, 0, &s, &lim), 431);
    reset(&s);
}

static void teardown(void)
{
    bk_exchange_pool_drain();
}

CHECK_MAIN(CASE(any_split), CASE(pause_and_resume), CASE(limits), CASE(smuggling_shapes),
           CASE(expect_and_versions), CASE(host_and_upgrade), CASE(trailers), CASE(teardown))
