/* The producer id allocator in a cluster (log/producer_ids.h): ids are the term's epoch times
 * 2^24 plus a counter, distinct within a term, above every earlier term's after a new one, and
 * none once the term's 2^24 are used up or for an epoch that does not fit (the caller answers
 * a retriable error). The standalone path needs a data directory: the integration tests cover
 * it (test_kafka_idempotence). */
#include <stdint.h>
#include <uv.h>

#include "check.h"
#include "log/producer_ids.h"

static void ids_follow_the_term(void)
{
    bk_pid_alloc_t a = {0};
    int64_t p0 = -1, p1 = -1, p2 = -1;
    CHECK_EQ_INT(bk_pid_alloc_next(&a, NULL, 0, 5, &p0), 0);
    CHECK_EQ_INT(bk_pid_alloc_next(&a, NULL, 0, 5, &p1), 0);
    CHECK(p0 == (int64_t)5 << 24 && p1 == p0 + 1);
    CHECK_EQ_INT(bk_pid_alloc_next(&a, NULL, 0, 7, &p2), 0); /* a new term: a new base */
    CHECK(p2 == (int64_t)7 << 24);
}

static void none_past_the_term_or_out_of_range(void)
{
    bk_pid_alloc_t a = {0};
    int64_t p = -1;
    CHECK_EQ_INT(bk_pid_alloc_next(&a, NULL, 0, 3, &p), 0);
    a.next = (uint32_t)1 << 24; /* the term's ids used up */
    CHECK_EQ_INT(bk_pid_alloc_next(&a, NULL, 0, 3, &p), UV_EAGAIN);
    CHECK_EQ_INT(bk_pid_alloc_next(&a, NULL, 0, 4, &p), 0); /* the next term has its own */
    CHECK(p == (int64_t)4 << 24);
    CHECK_EQ_INT(bk_pid_alloc_next(&a, NULL, 0, 0, &p), UV_EAGAIN);
    CHECK_EQ_INT(bk_pid_alloc_next(&a, NULL, 0, (int64_t)1 << 38, &p), UV_EAGAIN);
}

int main(void)
{
    static const check_case_t cases[] = {
        {"ids_follow_the_term", ids_follow_the_term},
        {"none_past_the_term_or_out_of_range", none_past_the_term_or_out_of_range},
    };
    return check_run(cases, sizeof cases / sizeof cases[0]);
}
