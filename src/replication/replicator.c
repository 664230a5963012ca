/* The replicator's core: lifetime, per-partition state, the replicated high watermark each
 * role exposes, acks=all waiters, and the role changes that start and end leader terms and
 * follower loops (leader.c and follower.c do the rest). It must never let a waiter outlive
 * the term it was registered in, and never answer a waiter from inside bk_replicator_wait.
 *
 * Standalone brokers: no Redis, nothing to replicate; the replicated HW is the log's HW and
 * waiters are answered as soon as the log's HW covers them. */
#include "replication/replicator_internal.h"

#include <stdlib.h>
#include <string.h>

#include "brook/common.h"
#include "replication/replica_logic.h"

#define MIN_TICK_MS 20
#define MAX_TICK_MS 250

void bk_replication_config_defaults(bk_replication_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->broker_id = NULL;
    cfg->replica_lag_ms = 10000;
    cfg->fetch_wait_ms = 500;
    cfg->fetch_max_bytes = 8u << 20;
    cfg->min_insync = 1;
}

/* ---- partition state -------------------------------------------------------------------- */

static uint64_t hash_key(const char *topic, size_t len, uint32_t index)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)topic[i]) * 1099511628211ull;
    return (h ^ index) * 1099511628211ull;
}

static int grow_buckets(bk_replicator_t *r)
{
    size_t n = r->nbuckets ? r->nbuckets * 2 : 64;
    part_t **b = calloc(n, sizeof *b);
    if (b == NULL)
        return UV_ENOMEM;
    for (part_t *p = r->parts; p != NULL; p = p->next) {
        size_t i = hash_key(p->topic, strlen(p->topic), p->index) % n;
        p->hnext = b[i];
        b[i] = p;
    }
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = n;
    return 0;
}

part_t *bk_repl_part_find(bk_replicator_t *r, const char *topic, size_t len, uint32_t index)
{
    if (r->nbuckets == 0)
        return NULL;
    size_t i = hash_key(topic, len, index) % r->nbuckets;
    for (part_t *p = r->buckets[i]; p != NULL; p = p->hnext)
        if (p->index == index && strlen(p->topic) == len && memcmp(p->topic, topic, len) == 0)
            return p;
    return NULL;
}

static part_t *part_new(bk_replicator_t *r, const char *topic, uint32_t index, int64_t start)
{
    if (r->nparts + 1 > r->nbuckets && grow_buckets(r) != 0)
        return NULL;
    part_t *p = calloc(1, sizeof *p);
    if (p == NULL || (p->topic = strdup(topic)) == NULL) {
        free(p);
        return NULL;
    }
    p->index = index;
    p->hw = start;
    p->leader_hw = -1;
    p->verified_end = -1;
    size_t i = hash_key(topic, strlen(topic), index) % r->nbuckets;
    p->hnext = r->buckets[i];
    r->buckets[i] = p;
    p->next = r->parts;
    if (r->parts)
        r->parts->prev = p;
    r->parts = p;
    r->nparts++;
    return p;
}

/* The state of p, created on first use (NULL only when out of memory). */
part_t *bk_repl_part(bk_replicator_t *r, bk_partition_t *p)
{
    const char *topic = bk_topic_name(bk_partition_topic(p));
    uint32_t index = bk_partition_index(p);
    part_t *part = bk_repl_part_find(r, topic, strlen(topic), index);
    if (part == NULL) {
        part = part_new(r, topic, index, bk_partition_committed(p)); /* the checkpoint's HW */
        if (part == NULL)
            bk_trace_error("replication", "out of memory tracking %s-%u", topic, index);
    }
    return part;
}

bk_partition_t *bk_repl_partition(bk_replicator_t *r, const part_t *part)
{
    bk_topic_t *t = bk_log_topic_find(r->log, part->topic, strlen(part->topic));
    return t ? bk_topic_partition(t, part->index) : NULL;
}

static void part_free(bk_replicator_t *r, part_t *part)
{
    if (r->nbuckets) {
        part_t **pp =
            &r->buckets[hash_key(part->topic, strlen(part->topic), part->index) % r->nbuckets];
        while (*pp != part)
            pp = &(*pp)->hnext;
        *pp = part->hnext;
    }
    if (part->prev)
        part->prev->next = part->next;
    else
        r->parts = part->next;
    if (part->next)
        part->next->prev = part->prev;
    r->nparts--;
    for (op_t *op = r->ops; op != NULL; op = op->next) {
        if (op->part == part)
            op->part = NULL;
        for (size_t i = 0; i < op->nsent; i++)
            if (op->sent[i].part == part)
                op->sent[i].part = NULL;
    }
    free(part->topic);
    free(part);
}

