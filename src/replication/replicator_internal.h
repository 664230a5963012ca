/* State shared by the replicator's three files: replicator.c (lifetime, partitions, high
 * watermarks, acks=all waiters, role changes), leader.c (terms, ISR, publication to Redis,
 * serving fetches) and follower.c (the fetch loop). Private to src/replication/; nothing here
 * may be used from another module.
 *
 * Asynchronous operations (Redis calls, the follower's HTTP fetch, raw appends) carry an
 * op_t. bk_replicator_stop detaches every op (op->r = NULL) instead of waiting for it: a
 * completion that finds its op detached only frees it. Ops also carry the term they belong
 * to, so a completion from an older leader or follower term changes nothing. */
#ifndef BROOK_REPLICATION_REPLICATOR_INTERNAL_H
#define BROOK_REPLICATION_REPLICATOR_INTERNAL_H

#include <stdint.h>
#include <uv.h>

#include "brook/election.h"
#include "brook/http_client.h"
#include "brook/log.h"
#include "brook/replication.h"
#include "brook/replicator.h"

#define ID_MAX 128

typedef struct part part_t;
typedef struct waiter waiter_t;
typedef struct parked parked_t;
typedef struct op op_t;

/* An acks=all write waiting for its partition's replicated HW. */
struct waiter {
    waiter_t *next, *prev;
    part_t *part; /* NULL once detached (standalone/ready list) */
    int64_t end_offset;
    void (*cb)(void *arg, int status);
    void *arg;
};

/* Replication state of one partition, keyed by topic name + index (never by a pointer held
 * across calls: topics can be deleted). */
struct part {
    part_t *hnext;       /* hash chain */
    part_t *next, *prev; /* every part */
    char *topic;
    uint32_t index;
    int64_t hw; /* replicated HW exposed on this broker (cluster mode) */
    /* follower */
    int64_t leader_hw;    /* leader's HW as last heard, -1 none */
    int64_t verified_end; /* prefix checked against the leader in verified_term, -1 none */
    uint64_t verified_term;
    /* leader */
    uint64_t isr_term; /* term_id the isr belongs to; 0 none */
    bk_isr_t isr;
    uint32_t pub_mask; /* mask begun for publication pub_seq */
    uint64_t pub_seq;  /* 0: not part of the publication in flight */
    waiter_t *waiters;
};

/* A fetch parked by the leader until data arrives or its wait ends. */
struct parked {
    parked_t *next, *prev;
    bk_replicator_t *r;
    bk_exchange_t *ex;
    bk_fetch_req_t req; /* views into ex's body, valid until ex is answered */
    uv_timer_t timer;
};

/* A topic change (creation, deletion, growth) applied on the leader, waiting until every
 * follower Redis may list as in sync has fetched with it applied (leader.c). */
typedef struct twaiter twaiter_t;
struct twaiter {
    twaiter_t *next;
    uint64_t seq;      /* the leader's topic_seq once the change was applied */
    uint64_t deadline; /* then UV_ETIMEDOUT */
    void (*cb)(void *arg, int status);
    void *arg;
};

typedef enum { OP_READ_ISR, OP_PUBLISH, OP_FETCH, OP_APPEND, OP_TOPIC } op_kind_t;

struct op {
    op_t *next, *prev;
    bk_replicator_t *r; /* NULL: detached (the replicator stopped) */
    op_kind_t kind;
    uint64_t term; /* term_id (leader ops) or f_term (follower ops) */
    /* OP_PUBLISH */
    uint64_t seq;
    int n;
    char (*ids)[ID_MAX];
    /* OP_FETCH: what was asked, in request order */
    size_t nsent;
    struct sent {
        part_t *part;
        int64_t fetch_offset;
    } * sent;
    /* OP_APPEND */
    part_t *part;
    int64_t end;
};

typedef struct {
    char id[ID_MAX];
    uint64_t last_seen_ms; /* last fetch, or the term start for a carried member */
    uint64_t instance;     /* the process fetching under id (0: none seen this term) */
    uint64_t live_until;   /* its last fetch's wait + a grace: it is alive until then */
    uint64_t refused;      /* the other instance last refused (said once) */
    uint64_t topics_seq;   /* topic_seq at its last fetch listing exactly the leader's topics
                              and partitions: it holds every topic change up to that */
} follower_t;

struct bk_replicator {
    uv_loop_t *loop;
    bk_log_t *log;
    bk_election_t *election;
    bk_http_client_t *client;
    bk_replication_config_t cfg;
    char id[ID_MAX];
    uint64_t instance; /* random, this process's: sent with every fetch */
    int standalone;
    int stopping;
    int draining; /* bk_replicator_drain: nothing is published any more */
    void (*done)(void *arg);
    void *done_arg;
    int open_handles;

