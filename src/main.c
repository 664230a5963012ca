/* The brook executable: configuration from flags and the seed's environment variables,
 * wiring of log, election, server and handlers on one loop, signals, and an orderly shutdown
 * (stop accepting, finish in-flight requests, release the lease, flush the log, exit 0). */
#include <errno.h>
#include <ctype.h>
#include <openssl/crypto.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include "api/broker.h"
#include "api/consumers.h"
#include "api/record_json.h"
#include "auth/text.h"
#include "auth/user_cli.h"
#include "brook/auth.h"
#include "brook/common.h"
#include "brook/election.h"
#include "brook/http_client.h"
#include "brook/kafka.h"
#include "brook/log.h"
#include "brook/replicator.h"
#include "brook/server.h"
#include "brook/tls.h"
#include "common/base64.h"
#include "election/lease.h"
#include "election/redis_client.h"
#include "log/producer_ids.h"
#include "http/json.h"
#include "http/response.h"

typedef struct {
    bk_server_config_t server;
    bk_log_config_t log;
    bk_election_config_t election;
    bk_broker_config_t broker;
    bk_replication_config_t repl;
    bk_kafka_config_t kafka;
    int node_id_given;
    char kafka_adv_host[256]; /* --kafka-advertised HOST:PORT */
    int kafka_tls_port;       /* --kafka-tls-port, 0 = no TLS Kafka listener */
    char kafka_tls_adv[256];  /* --kafka-tls-advertised HOST:PORT */
    char id_buf[128];
    char url_buf[256];
    char data_buf[512];
    char state_buf[600]; /* <data dir>/+election: the remembered ISR membership */
    char redis_host[256];
    int url_given;         /* --advertised-url: else derived from the bound port */
    int host_given;        /* --host: else 127.0.0.1 without a users file (protected mode) */
    int kafka_host_given;  /* --kafka-host: protected mode likewise */
    bk_auth_config_t auth; /* users_path NULL: authentication off */
    int auth_all_paths;
    const char *broker_user;      /* --broker-user: credentials for fetches from the leader */
    const char *broker_pw_file;   /* --broker-password-file (else BROOK_BROKER_PASSWORD) */
    const char *redis_user;       /* --redis-user (password: REDIS_PASSWORD) */
    char broker_auth[1024];       /* "Authorization: Basic ...\r\n" for fetches, or "" */
    bk_tls_config_t tls;          /* --tls-cert, --tls-key, --tls-ca, --tls-client-auth */
    uint32_t consumer_timeout_ms; /* --consumer-instance-timeout-ms */
    int64_t offsets_retention_ms; /* --offsets-retention-ms */
} config_t;

static uv_loop_t *loop;
static bk_broker_t broker;
static bk_http_client_t *repl_client; /* the replicator's: carries the broker's credentials */
static bk_kafka_t *kafka;             /* NULL when --kafka-port is 0 */
static bk_pid_alloc_t pids;           /* producer ids: the Kafka and HTTP listeners' one */
static bk_tls_ctx_t *tls_server;      /* HTTPS listener (--tls-port), or NULL */
static bk_tls_ctx_t *tls_client;      /* https:// leaders, verified against --tls-ca, or NULL */
static bk_tls_ctx_t *tls_kafka;       /* the Kafka TLS listener's (no ALPN), or NULL */
static uv_signal_t sig_term, sig_int, sig_hup;
static int shutting_down;

#define DAY_MS 86400000u

/* A broker id goes into answer headers, Redis keys, file names and JSON: 1-100 characters of
 * letters, digits, '.', '_' and '-' (what hostnames and the seed's ids use). */
static int check_id(const char *id)
{
    size_t n = strlen(id);
    int ok = n >= 1 && n <= 100;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)id[i]) || id[i] == '.' || id[i] == '_' || id[i] == '-';
    if (!ok)
        fprintf(stderr,
                "brook: invalid broker id \"%.100s\" (accepted: 1-100 characters of "
                "letters, digits, '.', '_' and '-')\n",
                id);
    return ok ? 0 : -1;
}

