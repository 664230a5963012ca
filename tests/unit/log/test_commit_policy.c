/* The group-commit decision with a fake clock: per fsync mode, when appends are acknowledged,
 * when a round starts, when the interval timer is asked for, and what closing changes. */
#include "log/commit_policy.h"

#include "check.h"

static bk_commit_input_t in(bk_fsync_mode_t mode, int pending, int dirty, int in_flight,
                            uint64_t now, uint64_t last)
{
    bk_commit_input_t i = {mode, 100, pending, dirty, in_flight, 0, now, last};
    return i;
}

static void test_always(void)
{
    bk_commit_input_t i = in(BK_FSYNC_ALWAYS, 1, 1, 0, 1000, 999);
    bk_commit_decision_t d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.ack, 0); /* never before the flush */
    CHECK_EQ_INT(d.flush, 1);
    CHECK_EQ_INT(d.timer_ms, 0);
    i.in_flight = 1; /* appends wait for the round in flight to end */
    d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.flush, 0);
    CHECK_EQ_INT(d.ack, 0);
    i = in(BK_FSYNC_ALWAYS, 0, 0, 0, 1000, 0); /* nothing to do */
    d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.flush, 0);
    i = in(BK_FSYNC_ALWAYS, 0, 1, 0, 1000, 0); /* a rolled segment alone is flushed too */
    d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.flush, 1);
}

static void test_interval_with_fake_clock(void)
{
    /* Last round started at t=1000, interval 100 ms. */
    bk_commit_input_t i = in(BK_FSYNC_INTERVAL, 1, 1, 0, 1030, 1000);
    bk_commit_decision_t d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.ack, 1); /* acknowledged after the write */
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
    CHECK_EQ_INT(d.flush, 0);
    CHECK_EQ_INT(d.ack, 1);                         /* acks do not wait for a flush in this mode */
    i = in(BK_FSYNC_INTERVAL, 0, 0, 0, 5000, 1000); /* clean: no timer */
    d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.flush + (int)d.timer_ms + d.ack, 0);
}

static void test_never(void)
{
    bk_commit_input_t i = in(BK_FSYNC_NEVER, 1, 1, 0, 100000, 0);
    bk_commit_decision_t d = bk_commit_decide(&i);
    CHECK_EQ_INT(d.ack, 1);
    CHECK_EQ_INT(d.flush, 0);
    CHECK_EQ_INT(d.timer_ms, 0);
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
        i.dirty = 0;
        d = bk_commit_decide(&i);
        CHECK_EQ_INT(d.flush, 0); /* clean: close can finish */
    }
}

CHECK_MAIN(CASE(test_always), CASE(test_interval_with_fake_clock), CASE(test_never),
           CASE(test_closing_flushes_every_mode))
