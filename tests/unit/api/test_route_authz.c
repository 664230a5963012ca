/* The route → permission table: every route id, with every method the router accepts for
 * it, has exactly one authorization entry (a route without one would be refused, so a new
 * route cannot ship unchecked), and the entries say what the README's Security table says. */
#include <llhttp.h>
#include <string.h>

#include "api/router.h"
#include "brook/auth.h"
#include "check.h"

static const char *const sample[BK_ROUTE_COUNT] = {
    [BK_ROUTE_ROOT] = "/",
    [BK_ROUTE_PRODUCE] = "/produce",
    [BK_ROUTE_LEADER] = "/metadata/leader",
    [BK_ROUTE_HEALTH] = "/health",
    [BK_ROUTE_METRICS] = "/metrics",
    [BK_ROUTE_BROKERS] = "/brokers",
    [BK_ROUTE_TOPICS] = "/topics",
    [BK_ROUTE_TOPIC] = "/topics/t",
    [BK_ROUTE_PARTITIONS] = "/topics/t/partitions",
    [BK_ROUTE_PARTITION] = "/topics/t/partitions/0",
    [BK_ROUTE_OFFSETS] = "/topics/t/partitions/0/offsets",
    [BK_ROUTE_RECORDS] = "/topics/t/partitions/0/records",
    [BK_ROUTE_REPL_FETCH] = "/replication/fetch",
    [BK_ROUTE_CONFIGS] = "/topics/t/configs",
    [BK_ROUTE_GROUPS] = "/consumers",
    [BK_ROUTE_GROUP] = "/consumers/g",
    [BK_ROUTE_GROUP_OFFSETS] = "/consumers/g/offsets",
    [BK_ROUTE_INSTANCE] = "/consumers/g/instances/i",
    [BK_ROUTE_SUBSCRIPTION] = "/consumers/g/instances/i/subscription",
    [BK_ROUTE_ASSIGNMENTS] = "/consumers/g/instances/i/assignments",
    [BK_ROUTE_INST_OFFSETS] = "/consumers/g/instances/i/offsets",
    [BK_ROUTE_POSITIONS] = "/consumers/g/instances/i/positions",
    [BK_ROUTE_POSITIONS_BEGIN] = "/consumers/g/instances/i/positions/beginning",
    [BK_ROUTE_POSITIONS_END] = "/consumers/g/instances/i/positions/end",
    [BK_ROUTE_CONSUMER_RECORDS] = "/consumers/g/instances/i/records",
    [BK_ROUTE_V1_CONSUME] = "/consumers/g/instances/i/topics/t",
    [BK_ROUTE_V1_MESSAGES] = "/topics/t/partitions/0/messages",
    [BK_ROUTE_PRODUCER_IDS] = "/cluster/producer-ids",
};

static void every_route_has_an_entry(void)
{
    for (int id = BK_ROUTE_NONE + 1; id < BK_ROUTE_COUNT; id++) {
        CHECK(sample[id] != NULL);
        if (!sample[id])
            continue;
        int accepted = 0;
        for (int m = 0; m < 32; m++) {
            bk_route_t r;
            int rc = bk_route_match(m, sample[id], strlen(sample[id]), &r);
            CHECK_EQ_INT(r.id, id);
            const bk_route_authz_t *z = bk_route_authz((bk_route_id_t)id, m);
            if (rc == 0) {
                accepted++;
                if (!z)
                    fprintf(stderr, "  route %d method %s has no entry\n", id,
                            llhttp_method_name((llhttp_method_t)m));
                CHECK(z != NULL);
            } else {
                CHECK(z == NULL); /* no entry for a method the route refuses */
            }
        }
        CHECK(accepted > 0);
    }
    CHECK(bk_route_authz(BK_ROUTE_NONE, HTTP_GET) == NULL);
    CHECK(bk_route_authz(BK_ROUTE_COUNT, HTTP_GET) == NULL);
}

static void entries(void)
{
    const bk_route_authz_t *z = bk_route_authz(BK_ROUTE_PRODUCE, HTTP_POST);
    CHECK(z && z->kind == BK_AUTHZ_CHECK && z->op == BK_OP_WRITE && z->resource == BK_RES_TOPIC);
    z = bk_route_authz(BK_ROUTE_RECORDS, HTTP_GET);
    CHECK(z && z->op == BK_OP_READ && z->name == BK_AUTHZ_NAME_PATH);
    z = bk_route_authz(BK_ROUTE_TOPIC, HTTP_DELETE);
    CHECK(z && z->op == BK_OP_DELETE);
    z = bk_route_authz(BK_ROUTE_TOPICS, HTTP_POST);
    CHECK(z && z->op == BK_OP_CREATE && z->name == BK_AUTHZ_NAME_CREATE_BODY);
    z = bk_route_authz(BK_ROUTE_TOPICS, HTTP_GET);
    CHECK(z && z->kind == BK_AUTHZ_LIST);
    z = bk_route_authz(BK_ROUTE_PARTITIONS, HTTP_POST);
    CHECK(z && z->op == BK_OP_ALTER);
    z = bk_route_authz(BK_ROUTE_REPL_FETCH, HTTP_POST);
    CHECK(z && z->resource == BK_RES_CLUSTER && z->op == BK_OP_CLUSTER_ACTION);
    z = bk_route_authz(BK_ROUTE_PRODUCER_IDS, HTTP_POST);
    CHECK(z && z->resource == BK_RES_CLUSTER && z->op == BK_OP_CLUSTER_ACTION);
    z = bk_route_authz(BK_ROUTE_HEALTH, HTTP_HEAD);
    CHECK(z && z->kind == BK_AUTHZ_OPEN);
    z = bk_route_authz(BK_ROUTE_METRICS, HTTP_GET);
    CHECK(z && z->kind == BK_AUTHZ_OPEN);
    z = bk_route_authz(BK_ROUTE_CONSUMER_RECORDS, HTTP_GET);
    CHECK(z && z->resource == BK_RES_GROUP && z->op == BK_OP_READ &&
          z->name == BK_AUTHZ_NAME_GROUP_PATH);
    z = bk_route_authz(BK_ROUTE_GROUP, HTTP_GET);
    CHECK(z && z->resource == BK_RES_GROUP && z->op == BK_OP_DESCRIBE);
    z = bk_route_authz(BK_ROUTE_V1_CONSUME, HTTP_GET);
    CHECK(z && z->resource == BK_RES_GROUP && z->op == BK_OP_READ &&
          z->name == BK_AUTHZ_NAME_GROUP_PATH);
    z = bk_route_authz(BK_ROUTE_V1_MESSAGES, HTTP_GET);
    CHECK(z && z->resource == BK_RES_TOPIC && z->op == BK_OP_READ && z->name == BK_AUTHZ_NAME_PATH);
}

int main(void)
{
    static const check_case_t cases[] = {
        {"every_route_has_an_entry", every_route_has_an_entry},
        {"entries", entries},
    };
    return check_run(cases, sizeof cases / sizeof cases[0]);
}
