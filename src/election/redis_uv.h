/* Binds one hiredis async context to a libuv loop through a uv_poll_t on the context's socket.
 * Unlike hiredis' own adapters/libuv.h, a poll error (refused connect, reset) still drives
 * hiredis' read/write handlers, so hiredis notices the error and runs its callbacks. It never
 * frees the context: hiredis owns it and calls our cleanup hook when it goes away. */
#ifndef BROOK_ELECTION_REDIS_UV_H
#define BROOK_ELECTION_REDIS_UV_H

#include <hiredis/async.h>
#include <uv.h>

/* Installs the event hooks on ac. Call once, right after redisAsyncConnect() and before
 * setting the connect callback. Returns 0, or a negative error (ac is untouched then and the
 * caller frees it with redisAsyncFree). The poll handle is closed when hiredis calls the
 * cleanup hook and its memory is freed in the close callback. */
int bk_redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif
