/* The REST Proxy v1 consumer API, as deltas over the v2 instances (consumers*.c): v1 content
 * types, the v1 spellings in POST /consumers/{g} ("id", auto.offset.reset smallest/largest),
 * GET .../instances/{i}/topics/{t} (the first read subscribes the instance to {t}, another
 * topic later is 409 40901; records in v1's {"key","value","partition","offset"} shape) and the
 * empty-body commit answered with [{"topic","partition","consumed","committed"}]. Instances,
 * groups, reads and commits are the v2 ones: nothing here keeps state of its own beyond the
 * instance's v1 flag. */
#include <stdlib.h>
#include <string.h>

#include "api/consumers.h"
#include "api/consumers_body.h"
#include "api/record_json.h"
#include "brook/common.h"
#include "http/accept.h"
#include "http/media_type.h"
#include "http/response.h"

static const char V1[] = "application/vnd.kafka.v1+json";
static const char V1_BIN[] = "application/vnd.kafka.binary.v1+json";
static const char V1_JSON[] = "application/vnd.kafka.json.v1+json";
static const char V2[] = "application/vnd.kafka.v2+json";
static const char V2_BIN[] = "application/vnd.kafka.binary.v2+json";
static const char V2_JSON[] = "application/vnd.kafka.json.v2+json";
static const char KAFKA_JSON[] = "application/vnd.kafka+json"; /* no version, no format */
static const char JSON[] = "application/json";

int bk_cons_v1_request(bk_exchange_t *ex)
{
    static const char *const versions[] = {V2, V2_BIN, V2_JSON, V1, V1_BIN, V1_JSON};
    size_t len = 0;
    const char *ct = bk_exchange_header(ex, "content-type", &len);
    if (bk_media_type_is(ct, len, V1) || bk_media_type_is(ct, len, V1_BIN) ||
        bk_media_type_is(ct, len, V1_JSON))
        return 1;
    const char *acc = bk_exchange_header(ex, "accept", &len);
    return acc && len && bk_accept_pick(acc, len, versions, 6) >= 3;
}

int bk_cons_v1_reset(const char *s)
{
    if (strcmp(s, "earliest") == 0 || strcmp(s, "smallest") == 0)
        return BK_CONS_RESET_EARLIEST;
    if (strcmp(s, "latest") == 0 || strcmp(s, "largest") == 0)
        return BK_CONS_RESET_LATEST;
    return strcmp(s, "none") == 0 ? BK_CONS_RESET_NONE : -1;
}

int bk_cons_v1_name(bk_exchange_t *ex, yajl_val root, const char **name)
{
    int bad_name = 0, bad_id = 0;
    const char *n = bk_cons_body_str(root, "name", &bad_name);
    const char *id = bk_cons_body_str(root, "id", &bad_id);
    *name = n ? n : id;
    if (bad_name || bad_id) {
        bk_exchange_errorf(ex, 42204, "\"%s\" must be a string", bad_name ? "name" : "id");
        return 0;
    }
    if (n && id && strcmp(n, id) != 0) {
        bk_exchange_error(ex, 42204,
                          "\"id\" and \"name\" differ: give one (\"id\" is v1's older "
                          "spelling of \"name\")");
        return 0;
    }
    return 1;
}

/* ---- GET .../instances/{i}/topics/{t} ---- */

/* Accept for a v1 read: the instance's own types first; a type without an embedded format
 * (application/vnd.kafka.v1+json, application/vnd.kafka+json, application/json) means binary,
 * so a json instance must be asked for by its json type. 1 with *type set, or 0 (answered:
 * 406 when nothing named is possible, 406 40601 when the named format is not the
 * instance's). */
static int read_type(bk_exchange_t *ex, const bk_cons_inst_t *in, const char **type)
{
    static const char *const bin[] = {V1_BIN, V2_BIN, V1, KAFKA_JSON, JSON, V1_JSON, V2_JSON};
    static const char *const js[] = {V1_JSON, V2_JSON, V1_BIN, V2_BIN, V1, KAFKA_JSON, JSON};
    int is_json = in->def.format == BK_FMT_JSON;
    const char *const *types = is_json ? js : bin;
    size_t len = 0;
    const char *acc = bk_exchange_header(ex, "accept", &len);
    int i = bk_accept_pick(acc, len, types, 7);
    if (i < 0) {
        bk_exchange_errorf(ex, 406,
                           "cannot answer in any type named by Accept; this instance's records "
                           "are %s",
                           is_json ? V1_JSON : V1_BIN);
        return 0;
    }
    int picked_json = types[i] == V1_JSON || types[i] == V2_JSON;
    if (picked_json != is_json) {
        bk_exchange_errorf(ex, 40601,
                           "Accept asks for %s but this instance was created with format %s: "
                           "ask for %s",
                           types[i], is_json ? "json" : "binary", is_json ? V1_JSON : V1_BIN);
        return 0;
    }
    *type = types[i];
    return 1;
}

