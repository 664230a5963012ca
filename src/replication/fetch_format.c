/* The binary body of a replication fetch (follower → leader) and of its answer, encoded and
 * decoded without I/O. The decoders take bytes from the network: they must never read outside
 * the buffer, never allocate, and never loop more times than the input could justify.
 *
 * WIRE FORMAT
 *
 * Both bodies travel over HTTP (POST /replication/fetch, Content-Type
 * application/x-brook-fetch, in both directions) and are exactly one message each: no trailing
 * bytes. Integers are big-endian, signed ones two's complement. A string is a u16 byte count
 * and that many bytes, no terminator. A topic name is 1..249 bytes of [a-zA-Z0-9._-], never
 * "." or ".."; a broker id is 1..127 bytes, none of them NUL.
 *
 * The request names the follower and lists what it wants:
 *
 *   size   field
 *      4   magic               "BKF2"
 *      8   follower_known_epoch   highest leader epoch the follower has seen
 *   2+n    follower id         string
 *      8   instance            random, fixed for the follower process's life: two live brokers
 *                              using one id show as two instances (the leader refuses one)
 *      4   max_wait_ms         how long the leader may hold the request when nothing is new
 *      4   max_bytes           cap on record bytes in the whole answer, passed only by the
 *                              first batch of the first partition with data (sent whatever
 *                              its size, alone then, so every fetch makes progress)
 *      4   partition_count
 *          then partition_count times:
 *   2+n      topic             string
 *      8     topic_id          the follower's id of the topic: the leader answers a partition of
 *                              a topic it holds under another id as unknown and counts nothing
 *      4     partition
 *      8     fetch_offset      the follower's log end: it holds every offset below, durably
 *      4     last_fetched_epoch   partitionLeaderEpoch of its last batch, -1 if its log is empty
 *
 * The response carries the leader's epoch, the configuration of every topic (so a follower
 * creates and configures topics like the leader's), then one entry per requested partition:
 *
 *   size   field
 *      4   magic               "BKR3"
 *      8   leader_epoch
 *      4   error               0 ok, 1 not leader, 2 fenced (the requester knows a higher epoch)
 *      4   topic_count
 *          then topic_count times:
 *   2+n      name              string
 *      8     topic_id          the topic's id (0: made before ids); a follower holding another
 *                              id under this name holds an older topic, deleted since
 *      4     partitions
 *      8     retention_ms      signed, -1 = unlimited
 *      8     retention_bytes   signed, -1 = unlimited
 *      8     segment_bytes     unsigned
 *      4     max_message_bytes
 *      4     compression       compression.type (bk_topic_config_t: 0 producer, 1 + codec)
 *      4     min_insync_replicas   0 = the broker's flag
 *      4     replication_factor    0 = not asked
 *      4     cleanup_policy    bk_topic_config_t's BK_CLEANUP_* bits (0 = delete)
 *      8     delete_retention_ms   signed
 *      8     min_compaction_lag_ms signed
 *      8     min_cleanable_ratio   IEEE 754 binary64 bits of the ratio, 0 to 1
 *      4   partition_count
 *          then partition_count times:
 *   2+n      topic             string
 *      4     partition
 *      4     error             0 ok, 1 unknown partition, 2 offset out of range
 *      8     high_watermark
 *      8     log_start_offset
 *      8     diverging_end_offset   -1 when the follower's log is consistent with the leader's;
 *                              otherwise the end offset, on the leader, of the follower's
 *                              last_fetched_epoch: the follower truncates its log to it and
 *                              fetches again (Kafka KIP-101/KIP-279)
 *      4     records_len
 *      n     records           record batches exactly as in the leader's segment files
 *
 * A decoder rejects (BK_EINVAL) a wrong magic, any field cut short, a string or records_len
 * running past the end, a name breaking the rules above, a count larger than the remaining
 * bytes could hold at the smallest item size (checked before looping), and trailing bytes.
 * It checks structure only: offsets, epochs and error codes pass through as they are. */
#include <errno.h>
#include <string.h>
#include <stdlib.h>

#include "brook/common.h"
#include "brook/replication.h"

#define REQ_MAGIC "BKF2"  /* BKF1: before topic ids */
#define RESP_MAGIC "BKR3" /* BKR2: before topic compression/replication settings */
#define REQ_HEAD_MIN (4 + 8 + 2 + 8 + 4 + 4 + 4) /* without the id bytes */
#define REQ_PART_MIN (2 + 1 + 8 + 4 + 8 + 4)
#define RESP_HEAD (4 + 8 + 4 + 4)
#define TOPIC_MIN (2 + 1 + 8 + 4 + 8 + 8 + 8 + 4 + 4 + 4 + 4 + 4 + 8 + 8 + 8)
#define RESP_PART_MIN (2 + 1 + 4 + 4 + 8 + 8 + 8 + 4)