static void usage(FILE *f)
{
    fputs(
        "Usage: brook [options]\n"
        "A Kafka-like message broker speaking HTTP/1.1 + JSON.\n"
        "Numbers are plain decimal integers; [A-B] is the accepted range.\n\n"
        "Identity and cluster:\n"
        "  --id ID                 broker id, unique in the cluster (env BROKER_ID; default\n"
        "                          broker-<hostname>)\n"
        "  --port N                listen port [0-65535], 0 = any free port, advertised as\n"
        "                          bound (env FLASK_RUN_PORT or PORT; default 5001); off =\n"
        "                          no plaintext listener (HTTPS only: needs --tls-port)\n"
        "  --host ADDR             listen address (default 0.0.0.0 with --users-file, else\n"
        "                          127.0.0.1: without authentication, local clients only)\n"
        "  --advertised-url URL    URL other brokers and clients use to reach this one\n"
        "                          (default http://127.0.0.1:<bound port>, or\n"
        "                          https://127.0.0.1:<bound TLS port> with --port off)\n"
        "  --standalone            no Redis: leader of a cluster of one at epoch 1\n"
        "  --redis HOST[:PORT]     Redis for the leader lease, port [1-65535] (env REDIS_HOST,\n"
        "                          REDIS_PORT; default localhost:6379)\n"
        "  --cluster NAME          Redis key prefix (default brook)\n"
        "  --lease-ms N            lease length [10-86400000] (env LEASE_TIME_SECONDS in\n"
        "                          seconds, up to 3 decimals; default 10000)\n"
        "  --renew-ms N            renew/poll interval [10-86400000], shorter than the lease\n"
        "                          (env RENEW_INTERVAL_SECONDS; default 5000)\n"
        "  --follower-writes MODE  redirect (307 to the leader, default) or proxy (forward)\n"
        "  --min-insync-replicas N acks=all writes need this many in-sync replicas [1-16]\n"
        "                          (default 1)\n"
        "  --replica-lag-ms N      a follower behind this long leaves the ISR [10-86400000]\n"
        "                          (default 10000)\n"
        "  --unclean-leader-election  let a broker outside the in-sync set become leader:\n"
        "                          it may LOSE acknowledged writes (default off)\n\n"
        "Storage:\n"
        "  --data-dir DIR          log directory (default ./data/<broker id>)\n"
        "  --fsync POLICY          always (default) | interval:MS [1-86400000] | never\n"
        "  --preallocate-bytes N   fsync=always: write zeros up to this far ahead of the data\n"
        "                          so most flushes commit no file-size change [0-1073741824]\n"
        "                          (default 1048576, 0 = off)\n"
        "  --partitions N          partitions of implicitly created topics [1-10000]\n"
        "                          (default 1)\n"
        "  --segment-bytes N       roll segments at this size [4096-2147483648]\n"
        "                          (default 134217728)\n"
        "  --no-auto-create-topics refuse produce to unknown topics (404)\n"
        "  --retention-ms N        default topic retention by age, -1 = forever, 0 = keep only\n"
        "                          the active segment [-1-9223372036854775807] (default 7 days)\n"
        "  --retention-bytes N     default per-partition retention by size, -1 = none\n"
        "                          [-1-9223372036854775807] (default -1)\n"
        "  --retention-check-ms N  how often retention runs [100-86400000] (default 300000)\n"
        "  --max-message-bytes N   default largest record [1-1073741824] (default 1048576)\n"
        "  --compression-type T    default compression.type of new topics: producer (keep\n"
        "                          what the producer sent; default), none, gzip, snappy,\n"
        "                          lz4 or zstd\n"
        "  --log-cleaner-interval-ms N  how often the cleaner compacts topics with\n"
        "                          cleanup.policy compact [0-86400000] (default 15000, 0 = off)\n\n"
        "Kafka protocol:\n"
        "  --kafka-port N          Kafka listener port [0-65535], 0 = off (env KAFKA_PORT;\n"
        "                          default 0)\n"
        "  --kafka-host ADDR       Kafka listen address (default 127.0.0.1 without\n"
        "                          --users-file, else 0.0.0.0)\n"
        "  --kafka-advertised HOST:PORT  address Metadata gives clients (default\n"
        "                          127.0.0.1:<bound Kafka port>)\n"
        "  --node-id N             Kafka node id [0-2147483647] (default: a hash of --id)\n"
        "  --kafka-max-frame-bytes N  largest request frame [1024-1073741824]\n"
        "                          (default 104857600)\n\n",
        f);
    fputs("Limits:\n"
          "  --max-connections N     concurrent connections [1-1000000] (default 16384)\n"
          "  --max-body-bytes N      request body [64-1073741824] (default 1048576)\n"
          "  --max-batch-bytes N     body of batch produce routes [64-1073741824]\n"
          "                          (default 67108864)\n"
          "  --max-url-bytes N       request target [64-1048576] (default 8192)\n"
          "  --max-header-bytes N    all header lines [256-1048576] (default 16384; one line:\n"
          "                          8192 or this, whichever is smaller)\n"
          "  --max-headers N         header count [8-255] (default 64)\n"
          "  --request-timeout-ms N  time to receive a whole request [250-86400000]\n"
          "                          (default 10000)\n"
          "  --idle-timeout-ms N     keep-alive idle time [250-86400000] (default 30000)\n"
          "  --max-conn-buffer-bytes N  request bodies + answers one connection may hold before\n"
          "                          its reading pauses [65536-1073741824] (default 16777216)\n"
          "  --max-poll-ms N         longest accepted timeout_ms [0-3600000], 0 = reads never\n"
          "                          wait (only timeout_ms=0 is accepted)\n"
          "                          (default 30000)\n"
          "  --consumer-instance-timeout-ms N  a REST consumer instance idle this long is\n"
          "                          deleted and leaves its group [100-86400000] (default 300000)\n"
          "  --offsets-retention-ms N  committed offsets of a group empty this long expire\n"
          "                          (default 604800000, 7 days)\n\n"
          "Security (README \"Security\"):\n"
          "  --users-file PATH       SCRAM credentials (write them with `brook user add`);\n"
          "                          turns authentication on: HTTP Basic on every route,\n"
          "                          SASL (PLAIN, SCRAM-SHA-256/512) on the Kafka listener\n"
          "  --acl-file PATH         Kafka-shaped ACLs; without it only super users may act\n"
          "  --super-users LIST      User:NAME entries separated by ';' or ','\n"
          "  --auth-all-paths        /health and /metrics need credentials too\n"
          "  --broker-user NAME      user this broker fetches from its leader as (password:\n"
          "                          env BROOK_BROKER_PASSWORD or --broker-password-file)\n"
          "  --broker-password-file PATH  first line: the --broker-user password\n"
          "  --redis-user NAME       Redis ACL user (password: env REDIS_PASSWORD; without\n"
          "                          --redis-user, REDIS_PASSWORD alone is requirepass)\n"
          "  brook user add|remove|list ...  edit a users file (brook user --help)\n"
          "  --tls-port N            HTTPS listener beside the plain one [0-65535], 0 = any\n"
          "                          free port (default: none); needs --tls-cert, --tls-key\n"
          "  --tls-cert PATH         PEM certificate chain of this broker (also presented to\n"
          "                          leaders that ask followers for a certificate)\n"
          "  --tls-key PATH          PEM private key of --tls-cert\n"
          "  --tls-ca PATH           PEM CA bundle: verifies https:// leaders, and client\n"
          "                          certificates with --tls-client-auth\n"
          "  --tls-client-auth MODE  none (default) | optional | required: ask HTTPS clients\n"
          "                          for a certificate; a verified one is principal User:<CN>\n"
          "  --kafka-tls-port N      TLS Kafka listener (SSL, SASL_SSL) beside --kafka-port\n"
          "                          [0-65535], 0 = off (env KAFKA_TLS_PORT; default 0); uses\n"
          "                          the four --tls-* settings above\n"
          "  --kafka-tls-advertised HOST:PORT  its address in Metadata (default: the host of\n"
          "                          --kafka-advertised, the bound TLS port)\n\n"
          "Other:\n"
          "  --log-level LEVEL       debug | info (default) | warn | error\n"
          "  -h, --help              this text\n\n"
          "Signals: SIGTERM/SIGINT stop in order (a second one exits at once); SIGHUP reloads\n"
          "the users and ACL files, both or neither (an error keeps the old ones), and the TLS\n"
          "certificate, key and CA for new connections (an error keeps the old ones).\n",
          f);
}

/* The one strict number parser, for flags and environment variables alike: decimal digits
 * only (no sign, space, base prefix, exponent or trailing text), optionally a '.' and at most
 * frac digits, the result scaled by 10^frac ("2.5" with frac 3 is 2500). */
static int parse_decimal(const char *s, unsigned frac, uint64_t *out)
{
    uint64_t v = 0;
    unsigned seen_frac = 0;
    int digits = 0, dot = 0;
    for (const char *p = s; p && *p; p++) {
        if (*p == '.' && !dot && frac > 0 && digits > 0) {
            dot = 1;
            continue;
        }
        if (*p < '0' || *p > '9' || (dot && seen_frac == frac))
            return -1;
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        digits++;
        seen_frac += (unsigned)dot;
    }
    if (digits == 0 || (dot && seen_frac == 0))
        return -1;
    for (; seen_frac < frac; seen_frac++) {
        if (v > UINT64_MAX / 10)
            return -1;
        v *= 10;
    }
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    return parse_decimal(s, 0, out);
}

