/* llhttp glue: request line and headers are copied into the exchange's head buffer (the read
 * buffer is reused as soon as a callback returns), the body into its body buffer. Limits are
 * checked as bytes arrive, so an oversized request is refused before it is buffered. No
 * lenient llhttp flags are ever set: ambiguous framing is a 400, never a guess. */
#include "http/parser.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PARSER(ll) ((bk_http_parser_t *)(ll)->data)

void bk_http_limits_defaults(bk_http_limits_t *l)
{
    l->max_url = 8192;
    l->max_header_line = 8192;
    l->max_header_bytes = 16384;
    l->max_headers = 64;
    l->max_body = 1024 * 1024;
}

static int fail(bk_http_parser_t *p, int status, const char *msg)
{
    p->err_status = status;
    p->err_msg = msg;
    llhttp_set_error_reason(&p->ll, msg);
    return HPE_USER;
}

static int on_message_begin(llhttp_t *ll)
{
    bk_http_parser_t *p = PARSER(ll);
    if (!p->cur) {
        p->cur = bk_exchange_new();
        if (!p->cur)
            return fail(p, 503, "out of memory");
    }
    p->header_bytes = 0;
    p->line_bytes = 0;
    p->in_value = 0;
    p->in_field = 0;
    p->in_trailer = 0;
    p->trailers = 0;
    p->cur->body_limit = p->limits->max_body;
    return 0;
}

/* Limits are judged when an element is complete (so the verdict never depends on how the
 * bytes were split across reads); while it arrives, only a hard stop at twice the limit
 * bounds the memory an endless element could take. */
static int on_url(llhttp_t *ll, const char *at, size_t len)
{
    bk_http_parser_t *p = PARSER(ll);
    if (p->cur->head.len + len > 2 * (size_t)p->limits->max_url)
        return fail(p, 414, "request URL too long");
    if (bk_buf_append(&p->cur->head, at, len))
        return fail(p, 503, "out of memory");
    return 0;
}

static int on_url_complete(llhttp_t *ll)
{
    bk_http_parser_t *p = PARSER(ll);
    bk_exchange_t *ex = p->cur;
    if (ex->head.len > p->limits->max_url)
        return fail(p, 414, "request URL too long");
    ex->path_len = ex->head.len; /* offsets until headers are complete */
    return 0;
}

static int add_header(bk_http_parser_t *p)
{
    bk_exchange_t *ex = p->cur;
    /* the count is judged at on_header_field_complete; this only bounds the array */
    if (ex->header_count > p->limits->max_headers || ex->header_count >= BK_HTTP_MAX_HEADERS_HARD)
        return fail(p, 431, "too many request headers");
    if (ex->header_count == ex->hdr_cap) {
        uint32_t cap = ex->hdr_cap ? ex->hdr_cap * 2 : 16;
        bk_http_header_t *h = realloc(ex->headers, cap * sizeof *h);
        if (!h)
            return fail(p, 503, "out of memory");
        ex->headers = h;
        size_t *o = realloc(ex->hdr_offsets, cap * 2 * sizeof *o);
        if (!o)
            return fail(p, 503, "out of memory");
        ex->hdr_offsets = o;
        ex->hdr_cap = cap;
    }
    uint32_t i = ex->header_count++;
    ex->hdr_offsets[2 * i] = ex->head.len;
    ex->hdr_offsets[2 * i + 1] = 0;
    ex->headers[i].name_len = 0;
    ex->headers[i].value_len = 0;
    p->line_bytes = 0;
    return 0;
}

static int header_bytes(bk_http_parser_t *p, const char *at, size_t len)
{
    p->header_bytes += len;
    p->line_bytes += len;
    if (p->line_bytes > 2 * (size_t)p->limits->max_header_line ||
        p->header_bytes > 2 * (size_t)p->limits->max_header_bytes)
        return fail(p, 431, "request headers too large");
    if (bk_buf_append(&p->cur->head, at, len))
        return fail(p, 503, "out of memory");
    return 0;
}

