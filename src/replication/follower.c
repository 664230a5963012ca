/* The follower's fetch loop: one POST /replication/fetch at a time to the leader, listing
 * every local partition from its durable end; the answer creates missing topics, truncates a
 * diverged tail, appends the leader's batches unchanged, and updates the leader's high
 * watermark as heard. The next fetch goes out once those appends are durable, so a fetch
 * offset always means "held durably". It must never expose data to readers that has not been
 * checked against the current leader's log, and never fetch while this broker leads.
 *
 * Round: fetch → answer → (truncate | append_raw...) → all appends durable → fetch. Errors
 * back off 100 ms → 1 s and re-read the leader key; a role change ends the loop (f_term). */
#include "replication/replicator_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "brook/common.h"
#include "replication/replica_logic.h"

#define SOON_MS 20          /* retry after a truncation refused while appends finish */
#define FETCH_SLACK_MS 3000 /* fetch timeout = max wait + this */
#define STUCK_MS 5000       /* failed fetches for this long are worth a warning */
#define FETCH_HEADERS "Content-Type: " BK_FETCH_CONTENT_TYPE "\r\n"

static void fetch_now(bk_replicator_t *r);

static void on_f_timer(uv_timer_t *t)
{
    bk_replicator_t *r = t->data;
    r->f_timer_armed = 0;
    fetch_now(r);
}

static void arm(bk_replicator_t *r, uint64_t ms)
{
    int rc = uv_timer_start(&r->f_timer, on_f_timer, ms, 0);
    if (rc != 0) {
        bk_trace_error("replication", "timer: %s", uv_strerror(rc));
        return;
    }
    r->f_timer_armed = 1;
}

/* Once this round's appends are durable: the next fetch, now or after a pause. */
static void next_round(bk_replicator_t *r)
{
    if (!r->following || r->f_pending > 0 || r->f_req != NULL || r->f_timer_armed)
        return;
    if (r->f_failed) {
        r->f_backoff = bk_repl_backoff_next(r->f_backoff);
        arm(r, r->f_backoff);
    } else if (r->f_soon) {
        arm(r, SOON_MS);
    } else {
        r->f_backoff = 0;
        fetch_now(r);
    }
    r->f_failed = r->f_soon = 0;
}

void bk_repl_follower_refresh_hw(bk_replicator_t *r, part_t *part, bk_partition_t *p)
{
    int64_t durable = bk_partition_high_watermark(p);
    int64_t verified = r->following && part->verified_term == r->f_term ? part->verified_end : -1;
    int64_t hw = bk_repl_follower_hw(part->hw, durable, part->leader_hw, verified);
    if (hw == part->hw)
        return;
    part->hw = hw;
    bk_repl_hw_changed(r, part, p);
}

/* ---- applying an answer ------------------------------------------------------------------ */

/* A topic job of this follower ended (creation or growth off the loop; the fetch loop waited
 * for it like for its appends). */
static void after_topic_job(void *arg, int status, bk_topic_t *t)
{
    (void)t;
    op_t *op = arg;
    bk_replicator_t *r = op->r;
    if (r == NULL || op->term != r->f_term || !r->following) {
        bk_repl_op_free(op);
        return;
    }
    bk_repl_op_free(op);
    r->f_pending--;
    if (status != 0 && status != UV_EEXIST) {
        bk_trace_warn("replication", "cannot create or grow a topic like the leader's: %s",
                      bk_strerror(status));
        r->f_failed = 1;
    }
    next_round(r);
}

static bk_topic_config_t leader_config(const bk_fetch_topic_t *tp)
{
    bk_topic_config_t c = {.retention_ms = tp->retention_ms,
                           .retention_bytes = tp->retention_bytes,
                           .segment_bytes = tp->segment_bytes,
                           .max_message_bytes = tp->max_message_bytes,
                           .compression = tp->compression,
                           .min_insync_replicas = tp->min_insync_replicas,
                           .replication_factor = tp->replication_factor,
                           .cleanup_policy = tp->cleanup_policy,
                           .delete_retention_ms = tp->delete_retention_ms,
                           .min_compaction_lag_ms = tp->min_compaction_lag_ms,
                           .min_cleanable_ratio = tp->min_cleanable_ratio};
    return c;
}

