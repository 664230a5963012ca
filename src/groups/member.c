/* One member's record: ids, timeouts, protocols (name + metadata, copied), the subscription
 * read from the metadata when it is a consumer-protocol Subscription, and its assignment
 * bytes. Pure memory management; the coordinator decides when these change. */
#include "groups/coordinator_internal.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

bk_grp_member_t *grp_member_new(const char *member_id, const char *client_id,
                                const char *client_host, int32_t session_ms, int32_t rebalance_ms)
{
    bk_grp_member_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->member_id = strdup(member_id);
    m->client_id = dup_or_empty(client_id);
    m->client_host = dup_or_empty(client_host);
    m->session_timeout_ms = session_ms;
    m->rebalance_timeout_ms = rebalance_ms;
    if (!m->member_id || !m->client_id || !m->client_host) {
        grp_member_free(m);
        return NULL;
    }
    return m;
}

static void free_protocols(bk_grp_member_t *m)
{
    for (size_t i = 0; i < m->protocol_count; i++) {
        free(m->protocols[i].name);
        free(m->protocols[i].metadata);
    }
    free(m->protocols);
    for (size_t i = 0; i < m->topic_count; i++)
        free(m->topics[i]);
    free(m->topics);
    m->protocols = NULL;
    m->protocol_count = 0;
    m->topics = NULL;
    m->topic_count = 0;
}

void grp_member_free(bk_grp_member_t *m)
{
    if (!m)
        return;
    free_protocols(m);
    free(m->member_id);
    free(m->group_instance_id);
    free(m->client_id);
    free(m->client_host);
    free(m->assignment);
    free(m);
}

static int copy_protocol(bk_grp_protocol_t *dst, const bk_grp_protocol_in_t *src)
{
    dst->name = strdup(src->name ? src->name : "");
    dst->metadata_len = src->metadata_len;
    dst->metadata = malloc(src->metadata_len ? src->metadata_len : 1);
    if (!dst->name || !dst->metadata)
        return UV_ENOMEM;
    if (src->metadata_len)
        memcpy(dst->metadata, src->metadata, src->metadata_len);
    return 0;
}

/* The first protocol whose metadata reads as a Subscription gives the topics. */
static void read_topics(bk_grp_member_t *m)
{
    for (size_t i = 0; i < m->protocol_count; i++) {
        bk_grp_subscription_t s;
        const bk_grp_protocol_t *p = &m->protocols[i];
        if (bk_grp_subscription_decode(p->metadata, p->metadata_len, &s))
            continue;
        m->topics = s.topics;
        m->topic_count = s.topic_count;
        s.topics = NULL;
        s.topic_count = 0;
        bk_grp_subscription_free(&s);
        return;
    }
}

int grp_member_set_protocols(bk_grp_member_t *m, const bk_grp_protocol_in_t *p, size_t n)
{
    bk_grp_protocol_t *copy = calloc(n ? n : 1, sizeof *copy);
    if (!copy)
        return UV_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (copy_protocol(&copy[i], &p[i])) {
            for (size_t k = 0; k <= i; k++) {
                free(copy[k].name);
                free(copy[k].metadata);
            }
            free(copy);
            return UV_ENOMEM;
        }
    }
    free_protocols(m);
    m->protocols = copy;
    m->protocol_count = n;
    read_topics(m);
    return 0;
}

int grp_member_same_protocols(const bk_grp_member_t *m, const bk_grp_protocol_in_t *p, size_t n)
{
    if (m->protocol_count != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const bk_grp_protocol_t *q = &m->protocols[i];
        if (strcmp(q->name, p[i].name ? p[i].name : "") != 0 ||
            q->metadata_len != p[i].metadata_len ||
            (n && q->metadata_len && memcmp(q->metadata, p[i].metadata, q->metadata_len) != 0))
            return 0;
    }
    return 1;
}

const bk_grp_protocol_t *grp_member_protocol(const bk_grp_member_t *m, const char *name)
{
    for (size_t i = 0; name && i < m->protocol_count; i++)
        if (strcmp(m->protocols[i].name, name) == 0)
            return &m->protocols[i];
    return NULL;
}

int grp_member_set_assignment(bk_grp_member_t *m, const uint8_t *p, size_t len)
{
    uint8_t *copy = NULL;
    if (p && len) {
        if (!(copy = malloc(len)))
            return UV_ENOMEM;
        memcpy(copy, p, len);
    }
    free(m->assignment);
    m->assignment = copy;
    m->assignment_len = copy ? len : 0;
    return 0;
}
