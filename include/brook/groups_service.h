/* The broker's one group coordinator and group store, as a second front end sees them. The
 * HTTP consumer API (src/api/consumers*.c) owns the groups, the __consumer_offsets store and
 * the timer that runs the coordinators' clocks; the Kafka listener reaches the same groups
 * through this table of functions, wired in main.c, so a group is one group whichever
 * protocol its members speak. Neither front end includes the other.
 *
 * Ownership: every pointer returned stays valid until the next call into the service or a
 * return to the loop, whichever is first. Actions the Kafka side did not consume are carried
 * out by act (persist a group record, drop a removed REST instance). */
#ifndef BROOK_GROUPS_SERVICE_H
#define BROOK_GROUPS_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "brook/groups.h"
#include "brook/groups_store.h"

/* Answers for pending JoinGroup/SyncGroup requests (a->kind JOIN or SYNC, a->token the
 * front end's), from whatever moved the group: the front end's own call, the timer, a group
 * record acknowledged. a NULL: every pending request is void (groups dropped for a reload,
 * or the broker stopping); answer them NOT_COORDINATOR. */
typedef void (*bk_gsvc_answer_fn)(void *arg, const bk_grp_action_t *a);

/* Called once a write finished: status 0 acknowledged (acks=all, the store updated), else the
 * outcome is unknown. */
typedef void (*bk_gsvc_done_fn)(void *arg, int status);

typedef struct {
    void *ctx;
    /* 0 when group requests may be served here now (this broker leads and replayed
     * __consumer_offsets for its term: replay runs here when needed), else the Kafka error
     * code to answer: NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS or
     * COORDINATOR_NOT_AVAILABLE (stopping). */
    int (*ready)(void *ctx);
    /* The live group id (made Empty when missing and create is set). NULL when unknown
     * (or out of memory). */
    bk_grp_t *(*group)(void *ctx, const char *id, int create);
    /* The i-th live group (NULL past the end): ListGroups. */
    bk_grp_t *(*group_at)(void *ctx, size_t i);
    /* Carries out out's actions for g (JOIN and SYNC go to the answer hook) and clears out. */
    void (*act)(void *ctx, bk_grp_t *g, bk_grp_out_t *out);
    /* Appends recs for group to __consumer_offsets with acks=all: 0 and done runs exactly
     * once later; a negative error (nothing written, done never runs) otherwise. */
    int (*write)(void *ctx, const char *group, const bk_grp_kvs_t *recs, bk_gsvc_done_fn done,
                 void *arg);
    /* What __consumer_offsets holds (acknowledged records). */
    const bk_grp_store_t *(*store)(void *ctx);
    /* Installs (fn non-NULL) or removes the answer hook. */
    void (*set_answer)(void *ctx, bk_gsvc_answer_fn fn, void *arg);
} bk_groups_service_t;

#endif
