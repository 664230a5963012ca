/* The __consumer_offsets records and the store model: exact bytes of Kafka's layout, round
 * trips, refusal of every truncation, trailing bytes and broken invariants, replay (later
 * records win, tombstones delete, undecodable records skipped), expiry under the retention
 * rules, a live group persisted and loaded back, and the consumer protocol bytes. */
#include "brook/common.h"
#include "brook/groups.h"
#include "brook/groups_store.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

static void put_offset(bk_grp_kvs_t *l, const char *g, const char *t, int32_t p, int64_t off,
                       int64_t at)
{
    bk_grp_buf_t k = {0}, v = {0};
    bk_grp_offset_value_t ov = {.offset = off, .leader_epoch = 3, .metadata = "m", .commit_ms = at};
    CHECK_EQ_INT(bk_grp_offset_key_encode(&k, g, t, p), 0);
    CHECK_EQ_INT(bk_grp_offset_value_encode(&v, &ov), 0);
    bk_grow(&l->items, &l->cap, l->count, 1, sizeof *l->items, 8);
    l->items[l->count++] = (bk_grp_kv_t){k.data, k.len, v.data, v.len};
}

static void put_tombstone_offset(bk_grp_kvs_t *l, const char *g, const char *t, int32_t p)
{
    bk_grp_buf_t k = {0};
    CHECK_EQ_INT(bk_grp_offset_key_encode(&k, g, t, p), 0);
    bk_grow(&l->items, &l->cap, l->count, 1, sizeof *l->items, 8);
    l->items[l->count++] = (bk_grp_kv_t){k.data, k.len, NULL, 0};
}

static bk_grp_meta_member_t member_x = {.member_id = "x",
                                        .client_id = "c",
                                        .client_host = "/1.2.3.4",
                                        .rebalance_timeout_ms = 300000,
                                        .session_timeout_ms = 45000,
                                        .subscription = (uint8_t *)"S",
                                        .subscription_len = 1,
                                        .assignment = (uint8_t *)"AB",
                                        .assignment_len = 2};

static void put_group(bk_grp_kvs_t *l, const char *g, size_t members, int64_t state_ms)
{
    bk_grp_buf_t k = {0}, v = {0};
    bk_grp_meta_t m = {.protocol_type = "consumer",
                       .generation = 5,
                       .protocol = members ? "range" : NULL,
                       .leader = members ? "x" : NULL,
                       .state_ms = state_ms,
                       .members = &member_x,
                       .member_count = members};
    CHECK_EQ_INT(bk_grp_group_key_encode(&k, g), 0);
    CHECK_EQ_INT(bk_grp_group_value_encode(&v, &m), 0);
    bk_grow(&l->items, &l->cap, l->count, 1, sizeof *l->items, 8);
    l->items[l->count++] = (bk_grp_kv_t){k.data, k.len, v.data, v.len};
}

static void test_exact_bytes(void)
{
    bk_grp_buf_t k = {0}, v = {0};
    CHECK_EQ_INT(bk_grp_offset_key_encode(&k, "g", "t", 2), 0);
    static const uint8_t key[] = {0, 1, 0, 1, 'g', 0, 1, 't', 0, 0, 0, 2};
    CHECK_EQ_INT(k.len, sizeof key);
    CHECK_MEM(k.data, key, sizeof key);
    bk_grp_offset_value_t ov = {.offset = 258, .leader_epoch = -1, .metadata = "", .commit_ms = 7};
    CHECK_EQ_INT(bk_grp_offset_value_encode(&v, &ov), 0);
    static const uint8_t val[] = {0,    3,    0, 0, 0, 0, 0, 0, 1, 2, 0xff, 0xff,
                                  0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0,    7};
    CHECK_EQ_INT(v.len, sizeof val);
    CHECK_MEM(v.data, val, sizeof val);
    bk_grp_buf_free(&k);
    CHECK_EQ_INT(bk_grp_group_key_encode(&k, "gr"), 0);
    static const uint8_t gkey[] = {0, 2, 0, 2, 'g', 'r'};
    CHECK_EQ_INT(k.len, sizeof gkey);
    CHECK_MEM(k.data, gkey, sizeof gkey);
    bk_grp_buf_free(&k);
    bk_grp_buf_free(&v);
}

