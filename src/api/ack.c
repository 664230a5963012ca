/* Acknowledgement: durable here, then (acks=all) replicated, then still under our lease. */
#include "api/ack.h"

#include <string.h>

#include "brook/common.h"
#include "brook/replicator.h"
#include "http/response.h"

int bk_ack_parse(bk_exchange_t *ex, bk_acks_t *acks)
{
    size_t len;
    const char *s = bk_exchange_query(ex, "acks", &len);
    *acks = BK_ACKS_ALL;
    if (!s || (len == 3 && memcmp(s, "all", 3) == 0) || (len == 2 && memcmp(s, "-1", 2) == 0))
        return 1;
    if (len == 1 && (s[0] == '0' || s[0] == '1')) {
        *acks = s[0] == '0' ? BK_ACKS_NONE : BK_ACKS_LEADER;
        return 1;
    }
    bk_exchange_error(ex, 400, "query parameter acks must be 0, 1 or all");
    return 0;
}

int bk_ack_precheck(bk_broker_t *b, bk_exchange_t *ex, bk_partition_t *p, bk_acks_t acks)
{
    if (acks != BK_ACKS_ALL)
        return 1;
    if (b->replicator == NULL) { /* stopped: late in a shutdown */
        bk_exchange_error(ex, 503, "the broker is shutting down");
        return 0;
    }
    int rc = bk_replicator_check_insync(b->replicator, p);
    if (rc == 0)
        return 1;
    bk_exchange_errorf(ex, 503,
                       "not enough in-sync replicas for acks=all (%s); nothing was "
                       "written",
                       rc == UV_EAGAIN ? "below --min-insync-replicas" : bk_strerror(rc));
    return 0;
}

static void finish(bk_ack_t *a, int status)
{
    int64_t epoch = 0;
    bk_election_t *e = a->broker->election; /* NULL: stopped, late in a shutdown */
    a->decided_ms = bk_now_ms(); /* the moment the 200 is promised for (X-Ack-Decided-At) */
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
    /* A topic deleted while this append was queued is freed once its callbacks have run: no
     * waiting on the replicator for it (and nothing may touch it later). */
    if (status == 0 && bk_topic_deleted(bk_partition_topic(a->part)))
        status = BK_ENOTOPIC;
    if (status < 0 || a->acks != BK_ACKS_ALL || !a->broker->replicator) {
        finish(a, status); /* no replicator: stopped, and finish refuses without an election */
        return;
    }
    int rc = bk_replicator_wait(a->broker->replicator, a->part, base_offset + a->count,
                                after_replicated, a);
    if (rc)
        finish(a, rc);
}