/* Whether t's settings differ from the leader's tp (changed there since t was made). */
static int config_differs(const bk_topic_t *t, const bk_fetch_topic_t *tp)
{
    bk_topic_config_t want = leader_config(tp);
    const bk_topic_config_t *c = bk_topic_config(t);
    return c->retention_ms != want.retention_ms || c->retention_bytes != want.retention_bytes ||
           c->segment_bytes != want.segment_bytes ||
           c->max_message_bytes != want.max_message_bytes || c->compression != want.compression ||
           c->min_insync_replicas != want.min_insync_replicas ||
           c->replication_factor != want.replication_factor ||
           c->cleanup_policy != want.cleanup_policy ||
           c->delete_retention_ms != want.delete_retention_ms ||
           c->min_compaction_lag_ms != want.min_compaction_lag_ms ||
           c->min_cleanable_ratio != want.min_cleanable_ratio;
}

/* Starts creating or growing topic name like the leader's tp, off the loop; the next fetch
 * waits for it. t: the local topic (NULL: create). */
static void topic_job(bk_replicator_t *r, const bk_fetch_topic_t *tp, bk_topic_t *t)
{
    op_t *op = bk_repl_op_new(r, OP_TOPIC, r->f_term);
    int rc = UV_ENOMEM;
    if (op != NULL && t == NULL) {
        bk_topic_config_t cfg = leader_config(tp);
        rc = bk_log_topic_create_async_as(r->log, tp->name, tp->name_len, tp->id, tp->partitions,
                                          &cfg, after_topic_job, op);
        if (rc == 0)
            bk_trace_info("replication",
                          "creating topic %.*s (%" PRIu32 " partitions) like the "
                          "leader's",
                          (int)tp->name_len, tp->name, tp->partitions);
    } else if (op != NULL && bk_topic_partition_count(t) >= tp->partitions) {
        bk_topic_config_t cfg = leader_config(tp); /* settings changed on the leader */
        rc = bk_log_topic_reconfigure_async(r->log, t, &cfg, after_topic_job, op);
        if (rc == UV_EBUSY)
            rc = bk_log_topic_await_growth(r->log, t, after_topic_job, op);
    } else if (op != NULL) {
        rc = bk_log_topic_grow_async(r->log, t, tp->partitions, after_topic_job, op);
        if (rc == UV_EBUSY) /* a growth begun while we led: wait for it, then compare again */
            rc = bk_log_topic_await_growth(r->log, t, after_topic_job, op);
    }
    if (rc == 0) {
        r->f_pending++;
        return;
    }
    if (op != NULL)
        bk_repl_op_free(op);
    bk_trace_warn("replication", "cannot create or grow topic %.*s like the leader's: %s",
                  (int)tp->name_len, tp->name, bk_strerror(rc));
    r->f_failed = 1;
}

/* The next fetch waits for the growth of t under way (begun while we led). Returns 0, or
 * UV_ENOENT when none is. */
static int await_growth(bk_replicator_t *r, bk_topic_t *t)
{
    op_t *op = bk_repl_op_new(r, OP_TOPIC, r->f_term);
    int rc = op ? bk_log_topic_await_growth(r->log, t, after_topic_job, op) : UV_ENOMEM;
    if (rc == 0)
        r->f_pending++;
    else if (op != NULL)
        bk_repl_op_free(op);
    if (rc == UV_ENOMEM)
        r->f_failed = 1; /* try again after a backoff */
    return rc;
}

/* Deletes a local topic the leader no longer has, or has only as a newer topic of the same
 * name; a growth of it under way (begun while we led) is waited for first. Returns 0 when
 * deleted, else nonzero (waiting, or failed: a backoff is asked for). */
