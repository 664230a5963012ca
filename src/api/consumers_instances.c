/* Consumer instances (REST Proxy v2): POST /consumers/{g} creates one, DELETE .../instances/{i}
 * removes it, .../subscription (topics or a topic_pattern, joining the group's rebalance) and
 * .../assignments (manual partitions, outside the group's assignor) say what it reads. A
 * subscription and a manual assignment exclude each other (409 40903). Every value is checked
 * before anything changes (422 42204). */
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/consumers.h"
#include "api/consumers_body.h"
#include "api/record_json.h"
#include "brook/common.h"
#include "http/response.h"

/* A bool config given as "true"/"false" (or a JSON bool): 1 ok, 0 bad. */
static int bool_field(yajl_val root, const char *key, int *out)
{
    int bad = 0;
    const char *s = bk_cons_body_str(root, key, &bad);
    if (s) {
        if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
            return 0;
        *out = s[0] == 't';
        return 1;
    }
    if (!bad)
        return 1;
    for (size_t i = 0; i < root->u.object.len; i++)
        if (strcmp(root->u.object.keys[i], key) == 0 && YAJL_IS_TRUE(root->u.object.values[i]))
            return (*out = 1);
        else if (strcmp(root->u.object.keys[i], key) == 0 &&
                 YAJL_IS_FALSE(root->u.object.values[i]))
            return (*out = 0), 1;
    return 0;
}

static int parse_format(bk_exchange_t *ex, yajl_val root, bk_cons_def_t *d)
{
    int bad = 0;
    const char *f = bk_cons_body_str(root, "format", &bad);
    if (bad || (f && strcmp(f, "binary") != 0 && strcmp(f, "json") != 0)) {
        bk_exchange_errorf(ex, 42204,
                           "format %s%.40s%s is not supported: use \"binary\" or \"json\"",
                           f ? "\"" : "", f ? f : "(not a string)", f ? "\"" : "");
        return 0;
    }
    d->format = f && strcmp(f, "json") == 0 ? BK_FMT_JSON : BK_FMT_BINARY;
    const char *r = bk_cons_body_str(root, "auto.offset.reset", &bad);
    int reset = r ? bk_cons_v1_reset(r) : BK_CONS_RESET_LATEST; /* v1 names too */
    if (bad || reset < 0) {
        bk_exchange_error(ex, 42204,
                          "auto.offset.reset must be \"earliest\", \"latest\" or \"none\" "
                          "(v1: \"smallest\" or \"largest\")");
        return 0;
    }
    d->reset = reset;
    return 1;
}

/* The body of POST /consumers/{g} into d; 1 or 0 (answered). */
static int parse_def(bk_exchange_t *ex, yajl_val root, bk_cons_def_t *d)
{
    memset(d, 0, sizeof *d);
    d->request_timeout_ms = 1000;
    if (!root) {
        d->format = BK_FMT_BINARY;
        d->reset = BK_CONS_RESET_LATEST;
        return 1;
    }
    const char *name;
    if (!bk_cons_v1_name(ex, root, &name)) /* "name", or v1's "id" */
        return 0;
    if (name && !bk_cons_name_ok(ex, "instance", name, strlen(name)))
        return 0;
    if (name)
        snprintf(d->name, sizeof d->name, "%s", name);
    if (!parse_format(ex, root, d))
        return 0;
    if (!bool_field(root, "auto.commit.enable", &d->auto_commit)) {
        bk_exchange_error(ex, 42204, "auto.commit.enable must be \"true\" or \"false\"");
        return 0;
    }
    if (bk_cons_body_int(root, "fetch.min.bytes", 0, 64 << 20, &d->fetch_min_bytes) < 0 ||
        bk_cons_body_int(root, "consumer.request.timeout.ms", 0, INT32_MAX,
                         &d->request_timeout_ms) < 0) {
        bk_exchange_error(ex, 42204,
                          "fetch.min.bytes must be an integer from 0 to 67108864 and "
                          "consumer.request.timeout.ms one from 0 to 2147483647");
        return 0;
    }
    return 1;
}

