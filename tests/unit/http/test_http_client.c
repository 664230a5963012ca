/* Tests of the HTTP/1.1 client against a scripted libuv server on 127.0.0.1 (ephemeral port)
 * in the same loop: bodies by length, chunked and until EOF, keep-alive reuse and its limit,
 * stale connections (a POST is never resent, a GET is retried once), refused connections,
 * timeouts, cancellation, closing with requests pending and malformed responses. Every test
 * closes its loop cleanly; the server counts connections and requests so resends show. */
#include "brook/http_client.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "brook/common.h"
#include "check.h"

/* ---- scripted server ------------------------------------------------------------------- */

typedef struct srv srv_t;
typedef struct sconn sconn_t;
/* Called once per complete request (head + Content-Length body) received on sc. */
typedef void (*respond_fn)(sconn_t *sc, const char *req, size_t len);

struct sconn {
    srv_t *srv;
    sconn_t *next;
    uv_tcp_t tcp;
    uv_timer_t timer; /* paces scripted pieces */
    uv_shutdown_t shutdown;
    int index; /* connection number on this server, from 0 */
    int n_requests;
    int closing, open_handles;
    const char *const *pieces;
    size_t n_pieces, next_piece;
    int close_after_pieces;
    size_t len;
    char buf[1 << 16];
    char rbuf[1 << 16];
};

struct srv {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int port;
    respond_fn respond;
    int n_conns, n_requests, n_peer_closed;
    char last_req[4096];
    sconn_t *conns;
};

static void sconn_free(uv_handle_t *h)
{
    sconn_t *sc = h->data;
    if (--sc->open_handles > 0)
        return;
    for (sconn_t **p = &sc->srv->conns; *p; p = &(*p)->next)
        if (*p == sc) {
            *p = sc->next;
            break;
        }
    free(sc);
}

static void sconn_close(sconn_t *sc)
{
    if (sc->closing)
        return;
    sc->closing = 1;
    uv_close((uv_handle_t *)&sc->tcp, sconn_free);
    uv_close((uv_handle_t *)&sc->timer, sconn_free);
}

/* Closes with a TCP RST instead of a FIN. */
static void sconn_reset(sconn_t *sc)
{
    if (sc->closing)
        return;
    sc->closing = 1;
    CHECK_EQ_INT(uv_tcp_close_reset(&sc->tcp, sconn_free), 0);
    uv_close((uv_handle_t *)&sc->timer, sconn_free);
}

static void after_shutdown(uv_shutdown_t *s, int status)
{
    (void)status;
    sconn_close(s->handle->data);
}

/* Closes after every queued write went out. */
static void sconn_end(sconn_t *sc)
{
    if (sc->closing)
        return;
    if (uv_shutdown(&sc->shutdown, (uv_stream_t *)&sc->tcp, after_shutdown) != 0)
        sconn_close(sc);
}

static void after_srv_write(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

static void sconn_write(sconn_t *sc, const char *data, size_t len)
{
    if (sc->closing)
        return;
    uv_write_t *w = malloc(sizeof(*w) + len);
    memcpy(w + 1, data, len);
    uv_buf_t buf = uv_buf_init((char *)(w + 1), (unsigned)len);
    if (uv_write(w, (uv_stream_t *)&sc->tcp, &buf, 1, after_srv_write) != 0)
        free(w);
}

static void sconn_say(sconn_t *sc, const char *text)
{
    sconn_write(sc, text, strlen(text));
}

static void on_piece_tick(uv_timer_t *t)
{
    sconn_t *sc = t->data;
    sconn_say(sc, sc->pieces[sc->next_piece++]);
    if (sc->next_piece < sc->n_pieces)
        return;
    CHECK_EQ_INT(uv_timer_stop(t), 0);
    if (sc->close_after_pieces)
        sconn_end(sc);
}

/* Writes pieces one by one, delay_ms apart, so the client reads them separately. */
static void sconn_say_pieces(sconn_t *sc, const char *const *pieces, size_t n, unsigned delay_ms)
{
    sc->pieces = pieces;
    sc->n_pieces = n;
    sc->next_piece = 0;
    CHECK_EQ_INT(uv_timer_start(&sc->timer, on_piece_tick, 0, delay_ms), 0);
}

/* Length of the first complete request in buf, 0 if incomplete. */
static size_t request_len(const char *buf, size_t len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - buf) + 4;
    char copy[4096];
    size_t n = head < sizeof(copy) ? head : sizeof(copy) - 1;
    memcpy(copy, buf, n);
    copy[n] = '\0';
    const char *cl = strcasestr(copy, "\r\ncontent-length:");
    size_t body = cl ? strtoul(cl + 17, NULL, 10) : 0;
    return len >= head + body ? head + body : 0;
}

static void srv_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    sconn_t *sc = h->data;
    (void)suggested;
    *buf = uv_buf_init(sc->rbuf, sizeof(sc->rbuf));
}

static void srv_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    sconn_t *sc = s->data;
    srv_t *srv = sc->srv;
    if (n < 0) {
        srv->n_peer_closed++;
        sconn_close(sc);
        return;
    }
    CHECK(sc->len + (size_t)n <= sizeof(sc->buf));
    memcpy(sc->buf + sc->len, buf->base, (size_t)n);
    sc->len += (size_t)n;
    size_t rl;
    while (!sc->closing && (rl = request_len(sc->buf, sc->len)) > 0) {
        srv->n_requests++;
        sc->n_requests++;
        size_t keep = rl < sizeof(srv->last_req) ? rl : sizeof(srv->last_req) - 1;
        memcpy(srv->last_req, sc->buf, keep);
        srv->last_req[keep] = '\0';
        srv->respond(sc, sc->buf, rl);
        memmove(sc->buf, sc->buf + rl, sc->len - rl);
        sc->len -= rl;
    }
}

