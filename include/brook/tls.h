/* TLS as a byte transformer between a socket and a parser: ciphertext from the network goes in
 * (bk_tls_feed), plaintext comes out (bk_tls_read); plaintext to send goes in (bk_tls_write),
 * ciphertext for the network comes out (bk_tls_out_take). It never touches a socket, a loop or
 * a clock, so two endpoints can be pumped into each other in memory (tests, fuzzing).
 * OpenSSL 3 behind memory BIOs; TLS 1.2 and 1.3 only, no renegotiation.
 *
 * Ownership: a context is shared by the connections made from it (each SSL holds a reference
 * to the OpenSSL context it was made with, so a reload swaps the context for new connections
 * while old ones finish on the old one). The caller frees each bk_tls_t with bk_tls_free and
 * the context with bk_tls_ctx_free once no bk_tls_new can follow. */
#ifndef BROOK_TLS_H
#define BROOK_TLS_H

#include <stddef.h>

typedef enum {
    BK_TLS_CLIENT_AUTH_NONE = 0, /* no certificate asked for */
    BK_TLS_CLIENT_AUTH_OPTIONAL, /* asked for; one that is sent must verify against ca_path */
    BK_TLS_CLIENT_AUTH_REQUIRED, /* a verified certificate or no handshake */
} bk_tls_client_auth_t;

typedef struct {
    const char *cert_path; /* PEM chain; a server needs it, a client may present it */
    const char *key_path;  /* PEM private key of cert_path */
    const char *ca_path;   /* PEM CA bundle: a client verifies its server against it, a server
                              its clients' certificates; NULL = nothing verified */
    bk_tls_client_auth_t client_auth; /* server only */
    const char *alpn;                 /* protocol a server selects ("http/1.1") or a client
                                         offers; NULL = none */
} bk_tls_config_t;

typedef struct bk_tls_ctx bk_tls_ctx_t;
typedef struct bk_tls bk_tls_t;

/* A server or client context. Returns 0, or a negative error with a sentence in err. */
int bk_tls_ctx_new_server(const bk_tls_config_t *cfg, bk_tls_ctx_t **out, char *err, size_t errlen);
int bk_tls_ctx_new_client(const bk_tls_config_t *cfg, bk_tls_ctx_t **out, char *err, size_t errlen);
/* Reads the certificate, key and CA files again into a new OpenSSL context for the
 * connections made after it (session ticket keys carry over). On any error the context in
 * force stays and err says why. */
int bk_tls_ctx_reload(bk_tls_ctx_t *ctx, char *err, size_t errlen);
void bk_tls_ctx_free(bk_tls_ctx_t *ctx);

/* One connection. peer_host (client only, may be NULL on a server): the name or IP literal the
 * server's certificate must carry; resume (client only, may be NULL): a session to offer (see
 * bk_tls_session_get; not taken over). A client's first flight is ready in the output at once. */
typedef struct bk_tls_session bk_tls_session_t;
int bk_tls_new(bk_tls_ctx_t *ctx, const char *peer_host, bk_tls_session_t *resume, bk_tls_t **out);
void bk_tls_free(bk_tls_t *t);

/* Ciphertext from the network (copied). 0 or UV_ENOMEM. */
int bk_tls_feed(bk_tls_t *t, const void *data, size_t len);

/* Plaintext decrypted so far, up to cap bytes, into buf; *got = 0 when more input is needed.
 * Drives the handshake first. Returns 0, UV_EOF once the peer's close_notify arrived, or
 * UV_EPROTO when the peer broke the protocol (bk_tls_error says how; any alert is already
 * in the output). Output may be produced too: flush it after every call. */
int bk_tls_read(bk_tls_t *t, char *buf, size_t cap, size_t *got);

/* Plaintext to send. Before the handshake is done it waits inside and is encrypted when the
 * handshake completes. 0, UV_ENOMEM or UV_EPROTO. */
int bk_tls_write(bk_tls_t *t, const void *data, size_t len);

/* The same for several pieces, sent as if concatenated: pieces together under one record's
 * 16 KB are sealed into one record (pipelined answers queued together), larger ones alone. */
typedef struct {
    const void *base;
    size_t len;
} bk_tls_iov_t;
int bk_tls_writev(bk_tls_t *t, const bk_tls_iov_t *iov, size_t n);

/* Gives the record buffers (about 34 KB) back while the connection is idle; they are
 * allocated again by the next read or write. A connection with buffered data keeps them. */
void bk_tls_release_buffers(bk_tls_t *t);

/* Queues close_notify (after the handshake only; idempotent). */
void bk_tls_close(bk_tls_t *t);

/* Ciphertext waiting for the network, and taking up to cap bytes of it. */
size_t bk_tls_out_pending(const bk_tls_t *t);
size_t bk_tls_out_take(bk_tls_t *t, void *buf, size_t cap);

int bk_tls_handshake_done(const bk_tls_t *t);
/* The common name of the peer's verified certificate, or NULL (none, or not verified). */
const char *bk_tls_peer_name(const bk_tls_t *t);
/* The negotiated ALPN protocol ("" if none), version ("TLSv1.3") and whether the session was
 * resumed. */
const char *bk_tls_alpn(const bk_tls_t *t);
const char *bk_tls_version(const bk_tls_t *t);
int bk_tls_resumed(const bk_tls_t *t);
/* The first error seen, for traces ("" if none). */
const char *bk_tls_error(const bk_tls_t *t);

/* Client session resumption: the session of a connection that exchanged data (a new reference,
 * NULL when there is none worth resuming), to give to a later bk_tls_new; freed by the caller. */
bk_tls_session_t *bk_tls_session_get(const bk_tls_t *t);
void bk_tls_session_free(bk_tls_session_t *s);

#endif