static int drop_topic(bk_replicator_t *r, bk_topic_t *t, const char *why)
{
    if (await_growth(r, t) != UV_ENOENT)
        return 1;
    char name[256];
    snprintf(name, sizeof name, "%s", bk_topic_name(t));
    if (r->delete_hook)
        r->delete_hook(r->delete_arg, t);
    else
        bk_replicator_forget_topic(r, t);
    int rc = bk_log_topic_delete(r->log, t);
    if (rc == 0) {
        bk_trace_info("replication", "deleted topic %s: %s", name, why);
    } else {
        bk_trace_warn("replication", "cannot delete topic %s like the leader: %s", name,
                      bk_strerror(rc));
        r->f_failed = 1;
    }
    return rc;
}

/* Creates, re-creates and grows local topics like the leader's (off the loop: the next fetch
 * waits). Returns 1 when a topic was re-created: the partition entries of this answer were
 * computed from the old topic's offsets and must not be applied. */
static int apply_topics(bk_replicator_t *r, const bk_fetch_resp_t *a)
{
    bk_fetch_resp_t it = *a;
    bk_fetch_topic_t tp;
    int recreated = 0;
    while (bk_fetch_response_next_topic(&it, &tp)) {
        bk_topic_t *t = bk_log_topic_find(r->log, tp.name, tp.name_len);
        if (t != NULL && bk_topic_id(t) != tp.id) {
            /* Ours is an older topic of that name, deleted on the leader since: its records
             * are not the new topic's, whatever their offsets and epochs. */
            if (drop_topic(r, t, "the leader's topic of that name is a newer one") != 0)
                continue;
            t = NULL;
            recreated = 1;
        }
        if (t == NULL || bk_topic_partition_count(t) < tp.partitions || config_differs(t, &tp))
            topic_job(r, &tp, t);
    }
    return recreated;
}

static int leader_has(const bk_fetch_resp_t *a, const char *name)
{
    bk_fetch_resp_t it = *a;
    bk_fetch_topic_t tp;
    size_t len = strlen(name);
    while (bk_fetch_response_next_topic(&it, &tp))
        if (tp.name_len == len && memcmp(tp.name, name, len) == 0)
            return 1;
    return 0;
}

/* Deletes every local topic the leader's answer does not list (the answer lists all of the
 * leader's topics, none when it has none): a topic deleted on the leader goes from its
 * followers too, and the leader acknowledges the deletion only once its in-sync followers'
 * fetches show it done, so it cannot come back with a failover. Nothing acknowledged is lost
 * by this: a write acknowledged with acks=all is held by every in-sync replica, the leader
 * included, and so is its topic. */
static void drop_deleted_topics(bk_replicator_t *r, const bk_fetch_resp_t *a)
{
    size_t n = bk_log_topic_count(r->log);
    for (size_t i = n; i-- > 0;) { /* from the end: deleting never moves earlier entries */
        bk_topic_t *t = bk_log_topic_at(r->log, i);
        if (!leader_has(a, bk_topic_name(t)))
            (void)drop_topic(r, t, "the leader no longer has it");
    }
}

