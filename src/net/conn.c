/* Connection lifecycle. Bytes are parsed straight out of the server's shared read buffer;
 * complete requests join the connection's queue and go to the handlers; answers leave in
 * request order, batched into one write. One budget (max_conn_buffer) covers the request
 * bodies and answers a connection holds: past it reading pauses and pipelined reads are held
 * until writes drain, so a client that sends much and reads little costs a bounded amount.
 * Memory is freed only in the close callback; an exchange still with its handler is
 * detached (or told through on_gone), never freed here.
 *
 * TLS (src/tls) sits between the socket and conn_feed: on a TLS connection ciphertext read
 * is decrypted into the server's plaintext buffer and parsed from there, and answer bytes are
 * encrypted into chunks written in order; nothing above conn_feed knows the difference, and a
 * plaintext connection takes no step of it (one branch per read and per write). */
#include "net/conn.h"

#include <linux/sockios.h>
#include <llhttp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "brook/common.h"
#include "http/response.h"
#include "net/server_impl.h"

/* How long a TLS connection stays quiet before its record buffers are given back. */
#define BK_CONN_TLS_RELEASE_MS 1000

static void conn_flush(bk_conn_t *c);
static void conn_feed(bk_conn_t *c, const char *data, size_t len);
static void write_done(bk_conn_t *c, int status);
static void tls_pump(bk_conn_t *c);
static int tls_send(bk_conn_t *c, int answers, int try_first);
static void tls_send_now(bk_conn_t *c);

static void enqueue(bk_conn_t *c, bk_exchange_t *ex)
{
    ex->conn = c;
    ex->next = NULL;
    if (c->tail)
        c->tail->next = ex;
    else
        c->head = ex;
    c->tail = ex;
    c->queued++;
}

/* Answer bytes queued or being written. */
static size_t answer_bytes(const bk_conn_t *c)
{
    return c->queued_bytes + uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

static int should_pause(const bk_conn_t *c)
{
    const bk_server_config_t *cfg = &c->srv->cfg;
    return c->queued >= cfg->max_pipeline || answer_bytes(c) + c->body_bytes > cfg->max_conn_buffer;
}

/* A read is held while the answers already waiting fill the budget: its page would only add
 * to them (pipelined reads of large pages on a connection that does not read). */
static int reads_over_budget(const bk_conn_t *c)
{
    return answer_bytes(c) > c->srv->cfg.max_conn_buffer;
}

static int is_safe(int method)
{
    return method == HTTP_GET || method == HTTP_HEAD || method == HTTP_OPTIONS;
}

/* Requests that must not start while an earlier write on the connection is unanswered: a
 * read must see the write, and a DELETE must not remove what the write is adding to. */
static int waits_for_writes(int method)
{
    return is_safe(method) || method == HTTP_DELETE;
}

static void dispatch(bk_conn_t *c, bk_exchange_t *ex)
{
    ex->state = BK_EX_DISPATCHED;
    if (!is_safe(ex->method))
        c->unsafe_busy++;
    c->srv->handlers.on_request(c->srv->handlers.arg, ex);
}

/* Pipelining rule (RFC 9112 §9.3.2): unsafe requests run in order as they arrive (the log
 * orders their effects), but a read or a DELETE after an unanswered unsafe request is held
 * until that one is answered (and everything behind a held request is held too), so a read
 * pipelined after a write sees the write and a DELETE of a topic pipelined after produces to
 * it runs once they are acknowledged, not while their appends wait for the disk. */
static int must_hold(const bk_conn_t *c, int method)
{
    return (c->unsafe_busy && waits_for_writes(method)) ||
           (is_safe(method) && reads_over_budget(c));
}

static void dispatch_held(bk_conn_t *c)
{
    bk_exchange_t *ex = c->head;
    while (ex && !c->closing && !c->no_dispatch) {
        bk_exchange_t *next = ex->next; /* answering ex may move it off the queue */
        if (ex->state == BK_EX_HELD) {
            if (must_hold(c, ex->method))
                return;
            dispatch(c, ex);
        }
        ex = next;
    }
}

static int on_headers(void *arg, bk_exchange_t *ex, const char **msg)
{
    bk_conn_t *c = arg;
    bk_server_t *s = c->srv;
    ex->tls_user = c->tls ? bk_tls_peer_name(c->tls) : NULL;
    int status = s->handlers.on_headers ? s->handlers.on_headers(s->handlers.arg, ex, msg) : 0;
    const llhttp_t *ll = &c->parser.ll;
    int too_big = (ll->flags & F_CONTENT_LENGTH) && ll->content_length > ex->body_limit;
    /* HTTP/1.0 clients do not know 100 Continue (RFC 9110 §10.1.1): they just send the body */
    if (status == 0 && !too_big && ex->expect_continue && ex->http_minor >= 1 && !c->head) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        uv_buf_t b = uv_buf_init((char *)cont, sizeof cont - 1);
        if (c->tls) { /* a failure surfaces at the next write */
            if (bk_tls_write(c->tls, cont, sizeof cont - 1) == 0)
                (void)tls_send(c, 0, 1);
        } else {
            (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1); /* best effort: the client may
                                                                   send the body anyway */
        }
    }
    return status;
}