/* The definition kept in the member's user_data: a small JSON object. "pattern" and "manual"
 * came later; a record without them still loads (no pattern, no manual assignment). */
int bk_cons_def_encode(const bk_cons_inst_t *in, char **out, size_t *len)
{
    const bk_cons_def_t *d = &in->def;
    bk_json_t *j = bk_json_begin();
    bk_json_obj(j);
    bk_json_key(j, "format");
    bk_json_int(j, d->format);
    bk_json_key(j, "reset");
    bk_json_int(j, d->reset);
    bk_json_key(j, "auto_commit");
    bk_json_int(j, d->auto_commit);
    bk_json_key(j, "fetch_min_bytes");
    bk_json_int(j, d->fetch_min_bytes);
    bk_json_key(j, "request_timeout_ms");
    bk_json_int(j, d->request_timeout_ms);
    if (in->pattern) {
        bk_json_key(j, "pattern");
        bk_json_str(j, in->pattern);
    }
    if (in->mode == BK_CONS_MODE_ASSIGNED) {
        bk_json_key(j, "manual");
        bk_json_arr(j);
        for (size_t i = 0; i < in->manual.count; i++)
            for (size_t k = 0; k < in->manual.topics[i].count; k++) {
                bk_json_obj(j);
                bk_json_key(j, "topic");
                bk_json_str(j, in->manual.topics[i].topic);
                bk_json_key(j, "partition");
                bk_json_int(j, in->manual.topics[i].partitions[k]);
                bk_json_obj_end(j);
            }
        bk_json_arr_end(j);
    }
    bk_json_obj_end(j);
    const char *text = bk_json_text(j, len);
    *out = malloc(*len ? *len : 1);
    if (!*out)
        return UV_ENOMEM;
    memcpy(*out, text, *len);
    bk_json_trim();
    return 0;
}

int bk_cons_inst_save(bk_consumers_t *c, bk_cons_inst_t *in)
{
    (void)c;
    char *ud = NULL;
    size_t len = 0;
    int rc = bk_cons_def_encode(in, &ud, &len);
    if (!rc)
        rc = bk_grp_server_set_user_data(&in->group->g, in->def.name, (const uint8_t *)ud, len);
    free(ud);
    if (rc == 1)
        in->group->changes++; /* written by the caller's bk_cons_await_durable */
    return rc < 0 ? rc : 0;
}

void bk_cons_answer_created(bk_consumers_t *c, bk_exchange_t *ex, bk_cons_group_t *cg,
                            const char *name)
{
    char uri[1024];
    snprintf(uri, sizeof uri, "%s/consumers/%s/instances/%s", c->b->cfg.advertised_url,
             cg->g.group_id, name);
    bk_json_t *j = bk_json_begin();
    bk_json_obj(j);
    bk_json_key(j, "instance_id");
    bk_json_str(j, name);
    bk_json_key(j, "base_uri");
    bk_json_str(j, uri);
    bk_json_obj_end(j);
    bk_exchange_respond_json(ex, 200, j, NULL);
}

/* Joins the group; answered once the group record holding the new member is acknowledged
 * (acks=all), or 503 with the instance gone when it cannot be. */