/* ---- async operations ------------------------------------------------------------------- */

op_t *bk_repl_op_new(bk_replicator_t *r, op_kind_t kind, uint64_t term)
{
    op_t *op = calloc(1, sizeof *op);
    if (op == NULL)
        return NULL;
    op->r = r;
    op->kind = kind;
    op->term = term;
    op->next = r->ops;
    if (r->ops)
        r->ops->prev = op;
    r->ops = op;
    return op;
}

void bk_repl_op_free(op_t *op)
{
    bk_replicator_t *r = op->r;
    if (r != NULL) {
        if (op->prev)
            op->prev->next = op->next;
        else
            r->ops = op->next;
        if (op->next)
            op->next->prev = op->prev;
    }
    free(op->ids);
    free(op->sent);
    free(op);
}

/* ---- waiters ---------------------------------------------------------------------------- */

static void waiter_unlink(part_t *part, waiter_t *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        part->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->next = w->prev = NULL;
    w->part = NULL;
}

static void waiter_push(waiter_t **head, waiter_t *w)
{
    w->prev = NULL;
    w->next = *head;
    if (*head)
        (*head)->prev = w;
    *head = w;
}

/* Moves every waiter of part to the end of the list at *tail, keeping their order (newest
 * first, as part->waiters holds them), so that run_list runs them oldest first. */
static void waiters_take(part_t *part, waiter_t ***tail, int64_t upto)
{
    waiter_t *w = part->waiters;
    while (w) {
        waiter_t *n = w->next;
        if (w->end_offset <= upto) {
            waiter_unlink(part, w);
            **tail = w;
            *tail = &w->next;
        }
        w = n;
    }
}

