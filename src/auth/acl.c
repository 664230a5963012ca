/* Kafka-shaped ACLs: the file format (one rule per line, "allow|deny User:NAME|User:*
 * topic|group|cluster literal|prefixed NAME OP[,OP...]") and the pure decision every request
 * ends in. Deny wins over allow; no matching allow means no. Matching allocates nothing and
 * does no I/O; it is a scan of the rules, which stay few in practice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "auth/text.h"
#include "brook/auth.h"
#include "brook/common.h"

static const char *const op_names[BK_OP_COUNT] = {"read",  "write",    "create",         "delete",
                                                  "alter", "describe", "cluster_action", "all"};
static const char *const res_names[BK_RES_COUNT] = {"topic", "group", "cluster"};

const char *bk_acl_op_name(bk_acl_op_t op)
{
    return op < BK_OP_COUNT ? op_names[op] : "?";
}

const char *bk_acl_resource_name(bk_acl_resource_t r)
{
    return r < BK_RES_COUNT ? res_names[r] : "?";
}

void bk_acl_free(bk_acl_t *a)
{
    free(a->v);
    memset(a, 0, sizeof *a);
}

static int parse_principal(const bk_field_t *f, bk_acl_rule_t *r)
{
    if (f->len < 6 || memcmp(f->p, "User:", 5) != 0)
        return -1;
    const char *name = f->p + 5;
    size_t len = f->len - 5;
    if (len == 1 && name[0] == '*') {
        r->any_user = 1;
        return 0;
    }
    if (!bk_user_name_valid(name, len))
        return -1;
    memcpy(r->user, name, len);
    r->user[len] = 0;
    return 0;
}

static int parse_op(const char *s, size_t len, bk_acl_op_t *out)
{
    for (int i = 0; i < BK_OP_COUNT; i++)
        if (strlen(op_names[i]) == len && memcmp(op_names[i], s, len) == 0) {
            *out = (bk_acl_op_t)i;
            return 0;
        }
    return -1;
}

static int valid_resource_name(const bk_acl_rule_t *r, const bk_field_t *f)
{
    if (f->len == 0 || f->len >= sizeof r->name)
        return 0;
    if (r->resource == BK_RES_CLUSTER)
        return !r->prefixed && (bk_text_is(f, BK_ACL_CLUSTER_NAME) || bk_text_is(f, "*"));
    return 1;
}

/* The rule's fields but the operations. -1 with why set. */
static int parse_head(const bk_field_t *f, bk_acl_rule_t *r, char *why, size_t cap)
{
    memset(r, 0, sizeof *r);
    if (bk_text_is(&f[0], "allow"))
        r->allow = 1;
    else if (!bk_text_is(&f[0], "deny"))
        return snprintf(why, cap, "the first field must be allow or deny"), -1;
    if (parse_principal(&f[1], r))
        return snprintf(why, cap, "the principal must be User:NAME or User:*"), -1;
    int res = -1;
    for (int i = 0; i < BK_RES_COUNT; i++)
        if (bk_text_is(&f[2], res_names[i]))
            res = i;
    if (res < 0)
        return snprintf(why, cap, "the resource type must be topic, group or cluster"), -1;
    r->resource = (bk_acl_resource_t)res;
    if (bk_text_is(&f[3], "prefixed"))
        r->prefixed = 1;
    else if (!bk_text_is(&f[3], "literal"))
        return snprintf(why, cap, "the pattern type must be literal or prefixed"), -1;
    if (!valid_resource_name(r, &f[4]))
        return snprintf(why, cap,
                        r->resource == BK_RES_CLUSTER
                            ? "a cluster rule is literal and names " BK_ACL_CLUSTER_NAME " or *"
                            : "the resource name must be 1-255 bytes"),
               -1;
    memcpy(r->name, f[4].p, f[4].len);
    r->name[f[4].len] = 0;
    return 0;
}

