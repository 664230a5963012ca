/* The TLS layer with two in-memory endpoints pumping ciphertext into each other: handshakes
 * (ALPN, versions, verification of server and client certificates), data both ways with any
 * split, close_notify, garbage instead of a handshake, session resumption, and a reload that
 * keeps the old certificate when the new file is bad. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "brook/common.h"
#include "brook/tls.h"
#include "check.h"
#include "tls/tls_impl.h"
#include "tls_fixture.h"

static tls_fixture_t fx;

typedef struct {
    bk_tls_t *c, *s;
    int crc, src; /* last read result of each side */
    char cbuf[1 << 16], sbuf[1 << 16];
    size_t clen, slen; /* plaintext each side received */
} pair_t;

static bk_tls_ctx_t *server_ctx(bk_tls_client_auth_t auth)
{
    bk_tls_config_t cfg = {fx.server_cert, fx.server_key, auth ? fx.ca : NULL, auth, "http/1.1"};
    bk_tls_ctx_t *ctx = NULL;
    char err[300];
    int rc = bk_tls_ctx_new_server(&cfg, &ctx, err, sizeof err);
    if (rc)
        fprintf(stderr, "  server ctx: %s\n", err);
    return ctx;
}

static bk_tls_ctx_t *client_ctx(const char *ca, int with_cert)
{
    bk_tls_config_t cfg = {with_cert ? fx.client_cert : NULL, with_cert ? fx.client_key : NULL, ca,
                           BK_TLS_CLIENT_AUTH_NONE, "http/1.1"};
    bk_tls_ctx_t *ctx = NULL;
    char err[300];
    if (bk_tls_ctx_new_client(&cfg, &ctx, err, sizeof err))
        fprintf(stderr, "  client ctx: %s\n", err);
    return ctx;
}

static void drain(bk_tls_t *t, char *buf, size_t *len, int *rc)
{
    size_t got;
    do {
        got = 0;
        *rc = bk_tls_read(t, buf + *len, (1 << 16) - *len, &got);
        *len += got;
    } while (*rc == 0 && got > 0 && *len < (1 << 16));
}

/* Pumps until nothing moves (or one side failed). */
static void pump(pair_t *p)
{
    for (int round = 0; round < 50; round++) {
        size_t moved = fx_move(p->c, p->s);
        drain(p->s, p->sbuf, &p->slen, &p->src);
        moved += fx_move(p->s, p->c);
        drain(p->c, p->cbuf, &p->clen, &p->crc);
        if (!moved)
            return;
    }
}

static pair_t *connect_pair(bk_tls_ctx_t *sc, bk_tls_ctx_t *cc, const char *host,
                            bk_tls_session_t *resume)
{
    pair_t *p = calloc(1, sizeof *p);
    CHECK_EQ_INT(bk_tls_new(sc, NULL, NULL, &p->s), 0);
    CHECK_EQ_INT(bk_tls_new(cc, host, resume, &p->c), 0);
    CHECK(bk_tls_out_pending(p->c) > 0); /* the ClientHello is ready at once */
    pump(p);
    return p;
}

static void pair_free(pair_t *p)
{
    bk_tls_free(p->c);
    bk_tls_free(p->s);
    free(p);
}

