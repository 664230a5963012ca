/* SCRAM: the whole RFC 7677 SHA-256 example exchange byte for byte (with the RFC's nonces),
 * wrong proofs and unknown users refused alike, malformed messages refused, and derivation +
 * password checks for both hashes. */
#include <string.h>

#include "brook/auth.h"
#include "brook/common.h"
#include "check.h"
#include "common/base64.h"

static int lookup_pencil(void *arg, const char *user, size_t len, bk_scram_cred_t *out)
{
    (void)arg;
    if (len != 4 || memcmp(user, "user", 4) != 0)
        return -1;
    uint8_t salt[32];
    long n = bk_base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", 24, salt);
    return bk_scram_derive(BK_SCRAM_SHA256, "pencil", 6, salt, (size_t)n, 4096, out);
}

#define C1 "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define S1 "r=rOprNGfwEbeRWgbNEkqO" SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define C2 "c=biws,r=rOprNGfwEbeRWgbNEkqO" SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define S2 "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static int step(bk_scram_server_t *s, const char *in, char *out)
{
    size_t n = 0;
    int rc = bk_scram_server_step(s, (const uint8_t *)in, strlen(in), out, 512, &n);
    out[n] = 0;
    return rc;
}

static void start(bk_scram_server_t *s)
{
    bk_scram_server_init(s, BK_SCRAM_SHA256, lookup_pencil, NULL);
    strcpy(s->server_nonce, SNONCE);
}

static void rfc7677_exchange(void)
{
    bk_scram_server_t s;
    char out[512];
    start(&s);
    CHECK_EQ_INT(step(&s, C1, out), BK_SCRAM_CONTINUE);
    CHECK_EQ_STR(out, S1);
    CHECK_EQ_INT(step(&s, C2, out), BK_SCRAM_DONE);
    CHECK_EQ_STR(out, S2);
    CHECK_EQ_STR(s.user, "user");
    CHECK_EQ_INT(step(&s, C2, out), BK_EINVAL); /* nothing after the end */
}

static void wrong_proof_and_unknown_user(void)
{
    bk_scram_server_t s;
    char out[512];
    start(&s);
    CHECK_EQ_INT(step(&s, C1, out), BK_SCRAM_CONTINUE);
    CHECK_EQ_INT(step(&s,
                      "c=biws,r=rOprNGfwEbeRWgbNEkqO" SNONCE
                      ",p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                      out),
                 UV_EACCES);
    CHECK_EQ_STR(out, "e=invalid-proof");
    /* an unknown user gets a plausible server-first and the same refusal */
    start(&s);
    CHECK_EQ_INT(step(&s, "n,,n=nobody,r=rOprNGfwEbeRWgbNEkqO", out), BK_SCRAM_CONTINUE);
    CHECK(strncmp(out, "r=rOprNGfwEbeRWgbNEkqO" SNONCE ",s=", 55) == 0);
    CHECK(strstr(out, ",i=4096") != NULL);
    CHECK_EQ_INT(step(&s, C2, out), UV_EACCES);
    CHECK_EQ_STR(out, "e=invalid-proof");
    /* a nonce that is not ours */
    start(&s);
    CHECK_EQ_INT(step(&s, C1, out), BK_SCRAM_CONTINUE);
    CHECK_EQ_INT(
        step(&s,
             "c=biws,r=rOprNGfwEbeRWgbNEkqOX,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", out),
        UV_EACCES);
}

static void malformed(void)
{
    static const char *const firsts[] = {"",
                                         "n",
                                         "p=tls-unique,,n=user,r=abc",
                                         "n,,r=abc",
                                         "n,,n=,r=abc",
                                         "n,,n=us=er,r=abc",
                                         "n,,n=user",
                                         "x,,n=user,r=abc",
                                         "n,,n=user,r=a,bc"};
    for (size_t i = 0; i < BK_ARRAY_LEN(firsts); i++) {
        bk_scram_server_t s;
        char out[512];
        start(&s);
        int rc = step(&s, firsts[i], out);
        if (i == BK_ARRAY_LEN(firsts) - 1) /* extensions after r= are allowed */
            CHECK_EQ_INT(rc, BK_SCRAM_CONTINUE);
        else if (rc != BK_EINVAL) {
            fprintf(stderr, "  first message %zu accepted\n", i);
            CHECK(0);
        }
    }
    bk_scram_server_t s;
    char out[512];
    start(&s);
    CHECK_EQ_INT(step(&s, C1, out), BK_SCRAM_CONTINUE);
    /* channel binding data that is not base64("n,,") */
    CHECK_EQ_INT(step(&s,
                      "c=eSws,r=rOprNGfwEbeRWgbNEkqO" SNONCE
                      ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                      out),
                 BK_EINVAL);
    start(&s);
    CHECK_EQ_INT(step(&s, C1, out), BK_SCRAM_CONTINUE);
    CHECK_EQ_INT(step(&s, "c=biws,r=rOprNGfwEbeRWgbNEkqO" SNONCE, out), BK_EINVAL); /* no p= */
    start(&s);
    CHECK_EQ_INT(step(&s, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", out), BK_SCRAM_CONTINUE);
    size_t n;
    CHECK_EQ_INT(bk_scram_server_step(&s, (const uint8_t *)"c=bi\0ws", 7, out, 512, &n), BK_EINVAL);
}

static void escaped_names(void)
{
    bk_scram_server_t s;
    char out[512];
    start(&s);
    CHECK_EQ_INT(step(&s, "n,,n=a=2Cb=3Dc,r=xyz", out), BK_SCRAM_CONTINUE);
    CHECK_EQ_STR(s.user, "a,b=c");
}

static void derive_and_match(void)
{
    static const uint8_t salt[] = "0123456789abcdef";
    for (int m = 0; m < BK_SCRAM_MECH_COUNT; m++) {
        bk_scram_cred_t c;
        CHECK_EQ_INT(bk_scram_derive((bk_scram_mech_t)m, "s3cret", 6, salt, 16, 4096, &c), 0);
        CHECK_EQ_INT(c.iterations, 4096);
        CHECK_EQ_INT(bk_scram_password_matches((bk_scram_mech_t)m, &c, "s3cret", 6), 1);
        CHECK_EQ_INT(bk_scram_password_matches((bk_scram_mech_t)m, &c, "s3creT", 6), 0);
        CHECK_EQ_INT(bk_scram_password_matches((bk_scram_mech_t)m, &c, "", 0), 0);
    }
    bk_scram_mech_t m;
    CHECK_EQ_INT(bk_scram_mech_parse("SCRAM-SHA-512", 13, &m), 0);
    CHECK_EQ_INT(m, BK_SCRAM_SHA512);
    CHECK_EQ_INT(bk_scram_mech_parse("SCRAM-SHA-1", 11, &m), BK_EINVAL);
}

int main(void)
{
    static const check_case_t cases[] = {
        {"rfc7677_exchange", rfc7677_exchange},
        {"wrong_proof_and_unknown_user", wrong_proof_and_unknown_user},
        {"malformed", malformed},
        {"escaped_names", escaped_names},
        {"derive_and_match", derive_and_match},
    };
    return check_run(cases, BK_ARRAY_LEN(cases));
}
