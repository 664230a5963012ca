/* Topic auto-creation from a follower: only the leader writes, so a follower whose Metadata
 * names unknown topics a client may auto-create asks the leader to create them (POST /topics
 * on its HTTP listener, marked X-Forwarded-By so it is never forwarded again), as Kafka's
 * brokers forward auto-creation to the controller. The follower answers that Metadata with
 * LEADER_NOT_AVAILABLE (retriable) and answers normally once replication brought the topic.
 *
 * The request says it is an auto-creation (X-Brook-Auto-Create), so the leader's own
 * --no-auto-create-topics applies as well as this broker's; a leader refusing makes the topic
 * unknown to the client (UNKNOWN_TOPIC_OR_PARTITION) rather than pending.
 *
 * One request per topic name at a time; after an answer (or a failure: the leader unknown,
 * unreachable, or no longer leading) the name is not asked for again for a short while, so
 * clients retrying Metadata do not turn into a request stream. At most MAX_ENTRIES names are
 * tracked.
 * Never used with authentication on: the leader would have to take the follower's word for
 * the client's principal (metadata.c does not call it then).
 *
 * Ownership: the table belongs to the listener until bk_kautocreate_stop, which cancels
 * every request in flight and detaches it; it frees itself once their callbacks ran. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brook/common.h"
#include "brook/http_client.h"
#include "kafka/kafka_impl.h"

#define MAX_ENTRIES 256
#define ASK_TIMEOUT_MS 5000
#define HOLD_AFTER_OK_MS 1000  /* the creation is on its way here by replication */
#define HOLD_AFTER_FAIL_MS 500 /* the leader unknown or unreachable: retry after this */

typedef struct entry {
    struct entry *next;
    struct bk_kautocreate *table;
    bk_http_client_req_t *req; /* in flight; NULL once answered */
    int refused;               /* the leader answered no (4xx: its own flag, a reserved name) */
    uint64_t hold_until;       /* loop ms: not asked again before (once answered) */
    size_t len;
    char name[256];
} entry_t;

struct bk_kautocreate {
    bk_kafka_t *k; /* NULL once detached (the listener stopped) */
    entry_t *entries;
    uint32_t count;
    uint32_t in_flight;
};

typedef struct bk_kautocreate table_t;

/* ---- the policy: may a name be asked for now? (no I/O) ---- */

enum { ASK, WAIT };

static int decide(const entry_t *e, uint64_t now)
{
    if (!e)
        return ASK;
    return e->req || now < e->hold_until ? WAIT : ASK;
}

static entry_t *find(table_t *t, const char *name, size_t len)
{
    for (entry_t *e = t->entries; e; e = e->next)
        if (e->len == len && memcmp(e->name, name, len) == 0)
            return e;
    return NULL;
}

/* Drops answered entries whose hold has passed. */
static void prune(table_t *t, uint64_t now)
{
    entry_t **pp = &t->entries;
    while (*pp) {
        entry_t *e = *pp;
        if (!e->req && now >= e->hold_until) {
            *pp = e->next;
            t->count--;
            free(e);
        } else {
            pp = &e->next;
        }
    }
}

static void maybe_free(table_t *t)
{
    if (t->k || t->in_flight)
        return;
    for (entry_t *e = t->entries, *next; e; e = next) {
        next = e->next;
        free(e);
    }
    free(t);
}

/* A final no from the leader (not worth asking again soon), unlike 307 (it no longer leads),
 * 408/429 and 5xx (try again). */
static int refusal(int http_status)
{
    return http_status >= 400 && http_status < 500 && http_status != 408 && http_status != 409 &&
           http_status != 429;
}

/* ---- asking the leader ---- */

