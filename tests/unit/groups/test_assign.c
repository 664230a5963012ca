/* Kafka's range and roundrobin assignors against the examples of their javadoc and more:
 * members with different subscriptions, more members than partitions, zero partitions,
 * unknown topics, static members sorting first, and Java's UTF-16 string order. Each case is
 * a table row: members ("id:topic,topic"), topic sizes, and the expected assignment rendered
 * as "member=[t0p0 t0p1] ..." in input member order. */
#include "brook/common.h"
#include "brook/groups.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int32_t partitions;
} topic_size_t;

static const topic_size_t *sizes;

static int32_t size_of(void *ctx, const char *topic)
{
    (void)ctx;
    for (const topic_size_t *t = sizes; t->name; t++)
        if (strcmp(t->name, topic) == 0)
            return t->partitions;
    return -1;
}

typedef struct {
    const char *assignor;
    const char *members[8]; /* "C0:t0,t1" or "C0/instance:t0" */
    topic_size_t topics[6]; /* ends with {NULL} */
    const char *expect;
} row_t;

static void render(const bk_grp_assignment_t *a, char *out, size_t cap)
{
    size_t n = strlen(out);
    n += (size_t)snprintf(out + n, cap - n, "[");
    for (size_t t = 0; t < a->count; t++)
        for (size_t i = 0; i < a->topics[t].count; i++)
            n += (size_t)snprintf(out + n, cap - n, "%s%sp%d", n && out[n - 1] != '[' ? " " : "",
                                  a->topics[t].topic, a->topics[t].partitions[i]);
    snprintf(out + n, cap - n, "]");
}

static void run_row(const row_t *r)
{
    bk_grp_assign_member_t m[8];
    char ids[8][32], inst[8][32], *topics[8][6], buf[8][64];
    size_t n = 0;
    for (; n < 8 && r->members[n]; n++) {
        snprintf(buf[n], sizeof buf[n], "%s", r->members[n]);
        char *colon = strchr(buf[n], ':');
        *colon = 0;
        char *slash = strchr(buf[n], '/');
        if (slash)
            *slash = 0;
        snprintf(ids[n], sizeof ids[n], "%s", buf[n]);
        snprintf(inst[n], sizeof inst[n], "%s", slash ? slash + 1 : "");
        size_t k = 0;
        for (char *t = strtok(colon + 1, ","); t && k < 6; t = strtok(NULL, ","))
            topics[n][k++] = t;
        m[n] = (bk_grp_assign_member_t){.member_id = ids[n],
                                        .group_instance_id = slash ? inst[n] : NULL,
                                        .topics = (const char *const *)topics[n],
                                        .topic_count = k};
    }
    bk_grp_assignment_t out[8];
    memset(out, 0, sizeof out);
    sizes = r->topics;
    CHECK_EQ_INT(bk_grp_assign(r->assignor, m, n, size_of, NULL, out), 0);
    char got[1024] = "";
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(got);
        snprintf(got + len, sizeof got - len, "%s%s=", i ? " " : "", ids[i]);
        render(&out[i], got, sizeof got);
        bk_grp_assignment_free(&out[i]);
    }
    if (strcmp(got, r->expect) != 0)
        fprintf(stderr, "  %s %s\n", r->assignor, r->members[0]);
    CHECK_EQ_STR(got, r->expect);
}

static void test_range(void)
{
    static const row_t rows[] = {
        /* RangeAssignor javadoc */
        {"range",
         {"C0:t0,t1", "C1:t0,t1"},
         {{"t0", 3}, {"t1", 3}, {NULL, 0}},
         "C0=[t0p0 t0p1 t1p0 t1p1] C1=[t0p2 t1p2]"},
        /* input order does not matter: members sort by id */
        {"range",
         {"C1:t0,t1", "C0:t1,t0"},
         {{"t0", 3}, {"t1", 3}, {NULL, 0}},
         "C1=[t0p2 t1p2] C0=[t0p0 t0p1 t1p0 t1p1]"},
        /* different subscriptions: each topic is cut among its own subscribers */
        {"range",
         {"C0:t0", "C1:t0,t1", "C2:t0,t1,t2"},
         {{"t0", 1}, {"t1", 2}, {"t2", 3}, {NULL, 0}},
         "C0=[t0p0] C1=[t1p0] C2=[t1p1 t2p0 t2p1 t2p2]"},
        {"range",
         {"A:x", "B:y", "C:x,y"},
         {{"x", 5}, {"y", 4}, {NULL, 0}},
         "A=[xp0 xp1 xp2] B=[yp0 yp1] C=[xp3 xp4 yp2 yp3]"},
        /* more members than partitions */
        {"range",
         {"m0:t", "m1:t", "m2:t", "m3:t"},
         {{"t", 2}, {NULL, 0}},
         "m0=[tp0] m1=[tp1] m2=[] m3=[]"},
        /* 7 over 3: 3, 2, 2 */
        {"range",
         {"c:t", "a:t", "b:t"},
         {{"t", 7}, {NULL, 0}},
         "c=[tp5 tp6] a=[tp0 tp1 tp2] b=[tp3 tp4]"},
        /* zero partitions and unknown topics assign nothing */
        {"range", {"a:t,gone", "b:t"}, {{"t", 0}, {NULL, 0}}, "a=[] b=[]"},
        {"range", {"a:t", "b:"}, {{"t", 2}, {NULL, 0}}, "a=[tp0 tp1] b=[]"},
        /* Java order: "B" < "a" (uppercase first), "C10" < "C2" (no numeric order) */
        {"range", {"a:t", "B:t"}, {{"t", 3}, {NULL, 0}}, "a=[tp2] B=[tp0 tp1]"},
        {"range", {"C2:t", "C10:t"}, {{"t", 3}, {NULL, 0}}, "C2=[tp2] C10=[tp0 tp1]"},
        /* static members (group.instance.id) sort before dynamic ones, by instance id */
        {"range", {"a:t", "z/i2:t", "y/i1:t"}, {{"t", 3}, {NULL, 0}}, "a=[tp2] z=[tp1] y=[tp0]"},
    };
    for (size_t i = 0; i < BK_ARRAY_LEN(rows); i++)
        run_row(&rows[i]);
}

