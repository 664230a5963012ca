/* The route table: every path, its parameters, 404 for unknown paths and 405 + Allow for
 * known paths with the wrong method. */
#include <llhttp.h>
#include <string.h>

#include "api/router.h"
#include "check.h"

static int match(int method, const char *path, bk_route_t *r)
{
    return bk_route_match(method, path, strlen(path), r);
}

static void seed_routes(void)
{
    bk_route_t r;
    CHECK_EQ_INT(match(HTTP_POST, "/produce", &r), 0);
    CHECK_EQ_INT(r.id, BK_ROUTE_PRODUCE);
    CHECK(bk_route_is_write(&r, HTTP_POST));
    CHECK_EQ_INT(match(HTTP_GET, "/metadata/leader", &r), 0);
    CHECK_EQ_INT(r.id, BK_ROUTE_LEADER);
    CHECK_EQ_INT(match(HTTP_GET, "/health", &r), 0);
    CHECK_EQ_INT(r.id, BK_ROUTE_HEALTH);
    CHECK_EQ_INT(match(HTTP_GET, "/health/", &r), 0);
    CHECK_EQ_INT(match(HTTP_GET, "/", &r), 0);
    CHECK_EQ_INT(r.id, BK_ROUTE_ROOT);
}

static void params(void)
{
    bk_route_t r;
    CHECK_EQ_INT(match(HTTP_GET, "/topics/orders/partitions/12/records", &r), 0);
    CHECK_EQ_INT(r.id, BK_ROUTE_RECORDS);
    CHECK_EQ_INT(r.topic_len, 6);
    CHECK(memcmp(r.topic, "orders", 6) == 0);
    CHECK_EQ_INT(r.partition, 12);
    CHECK_EQ_INT(match(HTTP_GET, "/topics/orders/partitions/x1/offsets", &r), 0);
    CHECK_EQ_INT(r.partition, -2);
    CHECK_EQ_INT(match(HTTP_GET, "/topics/a.b-c_d", &r), 0);
    CHECK_EQ_INT(r.id, BK_ROUTE_TOPIC);
    CHECK_EQ_INT(r.partition, -1);
}

static void errors(void)
{
    bk_route_t r;
    CHECK_EQ_INT(match(HTTP_GET, "/produce", &r), 405);
    CHECK(strstr(r.allow, "POST") != NULL);
    CHECK_EQ_INT(match(HTTP_DELETE, "/health", &r), 405);
    CHECK_EQ_INT(match(HTTP_GET, "/nope", &r), 404);
    CHECK_EQ_INT(match(HTTP_GET, "/produce/extra", &r), 404);
    CHECK_EQ_INT(match(HTTP_GET, "/topics//partitions", &r), 404);
    CHECK_EQ_INT(match(HTTP_GET, "", &r), 404);
    CHECK_EQ_INT(match(HTTP_GET, "*", &r), 404);
    CHECK_EQ_INT(match(HTTP_GET, "/topics/t/partitions/1/records/x", &r), 404);
}

/* REST Proxy v1: a topic read through an instance is a group route (a follower forwards it);
 * the stateless partition read is not. */
static void v1_routes(void)
{
    bk_route_t r;
    CHECK_EQ_INT(match(HTTP_GET, "/consumers/g1/instances/c1/topics/orders", &r), 0);
    CHECK_EQ_INT(r.id, BK_ROUTE_V1_CONSUME);
    CHECK(bk_route_is_group(&r));
    CHECK(r.group_len == 2 && memcmp(r.group, "g1", 2) == 0);
    CHECK(r.instance_len == 2 && memcmp(r.instance, "c1", 2) == 0);
    CHECK(r.topic_len == 6 && memcmp(r.topic, "orders", 6) == 0);
    CHECK_EQ_INT(match(HTTP_POST, "/consumers/g1/instances/c1/topics/orders", &r), 405);
    CHECK_EQ_INT(match(HTTP_GET, "/consumers/g1/instances/c1/topics", &r), 404);
    CHECK_EQ_INT(match(HTTP_GET, "/topics/orders/partitions/3/messages", &r), 0);
    CHECK_EQ_INT(r.id, BK_ROUTE_V1_MESSAGES);
    CHECK_EQ_INT(r.partition, 3);
    CHECK(!bk_route_is_group(&r));
    CHECK(!bk_route_is_write(&r, HTTP_GET));
}

CHECK_MAIN(CASE(seed_routes), CASE(params), CASE(errors), CASE(v1_routes))
