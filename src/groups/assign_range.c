/* Kafka's RangeAssignor (no racks): topic by topic, the partitions in order are cut into
 * consecutive ranges, one per subscribed member in sorted order, the first (P mod M) members
 * taking one partition more. Javadoc example: C0 and C1 on t0, t1 (3 partitions each) give
 * C0 [t0p0, t0p1, t1p0, t1p1] and C1 [t0p2, t1p2]. Pure. */
#include "groups/assign_internal.h"

#include <stdlib.h>
#include <uv.h>

static int assign_topic(const bk_grp_assign_member_t *m, const size_t *order, size_t n,
                        const char *topic, int32_t parts, bk_grp_assignment_t *out)
{
    size_t subscribed = 0;
    for (size_t i = 0; i < n; i++)
        subscribed += (size_t)bk_grp_subscribes(&m[order[i]], topic);
    if (subscribed == 0 || parts <= 0)
        return 0;
    size_t per = (size_t)parts / subscribed, extra = (size_t)parts % subscribed;
    size_t k = 0; /* rank among the subscribed members */
    for (size_t i = 0; i < n; i++) {
        if (!bk_grp_subscribes(&m[order[i]], topic))
            continue;
        size_t start = per * k + (k < extra ? k : extra);
        size_t len = per + (k < extra ? 1 : 0);
        for (size_t p = start; p < start + len; p++)
            if (bk_grp_assignment_add(&out[order[i]], topic, (int32_t)p))
                return UV_ENOMEM;
        k++;
    }
    return 0;
}

int bk_grp_assign_range(const bk_grp_assign_member_t *m, size_t n, bk_grp_partitions_fn parts,
                        void *ctx, bk_grp_assignment_t *out)
{
    size_t *order = NULL, count = 0;
    const char **topics = NULL;
    int err = bk_grp_sorted_members(m, n, &order);
    if (err)
        return err;
    err = bk_grp_all_topics(m, n, &topics, &count);
    for (size_t t = 0; !err && t < count; t++)
        err = assign_topic(m, order, n, topics[t], parts(ctx, topics[t]), out);
    free(topics);
    free(order);
    return err;
}
