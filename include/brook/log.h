/* The partitioned, durable log: topics → partitions → segments of Kafka RecordBatch v2.
 * Runs on the loop thread; under fsync=always the writes and flushes of appended data run on
 * the libuv threadpool, retention deletes files there too. Every function here must be called
 * from the loop thread. Nothing in this module speaks HTTP or JSON.
 *
 * Ownership: the bk_log_t owns every topic and partition; pointers to them stay valid until
 * bk_log_close() completes, or for a deleted topic until the last callback of an append made
 * to it before the delete has returned. Record views passed to read visitors point into a
 * buffer that is valid only during the visitor call. */
#ifndef BROOK_LOG_H
#define BROOK_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef enum {
    BK_FSYNC_ALWAYS = 0,   /* ack after the fdatasync that covers the append (group commit) */
    BK_FSYNC_INTERVAL = 1, /* ack after the write; fdatasync every fsync_interval_ms */
    BK_FSYNC_NEVER = 2,    /* ack after the write; the OS decides when to flush */
} bk_fsync_mode_t;

typedef struct {
    const char *data_dir; /* created if missing; locked against a second broker */
    bk_fsync_mode_t fsync_mode;
    uint32_t fsync_interval_ms;    /* for BK_FSYNC_INTERVAL */
    uint32_t preallocate_bytes;    /* BK_FSYNC_ALWAYS: zero the active segment this far ahead
                                      of small writes, so most fdatasyncs commit no metadata
                                      (0: off; default 1 MiB; see the on-disk format) */
    uint64_t segment_bytes;        /* roll the active segment when it would exceed this */
    uint32_t index_interval_bytes; /* one sparse index entry per this many log bytes */
    uint32_t default_partitions;   /* partition count of topics created implicitly */
    /* Defaults of topics created without explicit settings (and of topics whose metadata
     * predates settings); see bk_topic_config_t. */
    int64_t retention_ms;        /* by age; -1 = forever (default 7 days) */
    int64_t retention_bytes;     /* per partition, by size; -1 = unlimited (default) */
    uint32_t max_message_bytes;  /* largest record, key+value+headers (default 1 MiB) */
    uint32_t retention_check_ms; /* how often retention runs on the loop (default 5 min); it
                                    also runs once right after open */
    uint32_t checkpoint_ms;      /* how often the high-watermark checkpoint is written when it
                                    changed (default 1 s; 0 = the default); also at close */
    /* ---- compression (see bk_topic_config_t) ---- */
    int32_t compression; /* compression.type of new topics (default BK_COMPRESSION_PRODUCER) */
    /* Compaction (src/log/cleaner.c). */
    uint32_t cleaner_interval_ms; /* how often the cleaner looks for partitions to compact
                                     (default 15 s; 0 = never) */
} bk_log_config_t;

/* Per-topic settings, persisted in the topic's metadata. Kafka's names in comments. */
typedef struct {
    int64_t retention_ms;       /* retention.ms: delete sealed segments whose newest record is
                                   older than this; -1 = never */
    int64_t retention_bytes;    /* retention.bytes: per partition, delete the oldest sealed
                                   segments while the partition is larger; -1 = never */
    uint64_t segment_bytes;     /* segment.bytes */
    uint32_t max_message_bytes; /* max.message.bytes: larger records are refused (BK_ETOOBIG) */
    /* ---- compression and replication settings (metadata version 4); 0 = the default, so a
     * zero-filled tail of an initializer means "not set" ---- */
    int32_t compression;          /* compression.type: BK_COMPRESSION_* (0 = producer) */
    uint32_t min_insync_replicas; /* min.insync.replicas; 0 = the broker's flag */
    uint32_t replication_factor;  /* as asked at creation; 0 = not asked (1) */
    /* Compaction settings (src/log/cleaner.c). A zeroed block means the defaults below. */
    uint32_t cleanup_policy;       /* cleanup.policy: BK_CLEANUP_* bits; 0 = delete */
    int64_t delete_retention_ms;   /* delete.retention.ms: how long a tombstone (null value)
                                      that is the newest record of its key stays, counted from
                                      its timestamp (default 1 day) */
    int64_t min_compaction_lag_ms; /* min.compaction.lag.ms: segments holding a record newer
                                      than this are not cleaned (default 0) */
    double min_cleanable_ratio;    /* min.cleanable.dirty.ratio: clean when dirty bytes / bytes
                                      of the cleanable segments reach it, 0..1 (default 0.5) */
} bk_topic_config_t;

