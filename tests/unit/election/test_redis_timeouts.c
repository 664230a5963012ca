/* The Redis client against servers that misbehave, on the test's own loop: one that accepts and
 * never answers (command timeout), one that hangs up when spoken to (connection lost with
 * commands pending), a port nobody listens on (refused, retried), and a full accept queue
 * (connect timeout). Every callback must run exactly once and before the DISCONNECTED
 * notification, and the loop must close cleanly. */
#include "brook/common.h"
#include "election/redis_client.h"

#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- a rude server: accepts, then ignores or hangs up --------------------------------------- */

typedef struct {
    uv_tcp_t listener;
    uv_tcp_t conns[8];
    int nconns;
    int hang_up; /* close a connection as soon as it sends anything */
    int port;
} server_t;

static void alloc_buf(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    static char scratch[4096];
    (void)h;
    (void)size;
    *buf = uv_buf_init(scratch, sizeof scratch);
}

static void on_conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    server_t *srv = s->data;
    if ((n > 0 && srv->hang_up) || n < 0) {
        if (!uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, NULL);
    }
}

static void on_connection(uv_stream_t *l, int status)
{
    server_t *srv = l->data;
    CHECK_EQ_INT(status, 0);
    if (srv->nconns == (int)BK_ARRAY_LEN(srv->conns))
        return;
    uv_tcp_t *c = &srv->conns[srv->nconns++];
    CHECK_EQ_INT(uv_tcp_init(l->loop, c), 0);
    c->data = srv;
    CHECK_EQ_INT(uv_accept(l, (uv_stream_t *)c), 0);
    CHECK_EQ_INT(uv_read_start((uv_stream_t *)c, alloc_buf, on_conn_read), 0);
}

static void server_start(uv_loop_t *loop, server_t *srv, int port)
{
    struct sockaddr_in a;
    CHECK_EQ_INT(uv_ip4_addr("127.0.0.1", port, &a), 0);
    CHECK_EQ_INT(uv_tcp_init(loop, &srv->listener), 0);
    srv->listener.data = srv;
    CHECK_EQ_INT(uv_tcp_bind(&srv->listener, (struct sockaddr *)&a, 0), 0);
    CHECK_EQ_INT(uv_listen((uv_stream_t *)&srv->listener, 16, on_connection), 0);
    int len = sizeof a;
    CHECK_EQ_INT(uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&a, &len), 0);
    srv->port = ntohs(a.sin_port);
}

