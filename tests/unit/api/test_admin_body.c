/* Topic administration bodies: both config shapes, and every refusal. */
#include <string.h>

#include "api/admin_body.h"
#include "check.h"

static bk_admin_body_t b;

static int parse(const char *s)
{
    return bk_admin_body_parse(&b, (const uint8_t *)s, strlen(s));
}

static void create_shapes(void)
{
    CHECK_EQ_INT(parse("{\"name\":\"orders\",\"partitions\":4,\"replication_factor\":1,"
                       "\"configs\":{\"retention.ms\":\"1000\",\"segment.bytes\":4096}}"),
                 0);
    CHECK(b.has_name);
    CHECK_EQ_STR(b.name, "orders");
    CHECK_EQ_INT(b.partitions, 4);
    CHECK_EQ_INT(b.replication_factor, 1);
    CHECK_EQ_INT(b.config_count, 2);
    CHECK_EQ_STR(b.configs[0].name, "retention.ms");
    CHECK_EQ_STR(b.configs[0].value, "1000");
    CHECK_EQ_STR(b.configs[1].value, "4096");
    CHECK_EQ_INT(parse("{\"topic_name\":\"t\",\"partitions_count\":2,\"configs\":"
                       "[{\"name\":\"retention.bytes\",\"value\":\"-1\"}],\"extra\":true}"),
                 422); /* booleans are refused anywhere */
    CHECK_EQ_INT(parse("{\"topic_name\":\"t\",\"partitions_count\":2,\"configs\":"
                       "[{\"name\":\"retention.bytes\",\"value\":\"-1\"}]}"),
                 0);
    CHECK_EQ_STR(b.name, "t");
    CHECK_EQ_INT(b.partitions, 2);
    CHECK_EQ_INT(b.config_count, 1);
    CHECK_EQ_STR(b.configs[0].value, "-1");
    CHECK_EQ_INT(parse("{\"partitions\":8}"), 0);
    CHECK(!b.has_name);
    CHECK_EQ_INT(b.partitions, 8);
}

static void refusals(void)
{
    CHECK_EQ_INT(parse(""), 400);
    CHECK_EQ_INT(parse("{\"name\":"), 400);
    CHECK_EQ_INT(parse("[]"), 422);
    CHECK_EQ_INT(parse("{\"name\":5}"), 422);
    CHECK_EQ_INT(parse("{\"partitions\":0}"), 422);
    CHECK_EQ_INT(parse("{\"partitions\":-3}"), 422);
    CHECK_EQ_INT(parse("{\"partitions\":1.5}"), 422);
    CHECK_EQ_INT(parse("{\"configs\":{\"a\":{\"b\":1}}}"), 422);
    CHECK_EQ_INT(parse("{\"configs\":[{\"name\":\"a\"}]}"), 422);
    CHECK_EQ_INT(parse("{\"x\":[[[[[[1]]]]]]}"), 422);
    char big[600] = "{\"name\":\"";
    memset(big + 9, 'a', 300);
    strcpy(big + 309, "\"}");
    CHECK_EQ_INT(parse(big), 422);
}

/* Issue 8: a NUL would cut names short ("orders\u0000../../etc" acted as "orders"). */
static void nul_and_surrogates(void)
{
    CHECK_EQ_INT(parse("{\"name\":\"orders\\u0000../../etc\"}"), 422);
    CHECK_EQ_INT(b.error_code, 42208);
    CHECK(strstr(b.error, "NUL") != NULL);
    CHECK_EQ_INT(parse("{\"name\":\"t\",\"configs\":{\"retention.ms\\u0000x\":\"5000\"}}"), 422);
    CHECK_EQ_INT(b.error_code, 42205);
    CHECK_EQ_INT(parse("{\"name\":\"t\",\"configs\":{\"retention.ms\":\"5000\\u0000y\"}}"), 422);
    CHECK_EQ_INT(b.error_code, 42205);
    CHECK_EQ_INT(parse("{\"name\":\"t\",\"configs\":[{\"name\":\"retention.ms\\u0000\","
                       "\"value\":\"1\"}]}"),
                 422);
    CHECK_EQ_INT(b.error_code, 42205);
    CHECK_EQ_INT(parse("{\"name\":\"t\",\"configs\":[{\"name\":\"retention.ms\","
                       "\"value\":\"1\\u0000\"}]}"),
                 422);
    CHECK_EQ_INT(b.error_code, 42205);
    CHECK_EQ_INT(parse("{\"name\":\"t\\udc00\"}"), 422);
    CHECK(strstr(b.error, "surrogate") != NULL);
    CHECK_EQ_INT(parse("{\"name\":\"t\",\"partitions\":10001}"), 422);
    CHECK(strstr(b.error, "from 1 to 10000") != NULL);
    CHECK_EQ_INT(parse("{\"name\":\"t\",\"partitions\":99999999999999999999999999}"), 422);
    CHECK_EQ_INT(parse("{\"name\":\"t\",\"partitions\":10000}"), 0);
    CHECK_EQ_INT(b.error_code, 0);
}

CHECK_MAIN(CASE(create_shapes), CASE(refusals), CASE(nul_and_surrogates))
