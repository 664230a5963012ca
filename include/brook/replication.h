/* Replication (DESIGN.md §6 phase 2): followers pull record batches from the leader over HTTP
 * and append them unchanged; the leader tracks each follower's position, keeps an in-sync
 * replica set (ISR) and a high watermark (HW), and answers acks=all writes once every ISR
 * member holds them durably. This header is the contract of the two pure parts (ISR / HW
 * bookkeeping, and the fetch wire format) that the I/O shells in src/replication/ drive.
 *
 * Wire format of one fetch (follower → leader): POST /replication/fetch with
 * Content-Type application/x-brook-fetch and a binary body; the answer has the same type.
 * All integers big-endian. See bk_fetch_* below and the opening comment of
 * src/replication/fetch_format.c for the byte layout. */
#ifndef BROOK_REPLICATION_H
#define BROOK_REPLICATION_H

#include <stddef.h>
#include <stdint.h>

/* ---------- ISR and high watermark (pure; src/replication/isr.c) ----------
 *
 * Safety rule: a broker that Redis may list as in sync can be elected, so the HW (what
 * acks=all and consumers rely on) must count every replica that Redis may list. Hence two
 * views of membership per replica:
 *
 *   pending  the desired membership: the leader alone decides it from fetches and the clock.
 *            It is what the caller publishes to Redis next.
 *   in_sync  the replicas the HW waits for = pending ∪ every set that Redis may hold
 *            (published, or being published). A joiner counts at once (waiting for one more
 *            replica is always safe); a leaver keeps counting until a publication without
 *            it has been confirmed (bk_isr_publish_done / bk_isr_commit_membership).
 *
 * Until the first confirmed publication of a term the HW does not move at all: Redis may
 * still hold the previous term's ISR, naming followers this leader has not heard from. */

#define BK_ISR_MAX_REPLICAS 16

typedef struct {
    char id[128];           /* broker id (NUL-terminated) */
    int64_t fetch_offset;   /* follower: offset it asked for = it holds all below, durably;
                               replicas[0]: the leader's own durable end offset */
    uint64_t caught_up_ms;  /* last time it was known to hold the leader's whole log */
    uint64_t last_fetch_ms; /* last fetch seen from it */
    int64_t end_at_fetch;   /* leader's durable end at its last fetch (INT64_MAX: none yet) */
    int in_sync;            /* counted in the HW (see above); derived, do not write */
    int pending;            /* desired membership (see above); derived, do not write */
} bk_isr_replica_t;

/* One partition's replica state on the leader. replicas[0] is the leader itself. Indexes
 * are stable for the term (replicas are never removed), so a membership set is a bit mask:
 * bit i = replicas[i]. Fields are readable; write them only through bk_isr_* functions. */
typedef struct {
    bk_isr_replica_t replicas[BK_ISR_MAX_REPLICAS];
    int count;
    int64_t high_watermark;
    uint32_t replica_lag_ms; /* a follower not caught up for this long leaves the ISR */
    uint32_t published;      /* mask Redis holds as far as we know (after confirmations) */
    uint32_t inflight;       /* union of masks being published, 0 when none */
    int inflight_n;          /* publications started and not yet done */
    int published_once;      /* 0 until the first confirmed publication: HW frozen */
} bk_isr_t;

/* Return bits of bk_isr_on_fetch, bk_isr_tick and the publication functions. */
#define BK_ISR_HW_MOVED 1
#define BK_ISR_CHANGED 2 /* desired membership changed: publish it before relying on it */

/* Starts the state for a new leadership term: the leader alone in the ISR (desired and
 * counted), HW = leader_hw, leader's durable end = leader_hw. The HW stays frozen until the
 * caller has published this ISR (bk_isr_publish_begin/done, or bk_isr_commit_membership
 * right away when there is no Redis). leader_id longer than 127 bytes is truncated. */
void bk_isr_init(bk_isr_t *s, const char *leader_id, int64_t leader_hw, uint32_t replica_lag_ms);

