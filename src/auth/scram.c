/* SCRAM (RFC 5802 with the SHA-256 and SHA-512 hashes of RFC 7677): deriving the stored
 * credential from a password, checking a password against it, and the server side of the
 * SASL exchange as a pure bytes-in/bytes-out state machine. The math is OpenSSL's (PBKDF2,
 * HMAC, digests); comparisons of secrets are constant-time. Nothing here keeps a password:
 * callers' buffers are only read. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "brook/auth.h"
#include "brook/common.h"
#include "common/base64.h"

static const EVP_MD *md_of(bk_scram_mech_t m)
{
    return m == BK_SCRAM_SHA512 ? EVP_sha512() : EVP_sha256();
}

size_t bk_scram_hash_len(bk_scram_mech_t m)
{
    return m == BK_SCRAM_SHA512 ? 64 : 32;
}

const char *bk_scram_mech_name(bk_scram_mech_t m)
{
    return m == BK_SCRAM_SHA512 ? "SCRAM-SHA-512" : "SCRAM-SHA-256";
}

int bk_scram_mech_parse(const char *s, size_t len, bk_scram_mech_t *out)
{
    for (int m = 0; m < BK_SCRAM_MECH_COUNT; m++) {
        const char *n = bk_scram_mech_name((bk_scram_mech_t)m);
        if (strlen(n) == len && memcmp(n, s, len) == 0) {
            *out = (bk_scram_mech_t)m;
            return 0;
        }
    }
    return BK_EINVAL;
}

static int hmac(bk_scram_mech_t m, const uint8_t *key, size_t klen, const void *data, size_t len,
                uint8_t *out)
{
    unsigned int n = 0;
    if (!HMAC(md_of(m), key, (int)klen, data, len, out, &n) || n != bk_scram_hash_len(m))
        return BK_EINVAL;
    return 0;
}

static int digest(bk_scram_mech_t m, const uint8_t *data, size_t len, uint8_t *out)
{
    unsigned int n = 0;
    if (!EVP_Digest(data, len, out, &n, md_of(m), NULL) || n != bk_scram_hash_len(m))
        return BK_EINVAL;
    return 0;
}

/* ClientKey and ServerKey from SaltedPassword; StoredKey = H(ClientKey). */
static int keys_from_salted(bk_scram_mech_t m, const uint8_t *salted, uint8_t *stored,
                            uint8_t *server)
{
    size_t hl = bk_scram_hash_len(m);
    uint8_t client_key[BK_SCRAM_MAX_HASH];
    int rc = hmac(m, salted, hl, "Client Key", 10, client_key);
    if (rc == 0)
        rc = digest(m, client_key, hl, stored);
    if (rc == 0 && server)
        rc = hmac(m, salted, hl, "Server Key", 10, server);
    OPENSSL_cleanse(client_key, sizeof client_key);
    return rc;
}

static int salted_password(bk_scram_mech_t m, const char *password, size_t plen,
                           const uint8_t *salt, size_t salt_len, uint32_t iterations, uint8_t *out)
{
    if (iterations < 1 || iterations > BK_SCRAM_MAX_ITERATIONS || plen > BK_AUTH_PASSWORD_MAX)
        return BK_EINVAL;
    if (!PKCS5_PBKDF2_HMAC(password, (int)plen, salt, (int)salt_len, (int)iterations, md_of(m),
                           (int)bk_scram_hash_len(m), out))
        return BK_EINVAL;
    return 0;
}

int bk_scram_derive(bk_scram_mech_t m, const char *password, size_t plen, const uint8_t *salt,
                    size_t salt_len, uint32_t iterations, bk_scram_cred_t *out)
{
    memset(out, 0, sizeof *out);
    if (salt_len == 0 || salt_len > sizeof out->salt)
        return BK_EINVAL;
    uint8_t salted[BK_SCRAM_MAX_HASH];
    int rc = salted_password(m, password, plen, salt, salt_len, iterations, salted);
    if (rc == 0)
        rc = keys_from_salted(m, salted, out->stored_key, out->server_key);
    OPENSSL_cleanse(salted, sizeof salted);
    if (rc)
        return rc;
    memcpy(out->salt, salt, salt_len);
    out->salt_len = salt_len;
    out->iterations = iterations;
    out->present = 1;
    return 0;
}

