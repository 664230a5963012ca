/* Consumer groups over HTTP (README "Consumer groups"): REST Proxy v2 consumer instances as
 * server-side members of groups run by the pure coordinator (brook/groups.h), their committed
 * offsets and group records kept in the internal compacted topic __consumer_offsets
 * (brook/groups_store.h) written with acks=all. All of it lives on the leader: a follower
 * forwards every /consumers request (dispatch.c). Private to src/api/consumers*.c and
 * groups_store.c; the broker sees only the entry points at the end.
 *
 * Ownership: bk_consumers_t owns every group, instance and parked records request. An
 * instance is freed when deleted (DELETE, idle expiry, reload); a parked request of it is
 * answered first. */
#ifndef BROOK_API_CONSUMERS_H
#define BROOK_API_CONSUMERS_H

#include <regex.h>
#include <stdint.h>
#include <uv.h>
#include <yajl/yajl_tree.h>

#include "api/broker.h"
#include "brook/groups.h"
#include "brook/groups_service.h"
#include "brook/groups_store.h"

#define BK_CONS_NAME_MAX 200 /* group and instance names: [A-Za-z0-9._-]{1,200} */

enum { BK_CONS_RESET_EARLIEST = 0, BK_CONS_RESET_LATEST, BK_CONS_RESET_NONE };
enum { BK_CONS_MODE_NONE = 0, BK_CONS_MODE_SUBSCRIBED, BK_CONS_MODE_ASSIGNED };

/* The definition of an instance: what POST /consumers/{g} set. Persisted in the member's
 * Subscription user_data (a small JSON object) so an instance survives a failover. */
typedef struct {
    char name[BK_CONS_NAME_MAX + 1];
    int format; /* BK_FMT_BINARY or BK_FMT_JSON */
    int reset;  /* BK_CONS_RESET_* */
    int auto_commit;
    int64_t fetch_min_bytes;
    int64_t request_timeout_ms;
} bk_cons_def_t;

/* Where an instance is in one partition. */
typedef struct {
    char *topic;
    int32_t partition;
    int64_t position;       /* next offset to return; -1: not known yet (committed, else reset) */
    int64_t consumed;       /* offset after the last record returned to the client; -1: none */
    int64_t committed_sent; /* consumed value last auto-committed (-1: none) */
} bk_cons_pos_t;

typedef struct bk_cons_group bk_cons_group_t;
typedef struct bk_cons_poll bk_cons_poll_t;

typedef struct bk_cons_inst {
    bk_cons_group_t *group;
    bk_cons_def_t def;
    int mode;                   /* BK_CONS_MODE_* */
    char *pattern;              /* topic_pattern of the subscription, or NULL */
    regex_t re;                 /* compiled pattern (when pattern != NULL) */
    bk_grp_assignment_t manual; /* assignments POST */
    bk_cons_pos_t *pos;
    size_t pos_count, pos_cap;
    int32_t seen_generation; /* the group generation pos was last pruned for */
    uint32_t rr;             /* partition to start the next read at */
    bk_cons_poll_t *poll;    /* a records request waiting for data */
    int v1;                  /* has read through the v1 route: v1 answers (consumers_v1.c) */
    struct bk_cons_inst *next;
} bk_cons_inst_t;

/* A request answered only once the group record holding its change is acknowledged. */
typedef struct bk_cons_waiter {
    bk_exchange_t *ex;
    uint64_t need; /* cg->changes value that must be durable */
    char *inst;    /* created instance (answered 200 with its URI), or NULL (answered 204) */
    struct bk_cons_waiter *next;
} bk_cons_waiter_t;

struct bk_cons_group {
    bk_grp_t g;
    int persisting;    /* a group record write is in flight */
    int deleting;      /* DELETE /consumers/{g}: its tombstones are being written */
    uint64_t changes;  /* bumped at each change the group record must show */
    uint64_t inflight; /* changes the write in flight covers */
    uint64_t written;  /* changes the last acknowledged write covered */
    bk_cons_waiter_t *waiters;
    bk_cons_inst_t *insts;
    bk_cons_group_t *next;
};