static void truncate_tail(bk_replicator_t *r, part_t *part, bk_partition_t *p, int64_t diverging)
{
    int64_t local_end = bk_partition_end_offset(p);
    int32_t last = bk_partition_last_epoch(p), found;
    int64_t last_start =
        last > 0 ? bk_partition_epoch_end(p, last - 1, &found) : bk_partition_start_offset(p);
    int64_t target = bk_repl_truncate_target(diverging, local_end, last_start);
    if (target >= local_end) {
        bk_trace_warn("replication",
                      "%s-%u: leader says diverged at %" PRId64 " but nothing "
                      "to drop (end %" PRId64 ")",
                      part->topic, part->index, diverging, local_end);
        r->f_failed = 1;
        return;
    }
    int rc = bk_partition_truncate(p, target);
    if (rc == UV_EBUSY) {
        r->f_soon = 1; /* appends still pending (e.g. from when we led): try again shortly */
        return;
    }
    if (rc != 0) {
        bk_trace_error("replication", "cannot truncate %s-%u to %" PRId64 ": %s", part->topic,
                       part->index, target, bk_strerror(rc));
        r->f_failed = 1;
        return;
    }
    if (bk_partition_end_offset(p) >= local_end) {
        bk_trace_warn("replication", "%s-%u: truncating to %" PRId64 " dropped nothing",
                      part->topic, part->index, target);
        r->f_failed = 1; /* never spin on a leader answer we cannot act on */
        return;
    }
    bk_trace_info("replication",
                  "%s-%u: truncated the diverged tail [%" PRId64 ", %" PRId64
                  ") to follow the leader",
                  part->topic, part->index, target, local_end);
    if (part->verified_end > target)
        part->verified_end = target;
    bk_repl_follower_refresh_hw(r, part, p);
}

static void after_append(void *arg, int status, int64_t base_offset)
{
    (void)base_offset;
    op_t *op = arg;
    bk_replicator_t *r = op->r;
    if (r == NULL || op->term != r->f_term || !r->following) {
        bk_repl_op_free(op);
        return;
    }
    part_t *part = op->part;
    if (status == 0 && part != NULL && part->verified_term == r->f_term &&
        op->end > part->verified_end)
        part->verified_end = op->end; /* the leader's own batches, continuing a checked prefix */
    if (status != 0) {
        bk_trace_error("replication", "appending the leader's batches: %s", bk_strerror(status));
        r->f_failed = 1;
    }
    bk_repl_op_free(op);
    r->f_pending--;
    bk_partition_t *p = part ? bk_repl_partition(r, part) : NULL;
    if (p != NULL)
        bk_repl_follower_refresh_hw(r, part, p);
    next_round(r);
}

static void append(bk_replicator_t *r, part_t *part, bk_partition_t *p,
                   const bk_fetch_resp_part_t *rp)
{
    int64_t end;
    if (bk_repl_batches_end(rp->records, rp->records_len, &end) != 0) {
        bk_trace_warn("replication", "%s-%u: malformed batches from the leader", part->topic,
                      part->index);
        r->f_failed = 1;
        return;
    }
    op_t *op = bk_repl_op_new(r, OP_APPEND, r->f_term);
    if (op == NULL) {
        r->f_failed = 1;
        return;
    }
    op->part = part;
    op->end = end;
    int rc = bk_partition_append_raw(p, rp->records, rp->records_len, after_append, op);
    if (rc != 0) {
        bk_trace_warn("replication", "%s-%u: cannot append the leader's batches at %" PRId64 ": %s",
                      part->topic, part->index, bk_partition_end_offset(p), bk_strerror(rc));
        bk_repl_op_free(op);
        r->f_failed = 1;
        return;
    }
    r->f_pending++;
}

/* The leader's retention deleted what we need next (our whole log is older than its start):
 * empty the partition and go on from the leader's start, as a Kafka follower does. */
static void start_over(bk_replicator_t *r, part_t *part, bk_partition_t *p,
                       const bk_fetch_resp_part_t *rp)
{
    int64_t start = rp->log_start_offset;
    int rc = bk_partition_reset(p, start);
    if (rc == UV_EBUSY) {
        r->f_soon = 1;
        return;
    }
    if (rc != 0) {
        bk_trace_error("replication", "%s-%u: cannot start over at %" PRId64 ": %s", part->topic,
                       part->index, start, bk_strerror(rc));
        r->f_failed = 1;
        return;
    }
    bk_trace_warn("replication",
                  "%s-%u: the leader's log starts at %" PRId64 ", after all of ours: emptied "
                  "the partition to follow from there",
                  part->topic, part->index, start);
    part->verified_term = r->f_term;
    part->verified_end = start;
    if (rp->high_watermark >= 0)
        part->leader_hw = rp->high_watermark;
    bk_repl_follower_refresh_hw(r, part, p);
}

