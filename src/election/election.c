/* The election's I/O shell: owns the Redis client, one timer and the pure state machine
 * (lease.c), carries out the machine's decisions (which script to send, when to wake up) and
 * feeds it replies and fresh monotonic clock readings. Decisions live in lease.c, never here;
 * this file must never block, and never lets a leader act past its local deadline: can_ack
 * reads the clock itself instead of trusting the last timer. */
#include "brook/election.h"

#include "brook/common.h"
#include "election/isr_memory.h"
#include "election/lease.h"
#include "election/redis_client.h"
#include "election/scripts.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct bk_election {
    uv_loop_t *loop;
    int standalone;
    char *key_leader;  /* "<cluster>:leader" */
    char *key_epoch;   /* "<cluster>:epoch" */
    char *key_isr;     /* "<cluster>:isr" */
    char *key_brokers; /* "<cluster>:brokers": registrations (scripts.h) */
    int unclean;       /* acquire even when the ISR does not list us */
    uint32_t registration_ttl_ms;
    bk_isr_memory_t isr_memory;          /* the newest ISR and highest epoch we know of */
    char declined[16 + BK_LEASE_ID_MAX]; /* the refusal last explained (said once each) */
    int eligible;                        /* 0: never take the lease (bk_election_set_eligible) */
    uint32_t lease_ms;
    void (*on_change)(void *arg);
    void *arg;
    uv_timer_t timer;
    bk_redis_client_t *client;
    bk_scripts_t scripts;
    bk_lease_t lease;
    bk_lease_cmd_t sending; /* the machine's command in flight (at most one) */
    uint64_t sent_at;
    int redis_up;
    int pumping, pump_again;
    int stopping;
    bk_election_view_t view;      /* as last reported through on_change */
    int64_t isr_version;          /* the last ISR publication's number (PUBLISH_ISR's version) */
    bk_scripts_verdict_t verdict; /* scratch for a reply or a publication (large: off the stack) */
    char instance[17];            /* this process, in the leader key: ACQUIRE never retakes it */
    void (*done)(void *arg);
    void *done_arg;
};

void bk_election_config_defaults(bk_election_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->standalone = 0;
    cfg->redis_host = "localhost";
    cfg->redis_port = 6379;
    cfg->cluster = "brook";
    cfg->broker_id = NULL; /* start() uses "broker-<pid>" */
    cfg->advertised_url = "";
    cfg->lease_ms = 10000; /* the seed's LEASE_TIME_SECONDS=10 */
    cfg->renew_ms = 5000;  /* the seed's RENEW_INTERVAL_SECONDS=5 */
    cfg->margin_ms = 0;    /* 0: bk_lease_default_margin(lease_ms) */
    cfg->connect_timeout_ms = 1000;
    cfg->command_timeout_ms = 0;  /* 0: half the lease window (lease.h) */
    cfg->registration_ttl_ms = 0; /* 0: BK_ELECTION_REGISTRATION_TTL_MS */
}

static void compute_view(const bk_election_t *e, bk_election_view_t *v)
{
    memset(v, 0, sizeof *v);
    if (e->standalone) {
        v->role = BK_ROLE_STANDALONE;
        v->epoch = 1;
        memcpy(v->leader_id, e->lease.self_id, sizeof v->leader_id);
        memcpy(v->leader_url, e->lease.self_url, sizeof v->leader_url);
        return;
    }
    const bk_lease_t *l = &e->lease;
    v->role = l->role;
    if (l->leader.present) {
        v->epoch = l->leader.epoch;
        memcpy(v->leader_id, l->leader.id, sizeof v->leader_id);
        memcpy(v->leader_url, l->leader.url, sizeof v->leader_url);
    }
    v->redis_connected = e->redis_up;
}

