/* The asynchronous HTTP/1.1 client: libuv TCP connections to "http://host:port" targets, a few
 * idle keep-alive connections kept per target, responses parsed by llhttp into a request that
 * owns them. It must never block the loop (no getaddrinfo on it), never run a callback twice
 * or from inside bk_http_client_request(), and never resend a request that is not idempotent:
 * a POST on a connection the server had already closed is reported, not repeated.
 *
 * Life of a request: it is attached to a connection (an idle one of its target, or a new one
 * that resolves and connects first), its bytes are written, the response is parsed into it,
 * then it is queued and its callback runs from the `defer` idle handle. Every error path ends
 * the same way, so callbacks run from one place, one loop turn after the outcome is known.
 *
 * "https://" targets go through the TLS layer (src/tls) between the socket and llhttp: the
 * request is written into the TLS session (held there until the handshake is done), the
 * ciphertext leaves in order, and what is read is decrypted before it is parsed. The server
 * is verified against the client's CA (bk_http_client_set_tls) by name or address; sessions
 * are kept per target so reconnections resume instead of doing a full handshake. */
#include "brook/http_client.h"

#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "brook/common.h"
#include "brook/tls.h"

enum {
    MAX_IDLE_PER_TARGET = 8,   /* idle keep-alive connections kept per base_url */
    IDLE_TIMEOUT_MS = 5000,    /* an idle connection is closed after this */
    MAX_HEAD_BYTES = 64 << 10, /* status line + headers of one response → BK_ETOOBIG */
    READ_BUF_SIZE = 64 << 10,
    MAX_FIELD_NAME = 32, /* longer header names are never ones we keep */
};
#define MAX_BODY_BYTES ((uint64_t)64 << 20) /* request body; default response cap → BK_ETOOBIG */

#define CONTAINER_OF(ptr, type, field) ((type *)(void *)((char *)(ptr)-offsetof(type, field)))

/* A circular doubly-linked list; a node that is in no list points at itself. */
typedef struct link {
    struct link *prev, *next;
} link_t;

static void link_init(link_t *l)
{
    l->prev = l->next = l;
}

static int link_empty(const link_t *l)
{
    return l->next == l;
}

