/* The group-commit decision with a fake clock: per fsync mode, when a flush round starts, when
 * the interval timer is asked for, and what urgent work (a rolled segment) and closing change.
 * Also the retention choice, the other pure decision of the log, with a fake clock. */
#include "log/commit_policy.h"
#include "log/retention.h"

#include "check.h"

static bk_commit_input_t in(bk_fsync_mode_t mode, int writes, int syncs, int in_flight,
                            uint64_t now, uint64_t last)
{
    bk_commit_input_t i = {mode, 100, writes, syncs, 0, in_flight, 0, now, last};
    return i;
}

static void test_always(void)
{
    bk_commit_input_t i = in(BK_FSYNC_ALWAYS, 1, 0, 0, 1000, 999);
    bk_commit_decision_t d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.flush, 1);
    CHECK_EQ_INT(d.timer_ms, 0);
    i.in_flight = 1; /* appends wait for the round in flight to end */
    d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.flush, 0);
    i = in(BK_FSYNC_ALWAYS, 0, 0, 0, 1000, 0); /* nothing to do */
    d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.flush, 0);
    i = in(BK_FSYNC_ALWAYS, 0, 1, 0, 1000, 0); /* a new segment file alone is synced too */
    d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.flush, 1);
}

static void test_interval_with_fake_clock(void)
{
    /* Last round started at t=1000, interval 100 ms; the check phase already wrote. */
    bk_commit_input_t i = in(BK_FSYNC_INTERVAL, 0, 1, 0, 1030, 1000);
    bk_commit_decision_t d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.flush, 0);
    CHECK_EQ_INT(d.timer_ms, 70);
    i.now_ms = 1099;
    d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.timer_ms, 1);
    i.now_ms = 1100;
    d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.flush, 1);
    CHECK_EQ_INT(d.timer_ms, 0);
    i.now_ms = 5000; /* long idle: flush at once */
    d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.flush, 1);
    i.in_flight = 1;
    d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.flush + (int)d.timer_ms, 0);
    i = in(BK_FSYNC_INTERVAL, 0, 0, 0, 5000, 1000); /* clean: no timer */
    d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.flush + (int)d.timer_ms, 0);
    /* A rolled partition cannot wait for the interval. */
    i = in(BK_FSYNC_INTERVAL, 1, 1, 0, 1030, 1000);
    i.urgent = 1;
    d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.flush, 1);
}

static void test_never(void)
{
    bk_commit_input_t i = in(BK_FSYNC_NEVER, 0, 1, 0, 100000, 0);
    bk_commit_decision_t d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.flush, 0);
    CHECK_EQ_INT(d.timer_ms, 0);
    i.writes = 1;
    i.urgent = 1; /* the one sync never mode makes outside close: ordering after a roll */
    d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.flush, 1);
    i.in_flight = 1;
    d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.flush, 0);
}

static void test_closing_flushes_every_mode(void)
{
    static const bk_fsync_mode_t modes[] = {BK_FSYNC_ALWAYS, BK_FSYNC_INTERVAL, BK_FSYNC_NEVER};
    for (int m = 0; m < 3; m++) {
        bk_commit_input_t i = in(modes[m], 0, 1, 0, 1000, 999);
        i.closing = 1;
        bk_commit_decision_t d = bk_commit_decide(&i);
        CHECK_EQ_INT(d.flush, 1);
        i.in_flight = 1;
        d = bk_commit_decide(&i);
        CHECK_EQ_INT(d.flush, 0); /* one round at a time */
        i.in_flight = 0;
        i.syncs = 0;
        d = bk_commit_decide(&i);
        CHECK_EQ_INT(d.flush, 0); /* clean: close can finish */
    }
}

/* ---- retention ---- */

#define DAY 86400000LL

