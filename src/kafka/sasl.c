/* SASL authentication on the Kafka listener (--users-file): SaslHandshake picks PLAIN,
 * SCRAM-SHA-256 or SCRAM-SHA-512, then the tokens travel in SaslAuthenticate requests (after a
 * v1 handshake) or as bare size-prefixed frames (after a v0 one). PLAIN passwords are checked
 * like HTTP Basic ones: from the cache of recent successes, else on the thread pool
 * (bk_auth_verify_from, keyed by the client address), never on the loop; SCRAM runs src/auth's
 * state machine over the stored keys, whose proof check costs a few HMACs and so runs on the loop.
 *
 * Any failure ends the connection: the answer (SASL_AUTHENTICATION_FAILED, or the handshake's
 * error) is written, one trace line says why, reading stops, and the connection closes once
 * the answer is out. A password is never traced, kept or copied beyond the check. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brook/common.h"
#include "kafka/kafka_impl.h"

#define TOKEN_MAX 512 /* SCRAM's server messages are under 200 bytes */

int bk_kconn_needs_auth(const bk_kconn_t *c)
{
    /* a verified client certificate authenticates, unless a SASL exchange was begun */
    return c->k->deps.auth && c->sasl_state != BK_KCONN_DONE &&
           !(c->cert_user && c->sasl_state == BK_KCONN_START);
}

static void free_scram(bk_kconn_t *c)
{
    if (!c->scram)
        return;
    OPENSSL_cleanse(c->scram, sizeof *c->scram);
    free(c->scram);
    c->scram = NULL;
}

/* Writes one answer of the exchange: a SaslAuthenticate body, or a bare token after a v0
 * handshake. */
static void reply(bk_kreq_t *r, int16_t error, const char *message, const uint8_t *token,
                  size_t len)
{
    bk_kw_t *w = &r->out;
    if (r->conn->sasl_raw) {
        (void)bk_kw_skip(w, 4); /* the size, patched by bk_kreq_finish */
        bk_kw_raw(w, token, len);
    } else {
        bk_kresp_begin(w, &r->req.h, r->req.h.flexible);
        bk_kencode_sasl_authenticate(w, r->req.h.version, error, message, token, len);
    }
    bk_kreq_finish(r);
}

/* No more reading on c: what is queued is answered, then the connection closes. */
static void stop_reading(bk_kconn_t *c)
{
    c->draining = 1;
    (void)uv_read_stop((uv_stream_t *)&c->tcp);
}

/* Ends c's exchange in failure with one trace line. A v0 exchange has no way to say why: its
 * connection just closes (as Kafka's does). */
static void fail(bk_kreq_t *r, int16_t error, const char *message)
{
    bk_kconn_t *c = r->conn;
    char why[256];
    snprintf(why, sizeof why, "SASL %s authentication%s%s failed: %s",
             bk_ksasl_mech_name((bk_ksasl_mech_t)c->sasl_mech), c->user[0] ? " as User:" : "",
             c->user, message);
    c->sasl_state = BK_KCONN_FAILED;
    memset(c->user, 0, sizeof c->user);
    free_scram(c);
    stop_reading(c);
    if (c->sasl_raw) {
        bk_kconn_close(c, why);
        bk_kreq_finish(r); /* detached by the close: freed */
        return;
    }
    bk_trace_info("kafka", "closing connection from %s: %s", c->peer, why);
    r->close_after = 1;
    reply(r, error, message, NULL, 0);
}

static void succeed(bk_kreq_t *r, const uint8_t *token, size_t len)
{
    bk_kconn_t *c = r->conn;
    c->sasl_state = BK_KCONN_DONE;
    free_scram(c);
    bk_trace_debug("kafka", "%s authenticated as User:%s (%s)", c->peer, c->user,
                   bk_ksasl_mech_name((bk_ksasl_mech_t)c->sasl_mech));
    reply(r, BK_KERR_NONE, NULL, token, len);
    c->sasl_raw = 0; /* from now on, Kafka requests */
}

/* ---- PLAIN ---- */

