/* GET /topics/{t}/partitions/{p}/records?offset=&max_records=&max_bytes=&timeout_ms=&format=
 * Stateless partition reads up to the high watermark, with keys, values, headers and
 * timestamps. When nothing is there yet the request waits (long-poll) until a commit brings
 * data or timeout_ms passes, then answers an empty page with the same next_offset. An offset
 * below the log start or above the high watermark is 416 with both bounds in the message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/broker.h"
#include "brook/common.h"
#include "api/record_json.h"
#include "api/records_body.h" /* BK_RB_MAX_RECORDS */
#include "http/response.h"

struct bk_waiter {
    bk_broker_t *broker;
    bk_exchange_t *ex;
    bk_partition_t *part;
    int64_t offset;
    uint32_t max_records;
    size_t max_bytes;
    int format;
    uv_timer_t timer;
    bk_waiter_t *prev, *next;
};

/* Reads and answers one page (possibly empty). */
static void answer_page(bk_broker_t *b, bk_exchange_t *ex, bk_partition_t *p, int64_t offset,
                        uint32_t max_records, size_t max_bytes, int format)
{
    bk_json_t *j = bk_json_begin();
    bk_record_render_t pg = {j, (bk_record_format_t)format, 0, 0, b->cfg.max_page_text};
    bk_json_obj(j);
    bk_json_key(j, "topic");
    bk_json_str(j, bk_topic_name(bk_partition_topic(p)));
    bk_json_key(j, "partition");
    bk_json_uint(j, bk_partition_index(p));
    bk_json_key(j, "records");
    bk_json_arr(j);
    int64_t next = offset, end = bk_broker_visible_end(b, p);
    int n = 0;
    if (end - offset < (int64_t)max_records) /* only what every in-sync replica holds */
        max_records = end > offset ? (uint32_t)(end - offset) : 0;
    if (max_records)
        n = bk_partition_read_to(p, offset, end, max_records, max_bytes, bk_record_render, &pg,
                                 &next);
    if (n == BK_ETOOBIG) { /* a compression bomb (or a batch no client could have sent) */
        bk_exchange_errorf(ex, 500,
                           "read failed at offset %lld: the compressed batch there inflates past "
                           "64 MiB, the largest batch",
                           (long long)next);
        return;
    }
    if (n < 0 && n != BK_ERANGE) {
        bk_exchange_errorf(ex, 500, "read failed at offset %lld: %s", (long long)next,
                           bk_strerror(n));
        return;
    }
    bk_topic_counters_t *tc = n > 0 ? bk_metrics_topic(&b->metrics, bk_partition_topic(p)) : NULL;
    if (tc) {
        tc->records_out += (uint64_t)n;
        tc->bytes_out += pg.bytes;
    }
    bk_json_arr_end(j);
    bk_json_key(j, "next_offset");
    bk_json_int(j, next);
    bk_json_key(j, "high_watermark");
    bk_json_int(j, end);
    bk_json_key(j, "log_start_offset");
    bk_json_int(j, bk_partition_start_offset(p));
    bk_json_obj_end(j);
    bk_exchange_respond_json(ex, 200, j, NULL);
}

static void on_waiter_closed(uv_handle_t *h)
{
    free(h->data);
}

static void unlink_waiter(bk_waiter_t *w)
{
    bk_broker_t *b = w->broker;
    if (w->prev)
        w->prev->next = w->next;
    else
        b->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    uv_timer_stop(&w->timer);
    b->waiter_count--;
}

static void finish_waiter(bk_waiter_t *w)
{
    unlink_waiter(w);
    w->ex->on_gone = NULL;
    w->ex->on_hangup = NULL;
    answer_page(w->broker, w->ex, w->part, w->offset, w->max_records, w->max_bytes, w->format);
    uv_close((uv_handle_t *)&w->timer, on_waiter_closed);
}

static void on_waiter_hangup(bk_exchange_t *ex)
{
    finish_waiter(ex->stream_ctx);
}

/* The client hung up while waiting: drop the wait now, not at its timeout (thousands of
 * pipelined long-polls on closed connections would otherwise stay for it). */
static void on_waiter_gone(bk_exchange_t *ex)
{
    bk_waiter_t *w = ex->stream_ctx;
    unlink_waiter(w);
    uv_close((uv_handle_t *)&w->timer, on_waiter_closed);
    bk_exchange_release(ex);
}

static void on_poll_timeout(uv_timer_t *t)
{
    finish_waiter(t->data);
}

int64_t bk_broker_visible_end(bk_broker_t *b, bk_partition_t *p)
{
    return b->replicator ? bk_replicator_high_watermark(b->replicator, p)
                         : bk_partition_high_watermark(p);
}

void bk_broker_on_visible(void *arg, bk_partition_t *p)
{
    bk_broker_t *b = arg;
    bk_waiter_t *w = b->waiters;
    while (w) {
        bk_waiter_t *next = w->next;
        if (w->part == p && bk_broker_visible_end(b, p) > w->offset)
            finish_waiter(w);
        w = next;
    }
    bk_streams_on_commit(b, p);
}