static void trace_change(const bk_election_view_t *old, const bk_election_view_t *now)
{
    if (old->role == now->role && old->epoch == now->epoch &&
        strcmp(old->leader_id, now->leader_id) == 0)
        return;
    if (now->role == BK_ROLE_LEADER)
        bk_trace_info("election", "leader at epoch %" PRId64, now->epoch);
    else if (now->role == BK_ROLE_FOLLOWER)
        bk_trace_info("election", "following %s (%s) at epoch %" PRId64, now->leader_id,
                      now->leader_url, now->epoch);
    else if (old->role == BK_ROLE_LEADER)
        bk_trace_warn("election", "stepped down from epoch %" PRId64, old->epoch);
    else
        bk_trace_info("election", "no leader known");
}

/* Tells the owner if the view changed. The owner may call stop() or refresh() from on_change. */
static void notify(bk_election_t *e)
{
    bk_election_view_t v;
    compute_view(e, &v);
    if (v.role == e->view.role && v.epoch == e->view.epoch &&
        v.redis_connected == e->view.redis_connected &&
        strcmp(v.leader_id, e->view.leader_id) == 0 &&
        strcmp(v.leader_url, e->view.leader_url) == 0)
        return;
    trace_change(&e->view, &v);
    e->view = v;
    if (e->on_change != NULL)
        e->on_change(e->arg);
}

static void pump(bk_election_t *e);

static void on_timer(uv_timer_t *t)
{
    pump(t->data);
}

static void arm_timer(bk_election_t *e, uint64_t wake_at, uint64_t now)
{
    int rc;
    if (wake_at == BK_LEASE_NEVER)
        rc = uv_timer_stop(&e->timer);
    else
        rc = uv_timer_start(&e->timer, on_timer, wake_at > now ? wake_at - now : 0, 0);
    if (rc != 0)
        bk_trace_error("election", "timer: %s", uv_strerror(rc));
}

static void after_command(void *arg, int status, const redisReply *r);

/* ARGV[7..] of READ, ACQUIRE and RENEW: what this broker remembers (scripts.h, RTAIL). */
static int registration_tail(const bk_election_t *e, char (*num)[24], const char **out)
{
    const bk_isr_memory_t *m = &e->isr_memory;
    int64_t seen = m->seen_epoch > bk_lease_seen_epoch(&e->lease) ? m->seen_epoch
                                                                  : bk_lease_seen_epoch(&e->lease);
    snprintf(num[0], sizeof num[0], "%" PRIu32, e->registration_ttl_ms);
    snprintf(num[1], sizeof num[1], "%" PRId64, seen);
    snprintf(num[2], sizeof num[2], "%" PRId64, m->isr.present ? m->isr.epoch : -1);
    snprintf(num[3], sizeof num[3], "%" PRId64, m->isr.version);
    int n = 0;
    out[n++] = num[0];
    out[n++] = num[1];
    out[n++] = m->lost ? "1" : "0";
    out[n++] = num[2];
    out[n++] = num[3];
    out[n++] = m->isr.leader;
    for (int i = 0; m->isr.present && i < m->isr.count; i++)
        out[n++] = m->isr.ids[i];
    return n;
}

static int send_command(bk_election_t *e, bk_lease_cmd_t cmd, uint64_t now)
{
    char lease[16], epoch[24], num[4][24];
    const bk_lease_t *l = &e->lease;
    snprintf(lease, sizeof lease, "%" PRIu32, e->lease_ms);
    snprintf(epoch, sizeof epoch, "%" PRId64, l->leader.epoch);
    const char *strs[4 + 6 + 6 + BK_ELECTION_ISR_MAX];
    int nk = 4, n = 0;
    strs[n++] = e->key_leader;
    if (cmd == BK_LEASE_CMD_RENEW) {
        nk = 2;
    } else {
        strs[n++] = e->key_epoch;
        strs[n++] = e->key_isr;
    }
    strs[n++] = e->key_brokers;
    strs[n++] = l->self_id;
    strs[n++] = cmd == BK_LEASE_CMD_RENEW ? epoch : l->self_url;
    strs[n++] = lease;
    strs[n++] = e->unclean ? "1" : "0";
    strs[n++] = e->eligible ? "1" : "0";
    strs[n++] = e->instance;
    n += registration_tail(e, num, strs + n);
    bk_script_t id = cmd == BK_LEASE_CMD_ACQUIRE ? BK_SCRIPT_ACQUIRE
                     : cmd == BK_LEASE_CMD_RENEW ? BK_SCRIPT_RENEW
                     : cmd == BK_LEASE_CMD_READ  ? BK_SCRIPT_READ
                                                 : BK_SCRIPT_COUNT;
    if (id == BK_SCRIPT_COUNT)
        return BK_EINVAL;
    int rc = bk_scripts_call(&e->scripts, e->client, id, nk, n - nk, strs, after_command, e);
    if (rc == 0) {
        e->sending = cmd;
        e->sent_at = now;
    }
    return rc;
}

