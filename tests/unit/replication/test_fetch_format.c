/* Unit tests of the replication fetch wire format: exact bytes of a small request, round trips
 * of both messages (empty lists, large records), and rejection of every truncation, bad
 * magic, corrupt counts, over-long or invalid names and trailing bytes. */
#include <stdlib.h>
#include <string.h>

#include "brook/common.h"
#include "brook/replication.h"
#include "check.h"

static bk_fetch_req_part_t req_part(const char *topic, uint32_t p, int64_t off, int32_t ep)
{
    bk_fetch_req_part_t x = {topic, strlen(topic), p, off, ep, 0x3132333435363730u + p};
    return x;
}

static bk_fetch_req_t req_head(const char *id)
{
    bk_fetch_req_t q;
    memset(&q, 0, sizeof q);
    q.known_epoch = 7;
    q.id = id;
    q.id_len = strlen(id);
    q.instance = 0x4142434445464748u;
    q.max_wait_ms = 500;
    q.max_bytes = 1u << 20;
    return q;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static void test_request_exact_bytes(void)
{
    bk_fetch_req_t q = req_head("b1");
    q.known_epoch = 0x0102030405060708;
    q.max_wait_ms = 0x0a0b0c0d;
    q.max_bytes = 0x11121314;
    bk_fetch_req_part_t p = req_part("t", 3, 0x2122232425262728, -1);
    bk_fetch_buf_t b = {0};
    CHECK_EQ_INT(bk_fetch_request_encode(&b, &q, &p, 1), 0);
    static const uint8_t want[] = {'B',  'K',  'F',  '2',  1,    2,    3,    4,    5,    6,    7,
                                   8,    0,    2,    'b',  '1',  0x41, 0x42, 0x43, 0x44, 0x45, 0x46,
                                   0x47, 0x48, 0x0a, 0x0b, 0x0c, 0x0d, 0x11, 0x12, 0x13, 0x14, 0,
                                   0,    0,    1,    0,    1,    't',  0x31, 0x32, 0x33, 0x34, 0x35,
                                   0x36, 0x37, 0x33, 0,    0,    0,    3,    0x21, 0x22, 0x23, 0x24,
                                   0x25, 0x26, 0x27, 0x28, 0xff, 0xff, 0xff, 0xff};
    CHECK_EQ_INT(b.len, sizeof want);
    if (b.len == sizeof want)
        CHECK_MEM(b.data, want, sizeof want);
    bk_fetch_buf_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
}

static void test_request_round_trip(void)
{
    bk_fetch_req_t q = req_head("broker-2");
    q.known_epoch = INT64_MAX;
    bk_fetch_req_part_t parts[3] = {req_part("orders", 0, 0, -1),
                                    req_part("orders", 7, INT64_MAX, INT32_MAX),
                                    req_part("a.b_c-D9", UINT32_MAX, -5, INT32_MIN)};
    bk_fetch_buf_t b = {0};
    CHECK_EQ_INT(bk_fetch_request_encode(&b, &q, parts, 3), 0);
    bk_fetch_req_t d;
    CHECK_EQ_INT(bk_fetch_request_decode(b.data, b.len, &d), 0);
    CHECK_EQ_INT(d.known_epoch, INT64_MAX);
    CHECK_EQ_INT(d.id_len, 8);
    CHECK(d.id >= (const char *)b.data && d.id + d.id_len <= (const char *)b.data + b.len);
    CHECK(memcmp(d.id, "broker-2", 8) == 0);
    CHECK_EQ_INT(d.max_wait_ms, 500);
    CHECK(d.instance == 0x4142434445464748u);
    CHECK_EQ_INT(d.max_bytes, 1 << 20);
    CHECK_EQ_INT(d.partition_count, 3);
    bk_fetch_req_part_t p;
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(bk_fetch_request_next(&d, &p), 1);
        CHECK_EQ_INT(p.topic_len, parts[i].topic_len);
        CHECK(memcmp(p.topic, parts[i].topic, p.topic_len) == 0);
        CHECK_EQ_INT(p.partition, parts[i].partition);
        CHECK_EQ_INT(p.fetch_offset, parts[i].fetch_offset);
        CHECK_EQ_INT(p.last_fetched_epoch, parts[i].last_fetched_epoch);
        CHECK(p.topic_id == parts[i].topic_id);
    }
    CHECK_EQ_INT(bk_fetch_request_next(&d, &p), 0);
    CHECK_EQ_INT(bk_fetch_request_next(&d, &p), 0);
    bk_fetch_buf_free(&b);
}