/* One line: a rule per listed operation. */
static int parse_line(bk_acl_t *a, const bk_field_t *f, int nf, char *why, size_t cap)
{
    if (nf != 6)
        return snprintf(why, cap,
                        "expected 6 fields (allow|deny PRINCIPAL RESOURCE-TYPE "
                        "PATTERN-TYPE NAME OPERATIONS), found %d",
                        nf),
               -1;
    bk_acl_rule_t r;
    if (parse_head(f, &r, why, cap))
        return -1;
    const char *p = f[5].p, *end = f[5].p + f[5].len;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        if (parse_op(p, (size_t)(e - p), &r.op))
            return snprintf(why, cap,
                            "unknown operation %.*s (read, write, create, delete, "
                            "alter, describe, cluster_action or all)",
                            (int)((e - p) > 40 ? 40 : (e - p)), p),
                   -1;
        if (bk_grow(&a->v, &a->cap, a->n, 1, sizeof *a->v, 16))
            return snprintf(why, cap, "out of memory"), -1;
        a->v[a->n++] = r;
        p = e + 1;
    }
    return 0;
}

int bk_acl_parse(const char *text, size_t len, bk_acl_t *out, char *err, size_t err_cap)
{
    memset(out, 0, sizeof *out);
    bk_text_iter_t it;
    bk_text_begin(&it, text, len);
    bk_field_t f[6];
    int nf;
    char why[200];
    while ((nf = bk_text_next(&it, f, 6)) >= 0) {
        if (nf == 0)
            continue;
        if (parse_line(out, f, nf, why, sizeof why)) {
            snprintf(err, err_cap, "line %u: %s", it.line, why);
            bk_acl_free(out);
            return BK_EINVAL;
        }
    }
    if (nf == BK_TEXT_BAD) {
        snprintf(err, err_cap, "line %u: %s", it.line, it.why);
        bk_acl_free(out);
        return BK_EINVAL;
    }
    return 0;
}

int bk_acl_load(const char *path, bk_acl_t *out, char *err, size_t err_cap)
{
    char *text;
    size_t len;
    char why[256];
    int rc = bk_text_read_file(path, &text, &len);
    if (rc) {
        snprintf(err, err_cap, "%s: %s", path, uv_strerror(rc));
        return rc;
    }
    rc = bk_acl_parse(text, len, out, why, sizeof why);
    if (rc)
        snprintf(err, err_cap, "%s: %s", path, why);
    free(text);
    return rc;
}

static int name_matches(const bk_acl_rule_t *r, const char *name, size_t nlen)
{
    size_t rl = strlen(r->name);
    if (r->prefixed)
        return nlen >= rl && memcmp(r->name, name, rl) == 0;
    if (rl == 1 && r->name[0] == '*')
        return 1;
    return rl == nlen && memcmp(r->name, name, nlen) == 0;
}

/* Does rule r's operation cover op? An allow of read, write, delete or alter implies describe;
 * a deny covers only its own operation (and all). */
static int op_matches(const bk_acl_rule_t *r, bk_acl_op_t op)
{
    if (r->op == BK_OP_ALL || r->op == op)
        return 1;
    return r->allow && op == BK_OP_DESCRIBE &&
           (r->op == BK_OP_READ || r->op == BK_OP_WRITE || r->op == BK_OP_DELETE ||
            r->op == BK_OP_ALTER);
}

static int rule_matches(const bk_acl_rule_t *r, const char *user, size_t ulen,
                        bk_acl_resource_t res, const char *name, size_t nlen, bk_acl_op_t op)
{
    if (r->resource != res || !op_matches(r, op))
        return 0;
    if (!r->any_user && (strlen(r->user) != ulen || memcmp(r->user, user, ulen) != 0))
        return 0;
    return name_matches(r, name, nlen);
}

int bk_acl_allows(const bk_acl_t *a, const char *user, size_t ulen, bk_acl_resource_t res,
                  const char *name, size_t nlen, bk_acl_op_t op)
{
    int allowed = 0;
    for (size_t i = 0; i < a->n; i++) {
        const bk_acl_rule_t *r = &a->v[i];
        if (!rule_matches(r, user, ulen, res, name, nlen, op))
            continue;
        if (!r->allow)
            return 0; /* deny wins */
        allowed = 1;
    }
    return allowed;
}