/* ---------- names ---------- */

static int valid_topic(const char *s, size_t n)
{
    if (n < 1 || n > BK_FETCH_MAX_TOPIC || !s)
        return 0;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

static int valid_id(const char *s, size_t n)
{
    return s && n >= 1 && n <= BK_FETCH_MAX_ID && !memchr(s, 0, n);
}

/* ---------- reading ---------- */

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} rd_t;

static size_t left(const rd_t *r)
{
    return (size_t)(r->end - r->p);
}

static int get_bytes(rd_t *r, size_t n, const uint8_t **out)
{
    if (left(r) < n)
        return BK_EINVAL;
    *out = r->p;
    r->p += n;
    return 0;
}

static int get_be(rd_t *r, size_t n, uint64_t *out)
{
    const uint8_t *b;
    if (get_bytes(r, n, &b))
        return BK_EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | b[i];
    *out = v;
    return 0;
}

static int get_u32(rd_t *r, uint32_t *out)
{
    uint64_t v;
    if (get_be(r, 4, &v))
        return BK_EINVAL;
    *out = (uint32_t)v;
    return 0;
}

static int get_i32(rd_t *r, int32_t *out)
{
    uint32_t v;
    if (get_u32(r, &v))
        return BK_EINVAL;
    *out = (int32_t)v;
    return 0;
}

static int get_i64(rd_t *r, int64_t *out)
{
    uint64_t v;
    if (get_be(r, 8, &v))
        return BK_EINVAL;
    *out = (int64_t)v;
    return 0;
}

static int get_str(rd_t *r, const char **s, size_t *n)
{
    uint64_t len;
    const uint8_t *b;
    if (get_be(r, 2, &len) || get_bytes(r, (size_t)len, &b))
        return BK_EINVAL;
    *s = (const char *)b;
    *n = (size_t)len;
    return 0;
}

static int get_magic(rd_t *r, const char *magic)
{
    const uint8_t *b;
    if (get_bytes(r, 4, &b) || memcmp(b, magic, 4) != 0)
        return BK_EINVAL;
    return 0;
}

/* ---------- items (shared by the decoders' validation pass and the iterators) ---------- */

typedef int (*item_fn)(rd_t *r, void *out);

static int read_req_part(rd_t *r, void *out)
{
    bk_fetch_req_part_t *p = out;
    if (get_str(r, &p->topic, &p->topic_len) || !valid_topic(p->topic, p->topic_len))
        return BK_EINVAL;
    if (get_be(r, 8, &p->topic_id) || get_u32(r, &p->partition) || get_i64(r, &p->fetch_offset) ||
        get_i32(r, &p->last_fetched_epoch))
        return BK_EINVAL;
    return 0;
}

static int read_topic(rd_t *r, void *out)
{
    bk_fetch_topic_t *t = out;
    uint64_t seg;
    if (get_str(r, &t->name, &t->name_len) || !valid_topic(t->name, t->name_len))
        return BK_EINVAL;
    if (get_be(r, 8, &t->id) || get_u32(r, &t->partitions) || get_i64(r, &t->retention_ms) ||
        get_i64(r, &t->retention_bytes) || get_be(r, 8, &seg) || get_u32(r, &t->max_message_bytes))
        return BK_EINVAL;
    uint32_t compression;
    if (get_u32(r, &compression) || get_u32(r, &t->min_insync_replicas) ||
        get_u32(r, &t->replication_factor))
        return BK_EINVAL;
    t->compression = (int32_t)compression;
    t->segment_bytes = seg;
    uint64_t ratio_bits;
    if (get_u32(r, &t->cleanup_policy) || get_i64(r, &t->delete_retention_ms) ||
        get_i64(r, &t->min_compaction_lag_ms) || get_be(r, 8, &ratio_bits))
        return BK_EINVAL;
    memcpy(&t->min_cleanable_ratio, &ratio_bits, sizeof ratio_bits);
    if (!(t->min_cleanable_ratio >= 0.0 && t->min_cleanable_ratio <= 1.0)) /* NaN too */
        return BK_EINVAL;
    return 0;
}

static int read_resp_part(rd_t *r, void *out)
{
    bk_fetch_resp_part_t *p = out;
    uint32_t n;
    if (get_str(r, &p->topic, &p->topic_len) || !valid_topic(p->topic, p->topic_len))
        return BK_EINVAL;
    if (get_u32(r, &p->partition) || get_i32(r, &p->error) || get_i64(r, &p->high_watermark) ||
        get_i64(r, &p->log_start_offset) || get_i64(r, &p->diverging_end_offset) ||
        get_u32(r, &n) || get_bytes(r, n, &p->records))
        return BK_EINVAL;
    p->records_len = n;
    return 0;
}