/* compression.type values: keep the producer's codec, or store every batch with one codec
 * (BK_COMPRESSION_NONE + a bk_codec_t: none, gzip, snappy, lz4, zstd). */
enum {
    BK_COMPRESSION_PRODUCER = 0,
    BK_COMPRESSION_NONE = 1, /* + codec number */
    BK_COMPRESSION_COUNT = 6,
};
/* "producer", "none", "gzip", "snappy", "lz4", "zstd"; NULL for another value. */
const char *bk_compression_name(int32_t compression);
/* Parses one of those names (exact); returns 0 or BK_EINVAL. */
int bk_compression_parse(const char *s, size_t len, int32_t *out);

/* cleanup.policy bits: "delete" (retention; also the value 0), "compact", "compact,delete". */
#define BK_CLEANUP_DELETE 1u
#define BK_CLEANUP_COMPACT 2u
#define BK_DELETE_RETENTION_DEFAULT_MS ((int64_t)86400000)
#define BK_MIN_CLEANABLE_RATIO_DEFAULT 0.5
/* Fills the compaction block of cfg with the defaults (policy delete). */
void bk_topic_config_compaction_defaults(bk_topic_config_t *cfg);
/* 1 when cfg's cleanup.policy includes compact. */
int bk_topic_config_compacts(const bk_topic_config_t *cfg);

/* Fills cfg with defaults (fsync always, 128 MiB segments, 4 KiB index interval, 1 partition,
 * retention 7 days / unlimited bytes checked every 5 minutes, 1 MiB records). */
void bk_log_config_defaults(bk_log_config_t *cfg);

typedef struct bk_log bk_log_t;
typedef struct bk_topic bk_topic_t;
typedef struct bk_partition bk_partition_t;

/* A record to append. Lengths of -1 mean null (Kafka's null key / null value). */
typedef struct {
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
} bk_header_t;

typedef struct {
    const uint8_t *key;
    int32_t key_len; /* -1 = null */
    const uint8_t *value;
    int32_t value_len; /* -1 = null */
    const bk_header_t *headers;
    uint32_t header_count;
    int64_t timestamp; /* ms since the Unix epoch; <= 0 means "now" */
} bk_record_t;

/* A record read back. Headers are left encoded; walk them with bk_record_header_next(). */
typedef struct {
    int64_t offset;
    int64_t timestamp;
    int32_t leader_epoch; /* partitionLeaderEpoch of the batch that holds it */
    const uint8_t *key;
    int32_t key_len; /* -1 = null */
    const uint8_t *value;
    int32_t value_len; /* -1 = null */
    uint32_t header_count;
    const uint8_t *headers; /* encoded header section */
    size_t headers_len;
} bk_record_view_t;

/* Decodes the next header from *pos (advanced past it). Returns 1 when a header was decoded,
 * 0 at end, BK_ECORRUPT on malformed bytes. */
int bk_record_header_next(const uint8_t **pos, const uint8_t *end, bk_header_t *out);

/* Opens (creating if needed) the log under cfg->data_dir and recovers every partition:
 * torn or garbage tails of active segments are truncated, missing or stale indexes rebuilt.
 * Corruption inside a sealed (non-tail) segment is refused with BK_ECORRUPT. Blocking: call
 * once at start-up, before serving. Returns 0 or a negative error. */
int bk_log_open(uv_loop_t *loop, const bk_log_config_t *cfg, bk_log_t **out);

/* Writes and flushes everything appended, waits for flushes and retention deletes in flight,
 * closes the loop handles (the retention timer too) and frees the log; then calls done(arg)
 * from the loop. Appends after this fail with BK_ECLOSED. */
void bk_log_close(bk_log_t *log, void (*done)(void *arg), void *arg);

/* Topics. find returns NULL when unknown. create makes the topic's partitions and persists
 * its metadata crash-safely, blocking on fsyncs (see bk_log_topic_create_async for the loop
 * thread); returns 0, UV_EEXIST (and *out set to the existing topic) or a negative error. Topic
 * names must match [a-zA-Z0-9._-]{1,249} and not be "." or "..". */
