/* Acknowledgement: durable here, then (acks=all) replicated, then still under our lease. Shared
 * by the HTTP and Kafka front ends, so both promise exactly the same thing. */
#include "brook/ack.h"

#include "brook/common.h"

int bk_ack_check_insync(bk_replicator_t *r, bk_partition_t *p, bk_acks_t acks)
{
    if (acks != BK_ACKS_ALL)
        return 0;
    if (r == NULL)
        return BK_ECLOSED;
    return bk_replicator_check_insync(r, p);
}

static void finish(bk_ack_t *a, int status)
{
    int64_t epoch = 0;
    bk_election_t *e = *a->election; /* NULL: stopped, late in a shutdown */
    a->decided_ms = bk_now_ms();     /* the moment the acknowledgement is promised for */
    if (status == 0 &&
        (!e || !bk_election_can_ack_at(e, a->decided_ms, &epoch) || epoch != a->epoch))
        status = BK_ENOTLEADER;
    a->done(a->arg, status);
}

static void after_replicated(void *arg, int status)
{
    finish(arg, status);
}

void bk_ack_after_append(void *arg, int status, int64_t base_offset)
{
    bk_ack_t *a = arg;
    bk_replicator_t *r = *a->replicator;
    /* A topic deleted while this append was queued is freed once its callbacks have run: no
     * waiting on the replicator for it (and nothing may touch it later). */
    if (status == 0 && bk_topic_deleted(bk_partition_topic(a->part)))
        status = BK_ENOTOPIC;
    if (status < 0 || a->acks != BK_ACKS_ALL || !r) {
        finish(a, status); /* no replicator: stopped, and finish refuses without an election */
        return;
    }
    int rc = bk_replicator_wait(r, a->part, base_offset + a->count, after_replicated, a);
    if (rc)
        finish(a, rc);
}