static void link_push(link_t *head, link_t *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

static void link_remove(link_t *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    link_init(l);
}

/* A growable byte string, always NUL-terminated once anything was appended. */
typedef struct {
    char *p;
    size_t len, cap;
} str_t;

static int str_reserve(str_t *s, size_t extra)
{
    return bk_grow(&s->p, &s->cap, s->len, extra + 1, 1, 64); /* + 1: the terminator */
}

static int str_append(str_t *s, const char *data, size_t len)
{
    int err = str_reserve(s, len);
    if (err)
        return err;
    memcpy(s->p + s->len, data, len);
    s->len += len;
    s->p[s->len] = '\0';
    return 0;
}

static void str_clear(str_t *s)
{
    s->len = 0;
    if (s->p)
        s->p[0] = '\0';
}

static void str_free(str_t *s)
{
    free(s->p);
    memset(s, 0, sizeof(*s));
}

/* The request's bytes, shared by the request (for a retry) and an in-flight write, so a
 * write buffer lives until its write callback even if the request is gone by then. */
typedef struct {
    unsigned refs;
    size_t len;
    char data[];
} wire_t;

static void wire_release(wire_t *w)
{
    if (w && --w->refs == 0)
        free(w);
}

/* One base_url. Never freed before the client: Brook talks to a handful of leaders. */
typedef struct {
    link_t link;               /* in client->targets */
    char *authority;           /* "host:port" as written; also the Host header */
    int tls;                   /* https:// */
    char *host;                /* the name or address its certificate must carry (https) */
    bk_tls_session_t *session; /* the last one to resume, or NULL */
    char *resolve;             /* name for uv_getaddrinfo, NULL when addr is known */
    char port_str[8];          /* service for uv_getaddrinfo */
    struct sockaddr_storage addr;
    link_t idle; /* idle connections, most recently used last */
    unsigned n_idle;
} target_t;

typedef enum { CONN_RESOLVING, CONN_CONNECTING, CONN_BUSY, CONN_IDLE, CONN_CLOSING } conn_state_t;

typedef struct conn conn_t;

struct bk_http_client_req {
    bk_http_client_t *client;
    target_t *target;
    link_t link;  /* in client->done while queued */
    conn_t *conn; /* the connection carrying it, NULL while queued */
    bk_http_client_cb cb;
    void *arg;
    wire_t *wire;
    uint64_t deadline;                     /* loop time in ms; 0 = no timeout */
    int status;                            /* outcome, once queued */
    int queued, idempotent, retried, head; /* flags */
    /* the response, owned here so it survives its connection going back to the pool */
    int http_status;
    str_t content_type, location, leader_epoch, body;
    size_t head_bytes;
    uint64_t max_body; /* response body cap (BK_ETOOBIG past it) */
};

struct conn {
    bk_http_client_t *client;
    target_t *target;
    link_t link;      /* in client->conns until closing */
    link_t idle_link; /* in target->idle while idle */
    uv_tcp_t tcp;
    uv_timer_t timer; /* the request's deadline while busy, the idle timeout while idle */
    uv_connect_t connect_req;
    uv_write_t write_req;
    uv_getaddrinfo_t gai;
    llhttp_t parser;
    bk_http_client_req_t *req;
    wire_t *writing; /* bytes of the in-flight write, NULL when none */
    conn_state_t state;
    unsigned refs;   /* handles not yet closed + a pending getaddrinfo */
    unsigned served; /* responses completed on this connection */
    int got_bytes;   /* a response byte arrived for the current request */
    int msg_done;
    int parse_err; /* why a parser callback failed, 0 if llhttp's own error */
    bk_tls_t *tls; /* https: the session, from connect until the connection is freed */
    int tls_saved; /* its session was kept for resumption */
    char field[MAX_FIELD_NAME];
    size_t field_len; /* > MAX_FIELD_NAME when the name is too long to matter */
    str_t *field_dst; /* where the current header's value goes, NULL to drop it */
    char rbuf[READ_BUF_SIZE];
};

struct bk_http_client {
    uv_loop_t *loop;
    uv_idle_t defer; /* runs queued callbacks */
    link_t targets;
    link_t conns;
    link_t done; /* requests whose callback is due */
    size_t n_done;
    unsigned open; /* connections not yet freed + the defer handle */
    int closing;
    void (*on_closed)(void *arg);
    void *closed_arg;
    char *auth;        /* header lines sent with every request (bk_http_client_set_auth), or NULL */
    bk_tls_ctx_t *tls; /* for https targets (bk_http_client_set_tls), or NULL */
    char plain[READ_BUF_SIZE]; /* decrypted bytes, parsed at once */
};

static void conn_close(conn_t *conn);
static void conn_fail(conn_t *conn, int err);
static void start_request(bk_http_client_req_t *req, int fresh_only);

/* ---- delivery ---------------------------------------------------------------------- */

static void req_free(bk_http_client_req_t *req)
{
    wire_release(req->wire);
    str_free(&req->content_type);
    str_free(&req->location);
    str_free(&req->leader_epoch);
    str_free(&req->body);
    free(req);
}

static void req_reset_response(bk_http_client_req_t *req)
{
    req->http_status = 0;
    req->head_bytes = 0;
    str_clear(&req->content_type);
    str_clear(&req->location);
    str_clear(&req->leader_epoch);
    str_clear(&req->body);
}

static void on_defer(uv_idle_t *idle);

/* Ends a request: its callback runs from the loop on a later turn. */
static void queue_req(bk_http_client_req_t *req, int status)
{
    bk_http_client_t *c = req->client;
    req->conn = NULL;
    req->status = status;
    req->queued = 1;
    link_push(&c->done, &req->link);
    c->n_done++;
    if (uv_idle_start(&c->defer, on_defer) != 0)
        bk_trace_error("http-client", "cannot schedule a callback: client already closed");
}

static void deliver(bk_http_client_req_t *req)
{
    bk_http_response_t resp = {
        .status = req->http_status,
        .content_type = req->content_type.p ? req->content_type.p : "",
        .location = req->location.p ? req->location.p : "",
        .leader_epoch = req->leader_epoch.p ? req->leader_epoch.p : "",
        .body = (const uint8_t *)(req->body.p ? req->body.p : ""),
        .body_len = req->body.len,
    };
    req->cb(req->arg, req->status, req->status == 0 ? &resp : NULL);
    req_free(req);
}

static void target_free(target_t *t)
{
    bk_tls_session_free(t->session);
    free(t->host);
    free(t->authority);
    free(t->resolve);
    free(t);
}

static void client_unref(bk_http_client_t *c)
{
    if (--c->open > 0)
        return;
    while (!link_empty(&c->targets)) {
        target_t *t = CONTAINER_OF(c->targets.next, target_t, link);
        link_remove(&t->link);
        target_free(t);
    }
    void (*done)(void *) = c->on_closed;
    void *arg = c->closed_arg;
    free(c->auth);
    free(c);
    if (done)
        done(arg);
}

static void on_defer_closed(uv_handle_t *h)
{
    client_unref(h->data);
}

/* Runs the callbacks queued before this turn; ones queued by those callbacks wait for the
 * next turn, so a caller that retries on a synchronous failure cannot spin here forever. */
static void on_defer(uv_idle_t *idle)
{
    bk_http_client_t *c = idle->data;
    for (size_t n = c->n_done; n > 0 && !link_empty(&c->done); n--) {
        bk_http_client_req_t *req = CONTAINER_OF(c->done.next, bk_http_client_req_t, link);
        link_remove(&req->link);
        c->n_done--;
        deliver(req);
    }
    if (!link_empty(&c->done))
        return;
    if (uv_idle_stop(&c->defer) != 0)
        bk_trace_warn("http-client", "uv_idle_stop failed");
    if (c->closing && !uv_is_closing((uv_handle_t *)&c->defer))
        uv_close((uv_handle_t *)&c->defer, on_defer_closed);
}

/* ---- response parsing (llhttp callbacks; parser->data is the connection) --------------- */

static int count_head(conn_t *conn, size_t len)
{
    conn->req->head_bytes += len;
    if (conn->req->head_bytes <= MAX_HEAD_BYTES)
        return 0;
    conn->parse_err = BK_ETOOBIG;
    return -1;
}

static int name_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

static int on_status(llhttp_t *p, const char *at, size_t len)
{
    (void)at;
    return count_head(p->data, len);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    conn_t *conn = p->data;
    if (count_head(conn, len) != 0)
        return -1;
    if (conn->field_len + len <= MAX_FIELD_NAME)
        memcpy(conn->field + conn->field_len, at, len);
    conn->field_len += len; /* past MAX_FIELD_NAME it matches nothing */
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    conn_t *conn = p->data;
    bk_http_client_req_t *req = conn->req;
    const char *f = conn->field;
    size_t n = conn->field_len;
    conn->field_dst = name_is(f, n, "content-type")     ? &req->content_type
                      : name_is(f, n, "location")       ? &req->location
                      : name_is(f, n, "x-leader-epoch") ? &req->leader_epoch
                                                        : NULL;
    if (conn->field_dst) /* a repeated header: the last one wins */
        str_clear(conn->field_dst);
    conn->field_len = 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    conn_t *conn = p->data;
    if (count_head(conn, len) != 0)
        return -1;
    if (!conn->field_dst)
        return 0;
    conn->parse_err = str_append(conn->field_dst, at, len);
    return conn->parse_err ? -1 : 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    conn_t *conn = p->data;
    conn->field_dst = NULL;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    conn_t *conn = p->data;
    bk_http_client_req_t *req = conn->req;
    req->http_status = p->status_code;
    if (p->flags & F_CONTENT_LENGTH) {
        if (p->content_length > req->max_body) {
            conn->parse_err = BK_ETOOBIG;
            return -1;
        }
        conn->parse_err = str_reserve(&req->body, (size_t)p->content_length);
        if (conn->parse_err)
            return -1;
    }
    return req->head ? 1 : 0; /* a HEAD response announces a length it does not send */
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    conn_t *conn = p->data;
    str_t *body = &conn->req->body;
    if (body->len + len > conn->req->max_body) {
        conn->parse_err = BK_ETOOBIG;
        return -1;
    }
    conn->parse_err = str_append(body, at, len);
    return conn->parse_err ? -1 : 0;
}

/* Pauses the parser so the caller sees where the response ended: bytes after it mean the
 * connection cannot be trusted with another request. */
static int on_message_complete(llhttp_t *p)
{
    conn_t *conn = p->data;
    if (p->status_code >= 100 && p->status_code < 200 && p->status_code != 101) {
        req_reset_response(conn->req); /* interim response: the real one follows */
        return 0;
    }
    conn->msg_done = 1;
    return HPE_PAUSED;
}

static const llhttp_settings_t parser_settings = {
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- connections ----------------------------------------------------------------------- */

static void conn_unref(conn_t *conn)
{
    if (--conn->refs > 0)
        return;
    bk_http_client_t *c = conn->client;
    wire_release(conn->writing);
    bk_tls_free(conn->tls);
    free(conn);
    client_unref(c);
}

static void on_conn_closed(uv_handle_t *h)
{
    conn_unref(h->data);
}

static bk_http_client_req_t *detach(conn_t *conn)
{
    bk_http_client_req_t *req = conn->req;
    conn->req = NULL;
    if (req)
        req->conn = NULL;
    return req;
}

/* Idempotent. The request, if any, must have been detached first. */
static void conn_close(conn_t *conn)
{
    if (conn->state == CONN_CLOSING)
        return;
    if (conn->state == CONN_IDLE) {
        link_remove(&conn->idle_link);
        conn->target->n_idle--;
    }
    if (conn->state == CONN_RESOLVING && uv_cancel((uv_req_t *)&conn->gai) != 0)
        bk_trace_debug("http-client", "getaddrinfo already running; its result is dropped");
    if (conn->tls && conn->state != CONN_RESOLVING && conn->state != CONN_CONNECTING) {
        bk_tls_close(conn->tls); /* close_notify if the socket takes it now */
        char buf[256];
        uv_buf_t b = uv_buf_init(buf, (unsigned)bk_tls_out_take(conn->tls, buf, sizeof buf));
        if (b.len)
            (void)uv_try_write((uv_stream_t *)&conn->tcp, &b, 1);
    }
    conn->state = CONN_CLOSING;
    link_remove(&conn->link);
    uv_close((uv_handle_t *)&conn->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&conn->timer, on_conn_closed);
}

/* The request on conn failed with err; conn is closed. A reused connection that ends before
 * any response byte was most likely closed by the server while idle: only then, and only for
 * an idempotent request, is the request tried once more on a fresh connection. */
static void conn_fail(conn_t *conn, int err)
{
    int stale = conn->served > 0 && !conn->got_bytes &&
                (err == UV_EOF || err == UV_ECONNRESET || err == UV_EPIPE);
    bk_http_client_req_t *req = detach(conn);
    conn_close(conn);
    if (!req)
        return;
    if (stale && req->idempotent && !req->retried && !req->client->closing) {
        bk_trace_debug("http-client", "%s closed before answering; retrying once",
                       req->target->authority);
        req->retried = 1;
        req_reset_response(req);
        start_request(req, 1);
        return;
    }
    queue_req(req, err);
}

static void on_idle_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

static void on_request_timeout(uv_timer_t *t)
{
    conn_fail(t->data, UV_ETIMEDOUT);
}

static void conn_make_idle(conn_t *conn)
{
    target_t *t = conn->target;
    if (t->n_idle >= MAX_IDLE_PER_TARGET ||
        uv_timer_start(&conn->timer, on_idle_timeout, IDLE_TIMEOUT_MS, 0) != 0) {
        conn_close(conn);
        return;
    }
    conn->state = CONN_IDLE;
    link_push(&t->idle, &conn->idle_link);
    t->n_idle++;
    /* like a keep-alive agent's sockets, idle connections do not keep the loop alive */
    uv_unref((uv_handle_t *)&conn->tcp);
    uv_unref((uv_handle_t *)&conn->timer);
}

/* The response is complete; reusable says nothing followed it on the wire. */
static void conn_complete(conn_t *conn, int reusable)
{
    int keep = reusable && llhttp_should_keep_alive(&conn->parser) && !conn->writing &&
               !conn->client->closing;
    bk_http_client_req_t *req = detach(conn);
    conn->served++;
    if (conn->tls && !conn->tls_saved && (!bk_tls_resumed(conn->tls) || !conn->target->session)) {
        bk_tls_session_t *sess = bk_tls_session_get(conn->tls);
        if (sess) {
            bk_tls_session_free(conn->target->session);
            conn->target->session = sess;
            conn->tls_saved = 1;
        }
    }
    queue_req(req, 0);
    if (keep)
        conn_make_idle(conn);
    else
        conn_close(conn);
}

static void feed(conn_t *conn, const char *data, size_t len)
{
    conn->got_bytes = 1;
    llhttp_errno_t e = llhttp_execute(&conn->parser, data, len);
    if (conn->msg_done) {
        conn_complete(conn, e == HPE_PAUSED && llhttp_get_error_pos(&conn->parser) == data + len);
        return;
    }
    if (e != HPE_OK)
        conn_fail(conn, conn->parse_err ? conn->parse_err : BK_EINVAL);
}

/* EOF or a read error while a request is outstanding. A response without a length ends at
 * EOF; anything else cut short is UV_EOF. */
static void read_ended(conn_t *conn, int err)
{
    if (err == UV_EOF && conn->got_bytes) {
        llhttp_errno_t e = llhttp_finish(&conn->parser);
        if (conn->msg_done) {
            conn_complete(conn, 0);
            return;
        }
        if (e != HPE_OK && conn->parse_err)
            err = conn->parse_err;
    }
    conn_fail(conn, err);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn_t *conn = h->data;
    (void)suggested;
    *buf = uv_buf_init(conn->rbuf, (unsigned)sizeof(conn->rbuf));
}

/* ---- TLS between the socket and llhttp ------------------------------------------------- */

typedef struct {
    uv_write_t req; /* first: the callback gets it back */
    conn_t *conn;
    char data[];
} tls_chunk_t;

static void after_tls_write(uv_write_t *w, int status)
{
    tls_chunk_t *ch = (tls_chunk_t *)(void *)w;
    conn_t *conn = ch->conn;
    free(ch);
    if (status < 0 && conn->state != CONN_CLOSING && conn->req)
        conn_fail(conn, status);
}

/* Sends the ciphertext the TLS session has ready, after any write queued before it. */
static int tls_flush(conn_t *conn)
{
    size_t n = bk_tls_out_pending(conn->tls);
    if (!n)
        return 0;
    tls_chunk_t *ch = malloc(sizeof(*ch) + n);
    if (!ch)
        return UV_ENOMEM;
    ch->conn = conn;
    uv_buf_t buf = uv_buf_init(ch->data, (unsigned)bk_tls_out_take(conn->tls, ch->data, n));
    int err = uv_write(&ch->req, (uv_stream_t *)&conn->tcp, &buf, 1, after_tls_write);
    if (err)
        free(ch);
    return err;
}

/* Ciphertext read: decrypt and parse while this connection's request wants bytes. */
static void tls_feed(conn_t *conn, const char *data, size_t len)
{
    int err = bk_tls_feed(conn->tls, data, len);
    while (!err && conn->req && conn->state == CONN_BUSY) {
        size_t got = 0;
        err = bk_tls_read(conn->tls, conn->client->plain, sizeof(conn->client->plain), &got);
        if (!got)
            break;
        feed(conn, conn->client->plain, got);
    }
    if (conn->state == CONN_CLOSING)
        return;
    if (err == UV_EOF && conn->req) {
        read_ended(conn, UV_EOF);
        return;
    }
    if (err && conn->req) {
        bk_trace_warn("http-client", "TLS with %s: %s", conn->target->authority,
                      bk_tls_error(conn->tls));
        conn_fail(conn, err);
        return;
    }
    if (err || tls_flush(conn))
        conn_close(conn);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *conn = s->data;
    if (nread == 0 || conn->state == CONN_CLOSING)
        return;
    if (conn->state == CONN_IDLE || !conn->req) { /* closed by the server, or unsolicited bytes */
        conn_close(conn);
        return;
    }
    if (nread < 0)
        read_ended(conn, (int)nread);
    else if (conn->tls)
        tls_feed(conn, buf->base, (size_t)nread);
    else
        feed(conn, buf->base, (size_t)nread);
}

static void after_write(uv_write_t *w, int status)
{
    conn_t *conn = CONTAINER_OF(w, conn_t, write_req);
    wire_release(conn->writing);
    conn->writing = NULL;
    if (conn->state == CONN_CLOSING || !conn->req || status == 0)
        return;
    conn_fail(conn, status);
}

static void send_request(conn_t *conn)
{
    wire_t *w = conn->req->wire;
    if (conn->tls) { /* encrypted now (or once the handshake is done); sent in order */
        int err = bk_tls_write(conn->tls, w->data, w->len);
        if (!err)
            err = tls_flush(conn);
        if (err)
            conn_fail(conn, err);
        return;
    }
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)w->len);
    int err = uv_write(&conn->write_req, (uv_stream_t *)&conn->tcp, &buf, 1, after_write);
    if (err) {
        conn_fail(conn, err);
        return;
    }
    w->refs++;
    conn->writing = w;
}

