/* The election state machine on a fake clock with scripted Redis replies: winning, renewing,
 * losing the key, stepping down exactly at the local deadline when Redis is gone, a paused
 * leader that may not acknowledge, followers learning the leader, epochs that only go up, the
 * margin/drift/interval arithmetic, a READ proving the link before any ACQUIRE or RENEW, and a
 * broker whose replies are lost never retaking (or keeping alive) its own key. */
#include "election/lease.h"

#include "check.h"

#include <stdio.h>

/* lease 1000, renew 300: margin max(100,200)=200, drift 10, window 790, interval 300. */
static void init(bk_lease_t *l)
{
    bk_lease_config_t cfg = {.lease_ms = 1000, .renew_ms = 300, .margin_ms = 0};
    bk_lease_init(l, &cfg, "b1", "http://127.0.0.1:5001");
}

static bk_lease_holder_t holder(const char *id, int64_t epoch, const char *url)
{
    bk_lease_holder_t h = {.present = 1, .epoch = epoch, .ttl_ms = -1};
    snprintf(h.id, sizeof h.id, "%s", id);
    snprintf(h.url, sizeof h.url, "%s", url);
    return h;
}

static const bk_lease_holder_t nobody = {0};

static bk_lease_cmd_t next_at(bk_lease_t *l, uint64_t now, uint64_t *wake)
{
    bk_lease_tick(l, now);
    return bk_lease_next(l, now, wake);
}

/* Redis up at t: the first command is a READ, answered at once with a free key. */
static void come_up(bk_lease_t *l, uint64_t t)
{
    uint64_t wake;
    bk_lease_redis(l, t, 1);
    CHECK_EQ_INT(next_at(l, t, &wake), BK_LEASE_CMD_READ);
    bk_lease_read(l, t, &nobody, 0);
}

/* Redis up at t, ACQUIRE sent at t and won with `epoch`, reply at t+5. */
static void become_leader(bk_lease_t *l, uint64_t t, int64_t epoch)
{
    uint64_t wake;
    come_up(l, t);
    CHECK_EQ_INT(next_at(l, t, &wake), BK_LEASE_CMD_ACQUIRE);
    bk_lease_holder_t me = holder("b1", epoch, "http://127.0.0.1:5001");
    bk_lease_acquired(l, t + 5, t, 1, &me, epoch);
}

static void test_arithmetic(void)
{
    CHECK_EQ_INT(bk_lease_default_margin(10000), 1000);
    CHECK_EQ_INT(bk_lease_default_margin(1000), 200);
    CHECK_EQ_INT(bk_lease_default_margin(400), 100); /* capped at lease/4 */
    CHECK_EQ_INT(bk_lease_default_margin(100000), 10000);

    bk_lease_t l;
    bk_lease_config_t seed = {.lease_ms = 10000, .renew_ms = 5000};
    bk_lease_init(&l, &seed, "a", "");
    CHECK_EQ_INT(l.margin_ms, 1000);
    CHECK_EQ_INT(l.window_ms, 10000 - 100 - 1000);
    CHECK_EQ_INT(l.interval_ms, 5000); /* renew < window: kept */

    bk_lease_config_t slow = {.lease_ms = 3000, .renew_ms = 3000};
    bk_lease_init(&l, &slow, "a", "");
    CHECK_EQ_INT(l.margin_ms, 300);
    CHECK_EQ_INT(l.window_ms, 3000 - 30 - 300);
    CHECK_EQ_INT(l.interval_ms, 1000); /* renew >= window: lease/3 */

    bk_lease_config_t big_margin = {.lease_ms = 1000, .renew_ms = 100, .margin_ms = 5000};
    bk_lease_init(&l, &big_margin, "a", "");
    CHECK_EQ_INT(l.margin_ms, 500); /* clamped to lease/2 */
    CHECK_EQ_INT(l.window_ms, 1000 - 10 - 500);

    init(&l);
    CHECK_EQ_INT(l.window_ms, 790);
    CHECK_EQ_INT(l.interval_ms, 300);
    CHECK_EQ_INT(l.retry_ms, 75);
}