static void join(bk_consumers_t *c, bk_exchange_t *ex, bk_cons_group_t *cg, bk_cons_def_t *d)
{
    char *ud = NULL;
    size_t n = 0;
    const char *id = NULL;
    bk_grp_out_t out = {0};
    bk_cons_inst_t *in = calloc(1, sizeof *in);
    int rc = in ? 0 : UV_ENOMEM;
    if (in) {
        in->def = *d;
        rc = bk_cons_def_encode(in, &ud, &n);
    }
    if (!rc)
        rc = bk_grp_server_join(&cg->g, bk_wall_ms(), d->name[0] ? d->name : NULL, "rest-consumer",
                                (int32_t)c->instance_timeout_ms, NULL, 0, (const uint8_t *)ud, n,
                                &id, &out);
    free(ud);
    if (rc != BK_GRP_ERR_NONE) {
        free(in);
        if (rc == UV_EEXIST)
            bk_exchange_errorf(ex, 40902, "consumer instance %s already exists in group %s",
                               d->name, cg->g.group_id);
        else if (rc == BK_GRP_ERR_INCONSISTENT_GROUP_PROTOCOL)
            bk_exchange_errorf(ex, 40903,
                               "group %s has Kafka-protocol members; REST consumer "
                               "instances cannot join it",
                               cg->g.group_id);
        else
            bk_exchange_errorf(ex, 503, "cannot join group %s: %s", cg->g.group_id,
                               rc > 0 ? bk_grp_errname(rc) : bk_strerror(rc));
        bk_grp_out_free(&out);
        return;
    }
    char name[BK_CONS_NAME_MAX + 1];
    snprintf(in->def.name, sizeof in->def.name, "%s", id);
    snprintf(name, sizeof name, "%s", id);
    in->group = cg;
    in->seen_generation = -1;
    in->next = cg->insts;
    cg->insts = in;
    bk_cons_act(c, cg, &out);
    bk_grp_out_free(&out);
    bk_cons_await_durable(c, cg, ex, name);
}

void bk_cons_create(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r)
{
    yajl_val root;
    bk_cons_def_t d;
    if (!bk_cons_body(ex, 1, &root))
        return;
    int ok = parse_def(ex, root, &d);
    if (root)
        yajl_tree_free(root);
    if (!ok)
        return;
    bk_cons_group_t *cg = bk_cons_group_get(c, r->group, r->group_len);
    if (!cg) {
        bk_exchange_error(ex, 503, "out of memory");
        return;
    }
    if (d.name[0] && bk_cons_inst_find(cg, d.name, strlen(d.name))) {
        bk_exchange_errorf(ex, 40902, "consumer instance %s already exists in group %s", d.name,
                           cg->g.group_id);
        return;
    }
    join(c, ex, cg, &d);
}

void bk_cons_delete(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r)
{
    bk_cons_inst_t *in = bk_cons_inst_lookup(c, ex, r);
    if (!in)
        return;
    bk_cons_inst_delete(c, in);
    bk_cons_no_content(ex);
}

/* ---- subscription ---- */

/* Topics matching the instance's pattern now (pointers into the log's names). */
static int pattern_topics(bk_consumers_t *c, bk_cons_inst_t *in, const char ***out, size_t *n)
{
    size_t count = bk_log_topic_count(c->b->log);
    *out = calloc(count ? count : 1, sizeof **out);
    *n = 0;
    if (!*out)
        return UV_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        const char *name = bk_topic_name(bk_log_topic_at(c->b->log, i));
        if (!bk_gstore_is_internal(name, strlen(name)) && regexec(&in->re, name, 0, NULL, 0) == 0)
            (*out)[(*n)++] = name;
    }
    return 0;
}

static void subscribe_topics(bk_consumers_t *c, bk_exchange_t *ex, bk_cons_inst_t *in,
                             const char *const *topics, size_t n)
{
    bk_grp_out_t out = {0};
    bk_cons_group_t *cg = in->group;
    int rc = bk_cons_inst_save(c, in); /* the pattern, kept in the group record */
    if (!rc)
        rc = bk_grp_server_subscribe(&cg->g, bk_wall_ms(), in->def.name, topics, n, &out);
    if (rc != BK_GRP_ERR_NONE) {
        bk_exchange_errorf(ex, rc == BK_EINVAL ? 42204 : 503, "subscription refused: %s",
                           rc > 0 ? bk_grp_errname(rc) : bk_strerror(rc));
        bk_grp_out_free(&out);
        return;
    }
    in->mode = n || in->pattern ? BK_CONS_MODE_SUBSCRIBED : BK_CONS_MODE_NONE;
    bk_cons_act(c, cg, &out);
    bk_grp_out_free(&out);
    bk_cons_await_durable(c, cg, ex, NULL);
}