/* The topic of the route, checked: a valid name of an existing, non-internal topic the user
 * may read. Copies it into name (256 bytes). 1, or 0 when answered. */
static int read_topic(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r, char *name)
{
    if (!bk_log_topic_name_valid(r->topic, r->topic_len) ||
        !bk_log_topic_find(c->b->log, r->topic, r->topic_len)) {
        bk_exchange_errorf(ex, 40401, "topic %.*s not found",
                           (int)(r->topic_len > 249 ? 249 : r->topic_len), r->topic);
        return 0;
    }
    memcpy(name, r->topic, r->topic_len);
    name[r->topic_len] = '\0';
    if (bk_gstore_is_internal(name, r->topic_len)) {
        bk_exchange_errorf(ex, 42204, "topic %s is internal", name);
        return 0;
    }
    return bk_cons_may_read(c, ex, name);
}

/* What the instance reads now, for the 40901 message. */
static const char *reading(const bk_cons_inst_t *in)
{
    const bk_grp_t *g = &in->group->g;
    int i = bk_grp_member_find(g, in->def.name);
    if (in->pattern)
        return in->pattern;
    return i >= 0 && g->members[i]->topic_count ? g->members[i]->topics[0] : "(no topic)";
}

static int reads_only(const bk_cons_inst_t *in, const char *topic)
{
    const bk_grp_t *g = &in->group->g;
    int i = bk_grp_member_find(g, in->def.name);
    return i >= 0 && !in->pattern && g->members[i]->topic_count == 1 &&
           strcmp(g->members[i]->topics[0], topic) == 0;
}

/* The first read subscribes the instance to topic (a rebalance, as a v2 subscription); later
 * reads must name the same topic. 1, or 0 when answered. */
static int subscribe_once(bk_consumers_t *c, bk_exchange_t *ex, bk_cons_inst_t *in,
                          const char *topic)
{
    if (in->mode == BK_CONS_MODE_ASSIGNED) {
        bk_exchange_error(ex, 40903,
                          "Illegal state: this instance has a manual assignment; it cannot "
                          "also subscribe to a topic");
        return 0;
    }
    if (in->mode == BK_CONS_MODE_SUBSCRIBED) {
        if (reads_only(in, topic))
            return 1;
        bk_exchange_errorf(ex, 40901,
                           "consumer instance %s already reads %s%s; a v1 instance reads one "
                           "topic: create another instance to read %s",
                           in->def.name, in->pattern ? "topic_pattern " : "topic ", reading(in),
                           topic);
        return 0;
    }
    bk_cons_group_t *cg = in->group;
    bk_grp_out_t out = {0};
    int rc = bk_grp_server_subscribe(&cg->g, bk_wall_ms(), in->def.name, &topic, 1, &out);
    if (rc != BK_GRP_ERR_NONE) {
        bk_exchange_errorf(ex, rc == BK_EINVAL ? 42204 : 503, "subscription refused: %s",
                           rc > 0 ? bk_grp_errname(rc) : bk_strerror(rc));
        bk_grp_out_free(&out);
        return 0;
    }
    in->mode = BK_CONS_MODE_SUBSCRIBED;
    bk_cons_act(c, cg, &out);
    bk_grp_out_free(&out);
    return 1;
}

static int max_bytes_query(bk_exchange_t *ex, int64_t *v)
{
    size_t len;
    const char *s = bk_exchange_query(ex, "max_bytes", &len);
    *v = 1 << 20;
    if (!s)
        return 1;
    if (bk_parse_int(s, len, 0, INT64_MAX, v) != 0) {
        bk_exchange_error(ex, 400, "query parameter max_bytes must be an integer >= 0");
        return 0;
    }
    *v = *v > (64 << 20) ? (64 << 20) : *v < 1 ? 1 : *v;
    return 1;
}

