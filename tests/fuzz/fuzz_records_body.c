/* Fuzz target for the REST Proxy records-body decoder: any bytes, either mode, must give
 * either records whose byte ranges lie inside the arena, at most BK_RB_MAX_RECORDS of them,
 * header keys that are UTF-8 without NUL and a body that passes the shared text check, or a
 * 4xx with a message. The reused buffers are trimmed after every input, as the handler does. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/json.h"

#include "api/records_body.h"

static bk_records_body_t body;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < 1)
        return 0;
    bk_rb_mode_t mode = data[0] & 1 ? BK_RB_BINARY : BK_RB_JSON;
    int st = bk_records_body_parse(&body, mode, data + 1, len - 1);
    if (st) {
        if (st < 400 || st > 503 || !body.error[0])
            abort();
        bk_records_body_trim(&body);
        return 0;
    }
    size_t at;
    if (body.count == 0 || body.count > BK_RB_MAX_RECORDS ||
        body.header_count > BK_RB_MAX_HEADERS ||
        bk_json_text_check(data + 1, len - 1, &at) != BK_JSON_TEXT_OK)
        abort();
    for (size_t i = 0; i < body.header_count; i++) {
        const bk_rb_header_t *h = &body.headers[i];
        const uint8_t *k = (const uint8_t *)body.arena.data + h->key_off;
        if (h->key_off + h->key_len > body.arena.len || (h->key_len && memchr(k, 0, h->key_len)) ||
            !bk_utf8_valid(k, h->key_len))
            abort();
    }
    for (size_t i = 0; i < body.count; i++) {
        const bk_rb_record_t *r = &body.records[i];
        if (r->key_len >= 0 && r->key_off + (size_t)r->key_len > body.arena.len)
            abort();
        if (r->value_len >= 0 && r->value_off + (size_t)r->value_len > body.arena.len)
            abort();
        if ((size_t)r->header_first + r->header_count > body.header_count)
            abort();
    }
    bk_records_body_trim(&body);
    return 0;
}