/* Runs the machine until it has nothing to send now, arms the timer for its next wake-up and
 * reports a changed view. Re-entrant calls (from on_change) are folded into the running one. */
static void pump(bk_election_t *e)
{
    if (e->pumping) {
        e->pump_again = 1;
        return;
    }
    e->pumping = 1;
    while (!e->stopping) {
        uint64_t now = bk_now_ms(), wake_at;
        bk_lease_tick(&e->lease, now);
        bk_lease_cmd_t cmd = bk_lease_next(&e->lease, now, &wake_at);
        if (cmd != BK_LEASE_CMD_NONE) {
            if (send_command(e, cmd, now) != 0)
                bk_lease_failed(&e->lease, now, cmd);
            continue;
        }
        arm_timer(e, wake_at, now);
        e->pump_again = 0;
        notify(e);
        if (!e->pump_again)
            break;
    }
    e->pumping = 0;
}

static void explain(const bk_election_t *e, const char *reason, const char *who)
{
    if (strcmp(reason, "ineligible") == 0)
        bk_trace_warn("election", "not taking the vacant lease: another broker uses this "
                                  "broker's id (see replication)");
    else if (strcmp(reason, "not-listed") == 0)
        bk_trace_warn("election",
                      "not taking the vacant lease: the ISR in Redis does not list this broker "
                      "(it lags; published by %s); a broker in the ISR must lead, or one started "
                      "with --unclean-leader-election",
                      who[0] ? who : "?");
    else if (strcmp(reason, "lost") == 0)
        bk_trace_warn("election",
                      "not taking the vacant lease: Redis holds no ISR and this broker's memory "
                      "of one (%s) is lost; a broker that remembers must lead, or one started "
                      "with --unclean-leader-election (README, Leadership)",
                      e->isr_memory.path ? e->isr_memory.path : "memory");
    else if (strcmp(reason, "left-out") == 0)
        bk_trace_warn("election",
                      "not taking the vacant lease: Redis holds no ISR and %s remembers a newer "
                      "one that leaves this broker out (it lags); a broker in that ISR must lead",
                      who);
    else if (strcmp(reason, "waiting") == 0)
        bk_trace_warn("election",
                      "not taking the vacant lease yet: Redis holds no ISR (it lost its data) and "
                      "broker %s, in the newest ISR known, has not registered what it remembers; "
                      "waiting for it (if it never returns: README, Leadership)",
                      who);
    else
        bk_trace_warn("election", "not taking the vacant lease: %s %s", reason, who);
}

/* A vacant lease we may not take leaves the cluster without a leader until the broker we need
 * comes back: say why, once per reason, for whoever wonders why nobody leads. */
static void say_why_declined(bk_election_t *e, const bk_scripts_verdict_t *v)
{
    char key[sizeof e->declined];
    snprintf(key, sizeof key, "%s %s", v->reason, v->detail);
    if (v->reason[0] == '\0' || strcmp(key, e->declined) == 0) {
        if (v->reason[0] == '\0')
            e->declined[0] = '\0';
        return;
    }
    memcpy(e->declined, key, sizeof key);
    explain(e, v->reason, v->detail);
}

/* Folds what a reply showed into the remembered ISR and epoch (persisted on change). A won
 * term is recorded before it is acted on: its epoch, and the ISR it started with. */
static void remember(bk_election_t *e, const bk_scripts_verdict_t *v, const bk_lease_holder_t *h,
                     int64_t counter)
{
    int64_t epoch = counter > h->epoch ? counter : h->epoch;
    (void)bk_isr_memory_note(&e->isr_memory, &v->isr, epoch); /* failures are traced */
}

