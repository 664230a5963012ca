/* From a parsed request to its handler: route match, method check, authentication and the
 * route's one permission check when auth is on (authz.c), leader check for write routes
 * (redirect, proxy or 503 on a follower), then the resource's handler. */
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/broker.h"
#include "api/consumers.h"
#include "brook/common.h"
#include "brook/replication.h"
#include "http/accept.h"
#include "http/body_decode.h"
#include "http/response.h"

int bk_broker_on_headers(void *arg, bk_exchange_t *ex, const char **msg)
{
    bk_broker_t *b = arg;
    (void)msg;
    bk_route_t r;
    if (bk_route_match(ex->method, ex->path, ex->path_len, &r) != 0 || ex->method != HTTP_POST)
        return 0;
    if (r.id == BK_ROUTE_TOPIC || r.id == BK_ROUTE_PARTITION)
        ex->body_limit = b->cfg.max_batch_body;
    else if (r.id == BK_ROUTE_REPL_FETCH && ex->body_limit < BK_FETCH_MAX_REQUEST)
        ex->body_limit = BK_FETCH_MAX_REQUEST; /* a fetch lists every partition: its own limit */
    return 0;
}

static void redirect(bk_exchange_t *ex, const bk_election_view_t *v)
{
    size_t cap = strlen(v->leader_url) + ex->path_len + ex->query_len + 32;
    char *hdr = malloc(cap);
    if (!hdr) {
        bk_exchange_error(ex, 503, "out of memory");
        return;
    }
    snprintf(hdr, cap, "Location: %s%.*s%s%.*s\r\n", v->leader_url, (int)ex->path_len, ex->path,
             ex->query ? "?" : "", (int)ex->query_len, ex->query ? ex->query : "");
    char msg[512];
    snprintf(msg, sizeof msg, "not the leader; the leader is %s at %s", v->leader_id,
             v->leader_url);
    bk_exchange_error_hdr(ex, 307, msg, hdr);
    free(hdr);
}

static void after_proxy(void *arg, int status, const bk_http_response_t *resp)
{
    bk_exchange_t *ex = arg;
    if (status == UV_ECONNREFUSED || status == UV_EHOSTUNREACH || status == UV_ENETUNREACH ||
        status == UV_EADDRNOTAVAIL) { /* no connection: the leader never saw the request */
        bk_exchange_errorf(ex, 503,
                           "forwarding to the leader failed (%s); nothing was written, retry",
                           bk_strerror(status));
        return;
    }
    if (status < 0) { /* sent, or maybe sent: the leader may have applied it (like a 500) */
        bk_exchange_errorf(ex, 500,
                           "write outcome unknown: forwarding to the leader failed after the "
                           "request may have reached it (%s)",
                           bk_strerror(status));
        return;
    }
    char extra[320] = "";
    if (resp->location[0])
        snprintf(extra, sizeof extra, "Location: %s\r\n", resp->location);
    bk_exchange_respond(ex, resp->status, resp->content_type[0] ? resp->content_type : NULL, extra,
                        resp->body, resp->body_len);
}

static void proxy(bk_broker_t *b, bk_exchange_t *ex, const bk_election_view_t *v)
{
    char target[8192 + 16];
    snprintf(target, sizeof target, "%.*s%s%.*s", (int)ex->path_len, ex->path, ex->query ? "?" : "",
             (int)ex->query_len, ex->query ? ex->query : "");
    char headers[2048];
    size_t ct_len = 0, au_len = 0, acc_len = 0;
    const char *ct = bk_exchange_header(ex, "content-type", &ct_len);
    /* Accept too: consumer reads and v1 answers are chosen by it */
    const char *acc = bk_exchange_header(ex, "accept", &acc_len);
    char accept[300] = "";
    if (acc && acc_len < 256)
        snprintf(accept, sizeof accept, "Accept: %.*s\r\n", (int)acc_len, acc);
    /* the client's own credentials: the leader checks them again, never the follower's */
    const char *au = bk_exchange_header(ex, "authorization", &au_len);
    char auth[1200] = "";
    if (au && au_len < 1100)
        snprintf(auth, sizeof auth, "Authorization: %.*s\r\n", (int)au_len, au);
    if (ct && ct_len < 256)
        snprintf(headers, sizeof headers, "Content-Type: %.*s\r\n%s%sX-Forwarded-By: %s\r\n",
                 (int)ct_len, ct, accept, auth, b->cfg.broker_id);
    else /* always mark it, so a forwarded write can never bounce between brokers */
        snprintf(headers, sizeof headers, "%s%sX-Forwarded-By: %s\r\n", accept, auth,
                 b->cfg.broker_id);
    int rc = bk_http_client_request(
        b->client, v->leader_url, llhttp_method_name((llhttp_method_t)ex->method), target, headers,
        ex->body, ex->body_len, b->cfg.proxy_timeout_ms, after_proxy, ex, NULL);
    if (rc)
        bk_exchange_errorf(ex, 502, "forwarding to the leader failed: %s", bk_strerror(rc));
}

