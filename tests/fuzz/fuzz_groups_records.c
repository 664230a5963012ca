/* Fuzz target for the decoders of untrusted group bytes: __consumer_offsets records (key and
 * value split by the first two input bytes; an odd third byte makes a tombstone) and the
 * consumer protocol's Subscription and Assignment. A record that decodes must re-encode, and
 * decoding that encoding must give the same bytes again (the encoder accepts all the decoder
 * does); it must also apply to a store model without harm. Refusals must be BK_ECORRUPT. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "brook/common.h"
#include "brook/groups.h"
#include "brook/groups_store.h"

static void reencode(const bk_grp_record_t *r, bk_grp_buf_t *k, bk_grp_buf_t *v)
{
    int err;
    if (r->kind == BK_GRP_REC_OFFSET) {
        err = bk_grp_offset_key_encode(k, r->group, r->topic, r->partition);
        if (!err && !r->tombstone)
            err = bk_grp_offset_value_encode(v, &r->offset);
    } else {
        err = bk_grp_group_key_encode(k, r->group);
        if (!err && !r->tombstone)
            err = bk_grp_group_value_encode(v, &r->meta);
    }
    if (err)
        abort();
}

static void check_record(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    bk_grp_record_t r, r2;
    int err = bk_grp_record_decode(key, klen, val, vlen, &r);
    if (err) {
        if (err != BK_ECORRUPT)
            abort();
        return;
    }
    bk_grp_buf_t k = {0}, v = {0}, k2 = {0}, v2 = {0};
    reencode(&r, &k, &v);
    if (bk_grp_record_decode(k.data, k.len, r.tombstone ? NULL : v.data, v.len, &r2))
        abort();
    reencode(&r2, &k2, &v2);
    if (k.len != k2.len || v.len != v2.len || memcmp(k.data, k2.data, k.len) ||
        (v.len && memcmp(v.data, v2.data, v.len)))
        abort();
    bk_grp_store_t s = {0};
    if (bk_grp_store_apply_record(&s, &r2) || bk_grp_store_apply(&s, key, klen, val, vlen))
        abort();
    if (!r.tombstone && s.count != 1)
        abort();
    bk_grp_store_free(&s);
    bk_grp_record_free(&r);
    bk_grp_buf_free(&k);
    bk_grp_buf_free(&v);
    bk_grp_buf_free(&k2);
    bk_grp_buf_free(&v2);
}

static void check_protocol(const uint8_t *p, size_t len)
{
    bk_grp_subscription_t s;
    int err = bk_grp_subscription_decode(p, len, &s);
    if (err && err != BK_ECORRUPT)
        abort();
    for (size_t i = 1; !err && i < s.topic_count; i++)
        if (bk_grp_java_strcmp(s.topics[i - 1], s.topics[i]) >= 0)
            abort();
    bk_grp_subscription_free(&s);
    bk_grp_assignment_t a;
    err = bk_grp_assignment_decode(p, len, &a);
    if (err && err != BK_ECORRUPT)
        abort();
    if (!err) {
        bk_grp_buf_t b = {0};
        bk_grp_assignment_t a2;
        if (bk_grp_assignment_encode(&b, &a) || bk_grp_assignment_decode(b.data, b.len, &a2) ||
            bk_grp_assignment_size(&a2) != bk_grp_assignment_size(&a))
            abort();
        bk_grp_assignment_free(&a2);
        bk_grp_buf_free(&b);
    }
    bk_grp_assignment_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < 3)
        return 0;
    size_t klen = (size_t)data[0] << 8 | data[1];
    int tombstone = data[2] & 1;
    data += 3;
    len -= 3;
    if (klen > len)
        klen = len;
    check_record(data, klen, tombstone ? NULL : data + klen, len - klen);
    check_protocol(data + klen, len - klen);
    return 0;
}
