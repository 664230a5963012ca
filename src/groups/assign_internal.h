/* Shared by the two assignors: members in Kafka's sort order and the subscription checks.
 * Private to src/groups/. */
#ifndef BROOK_GROUPS_ASSIGN_INTERNAL_H
#define BROOK_GROUPS_ASSIGN_INTERNAL_H

#include "brook/groups.h"

/* Indexes 0..n-1 of members in Kafka's MemberInfo order (instance id, then member id). */
int bk_grp_sorted_members(const bk_grp_assign_member_t *m, size_t n, size_t **order);
/* 1 when m subscribes to topic. */
int bk_grp_subscribes(const bk_grp_assign_member_t *m, const char *topic);
/* Every topic some member subscribes to, each once, in Java order (pointers into members). */
int bk_grp_all_topics(const bk_grp_assign_member_t *m, size_t n, const char ***topics,
                      size_t *count);

int bk_grp_assign_range(const bk_grp_assign_member_t *m, size_t n, bk_grp_partitions_fn parts,
                        void *ctx, bk_grp_assignment_t *out);
int bk_grp_assign_roundrobin(const bk_grp_assign_member_t *m, size_t n, bk_grp_partitions_fn parts,
                             void *ctx, bk_grp_assignment_t *out);

#endif
