/* The users file: one SCRAM credential per line, "NAME MECHANISM ITERATIONS SALT STOREDKEY
 * SERVERKEY" (the last three base64), '#' comments and blank lines allowed; the README's
 * "Security" section is the reference. The parser refuses anything it does not fully
 * understand with the line and the reason, so a broken file is never half-loaded. Saving is
 * crash-safe (temp file, fsync, rename, fsync of the directory); no password is ever written. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "auth/text.h"
#include "brook/auth.h"
#include "brook/common.h"
#include "common/base64.h"

#define MIN_SALT 8

int bk_user_name_valid(const char *s, size_t len)
{
    if (len == 0 || len > BK_AUTH_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '@'))
            return 0;
    }
    return 1;
}

const bk_user_t *bk_users_find(const bk_users_t *u, const char *name, size_t len)
{
    for (size_t i = 0; i < u->n; i++)
        if (strlen(u->v[i].name) == len && memcmp(u->v[i].name, name, len) == 0)
            return &u->v[i];
    return NULL;
}

static bk_user_t *find_mut(bk_users_t *u, const char *name, size_t len)
{
    return (bk_user_t *)bk_users_find(u, name, len);
}

int bk_users_put(bk_users_t *u, const bk_user_t *user)
{
    bk_user_t *have = find_mut(u, user->name, strlen(user->name));
    if (have) {
        *have = *user;
        return 0;
    }
    if (bk_grow(&u->v, &u->cap, u->n, 1, sizeof *u->v, 8))
        return UV_ENOMEM;
    u->v[u->n++] = *user;
    return 0;
}

int bk_users_remove(bk_users_t *u, const char *name)
{
    bk_user_t *have = find_mut(u, name, strlen(name));
    if (!have)
        return UV_ENOENT;
    size_t i = (size_t)(have - u->v);
    memmove(&u->v[i], &u->v[i + 1], (u->n - i - 1) * sizeof *u->v);
    u->n--;
    return 0;
}

void bk_users_free(bk_users_t *u)
{
    if (u->v)
        OPENSSL_cleanse(u->v, u->cap * sizeof *u->v);
    free(u->v);
    memset(u, 0, sizeof *u);
}

/* Decodes base64 field f into out (exactly want bytes, or min..cap when want is 0). */
static int decode_field(const bk_field_t *f, uint8_t *out, size_t cap, size_t want, size_t min,
                        size_t *got)
{
    uint8_t tmp[128];
    if (f->len > 160)
        return -1;
    long n = bk_base64_decode(f->p, f->len, tmp);
    if (n < 0)
        return -1;
    size_t len = (size_t)n;
    if ((want && len != want) || (!want && (len < min || len > cap)))
        return -1;
    memcpy(out, tmp, len);
    *got = len;
    return 0;
}

/* One credential line into u. Returns 0 or -1 with err set to the reason. */
static int parse_line(bk_users_t *u, const bk_field_t *f, int nf, char *why, size_t cap)
{
    if (nf != 6)
        return snprintf(why, cap,
                        "expected 6 fields (NAME MECHANISM ITERATIONS SALT STOREDKEY "
                        "SERVERKEY), found %d",
                        nf),
               -1;
    if (!bk_user_name_valid(f[0].p, f[0].len))
        return snprintf(why, cap, "invalid user name (1-%d characters of [A-Za-z0-9._@-])",
                        BK_AUTH_NAME_MAX),
               -1;
    bk_scram_mech_t m;
    if (bk_scram_mech_parse(f[1].p, f[1].len, &m))
        return snprintf(why, cap, "unknown mechanism %.*s (SCRAM-SHA-256 or SCRAM-SHA-512)",
                        (int)(f[1].len > 40 ? 40 : f[1].len), f[1].p),
               -1;
    uint64_t it;
    if (bk_text_u64(&f[2], &it) || it < BK_SCRAM_MIN_ITERATIONS || it > BK_SCRAM_MAX_ITERATIONS)
        return snprintf(why, cap, "iterations must be a number from %d to %d",
                        BK_SCRAM_MIN_ITERATIONS, BK_SCRAM_MAX_ITERATIONS),
               -1;
    bk_scram_cred_t c = {.present = 1, .iterations = (uint32_t)it};
    size_t hl = bk_scram_hash_len(m), got;
    if (decode_field(&f[3], c.salt, sizeof c.salt, 0, MIN_SALT, &c.salt_len))
        return snprintf(why, cap, "salt must be base64 of %d to %zu bytes", MIN_SALT,
                        sizeof c.salt),
               -1;
    if (decode_field(&f[4], c.stored_key, sizeof c.stored_key, hl, 0, &got) ||
        decode_field(&f[5], c.server_key, sizeof c.server_key, hl, 0, &got))
        return snprintf(why, cap, "stored and server keys must be base64 of %zu bytes for %s", hl,
                        bk_scram_mech_name(m)),
               -1;
    bk_user_t *user = find_mut(u, f[0].p, f[0].len);
    if (user && user->cred[m].present)
        return snprintf(why, cap, "second %s credential for user %.*s", bk_scram_mech_name(m),
                        (int)f[0].len, f[0].p),
               -1;
    if (!user) {
        bk_user_t fresh;
        memset(&fresh, 0, sizeof fresh);
        memcpy(fresh.name, f[0].p, f[0].len);
        if (bk_users_put(u, &fresh))
            return snprintf(why, cap, "out of memory"), -1;
        user = &u->v[u->n - 1];
    }
    user->cred[m] = c;
    return 0;
}

