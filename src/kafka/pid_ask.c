/* InitProducerId on a follower: only the leader makes producer ids, so a follower asks it for
 * one (POST /cluster/producer-ids on its HTTP listener, with the broker's own credentials, as
 * the replicator fetches) and hands it to the client, as any Kafka broker answers
 * InitProducerId. The client's rights were checked here first (the follower holds the same
 * ACLs); the leader checks the broker's (cluster_action). The leader unknown, unreachable,
 * slow (ASK_TIMEOUT_MS) or no longer leading: COORDINATOR_NOT_AVAILABLE, which clients retry.
 *
 * Ownership: each ask holds its Kafka request until the ask's callback answers it; a request
 * whose connection closed meanwhile is answered into the void (bk_kreq_finish frees it). The
 * table belongs to the listener until bk_kpidask_stop, which cancels every ask in flight and
 * detaches it; it frees itself once their callbacks ran. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "brook/common.h"
#include "brook/http_client.h"
#include "kafka/kafka_impl.h"

#define ASK_TIMEOUT_MS 3000 /* well under librdkafka's and Java's request timeouts */
#define MAX_ASKS 1024       /* in flight at once; beyond, answered retriable at once */
#define MAX_ANSWER 256      /* {"producer_id":N,"producer_epoch":0} */

typedef struct ask {
    struct ask *prev, *next;
    struct bk_kpidask *table;
    bk_kreq_t *r;
    bk_http_client_req_t *req;
} ask_t;

struct bk_kpidask {
    bk_kafka_t *k; /* NULL once detached (the listener stopped) */
    ask_t *asks;
    uint32_t count;
};

typedef struct bk_kpidask table_t;

/* ---- the leader's answer (no I/O) ---- */

/* The id in a 200 answer's body; 0, or BK_EINVAL for anything else. */
static int parse_answer(const uint8_t *body, size_t len, int64_t *pid)
{
    char text[MAX_ANSWER + 1];
    if (!body || len == 0 || len > MAX_ANSWER)
        return BK_EINVAL;
    memcpy(text, body, len);
    text[len] = '\0';
    yajl_val v = yajl_tree_parse(text, NULL, 0);
    const char *path_id[] = {"producer_id", NULL}, *path_epoch[] = {"producer_epoch", NULL};
    yajl_val id = v ? yajl_tree_get(v, path_id, yajl_t_number) : NULL;
    yajl_val ep = v ? yajl_tree_get(v, path_epoch, yajl_t_number) : NULL;
    int ok = id && YAJL_IS_INTEGER(id) && YAJL_GET_INTEGER(id) >= 0 && ep && YAJL_IS_INTEGER(ep) &&
             YAJL_GET_INTEGER(ep) == 0;
    if (ok)
        *pid = YAJL_GET_INTEGER(id);
    yajl_tree_free(v);
    return ok ? 0 : BK_EINVAL;
}

/* ---- the table ---- */

static void unlink_ask(table_t *t, ask_t *a)
{
    if (a->prev)
        a->prev->next = a->next;
    else
        t->asks = a->next;
    if (a->next)
        a->next->prev = a->prev;
    t->count--;
}

static void maybe_free(table_t *t)
{
    if (!t->k && !t->count)
        free(t);
}

static table_t *table_of(bk_kafka_t *k)
{
    if (!k->pidask) {
        k->pidask = calloc(1, sizeof *k->pidask);
        if (k->pidask)
            k->pidask->k = k;
    }
    return k->pidask;
}

/* ---- asking the leader ---- */

static void trace_failure(int status, const bk_http_response_t *resp)
{
    if (status == UV_ECANCELED)
        return; /* the listener stopped */
    if (status)
        bk_trace_warn("kafka", "InitProducerId: asking the leader for a producer id failed: %s",
                      bk_strerror(status));
    else
        bk_trace_warn("kafka", "InitProducerId: the leader answered %d: %.*s", resp->status,
                      (int)(resp->body_len > 200 ? 200 : resp->body_len),
                      resp->body ? (const char *)resp->body : "");
}

static void after_ask(void *arg, int status, const bk_http_response_t *resp)
{
    ask_t *a = arg;
    table_t *t = a->table;
    bk_kreq_t *r = a->r;
    unlink_ask(t, a);
    free(a);
    int64_t pid = -1;
    int rc = status;
    if (rc == 0)
        rc = resp->status == 200 ? parse_answer(resp->body, resp->body_len, &pid) : BK_EINVAL;
    if (rc)
        trace_failure(status, resp);
    /* r->conn NULL (the client left, or the listener stopped): bk_kreq_finish frees r */
    bk_kinit_pid_answer(r, rc ? BK_KERR_COORDINATOR_NOT_AVAILABLE : BK_KERR_NONE, pid);
    maybe_free(t);
}

/* Sends the ask for a to the leader at url; 0 or a negative error (nothing sent). */
static int send_ask(bk_kafka_t *k, ask_t *a, const char *url)
{
    char headers[200];
    snprintf(headers, sizeof headers, "X-Forwarded-By: %s\r\n", k->cfg.broker_id);
    return bk_http_client_request(k->deps.leader_client, url, "POST", "/cluster/producer-ids",
                                  headers, NULL, 0, ASK_TIMEOUT_MS, after_ask, a, &a->req);
}

void bk_kpidask_start(bk_kafka_t *k, bk_kreq_t *r)
{
    char url[256];
    table_t *t = table_of(k);
    ask_t *a = NULL;
    int rc = bk_kafka_leader_url(k, url, sizeof url);
    if (rc)
        goto fail; /* no leader known yet */
    rc = UV_ENOMEM;
    if (!t || t->count >= MAX_ASKS || !(a = calloc(1, sizeof *a)))
        goto fail;
    a->table = t;
    a->r = r;
    if ((rc = send_ask(k, a, url)))
        goto fail;
    a->next = t->asks;
    if (t->asks)
        t->asks->prev = a;
    t->asks = a;
    t->count++;
    return;
fail:
    free(a);
    if (rc != UV_EAGAIN)
        bk_trace_warn("kafka", "InitProducerId: cannot ask the leader: %s", bk_strerror(rc));
    bk_kinit_pid_answer(r, BK_KERR_COORDINATOR_NOT_AVAILABLE, -1);
}

void bk_kpidask_stop(bk_kafka_t *k)
{
    table_t *t = k->pidask;
    if (!t)
        return;
    k->pidask = NULL;
    t->k = NULL;
    for (ask_t *a = t->asks; a; a = a->next)
        bk_http_client_cancel(a->req); /* after_ask runs later, from the loop */
    maybe_free(t);
}
