/* One HTTP request and its response: the unit that flows from the parser through the router
 * to a handler and back out of the connection, in request order. The parser fills the request
 * half; a handler fills the response half exactly once (bk_exchange_respond*), synchronously
 * or later from the loop. Exchanges are recycled through a free list, never freed mid-flight. */
#ifndef BROOK_HTTP_EXCHANGE_H
#define BROOK_HTTP_EXCHANGE_H

#include <stddef.h>
#include <stdint.h>

#define BK_HTTP_MAX_HEADERS_HARD 256

typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} bk_http_header_t;

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} bk_buf_t;

typedef enum {
    BK_EX_PARSING = 0, /* request still arriving */
    BK_EX_HELD,        /* complete, waiting for an earlier unsafe request to be answered */
    BK_EX_DISPATCHED,  /* handed to a handler, no response yet */
    BK_EX_RESPONDED,   /* response bytes ready in ->out */
} bk_exchange_state_t;

struct sockaddr_storage;
typedef struct bk_exchange bk_exchange_t;
struct bk_exchange {
    /* request */
    int method; /* llhttp_method_t */
    const char *path;
    size_t path_len;
    const char *query; /* without '?'; NULL when absent */
    size_t query_len;
    bk_http_header_t *headers;
    uint32_t header_count;
    const uint8_t *body;
    size_t body_len;
    int keep_alive;
    int http_minor;
    int expect_continue; /* client sent Expect: 100-continue */
    bk_buf_t head;       /* URL and header bytes; the pointers above point into it */
    bk_buf_t body_buf;
    size_t *hdr_offsets; /* name/value offsets into head while headers arrive */
    uint32_t hdr_cap;

    /* response */
    bk_exchange_state_t state;
    int status;
    int close_after; /* close the connection once this response is written */
    bk_buf_t out;    /* complete response bytes (status line, headers, body) */

    /* plumbing for the connection and router; opaque here */
    bk_exchange_t *next;
    void *conn;      /* the connection, or NULL once it has gone */
    void *route_ctx; /* what the router decided at headers time */
    uint64_t started_ms;
    uint64_t started_ns;   /* uv_hrtime() when the request was complete (latency metrics) */
    int route;             /* bk_route_id_t chosen by the dispatcher (metrics label) */
    const char *json_type; /* Content-Type for JSON answers (NULL = application/json) */

    /* content coding (content_coding.h): the body holds its Content-Encoding undone (a
     * re-dispatch, after an implicit topic creation, must not decode it again); the answer
     * is being compressed on the threadpool (ex stays dispatched until it is sent) */
    unsigned body_decoded : 1;
    unsigned coding : 1;
    /* streamed (chunked) answers: see bk_exchange_stream_* in response.h */
    unsigned streaming : 1;
    unsigned stream_ended : 1;
    unsigned stream_raw : 1;             /* HTTP/1.0: no chunked framing, the close ends the body */
    void (*on_drain)(bk_exchange_t *ex); /* everything queued so far was written */
    void (*on_gone)(bk_exchange_t *ex);  /* the connection closed: stop and release ex */
    void (*on_hangup)(bk_exchange_t *ex); /* the client sends no more (EOF): answer it now */
    void *stream_ctx;
    size_t body_limit;
    size_t held_bytes; /* request body bytes the connection counts against its budget */
    /* the common name of the client's verified TLS certificate (principal User:<it>), or
     * NULL; owned by the connection, so valid only while ex->conn is set */
    const char *tls_user;
};

/* Takes an exchange from the free list (or allocates). Returns NULL on out-of-memory. */
bk_exchange_t *bk_exchange_new(void);
/* Resets and returns it to the free list. */
void bk_exchange_release(bk_exchange_t *ex);
/* Frees every exchange on the free list (at shutdown, so leak checkers stay quiet). */
void bk_exchange_pool_drain(void);

/* Hooks the connection layer installs at start (all NULL in unit tests, where every exchange
 * counts as at the head and effects are not tracked). */
typedef struct {
    /* 1 when ex is the oldest unanswered exchange of its connection (or has none). */
    int (*at_head)(const bk_exchange_t *ex);
    /* The write ex carries keeps its connection's later reads and DELETEs held after ex is
     * answered (acks=0 answers before the write is applied), until effects_done(token). */
    void *(*hold_effects)(bk_exchange_t *ex);
    void (*effects_done)(void *token);
    /* ex holds delta bytes more (or fewer) than counted when it arrived (a decoded body):
     * the connection's budget counts them until ex is released. */
    void (*charge)(bk_exchange_t *ex, int64_t delta);
    /* The client's address (getpeername of ex's connection): 0, or a negative error. */
    int (*peer)(const bk_exchange_t *ex, struct sockaddr_storage *out);
} bk_exchange_conn_hooks_t;
void bk_exchange_set_conn_hooks(const bk_exchange_conn_hooks_t *hooks);

/* See bk_exchange_conn_hooks_t. hold returns a token for done (NULL is a valid token). */
int bk_exchange_at_head(const bk_exchange_t *ex);
void *bk_exchange_hold_effects(bk_exchange_t *ex);
void bk_exchange_effects_done(void *token);
void bk_exchange_charge(bk_exchange_t *ex, int64_t delta);
/* See bk_exchange_conn_hooks_t.peer; UV_ENOTCONN once the connection has gone (or in tests). */
int bk_exchange_peer(const bk_exchange_t *ex, struct sockaddr_storage *out);

/* Case-insensitive header lookup; returns the first value or NULL (len in *len). */
const char *bk_exchange_header(const bk_exchange_t *ex, const char *name, size_t *len);

/* Query parameter lookup (exact name); returns a pointer into the query (not decoded) or NULL. */
const char *bk_exchange_query(const bk_exchange_t *ex, const char *name, size_t *len);

/* Growable buffers. Return 0 or UV_ENOMEM. */
int bk_buf_reserve(bk_buf_t *b, size_t extra);
int bk_buf_append(bk_buf_t *b, const void *data, size_t len);
int bk_buf_appendf(bk_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s (NUL-terminated) / v in decimal; no printf on the answer path. */
int bk_buf_append_str(bk_buf_t *b, const char *s);
int bk_buf_append_int(bk_buf_t *b, int64_t v);
void bk_buf_free(bk_buf_t *b);

#endif
