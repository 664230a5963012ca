/* The Kafka listener's private state, shared by the files of src/kafka: the listener and its
 * connections (server.c), requests in flight with their answers kept in request order, the
 * handlers (one file per API family), the address registry (registry.c). */
#ifndef BROOK_KAFKA_IMPL_H
#define BROOK_KAFKA_IMPL_H

#include <uv.h>

#include "brook/auth.h"
#include "brook/kafka.h"
#include "kafka/authz.h"
#include "kafka/proto.h"
#include "kafka/wire.h"
#include "log/producer_ids.h"

typedef struct bk_kconn bk_kconn_t;
typedef struct bk_kreq bk_kreq_t;
typedef struct bk_kregistry bk_kregistry_t;

/* One request, from its frame to its answer's write. It owns its frame (decoded fields point
 * into it), its arena and its answer; freed after the answer is written, or at once when its
 * connection is gone. */
struct bk_kreq {
    bk_kconn_t *conn; /* NULL once the connection closed: the answer is dropped */
    bk_kreq_t *next;  /* the connection's queue, in request order */
    uint8_t *frame;
    size_t frame_len;
    bk_karena_t arena;
    bk_krequest_t req;
    bk_kw_t out;       /* the answer, size prefix included */
    uint8_t *cipher;   /* on a TLS connection: the answer encrypted, being written */
    int done;          /* out is complete (or there is none: acks=0) */
    int no_answer;     /* acks=0 produce */
    int close_after;   /* the connection closes once this answer is written (failed SASL) */
    bk_kauthz_t authz; /* what the principal may do with each resource named (dispatch.c) */
    void *state;       /* the handler's, freed by free_state when the request goes */
    void (*free_state)(void *state);
    uv_write_t wreq;
};

struct bk_kconn {
    uv_tcp_t tcp;
    struct bk_kafka *k;
    bk_kconn_t *prev, *next;
    uint8_t *buf; /* bytes read, not yet framed */
    size_t len, cap;
    bk_kreq_t *head, *tail;
    uint32_t queued;      /* requests not yet freed (answers pending or being written) */
    uint64_t last_active; /* loop time of the last read or write (on a TLS connection: its
                             accept until the handshake is done) */
    bk_tls_t *tls;        /* accepted on the TLS listener: the session, freed with c */
    char peer[64];
    unsigned closing : 1;
    unsigned paused : 1;
    unsigned draining : 1; /* reads stopped for good: the last answer goes, then the close */
    unsigned held : 1;     /* no reading or framing while a password is checked */
    /* SASL (sasl.c): the exchange's progress and, once authenticated, the principal. */
    uint8_t sasl_state;              /* BK_KCONN_* */
    uint8_t sasl_mech;               /* bk_ksasl_mech_t, once a handshake chose it */
    uint8_t sasl_raw;                /* handshake v0: tokens come as bare frames until done */
    uint8_t cert_user;               /* user is a verified client certificate's CN: no SASL
                                        needed (one may still replace it) */
    bk_scram_server_t *scram;        /* during a SCRAM exchange; freed with the connection */
    char user[BK_AUTH_NAME_MAX + 1]; /* authenticated as User:<user> (state DONE) */
};

enum {
    BK_KCONN_START = 0, /* nothing yet: only ApiVersions and SaslHandshake */
    BK_KCONN_MECH,      /* handshake done, SaslAuthenticate (or a v0 token) expected */
    BK_KCONN_VERIFYING, /* a PLAIN password is being checked off the loop */
    BK_KCONN_DONE,      /* authenticated */
    BK_KCONN_FAILED,    /* the failure is being answered; the connection then closes */
};

/* A live broker as the registry knows it. */
typedef struct {
    int32_t node_id;
    char broker_id[128];
    char host[256];
    int port;
    char tls_host[256]; /* its TLS listener (--kafka-tls-port), when tls_port > 0 */
    int tls_port;
} bk_knode_t;

#define BK_KAFKA_MAX_NODES 64