int bk_cons_pattern_set(bk_cons_inst_t *in, const char *pattern)
{
    if (in->pattern) {
        regfree(&in->re);
        free(in->pattern);
        in->pattern = NULL;
    }
    if (!pattern)
        return 0;
    char *anchored = malloc(strlen(pattern) + 5);
    if (!anchored)
        return UV_ENOMEM;
    sprintf(anchored, "^(%s)$", pattern);
    int rc = regcomp(&in->re, anchored, REG_EXTENDED | REG_NOSUB);
    free(anchored);
    if (rc)
        return BK_EINVAL;
    in->pattern = strdup(pattern);
    if (!in->pattern) {
        regfree(&in->re);
        return UV_ENOMEM;
    }
    return 0;
}

static int set_pattern(bk_exchange_t *ex, bk_cons_inst_t *in, const char *pattern)
{
    int rc = bk_cons_pattern_set(in, pattern);
    if (rc == BK_EINVAL)
        bk_exchange_errorf(ex, 42204, "topic_pattern \"%.100s\" is not a valid regular expression",
                           pattern);
    else if (rc)
        bk_exchange_error(ex, 503, "out of memory");
    return rc == 0;
}

static int topics_list(bk_consumers_t *c, bk_exchange_t *ex, yajl_val l, const char ***out,
                       size_t *n)
{
    *n = 0;
    *out = calloc(l->u.array.len ? l->u.array.len : 1, sizeof **out);
    if (!*out) {
        bk_exchange_error(ex, 503, "out of memory");
        return 0;
    }
    for (size_t i = 0; i < l->u.array.len; i++) {
        yajl_val v = l->u.array.values[i];
        if (!YAJL_IS_STRING(v) || !bk_log_topic_name_valid(v->u.string, strlen(v->u.string))) {
            bk_exchange_errorf(ex, 42204, "topics[%zu] is not a valid topic name", i);
            return 0;
        }
        if (bk_gstore_is_internal(v->u.string, strlen(v->u.string))) {
            bk_exchange_errorf(ex, 42204, "topic %s is internal", v->u.string);
            return 0;
        }
        if (!bk_cons_may_read(c, ex, v->u.string))
            return 0;
        (*out)[(*n)++] = v->u.string;
    }
    return 1;
}

static void subscribe(bk_consumers_t *c, bk_exchange_t *ex, bk_cons_inst_t *in, yajl_val root)
{
    const char *topics_key[] = {"topics", NULL};
    yajl_val l = yajl_tree_get(root, topics_key, yajl_t_any);
    int bad = 0;
    const char *pattern = bk_cons_body_str(root, "topic_pattern", &bad);
    if (bad || (!l) == (!pattern) || (l && !YAJL_IS_ARRAY(l))) {
        bk_exchange_error(ex, 42204,
                          "give exactly one of \"topics\" (an array of topic names) "
                          "and \"topic_pattern\" (a string)");
        return;
    }
    if (in->mode == BK_CONS_MODE_ASSIGNED) {
        bk_exchange_error(ex, 40903,
                          "Illegal state: this instance has a manual assignment; "
                          "subscription and assignment are mutually exclusive");
        return;
    }
    const char **topics = NULL;
    size_t n = 0;
    if (l ? topics_list(c, ex, l, &topics, &n) : set_pattern(ex, in, pattern)) {
        if (l)
            (void)set_pattern(ex, in, NULL);
        if (!l && pattern_topics(c, in, &topics, &n))
            bk_exchange_error(ex, 503, "out of memory");
        else
            subscribe_topics(c, ex, in, topics, n);
    }
    free(topics);
}

static void answer_subscription(bk_exchange_t *ex, bk_cons_inst_t *in)
{
    bk_grp_t *g = &in->group->g;
    int i = bk_grp_member_find(g, in->def.name);
    bk_json_t *j = bk_json_begin();
    bk_json_obj(j);
    bk_json_key(j, "topics");
    bk_json_arr(j);
    for (size_t k = 0; i >= 0 && k < g->members[i]->topic_count; k++)
        bk_json_str(j, g->members[i]->topics[k]);
    bk_json_arr_end(j);
    if (in->pattern) {
        bk_json_key(j, "topic_pattern");
        bk_json_str(j, in->pattern);
    }
    bk_json_obj_end(j);
    bk_exchange_respond_json(ex, 200, j, NULL);
}