int bk_broker_require_leader(bk_broker_t *b, bk_exchange_t *ex, int64_t *epoch)
{
    if (b->stopping) { /* a write begun now could not be replicated before the stop */
        bk_exchange_error(ex, 503,
                          "this broker is shutting down; nothing was written, retry "
                          "on the new leader");
        return 0;
    }
    if (bk_election_can_ack(b->election, epoch))
        return 1;
    bk_election_view_t v;
    bk_election_view(b->election, &v);
    if (v.role == BK_ROLE_FOLLOWER && v.leader_url[0]) {
        /* A request already forwarded once must not bounce between brokers. */
        if (b->cfg.follower_writes == BK_FOLLOWER_WRITES_PROXY && b->client &&
            !bk_exchange_header(ex, "x-forwarded-by", NULL))
            proxy(b, ex, &v);
        else
            redirect(ex, &v);
        return 0;
    }
    if (v.role == BK_ROLE_LEADER)
        bk_exchange_error(ex, 503, "leader lease could not be confirmed; not accepting writes");
    else
        bk_exchange_error(ex, 503, "no leader elected; try again shortly");
    return 0;
}

/* Accept negotiation for JSON answers (q-values honoured: "type;q=0" refuses it). Plain JSON
 * unless Accept names the REST Proxy's v2 or v1 type itself (not through a wildcard) with the
 * highest weight, which then labels the answer (v2 before v1 before plain JSON on a tie, as the
 * REST Proxy prefers); answers 406 and returns 0 when Accept gives every type weight 0. */
static int negotiate(bk_exchange_t *ex)
{
    static const char *const types[] = {"application/vnd.kafka.v2+json",
                                        "application/vnd.kafka.v1+json",
                                        "application/json",
                                        "application/vnd.kafka+json",
                                        "application/vnd.kafka.json.v2+json",
                                        "application/vnd.kafka.binary.v2+json",
                                        "application/vnd.kafka.json.v1+json",
                                        "application/vnd.kafka.binary.v1+json",
                                        "text/plain",
                                        "application/x-ndjson"};
    size_t len;
    const char *acc = bk_exchange_header(ex, "accept", &len);
    if (!acc || len == 0)
        return 1;
    int i = bk_accept_pick(acc, len, types, sizeof types / sizeof types[0]), spec = 0;
    if (i == 0 || i == 1)
        (void)bk_accept_weight(acc, len, types[i], &spec);
    if (spec == 3) /* named, not matched by a wildcard */
        ex->json_type = types[i];
    if (i >= 0)
        return 1;
    bk_exchange_error(ex, 406,
                      "cannot answer in any type named by Accept; use application/json "
                      "or application/vnd.kafka.v2+json");
    return 0;
}

static int is_produce(const bk_route_t *r, int method)
{
    return method == HTTP_POST &&
           (r->id == BK_ROUTE_PRODUCE || r->id == BK_ROUTE_TOPIC || r->id == BK_ROUTE_PARTITION);
}

