/* Fuzz target for what an unauthenticated client controls: the Authorization header value
 * (first byte even) and the two SASL/SCRAM client messages (first byte odd; the rest split at
 * the first 0xff byte into client-first and client-final). Beyond "no crash, no overflow":
 * a parsed header re-encodes to a value that parses to the same user and password, and a
 * SCRAM exchange never ends authenticated without the right proof. */
#include <stdlib.h>
#include <string.h>

#include "brook/auth.h"
#include "common/base64.h"

static int lookup(void *arg, const char *user, size_t len, bk_scram_cred_t *out)
{
    (void)arg;
    static const uint8_t salt[] = "fuzzsaltfuzzsalt";
    if (len != 4 || memcmp(user, "user", 4) != 0)
        return -1;
    return bk_scram_derive(BK_SCRAM_SHA256, "pencil", 6, salt, 16, 1, out);
}

static void header(const uint8_t *data, size_t len)
{
    char user[BK_AUTH_NAME_MAX + 1], pass[BK_AUTH_PASSWORD_MAX + 1];
    size_t ul, pl;
    if (bk_auth_basic_parse((const char *)data, len, user, &ul, pass, &pl) != 0)
        return;
    if (ul > BK_AUTH_NAME_MAX || pl > BK_AUTH_PASSWORD_MAX || !bk_user_name_valid(user, ul))
        abort();
    char plain[BK_AUTH_NAME_MAX + BK_AUTH_PASSWORD_MAX + 2];
    memcpy(plain, user, ul);
    plain[ul] = ':';
    memcpy(plain + ul + 1, pass, pl);
    char again[6 + 2 * sizeof plain] = "Basic ";
    size_t n = 6 + bk_base64_encode((const uint8_t *)plain, ul + 1 + pl, again + 6);
    char u2[BK_AUTH_NAME_MAX + 1], p2[BK_AUTH_PASSWORD_MAX + 1];
    size_t ul2, pl2;
    if (bk_auth_basic_parse(again, n, u2, &ul2, p2, &pl2) != 0 || ul2 != ul || pl2 != pl ||
        memcmp(u2, user, ul) != 0 || memcmp(p2, pass, pl) != 0)
        abort();
}

static void scram(const uint8_t *data, size_t len)
{
    const uint8_t *split = memchr(data, 0xff, len);
    size_t first = split ? (size_t)(split - data) : len;
    bk_scram_server_t s;
    bk_scram_server_init(&s, BK_SCRAM_SHA256, lookup, NULL);
    char out[512];
    size_t n;
    if (bk_scram_server_step(&s, data, first, out, sizeof out, &n) != BK_SCRAM_CONTINUE)
        return;
    if (n >= sizeof out)
        abort();
    if (!split)
        return;
    int rc = bk_scram_server_step(&s, split + 1, len - first - 1, out, sizeof out, &n);
    /* the server nonce is random, so a fuzzer cannot know the proof: done means a bug */
    if (rc == BK_SCRAM_DONE || n >= sizeof out)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < 1)
        return 0;
    if (data[0] % 2 == 0)
        header(data + 1, len - 1);
    else
        scram(data + 1, len - 1);
    return 0;
}