static void test_roundrobin(void)
{
    static const row_t rows[] = {
        /* RoundRobinAssignor javadoc, same subscriptions */
        {"roundrobin",
         {"C0:t0,t1", "C1:t0,t1"},
         {{"t0", 3}, {"t1", 3}, {NULL, 0}},
         "C0=[t0p0 t0p2 t1p1] C1=[t0p1 t1p0 t1p2]"},
        /* RoundRobinAssignor javadoc, different subscriptions */
        {"roundrobin",
         {"C0:t0", "C1:t0,t1", "C2:t0,t1,t2"},
         {{"t0", 1}, {"t1", 2}, {"t2", 3}, {NULL, 0}},
         "C0=[t0p0] C1=[t1p0] C2=[t1p1 t2p0 t2p1 t2p2]"},
        /* topics in Java order ("B" before "a"), the deal continues across topics */
        {"roundrobin",
         {"m1:a,B", "m0:a,B"},
         {{"a", 2}, {"B", 1}, {NULL, 0}},
         "m1=[ap0] m0=[Bp0 ap1]"},
        /* more members than partitions */
        {"roundrobin", {"m0:t", "m1:t", "m2:t"}, {{"t", 2}, {NULL, 0}}, "m0=[tp0] m1=[tp1] m2=[]"},
        /* a skipped member keeps its turn for the next partition of its topic */
        {"roundrobin",
         {"a:x,y", "b:y", "c:x,y"},
         {{"x", 3}, {"y", 3}, {NULL, 0}},
         "a=[xp0 xp2 yp2] b=[yp0] c=[xp1 yp1]"},
        {"roundrobin", {"a:t,gone", "b:t"}, {{"t", 0}, {NULL, 0}}, "a=[] b=[]"},
        /* six partitions over three members */
        {"roundrobin",
         {"r-3:t", "r-1:t", "r-2:t"},
         {{"t", 6}, {NULL, 0}},
         "r-3=[tp2 tp5] r-1=[tp0 tp3] r-2=[tp1 tp4]"},
    };
    for (size_t i = 0; i < BK_ARRAY_LEN(rows); i++)
        run_row(&rows[i]);
}

static void test_refusals(void)
{
    const char *t[] = {"t"};
    bk_grp_assign_member_t m[2] = {{.member_id = "a", .topics = t, .topic_count = 1},
                                   {.member_id = "a", .topics = t, .topic_count = 1}};
    bk_grp_assignment_t out[2];
    memset(out, 0, sizeof out);
    static const topic_size_t one[] = {{"t", 1}, {NULL, 0}};
    sizes = one;
    CHECK_EQ_INT(bk_grp_assign("sticky", m, 1, size_of, NULL, out), BK_EINVAL);
    CHECK_EQ_INT(bk_grp_assign("range", m, 2, size_of, NULL, out), BK_EINVAL);
    CHECK_EQ_INT(bk_grp_assign("range", m, 0, size_of, NULL, out), 0);
    CHECK_EQ_INT(bk_grp_assign("roundrobin", m, 0, size_of, NULL, out), 0);
}

static void test_java_order(void)
{
    CHECK(bk_grp_java_strcmp("a", "b") < 0);
    CHECK(bk_grp_java_strcmp("B", "a") < 0);
    CHECK(bk_grp_java_strcmp("ab", "abc") < 0);
    CHECK(bk_grp_java_strcmp("x", "x") == 0);
    /* U+1F600 (surrogates D83D DE00) sorts before U+FF21 in UTF-16, after it in UTF-8 */
    CHECK(bk_grp_java_strcmp("\xf0\x9f\x98\x80", "\xef\xbc\xa1") < 0);
    CHECK(strcmp("\xf0\x9f\x98\x80", "\xef\xbc\xa1") > 0);
    CHECK(bk_grp_java_strcmp("\xc3\xa9", "z") > 0);
}

static void test_assignment_list(void)
{
    bk_grp_assignment_t a = {0};
    CHECK_EQ_INT(bk_grp_assignment_add(&a, "b", 2), 0);
    CHECK_EQ_INT(bk_grp_assignment_add(&a, "a", 1), 0);
    CHECK_EQ_INT(bk_grp_assignment_add(&a, "b", 0), 0);
    CHECK_EQ_INT(bk_grp_assignment_add(&a, "b", 2), 0);
    CHECK_EQ_INT(a.count, 2);
    CHECK_EQ_STR(a.topics[0].topic, "a");
    CHECK_EQ_INT(a.topics[1].count, 2);
    CHECK_EQ_INT(a.topics[1].partitions[0], 0);
    CHECK_EQ_INT(bk_grp_assignment_size(&a), 3);
    CHECK(bk_grp_assignment_has(&a, "b", 2));
    CHECK(!bk_grp_assignment_has(&a, "b", 1));
    CHECK(!bk_grp_assignment_has(&a, "c", 0));
    bk_grp_assignment_free(&a);
}

CHECK_MAIN(CASE(test_range), CASE(test_roundrobin), CASE(test_refusals), CASE(test_java_order),
           CASE(test_assignment_list))