static void apply_reply(bk_election_t *e, uint64_t now, const redisReply *r)
{
    bk_lease_holder_t holder;
    bk_scripts_verdict_t *v = &e->verdict;
    int64_t counter;
    int flag, rc = BK_EREDIS;
    switch (e->sending) {
    case BK_LEASE_CMD_ACQUIRE:
        rc = bk_scripts_parse_holder(r, &flag, &holder, &counter, v);
        if (rc == 0) {
            remember(e, v, &holder, counter);
            say_why_declined(e, v);
            bk_lease_acquired(&e->lease, now, e->sent_at, flag, &holder, counter);
        }
        break;
    case BK_LEASE_CMD_RENEW:
        rc = bk_scripts_parse_flag(r, &flag);
        if (rc == 0)
            bk_lease_renewed(&e->lease, now, e->sent_at, flag);
        break;
    case BK_LEASE_CMD_READ:
        rc = bk_scripts_parse_holder(r, &flag, &holder, &counter, v);
        if (rc == 0) {
            remember(e, v, &holder, counter);
            bk_lease_read(&e->lease, now, &holder, counter);
        }
        break;
    default:
        break;
    }
    if (rc != 0) {
        bk_trace_warn("election", "unexpected reply from Redis: %s",
                      r->type == REDIS_REPLY_ERROR ? r->str : "malformed");
        bk_lease_failed(&e->lease, now, e->sending);
    }
}

static void after_command(void *arg, int status, const redisReply *r)
{
    bk_election_t *e = arg;
    if (e->stopping)
        return;
    uint64_t now = bk_now_ms();
    if (status != 0) {
        bk_trace_debug("election", "command failed: %s", bk_strerror(status));
        bk_lease_failed(&e->lease, now, e->sending);
    } else {
        apply_reply(e, now, r);
    }
    pump(e);
}

static void on_redis_state(void *arg, bk_redis_state_t state)
{
    bk_election_t *e = arg;
    if (e->stopping)
        return;
    e->redis_up = state == BK_REDIS_CONNECTED;
    bk_lease_redis(&e->lease, bk_now_ms(), e->redis_up);
    pump(e);
}

static char *join_key(const char *cluster, const char *suffix)
{
    size_t n = strlen(cluster) + strlen(suffix) + 2;
    char *k = malloc(n);
    if (k != NULL)
        snprintf(k, n, "%s:%s", cluster, suffix);
    return k;
}

static void free_election(bk_election_t *e)
{
    free(e->key_leader);
    free(e->key_epoch);
    free(e->key_isr);
    free(e->key_brokers);
    bk_isr_memory_free(&e->isr_memory);
    free(e);
}

static void on_start_failed_closed(uv_handle_t *h)
{
    free_election(h->data);
}

/* 64 random bits as hex: tells this process's leader key from one an earlier process left
 * under the same id (uv_random, or the clock and pid when it has no entropy to give). */
static void pick_instance(char *out, size_t cap)
{
    uint64_t r = 0;
    if (uv_random(NULL, NULL, &r, sizeof r, 0, NULL) != 0 || r == 0)
        r = uv_hrtime() ^ ((uint64_t)getpid() << 32);
    snprintf(out, cap, "%016" PRIx64, r);
}

static int validate(const bk_election_config_t *cfg, const char *id, const char *url)
{
    if (strlen(id) == 0 || strlen(id) >= BK_LEASE_ID_MAX || strlen(url) >= BK_LEASE_URL_MAX)
        return BK_EINVAL;
    if (cfg->standalone)
        return 0;
    if (cfg->lease_ms == 0 || cfg->redis_port <= 0 || cfg->redis_port > 65535)
        return BK_EINVAL;
    return 0;
}