static void test_starts_with_nothing_to_do(void)
{
    bk_lease_t l;
    uint64_t wake;
    init(&l);
    CHECK_EQ_INT(l.role, BK_ROLE_NONE);
    CHECK_EQ_INT(next_at(&l, 0, &wake), BK_LEASE_CMD_NONE); /* Redis not up yet */
    CHECK(wake == BK_LEASE_NEVER);
    int64_t epoch = -1;
    CHECK_EQ_INT(bk_lease_can_ack(&l, 0, &epoch), 0);
    CHECK_EQ_INT(epoch, 0);
}

static void test_acquire_won_makes_leader(void)
{
    bk_lease_t l;
    uint64_t wake;
    init(&l);
    become_leader(&l, 1000, 7);
    CHECK_EQ_INT(l.role, BK_ROLE_LEADER);
    CHECK_EQ_INT(l.leader.epoch, 7);
    CHECK_EQ_STR(l.leader.id, "b1");
    CHECK_EQ_STR(l.leader.url, "http://127.0.0.1:5001");
    int64_t epoch = 0;
    CHECK_EQ_INT(bk_lease_can_ack(&l, 1005, &epoch), 1);
    CHECK_EQ_INT(epoch, 7);
    CHECK_EQ_INT(bk_lease_can_ack(&l, 1789, NULL), 1); /* deadline = sent 1000 + 790 */
    CHECK_EQ_INT(bk_lease_can_ack(&l, 1790, NULL), 0);
    CHECK_EQ_INT(next_at(&l, 1100, &wake), BK_LEASE_CMD_NONE);
    CHECK_EQ_INT(wake, 1300); /* renew due at sent + interval */
}

static void test_renew_extends(void)
{
    bk_lease_t l;
    uint64_t wake;
    init(&l);
    become_leader(&l, 0, 1);
    CHECK_EQ_INT(next_at(&l, 299, &wake), BK_LEASE_CMD_NONE);
    CHECK_EQ_INT(next_at(&l, 300, &wake), BK_LEASE_CMD_RENEW);
    CHECK_EQ_INT(wake, 790); /* in flight: only the deadline can wake us */
    CHECK_EQ_INT(next_at(&l, 301, &wake), BK_LEASE_CMD_NONE); /* one at a time */
    bk_lease_renewed(&l, 320, 300, 1);
    CHECK_EQ_INT(l.role, BK_ROLE_LEADER);
    CHECK_EQ_INT(l.deadline, 300 + 790);
    CHECK_EQ_INT(bk_lease_can_ack(&l, 1089, NULL), 1);
    CHECK_EQ_INT(bk_lease_can_ack(&l, 1090, NULL), 0);
    CHECK_EQ_INT(next_at(&l, 320, &wake), BK_LEASE_CMD_NONE);
    CHECK_EQ_INT(wake, 600);
    /* Many healthy renews keep it leader indefinitely. */
    for (uint64_t t = 600; t < 10000; t += 300) {
        CHECK_EQ_INT(next_at(&l, t, &wake), BK_LEASE_CMD_RENEW);
        bk_lease_renewed(&l, t + 2, t, 1);
    }
    CHECK_EQ_INT(l.role, BK_ROLE_LEADER);
    CHECK_EQ_INT(l.leader.epoch, 1);
}

static void test_renew_lost_steps_down(void)
{
    bk_lease_t l;
    uint64_t wake;
    init(&l);
    become_leader(&l, 0, 4);
    CHECK_EQ_INT(next_at(&l, 300, &wake), BK_LEASE_CMD_RENEW);
    bk_lease_renewed(&l, 302, 300, 0); /* key no longer ours */
    CHECK_EQ_INT(l.role, BK_ROLE_NONE);
    CHECK_EQ_INT(bk_lease_can_ack(&l, 302, NULL), 0);
    CHECK_EQ_INT(next_at(&l, 302, &wake), BK_LEASE_CMD_ACQUIRE); /* at once */
    bk_lease_holder_t other = holder("b2", 5, "http://127.0.0.1:5002");
    bk_lease_acquired(&l, 304, 302, 0, &other, 5);
    CHECK_EQ_INT(l.role, BK_ROLE_FOLLOWER);
    CHECK_EQ_STR(l.leader.id, "b2");
    CHECK_EQ_STR(l.leader.url, "http://127.0.0.1:5002");
    CHECK_EQ_INT(l.leader.epoch, 5);
    CHECK_EQ_INT(bk_lease_can_ack(&l, 304, NULL), 0);
}

