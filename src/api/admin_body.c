/* yajl callbacks for the topic administration bodies. Only three levels are meaningful
 * (body, configs, one config entry); anything deeper is refused, so no input can make the
 * parser work hard. Names and values are bounded copies into fixed fields. */
#include "api/admin_body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "http/json.h"

enum { F_OTHER = 0, F_NAME, F_PARTITIONS, F_RF, F_CONFIGS };

#define CTX(c) ((bk_admin_body_t *)(c))

static int fail(bk_admin_body_t *b, int status, const char *msg)
{
    if (!b->error_status) {
        b->error_status = status;
        snprintf(b->error, sizeof b->error, "%s", msg);
    }
    return 0;
}

static int fail_code(bk_admin_body_t *b, int code, const char *msg)
{
    if (!b->error_status)
        b->error_code = code;
    return fail(b, 422, msg);
}

/* A NUL would cut the C string short: "a\u0000b" must not act as "a". */
static int has_nul(const unsigned char *s, size_t len)
{
    return len > 0 && memchr(s, 0, len) != NULL;
}

static int copy(char *dst, size_t cap, const unsigned char *s, size_t len)
{
    if (len >= cap)
        return 0;
    memcpy(dst, s, len);
    dst[len] = 0;
    return 1;
}

static int add_config(bk_admin_body_t *b, const char *name, const unsigned char *v, size_t len)
{
    if (b->config_count == BK_ADMIN_MAX_CONFIGS)
        return fail(b, 422, "too many configs");
    if (has_nul(v, len))
        return fail_code(b, 42205, "config value contains a NUL character (\\u0000)");
    int i = b->config_count++;
    snprintf(b->configs[i].name, sizeof b->configs[i].name, "%s", name);
    if (!copy(b->configs[i].value, sizeof b->configs[i].value, v, len))
        return fail(b, 422, "config value too long");
    return 1;
}

static int int_field(bk_admin_body_t *b, int kind, const unsigned char *s, size_t len, int64_t *out,
                     const char *what)
{
    char msg[96];
    snprintf(msg, sizeof msg, "\"%s\" must be an integer from 1 to 10000", what);
    /* 10000: the log's limit on partitions per topic */
    if (kind != 'i' || bk_parse_int((const char *)s, len, 1, 10000, out) != 0)
        return fail(b, 422, msg);
    return 1;
}

static int scalar(bk_admin_body_t *b, int kind, const unsigned char *s, size_t len)
{
    if (b->depth == 0)
        return fail(b, 422, "request body must be a JSON object");
    if (b->depth == 1) {
        switch (b->field) {
        case F_NAME:
            if (kind == 's' && has_nul(s, len))
                return fail_code(b, 42208,
                                 "invalid topic name: \"name\" contains a NUL character "
                                 "(\\u0000); use 1-249 characters of [a-zA-Z0-9._-]");
            if (kind != 's' || !copy(b->name, sizeof b->name, s, len))
                return fail(b, 422, "\"name\" must be a string of at most 249 characters");
            b->has_name = 1;
            return 1;
        case F_PARTITIONS:
            return int_field(b, kind, s, len, &b->partitions, "partitions");
        case F_RF:
            return int_field(b, kind, s, len, &b->replication_factor, "replication_factor");
        case F_CONFIGS:
            return kind == 'n' ? 1 : fail(b, 422, "\"configs\" must be an object");
        default:
            return 1;
        }
    }
    if (kind != 's' && kind != 'i')
        return fail(b, 422, "config values must be strings or integers");
    if (b->depth == 2 && !b->in_configs_array)
        return add_config(b, b->pending_name, s, len);
    if (b->depth == 3 && b->in_configs_array) {
        if (b->pending_config == 1) {
            if (has_nul(s, len))
                return fail_code(b, 42205, "config name contains a NUL character (\\u0000)");
            b->have_pname = copy(b->pending_name, sizeof b->pending_name, s, len);
            return b->have_pname ? 1 : fail(b, 422, "config name too long");
        }
        if (b->pending_config == 2) {
            if (has_nul(s, len))
                return fail_code(b, 42205, "config value contains a NUL character (\\u0000)");
            b->have_pvalue = copy(b->pending_value, sizeof b->pending_value, s, len);
            return b->have_pvalue ? 1 : fail(b, 422, "config value too long");
        }
        return 1;
    }
    return fail(b, 422, "unexpected value in configs");
}

