/* Fetch (1), versions 4-11: whole batches exactly as stored (compressed ones too), from the
 * batch holding the fetch offset, only below the high watermark consumers may see, at most
 * partition_max_bytes per partition and max_bytes in all, except that the first batch of the
 * answer always comes whole so a consumer can never be stuck behind a large one. A fetch
 * that finds fewer than min_bytes waits (long poll) until the high watermark of a partition
 * it asks for moves, or max_wait_ms passes. Fetch sessions are not kept: every answer is
 * full (session id 0). Followers answer NOT_LEADER_OR_FOLLOWER.
 * Response: throttle_time_ms, error_code (v7+), session_id (v7+), responses [topic,
 * partitions [partition_index, error_code, high_watermark, last_stable_offset,
 * log_start_offset (v5+), aborted_transactions (null), preferred_read_replica (v11+, -1),
 * records]]. */
#include <stdlib.h>
#include <string.h>

#include "brook/common.h"
#include "kafka/kafka_impl.h"

typedef struct bk_kwaiter {
    struct bk_kwaiter *next;
    bk_kafka_t *k; /* a waiter is in k's list until answered; stop answers them all */
    bk_kreq_t *r;
    uv_timer_t timer;
} waiter_t;

/* The most record bytes one answer carries, whatever max_bytes and partition_max_bytes ask
 * (Kafka's broker-side fetch.max.bytes, 55 MiB): a request of a few bytes naming one
 * partition many times would otherwise build an answer of gigabytes. The first batch still
 * comes whole. */
#define FETCH_MAX_BYTES ((size_t)55 << 20)

static uint8_t *scratch;
static size_t scratch_cap;

/* One partition's part of the answer. Returns the record bytes written. */
static size_t write_partition(bk_kafka_t *k, bk_kw_t *w, int16_t ver, bk_topic_t *t, int denied,
                              const bk_kfetch_part_t *fp, int leader, size_t *budget, int *first)
{
    bk_partition_t *p = NULL;
    int16_t err = BK_KERR_NONE;
    if (denied)
        err = BK_KERR_TOPIC_AUTHORIZATION_FAILED;
    else if (!t || fp->partition < 0 || (uint32_t)fp->partition >= bk_topic_partition_count(t))
        err = BK_KERR_UNKNOWN_TOPIC_OR_PARTITION;
    else if (!leader)
        err = BK_KERR_NOT_LEADER_OR_FOLLOWER;
    else
        p = bk_topic_partition(t, (uint32_t)fp->partition);
    int64_t hw = p ? bk_kafka_visible_end(k, p) : -1, start = p ? bk_partition_start_offset(p) : -1;
    if (p && (fp->offset < start || fp->offset > hw))
        err = BK_KERR_OFFSET_OUT_OF_RANGE;
    size_t len = 0;
    if (!err && fp->offset < hw && (*first || *budget > 0)) {
        size_t limit = fp->max_bytes > 0 ? (size_t)fp->max_bytes : 1;
        if (limit > FETCH_MAX_BYTES)
            limit = FETCH_MAX_BYTES;
        if (!*first && limit > *budget)
            limit = *budget;
        int n = bk_partition_read_raw(p, fp->offset, hw, limit, &scratch, &scratch_cap, &len);
        if (n < 0) {
            err = n == BK_ERANGE ? BK_KERR_OFFSET_OUT_OF_RANGE : BK_KERR_KAFKA_STORAGE_ERROR;
            len = 0;
        }
    }
    bk_kw_i32(w, fp->partition);
    bk_kw_i16(w, err);
    bk_kw_i64(w, hw);
    bk_kw_i64(w, hw); /* last_stable_offset: no transactions, so the high watermark */
    if (ver >= 5)
        bk_kw_i64(w, start);
    bk_kw_array(w, 0, -1); /* aborted_transactions */
    if (ver >= 11)
        bk_kw_i32(w, -1); /* preferred_read_replica */
    bk_kw_bytes(w, 0, len ? scratch : (const uint8_t *)"", (int32_t)len);
    if (len) {
        *first = 0;
        *budget = len >= *budget ? 0 : *budget - len;
    }
    return len;
}

/* Builds the whole answer into r->out; returns the record bytes in it (or SIZE_MAX when a
 * partition has an error: answer at once). */