bk_topic_t *bk_log_topic_find(bk_log_t *log, const char *name, size_t name_len);
int bk_log_topic_create(bk_log_t *log, const char *name, size_t name_len, uint32_t partitions,
                        bk_topic_t **out);
int bk_log_topic_name_valid(const char *name, size_t name_len);
/* As bk_log_topic_create, with explicit settings (NULL = the log's defaults). BK_EINVAL for
 * settings out of range: retention_* < -1, segment_bytes 0 or over 2 GiB, max_message_bytes
 * 0. The settings are persisted with the topic. */
int bk_log_topic_create_with(bk_log_t *log, const char *name, size_t name_len, uint32_t partitions,
                             const bk_topic_config_t *cfg, bk_topic_t **out);
/* As bk_log_topic_create_with, under the topic id given instead of a fresh one: a follower
 * creates its copy of a leader's topic under the leader's id (0 for a topic the leader made
 * before topics had ids). */
int bk_log_topic_create_as(bk_log_t *log, const char *name, size_t name_len, uint64_t id,
                           uint32_t partitions, const bk_topic_config_t *cfg, bk_topic_t **out);
/* As bk_log_topic_create_with, but the files, directories and metadata are made (and made
 * durable) by a threadpool job, so the loop thread never waits for the disk; the topic joins
 * the registry when the job ends. Jobs run one at a time, in the order asked. cb(arg, status,
 * t) then runs on the loop: status 0 (created by this call; t is the topic), UV_EEXIST (a
 * creation of the same name under way finished first; t NULL, look it up) or a negative error
 * (t NULL; BK_ECLOSED if the log began closing meanwhile). Returns 0 when cb will run, else
 * (invalid name or settings, topic exists, closing) the error, and cb never runs. While a
 * creation is under way the synchronous calls refuse the name with UV_EBUSY and
 * bk_log_topic_find does not see it. */
typedef void (*bk_topic_created_cb)(void *arg, int status, bk_topic_t *t);
/* Creating or growing refuses up front with UV_EMFILE when the new partitions' descriptors
 * (BK_LOG_FDS_PER_PARTITION each: directory, .log, .index), those promised to creations under
 * way and BK_LOG_FD_HEADROOM would not fit under RLIMIT_NOFILE; a creation or growth failing
 * later removes the partition directories it made. */
#define BK_LOG_FDS_PER_PARTITION 3u
#define BK_LOG_FD_HEADROOM 64u
/* Descriptors this process has open and its soft limit (UINT64_MAX: none). 0 or an error. */
int bk_log_fd_budget(uint64_t *open_now, uint64_t *limit);
int bk_log_topic_create_async(bk_log_t *log, const char *name, size_t name_len, uint32_t partitions,
                              const bk_topic_config_t *cfg, bk_topic_created_cb cb, void *arg);
/* As bk_log_topic_create_async, under the topic id given (see bk_log_topic_create_as); a
 * creation of the name under way is joined whatever its id. */
int bk_log_topic_create_async_as(bk_log_t *log, const char *name, size_t name_len, uint64_t id,
                                 uint32_t partitions, const bk_topic_config_t *cfg,
                                 bk_topic_created_cb cb, void *arg);
/* Calls cb(arg, status, NULL) once the creation of name under way ends, whatever its outcome
 * (status as for a joiner above). Returns 0, or UV_ENOENT when no creation of name is under
 * way (cb never runs). Lets a request that names a topic being created wait for it. */
int bk_log_topic_await_creation(bk_log_t *log, const char *name, size_t name_len,
                                bk_topic_created_cb cb, void *arg);
/* Replaces t's settings with cfg (the same checks as at creation: BK_EINVAL when out of
 * range), rewriting its metadata crash-safely on the threadpool, queued with the creations
 * and growths; t takes the new settings when the metadata is durable, then cb(arg, status, t)
 * runs on the loop (status 0, or a negative error with t unchanged). Returns 0 when cb will
 * run, else the error: UV_EBUSY while a growth or another change of t is under way
 * (bk_log_topic_await_growth waits for either), BK_ENOTOPIC once deleted, BK_ECLOSED. */