static void test_round_trip(void)
{
    bk_grp_kvs_t l = {0};
    put_offset(&l, "g\xc3\xa9", "orders", 7, 12345, 1700000000000);
    put_group(&l, "g", 1, 99);
    put_group(&l, "g", 0, 100);
    bk_grp_record_t r;
    CHECK_EQ_INT(bk_grp_record_decode(l.items[0].key, l.items[0].key_len, l.items[0].value,
                                      l.items[0].value_len, &r),
                 0);
    CHECK_EQ_INT(r.kind, BK_GRP_REC_OFFSET);
    CHECK_EQ_STR(r.group, "g\xc3\xa9");
    CHECK_EQ_STR(r.topic, "orders");
    CHECK_EQ_INT(r.partition, 7);
    CHECK_EQ_INT(r.offset.offset, 12345);
    CHECK_EQ_INT(r.offset.leader_epoch, 3);
    CHECK_EQ_STR(r.offset.metadata, "m");
    CHECK_EQ_INT(r.offset.commit_ms, 1700000000000);
    CHECK_EQ_INT(r.offset.expire_ms, -1);
    bk_grp_record_free(&r);
    CHECK_EQ_INT(bk_grp_record_decode(l.items[1].key, l.items[1].key_len, l.items[1].value,
                                      l.items[1].value_len, &r),
                 0);
    CHECK_EQ_INT(r.kind, BK_GRP_REC_GROUP);
    CHECK_EQ_INT(r.meta.generation, 5);
    CHECK_EQ_STR(r.meta.protocol, "range");
    CHECK_EQ_STR(r.meta.leader, "x");
    CHECK_EQ_INT(r.meta.state_ms, 99);
    CHECK_EQ_INT(r.meta.member_count, 1);
    CHECK_EQ_STR(r.meta.members[0].client_host, "/1.2.3.4");
    CHECK(r.meta.members[0].group_instance_id == NULL);
    CHECK_EQ_INT(r.meta.members[0].session_timeout_ms, 45000);
    CHECK_EQ_INT(r.meta.members[0].rebalance_timeout_ms, 300000);
    CHECK(r.meta.members[0].assignment_len == 2 && !memcmp(r.meta.members[0].assignment, "AB", 2));
    bk_grp_record_free(&r);
    CHECK_EQ_INT(bk_grp_record_decode(l.items[2].key, l.items[2].key_len, l.items[2].value,
                                      l.items[2].value_len, &r),
                 0);
    CHECK(r.meta.protocol == NULL && r.meta.leader == NULL && r.meta.member_count == 0);
    bk_grp_record_free(&r);
    CHECK_EQ_INT(bk_grp_record_decode(l.items[0].key, l.items[0].key_len, NULL, 0, &r), 0);
    CHECK(r.tombstone && r.kind == BK_GRP_REC_OFFSET);
    bk_grp_record_free(&r);
    bk_grp_kvs_free(&l);
}

static void test_old_versions(void)
{
    /* offset value v1 (with expire_timestamp) and key v0, group value v0 */
    static const uint8_t k0[] = {0, 0, 0, 1, 'g', 0, 1, 't', 0, 0, 0, 0};
    static const uint8_t v1[] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0,
                                 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0x10};
    bk_grp_record_t r;
    CHECK_EQ_INT(bk_grp_record_decode(k0, sizeof k0, v1, sizeof v1, &r), 0);
    CHECK_EQ_INT(r.offset.offset, 5);
    CHECK_EQ_INT(r.offset.leader_epoch, -1);
    CHECK_EQ_INT(r.offset.commit_ms, 9);
    CHECK_EQ_INT(r.offset.expire_ms, 16);
    bk_grp_record_free(&r);
    static const uint8_t gk[] = {0, 2, 0, 1, 'g'};
    static const uint8_t gv0[] = {0, 0,   0,    1,    'c', 0, 0, 0, 1,   0, 1, 'r', 0,
                                  1, 'm', 0,    0,    0,   1, 0, 1, 'm', 0, 0, 0,   0,
                                  0, 0,   0x27, 0x10, 0,   0, 0, 0, 0,   0, 0, 0};
    CHECK_EQ_INT(bk_grp_record_decode(gk, sizeof gk, gv0, sizeof gv0, &r), 0);
    CHECK_EQ_INT(r.meta.generation, 1);
    CHECK_EQ_INT(r.meta.state_ms, -1);
    CHECK_EQ_INT(r.meta.members[0].session_timeout_ms, 10000);
    CHECK_EQ_INT(r.meta.members[0].rebalance_timeout_ms, 10000);
    bk_grp_record_free(&r);
}