static void after_decode(bk_exchange_t *ex, void *arg, int status, bk_codec_t failed)
{
    bk_broker_t *b = arg;
    if (!ex->conn) { /* the client left while its body was decoded: nothing to answer */
        bk_exchange_release(ex);
        return;
    }
    if (status == 0 && b->stopping)
        bk_exchange_error(ex, 503, "this broker is shutting down; nothing was written, retry");
    else if (status == 0)
        bk_broker_on_request(b, ex); /* from the start, now that ex->body_decoded is set */
    else if (status == BK_ETOOBIG)
        bk_exchange_errorf(ex, 413,
                           "request body too large: decoded (Content-Encoding) it passes this "
                           "route's limit of %zu bytes; nothing was written",
                           ex->body_limit);
    else if (status == BK_ECORRUPT)
        bk_exchange_errorf(ex, 400,
                           "request body is not valid %s data (truncated, bad checksum or "
                           "trailing bytes), as its Content-Encoding says it is; nothing was "
                           "written",
                           bk_http_coding_name(failed));
    else
        bk_exchange_errorf(ex, 503, "could not decode the request body: %s; nothing was written",
                           bk_strerror(status));
}

/* 1 when ex has a Content-Encoding line and its body was not decoded yet. Every request
 * passes here, so the scan compares lengths before names (few request headers are 16
 * characters long): about 30 instructions a produce request. */
static int has_coding(const bk_exchange_t *ex)
{
    if (ex->body_decoded)
        return 0;
    for (uint32_t i = 0; i < ex->header_count; i++)
        if (ex->headers[i].name_len == 16 &&
            strncasecmp(ex->headers[i].name, "content-encoding", 16) == 0)
            return 1;
    return 0;
}

/* 415 (or 400) for a Content-Encoding that cannot be undone here; 1 when answered. */
static int refuse_codings(bk_exchange_t *ex, int rc, const bk_http_codings_t *c)
{
    int n = (int)(c->bad_len > 64 ? 64 : c->bad_len);
    if (rc == UV_ENOTSUP)
        bk_exchange_errorf(ex, 415,
                           "unsupported Content-Encoding \"%.*s\": request bodies may be coded "
                           "with gzip (x-gzip), zstd or identity",
                           n, c->bad);
    else if (rc == BK_EINVAL)
        bk_exchange_errorf(ex, 400,
                           "malformed Content-Encoding element \"%.*s\": expected a list of "
                           "coding names (gzip, zstd, identity) without parameters",
                           n, c->bad);
    else if (rc == BK_ETOOBIG)
        bk_exchange_errorf(ex, 415, "Content-Encoding lists more than %d codings",
                           BK_HTTP_CODINGS_MAX);
    return rc != 0;
}

/* A body with a Content-Encoding other than identity is decoded on the threadpool before
 * anything reads it (authorization may read the produce body's topic), capped by the route's
 * body limit. Only produce routes take coded bodies. Returns 1 when the request goes on now
 * (identity only, or no body on another route), 0 when it was answered or goes on from
 * after_decode. */
static int decode_body(bk_broker_t *b, bk_exchange_t *ex, const bk_route_t *r)
{
    bk_http_codings_t c;
    if (refuse_codings(ex, bk_http_codings_parse(ex, &c), &c))
        return 0;
    if (c.count == 0 || (ex->body_len == 0 && !is_produce(r, ex->method)))
        return 1; /* identity, or nothing to decode */
    if (!is_produce(r, ex->method)) {
        bk_exchange_errorf(ex, 415,
                           "Content-Encoding %s is accepted only on produce routes (POST "
                           "/produce, /topics/{t}, /topics/{t}/partitions/{p}); send this body "
                           "uncoded",
                           bk_http_coding_name(c.codings[c.count - 1]));
        return 0;
    }
    int rc = bk_http_decode_body(b->loop, ex, &c, ex->body_limit, after_decode, b);
    if (rc)
        bk_exchange_errorf(ex, 503, "could not decode the request body: %s", bk_strerror(rc));
    return 0;
}

