/* Kafka's RoundRobinAssignor: all partitions of all subscribed topics, sorted by topic then
 * partition, dealt to the sorted members in a circle; a member not subscribed to a
 * partition's topic is skipped (and the deal continues after whoever took it). Javadoc
 * example: C0 [t0], C1 [t0,t1], C2 [t0,t1,t2] over 1, 2 and 3 partitions give C0 [t0p0],
 * C1 [t1p0], C2 [t1p1, t2p0, t2p1, t2p2]. Pure. */
#include "groups/assign_internal.h"

#include <stdlib.h>
#include <uv.h>

int bk_grp_assign_roundrobin(const bk_grp_assign_member_t *m, size_t n, bk_grp_partitions_fn parts,
                             void *ctx, bk_grp_assignment_t *out)
{
    size_t *order = NULL, count = 0, next = 0;
    const char **topics = NULL;
    int err = bk_grp_sorted_members(m, n, &order);
    if (err)
        return err;
    err = bk_grp_all_topics(m, n, &topics, &count);
    for (size_t t = 0; !err && t < count; t++) {
        int32_t np = parts(ctx, topics[t]);
        for (int32_t p = 0; !err && p < np; p++) {
            /* Someone subscribes to every topic of the union: this loop ends. */
            while (!bk_grp_subscribes(&m[order[next]], topics[t]))
                next = (next + 1) % n;
            err = bk_grp_assignment_add(&out[order[next]], topics[t], p);
            next = (next + 1) % n;
        }
    }
    free(topics);
    free(order);
    return err;
}
