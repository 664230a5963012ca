/* The "consumer" protocol's member metadata (Subscription) and assignment bytes, as Kafka's
 * ConsumerProtocol lays them out (see groups.h): what a Kafka client sends in JoinGroup and
 * SyncGroup, and what server-side members carry so both kinds store alike. Decoders take
 * untrusted bytes: bounds-checked, strings UTF-8 without NUL, fields of later versions
 * skipped. We write version 0. */
#include "groups/kbytes.h"

#include "brook/common.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

void bk_grp_buf_free(bk_grp_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

int bk_grp_subscription_encode(bk_grp_buf_t *b, const char *const *topics, size_t n,
                               const uint8_t *user_data, size_t user_data_len)
{
    bk_gkw_t w = {b, 0};
    size_t start = b->len;
    if (n > INT32_MAX)
        return BK_EINVAL;
    bk_gkw_i16(&w, 0);
    bk_gkw_i32(&w, (int32_t)n);
    for (size_t i = 0; i < n; i++) {
        if (!topics[i][0] && !w.err)
            w.err = BK_EINVAL;
        bk_gkw_str(&w, topics[i]);
    }
    bk_gkw_bytes(&w, user_data, user_data_len);
    if (w.err)
        b->len = start;
    return w.err;
}

void bk_grp_subscription_free(bk_grp_subscription_t *s)
{
    for (size_t i = 0; i < s->topic_count; i++)
        free(s->topics[i]);
    free(s->topics);
    free(s->user_data);
    memset(s, 0, sizeof *s);
}

/* Inserts t (taking it) into the sorted, duplicate-free list; a duplicate is freed. */
static void insert_topic(char **list, size_t *n, char *t)
{
    size_t at = 0;
    while (at < *n && bk_grp_java_strcmp(list[at], t) < 0)
        at++;
    if (at < *n && strcmp(list[at], t) == 0) {
        free(t);
        return;
    }
    memmove(list + at + 1, list + at, (*n - at) * sizeof *list);
    list[at] = t;
    (*n)++;
}

int bk_grp_subscription_decode(const uint8_t *p, size_t len, bk_grp_subscription_t *out)
{
    bk_gkr_t r = {p, p + len, 0};
    memset(out, 0, sizeof *out);
    out->version = bk_gkr_i16(&r);
    if (!r.err && out->version < 0)
        r.err = BK_ECORRUPT;
    int32_t n = bk_gkr_count(&r, 2);
    if (!r.err && n > 0 && !(out->topics = calloc((size_t)n, sizeof *out->topics)))
        r.err = UV_ENOMEM;
    for (int32_t i = 0; !r.err && i < n; i++) {
        char *t = bk_gkr_str(&r, 0);
        if (t && !t[0]) {
            free(t);
            r.err = BK_ECORRUPT;
        } else if (t) {
            insert_topic(out->topics, &out->topic_count, t);
        }
    }
    int is_null = 1;
    bk_gkr_bytes(&r, &out->user_data, &out->user_data_len, &is_null);
    out->has_user_data = !is_null;
    if (r.err)
        bk_grp_subscription_free(out);
    return r.err;
}

int bk_grp_assignment_encode(bk_grp_buf_t *b, const bk_grp_assignment_t *a)
{
    bk_gkw_t w = {b, 0};
    size_t start = b->len;
    bk_gkw_i16(&w, 0);
    bk_gkw_i32(&w, (int32_t)a->count);
    for (size_t i = 0; i < a->count; i++) {
        bk_gkw_str(&w, a->topics[i].topic);
        bk_gkw_i32(&w, (int32_t)a->topics[i].count);
        for (size_t k = 0; k < a->topics[i].count; k++)
            bk_gkw_i32(&w, a->topics[i].partitions[k]);
    }
    bk_gkw_i32(&w, -1);
    if (w.err)
        b->len = start;
    return w.err;
}

static void read_topic_parts(bk_gkr_t *r, bk_grp_assignment_t *out)
{
    char *t = bk_gkr_str(r, 0);
    if (t && !t[0])
        r->err = BK_ECORRUPT;
    int32_t n = bk_gkr_count(r, 4);
    for (int32_t k = 0; !r->err && k < n; k++) {
        int32_t part = bk_gkr_i32(r);
        if (!r->err && part < 0)
            r->err = BK_ECORRUPT;
        if (!r->err && bk_grp_assignment_add(out, t, part))
            r->err = UV_ENOMEM;
    }
    free(t);
}

int bk_grp_assignment_decode(const uint8_t *p, size_t len, bk_grp_assignment_t *out)
{
    bk_gkr_t r = {p, p + len, 0};
    memset(out, 0, sizeof *out);
    if (len == 0)
        return 0;
    if (bk_gkr_i16(&r) < 0 && !r.err)
        r.err = BK_ECORRUPT;
    int32_t n = bk_gkr_count(&r, 6);
    for (int32_t i = 0; !r.err && i < n; i++)
        read_topic_parts(&r, out);
    uint8_t *user = NULL;
    size_t ulen;
    int is_null;
    bk_gkr_bytes(&r, &user, &ulen, &is_null);
    free(user);
    if (r.err)
        bk_grp_assignment_free(out);
    return r.err;
}
