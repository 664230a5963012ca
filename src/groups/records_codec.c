/* The records of __consumer_offsets, in Kafka's layout (the format is specified in prose in
 * groups_store.h): offset commit and group metadata keys and values, encode and a strict
 * decoder. Decoding takes untrusted bytes (the log on disk, a replica): every length is
 * checked before use, nothing is read past the end, trailing bytes are refused, and a record
 * that breaks an invariant of the model is BK_ECORRUPT rather than half-applied. */
#include "groups/kbytes.h"

#include "brook/common.h"
#include "brook/groups_store.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

enum { KEY_OFFSET_V0 = 0, KEY_OFFSET_V1 = 1, KEY_GROUP = 2 };
enum { OFFSET_VALUE_VERSION = 3, GROUP_VALUE_VERSION = 3 };

static int finish(bk_gkw_t *w, size_t start)
{
    if (w->err)
        w->b->len = start;
    return w->err;
}

int bk_grp_offset_key_encode(bk_grp_buf_t *b, const char *group, const char *topic,
                             int32_t partition)
{
    bk_gkw_t w = {b, 0};
    size_t start = b->len;
    if (!group[0] || !topic[0] || partition < 0)
        return BK_EINVAL;
    bk_gkw_i16(&w, KEY_OFFSET_V1);
    bk_gkw_str(&w, group);
    bk_gkw_str(&w, topic);
    bk_gkw_i32(&w, partition);
    return finish(&w, start);
}

int bk_grp_offset_value_encode(bk_grp_buf_t *b, const bk_grp_offset_value_t *v)
{
    bk_gkw_t w = {b, 0};
    size_t start = b->len;
    if (v->offset < 0 || v->leader_epoch < -1)
        return BK_EINVAL;
    bk_gkw_i16(&w, OFFSET_VALUE_VERSION);
    bk_gkw_i64(&w, v->offset);
    bk_gkw_i32(&w, v->leader_epoch);
    bk_gkw_str(&w, v->metadata ? v->metadata : "");
    bk_gkw_i64(&w, v->commit_ms);
    return finish(&w, start);
}

int bk_grp_group_key_encode(bk_grp_buf_t *b, const char *group)
{
    bk_gkw_t w = {b, 0};
    size_t start = b->len;
    if (!group[0])
        return BK_EINVAL;
    bk_gkw_i16(&w, KEY_GROUP);
    bk_gkw_str(&w, group);
    return finish(&w, start);
}

/* The invariants the decoder enforces on a group record, shared with the encoder. */
static int meta_valid(const bk_grp_meta_t *m)
{
    if (m->generation < 0 || m->member_count > INT32_MAX)
        return 0;
    int leader_seen = 0;
    for (size_t i = 0; i < m->member_count; i++) {
        const char *id = m->members[i].member_id;
        if (!id || !id[0])
            return 0;
        for (size_t k = 0; k < i; k++)
            if (strcmp(m->members[k].member_id, id) == 0)
                return 0;
        leader_seen |= m->leader && strcmp(m->leader, id) == 0;
    }
    return m->member_count == 0 || (m->protocol && leader_seen);
}

int bk_grp_group_value_encode(bk_grp_buf_t *b, const bk_grp_meta_t *m)
{
    bk_gkw_t w = {b, 0};
    size_t start = b->len;
    if (!meta_valid(m))
        return BK_EINVAL;
    bk_gkw_i16(&w, GROUP_VALUE_VERSION);
    bk_gkw_str(&w, m->protocol_type ? m->protocol_type : "");
    bk_gkw_i32(&w, m->generation);
    bk_gkw_str(&w, m->protocol);
    bk_gkw_str(&w, m->leader);
    bk_gkw_i64(&w, m->state_ms);
    bk_gkw_i32(&w, (int32_t)m->member_count);
    for (size_t i = 0; i < m->member_count; i++) {
        const bk_grp_meta_member_t *x = &m->members[i];
        bk_gkw_str(&w, x->member_id);
        bk_gkw_str(&w, x->group_instance_id);
        bk_gkw_str(&w, x->client_id ? x->client_id : "");
        bk_gkw_str(&w, x->client_host ? x->client_host : "");
        bk_gkw_i32(&w, x->rebalance_timeout_ms);
        bk_gkw_i32(&w, x->session_timeout_ms);
        bk_gkw_bytes(&w, x->subscription ? x->subscription : (const uint8_t *)"",
                     x->subscription_len);
        bk_gkw_bytes(&w, x->assignment ? x->assignment : (const uint8_t *)"", x->assignment_len);
    }
    return finish(&w, start);
}

void bk_grp_meta_free(bk_grp_meta_t *m)
{
    for (size_t i = 0; i < m->member_count; i++) {
        bk_grp_meta_member_t *x = &m->members[i];
        free(x->member_id);
        free(x->group_instance_id);
        free(x->client_id);
        free(x->client_host);
        free(x->subscription);
        free(x->assignment);
    }
    free(m->members);
    free(m->protocol_type);
    free(m->protocol);
    free(m->leader);
    memset(m, 0, sizeof *m);
}

