/* The route table. Every route lists the methods it accepts so a wrong method is a 405 with
 * an accurate Allow header rather than a 404. */
#include "api/router.h"

#include <llhttp.h>
#include <string.h>

#include "brook/auth.h"

#define M(x) (1u << (x))

typedef struct {
    const char *segs[7]; /* literal segment, or "{t}" / "{p}", NULL-terminated */
    bk_route_id_t id;
    unsigned methods;
    const char *allow;
} route_def_t;

static const route_def_t routes[] = {
    {{NULL}, BK_ROUTE_ROOT, M(HTTP_GET) | M(HTTP_HEAD), "Allow: GET, HEAD\r\n"},
    {{"produce", NULL}, BK_ROUTE_PRODUCE, M(HTTP_POST), "Allow: POST\r\n"},
    {{"metadata", "leader", NULL},
     BK_ROUTE_LEADER,
     M(HTTP_GET) | M(HTTP_HEAD),
     "Allow: GET, HEAD\r\n"},
    {{"health", NULL}, BK_ROUTE_HEALTH, M(HTTP_GET) | M(HTTP_HEAD), "Allow: GET, HEAD\r\n"},
    {{"metrics", NULL}, BK_ROUTE_METRICS, M(HTTP_GET), "Allow: GET\r\n"},
    {{"brokers", NULL}, BK_ROUTE_BROKERS, M(HTTP_GET), "Allow: GET\r\n"},
    {{"topics", NULL}, BK_ROUTE_TOPICS, M(HTTP_GET) | M(HTTP_POST), "Allow: GET, POST\r\n"},
    {{"topics", "{t}", NULL},
     BK_ROUTE_TOPIC,
     M(HTTP_GET) | M(HTTP_POST) | M(HTTP_DELETE),
     "Allow: GET, POST, DELETE\r\n"},
    {{"topics", "{t}", "partitions", NULL},
     BK_ROUTE_PARTITIONS,
     M(HTTP_GET) | M(HTTP_POST),
     "Allow: GET, POST\r\n"},
    {{"topics", "{t}", "partitions", "{p}", NULL},
     BK_ROUTE_PARTITION,
     M(HTTP_GET) | M(HTTP_POST),
     "Allow: GET, POST\r\n"},
    {{"topics", "{t}", "partitions", "{p}", "offsets", NULL},
     BK_ROUTE_OFFSETS,
     M(HTTP_GET),
     "Allow: GET\r\n"},
    {{"topics", "{t}", "partitions", "{p}", "records", NULL},
     BK_ROUTE_RECORDS,
     M(HTTP_GET),
     "Allow: GET\r\n"},
    {{"replication", "fetch", NULL}, BK_ROUTE_REPL_FETCH, M(HTTP_POST), "Allow: POST\r\n"},
    {{"cluster", "producer-ids", NULL}, BK_ROUTE_PRODUCER_IDS, M(HTTP_POST), "Allow: POST\r\n"},
    {{"topics", "{t}", "configs", NULL},
     BK_ROUTE_CONFIGS,
     M(HTTP_GET) | M(HTTP_PUT),
     "Allow: GET, PUT\r\n"},
    {{"consumers", NULL}, BK_ROUTE_GROUPS, M(HTTP_GET), "Allow: GET\r\n"},
    {{"consumers", "{g}", NULL},
     BK_ROUTE_GROUP,
     M(HTTP_GET) | M(HTTP_POST) | M(HTTP_DELETE),
     "Allow: GET, POST, DELETE\r\n"},
    {{"consumers", "{g}", "offsets", NULL},
     BK_ROUTE_GROUP_OFFSETS,
     M(HTTP_GET) | M(HTTP_POST),
     "Allow: GET, POST\r\n"},
    {{"consumers", "{g}", "instances", "{i}", NULL},
     BK_ROUTE_INSTANCE,
     M(HTTP_DELETE),
     "Allow: DELETE\r\n"},
    {{"consumers", "{g}", "instances", "{i}", "subscription", NULL},
     BK_ROUTE_SUBSCRIPTION,
     M(HTTP_GET) | M(HTTP_POST) | M(HTTP_DELETE),
     "Allow: GET, POST, DELETE\r\n"},
    {{"consumers", "{g}", "instances", "{i}", "assignments", NULL},
     BK_ROUTE_ASSIGNMENTS,
     M(HTTP_GET) | M(HTTP_POST),
     "Allow: GET, POST\r\n"},
    {{"consumers", "{g}", "instances", "{i}", "offsets", NULL},
     BK_ROUTE_INST_OFFSETS,
     M(HTTP_GET) | M(HTTP_POST),
     "Allow: GET, POST\r\n"},
    {{"consumers", "{g}", "instances", "{i}", "positions", NULL},
     BK_ROUTE_POSITIONS,
     M(HTTP_POST),
     "Allow: POST\r\n"},
    {{"consumers", "{g}", "instances", "{i}", "positions", "beginning"},
     BK_ROUTE_POSITIONS_BEGIN,
     M(HTTP_POST),
     "Allow: POST\r\n"},
    {{"consumers", "{g}", "instances", "{i}", "positions", "end"},
     BK_ROUTE_POSITIONS_END,
     M(HTTP_POST),
     "Allow: POST\r\n"},
    {{"consumers", "{g}", "instances", "{i}", "records", NULL},
     BK_ROUTE_CONSUMER_RECORDS,
     M(HTTP_GET),
     "Allow: GET\r\n"},
    {{"consumers", "{g}", "instances", "{i}", "topics", "{t}"},
     BK_ROUTE_V1_CONSUME,
     M(HTTP_GET),
     "Allow: GET\r\n"},
    {{"topics", "{t}", "partitions", "{p}", "messages", NULL},
     BK_ROUTE_V1_MESSAGES,
     M(HTTP_GET),
     "Allow: GET\r\n"},
};