static void after_plain(void *ctx, void *arg, int ok)
{
    (void)ctx;
    bk_kreq_t *r = arg;
    if (!r->conn) { /* the client left while its password was checked */
        bk_kreq_finish(r);
        return;
    }
    if (ok == 1) {
        bk_kconn_t *c = r->conn;
        succeed(r, NULL, 0);
        bk_kconn_release(c); /* requests sent meanwhile are served now */
        return;
    }
    char msg[160];
    snprintf(msg, sizeof msg, "%s",
             ok == 0 ? "wrong user name or password"
                     : "the password could not be checked; try again");
    fail(r, BK_KERR_SASL_AUTHENTICATION_FAILED, msg);
}

static void plain(bk_kafka_t *k, bk_kreq_t *r, uint8_t *token, size_t len)
{
    bk_kconn_t *c = r->conn;
    char pass[BK_AUTH_PASSWORD_MAX + 1];
    size_t ulen, plen;
    int rc = bk_ksasl_plain_parse(token, len, c->user, &ulen, pass, &plen);
    OPENSSL_cleanse(token, len); /* the frame is ours: no password left in it */
    if (rc) {
        memset(c->user, 0, sizeof c->user);
        fail(r, BK_KERR_SASL_AUTHENTICATION_FAILED,
             "malformed PLAIN message (want authzid NUL user NUL password, user names of "
             "[A-Za-z0-9._@-], authzid empty or the user)");
        return;
    }
    if (bk_auth_cached(k->deps.auth, c->user, ulen, pass, plen)) {
        OPENSSL_cleanse(pass, sizeof pass);
        succeed(r, NULL, 0);
        return;
    }
    c->sasl_state = BK_KCONN_VERIFYING;
    bk_kconn_hold(c);
    /* Keyed by the client's address, as HTTP Basic: a client whose checks fail is served at
     * low priority and capped, without slowing the logins of others. */
    struct sockaddr_storage peer;
    int peer_len = (int)sizeof peer;
    uint64_t client = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &peer_len) == 0
                          ? bk_auth_client_key((const struct sockaddr *)&peer)
                          : 0;
    rc = bk_auth_verify_from(k->deps.auth, client, c->user, ulen, pass, plen, after_plain, k, r);
    OPENSSL_cleanse(pass, sizeof pass);
    if (rc == UV_EBUSY || rc == UV_EAGAIN)
        fail(r, BK_KERR_SASL_AUTHENTICATION_FAILED,
             rc == UV_EBUSY ? "too many password checks are waiting; retry shortly"
                            : "too many password checks from this address are waiting; retry "
                              "shortly");
    else if (rc)
        fail(r, BK_KERR_SASL_AUTHENTICATION_FAILED, "the password could not be checked");
}

/* ---- SCRAM ---- */

/* The stored credential of user for the connection's mechanism (bk_scram_lookup_cb). */
static int lookup(void *arg, const char *user, size_t len, bk_scram_cred_t *out)
{
    bk_kconn_t *c = arg;
    bk_scram_mech_t m = c->sasl_mech == BK_KSASL_SCRAM_SHA512 ? BK_SCRAM_SHA512 : BK_SCRAM_SHA256;
    const bk_user_t *u = bk_auth_user(c->k->deps.auth, user, len);
    if (!u || !u->cred[m].present)
        return UV_ENOENT;
    *out = u->cred[m];
    return 0;
}

static void scram(bk_kreq_t *r, const uint8_t *token, size_t len)
{
    bk_kconn_t *c = r->conn;
    char out[TOKEN_MAX];
    size_t out_len = 0;
    int rc = bk_scram_server_step(c->scram, token, len, out, sizeof out, &out_len);
    if (rc == BK_SCRAM_CONTINUE) {
        reply(r, BK_KERR_NONE, NULL, (const uint8_t *)out, out_len);
        return;
    }
    if (rc == BK_SCRAM_DONE) {
        snprintf(c->user, sizeof c->user, "%s", c->scram->user);
        succeed(r, (const uint8_t *)out, out_len);
        return;
    }
    if (rc == UV_EACCES && bk_user_name_valid(c->scram->user, strlen(c->scram->user)))
        snprintf(c->user, sizeof c->user, "%s", c->scram->user); /* for the trace line */
    fail(r, BK_KERR_SASL_AUTHENTICATION_FAILED,
         rc == UV_EACCES ? "wrong user name or password" : "malformed SCRAM message");
}

