/* Consumer groups (DESIGN.md §10), the pure core: Kafka's partition assignors, the consumer
 * protocol's Subscription/Assignment bytes, and the group coordinator as a state machine.
 * Nothing here does I/O or reads a clock: time comes in as `now_ms` (epoch milliseconds, the
 * caller passes bk_wall_ms()), randomness and topic metadata through callbacks, and every
 * reaction comes back as a list of actions (answer this pending request, persist the group,
 * this member was removed) that the front end (REST Proxy instances, Kafka group APIs) carries
 * out. The store side (the __consumer_offsets records, replay, expiry) is groups_store.h. */
#ifndef BROOK_GROUPS_H
#define BROOK_GROUPS_H

#include <stddef.h>
#include <stdint.h>

/* Kafka's error codes, with Kafka's numbers, so a Kafka front end can send them as they are.
 * Functions below return one of these (>= 0) for protocol outcomes and a negative code
 * (UV_ENOMEM, BK_EINVAL, UV_EEXIST) for local failures. */
enum {
    BK_GRP_ERR_NONE = 0,
    BK_GRP_ERR_COORDINATOR_LOAD_IN_PROGRESS = 14,
    BK_GRP_ERR_COORDINATOR_NOT_AVAILABLE = 15,
    BK_GRP_ERR_NOT_COORDINATOR = 16,
    BK_GRP_ERR_ILLEGAL_GENERATION = 22,
    BK_GRP_ERR_INCONSISTENT_GROUP_PROTOCOL = 23,
    BK_GRP_ERR_UNKNOWN_MEMBER_ID = 25,
    BK_GRP_ERR_INVALID_SESSION_TIMEOUT = 26,
    BK_GRP_ERR_REBALANCE_IN_PROGRESS = 27,
    BK_GRP_ERR_NON_EMPTY_GROUP = 68,
    BK_GRP_ERR_GROUP_ID_NOT_FOUND = 69,
    BK_GRP_ERR_MEMBER_ID_REQUIRED = 79,
    BK_GRP_ERR_GROUP_MAX_SIZE_REACHED = 81,
};

/* Kafka's name for a code above ("REBALANCE_IN_PROGRESS"), "UNKNOWN" otherwise. */
const char *bk_grp_errname(int code);

/* ---------- Assignments (src/groups/assignment.c) ---------- */

/* The partitions of one topic given to one member, ascending. */
typedef struct {
    char *topic;
    int32_t *partitions;
    size_t count, cap;
} bk_grp_tparts_t;

/* One member's assignment: topics in Java String order, each once. Owns its memory. */
typedef struct {
    bk_grp_tparts_t *topics;
    size_t count, cap;
} bk_grp_assignment_t;

/* Appends partition of topic (kept sorted: topic in Java order, partitions ascending; a
 * duplicate is ignored). Returns 0 or UV_ENOMEM. */
int bk_grp_assignment_add(bk_grp_assignment_t *a, const char *topic, int32_t partition);
/* Number of topic-partitions. */
size_t bk_grp_assignment_size(const bk_grp_assignment_t *a);
/* 1 when a holds topic-partition (topic, partition). */
int bk_grp_assignment_has(const bk_grp_assignment_t *a, const char *topic, int32_t partition);
void bk_grp_assignment_free(bk_grp_assignment_t *a);

/* Java's String.compareTo on UTF-8 strings: UTF-16 code unit order (so a character above
 * U+FFFF sorts before U+E000..U+FFFF, unlike strcmp). Kafka sorts members and topics so. */
int bk_grp_java_strcmp(const char *a, const char *b);

/* ---------- Assignors (src/groups/assign_range.c, assign_roundrobin.c) ----------
 *
 * Exactly Kafka's Java client (RangeAssignor, RoundRobinAssignor), without racks:
 *   range       per topic: its partitions ascending, the members subscribed to it sorted;
 *               with P partitions and M members each gets P/M consecutive partitions and the
 *               first P mod M members one more.
 *   roundrobin  every partition of every subscribed topic, sorted by topic then partition,
 *               dealt to the sorted members in turn, skipping members not subscribed to its
 *               topic.
 * Members sort by group_instance_id when both have one, members with one before those
 * without, else by member_id (Java String order). A topic whose partition count is unknown
 * (callback answers < 0) or 0 is not assigned. */

