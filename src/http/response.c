/* Response formatting. The Date header is cached per second; everything else is written
 * straight into the exchange's reused out buffer, so answering allocates nothing once the
 * buffer has grown to its working size. */
#include "http/response.h"

#include <inttypes.h>
#include <llhttp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "brook/common.h"
#include "http/content_coding.h"
#include "http/response_coding.h"
#include "http/json.h"

static bk_http_identity_t identity;
static void (*ready_hook)(bk_exchange_t *ex);

void bk_http_set_identity(const bk_http_identity_t *id)
{
    identity = *id;
}

void bk_http_set_ready_hook(void (*on_ready)(bk_exchange_t *ex))
{
    ready_hook = on_ready;
}

const char *bk_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 307:
        return "Temporary Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

static const char *http_date(void)
{
    static char buf[40];
    static time_t cached;
    time_t now = time(NULL);
    if (now != cached) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        cached = now;
    }
    return buf;
}

int bk_http_format_head(bk_buf_t *out, int status, const char *content_type, size_t body_len,
                        const char *extra_headers, int close)
{
    /* Piece by piece rather than one snprintf: this runs for every answer. */
    int64_t epoch = identity.epoch ? identity.epoch(identity.epoch_arg) : 0;
    int rc = bk_buf_append_str(out, "HTTP/1.1 ");
    rc = rc ? rc : bk_buf_append_int(out, status);
    rc = rc ? rc : bk_buf_append_str(out, " ");
    rc = rc ? rc : bk_buf_append_str(out, bk_http_reason(status));
    rc = rc ? rc : bk_buf_append_str(out, "\r\nDate: ");
    rc = rc ? rc : bk_buf_append_str(out, http_date());
    rc = rc ? rc : bk_buf_append_str(out, "\r\nX-Broker-Id: ");
    rc = rc ? rc : bk_buf_append_str(out, identity.broker_id ? identity.broker_id : "");
    rc = rc ? rc : bk_buf_append_str(out, "\r\nX-Leader-Epoch: ");
    rc = rc ? rc : bk_buf_append_int(out, epoch);
    if (status != 204) { /* a 204 has no body: no Content-Length (RFC 9110 8.6), no type */
        rc = rc ? rc : bk_buf_append_str(out, "\r\nContent-Type: ");
        rc = rc ? rc : bk_buf_append_str(out, content_type ? content_type : "application/json");
        rc = rc ? rc : bk_buf_append_str(out, "\r\nContent-Length: ");
        rc = rc ? rc : bk_buf_append_int(out, (int64_t)body_len);
    }
    rc = rc ? rc : bk_buf_append_str(out, "\r\n");
    rc = rc ? rc : bk_buf_append_str(out, extra_headers ? extra_headers : "");
    static const char *const conn_line[] = {"\r\n", "Connection: close\r\n\r\n",
                                            "Connection: keep-alive\r\n\r\n"};
    return rc ? rc : bk_buf_append_str(out, conn_line[close >= 0 && close <= 2 ? close : 1]);
}

/* bk_exchange_respond, inlined into bk_exchange_respond_json: the produce ack's path. */
__attribute__((always_inline)) static inline void respond(bk_exchange_t *ex, int status,
                                                          const char *content_type,
                                                          const char *extra_headers,
                                                          const void *body, size_t body_len)
{
    if (ex->state == BK_EX_RESPONDED || ex->coding) {
        bk_trace_error("http", "exchange answered twice (status %d)", status);
        return;
    }
    /* Errors found while parsing (408, 413 before the body, 414, 431, 400) come through
     * requests marked !keep_alive; a handler's 413 (a record too large) was found after the
     * whole body was read, so the connection stays usable. */
    if (!ex->keep_alive)
        ex->close_after = 1;
    bk_buf_t *out = &ex->out;
    out->len = 0;
    int rc = bk_buf_reserve(out, 256 + body_len);
    rc = rc ? rc
            : bk_http_format_head(out, status, content_type, body_len, extra_headers,
                                  ex->close_after       ? 1
                                  : ex->http_minor == 0 ? 2
                                                        : 0);
    if (!rc && ex->method != HTTP_HEAD) /* HEAD: same headers, no body */
        rc = bk_buf_append(out, body, body_len);
    if (rc) { /* out of memory: drop the connection rather than send half a response */
        out->len = 0;
        ex->close_after = 1;
    }
    ex->status = status;
    ex->state = BK_EX_RESPONDED;
    if (identity.observe)
        identity.observe(identity.epoch_arg, ex);
    if (ready_hook)
        ready_hook(ex);
}