static size_t build(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_kreq_fetch_t *f = &r->req.u.fetch;
    int16_t ver = r->req.h.version;
    bk_kw_t *w = &r->out;
    int64_t epoch;
    int leader = bk_kafka_is_leader(k, &epoch);
    size_t budget = f->max_bytes > 0 ? (size_t)f->max_bytes : 0, total = 0;
    if (budget > FETCH_MAX_BYTES)
        budget = FETCH_MAX_BYTES;
    int first = 1, errors = 0;
    w->len = 0;
    bk_kresp_begin(w, &r->req.h, 0);
    bk_kw_i32(w, 0); /* throttle_time_ms */
    if (ver >= 7) {
        bk_kw_i16(w, BK_KERR_NONE);
        bk_kw_i32(w, 0); /* session_id: no session kept */
    }
    bk_kw_array(w, 0, f->ntopics);
    for (int32_t i = 0; i < f->ntopics; i++) {
        const bk_kfetch_topic_t *ft = &f->topics[i];
        bk_topic_t *t = bk_kafka_topic(k, r, i, ft->name);
        int denied = !bk_kafka_allowed(r, i, BK_KAUTHZ_OK);
        bk_kw_str(w, 0, (const char *)ft->name.ptr, ft->name.len);
        bk_kw_array(w, 0, ft->nparts);
        for (int32_t j = 0; j < ft->nparts; j++) {
            size_t at = w->len;
            total += write_partition(k, w, ver, t, denied, &ft->parts[j], leader, &budget, &first);
            errors |= !w->bad && w->data[at + 4] | w->data[at + 5];
        }
    }
    return errors ? SIZE_MAX : total;
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void unlink_waiter(bk_kafka_t *k, waiter_t *wt)
{
    for (waiter_t **pp = &k->waiters; *pp; pp = &(*pp)->next)
        if (*pp == wt) {
            *pp = wt->next;
            break;
        }
    uv_close((uv_handle_t *)&wt->timer, on_timer_closed);
}

/* Answers a waiting fetch with what there is now. */
static void finish_waiter(bk_kafka_t *k, waiter_t *wt)
{
    bk_kreq_t *r = wt->r;
    unlink_waiter(k, wt);
    (void)build(k, r);
    bk_kreq_finish(r);
}

static void on_timeout(uv_timer_t *t)
{
    waiter_t *wt = t->data;
    finish_waiter(wt->k, wt);
}

void bk_khandle_fetch(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_kreq_fetch_t *f = &r->req.u.fetch;
    size_t got = build(k, r);
    uint32_t wait = f->max_wait_ms > 0 ? (uint32_t)f->max_wait_ms : 0;
    if (wait > k->cfg.max_poll_ms)
        wait = k->cfg.max_poll_ms;
    waiter_t *wt = NULL;
    if (got == SIZE_MAX || got >= (size_t)(f->min_bytes > 0 ? f->min_bytes : 1) || wait == 0 ||
        k->stopping || !(wt = calloc(1, sizeof *wt))) {
        bk_kreq_finish(r);
        return;
    }
    wt->r = r;
    wt->k = k;
    uv_timer_init(k->loop, &wt->timer);
    wt->timer.data = wt;
    uv_timer_start(&wt->timer, on_timeout, wait, 0);
    wt->next = k->waiters;
    k->waiters = wt;
}

/* Whether wt asks for p. */
static int wants(bk_kafka_t *k, const waiter_t *wt, bk_partition_t *p)
{
    const bk_kreq_fetch_t *f = &wt->r->req.u.fetch;
    const char *name = bk_topic_name(bk_partition_topic(p));
    for (int32_t i = 0; i < f->ntopics; i++) {
        const bk_kfetch_topic_t *ft = &f->topics[i];
        if ((size_t)ft->name.len != strlen(name) || memcmp(ft->name.ptr, name, strlen(name)))
            continue;
        for (int32_t j = 0; j < ft->nparts; j++)
            if ((uint32_t)ft->parts[j].partition == bk_partition_index(p) &&
                bk_kafka_visible_end(k, p) > ft->parts[j].offset)
                return 1;
    }
    return 0;
}

void bk_kafka_on_visible(bk_kafka_t *k, bk_partition_t *p)
{
    for (waiter_t *wt = k->waiters, *next; wt; wt = next) {
        next = wt->next;
        if (!wants(k, wt, p))
            continue;
        bk_kreq_t *r = wt->r;
        const bk_kreq_fetch_t *f = &r->req.u.fetch;
        size_t got = build(k, r);
        if (got == SIZE_MAX || got >= (size_t)(f->min_bytes > 0 ? f->min_bytes : 1)) {
            unlink_waiter(k, wt);
            bk_kreq_finish(r);
        }
    }
}

void bk_kfetch_wake_all(bk_kafka_t *k)
{
    while (k->waiters)
        finish_waiter(k, k->waiters);
}