typedef struct {
    const char *member_id;
    const char *group_instance_id; /* NULL: none (dynamic member) */
    const char *const *topics;     /* subscription */
    size_t topic_count;
} bk_grp_assign_member_t;

/* Partition count of topic, or -1 when the topic does not exist. */
typedef int32_t (*bk_grp_partitions_fn)(void *ctx, const char *topic);

/* Runs assignor "range" or "roundrobin" over n members; out[i] (n zeroed assignments, freed
 * by the caller with bk_grp_assignment_free) receives members[i]'s partitions. Returns 0,
 * BK_EINVAL for an unknown assignor name or a duplicate member id, or UV_ENOMEM (out is then
 * freed and zeroed). */
int bk_grp_assign(const char *assignor, const bk_grp_assign_member_t *members, size_t n,
                  bk_grp_partitions_fn partitions, void *ctx, bk_grp_assignment_t *out);

/* 1 for the names bk_grp_assign knows. */
int bk_grp_assignor_known(const char *assignor);

/* ---------- Consumer protocol bytes (src/groups/consumer_protocol.c) ----------
 *
 * The "consumer" protocol type's member metadata (Subscription) and assignment (Assignment),
 * big-endian as Kafka's ConsumerProtocol: Subscription = int16 version, int32 count +
 * strings (int16 length + UTF-8) of topics, nullable bytes (int32 length, -1 null) user_data,
 * then fields of later versions (ignored when read). Assignment = int16 version, int32 count
 * of (string topic, int32 count + int32 partitions), nullable bytes user_data, then later
 * fields. We write version 0. Server-side members (REST Proxy instances) carry their instance
 * definition, opaque to this layer, in the Subscription's user_data. */

typedef struct {
    uint8_t *data;
    size_t len, cap;
} bk_grp_buf_t;

void bk_grp_buf_free(bk_grp_buf_t *b);

/* Appends a version 0 Subscription. user_data NULL = null. Returns 0, BK_EINVAL (a topic
 * longer than 32767 bytes, not UTF-8, or empty) or UV_ENOMEM. */
int bk_grp_subscription_encode(bk_grp_buf_t *b, const char *const *topics, size_t n,
                               const uint8_t *user_data, size_t user_data_len);

typedef struct {
    int16_t version;
    char **topics; /* sorted in Java order, without duplicates */
    size_t topic_count;
    uint8_t *user_data; /* NULL when null */
    size_t user_data_len;
    int has_user_data;
} bk_grp_subscription_t;

/* Decodes untrusted Subscription bytes (any version >= 0; fields after user_data ignored).
 * Returns 0, BK_ECORRUPT (truncated, negative version or length, topic not UTF-8 or with NUL)
 * or UV_ENOMEM. Free with bk_grp_subscription_free (also safe on a failed decode). */
int bk_grp_subscription_decode(const uint8_t *p, size_t len, bk_grp_subscription_t *out);
void bk_grp_subscription_free(bk_grp_subscription_t *s);

/* Appends a version 0 Assignment of a with null user_data. */
int bk_grp_assignment_encode(bk_grp_buf_t *b, const bk_grp_assignment_t *a);
/* Decodes untrusted Assignment bytes; an empty input is an empty assignment (what Kafka
 * gives a member the leader left out). Errors as bk_grp_subscription_decode. */
int bk_grp_assignment_decode(const uint8_t *p, size_t len, bk_grp_assignment_t *out);

/* ---------- The coordinator of one group (src/groups/coordinator*.c) ----------
 *
 * States as Kafka's GroupCoordinator (classic protocol):
 *
 *   Empty ──join──▶ PreparingRebalance ──all joined / rebalance timeout──▶ CompletingRebalance
 *     ▲                 ▲    │ (no member left: Empty)                          │ leader's
 *     │                 │    ▼                                                  │ assignment
 *     │                 └── join, leave, expiry, subscription or partitions ◀── Stable ◀┘ persisted
 *   Dead (deleted; every request COORDINATOR_NOT_AVAILABLE)
 *
 * Two kinds of group, fixed while the group has members:
 *   client  Kafka consumers: members join and sync through requests held pending (each
 *           carries the caller's token); the leader's SyncGroup supplies the assignment.
 *   server  REST Proxy consumer instances: the broker is their client, so a rebalance does
 *           not wait for anyone: it completes at once and the coordinator runs the assignor
 *           (config server_assignor) itself; each instance sees its new assignment on its next
 *           request. Their session timeout is the instance idle timeout; any request on the
 *           instance is a heartbeat (bk_grp_touch).
 * A rebalance's result is in effect once persisted: PERSIST asks the caller to write the
 * group record (bk_grp_snapshot + groups_store.h) and call bk_grp_persist_done. */