static void test_request_empty_list(void)
{
    bk_fetch_req_t q = req_head("x");
    bk_fetch_buf_t b = {0};
    CHECK_EQ_INT(bk_fetch_request_encode(&b, &q, NULL, 0), 0);
    CHECK_EQ_INT(b.len, 34 + 1);
    bk_fetch_req_t d;
    CHECK_EQ_INT(bk_fetch_request_decode(b.data, b.len, &d), 0);
    CHECK_EQ_INT(d.partition_count, 0);
    bk_fetch_req_part_t p;
    CHECK_EQ_INT(bk_fetch_request_next(&d, &p), 0);
    bk_fetch_buf_free(&b);
}

/* A response with two topics and three partitions; records of part 1 are `big` bytes. */
static void encode_response(bk_fetch_buf_t *b, uint8_t *big, size_t big_len)
{
    bk_fetch_resp_t r;
    memset(&r, 0, sizeof r);
    r.leader_epoch = 12;
    r.error = BK_FETCH_OK;
    bk_fetch_topic_t topics[2] = {
        {"orders", 6, 3, 604800000, -1, 1 << 30, 1 << 20, 0x0123456789abcdefu, 5, 2, 3, 2, 86400000,
         5, 0.25},
        {"z", 1, 1, -1, INT64_MAX, UINT64_MAX, UINT32_MAX, UINT64_MAX, 0, 0, 0, 0, 0, 0, 0.0}};
    static const uint8_t small[] = {1, 2, 3, 4, 5};
    bk_fetch_resp_part_t parts[3] = {
        {"orders", 6, 0, BK_FETCH_PART_OK, 100, 0, -1, small, sizeof small},
        {"orders", 6, 2, BK_FETCH_PART_OK, 5000, 10, -1, big, big_len},
        {"z", 1, 0, BK_FETCH_PART_RANGE, 0, 50, 42, NULL, 0},
    };
    CHECK_EQ_INT(bk_fetch_response_encode(b, &r, topics, 2, parts, 3), 0);
}

static void test_response_round_trip(void)
{
    size_t big_len = (1u << 20) + 3;
    uint8_t *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (uint8_t)(i * 31 + 7);
    bk_fetch_buf_t b = {0};
    encode_response(&b, big, big_len);
    bk_fetch_resp_t d;
    CHECK_EQ_INT(bk_fetch_response_decode(b.data, b.len, &d), 0);
    CHECK_EQ_INT(d.leader_epoch, 12);
    CHECK_EQ_INT(d.error, 0);
    CHECK_EQ_INT(d.topic_count, 2);
    CHECK_EQ_INT(d.partition_count, 3);
    bk_fetch_topic_t t;
    CHECK_EQ_INT(bk_fetch_response_next_topic(&d, &t), 1);
    CHECK(t.name_len == 6 && memcmp(t.name, "orders", 6) == 0);
    CHECK_EQ_INT(t.partitions, 3);
    CHECK_EQ_INT(t.retention_ms, 604800000);
    CHECK_EQ_INT(t.retention_bytes, -1);
    CHECK(t.segment_bytes == 1u << 30);
    CHECK_EQ_INT(t.max_message_bytes, 1 << 20);
    CHECK_EQ_INT(t.compression, 5);
    CHECK_EQ_INT(t.min_insync_replicas, 2);
    CHECK_EQ_INT(t.replication_factor, 3);
    CHECK_EQ_INT(t.cleanup_policy, 2); /* compaction settings travel too */
    CHECK_EQ_INT(t.delete_retention_ms, 86400000);
    CHECK_EQ_INT(t.min_compaction_lag_ms, 5);
    CHECK(t.min_cleanable_ratio == 0.25);
    CHECK(t.id == 0x0123456789abcdefu);
    CHECK_EQ_INT(bk_fetch_response_next_topic(&d, &t), 1);
    CHECK(t.name_len == 1 && t.name[0] == 'z');
    CHECK(t.id == UINT64_MAX);
    CHECK_EQ_INT(t.retention_bytes, INT64_MAX);
    CHECK(t.segment_bytes == UINT64_MAX);
    CHECK_EQ_INT(t.max_message_bytes, UINT32_MAX);
    CHECK_EQ_INT(bk_fetch_response_next_topic(&d, &t), 0);

    bk_fetch_resp_part_t p;
    CHECK_EQ_INT(bk_fetch_response_next_part(&d, &p), 1);
    CHECK_EQ_INT(p.partition, 0);
    CHECK_EQ_INT(p.high_watermark, 100);
    CHECK_EQ_INT(p.diverging_end_offset, -1);
    CHECK_EQ_INT(p.records_len, 5);
    CHECK(p.records[0] == 1 && p.records[4] == 5);
    CHECK_EQ_INT(bk_fetch_response_next_part(&d, &p), 1);
    CHECK_EQ_INT(p.partition, 2);
    CHECK_EQ_INT(p.log_start_offset, 10);
    CHECK_EQ_INT(p.records_len, big_len);
    CHECK(p.records > b.data && p.records + p.records_len <= b.data + b.len);
    CHECK_MEM(p.records, big, big_len);
    CHECK_EQ_INT(bk_fetch_response_next_part(&d, &p), 1);
    CHECK(p.topic_len == 1 && p.topic[0] == 'z');
    CHECK_EQ_INT(p.error, BK_FETCH_PART_RANGE);
    CHECK_EQ_INT(p.diverging_end_offset, 42);
    CHECK_EQ_INT(p.records_len, 0);
    CHECK_EQ_INT(bk_fetch_response_next_part(&d, &p), 0);
    bk_fetch_buf_free(&b);
    free(big);
}

