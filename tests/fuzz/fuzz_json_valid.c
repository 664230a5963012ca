/* Fuzz target for bk_json_valid, which decides whether a stored value is embedded as JSON in a
 * format=json answer: its verdict on any bytes must be yajl's (after the shared text check),
 * parsing the text alone and inside "[ ]" (which refuses yajl's one slip, an unterminated
 * string after the value). The validator is handed an exact-size copy, so ASan sees any read
 * past the end. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "http/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static int yajl_parses(const uint8_t *p, size_t len, int wrap)
{
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    if (!h)
        abort();
    yajl_config(h, yajl_dont_validate_strings, 0);
    int ok = (!wrap || yajl_parse(h, (const unsigned char *)"[", 1) == yajl_status_ok) &&
             yajl_parse(h, p, len) == yajl_status_ok &&
             (!wrap || yajl_parse(h, (const unsigned char *)"]", 1) == yajl_status_ok) &&
             yajl_complete_parse(h) == yajl_status_ok;
    yajl_free(h);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len > 65536)
        return 0;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return 0;
    if (len)
        memcpy(copy, data, len);
    size_t at;
    int want = bk_json_text_check(copy, len, &at) == BK_JSON_TEXT_OK && !memchr(copy, '\v', len) &&
               !memchr(copy, '\f', len) && yajl_parses(copy, len, 0) && yajl_parses(copy, len, 1);
    if (bk_json_valid(copy, len) != want)
        abort();
    free(copy);
    return 0;
}