static int on_request(void *arg, bk_exchange_t *ex)
{
    bk_conn_t *c = arg;
    if (c->no_dispatch) { /* an earlier answer closes the connection (RFC 9112 §9.6) */
        bk_exchange_release(ex);
        return 1;
    }
    ex->started_ms = uv_now(c->srv->loop);
    ex->started_ns = uv_hrtime();
    c->tls_first = 0;
    c->request_started_ms = ex->started_ms; /* the next request's clock starts now */
    /* the request's whole footprint: head, header arrays and body */
    ex->held_bytes = ex->body_buf.cap + ex->head.cap +
                     ex->hdr_cap * (sizeof *ex->headers + 2 * sizeof *ex->hdr_offsets);
    c->body_bytes += ex->held_bytes;
    int held = c->tail && c->tail->state == BK_EX_HELD;
    enqueue(c, ex);
    if (held || must_hold(c, ex->method))
        ex->state = BK_EX_HELD;
    else
        dispatch(c, ex);
    return c->closing || c->no_dispatch || should_pause(c) ? 1 : 0;
}

/* A parse error or timeout: answer it after what is queued, then close. */
static void fail_request(bk_conn_t *c, int status, const char *msg)
{
    c->read_done = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    bk_exchange_t *ex = bk_exchange_new();
    if (!ex) {
        bk_conn_close(c);
        return;
    }
    ex->keep_alive = 0;
    ex->method = HTTP_GET; /* never counted as an unsafe request in flight */
    ex->state = BK_EX_DISPATCHED;
    enqueue(c, ex);
    bk_exchange_error(ex, status, msg);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    bk_conn_t *c = h->data;
    bk_server_t *s = c->srv;
    if (s->read_buf_busy) { /* cannot happen with one loop thread; be safe anyway */
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    s->read_buf_busy = 1;
    *buf = uv_buf_init(s->read_buf, sizeof s->read_buf);
}

static void save_pending(bk_conn_t *c, const char *data, size_t len)
{
    char *p = malloc(len);
    if (!p) {
        bk_conn_close(c);
        return;
    }
    memcpy(p, data, len);
    c->pending = p;
    c->pending_len = len;
}

static void conn_feed(bk_conn_t *c, const char *data, size_t len)
{
    int was_mid = bk_http_parser_mid_request(&c->parser);
    size_t consumed = 0;
    c->feeding = 1;
    int status = bk_http_parser_feed(&c->parser, data, len, &consumed);
    c->feeding = 0;
    if (c->closing)
        return;
    if (status) {
        fail_request(c, status, c->parser.err_msg ? c->parser.err_msg : "malformed request");
        if (!c->closing)
            conn_flush(c); /* the answers before the bad request, then its error */
        return;
    }
    if (consumed < len || bk_http_parser_paused(&c->parser)) {
        /* paused (possibly on the very last byte): keep any rest until the queue drains */
        c->paused = 1;
        uv_read_stop((uv_stream_t *)&c->tcp);
        if (consumed < len && !c->no_dispatch)
            save_pending(c, data + consumed, len - consumed);
    }
    if (!was_mid && !c->tls_first) /* a TLS handshake counts against the first request */
        c->request_started_ms = uv_now(c->srv->loop);
    if (!c->closing)
        dispatch_held(c); /* requests released by answers given while parsing */
    if (!c->closing)
        conn_flush(c); /* the answers this read produced at once, in one write */
}

/* 1 when data is nothing but CR and LF: the empty lines a parser skips between requests
 * (RFC 9112 §2.2). Mostly decided by the first byte. */
static int only_line_ends(const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (data[i] != '\r' && data[i] != '\n')
            return 0;
    return 1;
}

static void read_ended(bk_conn_t *c, int nread);

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    bk_conn_t *c = stream->data;
    bk_server_t *s = c->srv;
    if (buf->base == s->read_buf)
        s->read_buf_busy = 0;
    if (nread == 0 || c->closing)
        return;
    if (c->tls && nread > 0) {
        if (!bk_tls_handshake_done(c->tls)) /* after it, plaintext decides (tls_pump) */
            c->last_active_ms = uv_now(s->loop);
        if (bk_tls_feed(c->tls, buf->base, (size_t)nread)) {
            bk_conn_close(c);
            return;
        }
        tls_pump(c);
        return;
    }
    if (nread < 0 || !only_line_ends(buf->base, (size_t)nread))
        c->last_active_ms = uv_now(s->loop); /* empty lines alone never keep a connection */
    if (nread < 0) {
        read_ended(c, (int)nread);
        return;
    }
    conn_feed(c, buf->base, (size_t)nread);
}

