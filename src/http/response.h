/* Response writing: formats status line, the headers every Brook response carries (Date,
 * X-Broker-Id, X-Leader-Epoch, Content-Type, Content-Length, Connection) and the body into the
 * exchange's out buffer, then tells the connection the response is ready. Each exchange is
 * answered exactly once; a second answer is a programming error and is ignored. */
#ifndef BROOK_HTTP_RESPONSE_H
#define BROOK_HTTP_RESPONSE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http/exchange.h"
#include "http/json.h"

/* Process-wide response identity, set once at start-up (loop thread only). */
typedef struct {
    const char *broker_id;
    int64_t (*epoch)(void *arg); /* current leader epoch for X-Leader-Epoch */
    void *epoch_arg;
    /* Called once per answer, before it is queued for writing (metrics); may be NULL. */
    void (*observe)(void *arg, const bk_exchange_t *ex);
    /* The loop whose threadpool codes large answers (NULL: coded on the calling thread). */
    uv_loop_t *loop;
} bk_http_identity_t;
void bk_http_set_identity(const bk_http_identity_t *id);

/* The connection layer's "response ready" hook, installed by the server at start. */
void bk_http_set_ready_hook(void (*on_ready)(bk_exchange_t *ex));

/* Appends the status line and headers every answer carries (Date, X-Broker-Id,
 * X-Leader-Epoch, Content-Type (NULL: JSON), Content-Length), then extra_headers (complete
 * "Name: value\r\n" lines, or NULL), "Connection: close" when close, and the blank line. For
 * answers without an exchange too (a refused connection). Returns 0 or UV_ENOMEM. */
int bk_http_format_head(bk_buf_t *out, int status, const char *content_type, size_t body_len,
                        const char *extra_headers, int close);

/* Answers ex. extra_headers: complete "Name: value\r\n" lines, or NULL. */
void bk_exchange_respond(bk_exchange_t *ex, int status, const char *content_type,
                         const char *extra_headers, const void *body, size_t body_len);

/* Answers with the JSON document built in j (from bk_json_begin). */
void bk_exchange_respond_json(bk_exchange_t *ex, int status, bk_json_t *j,
                              const char *extra_headers);

/* Answers with {"error_code": code, "message": msg}; the HTTP status is code / 100 when code
 * has five digits (REST Proxy style, 40401 → 404), else code itself. */
void bk_exchange_error(bk_exchange_t *ex, int code, const char *msg);
void bk_exchange_error_hdr(bk_exchange_t *ex, int code, const char *msg, const char *extra);
void bk_exchange_errorf(bk_exchange_t *ex, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Streamed answers (chunked transfer encoding), for reads that follow the log. begin sends
 * the status and headers; write queues one chunk; end sends the last chunk. After begin the
 * connection calls ex->on_drain each time all queued chunks were written, and ex->on_gone
 * instead if it closes first: the streamer must then stop and bk_exchange_release(ex) (end
 * must not be called). write returns 0 or UV_ENOMEM. */
void bk_exchange_stream_begin(bk_exchange_t *ex, int status, const char *content_type);
int bk_exchange_stream_write(bk_exchange_t *ex, const void *data, size_t len);
void bk_exchange_stream_end(bk_exchange_t *ex);

/* Reason phrase for a status code. */
const char *bk_http_reason(int status);

#endif