/* Lists follower id (not in sync until it catches up). Returns its index (>= 1; the existing
 * one if already listed), BK_EINVAL for an empty id, one of 128 bytes or more, or the
 * leader's own id, and BK_ETOOBIG when BK_ISR_MAX_REPLICAS replicas are listed. */
int bk_isr_add_follower(bk_isr_t *s, const char *id);

/* At the start of a term (or when a partition appears mid-term), lists follower id as a
 * member of an ISR that Redis may still hold from before: desired and counted at once, assumed
 * to hold everything below the HW (true of every member of a published ISR), and given
 * replica_lag_ms from now_ms to catch up before bk_isr_tick drops it. Call it before any
 * fetch of id was seen this term. Returns the index, the errors of bk_isr_add_follower, or
 * BK_EINVAL when id is already known. */
int bk_isr_carry(bk_isr_t *s, const char *id, uint64_t now_ms);

/* Index of replica id, or -1. */
int bk_isr_find(const bk_isr_t *s, const char *id);

/* The leader's own durable end offset moved (after its flush); a smaller value than already
 * known is ignored. Returns 1 (= BK_ISR_HW_MOVED) if the HW moved, else 0. */
int bk_isr_leader_durable(bk_isr_t *s, int64_t durable_end, uint64_t now_ms);

/* A fetch from follower id asking for fetch_offset arrived (call it on arrival, not when a
 * long poll is answered; keep replica_lag_ms well above the followers' max_wait_ms).
 * leader_end is the leader's current durable end offset (folded in like
 * bk_isr_leader_durable). Adds the follower if unknown.
 * Caught up (Kafka's rule): fetch_offset >= the leader's durable end (caught_up_ms = now), or
 * fetch_offset >= the leader's durable end at the follower's previous fetch (caught_up_ms =
 * that fetch's time), so a follower one round behind a steady write stream stays in sync.
 * A caught-up follower outside the desired ISR with fetch_offset >= HW joins at once
 * (BK_ISR_CHANGED). A member whose fetch_offset falls below the HW (it lost data it held)
 * leaves the desired ISR at once; the HW never moves backwards.
 * Call it only for fetches whose last_fetched_epoch matched the leader's log (no
 * diverging_end_offset answered): a diverged follower's position says nothing.
 * Returns BK_ISR_* bits, or the negative errors of bk_isr_add_follower. */
int bk_isr_on_fetch(bk_isr_t *s, const char *id, int64_t fetch_offset, int64_t leader_end,
                    uint64_t now_ms);

/* Periodic check: a follower whose last caught-up fetch is more than replica_lag_ms old
 * leaves the desired ISR (never the leader); a follower that stopped fetching therefore
 * leaves too. leader_end is folded in like bk_isr_leader_durable. Returns BK_ISR_* bits. A
 * leaver keeps holding the HW back until a publication without it is confirmed. */
int bk_isr_tick(bk_isr_t *s, int64_t leader_end, uint64_t now_ms);

/* Publication protocol (the caller writes the ISR to Redis asynchronously):
 *   uint32_t m = bk_isr_publish_begin(s);   write the ids of the bits of m to Redis;
 *   on the reply:  bk_isr_publish_done(s, m, ok);
 * Several publications may be in flight if Redis applies them in the order they were begun
 * (one connection); ok = 0 (error or timeout: it may or may not have been applied) keeps
 * counting both the old and the new set. Returns from done: BK_ISR_* bits (HW_MOVED). */
uint32_t bk_isr_desired(const bk_isr_t *s); /* mask of pending replicas (bit 0 always set) */
uint32_t bk_isr_publish_begin(bk_isr_t *s);
int bk_isr_publish_done(bk_isr_t *s, uint32_t mask, int ok);

/* Shorthand for bk_isr_publish_done(s, bk_isr_publish_begin(s), 1): the caller has just
 * published exactly the current desired set (synchronously, or with nothing changed in
 * between). Returns BK_ISR_* bits. */
int bk_isr_commit_membership(bk_isr_t *s);