static int64_t parse_partition(const char *s, size_t len)
{
    if (len == 0 || len > 9)
        return -2;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -2;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Matches one definition; 1 on a path match (fills out), 0 otherwise. */
static int match_def(const route_def_t *d, const char *path, size_t len, bk_route_t *out)
{
    size_t pos = 1; /* skip the leading '/' */
    out->topic = NULL;
    out->topic_len = 0;
    out->partition = -1;
    out->group = out->instance = NULL;
    out->group_len = out->instance_len = 0;
    for (int i = 0; i < 7 && d->segs[i]; i++) {
        if (pos > len)
            return 0;
        const char *seg = path + pos;
        const char *slash = memchr(seg, '/', len - pos);
        size_t seg_len = slash ? (size_t)(slash - seg) : len - pos;
        if (seg_len == 0)
            return 0;
        const char *def = d->segs[i];
        if (def[0] != '{') { /* a literal: most definitions end at their first one */
            if (strncmp(def, seg, seg_len) != 0 || def[seg_len] != '\0')
                return 0;
        } else if (def[1] == 't') {
            out->topic = seg;
            out->topic_len = seg_len;
        } else if (def[1] == 'g') {
            out->group = seg;
            out->group_len = seg_len;
        } else if (def[1] == 'i') {
            out->instance = seg;
            out->instance_len = seg_len;
        } else { /* {p} */
            out->partition = parse_partition(seg, seg_len);
        }
        pos += seg_len + 1;
    }
    return pos >= len; /* consumed everything (a trailing '/' is tolerated) */
}

int bk_route_match(int method, const char *path, size_t path_len, bk_route_t *out)
{
    memset(out, 0, sizeof *out);
    if (path_len == 0 || path[0] != '/')
        return 404;
    /* Strip one trailing slash except on "/" itself. */
    if (path_len > 1 && path[path_len - 1] == '/')
        path_len--;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const route_def_t *d = &routes[i];
        if (d->segs[0] == NULL) {
            if (path_len != 1)
                continue;
            out->partition = -1;
        } else if (!match_def(d, path, path_len, out)) {
            continue;
        }
        out->id = d->id;
        out->allow = d->allow;
        if (method < 0 || method >= 32 || !(d->methods & M((unsigned)method)))
            return 405;
        return 0;
    }
    out->id = BK_ROUTE_NONE;
    return 404;
}

int bk_route_is_write(const bk_route_t *r, int method)
{
    switch (r->id) {
    case BK_ROUTE_PRODUCE:
        return 1;
    case BK_ROUTE_TOPICS:
    case BK_ROUTE_TOPIC:
    case BK_ROUTE_PARTITIONS:
    case BK_ROUTE_PARTITION:
        return method == HTTP_POST || method == HTTP_DELETE;
    case BK_ROUTE_CONFIGS:
        return method == HTTP_PUT;
    default:
        return 0;
    }
}

int bk_route_is_group(const bk_route_t *r)
{
    return r->id >= BK_ROUTE_GROUPS && r->id <= BK_ROUTE_V1_CONSUME;
}

/* The one route → permission table. Create is "create on the cluster, or on the topic" (the
 * dispatcher accepts either); the replication fetch and a follower's ask for producer ids
 * need cluster_action on the cluster (brokers' own routes). */