static void after_ask(void *arg, int status, const bk_http_response_t *resp)
{
    entry_t *e = arg;
    table_t *t = e->table;
    e->req = NULL;
    t->in_flight--;
    int ok = status == 0 && (resp->status == 201 || resp->status == 409);
    e->refused = status == 0 && refusal(resp->status);
    if (t->k) {
        e->hold_until =
            uv_now(t->k->loop) + (ok || e->refused ? HOLD_AFTER_OK_MS : HOLD_AFTER_FAIL_MS);
        if (!ok && status == 0)
            bk_trace_warn("kafka", "auto-creating topic %s: the leader answered %d: %.*s", e->name,
                          resp->status, (int)(resp->body_len > 200 ? 200 : resp->body_len),
                          resp->body ? (const char *)resp->body : "");
        else if (!ok)
            bk_trace_warn("kafka", "auto-creating topic %s: asking the leader failed: %s", e->name,
                          bk_strerror(status));
    }
    maybe_free(t);
}

/* Sends POST /topics for e to the leader at url; 0 or a negative error (nothing sent). */
static int send_ask(bk_kafka_t *k, entry_t *e, const char *url)
{
    char body[300], headers[400];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", e->name); /* a valid name needs no escape */
    /* X-Brook-Auto-Create: the leader's own --no-auto-create-topics applies too */
    snprintf(headers, sizeof headers,
             "Content-Type: application/json\r\nX-Brook-Auto-Create: 1\r\nX-Forwarded-By: %s\r\n",
             k->cfg.broker_id);
    return bk_http_client_request(k->deps.client, url, "POST", "/topics", headers, body,
                                  strlen(body), ASK_TIMEOUT_MS, after_ask, e, &e->req);
}

static table_t *table_of(bk_kafka_t *k)
{
    if (!k->autocreate) {
        k->autocreate = calloc(1, sizeof *k->autocreate);
        if (k->autocreate)
            k->autocreate->k = k;
    }
    return k->autocreate;
}

/* The leader's HTTP URL into url (size n); 0, or UV_EAGAIN when this broker follows no
 * known leader. */
int bk_kafka_leader_url(bk_kafka_t *k, char *url, size_t n)
{
    bk_election_t *el = *k->deps.election;
    if (!el)
        return UV_EAGAIN;
    bk_election_view_t v;
    bk_election_view(el, &v);
    if (v.role != BK_ROLE_FOLLOWER || !v.leader_url[0])
        return UV_EAGAIN;
    snprintf(url, n, "%s", v.leader_url);
    return 0;
}

int bk_kautocreate_ask(bk_kafka_t *k, const char *name, size_t len)
{
    if (!k->deps.client || k->stopping)
        return UV_EAGAIN;
    if (len == 0 || len >= sizeof((entry_t *)0)->name)
        return BK_EINVAL;
    table_t *t = table_of(k);
    if (!t)
        return UV_ENOMEM;
    uint64_t now = uv_now(k->loop);
    prune(t, now);
    entry_t *e = find(t, name, len);
    if (decide(e, now) == WAIT)
        return e->refused ? UV_ENOENT : 0;
    char url[256];
    int rc = bk_kafka_leader_url(k, url, sizeof url);
    if (rc)
        return rc;
    if (!e) {
        if (t->count >= MAX_ENTRIES || !(e = calloc(1, sizeof *e)))
            return UV_EAGAIN;
        e->table = t;
        e->len = len;
        memcpy(e->name, name, len);
        e->next = t->entries;
        t->entries = e;
        t->count++;
    }
    rc = send_ask(k, e, url);
    if (rc) {
        e->req = NULL;
        e->refused = 0;
        e->hold_until = now + HOLD_AFTER_FAIL_MS;
        return rc;
    }
    t->in_flight++;
    bk_trace_info("kafka", "asked the leader at %s to create topic %s (auto-creation)", url,
                  e->name);
    return 0;
}

void bk_kautocreate_stop(bk_kafka_t *k)
{
    table_t *t = k->autocreate;
    if (!t)
        return;
    k->autocreate = NULL;
    t->k = NULL;
    for (entry_t *e = t->entries; e; e = e->next)
        if (e->req)
            bk_http_client_cancel(e->req); /* after_ask runs later, from the loop */
    maybe_free(t);
}
