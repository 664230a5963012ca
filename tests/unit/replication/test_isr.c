/* Unit tests of the leader's ISR / high-watermark bookkeeping, on a fake clock: membership
 * from fetches and lag, a HW that is the minimum over the ISR and never moves backwards, and
 * a shrinking ISR that lets the HW advance only after its publication is confirmed. */
#include <string.h>

#include "brook/common.h"
#include "brook/replication.h"
#include "check.h"

#define LAG 1000

/* Leader "L" at HW 0 with its first (one-member) ISR already published. */
static void start(bk_isr_t *s, int64_t leader_end)
{
    bk_isr_init(s, "L", 0, LAG);
    bk_isr_commit_membership(s);
    bk_isr_leader_durable(s, leader_end, 0);
}

/* Follower id fetches until it is in the published ISR at the leader's end. */
static void join(bk_isr_t *s, const char *id, int64_t end, uint64_t now)
{
    int bits = bk_isr_on_fetch(s, id, end, end, now);
    CHECK(bits >= 0 && (bits & BK_ISR_CHANGED));
    bk_isr_commit_membership(s);
}

static void test_leader_alone(void)
{
    bk_isr_t s;
    bk_isr_init(&s, "L", 5, LAG);
    CHECK_EQ_INT(s.high_watermark, 5);
    CHECK_EQ_INT(bk_isr_size(&s), 1);
    CHECK_EQ_INT(bk_isr_desired(&s), 1);
    bk_isr_commit_membership(&s);
    CHECK_EQ_INT(bk_isr_leader_durable(&s, 42, 10), BK_ISR_HW_MOVED);
    CHECK_EQ_INT(s.high_watermark, 42);
    CHECK_EQ_INT(bk_isr_leader_durable(&s, 42, 20), 0);
    CHECK_EQ_INT(bk_isr_tick(&s, 50, 5000), BK_ISR_HW_MOVED); /* leader never leaves */
    CHECK_EQ_INT(s.high_watermark, 50);
    CHECK_EQ_INT(bk_isr_size(&s), 1);
}

static void test_hw_frozen_until_first_publication(void)
{
    bk_isr_t s;
    bk_isr_init(&s, "L", 7, LAG);
    CHECK_EQ_INT(bk_isr_leader_durable(&s, 30, 0), 0);
    CHECK_EQ_INT(s.high_watermark, 7); /* Redis may still list last term's followers */
    uint32_t m = bk_isr_publish_begin(&s);
    CHECK_EQ_INT(m, 1);
    CHECK_EQ_INT(bk_isr_publish_done(&s, m, 0), 0); /* failed: still frozen */
    CHECK_EQ_INT(s.high_watermark, 7);
    m = bk_isr_publish_begin(&s);
    CHECK_EQ_INT(bk_isr_publish_done(&s, m, 1), BK_ISR_HW_MOVED);
    CHECK_EQ_INT(s.high_watermark, 30);
}

static void test_hw_is_min_over_isr(void)
{
    bk_isr_t s;
    start(&s, 100);
    join(&s, "F1", 100, 1);
    join(&s, "F2", 100, 1);
    CHECK_EQ_INT(bk_isr_size(&s), 3);
    CHECK_EQ_INT(s.high_watermark, 100);
    CHECK_EQ_INT(bk_isr_leader_durable(&s, 200, 2), 0);
    CHECK_EQ_INT(bk_isr_on_fetch(&s, "F1", 180, 200, 3), 0);
    CHECK_EQ_INT(s.high_watermark, 100); /* F2 still at 100 */
    CHECK_EQ_INT(bk_isr_on_fetch(&s, "F2", 150, 200, 4), BK_ISR_HW_MOVED);
    CHECK_EQ_INT(s.high_watermark, 150);
    CHECK_EQ_INT(bk_isr_on_fetch(&s, "F2", 200, 200, 5), BK_ISR_HW_MOVED);
    CHECK_EQ_INT(s.high_watermark, 180);
    CHECK_EQ_INT(bk_isr_on_fetch(&s, "F1", 200, 200, 6), BK_ISR_HW_MOVED);
    CHECK_EQ_INT(s.high_watermark, 200);
}

