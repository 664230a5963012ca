/* The election state machine (rules in lease.h). Every input is a function call carrying the
 * caller's clock; every output is a field or a return value. It must never read a clock, do
 * I/O or allocate, so that every decision can be replayed in a test with a fake clock. */
#include "election/lease.h"

#include <stdio.h>
#include <string.h>

uint32_t bk_lease_default_margin(uint32_t lease_ms)
{
    uint32_t m = lease_ms / 10 > 200 ? lease_ms / 10 : 200;
    return m > lease_ms / 4 ? lease_ms / 4 : m;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

void bk_lease_init(bk_lease_t *l, const bk_lease_config_t *cfg, const char *self_id,
                   const char *self_url)
{
    memset(l, 0, sizeof *l);
    uint32_t lease = cfg->lease_ms > 0 ? cfg->lease_ms : 1;
    uint32_t margin = cfg->margin_ms ? cfg->margin_ms : bk_lease_default_margin(lease);
    if (margin > lease / 2)
        margin = lease / 2;
    uint32_t drift = (uint32_t)((uint64_t)lease * BK_LEASE_DRIFT_PERMILLE / 1000u);
    uint32_t window = lease > drift + margin ? lease - drift - margin : 1;
    uint32_t interval = cfg->renew_ms > 0 ? cfg->renew_ms : lease / 3;
    if (interval >= window && lease / 3 < interval)
        interval = lease / 3;
    l->lease_ms = lease;
    l->margin_ms = margin;
    l->window_ms = window;
    l->interval_ms = interval > 0 ? interval : 1;
    l->retry_ms = l->interval_ms / 4 > 10 ? l->interval_ms / 4 : 10;
    copy_str(l->self_id, sizeof l->self_id, self_id);
    copy_str(l->self_url, sizeof l->self_url, self_url);
    l->role = BK_ROLE_NONE;
    l->in_flight = BK_LEASE_CMD_NONE;
    l->next_at = 0;
}

static void see_epoch(bk_lease_t *l, int64_t epoch)
{
    if (epoch > l->max_seen_epoch)
        l->max_seen_epoch = epoch;
}

static void forget_leader(bk_lease_t *l)
{
    l->role = BK_ROLE_NONE;
    memset(&l->leader, 0, sizeof l->leader);
    l->deadline = 0;
}

static void follow(bk_lease_t *l, const bk_lease_holder_t *h)
{
    forget_leader(l);
    l->role = BK_ROLE_FOLLOWER;
    l->leader = *h;
    l->leader.present = 1;
}

/* The same rule as the ACQUIRE script: our id and our url (a different url is another broker
 * misconfigured with our id). */
static int is_self(const bk_lease_t *l, const bk_lease_holder_t *h)
{
    return h->present && strcmp(h->id, l->self_id) == 0 && strcmp(h->url, l->self_url) == 0;
}

/* A command completed (either way): nothing is in flight any more. Returns 0 for a stale one. */
static int settle(bk_lease_t *l, bk_lease_cmd_t cmd, int replied)
{
    if (l->stopped || l->in_flight != cmd)
        return 0;
    l->in_flight = BK_LEASE_CMD_NONE;
    l->link_ok = replied;
    return 1;
}

/* A live key that is not ours: poll again at the next interval, or right after it expires. */
static void poll_after(bk_lease_t *l, uint64_t now, uint64_t sent_at, const bk_lease_holder_t *h)
{
    l->next_at = sent_at + l->interval_ms;
    if (h->present && h->ttl_ms >= 0 && now + (uint64_t)h->ttl_ms + 1 < l->next_at)
        l->next_at = now + (uint64_t)h->ttl_ms + 1;
}

void bk_lease_redis(bk_lease_t *l, uint64_t now, int up)
{
    l->redis_up = up ? 1 : 0;
    l->link_ok = 0; /* a new connection proves itself with a READ first */
    l->in_flight = BK_LEASE_CMD_NONE;
    l->want_read = 0;
    l->next_at = now;
    if (!up && l->role == BK_ROLE_FOLLOWER)
        forget_leader(l);
}

void bk_lease_tick(bk_lease_t *l, uint64_t now)
{
    if (l->role == BK_ROLE_LEADER && now >= l->deadline) {
        forget_leader(l);
        l->next_at = now; /* try to start a new term at once */
    }
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

bk_lease_cmd_t bk_lease_next(bk_lease_t *l, uint64_t now, uint64_t *wake_at)
{
    uint64_t deadline = l->role == BK_ROLE_LEADER ? l->deadline : BK_LEASE_NEVER;
    *wake_at = deadline;
    if (l->stopped || !l->redis_up || l->in_flight != BK_LEASE_CMD_NONE)
        return BK_LEASE_CMD_NONE;
    bk_lease_cmd_t cmd;
    int asked = l->role != BK_ROLE_LEADER && l->want_read; /* a refresh: not delayed */
    if (asked || !l->link_ok)
        cmd = BK_LEASE_CMD_READ; /* a READ proves the link before we take or extend the key */
    else if (l->role == BK_ROLE_LEADER)
        cmd = BK_LEASE_CMD_RENEW;
    else
        cmd = BK_LEASE_CMD_ACQUIRE;
    if (!asked && now < l->next_at) {
        *wake_at = min_u64(l->next_at, deadline);
        return BK_LEASE_CMD_NONE;
    }
    if (cmd == BK_LEASE_CMD_READ)
        l->want_read = 0;
    l->in_flight = cmd;
    return cmd;
}

void bk_lease_acquired(bk_lease_t *l, uint64_t now, uint64_t sent_at, int won,
                       const bk_lease_holder_t *holder, int64_t counter)
{
    if (!settle(l, BK_LEASE_CMD_ACQUIRE, 1))
        return;
    see_epoch(l, counter);
    see_epoch(l, holder->epoch);
    poll_after(l, now, sent_at, holder);
    if (!won && is_self(l, holder)) {
        /* A live key this process set but cannot confirm holding (a reply lost or late): it
         * is left to expire, and others get an interval to take it before we try again. */
        forget_leader(l);
        uint64_t ttl = holder->ttl_ms >= 0 ? (uint64_t)holder->ttl_ms : l->lease_ms;
        l->next_at = now + ttl + l->interval_ms;
    } else if (won) {
        forget_leader(l);
        l->role = BK_ROLE_LEADER;
        l->leader.present = 1;
        l->leader.epoch = holder->epoch;
        copy_str(l->leader.id, sizeof l->leader.id, l->self_id);
        copy_str(l->leader.url, sizeof l->leader.url, l->self_url);
        l->deadline = sent_at + l->window_ms;
        bk_lease_tick(l, now); /* a reply slower than the window wins nothing */
    } else if (holder->present) {
        follow(l, holder);
    } else {
        forget_leader(l);
    }
}

void bk_lease_renewed(bk_lease_t *l, uint64_t now, uint64_t sent_at, int ok)
{
    if (!settle(l, BK_LEASE_CMD_RENEW, 1))
        return;
    if (l->role != BK_ROLE_LEADER)
        return; /* stepped down while it was in flight: that term is over */
    if (!ok) {
        forget_leader(l); /* the key is no longer ours: expired, flushed or taken */
        l->next_at = now;
        return;
    }
    if (sent_at + l->window_ms > l->deadline)
        l->deadline = sent_at + l->window_ms;
    l->next_at = sent_at + l->interval_ms;
    bk_lease_tick(l, now);
}

void bk_lease_read(bk_lease_t *l, uint64_t now, const bk_lease_holder_t *holder, int64_t counter)
{
    if (!settle(l, BK_LEASE_CMD_READ, 1))
        return;
    see_epoch(l, counter);
    see_epoch(l, holder->epoch);
    if (l->role == BK_ROLE_LEADER) {
        if (is_self(l, holder) && holder->epoch == l->leader.epoch)
            return; /* still ours; a read extends nothing */
        if (holder->present)
            follow(l, holder);
        else
            forget_leader(l);
        l->next_at = now;
        return;
    }
    if (!holder->present || is_self(l, holder)) {
        forget_leader(l); /* free, or a key under our id: ACQUIRE now says which */
        l->next_at = now;
        return;
    }
    follow(l, holder);
    if (holder->ttl_ms >= 0 && now + (uint64_t)holder->ttl_ms + 1 < l->next_at)
        l->next_at = now + (uint64_t)holder->ttl_ms + 1;
}

void bk_lease_failed(bk_lease_t *l, uint64_t now, bk_lease_cmd_t cmd)
{
    if (!settle(l, cmd, 0))
        return;
    l->next_at = now + l->retry_ms;
}

void bk_lease_refresh(bk_lease_t *l)
{
    if (l->role != BK_ROLE_LEADER && l->in_flight == BK_LEASE_CMD_NONE)
        l->want_read = 1;
}

void bk_lease_stop(bk_lease_t *l)
{
    forget_leader(l);
    l->stopped = 1;
    l->in_flight = BK_LEASE_CMD_NONE;
}

int bk_lease_can_ack(const bk_lease_t *l, uint64_t now, int64_t *epoch)
{
    if (epoch != NULL)
        *epoch = l->leader.present ? l->leader.epoch : 0;
    return l->role == BK_ROLE_LEADER && now < l->deadline;
}

int64_t bk_lease_seen_epoch(const bk_lease_t *l)
{
    return l->max_seen_epoch;
}
