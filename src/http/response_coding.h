/* Coded JSON answers: the part of the response writer that honours Accept-Encoding. Small
 * coded answers are compressed at once; large ones on the threadpool, so a 16 MiB page does
 * not hold the loop for the tens of milliseconds gzip takes over it. */
#ifndef BROOK_HTTP_RESPONSE_CODING_H
#define BROOK_HTTP_RESPONSE_CODING_H

#include <stddef.h>
#include <uv.h>

#include "http/exchange.h"

/* Coded answers at least this large are compressed on the threadpool (when a loop is
 * given): about 0.3 ms of gzip level 1 on the loop thread, and 0.1 ms of zstd level 1. */
#define BK_HTTP_COMPRESS_INLINE_MAX (64 * 1024)

/* Answers ex like bk_exchange_respond, with the coding the request's Accept-Encoding prefers
 * and "Vary: Accept-Encoding" (for JSON answers of at least BK_HTTP_COMPRESS_MIN bytes).
 * text and extra are copied before this returns. While a large answer is compressed, ex
 * stays dispatched with ex->coding set, and its on_gone and on_hangup are cleared: the
 * handler is done with it, the job answers it (into the void if its connection went). */
void bk_http_respond_coded(bk_exchange_t *ex, uv_loop_t *loop, int status, const char *type,
                           const char *extra, const char *text, size_t len);

#endif