static void test_retention_by_time(void)
{
    const int64_t now = 100 * DAY;
    bk_retention_seg_t s[4] = {
        {now - 9 * DAY, 100, 0, 1},
        {now - 8 * DAY, 100, 0, 2},
        {now - 6 * DAY, 100, 0, 3},
        {now - 10 * DAY, 100, 0, 4}, /* older than its predecessor: stays behind it */
    };
    CHECK_EQ_INT(bk_retention_plan(s, 4, 500, now, 7 * DAY, -1, INT64_MAX), 2);
    CHECK_EQ_INT(bk_retention_plan(s, 4, 500, now, 5 * DAY, -1, INT64_MAX), 4);
    CHECK_EQ_INT(bk_retention_plan(s, 4, 500, now, 9 * DAY, -1, INT64_MAX),
                 0); /* exactly 9 days: kept */
    CHECK_EQ_INT(bk_retention_plan(s, 4, 500, now, -1, -1, INT64_MAX), 0); /* forever */
    CHECK_EQ_INT(bk_retention_plan(s, 4, 500, now, 0, -1, INT64_MAX), 4);
    CHECK_EQ_INT(bk_retention_plan(s, 0, 500, now, 0, -1, INT64_MAX), 0);
    s[1].busy = 1; /* not yet synced: it and everything after it wait */
    CHECK_EQ_INT(bk_retention_plan(s, 4, 500, now, 5 * DAY, -1, INT64_MAX), 1);
    /* A clock before the epoch or a huge retention never overflows into deleting. */
    CHECK_EQ_INT(bk_retention_plan(s, 4, 500, now, INT64_MAX, -1, INT64_MAX), 0);
    bk_retention_seg_t odd = {-1, 1, 0, 1};
    CHECK_EQ_INT(bk_retention_plan(&odd, 1, 2, 5, INT64_MAX, -1, INT64_MAX), 0);
}

static void test_retention_by_size(void)
{
    bk_retention_seg_t s[3] = {{1, 100, 0, 1}, {2, 100, 0, 2}, {3, 100, 0, 3}};
    /* Partition 350 bytes (50 in the active segment). */
    CHECK_EQ_INT(bk_retention_plan(s, 3, 350, 10, -1, 350, INT64_MAX), 0);
    CHECK_EQ_INT(bk_retention_plan(s, 3, 350, 10, -1, 349, INT64_MAX), 1); /* down to 250 */
    CHECK_EQ_INT(bk_retention_plan(s, 3, 350, 10, -1, 250, INT64_MAX), 1);
    CHECK_EQ_INT(bk_retention_plan(s, 3, 350, 10, -1, 200, INT64_MAX), 2);
    CHECK_EQ_INT(bk_retention_plan(s, 3, 350, 10, -1, 0, INT64_MAX),
                 3); /* never the active segment */
    /* Either rule deletes: time takes the first, size the second. */
    CHECK_EQ_INT(bk_retention_plan(s, 3, 350, 10, 8, 200, INT64_MAX), 2);
    CHECK_EQ_INT(bk_retention_plan(s, 3, 350, 10, 8, 300, INT64_MAX), 1);
}

static void test_retention_stops_at_the_high_watermark(void)
{
    /* Segments [0,10) [10,20) [20,30), all old and over the size limit: the high watermark
     * alone decides how far retention may go (issue 9 D2: it deleted records no replica held
     * yet while a follower in the ISR was paused). */
    bk_retention_seg_t s[3] = {{1, 100, 0, 10}, {2, 100, 0, 20}, {3, 100, 0, 30}};
    CHECK_EQ_INT(bk_retention_plan(s, 3, 350, 10 * DAY, 0, 0, 0), 0);
    CHECK_EQ_INT(bk_retention_plan(s, 3, 350, 10 * DAY, 0, 0, 9), 0);  /* 9 not yet committed */
    CHECK_EQ_INT(bk_retention_plan(s, 3, 350, 10 * DAY, 0, 0, 10), 1); /* all of [0,10) is */
    CHECK_EQ_INT(bk_retention_plan(s, 3, 350, 10 * DAY, 0, 0, 29), 2);
    CHECK_EQ_INT(bk_retention_plan(s, 3, 350, 10 * DAY, 0, 0, 30), 3);
    CHECK_EQ_INT(bk_retention_plan(s, 3, 350, 10 * DAY, -1, 0, 15), 1); /* by size too */
    CHECK_EQ_INT(bk_retention_plan(s, 3, 350, 10 * DAY, 0, -1, 25), 2); /* by time too */
    CHECK_EQ_INT(bk_retention_plan(s, 3, 350, 10 * DAY, 0, 0, -1), 0);  /* nothing committed */
}

CHECK_MAIN(CASE(test_always), CASE(test_interval_with_fake_clock), CASE(test_never),
           CASE(test_closing_flushes_every_mode), CASE(test_retention_by_time),
           CASE(test_retention_by_size), CASE(test_retention_stops_at_the_high_watermark))