/* Number of replicas the HW waits for (in_sync, leader included). */
int bk_isr_size(const bk_isr_t *s);

/* ---------- Fetch wire format (pure; src/replication/fetch_format.c) ----------
 *
 * Decoders never read outside [data, data + len), never allocate, and hand out views into
 * the input (valid while the input is): strings are NOT NUL-terminated. A decode succeeds
 * only if the whole input is exactly one well-formed message, so the iterators that follow
 * cannot fail. Values (offsets, epochs, error codes) are passed through unchecked; duplicate
 * partitions are the handler's business. Encoders append to a growable buffer and on any
 * error leave it as it was; they refuse what the decoder would reject. */

#define BK_FETCH_PATH "/replication/fetch"
#define BK_FETCH_CONTENT_TYPE "application/x-brook-fetch"
#define BK_FETCH_MAX_TOPIC 249 /* topic names: [a-zA-Z0-9._-]{1,249}, not "." or ".." */
#define BK_FETCH_MAX_ID 127    /* broker ids: 1..127 bytes, no NUL */
/* Largest record batch a log holds (bytes on disk; the log's BK_BATCH_MAX_BYTES, which every
 * append enforces whatever --max-batch-bytes or max.message.bytes allow): an answer carries at
 * least one whole batch, so a follower must accept this much on top of its byte budget. */
#define BK_FETCH_MAX_BATCH ((uint64_t)64 << 20)
/* Body limit of POST /replication/fetch on every broker, whatever --max-body-bytes says: the
 * largest request a follower's HTTP client sends (64 MiB: over 240,000 partitions with the
 * longest names at 275 bytes each), so replication never stops at a partition count. */
#define BK_FETCH_MAX_REQUEST ((uint64_t)64 << 20)
/* Room a follower leaves for the leader's topic list in an answer beyond what its own request
 * implies: 32 MiB, over 100,000 topics with the longest names. */
#define BK_FETCH_TOPICS_ROOM ((uint64_t)32 << 20)

/* Response-level errors. */
enum { BK_FETCH_OK = 0, BK_FETCH_ENOTLEADER = 1, BK_FETCH_EFENCED = 2 };
/* Partition-level errors. */
enum { BK_FETCH_PART_OK = 0, BK_FETCH_PART_UNKNOWN = 1, BK_FETCH_PART_RANGE = 2 };

/* Growable output buffer. Start zeroed ({0}); data is malloc'ed, the owner free()s it (or
 * calls bk_fetch_buf_free). */
typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} bk_fetch_buf_t;
void bk_fetch_buf_free(bk_fetch_buf_t *b);

/* Cursor over the encoded items of a decoded list (internal to the iterators). */
typedef struct {
    const uint8_t *pos;
    const uint8_t *end;
    uint32_t left;
} bk_fetch_iter_t;

/* Request (follower → leader). */
typedef struct {
    int64_t known_epoch; /* highest leader epoch the follower knows */
    const char *id;      /* follower's broker id */
    size_t id_len;
    uint64_t instance; /* random per follower process (on the wire right after the id) */
    uint32_t max_wait_ms;
    uint32_t max_bytes;       /* record bytes in the answer: more only for the first batch sent */
    uint32_t partition_count; /* decode output */
    bk_fetch_iter_t parts;    /* decode output: use bk_fetch_request_next */
} bk_fetch_req_t;

typedef struct {
    const char *topic;
    size_t topic_len;
    uint32_t partition;
    int64_t fetch_offset;       /* the follower's log end offset */
    int32_t last_fetched_epoch; /* epoch of the follower's last batch, -1 if its log is empty */
    uint64_t topic_id;          /* the follower's bk_topic_id() (on the wire after the name) */
} bk_fetch_req_part_t;

/* Response (leader → follower). */
typedef struct {
    int64_t leader_epoch;
    int32_t error;            /* BK_FETCH_OK / ENOTLEADER / EFENCED */
    uint32_t topic_count;     /* decode output */
    bk_fetch_iter_t topics;   /* decode output: use bk_fetch_response_next_topic */
    uint32_t partition_count; /* decode output */
    bk_fetch_iter_t parts;    /* decode output: use bk_fetch_response_next_part */
} bk_fetch_resp_t;

