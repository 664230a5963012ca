/* The HTTP Basic credentials parser (RFC 7617): "Basic" (any case), one or more spaces, then
 * base64 of "user:password" split at the first colon. Pure and allocation-free (it runs on
 * the loop thread for every request with auth on, and is fuzzed); the decoded bytes live on
 * the stack and are wiped before returning. */
#include <openssl/crypto.h>
#include <string.h>
#include <strings.h>

#include "brook/auth.h"
#include "brook/common.h"
#include "common/base64.h"

#define MAX_DECODED (BK_AUTH_NAME_MAX + 1 + BK_AUTH_PASSWORD_MAX)
#define MAX_ENCODED ((MAX_DECODED + 2) / 3 * 4)

static int split(const uint8_t *d, size_t n, char *user, size_t *ulen, char *pass, size_t *plen)
{
    const uint8_t *colon = memchr(d, ':', n);
    if (!colon)
        return BK_EINVAL;
    size_t un = (size_t)(colon - d), pn = n - un - 1;
    if (un > BK_AUTH_NAME_MAX || pn > BK_AUTH_PASSWORD_MAX)
        return BK_ETOOBIG;
    if (!bk_user_name_valid((const char *)d, un))
        return BK_EINVAL;
    for (size_t i = 0; i < pn; i++)
        if (colon[1 + i] < 0x20 || colon[1 + i] == 0x7f)
            return BK_EINVAL;
    memcpy(user, d, un);
    user[un] = 0;
    memcpy(pass, colon + 1, pn);
    pass[pn] = 0;
    *ulen = un;
    *plen = pn;
    return 0;
}

int bk_auth_basic_parse(const char *value, size_t len, char *user, size_t *ulen, char *pass,
                        size_t *plen)
{
    const char *p = value, *end = value + len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (end - p < 6 || strncasecmp(p, "Basic", 5) != 0 || (p[5] != ' ' && p[5] != '\t'))
        return BK_EINVAL;
    p += 6;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    size_t elen = (size_t)(end - p);
    if (elen == 0)
        return BK_EINVAL;
    if (elen > MAX_ENCODED)
        return BK_ETOOBIG;
    uint8_t d[MAX_ENCODED / 4 * 3 + 3];
    long n = bk_base64_decode(p, elen, d);
    if (n < 0)
        return BK_EINVAL;
    int rc = split(d, (size_t)n, user, ulen, pass, plen);
    OPENSSL_cleanse(d, (size_t)n); /* the decoded bytes only: this runs on every request */
    return rc;
}
