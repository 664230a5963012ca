/* The HTTP front end of src/auth: from a routed request to a user and one permission check,
 * before any handler runs. Authorization: Basic is answered from the cache of recent successes
 * when it can be (no allocation), else checked on the thread pool and the request dispatched
 * from the completion. Statuses: no or wrong credentials 401 (40101) with WWW-Authenticate,
 * a malformed header 400, allowed-to-nobody 403 (40301), too many checks waiting 503 (50301),
 * too many of them from the client's own address 429 (42901).
 * The permission comes from the router's table (bk_route_authz); a route without an entry is
 * refused, never served. A request over TLS with a verified client certificate and no
 * Authorization header runs as User:<certificate CN>, checked by the same ACLs. */
#include <llhttp.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "api/admin_body.h"
#include "api/broker.h"
#include "brook/common.h"
#include "http/response.h"

#define CHALLENGE "WWW-Authenticate: Basic realm=\"brook\"\r\n"

typedef struct {
    char user[BK_AUTH_NAME_MAX + 1];
    char pass[BK_AUTH_PASSWORD_MAX + 1];
    size_t ulen, plen;
} creds_t;

/* Wipes the password (only its bytes: this runs on every request). */
static void forget(creds_t *c)
{
    OPENSSL_cleanse(c->pass, c->plen + 1);
}

static void unauthorized(bk_exchange_t *ex, const char *msg)
{
    bk_exchange_error_hdr(ex, 40101, msg, CHALLENGE);
}

int bk_broker_may_describe(const bk_broker_t *b, const char *name, size_t len)
{
    if (!b->auth)
        return 1;
    if (!b->authz_user)
        return 0;
    return bk_auth_check(b->auth, b->authz_user, strlen(b->authz_user), BK_RES_TOPIC, name, len,
                         BK_OP_DESCRIBE);
}

/* The resource name a check is about; answers ex and returns 0 when the body that names it
 * is unusable (with the status the handler would give). */
static int resource_name(bk_exchange_t *ex, const bk_route_t *r, const bk_route_authz_t *z,
                         bk_admin_body_t *admin, const char **name, size_t *len)
{
    switch (z->name) {
    case BK_AUTHZ_NAME_PATH:
        *name = r->topic;
        *len = r->topic_len;
        return 1;
    case BK_AUTHZ_NAME_GROUP_PATH:
        *name = r->group;
        *len = r->group_len;
        return 1;
    case BK_AUTHZ_NAME_CREATE_BODY: {
        if (!bk_api_require_json(ex))
            return 0;
        int st = bk_admin_body_parse(admin, ex->body, ex->body_len);
        if (st) {
            bk_exchange_error(ex, admin->error_code ? admin->error_code : st, admin->error);
            return 0;
        }
        if (!admin->has_name) {
            bk_exchange_error(ex, 422, "missing \"name\"");
            return 0;
        }
        *name = admin->name;
        *len = strlen(admin->name);
        return 1;
    }
    default:
        *name = BK_ACL_CLUSTER_NAME;
        *len = strlen(BK_ACL_CLUSTER_NAME);
        return 1;
    }
}

static int may(const bk_broker_t *b, const char *user, bk_acl_resource_t res, const char *name,
               size_t len, bk_acl_op_t op)
{
    size_t ulen = strlen(user);
    if (bk_auth_check(b->auth, user, ulen, res, name, len, op))
        return 1;
    /* topic creation: create on the cluster covers every topic (as in Kafka) */
    return op == BK_OP_CREATE && res == BK_RES_TOPIC &&
           bk_auth_check(b->auth, user, ulen, BK_RES_CLUSTER, BK_ACL_CLUSTER_NAME,
                         strlen(BK_ACL_CLUSTER_NAME), BK_OP_CREATE);
}

static void forbidden(bk_exchange_t *ex, const char *user, bk_acl_op_t op, bk_acl_resource_t res,
                      const char *name, size_t len)
{
    bk_exchange_errorf(ex, 40301, "User:%s may not %s %s %.*s", user, bk_acl_op_name(op),
                       bk_acl_resource_name(res), (int)(len > 255 ? 255 : len), name);
}

static int decide(bk_broker_t *b, bk_exchange_t *ex, const char *user, bk_acl_resource_t res,
                  const char *name, size_t len, bk_acl_op_t op)
{
    if (!may(b, user, res, name, len, op)) {
        forbidden(ex, user, op, res, name, len);
        return 0;
    }
    /* a write that would create its topic needs create too */
    if (op == BK_OP_WRITE && b->cfg.auto_create_topics && bk_log_topic_name_valid(name, len) &&
        !bk_log_topic_find(b->log, name, len) && !may(b, user, res, name, len, BK_OP_CREATE)) {
        forbidden(ex, user, BK_OP_CREATE, res, name, len);
        return 0;
    }
    return 1;
}

/* The decision for an authenticated user; 1 when the handler may run. A topic named in the
 * produce body is checked when the handler looks it up (bk_broker_authz_topic), so the body
 * is parsed once; until then the check is pending and a lookup of any topic makes it. */
