/* The consumer groups' part of GET /metrics: per group its members, generation, state,
 * rebalances and commits, and per committed partition the committed offset and the lag (the
 * partition's high watermark minus the committed offset, never below 0). Everything is read
 * from what the coordinator already holds when the scrape comes; nothing is counted on the
 * produce path, and a commit only bumps one counter once it is acknowledged. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "api/consumers.h"
#include "brook/common.h"

bk_cons_gstat_t *bk_cons_stat(bk_consumers_t *c, const char *group)
{
    for (bk_cons_gstat_t *s = c->stats; s; s = s->next)
        if (strcmp(s->group, group) == 0)
            return s;
    bk_cons_gstat_t *s = calloc(1, sizeof *s);
    if (s && !(s->group = strdup(group))) {
        free(s);
        return NULL;
    }
    if (s) {
        s->next = c->stats;
        c->stats = s;
    }
    return s;
}

void bk_cons_stat_forget(bk_consumers_t *c, const char *group)
{
    for (bk_cons_gstat_t **pp = &c->stats; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->group, group) == 0) {
            bk_cons_gstat_t *dead = *pp;
            *pp = dead->next;
            free(dead->group);
            free(dead);
            return;
        }
    }
}

void bk_cons_stats_free(bk_consumers_t *c)
{
    while (c->stats) {
        bk_cons_gstat_t *s = c->stats;
        c->stats = s->next;
        free(s->group);
        free(s);
    }
}

/* An offset commit key starts with version 0 or 1 (a group record key with 2). */
static int is_commit(const bk_grp_kv_t *kv)
{
    return kv->value && kv->key_len >= 2 && kv->key[0] == 0 && kv->key[1] <= 1;
}

void bk_cons_stat_written(bk_consumers_t *c, const char *group, const bk_grp_kvs_t *recs)
{
    for (size_t i = 0; i < recs->count; i++) {
        if (is_commit(&recs->items[i])) {
            bk_cons_gstat_t *s = bk_cons_stat(c, group);
            if (s)
                s->commits++;
            return;
        }
    }
}

/* A label value as the exposition format wants it (Kafka group ids may hold any character). */
static void label(bk_buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            bk_buf_appendf(b, "\\%c", *s);
        else if (*s == '\n')
            bk_buf_appendf(b, "\\n");
        else
            bk_buf_appendf(b, "%c", *s);
    }
}

static void line(bk_buf_t *b, const char *name, const char *group, const char *extra, int64_t v)
{
    bk_buf_appendf(b, "%s{group=\"", name);
    label(b, group);
    bk_buf_appendf(b, "\"%s} %" PRId64 "\n", extra, v);
}

