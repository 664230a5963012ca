/* Content codings: the Content-Encoding list parser and the Accept-Encoding negotiation
 * (table-driven), decoding a list of codings in reverse order under a cap, and the answer
 * encoder's round trip through the same decoders. */
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <zlib.h>

#include "brook/common.h"
#include "check.h"
#include "http/content_coding.h"

static void accept_encoding_table(void)
{
    static const struct {
        const char *value; /* NULL: no header */
        bk_codec_t want;
    } cases[] = {
        {NULL, BK_CODEC_NONE},
        {"", BK_CODEC_NONE},
        {"gzip", BK_CODEC_GZIP},
        {"GZip", BK_CODEC_GZIP},
        {"x-gzip", BK_CODEC_GZIP},
        {"zstd", BK_CODEC_ZSTD},
        {"gzip, zstd", BK_CODEC_ZSTD}, /* equal q: zstd */
        {"zstd, gzip", BK_CODEC_ZSTD},
        {"gzip;q=1.0, zstd;q=0.9", BK_CODEC_GZIP}, /* the higher q wins */
        {"gzip;q=0.5, zstd;q=0.500", BK_CODEC_ZSTD},
        {"zstd;q=0, gzip", BK_CODEC_GZIP}, /* q=0 excludes */
        {"gzip;q=0", BK_CODEC_NONE},
        {"gzip;q=0.000, zstd;q=0.0", BK_CODEC_NONE},
        {"*", BK_CODEC_ZSTD}, /* any coding: the preferred one */
        {"*;q=0.1", BK_CODEC_ZSTD},
        {"*;q=0", BK_CODEC_NONE},
        {"*, zstd;q=0", BK_CODEC_GZIP}, /* named beats * */
        {"*;q=0, gzip;q=0.2", BK_CODEC_GZIP},
        {"br, deflate", BK_CODEC_NONE},             /* nothing we speak */
        {"deflate, gzip, br, zstd", BK_CODEC_ZSTD}, /* what curl --compressed sends */
        {"gzip, deflate, br", BK_CODEC_GZIP},       /* browsers */
        {"identity", BK_CODEC_NONE},
        {"identity;q=1, gzip;q=0.5", BK_CODEC_NONE},   /* identity preferred */
        {"identity;q=0.5, gzip;q=0.5", BK_CODEC_GZIP}, /* equal: coded */
        {"identity;q=0, gzip;q=0.1", BK_CODEC_GZIP},
        {" gzip ; q=0.8 ,\tzstd ;q=0.7 ", BK_CODEC_GZIP}, /* OWS around everything */
        {"gzip;Q=0.3, zstd;q=0.2", BK_CODEC_GZIP},
        {"gzip;level=9", BK_CODEC_GZIP},   /* other parameters ignored */
        {"zstd;q=2, gzip", BK_CODEC_GZIP}, /* malformed weight: element skipped */
        {"zstd;q=1.001, gzip;q=0.1", BK_CODEC_GZIP},
        {"zstd;q=0.1234, gzip;q=0.1", BK_CODEC_GZIP},
        {"zstd;q=, gzip;q=0.1", BK_CODEC_GZIP},
        {"zstd;q=.5, gzip;q=0.1", BK_CODEC_GZIP},
        {"zstd;q=1., gzip;q=0.1", BK_CODEC_ZSTD},            /* "1." is a valid qvalue */
        {"zstd;q=0.5, zstd;q=0, gzip;q=0.4", BK_CODEC_ZSTD}, /* first of a repeat counts */
        {",,, ,gzip,,", BK_CODEC_GZIP},
        {";q=1", BK_CODEC_NONE},
        {"gzipp, zst", BK_CODEC_NONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *v = cases[i].value;
        bk_codec_t got = bk_http_accept_encoding(v, v ? strlen(v) : 0);
        if (got != cases[i].want)
            fprintf(stderr, "  Accept-Encoding: \"%s\"\n", v ? v : "(absent)");
        CHECK_EQ_INT(got, cases[i].want);
    }
}

static void content_encoding_table(void)
{
    static const struct {
        const char *value;
        int rc;
        unsigned count;
        bk_codec_t first, second;
        const char *bad;
    } cases[] = {
        {"gzip", 0, 1, BK_CODEC_GZIP, 0, NULL},
        {"GZIP", 0, 1, BK_CODEC_GZIP, 0, NULL},
        {"x-gzip", 0, 1, BK_CODEC_GZIP, 0, NULL},
        {"zstd", 0, 1, BK_CODEC_ZSTD, 0, NULL},
        {"identity", 0, 0, 0, 0, NULL},
        {"", 0, 0, 0, 0, NULL},
        {" , ", 0, 0, 0, 0, NULL},
        {"gzip, zstd", 0, 2, BK_CODEC_GZIP, BK_CODEC_ZSTD, NULL},
        {"zstd,identity ,\tgzip", 0, 2, BK_CODEC_ZSTD, BK_CODEC_GZIP, NULL},
        {"br", UV_ENOTSUP, 0, 0, 0, "br"},
        {"gzip, deflate", UV_ENOTSUP, 1, BK_CODEC_GZIP, 0, "deflate"},
        {"compress", UV_ENOTSUP, 0, 0, 0, "compress"},
        {"snappy", UV_ENOTSUP, 0, 0, 0, "snappy"}, /* a Kafka codec, not an HTTP coding */
        {"gzip;q=1", BK_EINVAL, 0, 0, 0, "gzip;q=1"},
        {"gz ip", BK_EINVAL, 0, 0, 0, "gz ip"},
        {"gzip, gzip, gzip, gzip", 0, 4, BK_CODEC_GZIP, BK_CODEC_GZIP, NULL},
        {"gzip, gzip, gzip, gzip, zstd", BK_ETOOBIG, 4, BK_CODEC_GZIP, BK_CODEC_GZIP, "zstd"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bk_http_codings_t c = {0};
        const char *v = cases[i].value;
        int rc = bk_http_codings_parse_value(v, strlen(v), &c);
        if (rc != cases[i].rc)
            fprintf(stderr, "  Content-Encoding: \"%s\"\n", v);
        CHECK_EQ_INT(rc, cases[i].rc);
        CHECK_EQ_INT(c.count, cases[i].count);
        if (c.count >= 1)
            CHECK_EQ_INT(c.codings[0], cases[i].first);
        if (c.count >= 2)
            CHECK_EQ_INT(c.codings[1], cases[i].second);
        if (cases[i].bad)
            CHECK(c.bad && c.bad_len == strlen(cases[i].bad) &&
                  memcmp(c.bad, cases[i].bad, c.bad_len) == 0);
    }
}

/* Several Content-Encoding lines are one list, in order (RFC 9110 §5.3). */
static void header_lines_join(void)
{
    bk_http_header_t h[3] = {
        {"Content-Encoding", 16, "gzip", 4},
        {"Content-Type", 12, "application/json", 16},
        {"content-encoding", 16, "zstd", 4},
    };
    bk_exchange_t ex = {0};
    ex.headers = h;
    ex.header_count = 3;
    bk_http_codings_t c;
    CHECK_EQ_INT(bk_http_codings_parse(&ex, &c), 0);
    CHECK_EQ_INT(c.count, 2);
    CHECK_EQ_INT(c.codings[0], BK_CODEC_GZIP);
    CHECK_EQ_INT(c.codings[1], BK_CODEC_ZSTD);
    ex.header_count = 0;
    CHECK_EQ_INT(bk_http_codings_parse(&ex, &c), 0);
    CHECK_EQ_INT(c.count, 0);
}

/* bk_http_encode into a new buffer of len - 1 bytes (what the answer path gives it). */
static int encode(bk_codec_t codec, const uint8_t *src, size_t len, uint8_t **dst, size_t *n)
{
    *dst = malloc(len - 1);
    int rc = bk_http_encode(codec, src, len, *dst, len - 1, n);
    if (rc) {
        free(*dst);
        *dst = NULL;
    }
    return rc;
}

static uint8_t *json_like(size_t n)
{
    uint8_t *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)("{\"offset\":12,\"value\":\"hello world\"},"[i % 36]);
    return p;
}

/* gzip applied first, then zstd: decoded zstd first, then gzip, and capped at every stage */
static void decode_list_in_reverse(void)
{
    size_t n = 100000;
    uint8_t *src = json_like(n), *gz = NULL, *both = NULL;
    size_t gz_len, both_len;
    CHECK_EQ_INT(encode(BK_CODEC_GZIP, src, n, &gz, &gz_len), 0);
    CHECK_EQ_INT(encode(BK_CODEC_ZSTD, gz, gz_len, &both, &both_len), 0);
    bk_http_codings_t c = {.codings = {BK_CODEC_GZIP, BK_CODEC_ZSTD}, .count = 2};
    bk_codec_buf_t out = {0}, scratch = {0};
    bk_codec_t failed = BK_CODEC_NONE;
    CHECK_EQ_INT(bk_http_decode(&c, both, both_len, n, &out, &scratch, &failed), 0);
    CHECK(out.len == n && memcmp(out.data, src, n) == 0);
    CHECK_EQ_INT(bk_http_decode(&c, both, both_len, n - 1, &out, &scratch, &failed), BK_ETOOBIG);
    CHECK_EQ_INT(failed, BK_CODEC_GZIP);
    bk_http_codings_t wrong = {.codings = {BK_CODEC_ZSTD, BK_CODEC_GZIP}, .count = 2};
    CHECK_EQ_INT(bk_http_decode(&wrong, both, both_len, n, &out, &scratch, &failed), BK_ECORRUPT);
    CHECK_EQ_INT(failed, BK_CODEC_GZIP);
    bk_http_codings_t one = {.codings = {BK_CODEC_GZIP}, .count = 1};
    CHECK_EQ_INT(bk_http_decode(&one, gz, gz_len, n, &out, &scratch, &failed), 0);
    CHECK(out.len == n && memcmp(out.data, src, n) == 0);
    CHECK_EQ_INT(bk_http_decode(&one, gz, gz_len - 3, n, &out, &scratch, &failed), BK_ECORRUPT);
    bk_codec_buf_free(&out);
    bk_codec_buf_free(&scratch);
    free(src);
    free(gz);
    free(both);
}

/* What `gzip` and clients write: a gzip member with a file name, and two members in a row */
static void decode_gzip_members(void)
{
    const char *text = "{\"records\":[{\"value\":1}]}";
    uint8_t member[256];
    size_t m = 0;
    z_stream zs = {0};
    CHECK_EQ_INT(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    gz_header hd = {0};
    hd.name = (Bytef *)"body.json";
    CHECK_EQ_INT(deflateSetHeader(&zs, &hd), Z_OK);
    zs.next_in = (Bytef *)text;
    zs.avail_in = (uInt)strlen(text);
    zs.next_out = member;
    zs.avail_out = sizeof member;
    CHECK_EQ_INT(deflate(&zs, Z_FINISH), Z_STREAM_END);
    m = zs.total_out;
    deflateEnd(&zs);
    uint8_t two[512];
    memcpy(two, member, m);
    memcpy(two + m, member, m);
    bk_http_codings_t c = {.codings = {BK_CODEC_GZIP}, .count = 1};
    bk_codec_buf_t out = {0}, scratch = {0};
    bk_codec_t failed;
    CHECK_EQ_INT(bk_http_decode(&c, two, m, 1000, &out, &scratch, &failed), 0);
    CHECK(out.len == strlen(text) && memcmp(out.data, text, out.len) == 0);
    CHECK_EQ_INT(bk_http_decode(&c, two, 2 * m, 1000, &out, &scratch, &failed), 0);
    CHECK_EQ_INT(out.len, 2 * strlen(text));
    CHECK_EQ_INT(bk_http_decode(&c, two, m + 5, 1000, &out, &scratch, &failed), BK_ECORRUPT);
    bk_codec_buf_free(&out);
    bk_codec_buf_free(&scratch);
}

static void encode_round_trip_and_refusals(void)
{
    size_t n = 5000;
    uint8_t *src = json_like(n);
    for (int codec = BK_CODEC_GZIP; codec <= BK_CODEC_ZSTD; codec += 3) {
        uint8_t *dst = NULL;
        size_t len = 0;
        CHECK_EQ_INT(encode((bk_codec_t)codec, src, n, &dst, &len), 0);
        CHECK(len > 0 && len < n / 4);
        bk_http_codings_t c = {.codings = {(bk_codec_t)codec}, .count = 1};
        bk_codec_buf_t out = {0}, scratch = {0};
        bk_codec_t failed;
        CHECK_EQ_INT(bk_http_decode(&c, dst, len, n, &out, &scratch, &failed), 0);
        CHECK(out.len == n && memcmp(out.data, src, n) == 0);
        bk_codec_buf_free(&out);
        free(dst);
    }
    /* incompressible input: no gain, so the answer goes uncoded */
    for (size_t i = 0; i < n; i++)
        src[i] = (uint8_t)(rand() >> 7);
    uint8_t *dst = NULL;
    size_t len;
    CHECK_EQ_INT(encode(BK_CODEC_ZSTD, src, n, &dst, &len), BK_ETOOBIG);
    CHECK_EQ_INT(encode(BK_CODEC_GZIP, src, n, &dst, &len), BK_ETOOBIG);
    CHECK(dst == NULL);
    CHECK_EQ_INT(encode(BK_CODEC_LZ4, src, n, &dst, &len), BK_EINVAL);
    CHECK_EQ_STR(bk_http_coding_name(BK_CODEC_GZIP), "gzip");
    CHECK_EQ_STR(bk_http_coding_name(BK_CODEC_ZSTD), "zstd");
    CHECK(bk_http_coding_name(BK_CODEC_NONE) == NULL);
    free(src);
}

CHECK_MAIN(CASE(accept_encoding_table), CASE(content_encoding_table), CASE(header_lines_join),
           CASE(decode_list_in_reverse), CASE(decode_gzip_members),
           CASE(encode_round_trip_and_refusals))