/* The verdict on a complete header line (see the note on limits above on_url). */
static int check_header_limits(bk_http_parser_t *p)
{
    if (p->cur->header_count > p->limits->max_headers)
        return fail(p, 431, "too many request headers");
    if (p->line_bytes > p->limits->max_header_line)
        return fail(p, 431, "request header line too large");
    if (p->header_bytes > p->limits->max_header_bytes)
        return fail(p, 431, "request headers too large");
    return 0;
}

/* Trailer fields (after a chunked body) are counted against the header limits and dropped:
 * the head was resolved into pointers at on_headers_complete, so nothing may be appended to
 * it, and no route reads trailers. A trailer line is judged like a header line: when it is
 * complete (the verdict must not depend on how the bytes were split), with only a hard stop
 * at twice the limits while it arrives. */
static int trailer_bytes(bk_http_parser_t *p, size_t len)
{
    p->header_bytes += len;
    p->line_bytes += len;
    if (p->line_bytes > 2 * (size_t)p->limits->max_header_line ||
        p->header_bytes > 2 * (size_t)p->limits->max_header_bytes)
        return fail(p, 431, "request headers and trailers too large");
    return 0;
}

static int trailer_field(bk_http_parser_t *p, size_t len)
{
    if (!p->in_field) {
        p->in_field = 1;
        p->in_value = 0;
        p->line_bytes = 0;
        p->trailers++;
    }
    return trailer_bytes(p, len);
}

static int check_trailer_limits(bk_http_parser_t *p)
{
    if (p->cur->header_count + p->trailers > p->limits->max_headers)
        return fail(p, 431, "too many request headers and trailers");
    if (p->line_bytes > p->limits->max_header_line)
        return fail(p, 431, "request trailer line too large");
    if (p->header_bytes > p->limits->max_header_bytes)
        return fail(p, 431, "request headers and trailers too large");
    return 0;
}

/* Header boundaries come from the *_complete callbacks, never from how the data callbacks
 * happen to be split: a field or value may arrive in any number of pieces (or none, when
 * empty), and the outcome must not depend on where the reads fell. */
static int on_header_field(llhttp_t *ll, const char *at, size_t len)
{
    bk_http_parser_t *p = PARSER(ll);
    if (p->in_trailer)
        return trailer_field(p, len);
    if (!p->in_field) {
        int rc = add_header(p);
        if (rc)
            return rc;
        p->in_field = 1;
    }
    bk_exchange_t *ex = p->cur;
    ex->headers[ex->header_count - 1].name_len += len;
    return header_bytes(p, at, len);
}

static int on_header_field_complete(llhttp_t *ll)
{
    bk_http_parser_t *p = PARSER(ll);
    if (p->in_trailer) {
        if (!p->in_field)
            return fail(p, 400, "malformed request: empty trailer name");
        p->in_field = 0;
        return check_trailer_limits(p);
    }
    if (!p->in_field || p->cur->headers[p->cur->header_count - 1].name_len == 0)
        return fail(p, 400, "malformed request: empty header name");
    p->in_field = 0;
    p->in_value = 0;
    return check_header_limits(p);
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len)
{
    bk_http_parser_t *p = PARSER(ll);
    if (p->in_trailer)
        return trailer_bytes(p, len);
    bk_exchange_t *ex = p->cur;
    uint32_t i = ex->header_count - 1;
    if (!p->in_value) {
        p->in_value = 1;
        ex->hdr_offsets[2 * i + 1] = ex->head.len;
    }
    ex->headers[i].value_len += len;
    return header_bytes(p, at, len);
}

static int on_header_value_complete(llhttp_t *ll)
{
    bk_http_parser_t *p = PARSER(ll);
    if (p->in_trailer) {
        p->in_field = 0; /* an empty trailer name is caught by on_header_field_complete */
        return check_trailer_limits(p);
    }
    bk_exchange_t *ex = p->cur;
    uint32_t i = ex->header_count - 1;
    if (!p->in_value) /* empty value: no on_header_value call */
        ex->hdr_offsets[2 * i + 1] = ex->head.len;
    p->in_value = 0;
    return check_header_limits(p);
}