/* Runs, in registration order, every callback of list with status; the list is owned here. */
static void run_list(waiter_t *list, int status)
{
    waiter_t *rev = NULL; /* lists are pushed at the head: reverse to run oldest first */
    while (list) {
        waiter_t *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    while (rev) {
        waiter_t *n = rev->next;
        void (*cb)(void *, int) = rev->cb;
        void *arg = rev->arg;
        free(rev);
        cb(arg, status);
        rev = n;
    }
}

/* Status for the acks=all waiters of part that its HW covers now: on a leader, the HW must
 * have been computed over at least --min-insync-replicas replicas (checked at completion, as
 * Kafka does: the set may have shrunk after the append's own check). */
static int covered_status(const bk_replicator_t *r, const part_t *part)
{
    if (r->standalone || !r->leading || part->isr_term != r->term_id)
        return 0; /* no replicas to count, or a HW committed in an earlier term */
    return bk_repl_ack_status(bk_isr_size(&part->isr), r->cfg.min_insync);
}

/* Answers the waiters of part whose end offset the HW now covers, with status. */
static void run_waiters(part_t *part, int64_t hw, int status)
{
    /* newest first, as run_list wants: acknowledgements run in log order (the group store
     * applies its records as they are acknowledged, so its model follows the log's order) */
    waiter_t *due = NULL, **tail = &due;
    waiters_take(part, &tail, hw);
    run_list(due, status);
}

void bk_repl_fail_waiters(bk_replicator_t *r, int status)
{
    waiter_t *all = NULL, **tail = &all;
    for (part_t *part = r->parts; part; part = part->next)
        waiters_take(part, &tail, INT64_MAX);
    run_list(all, status);
}

static void on_ready(uv_timer_t *t)
{
    bk_replicator_t *r = t->data;
    waiter_t *list = r->ready;
    r->ready = NULL;
    run_list(list, 0);
}

/* The replicated HW of part moved (or may have): answer its waiters, tell the broker, and
 * hand it to the log (retention never passes it; the checkpoint keeps it across restarts). */
void bk_repl_hw_changed(bk_replicator_t *r, part_t *part, bk_partition_t *p)
{
    bk_partition_set_committed(p, bk_replicator_high_watermark(r, p));
    if (part != NULL)
        run_waiters(part, bk_replicator_high_watermark(r, p), covered_status(r, part));
    if (r->hw_hook)
        r->hw_hook(r->hw_arg, p);
}

/* ---- lifetime --------------------------------------------------------------------------- */

void bk_repl_on_tick(uv_timer_t *t)
{
    bk_replicator_t *r = t->data;
    if (r->leading)
        bk_repl_leader_tick(r, bk_now_ms());
}

static uint64_t tick_ms(const bk_replication_config_t *cfg)
{
    uint64_t ms = cfg->replica_lag_ms / 8;
    return ms < MIN_TICK_MS ? MIN_TICK_MS : ms > MAX_TICK_MS ? MAX_TICK_MS : ms;
}

static int init_timers(bk_replicator_t *r)
{
    uv_timer_t *timers[] = {&r->ready_timer, &r->tick, &r->f_timer};
    for (size_t i = 0; i < BK_ARRAY_LEN(timers); i++) {
        int rc = uv_timer_init(r->loop, timers[i]);
        if (rc != 0)
            return rc; /* the caller closes the ones opened */
        timers[i]->data = r;
        r->open_handles++;
    }
    if (r->standalone)
        return 0;
    uint64_t ms = tick_ms(&r->cfg);
    return uv_timer_start(&r->tick, bk_repl_on_tick, ms, ms);
}

static void on_handle_closed(uv_handle_t *h)
{
    bk_replicator_t *r = h->data;
    if (--r->open_handles > 0)
        return;
    while (r->parts)
        part_free(r, r->parts);
    free(r->buckets);
    void (*done)(void *) = r->done;
    void *arg = r->done_arg;
    free(r);
    if (done)
        done(arg);
}

static void close_timers(bk_replicator_t *r)
{
    uv_timer_t *timers[] = {&r->ready_timer, &r->tick, &r->f_timer};
    int open = r->open_handles;
    for (int i = 0; i < open; i++)
        uv_close((uv_handle_t *)timers[i], on_handle_closed);
}

int bk_replicator_new(uv_loop_t *loop, bk_log_t *log, bk_election_t *election,
                      bk_http_client_t *client, const bk_replication_config_t *cfg,
                      bk_replicator_t **out)
{
    bk_replicator_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return UV_ENOMEM;
    r->loop = loop;
    r->log = log;
    r->election = election;
    r->client = client;
    r->cfg = *cfg;
    if (r->cfg.replica_lag_ms == 0)
        r->cfg.replica_lag_ms = 10000;
    if (r->cfg.fetch_max_bytes == 0)
        r->cfg.fetch_max_bytes = 8u << 20;
    bk_election_view_t v;
    if (election != NULL)
        bk_election_view(election, &v);
    r->standalone = election == NULL || v.role == BK_ROLE_STANDALONE;
    r->instance = bk_random_id();
    const char *id = cfg->broker_id ? cfg->broker_id : "";
    if (strlen(id) == 0 || strlen(id) >= ID_MAX || (!r->standalone && client == NULL)) {
        free(r);
        return BK_EINVAL;
    }
    memcpy(r->id, id, strlen(id) + 1);
    r->cfg.broker_id = r->id;
    if (!r->standalone)
        bk_log_use_replicated_hw(log); /* retention waits for what bk_repl_hw_changed says */
    int rc = init_timers(r);
    if (rc != 0) {
        r->stopping = 1;
        if (r->open_handles == 0)
            free(r);
        else
            close_timers(r);
        return rc;
    }
    *out = r;
    if (!r->standalone)
        bk_replicator_on_election_change(r);
    return 0;
}

void bk_replicator_set_hw_hook(bk_replicator_t *r, void (*hook)(void *arg, bk_partition_t *p),
                               void *arg)
{
    r->hw_hook = hook;
    r->hw_arg = arg;
}

void bk_replicator_set_delete_hook(bk_replicator_t *r, void (*hook)(void *arg, bk_topic_t *t),
                                   void *arg)
{
    r->delete_hook = hook;
    r->delete_arg = arg;
}

void bk_replicator_on_election_change(bk_replicator_t *r)
{
    if (r->standalone || r->stopping)
        return;
    bk_election_view_t v;
    bk_election_view(r->election, &v);
    if (v.role == BK_ROLE_LEADER) {
        bk_repl_unfollow(r); /* a leader never fetches */
        if (r->leading && r->term_epoch != v.epoch)
            bk_repl_leader_end(r);
        if (!r->leading)
            bk_repl_leader_begin(r, v.epoch);
        return;
    }
    if (r->leading)
        bk_repl_leader_end(r);
    if (v.role == BK_ROLE_FOLLOWER && v.leader_url[0] != '\0')
        bk_repl_follow(r, v.leader_url, v.epoch);
    else
        bk_repl_unfollow(r);
}

void bk_replicator_on_commit(bk_replicator_t *r, bk_partition_t *p)
{
    if (r->stopping)
        return;
    if (r->standalone) {
        part_t *part = r->nparts ? bk_repl_part(r, p) : NULL;
        bk_repl_hw_changed(r, part, p);
        return;
    }
    part_t *part = bk_repl_part(r, p);
    if (part == NULL)
        return;
    if (r->leading)
        bk_repl_leader_on_commit(r, part, p);
    else
        bk_repl_follower_refresh_hw(r, part, p);
}

int64_t bk_replicator_high_watermark(bk_replicator_t *r, bk_partition_t *p)
{
    int64_t durable = bk_partition_high_watermark(p);
    if (r->standalone)
        return durable;
    const char *topic = bk_topic_name(bk_partition_topic(p));
    part_t *part = bk_repl_part_find(r, topic, strlen(topic), bk_partition_index(p));
    if (part == NULL) /* nothing heard this run: what the checkpoint vouches for */
        return bk_partition_committed(p) < durable ? bk_partition_committed(p) : durable;
    if (r->leading && part->isr_term == r->term_id)
        part->hw = part->isr.high_watermark;
    return part->hw < durable ? part->hw : durable;
}

int bk_replicator_check_insync(bk_replicator_t *r, bk_partition_t *p)
{
    if (r->standalone)
        return 0;
    int64_t epoch;
    if (!r->leading || !bk_election_can_ack(r->election, &epoch) || epoch != r->term_epoch)
        return BK_ENOTLEADER;
    uint32_t min_insync = bk_replicator_min_insync(r, p);
    if (min_insync <= 1)
        return 0;
    part_t *part = bk_repl_part(r, p);
    if (part == NULL || !bk_repl_leader_ensure_isr(r, part, p))
        return UV_EAGAIN; /* the term's ISR is not known yet */
    return bk_isr_size(&part->isr) < (int)min_insync ? UV_EAGAIN : 0;
}

uint32_t bk_replicator_min_insync(const bk_replicator_t *r, bk_partition_t *p)
{
    uint32_t topic = bk_topic_config(bk_partition_topic(p))->min_insync_replicas;
    return topic ? topic : r->cfg.min_insync;
}

int bk_replicator_live_brokers(bk_replicator_t *r)
{
    if (r->standalone || !r->leading)
        return 1;
    uint64_t now = bk_now_ms();
    int n = 1;
    for (int i = 0; i < r->nfollowers; i++)
        n += r->followers[i].instance != 0 && now < r->followers[i].live_until;
    return n;
}

int bk_replicator_wait(bk_replicator_t *r, bk_partition_t *p, int64_t end_offset,
                       void (*cb)(void *arg, int status), void *arg)
{
    if (r->stopping || r->draining) /* draining: no follower can fetch any more */
        return BK_ECLOSED;
    if (!r->standalone && !r->leading)
        return BK_ENOTLEADER;
    part_t *part = bk_repl_part(r, p);
    if (part == NULL)
        return UV_ENOMEM;
    if (!r->standalone)
        bk_repl_leader_ensure_isr(r, part, p);
    waiter_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        return UV_ENOMEM;
    w->end_offset = end_offset;
    w->cb = cb;
    w->arg = arg;
    if (bk_replicator_high_watermark(r, p) >= end_offset) {
        int status = covered_status(r, part);
        if (status != 0) {
            free(w); /* the set shrank under the minimum while the append was queued */
            return status;
        }
        waiter_push(&r->ready, w);
        int rc = uv_timer_start(&r->ready_timer, on_ready, 0, 0);
        if (rc != 0) {
            r->ready = w->next;
            if (r->ready)
                r->ready->prev = NULL;
            free(w);
            return rc;
        }
        return 0;
    }
    w->part = part;
    waiter_push(&part->waiters, w);
    return 0;
}

/* How long a topic change waits for the in-sync followers: a follower that stops fetching
 * leaves the ISR after replica_lag_ms and stops counting once that is published; this much
 * more is for the publication. */
#define TOPICS_CONFIRM_SLACK_MS 5000

int bk_replicator_topics_changed(bk_replicator_t *r, void (*cb)(void *arg, int status), void *arg)
{
    if (r->stopping || r->draining)
        return BK_ECLOSED;
    if (r->standalone)
        return 1;
    if (!r->leading)
        return BK_ENOTLEADER;
    twaiter_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        return UV_ENOMEM;
    uint64_t now = bk_now_ms();
    w->seq = ++r->topic_seq;
    w->deadline = now + r->cfg.replica_lag_ms + TOPICS_CONFIRM_SLACK_MS;
    w->cb = cb;
    w->arg = arg;
    twaiter_t **pp = &r->twaiters;
    while (*pp)
        pp = &(*pp)->next;
    *pp = w;
    /* Parked fetches answer at once with the new topic list: followers learn it now, and
     * their next fetch (listing it) confirms it; cb runs from that fetch's arrival. */
    bk_repl_parked_answer_all(r, BK_FETCH_OK);
    return 0;
}

void bk_replicator_serve_fetch(bk_replicator_t *r, bk_exchange_t *ex)
{
    bk_repl_leader_serve(r, ex);
}

static void copy_id(char *dst, const char *src)
{
    size_t n = strnlen(src, ID_MAX - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int bk_replicator_replicas(bk_replicator_t *r, bk_partition_t *p, bk_replica_info_t *out, int max)
{
    if (max <= 0)
        return 0;
    part_t *part = r->standalone ? NULL : bk_repl_part(r, p);
    if (part != NULL && r->leading && bk_repl_leader_ensure_isr(r, part, p)) {
        int n = 0;
        for (int i = 0; i < part->isr.count && n < max; i++, n++) {
            copy_id(out[n].broker, part->isr.replicas[i].id);
            out[n].leader = i == 0;
            out[n].in_sync = part->isr.replicas[i].in_sync;
        }
        return n;
    }
    bk_election_view_t v;
    memset(&v, 0, sizeof v);
    if (r->election != NULL)
        bk_election_view(r->election, &v);
    int n = 0;
    if (!r->standalone && !r->leading && v.leader_id[0] != '\0') {
        copy_id(out[n].broker, v.leader_id);
        out[n].leader = 1;
        out[n].in_sync = 1;
        n++;
    }
    if (n < max) {
        copy_id(out[n].broker, r->id);
        out[n].leader = r->standalone || r->leading;
        out[n].in_sync = r->standalone || r->leading ||
                         (part != NULL && part->verified_term == r->f_term && r->following &&
                          part->verified_end >= bk_partition_high_watermark(p));
        n++;
    }
    return n;
}

void bk_repl_part_drop(bk_replicator_t *r, part_t *part)
{
    waiter_t *list = NULL, **tail = &list;
    waiters_take(part, &tail, INT64_MAX);
    part_free(r, part);
    run_list(list, UV_ECANCELED);
}

void bk_replicator_forget_topic(bk_replicator_t *r, bk_topic_t *t)
{
    /* Satisfied waiters wait on the ready list for a later turn of the loop, detached from
     * their partition; some may be this topic's, whose callbacks use its pointers: answer
     * them all now, while the topic still exists. */
    waiter_t *ready = r->ready;
    r->ready = NULL;
    run_list(ready, 0);
    const char *name = bk_topic_name(t);
    part_t *part = r->parts;
    while (part) {
        part_t *next = part->next;
        if (strcmp(part->topic, name) == 0)
            bk_repl_part_drop(r, part);
        part = next;
    }
}

void bk_replicator_drain(bk_replicator_t *r)
{
    if (r->draining || r->stopping)
        return;
    r->draining = 1;
    bk_repl_fail_waiters(r, BK_ECLOSED);
    bk_repl_topics_fail(r, BK_ECLOSED);
}

void bk_replicator_stop(bk_replicator_t *r, void (*done)(void *arg), void *arg)
{
    if (r->stopping)
        return;
    r->done = done;
    r->done_arg = arg;
    if (r->leading)
        bk_repl_leader_end(r);
    bk_repl_unfollow(r);
    r->stopping = 1;
    bk_repl_parked_answer_all(r, BK_FETCH_ENOTLEADER);
    bk_repl_fail_waiters(r, BK_ENOTLEADER);
    bk_repl_topics_fail(r, BK_ECLOSED);
    waiter_t *ready = r->ready;
    r->ready = NULL;
    run_list(ready, 0);
    while (r->ops) { /* detach: completions of these only free them */
        op_t *op = r->ops;
        r->ops = op->next;
        op->r = NULL;
        op->next = op->prev = NULL;
    }
    close_timers(r);
}