static int on_null(void *c)
{
    bk_admin_body_t *b = CTX(c);
    if (b->depth == 1)
        return scalar(b, 'n', NULL, 0);
    return fail(b, 422, "config values must be strings or integers");
}
static int on_bool(void *c, int v)
{
    (void)v;
    return fail(CTX(c), 422, "unexpected boolean");
}
static int on_number(void *c, const char *s, size_t len)
{
    int is_int = !memchr(s, '.', len) && !memchr(s, 'e', len) && !memchr(s, 'E', len);
    return scalar(CTX(c), is_int ? 'i' : 'd', (const unsigned char *)s, len);
}
static int on_string(void *c, const unsigned char *s, size_t len)
{
    return scalar(CTX(c), 's', s, len);
}

static int on_start_map(void *c)
{
    bk_admin_body_t *b = CTX(c);
    b->depth++;
    if (b->depth == 1)
        return 1;
    if (b->depth == 2 && b->field == F_CONFIGS)
        return 1;
    if (b->depth == 3 && b->in_configs_array) {
        b->have_pname = b->have_pvalue = 0;
        b->pending_config = 0;
        return 1;
    }
    return fail(b, 422, b->depth == 2 ? "unexpected object" : "JSON nested too deeply");
}

static int on_end_map(void *c)
{
    bk_admin_body_t *b = CTX(c);
    if (b->depth == 3 && b->in_configs_array) {
        if (!b->have_pname || !b->have_pvalue)
            return fail(b, 422, "each config needs \"name\" and \"value\"");
        if (!add_config(b, b->pending_name, (const unsigned char *)b->pending_value,
                        strlen(b->pending_value)))
            return 0;
    }
    if (--b->depth == 0)
        b->value_end = yajl_get_bytes_consumed(b->yajl);
    return 1;
}

static int on_start_array(void *c)
{
    bk_admin_body_t *b = CTX(c);
    b->depth++;
    if (b->depth == 2 && b->field == F_CONFIGS) {
        b->in_configs_array = 1;
        return 1;
    }
    return fail(b, 422, b->depth == 1 ? "request body must be a JSON object" : "unexpected array");
}

static int on_end_array(void *c)
{
    bk_admin_body_t *b = CTX(c);
    if (b->depth == 2)
        b->in_configs_array = 0;
    b->depth--;
    return 1;
}

static int on_map_key(void *c, const unsigned char *k, size_t len)
{
    bk_admin_body_t *b = CTX(c);
#define IS(lit) (len == sizeof lit - 1 && memcmp(k, lit, len) == 0)
    if (b->depth == 1) {
        b->field = IS("name") || IS("topic_name")               ? F_NAME
                   : IS("partitions") || IS("partitions_count") ? F_PARTITIONS
                   : IS("replication_factor")                   ? F_RF
                   : IS("configs")                              ? F_CONFIGS
                                                                : F_OTHER;
    } else if (b->depth == 2 && !b->in_configs_array) {
        if (has_nul(k, len))
            return fail_code(b, 42205, "config name contains a NUL character (\\u0000)");
        if (!copy(b->pending_name, sizeof b->pending_name, k, len))
            return fail(b, 422, "config name too long");
    } else if (b->depth == 3) {
        b->pending_config = IS("name") ? 1 : IS("value") ? 2 : 0;
    }
#undef IS
    return 1;
}

static const yajl_callbacks callbacks = {
    on_null,      on_bool,    NULL,       NULL,           on_number,    on_string,
    on_start_map, on_map_key, on_end_map, on_start_array, on_end_array,
};