static void srv_on_connection(uv_stream_t *listener, int status)
{
    srv_t *srv = listener->data;
    CHECK_EQ_INT(status, 0);
    sconn_t *sc = calloc(1, sizeof(*sc));
    sc->srv = srv;
    sc->index = srv->n_conns++;
    sc->tcp.data = sc->timer.data = sc;
    sc->open_handles = 2;
    CHECK_EQ_INT(uv_tcp_init(srv->loop, &sc->tcp), 0);
    CHECK_EQ_INT(uv_timer_init(srv->loop, &sc->timer), 0);
    sc->next = srv->conns;
    srv->conns = sc;
    CHECK_EQ_INT(uv_accept(listener, (uv_stream_t *)&sc->tcp), 0);
    CHECK_EQ_INT(uv_read_start((uv_stream_t *)&sc->tcp, srv_alloc, srv_on_read), 0);
}

/* Listens on host (an IPv4 or IPv6 literal), ephemeral port; returns 0 or the bind error. */
static int srv_listen(srv_t *srv, uv_loop_t *loop, const char *host, respond_fn respond)
{
    struct sockaddr_storage addr, bound;
    int namelen = sizeof(bound);
    memset(srv, 0, sizeof(*srv));
    srv->loop = loop;
    srv->respond = respond;
    srv->listener.data = srv;
    CHECK_EQ_INT(uv_tcp_init(loop, &srv->listener), 0);
    if (strchr(host, ':'))
        CHECK_EQ_INT(uv_ip6_addr(host, 0, (struct sockaddr_in6 *)&addr), 0);
    else
        CHECK_EQ_INT(uv_ip4_addr(host, 0, (struct sockaddr_in *)&addr), 0);
    int err = uv_tcp_bind(&srv->listener, (struct sockaddr *)&addr, 0);
    if (err == 0)
        err = uv_listen((uv_stream_t *)&srv->listener, 64, srv_on_connection);
    if (err)
        return err;
    CHECK_EQ_INT(uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &namelen), 0);
    srv->port = ntohs(((struct sockaddr_in *)&bound)->sin_port); /* same offset for IPv6 */
    return 0;
}

static void srv_start(srv_t *srv, uv_loop_t *loop, respond_fn respond)
{
    CHECK_EQ_INT(srv_listen(srv, loop, "127.0.0.1", respond), 0);
}

static void srv_stop(srv_t *srv)
{
    if (!uv_is_closing((uv_handle_t *)&srv->listener))
        uv_close((uv_handle_t *)&srv->listener, NULL);
    for (sconn_t *sc = srv->conns; sc; sc = sc->next)
        sconn_close(sc);
}

static int req_is(const char *req, const char *start)
{
    return strncmp(req, start, strlen(start)) == 0;
}

/* ---- client side ----------------------------------------------------------------------- */

typedef struct {
    int calls;
    int status;
    int http_status;
    char content_type[128], location[256], leader_epoch[64];
    char *body;
    size_t body_len;
    uint64_t at_ms;
} result_t;

static int in_request; /* set while bk_http_client_request runs: no callback may run then */
static int total_calls;

static void on_result(void *arg, int status, const bk_http_response_t *resp)
{
    result_t *r = arg;
    CHECK(!in_request);
    CHECK((status == 0) == (resp != NULL));
    r->calls++;
    total_calls++;
    r->status = status;
    r->at_ms = bk_now_ms();
    if (!resp)
        return;
    r->http_status = resp->status;
    snprintf(r->content_type, sizeof(r->content_type), "%s", resp->content_type);
    snprintf(r->location, sizeof(r->location), "%s", resp->location);
    snprintf(r->leader_epoch, sizeof(r->leader_epoch), "%s", resp->leader_epoch);
    free(r->body);
    r->body = malloc(resp->body_len + 1);
    memcpy(r->body, resp->body, resp->body_len);
    r->body[resp->body_len] = '\0';
    r->body_len = resp->body_len;
}

static void result_free(result_t *r)
{
    free(r->body);
    r->body = NULL;
}

typedef struct {
    uv_loop_t loop;
    uv_timer_t tick; /* wakes the loop so waits can time out */
    srv_t srv;
    bk_http_client_t *client;
    int client_closed, done_calls;
    char url[64];
} env_t;

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static void env_init(env_t *e, respond_fn respond)
{
    memset(e, 0, sizeof(*e));
    total_calls = 0;
    CHECK_EQ_INT(uv_loop_init(&e->loop), 0);
    CHECK_EQ_INT(uv_timer_init(&e->loop, &e->tick), 0);
    CHECK_EQ_INT(uv_timer_start(&e->tick, on_tick, 10, 10), 0);
    srv_start(&e->srv, &e->loop, respond);
    snprintf(e->url, sizeof(e->url), "http://127.0.0.1:%d", e->srv.port);
    CHECK_EQ_INT(bk_http_client_new(&e->loop, &e->client), 0);
}