typedef enum {
    BK_GRP_EMPTY = 0,
    BK_GRP_PREPARING_REBALANCE,
    BK_GRP_COMPLETING_REBALANCE,
    BK_GRP_STABLE,
    BK_GRP_DEAD,
} bk_grp_state_t;

/* "Empty", "PreparingRebalance", ... (Kafka's names). */
const char *bk_grp_state_name(bk_grp_state_t s);

typedef enum { BK_GRP_KIND_CLIENT = 0, BK_GRP_KIND_SERVER = 1 } bk_grp_kind_t;

typedef struct {
    char *name;
    uint8_t *metadata;
    size_t metadata_len;
} bk_grp_protocol_t;

/* A member. Readable by the front end; written only by the coordinator. */
typedef struct {
    char *member_id;
    char *group_instance_id; /* always NULL: static membership is not implemented */
    char *client_id, *client_host;
    int32_t session_timeout_ms, rebalance_timeout_ms;
    bk_grp_protocol_t *protocols; /* in the member's order of preference */
    size_t protocol_count;
    char **topics; /* subscription when the metadata parsed as a Subscription, sorted */
    size_t topic_count;
    uint8_t *assignment; /* this generation's (Assignment bytes), NULL before sync */
    size_t assignment_len;
    int64_t session_deadline_ms;
    int awaiting_join, awaiting_sync; /* a request is pending (tokens below) */
    uint64_t join_token, sync_token;
    int pending_sync; /* got its join answer this generation, has not sent SyncGroup yet */
    int is_new;
} bk_grp_member_t;

/* Kafka's JoinGroup v4+ two-step join: the id handed out with MEMBER_ID_REQUIRED. */
typedef struct {
    char *member_id;
    int64_t deadline_ms;
} bk_grp_pending_t;

typedef struct {
    int32_t min_session_timeout_ms;     /* 6000, Kafka's group.min.session.timeout.ms */
    int32_t max_session_timeout_ms;     /* 1800000, group.max.session.timeout.ms */
    int32_t initial_rebalance_delay_ms; /* 3000, group.initial.rebalance.delay.ms (client kind) */
    uint32_t max_size;                  /* group.max.size; 0 = unlimited */
    const char *server_assignor;        /* "range": what server-kind groups run */
    uint64_t (*random)(void *ctx);      /* member ids; required */
    bk_grp_partitions_fn partitions;    /* topic metadata; required */
    void *ctx;
} bk_grp_config_t;

void bk_grp_config_default(bk_grp_config_t *cfg);

typedef struct {
    char *group_id;
    bk_grp_config_t cfg;
    bk_grp_state_t state;
    bk_grp_kind_t kind;
    char *protocol_type; /* NULL while Empty and never joined */
    char *protocol;      /* selected protocol (assignor name), NULL while Empty */
    char *leader_id;     /* NULL when no member */
    int32_t generation;
    int64_t state_since_ms;    /* when the current state began (Kafka's currentStateTimestamp) */
    bk_grp_member_t **members; /* in join order */
    size_t member_count, member_cap;
    bk_grp_pending_t *pending;
    size_t pending_count, pending_cap;
    int64_t join_deadline_ms; /* PreparingRebalance: the rebalance timeout */
    int64_t delay_until_ms;   /* initial rebalance delay: 0 when not delaying */
    int64_t delay_max_ms;     /* the delay never extends past this */
    int64_t sync_deadline_ms; /* members that have not synced by then are removed */
    int persist_wait;         /* CompletingRebalance: the assignment is being persisted */
    char **counted_topics;    /* subscribed topics and their partition counts at the last */
    int32_t *counted_parts;   /* completed join (partition changes trigger a rebalance) */
    size_t counted_count;
} bk_grp_t;

/* ----- Actions: what the caller must do after each call ----- */