static void server_close(server_t *srv)
{
    uv_close((uv_handle_t *)&srv->listener, NULL);
    for (int i = 0; i < srv->nconns; i++)
        if (!uv_is_closing((uv_handle_t *)&srv->conns[i]))
            uv_close((uv_handle_t *)&srv->conns[i], NULL);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
          getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- the client under test --------------------------------------------------------------- */

typedef struct {
    bk_redis_client_t *c;
    int ups, downs;
    int calls[4], status[4];
    uint64_t called_at[4];
    int events[16]; /* 'c'<n> for callbacks, 'D' for the down notification, in order */
    int nevents;
    int close_on_down;
    int closed;
} ctx_t;

static void on_state(void *arg, bk_redis_state_t s)
{
    ctx_t *x = arg;
    if (s == BK_REDIS_CONNECTED) {
        x->ups++;
        return;
    }
    x->downs++;
    if (x->nevents < 16)
        x->events[x->nevents++] = 'D';
    if (x->close_on_down) {
        CHECK_EQ_INT(bk_redis_client_state(x->c), BK_REDIS_DISCONNECTED);
        bk_redis_client_close(x->c, NULL, NULL);
        x->closed = 1;
    }
}

static ctx_t *cur;

static void after_cmd(void *arg, int status, const redisReply *r)
{
    int i = (int)(intptr_t)arg;
    CHECK(r == NULL); /* these servers never answer */
    cur->calls[i]++;
    cur->status[i] = status;
    cur->called_at[i] = bk_now_ms();
    if (cur->nevents < 16)
        cur->events[cur->nevents++] = i;
    /* A callback may send again: refused, the connection is gone. */
    CHECK(bk_redis_client_command(cur->c, 1, (const char *[]){"PING"}, (size_t[]){4}, after_cmd,
                                  arg) < 0);
}

static int send_ping(ctx_t *x, intptr_t i)
{
    return bk_redis_client_command(x->c, 1, (const char *[]){"PING"}, (size_t[]){4}, after_cmd,
                                   (void *)i);
}

static void on_closed(void *arg)
{
    ((ctx_t *)arg)->closed = 2;
}

typedef int (*pred_fn)(void *);

static uv_timer_t ticker;

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static int run_until(uv_loop_t *loop, pred_fn pred, void *arg, uint64_t ms)
{
    uint64_t end = bk_now_ms() + ms;
    while (!pred(arg)) {
        if (bk_now_ms() >= end)
            return 0;
        uv_run(loop, UV_RUN_ONCE);
    }
    return 1;
}

static int never(void *a)
{
    (void)a;
    return 0;
}

static int ups1(void *a)
{
    return ((ctx_t *)a)->ups >= 1;
}

static int ups2(void *a)
{
    return ((ctx_t *)a)->ups >= 2;
}

static int called0(void *a)
{
    return ((ctx_t *)a)->calls[0] > 0;
}

static int is_closed(void *a)
{
    return ((ctx_t *)a)->closed == 2;
}

static void loop_begin(uv_loop_t *loop, ctx_t *x)
{
    signal(SIGPIPE, SIG_IGN);
    memset(x, 0, sizeof *x);
    cur = x;
    CHECK_EQ_INT(uv_loop_init(loop), 0);
    CHECK_EQ_INT(uv_timer_init(loop, &ticker), 0);
    CHECK_EQ_INT(uv_timer_start(&ticker, on_tick, 5, 5), 0);
}

static void loop_end(uv_loop_t *loop)
{
    uv_close((uv_handle_t *)&ticker, NULL);
    CHECK_EQ_INT(uv_run(loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(uv_loop_close(loop), 0);
}

static void start_client_t(uv_loop_t *loop, ctx_t *x, int port, uint32_t connect_timeout_ms)
{
    bk_redis_config_t cfg = {.host = "127.0.0.1",
                             .port = port,
                             .connect_timeout_ms = connect_timeout_ms,
                             .command_timeout_ms = 200,
                             .backoff_min_ms = 50,
                             .backoff_max_ms = 200};
    CHECK_EQ_INT(bk_redis_client_start(loop, &cfg, on_state, x, &x->c), 0);
}

static void start_client(uv_loop_t *loop, ctx_t *x, int port)
{
    start_client_t(loop, x, port, 200);
}

static void test_command_timeout(void)
{
    uv_loop_t loop;
    ctx_t x;
    server_t srv = {0};
    loop_begin(&loop, &x);
    server_start(&loop, &srv, 0);
    start_client(&loop, &x, srv.port);
    CHECK(run_until(&loop, ups1, &x, 2000));
    uint64_t t0 = bk_now_ms();
    CHECK_EQ_INT(send_ping(&x, 0), 0);
    CHECK_EQ_INT(send_ping(&x, 1), 0);
    CHECK(run_until(&loop, called0, &x, 2000));
    CHECK_EQ_INT(x.status[0], UV_ETIMEDOUT);
    CHECK_EQ_INT(x.status[1], UV_ETIMEDOUT);
    CHECK(x.called_at[0] - t0 >= 190 && x.called_at[0] - t0 < 500);
    CHECK_EQ_STR(bk_redis_client_last_error(x.c), "command timed out");
    /* Callbacks first, then the notification. */
    CHECK_EQ_INT(x.nevents, 3);
    CHECK_EQ_INT(x.events[0], 0);
    CHECK_EQ_INT(x.events[1], 1);
    CHECK_EQ_INT(x.events[2], 'D');
    /* It reconnects by itself after the backoff. */
    CHECK(run_until(&loop, ups2, &x, 2000));
    run_until(&loop, never, NULL, 300);
    CHECK_EQ_INT(x.calls[0], 1); /* exactly once, even after more time */
    CHECK_EQ_INT(x.calls[1], 1);
    CHECK_EQ_INT(x.downs, 1);
    bk_redis_client_close(x.c, on_closed, &x);
    CHECK(run_until(&loop, is_closed, &x, 1000));
    server_close(&srv);
    loop_end(&loop);
}

static void test_hang_up_with_pending(void)
{
    uv_loop_t loop;
    ctx_t x;
    server_t srv = {.hang_up = 1};
    loop_begin(&loop, &x);
    server_start(&loop, &srv, 0);
    start_client(&loop, &x, srv.port);
    CHECK(run_until(&loop, ups1, &x, 2000));
    x.close_on_down = 1;
    for (intptr_t i = 0; i < 3; i++)
        CHECK_EQ_INT(send_ping(&x, i), 0);
    CHECK(run_until(&loop, called0, &x, 2000));
    run_until(&loop, never, NULL, 300);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(x.calls[i], 1);
        CHECK_EQ_INT(x.status[i], BK_EREDIS);
    }
    CHECK_EQ_INT(x.nevents, 4);
    CHECK_EQ_INT(x.events[3], 'D');
    CHECK_EQ_INT(x.closed, 1); /* closed from inside the notification; no reconnect after */
    CHECK_EQ_INT(x.ups, 1);
    server_close(&srv);
    loop_end(&loop);
}

static void test_refused_then_listening(void)
{
    uv_loop_t loop;
    ctx_t x;
    server_t srv = {0};
    loop_begin(&loop, &x);
    int port = free_port();
    /* A connect timeout far beyond the test: only the poll error (RST on the socket) can end
     * each attempt, which hiredis' stock libuv adapter ignores. */
    start_client_t(&loop, &x, port, 60000);
    run_until(&loop, never, NULL, 400); /* several refused attempts */
    CHECK_EQ_INT(x.ups, 0);
    CHECK_EQ_INT(x.downs, 0); /* failed attempts are not reported */
    CHECK(bk_redis_client_state(x.c) != BK_REDIS_CONNECTED);
    CHECK_EQ_STR(bk_redis_client_last_error(x.c), "connect failed");
    CHECK_EQ_INT(send_ping(&x, 0), BK_EREDIS);
    server_start(&loop, &srv, port);
    CHECK(run_until(&loop, ups1, &x, 2000)); /* backoff capped at 200 ms here */
    bk_redis_client_close(x.c, on_closed, &x);
    CHECK(run_until(&loop, is_closed, &x, 1000));
    CHECK_EQ_INT(x.calls[0], 0);
    server_close(&srv);
    loop_end(&loop);
}

static void test_connect_timeout(void)
{
    uv_loop_t loop;
    ctx_t x;
    loop_begin(&loop, &x);
    /* A listener that never accepts, its queue filled: further SYNs are dropped. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    CHECK(bind(lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(lfd, 0) == 0 &&
          getsockname(lfd, (struct sockaddr *)&a, &len) == 0);
    int fillers[4];
    for (int i = 0; i < 4; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int rc = connect(fillers[i], (struct sockaddr *)&a, sizeof a);
        (void)rc; /* some complete, the rest stay pending: either fills the queue */
    }
    start_client(&loop, &x, ntohs(a.sin_port));
    run_until(&loop, never, NULL, 700);
    CHECK_EQ_INT(x.ups, 0);
    CHECK_EQ_STR(bk_redis_client_last_error(x.c), "connect timed out");
    bk_redis_client_close(x.c, on_closed, &x);
    CHECK(run_until(&loop, is_closed, &x, 1000));
    for (int i = 0; i < 4; i++)
        close(fillers[i]);
    close(lfd);
    loop_end(&loop);
}

CHECK_MAIN(CASE(test_command_timeout), CASE(test_hang_up_with_pending),
           CASE(test_refused_then_listening), CASE(test_connect_timeout))
