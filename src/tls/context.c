/* TLS contexts: the OpenSSL settings every connection of a listener (or of the HTTP client)
 * shares, built from certificate, key and CA files. A reload builds a complete new context
 * beside the one in force and swaps it in only when every file loaded; it never leaves a
 * half-configured context in use. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "brook/common.h"
#include "tls/tls_impl.h"

#define SESSION_CONTEXT "brook"

/* "what: OpenSSL's reason" into err; returns BK_EINVAL. */
static int explain(char *err, size_t errlen, const char *what, const char *path)
{
    char reason[200] = "unknown error";
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    if (err && errlen)
        snprintf(err, errlen, "%s %s: %s", what, path ? path : "", reason);
    return BK_EINVAL;
}

static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    const bk_tls_ctx_t *c = arg;
    unsigned char *chosen = NULL;
    if (SSL_select_next_proto(&chosen, outlen, c->alpn, c->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol (RFC 7301 §3.2) */
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

static int load_identity(SSL_CTX *s, const bk_tls_ctx_t *c, char *err, size_t errlen)
{
    if (!c->cert_path)
        return 0;
    if (SSL_CTX_use_certificate_chain_file(s, c->cert_path) != 1)
        return explain(err, errlen, "cannot load the certificate", c->cert_path);
    if (SSL_CTX_use_PrivateKey_file(s, c->key_path, SSL_FILETYPE_PEM) != 1)
        return explain(err, errlen, "cannot load the private key", c->key_path);
    if (SSL_CTX_check_private_key(s) != 1)
        return explain(err, errlen, "the private key does not match the certificate", c->key_path);
    return 0;
}

static int load_verify(SSL_CTX *s, const bk_tls_ctx_t *c, char *err, size_t errlen)
{
    int mode = SSL_VERIFY_NONE;
    if (c->ca_path && SSL_CTX_load_verify_locations(s, c->ca_path, NULL) != 1)
        return explain(err, errlen, "cannot load the CA file", c->ca_path);
    if (!c->server) {
        mode = c->ca_path ? SSL_VERIFY_PEER : SSL_VERIFY_NONE;
    } else if (c->client_auth != BK_TLS_CLIENT_AUTH_NONE) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(c->ca_path);
        if (!names)
            return explain(err, errlen, "cannot read CA names from", c->ca_path);
        SSL_CTX_set_client_CA_list(s, names);
        mode = SSL_VERIFY_PEER;
        if (c->client_auth == BK_TLS_CLIENT_AUTH_REQUIRED)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    SSL_CTX_set_verify(s, mode, NULL);
    return 0;
}

/* A complete OpenSSL context for c's files, or NULL with err filled. */
static SSL_CTX *build(const bk_tls_ctx_t *c, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *s = SSL_CTX_new(c->server ? TLS_server_method() : TLS_client_method());
    if (!s) {
        explain(err, errlen, "cannot create a TLS context", NULL);
        return NULL;
    }
    (void)SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
    SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* No SSL_MODE_RELEASE_BUFFERS: with it every record allocates and frees its 16 KB
     * buffers (four 17 KB mallocs per HTTPS request). Idle connections give them back through
     * bk_tls_release_buffers instead, from the servers' timeout sweeps. */
    SSL_CTX_clear_mode(s, SSL_MODE_RELEASE_BUFFERS);
    if (load_identity(s, c, err, errlen) || load_verify(s, c, err, errlen))
        goto fail;
    if (c->server) {
        /* needed for resumption once client certificates are verified */
        if (SSL_CTX_set_session_id_context(s, (const unsigned char *)SESSION_CONTEXT,
                                           sizeof SESSION_CONTEXT - 1) != 1)
            goto fail_ssl;
        if (c->alpn_len)
            SSL_CTX_set_alpn_select_cb(s, select_alpn, (void *)c);
    } else if (c->alpn_len && SSL_CTX_set_alpn_protos(s, c->alpn, c->alpn_len) != 0) {
        goto fail_ssl;
    }
    return s;
fail_ssl:
    explain(err, errlen, "cannot configure the TLS context", NULL);
fail:
    SSL_CTX_free(s);
    return NULL;
}

static char *dup_or_null(const char *s, int *oom)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *oom = 1;
    return d;
}

static int ctx_new(const bk_tls_config_t *cfg, int server, bk_tls_ctx_t **out, char *err,
                   size_t errlen)
{
    if ((server && !cfg->cert_path) || !cfg->cert_path != !cfg->key_path) {
        snprintf(err, errlen, "a certificate needs its key (and a key its certificate)");
        return BK_EINVAL;
    }
    if (server && cfg->client_auth != BK_TLS_CLIENT_AUTH_NONE && !cfg->ca_path) {
        snprintf(err, errlen, "client certificates need a CA file to verify them");
        return BK_EINVAL;
    }
    size_t alen = cfg->alpn ? strlen(cfg->alpn) : 0;
    bk_tls_ctx_t *c = calloc(1, sizeof *c);
    if (!c || alen > sizeof c->alpn - 1) {
        free(c);
        snprintf(err, errlen, "%s", c ? "ALPN name too long" : "out of memory");
        return c ? BK_EINVAL : UV_ENOMEM;
    }
    int oom = 0;
    c->server = server;
    c->client_auth = cfg->client_auth;
    c->cert_path = dup_or_null(cfg->cert_path, &oom);
    c->key_path = dup_or_null(cfg->key_path, &oom);
    c->ca_path = dup_or_null(cfg->ca_path, &oom);
    if (alen) {
        c->alpn[0] = (unsigned char)alen;
        memcpy(c->alpn + 1, cfg->alpn, alen);
        c->alpn_len = (unsigned)alen + 1;
    }
    if (!oom)
        c->ssl = build(c, err, errlen);
    else
        snprintf(err, errlen, "out of memory");
    if (!c->ssl) {
        bk_tls_ctx_free(c);
        return oom ? UV_ENOMEM : BK_EINVAL;
    }
    *out = c;
    return 0;
}

int bk_tls_ctx_new_server(const bk_tls_config_t *cfg, bk_tls_ctx_t **out, char *err, size_t errlen)
{
    return ctx_new(cfg, 1, out, err, errlen);
}

int bk_tls_ctx_new_client(const bk_tls_config_t *cfg, bk_tls_ctx_t **out, char *err, size_t errlen)
{
    return ctx_new(cfg, 0, out, err, errlen);
}

/* Tickets issued before a reload stay resumable after it. */
static void carry_ticket_keys(SSL_CTX *from, SSL_CTX *to)
{
    unsigned char keys[128];
    long n = SSL_CTX_ctrl(from, SSL_CTRL_GET_TLSEXT_TICKET_KEYS, 0, NULL);
    if (n <= 0 || (size_t)n > sizeof keys ||
        SSL_CTX_ctrl(from, SSL_CTRL_GET_TLSEXT_TICKET_KEYS, n, keys) != 1 ||
        SSL_CTX_ctrl(to, SSL_CTRL_SET_TLSEXT_TICKET_KEYS, n, keys) != 1)
        bk_trace_debug("tls", "ticket keys not carried over: old tickets need a full handshake");
    OPENSSL_cleanse(keys, sizeof keys);
    ERR_clear_error();
}

int bk_tls_ctx_reload(bk_tls_ctx_t *ctx, char *err, size_t errlen)
{
    SSL_CTX *fresh = build(ctx, err, errlen);
    if (!fresh)
        return BK_EINVAL;
    if (ctx->server)
        carry_ticket_keys(ctx->ssl, fresh);
    SSL_CTX_free(ctx->ssl); /* connections made from it hold their own reference */
    ctx->ssl = fresh;
    return 0;
}

void bk_tls_ctx_free(bk_tls_ctx_t *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ssl);
    free(ctx->cert_path);
    free(ctx->key_path);
    free(ctx->ca_path);
    free(ctx);
}
