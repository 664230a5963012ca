/* The broker's authenticator: the loaded users and ACLs (replaced together on reload, or not at
 * all), the cache of recent successful password checks, and the queue of checks that run on
 * the libuv thread pool. A password check costs thousands of HMACs, so it never runs on the
 * loop; checks run one at a time (a flood of wrong passwords then occupies one pool thread,
 * never the four that disk flushes share) and at most max_pending wait, the rest are refused.
 *
 * The cache maps HMAC-SHA-256(process key, user ":" password) to the user and an expiry: it
 * holds no password and nothing that can be checked offline without the key, which lives only
 * in this process's memory. A lookup is two SHA-256 runs over state prepared at start and a
 * probe of a fixed table: no allocation. Reload forgets every entry (generation counter). */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_*: a stack-only HMAC for the allocation-free cache   \
                                     */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brook/auth.h"
#include "brook/common.h"

#define CACHE_SLOTS 1024 /* power of two */
#define CACHE_WAYS 4
#define MAX_SUPERS 64

typedef struct {
    uint8_t key[32];
    uint64_t expires; /* loop ms; 0 = empty */
    uint32_t gen;
    char user[BK_AUTH_NAME_MAX + 1];
} cache_entry_t;

typedef struct job {
    uv_work_t work;
    struct job *next;
    bk_auth_t *a;
    bk_scram_mech_t mech;
    bk_scram_cred_t cred;
    int known;
    char user[BK_AUTH_NAME_MAX + 1];
    char pass[BK_AUTH_PASSWORD_MAX + 1];
    size_t plen;
    uint8_t key[32];
    uint32_t gen;
    int ok;
    bk_auth_verify_cb cb;
    void *ctx, *arg;
} job_t;

struct bk_auth {
    uv_loop_t *loop;
    char *users_path, *acl_path;
    uint32_t ttl_ms, max_pending;
    bk_users_t users;
    bk_acl_t acl;
    char supers[MAX_SUPERS][BK_AUTH_NAME_MAX + 1];
    int nsupers;
    uint32_t gen;
    SHA256_CTX inner, outer; /* HMAC state after the key block */
    bk_scram_cred_t dummy;   /* checked for unknown users, so they cost what known ones do */
    job_t *head, *tail;      /* waiting, oldest first */
    int running;
    uint32_t pending; /* waiting + running */
    cache_entry_t cache[CACHE_SLOTS];
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
    c = a->outer;
    SHA256_Update(&c, ih, 32);
    SHA256_Final(out, &c);
    OPENSSL_cleanse(&c, sizeof c);
}

static size_t slot_of(const uint8_t key[32])
{
    uint32_t v;
    memcpy(&v, key, sizeof v);
    return v & (CACHE_SLOTS - 1) & ~(size_t)(CACHE_WAYS - 1);
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

int bk_auth_new(uv_loop_t *loop, const bk_auth_config_t *cfg, bk_auth_t **out, char *err,
                size_t err_cap)
{
    bk_auth_t *a = calloc(1, sizeof *a);
    if (!a)
        return snprintf(err, err_cap, "out of memory"), UV_ENOMEM;
    a->loop = loop;
    a->ttl_ms = cfg->cache_ttl_ms ? cfg->cache_ttl_ms : 30000;
    a->max_pending = cfg->max_pending ? cfg->max_pending : 64;
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

void bk_auth_free(bk_auth_t *a)
{
    if (!a)
        return;
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

int bk_auth_cached(bk_auth_t *a, const char *user, size_t ulen, const char *pass, size_t plen)
{
    uint8_t key[32];
    cache_key(a, user, ulen, pass, plen, key);
    uint64_t now = uv_now(a->loop);
    cache_entry_t *set = &a->cache[slot_of(key)];
    for (int i = 0; i < CACHE_WAYS; i++) {
        cache_entry_t *e = &set[i];
        if (e->expires > now && e->gen == a->gen && CRYPTO_memcmp(e->key, key, 32) == 0)
            return strlen(e->user) == ulen && memcmp(e->user, user, ulen) == 0;
    }
    return 0;
}

static void cache_put(bk_auth_t *a, const uint8_t key[32], const char *user)
{
    cache_entry_t *set = &a->cache[slot_of(key)], *victim = &set[0];
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

static void pump(bk_auth_t *a);

static void on_work(uv_work_t *w)
{
    job_t *j = w->data;
    int m = bk_scram_password_matches(j->mech, &j->cred, j->pass, j->plen);
    j->ok = m == 1 && j->known;
}

/* Still the same credential after a reload that happened while the check ran? */
static int still_valid(const bk_auth_t *a, const job_t *j)
{
    if (j->gen == a->gen)
        return 1;
    const bk_user_t *u = bk_users_find(&a->users, j->user, strlen(j->user));
    return u && memcmp(&u->cred[j->mech], &j->cred, sizeof j->cred) == 0;
}

static void after_work(uv_work_t *w, int status)
{
    job_t *j = w->data;
    bk_auth_t *a = j->a;
    a->running = 0;
    a->pending--;
    int ok = status == 0 ? j->ok && still_valid(a, j) : status;
    if (ok == 1)
        cache_put(a, j->key, j->user);
    bk_auth_verify_cb cb = j->cb;
    void *ctx = j->ctx, *arg = j->arg;
    OPENSSL_cleanse(j, sizeof *j);
    free(j);
    pump(a);
    cb(ctx, arg, ok);
}

static void pump(bk_auth_t *a)
{
    while (!a->running && a->head) {
        job_t *j = a->head;
        a->head = j->next;
        if (!a->head)
            a->tail = NULL;
        j->work.data = j;
        int rc = uv_queue_work(a->loop, &j->work, on_work, after_work);
        if (rc == 0) {
            a->running = 1;
            return;
        }
        a->pending--;
        bk_auth_verify_cb cb = j->cb;
        void *ctx = j->ctx, *arg = j->arg;
        OPENSSL_cleanse(j, sizeof *j);
        free(j);
        cb(ctx, arg, rc);
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

int bk_auth_verify_async(bk_auth_t *a, const char *user, size_t ulen, const char *pass, size_t plen,
                         bk_auth_verify_cb cb, void *ctx, void *arg)
{
    if (ulen > BK_AUTH_NAME_MAX || plen > BK_AUTH_PASSWORD_MAX)
        return BK_EINVAL;
    if (a->pending >= a->max_pending)
        return UV_EBUSY;
    job_t *j = calloc(1, sizeof *j);
    if (!j)
        return UV_ENOMEM;
    j->a = a;
    fill_job(a, j, user, ulen);
    memcpy(j->pass, pass, plen);
    j->plen = plen;
    cache_key(a, user, ulen, pass, plen, j->key);
    j->cb = cb;
    j->ctx = ctx;
    j->arg = arg;
    if (a->tail)
        a->tail->next = j;
    else
        a->head = j;
    a->tail = j;
    a->pending++;
    pump(a);
    return 0;
}

uint32_t bk_auth_pending(const bk_auth_t *a)
{
    return a->pending;
}