/* Topic configuration, so a follower creates and configures topics like the leader's. */
typedef struct {
    const char *name;
    size_t name_len;
    uint32_t partitions;
    int64_t retention_ms;
    int64_t retention_bytes;
    uint64_t segment_bytes;
    uint32_t max_message_bytes;
    uint64_t id; /* bk_topic_id() (on the wire right after the name) */
    /* compression and replication settings (bk_topic_config_t; on the wire after
     * max_message_bytes) */
    int32_t compression;
    uint32_t min_insync_replicas;
    uint32_t replication_factor;
    /* compaction settings (on the wire after replication_factor), so every replica compacts
     * its own copy like the leader's */
    uint32_t cleanup_policy;
    int64_t delete_retention_ms;
    int64_t min_compaction_lag_ms;
    double min_cleanable_ratio;
} bk_fetch_topic_t;

typedef struct {
    const char *topic;
    size_t topic_len;
    uint32_t partition;
    int32_t error; /* BK_FETCH_PART_* */
    int64_t high_watermark;
    int64_t log_start_offset;
    int64_t diverging_end_offset; /* -1: consistent; else truncate the follower's log to it */
    const uint8_t *records;       /* raw record batches, opaque here */
    size_t records_len;           /* at most UINT32_MAX */
} bk_fetch_resp_part_t;

/* Appends a whole request with the n parts (r->partition_count and r->parts are ignored).
 * Returns 0, BK_EINVAL (bad id or topic), BK_ETOOBIG (n > UINT32_MAX) or UV_ENOMEM. */
int bk_fetch_request_encode(bk_fetch_buf_t *b, const bk_fetch_req_t *r,
                            const bk_fetch_req_part_t *parts, size_t n);

/* Decodes a whole request. Returns 0 or BK_EINVAL (nothing in *r is meaningful then). */
int bk_fetch_request_decode(const uint8_t *data, size_t len, bk_fetch_req_t *r);

/* Next partition of a decoded request: 1 and *p filled, or 0 at the end. */
int bk_fetch_request_next(bk_fetch_req_t *r, bk_fetch_req_part_t *p);

/* Appends a whole response with nt topics and np parts (records copied). Returns 0,
 * BK_EINVAL, BK_ETOOBIG or UV_ENOMEM. */
int bk_fetch_response_encode(bk_fetch_buf_t *b, const bk_fetch_resp_t *r,
                             const bk_fetch_topic_t *topics, size_t nt,
                             const bk_fetch_resp_part_t *parts, size_t np);

/* Piecewise response encoding, for a leader that sends records without copying them:
 * bk_fetch_response_begin writes everything up to and including partition_count = np; then
 * for each of the np parts, either bk_fetch_response_put_part (copies p->records) or
 * bk_fetch_response_put_part_head (writes the fields through records_len only; the caller
 * sends exactly p->records_len record bytes right after, e.g. as a separate write buffer). */
int bk_fetch_response_begin(bk_fetch_buf_t *b, const bk_fetch_resp_t *r,
                            const bk_fetch_topic_t *topics, size_t nt, size_t np);
int bk_fetch_response_put_part(bk_fetch_buf_t *b, const bk_fetch_resp_part_t *p);
int bk_fetch_response_put_part_head(bk_fetch_buf_t *b, const bk_fetch_resp_part_t *p);

/* Decodes a whole response. Returns 0 or BK_EINVAL. */
int bk_fetch_response_decode(const uint8_t *data, size_t len, bk_fetch_resp_t *r);

/* Next topic / partition of a decoded response: 1 and the item filled, or 0 at the end. */
int bk_fetch_response_next_topic(bk_fetch_resp_t *r, bk_fetch_topic_t *t);
int bk_fetch_response_next_part(bk_fetch_resp_t *r, bk_fetch_resp_part_t *p);

#endif