static void test_follower_catching_up_joins(void)
{
    bk_isr_t s;
    start(&s, 100);
    int bits = bk_isr_on_fetch(&s, "F", 0, 100, 10);
    CHECK_EQ_INT(bits, 0);
    int f = bk_isr_find(&s, "F");
    CHECK_EQ_INT(f, 1);
    CHECK(!s.replicas[f].in_sync && !s.replicas[f].pending);
    CHECK_EQ_INT(bk_isr_on_fetch(&s, "F", 60, 100, 20), 0);
    CHECK_EQ_INT(bk_isr_size(&s), 1);
    CHECK_EQ_INT(bk_isr_desired(&s), 1);
    /* Reaches the leader's end: joins at once; the HW now waits for it too. */
    bits = bk_isr_on_fetch(&s, "F", 100, 100, 30);
    CHECK_EQ_INT(bits, BK_ISR_CHANGED);
    CHECK(s.replicas[f].in_sync && s.replicas[f].pending);
    CHECK_EQ_INT(bk_isr_desired(&s), 3);
    CHECK_EQ_INT(bk_isr_size(&s), 2);
    CHECK_EQ_INT(s.replicas[f].caught_up_ms, 30);
    bk_isr_leader_durable(&s, 120, 31);
    CHECK_EQ_INT(s.high_watermark, 100); /* F holds only up to 100 */
    CHECK_EQ_INT(bk_isr_commit_membership(&s), 0);
    CHECK_EQ_INT(bk_isr_on_fetch(&s, "F", 120, 120, 40), BK_ISR_HW_MOVED);
    CHECK_EQ_INT(s.high_watermark, 120);
}

static void test_lagging_follower_leaves_after_commit(void)
{
    bk_isr_t s;
    start(&s, 10);
    join(&s, "F", 10, 0);
    CHECK_EQ_INT(bk_isr_leader_durable(&s, 20, 100), 0);
    CHECK_EQ_INT(s.high_watermark, 10);
    CHECK_EQ_INT(bk_isr_tick(&s, 20, LAG), 0); /* exactly the lag: not yet */
    int bits = bk_isr_tick(&s, 20, LAG + 1);
    CHECK_EQ_INT(bits, BK_ISR_CHANGED);
    int f = bk_isr_find(&s, "F");
    CHECK(!s.replicas[f].pending);
    CHECK(s.replicas[f].in_sync); /* Redis still lists it: the HW must wait for it */
    CHECK_EQ_INT(bk_isr_desired(&s), 1);
    CHECK_EQ_INT(bk_isr_tick(&s, 20, LAG + 2), 0); /* reported once */
    CHECK_EQ_INT(bk_isr_leader_durable(&s, 30, LAG + 3), 0);
    CHECK_EQ_INT(s.high_watermark, 10);
    CHECK_EQ_INT(bk_isr_size(&s), 2);
    CHECK_EQ_INT(bk_isr_commit_membership(&s), BK_ISR_HW_MOVED);
    CHECK_EQ_INT(s.high_watermark, 30);
    CHECK(!s.replicas[f].in_sync);
    CHECK_EQ_INT(bk_isr_size(&s), 1);
}

static void test_dead_follower_leaves(void)
{
    /* Caught up at its last fetch and the leader has not moved since, but it stopped
     * fetching: it still leaves once its last caught-up fetch is older than the lag. */
    bk_isr_t s;
    start(&s, 50);
    join(&s, "F", 50, 100);
    CHECK_EQ_INT(bk_isr_tick(&s, 50, 100 + LAG), 0);
    CHECK_EQ_INT(bk_isr_tick(&s, 50, 100 + LAG + 1), BK_ISR_CHANGED);
    CHECK_EQ_INT(bk_isr_commit_membership(&s), 0);
    CHECK_EQ_INT(bk_isr_size(&s), 1);
    /* Comes back caught up: joins again. */
    CHECK_EQ_INT(bk_isr_on_fetch(&s, "F", 50, 50, 5000), BK_ISR_CHANGED);
    CHECK_EQ_INT(bk_isr_size(&s), 2);
}

static void test_steady_stream_follower_stays(void)
{
    /* The leader always has 10 more than the follower asks for, but each fetch asks for at
     * least what the leader had at the previous fetch: Kafka's rule keeps it in sync. */
    bk_isr_t s;
    start(&s, 100);
    join(&s, "F", 100, 0);
    int64_t end = 100;
    for (uint64_t now = 500; now <= 10000; now += 500) {
        int64_t asked = end;
        end += 10;
        bk_isr_leader_durable(&s, end, now);
        int bits = bk_isr_on_fetch(&s, "F", asked, end, now);
        CHECK(bits >= 0 && !(bits & BK_ISR_CHANGED));
        CHECK_EQ_INT(bk_isr_tick(&s, end, now + 1) & BK_ISR_CHANGED, 0);
    }
    CHECK_EQ_INT(bk_isr_size(&s), 2);
    CHECK_EQ_INT(s.high_watermark, end - 10);
    /* It stops keeping up: asks for the same offset while the leader moves on. Its last
     * fetch (at 10000) showed it held the leader's log as of its fetch at 9500, so it leaves
     * at the first tick more than LAG after 9500. */
    CHECK_EQ_INT(s.replicas[1].caught_up_ms, 9500);
    int64_t stuck = end - 10;
    uint64_t now = 10000;
    int left = 0;
    for (int i = 0; i < 10 && !left; i++) {
        now += 300;
        end += 10;
        bk_isr_on_fetch(&s, "F", stuck, end, now);
        left = (bk_isr_tick(&s, end, now) & BK_ISR_CHANGED) != 0;
    }
    CHECK(left);
    CHECK_EQ_INT(now, 9500 + LAG + 100);
}

