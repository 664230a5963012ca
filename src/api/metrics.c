/* GET /metrics in the Prometheus text exposition format (version 0.0.4), and the recording
 * side. Rendering walks the log's topics and partitions for gauges; counters come from the
 * broker's metrics struct and the log's flush statistics. */
#include "api/metrics.h"

#include "brook/common.h"

#include <inttypes.h>
#include <stdlib.h>
#include <uv.h>

#include "api/broker.h"
#include "api/consumers.h"
#include "http/response.h"

static const double latency_bounds[BK_METRICS_LATENCY_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};

/* By route id; a route without a name here (added later) is counted as "other". */
static const char *const route_names[BK_ROUTE_COUNT] = {
    "unknown",
    "root",
    "produce",
    "leader",
    "health",
    "metrics",
    "brokers",
    "topics",
    "topic",
    "partitions",
    "partition",
    "offsets",
    "records",
    "replication_fetch",
    "configs",
    [BK_ROUTE_GROUPS] = "groups",
    [BK_ROUTE_GROUP] = "group",
    [BK_ROUTE_GROUP_OFFSETS] = "group_offsets",
    [BK_ROUTE_INSTANCE] = "instance",
    [BK_ROUTE_SUBSCRIPTION] = "subscription",
    [BK_ROUTE_ASSIGNMENTS] = "assignments",
    [BK_ROUTE_INST_OFFSETS] = "instance_offsets",
    [BK_ROUTE_POSITIONS] = "positions",
    [BK_ROUTE_POSITIONS_BEGIN] = "positions_beginning",
    [BK_ROUTE_POSITIONS_END] = "positions_end",
    [BK_ROUTE_CONSUMER_RECORDS] = "consumer_records",
    [BK_ROUTE_PRODUCER_IDS] = "producer_ids"};

void bk_metrics_observe(bk_metrics_t *m, const bk_exchange_t *ex)
{
    int route = ex->route > 0 && ex->route < BK_ROUTE_COUNT ? ex->route : 0;
    int cls = ex->status / 100;
    m->by_route[route][cls >= 1 && cls <= 5 ? cls : 0]++;
    if (!ex->started_ns)
        return; /* answered before it was a request (parse error) */
    double secs = (double)(uv_hrtime() - ex->started_ns) / 1e9;
    int i = 0;
    while (i < BK_METRICS_LATENCY_BUCKETS && secs > latency_bounds[i])
        i++;
    m->latency_buckets[i]++;
    m->latency_count++;
    m->latency_sum += secs;
}

bk_topic_counters_t *bk_metrics_topic(bk_metrics_t *m, const bk_topic_t *t)
{
    for (bk_topic_counters_t *c = m->topics; c; c = c->next)
        if (c->topic == t)
            return c;
    bk_topic_counters_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->topic = t;
    c->next = m->topics;
    m->topics = c;
    return c;
}

void bk_metrics_forget_topic(bk_metrics_t *m, const bk_topic_t *t)
{
    for (bk_topic_counters_t **pp = &m->topics; *pp; pp = &(*pp)->next) {
        if ((*pp)->topic == t) {
            bk_topic_counters_t *dead = *pp;
            *pp = dead->next;
            free(dead);
            return;
        }
    }
}

void bk_metrics_free(bk_metrics_t *m)
{
    while (m->topics) {
        bk_topic_counters_t *c = m->topics;
        m->topics = c->next;
        free(c);
    }
}