int bk_scram_password_matches(bk_scram_mech_t m, const bk_scram_cred_t *c, const char *password,
                              size_t plen)
{
    if (!c->present || c->salt_len == 0 || c->salt_len > sizeof c->salt)
        return BK_EINVAL;
    uint8_t salted[BK_SCRAM_MAX_HASH], stored[BK_SCRAM_MAX_HASH];
    int rc = salted_password(m, password, plen, c->salt, c->salt_len, c->iterations, salted);
    if (rc == 0)
        rc = keys_from_salted(m, salted, stored, NULL);
    OPENSSL_cleanse(salted, sizeof salted);
    if (rc)
        return rc == BK_EINVAL && plen > BK_AUTH_PASSWORD_MAX ? 0 : rc;
    return CRYPTO_memcmp(stored, c->stored_key, bk_scram_hash_len(m)) == 0;
}

/* ---- the server side of the exchange -------------------------------------------------- */

void bk_scram_server_init(bk_scram_server_t *s, bk_scram_mech_t m, bk_scram_lookup_cb lookup,
                          void *arg)
{
    memset(s, 0, sizeof *s);
    s->mech = m;
    s->lookup = lookup;
    s->lookup_arg = arg;
    uint8_t raw[18];
    if (RAND_bytes(raw, sizeof raw) != 1) /* then the nonce is still unique per exchange */
        for (size_t i = 0; i < sizeof raw; i += 8) {
            uint64_t r = bk_random_id();
            memcpy(raw + i, &r, sizeof raw - i < 8 ? sizeof raw - i : 8);
        }
    bk_base64_encode(raw, sizeof raw, s->server_nonce); /* 24 chars, no '=' padding, no ',' */
}

/* The value of attribute `a` at *p ("a=value," or "a=value" at the end); advances *p. */
static int take_attr(const char **p, const char *end, char a, const char **v, size_t *vlen)
{
    if (end - *p < 2 || (*p)[0] != a || (*p)[1] != '=')
        return BK_EINVAL;
    const char *start = *p + 2;
    const char *comma = memchr(start, ',', (size_t)(end - start));
    *v = start;
    *vlen = (size_t)((comma ? comma : end) - start);
    *p = comma ? comma + 1 : end;
    return 0;
}

/* saslname: "=2C" is ',' and "=3D" is '='; any other '=' is malformed. */
static int unescape_name(const char *v, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = v[i];
        if (c == '=') {
            if (len - i < 3)
                return BK_EINVAL;
            if (v[i + 1] == '2' && v[i + 2] == 'C')
                c = ',';
            else if (v[i + 1] == '3' && v[i + 2] == 'D')
                c = '=';
            else
                return BK_EINVAL;
            i += 2;
        }
        if (o + 1 >= cap)
            return BK_EINVAL;
        out[o++] = c;
    }
    out[o] = 0;
    return o ? 0 : BK_EINVAL;
}

static int append(bk_scram_server_t *s, const char *data, size_t len)
{
    if (s->auth_len + len >= sizeof s->auth_message)
        return BK_ETOOBIG;
    memcpy(s->auth_message + s->auth_len, data, len);
    s->auth_len += len;
    s->auth_message[s->auth_len] = 0;
    return 0;
}

static int printable(const char *v, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f || v[i] == ',')
            return 0;
    return len > 0;
}

/* A credential for a name nobody has: the exchange goes on as if it existed and fails at the
 * proof, exactly as a wrong password does. */
static void fake_credential(bk_scram_server_t *s)
{
    memset(&s->cred, 0, sizeof s->cred);
    s->cred.iterations = BK_SCRAM_MIN_ITERATIONS;
    s->cred.salt_len = BK_SCRAM_SALT_LEN;
    if (RAND_bytes(s->cred.salt, (int)s->cred.salt_len) != 1)
        memset(s->cred.salt, 0x5a, s->cred.salt_len);
    s->known = 0;
}

