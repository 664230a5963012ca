/* Assignments as sorted (topic, partitions) lists, Java's string order, and the assignor
 * entry point with what both assignors share (member order, topic union). Pure: no I/O, no
 * clock. The order rules are Kafka's, since members compare results across brokers. */
#include "groups/assign_internal.h"

#include "brook/common.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* Next UTF-16 code unit of the UTF-8 string at *s (0 at the end). *low carries the low
 * surrogate of a character above U+FFFF. A byte that is not valid UTF-8 counts as itself. */
static uint32_t next_unit(const unsigned char **s, uint32_t *low)
{
    if (*low) {
        uint32_t u = *low;
        *low = 0;
        return u;
    }
    const unsigned char *p = *s;
    uint32_t c = p[0], cp;
    size_t n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
    if (c == 0)
        return 0;
    cp = n ? c & (0x3fu >> n) : c;
    for (size_t k = 1; k <= n; k++) {
        if ((p[k] & 0xc0) != 0x80) {
            *s = p + 1;
            return c;
        }
        cp = cp << 6 | (p[k] & 0x3fu);
    }
    *s = p + n + 1;
    if (cp < 0x10000)
        return cp;
    cp -= 0x10000;
    *low = 0xdc00 + (cp & 0x3ff);
    return 0xd800 + (cp >> 10);
}

int bk_grp_java_strcmp(const char *a, const char *b)
{
    const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
    uint32_t la = 0, lb = 0;
    for (;;) {
        uint32_t ua = next_unit(&p, &la), ub = next_unit(&q, &lb);
        if (ua != ub)
            return ua < ub ? -1 : 1;
        if (!ua)
            return 0;
    }
}

static size_t topic_index(const bk_grp_assignment_t *a, const char *topic, int *found)
{
    size_t lo = 0, hi = a->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = bk_grp_java_strcmp(a->topics[mid].topic, topic);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static int add_topic(bk_grp_assignment_t *a, size_t at, const char *topic)
{
    char *copy = strdup(topic);
    if (!copy || bk_grow(&a->topics, &a->cap, a->count, 1, sizeof *a->topics, 4)) {
        free(copy);
        return UV_ENOMEM;
    }
    memmove(a->topics + at + 1, a->topics + at, (a->count - at) * sizeof *a->topics);
    a->topics[at] = (bk_grp_tparts_t){.topic = copy};
    a->count++;
    return 0;
}

int bk_grp_assignment_add(bk_grp_assignment_t *a, const char *topic, int32_t partition)
{
    int found;
    size_t at = topic_index(a, topic, &found);
    if (!found && add_topic(a, at, topic))
        return UV_ENOMEM;
    bk_grp_tparts_t *t = &a->topics[at];
    size_t i = t->count;
    while (i > 0 && t->partitions[i - 1] > partition)
        i--;
    if (i > 0 && t->partitions[i - 1] == partition)
        return 0;
    if (bk_grow(&t->partitions, &t->cap, t->count, 1, sizeof *t->partitions, 8))
        return UV_ENOMEM;
    memmove(t->partitions + i + 1, t->partitions + i, (t->count - i) * sizeof *t->partitions);
    t->partitions[i] = partition;
    t->count++;
    return 0;
}

size_t bk_grp_assignment_size(const bk_grp_assignment_t *a)
{
    size_t n = 0;
    for (size_t i = 0; i < a->count; i++)
        n += a->topics[i].count;
    return n;
}

int bk_grp_assignment_has(const bk_grp_assignment_t *a, const char *topic, int32_t partition)
{
    int found;
    size_t at = topic_index(a, topic, &found);
    if (!found)
        return 0;
    for (size_t i = 0; i < a->topics[at].count; i++)
        if (a->topics[at].partitions[i] == partition)
            return 1;
    return 0;
}

void bk_grp_assignment_free(bk_grp_assignment_t *a)
{
    for (size_t i = 0; i < a->count; i++) {
        free(a->topics[i].topic);
        free(a->topics[i].partitions);
    }
    free(a->topics);
    memset(a, 0, sizeof *a);
}

/* Kafka's MemberInfo.compareTo. */
static int member_cmp(const bk_grp_assign_member_t *x, const bk_grp_assign_member_t *y)
{
    if (x->group_instance_id && y->group_instance_id)
        return bk_grp_java_strcmp(x->group_instance_id, y->group_instance_id);
    if (x->group_instance_id)
        return -1;
    if (y->group_instance_id)
        return 1;
    return bk_grp_java_strcmp(x->member_id, y->member_id);
}

int bk_grp_sorted_members(const bk_grp_assign_member_t *m, size_t n, size_t **order)
{
    size_t *o = malloc((n ? n : 1) * sizeof *o);
    if (!o)
        return UV_ENOMEM;
    for (size_t i = 0; i < n; i++) { /* insertion sort: groups are small, and it is stable */
        size_t j = i;
        while (j > 0 && member_cmp(&m[o[j - 1]], &m[i]) > 0) {
            o[j] = o[j - 1];
            j--;
        }
        o[j] = i;
    }
    *order = o;
    return 0;
}

int bk_grp_subscribes(const bk_grp_assign_member_t *m, const char *topic)
{
    for (size_t i = 0; i < m->topic_count; i++)
        if (strcmp(m->topics[i], topic) == 0)
            return 1;
    return 0;
}

int bk_grp_all_topics(const bk_grp_assign_member_t *m, size_t n, const char ***topics,
                      size_t *count)
{
    const char **t = NULL;
    size_t len = 0, cap = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < m[i].topic_count; k++) {
            const char *name = m[i].topics[k];
            size_t at = 0;
            while (at < len && bk_grp_java_strcmp(t[at], name) < 0)
                at++;
            if (at < len && strcmp(t[at], name) == 0)
                continue;
            if (bk_grow(&t, &cap, len, 1, sizeof *t, 8)) {
                free(t);
                return UV_ENOMEM;
            }
            memmove(t + at + 1, t + at, (len - at) * sizeof *t);
            t[at] = name;
            len++;
        }
    }
    *topics = t;
    *count = len;
    return 0;
}

int bk_grp_assignor_known(const char *assignor)
{
    return assignor && (strcmp(assignor, "range") == 0 || strcmp(assignor, "roundrobin") == 0);
}

int bk_grp_assign(const char *assignor, const bk_grp_assign_member_t *members, size_t n,
                  bk_grp_partitions_fn partitions, void *ctx, bk_grp_assignment_t *out)
{
    if (!bk_grp_assignor_known(assignor))
        return BK_EINVAL;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < i; k++)
            if (strcmp(members[i].member_id, members[k].member_id) == 0)
                return BK_EINVAL;
    int err = strcmp(assignor, "range") == 0
                  ? bk_grp_assign_range(members, n, partitions, ctx, out)
                  : bk_grp_assign_roundrobin(members, n, partitions, ctx, out);
    if (err)
        for (size_t i = 0; i < n; i++)
            bk_grp_assignment_free(&out[i]);
    return err;
}