/* EOF (a FIN, or a TLS close_notify) or a read error. */
static void read_ended(bk_conn_t *c, int nread)
{
    c->read_done = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (nread != UV_EOF || (!c->head && !c->write_in_flight) || (c->head && c->head->streaming)) {
        bk_conn_close(c);
        return;
    }
    /* Half-close: answer what was asked, then close (conn_flush sees read_done). A client
     * that hung up does not wait out its long-polls: they answer now with what is there
     * (most clients close both ways, and their waits would pin memory until timeout). */
    for (bk_exchange_t *ex = c->head; ex && !c->closing;) {
        bk_exchange_t *next = ex->next;
        if (ex->on_hangup &&
            (ex->state == BK_EX_DISPATCHED || (ex->streaming && !ex->stream_ended)))
            ex->on_hangup(ex); /* waits and streams end now */
        ex = next;
    }
    if (!c->closing)
        conn_flush(c);
}

static void resume_reading(bk_conn_t *c)
{
    if (!c->paused || c->read_done || c->closing || should_pause(c))
        return;
    c->paused = 0;
    bk_http_parser_resume(&c->parser);
    char *p = c->pending;
    size_t n = c->pending_len;
    c->pending = NULL;
    c->pending_len = 0;
    if (p) {
        conn_feed(c, p, n);
        free(p);
    }
    if (c->tls) /* plaintext still inside the TLS layer comes before new reads */
        tls_pump(c);
    if (!c->paused && !c->read_done && !c->closing)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void release_list(bk_exchange_t *ex)
{
    while (ex) {
        bk_exchange_t *next = ex->next;
        bk_exchange_release(ex);
        ex = next;
    }
}

/* The answers in c->writing are written (status 0) or failed: release them. Returns 0 when
 * the connection is closed (or closing) afterwards. */
static int answers_written(bk_conn_t *c, int status)
{
    bk_exchange_t *done = c->writing;
    int close_now = 0;
    for (bk_exchange_t *ex = done; ex; ex = ex->next) {
        close_now |= ex->close_after;
        c->body_bytes -= ex->held_bytes;
    }
    c->writing = NULL;
    c->write_in_flight = 0;
    release_list(done);
    if (c->closing)
        return 0;
    if (status < 0 || close_now) {
        bk_conn_close(c);
        return 0;
    }
    c->last_active_ms = uv_now(c->srv->loop);
    return 1;
}

static void after_write(uv_write_t *req, int status)
{
    write_done(req->data, status);
}

/* The write of answers (or of a streamed answer's chunks) in flight ended. */
static void write_done(bk_conn_t *c, int status)
{
    if (c->stream_write) {
        c->stream_write = 0;
        c->write_in_flight = 0;
        c->stream_out.len = 0;
        if (c->closing)
            return;
        if (status < 0) {
            bk_conn_close(c);
            return;
        }
        c->last_active_ms = uv_now(c->srv->loop);
        bk_exchange_t *ex = c->head;
        conn_flush(c);
        if (ex && ex == c->head && ex->streaming && !c->write_in_flight && ex->on_drain)
            ex->on_drain(ex);
        else if (!c->closing) {
            dispatch_held(c);
            resume_reading(c); /* the stream ended: requests behind it may be read again */
        }
        return;
    }
    if (!answers_written(c, status))
        return;
    conn_flush(c);
    dispatch_held(c); /* reads held for the budget may go now */
    resume_reading(c);
}

/* A streamed answer at the head: write what it has queued; once it has ended and all is
 * written, retire it and go on with the answers behind it. */
static void flush_stream(bk_conn_t *c, bk_exchange_t *ex)
{
    if (ex->out.len == 0) {
        if (!ex->stream_ended)
            return;
        c->head = ex->next;
        if (!c->head)
            c->tail = NULL;
        c->queued--;
        c->body_bytes -= ex->held_bytes;
        int close_after = ex->close_after;
        bk_exchange_release(ex);
        if (close_after)
            bk_conn_close(c);
        else
            conn_flush(c);
        return;
    }
    bk_buf_t tmp = c->stream_out; /* swap: the handler keeps appending to ex->out */
    c->stream_out = ex->out;
    ex->out = tmp;
    ex->out.len = 0;
    c->wbufs[0] = uv_buf_init(c->stream_out.data, (unsigned)c->stream_out.len);
    c->write_in_flight = 1;
    c->stream_write = 1;
    c->wreq.data = c;
    if (c->tls ? bk_tls_write(c->tls, c->stream_out.data, c->stream_out.len) < 0 ||
                     tls_send(c, 1, 0) < 0
               : uv_write(&c->wreq, (uv_stream_t *)&c->tcp, c->wbufs, 1, after_write) < 0) {
        c->write_in_flight = 0;
        c->stream_write = 0;
        bk_conn_close(c);
    }
}

/* Writes the n buffers in c->wbufs (total bytes), answers already detached into c->writing.
 * Tries a plain write first: a small answer almost always fits in the socket buffer, and then
 * no write request, callback or poll change is needed. Whatever does not fit goes to
 * uv_write. Returns 1 when all was written now, 0 when the rest is in flight, -1 on error
 * (the connection is then closed). */
static int write_answers_tls(bk_conn_t *c, unsigned n)
{
    bk_tls_iov_t iov[BK_CONN_MAX_WRITE_BUFS]; /* pipelined answers share records */
    for (unsigned i = 0; i < n; i++)
        iov[i] = (bk_tls_iov_t){c->wbufs[i].base, c->wbufs[i].len};
    int rc = bk_tls_writev(c->tls, iov, n);
    if (!rc)
        rc = tls_send(c, 1, !c->paused); /* paused: resume from the write's callback */
    if (rc < 0) {
        answers_written(c, rc);
        return -1;
    }
    if (rc == 0)
        c->write_in_flight = 1;
    return rc;
}

static int write_answers(bk_conn_t *c, unsigned n, size_t total)
{
    uv_stream_t *stream = (uv_stream_t *)&c->tcp;
    if (c->tls)
        return write_answers_tls(c, n);
    /* A paused connection resumes reading from after_write, never from here: this runs
     * inside whoever answered, and reading may dispatch new requests. */
    int rc = c->paused ? UV_EAGAIN : uv_try_write(stream, c->wbufs, n);
    if (rc >= 0 && (size_t)rc == total)
        return 1;
    if (rc < 0 && rc != UV_EAGAIN) {
        answers_written(c, rc);
        return -1;
    }
    size_t skip = rc > 0 ? (size_t)rc : 0;
    unsigned first = 0;
    while (skip >= c->wbufs[first].len) /* total > skip, so a buffer is left */
        skip -= c->wbufs[first++].len;
    c->wbufs[first].base += skip;
    c->wbufs[first].len -= skip;
    c->write_in_flight = 1;
    c->wreq.data = c;
    rc = uv_write(&c->wreq, stream, c->wbufs + first, n - first, after_write);
    if (rc < 0) {
        answers_written(c, rc);
        return -1;
    }
    return 0;
}

/* Writes every answered exchange at the head of the queue, as long as writes complete at once
 * and answers are ready. While a read is being parsed it waits, so that the answers that read
 * produces leave together. */
static void conn_flush(bk_conn_t *c)
{
    while (!c->write_in_flight && !c->closing && !c->feeding) {
        if (c->head && c->head->streaming) {
            flush_stream(c, c->head);
            return;
        }
        unsigned n = 0;
        size_t total = 0;
        bk_exchange_t *first = c->head, *last = NULL;
        for (bk_exchange_t *ex = c->head; ex && ex->state == BK_EX_RESPONDED; ex = ex->next) {
            if (n == BK_CONN_MAX_WRITE_BUFS || ex->streaming)
                break;
            c->wbufs[n++] = uv_buf_init(ex->out.data, (unsigned)ex->out.len);
            total += ex->out.len;
            last = ex;
            if (ex->close_after)
                break;
        }
        if (!last) {
            if (c->read_done && !c->head)
                bk_conn_close(c);
            return;
        }
        c->head = last->next;
        if (!c->head)
            c->tail = NULL;
        last->next = NULL;
        c->queued -= n;
        c->queued_bytes -= total;
        c->writing = first;
        if (write_answers(c, n, total) != 1 || !answers_written(c, 0))
            return;
    }
}

/* ex's answer closes the connection: nothing after it may run (RFC 9112 §9.6). Stop reading,
 * drop what was read but not parsed, and release the requests held behind it; any already
 * dispatched finish into the void (they were sent before the close was known). */
static void stop_after(bk_conn_t *c, bk_exchange_t *ex)
{
    c->no_dispatch = 1;
    c->read_done = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    free(c->pending);
    c->pending = NULL;
    c->pending_len = 0;
    bk_exchange_t **link = &ex->next;
    while (*link) {
        bk_exchange_t *cur = *link;
        if (cur->state != BK_EX_HELD) {
            link = &cur->next;
            continue;
        }
        *link = cur->next;
        c->queued--;
        c->body_bytes -= cur->held_bytes;
        bk_exchange_release(cur);
    }
    c->tail = ex;
    while (c->tail->next)
        c->tail = c->tail->next;
}

void bk_conn_on_response(bk_exchange_t *ex)
{
    bk_conn_t *c = ex->conn;
    if (!c) { /* its connection closed while the handler worked */
        bk_exchange_release(ex);
        return;
    }
    if (ex->close_after && !c->no_dispatch)
        stop_after(c, ex);
    if (!ex->streaming)
        c->queued_bytes += ex->out.len;
    if (!is_safe(ex->method) && c->unsafe_busy)
        c->unsafe_busy--;
    if (!c->feeding) /* a completion: write and dispatch from the loop (bk_conn_run_deferred) */
        bk_server_defer(c->srv, c);
}

void bk_conn_run_deferred(bk_conn_t *c)
{
    if (c->closing)
        return;
    dispatch_held(c);
    if (!c->closing)
        conn_flush(c);
}

static void on_close(uv_handle_t *h)
{
    bk_conn_t *c = h->data;
    bk_tls_free(c->tls);
    c->tls = NULL;
    bk_http_parser_free(&c->parser);
    bk_buf_free(&c->stream_out);
    free(c->pending);
    c->pending = NULL;
    bk_server_conn_gone(c->srv, c);
    c->handle_closed = 1;
    if (!c->effect_holds)
        free(c);
}

void bk_conn_close(bk_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    bk_server_undefer(c->srv, c);
    /* Detach queued exchanges: answered ones are released, busy ones are released by
     * bk_conn_on_response when their handler answers. */
    bk_exchange_t *ex = c->head;
    while (ex) {
        bk_exchange_t *next = ex->next;
        ex->conn = NULL;
        ex->next = NULL;
        ex->tls_user = NULL; /* owned by the connection's TLS state */
        if (ex->on_gone && ((ex->streaming && !ex->stream_ended) || ex->state == BK_EX_DISPATCHED))
            ex->on_gone(ex);                    /* the streamer or waiter stops and releases it */
        else if (ex->state != BK_EX_DISPATCHED) /* a handler holds only dispatched ones */
            bk_exchange_release(ex);
        ex = next;
    }
    c->head = c->tail = NULL;
    c->queued = 0;
    c->queued_bytes = 0;
    c->body_bytes = 0;
    if (c->tls) { /* close_notify, if the socket takes it now; nothing waits for it */
        bk_tls_close(c->tls);
        tls_send_now(c);
    }
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

void bk_conn_drain(bk_conn_t *c)
{
    if (c->closing)
        return;
    c->read_done = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (!c->head && !c->write_in_flight)
        bk_conn_close(c);
}

/* Answer bytes not yet taken by the client: libuv's write queue plus the socket's send queue
 * (a large kernel buffer drains in steps, so libuv alone can look stuck for seconds). */
static size_t unsent_bytes(const bk_conn_t *c)
{
    size_t left = uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
#ifdef SIOCOUTQ
    uv_os_fd_t fd;
    int queued = 0;
    if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) == 0 && ioctl(fd, SIOCOUTQ, &queued) == 0 &&
        queued > 0)
        left += (size_t)queued;
#endif
    return left;
}