static void header(bk_buf_t *b, const char *name, const char *type, const char *help)
{
    bk_buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The groups this coordinator knows: every group in the store, then live ones it lacks. */
typedef void (*group_fn)(bk_consumers_t *c, bk_buf_t *b, const char *id, const bk_cons_group_t *cg,
                         const bk_grp_image_t *img);

static void each_group(bk_consumers_t *c, bk_buf_t *b, group_fn fn)
{
    for (size_t i = 0; i < c->store.count; i++) {
        const bk_grp_image_t *img = &c->store.groups[i];
        const bk_cons_group_t *cg = bk_cons_group_find(c, img->group, strlen(img->group));
        if (!cg || !cg->deleting)
            fn(c, b, img->group, cg, img);
    }
    for (bk_cons_group_t *cg = c->groups; cg; cg = cg->next)
        if (!cg->deleting && !bk_grp_store_find(&c->store, cg->g.group_id))
            fn(c, b, cg->g.group_id, cg, NULL);
}

static void members_line(bk_consumers_t *c, bk_buf_t *b, const char *id, const bk_cons_group_t *cg,
                         const bk_grp_image_t *img)
{
    (void)c;
    (void)img;
    line(b, "brook_group_members", id, "", cg ? (int64_t)cg->g.member_count : 0);
}

static void generation_line(bk_consumers_t *c, bk_buf_t *b, const char *id,
                            const bk_cons_group_t *cg, const bk_grp_image_t *img)
{
    (void)c;
    line(b, "brook_group_generation", id, "",
         cg                     ? cg->g.generation
         : img && img->has_meta ? img->meta.generation
                                : 0);
}

static void state_lines(bk_consumers_t *c, bk_buf_t *b, const char *id, const bk_cons_group_t *cg,
                        const bk_grp_image_t *img)
{
    (void)c;
    (void)img;
    bk_grp_state_t now = cg ? cg->g.state : BK_GRP_EMPTY;
    for (int s = BK_GRP_EMPTY; s < BK_GRP_DEAD; s++) {
        char extra[64];
        snprintf(extra, sizeof extra, ",state=\"%s\"", bk_grp_state_name((bk_grp_state_t)s));
        line(b, "brook_group_state", id, extra, (int)now == s);
    }
}

static void counter_lines(bk_consumers_t *c, bk_buf_t *b, const char *id, int rebalances)
{
    const bk_cons_gstat_t *s = NULL;
    for (s = c->stats; s && strcmp(s->group, id) != 0; s = s->next)
        ;
    uint64_t v = !s ? 0 : rebalances ? s->rebalances : s->commits;
    line(b, rebalances ? "brook_group_rebalances_total" : "brook_group_commits_total", id, "",
         (int64_t)v);
}

static void rebalances_line(bk_consumers_t *c, bk_buf_t *b, const char *id,
                            const bk_cons_group_t *cg, const bk_grp_image_t *img)
{
    (void)cg;
    (void)img;
    counter_lines(c, b, id, 1);
}

static void commits_line(bk_consumers_t *c, bk_buf_t *b, const char *id, const bk_cons_group_t *cg,
                         const bk_grp_image_t *img)
{
    (void)cg;
    (void)img;
    counter_lines(c, b, id, 0);
}

/* committed (lag 0) or lag (lag 1) per committed partition that still exists. */
static void offset_lines(bk_consumers_t *c, bk_buf_t *b, const char *id, const bk_grp_image_t *img,
                         int lag)
{
    for (size_t i = 0; img && i < img->offset_count; i++) {
        const bk_grp_offset_t *o = &img->offsets[i];
        bk_topic_t *t = bk_log_topic_find(c->b->log, o->topic, strlen(o->topic));
        bk_partition_t *p = t ? bk_topic_partition(t, (uint32_t)o->partition) : NULL;
        if (!p)
            continue;
        char extra[400];
        snprintf(extra, sizeof extra, ",topic=\"%s\",partition=\"%d\"", o->topic, o->partition);
        int64_t end = bk_broker_visible_end(c->b, p);
        int64_t v = !lag ? o->v.offset : end > o->v.offset ? end - o->v.offset : 0;
        line(b, lag ? "brook_group_lag" : "brook_group_committed_offset", id, extra, v);
    }
}

static void committed_lines(bk_consumers_t *c, bk_buf_t *b, const char *id,
                            const bk_cons_group_t *cg, const bk_grp_image_t *img)
{
    (void)cg;
    offset_lines(c, b, id, img, 0);
}

static void lag_lines(bk_consumers_t *c, bk_buf_t *b, const char *id, const bk_cons_group_t *cg,
                      const bk_grp_image_t *img)
{
    (void)cg;
    offset_lines(c, b, id, img, 1);
}

void bk_consumers_metrics(bk_broker_t *br, bk_buf_t *b)
{
    static const struct {
        const char *name, *type, *help;
        group_fn fn;
    } families[] = {
        {"brook_group_members", "gauge", "Members of each consumer group (coordinator only).",
         members_line},
        {"brook_group_generation", "gauge", "Generation of each consumer group.", generation_line},
        {"brook_group_state", "gauge", "1 for each consumer group's current state.", state_lines},
        {"brook_group_rebalances_total", "counter",
         "Rebalances completed per group while this broker coordinated it (since start).",
         rebalances_line},
        {"brook_group_commits_total", "counter",
         "Acknowledged offset commits per group while this broker coordinated it.", commits_line},
        {"brook_group_committed_offset", "gauge", "Committed offset per group and partition.",
         committed_lines},
        {"brook_group_lag", "gauge",
         "High watermark minus the committed offset, per group and partition.", lag_lines},
    };
    bk_consumers_t *c = br->consumers;
    int serving = c && !c->stopped && bk_gstore_ready_code(c) == 0;
    for (size_t k = 0; k < BK_ARRAY_LEN(families); k++) {
        header(b, families[k].name, families[k].type, families[k].help);
        if (serving)
            each_group(c, b, families[k].fn);
    }
}