/* Head bytes are final: turn offsets into pointers and split path from query. */
static void resolve_head(bk_exchange_t *ex)
{
    char *base = ex->head.data;
    size_t url_len = ex->path_len;
    for (uint32_t i = 0; i < ex->header_count; i++) {
        ex->headers[i].name = base + ex->hdr_offsets[2 * i];
        ex->headers[i].value = base + ex->hdr_offsets[2 * i + 1];
    }
    /* absolute-form (RFC 9112 §3.2.2: a server must accept it): the path starts after the
     * authority; the authority itself is not checked against Host (we serve every name) */
    size_t skip = 0;
    if (url_len > 7 && (strncasecmp(base, "http://", 7) == 0 ||
                        (url_len > 8 && strncasecmp(base, "https://", 8) == 0))) {
        size_t from = base[4] == ':' ? 7 : 8;
        char *slash = memchr(base + from, '/', url_len - from);
        skip = slash ? (size_t)(slash - base) : url_len;
    }
    base += skip;
    url_len -= skip;
    ex->path = url_len ? base : "/";
    char *q = url_len ? memchr(base, '?', url_len) : NULL;
    if (q) {
        ex->path_len = (size_t)(q - base);
        ex->query = q + 1;
        ex->query_len = url_len - ex->path_len - 1;
    } else {
        ex->path_len = url_len ? url_len : 1;
        ex->query = NULL;
        ex->query_len = 0;
    }
}

static int count_headers(const bk_exchange_t *ex, const char *name)
{
    size_t n = strlen(name);
    int k = 0;
    for (uint32_t i = 0; i < ex->header_count; i++)
        k += ex->headers[i].name_len == n && strncasecmp(ex->headers[i].name, name, n) == 0;
    return k;
}

static int on_headers_complete(llhttp_t *ll)
{
    bk_http_parser_t *p = PARSER(ll);
    bk_exchange_t *ex = p->cur;
    resolve_head(ex);
    p->in_trailer = 1; /* any header callback from here on is a trailer */
    ex->method = llhttp_get_method(ll);
    ex->http_minor = llhttp_get_http_minor(ll);
    size_t vlen;
    if (llhttp_get_http_major(ll) != 1) {
        fail(p, 505, "HTTP version not supported: this server speaks HTTP/1.0 and HTTP/1.1");
        return -1;
    }
    int hosts = count_headers(ex, "host");
    if (ex->http_minor >= 1 && hosts == 0) {
        fail(p, 400, "malformed request: HTTP/1.1 requires a Host header");
        return -1;
    }
    if (hosts > 1) { /* RFC 9112 §3.2: more than one Host is a 400 */
        fail(p, 400, "malformed request: more than one Host header");
        return -1;
    }
    const char *expect = bk_exchange_header(ex, "expect", &vlen);
    if (expect) {
        if (vlen != 12 || strncasecmp(expect, "100-continue", 12) != 0) {
            fail(p, 417, "unsupported Expect header");
            return -1;
        }
        ex->expect_continue = 1;
    }
    const char *msg = NULL;
    int status = p->hooks->on_headers ? p->hooks->on_headers(p->hooks->arg, ex, &msg) : 0;
    if (status) {
        fail(p, status, msg ? msg : "request refused");
        return -1;
    }
    if ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > ex->body_limit) {
        fail(p, 413, "request body too large");
        return -1;
    }
    if ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > 0 &&
        bk_buf_reserve(&ex->body_buf, (size_t)ll->content_length)) {
        fail(p, 503, "out of memory");
        return -1;
    }
    return 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t len)
{
    bk_http_parser_t *p = PARSER(ll);
    bk_exchange_t *ex = p->cur;
    if (ex->body_buf.len + len > ex->body_limit)
        return fail(p, 413, "request body too large");
    if (bk_buf_append(&ex->body_buf, at, len))
        return fail(p, 503, "out of memory");
    return 0;
}