static int client_first(bk_scram_server_t *s, const char *in, size_t len, char *out, size_t out_cap,
                        size_t *out_len)
{
    const char *p = in, *end = in + len, *v;
    size_t vlen;
    /* gs2-header: cbind flag ("n" or "y"; "p=" would need channel binding), authzid, "" */
    if (len < 3 || (p[0] != 'n' && p[0] != 'y') || p[1] != ',')
        return BK_EINVAL;
    p += 2;
    if (p < end && *p == 'a') {
        if (take_attr(&p, end, 'a', &v, &vlen))
            return BK_EINVAL;
    } else if (p < end && *p == ',') {
        p++;
    } else {
        return BK_EINVAL;
    }
    const char *bare = p;
    if (take_attr(&p, end, 'n', &v, &vlen) || unescape_name(v, vlen, s->user, sizeof s->user))
        return BK_EINVAL;
    const char *cnonce;
    size_t cn_len;
    if (take_attr(&p, end, 'r', &cnonce, &cn_len) || !printable(cnonce, cn_len) ||
        cn_len + strlen(s->server_nonce) >= sizeof s->nonce)
        return BK_EINVAL;
    snprintf(s->nonce, sizeof s->nonce, "%.*s%s", (int)cn_len, cnonce, s->server_nonce);
    if (s->lookup && s->lookup(s->lookup_arg, s->user, strlen(s->user), &s->cred) == 0 &&
        s->cred.present && s->cred.iterations >= 1 && s->cred.salt_len > 0 &&
        s->cred.salt_len <= sizeof s->cred.salt)
        s->known = 1;
    else
        fake_credential(s);
    char salt64[96];
    size_t sl = bk_base64_encode(s->cred.salt, s->cred.salt_len, salt64);
    int n =
        snprintf(out, out_cap, "r=%s,s=%.*s,i=%u", s->nonce, (int)sl, salt64, s->cred.iterations);
    if (n < 0 || (size_t)n >= out_cap)
        return BK_ETOOBIG;
    *out_len = (size_t)n;
    /* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
    s->auth_len = 0;
    if (append(s, bare, (size_t)(end - bare)) || append(s, ",", 1) || append(s, out, *out_len) ||
        append(s, ",", 1))
        return BK_ETOOBIG;
    /* the gs2 header is kept after the message, to check the client's c= against it */
    size_t gs2 = (size_t)(bare - in);
    if (s->auth_len + gs2 + 2 >= sizeof s->auth_message)
        return BK_ETOOBIG;
    memcpy(s->auth_message + s->auth_len + 1, in, gs2);
    s->auth_message[s->auth_len + 1 + gs2] = 0;
    s->state = 1;
    return BK_SCRAM_CONTINUE;
}

static int check_binding(bk_scram_server_t *s, const char *v, size_t vlen)
{
    const char *gs2 = s->auth_message + s->auth_len + 1;
    size_t gl = strlen(gs2);
    char want[96];
    if (gl > 60)
        return BK_EINVAL;
    size_t wl = bk_base64_encode((const uint8_t *)gs2, gl, want);
    return wl == vlen && memcmp(want, v, vlen) == 0 ? 0 : BK_EINVAL;
}

static int refuse(char *out, size_t out_cap, size_t *out_len)
{
    static const char msg[] = "e=invalid-proof";
    if (out_cap <= sizeof msg - 1)
        return BK_ETOOBIG;
    memcpy(out, msg, sizeof msg);
    *out_len = sizeof msg - 1;
    return UV_EACCES;
}

