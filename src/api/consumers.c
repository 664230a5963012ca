/* The consumer-group registry: groups (the pure coordinator plus this broker's instances of
 * them), the actions the coordinator asks for (write the group record, drop a removed
 * instance, wake requests once an assignment is in effect), the timer that runs its clocks
 * (idle instances expire and leave their group), the rebuild after a replay, and the entry
 * points the broker calls. It never answers a group request before bk_gstore_ready. */
#include "api/consumers.h"

#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "api/record_json.h"
#include "brook/common.h"
#include "http/response.h"

typedef struct {
    bk_consumers_t *c;
    uint64_t era;
    char *group;
    int32_t generation;
    uint64_t covered; /* cg->changes when the record was taken */
} persist_op_t;

static uint64_t random_cb(void *ctx)
{
    (void)ctx;
    return bk_random_id();
}

static int32_t partitions_cb(void *ctx, const char *topic)
{
    bk_consumers_t *c = ctx;
    bk_topic_t *t = bk_log_topic_find(c->b->log, topic, strlen(topic));
    return t ? (int32_t)bk_topic_partition_count(t) : -1;
}

static void group_config(bk_consumers_t *c, bk_grp_config_t *cfg)
{
    bk_grp_config_default(cfg);
    cfg->min_session_timeout_ms = 1;
    cfg->max_session_timeout_ms = INT32_MAX;
    cfg->random = random_cb;
    cfg->partitions = partitions_cb;
    cfg->ctx = c;
}

bk_cons_group_t *bk_cons_group_find(bk_consumers_t *c, const char *name, size_t len)
{
    for (bk_cons_group_t *cg = c->groups; cg; cg = cg->next)
        if (strlen(cg->g.group_id) == len && memcmp(cg->g.group_id, name, len) == 0)
            return cg;
    return NULL;
}

bk_cons_group_t *bk_cons_group_get(bk_consumers_t *c, const char *name, size_t len)
{
    bk_cons_group_t *cg = bk_cons_group_find(c, name, len);
    if (cg)
        return cg;
    char *id = strndup(name, len);
    cg = calloc(1, sizeof *cg);
    bk_grp_config_t cfg;
    group_config(c, &cfg);
    if (!id || !cg || bk_grp_init(&cg->g, id, &cfg, bk_wall_ms()) != 0) {
        free(id);
        free(cg);
        return NULL;
    }
    free(id);
    cg->next = c->groups;
    c->groups = cg;
    return cg;
}

bk_cons_inst_t *bk_cons_inst_find(bk_cons_group_t *cg, const char *name, size_t len)
{
    for (bk_cons_inst_t *in = cg ? cg->insts : NULL; in; in = in->next)
        if (strlen(in->def.name) == len && memcmp(in->def.name, name, len) == 0)
            return in;
    return NULL;
}

bk_cons_inst_t *bk_cons_inst_lookup(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r)
{
    bk_cons_group_t *cg = bk_cons_group_find(c, r->group, r->group_len);
    bk_cons_inst_t *in = bk_cons_inst_find(cg, r->instance, r->instance_len);
    if (!in) {
        bk_exchange_errorf(ex, 40403, "consumer instance %.*s not found in group %.*s",
                           (int)r->instance_len, r->instance, (int)r->group_len, r->group);
        return NULL;
    }
    (void)bk_grp_touch(&cg->g, bk_wall_ms(), in->def.name);
    return in;
}

void bk_cons_inst_free(bk_cons_inst_t *in)
{
    for (size_t i = 0; i < in->pos_count; i++)
        free(in->pos[i].topic);
    free(in->pos);
    if (in->pattern) {
        regfree(&in->re);
        free(in->pattern);
    }
    bk_grp_assignment_free(&in->manual);
    free(in);
}

static void unlink_inst(bk_cons_inst_t *in)
{
    bk_cons_inst_t **pp = &in->group->insts;
    while (*pp && *pp != in)
        pp = &(*pp)->next;
    if (*pp)
        *pp = in->next;
}

