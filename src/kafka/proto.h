/* Kafka requests as Brook decodes them: the request header and, per API, the fields of every
 * version Brook accepts, decoded by hand from the public protocol guide into plain structs
 * (codec_*.c, one file per API family). Strings and byte arrays point into the frame; arrays
 * live in the request's arena. Decoding is pure: no I/O, nothing kept between calls. */
#ifndef BROOK_KAFKA_PROTO_H
#define BROOK_KAFKA_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "kafka/wire.h"

/* API keys (the protocol guide's numbering). */
enum {
    BK_KAPI_PRODUCE = 0,
    BK_KAPI_FETCH = 1,
    BK_KAPI_LIST_OFFSETS = 2,
    BK_KAPI_METADATA = 3,
    BK_KAPI_OFFSET_COMMIT = 8,
    BK_KAPI_OFFSET_FETCH = 9,
    BK_KAPI_FIND_COORDINATOR = 10,
    BK_KAPI_JOIN_GROUP = 11,
    BK_KAPI_HEARTBEAT = 12,
    BK_KAPI_LEAVE_GROUP = 13,
    BK_KAPI_SYNC_GROUP = 14,
    BK_KAPI_DESCRIBE_GROUPS = 15,
    BK_KAPI_LIST_GROUPS = 16,
    BK_KAPI_SASL_HANDSHAKE = 17,
    BK_KAPI_API_VERSIONS = 18,
    BK_KAPI_CREATE_TOPICS = 19,
    BK_KAPI_DELETE_TOPICS = 20,
    BK_KAPI_INIT_PRODUCER_ID = 22,
    BK_KAPI_DESCRIBE_CONFIGS = 32,
    BK_KAPI_SASL_AUTHENTICATE = 36,
    BK_KAPI_CREATE_PARTITIONS = 37,
    BK_KAPI_KEY_LIMIT = 38, /* keys below this have a slot in the API table */
};

/* Error codes Brook answers with. */
enum {
    BK_KERR_UNKNOWN = -1,
    BK_KERR_NONE = 0,
    BK_KERR_OFFSET_OUT_OF_RANGE = 1,
    BK_KERR_CORRUPT_MESSAGE = 2,
    BK_KERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
    BK_KERR_LEADER_NOT_AVAILABLE = 5,
    BK_KERR_NOT_LEADER_OR_FOLLOWER = 6,
    BK_KERR_REQUEST_TIMED_OUT = 7,
    BK_KERR_MESSAGE_TOO_LARGE = 10,
    BK_KERR_OFFSET_METADATA_TOO_LARGE = 12,
    BK_KERR_COORDINATOR_NOT_AVAILABLE = 15,
    BK_KERR_INVALID_TOPIC = 17,
    BK_KERR_NOT_ENOUGH_REPLICAS = 19,
    BK_KERR_INVALID_GROUP_ID = 24,
    BK_KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20,
    BK_KERR_INVALID_REQUIRED_ACKS = 21,
    BK_KERR_TOPIC_AUTHORIZATION_FAILED = 29,
    BK_KERR_GROUP_AUTHORIZATION_FAILED = 30,
    BK_KERR_CLUSTER_AUTHORIZATION_FAILED = 31,
    BK_KERR_UNSUPPORTED_SASL_MECHANISM = 33,
    BK_KERR_ILLEGAL_SASL_STATE = 34,
    BK_KERR_UNSUPPORTED_VERSION = 35,
    BK_KERR_TOPIC_ALREADY_EXISTS = 36,
    BK_KERR_INVALID_PARTITIONS = 37,
    BK_KERR_INVALID_REPLICATION_FACTOR = 38,
    BK_KERR_INVALID_REPLICA_ASSIGNMENT = 39,
    BK_KERR_INVALID_CONFIG = 40,
    BK_KERR_NOT_CONTROLLER = 41,
    BK_KERR_INVALID_REQUEST = 42,
    BK_KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
    BK_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
    BK_KERR_DUPLICATE_SEQUENCE_NUMBER = 46,
    BK_KERR_INVALID_PRODUCER_EPOCH = 47,
    BK_KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53,
    BK_KERR_KAFKA_STORAGE_ERROR = 56,
    BK_KERR_SASL_AUTHENTICATION_FAILED = 58,
    BK_KERR_UNSUPPORTED_COMPRESSION_TYPE = 76,
    BK_KERR_INVALID_RECORD = 87,
};