    part_t **buckets;
    size_t nbuckets;
    part_t *parts;
    size_t nparts;
    op_t *ops;

    void (*hw_hook)(void *arg, bk_partition_t *p);
    void *hw_arg;
    void (*delete_hook)(void *arg, bk_topic_t *t);
    void *delete_arg;
    waiter_t *ready; /* satisfied waiters whose callbacks run from ready_timer */
    uv_timer_t ready_timer;
    uv_timer_t tick; /* ISR lag, retries of the term-start read and publications */

    /* leader term */
    int leading;
    int term_ready; /* ISR read from Redis and set up */
    int reading_isr;
    int64_t term_epoch;
    uint64_t term_id;
    follower_t followers[BK_ISR_MAX_REPLICAS];
    int nfollowers;
    char may_hold[BK_ISR_MAX_REPLICAS][ID_MAX]; /* followers Redis may list now */
    int nmay_hold;
    int pub_inflight, pub_dirty;
    uint64_t pub_seq;
    char last_pub[BK_ISR_MAX_REPLICAS][ID_MAX]; /* the set last begun */
    int nlast_pub;
    uint64_t retry_at; /* earliest retry of a failed read/publication */
    parked_t *parked;
    uint64_t topic_seq;  /* topic changes applied here (any term) */
    twaiter_t *twaiters; /* topic changes not yet confirmed, oldest first */

    /* follower loop */
    int following;
    char f_url[256];
    int64_t f_epoch;
    uint64_t f_term;
    op_t *f_op; /* the fetch in flight */
    bk_http_client_req_t *f_req;
    int f_pending; /* raw appends and topic jobs of this term not completed */
    int f_failed;  /* something in this round asks for a backoff */
    int f_soon;    /* something asks for a quick retry (truncation busy) */
    int f_refused; /* the leader refuses our id (another broker uses it): may not lead */
    uint32_t f_backoff;
    uint64_t f_rounds;     /* fetches sent: rotates the request's first topic */
    uint64_t f_fail_since; /* first of the failed fetches in a row (0: the last one worked) */
    uint64_t f_warn_at;    /* no warning about failed fetches before this */
    int f_fail_loud;       /* the failure at hand deserves a warning at once */
    uv_timer_t f_timer;
    int f_timer_armed;
};

/* replicator.c */
part_t *bk_repl_part(bk_replicator_t *r, bk_partition_t *p);
part_t *bk_repl_part_find(bk_replicator_t *r, const char *topic, size_t len, uint32_t index);
bk_partition_t *bk_repl_partition(bk_replicator_t *r, const part_t *part);
/* Frees part (its topic is gone); its waiters get UV_ECANCELED. */
void bk_repl_part_drop(bk_replicator_t *r, part_t *part);
op_t *bk_repl_op_new(bk_replicator_t *r, op_kind_t kind, uint64_t term);
void bk_repl_op_free(op_t *op); /* unlinks (if attached) and frees */
void bk_repl_hw_changed(bk_replicator_t *r, part_t *part, bk_partition_t *p);
void bk_repl_fail_waiters(bk_replicator_t *r, int status);
void bk_repl_on_tick(uv_timer_t *t); /* the periodic tick (leader work) */

/* leader.c */
void bk_repl_leader_begin(bk_replicator_t *r, int64_t epoch);
void bk_repl_leader_end(bk_replicator_t *r);
void bk_repl_leader_tick(bk_replicator_t *r, uint64_t now);
void bk_repl_leader_on_commit(bk_replicator_t *r, part_t *part, bk_partition_t *p);
int bk_repl_leader_ensure_isr(bk_replicator_t *r, part_t *part, bk_partition_t *p);
void bk_repl_leader_serve(bk_replicator_t *r, bk_exchange_t *ex);
void bk_repl_parked_answer_all(bk_replicator_t *r, int32_t error);
/* Answers the topic-change waiters now confirmed (or past their deadline). */
void bk_repl_topics_check(bk_replicator_t *r, uint64_t now);
/* Answers every topic-change waiter with status (the term ended, or the replicator stops). */
void bk_repl_topics_fail(bk_replicator_t *r, int status);

/* follower.c */
void bk_repl_follow(bk_replicator_t *r, const char *url, int64_t epoch);
void bk_repl_unfollow(bk_replicator_t *r);
void bk_repl_follower_refresh_hw(bk_replicator_t *r, part_t *part, bk_partition_t *p);

#endif