/* A member left the coordinator: its instance goes (a parked request is answered first). */
static void removed(bk_cons_group_t *cg, const char *member_id, bk_grp_gone_t why)
{
    bk_cons_inst_t *in = bk_cons_inst_find(cg, member_id, strlen(member_id));
    if (!in)
        return;
    bk_trace_info("groups", "instance %s left group %s (%s)", member_id, cg->g.group_id,
                  why == BK_GRP_GONE_EXPIRED ? "idle past --consumer-instance-timeout-ms"
                                             : "deleted");
    bk_cons_poll_cancel(in);
    unlink_inst(in);
    bk_cons_inst_free(in);
}

static void persist(bk_consumers_t *c, bk_cons_group_t *cg);

/* ---- requests waiting for their change to be durable ---- */

static void waiter_free(bk_cons_waiter_t *w)
{
    free(w->inst);
    free(w);
}

/* Takes the waiters whose change is covered by changes value `covered` off cg's list, in the
 * order they came. */
static bk_cons_waiter_t *take_waiters(bk_cons_group_t *cg, uint64_t covered)
{
    bk_cons_waiter_t *head = NULL, **tail = &head, **pp = &cg->waiters;
    while (*pp) {
        bk_cons_waiter_t *w = *pp;
        if (w->need <= covered) {
            *pp = w->next;
            w->next = NULL;
            *tail = w;
            tail = &w->next;
        } else {
            pp = &w->next;
        }
    }
    return head;
}

static void answer_durable(bk_consumers_t *c, bk_cons_group_t *cg, uint64_t covered)
{
    bk_cons_waiter_t *w = take_waiters(cg, covered);
    while (w) {
        bk_cons_waiter_t *next = w->next;
        if (!w->inst)
            bk_cons_no_content(w->ex);
        else if (bk_cons_inst_find(cg, w->inst, strlen(w->inst)))
            bk_cons_answer_created(c, w->ex, cg, w->inst);
        else
            bk_exchange_errorf(w->ex, 503,
                               "consumer instance %s left group %s before its record was "
                               "written; create it again",
                               w->inst, cg->g.group_id);
        waiter_free(w);
        w = next;
    }
}

/* The write holding the waiters' changes failed (status) or could not start (started 0). */
static void answer_failed(bk_consumers_t *c, bk_cons_group_t *cg, uint64_t covered, int status,
                          int started)
{
    bk_cons_waiter_t *w = take_waiters(cg, covered);
    while (w) {
        bk_cons_waiter_t *next = w->next;
        bk_cons_inst_t *in = w->inst ? bk_cons_inst_find(cg, w->inst, strlen(w->inst)) : NULL;
        if (w->inst) {
            if (in) /* nothing half-created: the instance goes (its leave is written too) */
                bk_cons_inst_delete(c, in);
            if (started)
                bk_exchange_errorf(w->ex, 503,
                                   "the record of consumer instance %s could not be "
                                   "acknowledged in %s (%s); the instance was removed, "
                                   "create it again",
                                   w->inst, BK_GRP_OFFSETS_TOPIC, bk_strerror(status));
            else
                bk_exchange_errorf(w->ex, 503,
                                   "cannot write the record of consumer instance %s to %s: %s; "
                                   "no instance was created, retry",
                                   w->inst, BK_GRP_OFFSETS_TOPIC,
                                   status == UV_EAGAIN ? "not enough in-sync replicas"
                                                       : bk_strerror(status));
        } else {
            bk_exchange_errorf(w->ex, 500,
                               "the change is in effect on this broker but its group record "
                               "was not acknowledged in %s (%s); it is written again, but may "
                               "not survive a failover until then",
                               BK_GRP_OFFSETS_TOPIC, bk_strerror(status));
        }
        waiter_free(w);
        w = next;
    }
}