/* Per-group counters for /metrics (kept while the group exists in the store or live). */
typedef struct bk_cons_gstat {
    char *group;
    uint64_t commits, rebalances;
    struct bk_cons_gstat *next;
} bk_cons_gstat_t;

struct bk_consumers {
    bk_broker_t *b;
    bk_cons_group_t *groups;
    bk_grp_store_t store; /* what __consumer_offsets holds (acknowledged records) */
    int loaded;           /* store and groups rebuilt for loaded_epoch */
    int64_t loaded_epoch;
    uint64_t era;    /* bumped at each reload: completions of an older era are dropped */
    uv_timer_t tick; /* coordinator timers (instance idle expiry) */
    uint32_t instance_timeout_ms;
    int64_t retention_ms;
    uint32_t partitions; /* of __consumer_offsets when created here */
    int stopped;
    /* counters for /metrics */
    int64_t next_expiry_ms; /* when offsets expiry runs next */
    uint64_t commits, rebalances, records_out, expired;
    bk_cons_gstat_t *stats;   /* per-group counters (consumers_metrics.c) */
    bk_gsvc_answer_fn answer; /* the Kafka listener's JoinGroup/SyncGroup answers */
    void *answer_arg;
    struct bk_gstore_op *writing; /* writes to __consumer_offsets not yet acknowledged */
};

/* ---- groups_store.c: the __consumer_offsets I/O shell ---- */

/* The gate of every group request: this broker leads (else redirect, proxy or 503: that
 * answer is made here) and has replayed __consumer_offsets for its term (replay runs here when
 * needed; 503 retriable when it cannot). Returns 1 when the request may go on. */
int bk_gstore_ready(bk_consumers_t *c, bk_exchange_t *ex);

/* Appends the records of group (keys and values as encoded; value NULL = tombstone) to its
 * partition of __consumer_offsets with acks=all, creating the topic first if needed. Returns
 * 0 when done will run (exactly once, never from inside this call): done(arg, 0) once
 * acknowledged, the records then applied to c->store; done(arg, error) when the outcome is
 * unknown. Returns a negative error when nothing was written (done never runs): too few
 * in-sync replicas (UV_EAGAIN), not leading, closing, ENOMEM. */
typedef void (*bk_gstore_done_fn)(void *arg, int status);
int bk_gstore_write(bk_consumers_t *c, const char *group, const bk_grp_kvs_t *recs,
                    bk_gstore_done_fn done, void *arg);

/* 1 while a write of group's records (of any era) is appended but not yet acknowledged or
 * failed: a deletion or expiry computed from c->store would miss what it writes. */
int bk_gstore_writing(const bk_consumers_t *c, const char *group);

/* bk_gstore_ready without an exchange (the Kafka listener's gate): 0, or the Kafka error
 * code to answer (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE). */
int bk_gstore_ready_code(bk_consumers_t *c);

/* 1 when name is the internal topic. */
int bk_gstore_is_internal(const char *name, size_t len);

/* ---- consumers.c: registry, actions, reload ---- */

bk_cons_group_t *bk_cons_group_find(bk_consumers_t *c, const char *name, size_t len);
/* The group, made (Empty) when missing. NULL on ENOMEM. */
bk_cons_group_t *bk_cons_group_get(bk_consumers_t *c, const char *name, size_t len);
bk_cons_inst_t *bk_cons_inst_find(bk_cons_group_t *cg, const char *name, size_t len);
/* Looks up the route's instance; answers 404 40403 and returns NULL when unknown. Renews its
 * idle time. */
bk_cons_inst_t *bk_cons_inst_lookup(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r);
/* Carries out the coordinator's actions (persist group records, drop removed instances). */
void bk_cons_act(bk_consumers_t *c, bk_cons_group_t *cg, bk_grp_out_t *out);
/* Rebuilds the groups and instances from c->store (after a replay). */
int bk_cons_rebuild(bk_consumers_t *c);
/* Frees every group and instance (parked requests answered 503). */
void bk_cons_drop_all(bk_consumers_t *c);
/* The instance's partitions now: manual, or the group's assignment once in effect (Stable);
 * empty otherwise. Fills out (zeroed by the caller). */
