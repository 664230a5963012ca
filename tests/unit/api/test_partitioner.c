/* murmur2 and key → partition against the values Kafka's own UtilsTest and librdkafka
 * publish, so keys land where other Kafka tools put them. */
#include <string.h>

#include "api/partitioner.h"
#include "check.h"

static int32_t h(const char *s)
{
    return bk_murmur2((const uint8_t *)s, strlen(s));
}

static void kafka_vectors(void)
{
    CHECK_EQ_INT(h("21"), -973932308);
    CHECK_EQ_INT(h("foobar"), -790332482);
    CHECK_EQ_INT(h("a-little-bit-long-string"), -985981536);
    CHECK_EQ_INT(h("a-little-bit-longer-string"), -1486304829);
    CHECK_EQ_INT(h("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
    CHECK_EQ_INT(h("abc"), 479470107);
    CHECK_EQ_INT(h("kafka"), -798503068);
    CHECK_EQ_INT(h("1"), -1993445489);
    CHECK_EQ_INT(h("12"), 126087238);
    CHECK_EQ_INT(h("123"), -267702483);
    CHECK_EQ_INT(h("1234"), -1614185708);
    CHECK_EQ_INT(h("12345"), -1188365604);
}

static void partition_choice(void)
{
    /* (murmur2 & 0x7fffffff) % n */
    CHECK_EQ_INT(bk_partition_for_key((const uint8_t *)"21", 2, 10),
                 ((uint32_t)-973932308 & 0x7fffffffu) % 10);
    CHECK_EQ_INT(bk_partition_for_key((const uint8_t *)"abc", 3, 7), 479470107u % 7);
    CHECK_EQ_INT(bk_partition_for_key((const uint8_t *)"x", 1, 1), 0);
}

CHECK_MAIN(CASE(kafka_vectors), CASE(partition_choice))