typedef enum {
    BK_GRP_ACT_JOIN,    /* answer the pending JoinGroup `token` */
    BK_GRP_ACT_SYNC,    /* answer the pending SyncGroup `token` */
    BK_GRP_ACT_PERSIST, /* write the group record of `generation`, then bk_grp_persist_done */
    BK_GRP_ACT_REMOVED, /* member_id left the group (reason); its instance, if any, is gone */
    BK_GRP_ACT_STABLE,  /* generation's assignment is in effect (members[].assignment) */
} bk_grp_act_kind_t;

typedef enum {
    BK_GRP_GONE_LEFT = 1,     /* LeaveGroup / instance deleted */
    BK_GRP_GONE_EXPIRED,      /* session timeout (instance idle timeout) */
    BK_GRP_GONE_NOT_REJOINED, /* did not rejoin within the rebalance timeout */
    BK_GRP_GONE_NOT_SYNCED,   /* did not sync within the rebalance timeout */
    BK_GRP_GONE_DELETED,      /* the group was deleted */
} bk_grp_gone_t;

typedef struct {
    char *member_id;
    char *group_instance_id;
    uint8_t *metadata;
    size_t metadata_len;
} bk_grp_join_member_t;

/* One action; every pointer is owned by the action list (copies). */
typedef struct {
    bk_grp_act_kind_t kind;
    uint64_t token;
    int error; /* JOIN, SYNC: Kafka error code */
    char *member_id;
    int32_t generation;
    char *protocol_type, *protocol; /* JOIN (NULL on error) */
    char *leader_id;                /* JOIN */
    bk_grp_join_member_t *members;  /* JOIN answer to the leader: everyone's metadata */
    size_t member_count;
    uint8_t *assignment; /* SYNC */
    size_t assignment_len;
    bk_grp_gone_t reason; /* REMOVED */
} bk_grp_action_t;

/* Actions in the order they happened. lost != 0: memory ran out while recording one; the
 * caller should fail every request it holds pending for this group (and reload it). */
typedef struct {
    bk_grp_action_t *items;
    size_t count, cap;
    int lost;
} bk_grp_out_t;

/* Frees the actions' contents and empties the list (keeps it usable). */
void bk_grp_out_clear(bk_grp_out_t *out);
void bk_grp_out_free(bk_grp_out_t *out);

/* ----- Lifecycle ----- */

/* A new Empty group, generation 0. cfg is copied (its strings must outlive the group).
 * Returns 0, BK_EINVAL (empty id, missing callbacks) or UV_ENOMEM. */
int bk_grp_init(bk_grp_t *g, const char *group_id, const bk_grp_config_t *cfg, int64_t now_ms);
void bk_grp_free(bk_grp_t *g);

/* ----- Client kind (Kafka group APIs) ----- */

typedef struct {
    const char *name;
    const uint8_t *metadata;
    size_t metadata_len;
} bk_grp_protocol_in_t;

typedef struct {
    uint64_t token;        /* the caller's handle of this request */
    const char *member_id; /* NULL or "": a new member */
    const char *client_id, *client_host;
    int32_t session_timeout_ms, rebalance_timeout_ms;
    const char *protocol_type; /* "consumer" */
    const bk_grp_protocol_in_t *protocols;
    size_t protocol_count;
    int require_known_member_id; /* JoinGroup v4+: a new member first gets MEMBER_ID_REQUIRED */
} bk_grp_join_req_t;

/* JoinGroup. The answer is a JOIN action for req->token, now in out or later (when the
 * rebalance completes, or fails). Returns 0 or UV_ENOMEM (nothing answered). */
int bk_grp_join(bk_grp_t *g, int64_t now_ms, const bk_grp_join_req_t *req, bk_grp_out_t *out);

typedef struct {
    const char *member_id;
    const uint8_t *assignment;
    size_t assignment_len;
} bk_grp_assign_in_t;

typedef struct {
    uint64_t token;
    const char *member_id;
    int32_t generation;
    const char *protocol_type, *protocol;  /* NULL: not checked (SyncGroup < v5) */
    const bk_grp_assign_in_t *assignments; /* the leader's plan, else ignored */
    size_t assignment_count;
} bk_grp_sync_req_t;

/* SyncGroup: the answer is a SYNC action for req->token, now or later. */
int bk_grp_sync(bk_grp_t *g, int64_t now_ms, const bk_grp_sync_req_t *req, bk_grp_out_t *out);

