/* The response generator: a thin wrapper over one reused yajl_gen. Generation errors (which
 * yajl reports only for misuse such as a key outside an object) are programming errors and
 * are traced, not returned, so handler code stays linear. */
#include "http/json.h"

#include <string.h>
#include <yajl/yajl_gen.h>

#include "brook/common.h"
#include "common/decimal.h"

struct bk_json {
    yajl_gen g;
};

static bk_json_t gen;

static void check(yajl_gen_status st)
{
    if (st != yajl_gen_status_ok)
        bk_trace_error("json", "generator misuse (status %d)", (int)st);
}

bk_json_t *bk_json_begin(void)
{
    if (!gen.g) {
        gen.g = yajl_gen_alloc(NULL);
        yajl_gen_config(gen.g, yajl_gen_validate_utf8, 0);
    }
    yajl_gen_reset(gen.g, NULL);
    yajl_gen_clear(gen.g);
    return &gen;
}

void bk_json_obj(bk_json_t *j)
{
    check(yajl_gen_map_open(j->g));
}
void bk_json_obj_end(bk_json_t *j)
{
    check(yajl_gen_map_close(j->g));
}
void bk_json_arr(bk_json_t *j)
{
    check(yajl_gen_array_open(j->g));
}
void bk_json_arr_end(bk_json_t *j)
{
    check(yajl_gen_array_close(j->g));
}
void bk_json_key(bk_json_t *j, const char *key)
{
    check(yajl_gen_string(j->g, (const unsigned char *)key, strlen(key)));
}
void bk_json_str(bk_json_t *j, const char *s)
{
    check(yajl_gen_string(j->g, (const unsigned char *)s, strlen(s)));
}
void bk_json_strn(bk_json_t *j, const void *s, size_t len)
{
    check(yajl_gen_string(j->g, (const unsigned char *)s, len));
}
void bk_json_int(bk_json_t *j, int64_t v)
{
    char num[BK_DECIMAL_MAX];
    char *p = bk_decimal_i64(num, v);
    check(yajl_gen_number(j->g, p, (size_t)(num + BK_DECIMAL_MAX - p)));
}
void bk_json_uint(bk_json_t *j, uint64_t v)
{
    char num[BK_DECIMAL_MAX];
    char *p = bk_decimal_u64(num, v);
    check(yajl_gen_number(j->g, p, (size_t)(num + BK_DECIMAL_MAX - p)));
}
void bk_json_double(bk_json_t *j, double v)
{
    check(yajl_gen_double(j->g, v));
}
void bk_json_bool(bk_json_t *j, int v)
{
    check(yajl_gen_bool(j->g, v));
}
void bk_json_null(bk_json_t *j)
{
    check(yajl_gen_null(j->g));
}
void bk_json_raw(bk_json_t *j, const void *text, size_t len)
{
    /* yajl_gen_number emits its argument verbatim with correct separators. */
    check(yajl_gen_number(j->g, text, len));
}

const char *bk_json_text(bk_json_t *j, size_t *len)
{
    const unsigned char *buf = NULL;
    size_t n = 0;
    yajl_gen_get_buf(j->g, &buf, &n);
    *len = n;
    return (const char *)buf;
}

void bk_json_shutdown(void)
{
    if (gen.g)
        yajl_gen_free(gen.g);
    gen.g = NULL;
}

int bk_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (i + 8 <= len) { /* ASCII fast path: eight bytes at a time */
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1Fu;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0Fu;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07u;
        } else {
            return 0;
        }
        if (i + n >= len)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n + 1;
    }
    return 1;
}
