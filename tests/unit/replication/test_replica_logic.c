/* Unit tests of the replicator's pure decisions: divergence (KIP-101/279) on made-up epoch
 * histories, the follower's truncation point converging in at most two rounds, backoff, the
 * follower's exposed high watermark, batch ends from raw bytes, cluster eligibility, and a
 * previous term's ISR member carried into a new term's ISR, and the acks=all status once the
 * in-sync set shrank below the minimum. */
#include <string.h>

#include "brook/common.h"
#include "brook/replication.h"
#include "check.h"
#include "log/format.h"
#include "replication/replica_logic.h"

/* A log as a list of batches (base offset, count, epoch); epoch_end as the log's contract. */
typedef struct {
    int64_t base;
    int64_t count;
    int32_t epoch;
} batch_t;

static int64_t log_end(const batch_t *b, int n)
{
    return n ? b[n - 1].base + b[n - 1].count : 0;
}

static int64_t epoch_end(const batch_t *b, int n, int32_t epoch, int32_t *found)
{
    *found = -1;
    for (int i = 0; i < n; i++) {
        if (b[i].epoch > epoch)
            return b[i].base;
        *found = b[i].epoch;
    }
    return log_end(b, n);
}

static int32_t last_epoch(const batch_t *b, int n)
{
    return n ? b[n - 1].epoch : -1;
}

static int64_t last_epoch_start(const batch_t *b, int n)
{
    int32_t found;
    int32_t last = last_epoch(b, n);
    return last > 0 ? epoch_end(b, n, last - 1, &found) : 0;
}

/* Truncates the follower's batch list at offset: every batch holding a record at or after it
 * goes (a batch is never split). */
static int truncate_at(batch_t *b, int n, int64_t offset)
{
    while (n > 0 && b[n - 1].base + b[n - 1].count > offset)
        n--;
    return n;
}

/* One leader/follower exchange; returns the diverging end (-1 consistent). */
static int64_t ask(const batch_t *leader, int nl, const batch_t *f, int nf)
{
    int32_t found;
    int32_t lfe = last_epoch(f, nf);
    int64_t end = lfe >= 0 ? epoch_end(leader, nl, lfe, &found) : 0;
    return bk_repl_diverging_end(lfe, log_end(f, nf), end, lfe >= 0 ? found : -1);
}

static void test_diverging_end_rules(void)
{
    CHECK_EQ_INT(bk_repl_diverging_end(-1, 0, 0, -1), -1);    /* empty follower */
    CHECK_EQ_INT(bk_repl_diverging_end(3, 100, 120, 3), -1);  /* prefix of epoch 3 */
    CHECK_EQ_INT(bk_repl_diverging_end(3, 120, 120, 3), -1);  /* exactly caught up */
    CHECK_EQ_INT(bk_repl_diverging_end(3, 130, 120, 3), 120); /* longer epoch 3 tail */
    CHECK_EQ_INT(bk_repl_diverging_end(5, 130, 120, 4), 120); /* leader never had epoch 5 */
    CHECK_EQ_INT(bk_repl_diverging_end(5, 100, 120, 4), 120); /* ... even if it is longer */
    CHECK_EQ_INT(bk_repl_diverging_end(2, 10, 0, -1), 0);     /* leader starts at a later epoch */
}

static void test_truncate_target(void)
{
    CHECK_EQ_INT(bk_repl_truncate_target(120, 130, 110), 120); /* drop the longer tail */
    CHECK_EQ_INT(bk_repl_truncate_target(120, 115, 110), 110); /* leader lacks our last epoch */
    CHECK_EQ_INT(bk_repl_truncate_target(120, 120, 110), 110);
    CHECK_EQ_INT(bk_repl_truncate_target(0, 50, 40), 0);
    CHECK_EQ_INT(bk_repl_truncate_target(90, 50, 60), 50); /* never past the end */
}