static void test_response_empty_lists(void)
{
    bk_fetch_resp_t r;
    memset(&r, 0, sizeof r);
    r.leader_epoch = 3;
    r.error = BK_FETCH_EFENCED;
    bk_fetch_buf_t b = {0};
    CHECK_EQ_INT(bk_fetch_response_encode(&b, &r, NULL, 0, NULL, 0), 0);
    CHECK_EQ_INT(b.len, 24);
    bk_fetch_resp_t d;
    CHECK_EQ_INT(bk_fetch_response_decode(b.data, b.len, &d), 0);
    CHECK_EQ_INT(d.error, BK_FETCH_EFENCED);
    CHECK_EQ_INT(d.leader_epoch, 3);
    bk_fetch_topic_t t;
    bk_fetch_resp_part_t p;
    CHECK_EQ_INT(bk_fetch_response_next_topic(&d, &t), 0);
    CHECK_EQ_INT(bk_fetch_response_next_part(&d, &p), 0);
    bk_fetch_buf_free(&b);
}

static void test_piecewise_equals_whole(void)
{
    uint8_t rec[300];
    memset(rec, 0xab, sizeof rec);
    bk_fetch_buf_t whole = {0}, piece = {0};
    encode_response(&whole, rec, sizeof rec);

    bk_fetch_resp_t r;
    memset(&r, 0, sizeof r);
    r.leader_epoch = 12;
    bk_fetch_topic_t topics[2] = {
        {"orders", 6, 3, 604800000, -1, 1 << 30, 1 << 20, 0x0123456789abcdefu, 5, 2, 3, 2, 86400000,
         5, 0.25},
        {"z", 1, 1, -1, INT64_MAX, UINT64_MAX, UINT32_MAX, UINT64_MAX, 0, 0, 0, 0, 0, 0, 0.0}};
    static const uint8_t small[] = {1, 2, 3, 4, 5};
    bk_fetch_resp_part_t p0 = {"orders", 6, 0, 0, 100, 0, -1, small, sizeof small};
    bk_fetch_resp_part_t p1 = {"orders", 6, 2, 0, 5000, 10, -1, NULL, sizeof rec};
    bk_fetch_resp_part_t p2 = {"z", 1, 0, BK_FETCH_PART_RANGE, 0, 50, 42, NULL, 0};
    CHECK_EQ_INT(bk_fetch_response_begin(&piece, &r, topics, 2, 3), 0);
    CHECK_EQ_INT(bk_fetch_response_put_part(&piece, &p0), 0);
    CHECK_EQ_INT(bk_fetch_response_put_part(&piece, &p1), BK_EINVAL); /* records NULL */
    CHECK_EQ_INT(bk_fetch_response_put_part_head(&piece, &p1), 0);
    size_t head_end = piece.len;
    /* What the caller would send as a separate buffer: */
    bk_fetch_resp_part_t raw = {"x", 1, 0, 0, 0, 0, 0, rec, sizeof rec};
    bk_fetch_buf_t tmp = {0};
    CHECK_EQ_INT(bk_fetch_response_put_part(&tmp, &raw), 0);
    CHECK_EQ_INT(tmp.len, 39 + sizeof rec);
    bk_fetch_buf_t rest = {0};
    CHECK_EQ_INT(bk_fetch_response_put_part(&rest, &p2), 0);
    CHECK_EQ_INT(whole.len, head_end + sizeof rec + rest.len);
    if (whole.len == head_end + sizeof rec + rest.len) {
        CHECK_MEM(whole.data, piece.data, head_end);
        CHECK_MEM(whole.data + head_end, rec, sizeof rec);
        CHECK_MEM(whole.data + head_end + sizeof rec, rest.data, rest.len);
    }
    bk_fetch_buf_free(&whole);
    bk_fetch_buf_free(&piece);
    bk_fetch_buf_free(&tmp);
    bk_fetch_buf_free(&rest);
}

