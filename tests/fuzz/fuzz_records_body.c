/* Fuzz target for the REST Proxy records-body decoder: any bytes, either mode, must give
 * either records whose byte ranges lie inside the arena, or a 4xx with a message. */
#include <stdint.h>
#include <stdlib.h>

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
        return 0;
    }
    if (body.count == 0)
        abort();
    for (size_t i = 0; i < body.count; i++) {
        const bk_rb_record_t *r = &body.records[i];
        if (r->key_len >= 0 && r->key_off + (size_t)r->key_len > body.arena.len)
            abort();
        if (r->value_len >= 0 && r->value_off + (size_t)r->value_len > body.arena.len)
            abort();
        if ((size_t)r->header_first + r->header_count > body.header_count)
            abort();
    }
    return 0;
}
