/* Group views that need no instance: GET /consumers (every group this coordinator knows, live
 * or only in __consumer_offsets), GET /consumers/{g} (state, generation, members and their
 * assignments) and GET /consumers/{g}/offsets (committed offset, end offset and lag per
 * partition). Read-only: nothing here changes a group. */
#include <stdlib.h>
#include <string.h>

#include "api/consumers.h"
#include "brook/common.h"
#include "http/response.h"

static int may_describe(bk_consumers_t *c, const char *group)
{
    const char *user = c->b->authz_user;
    if (!c->b->auth)
        return 1;
    return user && bk_auth_check(c->b->auth, user, strlen(user), BK_RES_GROUP, group, strlen(group),
                                 BK_OP_DESCRIBE);
}

static void group_summary(bk_json_t *j, const char *id, const bk_cons_group_t *cg)
{
    bk_json_obj(j);
    bk_json_key(j, "group_id");
    bk_json_str(j, id);
    bk_json_key(j, "state");
    bk_json_str(j, bk_grp_state_name(cg ? cg->g.state : BK_GRP_EMPTY));
    bk_json_key(j, "members");
    bk_json_uint(j, cg ? cg->g.member_count : 0);
    bk_json_obj_end(j);
}

static void list_groups(bk_consumers_t *c, bk_exchange_t *ex)
{
    bk_json_t *j = bk_json_begin();
    bk_json_obj(j);
    bk_json_key(j, "groups");
    bk_json_arr(j);
    for (size_t i = 0; i < c->store.count; i++) {
        const char *id = c->store.groups[i].group;
        if (may_describe(c, id))
            group_summary(j, id, bk_cons_group_find(c, id, strlen(id)));
    }
    for (bk_cons_group_t *cg = c->groups; cg; cg = cg->next)
        if (!bk_grp_store_find(&c->store, cg->g.group_id) && may_describe(c, cg->g.group_id))
            group_summary(j, cg->g.group_id, cg);
    bk_json_arr_end(j);
    bk_json_obj_end(j);
    bk_exchange_respond_json(ex, 200, j, NULL);
}

static void member_view(bk_json_t *j, const bk_cons_group_t *cg, const bk_grp_member_t *m)
{
    bk_json_obj(j);
    bk_json_key(j, "member_id");
    bk_json_str(j, m->member_id);
    bk_json_key(j, "client_id");
    bk_json_str(j, m->client_id ? m->client_id : "");
    bk_json_key(j, "topics");
    bk_json_arr(j);
    for (size_t i = 0; i < m->topic_count; i++)
        bk_json_str(j, m->topics[i]);
    bk_json_arr_end(j);
    bk_json_key(j, "assignments");
    bk_json_arr(j);
    bk_grp_assignment_t a = {0};
    if (cg->g.state == BK_GRP_STABLE && m->assignment &&
        bk_grp_assignment_decode(m->assignment, m->assignment_len, &a) == 0)
        for (size_t i = 0; i < a.count; i++)
            for (size_t k = 0; k < a.topics[i].count; k++) {
                bk_json_obj(j);
                bk_json_key(j, "topic");
                bk_json_str(j, a.topics[i].topic);
                bk_json_key(j, "partition");
                bk_json_int(j, a.topics[i].partitions[k]);
                bk_json_obj_end(j);
            }
    bk_grp_assignment_free(&a);
    bk_json_arr_end(j);
    bk_json_obj_end(j);
}

static void nullable(bk_json_t *j, const char *key, const char *s)
{
    bk_json_key(j, key);
    if (s)
        bk_json_str(j, s);
    else
        bk_json_null(j);
}

static void describe_group(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r)
{
    bk_cons_group_t *cg = bk_cons_group_find(c, r->group, r->group_len);
    char *id = strndup(r->group, r->group_len);
    const bk_grp_image_t *img = id ? bk_grp_store_find(&c->store, id) : NULL;
    free(id);
    if (!cg && !img) {
        bk_exchange_errorf(ex, 404, "consumer group %.*s not found", (int)r->group_len, r->group);
        return;
    }
    bk_json_t *j = bk_json_begin();
    bk_json_obj(j);
    bk_json_key(j, "group_id");
    bk_json_strn(j, r->group, r->group_len);
    bk_json_key(j, "state");
    bk_json_str(j, bk_grp_state_name(cg ? cg->g.state : BK_GRP_EMPTY));
    bk_json_key(j, "generation");
    bk_json_int(j, cg ? cg->g.generation : img->has_meta ? img->meta.generation : 0);
    nullable(j, "protocol_type", cg ? cg->g.protocol_type : NULL);
    nullable(j, "protocol", cg ? cg->g.protocol : NULL);
    nullable(j, "leader", cg ? cg->g.leader_id : NULL);
    bk_json_key(j, "members");
    bk_json_arr(j);
    for (size_t i = 0; cg && i < cg->g.member_count; i++)
        member_view(j, cg, cg->g.members[i]);
    bk_json_arr_end(j);
    bk_json_obj_end(j);
    bk_exchange_respond_json(ex, 200, j, NULL);
}

static void offset_view(bk_consumers_t *c, bk_json_t *j, const bk_grp_offset_t *o)
{
    bk_topic_t *t = bk_log_topic_find(c->b->log, o->topic, strlen(o->topic));
    bk_partition_t *p = t ? bk_topic_partition(t, (uint32_t)o->partition) : NULL;
    bk_json_obj(j);
    bk_json_key(j, "topic");
    bk_json_str(j, o->topic);
    bk_json_key(j, "partition");
    bk_json_int(j, o->partition);
    bk_json_key(j, "committed");
    bk_json_int(j, o->v.offset);
    bk_json_key(j, "metadata");
    bk_json_str(j, o->v.metadata);
    bk_json_key(j, "commit_timestamp");
    bk_json_int(j, o->v.commit_ms);
    bk_json_key(j, "end");
    if (p) {
        int64_t end = bk_broker_visible_end(c->b, p);
        bk_json_int(j, end);
        bk_json_key(j, "lag");
        bk_json_int(j, end > o->v.offset ? end - o->v.offset : 0);
    } else {
        bk_json_null(j);
        bk_json_key(j, "lag");
        bk_json_null(j);
    }
    bk_json_obj_end(j);
}

static void group_offsets(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r)
{
    char *id = strndup(r->group, r->group_len);
    const bk_grp_image_t *img = id ? bk_grp_store_find(&c->store, id) : NULL;
    free(id);
    if (!img && !bk_cons_group_find(c, r->group, r->group_len)) {
        bk_exchange_errorf(ex, 404, "consumer group %.*s not found", (int)r->group_len, r->group);
        return;
    }
    bk_json_t *j = bk_json_begin();
    bk_json_obj(j);
    bk_json_key(j, "group_id");
    bk_json_strn(j, r->group, r->group_len);
    bk_json_key(j, "offsets");
    bk_json_arr(j);
    for (size_t i = 0; img && i < img->offset_count; i++)
        offset_view(c, j, &img->offsets[i]);
    bk_json_arr_end(j);
    bk_json_obj_end(j);
    bk_exchange_respond_json(ex, 200, j, NULL);
}

void bk_cons_views(bk_consumers_t *c, bk_exchange_t *ex, const bk_route_t *r)
{
    if (r->id == BK_ROUTE_GROUPS)
        list_groups(c, ex);
    else if (r->id == BK_ROUTE_GROUP_OFFSETS)
        group_offsets(c, ex, r);
    else
        describe_group(c, ex, r);
}
