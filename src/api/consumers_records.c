/* GET /consumers/{g}/instances/{i}/records?timeout=&max_bytes=: the records of the instance's
 * partitions from its positions, as a JSON array of {"topic","partition","offset","timestamp",
 * "key","value","headers"}. Only partitions assigned now are read (a rebalance takes effect on
 * the next request; during one the answer is empty), and only up to what every in-sync
 * replica holds. With nothing to return (or less than fetch.min.bytes) the request waits for
 * data until its timeout, like the stateless read's long-poll, then answers what there is
 * (possibly 200 []). Positions move, and "consumed" (what an empty-body commit commits) with
 * them, only when records are actually answered. */
#include <stdlib.h>
#include <string.h>

#include "api/consumers.h"
#include "api/record_json.h"
#include "brook/common.h"
#include "http/accept.h"
#include "http/response.h"

struct bk_cons_poll {
    bk_consumers_t *c;
    bk_cons_inst_t *in;
    bk_exchange_t *ex;
    bk_cons_read_t rq;
    uv_timer_t timer;
};

typedef struct {
    bk_partition_t *p;
    bk_cons_pos_t *pos;
    int64_t next;
} plan_t;

static const char *format_type(int format)
{
    return format == BK_FMT_JSON ? "application/vnd.kafka.json.v2+json"
                                 : "application/vnd.kafka.binary.v2+json";
}

static const char *answer_type(const bk_cons_inst_t *in, const bk_cons_read_t *rq)
{
    return rq->type ? rq->type : format_type(in->def.format);
}

/* Positions of partitions no longer assigned are forgotten once an assignment is in effect. */
static void prune(bk_cons_inst_t *in, const bk_grp_assignment_t *a)
{
    const bk_grp_t *g = &in->group->g;
    if (in->mode == BK_CONS_MODE_SUBSCRIBED && g->state != BK_GRP_STABLE)
        return;
    size_t w = 0;
    for (size_t i = 0; i < in->pos_count; i++) {
        if (bk_grp_assignment_has(a, in->pos[i].topic, in->pos[i].partition))
            in->pos[w++] = in->pos[i];
        else
            free(in->pos[i].topic);
    }
    in->pos_count = w;
    in->seen_generation = g->generation;
}

/* Where reading p starts: the position, else the committed offset, else auto.offset.reset.
 * Returns 0, or 1 when there is none and the policy is "none" (answered 409 40903). */
static int resolve(bk_consumers_t *c, bk_exchange_t *ex, bk_cons_inst_t *in, bk_partition_t *p,
                   bk_cons_pos_t *pos)
{
    int64_t start = bk_partition_start_offset(p), end = bk_broker_visible_end(c->b, p);
    if (pos->position < 0) {
        const bk_grp_image_t *img = bk_grp_store_find(&c->store, in->group->g.group_id);
        const bk_grp_offset_t *o =
            img ? bk_grp_image_offset(img, pos->topic, pos->partition) : NULL;
        if (o)
            pos->position = o->v.offset;
    }
    if (pos->position >= start && pos->position <= end)
        return 0;
    if (in->def.reset == BK_CONS_RESET_NONE) {
        bk_exchange_errorf(ex, 40903,
                           "Illegal state: no valid offset for partition %d of topic %s (%s) and "
                           "auto.offset.reset is none",
                           pos->partition, pos->topic,
                           pos->position < 0 ? "nothing committed" : "position out of range");
        return 1;
    }
    pos->position = in->def.reset == BK_CONS_RESET_EARLIEST ? start : end;
    return 0;
}

/* The assignment's partitions that exist, each with a position entry (made before any
 * pointer to one is kept: making one may move the others). */
static int gather(bk_consumers_t *c, bk_cons_inst_t *in, const bk_grp_assignment_t *a, plan_t *out)
{
    int n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < a->count; i++)
            for (size_t k = 0; k < a->topics[i].count; k++) {
                const char *name = a->topics[i].topic;
                bk_topic_t *t = bk_log_topic_find(c->b->log, name, strlen(name));
                bk_partition_t *p =
                    t ? bk_topic_partition(t, (uint32_t)a->topics[i].partitions[k]) : NULL;
                bk_cons_pos_t *pos = p ? bk_cons_pos(in, name, a->topics[i].partitions[k]) : NULL;
                if (p && !pos)
                    return -1;
                if (pass == 1 && pos)
                    out[n++] = (plan_t){p, pos, -1};
            }
    return n;
}

