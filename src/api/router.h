/* Routing: method + path → a route and its path parameters. Pure: no I/O, no allocation, so
 * the whole table is unit-tested. Paths are matched segment by segment; a path that exists
 * with another method yields 405 and the Allow list. */
#ifndef BROOK_API_ROUTER_H
#define BROOK_API_ROUTER_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    BK_ROUTE_NONE = 0,
    BK_ROUTE_ROOT,       /* GET / */
    BK_ROUTE_PRODUCE,    /* POST /produce (seed) */
    BK_ROUTE_LEADER,     /* GET /metadata/leader */
    BK_ROUTE_HEALTH,     /* GET /health */
    BK_ROUTE_METRICS,    /* GET /metrics */
    BK_ROUTE_BROKERS,    /* GET /brokers */
    BK_ROUTE_TOPICS,     /* GET /topics, POST /topics */
    BK_ROUTE_TOPIC,      /* GET, POST, DELETE /topics/{t} */
    BK_ROUTE_PARTITIONS, /* GET, POST /topics/{t}/partitions */
    BK_ROUTE_PARTITION,  /* GET, POST /topics/{t}/partitions/{p} */
    BK_ROUTE_OFFSETS,    /* GET /topics/{t}/partitions/{p}/offsets */
    BK_ROUTE_RECORDS,    /* GET /topics/{t}/partitions/{p}/records */
    BK_ROUTE_REPL_FETCH, /* POST /replication/fetch (followers) */
    BK_ROUTE_CONFIGS,    /* GET, PUT /topics/{t}/configs */
    /* Consumer groups (REST Proxy v2 consumer API and Brook's group views) */
    BK_ROUTE_GROUPS,           /* GET /consumers */
    BK_ROUTE_GROUP,            /* GET (view), POST (new instance), DELETE /consumers/{g} */
    BK_ROUTE_GROUP_OFFSETS,    /* GET, POST (commit, no instance) /consumers/{g}/offsets */
    BK_ROUTE_INSTANCE,         /* DELETE /consumers/{g}/instances/{i} */
    BK_ROUTE_SUBSCRIPTION,     /* POST, GET, DELETE .../instances/{i}/subscription */
    BK_ROUTE_ASSIGNMENTS,      /* POST, GET .../instances/{i}/assignments */
    BK_ROUTE_INST_OFFSETS,     /* POST, GET .../instances/{i}/offsets */
    BK_ROUTE_POSITIONS,        /* POST .../instances/{i}/positions */
    BK_ROUTE_POSITIONS_BEGIN,  /* POST .../instances/{i}/positions/beginning */
    BK_ROUTE_POSITIONS_END,    /* POST .../instances/{i}/positions/end */
    BK_ROUTE_CONSUMER_RECORDS, /* GET .../instances/{i}/records */
    BK_ROUTE_V1_CONSUME,       /* GET .../instances/{i}/topics/{t} (REST Proxy v1) */
    BK_ROUTE_V1_MESSAGES,      /* GET /topics/{t}/partitions/{p}/messages (REST Proxy v1) */
    BK_ROUTE_PRODUCER_IDS,     /* POST /cluster/producer-ids (followers, for InitProducerId) */
    BK_ROUTE_COUNT
} bk_route_id_t;

typedef struct {
    bk_route_id_t id;
    const char *topic; /* points into the path; not NUL-terminated */
    size_t topic_len;
    int64_t partition; /* -1 when the route has none; -2 when the segment is not a number */
    const char *group; /* consumer routes: {g} and {i}, pointing into the path */
    size_t group_len;
    const char *instance;
    size_t instance_len;
    const char *allow; /* for 405: "Allow: ...\r\n" header line */
} bk_route_t;

/* Returns 0 with *out filled, 404 when no route has this path, or 405 (out->allow set) when
 * the path exists but not for this method. method is an llhttp_method_t. */
int bk_route_match(int method, const char *path, size_t path_len, bk_route_t *out);

/* 1 for routes that write and therefore need the leader. */
int bk_route_is_write(const bk_route_t *r, int method);
/* 1 for the consumer-group routes (/consumers...): served by the leader, which holds the
 * groups; a follower forwards them whatever the method. */
int bk_route_is_group(const bk_route_t *r);

/* Authorization: what each route and method needs once authentication is on (README
 * "Security" lists the same table). The dispatcher makes exactly this check before any
 * handler runs; a route or method without an entry gets NULL and is refused (fail closed). */
typedef enum {
    BK_AUTHZ_OPEN = 1, /* no credentials (unless --auth-all-paths: then describe cluster) */
    BK_AUTHZ_ANY_USER, /* any authenticated user */
    BK_AUTHZ_LIST,     /* any authenticated user; topics it may not describe are left out */
    BK_AUTHZ_CHECK,    /* one ACL check: op on resource */
} bk_authz_kind_t;

typedef enum {
    BK_AUTHZ_NAME_NONE = 0,     /* the cluster */
    BK_AUTHZ_NAME_PATH,         /* the topic in the path */
    BK_AUTHZ_NAME_PRODUCE_BODY, /* "topic" of the seed produce body ("default" if absent) */
    BK_AUTHZ_NAME_CREATE_BODY,  /* "name" of a topic creation body */
    BK_AUTHZ_NAME_GROUP_PATH,   /* the consumer group in the path */
} bk_authz_name_t;

typedef struct {
    bk_route_id_t id;
    unsigned methods; /* bit per llhttp method */
    bk_authz_kind_t kind;
    int resource; /* bk_acl_resource_t */
    int op;       /* bk_acl_op_t */
    bk_authz_name_t name;
} bk_route_authz_t;

const bk_route_authz_t *bk_route_authz(bk_route_id_t id, int method);

#endif
