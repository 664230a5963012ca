/* Fuzz target for Kafka request decoding: any bytes as one frame (the size prefix removed),
 * and the same bytes with the header rewritten to every implemented API key and version, so
 * each body decoder meets hostile input (SaslHandshake, SaslAuthenticate and the group APIs
 * among them). Whatever decodes must point inside the input. A SASL token that decodes is also
 * fed to what the listener feeds it to: the PLAIN parser, and a SCRAM server's two steps. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "brook/auth.h"
#include "kafka/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void inside(bk_kslice_t s, const uint8_t *data, size_t len)
{
    if (s.len > 0 && (s.ptr < data || s.ptr + s.len > data + len))
        abort();
}

static int lookup(void *arg, const char *user, size_t len, bk_scram_cred_t *out)
{
    (void)arg;
    if (len == 0 || user[0] != 'a')
        return -1;
    memset(out, 0, sizeof *out);
    out->present = 1;
    out->iterations = 4096;
    out->salt_len = 16;
    return 0;
}

/* A token as sasl.c would see it: PLAIN, then both SCRAM steps (the token cut in two). */
static void sasl_token(bk_kslice_t t)
{
    if (t.len < 0)
        return;
    char user[BK_AUTH_NAME_MAX + 1], pass[BK_AUTH_PASSWORD_MAX + 1], out[512];
    size_t ul, pl, ol;
    if (bk_ksasl_plain_parse(t.ptr, (size_t)t.len, user, &ul, pass, &pl) == 0 &&
        (ul != strlen(user) || pl != strlen(pass) || !bk_user_name_valid(user, ul)))
        abort();
    bk_scram_server_t s;
    bk_scram_server_init(&s, t.len & 1 ? BK_SCRAM_SHA512 : BK_SCRAM_SHA256, lookup, NULL);
    size_t half = (size_t)t.len / 2;
    if (bk_scram_server_step(&s, t.ptr, half, out, sizeof out, &ol) == BK_SCRAM_CONTINUE) {
        if (ol >= sizeof out)
            abort();
        (void)bk_scram_server_step(&s, t.ptr + half, (size_t)t.len - half, out, sizeof out, &ol);
    }
}

/* The byte arrays of the group APIs the handlers hand on (metadata, assignments, offsets'
 * metadata, member ids). */
static void inside_group(const bk_krequest_t *q, const uint8_t *data, size_t len)
{
    if (q->h.key == BK_KAPI_JOIN_GROUP)
        for (int32_t i = 0; i < q->u.join_group.nprotocols; i++) {
            inside(q->u.join_group.protocols[i].name, data, len);
            inside(q->u.join_group.protocols[i].metadata, data, len);
        }
    if (q->h.key == BK_KAPI_SYNC_GROUP)
        for (int32_t i = 0; i < q->u.sync_group.nassign; i++) {
            inside(q->u.sync_group.assign[i].member_id, data, len);
            inside(q->u.sync_group.assign[i].assignment, data, len);
        }
    if (q->h.key == BK_KAPI_LEAVE_GROUP)
        for (int32_t i = 0; i < q->u.leave_group.nmembers; i++)
            inside(q->u.leave_group.members[i], data, len);
    if (q->h.key == BK_KAPI_OFFSET_COMMIT)
        for (int32_t i = 0; i < q->u.offset_commit.ntopics; i++)
            for (int32_t j = 0; j < q->u.offset_commit.topics[i].nparts; j++)
                inside(q->u.offset_commit.topics[i].parts[j].metadata, data, len);
    if (q->h.key == BK_KAPI_OFFSET_FETCH)
        for (int32_t i = 0; i < q->u.offset_fetch.ntopics; i++)
            inside(q->u.offset_fetch.topics[i].name, data, len);
    if (q->h.key == BK_KAPI_DESCRIBE_GROUPS)
        for (int32_t i = 0; i < q->u.describe_groups.ngroups; i++)
            inside(q->u.describe_groups.groups[i], data, len);
}

static void decode(const uint8_t *data, size_t len)
{
    bk_karena_t a = {0};
    bk_krequest_t q;
    int rc = bk_kafka_decode(data, len, &a, &q);
    if (rc == 0) {
        inside(q.h.client_id, data, len);
        if (q.h.key == BK_KAPI_PRODUCE)
            for (int32_t i = 0; i < q.u.produce.ntopics; i++)
                for (int32_t j = 0; j < q.u.produce.topics[i].nparts; j++)
                    inside(q.u.produce.topics[i].parts[j].records, data, len);
        if (q.h.key == BK_KAPI_INIT_PRODUCER_ID)
            inside(q.u.init_producer_id.txn_id, data, len);
        if (q.h.key == BK_KAPI_SASL_HANDSHAKE) {
            bk_ksasl_mech_t m;
            inside(q.u.sasl_handshake.mechanism, data, len);
            if (bk_ksasl_mech_parse(q.u.sasl_handshake.mechanism, &m) == 0 && m >= BK_KSASL_MECHS)
                abort();
        }
        if (q.h.key == BK_KAPI_SASL_AUTHENTICATE) {
            inside(q.u.sasl_authenticate.auth_bytes, data, len);
            sasl_token(q.u.sasl_authenticate.auth_bytes);
        }
        inside_group(&q, data, len);
    }
    bk_karena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    decode(data, len);
    if (len < 4 || len > (1 << 20))
        return 0;
    uint8_t *copy = malloc(len);
    if (!copy)
        return 0;
    const bk_kapi_t *apis[BK_KAPI_KEY_LIMIT];
    size_t n = bk_kapi_supported(apis, BK_KAPI_KEY_LIMIT);
    const bk_kapi_t *api = apis[data[0] % n];
    int16_t ver = (int16_t)(api->min + data[1] % (api->max - api->min + 1));
    memcpy(copy, data, len);
    copy[0] = (uint8_t)(api->key >> 8);
    copy[1] = (uint8_t)api->key;
    copy[2] = (uint8_t)(ver >> 8);
    copy[3] = (uint8_t)ver;
    decode(copy, len);
    free(copy);
    return 0;
}
