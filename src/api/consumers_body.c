/* Parsing the consumer API's request bodies (see consumers_body.h). The checks before the
 * tree is built bound its size and depth; the tree is then only walked one level or two down,
 * so no body can make a handler work hard. Never keeps a pointer into the tree past the
 * handler that parsed it. */
#include "api/consumers_body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/broker.h"
#include "brook/common.h"
#include "http/json.h"
#include "http/response.h"

static void bad(bk_exchange_t *ex, const char *msg)
{
    bk_exchange_error(ex, 42204, msg);
}

/* Deepest nesting of brackets outside strings; also flags an escaped NUL (\u0000). */
static int scan(const uint8_t *p, size_t len, int *nul)
{
    int depth = 0, max = 0, in_str = 0;
    *nul = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = p[i];
        if (in_str) {
            if (ch == '\\' && i + 1 < len) {
                if (p[i + 1] == 'u' && i + 5 < len && memcmp(p + i + 2, "0000", 4) == 0)
                    *nul = 1;
                i++;
            } else if (ch == '"') {
                in_str = 0;
            }
        } else if (ch == '"') {
            in_str = 1;
        } else if (ch == '{' || ch == '[') {
            if (++depth > max)
                max = depth;
        } else if (ch == '}' || ch == ']') {
            depth--;
        }
    }
    return max;
}

static int blank(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return 0;
    return 1;
}

/* Size, type, text and shape checks; 1 when the body may be parsed. */
static int precheck(bk_exchange_t *ex)
{
    if (ex->body_len > BK_CONS_BODY_MAX) {
        bk_exchange_errorf(ex, 413, "request body is %zu bytes; consumer requests take at most %u",
                           ex->body_len, BK_CONS_BODY_MAX);
        return 0;
    }
    if (!bk_api_require_json(ex))
        return 0;
    size_t at;
    int problem = bk_json_text_check(ex->body, ex->body_len, &at);
    if (problem == BK_JSON_TEXT_OK && !bk_json_valid(ex->body, ex->body_len)) {
        bk_exchange_error(ex, 400, "request body is not valid JSON"); /* what yajl lets by */
        return 0;
    }
    if (problem != BK_JSON_TEXT_OK) {
        char msg[128];
        bk_json_text_problem(problem, at, msg, sizeof msg);
        bk_exchange_errorf(ex, 400, "request body is not usable JSON: %s", msg);
        return 0;
    }
    int nul;
    if (scan(ex->body, ex->body_len, &nul) > 8) {
        bad(ex, "request body nests deeper than 8 levels");
        return 0;
    }
    if (nul) {
        bad(ex, "request body contains a NUL character (\\u0000)");
        return 0;
    }
    return 1;
}

int bk_cons_body(bk_exchange_t *ex, int empty_ok, yajl_val *out)
{
    *out = NULL;
    if (ex->body_len == 0 || blank(ex->body, ex->body_len)) {
        if (!empty_ok)
            bad(ex, "a JSON object body is required");
        return empty_ok;
    }
    if (!precheck(ex))
        return 0;
    char *text = malloc(ex->body_len + 1);
    if (!text) {
        bk_exchange_error(ex, 503, "out of memory");
        return 0;
    }
    memcpy(text, ex->body, ex->body_len);
    text[ex->body_len] = 0;
    char err[128] = "";
    yajl_val v = yajl_tree_parse(text, err, sizeof err);
    free(text);
    if (!v) {
        err[strcspn(err, "\n")] = 0;
        bk_exchange_errorf(ex, 400, "request body is not valid JSON: %s", err);
        return 0;
    }
    if (!YAJL_IS_OBJECT(v)) {
        yajl_tree_free(v);
        bad(ex, "request body must be a JSON object");
        return 0;
    }
    *out = v;
    return 1;
}

static yajl_val member(yajl_val obj, const char *key)
{
    if (!obj || !YAJL_IS_OBJECT(obj))
        return NULL;
    for (size_t i = 0; i < obj->u.object.len; i++)
        if (strcmp(obj->u.object.keys[i], key) == 0)
            return obj->u.object.values[i];
    return NULL;
}

const char *bk_cons_body_str(yajl_val root, const char *key, int *badp)
{
    yajl_val v = member(root, key);
    *badp = 0;
    if (!v || YAJL_IS_NULL(v))
        return NULL;
    if (!YAJL_IS_STRING(v)) {
        *badp = 1;
        return NULL;
    }
    return v->u.string;
}