int bk_cons_assignment(bk_cons_inst_t *in, bk_grp_assignment_t *out);
/* The position entry of (topic, partition), made when missing (NULL on ENOMEM). */
bk_cons_pos_t *bk_cons_pos(bk_cons_inst_t *in, const char *topic, int32_t partition);
/* Answers 403 and returns 0 when the user running the request may not read topic. */
int bk_cons_may_read(bk_consumers_t *c, bk_exchange_t *ex, const char *topic);
/* Sets the consumer API's Content-Type on ex's JSON answers. */
void bk_cons_json_type(bk_exchange_t *ex);
/* Answers 204 with no body. */
void bk_cons_no_content(bk_exchange_t *ex);
/* Answers 503 for an error of bk_gstore_write (or another write failure). */
void bk_cons_write_failed(bk_exchange_t *ex, int status);
/* Validates a group or instance name; answers 422 42204 and returns 0 when bad. */
int bk_cons_name_ok(bk_exchange_t *ex, const char *what, const char *s, size_t len);

/* ---- handlers: consumers_instances.c, consumers_offsets.c, consumers_records.c,
 * consumers_views.c ---- */
void bk_cons_create(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r);
void bk_cons_delete(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r);
void bk_cons_subscription(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r);
void bk_cons_assignments(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r);
void bk_cons_offsets(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r);
void bk_cons_positions(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r);
void bk_cons_records(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r);
void bk_cons_views(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r);
/* Deletes an instance: its parked request answered, left the group (actions carried out). */
void bk_cons_inst_delete(bk_consumers_t *c, bk_cons_inst_t *in);
/* Frees an instance already unlinked from its group and out of the coordinator. */
void bk_cons_inst_free(bk_cons_inst_t *in);
/* Parked records requests: wake those that may now be answered (p NULL: every one of cg, or
 * every one when cg is NULL too); answer and drop the one of in. */
void bk_cons_polls_wake(bk_consumers_t *c, bk_cons_group_t *cg, bk_partition_t *p);
void bk_cons_poll_cancel(bk_cons_inst_t *in);
/* One read of an instance's records: at most max_bytes, answered as type (a string literal;
 * NULL: the v2 type of the instance's format), records in v1's shape when v1 is set. */
typedef struct {
    size_t max_bytes;
    const char *type;
    int v1;
} bk_cons_read_t;
/* Answers ex with the instance's records now, or parks it until records arrive or timeout_ms
 * passes (then answers what there is). The caller has made its checks (Accept, query). */
void bk_cons_read(bk_consumers_t *c, bk_cons_inst_t *in, bk_exchange_t *ex,
                  const bk_cons_read_t *rq, int64_t timeout_ms);
/* Commits offsets of an instance's records returned so far (empty-body commit, auto-commit).
 * Fills recs; 0 or UV_ENOMEM. */
int bk_cons_consumed_records(bk_cons_inst_t *in, bk_grp_kvs_t *recs);
int bk_cons_offset_record(bk_grp_kvs_t *recs, const char *group, const char *topic,
                          int32_t partition, int64_t offset, const char *metadata);

/* Sets (pattern non-NULL) or clears in's topic_pattern, anchored and compiled as a POSIX
 * extended regular expression. 0, BK_EINVAL (not a valid expression: in unchanged but for
 * its old pattern, cleared) or UV_ENOMEM. */
int bk_cons_pattern_set(bk_cons_inst_t *in, const char *pattern);
/* Re-resolves the topic_pattern subscriptions of cg's instances (topics made or deleted). */
void bk_cons_patterns_refresh(bk_consumers_t *c, bk_cons_group_t *cg);
/* Auto-commit (auto.commit.enable): commits what in returned since its last auto-commit,
 * without waiting for the answer. */
void bk_cons_auto_commit(bk_consumers_t *c, bk_cons_inst_t *in);

/* Marks a change of cg that its group record must show and writes the record (one write in
 * flight per group; a change made meanwhile is written when it completes). */
void bk_cons_changed(bk_consumers_t *c, bk_cons_group_t *cg);
/* Answers ex once the group record holding cg's changes so far is acknowledged: 200 with
 * the instance's URI when inst names the instance just created (a failure then deletes it and
 * answers 503), else 204 (a failure: 500, the change is in effect here but maybe not durable).
 * Answers at once when the write cannot start. */