static int decodes(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    bk_grp_record_t r;
    int err = bk_grp_record_decode(k, kl, v, vl, &r);
    bk_grp_record_free(&r);
    return err;
}

static void test_refusals(void)
{
    bk_grp_kvs_t l = {0};
    put_offset(&l, "g", "t", 1, 2, 3);
    put_group(&l, "g", 1, 4);
    for (size_t i = 0; i < l.count; i++) {
        bk_grp_kv_t *kv = &l.items[i];
        for (size_t n = 0; n < kv->key_len; n++) /* every truncation of the key */
            CHECK_EQ_INT(decodes(kv->key, n, kv->value, kv->value_len), BK_ECORRUPT);
        for (size_t n = 0; n < kv->value_len; n++) /* and of the value */
            CHECK_EQ_INT(decodes(kv->key, kv->key_len, kv->value, n), BK_ECORRUPT);
        uint8_t *longer = malloc(kv->value_len + 1);
        memcpy(longer, kv->value, kv->value_len);
        longer[kv->value_len] = 0;
        CHECK_EQ_INT(decodes(kv->key, kv->key_len, longer, kv->value_len + 1), BK_ECORRUPT);
        free(longer);
    }
    static const uint8_t badver[] = {0, 9, 0, 1, 'g'};
    CHECK_EQ_INT(decodes(badver, sizeof badver, NULL, 0), BK_ECORRUPT);
    static const uint8_t empty_group[] = {0, 2, 0, 0};
    CHECK_EQ_INT(decodes(empty_group, sizeof empty_group, NULL, 0), BK_ECORRUPT);
    static const uint8_t nul[] = {0, 2, 0, 2, 'g', 0};
    CHECK_EQ_INT(decodes(nul, sizeof nul, NULL, 0), BK_ECORRUPT);
    static const uint8_t bad_utf8[] = {0, 2, 0, 2, 0xc0, 0x80};
    CHECK_EQ_INT(decodes(bad_utf8, sizeof bad_utf8, NULL, 0), BK_ECORRUPT);
    static const uint8_t neg_part[] = {0, 1, 0, 1, 'g', 0, 1, 't', 0xff, 0xff, 0xff, 0xff};
    CHECK_EQ_INT(decodes(neg_part, sizeof neg_part, NULL, 0), BK_ECORRUPT);
    /* value with a negative offset, and with a future version */
    uint8_t v[64];
    memcpy(v, l.items[0].value, l.items[0].value_len);
    v[2] = 0x80;
    CHECK_EQ_INT(decodes(l.items[0].key, l.items[0].key_len, v, l.items[0].value_len), BK_ECORRUPT);
    memcpy(v, l.items[0].value, l.items[0].value_len);
    v[1] = 4;
    CHECK_EQ_INT(decodes(l.items[0].key, l.items[0].key_len, v, l.items[0].value_len), BK_ECORRUPT);
    /* encoders refuse what decoders would */
    bk_grp_buf_t b = {0};
    CHECK_EQ_INT(bk_grp_offset_key_encode(&b, "", "t", 0), BK_EINVAL);
    CHECK_EQ_INT(bk_grp_offset_key_encode(&b, "g", "t", -1), BK_EINVAL);
    CHECK_EQ_INT(bk_grp_group_key_encode(&b, "a\xff"), BK_EINVAL);
    bk_grp_meta_member_t two[2] = {member_x, member_x};
    bk_grp_meta_t m = {.protocol_type = "consumer",
                       .protocol = "range",
                       .leader = "x",
                       .members = two,
                       .member_count = 2};
    CHECK_EQ_INT(bk_grp_group_value_encode(&b, &m), BK_EINVAL); /* duplicate member */
    m.member_count = 1;
    m.leader = "y";
    CHECK_EQ_INT(bk_grp_group_value_encode(&b, &m), BK_EINVAL); /* leader not a member */
    m.leader = "x";
    m.protocol = NULL;
    CHECK_EQ_INT(bk_grp_group_value_encode(&b, &m), BK_EINVAL); /* members but no protocol */
    CHECK_EQ_INT(b.len, 0);
    bk_grp_buf_free(&b);
    bk_grp_kvs_free(&l);
}