static void header(bk_buf_t *b, const char *name, const char *type, const char *help)
{
    bk_buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_http(bk_buf_t *b, const bk_metrics_t *m)
{
    header(b, "brook_http_responses_total", "counter", "HTTP answers by route and status class.");
    static const char *const cls[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int r = 0; r < BK_ROUTE_COUNT; r++)
        for (int c = 0; c < 6; c++)
            if (m->by_route[r][c])
                bk_buf_appendf(
                    b, "brook_http_responses_total{route=\"%s\",code=\"%s\"} %" PRIu64 "\n",
                    route_names[r] ? route_names[r] : "other", cls[c], m->by_route[r][c]);
    header(b, "brook_http_request_duration_seconds", "histogram",
           "Time from a complete request to its answer being ready.");
    uint64_t cum = 0;
    for (int i = 0; i < BK_METRICS_LATENCY_BUCKETS; i++) {
        cum += m->latency_buckets[i];
        bk_buf_appendf(b, "brook_http_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                       latency_bounds[i], cum);
    }
    bk_buf_appendf(b,
                   "brook_http_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
                   "brook_http_request_duration_seconds_sum %.6f\n"
                   "brook_http_request_duration_seconds_count %" PRIu64 "\n",
                   m->latency_count, m->latency_sum, m->latency_count);
}

static void render_topics(bk_buf_t *b, bk_broker_t *br)
{
    static const char *const names[4] = {"records_in", "bytes_in", "records_out", "bytes_out"};
    for (int k = 0; k < 4; k++) {
        char name[64];
        snprintf(name, sizeof name, "brook_topic_%s_total", names[k]);
        header(b, name, "counter",
               k % 2 ? "Value bytes produced/read per topic." : "Records produced/read per topic.");
        for (bk_topic_counters_t *c = br->metrics.topics; c; c = c->next) {
            uint64_t v = k == 0   ? c->records_in
                         : k == 1 ? c->bytes_in
                         : k == 2 ? c->records_out
                                  : c->bytes_out;
            bk_buf_appendf(b, "%s{topic=\"%s\"} %" PRIu64 "\n", name, bk_topic_name(c->topic), v);
        }
    }
    static const char *const gauges[5] = {"log_end_offset", "high_watermark", "log_start_offset",
                                          "size_bytes", "fenced"};
    size_t nt = bk_log_topic_count(br->log);
    for (int k = 0; k < 5; k++) {
        char name[64];
        snprintf(name, sizeof name, "brook_partition_%s", gauges[k]);
        header(b, name, "gauge",
               k < 4 ? "Per-partition log position or size."
                     : "1 while the partition refuses appends after a failed write or flush.");
        for (size_t i = 0; i < nt; i++) {
            bk_topic_t *t = bk_log_topic_at(br->log, i);
            for (uint32_t p = 0; p < bk_topic_partition_count(t); p++) {
                bk_partition_t *part = bk_topic_partition(t, p);
                int64_t v = k == 0   ? bk_partition_end_offset(part)
                            : k == 1 ? bk_partition_high_watermark(part)
                            : k == 2 ? bk_partition_start_offset(part)
                            : k == 3 ? (int64_t)bk_partition_size_bytes(part)
                                     : bk_partition_fenced(part, NULL) != 0;
                bk_buf_appendf(b, "%s{topic=\"%s\",partition=\"%u\"} %" PRId64 "\n", name,
                               bk_topic_name(t), p, v);
            }
        }
    }
}

/* Compaction: the cleaner's counters and the dirty ratio of each compacted partition. */
static void render_cleaner(bk_buf_t *b, bk_broker_t *br)
{
    bk_log_stats_t ls;
    bk_log_stats(br->log, &ls);
    header(b, "brook_log_cleaner_runs_total", "counter", "Compaction cleanings completed.");
    bk_buf_appendf(b, "brook_log_cleaner_runs_total %" PRIu64 "\n", ls.cleaner_runs);
    header(b, "brook_log_cleaner_errors_total", "counter", "Cleanings stopped by an error.");
    bk_buf_appendf(b, "brook_log_cleaner_errors_total %" PRIu64 "\n", ls.cleaner_errors);
    header(b, "brook_log_cleaner_bytes_reclaimed_total", "counter",
           "Bytes of segment files compaction removed.");
    bk_buf_appendf(b, "brook_log_cleaner_bytes_reclaimed_total %" PRIu64 "\n",
                   ls.cleaner_bytes_reclaimed);
    header(b, "brook_log_cleaner_bytes_read_total", "counter", "Bytes of segments cleaned.");
    bk_buf_appendf(b, "brook_log_cleaner_bytes_read_total %" PRIu64 "\n", ls.cleaner_bytes_read);
    header(b, "brook_log_cleaner_seconds_total", "counter", "Wall time of cleanings.");
    bk_buf_appendf(b, "brook_log_cleaner_seconds_total %.6f\n",
                   (double)ls.cleaner_usec_total / 1e6);
    header(b, "brook_partition_dirty_ratio", "gauge",
           "Compacted partitions: uncleaned bytes / bytes of the segments a cleaning could take.");
    int64_t now = bk_wall_ms();
    for (size_t i = 0; i < bk_log_topic_count(br->log); i++) {
        bk_topic_t *t = bk_log_topic_at(br->log, i);
        if (!bk_topic_config_compacts(bk_topic_config(t)))
            continue;
        for (uint32_t p = 0; p < bk_topic_partition_count(t); p++)
            bk_buf_appendf(b, "brook_partition_dirty_ratio{topic=\"%s\",partition=\"%u\"} %g\n",
                           bk_topic_name(t), p,
                           bk_partition_dirty_ratio(bk_topic_partition(t, p), now));
    }
}

static void render_broker(bk_buf_t *b, bk_broker_t *br)
{
    bk_log_stats_t ls;
    bk_log_stats(br->log, &ls);
    header(b, "brook_log_flushes_total", "counter", "fdatasync rounds completed (group commit).");
    bk_buf_appendf(b, "brook_log_flushes_total %" PRIu64 "\n", ls.flushes);
    header(b, "brook_log_flush_errors_total", "counter", "Failed flush rounds.");
    bk_buf_appendf(b, "brook_log_flush_errors_total %" PRIu64 "\n", ls.flush_errors);
    header(b, "brook_log_flush_seconds_total", "counter", "Time spent in flush rounds.");
    bk_buf_appendf(b, "brook_log_flush_seconds_total %.6f\n", (double)ls.flush_usec_total / 1e6);
    header(b, "brook_log_flush_duration_seconds", "histogram",
           "Wall time of one flush round (write + fdatasync on the threadpool).");
    uint64_t cum = 0;
    for (size_t i = 0; i < BK_ARRAY_LEN(BK_LOG_FLUSH_BUCKET_US); i++) {
        cum += ls.flush_buckets[i];
        bk_buf_appendf(b, "brook_log_flush_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                       BK_LOG_FLUSH_BUCKET_US[i] / 1e6, cum);
    }
    bk_buf_appendf(b,
                   "brook_log_flush_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
                   "brook_log_flush_duration_seconds_sum %.6f\n"
                   "brook_log_flush_duration_seconds_count %" PRIu64 "\n",
                   ls.flushes, (double)ls.flush_usec_total / 1e6, ls.flushes);
    uint64_t fenced = 0;
    for (size_t i = 0; i < bk_log_topic_count(br->log); i++) {
        bk_topic_t *t = bk_log_topic_at(br->log, i);
        for (uint32_t p = 0; p < bk_topic_partition_count(t); p++)
            fenced += bk_partition_fenced(bk_topic_partition(t, p), NULL) != 0;
    }
    header(b, "brook_log_partitions_fenced", "gauge",
           "Partitions refusing appends after a failed write or flush (see /health).");
    bk_buf_appendf(b, "brook_log_partitions_fenced %" PRIu64 "\n", fenced);
    header(b, "brook_log_batches_appended_total", "counter", "Record batches appended.");
    bk_buf_appendf(b, "brook_log_batches_appended_total %" PRIu64 "\n", ls.appends);
    header(b, "brook_connections_open", "gauge", "Open client connections.");
    bk_buf_appendf(b, "brook_connections_open %u\n", bk_server_connection_count(br->server));
    header(b, "brook_connections_accepted_total", "counter", "Client connections accepted.");
    bk_buf_appendf(b, "brook_connections_accepted_total %" PRIu64 "\n",
                   bk_server_accepted_total(br->server));
    header(b, "brook_reads_waiting", "gauge", "Long-poll reads waiting for records.");
    bk_buf_appendf(b, "brook_reads_waiting %u\n", br->waiter_count);
    bk_election_view_t v;
    bk_election_view(br->election, &v);
    static const char *const roles[4] = {"standalone", "leader", "follower", "none"};
    header(b, "brook_leader_epoch", "gauge", "Epoch of the leader this broker knows of.");
    bk_buf_appendf(b, "brook_leader_epoch %" PRId64 "\n", v.epoch);
    header(b, "brook_role", "gauge", "1 for this broker's current role.");
    for (int r = 0; r < 4; r++)
        bk_buf_appendf(b, "brook_role{role=\"%s\"} %d\n", roles[r], (int)v.role == r);
    header(b, "brook_redis_connected", "gauge", "1 while the Redis connection is up.");
    bk_buf_appendf(b, "brook_redis_connected %d\n", v.redis_connected);
}

/* Batch bytes produced to each topic on this broker before and after compression (the log's
 * counters since start; replicated copies are not counted). */
static void render_compression(bk_buf_t *b, bk_broker_t *br)
{
    static const char *const names[2] = {"brook_topic_batch_bytes_uncompressed_total",
                                         "brook_topic_batch_bytes_stored_total"};
    size_t nt = bk_log_topic_count(br->log);
    for (int k = 0; k < 2; k++) {
        header(b, names[k], "counter",
               k ? "Batch bytes appended per topic as stored (after compression)."
                 : "Batch bytes appended per topic before compression.");
        for (size_t i = 0; i < nt; i++) {
            bk_topic_t *t = bk_log_topic_at(br->log, i);
            uint64_t sum = 0, raw, stored;
            for (uint32_t p = 0; p < bk_topic_partition_count(t); p++) {
                bk_partition_compression_stats(bk_topic_partition(t, p), &raw, &stored);
                sum += k ? stored : raw;
            }
            bk_buf_appendf(b, "%s{topic=\"%s\"} %" PRIu64 "\n", names[k], bk_topic_name(t), sum);
        }
    }
}

void bk_api_metrics(bk_broker_t *b, bk_exchange_t *ex)
{
    static bk_buf_t out;
    out.len = 0;
    render_http(&out, &b->metrics);
    render_topics(&out, b);
    render_compression(&out, b);
    render_broker(&out, b);
    render_cleaner(&out, b);
    bk_consumers_metrics(b, &out);
    bk_exchange_respond(ex, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, out.data,
                        out.len);
}