static void test_redis_down_steps_down_at_deadline(void)
{
    bk_lease_t l;
    uint64_t wake;
    init(&l);
    become_leader(&l, 0, 2);
    CHECK_EQ_INT(next_at(&l, 300, &wake), BK_LEASE_CMD_RENEW);
    bk_lease_renewed(&l, 301, 300, 1); /* deadline 1090 */
    CHECK_EQ_INT(next_at(&l, 600, &wake), BK_LEASE_CMD_RENEW);
    bk_lease_failed(&l, 650, BK_LEASE_CMD_RENEW); /* connection dropped */
    bk_lease_redis(&l, 650, 0);
    CHECK_EQ_INT(l.role, BK_ROLE_LEADER); /* not before the deadline */
    CHECK_EQ_INT(next_at(&l, 650, &wake), BK_LEASE_CMD_NONE);
    CHECK_EQ_INT(wake, 1090); /* the shell wakes exactly at the deadline */
    bk_lease_tick(&l, 1089);
    CHECK_EQ_INT(l.role, BK_ROLE_LEADER);
    CHECK_EQ_INT(bk_lease_can_ack(&l, 1089, NULL), 1);
    bk_lease_tick(&l, 1090);
    CHECK_EQ_INT(l.role, BK_ROLE_NONE); /* not after */
    CHECK_EQ_INT(bk_lease_can_ack(&l, 1090, NULL), 0);
    CHECK_EQ_INT(next_at(&l, 1090, &wake), BK_LEASE_CMD_NONE); /* Redis still down */
    CHECK(wake == BK_LEASE_NEVER);
    /* A late reply of the dead connection changes nothing. */
    bk_lease_renewed(&l, 1100, 600, 1);
    CHECK_EQ_INT(l.role, BK_ROLE_NONE);
    /* Redis back: a READ, then acquire at once, and the new term is above the old epoch. */
    come_up(&l, 2000);
    CHECK_EQ_INT(next_at(&l, 2000, &wake), BK_LEASE_CMD_ACQUIRE);
    CHECK(bk_lease_seen_epoch(&l) >= 2);
}

static void test_failed_renew_retried_before_deadline(void)
{
    bk_lease_t l;
    uint64_t wake;
    init(&l);
    become_leader(&l, 0, 3);
    CHECK_EQ_INT(next_at(&l, 300, &wake), BK_LEASE_CMD_RENEW);
    bk_lease_failed(&l, 310, BK_LEASE_CMD_RENEW); /* e.g. Redis answered an error */
    CHECK_EQ_INT(l.role, BK_ROLE_LEADER);
    CHECK_EQ_INT(next_at(&l, 310, &wake), BK_LEASE_CMD_NONE);
    CHECK_EQ_INT(wake, 310 + 75);
    CHECK_EQ_INT(next_at(&l, 385, &wake), BK_LEASE_CMD_READ); /* the link first */
    bk_lease_holder_t me = holder("b1", 3, "http://127.0.0.1:5001");
    bk_lease_read(&l, 387, &me, 3); /* still ours: a read extends nothing */
    CHECK_EQ_INT(l.role, BK_ROLE_LEADER);
    CHECK_EQ_INT(l.deadline, 790);
    CHECK_EQ_INT(next_at(&l, 387, &wake), BK_LEASE_CMD_RENEW);
    bk_lease_renewed(&l, 390, 387, 1);
    CHECK_EQ_INT(l.deadline, 387 + 790);
}

static void test_paused_leader_cannot_ack(void)
{
    bk_lease_t l;
    init(&l);
    become_leader(&l, 0, 9);
    /* The process was stopped for 5 s: no tick has run, the role still says LEADER, but the
     * fresh clock reading is past the deadline. */
    CHECK_EQ_INT(l.role, BK_ROLE_LEADER);
    int64_t epoch = 0;
    CHECK_EQ_INT(bk_lease_can_ack(&l, 5000, &epoch), 0);
    CHECK_EQ_INT(epoch, 9);
    bk_lease_tick(&l, 5000);
    CHECK_EQ_INT(l.role, BK_ROLE_NONE);
}