static void handshake_and_data(void)
{
    bk_tls_ctx_t *sc = server_ctx(BK_TLS_CLIENT_AUTH_NONE), *cc = client_ctx(fx.ca, 0);
    pair_t *p = calloc(1, sizeof *p);
    CHECK_EQ_INT(bk_tls_new(sc, NULL, NULL, &p->s), 0);
    CHECK_EQ_INT(bk_tls_new(cc, "127.0.0.1", NULL, &p->c), 0);
    /* written before the handshake: leaves once it is done */
    CHECK_EQ_INT(bk_tls_write(p->c, "GET / HTTP/1.1\r\n\r\n", 18), 0);
    pump(p);
    CHECK(bk_tls_handshake_done(p->c) && bk_tls_handshake_done(p->s));
    CHECK_EQ_STR(bk_tls_alpn(p->s), "http/1.1");
    CHECK_EQ_STR(bk_tls_alpn(p->c), "http/1.1");
    CHECK_EQ_STR(bk_tls_version(p->s), "TLSv1.3");
    CHECK(bk_tls_peer_name(p->s) == NULL); /* no client certificate asked for */
    CHECK_EQ_STR(bk_tls_peer_name(p->c), "localhost");
    CHECK_EQ_INT(p->slen, 18);
    CHECK_MEM(p->sbuf, "GET / HTTP/1.1\r\n\r\n", 18);
    /* a large answer, fed to the client one odd-sized piece at a time */
    static char big[40000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    CHECK_EQ_INT(bk_tls_write(p->s, big, sizeof big), 0);
    char wire[1 << 17];
    size_t n = bk_tls_out_take(p->s, wire, sizeof wire), got = 0;
    CHECK(n > sizeof big);
    for (size_t off = 0; off < n; off += 777) {
        size_t piece = n - off < 777 ? n - off : 777, g = 0;
        CHECK_EQ_INT(bk_tls_feed(p->c, wire + off, piece), 0);
        CHECK_EQ_INT(bk_tls_read(p->c, p->cbuf + got, sizeof p->cbuf - got, &g), 0);
        got += g;
    }
    CHECK_EQ_INT(got, sizeof big);
    CHECK_MEM(p->cbuf, big, sizeof big);
    /* close_notify: the server reads UV_EOF, and keeps reading UV_EOF */
    bk_tls_close(p->c);
    fx_move(p->c, p->s);
    size_t g = 0;
    CHECK_EQ_INT(bk_tls_read(p->s, p->sbuf, sizeof p->sbuf, &g), UV_EOF);
    CHECK_EQ_INT(bk_tls_read(p->s, p->sbuf, sizeof p->sbuf, &g), UV_EOF);
    pair_free(p);
    bk_tls_ctx_free(sc);
    bk_tls_ctx_free(cc);
}

static void byte_by_byte_handshake(void)
{
    bk_tls_ctx_t *sc = server_ctx(BK_TLS_CLIENT_AUTH_NONE), *cc = client_ctx(fx.ca, 0);
    bk_tls_t *s, *c;
    CHECK_EQ_INT(bk_tls_new(sc, NULL, NULL, &s), 0);
    CHECK_EQ_INT(bk_tls_new(cc, "localhost", NULL, &c), 0);
    CHECK_EQ_INT(bk_tls_write(c, "ping", 4), 0);
    char buf[64], one;
    size_t got = 0, g;
    for (int round = 0; round < 20 && got < 4; round++) {
        while (bk_tls_out_take(c, &one, 1) == 1) {
            CHECK_EQ_INT(bk_tls_feed(s, &one, 1), 0);
            CHECK_EQ_INT(bk_tls_read(s, buf + got, sizeof buf - got, &g), 0);
            got += g;
        }
        while (bk_tls_out_take(s, &one, 1) == 1) {
            CHECK_EQ_INT(bk_tls_feed(c, &one, 1), 0);
            CHECK_EQ_INT(bk_tls_read(c, buf, sizeof buf, &g), 0);
        }
    }
    CHECK_EQ_INT(got, 4);
    CHECK_MEM(buf, "ping", 4);
    bk_tls_free(s);
    bk_tls_free(c);
    bk_tls_ctx_free(sc);
    bk_tls_ctx_free(cc);
}

static void server_not_trusted(void)
{
    bk_tls_ctx_t *sc = server_ctx(BK_TLS_CLIENT_AUTH_NONE);
    bk_tls_ctx_t *wrong_ca = client_ctx(fx.other_ca, 0), *right_ca = client_ctx(fx.ca, 0);
    pair_t *p = connect_pair(sc, wrong_ca, "127.0.0.1", NULL);
    CHECK_EQ_INT(p->crc, UV_EPROTO);
    CHECK(strstr(bk_tls_error(p->c), "certificate verification failed") != NULL);
    CHECK_EQ_INT(p->src, UV_EPROTO); /* told by the client's alert */
    CHECK(!bk_tls_handshake_done(p->s));
    CHECK_EQ_INT(bk_tls_write(p->c, "x", 1), UV_EPROTO); /* failed stays failed */
    pair_free(p);
    p = connect_pair(sc, right_ca, "example.com", NULL); /* the name is not in the cert */
    CHECK_EQ_INT(p->crc, UV_EPROTO);
    CHECK(strstr(bk_tls_error(p->c), "mismatch") != NULL);
    pair_free(p);
    p = connect_pair(sc, right_ca, "127.0.0.2", NULL); /* nor this address */
    CHECK_EQ_INT(p->crc, UV_EPROTO);
    pair_free(p);
    bk_tls_ctx_free(sc);
    bk_tls_ctx_free(wrong_ca);
    bk_tls_ctx_free(right_ca);
}

static void client_certificates(void)
{
    bk_tls_ctx_t *req = server_ctx(BK_TLS_CLIENT_AUTH_REQUIRED);
    bk_tls_ctx_t *opt = server_ctx(BK_TLS_CLIENT_AUTH_OPTIONAL);
    bk_tls_ctx_t *anon = client_ctx(fx.ca, 0), *alice = client_ctx(fx.ca, 1);
    pair_t *p = connect_pair(req, alice, "127.0.0.1", NULL);
    CHECK(bk_tls_handshake_done(p->s));
    CHECK_EQ_STR(bk_tls_peer_name(p->s), "alice");
    pair_free(p);
    p = connect_pair(req, anon, "127.0.0.1", NULL);
    CHECK_EQ_INT(p->src, UV_EPROTO);
    CHECK(bk_tls_peer_name(p->s) == NULL);
    pair_free(p);
    p = connect_pair(opt, anon, "127.0.0.1", NULL);
    CHECK(bk_tls_handshake_done(p->s));
    CHECK_EQ_INT(p->src, 0);
    CHECK(bk_tls_peer_name(p->s) == NULL);
    pair_free(p);
    p = connect_pair(opt, alice, "127.0.0.1", NULL);
    CHECK_EQ_STR(bk_tls_peer_name(p->s), "alice");
    pair_free(p);
    /* a client certificate needs a CA to check it against */
    bk_tls_config_t cfg = {fx.server_cert, fx.server_key, NULL, BK_TLS_CLIENT_AUTH_REQUIRED, NULL};
    bk_tls_ctx_t *none = NULL;
    char err[200];
    CHECK_EQ_INT(bk_tls_ctx_new_server(&cfg, &none, err, sizeof err), BK_EINVAL);
    bk_tls_ctx_free(req);
    bk_tls_ctx_free(opt);
    bk_tls_ctx_free(anon);
    bk_tls_ctx_free(alice);
}

static void versions(void)
{
    bk_tls_ctx_t *sc = server_ctx(BK_TLS_CLIENT_AUTH_NONE);
    bk_tls_ctx_t *v12 = client_ctx(fx.ca, 0), *v11 = client_ctx(fx.ca, 0);
    SSL_CTX_set_max_proto_version(v12->ssl, TLS1_2_VERSION);
    SSL_CTX_set_security_level(v11->ssl, 0);
    SSL_CTX_set_min_proto_version(v11->ssl, TLS1_1_VERSION);
    SSL_CTX_set_max_proto_version(v11->ssl, TLS1_1_VERSION);
    pair_t *p = connect_pair(sc, v12, "127.0.0.1", NULL);
    CHECK(bk_tls_handshake_done(p->s));
    CHECK_EQ_STR(bk_tls_version(p->s), "TLSv1.2");
    CHECK_EQ_STR(bk_tls_alpn(p->s), "http/1.1");
    pair_free(p);
    p = connect_pair(sc, v11, "127.0.0.1", NULL);
    CHECK_EQ_INT(p->src, UV_EPROTO);
    CHECK(!bk_tls_handshake_done(p->s));
    pair_free(p);
    bk_tls_ctx_free(sc);
    bk_tls_ctx_free(v12);
    bk_tls_ctx_free(v11);
}

static void garbage(void)
{
    bk_tls_ctx_t *sc = server_ctx(BK_TLS_CLIENT_AUTH_NONE);
    bk_tls_t *s;
    CHECK_EQ_INT(bk_tls_new(sc, NULL, NULL, &s), 0);
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK_EQ_INT(bk_tls_feed(s, req, sizeof req - 1), 0);
    char buf[64];
    size_t got = 1;
    CHECK_EQ_INT(bk_tls_read(s, buf, sizeof buf, &got), UV_EPROTO);
    CHECK_EQ_INT(got, 0);
    CHECK(bk_tls_error(s)[0] != 0);
    CHECK_EQ_INT(bk_tls_read(s, buf, sizeof buf, &got), UV_EPROTO);
    bk_tls_close(s); /* no close_notify after a failed handshake */
    bk_tls_free(s);
    bk_tls_ctx_free(sc);
}

static void resumption(void)
{
    bk_tls_ctx_t *sc = server_ctx(BK_TLS_CLIENT_AUTH_OPTIONAL), *cc = client_ctx(fx.ca, 1);
    pair_t *p = connect_pair(sc, cc, "127.0.0.1", NULL);
    CHECK_EQ_INT(bk_tls_write(p->c, "a", 1), 0);
    pump(p);
    CHECK(!bk_tls_resumed(p->s));
    bk_tls_session_t *sess = bk_tls_session_get(p->c);
    CHECK(sess != NULL);
    pair_free(p);
    p = connect_pair(sc, cc, "127.0.0.1", sess);
    CHECK(bk_tls_handshake_done(p->s));
    CHECK(bk_tls_resumed(p->s) && bk_tls_resumed(p->c));
    CHECK_EQ_STR(bk_tls_peer_name(p->s), "alice"); /* the principal survives resumption */
    pair_free(p);
    /* a reload keeps tickets issued before it valid */
    char err[300];
    CHECK_EQ_INT(bk_tls_ctx_reload(sc, err, sizeof err), 0);
    p = connect_pair(sc, cc, "127.0.0.1", sess);
    CHECK(bk_tls_resumed(p->s));
    pair_free(p);
    bk_tls_session_free(sess);
    bk_tls_ctx_free(sc);
    bk_tls_ctx_free(cc);
}

/* The application-data records in wire[0..n): how many, and the plaintext bytes they carry
 * (TLS 1.3: each record adds one content-type byte and a 16-byte tag). */
static size_t count_records(const unsigned char *wire, size_t n, size_t *plain)
{
    size_t records = 0, i = 0;
    *plain = 0;
    while (i + 5 <= n) {
        size_t len = (size_t)wire[i + 3] << 8 | wire[i + 4];
        CHECK_EQ_INT(wire[i], 23);
        *plain += len - 17;
        records++;
        i += 5 + len;
    }
    CHECK_EQ_INT(i, n); /* whole records only */
    return records;
}

/* An established pair with the server's session tickets already delivered. */
static pair_t *ready_pair(bk_tls_ctx_t *sc, bk_tls_ctx_t *cc)
{
    pair_t *p = connect_pair(sc, cc, "127.0.0.1", NULL);
    CHECK_EQ_INT(bk_tls_write(p->c, "hi", 2), 0);
    pump(p);
    CHECK_EQ_INT(p->slen, 2);
    CHECK_EQ_INT(bk_tls_out_pending(p->s), 0);
    p->slen = p->clen = 0;
    return p;
}

/* Delivers the server's output to the client in `piece`-byte reads (records split across
 * reads) and checks the client got exactly want. */
static void deliver(pair_t *p, const unsigned char *wire, size_t n, size_t piece, const char *want,
                    size_t want_len)
{
    p->clen = 0;
    for (size_t off = 0; off < n; off += piece) {
        size_t k = n - off < piece ? n - off : piece;
        CHECK_EQ_INT(bk_tls_feed(p->c, wire + off, k), 0);
        drain(p->c, p->cbuf, &p->clen, &p->crc);
        CHECK_EQ_INT(p->crc, 0);
    }
    CHECK_EQ_INT(p->clen, want_len);
    CHECK_MEM(p->cbuf, want, want_len);
}

/* Answers written together (pipelined) are sealed into as few records as hold them: small
 * pieces share one record, a piece over a record's 16 KB goes alone in full records, and the
 * peer reads the concatenation whatever the split of the ciphertext. */
static void pieces_share_records(void)
{
    bk_tls_ctx_t *sc = server_ctx(BK_TLS_CLIENT_AUTH_NONE), *cc = client_ctx(fx.ca, 0);
    pair_t *p = ready_pair(sc, cc);
    static char a[300], b[10000], big[40000], want[70000];
    memset(a, 'a', sizeof a);
    memset(b, 'b', sizeof b);
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('0' + i % 10);
    static unsigned char wire[1 << 17];
    size_t plain, n;
    /* ten small answers: one record */
    bk_tls_iov_t ten[10];
    for (int i = 0; i < 10; i++)
        ten[i] = (bk_tls_iov_t){a, sizeof a};
    CHECK_EQ_INT(bk_tls_writev(p->s, ten, 10), 0);
    n = bk_tls_out_take(p->s, wire, sizeof wire);
    CHECK_EQ_INT(count_records(wire, n, &plain), 1);
    CHECK_EQ_INT(plain, 3000);
    for (int i = 0; i < 10; i++)
        memcpy(want + i * 300, a, 300);
    deliver(p, wire, n, 1000, want, 3000);
    /* 300 + 10000 + 10000 (the second does not fit beside the first two) + 40000 + 300 */
    bk_tls_iov_t mix[] = {
        {a, sizeof a}, {b, sizeof b}, {b, sizeof b}, {big, sizeof big}, {a, sizeof a}};
    CHECK_EQ_INT(bk_tls_writev(p->s, mix, 5), 0);
    n = bk_tls_out_take(p->s, wire, sizeof wire);
    size_t len = 0;
    for (int i = 0; i < 5; i++) {
        memcpy(want + len, mix[i].base, mix[i].len);
        len += mix[i].len;
    }
    CHECK_EQ_INT(count_records(wire, n, &plain), 1 + 1 + 3 + 1); /* a+b, b, big in 3, a */
    CHECK_EQ_INT(plain, len);
    deliver(p, wire, n, 777, want, len);
    /* nothing to write: nothing sent */
    CHECK_EQ_INT(bk_tls_writev(p->s, mix, 0), 0);
    CHECK_EQ_INT(bk_tls_out_pending(p->s), 0);
    pair_free(p);
    bk_tls_ctx_free(sc);
    bk_tls_ctx_free(cc);
}

/* Giving the record buffers back between requests loses nothing: not a record half read
 * (its bytes stay), not the next exchange (buffers come back on use). */
static void release_buffers_when_idle(void)
{
    bk_tls_ctx_t *sc = server_ctx(BK_TLS_CLIENT_AUTH_NONE), *cc = client_ctx(fx.ca, 0);
    pair_t *p = ready_pair(sc, cc);
    bk_tls_release_buffers(p->s);
    bk_tls_release_buffers(p->c);
    static char msg[5000];
    memset(msg, 'm', sizeof msg);
    CHECK_EQ_INT(bk_tls_write(p->c, msg, sizeof msg), 0);
    static unsigned char wire[8192];
    size_t n = bk_tls_out_take(p->c, wire, sizeof wire), got = 0;
    /* half a record in, read (wants more), release while the half is buffered, the rest in */
    CHECK_EQ_INT(bk_tls_feed(p->s, wire, n / 2), 0);
    CHECK_EQ_INT(bk_tls_read(p->s, p->sbuf, sizeof p->sbuf, &got), 0);
    CHECK_EQ_INT(got, 0);
    bk_tls_release_buffers(p->s);
    CHECK_EQ_INT(bk_tls_feed(p->s, wire + n / 2, n - n / 2), 0);
    CHECK_EQ_INT(bk_tls_read(p->s, p->sbuf, sizeof p->sbuf, &got), 0);
    CHECK_EQ_INT(got, sizeof msg);
    CHECK_MEM(p->sbuf, msg, sizeof msg);
    /* and the answer the other way */
    bk_tls_release_buffers(p->s);
    CHECK_EQ_INT(bk_tls_write(p->s, "pong", 4), 0);
    pump(p);
    CHECK_EQ_INT(p->clen, 4);
    CHECK_MEM(p->cbuf, "pong", 4);
    pair_free(p);
    bk_tls_ctx_free(sc);
    bk_tls_ctx_free(cc);
}

/* An error some other code left in the thread's OpenSSL error queue must not be taken for
 * this connection's failure (SSL_get_error reads that queue), neither when a read completes
 * nor when it waits for the rest of a record. */
static void stale_error_queue(void)
{
    bk_tls_ctx_t *sc = server_ctx(BK_TLS_CLIENT_AUTH_NONE), *cc = client_ctx(fx.ca, 0);
    pair_t *p = ready_pair(sc, cc);
    CHECK_EQ_INT(bk_tls_write(p->c, "hello", 5), 0);
    unsigned char wire[256];
    size_t n = bk_tls_out_take(p->c, wire, sizeof wire), got = 0;
    ERR_raise(ERR_LIB_USER, 1); /* someone else's failure, not cleared */
    CHECK_EQ_INT(bk_tls_feed(p->s, wire, 3), 0);
    CHECK_EQ_INT(bk_tls_read(p->s, p->sbuf, sizeof p->sbuf, &got), 0);
    CHECK_EQ_INT(got, 0);
    ERR_raise(ERR_LIB_USER, 2);
    CHECK_EQ_INT(bk_tls_feed(p->s, wire + 3, n - 3), 0);
    CHECK_EQ_INT(bk_tls_read(p->s, p->sbuf, sizeof p->sbuf, &got), 0);
    CHECK_EQ_INT(got, 5);
    CHECK_MEM(p->sbuf, "hello", 5);
    ERR_raise(ERR_LIB_USER, 3);
    CHECK_EQ_INT(bk_tls_write(p->s, "ok", 2), 0);
    CHECK_EQ_INT(bk_tls_read(p->s, p->sbuf, sizeof p->sbuf, &got), 0); /* nothing in: idle */
    CHECK_EQ_INT(got, 0);
    pump(p);
    CHECK_EQ_INT(p->clen, 2);
    CHECK(bk_tls_error(p->s)[0] == 0);
    ERR_clear_error();
    pair_free(p);
    bk_tls_ctx_free(sc);
    bk_tls_ctx_free(cc);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "r"), *out = fopen(to, "w");
    char buf[4096];
    size_t n;
    while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

static void reload_keeps_old_on_error(void)
{
    bk_tls_ctx_t *sc = server_ctx(BK_TLS_CLIENT_AUTH_NONE), *cc = client_ctx(fx.ca, 0);
    char saved[160], err[300];
    snprintf(saved, sizeof saved, "%s.saved", fx.server_cert);
    copy_file(fx.server_cert, saved);
    FILE *f = fopen(fx.server_cert, "w");
    fputs("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n", f);
    fclose(f);
    err[0] = 0;
    CHECK_EQ_INT(bk_tls_ctx_reload(sc, err, sizeof err), BK_EINVAL);
    CHECK(strstr(err, fx.server_cert) != NULL);
    pair_t *p = connect_pair(sc, cc, "127.0.0.1", NULL); /* the old certificate still serves */
    CHECK(bk_tls_handshake_done(p->s) && bk_tls_handshake_done(p->c));
    pair_free(p);
    /* a key that is not the certificate's */
    copy_file(saved, fx.server_cert);
    char key_saved[160];
    snprintf(key_saved, sizeof key_saved, "%s.saved", fx.server_key);
    copy_file(fx.server_key, key_saved);
    copy_file(fx.client_key, fx.server_key);
    CHECK_EQ_INT(bk_tls_ctx_reload(sc, err, sizeof err), BK_EINVAL);
    CHECK(strstr(err, fx.server_key) != NULL);
    copy_file(key_saved, fx.server_key);
    CHECK_EQ_INT(bk_tls_ctx_reload(sc, err, sizeof err), 0);
    p = connect_pair(sc, cc, "127.0.0.1", NULL);
    CHECK(bk_tls_handshake_done(p->c));
    pair_free(p);
    unlink(saved);
    unlink(key_saved);
    bk_tls_ctx_free(sc);
    bk_tls_ctx_free(cc);
}

int main(void)
{
    fx_setup(&fx);
    static const check_case_t cases[] = {
        {"handshake_and_data", handshake_and_data},
        {"byte_by_byte_handshake", byte_by_byte_handshake},
        {"server_not_trusted", server_not_trusted},
        {"client_certificates", client_certificates},
        {"versions", versions},
        {"garbage", garbage},
        {"resumption", resumption},
        {"reload_keeps_old_on_error", reload_keeps_old_on_error},
        {"pieces_share_records", pieces_share_records},
        {"release_buffers_when_idle", release_buffers_when_idle},
        {"stale_error_queue", stale_error_queue},
    };
    int rc = check_run(cases, sizeof cases / sizeof cases[0]);
    fx_teardown(&fx);
    return rc;
}