static void apply_part(bk_replicator_t *r, const struct sent *s, const bk_fetch_resp_part_t *rp)
{
    bk_topic_t *t = bk_log_topic_find(r->log, rp->topic, rp->topic_len);
    bk_partition_t *p = t ? bk_topic_partition(t, rp->partition) : NULL;
    part_t *part = p ? bk_repl_part(r, p) : NULL;
    if (part == NULL || s == NULL || s->part != part)
        return; /* not what we asked for in this slot: ignore it */
    if (rp->error == BK_FETCH_PART_RANGE && rp->log_start_offset > s->fetch_offset &&
        s->fetch_offset == bk_partition_end_offset(p)) {
        start_over(r, part, p, rp);
        return;
    }
    if (rp->error == BK_FETCH_PART_RANGE) {
        bk_trace_warn("replication",
                      "%s-%u: offset %" PRId64 " is outside the leader's log "
                      "(it starts at %" PRId64 ")",
                      part->topic, part->index, s->fetch_offset, rp->log_start_offset);
        r->f_failed = 1;
        return;
    }
    if (rp->error != BK_FETCH_PART_OK)
        return;
    if (rp->diverging_end_offset >= 0) {
        truncate_tail(r, part, p, rp->diverging_end_offset);
        return;
    }
    /* Consistent: everything below the offset we asked from matches the leader's log. */
    if (part->verified_term != r->f_term || s->fetch_offset > part->verified_end) {
        part->verified_term = r->f_term;
        part->verified_end = s->fetch_offset;
    }
    if (rp->high_watermark >= 0)
        part->leader_hw = rp->high_watermark;
    if (rp->records_len > 0)
        append(r, part, p, rp);
    bk_repl_follower_refresh_hw(r, part, p);
}

/* The leader refuses our id: another live broker fetches under it (or it is the leader's
 * own). Positions under one id are one replica's to the leader and the ISR in Redis names
 * ids, so this broker must not take the lease meanwhile: it holds what the other one has
 * been acknowledged for. Said once; lifted when the leader accepts a fetch again. */
static void id_refused(bk_replicator_t *r, const bk_http_response_t *resp)
{
    if (r->f_refused)
        return;
    r->f_refused = 1;
    if (r->election != NULL)
        bk_election_set_eligible(r->election, 0);
    int n = (int)(resp->body_len > 300 ? 300 : resp->body_len);
    bk_trace_warn("replication",
                  "%s refuses our fetches: %.*s; not replicating and not eligible to lead "
                  "until it accepts them",
                  r->f_url, n, (const char *)resp->body);
}

static void id_accepted(bk_replicator_t *r)
{
    if (!r->f_refused)
        return;
    r->f_refused = 0;
    if (r->election != NULL)
        bk_election_set_eligible(r->election, 1);
    bk_trace_info("replication", "%s accepts our fetches again", r->f_url);
}

/* A fetch round that failed: said at debug level while it may be a passing election, as a
 * warning once fetches have failed for STUCK_MS in a row (and then every STUCK_MS), since the
 * follower is then leaving or out of the ISR. An answer over the size cap is a warning at
 * once: retrying cannot fix it. */
static void note_failure(bk_replicator_t *r, const char *what)
{
    uint64_t now = bk_now_ms();
    if (r->f_fail_since == 0)
        r->f_fail_since = now;
    int loud = now - r->f_fail_since >= STUCK_MS;
    if ((loud || r->f_fail_loud) && now >= r->f_warn_at) {
        r->f_warn_at = now + STUCK_MS;
        bk_trace_warn("replication",
                      "no progress fetching from %s for %" PRIu64 " ms: %s; this broker "
                      "falls out of the in-sync set",
                      r->f_url, now - r->f_fail_since, what);
    } else {
        bk_trace_debug("replication", "fetch from %s: %s", r->f_url, what);
    }
    r->f_fail_loud = 0;
}