static void test_slow_won_reply_wins_nothing(void)
{
    bk_lease_t l;
    uint64_t wake;
    init(&l);
    come_up(&l, 0);
    CHECK_EQ_INT(next_at(&l, 0, &wake), BK_LEASE_CMD_ACQUIRE);
    bk_lease_holder_t me = holder("b1", 3, "http://127.0.0.1:5001");
    bk_lease_acquired(&l, 800, 0, 1, &me, 3); /* reply after the window */
    CHECK_EQ_INT(l.role, BK_ROLE_NONE);
    CHECK_EQ_INT(bk_lease_can_ack(&l, 800, NULL), 0);
}

static void test_follower_learns_from_read(void)
{
    bk_lease_t l;
    uint64_t wake;
    init(&l);
    come_up(&l, 0);
    CHECK_EQ_INT(next_at(&l, 0, &wake), BK_LEASE_CMD_ACQUIRE);
    bk_lease_holder_t b2 = holder("b2", 3, "http://127.0.0.1:5002");
    bk_lease_acquired(&l, 2, 0, 0, &b2, 3);
    CHECK_EQ_INT(l.role, BK_ROLE_FOLLOWER);
    CHECK_EQ_INT(next_at(&l, 2, &wake), BK_LEASE_CMD_NONE);
    CHECK_EQ_INT(wake, 300); /* followers poll every interval */

    bk_lease_refresh(&l); /* told the leader is gone: read now */
    CHECK_EQ_INT(next_at(&l, 10, &wake), BK_LEASE_CMD_READ);
    bk_lease_refresh(&l); /* coalesced with the read in flight */
    bk_lease_holder_t b3 = holder("b3", 6, "http://127.0.0.1:5003");
    bk_lease_read(&l, 12, &b3, 6);
    CHECK_EQ_INT(l.role, BK_ROLE_FOLLOWER);
    CHECK_EQ_STR(l.leader.id, "b3");
    CHECK_EQ_STR(l.leader.url, "http://127.0.0.1:5003");
    CHECK_EQ_INT(l.leader.epoch, 6);
    CHECK_EQ_INT(next_at(&l, 12, &wake), BK_LEASE_CMD_NONE); /* refresh was coalesced */
    CHECK_EQ_INT(wake, 300);

    bk_lease_refresh(&l);
    CHECK_EQ_INT(next_at(&l, 20, &wake), BK_LEASE_CMD_READ);
    bk_lease_read(&l, 22, &nobody, 6); /* key free: no leader, acquire at once */
    CHECK_EQ_INT(l.role, BK_ROLE_NONE);
    CHECK_EQ_STR(l.leader.id, "");
    CHECK_EQ_INT(next_at(&l, 22, &wake), BK_LEASE_CMD_ACQUIRE);

    /* A follower that loses Redis forgets the leader. */
    bk_lease_acquired(&l, 24, 22, 0, &b3, 6);
    CHECK_EQ_INT(l.role, BK_ROLE_FOLLOWER);
    bk_lease_redis(&l, 30, 0);
    CHECK_EQ_INT(l.role, BK_ROLE_NONE);
    CHECK_EQ_STR(l.leader.id, "");
}