static int parse_u32(const char *s, uint32_t *out)
{
    uint64_t v;
    if (parse_u64(s, &v) || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* A whole number of milliseconds from "<seconds>[.<up to 3 digits>]" (the seed's
 * LEASE_TIME_SECONDS / RENEW_INTERVAL_SECONDS), within [min, max] ms. */
static int parse_seconds_ms(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    uint64_t ms;
    if (parse_decimal(s, 3, &ms) || ms < min || ms > max)
        return -1;
    *out = (uint32_t)ms;
    return 0;
}

static int parse_fsync(const char *s, bk_log_config_t *log)
{
    if (strcmp(s, "always") == 0) {
        log->fsync_mode = BK_FSYNC_ALWAYS;
    } else if (strcmp(s, "never") == 0) {
        log->fsync_mode = BK_FSYNC_NEVER;
    } else if (strncmp(s, "interval:", 9) == 0) {
        log->fsync_mode = BK_FSYNC_INTERVAL;
        if (parse_u32(s + 9, &log->fsync_interval_ms) || log->fsync_interval_ms == 0 ||
            log->fsync_interval_ms > DAY_MS)
            return -1;
    } else {
        return -1;
    }
    return 0;
}

static int parse_redis(config_t *c, const char *s)
{
    snprintf(c->redis_host, sizeof c->redis_host, "%s", s);
    char *colon = strrchr(c->redis_host, ':');
    if (colon) {
        uint32_t port;
        *colon = 0;
        if (parse_u32(colon + 1, &port) || port == 0 || port > 65535)
            return -1;
        c->election.redis_port = (int)port;
    }
    c->election.redis_host = c->redis_host;
    return 0;
}

/* --kafka-advertised HOST:PORT (PORT 1-65535). */
static int parse_kafka_advertised(config_t *c, const char *s)
{
    snprintf(c->kafka_adv_host, sizeof c->kafka_adv_host, "%s", s);
    char *colon = strrchr(c->kafka_adv_host, ':');
    uint32_t port;
    if (!colon || colon == c->kafka_adv_host || parse_u32(colon + 1, &port) || port == 0 ||
        port > 65535)
        return -1;
    *colon = 0;
    c->kafka.advertised_host = c->kafka_adv_host;
    c->kafka.advertised_port = (int)port;
    return 0;
}

/* --kafka-tls-advertised HOST:PORT (PORT 1-65535). */
static int parse_kafka_tls_advertised(config_t *c, const char *s)
{
    snprintf(c->kafka_tls_adv, sizeof c->kafka_tls_adv, "%s", s);
    char *colon = strrchr(c->kafka_tls_adv, ':');
    uint32_t port;
    if (!colon || colon == c->kafka_tls_adv || parse_u32(colon + 1, &port) || port == 0 ||
        port > 65535)
        return -1;
    *colon = 0;
    c->kafka.tls_advertised_host = c->kafka_tls_adv;
    c->kafka.tls_advertised_port = (int)port;
    return 0;
}

/* The seed's environment variables; flags parsed afterwards override them. Values are parsed
 * as strictly as flags: "10abc" or "0x10" is refused, not read as 10 or 16. */
static int apply_env(config_t *c)
{
    const char *v;
    uint32_t n;
    if ((v = getenv("BROKER_ID")) && *v)
        snprintf(c->id_buf, sizeof c->id_buf, "%s", v);
    if ((v = getenv("REDIS_HOST")) && *v) {
        snprintf(c->redis_host, sizeof c->redis_host, "%s", v);
        c->election.redis_host = c->redis_host;
    }
    if ((v = getenv("REDIS_PORT")) && *v) {
        if (parse_u32(v, &n) || n == 0 || n > 65535)
            return fprintf(stderr, "brook: invalid REDIS_PORT %s (accepted: 1-65535)\n", v), -1;
        c->election.redis_port = (int)n;
    }
    if (((v = getenv("FLASK_RUN_PORT")) && *v) || ((v = getenv("PORT")) && *v)) {
        if (parse_u32(v, &n) || n > 65535)
            return fprintf(stderr, "brook: invalid port %s (accepted: 0-65535)\n", v), -1;
        c->server.port = (int)n;
    }
    if ((v = getenv("KAFKA_PORT")) && *v) {
        if (parse_u32(v, &n) || n > 65535)
            return fprintf(stderr, "brook: invalid KAFKA_PORT %s (accepted: 0-65535)\n", v), -1;
        c->kafka.port = (int)n;
    }
    if ((v = getenv("KAFKA_TLS_PORT")) && *v) {
        if (parse_u32(v, &n) || n > 65535)
            return fprintf(stderr, "brook: invalid KAFKA_TLS_PORT %s (accepted: 0-65535)\n", v), -1;
        c->kafka_tls_port = (int)n;
    }
    if ((v = getenv("LEASE_TIME_SECONDS")) && *v &&
        parse_seconds_ms(v, 10, DAY_MS, &c->election.lease_ms))
        return fprintf(stderr,
                       "brook: invalid LEASE_TIME_SECONDS %s (accepted: seconds from 0.01 to "
                       "86400, at most 3 decimals)\n",
                       v),
               -1;
    if ((v = getenv("RENEW_INTERVAL_SECONDS")) && *v &&
        parse_seconds_ms(v, 10, DAY_MS, &c->election.renew_ms))
        return fprintf(stderr,
                       "brook: invalid RENEW_INTERVAL_SECONDS %s (accepted: seconds from 0.01 to "
                       "86400, at most 3 decimals)\n",
                       v),
               -1;
    return 0;
}

enum {
    OPT_PORT = 256,
    OPT_HOST,
    OPT_ID,
    OPT_URL,
    OPT_STANDALONE,
    OPT_REDIS,
    OPT_CLUSTER,
    OPT_LEASE,
    OPT_RENEW,
    OPT_FOLLOWER,
    OPT_DATA,
    OPT_FSYNC,
    OPT_PREALLOC,
    OPT_PARTS,
    OPT_SEGMENT,
    OPT_NO_AUTO,
    OPT_MAXCONN,
    OPT_MAXBODY,
    OPT_MAXBATCH,
    OPT_MAXURL,
    OPT_MAXHDR,
    OPT_MAXHDRS,
    OPT_REQTO,
    OPT_IDLETO,
    OPT_CONNBUF,
    OPT_MAXPOLL,
    OPT_LOGLEVEL,
    OPT_RET_MS,
    OPT_RET_BYTES,
    OPT_RET_CHECK,
    OPT_MAXMSG,
    OPT_MIN_ISR,
    OPT_LAG,
    OPT_UNCLEAN,
    OPT_COMPRESSION, /* compression */
    OPT_CLEANER_MS,  /* --log-cleaner-interval-ms */
    OPT_USERS,
    OPT_ACL,
    OPT_SUPERS,
    OPT_AUTH_ALL,
    OPT_BROKER_USER,
    OPT_BROKER_PWFILE,
    OPT_REDIS_USER,
    OPT_KPORT,
    OPT_KHOST,
    OPT_KADV,
    OPT_KTLS_PORT,
    OPT_KTLS_ADV,
    OPT_NODE_ID,
    OPT_KFRAME,
    OPT_TLS_PORT,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_TLS_CA,
    OPT_TLS_CLIENT_AUTH,
    OPT_CONS_TIMEOUT,
    OPT_OFFSETS_RET,
};

static const struct option options[] = {
    {"port", required_argument, NULL, OPT_PORT},
    {"host", required_argument, NULL, OPT_HOST},
    {"id", required_argument, NULL, OPT_ID},
    {"advertised-url", required_argument, NULL, OPT_URL},
    {"standalone", no_argument, NULL, OPT_STANDALONE},
    {"redis", required_argument, NULL, OPT_REDIS},
    {"cluster", required_argument, NULL, OPT_CLUSTER},
    {"lease-ms", required_argument, NULL, OPT_LEASE},
    {"renew-ms", required_argument, NULL, OPT_RENEW},
    {"follower-writes", required_argument, NULL, OPT_FOLLOWER},
    {"data-dir", required_argument, NULL, OPT_DATA},
    {"fsync", required_argument, NULL, OPT_FSYNC},
    {"preallocate-bytes", required_argument, NULL, OPT_PREALLOC},
    {"partitions", required_argument, NULL, OPT_PARTS},
    {"segment-bytes", required_argument, NULL, OPT_SEGMENT},
    {"no-auto-create-topics", no_argument, NULL, OPT_NO_AUTO},
    {"max-connections", required_argument, NULL, OPT_MAXCONN},
    {"max-body-bytes", required_argument, NULL, OPT_MAXBODY},
    {"max-batch-bytes", required_argument, NULL, OPT_MAXBATCH},
    {"max-url-bytes", required_argument, NULL, OPT_MAXURL},
    {"max-header-bytes", required_argument, NULL, OPT_MAXHDR},
    {"max-headers", required_argument, NULL, OPT_MAXHDRS},
    {"request-timeout-ms", required_argument, NULL, OPT_REQTO},
    {"idle-timeout-ms", required_argument, NULL, OPT_IDLETO},
    {"max-conn-buffer-bytes", required_argument, NULL, OPT_CONNBUF},
    {"max-poll-ms", required_argument, NULL, OPT_MAXPOLL},
    {"log-level", required_argument, NULL, OPT_LOGLEVEL},
    {"retention-ms", required_argument, NULL, OPT_RET_MS},
    {"retention-bytes", required_argument, NULL, OPT_RET_BYTES},
    {"retention-check-ms", required_argument, NULL, OPT_RET_CHECK},
    {"max-message-bytes", required_argument, NULL, OPT_MAXMSG},
    {"min-insync-replicas", required_argument, NULL, OPT_MIN_ISR},
    {"replica-lag-ms", required_argument, NULL, OPT_LAG},
    {"unclean-leader-election", no_argument, NULL, OPT_UNCLEAN},
    {"compression-type", required_argument, NULL, OPT_COMPRESSION},
    {"log-cleaner-interval-ms", required_argument, NULL, OPT_CLEANER_MS},
    {"users-file", required_argument, NULL, OPT_USERS},
    {"acl-file", required_argument, NULL, OPT_ACL},
    {"super-users", required_argument, NULL, OPT_SUPERS},
    {"auth-all-paths", no_argument, NULL, OPT_AUTH_ALL},
    {"broker-user", required_argument, NULL, OPT_BROKER_USER},
    {"broker-password-file", required_argument, NULL, OPT_BROKER_PWFILE},
    {"redis-user", required_argument, NULL, OPT_REDIS_USER},
    {"kafka-port", required_argument, NULL, OPT_KPORT},
    {"kafka-host", required_argument, NULL, OPT_KHOST},
    {"kafka-advertised", required_argument, NULL, OPT_KADV},
    {"kafka-tls-port", required_argument, NULL, OPT_KTLS_PORT},
    {"kafka-tls-advertised", required_argument, NULL, OPT_KTLS_ADV},
    {"node-id", required_argument, NULL, OPT_NODE_ID},
    {"kafka-max-frame-bytes", required_argument, NULL, OPT_KFRAME},
    {"tls-port", required_argument, NULL, OPT_TLS_PORT},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"tls-ca", required_argument, NULL, OPT_TLS_CA},
    {"tls-client-auth", required_argument, NULL, OPT_TLS_CLIENT_AUTH},
    {"consumer-instance-timeout-ms", required_argument, NULL, OPT_CONS_TIMEOUT},
    {"offsets-retention-ms", required_argument, NULL, OPT_OFFSETS_RET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* An integer >= -1 (-1 meaning "no limit"). */
static int parse_limit(const char *s, int64_t *out)
{
    if (strcmp(s, "-1") == 0) {
        *out = -1;
        return 0;
    }
    uint64_t v;
    if (parse_u64(s, &v) || v > INT64_MAX)
        return -1;
    *out = (int64_t)v;
    return 0;
}

static int set_level(const char *s)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return bk_trace_level = i, 0;
    return -1;
}

/* The accepted range of every numeric flag (--help and the README list the same ones). A value
 * outside it cannot work (0 header lines, a request timeout the 250 ms sweep could not keep)
 * or is beyond what the code can address; it is refused at start, never clamped. */
typedef struct {
    int opt;
    uint64_t min, max;
} range_t;

static const range_t ranges[] = {
    {OPT_PORT, 0, 65535},
    {OPT_LEASE, 10, DAY_MS},
    {OPT_RENEW, 10, DAY_MS},
    {OPT_PREALLOC, 0, 1u << 30},
    {OPT_PARTS, 1, 10000},
    {OPT_SEGMENT, 4096, (uint64_t)2 << 30},
    {OPT_MAXCONN, 1, 1000000},
    {OPT_MAXBODY, 64, 1u << 30},
    {OPT_MAXBATCH, 64, 1u << 30},
    {OPT_MAXURL, 64, 1u << 20},
    {OPT_MAXHDR, 256, 1u << 20},
    {OPT_MAXHDRS, 8, 255},
    {OPT_REQTO, 250, DAY_MS},
    {OPT_IDLETO, 250, DAY_MS},
    {OPT_MAXPOLL, 0, 3600000},
    {OPT_RET_CHECK, 100, DAY_MS},
    {OPT_MAXMSG, 1, 1u << 30},
    {OPT_MIN_ISR, 1, 16},
    {OPT_LAG, 10, DAY_MS},
    {OPT_CONNBUF, 65536, 1u << 30},
    {OPT_CLEANER_MS, 0, DAY_MS},
    {OPT_KPORT, 0, 65535},
    {OPT_NODE_ID, 0, INT32_MAX},
    {OPT_KFRAME, 1024, 1u << 30},
    {OPT_CONS_TIMEOUT, 100, DAY_MS},
    {OPT_OFFSETS_RET, 1000, (uint64_t)365 * DAY_MS},
    {OPT_TLS_PORT, 0, 65535},
    {OPT_KTLS_PORT, 0, 65535},
};

static const range_t *range_of(int opt)
{
    for (size_t i = 0; i < BK_ARRAY_LEN(ranges); i++)
        if (ranges[i].opt == opt)
            return &ranges[i];
    return NULL;
}

/* Numeric options; 0 ok, -1 bad value (outside the range of r). */
static int apply_number(config_t *c, const range_t *r, const char *arg)
{
    uint64_t v;
    if (parse_u64(arg, &v) || v < r->min || v > r->max)
        return -1;
    uint32_t n = (uint32_t)(v > UINT32_MAX ? UINT32_MAX : v); /* for the 32-bit settings */
    switch (r->opt) {
    case OPT_PORT:
        c->server.port = (int)n;
        break;
    case OPT_LEASE:
        c->election.lease_ms = n;
        break;
    case OPT_RENEW:
        c->election.renew_ms = n;
        break;
    case OPT_PREALLOC:
        c->log.preallocate_bytes = n;
        break;
    case OPT_PARTS:
        c->log.default_partitions = n;
        break;
    case OPT_SEGMENT:
        c->log.segment_bytes = v;
        break;
    case OPT_MAXCONN:
        c->server.max_connections = n;
        break;
    case OPT_MAXBODY:
        c->server.limits.max_body = v;
        break;
    case OPT_MAXBATCH:
        c->broker.max_batch_body = v;
        break;
    case OPT_MAXURL:
        c->server.limits.max_url = n;
        break;
    case OPT_MAXHDR:
        c->server.limits.max_header_bytes = n;
        if (c->server.limits.max_header_line > n)
            c->server.limits.max_header_line = n;
        break;
    case OPT_MAXHDRS:
        c->server.limits.max_headers = n;
        break;
    case OPT_REQTO:
        c->server.request_timeout_ms = n;
        break;
    case OPT_CONNBUF:
        c->server.max_conn_buffer = v;
        break;
    case OPT_IDLETO:
        c->server.idle_timeout_ms = n;
        break;
    case OPT_MAXPOLL:
        c->broker.max_poll_ms = n;
        break;
    case OPT_CONS_TIMEOUT:
        c->consumer_timeout_ms = n;
        break;
    case OPT_OFFSETS_RET:
        c->offsets_retention_ms = (int64_t)v;
        break;
    case OPT_RET_CHECK:
        c->log.retention_check_ms = n;
        break;
    case OPT_CLEANER_MS:
        c->log.cleaner_interval_ms = n;
        break;
    case OPT_MAXMSG:
        c->log.max_message_bytes = n;
        break;
    case OPT_MIN_ISR:
        c->repl.min_insync = n;
        break;
    case OPT_LAG:
        c->repl.replica_lag_ms = n;
        break;
    case OPT_KPORT:
        c->kafka.port = (int)n;
        break;
    case OPT_NODE_ID:
        c->kafka.node_id = (int32_t)n;
        c->node_id_given = 1;
        break;
    case OPT_KFRAME:
        c->kafka.max_frame_bytes = v;
        break;
    case OPT_TLS_PORT:
        c->server.tls_port = (int)n;
        break;
    case OPT_KTLS_PORT:
        c->kafka_tls_port = (int)n;
        break;
    default:
        return -1;
    }
    return 0;
}

/* One option; 0 ok, -1 bad value. */
static int apply_option(config_t *c, int opt, const char *arg)
{
    if (opt == OPT_PORT && strcmp(arg, "off") == 0) {
        c->server.port = BK_SERVER_PORT_OFF;
        return 0;
    }
    const range_t *r = range_of(opt);
    if (r)
        return apply_number(c, r, arg);
    switch (opt) {
    case OPT_TLS_CERT:
        c->tls.cert_path = arg;
        return 0;
    case OPT_TLS_KEY:
        c->tls.key_path = arg;
        return 0;
    case OPT_TLS_CA:
        c->tls.ca_path = arg;
        return 0;
    case OPT_TLS_CLIENT_AUTH:
        if (strcmp(arg, "none") == 0)
            c->tls.client_auth = BK_TLS_CLIENT_AUTH_NONE;
        else if (strcmp(arg, "optional") == 0)
            c->tls.client_auth = BK_TLS_CLIENT_AUTH_OPTIONAL;
        else if (strcmp(arg, "required") == 0)
            c->tls.client_auth = BK_TLS_CLIENT_AUTH_REQUIRED;
        else
            return -1;
        return 0;
    case OPT_HOST:
        c->server.host = arg;
        c->host_given = 1;
        return 0;
    case OPT_USERS:
        c->auth.users_path = arg;
        return 0;
    case OPT_ACL:
        c->auth.acl_path = arg;
        return 0;
    case OPT_SUPERS:
        c->auth.super_users = arg;
        return 0;
    case OPT_AUTH_ALL:
        c->auth_all_paths = 1;
        return 0;
    case OPT_BROKER_USER:
        c->broker_user = arg;
        return bk_user_name_valid(arg, strlen(arg)) ? 0 : -1;
    case OPT_BROKER_PWFILE:
        c->broker_pw_file = arg;
        return 0;
    case OPT_REDIS_USER:
        c->redis_user = arg;
        return 0;
    case OPT_ID:
        snprintf(c->id_buf, sizeof c->id_buf, "%s", arg);
        return 0;
    case OPT_URL:
        snprintf(c->url_buf, sizeof c->url_buf, "%s", arg);
        c->url_given = 1;
        return 0;
    case OPT_STANDALONE:
        c->election.standalone = 1;
        return 0;
    case OPT_REDIS:
        return parse_redis(c, arg);
    case OPT_CLUSTER:
        c->election.cluster = arg;
        return 0;
    case OPT_FOLLOWER:
        if (strcmp(arg, "redirect") == 0)
            c->broker.follower_writes = BK_FOLLOWER_WRITES_REDIRECT;
        else if (strcmp(arg, "proxy") == 0)
            c->broker.follower_writes = BK_FOLLOWER_WRITES_PROXY;
        else
            return -1;
        return 0;
    case OPT_DATA:
        snprintf(c->data_buf, sizeof c->data_buf, "%s", arg);
        return 0;
    case OPT_FSYNC:
        return parse_fsync(arg, &c->log);
    case OPT_NO_AUTO:
        c->broker.auto_create_topics = 0;
        return 0;
    case OPT_LOGLEVEL:
        return set_level(arg);
    case OPT_RET_MS:
        return parse_limit(arg, &c->log.retention_ms);
    case OPT_RET_BYTES:
        return parse_limit(arg, &c->log.retention_bytes);
    case OPT_UNCLEAN:
        c->election.unclean = 1;
        return 0;
    case OPT_COMPRESSION:
        return bk_compression_parse(arg, strlen(arg), &c->log.compression) == 0 ? 0 : -1;
    case OPT_KHOST:
        c->kafka.host = arg;
        c->kafka_host_given = 1;
        return 0;
    case OPT_KADV:
        return parse_kafka_advertised(c, arg);
    case OPT_KTLS_ADV:
        return parse_kafka_tls_advertised(c, arg);
    default:
        return -1;
    }
}

/* What the user is told after "invalid value for --flag: arg". */
static void explain_refusal(int opt)
{
    const range_t *r = opt == OPT_PORT ? NULL : range_of(opt);
    if (r)
        fprintf(stderr, "brook: --%s takes a decimal integer from %llu to %llu\n",
                options[opt - 256].name, (unsigned long long)r->min, (unsigned long long)r->max);
    else if (opt == OPT_RET_MS || opt == OPT_RET_BYTES)
        fprintf(stderr, "brook: --%s takes -1 or a decimal integer from 0 to %lld\n",
                options[opt - 256].name, (long long)INT64_MAX);
    else if (opt == OPT_FSYNC)
        fprintf(stderr, "brook: --fsync takes always, never or interval:MS (MS from 1 to %u)\n",
                DAY_MS);
    else if (opt == OPT_KADV || opt == OPT_KTLS_ADV)
        fprintf(stderr, "brook: --%s takes HOST:PORT (PORT from 1 to 65535)\n",
                options[opt - 256].name);
    else if (opt == OPT_REDIS)
        fprintf(stderr, "brook: --redis takes HOST or HOST:PORT (PORT from 1 to 65535)\n");
    else if (opt == OPT_TLS_CLIENT_AUTH)
        fprintf(stderr, "brook: --tls-client-auth takes none, optional or required\n");
    else if (opt == OPT_PORT)
        fprintf(stderr, "brook: --port takes a decimal integer from 0 to 65535, or off\n");
    else if (opt == OPT_COMPRESSION)
        fprintf(stderr, "brook: --compression-type takes producer, none, gzip, snappy, lz4 or "
                        "zstd\n");
}

/* The lease timing after flags and environment: a renew interval at or past the lease could
 * never keep it, so it is refused; one the election would shorten (renewing once per safe
 * window would let one slow renew lapse the lease) is used shortened, and said so loudly. */
static int check_lease(const config_t *c)
{
    const bk_election_config_t *e = &c->election;
    if (e->renew_ms >= e->lease_ms) {
        fprintf(stderr,
                "brook: the renew interval (%u ms, --renew-ms or RENEW_INTERVAL_SECONDS) must be "
                "shorter than the lease (%u ms, --lease-ms or LEASE_TIME_SECONDS)\n",
                e->renew_ms, e->lease_ms);
        return -1;
    }
    bk_lease_t l;
    bk_lease_config_t lc = {e->lease_ms, e->renew_ms, e->margin_ms};
    bk_lease_init(&l, &lc, "", "");
    if (l.interval_ms != e->renew_ms)
        fprintf(stderr,
                "brook: WARNING: a renew interval of %u ms does not fit the lease's safe window "
                "(%u ms of the %u ms lease); renewing every %u ms instead\n",
                e->renew_ms, l.window_ms, e->lease_ms, l.interval_ms);
    return 0;
}

/* The broker's own credentials for fetching from its leader, as a ready header line. */
static int broker_credentials(config_t *c)
{
    char pw[BK_AUTH_PASSWORD_MAX + 2] = "";
    const char *env = getenv("BROOK_BROKER_PASSWORD");
    if (c->broker_pw_file) {
        char *text;
        size_t len;
        int rc = bk_text_read_file(c->broker_pw_file, &text, &len);
        if (rc)
            return fprintf(stderr, "brook: --broker-password-file %s: %s\n", c->broker_pw_file,
                           uv_strerror(rc)),
                   -1;
        size_t n = strcspn(text, "\r\n");
        n = n < len ? n : len;
        if (n < sizeof pw)
            memcpy(pw, text, n), pw[n] = 0;
        OPENSSL_cleanse(text, len);
        free(text);
        if (n >= sizeof pw - 1)
            return fprintf(stderr, "brook: --broker-password-file: password too long\n"), -1;
    } else if (env) {
        snprintf(pw, sizeof pw, "%s", env);
    } else {
        return fprintf(stderr, "brook: --broker-user needs BROOK_BROKER_PASSWORD or "
                               "--broker-password-file\n"),
               -1;
    }
    char plain[BK_AUTH_NAME_MAX + BK_AUTH_PASSWORD_MAX + 4];
    int n = snprintf(plain, sizeof plain, "%s:%s", c->broker_user, pw);
    char b64[1000];
    size_t bl = n > 0 && (size_t)n < sizeof plain && bk_base64_encoded_len((size_t)n) < sizeof b64
                    ? bk_base64_encode((const uint8_t *)plain, (size_t)n, b64)
                    : 0;
    OPENSSL_cleanse(plain, sizeof plain);
    OPENSSL_cleanse(pw, sizeof pw);
    if (bl == 0)
        return fprintf(stderr, "brook: --broker-user password too long\n"), -1;
    snprintf(c->broker_auth, sizeof c->broker_auth, "Authorization: Basic %.*s\r\n", (int)bl, b64);
    OPENSSL_cleanse(b64, sizeof b64);
    return 0;
}

/* Authentication settings after flags: protected mode without a users file, the broker's
 * and Redis' credentials. */
static int check_security(config_t *c)
{
    if (!c->auth.users_path && (c->auth.acl_path || c->auth.super_users || c->auth_all_paths))
        return fprintf(stderr, "brook: --acl-file, --super-users and --auth-all-paths need "
                               "--users-file\n"),
               -1;
    if (!c->auth.users_path && !c->host_given)
        c->server.host = "127.0.0.1";
    if (!c->auth.users_path && !c->kafka_host_given) /* protected mode covers Kafka too */
        c->kafka.host = "127.0.0.1";
    if (c->broker_pw_file && !c->broker_user)
        return fprintf(stderr, "brook: --broker-password-file needs --broker-user\n"), -1;
    if (c->broker_user && broker_credentials(c))
        return -1;
    const char *rpw = getenv("REDIS_PASSWORD");
    if (c->redis_user && !(rpw && *rpw))
        return fprintf(stderr, "brook: --redis-user needs REDIS_PASSWORD in the "
                               "environment\n"),
               -1;
    if (rpw && *rpw)
        bk_redis_client_set_auth(c->redis_user, rpw);
    return 0;
}

/* TLS settings after flags: what each needs (the files themselves are read at start). */
static int check_tls(config_t *c)
{
    const bk_tls_config_t *t = &c->tls;
    int https = c->server.tls_port != BK_SERVER_PORT_OFF, ktls = c->kafka_tls_port != 0;
    if (!t->cert_path != !t->key_path)
        return fprintf(stderr, "brook: --tls-cert and --tls-key go together\n"), -1;
    if (https && !t->cert_path)
        return fprintf(stderr, "brook: --tls-port needs --tls-cert and --tls-key\n"), -1;
    if (ktls && !t->cert_path)
        return fprintf(stderr, "brook: --kafka-tls-port needs --tls-cert and --tls-key\n"), -1;
    if (ktls && c->kafka.port == 0)
        return fprintf(stderr, "brook: --kafka-tls-port needs --kafka-port (the TLS listener "
                               "sits beside the plaintext one)\n"),
               -1;
    if (c->kafka.tls_advertised_host && !ktls)
        return fprintf(stderr, "brook: --kafka-tls-advertised needs --kafka-tls-port\n"), -1;
    if (c->server.port == BK_SERVER_PORT_OFF && !https)
        return fprintf(stderr, "brook: --port off leaves no listener: give --tls-port\n"), -1;
    if (t->client_auth != BK_TLS_CLIENT_AUTH_NONE && ((!https && !ktls) || !t->ca_path))
        return fprintf(stderr, "brook: --tls-client-auth needs --tls-port or --kafka-tls-port, "
                               "and --tls-ca (the CA that signs client certificates)\n"),
               -1;
    c->tls.alpn = "http/1.1";
    return 0;
}

static int configure(config_t *c, int argc, char **argv)
{
    memset(c, 0, sizeof *c);
    bk_server_config_defaults(&c->server);
    bk_log_config_defaults(&c->log);
    bk_election_config_defaults(&c->election);
    bk_replication_config_defaults(&c->repl);
    bk_kafka_config_defaults(&c->kafka);
    c->broker.auto_create_topics = 1;
    c->broker.max_batch_body = 64u << 20;
    c->broker.max_poll_ms = 30000;
    c->broker.proxy_timeout_ms = 10000;
    c->consumer_timeout_ms = 300000;
    c->offsets_retention_ms = (int64_t)7 * DAY_MS;
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    snprintf(c->id_buf, sizeof c->id_buf, "broker-%s", host);
    if (apply_env(c))
        return -1;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'h') {
            usage(stdout);
            exit(0);
        }
        if (opt == '?' || apply_option(c, opt, optarg)) {
            if (opt != '?') {
                fprintf(stderr, "brook: invalid value for --%s: %s\n", options[opt - 256].name,
                        optarg);
                explain_refusal(opt);
            }
            fprintf(stderr, "Try 'brook --help'.\n");
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "brook: unexpected argument %s\nTry 'brook --help'.\n", argv[optind]);
        return -1;
    }
    if (check_lease(c) || check_id(c->id_buf) || check_security(c) || check_tls(c))
        return -1;
    if (!c->url_given) /* with --port 0, rewritten once the port is bound */
        snprintf(c->url_buf, sizeof c->url_buf, "%s://127.0.0.1:%d",
                 c->server.port == BK_SERVER_PORT_OFF ? "https" : "http",
                 c->server.port == BK_SERVER_PORT_OFF ? c->server.tls_port : c->server.port);
    if (!c->data_buf[0])
        snprintf(c->data_buf, sizeof c->data_buf, "./data/%s", c->id_buf);
    c->broker.broker_id = c->election.broker_id = c->id_buf;
    c->broker.advertised_url = c->election.advertised_url = c->url_buf;
    c->broker.max_page_text = c->server.max_conn_buffer;
    c->log.data_dir = c->data_buf;
    snprintf(c->state_buf, sizeof c->state_buf, "%s/+election", c->data_buf);
    c->election.state_path = c->state_buf;
    c->repl.broker_id = c->id_buf;
    if (!c->node_id_given)
        c->kafka.node_id = bk_kafka_node_id_of(c->id_buf);
    c->kafka.broker_id = c->id_buf;
    c->kafka.cluster = c->election.cluster;
    c->kafka.auto_create_topics = c->broker.auto_create_topics;
    c->kafka.max_poll_ms = c->broker.max_poll_ms;
    c->kafka.max_connections = c->server.max_connections;
    c->kafka.idle_timeout_ms = c->server.idle_timeout_ms;
    c->kafka.register_ms = c->election.renew_ms;
    c->kafka.tls_port = c->kafka_tls_port;
    c->kafka.handshake_timeout_ms = c->server.request_timeout_ms;
    return 0;
}

