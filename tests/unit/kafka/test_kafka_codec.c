/* Kafka request decoding and response framing, from bytes written out by hand after the
 * public protocol guide: the header (v1, and v2 with tagged fields), per-version fields of
 * Metadata, Produce, Fetch and ListOffsets, ApiVersions' answer (the table's truth, and the v0
 * body for error 35), and refusal of short, over-long and lying inputs. */
#include "kafka/proto.h"

#include <string.h>
#include <uv.h>

#include "brook/common.h"
#include "check.h"

static size_t be16(uint8_t *p, int v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return 2;
}

static size_t be32(uint8_t *p, int64_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
    return 4;
}

static size_t be64(uint8_t *p, int64_t v)
{
    be32(p, v >> 32);
    be32(p + 4, v & 0xffffffff);
    return 8;
}

static size_t str(uint8_t *p, const char *s)
{
    size_t n = be16(p, (int)strlen(s));
    memcpy(p + n, s, strlen(s));
    return n + strlen(s);
}

static size_t header(uint8_t *p, int key, int ver, int corr)
{
    size_t n = be16(p, key);
    n += be16(p + n, ver);
    n += be32(p + n, corr);
    n += str(p + n, "cli");
    return n;
}

static void test_metadata_versions(void)
{
    uint8_t f[128];
    bk_karena_t a = {0};
    bk_krequest_t q;
    /* v0, empty array: every topic. */
    size_t n = header(f, 3, 0, 9);
    n += be32(f + n, 0);
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), 0);
    CHECK_EQ_INT(q.h.corr, 9);
    CHECK_EQ_INT(q.h.client_id.len, 3);
    CHECK_EQ_INT(q.u.metadata.ntopics, -1);
    /* v4: one topic, auto-creation refused. */
    n = header(f, 3, 4, 1);
    n += be32(f + n, 1);
    n += str(f + n, "abc");
    f[n++] = 0;
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), 0);
    CHECK_EQ_INT(q.u.metadata.ntopics, 1);
    CHECK(memcmp(q.u.metadata.topics[0].ptr, "abc", 3) == 0);
    CHECK_EQ_INT(q.u.metadata.allow_auto_create, 0);
    /* The same bytes as v8 lack the two authorized-operations bools. */
    f[2] = 0, f[3] = 8;
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), BK_EINVAL);
    /* A byte left over is refused. */
    f[2] = 0, f[3] = 4;
    f[n] = 0;
    CHECK_EQ_INT(bk_kafka_decode(f, n + 1, &a, &q), BK_EINVAL);
    /* An array count the bytes cannot back allocates nothing and fails. */
    n = header(f, 3, 1, 1);
    n += be32(f + n, 0x7fffffff);
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), BK_EINVAL);
    bk_karena_free(&a);
}

static void test_unsupported_and_short(void)
{
    uint8_t f[64];
    bk_karena_t a = {0};
    bk_krequest_t q;
    size_t n = header(f, 18, 7, 5);
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), UV_ENOTSUP);
    CHECK_EQ_INT(q.h.key, 18);
    CHECK_EQ_INT(q.h.corr, 5);
    n = header(f, 22, 2, 5); /* InitProducerId v2 (flexible): not implemented */
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), UV_ENOTSUP);
    n = header(f, 1, 3, 5); /* Fetch below v4 */
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), UV_ENOTSUP);
    for (size_t cut = 0; cut < 10; cut++)
        CHECK_EQ_INT(bk_kafka_decode(f, cut, &a, &q), BK_EINVAL);
    bk_karena_free(&a);
}

static void test_api_versions_v3_flexible(void)
{
    uint8_t f[64];
    bk_karena_t a = {0};
    bk_krequest_t q;
    size_t n = header(f, 18, 3, 2);
    f[n++] = 0; /* header tagged fields */
    f[n++] = 4; /* compact string "abc" (length + 1) */
    memcpy(f + n, "abc", 3), n += 3;
    f[n++] = 2, f[n++] = '1';                          /* "1" */
    f[n++] = 1, f[n++] = 7, f[n++] = 1, f[n++] = 0xaa; /* one tagged field: tag 7, 1 byte */
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), 0);
    CHECK(q.h.flexible);
    CHECK_EQ_INT(q.u.api_versions.sw_name.len, 3);
    CHECK_EQ_INT(q.u.api_versions.sw_version.len, 1);
    /* Its answer: compact array, tagged fields; group APIs not advertised. */
    bk_kw_t w = {0};
    bk_kencode_api_versions(&w, 3, 0);
    CHECK_EQ_INT(w.data[0], 0);
    CHECK_EQ_INT(w.data[1], 0);
    size_t count = (size_t)w.data[2] - 1;
    CHECK(count >= 9);
    int init_pid = 0;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *e = w.data + 3 + 7 * i;
        int key = e[0] << 8 | e[1];
        if (key == BK_KAPI_INIT_PRODUCER_ID) { /* idempotent producers: versions 0-1 */
            init_pid = 1;
            CHECK_EQ_INT(e[3], 0);
            CHECK_EQ_INT(e[5], 1);
        }
        CHECK_EQ_INT(e[6], 0); /* per-entry tagged fields */
    }
    CHECK(init_pid);
    CHECK_EQ_INT(w.len, 3 + 7 * count + 4 + 1);
    /* Error 35: the v0 body (int32 array length, no throttle) whatever was asked. */
    bk_kw_free(&w);
    bk_kencode_api_versions(&w, 3, BK_KERR_UNSUPPORTED_VERSION);
    CHECK_EQ_INT(w.data[1], 35);
    CHECK_EQ_INT(w.len, 2 + 4 + 6 * count);
    bk_kw_free(&w);
    bk_karena_free(&a);
}