int bk_log_topic_reconfigure_async(bk_log_t *log, bk_topic_t *t, const bk_topic_config_t *cfg,
                                   bk_topic_created_cb cb, void *arg);
/* The log's defaults for new topics. */
void bk_log_topic_config_defaults(const bk_log_t *log, bk_topic_config_t *out);
const bk_topic_config_t *bk_topic_config(const bk_topic_t *t);

/* Deletes a topic and its data. From return on, t is gone for find/at/count and its pointers
 * must not be passed to new calls (a topic of the same name may be created at once); callbacks
 * of appends already queued still run (with their real status: the data was written and
 * synced, then deleted) and may still use their partition and topic pointers; memory is
 * freed after the last one. The commit hook is not called for a deleted topic. Directories
 * are moved into the trash before the metadata (the commit point), so a crash leaves the
 * whole topic or none of it; the files are removed on the threadpool. Blocking (renames and
 * fsyncs on the loop thread), like topic creation. Returns 0 or a negative error (then the
 * topic is unchanged). */
int bk_log_topic_delete(bk_log_t *log, bk_topic_t *t);

/* Grows a topic to new_count partitions (fewer: BK_EINVAL; the same count: 0, nothing done);
 * metadata rewritten crash-safely. Existing bk_partition_t pointers stay valid. Blocking, like
 * topic creation. UV_EBUSY while a growth of t by bk_log_topic_grow_async is under way (so is
 * bk_log_topic_delete). */
int bk_log_topic_add_partitions(bk_log_t *log, bk_topic_t *t, uint32_t new_count);
/* As bk_log_topic_add_partitions, but the new partitions and the rewritten metadata are made
 * durable by a threadpool job (queued with the creations, one job at a time) while t serves
 * appends and reads as before; t gets the partitions when the job ends. cb(arg, status, t)
 * then runs on the loop: 0 grown, or a negative error (t unchanged). new_count must exceed the
 * current count (else BK_EINVAL). Returns 0 when cb will run, else the error and cb never
 * runs: UV_EBUSY when a growth of t is under way (bk_log_topic_await_growth waits for it). */
int bk_log_topic_grow_async(bk_log_t *log, bk_topic_t *t, uint32_t new_count,
                            bk_topic_created_cb cb, void *arg);
/* Calls cb(arg, status, NULL) once the growth of t under way ends, whatever its outcome.
 * Returns 0, or UV_ENOENT when none is under way (cb never runs). */
int bk_log_topic_await_growth(bk_log_t *log, const bk_topic_t *t, bk_topic_created_cb cb,
                              void *arg);

size_t bk_log_topic_count(const bk_log_t *log);
bk_topic_t *bk_log_topic_at(bk_log_t *log, size_t index); /* stable order: by name */
const bk_log_config_t *bk_log_config(const bk_log_t *log);

const char *bk_topic_name(const bk_topic_t *t);
/* The topic's id: 64 random bits chosen when it was created, persisted with it and copied by
 * its followers, so a topic deleted and created again under the same name is told apart from
 * the old one (Kafka's topic ids, KIP-516). 0 for topics created before ids existed. */
uint64_t bk_topic_id(const bk_topic_t *t);
/* 1 once t was deleted (its pointer stays valid only during callbacks of appends queued
 * before the delete). */
int bk_topic_deleted(const bk_topic_t *t);
uint32_t bk_topic_partition_count(const bk_topic_t *t);
bk_partition_t *bk_topic_partition(bk_topic_t *t, uint32_t index); /* NULL if out of range */

/* Called once per append, from the loop, when the append is durable per the fsync policy
 * (status 0, base_offset = offset of its first record) or failed (status < 0; the records are
 * not visible to readers and the partition refuses further appends). */
typedef void (*bk_append_cb)(void *arg, int status, int64_t base_offset);

/* Encodes recs as one RecordBatch stamped with leader_epoch into the active segment's write
 * buffer (rolling first if needed) and queues it for group commit, which writes it. Returns 0
 * when queued (cb will run exactly once, never from inside this call) or a negative error with
 * nothing written and cb never called: BK_ETOOBIG when a record's key+value+header bytes
 * exceed the topic's max_message_bytes, BK_EINVAL for a malformed record or n == 0, BK_ECLOSED
 * once the log closes, or the error that failed the partition. A write error (ENOSPC, EIO) or
 * a failed flush is reported through cb and fences the partition (appends refused with that
 * error) until writing works again and its tail is verified (see bk_partition_fenced), or the
 * log is reopened. */
