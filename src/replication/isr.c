/* Leader-side ISR and high-watermark bookkeeping for one partition: which followers are in
 * sync, and up to which offset every replica that could become leader holds the log. Pure
 * state over inputs and a clock passed in; it must never do I/O, read a clock, or let the
 * HW count on a replica's absence before Redis has stopped listing it (see the header).
 *
 * Membership is kept as bit masks over the stable replica indexes. For every replica:
 *   pending = desired membership (leader always; a follower from its caught-up fetch until
 *             replica_lag_ms pass without another one);
 *   in_sync = pending | published | inflight: what the HW is the minimum over. */
#include <string.h>

#include "brook/common.h"
#include "brook/replication.h"

static uint32_t bit(int i)
{
    return (uint32_t)1 << i;
}

static uint32_t pending_mask(const bk_isr_t *s)
{
    uint32_t m = 0;
    for (int i = 0; i < s->count; i++)
        if (s->replicas[i].pending)
            m |= bit(i);
    return m;
}

/* Re-derives in_sync from the masks, then moves the HW up to the minimum position over the
 * in-sync replicas (never down; not at all before the first confirmed publication). */
static int refresh(bk_isr_t *s)
{
    uint32_t counted = pending_mask(s) | s->published | s->inflight;
    int64_t min = INT64_MAX;
    for (int i = 0; i < s->count; i++) {
        bk_isr_replica_t *r = &s->replicas[i];
        r->in_sync = (counted & bit(i)) != 0;
        if (r->in_sync && r->fetch_offset < min)
            min = r->fetch_offset;
    }
    if (!s->published_once || min <= s->high_watermark)
        return 0;
    s->high_watermark = min;
    return BK_ISR_HW_MOVED;
}

static void fold_leader_end(bk_isr_t *s, int64_t leader_end, uint64_t now_ms)
{
    bk_isr_replica_t *l = &s->replicas[0];
    if (leader_end > l->fetch_offset)
        l->fetch_offset = leader_end;
    l->caught_up_ms = now_ms;
    l->last_fetch_ms = now_ms;
}

void bk_isr_init(bk_isr_t *s, const char *leader_id, int64_t leader_hw, uint32_t replica_lag_ms)
{
    memset(s, 0, sizeof *s);
    bk_isr_replica_t *l = &s->replicas[0];
    size_t n = strnlen(leader_id, sizeof l->id - 1);
    memcpy(l->id, leader_id, n);
    l->fetch_offset = leader_hw;
    l->pending = 1;
    l->in_sync = 1;
    s->count = 1;
    s->high_watermark = leader_hw;
    s->replica_lag_ms = replica_lag_ms;
}

int bk_isr_find(const bk_isr_t *s, const char *id)
{
    for (int i = 0; i < s->count; i++)
        if (strcmp(s->replicas[i].id, id) == 0)
            return i;
    return -1;
}

int bk_isr_add_follower(bk_isr_t *s, const char *id)
{
    size_t n = strnlen(id, sizeof s->replicas[0].id);
    if (n == 0 || n >= sizeof s->replicas[0].id)
        return BK_EINVAL;
    int i = bk_isr_find(s, id);
    if (i == 0)
        return BK_EINVAL;
    if (i > 0)
        return i;
    if (s->count >= BK_ISR_MAX_REPLICAS)
        return BK_ETOOBIG;
    i = s->count++;
    bk_isr_replica_t *r = &s->replicas[i];
    memset(r, 0, sizeof *r);
    memcpy(r->id, id, n + 1);
    r->fetch_offset = -1;        /* holds nothing we know of yet */
    r->end_at_fetch = INT64_MAX; /* no previous fetch to have caught up with */
    return i;
}

int bk_isr_carry(bk_isr_t *s, const char *id, uint64_t now_ms)
{
    if (bk_isr_find(s, id) >= 0)
        return BK_EINVAL;
    int i = bk_isr_add_follower(s, id);
    if (i < 0)
        return i;
    bk_isr_replica_t *r = &s->replicas[i];
    r->fetch_offset = s->high_watermark;
    r->caught_up_ms = now_ms;
    r->pending = 1;
    refresh(s);
    return i;
}

int bk_isr_leader_durable(bk_isr_t *s, int64_t durable_end, uint64_t now_ms)
{
    fold_leader_end(s, durable_end, now_ms);
    return refresh(s);
}

/* Kafka's caught-up rule: the follower holds the leader's whole log as of now, or as of its
 * previous fetch. Moves caught_up_ms accordingly; returns whether either holds. */
static int note_fetch(bk_isr_replica_t *r, int64_t leader_end, uint64_t now_ms)
{
    int now_caught = r->fetch_offset >= leader_end;
    int prev_caught = r->fetch_offset >= r->end_at_fetch;
    if (now_caught)
        r->caught_up_ms = now_ms;
    else if (prev_caught && r->last_fetch_ms > r->caught_up_ms)
        r->caught_up_ms = r->last_fetch_ms;
    r->end_at_fetch = leader_end;
    r->last_fetch_ms = now_ms;
    return now_caught || prev_caught;
}

static int lagging(const bk_isr_t *s, const bk_isr_replica_t *r, uint64_t now_ms)
{
    return now_ms > r->caught_up_ms && now_ms - r->caught_up_ms > s->replica_lag_ms;
}

int bk_isr_on_fetch(bk_isr_t *s, const char *id, int64_t fetch_offset, int64_t leader_end,
                    uint64_t now_ms)
{
    int i = bk_isr_add_follower(s, id);
    if (i < 0)
        return i;
    fold_leader_end(s, leader_end, now_ms);
    bk_isr_replica_t *r = &s->replicas[i];
    r->fetch_offset = fetch_offset;
    int caught = note_fetch(r, s->replicas[0].fetch_offset, now_ms);
    int want = r->pending;
    if (fetch_offset < s->high_watermark)
        want = 0;
    else if (caught && !lagging(s, r, now_ms))
        want = 1;
    int bits = want != r->pending ? BK_ISR_CHANGED : 0;
    r->pending = want;
    return bits | refresh(s);
}

int bk_isr_tick(bk_isr_t *s, int64_t leader_end, uint64_t now_ms)
{
    fold_leader_end(s, leader_end, now_ms);
    int bits = 0;
    for (int i = 1; i < s->count; i++) {
        bk_isr_replica_t *r = &s->replicas[i];
        if (r->pending && lagging(s, r, now_ms)) {
            r->pending = 0;
            bits |= BK_ISR_CHANGED;
        }
    }
    return bits | refresh(s);
}

uint32_t bk_isr_desired(const bk_isr_t *s)
{
    return pending_mask(s) | bit(0);
}

uint32_t bk_isr_publish_begin(bk_isr_t *s)
{
    uint32_t m = bk_isr_desired(s);
    s->inflight |= m;
    s->inflight_n++;
    return m;
}

int bk_isr_publish_done(bk_isr_t *s, uint32_t mask, int ok)
{
    /* Redis applies publications in the order begun, so after a confirmed one it holds
     * exactly that mask until a later one lands; a failed one may or may not have landed. */
    s->published = ok ? mask : s->published | mask;
    if (ok)
        s->published_once = 1;
    if (s->inflight_n > 0 && --s->inflight_n == 0)
        s->inflight = 0;
    return refresh(s);
}

int bk_isr_commit_membership(bk_isr_t *s)
{
    return bk_isr_publish_done(s, bk_isr_publish_begin(s), 1);
}

int bk_isr_size(const bk_isr_t *s)
{
    int n = 0;
    for (int i = 0; i < s->count; i++)
        n += s->replicas[i].in_sync != 0;
    return n;
}