/* The paused-leader story of TESTPLAN: the old leader (epoch 5) wrote an unreplicated tail;
 * the new leader (epoch 6) took over from an epoch-4 log that is longer than the old leader's
 * epoch-4 part. The exchange must converge to the new leader's prefix, never keeping an
 * epoch-5 batch, and never cut below what both logs share. */
static void test_converges_to_the_leaders_prefix(void)
{
    batch_t leader[] = {{0, 100, 3}, {100, 20, 4}, {120, 10, 6}};
    batch_t f[] = {{0, 100, 3}, {100, 10, 4}, {110, 15, 5}, {125, 5, 5}};
    int nf = 4;
    int rounds = 0;
    int64_t div;
    while ((div = ask(leader, 3, f, nf)) >= 0 && rounds < 10) {
        int64_t t = bk_repl_truncate_target(div, log_end(f, nf), last_epoch_start(f, nf));
        CHECK(t < log_end(f, nf)); /* every round drops something */
        CHECK(t >= 100);           /* the shared prefix [0, 110) is never cut below 100 */
        nf = truncate_at(f, nf, t);
        rounds++;
    }
    CHECK_EQ_INT(div, -1);
    CHECK(rounds <= 2);
    CHECK_EQ_INT(log_end(f, nf), 110);
    CHECK_EQ_INT(last_epoch(f, nf), 4);
    for (int i = 0; i < nf; i++)
        CHECK(f[i].epoch != 5);
}

static void test_longer_same_epoch_tail(void)
{
    batch_t leader[] = {{0, 10, 1}, {10, 10, 2}};
    batch_t f[] = {{0, 10, 1}, {10, 10, 2}, {20, 7, 2}};
    int nf = 3;
    int64_t div = ask(leader, 2, f, nf);
    CHECK_EQ_INT(div, 20);
    nf = truncate_at(f, nf, bk_repl_truncate_target(div, log_end(f, nf), last_epoch_start(f, nf)));
    CHECK_EQ_INT(log_end(f, nf), 20);
    CHECK_EQ_INT(ask(leader, 2, f, nf), -1);
}

static void test_backoff(void)
{
    uint32_t ms = 0, seen[8];
    for (int i = 0; i < 8; i++)
        seen[i] = ms = bk_repl_backoff_next(ms);
    CHECK_EQ_INT(seen[0], 100);
    CHECK_EQ_INT(seen[1], 200);
    CHECK_EQ_INT(seen[2], 400);
    CHECK_EQ_INT(seen[3], 800);
    CHECK_EQ_INT(seen[4], 1000);
    CHECK_EQ_INT(seen[7], 1000);
}

static void test_follower_hw(void)
{
    /* unverified: only what was exposed before, capped by the local durable end */
    CHECK_EQ_INT(bk_repl_follower_hw(10, 50, 40, -1), 10);
    CHECK_EQ_INT(bk_repl_follower_hw(10, 5, 40, -1), 5);
    CHECK_EQ_INT(bk_repl_follower_hw(10, 50, -1, 50), 10); /* leader HW unknown */
    /* verified: min(leader HW, durable, verified) but never below the floor */
    CHECK_EQ_INT(bk_repl_follower_hw(10, 50, 40, 50), 40);
    CHECK_EQ_INT(bk_repl_follower_hw(10, 50, 60, 30), 30);
    CHECK_EQ_INT(bk_repl_follower_hw(10, 25, 60, 50), 25);
    CHECK_EQ_INT(bk_repl_follower_hw(45, 50, 40, 50), 45); /* a new leader's lower HW */
    CHECK_EQ_INT(bk_repl_follower_hw(45, 20, 40, 50), 20); /* truncated below it */
}

static void put_batch(uint8_t *b, int64_t base, int32_t blen, int32_t last_delta)
{
    memset(b, 0, 61);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)base >> (56 - 8 * i));
    for (int i = 0; i < 4; i++) {
        b[8 + i] = (uint8_t)((uint32_t)blen >> (24 - 8 * i));
        b[23 + i] = (uint8_t)((uint32_t)last_delta >> (24 - 8 * i));
    }
    b[16] = 2;
}

