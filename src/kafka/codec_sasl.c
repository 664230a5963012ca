/* SASL over Kafka, as bytes: the request bodies of SaslHandshake (17) and SaslAuthenticate
 * (36), their answers, and the PLAIN message (RFC 4616). Decoding is pure and treats its input
 * as hostile; nothing here checks a password or keeps one (sasl.c does the checking).
 *   SaslHandshake v0-1: mechanism string. (v0: the SASL tokens that follow travel as bare
 *   size-prefixed frames; v1: inside SaslAuthenticate requests.) Answer: error_code int16,
 *   mechanisms [string].
 *   SaslAuthenticate v0-1: auth_bytes bytes. v2 (flexible): compact bytes, tagged fields.
 *   Answer: error_code int16, error_message nullable string, auth_bytes bytes,
 *   session_lifetime_ms int64 (v1+), tagged fields (v2). */
#include "kafka/proto.h"

#include <string.h>
#include <uv.h>

#include "brook/auth.h"
#include "brook/common.h"

static const char *const mech_names[BK_KSASL_MECHS] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"};

const char *bk_ksasl_mech_name(bk_ksasl_mech_t m)
{
    return (unsigned)m < BK_KSASL_MECHS ? mech_names[m] : "?";
}

int bk_ksasl_mech_parse(bk_kslice_t name, bk_ksasl_mech_t *out)
{
    for (int m = 0; m < BK_KSASL_MECHS; m++)
        if (name.len >= 0 && (size_t)name.len == strlen(mech_names[m]) &&
            memcmp(name.ptr, mech_names[m], (size_t)name.len) == 0) {
            *out = (bk_ksasl_mech_t)m;
            return 0;
        }
    return BK_EINVAL;
}

int bk_kdecode_sasl_handshake(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    (void)h;
    (void)a;
    out->u.sasl_handshake.mechanism = bk_kr_str(r, 0);
    return r->bad || out->u.sasl_handshake.mechanism.len < 0 ? BK_EINVAL : 0;
}

int bk_kdecode_sasl_authenticate(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    (void)a;
    out->u.sasl_authenticate.auth_bytes = bk_kr_bytes(r, h->flexible);
    if (h->flexible)
        bk_kr_tags(r);
    return r->bad || out->u.sasl_authenticate.auth_bytes.len < 0 ? BK_EINVAL : 0;
}

void bk_kencode_sasl_handshake(bk_kw_t *w, int16_t error, int offered)
{
    bk_kw_i16(w, error);
    bk_kw_array(w, 0, offered ? BK_KSASL_MECHS : 0);
    for (int m = 0; offered && m < BK_KSASL_MECHS; m++)
        bk_kw_cstr(w, 0, mech_names[m]);
}

void bk_kencode_sasl_authenticate(bk_kw_t *w, int16_t version, int16_t error, const char *message,
                                  const uint8_t *token, size_t len)
{
    int flex = version >= 2;
    bk_kw_i16(w, error);
    bk_kw_cstr(w, flex, message);
    bk_kw_bytes(w, flex, token ? token : (const uint8_t *)"", token ? (int32_t)len : 0);
    if (version >= 1)
        bk_kw_i64(w, 0); /* session_lifetime_ms: no re-authentication asked for */
    bk_kw_tags(w, flex);
}

int bk_ksasl_plain_parse(const uint8_t *msg, size_t len, char *user, size_t *ulen, char *pass,
                         size_t *plen)
{
    const uint8_t *nul1 = memchr(msg, 0, len);
    if (!nul1)
        return BK_EINVAL;
    const uint8_t *u = nul1 + 1, *end = msg + len;
    const uint8_t *nul2 = memchr(u, 0, (size_t)(end - u));
    if (!nul2)
        return BK_EINVAL;
    const uint8_t *p = nul2 + 1;
    size_t zlen = (size_t)(nul1 - msg), n = (size_t)(nul2 - u), pl = (size_t)(end - p);
    if (memchr(p, 0, pl) || n == 0 || n > BK_AUTH_NAME_MAX || pl == 0 ||
        pl > BK_AUTH_PASSWORD_MAX || !bk_user_name_valid((const char *)u, n))
        return BK_EINVAL;
    if (zlen && (zlen != n || memcmp(msg, u, n) != 0))
        return BK_EINVAL;
    memcpy(user, u, n);
    user[n] = 0;
    memcpy(pass, p, pl);
    pass[pl] = 0;
    *ulen = n;
    *plen = pl;
    return 0;
}
