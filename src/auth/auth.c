/* The broker's authenticator: the loaded users and ACLs (replaced together on reload, or not at
 * all), the caches of recent password checks, and the two threads that run the checks. A
 * password check costs thousands of HMACs (~1 ms of CPU), so it never runs on the loop, nor on
 * the libuv thread pool (disk flushes and compression there never wait behind a flood).
 *
 * Two verifier threads of our own take checks from one waiting room (authq.c: at most 64
 * waiting, 8 per client address, round-robin over addresses): one at normal priority for
 * clients in good standing, one at SCHED_IDLE for suspects, i.e. addresses whose check failed
 * within the last 30 s, which rests after each check so suspects get at most a quarter of a
 * core. A flood of wrong passwords therefore runs slowly, on CPU nobody else wants: the loop
 * thread preempts it the moment it has work, and a user logging in from elsewhere never
 * waits behind it. Identical checks in flight share one run.
 *
 * Two caches map HMAC-SHA-256(process key, user ":" password) to an expiry: successes (with
 * the user) and failures, in separate tables so a flood of failures never evicts a success.
 * They hold no password and nothing that can be checked offline without the key, which lives
 * only in this process's memory. A repeated wrong password is answered from the failure cache
 * without a check; nobody is ever locked out (a right password is checked like any other).
 * A lookup is two SHA-256 runs over state prepared at start and a probe of a fixed table: no
 * allocation. Reload forgets every entry (generation counter). */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_*: a stack-only HMAC for the allocation-free cache   \
                                     */
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <sched.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "auth/authq.h"
#include "brook/auth.h"
#include "brook/common.h"

#define CACHE_SLOTS 1024 /* power of two */
#define CACHE_WAYS 4
#define MAX_SUPERS 64
#define SUSPECT_MS 30000 /* a failed check makes its client address a suspect this long */
#define SUSPECT_REST 3   /* the idle worker rests 3x a check's CPU time: <= 1/4 of a core */

typedef struct {
    uint8_t key[32];
    uint64_t expires; /* loop ms; 0 = empty */
    uint32_t gen;
    char user[BK_AUTH_NAME_MAX + 1]; /* "" in the failure cache */
} cache_entry_t;

typedef struct waiter {
    struct waiter *next;
    bk_auth_verify_cb cb;
    void *ctx, *arg;
} waiter_t;

/* One check, shared by every request that asked it while it was in flight. Created and freed
 * on the loop; between push and the done list only its thread touches it. */
typedef struct job {
    struct job *next;  /* the done list (under mu) */
    struct job *inext; /* a->inflight (loop only) */
    bk_auth_t *a;
    bk_scram_mech_t mech;
    bk_scram_cred_t cred;
    int known;
    int answered; /* from the failure cache: no check runs */
    char user[BK_AUTH_NAME_MAX + 1];
    char pass[BK_AUTH_PASSWORD_MAX + 1];
    size_t plen;
    uint8_t key[32];
    uint32_t gen;
    uint64_t client;
    int ok;
    waiter_t *waiters;
} job_t;

typedef struct {
    bk_auth_t *a;
    int idle; /* 1: runs suspects' checks at SCHED_IDLE */
    uv_thread_t tid;
    int started;
} worker_t;

struct bk_auth {
    uv_loop_t *loop;
    char *users_path, *acl_path;
    uint32_t ttl_ms, max_pending, max_per_client;
    bk_users_t users;
    bk_acl_t acl;
    char supers[MAX_SUPERS][BK_AUTH_NAME_MAX + 1];
    int nsupers;
    uint32_t gen;
    SHA256_CTX inner, outer; /* HMAC state after the key block */
    bk_scram_cred_t dummy;   /* checked for unknown users, so they cost what known ones do */
    job_t *inflight;         /* every job not yet answered (loop only) */
    uint32_t pending;        /* their number */
    uv_async_t done_async;   /* referenced only while pending > 0 */
    int async_ready, sync_ready, stopping;
    uv_mutex_t mu; /* guards q, done, stopping */
    uv_cond_t cv;
    bk_authq_t q;
    job_t *done_head, *done_tail;
    worker_t workers[2];
    cache_entry_t cache[CACHE_SLOTS];
    cache_entry_t fails[CACHE_SLOTS];
};

