/* Authentication and authorization for every listener (DESIGN.md §12): one store of salted
 * SCRAM-SHA-256/512 credentials (the users file), Kafka-shaped ACLs (the ACL file), and the
 * checks the HTTP front end makes today and a Kafka front end will make the same way: HTTP
 * Basic and SASL PLAIN verify a password against the store (bk_auth_verify_async, off the loop
 * thread), SASL/SCRAM runs bk_scram_server_* over the same credentials, and every request of
 * either protocol ends in one bk_auth_check(user, resource, name, operation).
 *
 * Pure parts (SCRAM math, file parsers, ACL matching, the Basic header parser) allocate only
 * what they return and do no I/O, so they are unit-tested and fuzzed. Never stored anywhere:
 * a plaintext password or an unsalted hash of one. */
#ifndef BROOK_AUTH_H
#define BROOK_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define BK_AUTH_NAME_MAX 128     /* user names: 1-128 of [A-Za-z0-9._@-] */
#define BK_AUTH_PASSWORD_MAX 512 /* longer passwords are refused (Basic: 401) */
#define BK_SCRAM_MIN_ITERATIONS 4096
#define BK_SCRAM_MAX_ITERATIONS 1000000
#define BK_SCRAM_SALT_LEN 24 /* bytes of random salt per credential */
#define BK_SCRAM_MAX_HASH 64

/* ---- SCRAM credentials (scram.c) ------------------------------------------------------- */

typedef enum { BK_SCRAM_SHA256 = 0, BK_SCRAM_SHA512 = 1, BK_SCRAM_MECH_COUNT } bk_scram_mech_t;

/* RFC 5802 §3 "what the server stores": salt, iteration count, StoredKey = H(ClientKey) and
 * ServerKey, each hash-length bytes. present = 0 for a mechanism the user has no entry for. */
typedef struct {
    int present;
    uint32_t iterations;
    uint8_t salt[64];
    size_t salt_len;
    uint8_t stored_key[BK_SCRAM_MAX_HASH];
    uint8_t server_key[BK_SCRAM_MAX_HASH];
} bk_scram_cred_t;

size_t bk_scram_hash_len(bk_scram_mech_t m);
const char *bk_scram_mech_name(bk_scram_mech_t m); /* "SCRAM-SHA-256" */
/* 0 with *out set, or BK_EINVAL for a name that is not a supported mechanism. */
int bk_scram_mech_parse(const char *s, size_t len, bk_scram_mech_t *out);

/* Derives the stored credential from a password (SaltedPassword = PBKDF2(password, salt, i)).
 * Costs `iterations` HMACs: never on the loop thread. Returns 0 or BK_EINVAL. */
int bk_scram_derive(bk_scram_mech_t m, const char *password, size_t plen, const uint8_t *salt,
                    size_t salt_len, uint32_t iterations, bk_scram_cred_t *out);
/* 1 when password yields c's StoredKey (compared in constant time), 0 when not, BK_EINVAL
 * when c is unusable. Costs c->iterations HMACs. */
int bk_scram_password_matches(bk_scram_mech_t m, const bk_scram_cred_t *c, const char *password,
                              size_t plen);

/* The server side of one SCRAM exchange (RFC 5802 §5, RFC 7677), pure bytes in and bytes out
 * for SaslAuthenticate: step 1 takes client-first-message and writes server-first-message,
 * step 2 takes client-final-message and writes server-final-message (v=...) on success.
 * lookup copies the stored credential of user (name already unescaped from =2C/=3D) and
 * returns 0, or a negative code when there is none (the exchange then fails at step 2 with
 * the same answer a wrong password gets, so user names cannot be probed). Channel binding
 * is not supported (gs2 flag "n" or "y" only). */
typedef int (*bk_scram_lookup_cb)(void *arg, const char *user, size_t len, bk_scram_cred_t *out);
enum { BK_SCRAM_CONTINUE = 1, BK_SCRAM_DONE = 0 };
typedef struct {
    bk_scram_mech_t mech;
    int state; /* 0 expecting client-first, 1 expecting client-final, 2 done, 3 failed */
    bk_scram_lookup_cb lookup;
    void *lookup_arg;
    char user[BK_AUTH_NAME_MAX + 1];
    int known; /* lookup found the user */
    bk_scram_cred_t cred;
    char nonce[160]; /* client nonce + server nonce */
    char auth_message[1024];
    size_t auth_len;
    char server_nonce[64]; /* set by bk_scram_server_init, or by a test */
} bk_scram_server_t;

void bk_scram_server_init(bk_scram_server_t *s, bk_scram_mech_t m, bk_scram_lookup_cb lookup,
                          void *arg);