static int request(env_t *e, const char *method, const char *path, const char *body,
                   uint32_t timeout_ms, result_t *r, bk_http_client_req_t **out)
{
    in_request = 1;
    int err = bk_http_client_request(e->client, e->url, method, path, "X-Test: 1\r\n", body,
                                     body ? strlen(body) : 0, timeout_ms, on_result, r, out);
    in_request = 0;
    return err;
}

/* Runs the loop until `calls` callbacks ran in total (or 5 s passed). */
static void env_wait_calls(env_t *e, int calls)
{
    uint64_t deadline = bk_now_ms() + 5000;
    while (total_calls < calls && bk_now_ms() < deadline)
        uv_run(&e->loop, UV_RUN_ONCE);
    CHECK_EQ_INT(total_calls, calls);
}

static void env_run_for(env_t *e, uint64_t ms)
{
    uint64_t deadline = bk_now_ms() + ms;
    while (bk_now_ms() < deadline)
        uv_run(&e->loop, UV_RUN_ONCE);
}

static void on_client_closed(void *arg)
{
    env_t *e = arg;
    e->done_calls++;
}

static void close_client(env_t *e)
{
    e->client_closed = 1;
    bk_http_client_close(e->client, on_client_closed, e);
}

static void walk_print(uv_handle_t *h, void *arg)
{
    (void)arg;
    fprintf(stderr, "  handle left open: %s\n", uv_handle_type_name(uv_handle_get_type(h)));
}

