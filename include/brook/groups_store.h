/* Consumer groups, the store side (pure): the key/value records of the internal compacted
 * topic __consumer_offsets, an in-memory model of what they hold (rebuilt by replaying them,
 * later records winning, tombstones deleting), the choice of offsets to expire, and the
 * bridge between a live group (bk_grp_t) and its group record. No I/O: the caller writes
 * and reads the topic (acks=all) and feeds the records here.
 *
 * Record format: Kafka's own layout for __consumer_offsets (big-endian; STRING = int16
 * length + UTF-8, NULLABLE_STRING with -1 for null, BYTES = int32 length + bytes, arrays =
 * int32 count + items). Every key starts with an int16 version:
 *
 *   offset commit key, version 1 (0 read too):  group STRING, topic STRING, partition int32
 *   offset commit value, version 3:  int16 version, offset int64, leader_epoch int32
 *       (-1: unknown), metadata STRING, commit_timestamp int64 (epoch ms).
 *       Read too: v0 (offset, metadata, timestamp), v1 (+ expire_timestamp), v2 (as v0).
 *   group metadata key, version 2:  group STRING
 *   group metadata value, version 3:  int16 version, protocol_type STRING, generation int32,
 *       protocol NULLABLE_STRING, leader NULLABLE_STRING, current_state_timestamp int64
 *       (when the group entered its state, epoch ms; -1 unknown), members array of
 *       (member_id STRING, group_instance_id NULLABLE_STRING, client_id STRING,
 *       client_host STRING, rebalance_timeout int32, session_timeout int32, subscription
 *       BYTES, assignment BYTES). Read too: v0 (no rebalance_timeout, timestamp or instance
 *       id), v1 (+ rebalance_timeout), v2 (+ current_state_timestamp).
 *   tombstone: a key with a null value deletes what the key names.
 *
 * Decoding is strict (bytes from disk or a peer are untrusted): no trailing bytes, strings
 * UTF-8 without NUL, non-empty group, topic and member ids, partition >= 0, offset >= 0,
 * leader epoch >= -1, generation >= 0, member ids unique, and a group with members names a
 * protocol and a leader among them. Anything else is BK_ECORRUPT. */
#ifndef BROOK_GROUPS_STORE_H
#define BROOK_GROUPS_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "brook/groups.h"

#define BK_GRP_OFFSETS_TOPIC "__consumer_offsets"

/* 1 when name (len bytes) is BK_GRP_OFFSETS_TOPIC: only the coordinator creates, writes or
 * changes it (compacted, its partition count fixed: replay reads a group's records in order
 * only within the partition its key maps to). */
static inline int bk_grp_is_offsets_topic(const char *name, size_t len)
{
    return len == sizeof BK_GRP_OFFSETS_TOPIC - 1 &&
           memcmp(name, BK_GRP_OFFSETS_TOPIC, sizeof BK_GRP_OFFSETS_TOPIC - 1) == 0;
}

typedef struct {
    int64_t offset;
    int32_t leader_epoch; /* -1: unknown */
    char *metadata;       /* never NULL ("" when none) */
    int64_t commit_ms;
    int64_t expire_ms; /* v1 records only; -1 otherwise */
} bk_grp_offset_value_t;

typedef struct {
    char *member_id;
    char *group_instance_id; /* NULL: none */
    char *client_id, *client_host;
    int32_t rebalance_timeout_ms, session_timeout_ms;
    uint8_t *subscription; /* the selected protocol's metadata */
    size_t subscription_len;
    uint8_t *assignment;
    size_t assignment_len;
} bk_grp_meta_member_t;

typedef struct {
    char *protocol_type; /* never NULL ("" when none) */
    int32_t generation;
    char *protocol, *leader; /* NULL when none */
    int64_t state_ms;        /* current_state_timestamp */
    bk_grp_meta_member_t *members;
    size_t member_count;
} bk_grp_meta_t;

typedef enum { BK_GRP_REC_OFFSET = 1, BK_GRP_REC_GROUP = 2 } bk_grp_rec_kind_t;

/* One decoded record. Owns every string and buffer in it. */
typedef struct {
    bk_grp_rec_kind_t kind;
    char *group;
    char *topic; /* OFFSET */
    int32_t partition;
    int tombstone;
    bk_grp_offset_value_t offset; /* OFFSET, not a tombstone */
    bk_grp_meta_t meta;           /* GROUP, not a tombstone */
} bk_grp_record_t;

/* ----- Codec (src/groups/records_codec.c) ----- */

/* Appends an encoded key or value to b (see the format above). Return 0, BK_EINVAL (a field
 * the decoder would refuse) or UV_ENOMEM; b is unchanged on error. */