struct bk_kafka {
    uv_loop_t *loop;
    bk_kafka_config_t cfg;
    bk_kafka_deps_t deps;
    char host_buf[256];
    char broker_buf[128];
    char cluster_buf[128];
    char tls_host_buf[256];
    uv_tcp_t listener;
    uv_tcp_t tls_listener; /* initialized only with cfg.tls */
    uint8_t *cipher_buf;   /* ciphertext read from any TLS connection, fed to it at once */
    uv_timer_t sweeper;
    bk_kconn_t *conns;
    uint32_t conn_count;
    struct bk_kwaiter *waiters;    /* long-polling Fetches */
    struct bk_kgwait *group_waits; /* JoinGroup/SyncGroup held by the coordinator (group.c) */
    int group_hooked;              /* group.c installed its answer hook */
    bk_kregistry_t *registry;
    /* Producer ids (init_producer_id.c): deps.pids, or own_pids when none was given. */
    bk_pid_alloc_t own_pids;
    struct bk_kautocreate *autocreate; /* names a follower asked the leader to create */
    struct bk_kpidask *pidask;         /* InitProducerIds a follower asked the leader for */
    int stopping;
    int handles_open;
    void (*stop_done)(void *arg);
    void *stop_arg;
};

/* A request's answer is complete (or, no_answer, needs none): write what is ready, in order. */
void bk_kreq_finish(bk_kreq_t *r);
/* Closes a connection (idempotent); its requests in flight finish into the void. */
void bk_kconn_close(bk_kconn_t *c, const char *why);
/* Stops reading and framing c's requests until bk_kconn_release, which frames what was
 * already read and reads on (as Kafka mutes a connection while it authenticates). */
void bk_kconn_hold(bk_kconn_t *c);
void bk_kconn_release(bk_kconn_t *c);

/* Dispatch of one decoded request to its handler (handlers.c), which answers through
 * bk_kreq_finish, now or later. */
void bk_kafka_dispatch(struct bk_kafka *k, bk_kreq_t *r);

/* SASL (sasl.c): the handshake, the exchange, and the tokens of a v0 handshake (bare frames). */
void bk_khandle_sasl_handshake(struct bk_kafka *k, bk_kreq_t *r);
void bk_khandle_sasl_authenticate(struct bk_kafka *k, bk_kreq_t *r);
void bk_ksasl_raw_token(struct bk_kafka *k, bk_kreq_t *r);
/* Authentication is on and this connection has not completed it. */
int bk_kconn_needs_auth(const bk_kconn_t *c);

/* Handlers, one file per API family. Each writes r->out after bk_kresp_begin. */
void bk_khandle_metadata(struct bk_kafka *k, bk_kreq_t *r);
void bk_khandle_produce(struct bk_kafka *k, bk_kreq_t *r);
void bk_khandle_init_producer_id(struct bk_kafka *k, bk_kreq_t *r);
void bk_khandle_fetch(struct bk_kafka *k, bk_kreq_t *r);
void bk_khandle_list_offsets(struct bk_kafka *k, bk_kreq_t *r);
void bk_khandle_create_topics(struct bk_kafka *k, bk_kreq_t *r);
void bk_khandle_delete_topics(struct bk_kafka *k, bk_kreq_t *r);
void bk_khandle_create_partitions(struct bk_kafka *k, bk_kreq_t *r);
void bk_khandle_describe_configs(struct bk_kafka *k, bk_kreq_t *r);

/* Group APIs (group.c, group_offsets.c); bk_kgroup_stop answers every held request and
 * removes the answer hook. */
void bk_khandle_find_coordinator(struct bk_kafka *k, bk_kreq_t *r);
void bk_khandle_join_group(struct bk_kafka *k, bk_kreq_t *r);
void bk_khandle_sync_group(struct bk_kafka *k, bk_kreq_t *r);
void bk_khandle_heartbeat(struct bk_kafka *k, bk_kreq_t *r);
void bk_khandle_leave_group(struct bk_kafka *k, bk_kreq_t *r);
void bk_khandle_offset_commit(struct bk_kafka *k, bk_kreq_t *r);
void bk_khandle_offset_fetch(struct bk_kafka *k, bk_kreq_t *r);
void bk_khandle_list_groups(struct bk_kafka *k, bk_kreq_t *r);
void bk_khandle_describe_groups(struct bk_kafka *k, bk_kreq_t *r);
void bk_kgroup_stop(struct bk_kafka *k);
/* The election's leader as a Kafka node id (-1 unknown), and its address when known. */
int32_t bk_kafka_leader_node(struct bk_kafka *k, bk_knode_t *node);