void bk_cons_v1_consume(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r)
{
    char topic[256];
    const char *type;
    int64_t max_bytes;
    bk_cons_inst_t *in = bk_cons_inst_lookup(c, ex, r);
    if (!in || !read_type(ex, in, &type) || !read_topic(c, ex, r, topic) ||
        !max_bytes_query(ex, &max_bytes))
        return;
    if (!subscribe_once(c, ex, in, topic))
        return;
    in->v1 = 1;
    int64_t timeout = in->def.request_timeout_ms < (int64_t)c->b->cfg.max_poll_ms
                          ? in->def.request_timeout_ms
                          : (int64_t)c->b->cfg.max_poll_ms;
    bk_cons_read_t rq = {(size_t)max_bytes, type, 1};
    bk_cons_read(c, in, ex, &rq, timeout);
}

/* ---- POST .../offsets with no body ---- */

typedef struct {
    char *topic;
    int32_t partition;
    int64_t offset;
} v1_entry_t;

typedef struct {
    bk_consumers_t *c;
    bk_exchange_t *ex;
    v1_entry_t *e;
    size_t n;
} v1_commit_t;

static void commit_free(v1_commit_t *op)
{
    for (size_t i = 0; op && i < op->n; i++)
        free(op->e[i].topic);
    if (op)
        free(op->e);
    free(op);
}

static void answer_commit(bk_exchange_t *ex, const v1_entry_t *e, size_t n)
{
    bk_json_t *j = bk_json_begin();
    bk_json_arr(j);
    for (size_t i = 0; i < n; i++) {
        bk_json_obj(j);
        bk_json_key(j, "topic");
        bk_json_str(j, e[i].topic);
        bk_json_key(j, "partition");
        bk_json_int(j, e[i].partition);
        bk_json_key(j, "consumed");
        bk_json_int(j, e[i].offset);
        bk_json_key(j, "committed");
        bk_json_int(j, e[i].offset);
        bk_json_obj_end(j);
    }
    bk_json_arr_end(j);
    ex->json_type = V1;
    bk_exchange_respond_json(ex, 200, j, NULL);
}

static void after_commit(void *arg, int status)
{
    v1_commit_t *op = arg;
    if (status == 0) {
        op->c->commits++;
        answer_commit(op->ex, op->e, op->n);
    } else {
        bk_cons_outcome_unknown(op->ex, status, "commit");
    }
    commit_free(op);
}

/* What the commit will hold, in the order bk_cons_consumed_records writes it. */
static v1_commit_t *commit_op(bk_consumers_t *c, bk_exchange_t *ex, const bk_cons_inst_t *in)
{
    v1_commit_t *op = calloc(1, sizeof *op);
    if (!op || !(op->e = calloc(in->pos_count + 1, sizeof *op->e))) {
        free(op);
        return NULL;
    }
    *op = (v1_commit_t){c, ex, op->e, 0};
    for (size_t i = 0; i < in->pos_count; i++) {
        const bk_cons_pos_t *p = &in->pos[i];
        if (p->consumed < 0)
            continue;
        v1_entry_t *e = &op->e[op->n];
        *e = (v1_entry_t){strdup(p->topic), p->partition, p->consumed};
        if (!e->topic) {
            commit_free(op);
            return NULL;
        }
        op->n++;
    }
    return op;
}

void bk_cons_v1_commit(bk_consumers_t *c, bk_exchange_t *ex, bk_cons_inst_t *in)
{
    bk_grp_kvs_t recs = {0};
    v1_commit_t *op = commit_op(c, ex, in);
    int rc = op ? bk_cons_consumed_records(in, &recs) : UV_ENOMEM;
    if (!rc && op->n == 0) { /* nothing returned yet: nothing to commit */
        answer_commit(ex, NULL, 0);
        commit_free(op);
    } else if (!rc) {
        rc = bk_gstore_write(c, in->group->g.group_id, &recs, after_commit, op);
        if (rc) {
            commit_free(op);
            bk_cons_write_failed(ex, rc);
        }
    } else {
        commit_free(op);
        bk_exchange_error(ex, 503, "out of memory");
    }
    bk_grp_kvs_free(&recs);
}