static void observe(void *arg, const bk_exchange_t *ex)
{
    bk_broker_t *b = arg;
    bk_metrics_observe(&b->metrics, ex);
}

static int64_t current_epoch(void *arg)
{
    bk_broker_t *b = arg;
    bk_election_view_t v;
    if (!b->election)
        return 0;
    bk_election_view(b->election, &v);
    return v.epoch;
}

static void on_commit(void *arg, bk_partition_t *p)
{
    bk_broker_t *b = arg;
    if (b->replicator)
        bk_replicator_on_commit(b->replicator, p);
}

static void on_election_change(void *arg)
{
    bk_broker_t *b = arg;
    if (b->replicator)
        bk_replicator_on_election_change(b->replicator);
    bk_election_view_t v;
    bk_election_view(b->election, &v);
    static const char *const roles[] = {"standalone", "leader", "follower", "none"};
    bk_trace_info("main", "role %s, epoch %lld, leader %s %s", roles[v.role], (long long)v.epoch,
                  v.leader_id[0] ? v.leader_id : "(none)", v.leader_url);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void after_client(void *arg)
{
    (void)arg;
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    uv_close((uv_handle_t *)&sig_hup, NULL);
}

static void after_log(void *arg)
{
    bk_broker_t *b = arg;
    b->log = NULL;
    bk_http_client_close(b->client, after_client, b);
    if (repl_client != b->client)
        bk_http_client_close(repl_client, NULL, NULL);
}

static void after_election(void *arg)
{
    bk_broker_t *b = arg;
    b->election = NULL;
    bk_log_close(b->log, after_log, b);
}

static void after_replicator(void *arg)
{
    bk_broker_t *b = arg;
    b->replicator = NULL;
    bk_election_stop(b->election, after_election, b);
}

static void after_kafka(void *arg)
{
    bk_broker_t *b = arg;
    kafka = NULL;
    bk_replicator_stop(b->replicator, after_replicator, b);
}

static void after_server(void *arg)
{
    bk_broker_t *b = arg;
    b->server = NULL;
    if (kafka)
        bk_kafka_stop(kafka, after_kafka, b);
    else
        after_kafka(b);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    if (shutting_down) {
        bk_trace_warn("main", "second signal: exiting at once");
        _exit(1);
    }
    shutting_down = 1;
    bk_trace_info("main", "signal %d: stopping (finishing in-flight requests)", signum);
    broker.stopping = 1; /* reads dispatched from now on answer at once, writes are refused */
    bk_broker_wake_all(&broker);
    bk_consumers_stop(&broker);
    if (broker.replicator) /* hand over: the followers stay listed and may take the lease */
        bk_replicator_drain(broker.replicator);
    bk_server_stop(broker.server, after_server, &broker);
}

/* One TLS context's files again, for the connections made from now on. */
static void reload_tls(bk_tls_ctx_t *ctx, const char *what)
{
    char err[600];
    if (!ctx)
        return;
    if (bk_tls_ctx_reload(ctx, err, sizeof err))
        bk_trace_error("main",
                       "SIGHUP: TLS %s NOT reloaded, the previous certificate, key and "
                       "CA stay in force: %s",
                       what, err);
    else
        bk_trace_info("main", "SIGHUP: TLS %s reloaded for new connections", what);
}

/* SIGHUP: the conventional "reload your configuration". The TLS certificate, key and CA are
 * read into a new context beside the one in force (connections already open keep theirs);
 * the users and ACL files are loaded beside the ones in force and swapped in together. Any
 * error keeps what was in force and is traced with its reason. Other settings are fixed at
 * start and traces go to stderr, which is never reopened. */
static void reload(void)
{
    reload_tls(tls_server, "listener");
    reload_tls(tls_client, "client");
    reload_tls(tls_kafka, "Kafka listener");
    if (!broker.auth) {
        bk_trace_info("main", "SIGHUP received: no users file, %s; still serving",
                      tls_server || tls_client || tls_kafka ? "no users or ACLs reloaded"
                                                            : "nothing reloaded");
        return;
    }
    char err[600];
    if (bk_auth_reload(broker.auth, err, sizeof err))
        bk_trace_error("main",
                       "SIGHUP: users and ACLs NOT reloaded, the previous ones stay in "
                       "force: %s",
                       err);
    else
        bk_trace_info("main", "SIGHUP: users and ACLs reloaded");
}

static void on_hup(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    if (!shutting_down)
        reload();
}

/* Large answers (a 1,000-record page is ~200 KB) would otherwise be mmap'd and unmapped on
 * every request, paying page faults each time; keep them in the heap and reuse them. */
static void tune_malloc(void)
{
    (void)mallopt(M_MMAP_THRESHOLD, 64 << 20);
    (void)mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int take_epoch(void *arg, const bk_record_view_t *rec)
{
    int64_t *max = arg;
    if (rec->leader_epoch > *max)
        *max = rec->leader_epoch;
    return 0;
}

/* The highest leader epoch stamped in the log (the last batch of every partition), so a new
 * term never starts below what this broker already wrote, even if Redis lost its data. */
static int64_t max_epoch_in_log(bk_log_t *log)
{
    int64_t max = 0;
    for (size_t i = 0; i < bk_log_topic_count(log); i++) {
        bk_topic_t *t = bk_log_topic_at(log, i);
        for (uint32_t p = 0; p < bk_topic_partition_count(t); p++) {
            bk_partition_t *part = bk_topic_partition(t, p);
            int64_t hw = bk_partition_high_watermark(part), next;
            if (hw > bk_partition_start_offset(part))
                (void)bk_partition_read(part, hw - 1, 1, 0, take_epoch, &max, &next);
        }
    }
    return max;
}

/* Binds the listener before the election starts, so the URL published in Redis, in
 * /metadata/leader and in redirects names the port actually bound (with --port 0 the kernel
 * picks it). No request is served before uv_run, when everything below exists. */
static int listen_first(config_t *c)
{
    bk_server_handlers_t h = {bk_broker_on_headers, bk_broker_on_request, &broker};
    int rc = bk_server_start(loop, &c->server, &h, &broker.server);
    if (rc)
        return fprintf(stderr, "brook: cannot listen on %s:%d: %s\n", c->server.host,
                       c->server.port, bk_strerror(rc)),
               rc;
    int port = bk_server_port(broker.server), tls_port = bk_server_tls_port(broker.server);
    if ((port < 0 && c->server.port != BK_SERVER_PORT_OFF) ||
        (tls_port < 0 && c->server.tls_port != BK_SERVER_PORT_OFF))
        return fprintf(stderr, "brook: cannot read back the bound port\n"), UV_EIO;
    if (!c->url_given)
        snprintf(c->url_buf, sizeof c->url_buf, "%s://127.0.0.1:%d", port < 0 ? "https" : "http",
                 port < 0 ? tls_port : port);
    c->server.port = port;
    c->server.tls_port = tls_port;
    if (tls_port >= 0)
        bk_trace_info("main", "HTTPS on %s:%d (client certificates: %s)%s", c->server.host,
                      tls_port,
                      c->tls.client_auth == BK_TLS_CLIENT_AUTH_REQUIRED   ? "required"
                      : c->tls.client_auth == BK_TLS_CLIENT_AUTH_OPTIONAL ? "optional"
                                                                          : "not asked for",
                      port < 0 ? "; no plaintext listener" : "");
    return 0;
}

/* The TLS contexts: the HTTPS listener's, and the client's for https:// leaders (it presents
 * this broker's certificate when the leader asks for one). */
static int start_tls(config_t *c)
{
    char err[600];
    int rc;
    if (c->server.tls_port != BK_SERVER_PORT_OFF) {
        if ((rc = bk_tls_ctx_new_server(&c->tls, &tls_server, err, sizeof err)))
            return fprintf(stderr, "brook: TLS: %s\n", err), rc;
        c->server.tls = tls_server;
    }
    if (c->tls.ca_path) {
        bk_tls_config_t cc = c->tls;
        cc.client_auth = BK_TLS_CLIENT_AUTH_NONE;
        if ((rc = bk_tls_ctx_new_client(&cc, &tls_client, err, sizeof err)))
            return fprintf(stderr, "brook: TLS client: %s\n", err), rc;
    }
    if (c->kafka_tls_port) { /* the same files, no ALPN: Kafka clients offer none */
        bk_tls_config_t kc = c->tls;
        kc.alpn = NULL;
        if ((rc = bk_tls_ctx_new_server(&kc, &tls_kafka, err, sizeof err)))
            return fprintf(stderr, "brook: Kafka TLS: %s\n", err), rc;
        c->kafka.tls = tls_kafka;
    }
    return 0;
}

static int start_auth(config_t *c)
{
    if (!c->auth.users_path) {
        bk_trace_info("main", "no --users-file: authentication is OFF; %s",
                      c->host_given ? "listening where --host says, anyone who can reach it may "
                                      "do anything"
                                    : "listening on 127.0.0.1 only (protected mode; give --host "
                                      "to listen elsewhere)");
        return 0;
    }
    char err[600];
    int rc = bk_auth_new(loop, &c->auth, &broker.auth, err, sizeof err);
    if (rc)
        return fprintf(stderr, "brook: %s\n", err), rc;
    broker.auth_all_paths = c->auth_all_paths;
    bk_trace_info("main", "authentication on (users %s, ACLs %s)%s", c->auth.users_path,
                  c->auth.acl_path ? c->auth.acl_path : "none: only super users may act",
                  c->auth_all_paths ? ", on every path" : "; /health and /metrics open");
    return 0;
}

/* The replicated high watermark moved: wake the reads of both front ends. */
static void on_visible(void *arg, bk_partition_t *p)
{
    bk_broker_on_visible(arg, p);
    bk_consumers_on_visible(arg, p);
    if (kafka)
        bk_kafka_on_visible(kafka, p);
}

/* The Kafka listener (--kafka-port), started once the log, election and replicator exist. */
static int start_kafka(config_t *c)
{
    if (c->kafka.port == 0)
        return 0;
    static bk_groups_service_t groups; /* the HTTP side's coordinator and store, shared */
    bk_consumers_service(broker.consumers, &groups);
    bk_kafka_deps_t deps = {.log = broker.log,
                            .election = &broker.election,
                            .replicator = &broker.replicator,
                            .forget_topic = bk_broker_on_topic_deleted,
                            .forget_arg = &broker,
                            .auth = broker.auth,
                            .groups = &groups,
                            .client = broker.client, /* a follower's auto-creation uses it */
                            .pids = broker.pids,
                            .leader_client = repl_client}; /* with the broker's credentials */
    int rc = bk_kafka_start(loop, &c->kafka, &deps, &kafka);
    if (rc)
        return fprintf(stderr, "brook: cannot listen for Kafka on %s:%d: %s\n", c->kafka.host,
                       c->kafka.port, bk_strerror(rc)),
               rc;
    bk_trace_info("main", "Kafka protocol on %s:%d as node %d (advertised %s:%d)%s", c->kafka.host,
                  bk_kafka_port(kafka), c->kafka.node_id, c->kafka.advertised_host,
                  c->kafka.advertised_port ? c->kafka.advertised_port : bk_kafka_port(kafka),
                  broker.auth ? "; SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) required" : "");
    if (c->kafka.tls)
        bk_trace_info(
            "main", "Kafka TLS on %s:%d (advertised %s:%d; client certificates: %s)", c->kafka.host,
            bk_kafka_tls_port(kafka),
            c->kafka.tls_advertised_host ? c->kafka.tls_advertised_host : c->kafka.advertised_host,
            c->kafka.tls_advertised_port ? c->kafka.tls_advertised_port : bk_kafka_tls_port(kafka),
            c->tls.client_auth == BK_TLS_CLIENT_AUTH_REQUIRED   ? "required"
            : c->tls.client_auth == BK_TLS_CLIENT_AUTH_OPTIONAL ? "optional"
                                                                : "not asked for");
    return 0;
}

static int start(config_t *c)
{
    broker.loop = loop;
    broker.cfg = c->broker;
    broker.pids = &pids;
    int rc0 = start_auth(c);
    if (!rc0)
        rc0 = start_tls(c);
    if (rc0)
        return rc0;
    int rc = bk_log_open(loop, &c->log, &broker.log);
    if (rc)
        return fprintf(stderr, "brook: cannot open log in %s: %s\n", c->log.data_dir,
                       bk_strerror(rc)),
               rc;
    bk_log_set_commit_hook(broker.log, on_commit, &broker);
    if ((rc = bk_http_client_new(loop, &broker.client)))
        return fprintf(stderr, "brook: http client: %s\n", bk_strerror(rc)), rc;
    bk_http_client_set_tls(broker.client, tls_client);
    bk_http_identity_t id = {c->id_buf, current_epoch, &broker, observe, loop};
    bk_http_set_identity(&id);
    if ((rc = listen_first(c)))
        return rc;
    c->election.min_epoch = max_epoch_in_log(broker.log);
    rc = bk_election_start(loop, &c->election, on_election_change, &broker, &broker.election);
    if (rc)
        return fprintf(stderr, "brook: election: %s\n", bk_strerror(rc)), rc;
    repl_client = broker.client;
    if (c->broker_auth[0]) { /* a client of its own, so proxied writes never carry these */
        if ((rc = bk_http_client_new(loop, &repl_client)))
            return fprintf(stderr, "brook: http client: %s\n", bk_strerror(rc)), rc;
        bk_http_client_set_auth(repl_client, c->broker_auth);
        bk_http_client_set_tls(repl_client, tls_client);
        OPENSSL_cleanse(c->broker_auth, sizeof c->broker_auth);
    }
    rc = bk_replicator_new(loop, broker.log, broker.election, repl_client, &c->repl,
                           &broker.replicator);
    if (rc)
        return fprintf(stderr, "brook: replication: %s\n", bk_strerror(rc)), rc;
    bk_replicator_set_hw_hook(broker.replicator, on_visible, &broker);
    bk_replicator_set_delete_hook(broker.replicator, bk_broker_on_topic_deleted, &broker);
    if ((rc = bk_consumers_new(&broker, c->consumer_timeout_ms, c->offsets_retention_ms,
                               &broker.consumers)))
        return fprintf(stderr, "brook: consumer groups: %s\n", bk_strerror(rc)), rc;
    if ((rc = start_kafka(c)))
        return rc;
    int port = c->server.port >= 0 ? c->server.port : c->server.tls_port;
    bk_trace_info("main", "broker %s listening on %s:%d%s (advertised %s), data in %s, %s",
                  c->id_buf, c->server.host, port, c->server.port >= 0 ? "" : " (HTTPS only)",
                  c->url_buf, c->log.data_dir,
                  c->election.standalone ? "standalone" : "electing through Redis");
    return 0;
}

int main(int argc, char **argv)
{
    static config_t cfg;
    if (argc > 1 && strcmp(argv[1], "user") == 0)
        return bk_user_command(argc - 1, argv + 1);
    signal(SIGHUP, SIG_IGN); /* until on_hup takes over: a SIGHUP at start must not kill us */
    if (configure(&cfg, argc, argv))
        return 2;
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    tune_malloc();
    loop = uv_default_loop();
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_init(loop, &sig_hup);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_start(&sig_hup, on_hup, SIGHUP);
    if (start(&cfg)) {
        if (broker.server) /* bound before a later step failed: frees itself once closed */
            bk_server_stop(broker.server, NULL, NULL);
        if (kafka)
            bk_kafka_stop(kafka, NULL, NULL);
        uv_walk(loop, close_walk, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        return 1;
    }
    uv_run(loop, UV_RUN_DEFAULT);
    /* Stopped: the signal handles are closed, so a late SIGTERM would kill us mid-exit. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    bk_json_shutdown();
    bk_record_render_shutdown();
    bk_auth_free(broker.auth);
    bk_tls_ctx_free(tls_server);
    bk_tls_ctx_free(tls_client);
    bk_tls_ctx_free(tls_kafka);
    bk_consumers_free(broker.consumers);
    bk_metrics_free(&broker.metrics);
    bk_exchange_pool_drain();
    int rc = uv_loop_close(loop);
    if (rc)
        bk_trace_warn("main", "loop closed with handles open: %s", uv_strerror(rc));
    bk_trace_info("main", "stopped cleanly");
    return 0;
}