static void on_connected(uv_connect_t *cr, int status)
{
    conn_t *conn = CONTAINER_OF(cr, conn_t, connect_req);
    if (conn->state == CONN_CLOSING)
        return;
    if (status < 0) {
        conn_fail(conn, status);
        return;
    }
    conn->state = CONN_BUSY;
    if (uv_tcp_nodelay(&conn->tcp, 1) != 0)
        bk_trace_debug("http-client", "cannot set TCP_NODELAY");
    target_t *t = conn->target;
    int err = t->tls ? bk_tls_new(conn->client->tls, t->host, t->session, &conn->tls) : 0;
    if (!err)
        err = uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
    if (err) {
        conn_fail(conn, err);
        return;
    }
    send_request(conn);
}

static int start_connect(conn_t *conn, const struct sockaddr *addr)
{
    conn->state = CONN_CONNECTING;
    return uv_tcp_connect(&conn->connect_req, &conn->tcp, addr, on_connected);
}

static void on_resolved(uv_getaddrinfo_t *gai, int status, struct addrinfo *res)
{
    conn_t *conn = CONTAINER_OF(gai, conn_t, gai);
    if (conn->state != CONN_CLOSING) {
        int err = status < 0 ? status : start_connect(conn, res->ai_addr);
        if (err)
            conn_fail(conn, err);
    }
    uv_freeaddrinfo(res);
    conn_unref(conn);
}