/* A bump allocator for one request's decoded arrays, freed whole. */
typedef struct bk_karena_block bk_karena_block_t;
typedef struct {
    bk_karena_block_t *head;
} bk_karena_t;
void *bk_karena_alloc(bk_karena_t *a, size_t size); /* zeroed; NULL when out of memory */
void bk_karena_free(bk_karena_t *a);

typedef struct {
    int16_t key, version;
    int32_t corr;
    bk_kslice_t client_id;
    int flexible; /* request header v2 (and flexible body) */
} bk_khdr_t;

typedef struct {
    bk_kslice_t sw_name, sw_version; /* v3+ */
} bk_kreq_api_versions_t;

typedef struct {
    int32_t ntopics; /* -1: every topic (v0: an empty array means every topic too) */
    bk_kslice_t *topics;
    int allow_auto_create; /* v4+; 1 before */
} bk_kreq_metadata_t;

typedef struct {
    int32_t index;
    bk_kslice_t records;
} bk_kprod_part_t;
typedef struct {
    bk_kslice_t name;
    int32_t nparts;
    bk_kprod_part_t *parts;
} bk_kprod_topic_t;
typedef struct {
    bk_kslice_t txn_id; /* v3+ */
    int16_t acks;
    int32_t timeout_ms;
    int32_t ntopics;
    bk_kprod_topic_t *topics;
} bk_kreq_produce_t;

typedef struct {
    bk_kslice_t txn_id; /* null for an idempotent (not transactional) producer */
    int32_t txn_timeout_ms;
} bk_kreq_init_producer_id_t;

typedef struct {
    int32_t partition;
    int32_t leader_epoch; /* v9+, else -1 */
    int64_t offset;
    int64_t log_start; /* v5+, else -1 */
    int32_t max_bytes;
} bk_kfetch_part_t;
typedef struct {
    bk_kslice_t name;
    int32_t nparts;
    bk_kfetch_part_t *parts;
} bk_kfetch_topic_t;
typedef struct {
    int32_t replica_id, max_wait_ms, min_bytes, max_bytes;
    int8_t isolation;
    int32_t session_id, session_epoch; /* v7+ */
    int32_t ntopics;
    bk_kfetch_topic_t *topics;
    bk_kslice_t rack; /* v11+ */
} bk_kreq_fetch_t;

typedef struct {
    int32_t partition;
    int64_t timestamp;   /* -1 latest, -2 earliest, else a time in ms */
    int32_t max_offsets; /* v0 only */
} bk_klo_part_t;
typedef struct {
    bk_kslice_t name;
    int32_t nparts;
    bk_klo_part_t *parts;
} bk_klo_topic_t;
typedef struct {
    int32_t replica_id;
    int8_t isolation; /* v2+ */
    int32_t ntopics;
    bk_klo_topic_t *topics;
} bk_kreq_list_offsets_t;

typedef struct {
    bk_kslice_t name, value;
} bk_kconfig_t;
typedef struct {
    bk_kslice_t name;
    int32_t num_partitions; /* -1: the broker's default */
    int16_t replication_factor;
    int32_t nassign; /* manual assignments (refused) */
    int32_t nconfigs;
    bk_kconfig_t *configs;
} bk_kcreate_topic_t;
typedef struct {
    int32_t ntopics;
    bk_kcreate_topic_t *topics;
    int32_t timeout_ms;
    int validate_only; /* v1+ */
} bk_kreq_create_topics_t;

typedef struct {
    int32_t ntopics;
    bk_kslice_t *names;
    int32_t timeout_ms;
} bk_kreq_delete_topics_t;

typedef struct {
    bk_kslice_t name;
    int32_t count;
    int32_t nassign; /* -1 null */
} bk_kcreate_parts_topic_t;
typedef struct {
    int32_t ntopics;
    bk_kcreate_parts_topic_t *topics;
    int32_t timeout_ms;
    int validate_only;
} bk_kreq_create_partitions_t;

typedef struct {
    int8_t type; /* 2 topic, 4 broker */
    bk_kslice_t name;
    int32_t nkeys; /* -1: every key */
    bk_kslice_t *keys;
} bk_kdc_resource_t;
typedef struct {
    int32_t nres;
    bk_kdc_resource_t *res;
    int include_synonyms; /* v1+ */
} bk_kreq_describe_configs_t;

