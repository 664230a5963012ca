/* The leader side of replication: a leadership term's ISR per partition, its publication to
 * Redis (through the election, fenced by the lease), and POST /replication/fetch, with long
 * polls parked until data or a new high watermark arrives. It must never let a high watermark
 * count on a follower's absence from the ISR before Redis has stopped listing it, and never
 * serve a fetch while another broker may be leader (bk_election_can_ack is read per fetch).
 *
 * A term: bk_repl_leader_begin reads the ISR Redis holds (the previous term's), carries its
 * followers into every partition's ISR (they stay counted until replica_lag_ms pass without
 * them catching up; the previous leader is not carried: its lease is gone), then publishes.
 * Until that first publication is confirmed the HW does not move (bk_isr_t freezes it). */
#include "replication/replicator_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "brook/common.h"
#include "http/response.h"
#include "replication/replica_logic.h"

#define RETRY_MS 200       /* after a failed Redis read or publication */
#define MAX_PARK_MS 30000u /* cap on a follower's max_wait_ms */

static void publish(bk_replicator_t *r, uint64_t now);

/* Restarts the periodic tick at once (it does what is pending: publications, new ISRs). */
static void kick(bk_replicator_t *r)
{
    uint64_t repeat = uv_timer_get_repeat(&r->tick);
    int rc = uv_timer_start(&r->tick, bk_repl_on_tick, 0, repeat);
    if (rc != 0)
        bk_trace_error("replication", "timer: %s", uv_strerror(rc));
}

