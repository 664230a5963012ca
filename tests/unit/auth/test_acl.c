/* ACL matching, table-driven: literal and prefixed patterns, the wildcard principal and name,
 * deny over allow, implied describe, nothing allowed without a rule; and the file parser's
 * refusals with line numbers. */
#include <string.h>

#include "brook/auth.h"
#include "brook/common.h"
#include "check.h"

static const char rules[] = "# test rules\n"
                            "allow User:alice topic literal orders read,write\n"
                            "allow User:alice topic prefixed logs- all\n"
                            "deny  User:alice topic literal logs-secret read\n"
                            "allow User:*     topic literal public read\n"
                            "deny  User:mallory topic literal public all\n"
                            "allow User:bob   topic literal * describe\n"
                            "allow User:bob   group prefixed app- read\n"
                            "allow User:repl  cluster literal kafka-cluster cluster_action\n"
                            "allow User:ops   cluster literal * create\n";

typedef struct {
    const char *user;
    bk_acl_resource_t res;
    const char *name;
    bk_acl_op_t op;
    int want;
} decision_t;

static const decision_t decisions[] = {
    {"alice", BK_RES_TOPIC, "orders", BK_OP_READ, 1},
    {"alice", BK_RES_TOPIC, "orders", BK_OP_WRITE, 1},
    {"alice", BK_RES_TOPIC, "orders", BK_OP_DESCRIBE, 1}, /* implied by read/write */
    {"alice", BK_RES_TOPIC, "orders", BK_OP_DELETE, 0},
    {"alice", BK_RES_TOPIC, "orders2", BK_OP_READ, 0}, /* literal is exact */
    {"alice", BK_RES_TOPIC, "order", BK_OP_READ, 0},
    {"alice", BK_RES_TOPIC, "logs-app", BK_OP_DELETE, 1}, /* prefixed + all */
    {"alice", BK_RES_TOPIC, "logs-", BK_OP_WRITE, 1},
    {"alice", BK_RES_TOPIC, "logs", BK_OP_WRITE, 0},
    {"alice", BK_RES_TOPIC, "logs-secret", BK_OP_READ, 0},  /* deny wins */
    {"alice", BK_RES_TOPIC, "logs-secret", BK_OP_WRITE, 1}, /* deny is per operation */
    {"alice", BK_RES_GROUP, "orders", BK_OP_READ, 0},       /* resource types differ */
    {"carol", BK_RES_TOPIC, "public", BK_OP_READ, 1},       /* User:* */
    {"carol", BK_RES_TOPIC, "public", BK_OP_WRITE, 0},
    {"mallory", BK_RES_TOPIC, "public", BK_OP_READ, 0}, /* deny all beats User:* allow */
    {"bob", BK_RES_TOPIC, "anything", BK_OP_DESCRIBE, 1},
    {"bob", BK_RES_TOPIC, "anything", BK_OP_READ, 0},
    {"bob", BK_RES_GROUP, "app-1", BK_OP_READ, 1},
    {"repl", BK_RES_CLUSTER, BK_ACL_CLUSTER_NAME, BK_OP_CLUSTER_ACTION, 1},
    {"repl", BK_RES_CLUSTER, BK_ACL_CLUSTER_NAME, BK_OP_ALTER, 0},
    {"alice", BK_RES_CLUSTER, BK_ACL_CLUSTER_NAME, BK_OP_CLUSTER_ACTION, 0},
    {"ops", BK_RES_CLUSTER, BK_ACL_CLUSTER_NAME, BK_OP_CREATE, 1},
    {"nobody", BK_RES_TOPIC, "orders", BK_OP_READ, 0},
    {"alic", BK_RES_TOPIC, "orders", BK_OP_READ, 0},
    {"alicex", BK_RES_TOPIC, "orders", BK_OP_READ, 0},
};

static void decisions_table(void)
{
    bk_acl_t a;
    char err[256];
    CHECK_EQ_INT(bk_acl_parse(rules, strlen(rules), &a, err, sizeof err), 0);
    CHECK_EQ_INT(a.n, 10);
    for (size_t i = 0; i < BK_ARRAY_LEN(decisions); i++) {
        const decision_t *d = &decisions[i];
        int got =
            bk_acl_allows(&a, d->user, strlen(d->user), d->res, d->name, strlen(d->name), d->op);
        if (got != d->want) {
            fprintf(stderr, "  case %zu: %s %s %s %s: got %d\n", i, d->user, bk_acl_op_name(d->op),
                    bk_acl_resource_name(d->res), d->name, got);
            CHECK(0);
        }
    }
    bk_acl_free(&a);
    bk_acl_t none = {0};
    CHECK_EQ_INT(bk_acl_allows(&none, "alice", 5, BK_RES_TOPIC, "t", 1, BK_OP_READ), 0);
}

typedef struct {
    const char *text;
    const char *why;
} bad_t;

static const bad_t bad[] = {
    {"permit User:a topic literal t read", "line 1: the first field must be allow or deny"},
    {"\nallow alice topic literal t read", "line 2: the principal must be User:NAME"},
    {"allow User: topic literal t read", "line 1: the principal"},
    {"allow User:a queue literal t read", "line 1: the resource type"},
    {"allow User:a topic match t read", "line 1: the pattern type"},
    {"allow User:a topic literal t fly", "line 1: unknown operation fly"},
    {"allow User:a topic literal t read,", "line 1: unknown operation"},
    {"allow User:a topic literal t", "line 1: expected 6 fields"},
    {"allow User:a topic literal t read x", "line 1: expected 6 fields"},
    {"allow User:a cluster prefixed kafka read", "line 1: a cluster rule"},
    {"allow User:a cluster literal mine read", "line 1: a cluster rule"},
};

static void parse_errors(void)
{
    for (size_t i = 0; i < BK_ARRAY_LEN(bad); i++) {
        bk_acl_t a;
        char err[256] = "";
        int rc = bk_acl_parse(bad[i].text, strlen(bad[i].text), &a, err, sizeof err);
        if (rc != BK_EINVAL || strncmp(err, bad[i].why, strlen(bad[i].why)) != 0) {
            fprintf(stderr, "  case %zu: rc %d err \"%s\"\n", i, rc, err);
            CHECK(0);
        }
    }
}

int main(void)
{
    static const check_case_t cases[] = {
        {"decisions_table", decisions_table},
        {"parse_errors", parse_errors},
    };
    return check_run(cases, BK_ARRAY_LEN(cases));
}
