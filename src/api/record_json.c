/* Record → JSON. The base64 scratch buffer is reused across records, so rendering a page
 * allocates nothing once warm. JSON-format values are checked to be JSON that Brook would accept
 * as input (bk_json_valid: UTF-8, no lone surrogate escape, one value) before being embedded;
 * anything that does not pass is shown as a string instead.
 * Header keys that are not UTF-8 (stored before such keys were refused) show with U+FFFD. */
#include "api/record_json.h"

#include <string.h>

#include "common/base64.h"
#include "common/decimal.h"
#include "http/exchange.h"

static bk_buf_t scratch;

int bk_record_format_parse(const char *s, size_t len)
{
    if (len == 6 && memcmp(s, "string", 6) == 0)
        return BK_FMT_STRING;
    if (len == 6 && memcmp(s, "binary", 6) == 0)
        return BK_FMT_BINARY;
    if (len == 4 && memcmp(s, "json", 4) == 0)
        return BK_FMT_JSON;
    return -1;
}

static void emit_bytes(bk_json_t *j, bk_record_format_t format, const uint8_t *p, int32_t len)
{
    if (len < 0) {
        bk_json_null(j);
        return;
    }
    if (format == BK_FMT_BINARY) {
        size_t n = bk_base64_encoded_len((size_t)len);
        scratch.len = 0;
        if (bk_buf_reserve(&scratch, n)) {
            bk_json_null(j);
            return;
        }
        n = bk_base64_encode(p, (size_t)len, scratch.data);
        bk_json_strn(j, scratch.data, n);
        if (scratch.cap > BK_JSON_KEEP_BYTES) /* a huge value: do not keep its copy */
            bk_buf_free(&scratch);
        return;
    }
    if (format == BK_FMT_JSON && len > 0 && bk_json_valid(p, (size_t)len) == 1) {
        bk_json_raw(j, p, (size_t)len);
        return;
    }
    if (!bk_utf8_valid(p, (size_t)len)) { /* not text: say so rather than emit bad JSON */
        bk_json_null(j);
        return;
    }
    bk_json_strn(j, p, (size_t)len);
}

static int render(bk_record_render_t *rr, const bk_record_view_t *r,
                  const bk_record_render_in_t *in)
{
    bk_json_t *j = rr->j;
    rr->records++;
    rr->bytes += r->value_len > 0 ? (uint64_t)r->value_len : 0;
    bk_json_obj(j);
    if (in && in->topic_json_len) {
        bk_json_key(j, "topic");
        bk_json_raw(j, in->topic_json, in->topic_json_len);
        bk_json_key(j, "partition");
        bk_json_raw(j, in->partition_text, in->partition_len);
    } else if (in && in->topic) {
        bk_json_key(j, "topic");
        bk_json_str(j, in->topic);
        bk_json_key(j, "partition");
        bk_json_int(j, in->partition);
    }
    bk_json_key(j, "offset");
    bk_json_int(j, r->offset);
    bk_json_key(j, "timestamp");
    bk_json_int(j, r->timestamp);
    bk_json_key(j, "key");
    emit_bytes(j, rr->format, r->key, r->key_len);
    bk_json_key(j, "value");
    emit_bytes(j, rr->format, r->value, r->value_len);
    bk_json_key(j, "headers");
    bk_json_arr(j);
    const uint8_t *pos = r->headers, *end = r->headers + r->headers_len;
    bk_header_t h;
    while (bk_record_header_next(&pos, end, &h) == 1) {
        bk_json_obj(j);
        bk_json_key(j, "key");
        bk_json_strn(j, h.key, h.key_len);
        bk_json_key(j, "value");
        emit_bytes(j, rr->format == BK_FMT_JSON ? BK_FMT_STRING : rr->format, h.value,
                   h.value ? (int32_t)h.value_len : -1);
        bk_json_obj_end(j);
    }
    bk_json_arr_end(j);
    bk_json_obj_end(j);
    if (!rr->max_text)
        return 0;
    size_t len;
    bk_json_text(j, &len);
    return len >= rr->max_text;
}

int bk_record_render(void *arg, const bk_record_view_t *r)
{
    return render(arg, r, NULL);
}

static int render_v1(bk_record_render_t *rr, const bk_record_view_t *r, int64_t partition)
{
    bk_json_t *j = rr->j;
    rr->records++;
    rr->bytes += r->value_len > 0 ? (uint64_t)r->value_len : 0;
    bk_json_obj(j);
    bk_json_key(j, "key");
    emit_bytes(j, rr->format, r->key, r->key_len);
    bk_json_key(j, "value");
    emit_bytes(j, rr->format, r->value, r->value_len);
    bk_json_key(j, "partition");
    bk_json_int(j, partition);
    bk_json_key(j, "offset");
    bk_json_int(j, r->offset);
    bk_json_obj_end(j);
    if (!rr->max_text)
        return 0;
    size_t len;
    bk_json_text(j, &len);
    return len >= rr->max_text;
}

/* A topic name that is its own JSON string once quoted: Brook's names are [a-zA-Z0-9._-]. */
static int plain_name(const char *s, size_t len)
{
    if (len == 0 || len > BK_RECORD_TOPIC_JSON_MAX - 2)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

void bk_record_render_in_at(bk_record_render_in_t *ri, const char *topic, int64_t partition)
{
    size_t len = strlen(topic);
    ri->topic = topic;
    ri->partition = partition;
    ri->topic_json_len = 0;
    if (!plain_name(topic, len))
        return; /* rendered with escaping, record by record */
    ri->topic_json[0] = '"';
    memcpy(ri->topic_json + 1, topic, len);
    ri->topic_json[len + 1] = '"';
    ri->topic_json_len = len + 2;
    char num[BK_DECIMAL_MAX];
    char *p = bk_decimal_i64(num, partition);
    ri->partition_len = (size_t)(num + BK_DECIMAL_MAX - p);
    memcpy(ri->partition_text, p, ri->partition_len);
}

int bk_record_render_in(void *arg, const bk_record_view_t *r)
{
    bk_record_render_in_t *ri = arg;
    if (ri->v1)
        return render_v1(&ri->r, r, ri->partition);
    return render(&ri->r, r, ri);
}

void bk_record_render_shutdown(void)
{
    bk_buf_free(&scratch);
}