void bk_broker_on_request(void *arg, bk_exchange_t *ex)
{
    bk_broker_t *b = arg;
    bk_route_t r;
    int rc = bk_route_match(ex->method, ex->path, ex->path_len, &r);
    if (rc == 404) {
        bk_exchange_errorf(ex, 404, "no such resource: %.*s",
                           (int)(ex->path_len > 200 ? 200 : ex->path_len), ex->path);
        return;
    }
    if (rc == 405) {
        char msg[128];
        snprintf(msg, sizeof msg, "method %s not allowed here",
                 llhttp_method_name((llhttp_method_t)ex->method));
        bk_exchange_error_hdr(ex, 405, msg, r.allow);
        return;
    }
    ex->route = (int)r.id;
    if (has_coding(ex) && !decode_body(b, ex, &r))
        return; /* answered, or back here from after_decode with the body decoded */
    /* a consumer's records answer in the instance's format, v1 reads in the format Accept
     * chooses: their handlers check Accept */
    if (r.id != BK_ROUTE_METRICS && r.id != BK_ROUTE_REPL_FETCH &&
        r.id != BK_ROUTE_CONSUMER_RECORDS && r.id != BK_ROUTE_V1_CONSUME &&
        r.id != BK_ROUTE_V1_MESSAGES && !negotiate(ex))
        return;
    if (b->auth)
        bk_broker_authorize(b, ex, &r);
    else
        bk_broker_route(b, ex, &r);
}

/* __consumer_offsets is written only by the group coordinator: a write route naming it is
 * refused (403) before anything else happens. */
static int internal_refused(bk_exchange_t *ex, const bk_route_t *r)
{
    if (!r->topic || !bk_route_is_write(r, ex->method) ||
        !bk_gstore_is_internal(r->topic, r->topic_len))
        return 0;
    bk_exchange_errorf(ex, 40301,
                       "topic %s is internal: only the group coordinator writes, deletes or "
                       "alters it (commit offsets through /consumers)",
                       BK_GRP_OFFSETS_TOPIC);
    return 1;
}

void bk_broker_route(bk_broker_t *b, bk_exchange_t *ex, const bk_route_t *rp)
{
    bk_route_t r = *rp;
    if (internal_refused(ex, &r))
        return;
    if (bk_route_is_group(&r)) {
        bk_consumers_route(b, ex, &r);
        return;
    }
    switch (r.id) {
    case BK_ROUTE_REPL_FETCH:
        bk_replicator_serve_fetch(b->replicator, ex);
        return;
    case BK_ROUTE_METRICS:
        bk_api_metrics(b, ex);
        return;
    case BK_ROUTE_PRODUCER_IDS:
        bk_api_producer_ids(b, ex);
        return;
    case BK_ROUTE_ROOT:
        bk_exchange_respond(ex, 200, "application/json", NULL, "{}", 2);
        return;
    case BK_ROUTE_PRODUCE:
        bk_api_produce(b, ex);
        return;
    case BK_ROUTE_LEADER:
        bk_api_leader(b, ex);
        return;
    case BK_ROUTE_HEALTH:
        bk_api_health(b, ex);
        return;
    case BK_ROUTE_RECORDS:
        bk_api_records(b, ex, &r);
        return;
    case BK_ROUTE_V1_MESSAGES:
        bk_api_messages_v1(b, ex, &r);
        return;
    case BK_ROUTE_TOPIC:
    case BK_ROUTE_PARTITION:
        if (ex->method == HTTP_POST)
            bk_api_produce_rest(b, ex, &r);
        else if (ex->method == HTTP_DELETE)
            bk_api_topics_admin(b, ex, &r);
        else
            bk_api_topics(b, ex, &r);
        return;
    case BK_ROUTE_TOPICS:
    case BK_ROUTE_PARTITIONS:
        if (ex->method == HTTP_POST)
            bk_api_topics_admin(b, ex, &r);
        else
            bk_api_topics(b, ex, &r);
        return;
    case BK_ROUTE_CONFIGS:
        if (ex->method == HTTP_PUT)
            bk_api_topics_admin(b, ex, &r);
        else
            bk_api_topics(b, ex, &r);
        return;
    case BK_ROUTE_OFFSETS:
    case BK_ROUTE_BROKERS:
        bk_api_topics(b, ex, &r);
        return;
    default:
        bk_exchange_error(ex, 404, "no such resource");
        return;
    }
}
