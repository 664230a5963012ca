/* The Authorization: Basic parser: well-formed values, and the malformed ones that must be a
 * 400 rather than a 401 (not Basic, bad base64, no colon, bad user name). */
#include <string.h>

#include "brook/auth.h"
#include "brook/common.h"
#include "check.h"

static int parse(const char *v, char *user, char *pass)
{
    size_t ul, pl;
    return bk_auth_basic_parse(v, strlen(v), user, &ul, pass, &pl);
}

static void good(void)
{
    char u[BK_AUTH_NAME_MAX + 1], p[BK_AUTH_PASSWORD_MAX + 1];
    CHECK_EQ_INT(parse("Basic YWxpY2U6c2VjcmV0", u, p), 0); /* alice:secret */
    CHECK_EQ_STR(u, "alice");
    CHECK_EQ_STR(p, "secret");
    CHECK_EQ_INT(parse("  basic   YWxpY2U6YTpi  ", u, p), 0); /* alice:a:b */
    CHECK_EQ_STR(p, "a:b");
    CHECK_EQ_INT(parse("BASIC YWxpY2U6", u, p), 0); /* alice: (empty password) */
    CHECK_EQ_STR(p, "");
}

static void malformed(void)
{
    static const char *const bad[] = {
        "",
        "Basic",
        "Basic ",
        "Bearer YWxpY2U6c2VjcmV0",
        "BasicYWxpY2U6c2VjcmV0",
        "Basic YWxpY2U6c2VjcmV0=",
        "Basic YWxp!2U6c2VjcmV0",
        "Basic YWxpY2U=",     /* no colon */
        "Basic OnNlY3JldA==", /* empty user */
        "Basic YSBiOmM=",     /* "a b:c" */
        "Basic YTpiAGM=",     /* NUL in password */
    };
    char u[BK_AUTH_NAME_MAX + 1], p[BK_AUTH_PASSWORD_MAX + 1];
    for (size_t i = 0; i < BK_ARRAY_LEN(bad); i++) {
        int rc = parse(bad[i], u, p);
        if (rc != BK_EINVAL) {
            fprintf(stderr, "  case %zu (%s): %d\n", i, bad[i], rc);
            CHECK(0);
        }
    }
    char big[2100] = "Basic ";
    memset(big + 6, 'Q', 2000);
    big[2006] = 0;
    CHECK_EQ_INT(parse(big, u, p), BK_ETOOBIG);
}

int main(void)
{
    static const check_case_t cases[] = {{"good", good}, {"malformed", malformed}};
    return check_run(cases, BK_ARRAY_LEN(cases));
}