int bk_grp_offset_key_encode(bk_grp_buf_t *b, const char *group, const char *topic,
                             int32_t partition);
int bk_grp_offset_value_encode(bk_grp_buf_t *b, const bk_grp_offset_value_t *v);
int bk_grp_group_key_encode(bk_grp_buf_t *b, const char *group);
int bk_grp_group_value_encode(bk_grp_buf_t *b, const bk_grp_meta_t *m);

/* Decodes one record; value NULL is a tombstone. Returns 0, BK_ECORRUPT or UV_ENOMEM; rec
 * is zeroed on error. Free with bk_grp_record_free. */
int bk_grp_record_decode(const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
                         bk_grp_record_t *rec);
void bk_grp_record_free(bk_grp_record_t *rec);
void bk_grp_meta_free(bk_grp_meta_t *m);

/* ----- The store model and replay (src/groups/store.c) ----- */

typedef struct {
    char *topic;
    int32_t partition;
    bk_grp_offset_value_t v;
} bk_grp_offset_t;

/* What the records say about one group: its last group record and committed offsets. */
typedef struct {
    char *group;
    int has_meta;
    bk_grp_meta_t meta;
    bk_grp_offset_t *offsets; /* sorted by topic (bytes), then partition */
    size_t offset_count, offset_cap;
} bk_grp_image_t;

/* Groups sorted by id (bytes). A group with neither a record nor offsets is dropped. */
typedef struct {
    bk_grp_image_t *groups;
    size_t count, cap;
} bk_grp_store_t;

/* One raw record as read from (or to be written to) the topic; value NULL = tombstone. */
typedef struct {
    uint8_t *key;
    size_t key_len;
    uint8_t *value;
    size_t value_len;
} bk_grp_kv_t;

typedef struct {
    bk_grp_kv_t *items;
    size_t count, cap;
} bk_grp_kvs_t;

void bk_grp_kvs_free(bk_grp_kvs_t *l);

/* Applies one raw record: later records win, tombstones delete. Returns 0, BK_ECORRUPT (the
 * store unchanged) or UV_ENOMEM. */
int bk_grp_store_apply(bk_grp_store_t *s, const uint8_t *key, size_t key_len, const uint8_t *value,
                       size_t value_len);
/* Applies a decoded record, taking its contents (rec is zeroed). */
int bk_grp_store_apply_record(bk_grp_store_t *s, bk_grp_record_t *rec);
/* Replays records in log order into s. Records that do not decode are skipped and counted
 * in *skipped (may be NULL). Returns 0 or UV_ENOMEM. */
int bk_grp_store_replay(bk_grp_store_t *s, const bk_grp_kv_t *recs, size_t n, size_t *skipped);

const bk_grp_image_t *bk_grp_store_find(const bk_grp_store_t *s, const char *group);
const bk_grp_offset_t *bk_grp_image_offset(const bk_grp_image_t *img, const char *topic,
                                           int32_t partition);
void bk_grp_store_free(bk_grp_store_t *s);

/* ----- Expiry (src/groups/expiry.c) -----
 *
 * Kafka's rules (KIP-211), on the caller's clock, for --offsets-retention-ms:
 *   - a group with a group record and no members: once it has been empty for the retention
 *     (state_ms + retention <= now), all its offsets and its group record expire;
 *   - a group without a group record (commits only, e.g. the stateless read API): each offset
 *     expires retention after its commit (or at its v1 expire_timestamp);
 *   - a group with members never loses offsets here.
 * busy(ctx, group) (may be NULL) names groups whose live coordinator has members that the
 * store does not show yet; they are skipped. Appends the tombstones to write to out (keys
 * encoded, values NULL). Returns 0 or UV_ENOMEM. */
int bk_grp_store_expire(const bk_grp_store_t *s, int64_t now_ms, int64_t retention_ms,
                        int (*busy)(void *ctx, const char *group), void *ctx, bk_grp_kvs_t *out);

/* ----- Live group <-> group record (src/groups/group_image.c) ----- */

/* The group record of g now (members with their selected protocol's metadata). */
int bk_grp_snapshot(const bk_grp_t *g, bk_grp_meta_t *out);

/* Rebuilds g (fresh from bk_grp_init: Empty, no member) from a replayed group record, as
 * Kafka loads a group: with members it is Stable at the record's generation, every session
 * running from now_ms; without, Empty at that generation. The kind is server when every
 * member's client_host is BK_GRP_SERVER_HOST (what server members are given). Returns 0,
 * BK_EINVAL (g not fresh) or UV_ENOMEM. */
int bk_grp_load(bk_grp_t *g, int64_t now_ms, const bk_grp_meta_t *m);

#endif
