/* The waiting room of password checks (src/auth/authq.c): per-client and total limits,
 * round-robin order over clients (a flooding client delays another's check by at most one),
 * suspects by recent failure, and the client key of an address (IPv4, IPv6 /64). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <uv.h>

#include "auth/authq.h"
#include "brook/auth.h"
#include "brook/common.h"
#include "check.h"

enum { A = 1, B = 2, C = 3 };
static int items[64];

static void limits(void)
{
    static bk_authq_t q;
    bk_authq_init(&q, 10, 3, 1000);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(bk_authq_push(&q, A, &items[i]), 0);
    CHECK_EQ_INT(bk_authq_push(&q, A, &items[3]), UV_EAGAIN); /* A's share is full */
    CHECK_EQ_INT(bk_authq_waiting(&q, A), 3);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(bk_authq_push(&q, B, &items[4 + i]), 0);
    for (int i = 0; i < 4; i++) /* client 0 (address unknown) is never capped per client */
        CHECK_EQ_INT(bk_authq_push(&q, 0, &items[7 + i]), 0);
    CHECK_EQ_INT(bk_authq_push(&q, C, &items[11]), UV_EBUSY); /* 10 waiting in all */
    CHECK(bk_authq_pop(&q, 0, 1) != NULL);
    CHECK_EQ_INT(bk_authq_push(&q, C, &items[11]), 0); /* room again */
}

static void round_robin(void)
{
    static bk_authq_t q;
    bk_authq_init(&q, 64, 8, 1000);
    for (int i = 0; i < 8; i++) /* A floods first */
        CHECK_EQ_INT(bk_authq_push(&q, A, &items[i]), 0);
    CHECK(bk_authq_pop(&q, 0, 1) == &items[0]);
    CHECK_EQ_INT(bk_authq_push(&q, B, &items[20]), 0); /* B arrives behind seven of A's */
    CHECK(bk_authq_pop(&q, 0, 1) == &items[1]);
    CHECK(bk_authq_pop(&q, 0, 1) == &items[20]); /* ...and waits for one of them only */
    CHECK_EQ_INT(bk_authq_push(&q, C, &items[30]), 0);
    CHECK_EQ_INT(bk_authq_push(&q, C, &items[31]), 0);
    /* A and C alternate; A's checks keep their own order */
    int *want[] = {&items[2], &items[30], &items[3], &items[31], &items[4], &items[5]};
    for (size_t i = 0; i < BK_ARRAY_LEN(want); i++)
        CHECK(bk_authq_pop(&q, 0, 1) == want[i]);
    CHECK(bk_authq_pop(&q, 0, 1) == &items[6]);
    CHECK(bk_authq_pop(&q, 0, 1) == &items[7]);
    CHECK(bk_authq_pop(&q, 0, 1) == NULL);
}

static void suspects(void)
{
    static bk_authq_t q;
    bk_authq_init(&q, 64, 8, 1000);
    CHECK(!bk_authq_is_suspect(&q, A, 5000));
    bk_authq_failed(&q, A, 5000);
    CHECK(bk_authq_is_suspect(&q, A, 5000));
    CHECK(bk_authq_is_suspect(&q, A, 5999));
    CHECK(!bk_authq_is_suspect(&q, A, 6000)); /* the window has passed */
    CHECK(!bk_authq_is_suspect(&q, B, 5500));
    CHECK_EQ_INT(bk_authq_push(&q, A, &items[0]), 0);
    CHECK_EQ_INT(bk_authq_push(&q, B, &items[1]), 0);
    /* each thread takes only its class: the idle one A's, the normal one B's */
    CHECK(bk_authq_pop(&q, 0, 5100) == &items[1]);
    CHECK(bk_authq_pop(&q, 0, 5100) == NULL);
    CHECK(bk_authq_pop(&q, 1, 5100) == &items[0]);
    /* a check that waited past the window is an ordinary one again */
    CHECK_EQ_INT(bk_authq_push(&q, A, &items[2]), 0);
    CHECK(bk_authq_pop(&q, 1, 6100) == NULL);
    CHECK(bk_authq_pop(&q, 0, 6100) == &items[2]);
}

static uint64_t key4(const char *ip)
{
    struct sockaddr_in in = {.sin_family = AF_INET};
    inet_pton(AF_INET, ip, &in.sin_addr);
    return bk_auth_client_key((const struct sockaddr *)&in);
}

static uint64_t key6(const char *ip)
{
    struct sockaddr_in6 in = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, ip, &in.sin6_addr);
    return bk_auth_client_key((const struct sockaddr *)&in);
}

static void client_keys(void)
{
    CHECK(key4("127.0.0.1") != 0);
    CHECK(key4("127.0.0.1") != key4("127.0.0.2"));
    CHECK(key4("0.0.0.0") != 0);
    CHECK(key6("::ffff:127.0.0.2") == key4("127.0.0.2"));
    CHECK(key6("2001:db8:1:2::1") == key6("2001:db8:1:2:ffff::9")); /* same /64 */
    CHECK(key6("2001:db8:1:2::1") != key6("2001:db8:1:3::1"));
    CHECK(key6("::") != 0 && key6("::") != key4("0.0.0.0"));
    CHECK(bk_auth_client_key(NULL) == 0);
}

int main(void)
{
    static const check_case_t cases[] = {{"limits", limits},
                                         {"round_robin", round_robin},
                                         {"suspects", suspects},
                                         {"client_keys", client_keys}};
    return check_run(cases, BK_ARRAY_LEN(cases));
}
