/* One TLS connection over two memory BIOs: `in` holds ciphertext the network delivered and
 * OpenSSL has not consumed, `out` ciphertext OpenSSL produced and the network has not taken.
 * Nothing here blocks or touches a socket; the caller moves bytes between these buffers and
 * its socket and must flush the output after every call (handshake messages, tickets and
 * alerts appear there while reading). An error is sticky: once failed, always failed.
 *
 * Cost per request matters here (every HTTPS request passes twice): OpenSSL is called only
 * when it has something to do (no read is attempted without ciphertext or buffered records),
 * the error queue is emptied only when it holds something, and answers queued together are
 * sealed into as few records as fit. */
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "brook/common.h"
#include "tls/tls_impl.h"

#define PEER_NAME_MAX 64 /* X.509 upper bound for a common name */
#define RECORD_MAX 16384 /* plaintext in one TLS record (RFC 8446 §5.1) */

struct bk_tls {
    SSL *ssl;
    BIO *in, *out;
    char *early; /* plaintext written before the handshake finished */
    size_t early_len, early_cap;
    unsigned done : 1;        /* handshake complete */
    unsigned failed : 1;      /* protocol error: nothing more in or out */
    unsigned closed : 1;      /* our close_notify is queued */
    unsigned peer_closed : 1; /* the peer's close_notify arrived */
    char peer[PEER_NAME_MAX + 1];
    char alpn[32];
    char err[200];
};

/* SSL_get_error classifies a failed call by the thread's error queue, which must be empty
 * before the call (SSL_get_error(3)); it looks at the queue with ERR_peek_error, so a queue
 * where that finds nothing is as good as a cleared one, and checking costs a sixth of
 * clearing. Called before every SSL I/O call whose failure is classified. */
static void errors_empty(void)
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

/* Records why t failed (the first reason only) and returns UV_EPROTO. */
static int fail(bk_tls_t *t)
{
    if (!t->failed) {
        t->failed = 1;
        long v = SSL_get_verify_result(t->ssl);
        unsigned long e = ERR_peek_last_error();
        if (v != X509_V_OK)
            snprintf(t->err, sizeof t->err, "certificate verification failed: %s",
                     X509_verify_cert_error_string(v));
        else if (e)
            ERR_error_string_n(e, t->err, sizeof t->err);
        else
            snprintf(t->err, sizeof t->err, "the peer broke off the TLS session");
    }
    ERR_clear_error();
    return UV_EPROTO;
}

static int set_peer_host(bk_tls_t *t, const char *host)
{
    X509_VERIFY_PARAM *p = SSL_get0_param(t->ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(p, host) == 1) /* an IP literal: matched as an address */
        return 0;
    ERR_clear_error();
    if (SSL_set1_host(t->ssl, host) != 1 || SSL_set_tlsext_host_name(t->ssl, host) != 1)
        return UV_ENOMEM;
    return 0;
}

static void note_peer(bk_tls_t *t)
{
    X509 *cert = SSL_get0_peer_certificate(t->ssl);
    if (cert && SSL_get_verify_result(t->ssl) == X509_V_OK) {
        int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, t->peer,
                                          sizeof t->peer);
        if (n <= 0 || (size_t)n != strlen(t->peer)) /* none, or a NUL inside: no name */
            t->peer[0] = 0;
    }
    const unsigned char *proto = NULL;
    unsigned len = 0;
    SSL_get0_alpn_selected(t->ssl, &proto, &len);
    if (proto && len < sizeof t->alpn) {
        memcpy(t->alpn, proto, len);
        t->alpn[len] = 0;
    }
}

static int write_all(bk_tls_t *t, const char *data, size_t len)
{
    while (len) {
        size_t n = 0;
        errors_empty();
        if (SSL_write_ex(t->ssl, data, len > INT_MAX ? INT_MAX : len, &n) != 1)
            return fail(t);
        data += n;
        len -= n;
    }
    return 0;
}

/* One handshake step; 0 (done or waiting for input) or UV_EPROTO. */
static int handshake(bk_tls_t *t)
{
    errors_empty();
    int rc = SSL_do_handshake(t->ssl);
    if (rc != 1) {
        int e = SSL_get_error(t->ssl, rc);
        return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : fail(t);
    }
    t->done = 1;
    note_peer(t);
    int err = t->early_len ? write_all(t, t->early, t->early_len) : 0;
    free(t->early);
    t->early = NULL;
    t->early_len = t->early_cap = 0;
    return err;
}

int bk_tls_new(bk_tls_ctx_t *ctx, const char *peer_host, bk_tls_session_t *resume, bk_tls_t **out)
{
    bk_tls_t *t = calloc(1, sizeof *t);
    if (!t)
        return UV_ENOMEM;
    ERR_clear_error();
    t->ssl = SSL_new(ctx->ssl);
    t->in = BIO_new(BIO_s_mem());
    t->out = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->in || !t->out) {
        BIO_free(t->in);
        BIO_free(t->out);
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return UV_ENOMEM;
    }
    BIO_set_mem_eof_return(t->in, -1);  /* empty means "more later", not end of stream */
    SSL_set_bio(t->ssl, t->in, t->out); /* the SSL owns both BIOs now */
    int err = 0;
    if (ctx->server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        if (peer_host)
            err = set_peer_host(t, peer_host);
        if (!err && resume && SSL_set_session(t->ssl, (SSL_SESSION *)(void *)resume) != 1)
            ERR_clear_error(); /* not resumable here: a full handshake then */
        if (!err)
            err = handshake(t); /* the ClientHello */
    }
    if (err) {
        bk_tls_free(t);
        return err;
    }
    *out = t;
    return 0;
}

