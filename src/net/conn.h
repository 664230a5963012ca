/* One client connection: its socket, its parser, and the queue of exchanges in request order.
 * Private to src/net; the server owns the list of connections. A connection is freed only in
 * its close callback; closing is idempotent. */
#ifndef BROOK_NET_CONN_H
#define BROOK_NET_CONN_H

#include <uv.h>

#include "brook/server.h"
#include "brook/tls.h"
#include "http/parser.h"

#define BK_CONN_MAX_WRITE_BUFS 64

typedef struct bk_conn bk_conn_t;
struct bk_conn {
    uv_tcp_t tcp;
    struct bk_server *srv;
    bk_http_parser_t parser;
    bk_http_parser_hooks_t hooks; /* arg = this connection */
    bk_exchange_t *head, *tail;   /* unanswered or unwritten exchanges, in request order */
    uint32_t queued;
    uint32_t unsafe_busy;   /* dispatched, unanswered requests with unsafe methods (POST...) */
    size_t queued_bytes;    /* answer bytes waiting in the queue (not yet handed to a write) */
    size_t body_bytes;      /* request body bytes of queued exchanges (the budget counts them) */
    size_t last_unsent;     /* unsent answer bytes when the idle timeout last came due */
    uint32_t effect_holds;  /* answered writes whose effects are pending; each holds c alive */
    bk_exchange_t *writing; /* exchanges whose bytes are in the write in flight */
    uv_write_t wreq;
    uv_buf_t wbufs[BK_CONN_MAX_WRITE_BUFS];
    bk_buf_t stream_out; /* chunks of a streamed answer being written */
    char *pending;       /* bytes read but not parsed while paused (backpressure) */
    size_t pending_len;
    uint64_t request_started_ms; /* when the request being parsed began */
    uint64_t last_active_ms;     /* last read or completed write */
    unsigned write_in_flight : 1;
    unsigned paused : 1;    /* parser paused, reading stopped */
    unsigned read_done : 1; /* EOF, a parse error, or shutdown: read no more */
    unsigned closing : 1;
    unsigned stream_write : 1;  /* the write in flight is from stream_out */
    unsigned feeding : 1;       /* parsing a read: answers wait to leave in one write after it */
    unsigned no_dispatch : 1;   /* an answer says close: nothing after it is dispatched */
    unsigned handle_closed : 1; /* uv_close done; freed when effect_holds reaches 0 */
    unsigned deferred : 1;      /* on the server's deferred list (dnext) */
    unsigned tls_first : 1;     /* TLS, no request yet: its clock started at accept */
    bk_tls_t *tls;              /* NULL on a plaintext connection */
    bk_conn_t *dnext;
    bk_conn_t *prev, *next; /* server's list */
};

/* Creates and starts reading an accepted connection, over TLS when tls is given (the server's
 * context); 0 or a negative error. */
int bk_conn_accept(struct bk_server *srv, uv_stream_t *listener, bk_tls_ctx_t *tls);

/* Closes now (in-flight exchanges are detached and answered into the void). */
void bk_conn_close(bk_conn_t *c);

/* Stops reading; closes once every queued response is written (graceful). */
void bk_conn_drain(bk_conn_t *c);

/* Periodic check against request and idle timeouts (now from the loop). */
void bk_conn_sweep(bk_conn_t *c, uint64_t now);

/* The response hook installed in bk_http_identity_t.on_ready. */
void bk_conn_on_response(bk_exchange_t *ex);

/* From the server's deferred timer: dispatches held requests and writes ready answers. Work a
 * completion makes for its connection (an answer, a released held request) runs here, never
 * inside the completion: a handler dispatched or a connection closed from inside a log or
 * replicator callback could free what the callbacks after it still use. */
void bk_conn_run_deferred(bk_conn_t *c);

/* The exchange hooks (bk_exchange_conn_hooks_t) installed by the server at start. */
extern const bk_exchange_conn_hooks_t bk_conn_exchange_hooks;

#endif
