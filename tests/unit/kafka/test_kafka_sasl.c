/* SASL on the Kafka listener, as bytes and decisions: SaslHandshake and SaslAuthenticate
 * decoding (v0-2, the flexible v2 included) and their answers byte for byte, the PLAIN message
 * parser, the SCRAM exchange in the form librdkafka 2.0 sends it (its client nonce twice), and
 * the API -> ACL table: every advertised API has a rule, and each rule decides the resources
 * its requests name (deny by default, create through the cluster, a broker's configs on the
 * cluster, nothing decided means nothing allowed). */
#include "kafka/authz.h"
#include "kafka/proto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "brook/auth.h"
#include "brook/common.h"
#include "check.h"
#include "common/base64.h"

static size_t be16(uint8_t *p, int v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return 2;
}

static size_t be32(uint8_t *p, int64_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
    return 4;
}

static size_t str(uint8_t *p, const char *s)
{
    size_t n = be16(p, (int)strlen(s));
    memcpy(p + n, s, strlen(s));
    return n + strlen(s);
}

static size_t header(uint8_t *p, int key, int ver)
{
    size_t n = be16(p, key);
    n += be16(p + n, ver);
    n += be32(p + n, 77);
    n += str(p + n, "cli");
    return n;
}

static void test_handshake_codec(void)
{
    uint8_t f[64];
    bk_karena_t a = {0};
    bk_krequest_t q;
    for (int v = 0; v <= 1; v++) {
        size_t n = header(f, BK_KAPI_SASL_HANDSHAKE, v);
        n += str(f + n, "SCRAM-SHA-512");
        CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), 0);
        bk_ksasl_mech_t m;
        CHECK_EQ_INT(bk_ksasl_mech_parse(q.u.sasl_handshake.mechanism, &m), 0);
        CHECK_EQ_INT(m, BK_KSASL_SCRAM_SHA512);
        CHECK_EQ_INT(bk_kafka_decode(f, n - 1, &a, &q), BK_EINVAL); /* cut short */
    }
    size_t n = header(f, BK_KAPI_SASL_HANDSHAKE, 1);
    n += be16(f + n, -1); /* a null mechanism */
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), BK_EINVAL);
    n = header(f, BK_KAPI_SASL_HANDSHAKE, 2); /* not a version Brook speaks */
    n += str(f + n, "PLAIN");
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), UV_ENOTSUP);
    /* names are exact and case-sensitive */
    bk_ksasl_mech_t m;
    CHECK_EQ_INT(bk_ksasl_mech_parse((bk_kslice_t){(const uint8_t *)"plain", 5}, &m), BK_EINVAL);
    CHECK_EQ_INT(bk_ksasl_mech_parse((bk_kslice_t){(const uint8_t *)"PLAI", 4}, &m), BK_EINVAL);
    CHECK_EQ_INT(bk_ksasl_mech_parse((bk_kslice_t){NULL, -1}, &m), BK_EINVAL);
    CHECK_EQ_INT(bk_ksasl_mech_parse((bk_kslice_t){(const uint8_t *)"PLAIN", 5}, &m), 0);
    CHECK_EQ_INT(m, BK_KSASL_PLAIN);
    /* the answer: error, then the three names */
    bk_kw_t w = {0};
    bk_kencode_sasl_handshake(&w, 0, 1);
    static const uint8_t want[] = {0,   0,   0,   0,   0,   3,   0,   5,   'P', 'L', 'A',
                                   'I', 'N', 0,   13,  'S', 'C', 'R', 'A', 'M', '-', 'S',
                                   'H', 'A', '-', '2', '5', '6', 0,   13,  'S', 'C', 'R',
                                   'A', 'M', '-', 'S', 'H', 'A', '-', '5', '1', '2'};
    CHECK_EQ_INT(w.len, sizeof want);
    CHECK_MEM(w.data, want, sizeof want);
    bk_kw_free(&w);
    bk_kencode_sasl_handshake(&w, BK_KERR_UNSUPPORTED_SASL_MECHANISM, 0); /* auth off */
    static const uint8_t none[] = {0, 33, 0, 0, 0, 0};
    CHECK_EQ_INT(w.len, sizeof none);
    CHECK_MEM(w.data, none, sizeof none);
    bk_kw_free(&w);
    bk_karena_free(&a);
}

