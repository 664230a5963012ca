/* Fuzz target for what a client controls before it is anyone: the bytes reaching the server
 * side of the TLS layer. Byte 0 picks a split length (pieces fed one at a time, reading after
 * each, as a socket would deliver them) and whether a genuine ClientHello goes first (so the
 * fuzzer also reaches the states after it). Beyond "no crash, no leak": the server never hands
 * out more plaintext than it was given ciphertext, and what it queues for the network stays
 * bounded (a handshake flight, an alert), whatever it was fed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../unit/tls/tls_fixture.h"
#include "brook/tls.h"

static tls_fixture_t fx;
static bk_tls_ctx_t *server, *client;

static void teardown(void)
{
    bk_tls_ctx_free(server);
    bk_tls_ctx_free(client);
    fx_teardown(&fx);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fx_setup(&fx);
    bk_tls_config_t scfg = {fx.server_cert, fx.server_key, fx.ca, BK_TLS_CLIENT_AUTH_OPTIONAL,
                            "http/1.1"};
    bk_tls_config_t ccfg = {NULL, NULL, fx.ca, BK_TLS_CLIENT_AUTH_NONE, "http/1.1"};
    char err[300];
    if (bk_tls_ctx_new_server(&scfg, &server, err, sizeof err) ||
        bk_tls_ctx_new_client(&ccfg, &client, err, sizeof err))
        abort();
    atexit(teardown);
    return 0;
}

/* Feeds one piece and reads everything; returns 1 once the session is over. */
static int step(bk_tls_t *s, const uint8_t *p, size_t n, size_t *plain)
{
    static char buf[1 << 16];
    if (bk_tls_feed(s, p, n))
        abort();
    int rc;
    size_t got;
    do {
        rc = bk_tls_read(s, buf, sizeof buf, &got);
        *plain += got;
    } while (rc == 0 && got > 0);
    if (bk_tls_out_pending(s) > (1 << 16))
        abort();
    char sink[4096];
    while (bk_tls_out_take(s, sink, sizeof sink) > 0) {
    }
    return rc != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t split = (size_t)(data[0] >> 1) + 1;
    int hello_first = data[0] & 1;
    data++;
    size--;
    bk_tls_t *s = NULL;
    if (bk_tls_new(server, NULL, NULL, &s))
        return 0;
    size_t plain = 0, fed = 0;
    int over = 0;
    if (hello_first) {
        bk_tls_t *c = NULL;
        if (bk_tls_new(client, "127.0.0.1", NULL, &c) == 0) {
            static uint8_t hello[1 << 14];
            size_t n = bk_tls_out_take(c, hello, sizeof hello);
            over = step(s, hello, n, &plain);
            bk_tls_free(c);
        }
    }
    for (size_t off = 0; off < size && !over; off += split) {
        size_t n = size - off < split ? size - off : split;
        over = step(s, data + off, n, &plain);
        fed += n;
    }
    if (plain > fed)
        abort();
    bk_tls_close(s);
    bk_tls_free(s);
    return 0;
}