static int parse_supers(bk_auth_t *a, const char *s, char *err, size_t cap)
{
    a->nsupers = 0;
    const char *p = s ? s : "";
    while (*p) {
        size_t n = strcspn(p, ";,");
        while (n > 0 && p[0] == ' ')
            p++, n--;
        if (n > 0) {
            if (n < 6 || memcmp(p, "User:", 5) != 0 || !bk_user_name_valid(p + 5, n - 5) ||
                a->nsupers == MAX_SUPERS)
                return snprintf(err, cap, "--super-users: \"%.*s\" is not User:NAME (at most %d)",
                                (int)(n > 140 ? 140 : n), p, MAX_SUPERS),
                       BK_EINVAL;
            memcpy(a->supers[a->nsupers], p + 5, n - 5);
            a->supers[a->nsupers++][n - 5] = 0;
        }
        p += n;
        if (*p)
            p++;
    }
    return 0;
}

static int init_key(bk_auth_t *a)
{
    uint8_t key[64], pad[64];
    if (RAND_bytes(key, sizeof key) != 1)
        return UV_EIO;
    for (int i = 0; i < 64; i++)
        pad[i] = key[i] ^ 0x36;
    SHA256_Init(&a->inner);
    SHA256_Update(&a->inner, pad, 64);
    for (int i = 0; i < 64; i++)
        pad[i] = key[i] ^ 0x5c;
    SHA256_Init(&a->outer);
    SHA256_Update(&a->outer, pad, 64);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(pad, sizeof pad);
    return 0;
}

/* HMAC-SHA-256(process key, user ":" pass) from the prepared states. */
static void cache_key(const bk_auth_t *a, const char *user, size_t ulen, const char *pass,
                      size_t plen, uint8_t out[32])
{
    SHA256_CTX c = a->inner;
    uint8_t ih[32];
    SHA256_Update(&c, user, ulen);
    SHA256_Update(&c, ":", 1);
    SHA256_Update(&c, pass, plen);
    SHA256_Final(ih, &c);
    c = a->outer; /* overwrites the inner state; SHA256_Final wiped its last block */
    SHA256_Update(&c, ih, 32);
    SHA256_Final(out, &c); /* c now holds the key itself: nothing to wipe (every request) */
}

static size_t slot_of(const uint8_t key[32])
{
    uint32_t v;
    memcpy(&v, key, sizeof v);
    return v & (CACHE_SLOTS - 1) & ~(size_t)(CACHE_WAYS - 1);
}

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000 + 1; /* never 0: 0 means "never" in authq */
}

static int load(const bk_auth_t *a, bk_users_t *users, bk_acl_t *acl, char *err, size_t cap)
{
    int rc = bk_users_load(a->users_path, users, err, cap);
    if (rc)
        return rc;
    memset(acl, 0, sizeof *acl);
    if (a->acl_path && (rc = bk_acl_load(a->acl_path, acl, err, cap)) != 0) {
        bk_users_free(users);
        return rc;
    }
    return 0;
}

static void on_done(uv_async_t *h);
static void worker_main(void *arg);

