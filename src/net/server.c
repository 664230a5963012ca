/* Listener, connection cap, the timeout sweeper and graceful stop. Timeouts are enforced by
 * one sweep over all connections every 250 ms instead of a timer per connection: ten
 * thousand idle connections then cost no timer work per request. */
#include "brook/server.h"

#include <stdlib.h>
#include <string.h>

#include "brook/common.h"
#include "http/response.h"
#include "net/server_impl.h"

#define SWEEP_MS 250

void bk_server_config_defaults(bk_server_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->host = "0.0.0.0";
    cfg->port = 5001;
    cfg->tls_port = BK_SERVER_PORT_OFF;
    cfg->max_connections = 16384;
    cfg->request_timeout_ms = 10000;
    cfg->idle_timeout_ms = 30000;
    cfg->max_pipeline = 128;
    cfg->max_conn_buffer = 16u << 20;
    bk_http_limits_defaults(&cfg->limits);
}

static void on_handle_closed(uv_handle_t *h);

static void maybe_done(bk_server_t *s)
{
    if (!s->stopping || s->conn_count)
        return;
    if (!uv_is_closing((uv_handle_t *)&s->sweeper)) {
        uv_close((uv_handle_t *)&s->deferred, on_handle_closed);
        uv_close((uv_handle_t *)&s->sweeper, on_handle_closed);
        return;
    }
    if (s->handles_open)
        return;
    void (*done)(void *) = s->stop_done;
    void *arg = s->stop_arg;
    free(s);
    if (done)
        done(arg);
}

void bk_server_conn_gone(bk_server_t *s, bk_conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->conn_count--;
    maybe_done(s);
}

/* Over the cap: tell the client why (with the headers every answer carries), then hang up.
 * One non-blocking write: a client that can't take it at once just sees the close. A TLS
 * client is only hung up on: there is no session to say it in. */