static void test_replay(void)
{
    bk_grp_kvs_t l = {0};
    put_offset(&l, "g", "t", 0, 10, 1);
    put_offset(&l, "g", "t", 1, 20, 1);
    put_offset(&l, "g", "t", 0, 11, 2); /* later wins */
    put_offset(&l, "h", "t", 0, 5, 1);
    put_group(&l, "g", 1, 3);
    put_tombstone_offset(&l, "h", "t", 0); /* h is left with nothing: dropped */
    put_tombstone_offset(&l, "nobody", "t", 0);
    static uint8_t junk[] = {1, 2, 3};
    bk_grow(&l.items, &l.cap, l.count, 1, sizeof *l.items, 8);
    l.items[l.count++] = (bk_grp_kv_t){malloc(3), 3, NULL, 0};
    memcpy(l.items[l.count - 1].key, junk, 3);
    put_offset(&l, "a", "u", 3, 7, 1);
    bk_grp_store_t s = {0};
    size_t skipped = 99;
    CHECK_EQ_INT(bk_grp_store_replay(&s, l.items, l.count, &skipped), 0);
    CHECK_EQ_INT(skipped, 1);
    CHECK_EQ_INT(s.count, 2);
    CHECK_EQ_STR(s.groups[0].group, "a");
    const bk_grp_image_t *g = bk_grp_store_find(&s, "g");
    CHECK(g && g->has_meta && g->meta.generation == 5 && g->offset_count == 2);
    CHECK(g && bk_grp_image_offset(g, "t", 0)->v.offset == 11);
    CHECK(g && bk_grp_image_offset(g, "t", 1)->v.offset == 20);
    CHECK(g && bk_grp_image_offset(g, "t", 2) == NULL);
    CHECK(bk_grp_store_find(&s, "h") == NULL);
    /* a group tombstone keeps the offsets; an offset tombstone then drops the group */
    bk_grp_buf_t k = {0};
    CHECK_EQ_INT(bk_grp_group_key_encode(&k, "g"), 0);
    CHECK_EQ_INT(bk_grp_store_apply(&s, k.data, k.len, NULL, 0), 0);
    g = bk_grp_store_find(&s, "g");
    CHECK(g && !g->has_meta && g->offset_count == 2);
    bk_grp_buf_free(&k);
    CHECK_EQ_INT(bk_grp_store_apply(&s, junk, 3, NULL, 0), BK_ECORRUPT);
    bk_grp_store_free(&s);
    bk_grp_kvs_free(&l);
}

static int busy_h(void *ctx, const char *group)
{
    (void)ctx;
    return strcmp(group, "busy") == 0;
}

static void test_expiry(void)
{
    const int64_t day = 86400000, week = 7 * day;
    bk_grp_kvs_t l = {0};
    put_offset(&l, "solo", "t", 0, 1, 0);        /* commits only: old */
    put_offset(&l, "solo", "t", 1, 1, 6 * day);  /* commits only: recent */
    put_group(&l, "empty", 0, 0);                /* empty since 0 */
    put_offset(&l, "empty", "t", 0, 1, 6 * day); /* recent commit, expires with the group */
    put_group(&l, "young", 0, 2 * day);          /* empty since day 2 */
    put_offset(&l, "young", "t", 0, 1, 0);
    put_group(&l, "live", 1, 0); /* has members */
    put_offset(&l, "live", "t", 0, 1, 0);
    put_group(&l, "busy", 0, 0);
    put_offset(&l, "busy", "t", 0, 1, 0);
    bk_grp_store_t s = {0};
    CHECK_EQ_INT(bk_grp_store_replay(&s, l.items, l.count, NULL), 0);
    bk_grp_kvs_t out = {0};
    CHECK_EQ_INT(bk_grp_store_expire(&s, week + 1, week, busy_h, NULL, &out), 0);
    CHECK_EQ_INT(out.count, 3); /* empty: t-0 and the group record; solo: t-0 */
    for (size_t i = 0; i < out.count; i++) {
        bk_grp_record_t r;
        CHECK_EQ_INT(bk_grp_record_decode(out.items[i].key, out.items[i].key_len, NULL, 0, &r), 0);
        CHECK(r.tombstone);
        CHECK(strcmp(r.group, "empty") == 0 || (strcmp(r.group, "solo") == 0 && r.partition == 0));
        bk_grp_record_free(&r);
    }
    /* writing them back (apply) removes them from the store */
    CHECK_EQ_INT(bk_grp_store_replay(&s, out.items, out.count, NULL), 0);
    CHECK(bk_grp_store_find(&s, "empty") == NULL);
    CHECK_EQ_INT(bk_grp_store_find(&s, "solo")->offset_count, 1);
    bk_grp_kvs_free(&out);
    /* nothing more until "young" has been empty a week */
    CHECK_EQ_INT(bk_grp_store_expire(&s, week + 2 * day - 1, week, busy_h, NULL, &out), 0);
    CHECK_EQ_INT(out.count, 0);
    CHECK_EQ_INT(bk_grp_store_expire(&s, week + 2 * day, week, busy_h, NULL, &out), 0);
    CHECK_EQ_INT(out.count, 2);
    bk_grp_kvs_free(&out);
    bk_grp_store_free(&s);
    bk_grp_kvs_free(&l);
}