/* Returns 0 when the answer was usable (even if some partitions need a retry). */
static int apply_answer(bk_replicator_t *r, op_t *op, int status, const bk_http_response_t *resp)
{
    if (status != 0) {
        r->f_fail_loud = status == BK_ETOOBIG;
        note_failure(r, status == BK_ETOOBIG ? "the answer is larger than this follower accepts"
                                             : bk_strerror(status));
        return status;
    }
    if (resp->status == 409) {
        id_refused(r, resp);
        return BK_EINVAL;
    }
    bk_fetch_resp_t a;
    if (resp->status != 200 || strcmp(resp->content_type, BK_FETCH_CONTENT_TYPE) != 0 ||
        bk_fetch_response_decode(resp->body, resp->body_len, &a) != 0) {
        char what[400];
        int n = (int)(resp->body_len > 300 ? 300 : resp->body_len);
        snprintf(what, sizeof what, "unusable answer (HTTP %d) %.*s", resp->status,
                 strcmp(resp->content_type, BK_FETCH_CONTENT_TYPE) != 0 ? n : 0,
                 resp->body ? (const char *)resp->body : "");
        r->f_fail_loud = 1;
        note_failure(r, what);
        return BK_EINVAL;
    }
    if (a.error != BK_FETCH_OK || a.leader_epoch < r->f_epoch) {
        bk_trace_debug("replication", "%s refused the fetch (error %" PRId32 ", epoch %" PRId64 ")",
                       r->f_url, a.error, a.leader_epoch);
        return a.error == BK_FETCH_EFENCED ? BK_EFENCED : BK_ENOTLEADER;
    }
    id_accepted(r);
    drop_deleted_topics(r, &a);
    if (apply_topics(r, &a)) {
        r->f_soon = 1; /* fetch the new topic from its start at once */
        return 0;
    }
    size_t k = 0;
    bk_fetch_resp_part_t rp;
    while (bk_fetch_response_next_part(&a, &rp)) {
        const struct sent *s = k < op->nsent ? &op->sent[k] : NULL;
        k++;
        apply_part(r, s, &rp);
        if (!r->following)
            break; /* a callback changed our role */
    }
    return 0;
}

static void after_fetch(void *arg, int status, const bk_http_response_t *resp)
{
    op_t *op = arg;
    bk_replicator_t *r = op->r;
    if (r == NULL || op->term != r->f_term || !r->following) {
        bk_repl_op_free(op);
        return;
    }
    r->f_req = NULL;
    r->f_op = NULL;
    int rc = apply_answer(r, op, status, resp);
    bk_repl_op_free(op);
    if (rc == 0)
        r->f_fail_since = 0;
    if (rc != 0) {
        r->f_failed = 1;
        if (r->election != NULL)
            bk_election_refresh(r->election); /* who leads now? */
    }
    next_round(r);
}

/* ---- sending a fetch --------------------------------------------------------------------- */

static size_t count_partitions(bk_log_t *log)
{
    size_t n = 0;
    for (size_t i = 0; i < bk_log_topic_count(log); i++)
        n += bk_topic_partition_count(bk_log_topic_at(log, i));
    return n;
}

/* Lists every local partition from its durable end. The list starts at another topic each
 * round: the leader gives the first partition with data at least one batch and later ones
 * only what fits the budget, so rotating keeps one busy partition from starving the others
 * (a batch larger than what is left waits to be first). Returns the count filled. */
static size_t fill_request(bk_replicator_t *r, op_t *op, bk_fetch_req_part_t *parts)
{
    size_t k = 0, nt = bk_log_topic_count(r->log);
    size_t first = nt ? (size_t)(r->f_rounds++ % nt) : 0;
    for (size_t n = 0; n < nt; n++) {
        size_t i = (first + n) % nt;
        bk_topic_t *t = bk_log_topic_at(r->log, i);
        const char *name = bk_topic_name(t);
        for (uint32_t j = 0; j < bk_topic_partition_count(t); j++) {
            bk_partition_t *p = bk_topic_partition(t, j);
            part_t *part = p ? bk_repl_part(r, p) : NULL;
            if (part == NULL)
                continue;
            parts[k] = (bk_fetch_req_part_t){name,
                                             strlen(name),
                                             j,
                                             bk_partition_high_watermark(p),
                                             bk_partition_last_epoch(p),
                                             bk_topic_id(t)};
            op->sent[k] = (struct sent){part, parts[k].fetch_offset};
            k++;
        }
    }
    return k;
}

