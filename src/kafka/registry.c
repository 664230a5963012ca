/* Where every live broker's Kafka listeners are, so Metadata can list them all. Each broker
 * keeps a key "<cluster>:kafka:<node id>" = "<host>:<port> <broker id>" alive in Redis
 * (refreshed every second or renew interval, whichever is shorter; expiring after three
 * renew intervals) and, in the same script, reads back every
 * such key. A broker with a TLS listener keeps "<cluster>:kafka-tls:<node id>" beside it, in
 * the same format and with the same lifetime (deleted when it has none): a key of its own, so
 * brokers that predate it, which read only "<cluster>:kafka:*", see nothing new. A node id
 * held by another live broker is not taken over: this broker says so once
 * and is missing from Metadata until the other's key expires. Standalone, the list is this
 * broker alone. Redis trouble keeps the last list known. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brook/common.h"
#include "kafka/kafka_impl.h"

struct bk_kregistry {
    bk_kafka_t *k; /* NULL once the listener stopped */
    bk_election_t *const *election;
    uv_timer_t timer;
    int in_flight, timer_open, conflict_said;
    bk_knode_t nodes[BK_KAFKA_MAX_NODES];
    size_t n;
    char key[300], value[600], pattern[300], ttl[24];
    char tls_key[300], tls_value[600], tls_pattern[300]; /* tls_value "" without TLS */
};