int bk_users_parse(const char *text, size_t len, bk_users_t *out, char *err, size_t err_cap)
{
    memset(out, 0, sizeof *out);
    bk_text_iter_t it;
    bk_text_begin(&it, text, len);
    bk_field_t f[8];
    int nf;
    char why[200];
    while ((nf = bk_text_next(&it, f, 8)) >= 0) {
        if (nf == 0)
            continue;
        if (nf > 7 || parse_line(out, f, nf, why, sizeof why)) {
            if (nf > 7)
                snprintf(why, sizeof why, "expected 6 fields, found more");
            snprintf(err, err_cap, "line %u: %s", it.line, why);
            bk_users_free(out);
            return BK_EINVAL;
        }
    }
    if (nf == BK_TEXT_BAD) {
        snprintf(err, err_cap, "line %u: %s", it.line, it.why);
        bk_users_free(out);
        return BK_EINVAL;
    }
    return 0;
}

int bk_users_load(const char *path, bk_users_t *out, char *err, size_t err_cap)
{
    char *text;
    size_t len;
    char why[256];
    int rc = bk_text_read_file(path, &text, &len);
    if (rc) {
        snprintf(err, err_cap, "%s: %s", path, uv_strerror(rc));
        return rc;
    }
    rc = bk_users_parse(text, len, out, why, sizeof why);
    if (rc)
        snprintf(err, err_cap, "%s: %s", path, why);
    OPENSSL_cleanse(text, len);
    free(text);
    return rc;
}

char *bk_users_format(const bk_users_t *u)
{
    bk_text_out_t o = {0};
    bk_text_printf(&o, "# Brook users file: NAME MECHANISM ITERATIONS SALT STOREDKEY SERVERKEY\n"
                       "# (salted SCRAM credentials, RFC 5802/7677; written by `brook user`)\n");
    for (size_t i = 0; i < u->n; i++) {
        for (int m = 0; m < BK_SCRAM_MECH_COUNT; m++) {
            const bk_scram_cred_t *c = &u->v[i].cred[m];
            if (!c->present)
                continue;
            size_t hl = bk_scram_hash_len((bk_scram_mech_t)m);
            char salt[100], stored[100], server[100];
            salt[bk_base64_encode(c->salt, c->salt_len, salt)] = 0;
            stored[bk_base64_encode(c->stored_key, hl, stored)] = 0;
            server[bk_base64_encode(c->server_key, hl, server)] = 0;
            bk_text_printf(&o, "%s %s %u %s %s %s\n", u->v[i].name,
                           bk_scram_mech_name((bk_scram_mech_t)m), c->iterations, salt, stored,
                           server);
        }
    }
    if (o.failed) {
        free(o.p);
        return NULL;
    }
    return o.p;
}

int bk_users_save(const char *path, const bk_users_t *u)
{
    char *text = bk_users_format(u);
    if (!text)
        return UV_ENOMEM;
    int rc = bk_text_write_file(path, text, strlen(text), 0600);
    free(text);
    return rc;
}

int bk_user_make(const char *name, const char *password, size_t plen, uint32_t iterations,
                 bk_user_t *out)
{
    memset(out, 0, sizeof *out);
    if (!bk_user_name_valid(name, strlen(name)) || iterations < BK_SCRAM_MIN_ITERATIONS)
        return BK_EINVAL;
    snprintf(out->name, sizeof out->name, "%s", name);
    for (int m = 0; m < BK_SCRAM_MECH_COUNT; m++) {
        uint8_t salt[BK_SCRAM_SALT_LEN];
        if (RAND_bytes(salt, sizeof salt) != 1)
            return UV_EIO;
        int rc = bk_scram_derive((bk_scram_mech_t)m, password, plen, salt, sizeof salt, iterations,
                                 &out->cred[m]);
        if (rc)
            return rc;
    }
    return 0;
}