static void test_every_truncation_rejected(void)
{
    uint8_t rec[40];
    memset(rec, 7, sizeof rec);
    bk_fetch_buf_t resp = {0}, req = {0};
    encode_response(&resp, rec, sizeof rec);
    bk_fetch_req_t q = req_head("broker-1");
    bk_fetch_req_part_t parts[2] = {req_part("orders", 1, 10, 2), req_part("t", 0, 0, -1)};
    CHECK_EQ_INT(bk_fetch_request_encode(&req, &q, parts, 2), 0);

    int bad = 0;
    bk_fetch_req_t dq;
    bk_fetch_resp_t dr;
    for (size_t n = 0; n < req.len; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan catches any over-read */
        memcpy(copy, req.data, n);
        bad += bk_fetch_request_decode(copy, n, &dq) != BK_EINVAL;
        free(copy);
    }
    for (size_t n = 0; n < resp.len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, resp.data, n);
        bad += bk_fetch_response_decode(copy, n, &dr) != BK_EINVAL;
        free(copy);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(bk_fetch_request_decode(req.data, req.len, &dq), 0);
    CHECK_EQ_INT(bk_fetch_response_decode(resp.data, resp.len, &dr), 0);
    CHECK_EQ_INT(bk_fetch_request_decode(NULL, 0, &dq), BK_EINVAL);

    /* One trailing byte is rejected too. */
    uint8_t z = 0;
    req.data = realloc(req.data, req.len + 1);
    req.data[req.len] = z;
    CHECK_EQ_INT(bk_fetch_request_decode(req.data, req.len + 1, &dq), BK_EINVAL);
    resp.data = realloc(resp.data, resp.len + 1);
    resp.data[resp.len] = z;
    CHECK_EQ_INT(bk_fetch_response_decode(resp.data, resp.len + 1, &dr), BK_EINVAL);
    bk_fetch_buf_free(&req);
    bk_fetch_buf_free(&resp);
}

static void test_bad_magic(void)
{
    bk_fetch_req_t q = req_head("a");
    bk_fetch_buf_t b = {0};
    CHECK_EQ_INT(bk_fetch_request_encode(&b, &q, NULL, 0), 0);
    bk_fetch_req_t dq;
    bk_fetch_resp_t dr;
    CHECK_EQ_INT(bk_fetch_response_decode(b.data, b.len, &dr), BK_EINVAL); /* BKF2 ≠ BKR2 */
    b.data[3] = '1'; /* the format before topic ids */
    CHECK_EQ_INT(bk_fetch_request_decode(b.data, b.len, &dq), BK_EINVAL);
    bk_fetch_buf_free(&b);
}

/* Offsets in the request built below (id "abcde"): partition_count at 35, first topic length
 * at 39. */