/* Returns BK_SCRAM_CONTINUE (send out, expect another message), BK_SCRAM_DONE (send out: the
 * client is authenticated as s->user), or a negative error: BK_EINVAL for a malformed or
 * out-of-order message, UV_EACCES for wrong credentials or an unknown user (out then holds
 * "e=invalid-proof" to send), BK_ETOOBIG when out_cap is too small. Neither step derives a
 * key from a password: step 2 costs a few HMACs only. */
int bk_scram_server_step(bk_scram_server_t *s, const uint8_t *in, size_t in_len, char *out,
                         size_t out_cap, size_t *out_len);

/* ---- the users file (users.c) ---------------------------------------------------------- */

typedef struct {
    char name[BK_AUTH_NAME_MAX + 1];
    bk_scram_cred_t cred[BK_SCRAM_MECH_COUNT];
} bk_user_t;

typedef struct {
    bk_user_t *v;
    size_t n, cap;
} bk_users_t;

int bk_user_name_valid(const char *s, size_t len);
/* Parses a users file (format in the README, "Security"). 0 with *out filled (free it with
 * bk_users_free), or BK_EINVAL with err = "line N: reason" (nothing to free). */
int bk_users_parse(const char *text, size_t len, bk_users_t *out, char *err, size_t err_cap);
/* Reads and parses path; errors name the path. A missing file is an error. */
int bk_users_load(const char *path, bk_users_t *out, char *err, size_t err_cap);
/* Writes u to path crash-safely: a temp file beside it, fsync, rename, fsync the directory.
 * The file is created mode 0600. Returns 0 or a negative errno. */
int bk_users_save(const char *path, const bk_users_t *u);
/* The file's text (malloc'd, NUL-terminated); NULL on out-of-memory. */
char *bk_users_format(const bk_users_t *u);
const bk_user_t *bk_users_find(const bk_users_t *u, const char *name, size_t len);
/* Adds or replaces the user of that name. 0 or UV_ENOMEM. */
int bk_users_put(bk_users_t *u, const bk_user_t *user);
/* 0, or UV_ENOENT when there is no such user. */
int bk_users_remove(bk_users_t *u, const char *name);
void bk_users_free(bk_users_t *u);
/* A user with both mechanisms derived from password (fresh random salts, `iterations`). */
int bk_user_make(const char *name, const char *password, size_t plen, uint32_t iterations,
                 bk_user_t *out);

/* ---- ACLs (acl.c): pure matching ------------------------------------------------------- */

typedef enum { BK_RES_TOPIC = 0, BK_RES_GROUP, BK_RES_CLUSTER, BK_RES_COUNT } bk_acl_resource_t;
typedef enum {
    BK_OP_READ = 0,
    BK_OP_WRITE,
    BK_OP_CREATE,
    BK_OP_DELETE,
    BK_OP_ALTER,
    BK_OP_DESCRIBE,
    BK_OP_CLUSTER_ACTION,
    BK_OP_ALL,
    BK_OP_COUNT
} bk_acl_op_t;
#define BK_ACL_CLUSTER_NAME "kafka-cluster" /* the one cluster resource's name */

typedef struct {
    int allow;    /* 1 allow, 0 deny */
    int any_user; /* principal User:* */
    char user[BK_AUTH_NAME_MAX + 1];
    bk_acl_resource_t resource;
    int prefixed;   /* pattern: 0 literal, 1 prefixed */
    char name[256]; /* literal "*" matches every name */
    bk_acl_op_t op;
} bk_acl_rule_t;

typedef struct {
    bk_acl_rule_t *v;
    size_t n, cap;
} bk_acl_t;

const char *bk_acl_op_name(bk_acl_op_t op);
const char *bk_acl_resource_name(bk_acl_resource_t r);
/* Parses an ACL file (format in the README). Same contract as bk_users_parse. */
int bk_acl_parse(const char *text, size_t len, bk_acl_t *out, char *err, size_t err_cap);
int bk_acl_load(const char *path, bk_acl_t *out, char *err, size_t err_cap);
void bk_acl_free(bk_acl_t *a);
/* The decision for one request: 1 allowed, 0 not. Deny rules win over allow rules; with no
 * matching allow rule nothing is allowed. An allow of read, write, delete or alter also
 * allows describe (as in Kafka). No allocation. */
int bk_acl_allows(const bk_acl_t *a, const char *user, size_t ulen, bk_acl_resource_t res,
                  const char *name, size_t nlen, bk_acl_op_t op);

/* ---- HTTP Basic (basic.c) -------------------------------------------------------------- */