#define GET_HEAD (M(HTTP_GET) | M(HTTP_HEAD))
static const bk_route_authz_t authz[] = {
    {BK_ROUTE_ROOT, GET_HEAD, BK_AUTHZ_ANY_USER, 0, 0, BK_AUTHZ_NAME_NONE},
    {BK_ROUTE_PRODUCE, M(HTTP_POST), BK_AUTHZ_CHECK, BK_RES_TOPIC, BK_OP_WRITE,
     BK_AUTHZ_NAME_PRODUCE_BODY},
    {BK_ROUTE_LEADER, GET_HEAD, BK_AUTHZ_ANY_USER, 0, 0, BK_AUTHZ_NAME_NONE},
    {BK_ROUTE_HEALTH, GET_HEAD, BK_AUTHZ_OPEN, BK_RES_CLUSTER, BK_OP_DESCRIBE, BK_AUTHZ_NAME_NONE},
    {BK_ROUTE_METRICS, M(HTTP_GET), BK_AUTHZ_OPEN, BK_RES_CLUSTER, BK_OP_DESCRIBE,
     BK_AUTHZ_NAME_NONE},
    {BK_ROUTE_BROKERS, M(HTTP_GET), BK_AUTHZ_ANY_USER, 0, 0, BK_AUTHZ_NAME_NONE},
    {BK_ROUTE_TOPICS, M(HTTP_GET), BK_AUTHZ_LIST, BK_RES_TOPIC, BK_OP_DESCRIBE, BK_AUTHZ_NAME_NONE},
    {BK_ROUTE_TOPICS, M(HTTP_POST), BK_AUTHZ_CHECK, BK_RES_TOPIC, BK_OP_CREATE,
     BK_AUTHZ_NAME_CREATE_BODY},
    {BK_ROUTE_TOPIC, M(HTTP_GET), BK_AUTHZ_CHECK, BK_RES_TOPIC, BK_OP_DESCRIBE, BK_AUTHZ_NAME_PATH},
    {BK_ROUTE_TOPIC, M(HTTP_POST), BK_AUTHZ_CHECK, BK_RES_TOPIC, BK_OP_WRITE, BK_AUTHZ_NAME_PATH},
    {BK_ROUTE_TOPIC, M(HTTP_DELETE), BK_AUTHZ_CHECK, BK_RES_TOPIC, BK_OP_DELETE,
     BK_AUTHZ_NAME_PATH},
    {BK_ROUTE_PARTITIONS, M(HTTP_GET), BK_AUTHZ_CHECK, BK_RES_TOPIC, BK_OP_DESCRIBE,
     BK_AUTHZ_NAME_PATH},
    {BK_ROUTE_PARTITIONS, M(HTTP_POST), BK_AUTHZ_CHECK, BK_RES_TOPIC, BK_OP_ALTER,
     BK_AUTHZ_NAME_PATH},
    {BK_ROUTE_PARTITION, M(HTTP_GET), BK_AUTHZ_CHECK, BK_RES_TOPIC, BK_OP_DESCRIBE,
     BK_AUTHZ_NAME_PATH},
    {BK_ROUTE_PARTITION, M(HTTP_POST), BK_AUTHZ_CHECK, BK_RES_TOPIC, BK_OP_WRITE,
     BK_AUTHZ_NAME_PATH},
    {BK_ROUTE_OFFSETS, M(HTTP_GET), BK_AUTHZ_CHECK, BK_RES_TOPIC, BK_OP_DESCRIBE,
     BK_AUTHZ_NAME_PATH},
    {BK_ROUTE_RECORDS, M(HTTP_GET), BK_AUTHZ_CHECK, BK_RES_TOPIC, BK_OP_READ, BK_AUTHZ_NAME_PATH},
    {BK_ROUTE_REPL_FETCH, M(HTTP_POST), BK_AUTHZ_CHECK, BK_RES_CLUSTER, BK_OP_CLUSTER_ACTION,
     BK_AUTHZ_NAME_NONE},
    {BK_ROUTE_PRODUCER_IDS, M(HTTP_POST), BK_AUTHZ_CHECK, BK_RES_CLUSTER, BK_OP_CLUSTER_ACTION,
     BK_AUTHZ_NAME_NONE},
    {BK_ROUTE_CONFIGS, M(HTTP_GET), BK_AUTHZ_CHECK, BK_RES_TOPIC, BK_OP_DESCRIBE,
     BK_AUTHZ_NAME_PATH},
    {BK_ROUTE_CONFIGS, M(HTTP_PUT), BK_AUTHZ_CHECK, BK_RES_TOPIC, BK_OP_ALTER, BK_AUTHZ_NAME_PATH},
    /* Consumer groups: read on the group here; read on each topic when the handler names it
     * (subscription, assignment, commit, seek). Groups the user may not describe are left
     * out of the list. */
    {BK_ROUTE_GROUPS, M(HTTP_GET), BK_AUTHZ_LIST, BK_RES_GROUP, BK_OP_DESCRIBE, BK_AUTHZ_NAME_NONE},
    {BK_ROUTE_GROUP, M(HTTP_GET), BK_AUTHZ_CHECK, BK_RES_GROUP, BK_OP_DESCRIBE,
     BK_AUTHZ_NAME_GROUP_PATH},
    {BK_ROUTE_GROUP, M(HTTP_POST), BK_AUTHZ_CHECK, BK_RES_GROUP, BK_OP_READ,
     BK_AUTHZ_NAME_GROUP_PATH},
    {BK_ROUTE_GROUP, M(HTTP_DELETE), BK_AUTHZ_CHECK, BK_RES_GROUP, BK_OP_DELETE,
     BK_AUTHZ_NAME_GROUP_PATH},
    {BK_ROUTE_GROUP_OFFSETS, M(HTTP_GET), BK_AUTHZ_CHECK, BK_RES_GROUP, BK_OP_DESCRIBE,
     BK_AUTHZ_NAME_GROUP_PATH},
    {BK_ROUTE_GROUP_OFFSETS, M(HTTP_POST), BK_AUTHZ_CHECK, BK_RES_GROUP, BK_OP_READ,
     BK_AUTHZ_NAME_GROUP_PATH},
    {BK_ROUTE_INSTANCE, M(HTTP_DELETE), BK_AUTHZ_CHECK, BK_RES_GROUP, BK_OP_READ,
     BK_AUTHZ_NAME_GROUP_PATH},
    {BK_ROUTE_SUBSCRIPTION, M(HTTP_GET) | M(HTTP_POST) | M(HTTP_DELETE), BK_AUTHZ_CHECK,
     BK_RES_GROUP, BK_OP_READ, BK_AUTHZ_NAME_GROUP_PATH},
    {BK_ROUTE_ASSIGNMENTS, M(HTTP_GET) | M(HTTP_POST), BK_AUTHZ_CHECK, BK_RES_GROUP, BK_OP_READ,
     BK_AUTHZ_NAME_GROUP_PATH},
    {BK_ROUTE_INST_OFFSETS, M(HTTP_GET) | M(HTTP_POST), BK_AUTHZ_CHECK, BK_RES_GROUP, BK_OP_READ,
     BK_AUTHZ_NAME_GROUP_PATH},
    {BK_ROUTE_POSITIONS, M(HTTP_POST), BK_AUTHZ_CHECK, BK_RES_GROUP, BK_OP_READ,
     BK_AUTHZ_NAME_GROUP_PATH},
    {BK_ROUTE_POSITIONS_BEGIN, M(HTTP_POST), BK_AUTHZ_CHECK, BK_RES_GROUP, BK_OP_READ,
     BK_AUTHZ_NAME_GROUP_PATH},
    {BK_ROUTE_POSITIONS_END, M(HTTP_POST), BK_AUTHZ_CHECK, BK_RES_GROUP, BK_OP_READ,
     BK_AUTHZ_NAME_GROUP_PATH},
    {BK_ROUTE_CONSUMER_RECORDS, M(HTTP_GET), BK_AUTHZ_CHECK, BK_RES_GROUP, BK_OP_READ,
     BK_AUTHZ_NAME_GROUP_PATH},
    /* REST Proxy v1: reading a topic through an instance (read on the topic checked by the
     * handler, as for a subscription); the stateless read of one partition. */
    {BK_ROUTE_V1_CONSUME, M(HTTP_GET), BK_AUTHZ_CHECK, BK_RES_GROUP, BK_OP_READ,
     BK_AUTHZ_NAME_GROUP_PATH},
    {BK_ROUTE_V1_MESSAGES, M(HTTP_GET), BK_AUTHZ_CHECK, BK_RES_TOPIC, BK_OP_READ,
     BK_AUTHZ_NAME_PATH},
};

const bk_route_authz_t *bk_route_authz(bk_route_id_t id, int method)
{
    if (method < 0 || method >= 32)
        return NULL;
    for (size_t i = 0; i < sizeof authz / sizeof authz[0]; i++)
        if (authz[i].id == id && (authz[i].methods & M((unsigned)method)))
            return &authz[i];
    return NULL;
}