int bk_partition_append(bk_partition_t *p, const bk_record_t *recs, uint32_t n,
                        int32_t leader_epoch, bk_append_cb cb, void *arg);

/* As bk_partition_append, with the batch stored compressed by codec (a bk_codec_t: 0 none, 1
 * gzip, 2 snappy, 3 lz4, 4 zstd; else BK_EINVAL). The records are checked and encoded during
 * the call, compressed on the threadpool; the batch then takes the next offset. Appends to a
 * partition reach the log in the order they were made, with or without a codec: one made
 * while a compressed one is on its way waits for it. Once the call returned 0, a failure
 * (the partition fenced or the log closing meanwhile, a compression error) is reported
 * through cb. While appends wait, bk_partition_truncate, bk_partition_reset and
 * bk_partition_append_raw refuse with UV_EBUSY. */
int bk_partition_append_codec(bk_partition_t *p, const bk_record_t *recs, uint32_t n,
                              int32_t leader_epoch, int codec, bk_append_cb cb, void *arg);

/* Bytes of the batches appended to p by bk_partition_append* since open: *raw as encoded
 * before compression, *stored as written (replicated batches are not counted). */
void bk_partition_compression_stats(const bk_partition_t *p, uint64_t *raw, uint64_t *stored);

/* Visits records with offset >= offset and < the high watermark, in order, stopping after
 * max_records records or once max_bytes of key+value+header bytes were visited (at least one
 * record is always delivered when one is available). The visitor returns 0 to go on, non-zero
 * to stop. *next_offset is set to the offset after the last record visited when a limit or
 * the visitor stopped the read, else (the read reached the high watermark) to the high
 * watermark, which skips offsets compaction removed. Returns the number of records visited,
 * BK_ERANGE when offset < start offset or > high watermark, or another negative error. Reads
 * are synchronous (page cache). Compressed batches are decompressed one at a time, on the
 * calling thread; the records of a batch before offset are skipped and max_bytes counts
 * decompressed bytes. A batch that decompresses past 64 MiB (the largest batch; a compression
 * bomb) fails the read with BK_ETOOBIG, one whose records do not decode with BK_ECORRUPT --
 * unless records before it were visited: then the read returns those and the next read,
 * starting at it, fails. */
typedef int (*bk_read_visit_fn)(void *arg, const bk_record_view_t *rec);
int bk_partition_read(bk_partition_t *p, int64_t offset, uint32_t max_records, size_t max_bytes,
                      bk_read_visit_fn visit, void *arg, int64_t *next_offset);
/* As bk_partition_read, but visits only records below limit (clamped to the high watermark),
 * and a read reaching it reports limit as *next_offset. Readers shown a replicated high
 * watermark pass it: after compaction a count of records no longer bounds their offsets. */
int bk_partition_read_to(bk_partition_t *p, int64_t offset, int64_t limit, uint32_t max_records,
                         size_t max_bytes, bk_read_visit_fn visit, void *arg, int64_t *next_offset);

/* ---- Compaction (cleanup.policy compact) ----
 * A cleaner rewrites the sealed segments of a compacted partition keeping the newest record of
 * each key (and every record without a key), at its original offset: offsets then have gaps
 * inside batches (a batch's lastOffsetDelta covers more offsets than it has records), which
 * reads, raw reads and bk_partition_append_raw accept. A tombstone (null value) that is
 * the newest of its key goes once its timestamp is delete.retention.ms old. The active segment
 * is never touched; nor a segment holding a record newer than min.compaction.lag.ms. The
 * crash-safe protocol is in format.c (COMPACTION). */

/* Called on the loop when a cleaning ends: status 0 or the error that stopped it (segments
 * replaced before it stay replaced), and the bytes it reclaimed. */
typedef void (*bk_clean_cb)(void *arg, int status, uint64_t reclaimed);