static int permitted(bk_broker_t *b, bk_exchange_t *ex, const bk_route_t *r,
                     const bk_route_authz_t *z, const char *user)
{
    if (z->kind == BK_AUTHZ_ANY_USER || z->kind == BK_AUTHZ_LIST)
        return 1;
    if (z->name == BK_AUTHZ_NAME_PRODUCE_BODY) {
        b->authz_pending = z;
        return 1;
    }
    bk_admin_body_t admin;
    const char *name;
    size_t len;
    if (!resource_name(ex, r, z, &admin, &name, &len))
        return 0;
    return decide(b, ex, user, (bk_acl_resource_t)z->resource, name, len, (bk_acl_op_t)z->op);
}

int bk_broker_authz_topic(bk_broker_t *b, bk_exchange_t *ex, const char *name, size_t len)
{
    const bk_route_authz_t *z = b->authz_pending;
    if (!z)
        return 1; /* checked at dispatch, or auth is off */
    b->authz_pending = NULL;
    if (!b->authz_user) { /* cannot happen: fail closed */
        bk_exchange_error(ex, 40301, "no authenticated user for this check: refused");
        return 0;
    }
    return decide(b, ex, b->authz_user, (bk_acl_resource_t)z->resource, name, len,
                  (bk_acl_op_t)z->op);
}

static void run_as(bk_broker_t *b, bk_exchange_t *ex, const bk_route_t *r, const char *user)
{
    const bk_route_authz_t *z = bk_route_authz(r->id, ex->method);
    if (!z) {
        bk_exchange_error(ex, 40301, "no access rule covers this route: refused");
        return;
    }
    if (!permitted(b, ex, r, z, user))
        return;
    b->authz_user = user;
    bk_broker_route(b, ex, r);
    b->authz_user = NULL;
    b->authz_pending = NULL; /* the handler answered before naming a topic (400, 307...) */
}

/* 0 with c filled, or answers ex (401 or 400) and returns -1. */
static int read_creds(bk_exchange_t *ex, creds_t *c)
{
    c->plen = 0;
    c->pass[0] = 0;
    size_t len;
    const char *v = bk_exchange_header(ex, "authorization", &len);
    if (!v) {
        unauthorized(ex, "authentication required: send Authorization: Basic");
        return -1;
    }
    int rc = bk_auth_basic_parse(v, len, c->user, &c->ulen, c->pass, &c->plen);
    if (rc == BK_ETOOBIG) {
        unauthorized(ex, "wrong user name or password");
        return -1;
    }
    if (rc) {
        bk_exchange_error(ex, 400,
                          "malformed Authorization header: expected Basic followed by "
                          "base64 of user:password");
        return -1;
    }
    return 0;
}

static void after_verify(void *ctx, void *arg, int ok)
{
    bk_broker_t *b = ctx;
    bk_exchange_t *ex = arg;
    if (ok < 0) {
        bk_exchange_errorf(ex, 503, "credentials could not be checked: %s", bk_strerror(ok));
        return;
    }
    if (!ex->conn) { /* the client left: the answer is dropped, nothing is done */
        bk_exchange_error(ex, 503, "the connection closed");
        return;
    }
    if (bk_broker_gone(b, ex))
        return;
    if (ok == 0) {
        unauthorized(ex, "wrong user name or password");
        return;
    }
    creds_t c;
    bk_route_t r;
    if (read_creds(ex, &c) == 0 && bk_route_match(ex->method, ex->path, ex->path_len, &r) == 0)
        run_as(b, ex, &r, c.user);
    forget(&c);
}

void bk_broker_authorize(bk_broker_t *b, bk_exchange_t *ex, const bk_route_t *r)
{
    const bk_route_authz_t *z = bk_route_authz(r->id, ex->method);
    if (z && z->kind == BK_AUTHZ_OPEN && !b->auth_all_paths) {
        bk_broker_route(b, ex, r);
        return;
    }
    size_t hlen;
    if (ex->tls_user && !bk_exchange_header(ex, "authorization", &hlen)) {
        run_as(b, ex, r, ex->tls_user); /* verified by the TLS handshake */
        return;
    }
    creds_t c;
    if (read_creds(ex, &c))
        return;
    if (bk_auth_cached(b->auth, c.user, c.ulen, c.pass, c.plen)) {
        run_as(b, ex, r, c.user);
        forget(&c);
        return;
    }
    struct sockaddr_storage peer;
    uint64_t client =
        bk_exchange_peer(ex, &peer) == 0 ? bk_auth_client_key((const struct sockaddr *)&peer) : 0;
    int rc =
        bk_auth_verify_from(b->auth, client, c.user, c.ulen, c.pass, c.plen, after_verify, b, ex);
    forget(&c);
    if (rc == UV_EBUSY)
        bk_exchange_error_hdr(ex, 50301, "too many credential checks are waiting; retry shortly",
                              "Retry-After: 1\r\n");
    else if (rc == UV_EAGAIN)
        bk_exchange_error_hdr(ex, 42901,
                              "too many credential checks from this client address are waiting; "
                              "retry shortly",
                              "Retry-After: 1\r\n");
    else if (rc)
        bk_exchange_errorf(ex, 503, "credentials could not be checked: %s", bk_strerror(rc));
}