void bk_exchange_respond(bk_exchange_t *ex, int status, const char *content_type,
                         const char *extra_headers, const void *body, size_t body_len)
{
    respond(ex, status, content_type, extra_headers, body, body_len);
}

void bk_exchange_stream_begin(bk_exchange_t *ex, int status, const char *content_type)
{
    int64_t epoch = identity.epoch ? identity.epoch(identity.epoch_arg) : 0;
    /* HTTP/1.0 knows no chunked coding (RFC 9112 §6.1): the body ends where the connection
     * does, so the stream is sent raw and closes at its end. */
    ex->stream_raw = ex->http_minor == 0;
    ex->out.len = 0;
    if (bk_buf_appendf(&ex->out,
                       "HTTP/1.1 %d %s\r\nDate: %s\r\nX-Broker-Id: %s\r\nX-Leader-Epoch: %" PRId64
                       "\r\nContent-Type: %s\r\n%s"
                       "Cache-Control: no-store\r\n\r\n",
                       status, bk_http_reason(status), http_date(),
                       identity.broker_id ? identity.broker_id : "", epoch, content_type,
                       ex->stream_raw ? "Connection: close\r\n"
                                      : "Transfer-Encoding: chunked\r\n")) {
        ex->out.len = 0;
        ex->close_after = 1;
    }
    ex->status = status;
    ex->streaming = 1;
    if (!ex->keep_alive || ex->stream_raw)
        ex->close_after = 1; /* the stream's end closes the connection */
    ex->state = BK_EX_RESPONDED;
    if (identity.observe)
        identity.observe(identity.epoch_arg, ex);
    if (ready_hook)
        ready_hook(ex);
}

int bk_exchange_stream_write(bk_exchange_t *ex, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    int rc = ex->stream_raw ? 0 : bk_buf_appendf(&ex->out, "%zx\r\n", len);
    if (!rc)
        rc = bk_buf_append(&ex->out, data, len);
    if (!rc && !ex->stream_raw)
        rc = bk_buf_append(&ex->out, "\r\n", 2);
    if (rc)
        return rc;
    if (ready_hook)
        ready_hook(ex);
    return 0;
}

void bk_exchange_stream_end(bk_exchange_t *ex)
{
    if (!ex->stream_raw && bk_buf_append(&ex->out, "0\r\n\r\n", 5))
        ex->close_after = 1;
    ex->stream_ended = 1;
    if (ready_hook)
        ready_hook(ex);
}

/* Out of line and cold, so the common small answer keeps bk_exchange_respond inlined. */
__attribute__((noinline, cold)) static void respond_json_coded(bk_exchange_t *ex, int status,
                                                               const char *type, const char *extra,
                                                               const char *text, size_t len)
{
    bk_http_respond_coded(ex, identity.loop, status, type, extra, text, len);
}

void bk_exchange_respond_json(bk_exchange_t *ex, int status, bk_json_t *j,
                              const char *extra_headers)
{
    size_t len;
    const char *text = bk_json_text(j, &len);
    const char *type = ex->json_type ? ex->json_type : "application/json";
    /* one comparison is all a small answer (the produce ack) pays */
    if (len >= BK_HTTP_COMPRESS_MIN && status != 204 && status != 304)
        respond_json_coded(ex, status, type, extra_headers, text, len);
    else
        respond(ex, status, type, extra_headers, text, len);
    bk_json_trim(); /* copied into ex->out: a huge document need not stay */
}

void bk_exchange_error(bk_exchange_t *ex, int code, const char *msg)
{
    bk_exchange_error_hdr(ex, code, msg, NULL);
}

void bk_exchange_error_hdr(bk_exchange_t *ex, int code, const char *msg, const char *extra)
{
    int status = code >= 10000 ? code / 100 : code;
    bk_json_t *j = bk_json_begin();
    bk_json_obj(j);
    bk_json_key(j, "error_code");
    bk_json_int(j, code);
    bk_json_key(j, "message");
    bk_json_str(j, msg);
    bk_json_obj_end(j);
    size_t len;
    const char *text = bk_json_text(j, &len);
    bk_exchange_respond(ex, status, "application/json", extra, text, len);
}

void bk_exchange_errorf(bk_exchange_t *ex, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    bk_exchange_error(ex, code, msg);
}
