/* The server's private state, shared by server.c and conn.c only. */
#ifndef BROOK_NET_SERVER_IMPL_H
#define BROOK_NET_SERVER_IMPL_H

#include "brook/server.h"
#include "net/conn.h"

struct bk_server {
    uv_loop_t *loop;
    uv_tcp_t listener;     /* plaintext HTTP; never bound when cfg.port is BK_SERVER_PORT_OFF */
    uv_tcp_t tls_listener; /* HTTPS; never bound when cfg.tls_port is BK_SERVER_PORT_OFF */
    uv_timer_t sweeper;
    uv_timer_t deferred;       /* runs the held requests released inside a completion */
    bk_conn_t *deferred_conns; /* connections with held requests to dispatch (dnext) */
    bk_server_config_t cfg;
    bk_server_handlers_t handlers;
    bk_http_parser_hooks_t hooks; /* template; arg is set per connection */
    bk_conn_t *conns;             /* intrusive list */
    uint32_t conn_count;
    uint64_t accepted;
    char read_buf[64 * 1024]; /* shared: a read is parsed before the next is allocated */
    int read_buf_busy;
    char plain_buf[64 * 1024]; /* TLS: plaintext decrypted from read_buf, parsed at once */
    int stopping;
    int handles_open;
    void (*stop_done)(void *arg);
    void *stop_arg;
};

/* Runs bk_conn_run_deferred(c) from the next loop iteration (idempotent per connection). */
void bk_server_defer(struct bk_server *s, bk_conn_t *c);
/* Drops c from the deferred list (it is closing). */
void bk_server_undefer(struct bk_server *s, bk_conn_t *c);

/* Called by conn.c when a connection has been freed. */
void bk_server_conn_gone(struct bk_server *s, bk_conn_t *c);

#endif