static int verify_proof(bk_scram_server_t *s, const char *proof64, size_t plen)
{
    size_t hl = bk_scram_hash_len(s->mech);
    uint8_t proof[96], sig[BK_SCRAM_MAX_HASH], key[BK_SCRAM_MAX_HASH], stored[BK_SCRAM_MAX_HASH];
    if (plen > 88)
        return BK_EINVAL;
    long n = bk_base64_decode(proof64, plen, proof);
    if (n < 0)
        return BK_EINVAL;
    if ((size_t)n != hl)
        return UV_EACCES;
    if (hmac(s->mech, s->cred.stored_key, hl, s->auth_message, s->auth_len, sig))
        return BK_EINVAL;
    for (size_t i = 0; i < hl; i++)
        key[i] = proof[i] ^ sig[i];
    if (digest(s->mech, key, hl, stored))
        return BK_EINVAL;
    int ok = CRYPTO_memcmp(stored, s->cred.stored_key, hl) == 0 && s->known;
    OPENSSL_cleanse(key, sizeof key);
    return ok ? 0 : UV_EACCES;
}

/* The client-final nonce must be the combined nonce of server-first. librdkafka (2.0 at
 * least) sends its own nonce again in front of it; Kafka's broker accepts that (it checks the
 * end), so that exact form is accepted too, and nothing else. */
static int nonce_matches(const bk_scram_server_t *s, const char *nonce, size_t nlen)
{
    size_t full = strlen(s->nonce), cn = full - strlen(s->server_nonce);
    if (nlen == full)
        return memcmp(nonce, s->nonce, full) == 0;
    return nlen == cn + full && memcmp(nonce, s->nonce, cn) == 0 &&
           memcmp(nonce + cn, s->nonce, full) == 0;
}

static int client_final(bk_scram_server_t *s, const char *in, size_t len, char *out, size_t out_cap,
                        size_t *out_len)
{
    const char *p = in, *end = in + len, *v, *nonce;
    size_t vlen, nlen;
    if (take_attr(&p, end, 'c', &v, &vlen) || check_binding(s, v, vlen))
        return BK_EINVAL;
    if (take_attr(&p, end, 'r', &nonce, &nlen))
        return BK_EINVAL;
    if (!nonce_matches(s, nonce, nlen))
        return refuse(out, out_cap, out_len);
    const char *proof_at = NULL;
    while (p < end) { /* extensions, then p= last */
        const char *at = p;
        if (end - p >= 2 && p[0] == 'p' && p[1] == '=') {
            proof_at = at;
            if (take_attr(&p, end, 'p', &v, &vlen) || p != end)
                return BK_EINVAL;
            break;
        }
        if (end - p < 2 || p[1] != '=' || take_attr(&p, end, *p, &v, &vlen))
            return BK_EINVAL;
    }
    if (!proof_at || proof_at == in)
        return BK_EINVAL;
    s->auth_message[s->auth_len] = 0; /* drop the kept gs2 header */
    if (append(s, in, (size_t)(proof_at - 1 - in)))
        return BK_ETOOBIG;
    int rc = verify_proof(s, v, vlen);
    if (rc == UV_EACCES)
        return refuse(out, out_cap, out_len);
    if (rc)
        return rc;
    size_t hl = bk_scram_hash_len(s->mech);
    uint8_t sig[BK_SCRAM_MAX_HASH];
    char sig64[96];
    if (hmac(s->mech, s->cred.server_key, hl, s->auth_message, s->auth_len, sig))
        return BK_EINVAL;
    size_t sl = bk_base64_encode(sig, hl, sig64);
    int n = snprintf(out, out_cap, "v=%.*s", (int)sl, sig64);
    if (n < 0 || (size_t)n >= out_cap)
        return BK_ETOOBIG;
    *out_len = (size_t)n;
    return BK_SCRAM_DONE;
}

int bk_scram_server_step(bk_scram_server_t *s, const uint8_t *in, size_t in_len, char *out,
                         size_t out_cap, size_t *out_len)
{
    *out_len = 0;
    const char *text = (const char *)in;
    if (memchr(in, 0, in_len) || in_len > 900) {
        s->state = 3;
        return BK_EINVAL;
    }
    int rc;
    if (s->state == 0)
        rc = client_first(s, text, in_len, out, out_cap, out_len);
    else if (s->state == 1)
        rc = client_final(s, text, in_len, out, out_cap, out_len);
    else
        rc = BK_EINVAL;
    if (rc == BK_SCRAM_DONE)
        s->state = 2;
    else if (rc < 0)
        s->state = 3;
    return rc;
}
