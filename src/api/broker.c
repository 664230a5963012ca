/* Lookups shared by handlers: topics (with implicit creation) and partitions, each answering
 * the REST Proxy's error codes itself so handlers stay linear. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/broker.h"
#include "api/consumers.h"
#include "brook/common.h"
#include "http/response.h"

/* A request waiting for a topic being created (by it, the creator, or by an earlier request)
 * or grown. */
typedef struct {
    bk_broker_t *b;
    bk_exchange_t *ex;
    int creator;
    size_t len;
    char name[];
} parked_t;

int bk_broker_fd_refusal(bk_exchange_t *ex, int status, const char *what)
{
    if (status != UV_EMFILE && status != UV_ENFILE)
        return 0;
    uint64_t open_now = 0, limit = 0;
    (void)bk_log_fd_budget(&open_now, &limit);
    if (status == UV_ENFILE)
        bk_exchange_errorf(ex, 507,
                           "%s: the system-wide limit on open files was reached (ENFILE): raise "
                           "fs.file-max, or close files elsewhere, and retry",
                           what);
    else
        bk_exchange_errorf(ex, 507,
                           "%s: not enough file descriptors: each partition keeps %u open and "
                           "this broker has %llu of its RLIMIT_NOFILE limit of %llu in use (%u "
                           "kept free for connections); raise the limit (ulimit -n, or "
                           "LimitNOFILE= under systemd) and restart the broker, or use fewer "
                           "partitions",
                           what, BK_LOG_FDS_PER_PARTITION, (unsigned long long)open_now,
                           (unsigned long long)limit, BK_LOG_FD_HEADROOM);
    return 1;
}

void bk_broker_creation_failed(bk_exchange_t *ex, const char *name, size_t len, int status)
{
    int shown = (int)(len > 255 ? 255 : len);
    char what[300];
    snprintf(what, sizeof what, "could not create topic %.*s", shown, name);
    if (status == UV_EEXIST)
        bk_exchange_errorf(ex, 40902, "topic %.*s already exists", shown, name);
    else if (!bk_broker_fd_refusal(ex, status, what))
        bk_exchange_errorf(ex, status == BK_ECLOSED ? 503 : 500, "%s: %s", what,
                           bk_strerror(status));
}

int bk_broker_gone(bk_broker_t *b, bk_exchange_t *ex)
{
    if (b->election != NULL)
        return 0;
    bk_exchange_error(ex, 503, "the broker is shutting down");
    return 1;
}

static void on_topic_created(void *arg, int status, bk_topic_t *t)
{
    (void)t;
    parked_t *pk = arg;
    if (bk_broker_gone(pk->b, pk->ex)) {
        free(pk);
        return;
    }
    if (status == 0 || status == UV_EEXIST || !pk->creator)
        bk_broker_on_request(pk->b, pk->ex); /* from the start: the topic exists now (or not) */
    else
        bk_broker_creation_failed(pk->ex, pk->name, pk->len, status);
    free(pk);
}

/* Parks ex until a creation of name ends (creator: starts it with parts partitions). Returns
 * 0 when parked, else the error (ex untouched). */
static int park(bk_broker_t *b, bk_exchange_t *ex, const char *name, size_t len, int creator,
                uint32_t parts)
{
    parked_t *pk = malloc(sizeof *pk + len);
    if (!pk)
        return UV_ENOMEM;
    *pk = (parked_t){b, ex, creator, len};
    memcpy(pk->name, name, len);
    int rc = creator
                 ? bk_log_topic_create_async(b->log, name, len, parts, NULL, on_topic_created, pk)
                 : bk_log_topic_await_creation(b->log, name, len, on_topic_created, pk);
    if (rc)
        free(pk);
    return rc;
}

int bk_broker_await_growth(bk_broker_t *b, bk_exchange_t *ex, bk_topic_t *t)
{
    parked_t *pk = malloc(sizeof *pk);
    if (!pk)
        return UV_ENOMEM;
    *pk = (parked_t){b, ex, 0, 0};
    int rc = bk_log_topic_await_growth(b->log, t, on_topic_created, pk);
    if (rc)
        free(pk);
    return rc;
}

bk_topic_t *bk_broker_topic(bk_broker_t *b, bk_exchange_t *ex, const char *name, size_t len,
                            int create, int64_t max_partition)
{
    int shown = (int)(len > 255 ? 255 : len);
    if (!bk_broker_authz_topic(b, ex, name, len)) /* a check waiting for this name (authz.c) */
        return NULL;
    if (ex->route == BK_ROUTE_PRODUCE && bk_gstore_is_internal(name, len)) {
        bk_exchange_errorf(ex, 40301,
                           "topic %s is internal: only the group coordinator writes "
                           "it (commit offsets through /consumers)",
                           BK_GRP_OFFSETS_TOPIC);
        return NULL;
    }
    if (!bk_log_topic_name_valid(name, len)) {
        bk_exchange_errorf(ex, 42208,
                           "invalid topic name \"%.*s\": use 1-249 characters of [a-zA-Z0-9._-]",
                           shown, name);
        return NULL;
    }
    bk_topic_t *t = bk_log_topic_find(b->log, name, len);
    /* Being created (maybe by a request pipelined before this one): wait for it, whatever
     * this request may create, so requests see each other's effects in order. */
    if (!t && park(b, ex, name, len, 0, 0) == 0)
        return NULL;
    /* Likewise a growth under way may add the partition it names. */
    if (t && max_partition >= (int64_t)bk_topic_partition_count(t) &&
        bk_broker_await_growth(b, ex, t) == 0)
        return NULL;
    if (t || !create) {
        if (!t)
            bk_exchange_errorf(ex, 40401, "topic %.*s not found", shown, name);
        return t;
    }
    uint32_t parts = bk_log_config(b->log)->default_partitions;
    if (max_partition >= (int64_t)parts) { /* refuse before anything touches the disk */
        bk_exchange_errorf(ex, 40402,
                           "partition %lld not found: topic %.*s does not exist and would be "
                           "created with %u partition(s)",
                           (long long)max_partition, shown, name, parts);
        return NULL;
    }
    int rc = park(b, ex, name, len, 1, parts);
    if (rc != 0) /* else parked: dispatched again once the topic exists */
        bk_broker_creation_failed(ex, name, len, rc);
    return NULL;
}

bk_partition_t *bk_broker_partition(bk_exchange_t *ex, bk_topic_t *t, int64_t partition)
{
    uint32_t n = bk_topic_partition_count(t);
    if (partition == -2) {
        bk_exchange_error(ex, 40402, "partition must be a non-negative integer");
        return NULL;
    }
    if (partition < 0 || partition >= n) {
        bk_exchange_errorf(ex, 40402, "partition %lld not found in topic %s (it has %u)",
                           (long long)partition, bk_topic_name(t), n);
        return NULL;
    }
    return bk_topic_partition(t, (uint32_t)partition);
}