static void env_finish(env_t *e)
{
    if (!e->client_closed)
        close_client(e);
    srv_stop(&e->srv);
    uv_close((uv_handle_t *)&e->tick, NULL);
    CHECK_EQ_INT(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(e->done_calls, 1);
    int rc = uv_loop_close(&e->loop);
    if (rc != 0)
        uv_walk(&e->loop, walk_print, NULL);
    CHECK_EQ_INT(rc, 0);
}

/* ---- responders ------------------------------------------------------------------------ */

static const char OK_HELLO[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

static void respond_hello(sconn_t *sc, const char *req, size_t len)
{
    (void)req;
    (void)len;
    sconn_say(sc, OK_HELLO);
}

static void respond_silent(sconn_t *sc, const char *req, size_t len)
{
    (void)sc;
    (void)req;
    (void)len;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void respond_headers(sconn_t *sc, const char *req, size_t len)
{
    (void)req;
    (void)len;
    sconn_say(sc, "HTTP/1.1 307 Temporary Redirect\r\ncontent-TYPE: application/json\r\n"
                  "LOCATION: http://10.0.0.2:8080/topics/t\r\nx-leader-epoch: 7\r\n"
                  "Content-Length: 13\r\n\r\n{\"error\":\"x\"}");
}

static void test_content_length_body_and_headers(void)
{
    env_t e;
    result_t r = {0};
    env_init(&e, respond_headers);
    CHECK_EQ_INT(request(&e, "POST", "/topics/t?x=1", "hello", 2000, &r, NULL), 0);
    CHECK_EQ_INT(r.calls, 0); /* never from inside the request call */
    env_wait_calls(&e, 1);
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_INT(r.http_status, 307);
    CHECK_EQ_STR(r.content_type, "application/json");
    CHECK_EQ_STR(r.location, "http://10.0.0.2:8080/topics/t");
    CHECK_EQ_STR(r.leader_epoch, "7");
    CHECK_EQ_INT(r.body_len, 13);
    CHECK_EQ_STR(r.body, "{\"error\":\"x\"}");
    char want[256];
    snprintf(want, sizeof(want),
             "POST /topics/t?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 5\r\n"
             "X-Test: 1\r\nConnection: keep-alive\r\n\r\nhello",
             e.srv.port);
    CHECK_EQ_STR(e.srv.last_req, want);
    env_finish(&e);
    CHECK_EQ_INT(r.calls, 1);
    result_free(&r);
}

static void test_get_has_no_length_and_absent_headers_are_empty(void)
{
    env_t e;
    result_t r = {0};
    env_init(&e, respond_hello);
    CHECK_EQ_INT(request(&e, "GET", "/health", NULL, 2000, &r, NULL), 0);
    env_wait_calls(&e, 1);
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_INT(r.http_status, 200);
    CHECK_EQ_STR(r.body, "hello");
    CHECK_EQ_STR(r.content_type, "");
    CHECK_EQ_STR(r.location, "");
    CHECK_EQ_STR(r.leader_epoch, "");
    CHECK(strcasestr(e.srv.last_req, "content-length") == NULL);
    CHECK(strstr(e.srv.last_req, "GET /health HTTP/1.1\r\n") == e.srv.last_req);
    CHECK(strstr(e.srv.last_req, "\r\nConnection: keep-alive\r\n") != NULL);
    env_finish(&e);
    result_free(&r);
}

static const char *const CHUNKED_PIECES[] = {
    "HTTP/1.1 200 OK\r\nTransfer-Enc",
    "oding: chunked\r\nContent-Type: text/plain\r\n\r\n5\r\nhel",
    "lo\r\n6\r\n world\r",
    "\n0\r\n\r",
    "\n",
};

static void respond_chunked(sconn_t *sc, const char *req, size_t len)
{
    (void)req;
    (void)len;
    sconn_say_pieces(sc, CHUNKED_PIECES, BK_ARRAY_LEN(CHUNKED_PIECES), 15);
}

static void test_chunked_body_split_across_writes(void)
{
    env_t e;
    result_t r1 = {0}, r2 = {0};
    env_init(&e, respond_chunked);
    CHECK_EQ_INT(request(&e, "GET", "/a", NULL, 2000, &r1, NULL), 0);
    env_wait_calls(&e, 1);
    CHECK_EQ_INT(r1.status, 0);
    CHECK_EQ_STR(r1.body, "hello world");
    CHECK_EQ_INT(r1.body_len, 11);
    CHECK_EQ_STR(r1.content_type, "text/plain");
    /* a chunked response leaves the connection reusable */
    CHECK_EQ_INT(request(&e, "GET", "/b", NULL, 2000, &r2, NULL), 0);
    env_wait_calls(&e, 2);
    CHECK_EQ_STR(r2.body, "hello world");
    CHECK_EQ_INT(e.srv.n_conns, 1);
    env_finish(&e);
    result_free(&r1);
    result_free(&r2);
}

static void test_keep_alive_reuses_one_connection(void)
{
    env_t e;
    result_t r[4] = {{0}};
    env_init(&e, respond_hello);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(request(&e, i % 2 ? "POST" : "GET", "/x", "b", 2000, &r[i], NULL), 0);
        env_wait_calls(&e, i + 1);
        CHECK_EQ_INT(r[i].status, 0);
        CHECK_EQ_STR(r[i].body, "hello");
    }
    CHECK_EQ_INT(e.srv.n_conns, 1);
    CHECK_EQ_INT(e.srv.n_requests, 4);
    env_finish(&e);
    for (int i = 0; i < 4; i++)
        result_free(&r[i]);
}

static void test_idle_connections_are_capped(void)
{
    env_t e;
    result_t r[20] = {{0}};
    env_init(&e, respond_hello);
    for (int i = 0; i < 10; i++) /* ten at once: ten connections */
        CHECK_EQ_INT(request(&e, "GET", "/x", NULL, 2000, &r[i], NULL), 0);
    env_wait_calls(&e, 10);
    env_run_for(&e, 50);
    CHECK_EQ_INT(e.srv.n_conns, 10);
    CHECK_EQ_INT(e.srv.n_peer_closed, 2); /* only eight are kept */
    for (int i = 10; i < 20; i++)
        CHECK_EQ_INT(request(&e, "GET", "/x", NULL, 2000, &r[i], NULL), 0);
    env_wait_calls(&e, 20);
    CHECK_EQ_INT(e.srv.n_conns, 12); /* eight reused, two new */
    for (int i = 0; i < 20; i++) {
        CHECK_EQ_INT(r[i].status, 0);
        result_free(&r[i]);
    }
    env_finish(&e);
}

/* Connection 0 answers its first request, then closes (FIN) on the second without a byte:
 * what a client sees when the server's idle timeout races its next request. */
static void respond_close_on_reuse(sconn_t *sc, const char *req, size_t len)
{
    if (sc->index == 0 && sc->n_requests == 2)
        sconn_close(sc);
    else
        respond_hello(sc, req, len);
}

static void respond_reset_on_reuse(sconn_t *sc, const char *req, size_t len)
{
    if (sc->index == 0 && sc->n_requests == 2)
        sconn_reset(sc);
    else
        respond_hello(sc, req, len);
}

static void check_stale_post_not_resent(respond_fn respond, int want_err)
{
    env_t e;
    result_t r1 = {0}, r2 = {0};
    env_init(&e, respond);
    CHECK_EQ_INT(request(&e, "GET", "/x", NULL, 2000, &r1, NULL), 0);
    env_wait_calls(&e, 1);
    CHECK_EQ_INT(r1.status, 0);
    CHECK_EQ_INT(request(&e, "POST", "/topics/t", "{\"records\":[]}", 2000, &r2, NULL), 0);
    env_wait_calls(&e, 2);
    CHECK_EQ_INT(r2.status, want_err);
    env_run_for(&e, 100); /* a resend would show up here */
    CHECK_EQ_INT(e.srv.n_requests, 2);
    CHECK_EQ_INT(e.srv.n_conns, 1);
    CHECK_EQ_INT(r2.calls, 1);
    env_finish(&e);
    result_free(&r1);
    result_free(&r2);
}

static void test_stale_connection_post_is_not_resent(void)
{
    check_stale_post_not_resent(respond_close_on_reuse, UV_EOF);
    check_stale_post_not_resent(respond_reset_on_reuse, UV_ECONNRESET);
}

static void check_stale_get_retried(respond_fn respond)
{
    env_t e;
    result_t r1 = {0}, r2 = {0};
    env_init(&e, respond);
    CHECK_EQ_INT(request(&e, "GET", "/x", NULL, 2000, &r1, NULL), 0);
    env_wait_calls(&e, 1);
    CHECK_EQ_INT(request(&e, "GET", "/y", NULL, 2000, &r2, NULL), 0);
    env_wait_calls(&e, 2);
    CHECK_EQ_INT(r2.status, 0);
    CHECK_EQ_STR(r2.body, "hello");
    CHECK_EQ_INT(e.srv.n_conns, 2);
    CHECK_EQ_INT(e.srv.n_requests, 3);
    CHECK(strstr(e.srv.last_req, "GET /y ") == e.srv.last_req);
    env_finish(&e);
    result_free(&r1);
    result_free(&r2);
}

static void test_stale_connection_get_is_retried_once(void)
{
    check_stale_get_retried(respond_close_on_reuse);
    check_stale_get_retried(respond_reset_on_reuse);
}

/* Every connection answers one request, then closes without answering the next: a GET is
 * retried once only, then its error is reported. */
static void respond_one_then_close(sconn_t *sc, const char *req, size_t len)
{
    if (sc->n_requests == 2)
        sconn_close(sc);
    else if (sc->index == 0)
        respond_hello(sc, req, len);
    else
        sconn_close(sc);
}

static void test_get_retry_happens_only_once(void)
{
    env_t e;
    result_t r1 = {0}, r2 = {0};
    env_init(&e, respond_one_then_close);
    CHECK_EQ_INT(request(&e, "GET", "/x", NULL, 2000, &r1, NULL), 0);
    env_wait_calls(&e, 1);
    CHECK_EQ_INT(request(&e, "GET", "/y", NULL, 2000, &r2, NULL), 0);
    env_wait_calls(&e, 2);
    CHECK_EQ_INT(r2.status, UV_EOF);
    env_run_for(&e, 50);
    CHECK_EQ_INT(e.srv.n_conns, 2);
    CHECK_EQ_INT(e.srv.n_requests, 3);
    env_finish(&e);
    result_free(&r1);
    result_free(&r2);
}

/* Answers, then closes the idle connection right away: the client notices while idle and
 * sends its next request, even a POST, on a fresh connection. */
static void respond_then_close(sconn_t *sc, const char *req, size_t len)
{
    respond_hello(sc, req, len);
    sconn_end(sc);
}

static void test_idle_connection_closed_by_server_is_dropped(void)
{
    env_t e;
    result_t r1 = {0}, r2 = {0};
    env_init(&e, respond_then_close);
    CHECK_EQ_INT(request(&e, "GET", "/x", NULL, 2000, &r1, NULL), 0);
    env_wait_calls(&e, 1);
    env_run_for(&e, 50);
    CHECK_EQ_INT(request(&e, "POST", "/y", "z", 2000, &r2, NULL), 0);
    env_wait_calls(&e, 2);
    CHECK_EQ_INT(r2.status, 0);
    CHECK_EQ_STR(r2.body, "hello");
    CHECK_EQ_INT(e.srv.n_conns, 2);
    CHECK_EQ_INT(e.srv.n_requests, 2);
    env_finish(&e);
    result_free(&r1);
    result_free(&r2);
}

static void respond_until_eof(sconn_t *sc, const char *req, size_t len)
{
    (void)req;
    (void)len;
    sconn_say(sc, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-eof");
    sconn_end(sc);
}

static void test_connection_close_body_until_eof(void)
{
    env_t e;
    result_t r1 = {0}, r2 = {0};
    env_init(&e, respond_until_eof);
    CHECK_EQ_INT(request(&e, "GET", "/x", NULL, 2000, &r1, NULL), 0);
    env_wait_calls(&e, 1);
    CHECK_EQ_INT(r1.status, 0);
    CHECK_EQ_STR(r1.body, "until-eof");
    CHECK_EQ_INT(request(&e, "POST", "/x", "p", 2000, &r2, NULL), 0);
    env_wait_calls(&e, 2);
    CHECK_EQ_INT(r2.status, 0);
    CHECK_EQ_INT(e.srv.n_conns, 2);
    env_finish(&e);
    result_free(&r1);
    result_free(&r2);
}

static void respond_large(sconn_t *sc, const char *req, size_t len)
{
    (void)req;
    (void)len;
    size_t n = 3u << 20;
    char head[128];
    int hl = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
    char *msg = malloc((size_t)hl + n);
    memcpy(msg, head, (size_t)hl);
    for (size_t i = 0; i < n; i++)
        msg[(size_t)hl + i] = (char)('a' + i % 26);
    sconn_write(sc, msg, (size_t)hl + n);
    free(msg);
}

static void test_large_body(void)
{
    env_t e;
    result_t r = {0};
    env_init(&e, respond_large);
    CHECK_EQ_INT(request(&e, "GET", "/big", NULL, 5000, &r, NULL), 0);
    env_wait_calls(&e, 1);
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_INT(r.body_len, 3u << 20);
    int same = r.body != NULL;
    for (size_t i = 0; same && i < r.body_len; i++)
        same = r.body[i] == (char)('a' + i % 26);
    CHECK(same);
    env_finish(&e);
    result_free(&r);
}

/* A request's response cap: under it BK_ETOOBIG, raised on the handle it is received. */
static void test_response_cap_per_request(void)
{
    env_t e;
    result_t r1 = {0}, r2 = {0};
    env_init(&e, respond_large);
    bk_http_client_req_t *h = NULL;
    CHECK_EQ_INT(request(&e, "GET", "/big", NULL, 5000, &r1, &h), 0);
    bk_http_client_set_max_response(h, 1u << 20);
    env_wait_calls(&e, 1);
    CHECK_EQ_INT(r1.status, BK_ETOOBIG);
    CHECK_EQ_INT(request(&e, "GET", "/big", NULL, 5000, &r2, &h), 0);
    bk_http_client_set_max_response(h, (uint64_t)3 << 20);
    env_wait_calls(&e, 2);
    CHECK_EQ_INT(r2.status, 0);
    CHECK_EQ_INT(r2.body_len, 3u << 20);
    env_finish(&e);
    result_free(&r1);
    result_free(&r2);
}

static void respond_interim_then_ok(sconn_t *sc, const char *req, size_t len)
{
    (void)len;
    if (req_is(req, "HEAD "))
        sconn_say(sc, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    else
        sconn_say(sc, "HTTP/1.1 100 Continue\r\nX-Leader-Epoch: 1\r\n\r\n"
                      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
}

static void test_head_and_interim_responses(void)
{
    env_t e;
    result_t r1 = {0}, r2 = {0};
    env_init(&e, respond_interim_then_ok);
    CHECK_EQ_INT(request(&e, "HEAD", "/x", NULL, 2000, &r1, NULL), 0);
    env_wait_calls(&e, 1);
    CHECK_EQ_INT(r1.status, 0);
    CHECK_EQ_INT(r1.http_status, 200);
    CHECK_EQ_INT(r1.body_len, 0);
    CHECK_EQ_INT(request(&e, "POST", "/x", "y", 2000, &r2, NULL), 0);
    env_wait_calls(&e, 2);
    CHECK_EQ_INT(r2.status, 0);
    CHECK_EQ_INT(r2.http_status, 201);
    CHECK_EQ_STR(r2.body, "ok");
    CHECK_EQ_STR(r2.leader_epoch, ""); /* the interim response's headers are dropped */
    CHECK_EQ_INT(e.srv.n_conns, 1);
    env_finish(&e);
    result_free(&r1);
    result_free(&r2);
}

static void test_connection_refused(void)
{
    env_t e;
    result_t r = {0};
    env_init(&e, respond_hello);
    uv_tcp_t probe; /* a port that was free a moment ago and has no listener now */
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int namelen = sizeof(bound);
    CHECK_EQ_INT(uv_tcp_init(&e.loop, &probe), 0);
    CHECK_EQ_INT(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
    CHECK_EQ_INT(uv_tcp_bind(&probe, (struct sockaddr *)&addr, 0), 0);
    CHECK_EQ_INT(uv_tcp_getsockname(&probe, (struct sockaddr *)&bound, &namelen), 0);
    uv_close((uv_handle_t *)&probe, NULL);
    snprintf(e.url, sizeof(e.url), "http://127.0.0.1:%d",
             ntohs(((struct sockaddr_in *)&bound)->sin_port));
    CHECK_EQ_INT(request(&e, "POST", "/x", "y", 2000, &r, NULL), 0);
    env_wait_calls(&e, 1);
    CHECK_EQ_INT(r.status, UV_ECONNREFUSED);
    env_finish(&e);
}

static void test_timeout(void)
{
    env_t e;
    result_t r = {0};
    env_init(&e, respond_silent);
    uint64_t start = bk_now_ms();
    CHECK_EQ_INT(request(&e, "GET", "/x", NULL, 200, &r, NULL), 0);
    env_wait_calls(&e, 1);
    CHECK_EQ_INT(r.status, UV_ETIMEDOUT);
    CHECK(r.at_ms - start >= 190);
    CHECK(r.at_ms - start < 1000);
    CHECK_EQ_INT(e.srv.n_requests, 1);
    env_run_for(&e, 50);
    CHECK_EQ_INT(e.srv.n_peer_closed, 1); /* the timed-out connection is not reused */
    env_finish(&e);
}

static void on_cancel_timer(uv_timer_t *t)
{
    bk_http_client_cancel(t->data);
}

static void test_cancel(void)
{
    env_t e;
    result_t r1 = {0}, r2 = {0};
    bk_http_client_req_t *req1 = NULL, *req2 = NULL;
    uv_timer_t timer;
    env_init(&e, respond_silent);
    /* cancelled at once: still called back later, from the loop */
    CHECK_EQ_INT(request(&e, "GET", "/x", NULL, 5000, &r1, &req1), 0);
    bk_http_client_cancel(req1);
    CHECK_EQ_INT(r1.calls, 0);
    /* cancelled while waiting for the answer */
    uint64_t start = bk_now_ms();
    CHECK_EQ_INT(request(&e, "POST", "/y", "z", 5000, &r2, &req2), 0);
    CHECK(req2 != NULL);
    CHECK_EQ_INT(uv_timer_init(&e.loop, &timer), 0);
    timer.data = req2;
    CHECK_EQ_INT(uv_timer_start(&timer, on_cancel_timer, 50, 0), 0);
    env_wait_calls(&e, 2);
    CHECK_EQ_INT(r1.status, UV_ECANCELED);
    CHECK_EQ_INT(r2.status, UV_ECANCELED);
    CHECK(r2.at_ms - start < 1000);
    env_run_for(&e, 50);
    CHECK_EQ_INT(e.srv.n_peer_closed, e.srv.n_conns); /* both connections were closed */
    uv_close((uv_handle_t *)&timer, NULL);
    env_finish(&e);
    CHECK_EQ_INT(r1.calls, 1);
    CHECK_EQ_INT(r2.calls, 1);
}

typedef struct {
    result_t *r;
    int n;
    int done_saw_calls; /* callbacks that had run when done() ran */
    int done_calls;
} close_order_t;

static close_order_t *close_order;

static void on_closed_order(void *arg)
{
    close_order_t *o = arg;
    o->done_calls++;
    for (int i = 0; i < o->n; i++)
        o->done_saw_calls += o->r[i].calls;
}

static void on_close_timer(uv_timer_t *t)
{
    env_t *e = t->data;
    e->client_closed = 1;
    e->done_calls = 1; /* done() is tracked by close_order instead */
    bk_http_client_close(e->client, on_closed_order, close_order);
    result_t late = {0}; /* between close and done(), new requests are refused */
    CHECK_EQ_INT(request(e, "GET", "/x", NULL, 100, &late, NULL), BK_ECLOSED);
    CHECK_EQ_INT(close_order->r[0].calls, 0); /* cancellations are delivered later */
}

static void test_close_with_pending_requests(void)
{
    env_t e;
    result_t r[3] = {{0}};
    close_order_t order = {r, 3, 0, 0};
    uv_timer_t timer;
    env_init(&e, respond_silent);
    close_order = &order;
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(request(&e, "POST", "/x", "y", 5000, &r[i], NULL), 0);
    CHECK_EQ_INT(uv_timer_init(&e.loop, &timer), 0);
    timer.data = &e;
    CHECK_EQ_INT(uv_timer_start(&timer, on_close_timer, 50, 0), 0);
    env_wait_calls(&e, 3);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(r[i].status, UV_ECANCELED);
    uv_close((uv_handle_t *)&timer, NULL);
    env_finish(&e);
    CHECK_EQ_INT(order.done_calls, 1);
    CHECK_EQ_INT(order.done_saw_calls, 3); /* every callback ran before done() */
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(r[i].calls, 1);
}

/* Closing from inside a callback cancels the rest and still finishes cleanly. */
static env_t *close_env;

static void on_result_then_close(void *arg, int status, const bk_http_response_t *resp)
{
    on_result(arg, status, resp);
    close_client(close_env);
}

static void respond_path(sconn_t *sc, const char *req, size_t len)
{
    if (req_is(req, "GET /fast "))
        respond_hello(sc, req, len);
}

static void test_close_from_inside_a_callback(void)
{
    env_t e;
    result_t fast = {0}, slow = {0};
    env_init(&e, respond_path);
    close_env = &e;
    CHECK_EQ_INT(request(&e, "GET", "/slow", NULL, 5000, &slow, NULL), 0);
    CHECK_EQ_INT(bk_http_client_request(e.client, e.url, "GET", "/fast", NULL, NULL, 0, 5000,
                                        on_result_then_close, &fast, NULL),
                 0);
    env_wait_calls(&e, 2);
    CHECK_EQ_INT(fast.status, 0);
    CHECK_EQ_INT(slow.status, UV_ECANCELED);
    env_finish(&e);
    result_free(&fast);
}

static const char *malformed_reply;

static void respond_malformed(sconn_t *sc, const char *req, size_t len)
{
    (void)req;
    (void)len;
    sconn_say(sc, malformed_reply);
    if (strstr(malformed_reply, "truncated"))
        sconn_end(sc);
}

static void check_bad_response(const char *reply, int want)
{
    env_t e;
    result_t r = {0};
    malformed_reply = reply;
    env_init(&e, respond_malformed);
    CHECK_EQ_INT(request(&e, "GET", "/x", NULL, 2000, &r, NULL), 0);
    env_wait_calls(&e, 1);
    if (r.status != want)
        fprintf(stderr, "  reply: %s\n", reply);
    CHECK_EQ_INT(r.status, want);
    env_finish(&e);
    result_free(&r);
}

static void test_malformed_responses(void)
{
    check_bad_response("SMTP ready\r\n\r\n", BK_EINVAL);
    check_bad_response("HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", BK_EINVAL);
    check_bad_response("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                       BK_EINVAL);
    check_bad_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", BK_EINVAL);
    check_bad_response("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\ntruncated", UV_EOF);
    check_bad_response("HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n", BK_ETOOBIG);
}

/* Bytes after a complete response: the response is delivered, the connection is not reused. */
static void respond_with_trailing_junk(sconn_t *sc, const char *req, size_t len)
{
    (void)req;
    (void)len;
    sconn_say(sc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokJUNK");
}

static void test_trailing_bytes_retire_the_connection(void)
{
    env_t e;
    result_t r1 = {0}, r2 = {0};
    env_init(&e, respond_with_trailing_junk);
    CHECK_EQ_INT(request(&e, "GET", "/x", NULL, 2000, &r1, NULL), 0);
    env_wait_calls(&e, 1);
    CHECK_EQ_INT(r1.status, 0);
    CHECK_EQ_STR(r1.body, "ok");
    CHECK_EQ_INT(request(&e, "GET", "/x", NULL, 2000, &r2, NULL), 0);
    env_wait_calls(&e, 2);
    CHECK_EQ_INT(r2.status, 0);
    CHECK_EQ_INT(e.srv.n_conns, 2);
    env_finish(&e);
    result_free(&r1);
    result_free(&r2);
}

static void test_localhost_url(void)
{
    env_t e;
    result_t r = {0};
    env_init(&e, respond_hello);
    snprintf(e.url, sizeof(e.url), "http://LocalHost:%d/", e.srv.port);
    CHECK_EQ_INT(request(&e, "GET", "/x", NULL, 2000, &r, NULL), 0);
    env_wait_calls(&e, 1);
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_STR(r.body, "hello");
    char host[64];
    snprintf(host, sizeof(host), "\r\nHost: LocalHost:%d\r\n", e.srv.port);
    CHECK(strstr(e.srv.last_req, host) != NULL);
    env_finish(&e);
    result_free(&r);
}

/* "127.1" is no IPv4 literal for uv_ip4_addr, so it goes through uv_getaddrinfo (off the
 * loop), which reads it numerically: the resolving path, without needing DNS. */
static void test_name_resolved_off_the_loop(void)
{
    env_t e;
    result_t r1 = {0}, r2 = {0};
    bk_http_client_req_t *req2 = NULL;
    env_init(&e, respond_hello);
    snprintf(e.url, sizeof(e.url), "http://127.1:%d", e.srv.port);
    CHECK_EQ_INT(request(&e, "GET", "/x", NULL, 2000, &r1, NULL), 0);
    CHECK_EQ_INT(request(&e, "GET", "/x", NULL, 2000, &r2, &req2), 0);
    bk_http_client_cancel(req2); /* cancelled while resolving */
    env_wait_calls(&e, 2);
    CHECK_EQ_INT(r1.status, 0);
    CHECK_EQ_STR(r1.body, "hello");
    CHECK_EQ_INT(r2.status, UV_ECANCELED);
    CHECK_EQ_INT(e.srv.n_requests, 1);
    env_finish(&e);
    result_free(&r1);
}

static void test_ipv6_literal_url(void)
{
    env_t e;
    srv_t srv6;
    result_t r = {0};
    env_init(&e, respond_hello);
    if (srv_listen(&srv6, &e.loop, "::1", respond_hello) != 0) {
        fprintf(stderr, "  no IPv6 loopback here; skipped\n");
        uv_close((uv_handle_t *)&srv6.listener, NULL);
        env_finish(&e);
        return;
    }
    snprintf(e.url, sizeof(e.url), "http://[::1]:%d", srv6.port);
    CHECK_EQ_INT(request(&e, "GET", "/x", NULL, 2000, &r, NULL), 0);
    env_wait_calls(&e, 1);
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_STR(r.body, "hello");
    CHECK_EQ_INT(srv6.n_requests, 1);
    char host[64];
    snprintf(host, sizeof(host), "\r\nHost: [::1]:%d\r\n", srv6.port);
    CHECK(strstr(srv6.last_req, host) != NULL);
    srv_stop(&srv6);
    env_finish(&e);
    result_free(&r);
}

static void test_invalid_arguments_fail_at_once(void)
{
    env_t e;
    result_t r = {0};
    env_init(&e, respond_hello);
    static const char *const bad_urls[] = {
        "ftp://127.0.0.1:80", "http://",          "http://127.0.0.1:0", "http://127.0.0.1:99999",
        "http://a b:80",      "http://h:80/path", "http://[::1",        "http://127.0.0.1:8x",
        "127.0.0.1:80",       "http://[zz]:80",   "http://h:",
    };
    for (size_t i = 0; i < BK_ARRAY_LEN(bad_urls); i++) {
        int err = bk_http_client_request(e.client, bad_urls[i], "GET", "/", NULL, NULL, 0, 100,
                                         on_result, &r, NULL);
        if (err != BK_EINVAL)
            fprintf(stderr, "  url: %s\n", bad_urls[i]);
        CHECK_EQ_INT(err, BK_EINVAL);
    }
    CHECK_EQ_INT(bk_http_client_request(e.client, e.url, "get", "/", NULL, NULL, 0, 100, on_result,
                                        &r, NULL),
                 BK_EINVAL);
    CHECK_EQ_INT(bk_http_client_request(e.client, e.url, "GET", "x", NULL, NULL, 0, 100, on_result,
                                        &r, NULL),
                 BK_EINVAL);
    CHECK_EQ_INT(bk_http_client_request(e.client, e.url, "GET", "/a b", NULL, NULL, 0, 100,
                                        on_result, &r, NULL),
                 BK_EINVAL);
    CHECK_EQ_INT(bk_http_client_request(e.client, e.url, "GET", "/", "X-A: 1", NULL, 0, 100,
                                        on_result, &r, NULL),
                 BK_EINVAL);
    CHECK_EQ_INT(bk_http_client_request(e.client, e.url, "GET", "/", "X-A: 1\r\n\r\nGET / x\r\n",
                                        NULL, 0, 100, on_result, &r, NULL),
                 BK_EINVAL);
    CHECK_EQ_INT(
        bk_http_client_request(e.client, e.url, "GET", "/", NULL, NULL, 0, 100, NULL, &r, NULL),
        BK_EINVAL);
    env_run_for(&e, 30);
    CHECK_EQ_INT(r.calls, 0);
    CHECK_EQ_INT(e.srv.n_conns, 0);
    env_finish(&e);
}

CHECK_MAIN(CASE(test_content_length_body_and_headers),
           CASE(test_get_has_no_length_and_absent_headers_are_empty),
           CASE(test_chunked_body_split_across_writes), CASE(test_keep_alive_reuses_one_connection),
           CASE(test_idle_connections_are_capped), CASE(test_stale_connection_post_is_not_resent),
           CASE(test_stale_connection_get_is_retried_once), CASE(test_get_retry_happens_only_once),
           CASE(test_idle_connection_closed_by_server_is_dropped),
           CASE(test_connection_close_body_until_eof), CASE(test_large_body),
           CASE(test_response_cap_per_request), CASE(test_head_and_interim_responses),
           CASE(test_connection_refused), CASE(test_timeout), CASE(test_cancel),
           CASE(test_close_with_pending_requests), CASE(test_close_from_inside_a_callback),
           CASE(test_malformed_responses), CASE(test_trailing_bytes_retire_the_connection),
           CASE(test_localhost_url), CASE(test_name_resolved_off_the_loop),
           CASE(test_ipv6_literal_url), CASE(test_invalid_arguments_fail_at_once))
