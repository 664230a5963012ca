/* The group APIs' request decoders (codec_group.c), from bytes written out by hand after the
 * public protocol guide: JoinGroup v0 and v5 (rebalance timeout and instance id by version),
 * SyncGroup, LeaveGroup v0 and v3, OffsetCommit v1 (commit timestamp), v2 (retention) and v7
 * (leader epoch, instance id), OffsetFetch's null topics from v2 only, and refusal of
 * truncated or over-long bodies. */
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
        p[i] = (uint8_t)((uint64_t)v >> (24 - 8 * i));
    return 4;
}

static size_t be64(uint8_t *p, int64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
    return 8;
}

static size_t str(uint8_t *p, const char *s)
{
    if (!s)
        return be16(p, -1);
    size_t n = strlen(s);
    be16(p, (int)n);
    memcpy(p + 2, s, n);
    return n + 2;
}

static size_t header(uint8_t *p, int key, int ver)
{
    size_t n = be16(p, key);
    n += be16(p + n, ver);
    n += be32(p + n, 7);
    n += str(p + n, "cli");
    return n;
}

static int slice_is(bk_kslice_t s, const char *want)
{
    return s.len == (int32_t)strlen(want) && memcmp(s.ptr, want, strlen(want)) == 0;
}

static size_t join_body(uint8_t *f, int ver)
{
    size_t n = header(f, 11, ver);
    n += str(f + n, "grp");
    n += be32(f + n, 10000);
    if (ver >= 1)
        n += be32(f + n, 30000);
    n += str(f + n, "");
    if (ver >= 5)
        n += str(f + n, NULL);
    n += str(f + n, "consumer");
    n += be32(f + n, 2);
    n += str(f + n, "range");
    n += be32(f + n, 3);
    memcpy(f + n, "abc", 3);
    n += 3;
    n += str(f + n, "roundrobin");
    n += be32(f + n, 0);
    return n;
}

static void test_join_group(void)
{
    uint8_t f[256];
    for (int ver = 0; ver <= 5; ver += 5) {
        bk_karena_t a = {0};
        bk_krequest_t q;
        size_t n = join_body(f, ver);
        CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), 0);
        const bk_kreq_join_group_t *j = &q.u.join_group;
        CHECK(slice_is(j->group_id, "grp"));
        CHECK_EQ_INT(j->session_timeout_ms, 10000);
        CHECK_EQ_INT(j->rebalance_timeout_ms, ver >= 1 ? 30000 : 10000);
        CHECK_EQ_INT(j->member_id.len, 0);
        CHECK(slice_is(j->protocol_type, "consumer"));
        CHECK_EQ_INT(j->nprotocols, 2);
        CHECK(slice_is(j->protocols[0].metadata, "abc"));
        CHECK(slice_is(j->protocols[1].name, "roundrobin"));
        /* one byte short, one byte over */
        CHECK_EQ_INT(bk_kafka_decode(f, n - 1, &a, &q), BK_EINVAL);
        f[n] = 0;
        CHECK_EQ_INT(bk_kafka_decode(f, n + 1, &a, &q), BK_EINVAL);
        bk_karena_free(&a);
    }
    bk_karena_t a = {0};
    bk_krequest_t q;
    size_t n = join_body(f, 6); /* not implemented: flexible v6 */
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), UV_ENOTSUP);
    bk_karena_free(&a);
}

static void test_sync_and_leave(void)
{
    uint8_t f[256];
    bk_karena_t a = {0};
    bk_krequest_t q;
    size_t n = header(f, 14, 3);
    n += str(f + n, "grp");
    n += be32(f + n, 4);
    n += str(f + n, "m1");
    n += str(f + n, NULL);
    n += be32(f + n, 1);
    n += str(f + n, "m1");
    n += be32(f + n, -1); /* null assignment */
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), 0);
    CHECK_EQ_INT(q.u.sync_group.generation, 4);
    CHECK_EQ_INT(q.u.sync_group.nassign, 1);
    CHECK_EQ_INT(q.u.sync_group.assign[0].assignment.len, -1);

    n = header(f, 13, 0);
    n += str(f + n, "grp");
    n += str(f + n, "m1");
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), 0);
    CHECK_EQ_INT(q.u.leave_group.nmembers, 1);
    CHECK(slice_is(q.u.leave_group.members[0], "m1"));

    n = header(f, 13, 3);
    n += str(f + n, "grp");
    n += be32(f + n, 2);
    n += str(f + n, "m1");
    n += str(f + n, NULL);
    n += str(f + n, "m2");
    n += str(f + n, "inst");
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), 0);
    CHECK_EQ_INT(q.u.leave_group.nmembers, 2);
    CHECK(slice_is(q.u.leave_group.members[1], "m2"));
    bk_karena_free(&a);
}

static size_t commit_body(uint8_t *f, int ver)
{
    size_t n = header(f, 8, ver);
    n += str(f + n, "grp");
    if (ver >= 1) {
        n += be32(f + n, 3);
        n += str(f + n, "m1");
    }
    if (ver >= 7)
        n += str(f + n, NULL);
    if (ver >= 2 && ver <= 4)
        n += be64(f + n, -1);
    n += be32(f + n, 1);
    n += str(f + n, "t");
    n += be32(f + n, 1);
    n += be32(f + n, 2);
    n += be64(f + n, 42);
    if (ver >= 6)
        n += be32(f + n, 5);
    if (ver == 1)
        n += be64(f + n, 123);
    n += str(f + n, "md");
    return n;
}

static void test_offset_commit_versions(void)
{
    uint8_t f[256];
    for (int ver = 0; ver <= 7; ver++) {
        bk_karena_t a = {0};
        bk_krequest_t q;
        size_t n = commit_body(f, ver);
        CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), 0);
        const bk_kreq_offset_commit_t *c = &q.u.offset_commit;
        CHECK_EQ_INT(c->generation, ver >= 1 ? 3 : -1);
        CHECK_EQ_INT(c->ntopics, 1);
        CHECK_EQ_INT(c->topics[0].parts[0].partition, 2);
        CHECK_EQ_INT(c->topics[0].parts[0].offset, 42);
        CHECK_EQ_INT(c->topics[0].parts[0].leader_epoch, ver >= 6 ? 5 : -1);
        CHECK(slice_is(c->topics[0].parts[0].metadata, "md"));
        CHECK_EQ_INT(bk_kafka_decode(f, n - 1, &a, &q), BK_EINVAL);
        bk_karena_free(&a);
    }
}

static void test_offset_fetch_null_topics(void)
{
    uint8_t f[64];
    bk_karena_t a = {0};
    bk_krequest_t q;
    for (int ver = 1; ver <= 2; ver++) {
        size_t n = header(f, 9, ver);
        n += str(f + n, "grp");
        n += be32(f + n, -1);
        CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), ver >= 2 ? 0 : BK_EINVAL);
        if (ver >= 2)
            CHECK_EQ_INT(q.u.offset_fetch.ntopics, -1);
    }
    size_t n = header(f, 10, 1); /* FindCoordinator v1 */
    n += str(f + n, "grp");
    f[n++] = 0;
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), 0);
    CHECK(slice_is(q.u.find_coordinator.key, "grp"));
    bk_karena_free(&a);
}

CHECK_MAIN(CASE(test_join_group), CASE(test_sync_and_leave), CASE(test_offset_commit_versions),
           CASE(test_offset_fetch_null_topics))