/* Heartbeat: NONE (session renewed), REBALANCE_IN_PROGRESS (renewed; rejoin),
 * ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID or COORDINATOR_NOT_AVAILABLE (Dead). */
int bk_grp_heartbeat(bk_grp_t *g, int64_t now_ms, const char *member_id, int32_t generation);

/* ----- Server kind (REST Proxy instances) ----- */

/* client_host of server-side members, so a group record tells their kind. */
#define BK_GRP_SERVER_HOST "brook-server"

/* Adds a server-side member subscribed to topics (may be empty) and rebalances at once.
 * member_id NULL: "<client_id>-<uuid>" is generated. user_data: the instance definition,
 * kept in its Subscription. *id_out (may be NULL) points at the member's id (valid while it
 * is a member). Returns NONE, INCONSISTENT_GROUP_PROTOCOL (a client-kind group with members),
 * GROUP_MAX_SIZE_REACHED, COORDINATOR_NOT_AVAILABLE (Dead), UV_EEXIST (id taken), BK_EINVAL
 * (bad topic name) or UV_ENOMEM. */
int bk_grp_server_join(bk_grp_t *g, int64_t now_ms, const char *member_id, const char *client_id,
                       int32_t session_timeout_ms, const char *const *topics, size_t topic_count,
                       const uint8_t *user_data, size_t user_data_len, const char **id_out,
                       bk_grp_out_t *out);

/* Replaces a server member's subscription (empty = unsubscribe); rebalances when it changed.
 * NONE, UNKNOWN_MEMBER_ID, BK_EINVAL or UV_ENOMEM. */
int bk_grp_server_subscribe(bk_grp_t *g, int64_t now_ms, const char *member_id,
                            const char *const *topics, size_t topic_count, bk_grp_out_t *out);

/* Replaces a server member's user_data (its instance definition) in its Subscription, topics
 * unchanged; no rebalance (the caller persists the group record). Returns 1 when it changed,
 * 0 (NONE) when it was already so, UNKNOWN_MEMBER_ID or UV_ENOMEM. */
int bk_grp_server_set_user_data(bk_grp_t *g, const char *member_id, const uint8_t *user_data,
                                size_t user_data_len);

/* Renews member_id's session (any request of a server member). NONE or UNKNOWN_MEMBER_ID. */
int bk_grp_touch(bk_grp_t *g, int64_t now_ms, const char *member_id);

/* ----- Both kinds ----- */

/* The member's index in g->members, or -1. */
int bk_grp_member_find(const bk_grp_t *g, const char *member_id);

/* LeaveGroup for one member (also a pending MEMBER_ID_REQUIRED id): NONE, UNKNOWN_MEMBER_ID
 * or COORDINATOR_NOT_AVAILABLE. Its pending requests get UNKNOWN_MEMBER_ID. */
int bk_grp_leave(bk_grp_t *g, int64_t now_ms, const char *member_id, bk_grp_out_t *out);

/* The caller persisted (ok = 1) or failed to persist (ok = 0) the group record of
 * generation. On success a CompletingRebalance of that generation becomes Stable and the
 * pending syncs are answered; on failure they get COORDINATOR_NOT_AVAILABLE and the group
 * rebalances again. Stale generations are ignored. */
void bk_grp_persist_done(bk_grp_t *g, int64_t now_ms, int32_t generation, int ok,
                         bk_grp_out_t *out);

/* Topic metadata changed somewhere: when a subscribed topic's partition count differs from
 * the last completed join's, rebalance. Returns 1 when a rebalance began, 0 otherwise, or
 * UV_ENOMEM. */
int bk_grp_metadata_changed(bk_grp_t *g, int64_t now_ms, bk_grp_out_t *out);

/* DeleteGroups: Empty → Dead (NONE); NON_EMPTY_GROUP otherwise; Dead: GROUP_ID_NOT_FOUND. */
int bk_grp_delete(bk_grp_t *g);

/* Timers: session expiry, the rebalance (join) timeout, the initial delay, the sync timeout
 * and pending member ids, all due at or before now_ms. Returns the next deadline (epoch ms)
 * or INT64_MAX when none. */
int64_t bk_grp_tick(bk_grp_t *g, int64_t now_ms, bk_grp_out_t *out);

#endif