/* The partitions to read, with their positions resolved. Returns the count, or -1 (answered). */
static int plan(bk_consumers_t *c, bk_exchange_t *ex, bk_cons_inst_t *in, plan_t **out)
{
    bk_grp_assignment_t a = {0};
    int n = -2;
    *out = NULL;
    if (bk_cons_assignment(in, &a) == 0) {
        prune(in, &a);
        *out = calloc(bk_grp_assignment_size(&a) + 1, sizeof **out);
        n = *out ? gather(c, in, &a, *out) : -2;
    }
    bk_grp_assignment_free(&a);
    if (n < 0) {
        bk_exchange_error(ex, 503, "out of memory");
        free(*out);
        *out = NULL;
        return -1;
    }
    for (int k = 0; k < n; k++) {
        if (resolve(c, ex, in, (*out)[k].p, (*out)[k].pos)) {
            free(*out);
            *out = NULL;
            return -1;
        }
        (*out)[k].next = (*out)[k].pos->position;
    }
    return n;
}

/* Renders what the planned partitions hold into j; returns the records rendered. */
static uint64_t read_all(bk_consumers_t *c, bk_cons_inst_t *in, plan_t *pl, int n,
                         const bk_cons_read_t *rq, bk_json_t *j, uint64_t *bytes)
{
    size_t max = rq->max_bytes;
    bk_record_render_in_t ri = {
        .r = {j, (bk_record_format_t)in->def.format, 0, 0, c->b->cfg.max_page_text}, .v1 = rq->v1};
    for (int k = 0; k < n; k++) {
        plan_t *x = &pl[(in->rr + (uint32_t)k) % (uint32_t)n];
        int64_t end = bk_broker_visible_end(c->b, x->p);
        if (x->next >= end || ri.r.bytes >= max)
            continue;
        bk_record_render_in_at(&ri, bk_topic_name(bk_partition_topic(x->p)),
                               bk_partition_index(x->p));
        uint64_t before = ri.r.records;
        int64_t next = x->next;
        int got = bk_partition_read_to(x->p, x->next, end, 100000, max - ri.r.bytes,
                                       bk_record_render_in, &ri, &next);
        if (got >= 0 || ri.r.records > before)
            x->next = next;
        if (c->b->cfg.max_page_text && ri.r.records > before) {
            size_t len;
            bk_json_text(j, &len);
            if (len >= c->b->cfg.max_page_text)
                break;
        }
    }
    *bytes = ri.r.bytes;
    return ri.r.records;
}

/* Tries to answer a records request now. final: answer even with nothing (timeout). Returns 1
 * when ex was answered. */
static int attempt(bk_consumers_t *c, bk_cons_inst_t *in, bk_exchange_t *ex,
                   const bk_cons_read_t *rq, int final)
{
    plan_t *pl;
    int n = plan(c, ex, in, &pl);
    if (n < 0)
        return 1;
    bk_json_t *j = bk_json_begin();
    bk_json_arr(j);
    uint64_t bytes = 0, got = read_all(c, in, pl, n, rq, j, &bytes);
    bk_json_arr_end(j);
    if (!final && (got == 0 || (int64_t)bytes < in->def.fetch_min_bytes)) {
        free(pl);
        return 0;
    }
    for (int k = 0; k < n; k++) {
        if (pl[k].next != pl[k].pos->position)
            pl[k].pos->consumed = pl[k].next;
        pl[k].pos->position = pl[k].next;
    }
    in->rr++;
    c->records_out += got;
    free(pl);
    ex->json_type = answer_type(in, rq);
    bk_exchange_respond_json(ex, 200, j, NULL);
    return 1;
}

/* ---- parked requests ---- */

static void on_poll_closed(uv_handle_t *h)
{
    free(h->data);
}

static void unpark(bk_cons_poll_t *w)
{
    w->in->poll = NULL;
    w->ex->on_gone = NULL;
    w->ex->on_hangup = NULL;
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, on_poll_closed);
}

static void finish(bk_cons_poll_t *w)
{
    bk_exchange_t *ex = w->ex;
    bk_cons_inst_t *in = w->in;
    bk_consumers_t *c = w->c;
    bk_cons_read_t rq = w->rq;
    unpark(w);
    (void)attempt(c, in, ex, &rq, 1);
}

static void on_poll_timeout(uv_timer_t *t)
{
    finish(t->data);
}

static void on_poll_hangup(bk_exchange_t *ex)
{
    finish(ex->stream_ctx);
}

static void on_poll_gone(bk_exchange_t *ex)
{
    unpark(ex->stream_ctx);
    bk_exchange_release(ex);
}

static int park(bk_consumers_t *c, bk_cons_inst_t *in, bk_exchange_t *ex, const bk_cons_read_t *rq,
                uint64_t timeout)
{
    bk_cons_poll_t *w = calloc(1, sizeof *w);
    if (!w)
        return UV_ENOMEM;
    *w = (bk_cons_poll_t){c, in, ex, *rq, {0}};
    uv_timer_init(c->b->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_poll_timeout, timeout, 0);
    ex->stream_ctx = w;
    ex->on_gone = on_poll_gone;
    ex->on_hangup = on_poll_hangup;
    in->poll = w;
    return 0;
}