/* Parses an Authorization header value "Basic <base64(user:password)>" into user and pass
 * (NUL-terminated, at most BK_AUTH_NAME_MAX / BK_AUTH_PASSWORD_MAX bytes). Returns 0,
 * BK_EINVAL when malformed (not Basic, bad base64, no colon, empty or invalid user name,
 * a control byte), BK_ETOOBIG when longer than the limits. Pure, no allocation. */
int bk_auth_basic_parse(const char *value, size_t len, char *user, size_t *ulen, char *pass,
                        size_t *plen);

/* ---- the broker's authenticator (auth.c) ----------------------------------------------- */

typedef struct {
    const char *users_path;  /* --users-file: required */
    const char *acl_path;    /* --acl-file: NULL = no ACLs (only super users may act) */
    const char *super_users; /* --super-users "User:a;User:b" (',' also separates), or NULL */
    uint32_t cache_ttl_ms;   /* how long a successful check is remembered (default 30000) */
    uint32_t max_pending;    /* checks waiting beyond this are refused (default 64) */
    uint32_t max_per_client; /* ... and beyond this many from one client address (default 8) */
} bk_auth_config_t;

typedef struct bk_auth bk_auth_t;

/* Loads the files. Returns 0, or BK_EINVAL with err set ("<path>: line N: reason"). */
int bk_auth_new(uv_loop_t *loop, const bk_auth_config_t *cfg, bk_auth_t **out, char *err,
                size_t err_cap);
/* SIGHUP: loads both files again and swaps them in together, or keeps the old set (and
 * returns BK_EINVAL with err set) when either has an error. Forgets cached checks. */
int bk_auth_reload(bk_auth_t *a, char *err, size_t err_cap);
/* After the loop has run dry (every verification has called back: the authenticator keeps
 * the loop alive while checks are pending). Stops its threads and runs the loop once, without
 * waiting, to finish closing its completion handle. */
void bk_auth_free(bk_auth_t *a);

/* The one authorization check: may user (a "User:" principal's name) do op on the resource?
 * Super users may do everything. No allocation; loop thread. */
int bk_auth_check(const bk_auth_t *a, const char *user, size_t ulen, bk_acl_resource_t res,
                  const char *name, size_t nlen, bk_acl_op_t op);

/* The user's stored credentials (a SCRAM front end copies them), or NULL. Valid until the
 * next reload; loop thread. */
const bk_user_t *bk_auth_user(const bk_auth_t *a, const char *name, size_t len);

/* Password check, HTTP Basic and SASL PLAIN alike. bk_auth_cached answers from the cache of
 * recent successes (keyed by HMAC-SHA-256 of user:password under a random per-process key,
 * so it never holds a password): 1 hit, 0 miss. No allocation. */
int bk_auth_cached(bk_auth_t *a, const char *user, size_t ulen, const char *pass, size_t plen);
/* On a miss: cb(ctx, arg, ok) runs once, from the loop and never from inside this call, ok = 1
 * when the password is right (then cached), 0 when not. A password that failed within the
 * cache's lifetime is answered 0 without a check (failures are cached too, under the same
 * keyed hash); otherwise the check (PBKDF2, ~1 ms of CPU) runs on one of two threads of the
 * authenticator's own, never on the loop or the libuv pool: at normal priority, or at
 * SCHED_IDLE, resting 3x each check's CPU time after it, when a check from the same client
 * failed in the last 30 s. Requests asking the
 * same user:password while its check is in flight share it. client is
 * bk_auth_client_key(peer address), or 0 when unknown (never capped per client). Returns 0,
 * UV_EBUSY when max_pending checks are already waiting, UV_EAGAIN when max_per_client checks
 * of this client are (cb never runs in either case), BK_EINVAL or UV_ENOMEM. */
typedef void (*bk_auth_verify_cb)(void *ctx, void *arg, int ok);
int bk_auth_verify_from(bk_auth_t *a, uint64_t client, const char *user, size_t ulen,
                        const char *pass, size_t plen, bk_auth_verify_cb cb, void *ctx, void *arg);
/* bk_auth_verify_from with client 0. */
int bk_auth_verify_async(bk_auth_t *a, const char *user, size_t ulen, const char *pass, size_t plen,
                         bk_auth_verify_cb cb, void *ctx, void *arg);
/* The key a client address counts under: the IPv4 address (also when IPv4-mapped), or the
 * IPv6 /64 (one host usually holds a whole /64); 0 for anything else. Pure. */
struct sockaddr;
uint64_t bk_auth_client_key(const struct sockaddr *sa);
/* Checks queued or running now (metrics, tests). */
uint32_t bk_auth_pending(const bk_auth_t *a);

#endif