static void test_hw_monotonic_when_follower_truncates(void)
{
    bk_isr_t s;
    start(&s, 100);
    join(&s, "F", 100, 0);
    CHECK_EQ_INT(s.high_watermark, 100);
    /* F's log went back below the HW: the HW stays, and F leaves the desired ISR (it lost
     * data it had reported holding). */
    int bits = bk_isr_on_fetch(&s, "F", 40, 100, 10);
    CHECK_EQ_INT(bits, BK_ISR_CHANGED);
    CHECK_EQ_INT(s.high_watermark, 100);
    CHECK_EQ_INT(s.replicas[1].fetch_offset, 40);
    CHECK_EQ_INT(bk_isr_leader_durable(&s, 150, 11), 0); /* still counted until published */
    CHECK_EQ_INT(s.high_watermark, 100);
    CHECK_EQ_INT(bk_isr_commit_membership(&s), BK_ISR_HW_MOVED);
    CHECK_EQ_INT(s.high_watermark, 150);
    /* The leader's own durable end reported lower is ignored. */
    CHECK_EQ_INT(bk_isr_leader_durable(&s, 90, 12), 0);
    CHECK_EQ_INT(s.high_watermark, 150);
    CHECK_EQ_INT(s.replicas[0].fetch_offset, 150);
}

static void test_join_needs_hw(void)
{
    /* F2 asks for at least what the leader had at its previous fetch, but the HW has moved
     * past it meanwhile: letting it in would list a broker missing acknowledged data. */
    bk_isr_t s;
    start(&s, 100);
    join(&s, "F1", 100, 0);
    CHECK_EQ_INT(bk_isr_on_fetch(&s, "F2", 50, 100, 10), 0);
    bk_isr_leader_durable(&s, 200, 20);
    CHECK_EQ_INT(bk_isr_on_fetch(&s, "F1", 150, 200, 30), BK_ISR_HW_MOVED);
    CHECK_EQ_INT(s.high_watermark, 150);
    CHECK_EQ_INT(bk_isr_on_fetch(&s, "F2", 120, 200, 40), 0);
    CHECK_EQ_INT(bk_isr_size(&s), 2);
    CHECK_EQ_INT(bk_isr_on_fetch(&s, "F2", 160, 200, 50), 0); /* >= HW, caught up as of 40 */
    CHECK(!s.replicas[2].pending);                            /* (needed >= 200 then) */
    CHECK_EQ_INT(bk_isr_on_fetch(&s, "F2", 200, 200, 60), BK_ISR_CHANGED);
    CHECK_EQ_INT(bk_isr_size(&s), 3);
}

static void test_unknown_follower_added(void)
{
    bk_isr_t s;
    start(&s, 0);
    CHECK_EQ_INT(bk_isr_find(&s, "X"), -1);
    CHECK_EQ_INT(bk_isr_add_follower(&s, "A"), 1);
    CHECK_EQ_INT(bk_isr_add_follower(&s, "A"), 1);
    CHECK_EQ_INT(bk_isr_on_fetch(&s, "X", 0, 0, 5), BK_ISR_CHANGED); /* empty log: caught up */
    CHECK_EQ_INT(bk_isr_find(&s, "X"), 2);
    CHECK_EQ_STR(s.replicas[2].id, "X");
    CHECK_EQ_INT(s.replicas[2].last_fetch_ms, 5);
    CHECK_EQ_INT(s.count, 3);
    CHECK_EQ_INT(bk_isr_add_follower(&s, ""), BK_EINVAL);
    CHECK_EQ_INT(bk_isr_add_follower(&s, "L"), BK_EINVAL);
    CHECK_EQ_INT(bk_isr_on_fetch(&s, "L", 0, 0, 6), BK_EINVAL);
    char id[200];
    memset(id, 'a', sizeof id - 1);
    id[sizeof id - 1] = 0;
    CHECK_EQ_INT(bk_isr_add_follower(&s, id), BK_EINVAL);
    id[128] = 0; /* 128 bytes: does not fit id[128] with its NUL */
    CHECK_EQ_INT(bk_isr_add_follower(&s, id), BK_EINVAL);
    id[127] = 0;
    CHECK_EQ_INT(bk_isr_add_follower(&s, id), 3);
    CHECK_EQ_INT(strlen(s.replicas[3].id), 127);
    CHECK_EQ_INT(s.count, 4);
}