static int send_fetch(bk_replicator_t *r, op_t *op)
{
    size_t n = count_partitions(r->log);
    bk_fetch_req_part_t *parts = calloc(n ? n : 1, sizeof *parts);
    op->sent = calloc(n ? n : 1, sizeof *op->sent);
    if (parts == NULL || op->sent == NULL) {
        free(parts);
        return UV_ENOMEM;
    }
    op->nsent = fill_request(r, op, parts);
    bk_fetch_req_t req = {.known_epoch = r->f_epoch,
                          .id = r->id,
                          .id_len = strlen(r->id),
                          .instance = r->instance,
                          .max_wait_ms = r->cfg.fetch_wait_ms,
                          .max_bytes = r->cfg.fetch_max_bytes};
    bk_fetch_buf_t b = {0};
    int rc = bk_fetch_request_encode(&b, &req, parts, op->nsent);
    free(parts);
    if (rc == 0)
        rc = bk_http_client_request(r->client, r->f_url, "POST", BK_FETCH_PATH, FETCH_HEADERS,
                                    b.data, b.len, r->cfg.fetch_wait_ms + FETCH_SLACK_MS,
                                    after_fetch, op, &r->f_req);
    if (rc == 0) /* whatever a leader may send for this request (never passes the cap) */
        bk_http_client_set_max_response(r->f_req, bk_repl_answer_cap(req.max_bytes, b.len));
    bk_fetch_buf_free(&b);
    return rc;
}

static void fetch_now(bk_replicator_t *r)
{
    if (!r->following || r->stopping || r->f_req != NULL || r->f_pending > 0 || r->f_timer_armed)
        return;
    op_t *op = bk_repl_op_new(r, OP_FETCH, r->f_term);
    int rc = op ? send_fetch(r, op) : UV_ENOMEM;
    if (rc != 0) {
        bk_trace_warn("replication", "cannot fetch from %s: %s", r->f_url, bk_strerror(rc));
        if (op)
            bk_repl_op_free(op);
        r->f_req = NULL;
        r->f_failed = 1;
        next_round(r);
        return;
    }
    r->f_op = op;
}

void bk_repl_follow(bk_replicator_t *r, const char *url, int64_t epoch)
{
    if (r->following && strcmp(r->f_url, url) == 0 && r->f_epoch == epoch)
        return;
    bk_repl_unfollow(r);
    size_t n = strnlen(url, sizeof r->f_url - 1);
    memcpy(r->f_url, url, n);
    r->f_url[n] = '\0';
    r->following = 1;
    r->f_epoch = epoch;
    r->f_term++;
    r->f_backoff = 0;
    r->f_pending = 0;
    r->f_failed = r->f_soon = 0;
    bk_trace_info("replication", "fetching from the leader at %s (epoch %" PRId64 ")", r->f_url,
                  epoch);
    fetch_now(r);
}

void bk_repl_unfollow(bk_replicator_t *r)
{
    if (!r->following)
        return;
    r->following = 0;
    r->f_term++; /* completions of this loop's fetch and appends change nothing now */
    r->f_pending = 0;
    bk_http_client_req_t *req = r->f_req;
    r->f_req = NULL;
    r->f_op = NULL;
    if (req != NULL)
        bk_http_client_cancel(req); /* its callback frees the op */
    int rc = uv_timer_stop(&r->f_timer);
    if (rc != 0)
        bk_trace_error("replication", "timer: %s", uv_strerror(rc));
    r->f_timer_armed = 0;
}