/* Group APIs (codec_group.c). Strings point into the frame; instance ids are decoded and
 * ignored (static membership is not implemented). */
typedef struct {
    bk_kslice_t key;
    int8_t key_type; /* v1+: 0 group, 1 transaction */
} bk_kreq_find_coordinator_t;

typedef struct {
    bk_kslice_t name, metadata;
} bk_kjoin_proto_t;
typedef struct {
    bk_kslice_t group_id;
    int32_t session_timeout_ms, rebalance_timeout_ms; /* rebalance: v1+, else the session's */
    bk_kslice_t member_id, instance_id, protocol_type;
    int32_t nprotocols;
    bk_kjoin_proto_t *protocols;
} bk_kreq_join_group_t;

typedef struct {
    bk_kslice_t member_id, assignment;
} bk_ksync_assign_t;
typedef struct {
    bk_kslice_t group_id;
    int32_t generation;
    bk_kslice_t member_id, instance_id;
    int32_t nassign;
    bk_ksync_assign_t *assign;
} bk_kreq_sync_group_t;

typedef struct {
    bk_kslice_t group_id;
    int32_t generation;
    bk_kslice_t member_id, instance_id;
} bk_kreq_heartbeat_t;

typedef struct {
    bk_kslice_t group_id;
    int32_t nmembers; /* v0-2: exactly one */
    bk_kslice_t *members;
} bk_kreq_leave_group_t;

typedef struct {
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch; /* v6+, else -1 */
    bk_kslice_t metadata;
} bk_kcommit_part_t;
typedef struct {
    bk_kslice_t name;
    int32_t nparts;
    bk_kcommit_part_t *parts;
} bk_kcommit_topic_t;
typedef struct {
    bk_kslice_t group_id;
    int32_t generation; /* v1+, else -1 */
    bk_kslice_t member_id, instance_id;
    int32_t ntopics;
    bk_kcommit_topic_t *topics;
} bk_kreq_offset_commit_t;

typedef struct {
    bk_kslice_t name;
    int32_t nparts;
    int32_t *parts;
} bk_kofetch_topic_t;
typedef struct {
    bk_kslice_t group_id;
    int32_t ntopics; /* -1 (v2+): every committed offset of the group */
    bk_kofetch_topic_t *topics;
} bk_kreq_offset_fetch_t;

typedef struct {
    int32_t ngroups;
    bk_kslice_t *groups;
} bk_kreq_describe_groups_t;

typedef struct {
    bk_kslice_t mechanism;
} bk_kreq_sasl_handshake_t;

typedef struct {
    bk_kslice_t auth_bytes; /* one SASL token, inside the frame */
} bk_kreq_sasl_authenticate_t;

typedef struct {
    bk_khdr_t h;
    union {
        bk_kreq_api_versions_t api_versions;
        bk_kreq_metadata_t metadata;
        bk_kreq_produce_t produce;
        bk_kreq_init_producer_id_t init_producer_id;
        bk_kreq_fetch_t fetch;
        bk_kreq_list_offsets_t list_offsets;
        bk_kreq_create_topics_t create_topics;
        bk_kreq_delete_topics_t delete_topics;
        bk_kreq_create_partitions_t create_partitions;
        bk_kreq_describe_configs_t describe_configs;
        bk_kreq_sasl_handshake_t sasl_handshake;
        bk_kreq_sasl_authenticate_t sasl_authenticate;
        bk_kreq_find_coordinator_t find_coordinator;
        bk_kreq_join_group_t join_group;
        bk_kreq_sync_group_t sync_group;
        bk_kreq_heartbeat_t heartbeat;
        bk_kreq_leave_group_t leave_group;
        bk_kreq_offset_commit_t offset_commit;
        bk_kreq_offset_fetch_t offset_fetch;
        bk_kreq_describe_groups_t describe_groups;
    } u;
} bk_krequest_t;

/* One API's entry: its versions, the first version using flexible encoding (request header
 * v2, compact strings, tagged fields; INT16_MAX for none), and its body decoder. An entry
 * without a decoder is not implemented: it is not advertised and its requests are refused. */
typedef int (*bk_kdecode_fn)(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out);
typedef struct {
    int16_t key;
    const char *name;
    int16_t min, max;
    int16_t flex_from;
    bk_kdecode_fn decode;
} bk_kapi_t;