static void test_produce_and_fetch(void)
{
    uint8_t f[256];
    bk_karena_t a = {0};
    bk_krequest_t q;
    size_t n = header(f, 0, 3, 1);
    n += be16(f + n, -1); /* transactional_id null */
    n += be16(f + n, -1); /* acks */
    n += be32(f + n, 1500);
    n += be32(f + n, 1);
    n += str(f + n, "t");
    n += be32(f + n, 1);
    n += be32(f + n, 2);
    n += be32(f + n, 3);
    memcpy(f + n, "xyz", 3), n += 3;
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), 0);
    CHECK_EQ_INT(q.u.produce.acks, -1);
    CHECK_EQ_INT(q.u.produce.timeout_ms, 1500);
    CHECK_EQ_INT(q.u.produce.topics[0].parts[0].index, 2);
    CHECK_EQ_INT(q.u.produce.topics[0].parts[0].records.len, 3);
    CHECK(q.u.produce.topics[0].parts[0].records.ptr == f + n - 3);
    /* Records claiming more bytes than sent. */
    CHECK_EQ_INT(bk_kafka_decode(f, n - 1, &a, &q), BK_EINVAL);

    n = header(f, 1, 11, 4);
    n += be32(f + n, -1);  /* replica */
    n += be32(f + n, 500); /* max wait */
    n += be32(f + n, 1);
    n += be32(f + n, 1 << 20);
    f[n++] = 1;          /* read_committed */
    n += be32(f + n, 0); /* session id */
    n += be32(f + n, -1);
    n += be32(f + n, 1);
    n += str(f + n, "t");
    n += be32(f + n, 1);
    n += be32(f + n, 0);   /* partition */
    n += be32(f + n, 7);   /* current leader epoch (v9+) */
    n += be64(f + n, 42);  /* fetch offset */
    n += be64(f + n, -1);  /* log start (v5+) */
    n += be32(f + n, 999); /* partition max bytes */
    n += be32(f + n, 0);   /* forgotten topics */
    n += str(f + n, "r1"); /* rack (v11) */
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), 0);
    const bk_kfetch_part_t *p = &q.u.fetch.topics[0].parts[0];
    CHECK_EQ_INT(q.u.fetch.max_wait_ms, 500);
    CHECK_EQ_INT(p->leader_epoch, 7);
    CHECK_EQ_INT(p->offset, 42);
    CHECK_EQ_INT(p->max_bytes, 999);
    CHECK_EQ_INT(q.u.fetch.rack.len, 2);
    /* As v8 the same bytes have an epoch too many and a rack too many. */
    f[3] = 8;
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), BK_EINVAL);
    bk_karena_free(&a);
}

static void test_list_offsets_v0(void)
{
    uint8_t f[128];
    bk_karena_t a = {0};
    bk_krequest_t q;
    size_t n = header(f, 2, 0, 3);
    n += be32(f + n, -1);
    n += be32(f + n, 1);
    n += str(f + n, "t");
    n += be32(f + n, 1);
    n += be32(f + n, 0);
    n += be64(f + n, -2);
    n += be32(f + n, 1); /* max_num_offsets: v0 only */
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), 0);
    CHECK_EQ_INT(q.u.list_offsets.topics[0].parts[0].timestamp, -2);
    f[3] = 1; /* v1 has no max_num_offsets: 4 bytes left over */
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), BK_EINVAL);
    bk_karena_free(&a);
}

static void test_response_framing(void)
{
    bk_kw_t w = {0};
    bk_khdr_t h = {.corr = 0x01020304};
    bk_kresp_begin(&w, &h, 1);
    bk_kw_str(&w, 1, "ab", 2);
    bk_kw_str(&w, 0, NULL, -1);
    bk_kw_uvarint(&w, 300);
    bk_kresp_end(&w);
    static const uint8_t want[] = {0, 0, 0, 12, 1, 2, 3, 4, 0, 3, 'a', 'b', 0xff, 0xff, 0xac, 0x02};
    CHECK_EQ_INT(w.len, sizeof want);
    CHECK_MEM(w.data, want, sizeof want);
    bk_kw_free(&w);
}

CHECK_MAIN(CASE(test_metadata_versions), CASE(test_unsupported_and_short),
           CASE(test_api_versions_v3_flexible), CASE(test_produce_and_fetch),
           CASE(test_list_offsets_v0), CASE(test_response_framing))