void bk_conn_sweep(bk_conn_t *c, uint64_t now)
{
    const bk_server_config_t *cfg = &c->srv->cfg;
    if (c->closing)
        return;
    if (c->tls && !bk_tls_handshake_done(c->tls) &&
        now - c->request_started_ms > cfg->request_timeout_ms) {
        bk_trace_debug("net", "TLS handshake not done in time: closed");
        bk_conn_close(c); /* no 408: there is no session to say it in */
        return;
    }
    if (bk_http_parser_mid_request(&c->parser) && !c->read_done && !c->paused &&
        now - c->request_started_ms > cfg->request_timeout_ms) {
        bk_http_parser_free(&c->parser);
        fail_request(c, 408, "request not received in time");
        return;
    }
    if (c->tls && !c->head && !c->write_in_flight &&
        now - c->last_active_ms >= BK_CONN_TLS_RELEASE_MS)
        bk_tls_release_buffers(c->tls); /* idle keep-alive: the 34 KB of record buffers */
    /* Idle: nothing owed (keep-alive between requests) or a write that does not move (a
     * reader that stopped reading). A reader still taking bytes is not idle, however long one
     * answer takes: the bytes left to send, in libuv's queue and the kernel's, are compared
     * with the last time the timeout came due. */
    if ((!c->head || c->write_in_flight) && now - c->last_active_ms > cfg->idle_timeout_ms) {
        size_t left = unsent_bytes(c);
        if (left && left != c->last_unsent) {
            c->last_unsent = left;
            c->last_active_ms = now;
            return;
        }
        bk_conn_close(c);
    }
}