/* The completion handle, the lock and the two verifier threads. */
static int start_workers(bk_auth_t *a, char *err, size_t cap)
{
    if (uv_mutex_init(&a->mu) || uv_cond_init(&a->cv)) /* a failed cond leaks a mutex: fatal */
        return snprintf(err, cap, "cannot create a lock"), UV_ENOMEM;
    a->sync_ready = 1;
    int rc = uv_async_init(a->loop, &a->done_async, on_done);
    if (rc)
        return snprintf(err, cap, "cannot create a completion handle: %s", uv_strerror(rc)), rc;
    a->done_async.data = a;
    a->async_ready = 1;
    uv_unref((uv_handle_t *)&a->done_async);
    for (int i = 0; i < 2; i++) {
        a->workers[i] = (worker_t){.a = a, .idle = i};
        if ((rc = uv_thread_create(&a->workers[i].tid, worker_main, &a->workers[i])) != 0)
            return snprintf(err, cap, "cannot start a verifier thread: %s", uv_strerror(rc)), rc;
        a->workers[i].started = 1;
    }
    return 0;
}

int bk_auth_new(uv_loop_t *loop, const bk_auth_config_t *cfg, bk_auth_t **out, char *err,
                size_t err_cap)
{
    bk_auth_t *a = calloc(1, sizeof *a);
    if (!a)
        return snprintf(err, err_cap, "out of memory"), UV_ENOMEM;
    a->loop = loop;
    a->ttl_ms = cfg->cache_ttl_ms ? cfg->cache_ttl_ms : 30000;
    a->max_pending = cfg->max_pending ? cfg->max_pending : 64;
    a->max_per_client = cfg->max_per_client ? cfg->max_per_client : 8;
    bk_authq_init(&a->q, a->max_pending, a->max_per_client, SUSPECT_MS);
    a->users_path = strdup(cfg->users_path ? cfg->users_path : "");
    a->acl_path = cfg->acl_path ? strdup(cfg->acl_path) : NULL;
    int rc = !a->users_path || (cfg->acl_path && !a->acl_path) ? UV_ENOMEM : 0;
    if (rc)
        snprintf(err, err_cap, "out of memory");
    if (!rc)
        rc = parse_supers(a, cfg->super_users, err, err_cap);
    if (!rc)
        rc = load(a, &a->users, &a->acl, err, err_cap);
    if (!rc && (rc = init_key(a)) != 0)
        snprintf(err, err_cap, "no random bytes for the cache key");
    uint8_t salt[BK_SCRAM_SALT_LEN] = {0};
    if (!rc && (RAND_bytes(salt, sizeof salt) != 1 ||
                bk_scram_derive(BK_SCRAM_SHA256, "-", 1, salt, sizeof salt, BK_SCRAM_MIN_ITERATIONS,
                                &a->dummy) != 0))
        rc = UV_EIO, snprintf(err, err_cap, "cannot derive a SCRAM credential");
    if (!rc)
        rc = start_workers(a, err, err_cap);
    if (rc) {
        bk_auth_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

int bk_auth_reload(bk_auth_t *a, char *err, size_t err_cap)
{
    bk_users_t users;
    bk_acl_t acl;
    int rc = load(a, &users, &acl, err, err_cap);
    if (rc)
        return rc;
    bk_users_free(&a->users);
    bk_acl_free(&a->acl);
    a->users = users;
    a->acl = acl;
    a->gen++;
    return 0;
}

static void stop_workers(bk_auth_t *a)
{
    if (a->sync_ready) {
        uv_mutex_lock(&a->mu);
        a->stopping = 1;
        uv_cond_broadcast(&a->cv);
        uv_mutex_unlock(&a->mu);
    }
    for (int i = 0; i < 2; i++)
        if (a->workers[i].started)
            (void)uv_thread_join(&a->workers[i].tid); /* cannot fail for a joinable thread */
    if (a->async_ready) { /* close it and let the loop finish the close */
        uv_close((uv_handle_t *)&a->done_async, NULL);
        (void)uv_run(a->loop, UV_RUN_NOWAIT); /* returns whether handles remain: not ours */
    }
    if (a->sync_ready) {
        uv_cond_destroy(&a->cv);
        uv_mutex_destroy(&a->mu);
    }
}

void bk_auth_free(bk_auth_t *a)
{
    if (!a)
        return;
    stop_workers(a);
    bk_users_free(&a->users);
    bk_acl_free(&a->acl);
    free(a->users_path);
    free(a->acl_path);
    OPENSSL_cleanse(a, sizeof *a);
    free(a);
}

static int is_super(const bk_auth_t *a, const char *user, size_t ulen)
{
    for (int i = 0; i < a->nsupers; i++)
        if (strlen(a->supers[i]) == ulen && memcmp(a->supers[i], user, ulen) == 0)
            return 1;
    return 0;
}

int bk_auth_check(const bk_auth_t *a, const char *user, size_t ulen, bk_acl_resource_t res,
                  const char *name, size_t nlen, bk_acl_op_t op)
{
    if (is_super(a, user, ulen))
        return 1;
    return bk_acl_allows(&a->acl, user, ulen, res, name, nlen, op);
}

const bk_user_t *bk_auth_user(const bk_auth_t *a, const char *name, size_t len)
{
    return bk_users_find(&a->users, name, len);
}

static const cache_entry_t *cache_find(const bk_auth_t *a, const cache_entry_t *table,
                                       const uint8_t key[32])
{
    uint64_t now = uv_now(a->loop);
    const cache_entry_t *set = &table[slot_of(key)];
    for (int i = 0; i < CACHE_WAYS; i++) {
        const cache_entry_t *e = &set[i];
        if (e->expires > now && e->gen == a->gen && CRYPTO_memcmp(e->key, key, 32) == 0)
            return e;
    }
    return NULL;
}

int bk_auth_cached(bk_auth_t *a, const char *user, size_t ulen, const char *pass, size_t plen)
{
    uint8_t key[32];
    cache_key(a, user, ulen, pass, plen, key);
    const cache_entry_t *e = cache_find(a, a->cache, key);
    return e && strlen(e->user) == ulen && memcmp(e->user, user, ulen) == 0;
}

static void cache_put(bk_auth_t *a, cache_entry_t *table, const uint8_t key[32], const char *user)
{
    cache_entry_t *set = &table[slot_of(key)], *victim = &set[0];
    uint64_t now = uv_now(a->loop);
    for (int i = 0; i < CACHE_WAYS; i++) {
        cache_entry_t *e = &set[i];
        if (e->expires <= now || e->gen != a->gen || CRYPTO_memcmp(e->key, key, 32) == 0) {
            victim = e;
            break;
        }
        if (e->expires < victim->expires)
            victim = e;
    }
    memcpy(victim->key, key, 32);
    victim->expires = now + a->ttl_ms;
    victim->gen = a->gen;
    snprintf(victim->user, sizeof victim->user, "%s", user);
}

/* The idle-priority worker: the scheduler runs it only on CPU no normal thread wants, and a
 * waking normal thread (the loop) preempts it at once. nice 19 where SCHED_IDLE is refused. */
static void lower_priority(void)
{
    struct sched_param sp = {0};
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0 &&
        setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19) != 0)
        bk_trace_warn("auth", "cannot lower the verifier thread's priority");
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* After a suspect's check that cost cpu_ns, the idle worker rests SUSPECT_REST times as long
 * (at most 100 ms), so suspects' checks take at most a quarter of one core even when nothing
 * else wants the CPU: on a VM whose host caps its CPU time, idle-priority work still uses the
 * quota, and a flood answered at full speed also makes its sender spend more. */
static void rest_after(uint64_t cpu_ns)
{
    uint64_t ns = cpu_ns * SUSPECT_REST;
    if (ns > 100000000ull)
        ns = 100000000ull;
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void finish(bk_auth_t *a, job_t *j)
{
    if (!j->ok)
        bk_authq_failed(&a->q, j->client, now_ms());
    j->next = NULL;
    if (a->done_tail)
        a->done_tail->next = j;
    else
        a->done_head = j;
    a->done_tail = j;
    uv_cond_broadcast(&a->cv); /* a failure may have moved waiting checks to the other */
    uv_async_send(&a->done_async);
}

/* Runs checks until stopping: takes the next one of its class (under mu), runs it unlocked,
 * puts it on the done list and wakes the loop; the idle worker then rests (rest_after). */
static void worker_main(void *arg)
{
    worker_t *w = arg;
    bk_auth_t *a = w->a;
    (void)pthread_setname_np(pthread_self(), w->idle ? "brook-auth-idle" : "brook-auth");
    if (w->idle)
        lower_priority();
    uv_mutex_lock(&a->mu);
    while (!a->stopping) {
        job_t *j = bk_authq_pop(&a->q, w->idle, now_ms());
        if (!j) { /* timed: a suspect's check can turn ordinary while nobody signals */
            (void)uv_cond_timedwait(&a->cv, &a->mu, 1000000000ull);
            continue;
        }
        uv_mutex_unlock(&a->mu);
        uint64_t cpu0 = thread_cpu_ns();
        j->ok = bk_scram_password_matches(j->mech, &j->cred, j->pass, j->plen) == 1 && j->known;
        OPENSSL_cleanse(j->pass, sizeof j->pass);
        uint64_t cpu = thread_cpu_ns() - cpu0;
        uv_mutex_lock(&a->mu);
        finish(a, j);
        if (w->idle) {
            uv_mutex_unlock(&a->mu);
            rest_after(cpu);
            uv_mutex_lock(&a->mu);
        }
    }
    uv_mutex_unlock(&a->mu);
}

/* Still the same credential after a reload that happened while the check ran? */
static int still_valid(const bk_auth_t *a, const job_t *j)
{
    if (j->gen == a->gen)
        return 1;
    const bk_user_t *u = bk_users_find(&a->users, j->user, strlen(j->user));
    return u && memcmp(&u->cred[j->mech], &j->cred, sizeof j->cred) == 0;
}

static void unlink_inflight(bk_auth_t *a, job_t *j)
{
    for (job_t **p = &a->inflight; *p; p = &(*p)->inext)
        if (*p == j) {
            *p = j->inext;
            break;
        }
    if (--a->pending == 0)
        uv_unref((uv_handle_t *)&a->done_async);
}

/* A finished job: remember its verdict, answer every request that shared it. */
static void deliver(bk_auth_t *a, job_t *j)
{
    unlink_inflight(a, j);
    int ok = j->ok && still_valid(a, j);
    if (ok)
        cache_put(a, a->cache, j->key, j->user);
    else if (!j->answered && j->gen == a->gen)
        cache_put(a, a->fails, j->key, "");
    waiter_t *w = j->waiters;
    OPENSSL_cleanse(j, sizeof *j);
    free(j);
    while (w) {
        waiter_t *next = w->next;
        bk_auth_verify_cb cb = w->cb;
        void *ctx = w->ctx, *arg = w->arg;
        free(w);
        cb(ctx, arg, ok);
        w = next;
    }
}

static void on_done(uv_async_t *h)
{
    bk_auth_t *a = h->data;
    uv_mutex_lock(&a->mu);
    job_t *j = a->done_head;
    a->done_head = a->done_tail = NULL;
    uv_mutex_unlock(&a->mu);
    while (j) {
        job_t *next = j->next;
        deliver(a, j);
        j = next;
    }
}

static void fill_job(bk_auth_t *a, job_t *j, const char *user, size_t ulen)
{
    const bk_user_t *u = bk_users_find(&a->users, user, ulen);
    j->mech = BK_SCRAM_SHA256;
    if (u && !u->cred[BK_SCRAM_SHA256].present && u->cred[BK_SCRAM_SHA512].present)
        j->mech = BK_SCRAM_SHA512;
    j->known = u && u->cred[j->mech].present;
    j->cred = j->known ? u->cred[j->mech] : a->dummy;
    if (!j->known)
        j->mech = BK_SCRAM_SHA256;
    memcpy(j->user, user, ulen);
    j->user[ulen] = 0;
    j->gen = a->gen;
}

/* The job in flight for the same user:password (same generation), if any. */
static job_t *find_inflight(const bk_auth_t *a, const uint8_t key[32])
{
    for (job_t *j = a->inflight; j; j = j->inext)
        if (!j->answered && j->gen == a->gen && CRYPTO_memcmp(j->key, key, 32) == 0)
            return j;
    return NULL;
}

/* Queues j: to the done list when the failure cache already knows the answer, else to the
 * waiting room. 0, UV_EBUSY or UV_EAGAIN. */
static int submit(bk_auth_t *a, job_t *j)
{
    uv_mutex_lock(&a->mu);
    int rc = 0;
    if (j->answered) {
        j->next = NULL;
        if (a->done_tail)
            a->done_tail->next = j;
        else
            a->done_head = j;
        a->done_tail = j;
        uv_async_send(&a->done_async);
    } else if ((rc = bk_authq_push(&a->q, j->client, j)) == 0) {
        uv_cond_broadcast(&a->cv);
    }
    uv_mutex_unlock(&a->mu);
    return rc;
}

int bk_auth_verify_from(bk_auth_t *a, uint64_t client, const char *user, size_t ulen,
                        const char *pass, size_t plen, bk_auth_verify_cb cb, void *ctx, void *arg)
{
    if (ulen > BK_AUTH_NAME_MAX || plen > BK_AUTH_PASSWORD_MAX)
        return BK_EINVAL;
    waiter_t *w = calloc(1, sizeof *w);
    if (!w)
        return UV_ENOMEM;
    *w = (waiter_t){NULL, cb, ctx, arg};
    uint8_t key[32];
    cache_key(a, user, ulen, pass, plen, key);
    job_t *same = find_inflight(a, key);
    if (same) { /* answered with it, in the order asked */
        waiter_t **p = &same->waiters;
        while (*p)
            p = &(*p)->next;
        *p = w;
        return 0;
    }
    job_t *j = calloc(1, sizeof *j);
    if (!j)
        return free(w), UV_ENOMEM;
    j->a = a;
    j->client = client;
    j->waiters = w;
    memcpy(j->key, key, 32);
    fill_job(a, j, user, ulen);
    j->answered = cache_find(a, a->fails, key) != NULL;
    if (!j->answered) {
        memcpy(j->pass, pass, plen);
        j->plen = plen;
    }
    int rc = submit(a, j);
    if (rc) {
        OPENSSL_cleanse(j, sizeof *j);
        free(j);
        free(w);
        return rc;
    }
    j->inext = a->inflight;
    a->inflight = j;
    if (a->pending++ == 0)
        uv_ref((uv_handle_t *)&a->done_async);
    return 0;
}

int bk_auth_verify_async(bk_auth_t *a, const char *user, size_t ulen, const char *pass, size_t plen,
                         bk_auth_verify_cb cb, void *ctx, void *arg)
{
    return bk_auth_verify_from(a, 0, user, ulen, pass, plen, cb, ctx, arg);
}

uint64_t bk_auth_client_key(const struct sockaddr *sa)
{
    uint64_t k = 0;
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        k = (1ull << 32) | ntohl(in->sin_addr.s_addr);
    } else if (sa && sa->sa_family == AF_INET6) {
        const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(b, mapped, 12) == 0)
            return (1ull << 32) |
                   ((uint64_t)b[12] << 24 | (uint64_t)b[13] << 16 | (uint64_t)b[14] << 8 | b[15]);
        for (int i = 0; i < 8; i++) /* the /64: one host usually holds a whole one */
            k = k << 8 | b[i];
        k ^= 0xA5A5A5A5A5A5A5A5ull; /* apart from IPv4 keys (< 2^33) but for odd prefixes */
        k += k == 0;
    }
    return k;
}

uint32_t bk_auth_pending(const bk_auth_t *a)
{
    return a->pending;
}
