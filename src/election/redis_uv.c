/* hiredis <-> libuv glue: hiredis tells us which readiness it wants (addRead/addWrite...), we
 * keep a uv_poll_t watching exactly that, and call redisAsyncHandleRead/Write when the socket
 * is ready. A poll error status is not swallowed: libuv has stopped the watcher, so we call both
 * handlers and let hiredis read the socket error, then re-arm if the context survived.
 * Must never touch the context after hiredis' cleanup hook ran (it is freed right after). */
#include "election/redis_uv.h"

#include "brook/common.h"

#include <stdlib.h>

typedef struct {
    uv_poll_t poll;
    redisAsyncContext *ac; /* NULL once hiredis called cleanup */
    int events;            /* UV_READABLE | UV_WRITABLE wanted by hiredis */
} redis_uv_t;

static void on_poll(uv_poll_t *handle, int status, int events);

static void rearm(redis_uv_t *p)
{
    int rc;
    if (p->ac == NULL)
        return;
    if (p->events != 0)
        rc = uv_poll_start(&p->poll, p->events, on_poll);
    else
        rc = uv_poll_stop(&p->poll);
    if (rc != 0)
        bk_trace_warn("redis", "poll update failed: %s", uv_strerror(rc));
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    redis_uv_t *p = handle->data;
    if (status < 0) {
        /* libuv stopped the watcher; let hiredis find the socket error itself. */
        bk_trace_debug("redis", "poll error: %s", uv_strerror(status));
        events = UV_READABLE | UV_WRITABLE;
    }
    if (p->ac != NULL && (events & UV_READABLE))
        redisAsyncHandleRead(p->ac);
    if (p->ac != NULL && (events & UV_WRITABLE))
        redisAsyncHandleWrite(p->ac);
    if (status < 0)
        rearm(p);
}

static void add_read(void *privdata)
{
    redis_uv_t *p = privdata;
    p->events |= UV_READABLE;
    rearm(p);
}

static void del_read(void *privdata)
{
    redis_uv_t *p = privdata;
    p->events &= ~UV_READABLE;
    rearm(p);
}

static void add_write(void *privdata)
{
    redis_uv_t *p = privdata;
    p->events |= UV_WRITABLE;
    rearm(p);
}

static void del_write(void *privdata)
{
    redis_uv_t *p = privdata;
    p->events &= ~UV_WRITABLE;
    rearm(p);
}

static void on_poll_closed(uv_handle_t *handle)
{
    free(handle->data);
}

/* hiredis may call cleanup more than once (1.x calls it on disconnect and again on free). */
static void cleanup(void *privdata)
{
    redis_uv_t *p = privdata;
    if (p->ac == NULL)
        return;
    p->ac = NULL;
    p->events = 0;
    uv_close((uv_handle_t *)&p->poll, on_poll_closed);
}

int bk_redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    if (ac->ev.data != NULL)
        return UV_EEXIST;
    redis_uv_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return UV_ENOMEM;
    int rc = uv_poll_init(loop, &p->poll, ac->c.fd);
    if (rc != 0) {
        free(p); /* never registered with the loop */
        return rc;
    }
    p->poll.data = p;
    p->ac = ac;
    ac->ev.data = p;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    return 0;
}