/* bk_exchange_conn_hooks_t: see http/exchange.h. */
static int at_head(const bk_exchange_t *ex)
{
    const bk_conn_t *c = ex->conn;
    return !c || c->head == ex;
}

static void *hold_effects(bk_exchange_t *ex)
{
    bk_conn_t *c = ex->conn;
    if (!c || c->closing)
        return NULL;
    c->effect_holds++;
    c->unsafe_busy++;
    return c;
}

static void effects_done(void *token)
{
    bk_conn_t *c = token;
    c->effect_holds--;
    if (c->handle_closed) {
        if (!c->effect_holds)
            free(c);
        return;
    }
    if (c->closing)
        return;
    if (--c->unsafe_busy == 0)
        bk_server_defer(c->srv, c); /* inside a log callback: dispatch from the loop */
}

static void charge(bk_exchange_t *ex, int64_t delta)
{
    bk_conn_t *c = ex->conn;
    if (!c || c->closing)
        return;
    size_t d = (size_t)(delta < 0 ? -delta : delta);
    ex->held_bytes = delta < 0 ? ex->held_bytes - d : ex->held_bytes + d;
    c->body_bytes = delta < 0 ? c->body_bytes - d : c->body_bytes + d;
}

static int peer(const bk_exchange_t *ex, struct sockaddr_storage *out)
{
    const bk_conn_t *c = ex->conn;
    int len = (int)sizeof *out;
    return c ? uv_tcp_getpeername(&c->tcp, (struct sockaddr *)out, &len) : UV_ENOTCONN;
}

const bk_exchange_conn_hooks_t bk_conn_exchange_hooks = {at_head, hold_effects, effects_done,
                                                         charge, peer};

/* ---- TLS between the socket and conn_feed -------------------------------------------- */

/* Ciphertext on its way to the socket; answers: its completion is the answers' write. */
typedef struct {
    uv_write_t req; /* first: the callback gets it back */
    bk_conn_t *c;
    int answers;
    char data[];
} tls_chunk_t;

static void after_tls_write(uv_write_t *req, int status)
{
    tls_chunk_t *ch = (tls_chunk_t *)(void *)req;
    bk_conn_t *c = ch->c;
    int answers = ch->answers;
    free(ch);
    if (answers)
        write_done(c, status);
    else if (status < 0 && !c->closing)
        bk_conn_close(c);
}

#define TLS_SMALL_SEND (16 * 1024 + 512) /* one full record and its framing */

/* Queues ch (holding b) behind whatever is being written; frees it on failure. */
static int chunk_write(bk_conn_t *c, tls_chunk_t *ch, int answers, uv_buf_t b)
{
    ch->c = c;
    ch->answers = answers;
    int rc = uv_write(&ch->req, (uv_stream_t *)&c->tcp, &b, 1, after_tls_write);
    if (rc < 0) {
        free(ch);
        return rc;
    }
    return 0;
}