static int start_resolve(conn_t *conn)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    conn->state = CONN_RESOLVING;
    int err = uv_getaddrinfo(conn->client->loop, &conn->gai, on_resolved, conn->target->resolve,
                             conn->target->port_str, &hints);
    if (err == 0)
        conn->refs++;
    return err;
}

/* A new connection to t, resolving and connecting in the background. */
static int conn_new(bk_http_client_t *c, target_t *t, conn_t **out)
{
    conn_t *conn = calloc(1, sizeof(*conn));
    if (!conn)
        return UV_ENOMEM;
    conn->client = c;
    conn->target = t;
    conn->tcp.data = conn->timer.data = conn;
    link_init(&conn->idle_link);
    int err = uv_timer_init(c->loop, &conn->timer);
    if (err) {
        free(conn);
        return err;
    }
    c->open++;
    conn->refs = 1;
    link_push(&c->conns, &conn->link);
    err = uv_tcp_init(c->loop, &conn->tcp);
    if (err) {
        conn->state = CONN_CLOSING;
        link_remove(&conn->link);
        uv_close((uv_handle_t *)&conn->timer, on_conn_closed);
        return err;
    }
    conn->refs = 2;
    err = t->resolve ? start_resolve(conn) : start_connect(conn, (struct sockaddr *)&t->addr);
    if (err) {
        conn_close(conn);
        return err;
    }
    *out = conn;
    return 0;
}