static void test_corrupt_counts(void)
{
    bk_fetch_req_t q = req_head("abcde");
    bk_fetch_req_part_t parts[2] = {req_part("orders", 1, 10, 2), req_part("t", 0, 0, -1)};
    bk_fetch_buf_t b = {0};
    CHECK_EQ_INT(bk_fetch_request_encode(&b, &q, parts, 2), 0);
    bk_fetch_req_t d;
    static const uint32_t counts[] = {0, 1, 3, 4, 1000, 0x7fffffff, UINT32_MAX};
    for (size_t i = 0; i < BK_ARRAY_LEN(counts); i++) {
        put_be(b.data + 35, counts[i], 4);
        CHECK_EQ_INT(bk_fetch_request_decode(b.data, b.len, &d), BK_EINVAL);
    }
    put_be(b.data + 35, 2, 4);
    CHECK_EQ_INT(bk_fetch_request_decode(b.data, b.len, &d), 0);
    /* A string length running past the end, and one eating into the next field. */
    put_be(b.data + 39, 0xffff, 2);
    CHECK_EQ_INT(bk_fetch_request_decode(b.data, b.len, &d), BK_EINVAL);
    put_be(b.data + 39, 7, 2);
    CHECK_EQ_INT(bk_fetch_request_decode(b.data, b.len, &d), BK_EINVAL);
    put_be(b.data + 39, 0, 2);
    CHECK_EQ_INT(bk_fetch_request_decode(b.data, b.len, &d), BK_EINVAL);
    bk_fetch_buf_free(&b);

    /* Response: topic_count at 16, one topic "z" (83 bytes), then partition_count. */
    bk_fetch_resp_t r;
    memset(&r, 0, sizeof r);
    bk_fetch_topic_t t = {"z", 1, 1, -1, -1, 1, 1, 9, 0, 0, 0, 0, 0, 0, 0.5};
    uint8_t rec[10] = {0};
    bk_fetch_resp_part_t p = {"z", 1, 0, 0, 0, 0, -1, rec, sizeof rec};
    CHECK_EQ_INT(bk_fetch_response_encode(&b, &r, &t, 1, &p, 1), 0);
    bk_fetch_resp_t dr;
    CHECK_EQ_INT(bk_fetch_response_decode(b.data, b.len, &dr), 0);
    for (size_t i = 0; i < BK_ARRAY_LEN(counts); i++) {
        if (counts[i] == 1)
            continue;
        put_be(b.data + 16, counts[i], 4);
        CHECK_EQ_INT(bk_fetch_response_decode(b.data, b.len, &dr), BK_EINVAL);
    }
    put_be(b.data + 16, 1, 4);
    size_t pc = 20 + 83; /* partition_count */
    for (size_t i = 0; i < BK_ARRAY_LEN(counts); i++) {
        if (counts[i] == 1)
            continue;
        put_be(b.data + pc, counts[i], 4);
        CHECK_EQ_INT(bk_fetch_response_decode(b.data, b.len, &dr), BK_EINVAL);
    }
    put_be(b.data + pc, 1, 4);
    size_t rl = pc + 4 + 3 + 4 + 4 + 24; /* records_len */
    CHECK_EQ_INT(b.len, rl + 4 + sizeof rec);
    static const uint32_t lens[] = {0, 9, 11, 1u << 31, UINT32_MAX};
    for (size_t i = 0; i < BK_ARRAY_LEN(lens); i++) {
        put_be(b.data + rl, lens[i], 4);
        CHECK_EQ_INT(bk_fetch_response_decode(b.data, b.len, &dr), BK_EINVAL);
    }
    put_be(b.data + rl, sizeof rec, 4);
    CHECK_EQ_INT(bk_fetch_response_decode(b.data, b.len, &dr), 0);
    bk_fetch_buf_free(&b);
}