static uint64_t rnd(void *ctx)
{
    (void)ctx;
    return 42;
}

static int32_t six(void *ctx, const char *topic)
{
    (void)ctx;
    return strcmp(topic, "t") == 0 ? 6 : -1;
}

static void test_persist_and_load(void)
{
    bk_grp_config_t cfg;
    bk_grp_config_default(&cfg);
    cfg.random = rnd;
    cfg.partitions = six;
    bk_grp_t g, h;
    bk_grp_out_t out = {0};
    const char *const topics[] = {"t"};
    CHECK_EQ_INT(bk_grp_init(&g, "rest-group", &cfg, 0), 0);
    CHECK_EQ_INT(bk_grp_server_join(&g, 10, "i1", "c", 60000, topics, 1, (const uint8_t *)"def", 3,
                                    NULL, &out),
                 0);
    CHECK_EQ_INT(bk_grp_server_join(&g, 11, "i2", "c", 60000, topics, 1, NULL, 0, NULL, &out), 0);
    bk_grp_meta_t m;
    CHECK_EQ_INT(bk_grp_snapshot(&g, &m), 0);
    bk_grp_buf_t k = {0}, v = {0};
    CHECK_EQ_INT(bk_grp_group_key_encode(&k, g.group_id), 0);
    CHECK_EQ_INT(bk_grp_group_value_encode(&v, &m), 0);
    bk_grp_meta_free(&m);
    bk_grp_store_t s = {0};
    CHECK_EQ_INT(bk_grp_store_apply(&s, k.data, k.len, v.data, v.len), 0);
    const bk_grp_image_t *img = bk_grp_store_find(&s, "rest-group");
    CHECK(img && img->has_meta);
    CHECK_EQ_INT(bk_grp_init(&h, "rest-group", &cfg, 0), 0);
    CHECK_EQ_INT(bk_grp_load(&h, 1000, &img->meta), 0);
    CHECK_EQ_INT(h.state, BK_GRP_STABLE);
    CHECK_EQ_INT(h.kind, BK_GRP_KIND_SERVER);
    CHECK_EQ_INT(h.generation, g.generation);
    CHECK_EQ_INT(h.member_count, 2);
    CHECK_EQ_STR(h.leader_id, g.leader_id);
    CHECK_EQ_INT(h.members[1]->assignment_len, g.members[1]->assignment_len);
    CHECK_MEM(h.members[1]->assignment, g.members[1]->assignment, h.members[1]->assignment_len);
    CHECK_EQ_INT(h.members[0]->topic_count, 1);
    CHECK_EQ_INT(h.members[0]->session_deadline_ms, 61000);
    /* the loaded group goes on: an instance leaves, the other gets everything */
    bk_grp_out_clear(&out);
    CHECK_EQ_INT(bk_grp_leave(&h, 1001, "i1", &out), 0);
    CHECK_EQ_INT(h.generation, g.generation + 1);
    bk_grp_assignment_t a;
    CHECK_EQ_INT(
        bk_grp_assignment_decode(h.members[0]->assignment, h.members[0]->assignment_len, &a), 0);
    CHECK_EQ_INT(bk_grp_assignment_size(&a), 6);
    bk_grp_assignment_free(&a);
    CHECK_EQ_INT(bk_grp_load(&h, 1000, &img->meta), BK_EINVAL); /* not fresh */
    bk_grp_buf_free(&k);
    bk_grp_buf_free(&v);
    bk_grp_store_free(&s);
    bk_grp_free(&g);
    bk_grp_free(&h);
    bk_grp_out_free(&out);
}