static int on_message_complete(llhttp_t *ll)
{
    bk_http_parser_t *p = PARSER(ll);
    bk_exchange_t *ex = p->cur;
    p->cur = NULL;
    ex->body = (const uint8_t *)ex->body_buf.data;
    ex->body_len = ex->body_buf.len;
    ex->keep_alive = llhttp_should_keep_alive(ll);
    ex->state = BK_EX_DISPATCHED;
    return p->hooks->on_request(p->hooks->arg, ex) ? HPE_PAUSED : 0;
}

const llhttp_settings_t bk_http_parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void bk_http_parser_init(bk_http_parser_t *p, const bk_http_limits_t *limits,
                         const bk_http_parser_hooks_t *hooks)
{
    memset(p, 0, sizeof *p);
    llhttp_init(&p->ll, HTTP_REQUEST, &bk_http_parser_settings);
    p->ll.data = p;
    p->limits = limits;
    p->hooks = hooks;
}

static int llhttp_status(bk_http_parser_t *p, llhttp_errno_t err)
{
    if (p->err_status)
        return p->err_status;
    p->err_status = 400;
    switch (err) {
    case HPE_INVALID_METHOD:
        p->err_msg = "malformed request: invalid method";
        break;
    case HPE_INVALID_URL:
        p->err_msg = "malformed request: invalid URL";
        break;
    case HPE_INVALID_VERSION:
        p->err_msg = "malformed request: unsupported HTTP version";
        p->err_status = 505;
        break;
    case HPE_INVALID_CONTENT_LENGTH:
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        p->err_msg = "malformed request: invalid or conflicting Content-Length";
        break;
    case HPE_INVALID_TRANSFER_ENCODING:
        p->err_msg = "malformed request: invalid Transfer-Encoding";
        break;
    case HPE_INVALID_CHUNK_SIZE:
        p->err_msg = "malformed request: invalid chunk size";
        break;
    case HPE_INVALID_HEADER_TOKEN:
        p->err_msg = "malformed request: invalid header";
        break;
    default:
        p->err_msg = "malformed request";
        break;
    }
    return p->err_status;
}

int bk_http_parser_feed(bk_http_parser_t *p, const char *data, size_t len, size_t *consumed)
{
    *consumed = len;
    if (p->err_status)
        return p->err_status;
    const char *pos = data, *end = data + len;
    for (;;) {
        llhttp_errno_t err = llhttp_execute(&p->ll, pos, (size_t)(end - pos));
        if (err == HPE_OK)
            return 0;
        if (err == HPE_PAUSED) {
            *consumed = (size_t)(llhttp_get_error_pos(&p->ll) - data);
            return 0;
        }
        if (err != HPE_PAUSED_UPGRADE)
            return llhttp_status(p, err);
        /* Upgrade or CONNECT: the request was delivered and is answered like any other; we
         * never switch protocols, so parsing simply goes on with the next request. */
        pos = llhttp_get_error_pos(&p->ll);
        llhttp_resume_after_upgrade(&p->ll);
        if (pos >= end)
            return 0;
    }
}

int bk_http_parser_paused(const bk_http_parser_t *p)
{
    return llhttp_get_errno(&p->ll) == HPE_PAUSED;
}

void bk_http_parser_resume(bk_http_parser_t *p)
{
    llhttp_resume(&p->ll);
}

int bk_http_parser_finish(bk_http_parser_t *p)
{
    if (p->err_status)
        return p->err_status;
    if (!bk_http_parser_mid_request(p))
        return 0;
    p->err_status = 400;
    p->err_msg = "malformed request: connection closed mid-request";
    return 400;
}

int bk_http_parser_mid_request(const bk_http_parser_t *p)
{
    return p->cur != NULL;
}

void bk_http_parser_free(bk_http_parser_t *p)
{
    if (p->cur) {
        bk_exchange_release(p->cur);
        p->cur = NULL;
    }
}