void bk_broker_forget_topic(bk_broker_t *b, bk_topic_t *t)
{
    /* The replicator first: it answers acks=all writes already satisfied, whose answers
     * count into the topic's metrics, which must be forgotten after them. */
    if (b->replicator)
        bk_replicator_forget_topic(b->replicator, t);
    bk_waiter_t *w = b->waiters;
    while (w) {
        bk_waiter_t *next = w->next;
        if (bk_partition_topic(w->part) == t)
            finish_waiter(w);
        w = next;
    }
    bk_streams_end(b, t);
    bk_metrics_forget_topic(&b->metrics, t);
}

void bk_broker_on_topic_deleted(void *arg, bk_topic_t *t)
{
    bk_broker_forget_topic(arg, t);
}

void bk_broker_wake_all(bk_broker_t *b)
{
    while (b->waiters)
        finish_waiter(b->waiters);
    bk_streams_end(b, NULL);
}

static int wait_for_data(bk_broker_t *b, bk_exchange_t *ex, bk_partition_t *p, int64_t offset,
                         uint32_t max_records, size_t max_bytes, int format, uint64_t timeout)
{
    bk_waiter_t *w = calloc(1, sizeof *w);
    if (!w)
        return UV_ENOMEM;
    *w = (bk_waiter_t){b, ex, p, offset, max_records, max_bytes, format, {0}, NULL, b->waiters};
    uv_timer_init(b->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_poll_timeout, timeout, 0);
    ex->stream_ctx = w;
    ex->on_gone = on_waiter_gone;
    ex->on_hangup = on_waiter_hangup;
    if (b->waiters)
        b->waiters->prev = w;
    b->waiters = w;
    b->waiter_count++;
    return 0;
}

/* Parses an optional non-negative integer query parameter; 1 ok, 0 invalid (answered). */
static int query_int(bk_exchange_t *ex, const char *name, int64_t min, int64_t max, int64_t *v)
{
    size_t len;
    const char *s = bk_exchange_query(ex, name, &len);
    if (!s)
        return 1;
    int64_t x = 0;
    if (bk_parse_int(s, len, min, max, &x) != 0) {
        bk_exchange_errorf(ex, 400, "query parameter %s must be an integer from %lld to %lld", name,
                           (long long)min, (long long)max);
        return 0;
    }
    *v = x;
    return 1;
}

static int query_format(bk_exchange_t *ex, int *format)
{
    size_t len;
    const char *s = bk_exchange_query(ex, "format", &len);
    *format = s ? bk_record_format_parse(s, len) : BK_FMT_STRING;
    if (*format >= 0)
        return 1;
    bk_exchange_error(ex, 400, "query parameter format must be string, binary or json");
    return 0;
}

/* Accept: application/x-ndjson asks for a streamed read. */
static int wants_stream(bk_exchange_t *ex)
{
    size_t len;
    const char *acc = bk_exchange_header(ex, "accept", &len);
    return acc && memmem(acc, len, "application/x-ndjson", 20) != NULL;
}

void bk_api_records(bk_broker_t *b, bk_exchange_t *ex, const bk_route_t *r)
{
    bk_topic_t *t = bk_broker_topic(b, ex, r->topic, r->topic_len, 0, -1);
    if (!t)
        return;
    bk_partition_t *p = bk_broker_partition(ex, t, r->partition);
    if (!p)
        return;
    int streaming = wants_stream(ex) && !b->stopping;
    int64_t offset = bk_partition_start_offset(p), max_records = streaming ? -1 : 500,
            max_bytes = 1 << 20, timeout = 0;
    int format;
    if (!query_int(ex, "offset", 0, INT64_MAX, &offset) ||
        !query_int(ex, "max_records", 1, BK_RB_MAX_RECORDS, &max_records) ||
        !query_int(ex, "max_bytes", 1, 64 << 20, &max_bytes) ||
        !query_int(ex, "timeout_ms", 0, streaming ? INT32_MAX : b->cfg.max_poll_ms, &timeout) ||
        !query_format(ex, &format))
        return;
    int64_t start = bk_partition_start_offset(p), hw = bk_broker_visible_end(b, p);
    if (offset < start || offset > hw) {
        bk_exchange_errorf(ex, 416,
                           "offset %lld is out of range: readable offsets are %lld to %lld",
                           (long long)offset, (long long)start, (long long)hw);
        return;
    }
    if (b->stopping)
        timeout = 0; /* shutting down: answer what is there now */
    if (streaming) {
        bk_api_records_stream(b, ex, p, offset, max_records, (size_t)max_bytes, format,
                              (uint64_t)timeout);
        return;
    }
    if (offset == hw && timeout > 0) {
        if (wait_for_data(b, ex, p, offset, (uint32_t)max_records, (size_t)max_bytes, format,
                          (uint64_t)timeout) == 0)
            return;
    }
    answer_page(b, ex, p, offset, (uint32_t)max_records, (size_t)max_bytes, format);
}
