/* A small asynchronous HTTP/1.1 client on the loop (llhttp parses responses). Used to forward
 * writes to the leader (--follower-writes=proxy) and, later, by followers to fetch from the
 * leader. Keeps a few keep-alive connections per target and reuses them.
 *
 * Ownership: the client owns its connections; a request's callback runs exactly once, from
 * the loop, never from inside bk_http_client_request(). The response passed to it is valid
 * only during the callback. */
#ifndef BROOK_HTTP_CLIENT_H
#define BROOK_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "brook/tls.h"

typedef struct bk_http_client bk_http_client_t;
typedef struct bk_http_client_req bk_http_client_req_t;

typedef struct {
    int status;               /* HTTP status code */
    const char *content_type; /* NUL-terminated, "" if absent */
    const char *location;     /* NUL-terminated, "" if absent */
    const char *leader_epoch; /* X-Leader-Epoch, "" if absent */
    const uint8_t *body;
    size_t body_len;
} bk_http_response_t;

/* status 0 with resp, or a negative error (UV_ETIMEDOUT, UV_ECONNREFUSED, UV_ECANCELED,
 * BK_EINVAL for an unparsable response...) with resp == NULL. */
typedef void (*bk_http_client_cb)(void *arg, int status, const bk_http_response_t *resp);

int bk_http_client_new(uv_loop_t *loop, bk_http_client_t **out);

/* Sends one request to base_url ("http://host:port" or "https://host:port", IPv4 literal or
 * "localhost"; https needs bk_http_client_set_tls, else BK_EINVAL), with
 * path_and_query ("/produce?x=1"), extra_headers (complete "Name: value\r\n" lines or NULL)
 * and body (may be NULL with body_len 0). timeout_ms bounds the whole exchange. *out (may be
 * NULL) receives a handle usable with bk_http_client_cancel() until the callback runs.
 * Returns 0 (the callback will run exactly once), or BK_EINVAL / BK_ECLOSED / BK_ETOOBIG /
 * UV_ENOMEM for unusable arguments, and then the callback never runs. timeout_ms 0 = none.
 * Only GET and HEAD are retried (once, on a fresh connection) when a reused connection turns
 * out closed by the server; any other method gets that error instead of being resent. */
int bk_http_client_request(bk_http_client_t *c, const char *base_url, const char *method,
                           const char *path_and_query, const char *extra_headers, const void *body,
                           size_t body_len, uint32_t timeout_ms, bk_http_client_cb cb, void *arg,
                           bk_http_client_req_t **out);

/* Response bodies are capped at 64 MiB by default (larger: the callback gets BK_ETOOBIG and
 * the connection is dropped). A caller expecting larger answers (a replication fetch, whose
 * answer may carry a batch of the largest legal size on top of its byte budget) raises the cap
 * of its request right after bk_http_client_request returned it in *out, before the loop runs
 * again. max_body 0 refuses every non-empty body. */
void bk_http_client_set_max_response(bk_http_client_req_t *req, uint64_t max_body);
/* Header lines (complete "Name: value\r\n" lines; NULL or "" for none) sent first with every
 * later request of c: a follower's credentials for its leader (a client of its own, so
 * forwarded writes never carry them). Copied. Returns 0, BK_EINVAL or UV_ENOMEM. */
int bk_http_client_set_auth(bk_http_client_t *c, const char *header_lines);

/* The TLS client context for https targets: the server must present a certificate for the
 * URL's host that the context's CA verifies (else the request fails with UV_EPROTO and the
 * reason is traced). Not copied: ctx must outlive c. Connections made before keep theirs. */
void bk_http_client_set_tls(bk_http_client_t *c, bk_tls_ctx_t *ctx);

/* The request's callback runs (later, from the loop) with UV_ECANCELED. */
void bk_http_client_cancel(bk_http_client_req_t *req);

/* Cancels every pending request, closes every connection, frees; done(arg) runs from the loop
 * once all handles are closed. Call once; until done(arg) runs, requests get BK_ECLOSED. */
void bk_http_client_close(bk_http_client_t *c, void (*done)(void *arg), void *arg);

#endif