static void test_authenticate_codec(void)
{
    uint8_t f[64];
    bk_karena_t a = {0};
    bk_krequest_t q;
    for (int v = 0; v <= 1; v++) {
        size_t n = header(f, BK_KAPI_SASL_AUTHENTICATE, v);
        n += be32(f + n, 3);
        memcpy(f + n, "a\0b", 3), n += 3;
        CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), 0);
        CHECK_EQ_INT(q.u.sasl_authenticate.auth_bytes.len, 3);
        CHECK(q.u.sasl_authenticate.auth_bytes.ptr == f + n - 3);
        CHECK_EQ_INT(bk_kafka_decode(f, n - 1, &a, &q), BK_EINVAL);
    }
    /* v2: header v2 (tags), compact bytes (length + 1), tagged fields */
    size_t n = header(f, BK_KAPI_SASL_AUTHENTICATE, 2);
    f[n++] = 0;
    f[n++] = 4;
    memcpy(f + n, "xyz", 3), n += 3;
    f[n++] = 0;
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), 0);
    CHECK(q.h.flexible);
    CHECK_EQ_INT(q.u.sasl_authenticate.auth_bytes.len, 3);
    CHECK_EQ_INT(bk_kafka_decode(f, n - 1, &a, &q), BK_EINVAL); /* tags missing */
    /* null bytes are refused (v0 int32 -1, v2 compact 0) */
    n = header(f, BK_KAPI_SASL_AUTHENTICATE, 0);
    n += be32(f + n, -1);
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), BK_EINVAL);
    n = header(f, BK_KAPI_SASL_AUTHENTICATE, 2);
    f[n++] = 0;
    f[n++] = 0;
    f[n++] = 0;
    CHECK_EQ_INT(bk_kafka_decode(f, n, &a, &q), BK_EINVAL);
    bk_karena_free(&a);

    bk_kw_t w = {0};
    bk_kencode_sasl_authenticate(&w, 0, 0, NULL, (const uint8_t *)"v=x", 3);
    static const uint8_t v0[] = {0, 0, 0xff, 0xff, 0, 0, 0, 3, 'v', '=', 'x'};
    CHECK_EQ_INT(w.len, sizeof v0);
    CHECK_MEM(w.data, v0, sizeof v0);
    bk_kw_free(&w);
    bk_kencode_sasl_authenticate(&w, 1, 58, "no", NULL, 0);
    static const uint8_t v1[] = {0, 58, 0, 2, 'n', 'o', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK_EQ_INT(w.len, sizeof v1);
    CHECK_MEM(w.data, v1, sizeof v1);
    bk_kw_free(&w);
    bk_kencode_sasl_authenticate(&w, 2, 58, "no", NULL, 0);
    static const uint8_t v2[] = {0, 58, 3, 'n', 'o', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK_EQ_INT(w.len, sizeof v2);
    CHECK_MEM(w.data, v2, sizeof v2);
    bk_kw_free(&w);
}

static int plain(const char *msg, size_t len, char *user, char *pass)
{
    size_t ul = 0, pl = 0;
    int rc = bk_ksasl_plain_parse((const uint8_t *)msg, len, user, &ul, pass, &pl);
    if (rc == 0) {
        CHECK_EQ_INT(ul, strlen(user));
        CHECK_EQ_INT(pl, strlen(pass));
    }
    return rc;
}

static void test_plain_parse(void)
{
    char user[BK_AUTH_NAME_MAX + 1], pass[BK_AUTH_PASSWORD_MAX + 1];
    CHECK_EQ_INT(plain("\0alice\0pw with space", 20, user, pass), 0);
    CHECK_EQ_STR(user, "alice");
    CHECK_EQ_STR(pass, "pw with space");
    CHECK_EQ_INT(plain("alice\0alice\0x", 13, user, pass), 0); /* authzid = the user */
    CHECK_EQ_STR(user, "alice");
    CHECK_EQ_INT(plain("admin\0alice\0x", 13, user, pass), BK_EINVAL); /* acting for another */
    CHECK_EQ_INT(plain("alic\0alice\0x", 12, user, pass), BK_EINVAL);
    CHECK_EQ_INT(plain("\0alice\0", 7, user, pass), BK_EINVAL);      /* empty password */
    CHECK_EQ_INT(plain("\0\0pw", 4, user, pass), BK_EINVAL);         /* empty user */
    CHECK_EQ_INT(plain("\0alice", 6, user, pass), BK_EINVAL);        /* one NUL */
    CHECK_EQ_INT(plain("alice", 5, user, pass), BK_EINVAL);          /* none */
    CHECK_EQ_INT(plain("\0alice\0p\0w", 10, user, pass), BK_EINVAL); /* three */
    CHECK_EQ_INT(plain("\0al ice\0pw", 10, user, pass), BK_EINVAL);  /* name charset */
    CHECK_EQ_INT(plain("\0al\nice\0pw", 10, user, pass), BK_EINVAL);
    CHECK_EQ_INT(plain("", 0, user, pass), BK_EINVAL);
    char big[BK_AUTH_PASSWORD_MAX + 16];
    memset(big, 'p', sizeof big);
    memcpy(big, "\0bob\0", 5);
    CHECK_EQ_INT(plain(big, 5 + BK_AUTH_PASSWORD_MAX, user, pass), 0);
    CHECK_EQ_INT(plain(big, 6 + BK_AUTH_PASSWORD_MAX, user, pass), BK_EINVAL);
    char name[BK_AUTH_NAME_MAX + 8];
    memset(name, 'n', sizeof name);
    name[0] = 0;
    name[BK_AUTH_NAME_MAX + 2] = 0;
    name[BK_AUTH_NAME_MAX + 3] = 'p';
    CHECK_EQ_INT(plain(name, BK_AUTH_NAME_MAX + 4, user, pass), BK_EINVAL); /* 129 chars */
    name[BK_AUTH_NAME_MAX + 1] = 0;
    CHECK_EQ_INT(plain(name, BK_AUTH_NAME_MAX + 4, user, pass), BK_EINVAL); /* then 3 NULs */
}

/* ---- SCRAM as librdkafka 2.0 speaks it ---- */

static bk_scram_cred_t cred;

static int lookup(void *arg, const char *user, size_t len, bk_scram_cred_t *out)
{
    (void)arg;
    if (len != 5 || memcmp(user, "alice", 5) != 0)
        return UV_ENOENT;
    *out = cred;
    return 0;
}

/* The client-final message for a server-first message, with `final_nonce` as its r=. */
static size_t client_final(const char *first_bare, const char *server_first,
                           const char *final_nonce, char *out, size_t cap)
{
    const uint8_t salt[] = "0123456789abcdef";
    uint8_t salted[32], ck[32], sk[32], sig[32], proof[32];
    unsigned int n;
    PKCS5_PBKDF2_HMAC("pw", 2, salt, 16, 4096, EVP_sha256(), 32, salted);
    HMAC(EVP_sha256(), salted, 32, (const uint8_t *)"Client Key", 10, ck, &n);
    EVP_Digest(ck, 32, sk, &n, EVP_sha256(), NULL);
    char wo[700], am[2048];
    snprintf(wo, sizeof wo, "c=biws,r=%s", final_nonce);
    snprintf(am, sizeof am, "%s,%s,%s", first_bare, server_first, wo);
    HMAC(EVP_sha256(), sk, 32, (const uint8_t *)am, strlen(am), sig, &n);
    for (int i = 0; i < 32; i++)
        proof[i] = ck[i] ^ sig[i];
    char p64[64];
    size_t pl = bk_base64_encode(proof, 32, p64);
    return (size_t)snprintf(out, cap, "%s,p=%.*s", wo, (int)pl, p64);
}

/* Runs one exchange; returns step 2's result. */
static int exchange(const char *prefix_nonce)
{
    bk_scram_server_t s;
    bk_scram_server_init(&s, BK_SCRAM_SHA256, lookup, NULL);
    const char first[] = "n,,n=alice,r=CLIENTNONCE";
    char sf[256], cf[1024], out[256];
    size_t sl = 0, ol = 0;
    CHECK_EQ_INT(
        bk_scram_server_step(&s, (const uint8_t *)first, strlen(first), sf, sizeof sf, &sl),
        BK_SCRAM_CONTINUE);
    sf[sl] = 0;
    char nonce[600];
    snprintf(nonce, sizeof nonce, "%s%s", prefix_nonce, sf + 2 /* "r=" */);
    *strchr(nonce, ',') = 0;
    size_t cl = client_final(first + 3, sf, nonce, cf, sizeof cf);
    return bk_scram_server_step(&s, (const uint8_t *)cf, cl, out, sizeof out, &ol);
}

static void test_scram_librdkafka_nonce(void)
{
    const uint8_t salt[] = "0123456789abcdef";
    CHECK_EQ_INT(bk_scram_derive(BK_SCRAM_SHA256, "pw", 2, salt, 16, 4096, &cred), 0);
    CHECK_EQ_INT(exchange(""), BK_SCRAM_DONE);            /* RFC 5802: the combined nonce */
    CHECK_EQ_INT(exchange("CLIENTNONCE"), BK_SCRAM_DONE); /* librdkafka: client nonce again */
    CHECK_EQ_INT(exchange("CLIENTNONCX"), UV_EACCES);     /* anything else: refused */
    CHECK_EQ_INT(exchange("X"), UV_EACCES);
    CHECK_EQ_INT(exchange("CLIENTNONCECLIENTNONCE"), UV_EACCES);
}

/* ---- the API -> ACL table ---- */

static void test_every_api_has_a_rule(void)
{
    const bk_kapi_t *apis[BK_KAPI_KEY_LIMIT];
    size_t n = bk_kapi_supported(apis, BK_KAPI_KEY_LIMIT);
    CHECK(n >= 11);
    for (size_t i = 0; i < n; i++) {
        const bk_kauthz_rule_t *r = bk_kauthz_rule(apis[i]->key);
        if (!r) {
            fprintf(stderr, "  API %d (%s) has no access rule\n", apis[i]->key, apis[i]->name);
            CHECK(r != NULL);
            continue;
        }
        int pre = apis[i]->key == BK_KAPI_API_VERSIONS || apis[i]->key == BK_KAPI_SASL_HANDSHAKE ||
                  apis[i]->key == BK_KAPI_SASL_AUTHENTICATE;
        CHECK_EQ_INT(r->kind, pre ? BK_KAUTHZ_PREAUTH : BK_KAUTHZ_RESOURCES);
        CHECK(pre || (r->count && r->name_at));
    }
    /* Kafka's IdempotentWrite on the cluster, spelt write on the cluster */
    CHECK_EQ_INT(bk_kauthz_rule(BK_KAPI_INIT_PRODUCER_ID)->op, BK_OP_WRITE);
    CHECK(bk_kauthz_rule(BK_KAPI_SASL_HANDSHAKE + 1000) == NULL);
    CHECK(bk_kauthz_rule(999) == NULL);
    CHECK_EQ_INT(bk_kauthz_rule(BK_KAPI_JOIN_GROUP)->op, BK_OP_READ); /* groups: read the group */
    CHECK_EQ_INT(bk_kauthz_rule(BK_KAPI_OFFSET_COMMIT)->op, BK_OP_READ);
    CHECK_EQ_INT(bk_kauthz_rule(BK_KAPI_OFFSET_FETCH)->op, BK_OP_DESCRIBE);
    CHECK_EQ_INT(bk_kauthz_rule(BK_KAPI_PRODUCE)->op, BK_OP_WRITE);
    CHECK_EQ_INT(bk_kauthz_rule(BK_KAPI_FETCH)->op, BK_OP_READ);
    CHECK_EQ_INT(bk_kauthz_rule(BK_KAPI_LIST_OFFSETS)->op, BK_OP_DESCRIBE);
    CHECK_EQ_INT(bk_kauthz_rule(BK_KAPI_METADATA)->op, BK_OP_DESCRIBE);
    CHECK_EQ_INT(bk_kauthz_rule(BK_KAPI_CREATE_TOPICS)->op, BK_OP_CREATE);
    CHECK_EQ_INT(bk_kauthz_rule(BK_KAPI_DELETE_TOPICS)->op, BK_OP_DELETE);
    CHECK_EQ_INT(bk_kauthz_rule(BK_KAPI_CREATE_PARTITIONS)->op, BK_OP_ALTER);
    CHECK_EQ_INT(bk_kauthz_rule(BK_KAPI_DESCRIBE_CONFIGS)->op, BK_OP_DESCRIBE);
}

static bk_acl_t acl;

static int check(void *arg, bk_acl_resource_t res, const char *name, size_t len, bk_acl_op_t op)
{
    const char *user = arg;
    return bk_acl_allows(&acl, user, strlen(user), res, name, len, op);
}

static bk_kslice_t sl(const char *s)
{
    return (bk_kslice_t){(const uint8_t *)s, s ? (int32_t)strlen(s) : -1};
}

static void test_decisions(void)
{
    static const char rules[] = "allow User:alice topic prefixed a- read,write\n"
                                "deny  User:alice topic literal a-secret all\n"
                                "allow User:alice topic literal meta describe\n"
                                "allow User:alice topic literal made create\n"
                                "allow User:carol cluster literal kafka-cluster create,describe\n";
    char err[128];
    CHECK_EQ_INT(bk_acl_parse(rules, strlen(rules), &acl, err, sizeof err), 0);
    bk_karena_t a = {0};
    bk_krequest_t q;
    bk_kauthz_t z;
    /* Produce to three topics: allowed, denied by the deny rule, never granted */
    bk_kprod_topic_t pt[3] = {{sl("a-1"), 0, NULL}, {sl("a-secret"), 0, NULL}, {sl("b"), 0, NULL}};
    memset(&q, 0, sizeof q);
    q.h.key = BK_KAPI_PRODUCE;
    q.u.produce.ntopics = 3;
    q.u.produce.topics = pt;
    CHECK_EQ_INT(bk_kauthz_decide(bk_kauthz_rule(BK_KAPI_PRODUCE), &q, check, "alice", &a, &z), 0);
    CHECK_EQ_INT(z.n, 3);
    CHECK(bk_kauthz_allowed(&z, 0, BK_KAUTHZ_OK));
    CHECK(!bk_kauthz_allowed(&z, 1, BK_KAUTHZ_OK));
    CHECK(!bk_kauthz_allowed(&z, 2, BK_KAUTHZ_OK));
    CHECK(!bk_kauthz_allowed(&z, 3, BK_KAUTHZ_OK)); /* past the end */
    CHECK(!bk_kauthz_allowed(&z, -1, BK_KAUTHZ_OK));
    /* the same for bob: nothing */
    CHECK_EQ_INT(bk_kauthz_decide(bk_kauthz_rule(BK_KAPI_PRODUCE), &q, check, "bob", &a, &z), 0);
    CHECK(!bk_kauthz_allowed(&z, 0, BK_KAUTHZ_OK));
    /* Metadata: describe (read/write imply it), and create for auto-creation */
    bk_kslice_t mt[4] = {sl("a-1"), sl("meta"), sl("made"), sl(NULL)};
    memset(&q, 0, sizeof q);
    q.u.metadata.ntopics = 4;
    q.u.metadata.topics = mt;
    CHECK_EQ_INT(bk_kauthz_decide(bk_kauthz_rule(BK_KAPI_METADATA), &q, check, "alice", &a, &z), 0);
    CHECK(bk_kauthz_allowed(&z, 0, BK_KAUTHZ_OK) &&
          !bk_kauthz_allowed(&z, 0, BK_KAUTHZ_MAY_CREATE));
    CHECK(bk_kauthz_allowed(&z, 1, BK_KAUTHZ_OK) &&
          !bk_kauthz_allowed(&z, 1, BK_KAUTHZ_MAY_CREATE));
    CHECK(!bk_kauthz_allowed(&z, 2, BK_KAUTHZ_OK) &&
          bk_kauthz_allowed(&z, 2, BK_KAUTHZ_MAY_CREATE));
    CHECK(!bk_kauthz_allowed(&z, 3, BK_KAUTHZ_OK)); /* a null name: nothing */
    q.u.metadata.ntopics = -1; /* every topic: nothing named, listing filters */
    CHECK_EQ_INT(bk_kauthz_decide(bk_kauthz_rule(BK_KAPI_METADATA), &q, check, "alice", &a, &z), 0);
    CHECK_EQ_INT(z.n, 0);
    /* CreateTopics: create on the topic, or on the cluster for any topic */
    bk_kcreate_topic_t ct[2] = {{.name = sl("made")}, {.name = sl("other")}};
    memset(&q, 0, sizeof q);
    q.u.create_topics.ntopics = 2;
    q.u.create_topics.topics = ct;
    const bk_kauthz_rule_t *cr = bk_kauthz_rule(BK_KAPI_CREATE_TOPICS);
    CHECK_EQ_INT(bk_kauthz_decide(cr, &q, check, "alice", &a, &z), 0);
    CHECK(bk_kauthz_allowed(&z, 0, BK_KAUTHZ_OK) && !bk_kauthz_allowed(&z, 1, BK_KAUTHZ_OK));
    CHECK_EQ_INT(bk_kauthz_decide(cr, &q, check, "carol", &a, &z), 0);
    CHECK(bk_kauthz_allowed(&z, 0, BK_KAUTHZ_OK) && bk_kauthz_allowed(&z, 1, BK_KAUTHZ_OK));
    /* DescribeConfigs: a topic is the topic, a broker the cluster, other types nothing */
    bk_kdc_resource_t dr[3] = {
        {2, sl("meta"), -1, NULL}, {4, sl("7"), -1, NULL}, {3, sl("meta"), -1, NULL}};
    memset(&q, 0, sizeof q);
    q.u.describe_configs.nres = 3;
    q.u.describe_configs.res = dr;
    const bk_kauthz_rule_t *dc = bk_kauthz_rule(BK_KAPI_DESCRIBE_CONFIGS);
    CHECK_EQ_INT(bk_kauthz_decide(dc, &q, check, "alice", &a, &z), 0);
    CHECK(bk_kauthz_allowed(&z, 0, BK_KAUTHZ_OK));
    CHECK(!bk_kauthz_allowed(&z, 1, BK_KAUTHZ_OK));
    CHECK(!bk_kauthz_allowed(&z, 2, BK_KAUTHZ_OK));
    CHECK_EQ_INT(bk_kauthz_decide(dc, &q, check, "carol", &a, &z), 0);
    CHECK(!bk_kauthz_allowed(&z, 0, BK_KAUTHZ_OK) && bk_kauthz_allowed(&z, 1, BK_KAUTHZ_OK));
    /* nothing decided: nothing allowed; authentication off: everything */
    bk_kauthz_t none = {0};
    CHECK(!bk_kauthz_allowed(&none, 0, BK_KAUTHZ_OK));
    bk_kauthz_t off = {.off = 1};
    CHECK(bk_kauthz_allowed(&off, 5, BK_KAUTHZ_OK | BK_KAUTHZ_MAY_CREATE));
    bk_karena_free(&a);
    bk_acl_free(&acl);
}

CHECK_MAIN(CASE(test_handshake_codec), CASE(test_authenticate_codec), CASE(test_plain_parse),
           CASE(test_scram_librdkafka_nonce), CASE(test_every_api_has_a_rule), CASE(test_decisions))
