/* What the coordinator's files share: member records, action recording and the state
 * transitions (Kafka's prepareRebalance / onCompleteJoin). Private to src/groups/. */
#ifndef BROOK_GROUPS_COORDINATOR_INTERNAL_H
#define BROOK_GROUPS_COORDINATOR_INTERNAL_H

#include "brook/groups.h"

/* member.c */
bk_grp_member_t *grp_member_new(const char *member_id, const char *client_id,
                                const char *client_host, int32_t session_ms, int32_t rebalance_ms);
void grp_member_free(bk_grp_member_t *m);
/* Copies the protocols and, when one's metadata is a Subscription, its topics. */
int grp_member_set_protocols(bk_grp_member_t *m, const bk_grp_protocol_in_t *p, size_t n);
int grp_member_same_protocols(const bk_grp_member_t *m, const bk_grp_protocol_in_t *p, size_t n);
const bk_grp_protocol_t *grp_member_protocol(const bk_grp_member_t *m, const char *name);
/* Copies the assignment bytes (NULL/0: none). */
int grp_member_set_assignment(bk_grp_member_t *m, const uint8_t *p, size_t len);

/* actions.c: each records a copy; on failure out->lost is set and nothing is recorded. */
void grp_act_join_error(bk_grp_out_t *out, uint64_t token, const char *member_id, int err);
void grp_act_join(const bk_grp_t *g, const bk_grp_member_t *m, bk_grp_out_t *out);
void grp_act_sync(bk_grp_out_t *out, uint64_t token, const char *member_id, int err,
                  const uint8_t *assignment, size_t len);
void grp_act_persist(bk_grp_out_t *out, int32_t generation);
void grp_act_removed(bk_grp_out_t *out, const char *member_id, bk_grp_gone_t why);
void grp_act_stable(bk_grp_out_t *out, int32_t generation);

/* coordinator.c */
void grp_set_state(bk_grp_t *g, bk_grp_state_t s, int64_t now);
int grp_append_member(bk_grp_t *g, bk_grp_member_t *m);
/* Removes members[i]: its pending requests get UNKNOWN_MEMBER_ID, REMOVED is recorded, the
 * leader moves to the first member left. No state change (see grp_after_removal). */
void grp_remove_member(bk_grp_t *g, size_t i, bk_grp_gone_t why, bk_grp_out_t *out);
/* After removals: Stable or CompletingRebalance rebalance; PreparingRebalance may complete. */
void grp_after_removal(bk_grp_t *g, int64_t now, bk_grp_out_t *out);
void grp_prepare_rebalance(bk_grp_t *g, int64_t now, bk_grp_out_t *out);
void grp_maybe_complete_join(bk_grp_t *g, int64_t now, bk_grp_out_t *out);
int32_t grp_max_rebalance_ms(const bk_grp_t *g);
/* "<client_id>-<uuid>" from the injected random source; NULL on ENOMEM. */
char *grp_new_member_id(const bk_grp_t *g, const char *client_id);
int grp_pending_find(const bk_grp_t *g, const char *member_id);
void grp_pending_remove(bk_grp_t *g, size_t i);

/* coordinator_complete.c: Kafka's onCompleteJoin (new generation) */
void grp_complete_join(bk_grp_t *g, int64_t now, bk_grp_out_t *out);
/* Records the subscribed topics' partition counts now (bk_grp_metadata_changed compares). */
int grp_count_topics(bk_grp_t *g);

#endif