/* Reads a u32 count and checks every item of the list once, leaving *it at its first item. */
static int read_list(rd_t *r, size_t min_item, item_fn fn, void *scratch, uint32_t *count,
                     bk_fetch_iter_t *it)
{
    if (get_u32(r, count) || *count > left(r) / min_item)
        return BK_EINVAL;
    it->pos = r->p;
    for (uint32_t i = 0; i < *count; i++)
        if (fn(r, scratch))
            return BK_EINVAL;
    it->end = r->p;
    it->left = *count;
    return 0;
}

static int next_item(bk_fetch_iter_t *it, item_fn fn, void *out)
{
    if (it->left == 0 || !it->pos)
        return 0;
    rd_t r = {it->pos, it->end};
    if (fn(&r, out))
        return 0; /* cannot happen after a successful decode */
    it->pos = r.p;
    it->left--;
    return 1;
}

int bk_fetch_request_decode(const uint8_t *data, size_t len, bk_fetch_req_t *q)
{
    memset(q, 0, sizeof *q);
    if (!data)
        return BK_EINVAL;
    rd_t r = {data, data + len};
    bk_fetch_req_part_t scratch;
    if (get_magic(&r, REQ_MAGIC) || get_i64(&r, &q->known_epoch) ||
        get_str(&r, &q->id, &q->id_len) || !valid_id(q->id, q->id_len) ||
        get_be(&r, 8, &q->instance) || get_u32(&r, &q->max_wait_ms) || get_u32(&r, &q->max_bytes))
        return BK_EINVAL;
    if (read_list(&r, REQ_PART_MIN, read_req_part, &scratch, &q->partition_count, &q->parts))
        return BK_EINVAL;
    return left(&r) == 0 ? 0 : BK_EINVAL;
}

int bk_fetch_request_next(bk_fetch_req_t *q, bk_fetch_req_part_t *p)
{
    return next_item(&q->parts, read_req_part, p);
}

int bk_fetch_response_decode(const uint8_t *data, size_t len, bk_fetch_resp_t *s)
{
    memset(s, 0, sizeof *s);
    if (!data)
        return BK_EINVAL;
    rd_t r = {data, data + len};
    bk_fetch_topic_t topic;
    bk_fetch_resp_part_t part;
    if (get_magic(&r, RESP_MAGIC) || get_i64(&r, &s->leader_epoch) || get_i32(&r, &s->error))
        return BK_EINVAL;
    if (read_list(&r, TOPIC_MIN, read_topic, &topic, &s->topic_count, &s->topics) ||
        read_list(&r, RESP_PART_MIN, read_resp_part, &part, &s->partition_count, &s->parts))
        return BK_EINVAL;
    return left(&r) == 0 ? 0 : BK_EINVAL;
}

int bk_fetch_response_next_topic(bk_fetch_resp_t *s, bk_fetch_topic_t *t)
{
    return next_item(&s->topics, read_topic, t);
}

int bk_fetch_response_next_part(bk_fetch_resp_t *s, bk_fetch_resp_part_t *p)
{
    return next_item(&s->parts, read_resp_part, p);
}

/* ---------- writing ---------- */