void bk_cons_await_durable(bk_consumers_t *c, bk_cons_group_t *cg, bk_exchange_t *ex,
                           const char *inst)
{
    bk_cons_waiter_t *w = calloc(1, sizeof *w);
    if (!w || (inst && !(w->inst = strdup(inst)))) {
        free(w);
        bk_exchange_error(ex, 503, "out of memory");
        return;
    }
    w->ex = ex;
    w->need = cg->changes;
    bk_cons_waiter_t **pp = &cg->waiters;
    while (*pp)
        pp = &(*pp)->next;
    *pp = w;
    if (cg->written >= cg->changes)
        answer_durable(c, cg, cg->written);
    else if (!cg->persisting)
        persist(c, cg); /* answers the waiter when the write cannot start */
}

static void after_persist(void *arg, int status)
{
    persist_op_t *op = arg;
    bk_consumers_t *c = op->c;
    bk_cons_group_t *cg =
        op->era == c->era ? bk_cons_group_find(c, op->group, strlen(op->group)) : NULL;
    if (cg) {
        cg->persisting = 0;
        if (status == 0) {
            if (op->covered > cg->written)
                cg->written = op->covered;
            bk_grp_out_t out = {0};
            bk_grp_persist_done(&cg->g, bk_wall_ms(), op->generation, 1, &out);
            bk_cons_act(c, cg, &out);
            bk_grp_out_free(&out);
            answer_durable(c, cg, cg->written);
        } else {
            bk_trace_warn("groups", "group %s generation %d: record not written (%s); retried",
                          op->group, op->generation, bk_strerror(status));
            answer_failed(c, cg, op->covered, status, 1);
        }
        if (cg->changes > cg->written && !cg->persisting && status == 0)
            persist(c, cg); /* changed while the write was in flight */
    }
    free(op->group);
    free(op);
}

static int group_record(const bk_grp_t *g, bk_grp_kvs_t *kvs)
{
    bk_grp_meta_t meta = {0};
    bk_grp_buf_t k = {0}, v = {0};
    int rc = bk_grp_snapshot(g, &meta);
    if (!rc)
        rc = bk_grp_group_key_encode(&k, g->group_id);
    if (!rc)
        rc = bk_grp_group_value_encode(&v, &meta);
    bk_grp_meta_free(&meta);
    kvs->items = calloc(1, sizeof *kvs->items);
    if (!rc && !kvs->items)
        rc = UV_ENOMEM;
    if (rc) {
        bk_grp_buf_free(&k);
        bk_grp_buf_free(&v);
        return rc;
    }
    kvs->items[0] = (bk_grp_kv_t){k.data, k.len, v.data ? v.data : (uint8_t *)calloc(1, 1), v.len};
    kvs->count = kvs->cap = 1;
    return kvs->items[0].value ? 0 : UV_ENOMEM;
}

/* Writes the group record of the current generation (one write in flight per group; a change
 * made meanwhile is written when it completes, and the timer retries one that failed). A
 * group in PreparingRebalance is written once its rebalance completes; a deleted one never. */
static void persist(bk_consumers_t *c, bk_cons_group_t *cg)
{
    if (cg->persisting || cg->deleting || cg->g.state == BK_GRP_DEAD ||
        cg->g.state == BK_GRP_PREPARING_REBALANCE)
        return;
    bk_grp_kvs_t kvs = {0};
    persist_op_t *op = calloc(1, sizeof *op);
    int rc = op ? group_record(&cg->g, &kvs) : UV_ENOMEM;
    if (!rc) {
        *op = (persist_op_t){c, c->era, strdup(cg->g.group_id), cg->g.generation, cg->changes};
        rc = op->group ? bk_gstore_write(c, op->group, &kvs, after_persist, op) : UV_ENOMEM;
    }
    bk_grp_kvs_free(&kvs);
    if (rc) {
        bk_trace_warn("groups", "group %s: record not written (%s); retried", cg->g.group_id,
                      bk_strerror(rc));
        if (op)
            free(op->group);
        free(op);
        answer_failed(c, cg, cg->changes, rc, 0);
        return;
    }
    cg->persisting = 1;
    cg->inflight = cg->changes;
}

