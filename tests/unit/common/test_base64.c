/* Base64 against RFC 4648's test vectors, and strict refusal of malformed input. */
#include <string.h>

#include "check.h"
#include "common/base64.h"

static void vectors(void)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char out[16];
        size_t n = bk_base64_encode((const uint8_t *)plain[i], strlen(plain[i]), out);
        CHECK_EQ_INT(n, strlen(enc[i]));
        CHECK_EQ_INT(n, bk_base64_encoded_len(strlen(plain[i])));
        CHECK(memcmp(out, enc[i], n) == 0);
        uint8_t back[16];
        long m = bk_base64_decode(enc[i], strlen(enc[i]), back);
        CHECK_EQ_INT(m, (long)strlen(plain[i]));
        CHECK(memcmp(back, plain[i], (size_t)m) == 0);
    }
}

static void malformed(void)
{
    uint8_t out[16];
    CHECK_EQ_INT(bk_base64_decode("Zg=", 3, out), -1);
    CHECK_EQ_INT(bk_base64_decode("Z===", 4, out), -1);
    CHECK_EQ_INT(bk_base64_decode("Zg==Zg==", 8, out), -1);
    CHECK_EQ_INT(bk_base64_decode("Zm9*", 4, out), -1);
    CHECK_EQ_INT(bk_base64_decode("=Zm9", 4, out), -1);
}

CHECK_MAIN(CASE(vectors), CASE(malformed))