static int start_redis(bk_election_t *e, const bk_election_config_t *cfg)
{
    const char *cluster = cfg->cluster && cfg->cluster[0] ? cfg->cluster : "brook";
    e->key_leader = join_key(cluster, "leader");
    e->key_epoch = join_key(cluster, "epoch");
    e->key_isr = join_key(cluster, "isr");
    e->key_brokers = join_key(cluster, "brokers");
    if (e->key_leader == NULL || e->key_epoch == NULL || e->key_isr == NULL ||
        e->key_brokers == NULL)
        return UV_ENOMEM;
    /* A reply later than half the window cannot keep a renew loop ahead of the deadline
     * (two such round trips exceed it): the link counts as failed and is dropped, and the
     * lease machine sends only READs until a reply comes back in time (lease.h). */
    uint32_t half_window = e->lease.window_ms / 2 ? e->lease.window_ms / 2 : 1;
    bk_redis_config_t rc = {
        .host = cfg->redis_host ? cfg->redis_host : "localhost",
        .port = cfg->redis_port,
        .connect_timeout_ms = cfg->connect_timeout_ms,
        .command_timeout_ms = cfg->command_timeout_ms ? cfg->command_timeout_ms : half_window,
        .backoff_min_ms = 100,
        .backoff_max_ms = 2000,
    };
    return bk_redis_client_start(e->loop, &rc, on_redis_state, e, &e->client);
}

int bk_election_start(uv_loop_t *loop, const bk_election_config_t *cfg,
                      void (*on_change)(void *arg), void *arg, bk_election_t **out)
{
    char fallback_id[32];
    const char *id = cfg->broker_id;
    const char *url = cfg->advertised_url ? cfg->advertised_url : "";
    if (id == NULL || id[0] == '\0') {
        snprintf(fallback_id, sizeof fallback_id, "broker-%ld", (long)getpid());
        id = fallback_id;
    }
    int rc = validate(cfg, id, url);
    if (rc != 0)
        return rc;
    bk_election_t *e = calloc(1, sizeof *e);
    if (e == NULL)
        return UV_ENOMEM;
    e->loop = loop;
    e->standalone = cfg->standalone;
    e->lease_ms = cfg->lease_ms;
    e->unclean = cfg->unclean;
    e->registration_ttl_ms =
        cfg->registration_ttl_ms ? cfg->registration_ttl_ms : BK_ELECTION_REGISTRATION_TTL_MS;
    e->eligible = 1;
    if (bk_isr_memory_open(&e->isr_memory, cfg->standalone ? NULL : cfg->state_path, id,
                           cfg->min_epoch) != 0) {
        free(e);
        return UV_ENOMEM;
    }
    e->on_change = on_change;
    e->arg = arg;
    bk_scripts_init(&e->scripts);
    bk_lease_config_t lc = {cfg->lease_ms, cfg->renew_ms, cfg->margin_ms};
    bk_lease_init(&e->lease, &lc, id, url);
    pick_instance(e->instance, sizeof e->instance);
    if (e->isr_memory.seen_epoch > e->lease.max_seen_epoch) /* >= cfg->min_epoch */
        e->lease.max_seen_epoch = e->isr_memory.seen_epoch; /* new terms stay above them */
    rc = uv_timer_init(loop, &e->timer);
    if (rc != 0) {
        bk_isr_memory_free(&e->isr_memory);
        free(e);
        return rc;
    }
    e->timer.data = e;
    if (!e->standalone) {
        rc = start_redis(e, cfg);
        if (rc != 0) {
            uv_close((uv_handle_t *)&e->timer, on_start_failed_closed);
            return rc;
        }
    }
    compute_view(e, &e->view);
    *out = e;
    return 0;
}

void bk_election_view(const bk_election_t *e, bk_election_view_t *out)
{
    compute_view(e, out);
}

int bk_election_can_ack_at(const bk_election_t *e, uint64_t now_ms, int64_t *epoch)
{
    if (e->standalone) {
        if (epoch != NULL)
            *epoch = 1;
        return !e->stopping;
    }
    int ok = bk_lease_can_ack(&e->lease, now_ms, epoch);
    return ok && !e->stopping;
}

int bk_election_can_ack(const bk_election_t *e, int64_t *epoch)
{
    return bk_election_can_ack_at(e, bk_now_ms(), epoch);
}