static conn_t *take_idle(target_t *t)
{
    if (link_empty(&t->idle))
        return NULL;
    conn_t *conn = CONTAINER_OF(t->idle.prev, conn_t, idle_link);
    link_remove(&conn->idle_link);
    t->n_idle--;
    conn->state = CONN_BUSY;
    if (uv_timer_stop(&conn->timer) != 0)
        bk_trace_debug("http-client", "uv_timer_stop failed");
    uv_ref((uv_handle_t *)&conn->tcp);
    uv_ref((uv_handle_t *)&conn->timer);
    return conn;
}

static void attach(conn_t *conn, bk_http_client_req_t *req)
{
    conn->req = req;
    req->conn = conn;
    conn->got_bytes = conn->msg_done = conn->parse_err = 0;
    conn->field_len = 0;
    conn->field_dst = NULL;
    llhttp_init(&conn->parser, HTTP_RESPONSE, &parser_settings);
    conn->parser.data = conn;
    if (req->deadline) {
        uint64_t now = uv_now(conn->client->loop);
        uint64_t left = req->deadline > now ? req->deadline - now : 0;
        int err = uv_timer_start(&conn->timer, on_request_timeout, left, 0);
        if (err) {
            conn_fail(conn, err);
            return;
        }
    }
    if (conn->state == CONN_BUSY)
        send_request(conn);
}

