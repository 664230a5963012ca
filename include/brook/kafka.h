/* The Kafka wire-protocol listener (DESIGN.md §11): a second front end beside HTTP, on the
 * same loop, reaching the log, the election and the replicator exactly as src/api/ does (and
 * never through it). Unmodified Kafka clients produce, fetch, list offsets, read metadata and
 * administer topics; the API table in src/kafka/codec.c says which versions.
 *
 * Ownership: bk_kafka_start allocates; bk_kafka_stop closes the listener and every
 * connection (answers still being computed are dropped), frees once every handle is closed
 * and the last Redis command came back, then calls done(arg). */
#ifndef BROOK_KAFKA_H
#define BROOK_KAFKA_H

#include <stdint.h>
#include <uv.h>

#include "brook/auth.h"
#include "brook/election.h"
#include "brook/groups_service.h"
#include "brook/http_client.h"
#include "brook/log.h"
#include "brook/replicator.h"
#include "brook/tls.h"

typedef struct {
    const char *host;            /* listen address (default 0.0.0.0) */
    int port;                    /* 0 = any free port */
    const char *advertised_host; /* in Metadata (default 127.0.0.1) */
    int advertised_port;         /* 0: the bound port */
    int32_t node_id;             /* this broker's stable Kafka node id */
    uint64_t max_frame_bytes;    /* a larger size prefix closes the connection */
    uint32_t max_connections;
    uint32_t idle_timeout_ms;
    uint32_t max_poll_ms;   /* cap on a Fetch's max_wait_ms */
    int auto_create_topics; /* Metadata may create unknown topics it names */
    const char *broker_id;
    const char *cluster;  /* Redis key prefix */
    uint32_t register_ms; /* address registration interval (its key expires after 3) */
    /* A TLS listener beside the plain one (--kafka-tls-port): SSL and SASL_SSL clients. Its
     * connections decrypt below the framing, so nothing above server.c knows; Metadata and
     * FindCoordinator name the TLS address of every broker to a client connected here. */
    bk_tls_ctx_t *tls;               /* server context (no ALPN); NULL = no TLS listener. Not
                                        owned: must outlive the listener (a reload swaps what
                                        is inside it, for new connections) */
    int tls_port;                    /* 0 = any free port */
    const char *tls_advertised_host; /* NULL: advertised_host */
    int tls_advertised_port;         /* 0: the bound TLS port */
    uint32_t handshake_timeout_ms;   /* a TLS handshake unfinished this long after accept
                                        closes its connection (0: idle_timeout_ms) */
} bk_kafka_config_t;

void bk_kafka_config_defaults(bk_kafka_config_t *cfg);

/* What the listener reaches. election and replicator point at the owner's pointers, which
 * become NULL when those stop (late in a shutdown). */
typedef struct {
    bk_log_t *log;
    bk_election_t *const *election;
    bk_replicator_t *const *replicator;
    /* Called right before this listener deletes topic t (DeleteTopics), so every other
     * front end ends its reads of t and the replicator forgets it (the HTTP broker's
     * bk_broker_forget_topic); must call bk_replicator_forget_topic. */
    void (*forget_topic)(void *arg, bk_topic_t *t);
    void *forget_arg;
    /* Authentication and ACLs (--users-file), NULL when off. With it, every connection
     * authenticates with SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) before any request but
     * ApiVersions and the SASL exchange, and each request is checked against the ACLs. Must
     * outlive the listener (and every password check it started). */
    bk_auth_t *auth;
    /* The broker's group coordinator and store (shared with the HTTP consumer API); NULL:
     * the group APIs answer COORDINATOR_NOT_AVAILABLE. Must outlive the listener. */
    const bk_groups_service_t *groups;
    /* The broker's HTTP client without credentials (the one proxied writes use): a follower
     * asks the leader's HTTP listener through it to create topics its Metadata would
     * auto-create. NULL: followers never auto-create. Must outlive the listener. */
    bk_http_client_t *client;
    /* The broker's producer id allocator (log/producer_ids.h), shared with the HTTP listener's
     * POST /cluster/producer-ids so the leader never hands an id out twice; NULL: one of the
     * listener's own. Must outlive the listener. */
    struct bk_pid_alloc *pids;
    /* The client carrying the broker's credentials (--broker-user; the replicator's): a
     * follower asks the leader for producer ids through it (POST /cluster/producer-ids).
     * NULL: a follower answers InitProducerId with COORDINATOR_NOT_AVAILABLE. Must outlive
     * the listener. */
    bk_http_client_t *leader_client;
} bk_kafka_deps_t;

typedef struct bk_kafka bk_kafka_t;

/* Binds and listens. Returns 0 or a negative libuv error (e.g. UV_EADDRINUSE). */
int bk_kafka_start(uv_loop_t *loop, const bk_kafka_config_t *cfg, const bk_kafka_deps_t *deps,
                   bk_kafka_t **out);
int bk_kafka_port(const bk_kafka_t *k);
/* The bound TLS port, or -1 without a TLS listener. */
int bk_kafka_tls_port(const bk_kafka_t *k);

/* The replicator's high-watermark hook, forwarded: wakes Fetches waiting on p. */
void bk_kafka_on_visible(bk_kafka_t *k, bk_partition_t *p);

/* Node id derived from a broker id when --node-id is not given: a 31-bit FNV-1a hash. */
int32_t bk_kafka_node_id_of(const char *broker_id);

void bk_kafka_stop(bk_kafka_t *k, void (*done)(void *arg), void *arg);

#endif
