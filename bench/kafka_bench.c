/* bench/kafka_bench.c: a librdkafka client for bench/run.sh's `kafka` scenario and
 * bench/kafka_cluster.py. `produce` sends N records of S bytes with the given acks and counts
 * delivery reports; `consume` reads a partition from the beginning until N records arrived;
 * `mock` starts librdkafka's in-memory mock cluster (the client's own ceiling: no disk) and
 * prints its bootstrap address. It is a load generator: it never retries on its own and reports
 * every delivery error. Each run prints one machine-readable KBENCH line.
 *
 * build: cc -O2 -o kafka_bench bench/kafka_bench.c -lrdkafka
 * usage: kafka_bench mock [topic [partitions]]        (prints "BOOTSTRAP host:port", runs until
 *                                                       SIGTERM)
 *        kafka_bench produce BOOTSTRAP TOPIC N SIZE ACKS [key=value ...]
 *        kafka_bench consume BOOTSTRAP TOPIC N [key=value ...]
 * key=value pairs are extra librdkafka settings (the same for Brook and the mock). */
#include <dirent.h>
#include <signal.h>
#include <sys/types.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static long long delivered, failed;
static char first_error[256];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time and run-queue wait of this process so far, summed over its threads (librdkafka's
 * included), from /proc/self/task/<tid>/schedstat: on a shared machine the wait says how long
 * the client was ready to run but had no core. */
static void sched_totals(double *run_s, double *wait_s)
{
    *run_s = *wait_s = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[300];
        unsigned long long run = 0, wait = 0;
        snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fscanf(f, "%llu %llu", &run, &wait) == 2) {
            *run_s += (double)run / 1e9;
            *wait_s += (double)wait / 1e9;
        }
        fclose(f);
    }
    closedir(d);
}

static int set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka_bench: %s=%s: %s\n", k, v, err);
        return -1;
    }
    return 0;
}

static int set_extra(rd_kafka_conf_t *conf, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "kafka_bench: '%s' is not key=value\n", argv[i]);
            return -1;
        }
        *eq = '\0';
        if (set(conf, argv[i], eq + 1))
            return -1;
    }
    return 0;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        if (failed++ == 0)
            snprintf(first_error, sizeof first_error, "%s", rd_kafka_err2str(m->err));
    } else {
        delivered++;
    }
}

static int run_mock(int argc, char **argv)
{
    const char *topic = argc > 0 ? argv[0] : "bench";
    int partitions = argc > 1 ? atoi(argv[1]) : 1;
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "kafka_bench: %s\n", err);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
    if (!mc || rd_kafka_mock_topic_create(mc, topic, partitions, 1)) {
        fprintf(stderr, "kafka_bench: mock cluster failed\n");
        return 1;
    }
    printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    for (;;)
        pause(); /* SIGTERM ends the process; the mock's memory goes with it */
}

static int run_produce(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: kafka_bench produce BOOTSTRAP TOPIC N SIZE ACKS [k=v ...]\n");
        return 2;
    }
    long long n = atoll(argv[2]);
    size_t size = (size_t)atol(argv[3]);
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", argv[0]) || set(conf, "acks", argv[4]) ||
        set(conf, "queue.buffering.max.messages", "1000000") ||
        set(conf, "queue.buffering.max.kbytes", "1048576") || set_extra(conf, argc - 5, argv + 5))
        return 2;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "kafka_bench: %s\n", err);
        return 1;
    }
    char *payload = malloc(size ? size : 1);
    for (size_t i = 0; i < size; i++)
        payload[i] = (char)('a' + (int)(i % 26));
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, argv[1], NULL);
    double t0 = now_s();
    for (long long i = 0; i < n;) {
        if (rd_kafka_produce(t, 0, RD_KAFKA_MSG_F_COPY, payload, size, NULL, 0, NULL) == 0) {
            i++;
            if ((i & 1023) == 0)
                rd_kafka_poll(rk, 0);
        } else if (rd_kafka_last_error() == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 1);
        } else {
            fprintf(stderr, "kafka_bench: produce: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
            return 1;
        }
    }
    while (delivered + failed < n)
        rd_kafka_poll(rk, 100);
    double took = now_s() - t0, run_s, wait_s;
    sched_totals(&run_s, &wait_s);
    printf("KBENCH mode=produce records=%lld failed=%lld seconds=%.3f rps=%.0f mbps=%.1f "
           "cpu_s=%.2f runq_wait_s=%.2f first_error=%s\n",
           delivered, failed, took, (double)delivered / took,
           (double)delivered * (double)size / took / 1e6, run_s, wait_s,
           failed ? first_error : "none");
    rd_kafka_topic_destroy(t);
    rd_kafka_destroy(rk);
    free(payload);
    return failed ? 1 : 0;
}

static int run_consume(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: kafka_bench consume BOOTSTRAP TOPIC N [k=v ...]\n");
        return 2;
    }
    long long n = atoll(argv[2]), got = 0, bytes = 0, errors = 0;
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", argv[0]) || set(conf, "group.id", "kafka-bench") ||
        set(conf, "enable.auto.commit", "false") || set_extra(conf, argc - 3, argv + 3))
        return 2;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "kafka_bench: %s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tp, argv[1], 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    if (rd_kafka_assign(rk, tp)) {
        fprintf(stderr, "kafka_bench: assign failed\n");
        return 1;
    }
    /* Messages are taken 10,000 at a time from the consumer queue (one lock round per batch,
     * not per message) and the clock is read once per batch: this client's own cost is kept
     * low so that what it measures is the broker. */
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    static rd_kafka_message_t *ms[10000];
    const char *limit = getenv("KBENCH_TIMEOUT");
    double t0 = now_s(), first = 0, deadline = t0 + (limit ? atof(limit) : 120);
    while (got < n && now_s() < deadline) {
        ssize_t k = rd_kafka_consume_batch_queue(q, 100, ms, 10000);
        for (ssize_t i = 0; i < k; i++) {
            rd_kafka_message_t *m = ms[i];
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && errors++ == 0)
                    fprintf(stderr, "kafka_bench: consume: %s\n", rd_kafka_message_errstr(m));
            } else {
                if (got++ == 0)
                    first = now_s();
                bytes += (long long)m->len;
            }
            rd_kafka_message_destroy(m);
        }
    }
    rd_kafka_queue_destroy(q);
    /* The rate is taken from the first record to the last: connecting, metadata and the first
     * fetch's round trip (first_record_after) are start-up, not consuming. */
    double end = now_s(), took = got > 1 ? end - first : end - t0;
    double run_s, wait_s;
    sched_totals(&run_s, &wait_s);
    printf("KBENCH mode=consume records=%lld errors=%lld seconds=%.3f rps=%.0f mbps=%.1f "
           "first_record_after=%.3f cpu_s=%.2f runq_wait_s=%.2f\n",
           got, errors, took, (double)got / took, (double)bytes / took / 1e6, first - t0, run_s,
           wait_s);
    rd_kafka_topic_partition_list_destroy(tp);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got == n ? 0 : 1;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && strcmp(argv[1], "mock") == 0)
        return run_mock(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "produce") == 0)
        return run_produce(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "consume") == 0)
        return run_consume(argc - 2, argv + 2);
    fprintf(stderr, "usage: kafka_bench {mock|produce|consume} ...\n");
    return 2;
}