/* The part of a small send the socket did not take now, copied into a chunk of its own. */
static int tls_queue(bk_conn_t *c, int answers, const char *data, size_t len)
{
    tls_chunk_t *ch = malloc(sizeof *ch + len);
    if (!ch)
        return UV_ENOMEM;
    memcpy(ch->data, data, len);
    return chunk_write(c, ch, answers, uv_buf_init(ch->data, (unsigned)len));
}

/* Hands all ciphertext the TLS layer has ready to the socket, after whatever is queued (libuv
 * keeps writes in order, and a try-write fails while any is queued). Returns 1 when all of it
 * was written now, 0 when the rest is in flight (answers: its callback ends the answers'
 * write), or a negative error. */
static int tls_send(bk_conn_t *c, int answers, int try_first)
{
    uv_stream_t *stream = (uv_stream_t *)&c->tcp;
    size_t n = bk_tls_out_pending(c->tls);
    if (!n)
        return 1;
    char small[TLS_SMALL_SEND]; /* the usual answer: written at once, nothing allocated */
    if (try_first && n <= sizeof small) {
        n = bk_tls_out_take(c->tls, small, n);
        uv_buf_t b = uv_buf_init(small, (unsigned)n);
        int rc = uv_try_write(stream, &b, 1);
        if (rc == UV_EAGAIN)
            rc = 0;
        if (rc < 0 || (size_t)rc == n)
            return rc < 0 ? rc : 1;
        return tls_queue(c, answers, small + rc, n - (size_t)rc);
    }
    tls_chunk_t *ch = malloc(sizeof *ch + n);
    if (!ch)
        return UV_ENOMEM;
    n = bk_tls_out_take(c->tls, ch->data, n);
    uv_buf_t b = uv_buf_init(ch->data, (unsigned)n);
    int rc = try_first ? uv_try_write(stream, &b, 1) : UV_EAGAIN;
    if ((rc >= 0 && (size_t)rc == n) || (rc < 0 && rc != UV_EAGAIN)) {
        free(ch);
        return rc < 0 ? rc : 1;
    }
    if (rc > 0) {
        b.base += rc;
        b.len -= (size_t)rc;
    }
    return chunk_write(c, ch, answers, b);
}

