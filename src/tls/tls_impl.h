/* The TLS layer's private state, shared by context.c and tls.c only. */
#ifndef BROOK_TLS_IMPL_H
#define BROOK_TLS_IMPL_H

#include <openssl/ssl.h>

#include "brook/tls.h"

struct bk_tls_ctx {
    SSL_CTX *ssl; /* the context new connections are made from; replaced by a reload */
    int server;
    char *cert_path, *key_path, *ca_path; /* copies, read again by a reload */
    bk_tls_client_auth_t client_auth;
    unsigned char alpn[64]; /* wire format: length-prefixed names */
    unsigned alpn_len;
};

#endif