static void copy_id(char *dst, const char *src, size_t len)
{
    if (len >= ID_MAX)
        len = ID_MAX - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* ---- the term's ISR per partition -------------------------------------------------------- */

static void init_isr(bk_replicator_t *r, part_t *part, bk_partition_t *p, uint64_t now)
{
    int64_t durable = bk_partition_high_watermark(p);
    int64_t hw0 = part->hw < durable ? part->hw : durable;
    bk_isr_init(&part->isr, r->id, hw0, r->cfg.replica_lag_ms);
    bk_isr_leader_durable(&part->isr, durable, now);
    for (int i = 0; i < r->nmay_hold; i++) {
        int rc = bk_isr_carry(&part->isr, r->may_hold[i], now);
        if (rc < 0)
            bk_trace_warn("replication", "cannot carry %s into the ISR of %s-%u: %s",
                          r->may_hold[i], part->topic, part->index, bk_strerror(rc));
    }
    part->isr_term = r->term_id;
    part->pub_seq = 0;
    part->hw = hw0;
}

int bk_repl_leader_ensure_isr(bk_replicator_t *r, part_t *part, bk_partition_t *p)
{
    if (!r->leading || !r->term_ready)
        return 0;
    if (part->isr_term != r->term_id) {
        init_isr(r, part, p, bk_now_ms());
        r->pub_dirty = 1; /* its HW stays frozen until a publication covers it */
        kick(r);
    }
    return 1;
}

/* How long after a fetch arrives its process counts as alive: the fetch may wait that long
 * for data, and a live follower sends the next one at once. */
#define LIVE_GRACE_MS 1000

/* Two live brokers fetching under one id would count as one replica: their positions would
 * mix, and the high watermark could count records only one of them holds. The instance that
 * fetches first keeps the id; another is refused while the first is alive (its last fetch's
 * wait plus LIVE_GRACE_MS), then takes the id: a restart of the same broker, or the other
 * one taking over, whose lower position then drops the id from the ISR until it catches up.
 * Returns 1 to refuse. */
static int id_taken(bk_replicator_t *r, const char *id, uint64_t instance, uint32_t wait_ms,
                    uint64_t now)
{
    for (int i = 0; i < r->nfollowers; i++) {
        follower_t *f = &r->followers[i];
        if (strcmp(f->id, id) != 0)
            continue;
        if (f->instance == 0 || f->instance == instance || now >= f->live_until) {
            f->instance = instance;
            f->live_until = now + (wait_ms < MAX_PARK_MS ? wait_ms : MAX_PARK_MS) + LIVE_GRACE_MS;
            return 0;
        }
        if (f->refused != instance)
            bk_trace_warn("replication",
                          "two processes fetch as %s (instances %016" PRIx64 " and %016" PRIx64
                          "); refusing the second while the first lives: two brokers share "
                          "the id, or it restarted a moment ago",
                          id, f->instance, instance);
        f->refused = instance;
        return 1;
    }
    return 0;
}

/* Notes a fetch of follower id (instance 0: a member carried from the previous ISR, not
 * seen yet). */
static void note_follower(bk_replicator_t *r, const char *id, uint64_t instance, uint32_t wait_ms,
                          uint64_t now)
{
    for (int i = 0; i < r->nfollowers; i++) {
        if (strcmp(r->followers[i].id, id) == 0) {
            r->followers[i].last_seen_ms = now;
            return;
        }
    }
    if (r->nfollowers == BK_ISR_MAX_REPLICAS - 1) {
        bk_trace_warn("replication", "too many followers; ignoring %s", id);
        return;
    }
    follower_t *f = &r->followers[r->nfollowers++];
    copy_id(f->id, id, strlen(id));
    f->last_seen_ms = now;
    f->instance = instance;
    f->live_until =
        instance ? now + (wait_ms < MAX_PARK_MS ? wait_ms : MAX_PARK_MS) + LIVE_GRACE_MS : 0;
    f->refused = 0;
    f->topics_seq = 0;
    kick(r); /* it may be eligible already (e.g. while there are no partitions) */
}

/* The cluster's eligible set: this leader, and every follower seen within replica_lag_ms that
 * every partition's ISR wants. Returns the count written to ids. */
static int eligible_set(bk_replicator_t *r, uint64_t now, char (*ids)[ID_MAX])
{
    int n = 0;
    copy_id(ids[n++], r->id, strlen(r->id));
    const bk_isr_t **isrs = malloc((r->nparts ? r->nparts : 1) * sizeof *isrs);
    if (isrs == NULL)
        return n; /* publishing only ourselves is always safe */
    size_t k = 0;
    for (part_t *part = r->parts; part; part = part->next)
        if (part->isr_term == r->term_id)
            isrs[k++] = &part->isr;
    for (int i = 0; i < r->nfollowers; i++) {
        const follower_t *f = &r->followers[i];
        if (f->last_seen_ms + r->cfg.replica_lag_ms < now)
            continue; /* stopped fetching (or a carried member that never came) */
        if (bk_repl_eligible(isrs, k, f->id))
            copy_id(ids[n++], f->id, strlen(f->id));
    }
    free(isrs);
    return n;
}

static int same_set(char (*a)[ID_MAX], int na, char (*b)[ID_MAX], int nb)
{
    if (na != nb)
        return 0;
    for (int i = 0; i < na; i++) {
        int found = 0;
        for (int j = 0; j < nb && !found; j++)
            found = strcmp(a[i], b[j]) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

/* The HW of part moved: waiters, the broker's hook, and parked fetches (followers learn it). */
static void hw_moved(bk_replicator_t *r, part_t *part, bk_partition_t *p)
{
    part->hw = part->isr.high_watermark;
    bk_repl_hw_changed(r, part, p);
    bk_repl_parked_answer_all(r, BK_FETCH_OK);
}

/* ---- publication ------------------------------------------------------------------------- */

static void add_may_hold(bk_replicator_t *r, const char *id)
{
    if (strcmp(id, r->id) == 0)
        return;
    for (int i = 0; i < r->nmay_hold; i++)
        if (strcmp(r->may_hold[i], id) == 0)
            return;
    if (r->nmay_hold < BK_ISR_MAX_REPLICAS)
        copy_id(r->may_hold[r->nmay_hold++], id, strlen(id));
}

static void finish_publish(bk_replicator_t *r, op_t *op, int status)
{
    int ok = status == 0;
    if (ok)
        r->nmay_hold = 0; /* Redis holds exactly this set now */
    for (int i = 0; i < op->n; i++)
        add_may_hold(r, op->ids[i]);
    if (!ok) {
        r->pub_dirty = 1;
        r->retry_at = bk_now_ms() + RETRY_MS;
    }
    part_t *part = r->parts;
    while (part) {
        part_t *next = part->next;
        if (part->pub_seq == op->seq && part->isr_term == r->term_id) {
            part->pub_seq = 0;
            int bits = bk_isr_publish_done(&part->isr, part->pub_mask, ok);
            bk_partition_t *p = (bits & BK_ISR_HW_MOVED) ? bk_repl_partition(r, part) : NULL;
            if (p != NULL)
                hw_moved(r, part, p);
        }
        part = next;
    }
    if (r->twaiters)
        bk_repl_topics_check(r, bk_now_ms()); /* the set to wait for may have shrunk */
}

static void after_publish(void *arg, int status)
{
    op_t *op = arg;
    bk_replicator_t *r = op->r;
    if (r == NULL || op->term != r->term_id) {
        bk_repl_op_free(op);
        return;
    }
    r->pub_inflight = 0;
    if (status == BK_EFENCED)
        bk_trace_warn("replication", "ISR publication fenced: the lease is no longer ours");
    else if (status != 0)
        bk_trace_warn("replication", "ISR publication failed: %s", bk_strerror(status));
    finish_publish(r, op, status);
    bk_repl_op_free(op);
    if (r->pub_dirty && r->leading)
        publish(r, bk_now_ms());
}

static void trace_set(bk_replicator_t *r, char (*ids)[ID_MAX], int n)
{
    char buf[512];
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len < sizeof buf - 1; i++) {
        int w = snprintf(buf + len, sizeof buf - len, "%s%s", i ? "," : "", ids[i]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    bk_trace_info("replication", "publishing ISR {%s} at epoch %" PRId64, buf, r->term_epoch);
}

static void publish(bk_replicator_t *r, uint64_t now)
{
    if (!r->leading || !r->term_ready || r->draining) /* draining: see bk_replicator_drain */
        return;
    if (r->pub_inflight || now < r->retry_at) {
        r->pub_dirty = 1;
        return;
    }
    r->pub_dirty = 0;
    op_t *op = bk_repl_op_new(r, OP_PUBLISH, r->term_id);
    if (op == NULL || (op->ids = calloc(BK_ISR_MAX_REPLICAS, ID_MAX)) == NULL) {
        if (op)
            bk_repl_op_free(op);
        r->pub_dirty = 1;
        r->retry_at = now + RETRY_MS;
        return;
    }
    op->n = eligible_set(r, now, op->ids);
    op->seq = ++r->pub_seq;
    for (part_t *part = r->parts; part; part = part->next) {
        if (part->isr_term == r->term_id) {
            part->pub_mask = bk_isr_publish_begin(&part->isr);
            part->pub_seq = op->seq;
        }
    }
    const char *ptrs[BK_ISR_MAX_REPLICAS];
    for (int i = 0; i < op->n; i++)
        ptrs[i] = op->ids[i];
    if (!same_set(op->ids, op->n, r->last_pub, r->nlast_pub))
        trace_set(r, op->ids, op->n);
    memcpy(r->last_pub, op->ids, (size_t)op->n * ID_MAX);
    r->nlast_pub = op->n;
    int rc = bk_election_publish_isr(r->election, ptrs, op->n, after_publish, op);
    if (rc != 0) {
        bk_trace_debug("replication", "cannot publish the ISR now: %s", bk_strerror(rc));
        finish_publish(r, op, rc);
        bk_repl_op_free(op);
        return;
    }
    r->pub_inflight = 1;
}

/* ---- term start and end ------------------------------------------------------------------ */

static void start_term(bk_replicator_t *r, const bk_election_isr_t *isr)
{
    uint64_t now = bk_now_ms();
    r->nmay_hold = 0;
    for (int i = 0; isr->present && i < isr->count; i++) {
        const char *id = isr->ids[i];
        int old_leader = strcmp(id, isr->leader) == 0 && strcmp(id, r->id) != 0;
        if (strcmp(id, r->id) == 0 || old_leader)
            continue;
        add_may_hold(r, id);
        note_follower(r, id, 0, 0, now);
    }
    bk_trace_info("replication",
                  "leader term at epoch %" PRId64 ": %d follower(s) carried from "
                  "the previous ISR",
                  r->term_epoch, r->nmay_hold);
    for (size_t i = 0; i < bk_log_topic_count(r->log); i++) {
        bk_topic_t *t = bk_log_topic_at(r->log, i);
        for (uint32_t k = 0; k < bk_topic_partition_count(t); k++) {
            bk_partition_t *p = bk_topic_partition(t, k);
            part_t *part = p ? bk_repl_part(r, p) : NULL;
            if (part != NULL)
                init_isr(r, part, p, now);
        }
    }
    r->term_ready = 1;
    publish(r, now);
    bk_repl_parked_answer_all(r, BK_FETCH_OK); /* their next fetch counts for the ISR */
}

static void after_read_isr(void *arg, int status, const bk_election_isr_t *isr)
{
    op_t *op = arg;
    bk_replicator_t *r = op->r;
    int current = r != NULL && op->term == r->term_id && r->leading;
    bk_repl_op_free(op);
    if (!current)
        return;
    r->reading_isr = 0;
    if (status != 0) {
        bk_trace_warn("replication", "cannot read the ISR from Redis: %s", bk_strerror(status));
        r->retry_at = bk_now_ms() + RETRY_MS;
        return;
    }
    start_term(r, isr);
}

static void read_isr(bk_replicator_t *r, uint64_t now)
{
    op_t *op = bk_repl_op_new(r, OP_READ_ISR, r->term_id);
    int rc = op ? bk_election_read_isr(r->election, after_read_isr, op) : UV_ENOMEM;
    if (rc != 0) {
        if (op)
            bk_repl_op_free(op);
        bk_trace_debug("replication", "cannot read the ISR now: %s", bk_strerror(rc));
        r->retry_at = now + RETRY_MS;
        return;
    }
    r->reading_isr = 1;
}

void bk_repl_leader_begin(bk_replicator_t *r, int64_t epoch)
{
    r->leading = 1;
    r->term_ready = 0;
    r->reading_isr = 0;
    r->term_epoch = epoch;
    r->term_id++;
    r->nfollowers = 0;
    r->nmay_hold = 0;
    r->pub_inflight = 0;
    r->pub_dirty = 0;
    r->nlast_pub = 0;
    r->retry_at = 0;
    read_isr(r, bk_now_ms());
}

void bk_repl_leader_end(bk_replicator_t *r)
{
    if (!r->leading)
        return;
    bk_trace_info("replication", "leader term at epoch %" PRId64 " over", r->term_epoch);
    r->leading = 0;
    r->term_ready = 0;
    r->reading_isr = 0;
    r->pub_inflight = 0;
    r->term_id++; /* completions of this term's operations change nothing now */
    for (part_t *part = r->parts; part; part = part->next) {
        if (part->isr_term != 0)
            part->hw = part->isr.high_watermark;
        part->isr_term = 0;
        part->pub_seq = 0;
    }
    bk_repl_parked_answer_all(r, BK_FETCH_ENOTLEADER);
    bk_repl_fail_waiters(r, BK_ENOTLEADER);
    bk_repl_topics_fail(r, BK_ENOTLEADER);
}

void bk_repl_leader_tick(bk_replicator_t *r, uint64_t now)
{
    if (r->twaiters)
        bk_repl_topics_check(r, now); /* deadlines */
    if (!r->term_ready) {
        if (!r->reading_isr && now >= r->retry_at)
            read_isr(r, now);
        return;
    }
    int changed = 0;
    part_t *part = r->parts;
    while (part) {
        part_t *next = part->next;
        bk_partition_t *p = bk_repl_partition(r, part);
        if (p == NULL) {
            bk_repl_part_drop(r, part); /* deleted: it must not hold eligibility back */
            changed = 1;
        } else if (part->isr_term != r->term_id) {
            init_isr(r, part, p, now);
            changed = 1;
        } else {
            int bits = bk_isr_tick(&part->isr, bk_partition_high_watermark(p), now);
            changed |= (bits & BK_ISR_CHANGED) != 0;
            if (bits & BK_ISR_HW_MOVED)
                hw_moved(r, part, p);
        }
        part = next;
    }
    char ids[BK_ISR_MAX_REPLICAS][ID_MAX];
    int n = eligible_set(r, now, ids);
    if (changed || r->pub_dirty || !same_set(ids, n, r->last_pub, r->nlast_pub))
        publish(r, now);
}

void bk_repl_leader_on_commit(bk_replicator_t *r, part_t *part, bk_partition_t *p)
{
    if (bk_repl_leader_ensure_isr(r, part, p)) {
        int bits = bk_isr_leader_durable(&part->isr, bk_partition_high_watermark(p), bk_now_ms());
        if (bits & BK_ISR_HW_MOVED) {
            hw_moved(r, part, p);
            return;
        }
    }
    bk_repl_parked_answer_all(r, BK_FETCH_OK); /* new data for every follower */
}

/* ---- serving fetches --------------------------------------------------------------------- */

/* The partition a follower asks for, or NULL when we have none of that name and index or
 * hold the topic under another id (the follower's is an older topic of that name: its
 * offsets say nothing about ours, so it is neither served nor counted). */
static bk_partition_t *lookup(bk_replicator_t *r, const bk_fetch_req_part_t *q)
{
    bk_topic_t *t = bk_log_topic_find(r->log, q->topic, q->topic_len);
    return t && bk_topic_id(t) == q->topic_id ? bk_topic_partition(t, q->partition) : NULL;
}

static int64_t divergence(bk_partition_t *p, const bk_fetch_req_part_t *q)
{
    if (q->last_fetched_epoch < 0)
        return -1;
    int32_t found = -1;
    int64_t end = bk_partition_epoch_end(p, q->last_fetched_epoch, &found);
    return bk_repl_diverging_end(q->last_fetched_epoch, q->fetch_offset, end, found);
}

/* Record bytes an answer may still take: the follower's max_bytes, except that the first
 * partition with data always gets at least its first batch whatever its size (else a batch
 * larger than the budget would never be sent). Past the budget nothing more is added, so an
 * answer's records never pass max(max_bytes, one batch): what the follower's client accepts
 * (bk_repl_answer_cap). */
typedef struct {
    size_t left;
    int any; /* records were added already */
} budget_t;

/* Reads the batches of p from offset for the answer within bg. Returns the bytes in *scratch
 * to send (0: none), or a negative error. */
static int64_t read_within(bk_partition_t *p, int64_t offset, int64_t limit, budget_t *bg,
                           uint8_t **scratch, size_t *cap)
{
    if (bg->left == 0)
        return 0;
    size_t len = 0;
    int n = bk_partition_read_raw(p, offset, limit, bg->left, scratch, cap, &len);
    if (n <= 0)
        return n;
    if (len > bg->left && bg->any) {
        bg->left = 0; /* one batch larger than what is left: it goes first in a later answer */
        return 0;
    }
    bg->left -= len < bg->left ? len : bg->left;
    bg->any = 1;
    return (int64_t)len;
}

/* Appends the answer for one requested partition within the answer's record budget. */
static int put_part(bk_replicator_t *r, bk_fetch_buf_t *b, const bk_fetch_req_part_t *q,
                    budget_t *budget, uint8_t **scratch, size_t *cap)
{
    bk_fetch_resp_part_t rp = {.topic = q->topic,
                               .topic_len = q->topic_len,
                               .partition = q->partition,
                               .high_watermark = -1,
                               .log_start_offset = -1,
                               .diverging_end_offset = -1};
    bk_partition_t *p = lookup(r, q);
    if (p == NULL) {
        rp.error = BK_FETCH_PART_UNKNOWN;
        return bk_fetch_response_put_part(b, &rp);
    }
    int64_t start = bk_partition_start_offset(p), durable = bk_partition_high_watermark(p);
    rp.high_watermark = bk_replicator_high_watermark(r, p);
    rp.log_start_offset = start;
    rp.diverging_end_offset = divergence(p, q);
    if (rp.diverging_end_offset >= 0)
        return bk_fetch_response_put_part(b, &rp);
    if (q->fetch_offset < start) {
        rp.error = BK_FETCH_PART_RANGE;
    } else if (q->fetch_offset < durable) {
        int64_t n = read_within(p, q->fetch_offset, durable, budget, scratch, cap);
        if (n < 0) {
            bk_trace_warn("replication", "reading %s-%u from %" PRId64 " for a follower: %s",
                          bk_topic_name(bk_partition_topic(p)), q->partition, q->fetch_offset,
                          bk_strerror((int)n));
            rp.error = BK_FETCH_PART_RANGE;
        } else if (n > 0) {
            rp.records = *scratch;
            rp.records_len = (size_t)n;
        }
    }
    return bk_fetch_response_put_part(b, &rp);
}

static int encode_answer(bk_replicator_t *r, const bk_fetch_req_t *req, int32_t error,
                         int64_t epoch, bk_fetch_buf_t *b)
{
    bk_fetch_resp_t resp = {.leader_epoch = epoch, .error = error};
    size_t nt = error == BK_FETCH_OK ? bk_log_topic_count(r->log) : 0;
    size_t np = error == BK_FETCH_OK ? req->partition_count : 0;
    bk_fetch_topic_t *topics = calloc(nt ? nt : 1, sizeof *topics);
    if (topics == NULL)
        return UV_ENOMEM;
    for (size_t i = 0; i < nt; i++) {
        bk_topic_t *t = bk_log_topic_at(r->log, i);
        const bk_topic_config_t *c = bk_topic_config(t);
        topics[i] = (bk_fetch_topic_t){
            bk_topic_name(t),       strlen(bk_topic_name(t)), bk_topic_partition_count(t),
            c->retention_ms,        c->retention_bytes,       c->segment_bytes,
            c->max_message_bytes,   bk_topic_id(t),           c->compression,
            c->min_insync_replicas, c->replication_factor,    c->cleanup_policy,
            c->delete_retention_ms, c->min_compaction_lag_ms, c->min_cleanable_ratio};
    }
    int rc = bk_fetch_response_begin(b, &resp, topics, nt, np);
    free(topics);
    uint32_t max =
        req->max_bytes < r->cfg.fetch_max_bytes ? req->max_bytes : r->cfg.fetch_max_bytes;
    budget_t budget = {max ? max : 1, 0};
    uint8_t *scratch = NULL;
    size_t cap = 0;
    bk_fetch_req_t it = *req;
    bk_fetch_req_part_t q;
    while (rc == 0 && np > 0 && bk_fetch_request_next(&it, &q))
        rc = put_part(r, b, &q, &budget, &scratch, &cap);
    free(scratch);
    return rc;
}

/* A fetch answered: its process sends the next one at once if it lives. */
static void note_answered(bk_replicator_t *r, const bk_fetch_req_t *req)
{
    for (int i = 0; i < r->nfollowers; i++) {
        follower_t *f = &r->followers[i];
        if (f->instance == req->instance && strlen(f->id) == req->id_len &&
            memcmp(f->id, req->id, req->id_len) == 0) {
            f->live_until = bk_now_ms() + LIVE_GRACE_MS;
            return;
        }
    }
}

static void answer(bk_replicator_t *r, bk_exchange_t *ex, const bk_fetch_req_t *req, int32_t error)
{
    note_answered(r, req);
    int64_t epoch = r->term_epoch;
    if (!r->leading && r->election != NULL) {
        bk_election_view_t v;
        bk_election_view(r->election, &v);
        epoch = v.epoch;
    }
    bk_fetch_buf_t b = {0};
    int rc = encode_answer(r, req, error, epoch, &b);
    if (rc != 0) {
        bk_fetch_buf_free(&b);
        bk_trace_error("replication", "cannot encode a fetch answer: %s", bk_strerror(rc));
        bk_exchange_error(ex, 500, "cannot encode the fetch answer");
        return;
    }
    bk_exchange_respond(ex, 200, BK_FETCH_CONTENT_TYPE, NULL, b.data, b.len);
    bk_fetch_buf_free(&b);
}

static void on_parked_closed(uv_handle_t *h)
{
    free(h->data);
}

static void unpark(parked_t *pk, int32_t error)
{
    bk_replicator_t *r = pk->r;
    if (pk->prev)
        pk->prev->next = pk->next;
    else
        r->parked = pk->next;
    if (pk->next)
        pk->next->prev = pk->prev;
    int rc = uv_timer_stop(&pk->timer);
    if (rc != 0)
        bk_trace_error("replication", "timer: %s", uv_strerror(rc));
    answer(r, pk->ex, &pk->req, error);
    uv_close((uv_handle_t *)&pk->timer, on_parked_closed);
}

static void on_park_timeout(uv_timer_t *t)
{
    parked_t *pk = t->data;
    unpark(pk, pk->r->leading ? BK_FETCH_OK : BK_FETCH_ENOTLEADER);
}

void bk_repl_parked_answer_all(bk_replicator_t *r, int32_t error)
{
    while (r->parked)
        unpark(r->parked, error);
}

static void park(bk_replicator_t *r, bk_exchange_t *ex, const bk_fetch_req_t *req)
{
    parked_t *pk = calloc(1, sizeof *pk);
    if (pk == NULL || uv_timer_init(r->loop, &pk->timer) != 0) {
        free(pk);
        answer(r, ex, req, BK_FETCH_OK);
        return;
    }
    pk->r = r;
    pk->ex = ex;
    pk->req = *req;
    pk->timer.data = pk;
    uint64_t wait = req->max_wait_ms < MAX_PARK_MS ? req->max_wait_ms : MAX_PARK_MS;
    int rc = uv_timer_start(&pk->timer, on_park_timeout, wait, 0);
    pk->next = r->parked;
    if (r->parked)
        r->parked->prev = pk;
    r->parked = pk;
    if (rc != 0)
        unpark(pk, BK_FETCH_OK);
}

/* Looks at every partition asked: divergence, data, and the follower's position for the ISR.
 * Returns 1 when the answer should go out now rather than be parked. */
static int note_fetch(bk_replicator_t *r, const bk_fetch_req_t *req, const char *id, uint64_t now,
                      int *changed, int *in_step)
{
    int ready = 0;
    size_t known = 0, total = 0;
    for (size_t i = 0; i < bk_log_topic_count(r->log); i++)
        total += bk_topic_partition_count(bk_log_topic_at(r->log, i));
    bk_fetch_req_t it = *req;
    bk_fetch_req_part_t q;
    while (bk_fetch_request_next(&it, &q)) {
        bk_partition_t *p = lookup(r, &q);
        if (p == NULL)
            continue; /* answered as unknown whenever the answer goes out */
        known++;
        int64_t durable = bk_partition_high_watermark(p);
        if (divergence(p, &q) >= 0) {
            ready = 1; /* it must truncate first; its position says nothing */
            continue;
        }
        if (q.fetch_offset < durable && q.fetch_offset >= bk_partition_start_offset(p))
            ready = 1;
        part_t *part = bk_repl_part(r, p);
        if (part == NULL || !bk_repl_leader_ensure_isr(r, part, p))
            continue;
        int bits = bk_isr_on_fetch(&part->isr, id, q.fetch_offset, durable, now);
        if (bits < 0) {
            bk_trace_warn("replication", "follower %s: %s", id, bk_strerror(bits));
            continue;
        }
        *changed |= (bits & BK_ISR_CHANGED) != 0;
        if (bits & BK_ISR_HW_MOVED) {
            hw_moved(r, part, p);
            ready = 1; /* tell this follower the new HW too */
        }
    }
    /* It lists exactly our topics and partitions (under our ids): it has applied every topic
     * change made here so far. */
    *in_step = known == total && known == req->partition_count;
    /* It lacks partitions, or holds topics we deleted: tell it at once. */
    return ready || known < total || known < req->partition_count;
}

/* ---- topic changes ----------------------------------------------------------------------- */

/* Topic changes are acknowledged like acks=all records: once every follower that Redis may
 * list as in sync (and so may be elected) holds them, which its next fetch listing exactly
 * the leader's topics and partitions shows. Else a deleted topic could come back, and a
 * created or grown one vanish, with a failover. A follower leaving the ISR stops counting
 * once a publication without it is confirmed, as for the high watermark. */
static int follower_has(const bk_replicator_t *r, const char *id, uint64_t seq)
{
    if (strcmp(id, r->id) == 0)
        return 1;
    for (int i = 0; i < r->nfollowers; i++)
        if (strcmp(r->followers[i].id, id) == 0)
            return r->followers[i].topics_seq >= seq;
    return 0;
}

static int topics_confirmed(const bk_replicator_t *r, uint64_t seq)
{
    if (!r->leading || !r->term_ready)
        return 0; /* who Redis may list is not known yet */
    for (int i = 0; i < r->nmay_hold; i++)
        if (!follower_has(r, r->may_hold[i], seq))
            return 0;
    for (int i = 0; i < r->nlast_pub; i++)
        if (!follower_has(r, r->last_pub[i], seq))
            return 0;
    return 1;
}

void bk_repl_topics_check(bk_replicator_t *r, uint64_t now)
{
    twaiter_t **pp = &r->twaiters;
    twaiter_t *due = NULL, **tail = &due;
    while (*pp) {
        twaiter_t *w = *pp;
        int done = topics_confirmed(r, w->seq);
        if (!done && now < w->deadline) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        w->next = NULL;
        w->seq = (uint64_t)done; /* reused: 1 confirmed, 0 timed out */
        *tail = w;
        tail = &w->next;
    }
    while (due) { /* callbacks last: they may register new waiters */
        twaiter_t *w = due;
        due = w->next;
        void (*cb)(void *, int) = w->cb;
        void *arg = w->arg;
        int status = w->seq ? 0 : UV_ETIMEDOUT;
        free(w);
        cb(arg, status);
    }
}

void bk_repl_topics_fail(bk_replicator_t *r, int status)
{
    twaiter_t *list = r->twaiters;
    r->twaiters = NULL;
    while (list) {
        twaiter_t *w = list;
        list = w->next;
        void (*cb)(void *, int) = w->cb;
        void *arg = w->arg;
        free(w);
        cb(arg, status);
    }
}

void bk_repl_leader_serve(bk_replicator_t *r, bk_exchange_t *ex)
{
    bk_fetch_req_t req;
    if (bk_fetch_request_decode(ex->body, ex->body_len, &req) != 0) {
        bk_exchange_error(ex, 400, "malformed replication fetch");
        return;
    }
    if (r->standalone || r->stopping) {
        answer(r, ex, &req, BK_FETCH_ENOTLEADER);
        return;
    }
    int64_t epoch = 0;
    int can = bk_election_can_ack(r->election, &epoch);
    if (req.known_epoch > epoch) {
        answer(r, ex, &req, BK_FETCH_EFENCED); /* we are stale */
        return;
    }
    if (!r->leading || !can || epoch != r->term_epoch) {
        answer(r, ex, &req, BK_FETCH_ENOTLEADER);
        return;
    }
    char id[ID_MAX];
    copy_id(id, req.id, req.id_len);
    if (strcmp(id, r->id) == 0) {
        bk_exchange_errorf(ex, 409,
                           "broker id %s is this leader's own; give every broker its own --id "
                           "(BROKER_ID)",
                           id);
        return;
    }
    uint64_t now = bk_now_ms();
    if (id_taken(r, id, req.instance, req.max_wait_ms, now)) {
        bk_exchange_errorf(ex, 409,
                           "broker id %s is in use by another process fetching from this leader "
                           "(another broker with that id, or this broker's previous process if "
                           "it restarted a moment ago); give every broker its own --id "
                           "(BROKER_ID)",
                           id);
        return;
    }
    int changed = 0, in_step = 0;
    if (r->term_ready)
        note_follower(r, id, req.instance, req.max_wait_ms, now);
    int ready = note_fetch(r, &req, id, now, &changed, &in_step);
    if (changed)
        kick(r); /* publish the new membership */
    for (int i = 0; in_step && i < r->nfollowers; i++)
        if (strcmp(r->followers[i].id, id) == 0)
            r->followers[i].topics_seq = r->topic_seq;
    if (in_step && r->twaiters)
        bk_repl_topics_check(r, now);
    if (!ready && req.max_wait_ms > 0)
        park(r, ex, &req);
    else
        answer(r, ex, &req, BK_FETCH_OK);
}