/* Puts req on a connection: an idle one unless fresh_only, else a new one. */
static void start_request(bk_http_client_req_t *req, int fresh_only)
{
    conn_t *conn = fresh_only ? NULL : take_idle(req->target);
    if (!conn) {
        int err = conn_new(req->client, req->target, &conn);
        if (err) {
            queue_req(req, err);
            return;
        }
    }
    attach(conn, req);
}

/* ---- targets and request bytes --------------------------------------------------------- */

static int parse_port(const char *s, target_t *t)
{
    unsigned long port = 0;
    if (!*s || strlen(s) > 5)
        return BK_EINVAL;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return BK_EINVAL;
        port = port * 10 + (unsigned long)(*p - '0');
    }
    if (port == 0 || port > 65535)
        return BK_EINVAL;
    snprintf(t->port_str, sizeof(t->port_str), "%lu", port);
    return 0;
}

static int valid_hostname(const char *h)
{
    if (!*h)
        return 0;
    for (; *h; h++)
        if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9') ||
              *h == '.' || *h == '-'))
            return 0;
    return 1;
}

/* host (NUL-terminated, brackets removed) → t->addr, or t->resolve for a name. */
static int set_address(target_t *t, const char *host, int bracketed)
{
    int port = atoi(t->port_str);
    if (bracketed)
        return uv_ip6_addr(host, port, (struct sockaddr_in6 *)&t->addr) == 0 ? 0 : BK_EINVAL;
    if (strcasecmp(host, "localhost") == 0)
        host = "127.0.0.1"; /* never a blocking lookup for the common case */
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&t->addr) == 0)
        return 0;
    if (!valid_hostname(host))
        return BK_EINVAL;
    t->resolve = strdup(host);
    return t->resolve ? 0 : UV_ENOMEM;
}