void bk_cons_changed(bk_consumers_t *c, bk_cons_group_t *cg)
{
    cg->changes++;
    persist(c, cg);
}

void bk_cons_act(bk_consumers_t *c, bk_cons_group_t *cg, bk_grp_out_t *out)
{
    int stable = 0, want_persist = 0;
    for (size_t i = 0; i < out->count; i++) {
        const bk_grp_action_t *a = &out->items[i];
        if (a->kind == BK_GRP_ACT_REMOVED)
            removed(cg, a->member_id, a->reason);
        else if (a->kind == BK_GRP_ACT_PERSIST)
            want_persist = 1;
        else if (a->kind == BK_GRP_ACT_STABLE)
            stable = 1;
        else if (c->answer) /* JOIN, SYNC: a Kafka member's pending request */
            c->answer(c->answer_arg, a);
    }
    if (out->lost)
        bk_trace_warn("groups", "group %s: out of memory while rebalancing", cg->g.group_id);
    bk_grp_out_clear(out);
    if (want_persist &&
        (cg->g.state == BK_GRP_COMPLETING_REBALANCE || cg->g.state == BK_GRP_EMPTY)) {
        if (cg->g.state == BK_GRP_COMPLETING_REBALANCE) {
            bk_cons_gstat_t *st = bk_cons_stat(c, cg->g.group_id);
            c->rebalances++;
            if (st)
                st->rebalances++;
        }
        bk_cons_changed(c, cg);
    }
    if (stable)
        bk_cons_polls_wake(c, cg, NULL);
}

/* ---- instance definitions in the member's user_data ---- */

/* The parts of a definition an older record may lack: "pattern" (topic_pattern of the
 * subscription) and "manual" ([{"topic","partition"}], a manual assignment). 1, or 0 on
 * ENOMEM; a value of the wrong shape is ignored. */
static int rebuild_extras(bk_cons_inst_t *in, yajl_val v)
{
    const char *path_pat[] = {"pattern", NULL}, *path_man[] = {"manual", NULL};
    yajl_val pat = yajl_tree_get(v, path_pat, yajl_t_string),
             man = yajl_tree_get(v, path_man, yajl_t_array);
    if (pat && bk_cons_pattern_set(in, pat->u.string) == 0)
        in->mode = BK_CONS_MODE_SUBSCRIBED;
    for (size_t i = 0; man && i < man->u.array.len; i++) {
        const char *pt[] = {"topic", NULL}, *pp[] = {"partition", NULL};
        yajl_val t = yajl_tree_get(man->u.array.values[i], pt, yajl_t_string),
                 p = yajl_tree_get(man->u.array.values[i], pp, yajl_t_number);
        if (t && p && YAJL_IS_INTEGER(p) && p->u.number.i >= 0 && p->u.number.i <= INT32_MAX &&
            bk_grp_assignment_add(&in->manual, t->u.string, (int32_t)p->u.number.i))
            return 0;
    }
    if (in->manual.count && in->mode == BK_CONS_MODE_NONE)
        in->mode = BK_CONS_MODE_ASSIGNED;
    return 1;
}