/* The table entry of key (NULL outside the table). */
const bk_kapi_t *bk_kapi_find(int16_t key);
/* Implemented entries in key order: fills up to max, returns the count. */
size_t bk_kapi_supported(const bk_kapi_t **out, size_t max);

/* Decodes one frame (its size prefix already removed): the header, then the body when the API
 * and version are implemented. Returns 0; UV_ENOTSUP (header decoded into out->h: the API
 * or its version is not implemented); BK_EINVAL (malformed: short, impossible lengths, or
 * bytes left over after the body). Nothing is allocated outside a. */
int bk_kafka_decode(const uint8_t *frame, size_t len, bk_karena_t *a, bk_krequest_t *out);

/* The per-API body decoders (codec_*.c). */
int bk_kdecode_api_versions(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out);
int bk_kdecode_metadata(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out);
int bk_kdecode_produce(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out);
int bk_kdecode_init_producer_id(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out);
int bk_kdecode_fetch(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out);
int bk_kdecode_list_offsets(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out);
int bk_kdecode_create_topics(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out);
int bk_kdecode_delete_topics(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out);
int bk_kdecode_create_partitions(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a,
                                 bk_krequest_t *out);
int bk_kdecode_describe_configs(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out);
int bk_kdecode_sasl_handshake(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out);
int bk_kdecode_sasl_authenticate(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a,
                                 bk_krequest_t *out);
/* codec_group.c */
int bk_kdecode_find_coordinator(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out);
int bk_kdecode_join_group(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out);
int bk_kdecode_sync_group(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out);
int bk_kdecode_heartbeat(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out);
int bk_kdecode_leave_group(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out);
int bk_kdecode_offset_commit(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out);
int bk_kdecode_offset_fetch(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out);
int bk_kdecode_list_groups(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out);
int bk_kdecode_describe_groups(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out);

/* Response framing: starts a response to h in w (size placeholder, correlation id, and the
 * header's tagged fields when flex_header), and patches the size when done. */
void bk_kresp_begin(bk_kw_t *w, const bk_khdr_t *h, int flex_header);
void bk_kresp_end(bk_kw_t *w);

/* The ApiVersions response body (pure: the table decides). error 35 answers with the v0 body
 * whatever version was asked, as the protocol prescribes. */
void bk_kencode_api_versions(bk_kw_t *w, int16_t version, int16_t error);

/* SASL (codec_sasl.c). The mechanisms Brook offers, in the order SaslHandshake lists them. */
typedef enum {
    BK_KSASL_PLAIN = 0,
    BK_KSASL_SCRAM_SHA256,
    BK_KSASL_SCRAM_SHA512,
    BK_KSASL_MECHS
} bk_ksasl_mech_t;
const char *bk_ksasl_mech_name(bk_ksasl_mech_t m);
/* 0 with *out set, or BK_EINVAL for a name Brook does not offer (names are case-sensitive). */
int bk_ksasl_mech_parse(bk_kslice_t name, bk_ksasl_mech_t *out);
/* The SaslHandshake body (v0 and v1 alike): error, then the mechanisms offered (none when
 * offered is 0: authentication is off on this broker). */
void bk_kencode_sasl_handshake(bk_kw_t *w, int16_t error, int offered);
/* The SaslAuthenticate body: error, message (NULL: null), the server's token (never null:
 * Kafka clients reject a null one), session_lifetime_ms 0 (v1+: no re-authentication), and
 * the compact forms and tagged fields of v2. */
void bk_kencode_sasl_authenticate(bk_kw_t *w, int16_t version, int16_t error, const char *message,
                                  const uint8_t *token, size_t len);
/* A PLAIN message (RFC 4616): authzid NUL authcid NUL passwd. Copies the user (authcid) and
 * password, NUL-terminated, into user (BK_AUTH_NAME_MAX + 1 bytes) and pass
 * (BK_AUTH_PASSWORD_MAX + 1). Returns 0, or BK_EINVAL when malformed: not exactly two NULs, an
 * empty or invalid user name, an empty or over-long password, or an authzid other than empty
 * or the user itself (Brook acts for no one else). Pure, no allocation. */
int bk_ksasl_plain_parse(const uint8_t *msg, size_t len, char *user, size_t *ulen, char *pass,
                         size_t *plen);

#endif