/* "http://host[:port][/]" or "https://..." → t (authority, port and address). */
static int parse_base_url(const char *url, target_t *t)
{
    char buf[256];
    size_t skip = strncasecmp(url, "http://", 7) == 0    ? 7
                  : strncasecmp(url, "https://", 8) == 0 ? 8
                                                         : 0;
    if (!skip)
        return BK_EINVAL;
    t->tls = skip == 8;
    const char *auth = url + skip;
    size_t len = strcspn(auth, "/?#");
    if (len == 0 || len >= sizeof(buf) || (auth[len] && strcmp(auth + len, "/") != 0))
        return BK_EINVAL;
    memcpy(buf, auth, len);
    buf[len] = '\0';
    char *host = buf, *port = NULL, *end;
    int bracketed = buf[0] == '[';
    if (bracketed) {
        if (!(end = strchr(buf, ']')) || (end[1] && end[1] != ':'))
            return BK_EINVAL;
        port = end[1] ? end + 2 : NULL;
        *end = '\0';
        host = buf + 1;
    } else if ((end = strchr(buf, ':')) != NULL) {
        *end = '\0';
        port = end + 1;
    }
    int err = parse_port(port ? port : t->tls ? "443" : "80", t);
    if (!err && t->tls && !(t->host = strdup(host)))
        err = UV_ENOMEM;
    if (!err)
        err = set_address(t, host, bracketed);
    if (!err && !(t->authority = strndup(auth, len)))
        err = UV_ENOMEM;
    return err;
}

static int find_target(bk_http_client_t *c, const char *base_url, target_t **out)
{
    target_t *t = calloc(1, sizeof(*t));
    if (!t)
        return UV_ENOMEM;
    int err = parse_base_url(base_url, t);
    if (err) {
        target_free(t);
        return err;
    }
    for (link_t *l = c->targets.next; l != &c->targets; l = l->next) {
        target_t *known = CONTAINER_OF(l, target_t, link);
        if (known->tls == t->tls && strcasecmp(known->authority, t->authority) == 0) {
            target_free(t);
            *out = known;
            return 0;
        }
    }
    link_init(&t->idle);
    link_push(&c->targets, &t->link);
    *out = t;
    return 0;
}

static int valid_method(const char *m)
{
    size_t n = strlen(m);
    return n > 0 && n <= 16 && strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == n;
}