/* Rebuilds the instance of a loaded server member from its Subscription's user_data. */
static int rebuild_inst(bk_cons_group_t *cg, const bk_grp_member_t *m)
{
    bk_grp_subscription_t sub;
    const bk_grp_protocol_t *p = m->protocol_count ? &m->protocols[0] : NULL;
    if (!p || bk_grp_subscription_decode(p->metadata, p->metadata_len, &sub))
        return 0;
    bk_cons_inst_t *in = calloc(1, sizeof *in);
    char *text = sub.user_data ? strndup((const char *)sub.user_data, sub.user_data_len) : NULL;
    yajl_val v = text ? yajl_tree_parse(text, NULL, 0) : NULL;
    int ok = in && v && YAJL_IS_OBJECT(v), rc = 0;
    const char *path_fmt[] = {"format", NULL}, *path_reset[] = {"reset", NULL},
               *path_ac[] = {"auto_commit", NULL}, *path_fmb[] = {"fetch_min_bytes", NULL},
               *path_rt[] = {"request_timeout_ms", NULL};
    if (ok) {
        yajl_val f = yajl_tree_get(v, path_fmt, yajl_t_number),
                 r = yajl_tree_get(v, path_reset, yajl_t_number),
                 a = yajl_tree_get(v, path_ac, yajl_t_number),
                 fm = yajl_tree_get(v, path_fmb, yajl_t_number),
                 rt = yajl_tree_get(v, path_rt, yajl_t_number);
        snprintf(in->def.name, sizeof in->def.name, "%s", m->member_id);
        in->def.format = f ? (int)f->u.number.i : BK_FMT_BINARY;
        in->def.reset = r ? (int)r->u.number.i : BK_CONS_RESET_LATEST;
        in->def.auto_commit = a ? (int)a->u.number.i : 0;
        in->def.fetch_min_bytes = fm ? fm->u.number.i : 0;
        in->def.request_timeout_ms = rt ? rt->u.number.i : 1000;
        in->mode = m->topic_count ? BK_CONS_MODE_SUBSCRIBED : BK_CONS_MODE_NONE;
        in->seen_generation = -1;
        in->group = cg;
        in->next = cg->insts;
        cg->insts = in;
        rc = rebuild_extras(in, v) ? 0 : UV_ENOMEM;
    } else {
        free(in);
    }
    if (v)
        yajl_tree_free(v);
    free(text);
    bk_grp_subscription_free(&sub);
    return rc;
}

/* A group with members comes back as Kafka loads one: Stable at its generation. Server
 * members get their instance back; Kafka members (client kind) just go on heartbeating. */
static int rebuild_group(bk_consumers_t *c, const bk_grp_image_t *img)
{
    if (!img->has_meta || img->meta.member_count == 0)
        return 0;
    bk_cons_group_t *cg = bk_cons_group_get(c, img->group, strlen(img->group));
    if (!cg)
        return UV_ENOMEM;
    int rc = bk_grp_load(&cg->g, bk_wall_ms(), &img->meta);
    for (size_t i = 0; !rc && cg->g.kind == BK_GRP_KIND_SERVER && i < cg->g.member_count; i++)
        rc = rebuild_inst(cg, cg->g.members[i]);
    return rc;
}

