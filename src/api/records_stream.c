/* Streamed partition reads: GET /topics/{t}/partitions/{p}/records with
 * Accept: application/x-ndjson. The answer is chunked, one JSON record per line, starting at
 * ?offset= and following the log as new records are committed, until the client hangs up,
 * max_records records were sent, or timeout_ms passed (both optional). Flow control: one page
 * (up to 1,000 records, max_bytes or PAGE_BYTES of records, and rendered text up to the
 * connection budget) is queued at a time, only once the stream is
 * the oldest answer on its connection, and the next only once the connection has written it,
 * so a slow reader (or many pipelined streams) costs one page of memory, not the whole log.
 * Every page stops at the high watermark, also after retention moved the start past it. */
#include <stdlib.h>

#include "api/broker.h"
#include "api/record_json.h"
#include "brook/common.h"
#include "http/response.h"

#define PAGE_RECORDS 1000
#define PAGE_BYTES (1u << 20) /* record bytes per page, whatever max_bytes says */

struct bk_stream {
    bk_broker_t *broker;
    bk_exchange_t *ex;
    bk_partition_t *part;
    int64_t next;
    int64_t remaining; /* records still allowed; -1 = no limit */
    size_t max_bytes;
    bk_record_format_t format;
    int writing; /* a page is queued and not yet written */
    int has_timer;
    uv_timer_t timer;
    bk_stream_t *prev, *next_stream;
};

static bk_buf_t line_buf;

static void unlink_stream(bk_stream_t *st)
{
    bk_broker_t *b = st->broker;
    if (st->prev)
        st->prev->next_stream = st->next_stream;
    else
        b->streams = st->next_stream;
    if (st->next_stream)
        st->next_stream->prev = st->prev;
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void destroy(bk_stream_t *st)
{
    unlink_stream(st);
    if (st->has_timer)
        uv_close((uv_handle_t *)&st->timer, on_timer_closed);
    else
        free(st);
}

static void finish(bk_stream_t *st)
{
    bk_exchange_t *ex = st->ex;
    ex->on_drain = NULL;
    ex->on_gone = NULL;
    ex->on_hangup = NULL;
    bk_exchange_stream_end(ex);
    destroy(st);
}

static int render_line(void *arg, const bk_record_view_t *rec)
{
    bk_record_render_t *rr = arg;
    rr->j = bk_json_begin();
    size_t limit = rr->max_text;
    rr->max_text = 0; /* one line's own text is not the page's */
    bk_record_render(rr, rec);
    rr->max_text = limit;
    size_t len;
    const char *text = bk_json_text(rr->j, &len);
    if (bk_buf_append(&line_buf, text, len) || bk_buf_append(&line_buf, "\n", 1))
        return 1;
    return limit && line_buf.len >= limit; /* the page's text fits the connection budget */
}

/* Records the next page may hold: never past the high watermark (only what every in-sync
 * replica holds), nor past the records the client asked for. */
static uint32_t page_records(const bk_stream_t *st)
{
    uint32_t max =
        st->remaining > 0 && st->remaining < PAGE_RECORDS ? (uint32_t)st->remaining : PAGE_RECORDS;
    int64_t end = bk_broker_visible_end(st->broker, st->part);
    if (end - st->next < (int64_t)max)
        max = end > st->next ? (uint32_t)(end - st->next) : 0;
    return max;
}

/* Queues the next page if one is available and none is queued. */
static void push(bk_stream_t *st)
{
    if (st->writing || !bk_exchange_at_head(st->ex))
        return; /* an answer before ours is still being written: its drain calls us */
    if (st->remaining == 0) {
        finish(st);
        return;
    }
    int64_t start = bk_partition_start_offset(st->part);
    if (st->next < start) /* retention moved the start past us: go on from the new start */
        st->next = start;
    uint32_t max = page_records(st);
    if (max == 0)
        return; /* wait for the high watermark to move */
    bk_record_render_t rr = {NULL, st->format, 0, 0, st->broker->cfg.max_page_text};
    line_buf.len = 0;
    int64_t next = st->next;
    size_t bytes = st->max_bytes < PAGE_BYTES ? st->max_bytes : PAGE_BYTES;
    int n = bk_partition_read_to(st->part, st->next, bk_broker_visible_end(st->broker, st->part),
                                 max, bytes, render_line, &rr, &next);
    if (n <= 0)
        return; /* nothing new (or a read error): wait for the next commit */
    st->next = next;
    if (st->remaining > 0)
        st->remaining -= n;
    bk_topic_counters_t *tc = bk_metrics_topic(&st->broker->metrics, bk_partition_topic(st->part));
    if (tc) {
        tc->records_out += rr.records;
        tc->bytes_out += rr.bytes;
    }
    st->writing = 1;
    if (bk_exchange_stream_write(st->ex, line_buf.data, line_buf.len))
        finish(st);
}

static void on_drain(bk_exchange_t *ex)
{
    bk_stream_t *st = ex->stream_ctx;
    st->writing = 0;
    push(st);
}

/* The client sends no more (EOF): a stream queued behind other answers would otherwise wait
 * for a commit that may never come, holding the connection. */
static void on_hangup(bk_exchange_t *ex)
{
    finish(ex->stream_ctx);
}

static void on_gone(bk_exchange_t *ex)
{
    bk_stream_t *st = ex->stream_ctx;
    destroy(st);
    bk_exchange_release(ex);
}

static void on_timeout(uv_timer_t *t)
{
    finish(t->data);
}

void bk_api_records_stream(bk_broker_t *b, bk_exchange_t *ex, bk_partition_t *p, int64_t offset,
                           int64_t max_records, size_t max_bytes, int format, uint64_t timeout_ms)
{
    bk_stream_t *st = calloc(1, sizeof *st);
    if (!st) {
        bk_exchange_error(ex, 503, "out of memory");
        return;
    }
    *st = (bk_stream_t){b, ex, p,   offset, max_records, max_bytes, (bk_record_format_t)format,
                        0, 0,  {0}, NULL,   b->streams};
    if (timeout_ms) {
        uv_timer_init(b->loop, &st->timer);
        st->timer.data = st;
        st->has_timer = 1;
        uv_timer_start(&st->timer, on_timeout, timeout_ms, 0);
    }
    if (b->streams)
        b->streams->prev = st;
    b->streams = st;
    ex->stream_ctx = st;
    ex->on_drain = on_drain;
    ex->on_gone = on_gone;
    ex->on_hangup = on_hangup;
    bk_exchange_stream_begin(ex, 200, "application/x-ndjson");
    push(st);
}

void bk_streams_on_commit(bk_broker_t *b, bk_partition_t *p)
{
    bk_stream_t *st = b->streams;
    while (st) {
        bk_stream_t *next = st->next_stream; /* push may finish (and unlink) st */
        if (st->part == p)
            push(st);
        st = next;
    }
}

void bk_streams_end(bk_broker_t *b, bk_topic_t *t)
{
    bk_stream_t *st = b->streams;
    while (st) {
        bk_stream_t *next = st->next_stream;
        if (!t || bk_partition_topic(st->part) == t)
            finish(st);
        st = next;
    }
}