void bk_election_set_eligible(bk_election_t *e, int eligible)
{
    e->eligible = eligible != 0;
    e->declined[0] = '\0'; /* a new reason to say */
}

void bk_election_refresh(bk_election_t *e)
{
    if (e->standalone || e->stopping)
        return;
    bk_lease_refresh(&e->lease);
    pump(e);
}

/* ---- ISR publication and read ---------------------------------------------------------- */

typedef struct {
    void (*done)(void *arg, int status);
    void (*read)(void *arg, int status, const bk_election_isr_t *isr);
    void *arg;
} isr_call_t;

static int usable(const bk_election_t *e)
{
    if (e->standalone)
        return BK_EINVAL;
    if (e->stopping)
        return BK_ECLOSED;
    if (e->client == NULL || bk_redis_client_state(e->client) != BK_REDIS_CONNECTED)
        return BK_EREDIS;
    return 0;
}

static void after_publish_isr(void *arg, int status, const redisReply *r)
{
    isr_call_t *k = arg;
    int written = 0;
    if (status == 0 && bk_scripts_parse_flag(r, &written) != 0) {
        bk_trace_warn("election", "unexpected reply to the ISR publication: %s",
                      r->type == REDIS_REPLY_ERROR ? r->str : "malformed");
        status = BK_EREDIS; /* an error reply: the script did not write */
    } else if (status == 0 && written == 2) {
        bk_trace_warn("election", "ISR publication not written: a newer one is in Redis");
        status = BK_EFENCED;
    } else if (status == 0 && !written) {
        status = BK_EFENCED;
    }
    k->done(k->arg, status);
    free(k);
}

static int valid_ids(const char *const *ids, int n)
{
    if (n < 1 || n > BK_ELECTION_ISR_MAX)
        return 0;
    for (int i = 0; i < n; i++) {
        size_t len = ids[i] ? strlen(ids[i]) : 0;
        if (len == 0 || len >= BK_LEASE_ID_MAX)
            return 0;
    }
    return 1;
}

int bk_election_publish_isr(bk_election_t *e, const char *const *ids, int n,
                            void (*cb)(void *arg, int status), void *arg)
{
    int rc = usable(e);
    if (rc != 0)
        return rc;
    if (!valid_ids(ids, n) || cb == NULL)
        return BK_EINVAL;
    int64_t epoch;
    if (!bk_lease_can_ack(&e->lease, bk_now_ms(), &epoch))
        return BK_ENOTLEADER;
    char epoch_s[24], version_s[24], ttl_s[16];
    snprintf(epoch_s, sizeof epoch_s, "%" PRId64, epoch);
    snprintf(version_s, sizeof version_s, "%" PRId64, ++e->isr_version);
    snprintf(ttl_s, sizeof ttl_s, "%" PRIu32, e->registration_ttl_ms);
    const char *strs[7 + BK_ELECTION_ISR_MAX] = {
        e->key_leader, e->key_isr, e->key_brokers, e->lease.self_id, epoch_s, version_s, ttl_s};
    /* Remembered before it is sent: once sent it may land (even late) and be relied on, and
     * after a Redis data loss only our memory can say it existed (scripts.h). A failed write
     * is traced and leaves a memory that reads back as lost. */
    bk_election_isr_t *mine = &e->verdict.isr;
    memset(mine, 0, sizeof *mine);
    mine->present = 1;
    mine->epoch = epoch;
    mine->version = e->isr_version;
    snprintf(mine->leader, sizeof mine->leader, "%s", e->lease.self_id);
    for (int i = 0; i < n; i++) {
        strs[7 + i] = ids[i];
        snprintf(mine->ids[i], sizeof mine->ids[i], "%s", ids[i]);
    }
    mine->count = n;
    (void)bk_isr_memory_note(&e->isr_memory, mine, epoch);
    isr_call_t *k = calloc(1, sizeof *k);
    if (k == NULL)
        return UV_ENOMEM;
    k->done = cb;
    k->arg = arg;
    rc = bk_scripts_call(&e->scripts, e->client, BK_SCRIPT_PUBLISH_ISR, 3, 4 + n, strs,
                         after_publish_isr, k);
    if (rc != 0)
        free(k);
    return rc;
}