int bk_cons_body_int(yajl_val root, const char *key, int64_t min, int64_t max, int64_t *out)
{
    yajl_val v = member(root, key);
    if (!v || YAJL_IS_NULL(v))
        return 0;
    int64_t x;
    if (YAJL_IS_INTEGER(v))
        x = v->u.number.i;
    else if (!YAJL_IS_STRING(v) ||
             bk_parse_int(v->u.string, strlen(v->u.string), INT64_MIN, INT64_MAX, &x) != 0)
        return -1;
    if (x < min || x > max)
        return -1;
    *out = x;
    return 1;
}

/* {"topic": non-empty string, "partition": int32 >= 0}; 1 or 0 (answered). */
static int tpart(bk_exchange_t *ex, yajl_val e, size_t i, const char **topic, int32_t *part)
{
    char msg[160];
    int b;
    *topic = bk_cons_body_str(e, "topic", &b);
    yajl_val p = member(e, "partition");
    if (!YAJL_IS_OBJECT(e) || !*topic || !**topic) {
        snprintf(msg, sizeof msg, "entry %zu: \"topic\" must be a non-empty string", i);
        bad(ex, msg);
        return 0;
    }
    if (!p || !YAJL_IS_INTEGER(p) || p->u.number.i < 0 || p->u.number.i > INT32_MAX) {
        snprintf(msg, sizeof msg, "entry %zu: \"partition\" must be an integer from 0 to %d", i,
                 INT32_MAX);
        bad(ex, msg);
        return 0;
    }
    *part = (int32_t)p->u.number.i;
    return 1;
}

static yajl_val list(bk_exchange_t *ex, yajl_val root, const char *key, int optional, int *ok)
{
    yajl_val l = member(root, key);
    *ok = 1;
    if (!l && optional)
        return NULL;
    if (!l || !YAJL_IS_ARRAY(l)) {
        bk_exchange_errorf(ex, 42204, "\"%s\" must be a JSON array", key);
        *ok = 0;
        return NULL;
    }
    if (l->u.array.len > 100000) {
        bk_exchange_errorf(ex, 42204, "\"%s\" lists more than 100000 entries", key);
        *ok = 0;
        return NULL;
    }
    return l;
}

int bk_cons_body_tparts(bk_exchange_t *ex, yajl_val root, const char *key, int optional,
                        bk_grp_assignment_t *a)
{
    int ok;
    yajl_val l = list(ex, root, key, optional, &ok);
    for (size_t i = 0; ok && l && i < l->u.array.len; i++) {
        const char *topic;
        int32_t part;
        if (!tpart(ex, l->u.array.values[i], i, &topic, &part))
            return 0;
        if (bk_grp_assignment_add(a, topic, part)) {
            bk_exchange_error(ex, 503, "out of memory");
            return 0;
        }
    }
    return ok;
}

int bk_cons_body_offsets(bk_exchange_t *ex, yajl_val root, bk_cons_offset_in_t **out, size_t *n)
{
    int ok;
    *out = NULL;
    *n = 0;
    yajl_val l = list(ex, root, "offsets", 0, &ok);
    if (!ok)
        return 0;
    *out = calloc(l->u.array.len ? l->u.array.len : 1, sizeof **out);
    if (!*out) {
        bk_exchange_error(ex, 503, "out of memory");
        return 0;
    }
    for (size_t i = 0; i < l->u.array.len; i++) {
        yajl_val e = l->u.array.values[i];
        bk_cons_offset_in_t *o = &(*out)[i];
        int b = 0;
        if (!tpart(ex, e, i, &o->topic, &o->partition))
            return 0;
        yajl_val off = member(e, "offset");
        o->metadata = bk_cons_body_str(e, "metadata", &b);
        if (!off || !YAJL_IS_INTEGER(off) || off->u.number.i < 0 || b) {
            bk_exchange_errorf(ex, 42204,
                               "entry %zu: \"offset\" must be an integer >= 0 (and \"metadata\", "
                               "if given, a string)",
                               i);
            return 0;
        }
        o->offset = off->u.number.i;
        if (!o->metadata)
            o->metadata = "";
        (*n)++;
    }
    return 1;
}
