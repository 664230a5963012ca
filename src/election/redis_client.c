/* The election's Redis connection. States: DISCONNECTED -> CONNECTING -> CONNECTED, and back to
 * DISCONNECTED on a refused or timed-out connect, a lost socket, or a command timeout; from
 * there a retry timer reconnects after a backoff (doubling from backoff_min to backoff_max,
 * reset by a successful connect). Every accepted command is a `cmd` record whose callback runs
 * exactly once: with the reply, or with an error when the connection goes. hiredis holds each
 * record until it calls us back (with a reply or NULL), so records are freed only there.
 *
 * Re-entrancy rules kept here: redisAsyncFree() is never called from inside hiredis' connect or
 * disconnect callbacks (0.14 would free under its own feet); a context is detached (c->ac = NULL,
 * ac->data = NULL) before any user callback about its end runs; state is re-checked after every
 * user callback. It must never block and never resend a command on its own. */
#include "election/redis_client.h"

#include "brook/common.h"
#include "election/redis_uv.h"

#include <hiredis/async.h>
#include <stdlib.h>
#include <string.h>

typedef struct cmd {
    struct cmd *next;
    bk_redis_reply_cb cb;
    void *arg;
    uint64_t deadline; /* uv_now() + command timeout */
    int done;          /* callback already ran; hiredis still owns the record */
} cmd_t;

enum { TIMER_CONNECT, TIMER_COMMAND, TIMER_RETRY, TIMER_NOTIFY, TIMER_COUNT };

struct bk_redis_client {
    uv_loop_t *loop;
    char *host;
    int port;
    uint32_t connect_timeout_ms, command_timeout_ms;
    uint32_t backoff_min_ms, backoff_max_ms, backoff_ms;
    bk_redis_state_t state;
    redisAsyncContext *ac; /* set while CONNECTING or CONNECTED */
    cmd_t *head, *tail;    /* commands awaiting a reply, oldest first */
    uv_timer_t timers[TIMER_COUNT];
    int open_timers;
    int notified_up; /* the user was told CONNECTED about the current connection */
    int failures;    /* connect attempts failed in a row (quiets the trace) */
    int closing;
    const char *last_error;
    bk_redis_state_cb on_state;
    void *arg;
    void (*done)(void *arg);
    void *done_arg;
};

static const char err_connect[] = "connect failed";
static const char err_connect_timeout[] = "connect timed out";
static const char err_command_timeout[] = "command timed out";
static const char err_lost[] = "connection lost";
static const char err_closed[] = "client closed";
static const char err_auth[] = "AUTH refused";

static void start_connect(bk_redis_client_t *c);

static void timer_start(bk_redis_client_t *c, int which, uv_timer_cb cb, uint64_t ms)
{
    int rc = uv_timer_start(&c->timers[which], cb, ms, 0);
    if (rc != 0)
        bk_trace_error("redis", "timer start failed: %s", uv_strerror(rc));
}

static void timer_stop(bk_redis_client_t *c, int which)
{
    int rc = uv_timer_stop(&c->timers[which]);
    if (rc != 0)
        bk_trace_error("redis", "timer stop failed: %s", uv_strerror(rc));
}

/* Runs every pending callback once with `status`; the records stay with hiredis, which hands
 * them back (reply NULL) when the context is freed. */
static void fail_pending(bk_redis_client_t *c, int status)
{
    cmd_t *k;
    while ((k = c->head) != NULL) {
        c->head = k->next;
        if (c->head == NULL)
            c->tail = NULL;
        k->done = 1;
        k->cb(k->arg, status, NULL);
    }
}

static void on_retry(uv_timer_t *t)
{
    start_connect(t->data);
}

static void schedule_retry(bk_redis_client_t *c)
{
    if (c->closing)
        return;
    uint32_t delay = c->backoff_ms;
    c->backoff_ms = delay > c->backoff_max_ms / 2 ? c->backoff_max_ms : delay * 2;
    timer_start(c, TIMER_RETRY, on_retry, delay);
}

/* Detaches the context so no hiredis callback can reach us through it any more. */
static redisAsyncContext *detach(bk_redis_client_t *c)
{
    redisAsyncContext *ac = c->ac;
    c->ac = NULL;
    if (ac != NULL)
        ac->data = NULL;
    c->state = BK_REDIS_DISCONNECTED;
    timer_stop(c, TIMER_CONNECT);
    timer_stop(c, TIMER_COMMAND);
    return ac;
}

/* The connection is gone (or we are dropping it). free_ac: we must free the context ourselves
 * (timeouts); 0 when hiredis is already tearing it down. */
static void lose_connection(bk_redis_client_t *c, int status, const char *why, int free_ac)
{
    int was_up = c->notified_up;
    redisAsyncContext *ac = detach(c);
    c->notified_up = 0;
    c->last_error = why;
    if (was_up || c->failures++ == 0)
        bk_trace_warn("redis", "%s:%d: %s", c->host, c->port, why);
    fail_pending(c, status);
    if (free_ac && ac != NULL)
        redisAsyncFree(ac); /* deferred by hiredis if we are inside one of its reply callbacks */
    if (c->closing)
        return;
    if (was_up && c->on_state != NULL)
        c->on_state(c->arg, BK_REDIS_DISCONNECTED);
    schedule_retry(c);
}