int bk_admin_body_parse(bk_admin_body_t *b, const uint8_t *body, size_t len)
{
    memset(b, 0, sizeof *b);
    b->partitions = -1;
    b->replication_factor = -1;
    yajl_handle h = yajl_alloc(&callbacks, NULL, b);
    if (!h)
        return fail(b, 503, "out of memory"), 503;
    b->yajl = h;
    yajl_status st = yajl_parse(h, body, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    b->yajl = NULL;
    size_t at = 0;
    if (st == yajl_status_ok && !b->error_status &&
        bk_json_after_value(body, b->value_end, len, &at)) {
        char msg[sizeof b->error];
        bk_json_text_problem(BK_JSON_MALFORMED, at, msg, sizeof msg);
        fail(b, 400, msg);
    }
    if (st != yajl_status_ok && !b->error_status)
        fail(b, 400, len ? "malformed JSON" : "request body is empty; expected a JSON object");
    yajl_free(h);
    int problem = b->error_status ? 0 : bk_json_text_check(body, len, &at);
    if (problem) {
        char msg[sizeof b->error];
        bk_json_text_problem(problem, at, msg, sizeof msg);
        fail(b, 422, msg);
    }
    return b->error_status;
}

/* ---- compaction configs ---- */

/* "delete", "compact", "compact,delete" or "delete,compact" (spaces around names allowed). */
static int parse_policy(const char *v, uint32_t *out)
{
    uint32_t bits = 0;
    for (const char *p = v;;) {
        while (*p == ' ')
            p++;
        const char *w = p;
        while (*p && *p != ',' && *p != ' ')
            p++;
        size_t n = (size_t)(p - w);
        uint32_t bit = n == 6 && memcmp(w, "delete", 6) == 0    ? BK_CLEANUP_DELETE
                       : n == 7 && memcmp(w, "compact", 7) == 0 ? BK_CLEANUP_COMPACT
                                                                : 0;
        if (!bit || (bits & bit))
            return -1;
        bits |= bit;
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        if (*p++ != ',')
            return -1;
    }
    *out = bits;
    return 0;
}

/* A decimal from 0 to 1: digits, optionally a point and more digits. */
static int parse_ratio(const char *v, double *out)
{
    size_t i = 0, digits = 0;
    while (v[i] >= '0' && v[i] <= '9')
        i++, digits++;
    if (v[i] == '.')
        for (i++; v[i] >= '0' && v[i] <= '9'; i++)
            digits++;
    if (!digits || v[i] || i > 32)
        return -1;
    double d = strtod(v, NULL);
    if (!(d >= 0.0 && d <= 1.0))
        return -1;
    *out = d;
    return 0;
}

int bk_admin_compaction_config(const char *name, const char *value, bk_topic_config_t *cfg,
                               char *msg, size_t cap)
{
    int64_t v;
    if (strcmp(name, "cleanup.policy") == 0) {
        if (parse_policy(value, &cfg->cleanup_policy) == 0)
            return 1;
        snprintf(msg, cap,
                 "invalid value %s for topic config cleanup.policy: use delete, compact or "
                 "compact,delete",
                 value);
        return -1;
    }
    int dr = strcmp(name, "delete.retention.ms") == 0;
    if (dr || strcmp(name, "min.compaction.lag.ms") == 0) {
        if (bk_parse_int(value, strlen(value), 0, INT64_MAX, &v) == 0) {
            *(dr ? &cfg->delete_retention_ms : &cfg->min_compaction_lag_ms) = v;
            return 1;
        }
        snprintf(msg, cap,
                 "invalid value %s for topic config %s: use an integer from 0 to "
                 "9223372036854775807",
                 value, name);
        return -1;
    }
    if (strcmp(name, "min.cleanable.dirty.ratio") == 0) {
        if (parse_ratio(value, &cfg->min_cleanable_ratio) == 0)
            return 1;
        snprintf(msg, cap,
                 "invalid value %s for topic config min.cleanable.dirty.ratio: use a decimal "
                 "from 0 to 1",
                 value);
        return -1;
    }
    return 0;
}
