/* Undoing a request body's Content-Encoding off the loop thread. Inflating is CPU work in
 * proportion to the decoded size (up to the route's body limit, 64 MiB on batch routes), so
 * it runs on libuv's threadpool, at most BK_HTTP_DECODES_RUNNING at a time so it never
 * crowds out the log's fsync work there; later bodies wait in arrival order. */
#ifndef BROOK_HTTP_BODY_DECODE_H
#define BROOK_HTTP_BODY_DECODE_H

#include <uv.h>

#include "http/content_coding.h"
#include "http/exchange.h"

#define BK_HTTP_DECODES_RUNNING 2

/* Called on the loop thread exactly once. status 0: ex->body now holds the decoded bytes
 * (owned by ex, like any body). Otherwise ex is as it was and status is BK_ETOOBIG,
 * BK_ECORRUPT (failed names the coding), UV_ENOMEM, or UV_ECANCELED (the loop is stopping).
 * The connection may have gone meanwhile (ex->conn == NULL). */
typedef void (*bk_http_decode_cb)(bk_exchange_t *ex, void *arg, int status, bk_codec_t failed);

/* Queues the decoding of ex's body under codings c (copied), each stage capped at max_out
 * bytes. Returns 0 (cb will run) or UV_ENOMEM (cb will not run). */
int bk_http_decode_body(uv_loop_t *loop, bk_exchange_t *ex, const bk_http_codings_t *c,
                        size_t max_out, bk_http_decode_cb cb, void *arg);

#endif