static void on_connect_timeout(uv_timer_t *t)
{
    bk_redis_client_t *c = t->data;
    if (c->state == BK_REDIS_CONNECTING)
        lose_connection(c, BK_EREDIS, err_connect_timeout, 1);
}

static void arm_command_timer(bk_redis_client_t *c);

static void on_command_timeout(uv_timer_t *t)
{
    bk_redis_client_t *c = t->data;
    if (c->head == NULL)
        return;
    if (c->head->deadline > uv_now(c->loop)) {
        arm_command_timer(c);
        return;
    }
    lose_connection(c, UV_ETIMEDOUT, err_command_timeout, 1);
}

static void arm_command_timer(bk_redis_client_t *c)
{
    if (c->head == NULL) {
        timer_stop(c, TIMER_COMMAND);
        return;
    }
    uint64_t now = uv_now(c->loop);
    uint64_t wait = c->head->deadline > now ? c->head->deadline - now : 0;
    timer_start(c, TIMER_COMMAND, on_command_timeout, wait);
}

/* Deferred from on_connect so the user never runs inside hiredis' connect callback. */
static void on_notify(uv_timer_t *t)
{
    bk_redis_client_t *c = t->data;
    if (c->closing || c->state != BK_REDIS_CONNECTED || c->notified_up)
        return;
    c->notified_up = 1;
    bk_trace_info("redis", "connected to %s:%d", c->host, c->port);
    if (c->on_state != NULL)
        c->on_state(c->arg, BK_REDIS_CONNECTED);
}

/* ---- AUTH on every connect (REDIS_PASSWORD, --redis-user) ----------------------------
 * The connection counts as up only once Redis accepted AUTH; until then it stays CONNECTING
 * under the connect timeout. A refusal is traced and the connection dropped, so the normal
 * reconnect backoff retries it. */
static char *auth_user, *auth_password;

void bk_redis_client_set_auth(const char *user, const char *password)
{
    free(auth_user);
    free(auth_password);
    auth_user = user && *user ? strdup(user) : NULL;
    auth_password = password && *password ? strdup(password) : NULL;
}

static void connected(bk_redis_client_t *c);

static void on_auth(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)privdata;
    bk_redis_client_t *c = ac->data;
    const redisReply *reply = r;
    if (c == NULL || reply == NULL || c->state != BK_REDIS_CONNECTING || c->ac != ac)
        return; /* dropped meanwhile, or hiredis is tearing it down (on_disconnect follows) */
    if (reply->type == REDIS_REPLY_ERROR) {
        bk_trace_error("redis", "%s:%d refused AUTH%s%s: %s; retrying", c->host, c->port,
                       auth_user ? " as " : "", auth_user ? auth_user : "", reply->str);
        c->failures++;
        lose_connection(c, BK_EREDIS, err_auth, 1);
        return;
    }
    connected(c);
}

/* 0 when AUTH went out (the connection is up once it is accepted), else -1. */
static int send_auth(bk_redis_client_t *c)
{
    const char *argv[3] = {"AUTH", auth_user, auth_password};
    if (auth_user)
        return redisAsyncCommandArgv(c->ac, on_auth, NULL, 3, argv, NULL) == REDIS_OK ? 0 : -1;
    argv[1] = auth_password;
    return redisAsyncCommandArgv(c->ac, on_auth, NULL, 2, argv, NULL) == REDIS_OK ? 0 : -1;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    bk_redis_client_t *c = ac->data;
    if (c == NULL)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context right after we return: only forget it. */
        if (c->failures++ == 0)
            bk_trace_warn("redis", "connect %s:%d: %s", c->host, c->port,
                          ac->errstr ? ac->errstr : err_connect);
        detach(c);
        c->last_error = err_connect;
        schedule_retry(c);
        return;
    }
    if (auth_password != NULL && send_auth(c) == 0)
        return; /* still CONNECTING, under the connect timer, until AUTH is answered */
    connected(c);
}

static void connected(bk_redis_client_t *c)
{
    timer_stop(c, TIMER_CONNECT);
    c->state = BK_REDIS_CONNECTED;
    c->failures = 0;
    c->backoff_ms = c->backoff_min_ms;
    timer_start(c, TIMER_NOTIFY, on_notify, 0);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    bk_redis_client_t *c = ac->data;
    if (c == NULL)
        return; /* we dropped it ourselves, or a NULL reply already told us */
    lose_connection(c, BK_EREDIS, err_lost, 0);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    cmd_t *k = privdata;
    bk_redis_client_t *c = ac->data;
    if (!k->done && c != NULL) {
        if (r == NULL) {
            /* hiredis is tearing the connection down; this fails k and the rest. */
            lose_connection(c, BK_EREDIS, err_lost, 0);
        } else {
            c->head = k->next; /* replies come in order: k is the head */
            if (c->head == NULL)
                c->tail = NULL;
            k->done = 1;
            k->cb(k->arg, 0, r);
            if (!c->closing && c->ac == ac)
                arm_command_timer(c);
        }
    }
    free(k);
}