static void test_capacity_limit(void)
{
    bk_isr_t s;
    start(&s, 0);
    char id[16];
    for (int i = 1; i < BK_ISR_MAX_REPLICAS; i++) {
        snprintf(id, sizeof id, "F%d", i);
        CHECK_EQ_INT(bk_isr_on_fetch(&s, id, 0, 0, 1), BK_ISR_CHANGED);
    }
    CHECK_EQ_INT(s.count, BK_ISR_MAX_REPLICAS);
    CHECK_EQ_INT(bk_isr_on_fetch(&s, "one-too-many", 0, 0, 1), BK_ETOOBIG);
    CHECK_EQ_INT(bk_isr_add_follower(&s, "one-too-many"), BK_ETOOBIG);
    CHECK_EQ_INT(s.count, BK_ISR_MAX_REPLICAS);
    CHECK_EQ_INT(bk_isr_on_fetch(&s, "F3", 0, 0, 2), 0); /* listed ones still work */
    CHECK_EQ_INT(bk_isr_desired(&s), 0xffff);
    CHECK_EQ_INT(bk_isr_size(&s), BK_ISR_MAX_REPLICAS);
}

static void test_publications_in_flight(void)
{
    /* D0 (without F) and D1 (with F) are in flight when F leaves again: confirming D0 must
     * not drop F, because Redis will hold D1 next. */
    bk_isr_t s;
    start(&s, 10);
    uint32_t d0 = bk_isr_publish_begin(&s);
    CHECK_EQ_INT(bk_isr_on_fetch(&s, "F", 10, 10, 0), BK_ISR_CHANGED);
    uint32_t d1 = bk_isr_publish_begin(&s);
    CHECK_EQ_INT(d0, 1);
    CHECK_EQ_INT(d1, 3);
    CHECK_EQ_INT(bk_isr_tick(&s, 10, LAG + 1), BK_ISR_CHANGED);
    bk_isr_leader_durable(&s, 20, LAG + 2);
    CHECK_EQ_INT(bk_isr_publish_done(&s, d0, 1), 0);
    CHECK(s.replicas[1].in_sync);
    CHECK_EQ_INT(s.high_watermark, 10);
    CHECK_EQ_INT(bk_isr_publish_done(&s, d1, 1), 0);
    CHECK(s.replicas[1].in_sync); /* Redis now lists F */
    CHECK_EQ_INT(s.high_watermark, 10);
    uint32_t d2 = bk_isr_publish_begin(&s);
    CHECK_EQ_INT(d2, 1);
    CHECK_EQ_INT(bk_isr_publish_done(&s, d2, 0), 0); /* failed: F may still be listed */
    CHECK(s.replicas[1].in_sync);
    d2 = bk_isr_publish_begin(&s);
    CHECK_EQ_INT(bk_isr_publish_done(&s, d2, 1), BK_ISR_HW_MOVED);
    CHECK(!s.replicas[1].in_sync);
    CHECK_EQ_INT(s.high_watermark, 20);
}

static void test_rejoin_before_commit(void)
{
    /* F leaves, catches up again before the shrunken ISR was published: the desired set is
     * back to {L, F}; a commit keeps F counted. */
    bk_isr_t s;
    start(&s, 10);
    join(&s, "F", 10, 0);
    CHECK_EQ_INT(bk_isr_tick(&s, 10, LAG + 1), BK_ISR_CHANGED);
    CHECK_EQ_INT(bk_isr_on_fetch(&s, "F", 10, 10, LAG + 2), BK_ISR_CHANGED);
    bk_isr_leader_durable(&s, 30, LAG + 3);
    CHECK_EQ_INT(bk_isr_commit_membership(&s), 0);
    CHECK(s.replicas[1].in_sync && s.replicas[1].pending);
    CHECK_EQ_INT(s.high_watermark, 10);
}

CHECK_MAIN(CASE(test_leader_alone), CASE(test_hw_frozen_until_first_publication),
           CASE(test_hw_is_min_over_isr), CASE(test_follower_catching_up_joins),
           CASE(test_lagging_follower_leaves_after_commit), CASE(test_dead_follower_leaves),
           CASE(test_steady_stream_follower_stays), CASE(test_hw_monotonic_when_follower_truncates),
           CASE(test_join_needs_hw), CASE(test_unknown_follower_added), CASE(test_capacity_limit),
           CASE(test_publications_in_flight), CASE(test_rejoin_before_commit))
