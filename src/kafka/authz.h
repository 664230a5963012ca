/* Which ACL check each Kafka API makes: one table (authz.c), like the HTTP router's, and the
 * pure decision of one decoded request against it. An API is either allowed before
 * authentication (ApiVersions and the SASL exchange) or names resources (topics, or the
 * cluster for a broker's configs), each checked with the API's one operation; an API without
 * a rule is refused whole (fail closed), and so is a resource no decision was made for. */
#ifndef BROOK_KAFKA_AUTHZ_H
#define BROOK_KAFKA_AUTHZ_H

#include "brook/auth.h"
#include "kafka/proto.h"

typedef enum {
    BK_KAUTHZ_PREAUTH = 1, /* no check; the only APIs allowed before authentication */
    BK_KAUTHZ_RESOURCES,   /* one check per resource the request names */
} bk_kauthz_kind_t;

typedef struct {
    int16_t key;
    bk_kauthz_kind_t kind;
    bk_acl_op_t op;  /* on each named resource; create on a topic is also granted by create
                      * on the cluster (as in Kafka) */
    int auto_create; /* Metadata: also decide create, which auto-creation needs */
    /* The resources of a decoded request, in request order (RESOURCES rules only). */
    int32_t (*count)(const bk_krequest_t *q);
    bk_kslice_t (*name_at)(const bk_krequest_t *q, int32_t i, bk_acl_resource_t *res);
} bk_kauthz_rule_t;

/* The rule of an API key, or NULL (then every request of that API is refused). */
const bk_kauthz_rule_t *bk_kauthz_rule(int16_t key);

/* Per resource of one request: what the principal may do with it. */
enum { BK_KAUTHZ_OK = 1, BK_KAUTHZ_MAY_CREATE = 2 };
typedef struct {
    int off;     /* authentication off: everything is allowed */
    int32_t n;   /* resources decided */
    uint8_t *ok; /* n entries of BK_KAUTHZ_* bits, in the request's arena */
} bk_kauthz_t;

/* The ACL question, answered by the caller (bk_auth_check for the connection's user). */
typedef int (*bk_kauthz_check_fn)(void *arg, bk_acl_resource_t res, const char *name, size_t len,
                                  bk_acl_op_t op);
/* 1 when check grants op on the resource, or create on a topic through the cluster. */
int bk_kauthz_may(bk_kauthz_check_fn check, void *arg, bk_acl_resource_t res, const char *name,
                  size_t len, bk_acl_op_t op);
/* Decides every resource q names under rule into out (allocated in a). Returns 0, or
 * UV_ENOMEM. Pure but for check. */
int bk_kauthz_decide(const bk_kauthz_rule_t *rule, const bk_krequest_t *q, bk_kauthz_check_fn check,
                     void *arg, bk_karena_t *a, bk_kauthz_t *out);
/* Whether resource i may be acted on (with the rule's op, or BK_KAUTHZ_MAY_CREATE): 0 for an
 * index nothing was decided for. */
int bk_kauthz_allowed(const bk_kauthz_t *z, int32_t i, int what);

#endif