static int valid_path(const char *p)
{
    if (p[0] != '/')
        return 0;
    for (; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return 0;
    return 1;
}

/* NULL, "", or complete "Name: value\r\n" lines that cannot end the header block early. */
static int valid_extra_headers(const char *h)
{
    size_t n = h ? strlen(h) : 0;
    if (n == 0)
        return 1;
    return n >= 2 && strcmp(h + n - 2, "\r\n") == 0 && h[0] != '\r' && !strstr(h, "\r\n\r\n");
}

static int method_is(const char *m, const char *want)
{
    return strcmp(m, want) == 0;
}

/* method, path, Host, Content-Length line (or ""), extra header lines (or "") */
#define REQUEST_HEAD "%s %s HTTP/1.1\r\nHost: %s\r\n%s%sConnection: keep-alive\r\n\r\n"

static int build_wire(const target_t *t, const char *method, const char *path, const char *extra,
                      const void *body, size_t body_len, wire_t **out)
{
    char length[48] = "";
    if (body_len > 0 || method_is(method, "POST") || method_is(method, "PUT") ||
        method_is(method, "PATCH"))
        snprintf(length, sizeof(length), "Content-Length: %zu\r\n", body_len);
    const char *xh = extra ? extra : "";
    int head = snprintf(NULL, 0, REQUEST_HEAD, method, path, t->authority, length, xh);
    if (head < 0)
        return BK_EINVAL;
    wire_t *w = malloc(sizeof(*w) + (size_t)head + 1 + body_len);
    if (!w)
        return UV_ENOMEM;
    snprintf(w->data, (size_t)head + 1, REQUEST_HEAD, method, path, t->authority, length, xh);
    if (body_len)
        memcpy(w->data + head, body, body_len);
    w->len = (size_t)head + body_len;
    w->refs = 1;
    *out = w;
    return 0;
}

/* ---- public API ------------------------------------------------------------------------ */

int bk_http_client_new(uv_loop_t *loop, bk_http_client_t **out)
{
    if (!loop || !out)
        return BK_EINVAL;
    bk_http_client_t *c = calloc(1, sizeof(*c));
    if (!c)
        return UV_ENOMEM;
    int err = uv_idle_init(loop, &c->defer);
    if (err) {
        free(c);
        return err;
    }
    c->loop = loop;
    c->defer.data = c;
    c->open = 1;
    link_init(&c->targets);
    link_init(&c->conns);
    link_init(&c->done);
    *out = c;
    return 0;
}

int bk_http_client_request(bk_http_client_t *c, const char *base_url, const char *method,
                           const char *path_and_query, const char *extra_headers, const void *body,
                           size_t body_len, uint32_t timeout_ms, bk_http_client_cb cb, void *arg,
                           bk_http_client_req_t **out)
{
    if (!c || !base_url || !method || !path_and_query || !cb || (!body && body_len))
        return BK_EINVAL;
    if (c->closing)
        return BK_ECLOSED;
    if (!valid_method(method) || !valid_path(path_and_query) || !valid_extra_headers(extra_headers))
        return BK_EINVAL;
    if (body_len > MAX_BODY_BYTES)
        return BK_ETOOBIG;
    target_t *t;
    int err = find_target(c, base_url, &t);
    if (err)
        return err;
    if (t->tls && !c->tls)
        return BK_EINVAL; /* https needs a CA to verify the server against */
    bk_http_client_req_t *req = calloc(1, sizeof(*req));
    if (!req)
        return UV_ENOMEM;
    char *joined = NULL;
    if (c->auth) { /* the client's credentials, then the request's own lines */
        size_t al = strlen(c->auth), xl = extra_headers ? strlen(extra_headers) : 0;
        joined = malloc(al + xl + 1);
        if (joined) {
            memcpy(joined, c->auth, al);
            memcpy(joined + al, extra_headers ? extra_headers : "", xl + 1);
        }
    }
    err = c->auth && !joined
              ? UV_ENOMEM
              : build_wire(t, method, path_and_query, joined ? joined : extra_headers, body,
                           body_len, &req->wire);
    free(joined);
    if (err) {
        free(req);
        return err;
    }
    req->client = c;
    req->target = t;
    req->cb = cb;
    req->arg = arg;
    link_init(&req->link);
    req->idempotent = method_is(method, "GET") || method_is(method, "HEAD");
    req->head = method_is(method, "HEAD");
    req->deadline = timeout_ms ? uv_now(c->loop) + timeout_ms : 0;
    req->max_body = MAX_BODY_BYTES;
    if (out)
        *out = req;
    start_request(req, 0);
    return 0;
}

void bk_http_client_set_max_response(bk_http_client_req_t *req, uint64_t max_body)
{
    if (req)
        req->max_body = max_body;
}

int bk_http_client_set_auth(bk_http_client_t *c, const char *header_lines)
{
    if (!valid_extra_headers(header_lines))
        return BK_EINVAL;
    char *copy = header_lines && *header_lines ? strdup(header_lines) : NULL;
    if (header_lines && *header_lines && !copy)
        return UV_ENOMEM;
    free(c->auth);
    c->auth = copy;
    return 0;
}

void bk_http_client_set_tls(bk_http_client_t *c, bk_tls_ctx_t *ctx)
{
    c->tls = ctx;
}

void bk_http_client_cancel(bk_http_client_req_t *req)
{
    if (!req)
        return;
    if (req->queued) {
        req->status = UV_ECANCELED;
        return;
    }
    conn_t *conn = req->conn;
    detach(conn);
    conn_close(conn);
    queue_req(req, UV_ECANCELED);
}

void bk_http_client_close(bk_http_client_t *c, void (*done)(void *arg), void *arg)
{
    if (!c || c->closing)
        return;
    c->closing = 1;
    c->on_closed = done;
    c->closed_arg = arg;
    while (!link_empty(&c->conns)) {
        conn_t *conn = CONTAINER_OF(c->conns.next, conn_t, link);
        bk_http_client_req_t *req = detach(conn);
        conn_close(conn);
        if (req)
            queue_req(req, UV_ECANCELED);
    }
    for (link_t *l = c->done.next; l != &c->done; l = l->next)
        CONTAINER_OF(l, bk_http_client_req_t, link)->status = UV_ECANCELED;
    if (uv_idle_start(&c->defer, on_defer) != 0)
        bk_trace_error("http-client", "cannot start closing");
}