int bk_cons_rebuild(bk_consumers_t *c)
{
    for (size_t i = 0; i < c->store.count; i++) {
        int rc = rebuild_group(c, &c->store.groups[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static void answer_waiters_gone(bk_cons_group_t *cg)
{
    while (cg->waiters) {
        bk_cons_waiter_t *w = cg->waiters;
        cg->waiters = w->next;
        bk_exchange_errorf(w->ex, 503,
                           "group %s was unloaded before the change was acknowledged (this "
                           "broker stopped leading or is stopping); retry",
                           cg->g.group_id);
        waiter_free(w);
    }
}

static void group_free(bk_cons_group_t *cg)
{
    answer_waiters_gone(cg);
    while (cg->insts) {
        bk_cons_inst_t *in = cg->insts;
        cg->insts = in->next;
        bk_cons_poll_cancel(in);
        bk_cons_inst_free(in);
    }
    bk_grp_free(&cg->g);
    free(cg);
}

void bk_cons_group_drop(bk_consumers_t *c, bk_cons_group_t *cg)
{
    bk_cons_group_t **pp = &c->groups;
    while (*pp && *pp != cg)
        pp = &(*pp)->next;
    if (*pp)
        *pp = cg->next;
    group_free(cg);
}

void bk_cons_drop_all(bk_consumers_t *c)
{
    if (c->answer && c->groups)
        c->answer(c->answer_arg, NULL); /* Kafka requests pending on these groups */
    while (c->groups) {
        bk_cons_group_t *cg = c->groups;
        c->groups = cg->next;
        group_free(cg);
    }
}

void bk_cons_inst_delete(bk_consumers_t *c, bk_cons_inst_t *in)
{
    bk_cons_group_t *cg = in->group;
    bk_grp_out_t out = {0};
    bk_cons_poll_cancel(in);
    if (bk_grp_leave(&cg->g, bk_wall_ms(), in->def.name, &out) != BK_GRP_ERR_NONE) {
        unlink_inst(in); /* not a member (cannot happen): drop it anyway */
        bk_cons_inst_free(in);
    }
    bk_cons_act(c, cg, &out); /* REMOVED frees the instance */
    bk_grp_out_free(&out);
}

/* ---- helpers shared by the handlers ---- */

int bk_cons_assignment(bk_cons_inst_t *in, bk_grp_assignment_t *out)
{
    if (in->mode == BK_CONS_MODE_ASSIGNED) {
        for (size_t i = 0; i < in->manual.count; i++)
            for (size_t k = 0; k < in->manual.topics[i].count; k++)
                if (bk_grp_assignment_add(out, in->manual.topics[i].topic,
                                          in->manual.topics[i].partitions[k]))
                    return UV_ENOMEM;
        return 0;
    }
    bk_grp_t *g = &in->group->g;
    int i = bk_grp_member_find(g, in->def.name);
    if (in->mode != BK_CONS_MODE_SUBSCRIBED || i < 0 || g->state != BK_GRP_STABLE)
        return 0;
    const bk_grp_member_t *m = g->members[i];
    if (!m->assignment)
        return 0;
    return bk_grp_assignment_decode(m->assignment, m->assignment_len, out);
}

bk_cons_pos_t *bk_cons_pos(bk_cons_inst_t *in, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < in->pos_count; i++)
        if (in->pos[i].partition == partition && strcmp(in->pos[i].topic, topic) == 0)
            return &in->pos[i];
    if (in->pos_count == in->pos_cap) {
        size_t cap = in->pos_cap ? in->pos_cap * 2 : 8;
        bk_cons_pos_t *p = realloc(in->pos, cap * sizeof *p);
        if (!p)
            return NULL;
        in->pos = p;
        in->pos_cap = cap;
    }
    char *t = strdup(topic);
    if (!t)
        return NULL;
    in->pos[in->pos_count] = (bk_cons_pos_t){t, partition, -1, -1, -1};
    return &in->pos[in->pos_count++];
}

int bk_cons_may_read(bk_consumers_t *c, bk_exchange_t *ex, const char *topic)
{
    const char *user = c->b->authz_user;
    if (!c->b->auth)
        return 1;
    if (user && bk_auth_check(c->b->auth, user, strlen(user), BK_RES_TOPIC, topic, strlen(topic),
                              BK_OP_READ))
        return 1;
    bk_exchange_errorf(ex, 40301, "User:%s may not read topic %s", user ? user : "(none)", topic);
    return 0;
}

void bk_cons_json_type(bk_exchange_t *ex)
{
    ex->json_type =
        bk_cons_v1_request(ex) ? "application/vnd.kafka.v1+json" : "application/vnd.kafka.v2+json";
}

void bk_cons_no_content(bk_exchange_t *ex)
{
    bk_exchange_respond(ex, 204, NULL, NULL, NULL, 0);
}

void bk_cons_write_failed(bk_exchange_t *ex, int status)
{
    if (status == UV_EAGAIN)
        bk_exchange_errorf(ex, 503,
                           "not enough in-sync replicas to write %s; nothing was "
                           "committed, retry shortly",
                           BK_GRP_OFFSETS_TOPIC);
    else if (status == BK_ENOTLEADER || status == BK_ECLOSED)
        bk_exchange_errorf(ex, 503,
                           "this broker stopped leading before the write (%s); "
                           "nothing was committed, retry",
                           bk_strerror(status));
    else
        bk_exchange_errorf(ex, 503, "cannot write %s: %s; nothing was committed",
                           BK_GRP_OFFSETS_TOPIC, bk_strerror(status));
}

int bk_cons_name_ok(bk_exchange_t *ex, const char *what, const char *s, size_t len)
{
    int ok = len >= 1 && len <= BK_CONS_NAME_MAX;
    for (size_t i = 0; ok && i < len; i++) {
        char ch = s[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '.' || ch == '_' || ch == '-';
    }
    if (!ok)
        bk_exchange_errorf(ex, 42204,
                           "invalid %s name \"%.*s\": use 1-%d characters of "
                           "[a-zA-Z0-9._-]",
                           what, (int)(len > 255 ? 255 : len), s, BK_CONS_NAME_MAX);
    return ok;
}

/* ---- timer: the coordinators' clocks ---- */

static int still_leading(bk_consumers_t *c)
{
    int64_t epoch;
    return c->loaded && !c->stopped && c->b->election &&
           bk_election_can_ack(c->b->election, &epoch) && epoch == c->loaded_epoch;
}

static int busy(void *ctx, const char *group)
{
    /* a member joining, or a record of the group not yet in the store: an expiry tombstone
     * appended behind that record would delete what it has just acknowledged */
    bk_cons_group_t *cg = bk_cons_group_find(ctx, group, strlen(group));
    return (cg && (cg->g.member_count > 0 || cg->g.pending_count > 0)) ||
           bk_gstore_writing(ctx, group);
}

static void after_expiry(void *arg, int status)
{
    (void)arg;
    if (status)
        bk_trace_warn("groups", "expiring offsets failed (%s); retried", bk_strerror(status));
}

/* --offsets-retention-ms: tombstones for what expired, written group by group. */
static void expire(bk_consumers_t *c, int64_t now)
{
    int64_t every = c->retention_ms / 2 < 60000 ? c->retention_ms / 2 : 60000;
    if (now < c->next_expiry_ms)
        return;
    c->next_expiry_ms = now + (every < 500 ? 500 : every);
    bk_grp_kvs_t all = {0};
    if (bk_grp_store_expire(&c->store, now, c->retention_ms, busy, c, &all) == 0) {
        for (size_t i = 0; i < all.count; i++) {
            bk_grp_record_t rec;
            bk_grp_kvs_t one = {&all.items[i], 1, 1};
            if (bk_grp_record_decode(all.items[i].key, all.items[i].key_len, NULL, 0, &rec))
                continue;
            if (bk_gstore_write(c, rec.group, &one, after_expiry, NULL) == 0)
                c->expired++;
            bk_grp_record_free(&rec);
        }
    }
    bk_grp_kvs_free(&all);
}

static void on_tick(uv_timer_t *t)
{
    bk_consumers_t *c = t->data;
    if (!still_leading(c)) {
        if (c->answer) /* Kafka requests held by a coordinator that no longer runs */
            c->answer(c->answer_arg, NULL);
        return;
    }
    int64_t now = bk_wall_ms();
    bk_grp_out_t out = {0};
    bk_cons_group_t *cg = c->groups;
    while (cg) {
        bk_cons_group_t *next = cg->next;
        (void)bk_grp_tick(&cg->g, now, &out);
        if (bk_grp_metadata_changed(&cg->g, now, &out) < 0)
            out.lost = 1;
        bk_cons_act(c, cg, &out);
        bk_cons_patterns_refresh(c, cg);
        if ((cg->g.state == BK_GRP_COMPLETING_REBALANCE && cg->g.persist_wait) ||
            cg->changes > cg->written)
            persist(c, cg); /* a write that failed: again */
        cg = next;
    }
    bk_grp_out_free(&out);
    expire(c, now);
}

/* ---- entry points ---- */

int bk_consumers_new(bk_broker_t *b, uint32_t instance_timeout_ms, int64_t retention_ms,
                     bk_consumers_t **out)
{
    bk_consumers_t *c = calloc(1, sizeof *c);
    if (!c)
        return UV_ENOMEM;
    c->b = b;
    c->instance_timeout_ms = instance_timeout_ms;
    c->retention_ms = retention_ms;
    c->partitions = 1;
    c->loaded_epoch = -1;
    uv_timer_init(b->loop, &c->tick);
    c->tick.data = c;
    uint64_t every = instance_timeout_ms / 4;
    every = every < 50 ? 50 : every > 1000 ? 1000 : every;
    uv_timer_start(&c->tick, on_tick, every, every);
    *out = c;
    return 0;
}

void bk_consumers_on_visible(bk_broker_t *b, bk_partition_t *p)
{
    if (b->consumers && b->consumers->loaded)
        bk_cons_polls_wake(b->consumers, NULL, p);
}

void bk_consumers_stop(bk_broker_t *b)
{
    bk_consumers_t *c = b->consumers;
    if (!c || c->stopped)
        return;
    c->stopped = 1;
    bk_cons_polls_wake(c, NULL, NULL); /* answered now: the broker is stopping */
    for (bk_cons_group_t *cg = c->groups; cg; cg = cg->next)
        answer_waiters_gone(cg);
    uv_close((uv_handle_t *)&c->tick, NULL);
}

void bk_consumers_free(bk_consumers_t *c)
{
    if (!c)
        return;
    bk_cons_drop_all(c);
    bk_grp_store_free(&c->store);
    bk_cons_stats_free(c);
    free(c);
}

static void dispatch(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r)
{
    switch (r->id) {
    case BK_ROUTE_GROUP:
        if (ex->method == HTTP_POST)
            bk_cons_create(c, ex, r);
        else if (ex->method == HTTP_DELETE)
            bk_cons_group_delete(c, ex, r);
        else
            bk_cons_views(c, ex, r);
        return;
    case BK_ROUTE_GROUP_OFFSETS:
        if (ex->method == HTTP_POST)
            bk_cons_group_commit(c, ex, r);
        else
            bk_cons_views(c, ex, r);
        return;
    case BK_ROUTE_GROUPS:
        bk_cons_views(c, ex, r);
        return;
    case BK_ROUTE_INSTANCE:
        bk_cons_delete(c, ex, r);
        return;
    case BK_ROUTE_SUBSCRIPTION:
        bk_cons_subscription(c, ex, r);
        return;
    case BK_ROUTE_ASSIGNMENTS:
        bk_cons_assignments(c, ex, r);
        return;
    case BK_ROUTE_INST_OFFSETS:
        bk_cons_offsets(c, ex, r);
        return;
    case BK_ROUTE_POSITIONS:
    case BK_ROUTE_POSITIONS_BEGIN:
    case BK_ROUTE_POSITIONS_END:
        bk_cons_positions(c, ex, r);
        return;
    case BK_ROUTE_CONSUMER_RECORDS:
        bk_cons_records(c, ex, r);
        return;
    case BK_ROUTE_V1_CONSUME:
        bk_cons_v1_consume(c, ex, r);
        return;
    default:
        bk_exchange_error(ex, 404, "no such resource");
        return;
    }
}

void bk_consumers_route(bk_broker_t *b, bk_exchange_t *ex, const bk_route_t *r)
{
    bk_consumers_t *c = b->consumers;
    if (!c) {
        bk_exchange_error(ex, 503, "consumer groups are not available on this broker");
        return;
    }
    if (r->id != BK_ROUTE_CONSUMER_RECORDS)
        bk_cons_json_type(ex);
    if ((r->group && !bk_cons_name_ok(ex, "group", r->group, r->group_len)) ||
        (r->instance && !bk_cons_name_ok(ex, "instance", r->instance, r->instance_len)))
        return;
    if (!bk_gstore_ready(c, ex))
        return;
    dispatch(c, ex, r);
}