void bk_cons_await_durable(bk_consumers_t *c, bk_cons_group_t *cg, bk_exchange_t *ex,
                           const char *inst);
/* Unlinks and frees a group (waiters answered 503, instances freed). */
void bk_cons_group_drop(bk_consumers_t *c, bk_cons_group_t *cg);
/* Re-encodes in's definition (format, config, topic_pattern, manual assignment) into its
 * member's user_data; marks the group changed when it differs. 0 or UV_ENOMEM. */
int bk_cons_inst_save(bk_consumers_t *c, bk_cons_inst_t *in);
/* The instance definition as stored in user_data (malloc'd JSON text in *out). */
int bk_cons_def_encode(const bk_cons_inst_t *in, char **out, size_t *len);
/* Answers 200 {"instance_id","base_uri"}. */
void bk_cons_answer_created(bk_consumers_t *c, bk_exchange_t *ex, bk_cons_group_t *cg,
                            const char *name);

/* ---- consumers_admin.c: POST /consumers/{g}/offsets, DELETE /consumers/{g} ---- */
/* Answers 500: a write to __consumer_offsets ended with status after it was sent, so what
 * (e.g. "commit") may or may not have taken effect. */
void bk_cons_outcome_unknown(bk_exchange_t *ex, int status, const char *what);
void bk_cons_group_commit(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r);
void bk_cons_group_delete(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r);

/* ---- consumers_metrics.c ---- */
/* The counters of group (made when missing; NULL on ENOMEM). */
bk_cons_gstat_t *bk_cons_stat(bk_consumers_t *c, const char *group);
void bk_cons_stat_forget(bk_consumers_t *c, const char *group);
void bk_cons_stats_free(bk_consumers_t *c);
/* Counts the acknowledged records of group (commits: writes that hold offsets). */
void bk_cons_stat_written(bk_consumers_t *c, const char *group, const bk_grp_kvs_t *recs);
/* ---- consumers_v1.c: the REST Proxy v1 deltas ---- */

/* 1 when ex speaks v1: its Content-Type is a v1 type, or its Accept prefers one. */
int bk_cons_v1_request(bk_exchange_t *ex);
/* auto.offset.reset of either version (v1 smallest/largest, v2 earliest/latest/none) to a
 * BK_CONS_RESET_* value; -1 when unknown. */
int bk_cons_v1_reset(const char *s);
/* The instance name of POST /consumers/{g}: "name", or v1's "id" (both: they must agree).
 * *name NULL when neither is given. Returns 1, or 0 when answered (422 42204). */
int bk_cons_v1_name(bk_exchange_t *ex, yajl_val root, const char **name);
/* GET .../instances/{i}/topics/{t}: the first read subscribes the instance to {t}; another
 * topic later is 409 40901. Answers v1's record array. */
void bk_cons_v1_consume(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r);
/* POST .../offsets with no body from a v1 client: commits what was returned and answers
 * [{"topic","partition","consumed","committed"}]. */
void bk_cons_v1_commit(bk_consumers_t *c, bk_exchange_t *ex, bk_cons_inst_t *in);

/* ---- the broker's entry points ---- */
int bk_consumers_new(bk_broker_t *b, uint32_t instance_timeout_ms, int64_t retention_ms,
                     bk_consumers_t **out);
void bk_consumers_route(bk_broker_t *b, bk_exchange_t *ex, const bk_route_t *r);
void bk_consumers_on_visible(bk_broker_t *b, bk_partition_t *p);
/* The coordinator and store as another front end reaches them (consumers_service.c). */
void bk_consumers_service(bk_consumers_t *c, bk_groups_service_t *out);
/* SIGTERM: answers parked requests, stops the timer (closing it). */
void bk_consumers_stop(bk_broker_t *b);
/* Appends the per-group lines of /metrics (members, generation, state, rebalances, commits,
 * lag per partition) to out: on the broker that coordinates the groups, nothing elsewhere. */
void bk_consumers_metrics(bk_broker_t *b, bk_buf_t *out);
/* After the loop ended: frees everything. */
void bk_consumers_free(bk_consumers_t *c);

#endif