void bk_cons_subscription(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r)
{
    bk_cons_inst_t *in = bk_cons_inst_lookup(c, ex, r);
    if (!in)
        return;
    if (ex->method == HTTP_GET) {
        answer_subscription(ex, in);
        return;
    }
    if (ex->method == HTTP_DELETE) {
        (void)set_pattern(ex, in, NULL);
        if (in->mode == BK_CONS_MODE_ASSIGNED) {
            bk_cons_no_content(ex);
            return;
        }
        subscribe_topics(c, ex, in, NULL, 0);
        return;
    }
    yajl_val root;
    if (!bk_cons_body(ex, 0, &root))
        return;
    subscribe(c, ex, in, root);
    yajl_tree_free(root);
}

void bk_cons_patterns_refresh(bk_consumers_t *c, bk_cons_group_t *cg)
{
    for (bk_cons_inst_t *in = cg->insts; in; in = in->next) {
        const char **topics = NULL;
        size_t n = 0;
        bk_grp_out_t out = {0};
        if (in->pattern && pattern_topics(c, in, &topics, &n) == 0)
            (void)bk_grp_server_subscribe(&cg->g, bk_wall_ms(), in->def.name, topics, n, &out);
        free(topics);
        bk_cons_act(c, cg, &out);
        bk_grp_out_free(&out);
    }
}

/* ---- manual assignment ---- */

static void answer_assignment(bk_exchange_t *ex, bk_cons_inst_t *in)
{
    bk_grp_assignment_t a = {0};
    if (bk_cons_assignment(in, &a)) {
        bk_grp_assignment_free(&a);
        bk_exchange_error(ex, 503, "out of memory");
        return;
    }
    bk_json_t *j = bk_json_begin();
    bk_json_obj(j);
    bk_json_key(j, "partitions");
    bk_json_arr(j);
    for (size_t i = 0; i < a.count; i++)
        for (size_t k = 0; k < a.topics[i].count; k++) {
            bk_json_obj(j);
            bk_json_key(j, "topic");
            bk_json_str(j, a.topics[i].topic);
            bk_json_key(j, "partition");
            bk_json_int(j, a.topics[i].partitions[k]);
            bk_json_obj_end(j);
        }
    bk_json_arr_end(j);
    bk_json_obj_end(j);
    bk_grp_assignment_free(&a);
    bk_exchange_respond_json(ex, 200, j, NULL);
}

static int readable(bk_consumers_t *c, bk_exchange_t *ex, const bk_grp_assignment_t *a)
{
    for (size_t i = 0; i < a->count; i++)
        if (!bk_cons_may_read(c, ex, a->topics[i].topic))
            return 0;
    return 1;
}

void bk_cons_assignments(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r)
{
    bk_cons_inst_t *in = bk_cons_inst_lookup(c, ex, r);
    if (!in)
        return;
    if (ex->method == HTTP_GET) {
        answer_assignment(ex, in);
        return;
    }
    yajl_val root;
    if (!bk_cons_body(ex, 0, &root))
        return;
    bk_grp_assignment_t a = {0};
    if (in->mode == BK_CONS_MODE_SUBSCRIBED)
        bk_exchange_error(ex, 40903,
                          "Illegal state: this instance is subscribed; subscription "
                          "and assignment are mutually exclusive");
    else if (bk_cons_body_tparts(ex, root, "partitions", 0, &a) && readable(c, ex, &a)) {
        bk_grp_assignment_free(&in->manual);
        in->manual = a;
        memset(&a, 0, sizeof a);
        in->mode = in->manual.count ? BK_CONS_MODE_ASSIGNED : BK_CONS_MODE_NONE;
        bk_cons_group_t *cg = in->group;
        if (bk_cons_inst_save(c, in)) /* the manual assignment, kept in the group record */
            bk_exchange_error(ex, 503, "out of memory");
        else
            bk_cons_await_durable(c, cg, ex, NULL);
        bk_cons_polls_wake(c, cg, NULL);
    }
    bk_grp_assignment_free(&a);
    yajl_tree_free(root);
}