static void test_batches_end(void)
{
    uint8_t buf[300];
    int64_t end = -1;
    put_batch(buf, 40, 49 + 20, 2); /* 81 bytes */
    put_batch(buf + 81, 43, 49, 0); /* 61 bytes */
    CHECK_EQ_INT(bk_repl_batches_end(buf, 142, &end), 0);
    CHECK_EQ_INT(end, 44);
    CHECK_EQ_INT(bk_repl_batches_end(buf, 81, &end), 0);
    CHECK_EQ_INT(end, 43);
    CHECK_EQ_INT(bk_repl_batches_end(buf, 141, &end), BK_EINVAL); /* cut short */
    CHECK_EQ_INT(bk_repl_batches_end(buf, 0, &end), BK_EINVAL);
    put_batch(buf, 40, 10, 0); /* length below a header */
    CHECK_EQ_INT(bk_repl_batches_end(buf, 61, &end), BK_EINVAL);
    put_batch(buf, 40, 1000, 0); /* length past the buffer */
    CHECK_EQ_INT(bk_repl_batches_end(buf, 61, &end), BK_EINVAL);
}

static void test_eligible(void)
{
    bk_isr_t a, b;
    bk_isr_init(&a, "L", 0, 1000);
    bk_isr_init(&b, "L", 0, 1000);
    bk_isr_commit_membership(&a);
    bk_isr_commit_membership(&b);
    const bk_isr_t *both[] = {&a, &b};
    CHECK_EQ_INT(bk_repl_eligible(both, 0, "F1"), 1); /* no partitions: nothing to lack */
    CHECK_EQ_INT(bk_repl_eligible(both, 2, "F1"), 0); /* unknown everywhere */
    bk_isr_on_fetch(&a, "F1", 0, 0, 10);
    CHECK_EQ_INT(bk_repl_eligible(both, 2, "F1"), 0); /* in sync for a only */
    bk_isr_on_fetch(&b, "F1", 0, 0, 10);
    CHECK_EQ_INT(bk_repl_eligible(both, 2, "F1"), 1);
    bk_isr_tick(&b, 5, 5000); /* F1 stopped fetching b: lags there */
    CHECK_EQ_INT(bk_repl_eligible(both, 2, "F1"), 0);
    CHECK_EQ_INT(bk_repl_eligible(both, 2, "L"), 0); /* the leader is not a follower */
}

/* A previous term's member counts at once (HW waits for it), and leaves after the lag unless
 * it catches up. */
static void test_isr_carry(void)
{
    bk_isr_t s;
    bk_isr_init(&s, "L", 10, 1000);
    bk_isr_leader_durable(&s, 20, 0);
    CHECK_EQ_INT(bk_isr_carry(&s, "F1", 0), 1);
    CHECK_EQ_INT(bk_isr_carry(&s, "F1", 0), BK_EINVAL);
    CHECK_EQ_INT(bk_isr_carry(&s, "L", 0), BK_EINVAL);
    CHECK_EQ_INT(bk_isr_size(&s), 2);
    CHECK_EQ_INT(s.replicas[1].fetch_offset, 10);
    CHECK_EQ_INT(bk_isr_desired(&s), 3);
    bk_isr_commit_membership(&s);
    CHECK_EQ_INT(s.high_watermark, 10); /* F1 is assumed to hold only the HW */
    int bits = bk_isr_on_fetch(&s, "F1", 15, 20, 100);
    CHECK(bits >= 0);
    CHECK_EQ_INT(s.high_watermark, 15);
    CHECK_EQ_INT(bk_isr_tick(&s, 20, 900), 0); /* within the lag */
    bits = bk_isr_tick(&s, 20, 1200);          /* never caught up */
    CHECK(bits & BK_ISR_CHANGED);
    CHECK_EQ_INT(bk_isr_desired(&s), 1);
    CHECK_EQ_INT(s.high_watermark, 15); /* still counted until published */
    bk_isr_commit_membership(&s);
    CHECK_EQ_INT(s.high_watermark, 20);

    bk_isr_t t; /* a carried member that catches up stays */
    bk_isr_init(&t, "L", 0, 1000);
    bk_isr_carry(&t, "F2", 0);
    bk_isr_commit_membership(&t);
    bk_isr_leader_durable(&t, 30, 10);
    bk_isr_on_fetch(&t, "F2", 30, 30, 500);
    CHECK_EQ_INT(bk_isr_tick(&t, 30, 1400), 0);
    CHECK_EQ_INT(bk_isr_desired(&t), 3);
    CHECK_EQ_INT(t.high_watermark, 30);
}