/* Cleans p now at the clock reading now_ms, whatever its dirty ratio. Returns 0 when cb
 * (may be NULL) will run, UV_EBUSY while a cleaning of this log runs, BK_EINVAL when p's
 * topic is not compacted, BK_ECLOSED / BK_ENOTOPIC / p's failure, or 1 when there is nothing
 * to clean (no sealed segment the lag lets go; cb never runs). While it runs, truncation and
 * reset of p are refused with UV_EBUSY and retention skips p. */
int bk_partition_clean(bk_partition_t *p, int64_t now_ms, bk_clean_cb cb, void *arg);

/* Dirty bytes / bytes of the sealed segments a cleaning could take now (0 when none). */
double bk_partition_dirty_ratio(const bk_partition_t *p, int64_t now_ms);

/* ---- Replication support (raw batches, truncation, leader epochs) ----
 * In the log, "high watermark" means the end of locally durable data (what the fsync policy
 * has made safe here). The cluster-wide replicated high watermark lives in src/replication/. */

/* Copies whole batches, unchanged, starting with the batch that contains offset and ending
 * before limit (exclusive; pass the high watermark), at most max_bytes (but always at least one
 * whole batch when one is available) into *out (grown with realloc; the caller owns and frees
 * it). Sets *len. Returns the number of batches, 0 when offset == limit, BK_ERANGE when offset
 * is below the start offset or above limit.
 * Details: a batch is included only if all of it lies below limit; limit is clamped to
 * bk_partition_high_watermark() (so 0 is also returned for offset above it); max_bytes 0 means
 * no byte limit (as in bk_partition_read). Batches are not re-verified (their CRC and records
 * were checked when appended and at open): only their headers, so a header that does not
 * parse, a batch running past its segment's written bytes, an unknown codec or a batch not
 * following the one before it fails the call with BK_ECORRUPT (*len = 0); a flipped bit in a
 * batch's CRC'd bytes since is copied as it is (the taker's CRC check finds it). The first
 * batch may start before offset. */
int bk_partition_read_raw(bk_partition_t *p, int64_t offset, int64_t limit, size_t max_bytes,
                          uint8_t **out, size_t *out_cap, size_t *len);

/* Appends batches received from a leader exactly as they are (offsets, epochs, CRCs kept).
 * Every batch is verified (length, magic, CRC) and must continue the log: the first base
 * offset must equal the end offset and batches must be contiguous; otherwise BK_ECORRUPT or
 * BK_EINVAL with nothing written. Durability and the callback as for bk_partition_append
 * (base_offset = first offset appended). len may hold several batches.
 * Details: BK_ECORRUPT for bytes that are not whole, valid RecordBatch v2 batches (a truncated
 * last batch included; a compressed batch is checked up to its CRC, its records when read);
 * UV_EBUSY while local appends are staged (see bk_partition_append_codec); BK_EINVAL for len 0 or
 * offsets that do not continue the log (gap, overlap, not contiguous); BK_ECLOSED, BK_ENOTOPIC, the
 * partition's failure, UV_ENOMEM or a segment-creation error as for bk_partition_append. On any
 * error nothing is appended (new segment files are made before the first byte is queued and removed
 * again on failure). max_message_bytes is not applied. The end offset moves at once; the
 * high watermark when the callback reports success. */
int bk_partition_append_raw(bk_partition_t *p, const uint8_t *batches, size_t len, bk_append_cb cb,
                            void *arg);

/* A client's batches (a Kafka producer's RecordBatch v2, len may hold several) appended with
 * offsets assigned here: baseOffset and partitionLeaderEpoch (both outside the CRC) are
 * overwritten IN batches, everything else is stored as sent. Then as bk_partition_append_raw
 * (verified, all or nothing, same durability and callback). Errors: BK_ECORRUPT (bad length,
 * magic, CRC, record count or offset deltas), UV_ENOTSUP (a sound batch with a codec this log
 * cannot store), BK_ETOOBIG (a batch over the topic's max_message_bytes), and those of
 * bk_partition_append_raw. In src/log/append_batch.c. */
int bk_partition_append_batch(bk_partition_t *p, uint8_t *batches, size_t len, int32_t leader_epoch,
                              bk_append_cb cb, void *arg);

