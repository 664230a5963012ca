/* Test certificates made in-process: a CA, a server certificate for localhost / 127.0.0.1 and
 * a client certificate (CN "alice"), written as PEM files into a fresh temp directory, plus a
 * pump that moves ciphertext between two in-memory endpoints. Header-only, for the TLS unit
 * tests and the TLS fuzz target. */
#ifndef BROOK_TEST_TLS_FIXTURE_H
#define BROOK_TEST_TLS_FIXTURE_H

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brook/tls.h"

typedef struct {
    char dir[64];
    char ca[128], server_cert[128], server_key[128], client_cert[128], client_key[128];
    char other_ca[128]; /* a CA that signed nothing here */
} tls_fixture_t;

static void fx_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext || !X509_add_ext(cert, ext, -1))
        abort();
    X509_EXTENSION_free(ext);
}

/* A certificate for key named cn, signed by (issuer, issuer_key), or self-signed when NULL. */
static X509 *fx_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                     const char *san, long serial)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 30);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(x, key);
    X509 *self = issuer ? issuer : x;
    if (!issuer) {
        fx_ext(x, self, NID_basic_constraints, "critical,CA:TRUE");
        fx_ext(x, self, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        fx_ext(x, self, NID_basic_constraints, "CA:FALSE");
    }
    fx_ext(x, self, NID_subject_key_identifier, "hash");
    if (san)
        fx_ext(x, self, NID_subject_alt_name, san);
    if (!X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()))
        abort();
    return x;
}

static void fx_write(const char *path, X509 *cert, EVP_PKEY *key)
{
    FILE *f = fopen(path, "w");
    if (!f || (cert && !PEM_write_X509(f, cert)) ||
        (key && !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)))
        abort();
    fclose(f);
}

static void fx_setup(tls_fixture_t *fx)
{
    snprintf(fx->dir, sizeof fx->dir, "/tmp/brook-tls-XXXXXX");
    if (!mkdtemp(fx->dir))
        abort();
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *srv_key = EVP_EC_gen("P-256");
    EVP_PKEY *cli_key = EVP_EC_gen("P-256"), *other_key = EVP_EC_gen("P-256");
    X509 *ca = fx_cert(ca_key, "brook test CA", NULL, NULL, NULL, 1);
    X509 *other = fx_cert(other_key, "some other CA", NULL, NULL, NULL, 2);
    X509 *srv = fx_cert(srv_key, "localhost", ca, ca_key, "DNS:localhost,IP:127.0.0.1", 3);
    X509 *cli = fx_cert(cli_key, "alice", ca, ca_key, NULL, 4);
#define FX_PATH(field, name) snprintf(fx->field, sizeof fx->field, "%s/" name, fx->dir)
    FX_PATH(ca, "ca.pem");
    FX_PATH(other_ca, "other-ca.pem");
    FX_PATH(server_cert, "server.pem");
    FX_PATH(server_key, "server.key");
    FX_PATH(client_cert, "client.pem");
    FX_PATH(client_key, "client.key");
#undef FX_PATH
    fx_write(fx->ca, ca, NULL);
    fx_write(fx->other_ca, other, NULL);
    fx_write(fx->server_cert, srv, NULL);
    fx_write(fx->server_key, NULL, srv_key);
    fx_write(fx->client_cert, cli, NULL);
    fx_write(fx->client_key, NULL, cli_key);
    X509_free(ca);
    X509_free(other);
    X509_free(srv);
    X509_free(cli);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(srv_key);
    EVP_PKEY_free(cli_key);
    EVP_PKEY_free(other_key);
}

static void fx_teardown(tls_fixture_t *fx)
{
    const char *files[] = {fx->ca,         fx->other_ca,    fx->server_cert,
                           fx->server_key, fx->client_cert, fx->client_key};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(files[i]);
    rmdir(fx->dir);
}

/* Moves all of a's output into b's input; returns the bytes moved. */
static size_t fx_move(bk_tls_t *a, bk_tls_t *b)
{
    char buf[4096];
    size_t total = 0, n;
    while ((n = bk_tls_out_take(a, buf, sizeof buf)) > 0) {
        if (bk_tls_feed(b, buf, n))
            abort();
        total += n;
    }
    return total;
}

#endif
