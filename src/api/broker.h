/* The broker: what every HTTP handler shares (the log, the election, configuration, counters)
 * and the entry points the server calls. Handlers live one resource per file in src/api/ and
 * answer each exchange exactly once. */
#ifndef BROOK_API_BROKER_H
#define BROOK_API_BROKER_H

#include <stdint.h>
#include <uv.h>

#include "api/metrics.h"
#include "api/router.h"
#include "brook/auth.h"
#include "brook/election.h"
#include "brook/http_client.h"
#include "brook/log.h"
#include "brook/replicator.h"
#include "brook/server.h"
#include "http/exchange.h"

typedef enum { BK_FOLLOWER_WRITES_REDIRECT = 0, BK_FOLLOWER_WRITES_PROXY = 1 } bk_follower_writes_t;

typedef struct {
    const char *broker_id;
    const char *advertised_url;
    bk_follower_writes_t follower_writes;
    int auto_create_topics;
    uint64_t max_batch_body;   /* body limit on batch produce routes */
    uint32_t max_poll_ms;      /* cap on a read's timeout_ms */
    uint32_t proxy_timeout_ms; /* forwarding a write to the leader */
    size_t max_page_text;      /* a read page (or stream page) ends after the record that
                                  brings its rendered JSON to this (the connection budget);
                                  0 = no limit; a page always holds at least one record */
} bk_broker_config_t;

typedef struct bk_waiter bk_waiter_t;
typedef struct bk_consumers bk_consumers_t;
typedef struct bk_stream bk_stream_t;

typedef struct {
    uv_loop_t *loop;
    bk_broker_config_t cfg;
    bk_log_t *log;
    bk_election_t *election;
    bk_http_client_t *client; /* proxying writes and replication fetches */
    bk_replicator_t *replicator;
    bk_server_t *server;
    bk_waiter_t *waiters; /* long-poll reads waiting for data */
    uint32_t waiter_count;
    bk_stream_t *streams; /* streamed reads following the log */
    bk_metrics_t metrics;
    uint32_t rr_partition;  /* round-robin cursor for keyless records */
    int stopping;           /* SIGTERM received: no new long-polls or streams */
    bk_auth_t *auth;        /* NULL: authentication off (--users-file not given) */
    int auth_all_paths;     /* --auth-all-paths: /health and /metrics need credentials too */
    const char *authz_user; /* the authenticated user, only while a handler runs from dispatch */
    const bk_route_authz_t *authz_pending; /* check to make on the topic the handler names */
    bk_consumers_t *consumers; /* consumer groups (api/consumers.h); NULL until started */
    struct bk_pid_alloc *pids; /* producer ids (log/producer_ids.h), shared with the Kafka
                                  listener; NULL: POST /cluster/producer-ids answers 503 */
} bk_broker_t;

/* 1 when the request being dispatched may describe topic name (always with auth off): lists
 * leave out what it may not. Fails closed outside a dispatch. */
int bk_broker_may_describe(const bk_broker_t *b, const char *name, size_t len);

/* With auth on (authz.c): authenticates ex, makes the route's one permission check, then
 * calls bk_broker_route (now, or from a credential check's completion); otherwise answers
 * ex (400, 401, 403 or 503). */
void bk_broker_authorize(bk_broker_t *b, bk_exchange_t *ex, const bk_route_t *r);
/* The handler of an admitted request (dispatch.c). */
void bk_broker_route(bk_broker_t *b, bk_exchange_t *ex, const bk_route_t *r);
/* Called by bk_broker_topic for every topic a handler names: makes the route's check when
 * it waits for the topic's name (the produce body's "topic"). 1 go on, 0 answered 403. */
int bk_broker_authz_topic(bk_broker_t *b, bk_exchange_t *ex, const char *name, size_t len);

/* Server hooks (bk_server_handlers_t) with arg = the broker. */
int bk_broker_on_headers(void *arg, bk_exchange_t *ex, const char **msg);
void bk_broker_on_request(void *arg, bk_exchange_t *ex);

/* The replicator's high-watermark hook: wakes long-poll reads and streams of p. */
void bk_broker_on_visible(void *arg, bk_partition_t *p);

/* End of what consumers may read from p on this broker (the replicated high watermark). */
int64_t bk_broker_visible_end(bk_broker_t *b, bk_partition_t *p);

/* Streamed reads (records_stream.c): start one; wake those on p; end those of topic t (all
 * when t is NULL). */
void bk_api_records_stream(bk_broker_t *b, bk_exchange_t *ex, bk_partition_t *p, int64_t offset,
                           int64_t max_records, size_t max_bytes, int format, uint64_t timeout_ms);
