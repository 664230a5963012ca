/* A Redis connection on the loop for the election: connect and per-command timeouts, reconnect
 * with exponential backoff, and a callback that runs exactly once for every accepted command.
 * It never blocks and never retries a command by itself; what to resend is the caller's call.
 *
 * Ownership: bk_redis_client_start() allocates; bk_redis_client_close() fails what is pending,
 * drops the connection and frees once its timers are closed, then calls done(arg) from the loop.
 * Closing is allowed from inside any callback this client makes. */
#ifndef BROOK_ELECTION_REDIS_CLIENT_H
#define BROOK_ELECTION_REDIS_CLIENT_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef enum {
    BK_REDIS_DISCONNECTED = 0,
    BK_REDIS_CONNECTING = 1,
    BK_REDIS_CONNECTED = 2,
} bk_redis_state_t;

typedef struct {
    const char *host; /* "localhost" is dialled as 127.0.0.1 */
    int port;
    uint32_t connect_timeout_ms;
    uint32_t command_timeout_ms;
    uint32_t backoff_min_ms; /* first reconnect delay, doubled after each failure ... */
    uint32_t backoff_max_ms; /* ... up to this */
} bk_redis_config_t;

typedef struct bk_redis_client bk_redis_client_t;

/* status 0: reply is Redis' answer (possibly a REDIS_REPLY_ERROR); it is freed after return.
 * status < 0: reply is NULL; UV_ETIMEDOUT (command timed out, connection dropped), BK_EREDIS
 * (connection lost) or BK_ECLOSED (client closing). */
typedef void (*bk_redis_reply_cb)(void *arg, int status, const redisReply *reply);

/* Called with BK_REDIS_CONNECTED when a connection is ready for commands, and with
 * BK_REDIS_DISCONNECTED when that connection is lost, always after every command sent on it
 * has had its callback. Failed connect attempts are not reported (the client keeps retrying). */
typedef void (*bk_redis_state_cb)(void *arg, bk_redis_state_t state);

/* Credentials sent with AUTH on every connect and reconnect of every client started later
 * (password only: requirepass; with user: a Redis 6 ACL user). NULL/"" password: no AUTH.
 * Process-wide, set once at start-up before any client starts. */
void bk_redis_client_set_auth(const char *user, const char *password);

/* Starts connecting at once. Returns 0 or a negative error. */
int bk_redis_client_start(uv_loop_t *loop, const bk_redis_config_t *cfg, bk_redis_state_cb on_state,
                          void *arg, bk_redis_client_t **out);

/* Sends one command (argv as binary-safe strings). Returns 0 and cb runs exactly once later, or
 * a negative error (BK_EREDIS when not connected) and cb never runs. */
int bk_redis_client_command(bk_redis_client_t *c, int argc, const char **argv, const size_t *lens,
                            bk_redis_reply_cb cb, void *arg);

bk_redis_state_t bk_redis_client_state(const bk_redis_client_t *c);

/* Why the last connection or attempt ended (static text), or "" if none did. */
const char *bk_redis_client_last_error(const bk_redis_client_t *c);

/* Pending commands get BK_ECLOSED, the connection is dropped, done(arg) runs from the loop once
 * every handle is closed. Idempotent: a second call does nothing. done may be NULL. */
void bk_redis_client_close(bk_redis_client_t *c, void (*done)(void *arg), void *arg);

#endif