static void after_read_isr(void *arg, int status, const redisReply *r)
{
    isr_call_t *k = arg;
    bk_election_isr_t *isr = NULL;
    if (status == 0) {
        isr = malloc(sizeof *isr);
        if (isr == NULL)
            status = UV_ENOMEM;
        else if ((status = bk_scripts_parse_isr(r, isr)) != 0)
            bk_trace_warn("election", "unexpected reply reading the ISR: %s",
                          r->type == REDIS_REPLY_ERROR ? r->str : "malformed");
    }
    k->read(k->arg, status, status == 0 ? isr : NULL);
    free(isr);
    free(k);
}

int bk_election_read_isr(bk_election_t *e,
                         void (*cb)(void *arg, int status, const bk_election_isr_t *isr), void *arg)
{
    int rc = usable(e);
    if (rc != 0)
        return rc;
    if (cb == NULL)
        return BK_EINVAL;
    isr_call_t *k = calloc(1, sizeof *k);
    if (k == NULL)
        return UV_ENOMEM;
    k->read = cb;
    k->arg = arg;
    const char *strs[] = {e->key_isr};
    rc = bk_scripts_call(&e->scripts, e->client, BK_SCRIPT_READ_ISR, 1, 0, strs, after_read_isr, k);
    if (rc != 0)
        free(k);
    return rc;
}

static void on_timer_closed(uv_handle_t *h)
{
    bk_election_t *e = h->data;
    void (*done)(void *) = e->done;
    void *done_arg = e->done_arg;
    free_election(e);
    if (done != NULL)
        done(done_arg);
}

static void after_client_closed(void *arg)
{
    bk_election_t *e = arg;
    uv_close((uv_handle_t *)&e->timer, on_timer_closed);
}

static void finish(bk_election_t *e)
{
    bk_redis_client_t *c = e->client;
    e->client = NULL;
    if (c != NULL)
        bk_redis_client_close(c, after_client_closed, e);
    else
        after_client_closed(e);
}

static void after_release(void *arg, int status, const redisReply *r)
{
    bk_election_t *e = arg;
    int released = 0;
    if (status == 0 && bk_scripts_parse_flag(r, &released) == 0 && released)
        bk_trace_info("election", "released the lease");
    else
        bk_trace_warn("election", "lease not released (%s); it expires by itself",
                      status ? bk_strerror(status) : "not ours any more");
    finish(e);
}

static int send_release(bk_election_t *e)
{
    char epoch[24];
    snprintf(epoch, sizeof epoch, "%" PRId64, e->lease.leader.epoch);
    const char *strs[] = {e->key_leader, e->lease.self_id, epoch};
    return bk_scripts_call(&e->scripts, e->client, BK_SCRIPT_RELEASE, 1, 2, strs, after_release, e);
}

void bk_election_stop(bk_election_t *e, void (*done)(void *arg), void *arg)
{
    if (e->stopping)
        return;
    e->stopping = 1;
    e->done = done;
    e->done_arg = arg;
    int rc = uv_timer_stop(&e->timer);
    if (rc != 0)
        bk_trace_error("election", "timer: %s", uv_strerror(rc));
    int leader = !e->standalone && e->lease.role == BK_ROLE_LEADER && e->client != NULL &&
                 bk_redis_client_state(e->client) == BK_REDIS_CONNECTED;
    int release_sent = leader && send_release(e) == 0;
    bk_lease_stop(&e->lease);
    if (!release_sent)
        finish(e);
}

/* One command for another module's key on the election's connection (the Kafka listener's
 * address registration), so the broker keeps one Redis connection. */
int bk_election_command(bk_election_t *e, int argc, const char **argv, const size_t *lens,
                        void (*cb)(void *arg, int status, const struct redisReply *reply),
                        void *arg)
{
    if (e->standalone)
        return BK_EINVAL;
    if (e->stopping || !e->client)
        return BK_ECLOSED;
    return bk_redis_client_command(e->client, argc, argv, lens, cb, arg);
}
