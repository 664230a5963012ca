/* HTTP/1.1 request parsing: llhttp callbacks fill an exchange, enforcing the configured limits.
 * Pure byte-in, exchange-out logic with no sockets, so it can be unit-tested and fuzzed with
 * any split of the input. It never answers requests itself: errors come back as a status. */
#ifndef BROOK_HTTP_PARSER_H
#define BROOK_HTTP_PARSER_H

#include <llhttp.h>
#include <stddef.h>
#include <stdint.h>

#include "http/exchange.h"

typedef struct {
    uint32_t max_url;          /* request-target bytes → 414 */
    uint32_t max_header_line;  /* one header line → 431 */
    uint32_t max_header_bytes; /* all header lines together → 431 */
    uint32_t max_headers;      /* header count → 431 */
    uint64_t max_body;         /* default body limit → 413 (routes may set ex->body_limit) */
} bk_http_limits_t;

void bk_http_limits_defaults(bk_http_limits_t *l);

typedef struct {
    /* The request line and headers of ex are complete. May set ex->body_limit and
     * ex->route_ctx. Returns 0 to go on, or an HTTP status (413, 415, ...) to reject the
     * request before its body is read; *msg then says why (static string). */
    int (*on_headers)(void *arg, bk_exchange_t *ex, const char **msg);
    /* ex is complete; ownership passes to the callee. Return 0 to keep parsing, 1 to pause
     * parsing after this request (backpressure; see bk_http_parser_feed). */
    int (*on_request)(void *arg, bk_exchange_t *ex);
    void *arg;
} bk_http_parser_hooks_t;

typedef struct {
    llhttp_t ll;
    bk_exchange_t *cur; /* the request being parsed, NULL between requests */
    const bk_http_limits_t *limits;
    const bk_http_parser_hooks_t *hooks;
    int err_status;      /* HTTP status of the error that stopped parsing */
    const char *err_msg; /* static text for that error */
    size_t header_bytes; /* bytes of header lines in the current request */
    size_t line_bytes;   /* bytes of the current header line */
    int in_field;        /* a header name is being received */
    int in_value;        /* a header value is being received */
    int in_trailer;      /* the head is resolved: header callbacks now carry chunked trailers */
    uint32_t trailers;   /* trailer fields so far (they count against max_headers too) */
} bk_http_parser_t;

extern const llhttp_settings_t bk_http_parser_settings;

void bk_http_parser_init(bk_http_parser_t *p, const bk_http_limits_t *limits,
                         const bk_http_parser_hooks_t *hooks);

/* Feeds len bytes. Returns 0 when every byte was consumed, or when parsing paused because
 * on_request returned 1 (then *consumed < len: call bk_http_parser_resume() and feed the rest
 * later). Returns an HTTP error status (400, 413, 414, 431, ...) with p->err_msg set when the
 * input is bad; the parser is then dead and the connection should answer and close. */
int bk_http_parser_feed(bk_http_parser_t *p, const char *data, size_t len, size_t *consumed);
void bk_http_parser_resume(bk_http_parser_t *p);

/* 1 while parsing is paused by on_request (also when the pause fell on the last byte fed). */
int bk_http_parser_paused(const bk_http_parser_t *p);

/* Signals end of input; returns 0 or an HTTP error status (a truncated request is 400). */
int bk_http_parser_finish(bk_http_parser_t *p);

/* 1 while a request is partly received (for header/body timeouts). */
int bk_http_parser_mid_request(const bk_http_parser_t *p);

/* Releases the partly parsed request, if any. */
void bk_http_parser_free(bk_http_parser_t *p);

#endif