void bk_grp_record_free(bk_grp_record_t *rec)
{
    free(rec->group);
    free(rec->topic);
    free(rec->offset.metadata);
    bk_grp_meta_free(&rec->meta);
    memset(rec, 0, sizeof *rec);
}

/* BYTES that must not be null. */
static void read_bytes(bk_gkr_t *r, uint8_t **p, size_t *len)
{
    int is_null;
    bk_gkr_bytes(r, p, len, &is_null);
    if (is_null && !r->err)
        r->err = BK_ECORRUPT;
}

static void read_member(bk_gkr_t *r, int16_t version, bk_grp_meta_member_t *x)
{
    x->member_id = bk_gkr_str(r, 0);
    if (version >= 3)
        x->group_instance_id = bk_gkr_str(r, 1);
    x->client_id = bk_gkr_str(r, 0);
    x->client_host = bk_gkr_str(r, 0);
    x->rebalance_timeout_ms = version >= 1 ? bk_gkr_i32(r) : -1;
    x->session_timeout_ms = bk_gkr_i32(r);
    if (version == 0)
        x->rebalance_timeout_ms = x->session_timeout_ms; /* Kafka's reading of v0 */
    read_bytes(r, &x->subscription, &x->subscription_len);
    read_bytes(r, &x->assignment, &x->assignment_len);
}

static void read_group_value(bk_gkr_t *r, bk_grp_meta_t *m)
{
    int16_t version = bk_gkr_i16(r);
    if (!r->err && (version < 0 || version > GROUP_VALUE_VERSION))
        r->err = BK_ECORRUPT;
    m->protocol_type = bk_gkr_str(r, 0);
    m->generation = bk_gkr_i32(r);
    m->protocol = bk_gkr_str(r, 1);
    m->leader = bk_gkr_str(r, 1);
    m->state_ms = version >= 2 ? bk_gkr_i64(r) : -1;
    /* a member takes at least 3 string and 2 byte lengths and an int32: 18 bytes */
    int32_t n = bk_gkr_count(r, 18);
    if (!r->err && n > 0 && !(m->members = calloc((size_t)n, sizeof *m->members)))
        r->err = UV_ENOMEM;
    for (int32_t i = 0; !r->err && i < n; i++) {
        m->member_count++;
        read_member(r, version, &m->members[i]);
    }
    if (!r->err && !meta_valid(m))
        r->err = BK_ECORRUPT;
}

static void read_offset_value(bk_gkr_t *r, bk_grp_offset_value_t *v)
{
    int16_t version = bk_gkr_i16(r);
    if (!r->err && (version < 0 || version > OFFSET_VALUE_VERSION))
        r->err = BK_ECORRUPT;
    v->offset = bk_gkr_i64(r);
    v->leader_epoch = version >= 3 ? bk_gkr_i32(r) : -1;
    v->metadata = bk_gkr_str(r, 0);
    v->commit_ms = bk_gkr_i64(r);
    v->expire_ms = version == 1 ? bk_gkr_i64(r) : -1;
    if (!r->err && (v->offset < 0 || v->leader_epoch < -1))
        r->err = BK_ECORRUPT;
}

static void read_key(bk_gkr_t *r, bk_grp_record_t *rec)
{
    int16_t version = bk_gkr_i16(r);
    if (r->err)
        return;
    if (version != KEY_OFFSET_V0 && version != KEY_OFFSET_V1 && version != KEY_GROUP) {
        r->err = BK_ECORRUPT;
        return;
    }
    rec->kind = version == KEY_GROUP ? BK_GRP_REC_GROUP : BK_GRP_REC_OFFSET;
    rec->group = bk_gkr_str(r, 0);
    if (rec->kind == BK_GRP_REC_OFFSET) {
        rec->topic = bk_gkr_str(r, 0);
        rec->partition = bk_gkr_i32(r);
    }
    if (!r->err && (!rec->group[0] ||
                    (rec->kind == BK_GRP_REC_OFFSET && (!rec->topic[0] || rec->partition < 0))))
        r->err = BK_ECORRUPT;
}

int bk_grp_record_decode(const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
                         bk_grp_record_t *rec)
{
    memset(rec, 0, sizeof *rec);
    bk_gkr_t k = {key, key + key_len, 0};
    read_key(&k, rec);
    if (!k.err && k.p != k.end)
        k.err = BK_ECORRUPT;
    bk_gkr_t v = {value, value ? value + value_len : NULL, k.err};
    rec->tombstone = value == NULL;
    if (!v.err && value && rec->kind == BK_GRP_REC_OFFSET)
        read_offset_value(&v, &rec->offset);
    else if (!v.err && value)
        read_group_value(&v, &rec->meta);
    if (!v.err && v.p != v.end)
        v.err = BK_ECORRUPT;
    if (v.err)
        bk_grp_record_free(rec);
    return v.err;
}