void bk_tls_free(bk_tls_t *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    free(t->early);
    free(t);
    ERR_clear_error();
}

int bk_tls_feed(bk_tls_t *t, const void *data, size_t len)
{
    while (len) {
        int chunk = len > INT_MAX ? INT_MAX : (int)len;
        int n = BIO_write(t->in, data, chunk);
        if (n <= 0)
            return UV_ENOMEM;
        data = (const char *)data + n;
        len -= (size_t)n;
    }
    return 0;
}

int bk_tls_read(bk_tls_t *t, char *buf, size_t cap, size_t *got)
{
    *got = 0;
    if (t->failed)
        return UV_EPROTO;
    if (t->peer_closed)
        return UV_EOF;
    if (!t->done) {
        int rc = handshake(t);
        if (rc || !t->done)
            return rc;
    }
    /* without new ciphertext or buffered records a read can only want more: not attempted */
    while (*got < cap && (BIO_ctrl_pending(t->in) > 0 || SSL_has_pending(t->ssl))) {
        size_t n = 0;
        errors_empty();
        if (SSL_read_ex(t->ssl, buf + *got, cap - *got, &n) == 1) {
            *got += n;
            continue;
        }
        int e = SSL_get_error(t->ssl, 0);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        if (e == SSL_ERROR_ZERO_RETURN)
            t->peer_closed = 1;
        else
            fail(t);
        /* what arrived before the close or error is handed over first */
        return *got ? 0 : (t->peer_closed ? UV_EOF : UV_EPROTO);
    }
    return 0;
}

int bk_tls_write(bk_tls_t *t, const void *data, size_t len)
{
    if (t->failed || t->closed)
        return UV_EPROTO;
    if (t->done)
        return write_all(t, data, len);
    if (bk_grow(&t->early, &t->early_cap, t->early_len, len, 1, 1024))
        return UV_ENOMEM;
    memcpy(t->early + t->early_len, data, len);
    t->early_len += len;
    return 0;
}

int bk_tls_writev(bk_tls_t *t, const bk_tls_iov_t *iov, size_t n)
{
    char rec[RECORD_MAX]; /* small pieces gathered into one record */
    size_t used = 0;
    int err = 0;
    for (size_t i = 0; i < n && !err; i++) {
        if (used && used + iov[i].len > sizeof rec) { /* does not fit: seal what is gathered */
            err = bk_tls_write(t, rec, used);
            used = 0;
        }
        if (iov[i].len >= sizeof rec) { /* a record (or more) of its own, not copied */
            err = err ? err : bk_tls_write(t, iov[i].base, iov[i].len);
            continue;
        }
        memcpy(rec + used, iov[i].base, iov[i].len);
        used += iov[i].len;
    }
    return err ? err : used ? bk_tls_write(t, rec, used) : 0;
}

void bk_tls_release_buffers(bk_tls_t *t)
{
    if (t->done && !t->failed)
        (void)SSL_free_buffers(t->ssl); /* 0 = a buffer holds data: kept, nothing lost */
}

void bk_tls_close(bk_tls_t *t)
{
    if (!t->done || t->failed || t->closed)
        return;
    t->closed = 1;
    ERR_clear_error();
    (void)SSL_shutdown(t->ssl); /* queues close_notify; the peer's need not be waited for */
    ERR_clear_error();
}

size_t bk_tls_out_pending(const bk_tls_t *t)
{
    return BIO_ctrl_pending(t->out);
}

size_t bk_tls_out_take(bk_tls_t *t, void *buf, size_t cap)
{
    int n = BIO_read(t->out, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    return n > 0 ? (size_t)n : 0;
}

int bk_tls_handshake_done(const bk_tls_t *t)
{
    return t->done;
}

const char *bk_tls_peer_name(const bk_tls_t *t)
{
    return t->peer[0] ? t->peer : NULL;
}

const char *bk_tls_alpn(const bk_tls_t *t)
{
    return t->alpn;
}

const char *bk_tls_version(const bk_tls_t *t)
{
    return SSL_get_version(t->ssl);
}

int bk_tls_resumed(const bk_tls_t *t)
{
    return SSL_session_reused(t->ssl) == 1;
}

const char *bk_tls_error(const bk_tls_t *t)
{
    return t->err;
}

bk_tls_session_t *bk_tls_session_get(const bk_tls_t *t)
{
    if (!t->done || t->failed)
        return NULL;
    /* a copy: OpenSSL marks a connection's own session unresumable when the connection is
     * freed without a close_notify exchange, which is how most of ours end */
    SSL_SESSION *s = SSL_get0_session(t->ssl);
    SSL_SESSION *copy = s && SSL_SESSION_is_resumable(s) == 1 ? SSL_SESSION_dup(s) : NULL;
    ERR_clear_error();
    return (bk_tls_session_t *)(void *)copy;
}

void bk_tls_session_free(bk_tls_session_t *s)
{
    SSL_SESSION_free((SSL_SESSION *)(void *)s);
}