static void refuse(bk_server_t *s, uv_stream_t *listener)
{
    static const char body[] = "{\"error_code\":503,\"message\":\"too many connections\"}";
    uv_tcp_t *t = malloc(sizeof *t);
    if (!t || uv_tcp_init(s->loop, t)) {
        free(t);
        return;
    }
    bk_buf_t out = {0};
    if (uv_accept(listener, (uv_stream_t *)t) == 0 && listener == (uv_stream_t *)&s->listener &&
        bk_http_format_head(&out, 503, NULL, sizeof body - 1, NULL, 1) == 0 &&
        bk_buf_append(&out, body, sizeof body - 1) == 0) {
        uv_buf_t b = uv_buf_init(out.data, (unsigned)out.len);
        (void)uv_try_write((uv_stream_t *)t, &b, 1);
    }
    bk_buf_free(&out);
    uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

static void on_connection(uv_stream_t *listener, int status)
{
    bk_server_t *s = listener->data;
    if (status < 0) {
        bk_trace_warn("net", "accept: %s", uv_strerror(status));
        return;
    }
    if (s->stopping)
        return;
    if (s->conn_count >= s->cfg.max_connections) {
        refuse(s, listener);
        return;
    }
    int tls = listener == (uv_stream_t *)&s->tls_listener;
    int rc = bk_conn_accept(s, listener, tls ? s->cfg.tls : NULL);
    if (rc && rc != UV_EAGAIN)
        bk_trace_warn("net", "accept: %s", uv_strerror(rc));
}

static void on_sweep(uv_timer_t *t)
{
    bk_server_t *s = t->data;
    uint64_t now = uv_now(s->loop);
    bk_conn_t *c = s->conns;
    while (c) {
        bk_conn_t *next = c->next; /* sweeping may close c (freed later, in its callback) */
        bk_conn_sweep(c, now);
        c = next;
    }
}

/* Held requests released inside another request's completion (an acknowledgement, a written
 * effect) are dispatched here, from the loop, never from inside that completion: a DELETE run
 * from within a log or replicator callback could free what the callbacks after it still use. */
static void on_deferred(uv_timer_t *t)
{
    bk_server_t *s = t->data;
    while (s->deferred_conns) {
        bk_conn_t *c = s->deferred_conns;
        s->deferred_conns = c->dnext;
        c->dnext = NULL;
        c->deferred = 0;
        bk_conn_run_deferred(c);
    }
}

void bk_server_defer(bk_server_t *s, bk_conn_t *c)
{
    if (c->deferred || uv_is_closing((uv_handle_t *)&s->deferred))
        return;
    c->deferred = 1;
    c->dnext = s->deferred_conns;
    s->deferred_conns = c;
    if (!uv_is_active((uv_handle_t *)&s->deferred))
        uv_timer_start(&s->deferred, on_deferred, 0, 0);
}

void bk_server_undefer(bk_server_t *s, bk_conn_t *c)
{
    if (!c->deferred)
        return;
    for (bk_conn_t **p = &s->deferred_conns; *p; p = &(*p)->dnext) {
        if (*p == c) {
            *p = c->dnext;
            break;
        }
    }
    c->dnext = NULL;
    c->deferred = 0;
}

static int bind_listen(bk_server_t *s, uv_tcp_t *listener, int port)
{
    struct sockaddr_storage addr;
    if (port == BK_SERVER_PORT_OFF)
        return 0;
    int rc = uv_ip4_addr(s->cfg.host, port, (struct sockaddr_in *)&addr);
    if (rc)
        rc = uv_ip6_addr(s->cfg.host, port, (struct sockaddr_in6 *)&addr);
    if (rc)
        return rc;
    rc = uv_tcp_bind(listener, (const struct sockaddr *)&addr, 0);
    if (!rc)
        rc = uv_listen((uv_stream_t *)listener, 4096, on_connection);
    return rc;
}

static void free_owner(uv_handle_t *h)
{
    free(h->data);
}

int bk_server_start(uv_loop_t *loop, const bk_server_config_t *cfg,
                    const bk_server_handlers_t *handlers, bk_server_t **out)
{
    if ((cfg->port == BK_SERVER_PORT_OFF && cfg->tls_port == BK_SERVER_PORT_OFF) ||
        (cfg->tls_port != BK_SERVER_PORT_OFF && !cfg->tls))
        return BK_EINVAL;
    bk_server_t *s = calloc(1, sizeof *s);
    if (!s)
        return UV_ENOMEM;
    s->loop = loop;
    s->cfg = *cfg;
    bk_http_set_ready_hook(bk_conn_on_response);
    bk_exchange_set_conn_hooks(&bk_conn_exchange_hooks);
    s->handlers = *handlers;
    int rc = uv_tcp_init(loop, &s->listener);
    if (rc) {
        free(s);
        return rc;
    }
    rc = uv_tcp_init(loop, &s->tls_listener);
    if (rc) {
        s->listener.data = s;
        uv_close((uv_handle_t *)&s->listener, free_owner);
        return rc;
    }
    s->listener.data = s;
    s->tls_listener.data = s;
    s->handles_open = 4;
    uv_timer_init(loop, &s->sweeper);
    s->sweeper.data = s;
    uv_timer_init(loop, &s->deferred);
    s->deferred.data = s;
    rc = bind_listen(s, &s->listener, cfg->port);
    if (!rc)
        rc = bind_listen(s, &s->tls_listener, cfg->tls_port);
    if (rc) {
        s->stopping = 1;
        bk_server_stop(s, NULL, NULL);
        return rc;
    }
    uv_timer_start(&s->sweeper, on_sweep, SWEEP_MS, SWEEP_MS);
    *out = s;
    return 0;
}

static int bound_port(const uv_tcp_t *listener)
{
    struct sockaddr_storage addr;
    int len = sizeof addr;
    if (uv_tcp_getsockname(listener, (struct sockaddr *)&addr, &len))
        return -1;
    if (addr.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    return ntohs(((struct sockaddr_in *)&addr)->sin_port);
}

int bk_server_port(const bk_server_t *s)
{
    return s->cfg.port == BK_SERVER_PORT_OFF ? -1 : bound_port(&s->listener);
}

int bk_server_tls_port(const bk_server_t *s)
{
    return s->cfg.tls_port == BK_SERVER_PORT_OFF ? -1 : bound_port(&s->tls_listener);
}

uint32_t bk_server_connection_count(const bk_server_t *s)
{
    return s->conn_count;
}

uint64_t bk_server_accepted_total(const bk_server_t *s)
{
    return s->accepted;
}

static void on_handle_closed(uv_handle_t *h)
{
    bk_server_t *s = h->data;
    s->handles_open--;
    maybe_done(s);
}

void bk_server_stop(bk_server_t *s, void (*done)(void *arg), void *arg)
{
    s->stopping = 1;
    s->stop_done = done;
    s->stop_arg = arg;
    bk_conn_t *c = s->conns;
    while (c) {
        bk_conn_t *next = c->next;
        bk_conn_drain(c);
        c = next;
    }
    /* Keep sweeping while draining so a stuck client cannot hold shutdown forever. */
    if (!uv_is_closing((uv_handle_t *)&s->listener))
        uv_close((uv_handle_t *)&s->listener, on_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&s->tls_listener))
        uv_close((uv_handle_t *)&s->tls_listener, on_handle_closed);
    maybe_done(s);
}