static void test_names(void)
{
    char long_name[251];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[250] = 0;
    bk_fetch_req_t q = req_head("me");
    bk_fetch_buf_t b = {0};
    bk_fetch_req_part_t p = req_part(long_name, 0, 0, -1);
    CHECK_EQ_INT(bk_fetch_request_encode(&b, &q, &p, 1), BK_EINVAL);
    CHECK_EQ_INT(b.len, 0);
    p.topic_len = 249;
    CHECK_EQ_INT(bk_fetch_request_encode(&b, &q, &p, 1), 0);
    bk_fetch_req_t d;
    CHECK_EQ_INT(bk_fetch_request_decode(b.data, b.len, &d), 0);
    /* Hand-made 250-byte name: the decoder refuses it. Topic length field at 36. */
    size_t len = b.len;
    b.data = realloc(b.data, len + 1);
    memmove(b.data + 38 + 250, b.data + 38 + 249, len - 38 - 249);
    b.data[38 + 249] = 'n';
    put_be(b.data + 36, 250, 2);
    CHECK_EQ_INT(bk_fetch_request_decode(b.data, len + 1, &d), BK_EINVAL);
    put_be(b.data + 36, 249, 2); /* and a 249-byte name followed by one stray byte */
    CHECK_EQ_INT(bk_fetch_request_decode(b.data, len + 1, &d), BK_EINVAL);
    bk_fetch_buf_free(&b);

    static const char *bad_topics[] = {"", ".", "..", "a/b", "a b", "é", "a\nb"};
    for (size_t i = 0; i < BK_ARRAY_LEN(bad_topics); i++) {
        p = req_part(bad_topics[i], 0, 0, -1);
        CHECK_EQ_INT(bk_fetch_request_encode(&b, &q, &p, 1), BK_EINVAL);
        /* Same name smuggled into a valid encoding of "..." with the same length: */
        size_t n = strlen(bad_topics[i]);
        char ok[8] = "xxxxxxx";
        bk_fetch_req_part_t good = {ok, n ? n : 1, 0, 0, -1, 0};
        CHECK_EQ_INT(bk_fetch_request_encode(&b, &q, &good, 1), 0);
        put_be(b.data + 36, n, 2);
        memcpy(b.data + 38, bad_topics[i], n);
        CHECK_EQ_INT(bk_fetch_request_decode(b.data, b.len, &d), BK_EINVAL);
        b.len = 0;
    }
    bk_fetch_buf_free(&b);

    /* Broker ids: 1..127 bytes, no NUL. */
    char id[129];
    memset(id, 'i', sizeof id);
    q.id = id;
    q.id_len = 128;
    CHECK_EQ_INT(bk_fetch_request_encode(&b, &q, NULL, 0), BK_EINVAL);
    q.id_len = 0;
    CHECK_EQ_INT(bk_fetch_request_encode(&b, &q, NULL, 0), BK_EINVAL);
    q.id = "a\0b";
    q.id_len = 3;
    CHECK_EQ_INT(bk_fetch_request_encode(&b, &q, NULL, 0), BK_EINVAL);
    q.id = id;
    q.id_len = 127;
    CHECK_EQ_INT(bk_fetch_request_encode(&b, &q, NULL, 0), 0);
    CHECK_EQ_INT(bk_fetch_request_decode(b.data, b.len, &d), 0);
    b.data[14 + 5] = 0;
    CHECK_EQ_INT(bk_fetch_request_decode(b.data, b.len, &d), BK_EINVAL);
    bk_fetch_buf_free(&b);
}

static void test_failed_encode_leaves_buffer(void)
{
    bk_fetch_buf_t b = {0};
    bk_fetch_req_t q = req_head("me");
    CHECK_EQ_INT(bk_fetch_request_encode(&b, &q, NULL, 0), 0);
    size_t len = b.len;
    bk_fetch_resp_t r;
    memset(&r, 0, sizeof r);
    bk_fetch_topic_t t = {"ok", 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.5};
    bk_fetch_resp_part_t parts[2] = {{"ok", 2, 0, 0, 0, 0, -1, NULL, 0},
                                     {"b@d", 3, 0, 0, 0, 0, -1, NULL, 0}};
    CHECK_EQ_INT(bk_fetch_response_encode(&b, &r, &t, 1, parts, 2), BK_EINVAL);
    CHECK_EQ_INT(b.len, len);
    CHECK_EQ_INT(bk_fetch_response_encode(&b, &r, &t, 1, NULL, 2), BK_EINVAL);
    CHECK_EQ_INT(b.len, len);
    parts[1].records = (const uint8_t *)"never read";
    parts[1].records_len = (size_t)UINT32_MAX + 1;
    parts[1].topic = "ok";
    parts[1].topic_len = 2;
    CHECK_EQ_INT(bk_fetch_response_encode(&b, &r, &t, 1, parts, 2), BK_ETOOBIG);
    CHECK_EQ_INT(b.len, len);
    bk_fetch_req_t d;
    CHECK_EQ_INT(bk_fetch_request_decode(b.data, b.len, &d), 0);
    bk_fetch_buf_free(&b);
}

CHECK_MAIN(CASE(test_request_exact_bytes), CASE(test_request_round_trip),
           CASE(test_request_empty_list), CASE(test_response_round_trip),
           CASE(test_response_empty_lists), CASE(test_piecewise_equals_whole),
           CASE(test_every_truncation_rejected), CASE(test_bad_magic), CASE(test_corrupt_counts),
           CASE(test_names), CASE(test_failed_encode_leaves_buffer))