static void test_epochs_strictly_increase(void)
{
    bk_lease_t l;
    uint64_t wake;
    init(&l);
    int64_t last = 0;
    uint64_t t = 0;
    come_up(&l, t);
    for (int term = 0; term < 5; term++) {
        CHECK_EQ_INT(next_at(&l, t, &wake), BK_LEASE_CMD_ACQUIRE);
        /* What the script computes: max(INCR of a counter Redis lost, seen + 1). */
        int64_t seen = bk_lease_seen_epoch(&l);
        CHECK(seen >= last);
        int64_t epoch = seen + 1;
        bk_lease_holder_t me = holder("b1", epoch, "");
        bk_lease_acquired(&l, t + 1, t, 1, &me, epoch);
        CHECK_EQ_INT(l.role, BK_ROLE_LEADER);
        CHECK(l.leader.epoch > last);
        last = l.leader.epoch;
        /* Term ends: Redis flushed, the renew finds the key gone. */
        t += 300;
        CHECK_EQ_INT(next_at(&l, t, &wake), BK_LEASE_CMD_RENEW);
        bk_lease_renewed(&l, t + 1, t, 0);
        CHECK_EQ_INT(l.role, BK_ROLE_NONE);
        t += 1;
    }
    CHECK_EQ_INT(last, 5);
    /* A read showing a higher counter raises what the next acquire asks for. */
    bk_lease_holder_t b2 = holder("b2", 40, "");
    CHECK_EQ_INT(next_at(&l, t, &wake), BK_LEASE_CMD_ACQUIRE);
    bk_lease_acquired(&l, t + 1, t, 0, &b2, 41);
    CHECK_EQ_INT(bk_lease_seen_epoch(&l), 41);
}

static void test_stale_replies_ignored(void)
{
    bk_lease_t l;
    uint64_t wake;
    init(&l);
    become_leader(&l, 0, 5);
    bk_lease_refresh(&l); /* leaders learn from renews, not reads */
    CHECK_EQ_INT(l.want_read, 0);
    /* An acquire reply when no acquire is in flight changes nothing. */
    bk_lease_holder_t b3 = holder("b3", 7, "");
    bk_lease_acquired(&l, 10, 5, 0, &b3, 7);
    CHECK_EQ_INT(l.role, BK_ROLE_LEADER);
    CHECK_EQ_INT(next_at(&l, 300, &wake), BK_LEASE_CMD_RENEW);
    bk_lease_renewed(&l, 301, 300, 1);
    CHECK_EQ_INT(l.role, BK_ROLE_LEADER);
    /* A stale read reply (nothing in flight) is ignored. */
    bk_lease_holder_t b2 = holder("b2", 9, "");
    bk_lease_read(&l, 302, &b2, 9);
    CHECK_EQ_INT(l.role, BK_ROLE_LEADER);
    CHECK_EQ_INT(bk_lease_seen_epoch(&l), 5);
}

static void test_stop(void)
{
    bk_lease_t l;
    uint64_t wake;
    init(&l);
    become_leader(&l, 0, 5);
    bk_lease_stop(&l);
    CHECK_EQ_INT(l.role, BK_ROLE_NONE);
    CHECK_EQ_INT(bk_lease_can_ack(&l, 1, NULL), 0);
    CHECK_EQ_INT(next_at(&l, 1000, &wake), BK_LEASE_CMD_NONE);
}

/* Replies from Redis stop reaching a leader (commands still run there). It steps down at its
 * deadline, sends only READs while nothing comes back, and, once a READ shows its own live
 * key, neither retakes it (no new epoch) nor extends it: it waits for the key to expire plus
 * an interval, so another broker can lead first. */
static void test_lost_replies_never_retake_own_key(void)
{
    bk_lease_t l;
    uint64_t wake;
    init(&l);
    become_leader(&l, 0, 4); /* deadline 790 */
    CHECK_EQ_INT(next_at(&l, 300, &wake), BK_LEASE_CMD_RENEW);
    bk_lease_failed(&l, 695, BK_LEASE_CMD_RENEW); /* no reply within the command timeout */
    bk_lease_redis(&l, 695, 0);
    bk_lease_redis(&l, 700, 1); /* reconnected: replies still lost */
    CHECK_EQ_INT(next_at(&l, 700, &wake), BK_LEASE_CMD_READ);
    CHECK_EQ_INT(wake, 790);
    bk_lease_tick(&l, 790);
    CHECK_EQ_INT(l.role, BK_ROLE_NONE);
    for (uint64_t t = 1100; t < 5000; t += 400) {
        bk_lease_failed(&l, t, BK_LEASE_CMD_READ);
        bk_lease_redis(&l, t, 0);
        bk_lease_redis(&l, t + 5, 1);
        CHECK_EQ_INT(next_at(&l, t + 5, &wake), BK_LEASE_CMD_READ); /* never ACQUIRE */
    }
    /* A reply gets through: the key is still ours (say a stray renew kept it). */
    bk_lease_holder_t me = holder("b1", 4, "http://127.0.0.1:5001");
    me.ttl_ms = 400;
    bk_lease_read(&l, 5000, &me, 4);
    CHECK_EQ_INT(l.role, BK_ROLE_NONE);
    CHECK_EQ_INT(next_at(&l, 5000, &wake), BK_LEASE_CMD_ACQUIRE);
    bk_lease_acquired(&l, 5002, 5000, 0, &me, 4); /* the script would not retake it */
    CHECK_EQ_INT(l.role, BK_ROLE_NONE);           /* not a follower of itself, not a leader */
    CHECK_EQ_STR(l.leader.id, "");
    CHECK_EQ_INT(bk_lease_can_ack(&l, 5002, NULL), 0);
    CHECK_EQ_INT(next_at(&l, 5002, &wake), BK_LEASE_CMD_NONE);
    CHECK_EQ_INT(wake, 5002 + 400 + 300); /* after the key expired, plus an interval */
    CHECK_EQ_INT(next_at(&l, 5702, &wake), BK_LEASE_CMD_ACQUIRE);
}