/* ---- Idempotent producers (src/log/producer_state.c, decision in producer_seq.c) ----
 * Every partition remembers, per producer id, the producer epoch and its last five batches'
 * sequence ranges and base offsets: fed by every batch that reaches the log through
 * bk_partition_append_raw (a client's, stamped here, or a leader's, replicated), and rebuilt
 * lazily from the batch headers of the log's tail after open, truncation, reset or a cleared
 * fence. So the check and the append are one step on the loop thread, and a retry of a batch
 * still on its way to the disk is recognised too. */
typedef enum {
    BK_PSEQ_ACCEPT = 0,    /* next in line (or a producer not known here): appended */
    BK_PSEQ_DUPLICATE,     /* repeats one of the five remembered batches: not written again */
    BK_PSEQ_OLD_DUPLICATE, /* wholly older than the remembered batches: not written */
    BK_PSEQ_OUT_OF_ORDER,  /* a gap, or a newer epoch not starting at sequence 0: not written */
    BK_PSEQ_STALE_EPOCH,   /* an epoch older than the producer's current one: not written */
    BK_PSEQ_INVALID,       /* a producer id with a bad sequence, or several batches: refused */
} bk_pseq_verdict_t;

/* Producers remembered per partition; past it, the one that wrote least recently goes. */
#define BK_PSTATE_MAX_PRODUCERS 1024

typedef struct {
    bk_pseq_verdict_t verdict;
    int64_t base_offset; /* BK_PSEQ_DUPLICATE: where the original batch was stored */
    int32_t count;       /* BK_PSEQ_DUPLICATE: its records */
} bk_produce_result_t;

/* As bk_partition_append_batch, for a Kafka producer's records: when the (single) batch
 * carries a producer id (>= 0) it is first checked against what p remembers of that
 * producer; records of several batches where any has a producer id are BK_PSEQ_INVALID. Returns 0
 * with res->verdict BK_PSEQ_ACCEPT (appended: cb will run; also for a batch without producer id,
 * and then len may hold several batches) or another verdict (nothing written, cb never runs); or a
 * negative error as bk_partition_append_batch (and from reading the log's tail the first time:
 * BK_ECORRUPT, an I/O error). */
int bk_partition_append_producer(bk_partition_t *p, uint8_t *batches, size_t len,
                                 int32_t leader_epoch, bk_produce_result_t *res, bk_append_cb cb,
                                 void *arg);

/* A durable, strictly increasing number for this data directory: the file
 * "+producer-generation" holds the last one handed out, rewritten crash-safely (temp file,
 * fsync, rename, fsync the directory) before the new value is returned. Blocking; 0 or a
 * negative error. Producer ids of a standalone broker are built on it. */
int bk_log_next_generation(bk_log_t *log, int64_t *out);

/* Drops every record at or after offset (a follower's diverged tail), from disk and index,
 * crash-safely (truncate then fsync before returning). Refused with UV_EBUSY while appends are
 * pending on p. offset >= end offset: nothing to do. offset below the start offset: BK_ERANGE.
 * Details: the cut falls on a batch boundary; an offset inside a batch cuts at that batch's
 * start (the end offset then is below offset). UV_EBUSY while an append or append_raw of p
 * waits for its callback (retry after it ran; calling from that callback is fine) or a read
 * visitor is running. Later segments are deleted, the high watermark becomes min(it, the new
 * end) and the epoch list is cut; appends continue at the cut. Blocking (unlink, ftruncate,
 * fsync on the loop thread). BK_ECLOSED / BK_ENOTOPIC / the partition's failure refuse it; an
 * I/O error in the middle fails the partition (reopen recovers a consistent prefix). */
int bk_partition_truncate(bk_partition_t *p, int64_t offset);

/* Empties p and restarts it at offset start, which must be past its end (BK_EINVAL): what a
 * follower does when its leader's retention deleted the records it needs next (Kafka's
 * "truncate fully and start at"). Every segment is deleted and an empty one based at start
 * takes their place; the high watermark and the epoch list start over there. The new segment
 * is created before the old ones go, newest first, so a crash brings back a prefix of the old
 * log (and a reset can be repeated). UV_EBUSY, BK_ECLOSED, BK_ENOTOPIC and the partition's
 * failure as for bk_partition_truncate; an I/O error in the middle fails the partition.
 * Blocking (unlink, fsync on the loop thread). */
