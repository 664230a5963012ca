/* Acknowledgement over HTTP: parsing ?acks= and refusing acks=all up front (the policy itself
 * is brook/ack.h, in src/replication/ack.c). */
#include "api/ack.h"

#include <string.h>

#include "brook/common.h"
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
    int rc = bk_ack_check_insync(b->replicator, p, acks);
    if (rc == 0)
        return 1;
    if (rc == BK_ECLOSED) { /* stopped: late in a shutdown */
        bk_exchange_error(ex, 503, "the broker is shutting down");
        return 0;
    }
    bk_exchange_errorf(ex, 503,
                       "not enough in-sync replicas for acks=all (%s); nothing was "
                       "written",
                       rc == UV_EAGAIN ? "below --min-insync-replicas" : bk_strerror(rc));
    return 0;
}