/* A follower that sees the leader's key about to expire asks again right after it does,
 * not a whole interval later. */
static void test_follower_polls_at_expiry(void)
{
    bk_lease_t l;
    uint64_t wake;
    init(&l);
    come_up(&l, 0);
    CHECK_EQ_INT(next_at(&l, 0, &wake), BK_LEASE_CMD_ACQUIRE);
    bk_lease_holder_t b2 = holder("b2", 3, "http://127.0.0.1:5002");
    b2.ttl_ms = 900;
    bk_lease_acquired(&l, 2, 0, 0, &b2, 3);
    CHECK_EQ_INT(next_at(&l, 2, &wake), BK_LEASE_CMD_NONE);
    CHECK_EQ_INT(wake, 300); /* a healthy lease: the usual interval */
    CHECK_EQ_INT(next_at(&l, 300, &wake), BK_LEASE_CMD_ACQUIRE);
    b2.ttl_ms = 40; /* no renew for a while: about to expire */
    bk_lease_acquired(&l, 302, 300, 0, &b2, 3);
    CHECK_EQ_INT(next_at(&l, 302, &wake), BK_LEASE_CMD_NONE);
    CHECK_EQ_INT(wake, 302 + 40 + 1);
}

/* After Redis comes up, or a command fails, a READ must come back before any ACQUIRE. */
static void test_read_proves_the_link(void)
{
    bk_lease_t l;
    uint64_t wake;
    init(&l);
    bk_lease_redis(&l, 0, 1);
    CHECK_EQ_INT(next_at(&l, 0, &wake), BK_LEASE_CMD_READ);
    bk_lease_failed(&l, 445, BK_LEASE_CMD_READ); /* an error reply, connection kept */
    CHECK_EQ_INT(next_at(&l, 445, &wake), BK_LEASE_CMD_NONE);
    CHECK_EQ_INT(wake, 445 + 75); /* retried after interval/4, still a READ */
    CHECK_EQ_INT(next_at(&l, 520, &wake), BK_LEASE_CMD_READ);
    bk_lease_read(&l, 522, &nobody, 0);
    CHECK_EQ_INT(next_at(&l, 522, &wake), BK_LEASE_CMD_ACQUIRE);
}

CHECK_MAIN(CASE(test_arithmetic), CASE(test_starts_with_nothing_to_do),
           CASE(test_acquire_won_makes_leader), CASE(test_renew_extends),
           CASE(test_renew_lost_steps_down), CASE(test_redis_down_steps_down_at_deadline),
           CASE(test_failed_renew_retried_before_deadline), CASE(test_paused_leader_cannot_ack),
           CASE(test_slow_won_reply_wins_nothing), CASE(test_follower_learns_from_read),
           CASE(test_epochs_strictly_increase), CASE(test_stale_replies_ignored), CASE(test_stop),
           CASE(test_lost_replies_never_retake_own_key), CASE(test_follower_polls_at_expiry),
           CASE(test_read_proves_the_link))
