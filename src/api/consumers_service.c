/* The consumer-group registry offered to the Kafka listener (brook/groups_service.h): the same
 * groups, store and timer the REST consumer API uses, so one broker runs one coordinator per
 * group whatever protocol its members speak. Thin adapters only: no decision is made here. */
#include <string.h>

#include "api/consumers.h"
#include "brook/common.h"

static int svc_ready(void *ctx)
{
    return bk_gstore_ready_code(ctx);
}

static bk_grp_t *svc_group(void *ctx, const char *id, int create)
{
    bk_consumers_t *c = ctx;
    if (!id || !id[0])
        return NULL;
    size_t len = strlen(id);
    bk_cons_group_t *cg = create ? bk_cons_group_get(c, id, len) : bk_cons_group_find(c, id, len);
    return cg ? &cg->g : NULL;
}

static bk_grp_t *svc_group_at(void *ctx, size_t i)
{
    bk_consumers_t *c = ctx;
    bk_cons_group_t *cg = c->groups;
    while (cg && i--)
        cg = cg->next;
    return cg ? &cg->g : NULL;
}

static void svc_act(void *ctx, bk_grp_t *g, bk_grp_out_t *out)
{
    bk_consumers_t *c = ctx;
    bk_cons_group_t *cg = bk_cons_group_find(c, g->group_id, strlen(g->group_id));
    if (cg)
        bk_cons_act(c, cg, out);
    else
        bk_grp_out_clear(out);
}

static int svc_write(void *ctx, const char *group, const bk_grp_kvs_t *recs, bk_gsvc_done_fn done,
                     void *arg)
{
    bk_consumers_t *c = ctx;
    int rc = bk_gstore_write(c, group, recs, done, arg);
    if (rc == 0)
        c->commits++;
    return rc;
}

static const bk_grp_store_t *svc_store(void *ctx)
{
    bk_consumers_t *c = ctx;
    return &c->store;
}

static void svc_set_answer(void *ctx, bk_gsvc_answer_fn fn, void *arg)
{
    bk_consumers_t *c = ctx;
    c->answer = fn;
    c->answer_arg = fn ? arg : NULL;
}

void bk_consumers_service(bk_consumers_t *c, bk_groups_service_t *out)
{
    *out = (bk_groups_service_t){c,       svc_ready, svc_group, svc_group_at,
                                 svc_act, svc_write, svc_store, svc_set_answer};
}