static const char script[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur and cur ~= ARGV[1] then\n"
    "  local owner = string.match(cur, '^[^ ]* (.*)$')\n"
    "  if owner ~= ARGV[3] then return {0, cur} end\n"
    "end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "if ARGV[5] ~= '' then\n"
    "  redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[2])\n"
    "else\n"
    "  redis.call('DEL', KEYS[2])\n"
    "end\n"
    "local function list(pattern)\n"
    "  local out = {}\n"
    "  for _, k in ipairs(redis.call('KEYS', pattern)) do\n"
    "    local v = redis.call('GET', k)\n"
    "    if v then out[#out + 1] = string.sub(k, #pattern) .. ' ' .. v end\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "return {1, list(ARGV[4]), list(ARGV[6])}\n";

static void maybe_free(bk_kregistry_t *g)
{
    if (!g->k && !g->in_flight && !g->timer_open)
        free(g);
}

/* "<node id> <host>:<port> <broker id>" into n; 0 or -1. */
static int parse_entry(const char *s, size_t len, bk_knode_t *n)
{
    char buf[640];
    if (len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *sp1 = strchr(buf, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp2)
        return -1;
    *sp1 = *sp2 = 0;
    char *colon = strrchr(sp1 + 1, ':');
    if (!colon)
        return -1;
    *colon = 0;
    long id = strtol(buf, NULL, 10), port = strtol(colon + 1, NULL, 10);
    if (id < 0 || id > INT32_MAX || port <= 0 || port > 65535)
        return -1;
    n->node_id = (int32_t)id;
    n->port = (int)port;
    snprintf(n->host, sizeof n->host, "%s", sp1 + 1);
    snprintf(n->broker_id, sizeof n->broker_id, "%s", sp2 + 1);
    return 0;
}

/* tls: the TLS listeners' entries, matched to the nodes already taken by node and broker id
 * (one left without a match is a broker that stopped between the two reads: ignored). */
static void take_list(bk_kregistry_t *g, const redisReply *list, const redisReply *tls)
{
    size_t n = 0;
    for (size_t i = 0; i < list->elements && n < BK_KAFKA_MAX_NODES; i++) {
        const redisReply *e = list->element[i];
        if (e->type == REDIS_REPLY_STRING && parse_entry(e->str, e->len, &g->nodes[n]) == 0) {
            g->nodes[n].tls_port = 0;
            g->nodes[n].tls_host[0] = 0;
            n++;
        }
    }
    g->n = n;
    bk_knode_t t;
    for (size_t i = 0; tls && i < tls->elements; i++) {
        const redisReply *e = tls->element[i];
        if (e->type != REDIS_REPLY_STRING || parse_entry(e->str, e->len, &t) != 0)
            continue;
        for (size_t j = 0; j < n; j++)
            if (g->nodes[j].node_id == t.node_id &&
                strcmp(g->nodes[j].broker_id, t.broker_id) == 0) {
                memcpy(g->nodes[j].tls_host, t.host, sizeof t.host);
                g->nodes[j].tls_port = t.port;
            }
    }
}

static void after_register(void *arg, int status, const struct redisReply *reply)
{
    bk_kregistry_t *g = arg;
    g->in_flight = 0;
    if (!g->k || status < 0 || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2) {
        maybe_free(g);
        return;
    }
    const redisReply *ok = reply->element[0], *val = reply->element[1];
    if (ok->type == REDIS_REPLY_INTEGER && ok->integer == 1 && val->type == REDIS_REPLY_ARRAY) {
        const redisReply *tls = reply->elements > 2 ? reply->element[2] : NULL;
        take_list(g, val, tls && tls->type == REDIS_REPLY_ARRAY ? tls : NULL);
        g->conflict_said = 0;
    } else if (!g->conflict_said && val->type == REDIS_REPLY_STRING) {
        g->conflict_said = 1;
        bk_trace_error("kafka",
                       "node id %d is registered by another live broker (%.*s); this broker "
                       "is left out of Kafka Metadata until that key expires: give each broker "
                       "its own --node-id",
                       g->k->cfg.node_id, (int)(val->len > 300 ? 300 : val->len), val->str);
    }
}

static void on_tick(uv_timer_t *t)
{
    bk_kregistry_t *g = t->data;
    bk_election_t *e = *g->election;
    if (!g->k || g->in_flight || !e)
        return;
    const char *argv[] = {"EVAL",     script,       "2",           g->key,
                          g->tls_key, g->value,     g->ttl,        g->k->cfg.broker_id,
                          g->pattern, g->tls_value, g->tls_pattern};
    size_t lens[BK_ARRAY_LEN(argv)];
    for (size_t i = 0; i < BK_ARRAY_LEN(argv); i++)
        lens[i] = strlen(argv[i]);
    if (bk_election_command(e, (int)BK_ARRAY_LEN(argv), argv, lens, after_register, g) == 0)
        g->in_flight = 1;
}

static void on_timer_closed(uv_handle_t *h)
{
    bk_kregistry_t *g = h->data;
    g->timer_open = 0;
    maybe_free(g);
}

int bk_kregistry_start(bk_kafka_t *k)
{
    bk_kregistry_t *g = calloc(1, sizeof *g);
    if (!g)
        return UV_ENOMEM;
    g->k = k;
    g->election = k->deps.election;
    const bk_kafka_config_t *c = &k->cfg;
    snprintf(g->key, sizeof g->key, "%s:kafka:%d", c->cluster, c->node_id);
    snprintf(g->pattern, sizeof g->pattern, "%s:kafka:*", c->cluster);
    snprintf(g->value, sizeof g->value, "%s:%d %s", c->advertised_host, c->advertised_port,
             c->broker_id);
    snprintf(g->tls_key, sizeof g->tls_key, "%s:kafka-tls:%d", c->cluster, c->node_id);
    snprintf(g->tls_pattern, sizeof g->tls_pattern, "%s:kafka-tls:*", c->cluster);
    if (c->tls)
        snprintf(g->tls_value, sizeof g->tls_value, "%s:%d %s", c->tls_advertised_host,
                 c->tls_advertised_port, c->broker_id);
    snprintf(g->ttl, sizeof g->ttl, "%u", 3 * (c->register_ms ? c->register_ms : 1000));
    uv_timer_init(k->loop, &g->timer);
    g->timer.data = g;
    g->timer_open = 1;
    /* At least every second: a new broker (or a new leader) shows in Metadata soon. */
    uint32_t every = c->register_ms && c->register_ms < 1000 ? c->register_ms : 1000;
    uv_timer_start(&g->timer, on_tick, 0, every);
    k->registry = g;
    return 0;
}

void bk_kregistry_stop(bk_kafka_t *k)
{
    bk_kregistry_t *g = k->registry;
    if (!g)
        return;
    k->registry = NULL;
    g->k = NULL;
    uv_close((uv_handle_t *)&g->timer, on_timer_closed);
}

size_t bk_kregistry_nodes(bk_kafka_t *k, bk_knode_t *out, size_t max)
{
    if (max == 0)
        return 0;
    const bk_kafka_config_t *c = &k->cfg;
    out[0].node_id = c->node_id;
    out[0].port = c->advertised_port;
    snprintf(out[0].host, sizeof out[0].host, "%s", c->advertised_host);
    snprintf(out[0].broker_id, sizeof out[0].broker_id, "%s", c->broker_id);
    out[0].tls_port = c->tls ? c->tls_advertised_port : 0;
    snprintf(out[0].tls_host, sizeof out[0].tls_host, "%s", c->tls ? c->tls_advertised_host : "");
    size_t n = 1;
    bk_kregistry_t *g = k->registry;
    for (size_t i = 0; g && i < g->n && n < max; i++)
        if (g->nodes[i].node_id != c->node_id)
            out[n++] = g->nodes[i];
    return n;
}

int32_t bk_kregistry_node_of(bk_kafka_t *k, const char *broker_id)
{
    if (strcmp(broker_id, k->cfg.broker_id) == 0)
        return k->cfg.node_id;
    bk_kregistry_t *g = k->registry;
    for (size_t i = 0; g && i < g->n; i++)
        if (strcmp(g->nodes[i].broker_id, broker_id) == 0)
            return g->nodes[i].node_id;
    return -1;
}