/* Fetch waiters (fetch.c): woken by bk_kafka_on_visible; all answered at stop. */
void bk_kfetch_wake_all(struct bk_kafka *k);

/* Leadership as Kafka sees it: 1 when this broker takes writes now (*epoch set). */
int bk_kafka_is_leader(struct bk_kafka *k, int64_t *epoch);
/* End of what consumers may read from p here (the replicated high watermark). */
int64_t bk_kafka_visible_end(struct bk_kafka *k, bk_partition_t *p);
/* The topic r names at index i (name: that resource's name, as the request has it), if r may
 * act on it: NULL for a null or unknown name and for one the principal was denied (tell the
 * two apart with bk_kafka_allowed). The only way handlers find a topic a request names, so
 * none can skip the authorization decided at dispatch. */
bk_topic_t *bk_kafka_topic(struct bk_kafka *k, const bk_kreq_t *r, int32_t i, bk_kslice_t name);
/* r may act on its i-th resource (what: BK_KAUTHZ_OK, or BK_KAUTHZ_MAY_CREATE). */
int bk_kafka_allowed(const bk_kreq_t *r, int32_t i, int what);
/* May r's principal do op on the resource (1 with authentication off)? For what a list
 * shows, beyond the resources decided at dispatch. */
int bk_kafka_may(struct bk_kafka *k, const bk_kreq_t *r, bk_acl_resource_t res, const char *name,
                 size_t len, bk_acl_op_t op);
/* For lists (Metadata of every topic): may r's principal see this topic? */
int bk_kafka_may_list(struct bk_kafka *k, const bk_kreq_t *r, const char *name, size_t len);

/* Auto-creation through the leader (autocreate.c), for a follower's Metadata: asks the leader
 * to create topic name (a valid name), unless a request for it is in flight or was answered
 * moments ago. 0 when asked or already under way; UV_ENOENT when the leader refused it
 * moments ago (its own --no-auto-create-topics); UV_EAGAIN when no leader is known or too
 * many names are tracked, or another negative error (nothing asked). The topic arrives later
 * by replication. bk_kautocreate_stop cancels the requests in flight (listener stop). */
int bk_kautocreate_ask(struct bk_kafka *k, const char *name, size_t len);
void bk_kautocreate_stop(struct bk_kafka *k);

/* InitProducerId on a follower (pid_ask.c): asks the leader for an id and answers r (now, if
 * the ask cannot be sent, else from its completion). bk_kpidask_stop cancels the asks in
 * flight (listener stop); their requests are answered COORDINATOR_NOT_AVAILABLE into the
 * void. */
void bk_kpidask_start(struct bk_kafka *k, bk_kreq_t *r);
void bk_kpidask_stop(struct bk_kafka *k);
/* Writes InitProducerId's answer (pid and epoch 0, or err with -1s) and finishes r. */
void bk_kinit_pid_answer(bk_kreq_t *r, int16_t err, int64_t pid);
/* The leader's HTTP URL into url (size n) (autocreate.c); 0, or UV_EAGAIN when this broker
 * follows no known leader. */
int bk_kafka_leader_url(struct bk_kafka *k, char *url, size_t n);

/* The registry of live brokers' Kafka addresses (registry.c). */
int bk_kregistry_start(struct bk_kafka *k);
void bk_kregistry_stop(struct bk_kafka *k);
/* Live brokers, this one always included; fills up to max, returns the count. */
size_t bk_kregistry_nodes(struct bk_kafka *k, bk_knode_t *out, size_t max);
/* Rewrites n's host and port to its address on the listener c was accepted on (the TLS one
 * for a TLS connection, as Kafka answers each listener with its own endpoints); 0, or -1 when
 * n has no such listener (left out of Metadata, not a coordinator). */
int bk_kafka_node_addr(const bk_kconn_t *c, bk_knode_t *n);
/* Node id of a broker id (-1 when unknown). */
int32_t bk_kregistry_node_of(struct bk_kafka *k, const char *broker_id);

#endif