/* Closing: what the TLS layer has (an alert, close_notify) goes if the socket takes it now. */
static void tls_send_now(bk_conn_t *c)
{
    char buf[1024];
    size_t n = bk_tls_out_take(c->tls, buf, sizeof buf);
    uv_buf_t b = uv_buf_init(buf, (unsigned)n);
    if (n)
        (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
}

/* Decrypts what the TLS layer holds and parses it, until it needs more ciphertext or the
 * connection pauses (the rest stays inside until resume_reading); then sends what the layer
 * produced (handshake flights, session tickets, alerts). */
static void tls_pump(bk_conn_t *c)
{
    bk_server_t *s = c->srv;
    while (!c->closing && !c->paused && !c->read_done) {
        size_t got = 0;
        int rc = bk_tls_read(c->tls, s->plain_buf, sizeof s->plain_buf, &got);
        if (got) {
            if (!only_line_ends(s->plain_buf, got))  /* as on plaintext: empty lines never */
                c->last_active_ms = uv_now(s->loop); /* keep a connection */
            conn_feed(c, s->plain_buf, got);
            continue;
        }
        if (rc == UV_EOF) {
            read_ended(c, UV_EOF);
        } else if (rc < 0) {
            bk_trace_debug("net", "TLS: %s", bk_tls_error(c->tls));
            tls_send_now(c); /* the alert that says why */
            bk_conn_close(c);
        }
        break;
    }
    if (!c->closing && tls_send(c, 0, 1) < 0)
        bk_conn_close(c);
}

int bk_conn_accept(bk_server_t *s, uv_stream_t *listener, bk_tls_ctx_t *tls)
{
    bk_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return UV_ENOMEM;
    int rc = uv_tcp_init(s->loop, &c->tcp);
    if (rc) {
        free(c);
        return rc;
    }
    c->tcp.data = c;
    c->srv = s;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->conn_count++;
    s->accepted++;
    c->last_active_ms = uv_now(s->loop);
    c->hooks.on_headers = on_headers;
    c->hooks.on_request = on_request;
    c->hooks.arg = c;
    bk_http_parser_init(&c->parser, &s->cfg.limits, &c->hooks);
    rc = uv_accept(listener, (uv_stream_t *)&c->tcp);
    if (!rc && tls) {
        c->tls_first = 1;
        c->request_started_ms = c->last_active_ms; /* the handshake's clock */
        rc = bk_tls_new(tls, NULL, NULL, &c->tls);
    }
    if (!rc) {
        (void)uv_tcp_nodelay(&c->tcp, 1);
        rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
    if (rc)
        bk_conn_close(c);
    return rc;
}