void bk_cons_poll_cancel(bk_cons_inst_t *in)
{
    bk_cons_poll_t *w = in->poll;
    if (!w)
        return;
    bk_exchange_t *ex = w->ex;
    const char *type = answer_type(in, &w->rq);
    unpark(w);
    ex->json_type = type;
    bk_exchange_respond(ex, 200, ex->json_type, NULL, "[]", 2);
}

void bk_cons_polls_wake(bk_consumers_t *c, bk_cons_group_t *only, bk_partition_t *p)
{
    (void)p; /* every parked request re-reads: a partition may matter to many */
    for (bk_cons_group_t *cg = only ? only : c->groups; cg; cg = only ? NULL : cg->next)
        for (bk_cons_inst_t *in = cg->insts; in; in = in->next) {
            bk_cons_poll_t *w = in->poll;
            if (!w)
                continue;
            if (c->stopped) {
                finish(w);
            } else if (attempt(c, in, w->ex, &w->rq, 0)) {
                w->ex->on_gone = NULL; /* answered: only the wait goes */
                unpark(w);
            }
        }
}

/* ---- the handler ---- */

/* Accept (q-values honoured) must prefer the instance's type, named or through a wildcard, to
 * the other format's; anything else is 406 40601. */
static int accept_ok(bk_exchange_t *ex, const bk_cons_inst_t *in)
{
    size_t len;
    const char *acc = bk_exchange_header(ex, "accept", &len);
    const char *want = format_type(in->def.format);
    const char *const types[] = {
        want, format_type(in->def.format == BK_FMT_JSON ? BK_FMT_BINARY : BK_FMT_JSON)};
    if (!acc || len == 0 || bk_accept_pick(acc, len, types, 2) == 0)
        return 1;
    bk_exchange_errorf(ex, 40601, "this instance was created with format %s: Accept must name %s",
                       in->def.format == BK_FMT_JSON ? "json" : "binary", want);
    return 0;
}

static int query_ms(bk_exchange_t *ex, const char *name, int64_t max, int64_t *v)
{
    size_t len;
    const char *s = bk_exchange_query(ex, name, &len);
    if (!s)
        return 1;
    if (bk_parse_int(s, len, 0, INT64_MAX, v) == 0) {
        if (*v > max)
            *v = max;
        return 1;
    }
    bk_exchange_errorf(ex, 400, "query parameter %s must be an integer >= 0", name);
    return 0;
}

static void after_auto_commit(void *arg, int status)
{
    (void)arg;
    if (status)
        bk_trace_warn("groups", "an auto-commit failed: %s", bk_strerror(status));
}

void bk_cons_auto_commit(bk_consumers_t *c, bk_cons_inst_t *in)
{
    bk_grp_kvs_t recs = {0};
    int any = 0;
    for (size_t i = 0; i < in->pos_count; i++) {
        bk_cons_pos_t *p = &in->pos[i];
        if (p->consumed < 0 || p->consumed == p->committed_sent)
            continue;
        if (bk_cons_offset_record(&recs, in->group->g.group_id, p->topic, p->partition, p->consumed,
                                  ""))
            break;
        p->committed_sent = p->consumed;
        any = 1;
    }
    if (any && bk_gstore_write(c, in->group->g.group_id, &recs, after_auto_commit, NULL) == 0)
        c->commits++;
    bk_grp_kvs_free(&recs);
}

void bk_cons_records(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r)
{
    bk_cons_inst_t *in = bk_cons_inst_lookup(c, ex, r);
    if (!in || !accept_ok(ex, in))
        return;
    int64_t cap = in->def.request_timeout_ms < (int64_t)c->b->cfg.max_poll_ms
                      ? in->def.request_timeout_ms
                      : (int64_t)c->b->cfg.max_poll_ms;
    int64_t timeout = cap, max_bytes = 1 << 20;
    if (!query_ms(ex, "timeout", cap, &timeout) || !query_ms(ex, "max_bytes", 64 << 20, &max_bytes))
        return;
    if (max_bytes == 0)
        max_bytes = 1;
    bk_cons_read_t rq = {(size_t)max_bytes, NULL, 0};
    bk_cons_read(c, in, ex, &rq, timeout);
}

void bk_cons_read(bk_consumers_t *c, bk_cons_inst_t *in, bk_exchange_t *ex,
                  const bk_cons_read_t *rq, int64_t timeout)
{
    bk_cons_poll_cancel(in); /* an earlier request of the same instance answers first */
    if (in->def.auto_commit)
        bk_cons_auto_commit(c, in);
    int final = timeout == 0 || c->stopped || c->b->stopping;
    if (attempt(c, in, ex, rq, final))
        return;
    if (park(c, in, ex, rq, (uint64_t)timeout))
        (void)attempt(c, in, ex, rq, 1);
}