static void start_connect(bk_redis_client_t *c)
{
    if (c->closing)
        return;
    const char *host = strcmp(c->host, "localhost") == 0 ? "127.0.0.1" : c->host;
    redisAsyncContext *ac = redisAsyncConnect(host, c->port);
    if (ac == NULL || ac->err) {
        if (c->failures++ == 0)
            bk_trace_warn("redis", "connect %s:%d: %s", c->host, c->port,
                          ac && ac->errstr ? ac->errstr : err_connect);
        goto err_free;
    }
    int rc = bk_redis_uv_attach(ac, c->loop);
    if (rc != 0) {
        bk_trace_warn("redis", "attach to loop: %s", uv_strerror(rc));
        goto err_free;
    }
    ac->data = c;
    if (redisAsyncSetConnectCallback(ac, on_connect) != REDIS_OK ||
        redisAsyncSetDisconnectCallback(ac, on_disconnect) != REDIS_OK)
        goto err_free;
    c->ac = ac;
    c->state = BK_REDIS_CONNECTING;
    timer_start(c, TIMER_CONNECT, on_connect_timeout, c->connect_timeout_ms);
    return;

err_free:
    if (ac != NULL)
        redisAsyncFree(ac);
    c->last_error = err_connect;
    schedule_retry(c);
}

int bk_redis_client_start(uv_loop_t *loop, const bk_redis_config_t *cfg, bk_redis_state_cb on_state,
                          void *arg, bk_redis_client_t **out)
{
    if (cfg->host == NULL || cfg->port <= 0 || cfg->port > 65535)
        return BK_EINVAL;
    bk_redis_client_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return UV_ENOMEM;
    c->host = strdup(cfg->host);
    if (c->host == NULL) {
        free(c);
        return UV_ENOMEM;
    }
    c->loop = loop;
    c->port = cfg->port;
    c->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 1000;
    c->command_timeout_ms = cfg->command_timeout_ms ? cfg->command_timeout_ms : 1000;
    c->backoff_min_ms = cfg->backoff_min_ms ? cfg->backoff_min_ms : 100;
    c->backoff_max_ms = cfg->backoff_max_ms > c->backoff_min_ms ? cfg->backoff_max_ms : 2000;
    c->backoff_ms = c->backoff_min_ms;
    c->last_error = "";
    c->on_state = on_state;
    c->arg = arg;
    for (int i = 0; i < TIMER_COUNT; i++) {
        int rc = uv_timer_init(loop, &c->timers[i]); /* cannot fail on unix; checked anyway */
        if (rc != 0)
            bk_trace_error("redis", "timer init failed: %s", uv_strerror(rc));
        c->timers[i].data = c;
    }
    c->open_timers = TIMER_COUNT;
    *out = c;
    start_connect(c);
    return 0;
}

int bk_redis_client_command(bk_redis_client_t *c, int argc, const char **argv, const size_t *lens,
                            bk_redis_reply_cb cb, void *arg)
{
    if (c->closing)
        return BK_ECLOSED;
    if (c->state != BK_REDIS_CONNECTED)
        return BK_EREDIS;
    cmd_t *k = calloc(1, sizeof *k);
    if (k == NULL)
        return UV_ENOMEM;
    k->cb = cb;
    k->arg = arg;
    k->deadline = uv_now(c->loop) + c->command_timeout_ms;
    if (redisAsyncCommandArgv(c->ac, on_reply, k, argc, argv, lens) != REDIS_OK) {
        free(k); /* hiredis did not take it */
        return BK_EREDIS;
    }
    if (c->tail != NULL)
        c->tail->next = k;
    else
        c->head = k;
    c->tail = k;
    if (c->head == k)
        arm_command_timer(c);
    return 0;
}

bk_redis_state_t bk_redis_client_state(const bk_redis_client_t *c)
{
    return c->state;
}

const char *bk_redis_client_last_error(const bk_redis_client_t *c)
{
    return c->last_error;
}

static void on_timer_closed(uv_handle_t *h)
{
    bk_redis_client_t *c = h->data;
    if (--c->open_timers > 0)
        return;
    void (*done)(void *) = c->done;
    void *done_arg = c->done_arg;
    free(c->host);
    free(c);
    if (done != NULL)
        done(done_arg);
}

void bk_redis_client_close(bk_redis_client_t *c, void (*done)(void *arg), void *arg)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->done = done;
    c->done_arg = arg;
    c->last_error = err_closed;
    redisAsyncContext *ac = detach(c);
    c->notified_up = 0;
    fail_pending(c, BK_ECLOSED);
    if (ac != NULL)
        redisAsyncFree(ac); /* deferred by hiredis if we are inside one of its reply callbacks */
    for (int i = 0; i < TIMER_COUNT; i++)
        uv_close((uv_handle_t *)&c->timers[i], on_timer_closed);
}
