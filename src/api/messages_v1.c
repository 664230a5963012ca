/* GET /topics/{t}/partitions/{p}/messages?offset=&count= (REST Proxy v1): a stateless read of
 * up to count records (default 1) of one partition from offset, answered at once as v1's
 * array of {"key","value","partition","offset"}, binary (base64) or json (embedded) as Accept
 * chooses. Only records below the high watermark are shown; an offset outside the readable
 * range is 416, as on the native records route. It never waits and never changes anything. */
#include <stdlib.h>
#include <string.h>

#include "api/broker.h"
#include "api/record_json.h"
#include "api/records_body.h" /* BK_RB_MAX_RECORDS */
#include "brook/common.h"
#include "http/accept.h"
#include "http/response.h"

#define V1_BIN "application/vnd.kafka.binary.v1+json"
#define V1_JSON "application/vnd.kafka.json.v1+json"

/* Accept → the answer's type and format; binary unless a json type is preferred. 1, or 0
 * when answered 406. */
static int pick_type(bk_exchange_t *ex, const char **type, int *format)
{
    static const char *const types[] = {V1_BIN,
                                        V1_JSON,
                                        "application/vnd.kafka.v1+json",
                                        "application/vnd.kafka+json",
                                        "application/json",
                                        "application/vnd.kafka.binary.v2+json",
                                        "application/vnd.kafka.json.v2+json"};
    size_t len = 0;
    const char *acc = bk_exchange_header(ex, "accept", &len);
    int i = bk_accept_pick(acc, len, types, sizeof types / sizeof types[0]);
    if (i < 0) {
        bk_exchange_error(ex, 406,
                          "cannot answer in any type named by Accept; use " V1_BIN " or " V1_JSON);
        return 0;
    }
    *type = types[i];
    *format = i == 1 || i == 6 ? BK_FMT_JSON : BK_FMT_BINARY;
    return 1;
}

static int query(bk_exchange_t *ex, const char *name, int64_t min, int64_t max, int64_t *v,
                 int required)
{
    size_t len;
    const char *s = bk_exchange_query(ex, name, &len);
    if (!s && !required)
        return 1;
    if (s && bk_parse_int(s, len, min, max, v) == 0)
        return 1;
    bk_exchange_errorf(ex, 400, "query parameter %s %smust be an integer from %lld to %lld", name,
                       s ? "" : "is required and ", (long long)min, (long long)max);
    return 0;
}

static void answer(bk_broker_t *b, bk_exchange_t *ex, bk_partition_t *p, int64_t offset,
                   int64_t count, const char *type, int format)
{
    bk_json_t *j = bk_json_begin();
    bk_record_render_in_t ri = {.r = {j, (bk_record_format_t)format, 0, 0, b->cfg.max_page_text},
                                .partition = (int64_t)bk_partition_index(p),
                                .v1 = 1};
    bk_json_arr(j);
    int64_t end = bk_broker_visible_end(b, p), next = offset;
    uint32_t max = (uint32_t)(end - offset < count ? end - offset : count);
    int n =
        max ? bk_partition_read_to(p, offset, end, max, 64u << 20, bk_record_render_in, &ri, &next)
            : 0;
    if (n < 0 && n != BK_ERANGE && ri.r.records == 0) {
        bk_exchange_errorf(ex, 500, "read failed at offset %lld: %s", (long long)next,
                           n == BK_ETOOBIG ? "the compressed batch there inflates past 64 MiB"
                                           : bk_strerror(n));
        return;
    }
    bk_topic_counters_t *tc =
        ri.r.records ? bk_metrics_topic(&b->metrics, bk_partition_topic(p)) : NULL;
    if (tc) {
        tc->records_out += ri.r.records;
        tc->bytes_out += ri.r.bytes;
    }
    bk_json_arr_end(j);
    ex->json_type = type;
    bk_exchange_respond_json(ex, 200, j, NULL);
}

void bk_api_messages_v1(bk_broker_t *b, bk_exchange_t *ex, const bk_route_t *r)
{
    const char *type;
    int format;
    if (!pick_type(ex, &type, &format))
        return;
    bk_topic_t *t = bk_broker_topic(b, ex, r->topic, r->topic_len, 0, -1);
    bk_partition_t *p = t ? bk_broker_partition(ex, t, r->partition) : NULL;
    int64_t offset = 0, count = 1;
    if (!p || !query(ex, "offset", 0, INT64_MAX, &offset, 1) ||
        !query(ex, "count", 1, BK_RB_MAX_RECORDS, &count, 0))
        return;
    int64_t start = bk_partition_start_offset(p), hw = bk_broker_visible_end(b, p);
    if (offset < start || offset > hw) {
        bk_exchange_errorf(ex, 416,
                           "offset %lld is out of range: readable offsets are %lld to %lld",
                           (long long)offset, (long long)start, (long long)hw);
        return;
    }
    answer(b, ex, p, offset, count, type, format);
}