void bk_streams_on_commit(bk_broker_t *b, bk_partition_t *p);
void bk_streams_end(bk_broker_t *b, bk_topic_t *t);

/* Answers every waiting read now (shutdown). */
void bk_broker_wake_all(bk_broker_t *b);

/* Leader check for write routes. Returns 1 when this broker may take writes now (and sets
 * *epoch); otherwise answers ex (307 to the leader, a proxied answer, or 503) and returns 0. */
int bk_broker_require_leader(bk_broker_t *b, bk_exchange_t *ex, int64_t *epoch);

/* Handlers, one file each. */
void bk_api_produce(bk_broker_t *b, bk_exchange_t *ex); /* produce.c */
void bk_api_produce_rest(bk_broker_t *b, bk_exchange_t *ex,
                         const bk_route_t *r);                               /* produce_rest.c */
void bk_api_records(bk_broker_t *b, bk_exchange_t *ex, const bk_route_t *r); /* records.c */
void bk_api_leader(bk_broker_t *b, bk_exchange_t *ex);                       /* metadata.c */
void bk_api_health(bk_broker_t *b, bk_exchange_t *ex);                       /* metadata.c */
void bk_api_metrics(bk_broker_t *b, bk_exchange_t *ex);                      /* metrics.c */
void bk_api_producer_ids(bk_broker_t *b, bk_exchange_t *ex);                 /* producer_ids.c */
void bk_api_topics(bk_broker_t *b, bk_exchange_t *ex, const bk_route_t *r);  /* topics.c */
void bk_api_topic_describe(bk_broker_t *b, bk_exchange_t *ex, bk_topic_t *t, int status);
/* REST Proxy v1's stateless read (messages_v1.c) */
void bk_api_messages_v1(bk_broker_t *b, bk_exchange_t *ex, const bk_route_t *r);
void bk_api_topics_admin(bk_broker_t *b, bk_exchange_t *ex,
                         const bk_route_t *r); /* topics_admin.c */

/* Before a topic is deleted: answers its waiting reads and drops its metrics. */
void bk_broker_forget_topic(bk_broker_t *b, bk_topic_t *t);
/* The same, as the replicator's delete hook (arg is the broker). */
void bk_broker_on_topic_deleted(void *arg, bk_topic_t *t);

/* Checks Content-Type is JSON (application/json or any application/...+json type); answers 415 and
 * returns 0 if not. */
int bk_api_require_json(bk_exchange_t *ex);

/* Topic lookup shared by handlers: answers 404/422 itself and returns NULL when the topic
 * does not exist (create = auto-create allowed). max_partition is the highest partition the
 * request names explicitly (-1 for none): a topic is never created for a request that would
 * then fail on an unknown partition, and a request naming a partition beyond a topic being
 * grown waits for the growth (parked, NULL returned, dispatched again once it ends). A topic is
 * created off the loop thread (bk_log_topic_create_async): the request is parked, NULL returned,
 * and the request is dispatched again from the start once the topic exists (or answered with the
 * error). */
bk_topic_t *bk_broker_topic(bk_broker_t *b, bk_exchange_t *ex, const char *name, size_t len,
                            int create, int64_t max_partition);
/* Parks ex until the growth of t under way (bk_log_topic_grow_async) ends, then dispatches it
 * again from the start. Returns 0 when parked, else UV_ENOENT (none under way: ex untouched)
 * or an error. bk_broker_topic does this itself for a request naming a partition the topic
 * does not have yet. */
int bk_broker_await_growth(bk_broker_t *b, bk_exchange_t *ex, bk_topic_t *t);
/* For callbacks of work that ends after a request was dispatched (topic jobs): late in a
 * shutdown the election and replicator are gone; then ex is answered 503 and 1 returned. */
int bk_broker_gone(bk_broker_t *b, bk_exchange_t *ex);
/* Answers a topic creation that failed with status: 409 (40902) for UV_EEXIST, 507 for lack
 * of file descriptors, 503 when the log is closing, else 500. */
void bk_broker_creation_failed(bk_exchange_t *ex, const char *name, size_t len, int status);
/* Answers 507 naming the descriptor limit (and how to raise it) when status is UV_EMFILE or
 * UV_ENFILE (a creation or growth refused by bk_log_fd_budget's check), with what as the
 * message's start; returns 1 then, else 0 with ex untouched. */
int bk_broker_fd_refusal(bk_exchange_t *ex, int status, const char *what);

/* The partition named by a route ({p} parsed by the router: -2 when not a number); answers
 * 40402 and returns NULL when it does not exist. */
bk_partition_t *bk_broker_partition(bk_exchange_t *ex, bk_topic_t *t, int64_t partition);

#endif