int bk_partition_reset(bk_partition_t *p, int64_t start);

/* Leader epochs, from the batch headers (kept in memory, rebuilt at open): the epoch of the
 * last batch (-1 when empty), and the end offset of the largest epoch <= epoch: the start
 * offset of the first batch with a larger epoch, or the end offset when there is none
 * (Kafka's OffsetsForLeaderEpoch). *found_epoch is set to that largest epoch <= epoch
 * (-1 when every batch has a larger epoch; the end offset is then the start offset). */
/* The list gains an entry only when a batch's epoch is larger than the last entry's (a
 * smaller one counts as part of the current epoch, as in Kafka); retention trims it to the
 * start offset. So the start offset of the last epoch is bk_partition_epoch_end(p,
 * bk_partition_last_epoch(p) - 1, &f). found_epoch may be NULL. */
int32_t bk_partition_last_epoch(const bk_partition_t *p);
int64_t bk_partition_epoch_end(const bk_partition_t *p, int32_t epoch, int32_t *found_epoch);

/* The replicated high watermark, kept by src/replication/ and stored with the partition so
 * that retention never passes it: a record some in-sync replica may still lack is never
 * deleted, and the start offset never passes the high watermark readers are shown (Kafka's
 * rule). A log used alone counts its local high watermark as committed. Once
 * bk_log_use_replicated_hw(log) was called (the replicator does, when it replicates), the
 * committed offset of each partition is the last value given to bk_partition_set_committed(),
 * clamped to the partition's end offset; a truncation below it lowers it to the new end, a
 * reset sets it to the new start. Before any value was given it is the value the
 * checkpoint file ("+hw-checkpoint" in the data directory, written every checkpoint_ms when it
 * changed and at close) held for the partition under the same topic id, clamped to what the
 * partition holds, else the start offset; the retention pass at open stops there too. */
void bk_log_use_replicated_hw(bk_log_t *log);
void bk_partition_set_committed(bk_partition_t *p, int64_t hw);
int64_t bk_partition_committed(const bk_partition_t *p);

int64_t bk_partition_start_offset(const bk_partition_t *p);   /* first readable offset */
int64_t bk_partition_end_offset(const bk_partition_t *p);     /* next offset to be assigned */
int64_t bk_partition_high_watermark(const bk_partition_t *p); /* end of committed data */
uint64_t bk_partition_size_bytes(const bk_partition_t *p);
uint32_t bk_partition_index(const bk_partition_t *p);
/* 0, or the error that fenced p (a failed write or flush: appends are refused with it).
 * *retrying (may be NULL) is 1 while the log keeps trying to clear the fence (every second,
 * once writes work again), 0 when only a restart can. */
int bk_partition_fenced(const bk_partition_t *p, int *retrying);
bk_topic_t *bk_partition_topic(bk_partition_t *p);

/* Called from the loop each time a partition's high watermark advances (after its append
 * callbacks ran). One hook per log; used for long-poll reads. */
void bk_log_set_commit_hook(bk_log_t *log, void (*hook)(void *arg, bk_partition_t *p), void *arg);

/* Counters for /metrics. */
typedef struct {
    uint64_t flushes; /* fdatasync rounds completed */
    uint64_t flush_errors;
    uint64_t flush_usec_total; /* summed wall time of flush rounds */
    /* flush round durations: bucket i counts rounds <= BK_LOG_FLUSH_BUCKET_US[i] microseconds,
     * the last bucket counts the rest */
    uint64_t flush_buckets[12];
    uint64_t segments_deleted; /* by retention */
    uint64_t appends;          /* batches appended */
    uint64_t records_appended;
    uint64_t bytes_appended;
    uint64_t cleaner_runs;            /* cleanings completed (compaction) */
    uint64_t cleaner_errors;          /* cleanings stopped by an error */
    uint64_t cleaner_bytes_reclaimed; /* bytes of .log files compaction removed */
    uint64_t cleaner_bytes_read;      /* bytes of segments cleanings went through */
    uint64_t cleaner_usec_total;      /* wall time of cleanings */
} bk_log_stats_t;
extern const uint32_t BK_LOG_FLUSH_BUCKET_US[11];
void bk_log_stats(const bk_log_t *log, bk_log_stats_t *out);

#endif