void bk_fetch_buf_free(bk_fetch_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

/* Makes room for n more bytes. Returns 0, BK_ETOOBIG or -ENOMEM (= UV_ENOMEM). */
static int reserve(bk_fetch_buf_t *b, size_t n)
{
    if (n > SIZE_MAX / 2 - b->len)
        return BK_ETOOBIG;
    return bk_grow(&b->data, &b->cap, b->len, n, 1, 256);
}

/* The put_* helpers write into room made by reserve() beforehand. */
static void put_be(bk_fetch_buf_t *b, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b->data[b->len + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    b->len += n;
}

static void put_bytes(bk_fetch_buf_t *b, const void *p, size_t n)
{
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_str(bk_fetch_buf_t *b, const char *s, size_t n)
{
    put_be(b, n, 2);
    put_bytes(b, s, n);
}

int bk_fetch_request_encode(bk_fetch_buf_t *b, const bk_fetch_req_t *q,
                            const bk_fetch_req_part_t *parts, size_t n)
{
    if (!valid_id(q->id, q->id_len) || (n && !parts))
        return BK_EINVAL;
    if (n > UINT32_MAX)
        return BK_ETOOBIG;
    size_t size = REQ_HEAD_MIN + q->id_len;
    for (size_t i = 0; i < n; i++) {
        if (!valid_topic(parts[i].topic, parts[i].topic_len))
            return BK_EINVAL;
        size += REQ_PART_MIN - 1 + parts[i].topic_len; /* no overflow: n <= 2^32, len <= 249 */
    }
    int err = reserve(b, size);
    if (err)
        return err;
    put_bytes(b, REQ_MAGIC, 4);
    put_be(b, (uint64_t)q->known_epoch, 8);
    put_str(b, q->id, q->id_len);
    put_be(b, q->instance, 8);
    put_be(b, q->max_wait_ms, 4);
    put_be(b, q->max_bytes, 4);
    put_be(b, n, 4);
    for (size_t i = 0; i < n; i++) {
        const bk_fetch_req_part_t *p = &parts[i];
        put_str(b, p->topic, p->topic_len);
        put_be(b, p->topic_id, 8);
        put_be(b, p->partition, 4);
        put_be(b, (uint64_t)p->fetch_offset, 8);
        put_be(b, (uint32_t)p->last_fetched_epoch, 4);
    }
    return 0;
}

int bk_fetch_response_begin(bk_fetch_buf_t *b, const bk_fetch_resp_t *s,
                            const bk_fetch_topic_t *topics, size_t nt, size_t np)
{
    if (nt && !topics)
        return BK_EINVAL;
    if (nt > UINT32_MAX || np > UINT32_MAX)
        return BK_ETOOBIG;
    size_t size = RESP_HEAD + 4;
    for (size_t i = 0; i < nt; i++) {
        if (!valid_topic(topics[i].name, topics[i].name_len))
            return BK_EINVAL;
        size += TOPIC_MIN - 1 + topics[i].name_len;
    }
    int err = reserve(b, size);
    if (err)
        return err;
    put_bytes(b, RESP_MAGIC, 4);
    put_be(b, (uint64_t)s->leader_epoch, 8);
    put_be(b, (uint32_t)s->error, 4);
    put_be(b, nt, 4);
    for (size_t i = 0; i < nt; i++) {
        const bk_fetch_topic_t *t = &topics[i];
        put_str(b, t->name, t->name_len);
        put_be(b, t->id, 8);
        put_be(b, t->partitions, 4);
        put_be(b, (uint64_t)t->retention_ms, 8);
        put_be(b, (uint64_t)t->retention_bytes, 8);
        put_be(b, t->segment_bytes, 8);
        put_be(b, t->max_message_bytes, 4);
        put_be(b, (uint32_t)t->compression, 4);
        put_be(b, t->min_insync_replicas, 4);
        put_be(b, t->replication_factor, 4);
        uint64_t ratio_bits;
        memcpy(&ratio_bits, &t->min_cleanable_ratio, sizeof ratio_bits);
        put_be(b, t->cleanup_policy, 4);
        put_be(b, (uint64_t)t->delete_retention_ms, 8);
        put_be(b, (uint64_t)t->min_compaction_lag_ms, 8);
        put_be(b, ratio_bits, 8);
    }
    put_be(b, np, 4);
    return 0;
}

/* Writes one partition's fields; with_records also copies its record bytes. */
static int put_part(bk_fetch_buf_t *b, const bk_fetch_resp_part_t *p, int with_records)
{
    if (!valid_topic(p->topic, p->topic_len) || (with_records && p->records_len && !p->records))
        return BK_EINVAL;
    if (p->records_len > UINT32_MAX)
        return BK_ETOOBIG;
    int err = reserve(b, RESP_PART_MIN - 1 + p->topic_len + (with_records ? p->records_len : 0));
    if (err)
        return err;
    put_str(b, p->topic, p->topic_len);
    put_be(b, p->partition, 4);
    put_be(b, (uint32_t)p->error, 4);
    put_be(b, (uint64_t)p->high_watermark, 8);
    put_be(b, (uint64_t)p->log_start_offset, 8);
    put_be(b, (uint64_t)p->diverging_end_offset, 8);
    put_be(b, p->records_len, 4);
    if (with_records)
        put_bytes(b, p->records, p->records_len);
    return 0;
}

int bk_fetch_response_put_part(bk_fetch_buf_t *b, const bk_fetch_resp_part_t *p)
{
    return put_part(b, p, 1);
}

int bk_fetch_response_put_part_head(bk_fetch_buf_t *b, const bk_fetch_resp_part_t *p)
{
    return put_part(b, p, 0);
}

int bk_fetch_response_encode(bk_fetch_buf_t *b, const bk_fetch_resp_t *s,
                             const bk_fetch_topic_t *topics, size_t nt,
                             const bk_fetch_resp_part_t *parts, size_t np)
{
    size_t start = b->len;
    int err = np && !parts ? BK_EINVAL : bk_fetch_response_begin(b, s, topics, nt, np);
    for (size_t i = 0; !err && i < np; i++)
        err = put_part(b, &parts[i], 1);
    if (err)
        b->len = start;
    return err;
}