static void test_consumer_protocol(void)
{
    bk_grp_buf_t b = {0};
    const char *const topics[] = {"b", "a", "b"};
    CHECK_EQ_INT(bk_grp_subscription_encode(&b, topics, 3, NULL, 0), 0);
    static const uint8_t sub[] = {0, 0,   0, 0, 0,   3,    0,    1,    'b', 0,
                                  1, 'a', 0, 1, 'b', 0xff, 0xff, 0xff, 0xff};
    CHECK_EQ_INT(b.len, sizeof sub);
    CHECK_MEM(b.data, sub, sizeof sub);
    bk_grp_subscription_t s;
    CHECK_EQ_INT(bk_grp_subscription_decode(b.data, b.len, &s), 0);
    CHECK_EQ_INT(s.topic_count, 2); /* sorted, duplicates dropped */
    CHECK_EQ_STR(s.topics[0], "a");
    CHECK(!s.has_user_data);
    bk_grp_subscription_free(&s);
    for (size_t n = 0; n < b.len; n++)
        CHECK_EQ_INT(bk_grp_subscription_decode(b.data, n, &s), BK_ECORRUPT);
    /* a version 1 subscription with owned partitions after user_data: the rest is ignored */
    static const uint8_t v1[] = {0, 1, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 1, 'u', 0, 0, 0, 0};
    CHECK_EQ_INT(bk_grp_subscription_decode(v1, sizeof v1, &s), 0);
    CHECK(s.version == 1 && s.topic_count == 1 && s.has_user_data && s.user_data_len == 1);
    bk_grp_subscription_free(&s);
    bk_grp_buf_free(&b);
    const char *const empty[] = {""};
    CHECK_EQ_INT(bk_grp_subscription_encode(&b, empty, 1, NULL, 0), BK_EINVAL);
    CHECK_EQ_INT(b.len, 0);

    bk_grp_assignment_t a = {0}, d;
    bk_grp_assignment_add(&a, "t", 4);
    bk_grp_assignment_add(&a, "t", 1);
    bk_grp_assignment_add(&a, "u", 0);
    CHECK_EQ_INT(bk_grp_assignment_encode(&b, &a), 0);
    static const uint8_t asg[] = {0, 0, 0, 0, 0, 2, 0, 1, 't',  0,    0,    0,
                                  2, 0, 0, 0, 1, 0, 0, 0, 4,    0,    1,    'u',
                                  0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
    CHECK_EQ_INT(b.len, sizeof asg);
    CHECK_MEM(b.data, asg, sizeof asg);
    CHECK_EQ_INT(bk_grp_assignment_decode(b.data, b.len, &d), 0);
    CHECK_EQ_INT(bk_grp_assignment_size(&d), 3);
    CHECK(bk_grp_assignment_has(&d, "t", 4) && bk_grp_assignment_has(&d, "u", 0));
    bk_grp_assignment_free(&d);
    for (size_t n = 1; n < b.len; n++)
        CHECK_EQ_INT(bk_grp_assignment_decode(b.data, n, &d), BK_ECORRUPT);
    CHECK_EQ_INT(bk_grp_assignment_decode(b.data, 0, &d), 0); /* empty = nothing assigned */
    CHECK_EQ_INT(d.count, 0);
    b.data[17] = 0xff; /* partition 4 -> negative */
    CHECK_EQ_INT(bk_grp_assignment_decode(b.data, b.len, &d), BK_ECORRUPT);
    bk_grp_assignment_free(&a);
    bk_grp_buf_free(&b);
}

CHECK_MAIN(CASE(test_exact_bytes), CASE(test_round_trip), CASE(test_old_versions),
           CASE(test_refusals), CASE(test_replay), CASE(test_expiry), CASE(test_persist_and_load),
           CASE(test_consumer_protocol))
