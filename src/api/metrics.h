/* Counters behind GET /metrics, and the Prometheus text rendering. Recording is a handful of
 * integer increments on the loop thread: no locks, no allocation on the hot path (a topic's
 * counters are allocated once, the first time the topic is seen). */
#ifndef BROOK_API_METRICS_H
#define BROOK_API_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "api/router.h"
#include "brook/log.h"
#include "http/exchange.h"

#define BK_METRICS_LATENCY_BUCKETS 14

typedef struct bk_topic_counters {
    const bk_topic_t *topic;
    uint64_t records_in, bytes_in, records_out, bytes_out;
    struct bk_topic_counters *next;
} bk_topic_counters_t;

typedef struct {
    uint64_t by_route[BK_ROUTE_COUNT][6];                     /* [route][status / 100] */
    uint64_t latency_buckets[BK_METRICS_LATENCY_BUCKETS + 1]; /* last = +Inf */
    uint64_t latency_count;
    double latency_sum;
    bk_topic_counters_t *topics;
} bk_metrics_t;

/* Records one answered exchange (status, route, latency). */
void bk_metrics_observe(bk_metrics_t *m, const bk_exchange_t *ex);

/* The counters of topic t, created on first use; NULL only when out of memory. */
bk_topic_counters_t *bk_metrics_topic(bk_metrics_t *m, const bk_topic_t *t);

/* Forgets a deleted topic's counters. */
void bk_metrics_forget_topic(bk_metrics_t *m, const bk_topic_t *t);

void bk_metrics_free(bk_metrics_t *m);

#endif