/* One token of the exchange (its bytes inside r's frame). */
static void exchange(bk_kafka_t *k, bk_kreq_t *r, uint8_t *token, size_t len)
{
    if (r->conn->sasl_mech == BK_KSASL_PLAIN)
        plain(k, r, token, len);
    else
        scram(r, token, len);
}

/* ---- the requests ---- */

void bk_khandle_sasl_handshake(bk_kafka_t *k, bk_kreq_t *r)
{
    bk_kconn_t *c = r->conn;
    bk_kslice_t name = r->req.u.sasl_handshake.mechanism;
    bk_ksasl_mech_t m;
    int16_t err = BK_KERR_NONE;
    const char *why = NULL;
    if (!k->deps.auth)
        err = BK_KERR_UNSUPPORTED_SASL_MECHANISM, why = "SASL handshake, but authentication is "
                                                        "off on this broker (no --users-file)";
    else if (c->sasl_state != BK_KCONN_START)
        err = BK_KERR_ILLEGAL_SASL_STATE, why = "a second SASL handshake";
    else if (bk_ksasl_mech_parse(name, &m) != 0)
        err = BK_KERR_UNSUPPORTED_SASL_MECHANISM,
        why = "unsupported SASL mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 are offered)";
    bk_kresp_begin(&r->out, &r->req.h, 0);
    bk_kencode_sasl_handshake(&r->out, err, k->deps.auth != NULL);
    if (err) {
        bk_trace_info("kafka", "closing connection from %s: %s", c->peer, why);
        c->sasl_state = BK_KCONN_FAILED;
        stop_reading(c);
        r->close_after = 1;
        bk_kreq_finish(r);
        return;
    }
    c->sasl_state = BK_KCONN_MECH;
    c->cert_user = 0; /* SASL decides the principal now (SASL_SSL with a certificate) */
    memset(c->user, 0, sizeof c->user);
    c->sasl_mech = (uint8_t)m;
    c->sasl_raw = r->req.h.version == 0;
    if (m != BK_KSASL_PLAIN && !(c->scram = malloc(sizeof *c->scram))) {
        r->out.bad = 1; /* closes the connection */
    } else if (m != BK_KSASL_PLAIN) {
        bk_scram_server_init(
            c->scram, m == BK_KSASL_SCRAM_SHA512 ? BK_SCRAM_SHA512 : BK_SCRAM_SHA256, lookup, c);
    }
    bk_kreq_finish(r);
}

void bk_khandle_sasl_authenticate(bk_kafka_t *k, bk_kreq_t *r)
{
    bk_kconn_t *c = r->conn;
    if (!k->deps.auth || c->sasl_state != BK_KCONN_MECH) {
        fail(r, BK_KERR_ILLEGAL_SASL_STATE,
             !k->deps.auth ? "authentication is off on this broker (no --users-file)"
             : c->sasl_state == BK_KCONN_DONE ? "already authenticated (re-authentication is "
                                                "not supported)"
                                              : "SaslAuthenticate before SaslHandshake");
        return;
    }
    bk_kslice_t t = r->req.u.sasl_authenticate.auth_bytes;
    uint8_t *token = t.len > 0 ? r->frame + (t.ptr - r->frame) : r->frame; /* ours to wipe */
    exchange(k, r, token, t.len > 0 ? (size_t)t.len : 0);
}

void bk_ksasl_raw_token(bk_kafka_t *k, bk_kreq_t *r)
{
    if (r->conn->sasl_state != BK_KCONN_MECH) { /* a frame while a PLAIN check runs */
        bk_kconn_close(r->conn, "SASL token before the previous one was answered");
        bk_kreq_finish(r);
        return;
    }
    exchange(k, r, r->frame, r->frame_len);
}