/* acks=all at completion: a HW computed over fewer replicas than the minimum (the set
 * shrank after the append) never acknowledges (issue 9, D8). */
static void test_ack_status(void)
{
    CHECK_EQ_INT(bk_repl_ack_status(1, 1), 0);
    CHECK_EQ_INT(bk_repl_ack_status(2, 2), 0);
    CHECK_EQ_INT(bk_repl_ack_status(3, 2), 0);
    CHECK_EQ_INT(bk_repl_ack_status(1, 2), BK_ENOREPLICAS);
    CHECK_EQ_INT(bk_repl_ack_status(2, 3), BK_ENOREPLICAS);
    /* The ISR after the follower leaves: the HW moves with the leader alone. */
    bk_isr_t s;
    bk_isr_init(&s, "L", 0, 1000);
    bk_isr_on_fetch(&s, "F", 0, 0, 0);
    bk_isr_commit_membership(&s);
    CHECK_EQ_INT(bk_isr_size(&s), 2);
    bk_isr_leader_durable(&s, 3, 10); /* three records appended: F does not hold them */
    CHECK_EQ_INT(s.high_watermark, 0);
    CHECK(bk_isr_tick(&s, 3, 2000) & BK_ISR_CHANGED);
    CHECK_EQ_INT(s.high_watermark, 0); /* F counts until Redis stops listing it */
    CHECK(bk_isr_commit_membership(&s) & BK_ISR_HW_MOVED);
    CHECK_EQ_INT(s.high_watermark, 3);
    CHECK_EQ_INT(bk_repl_ack_status(bk_isr_size(&s), 2), BK_ENOREPLICAS);
}

/* The follower's answer cap holds the largest batch a log may hold on top of headers for
 * what it asked (issue 9, D4: a 63 MB batch behind 8 MiB of others wedged a follower whose
 * client took 64 MiB). */
_Static_assert(BK_FETCH_MAX_BATCH == BK_BATCH_MAX_BYTES, "the log's batch limit changed");

static void test_answer_cap(void)
{
    uint32_t max = 8u << 20;
    size_t req = 4200 * (26 + 249) + 200; /* 4,200 partitions of a 249-character topic */
    uint64_t cap = bk_repl_answer_cap(max, req);
    CHECK(cap >= BK_FETCH_MAX_BATCH + 2 * (uint64_t)req + 4200 * (42 + 249));
    CHECK(cap >= (uint64_t)max + 2 * (uint64_t)req);
    CHECK(bk_repl_answer_cap(UINT32_MAX, 0) >= UINT32_MAX);
    CHECK(bk_repl_answer_cap(max, req) < bk_repl_answer_cap(max, 2 * req));
}

CHECK_MAIN(CASE(test_diverging_end_rules), CASE(test_truncate_target),
           CASE(test_converges_to_the_leaders_prefix), CASE(test_longer_same_epoch_tail),
           CASE(test_backoff), CASE(test_follower_hw), CASE(test_batches_end), CASE(test_eligible),
           CASE(test_isr_carry), CASE(test_ack_status), CASE(test_answer_cap))
