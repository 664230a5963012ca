/* The HTTP/1.1 server: listener, connections, keep-alive, pipelining (responses strictly in
 * request order, also when handlers answer asynchronously), limits and timeouts. It knows
 * nothing of topics or leaders: every complete request goes to the handlers given at start,
 * which answer it exactly once with bk_exchange_respond*() (src/http/response.h).
 *
 * Ownership: the server owns connections and exchanges. An exchange whose connection closed
 * while its handler was busy stays valid until answered; the answer is then dropped quietly. */
#ifndef BROOK_SERVER_H
#define BROOK_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "brook/tls.h"
#include "http/exchange.h"
#include "http/parser.h"

#define BK_SERVER_PORT_OFF (-1) /* no listener on this port */

typedef struct {
    const char *host;            /* listen address, default 0.0.0.0 */
    int port;                    /* plaintext HTTP: 0 = ephemeral, BK_SERVER_PORT_OFF = none */
    int tls_port;                /* HTTPS beside it (needs tls): 0 = ephemeral, default
                                    BK_SERVER_PORT_OFF */
    bk_tls_ctx_t *tls;           /* server context for tls_port; the caller keeps it alive
                                    until the server has stopped */
    uint32_t max_connections;    /* beyond it new connections get 503 and are closed */
    uint32_t request_timeout_ms; /* a started request must be complete within this → 408 */
    uint32_t idle_timeout_ms;    /* keep-alive connection idle this long → closed */
    uint32_t max_pipeline;       /* unanswered requests per connection before reading pauses */
    size_t max_conn_buffer;      /* request bodies + answers a connection may hold before its
                                    reading pauses (and reads are held); one request more may
                                    arrive past it */
    bk_http_limits_t limits;
} bk_server_config_t;

void bk_server_config_defaults(bk_server_config_t *cfg);

typedef struct {
    /* Headers complete (see bk_http_parser_hooks_t.on_headers). */
    int (*on_headers)(void *arg, bk_exchange_t *ex, const char **msg);
    /* A complete request; answer it now or later, exactly once. */
    void (*on_request)(void *arg, bk_exchange_t *ex);
    void *arg;
} bk_server_handlers_t;

typedef struct bk_server bk_server_t;

/* Binds and listens (plain, HTTPS or both). Returns 0 or a negative libuv error (e.g.
 * UV_EADDRINUSE; BK_EINVAL with neither listener, or tls_port without tls). */
int bk_server_start(uv_loop_t *loop, const bk_server_config_t *cfg,
                    const bk_server_handlers_t *handlers, bk_server_t **out);

/* Port actually bound (useful with port 0), -1 when that listener is off. */
int bk_server_port(const bk_server_t *s);
int bk_server_tls_port(const bk_server_t *s);
uint32_t bk_server_connection_count(const bk_server_t *s);
uint64_t bk_server_accepted_total(const bk_server_t *s);

/* Graceful stop: closes the listener and idle connections, lets busy connections finish the
 * requests they have (answers are written), then closes them, frees, and calls done(arg). */
void bk_server_stop(bk_server_t *s, void (*done)(void *arg), void *arg);

#endif
