/* Fuzz target for the header values a client controls here: Content-Encoding (first byte
 * even) and Accept-Encoding (first byte odd), copied to a buffer of exactly their length so
 * any read past the end is caught. Beyond "no crash": a parsed list holds only gzip and zstd
 * and at most BK_HTTP_CODINGS_MAX of them, an error names an element inside the value, and
 * negotiation answers only zstd, gzip or identity, the same for the value with one space
 * added after each comma (optional whitespace never changes the choice). Bodies that claim a
 * coding then go through the decoder under a small cap. */
#include <stdlib.h>
#include <string.h>

#include "brook/common.h"
#include "http/content_coding.h"

static void content_encoding(const char *v, size_t len)
{
    bk_http_codings_t c = {0};
    int rc = bk_http_codings_parse_value(v, len, &c);
    if (c.count > BK_HTTP_CODINGS_MAX)
        abort();
    for (unsigned i = 0; i < c.count; i++)
        if (c.codings[i] != BK_CODEC_GZIP && c.codings[i] != BK_CODEC_ZSTD)
            abort();
    if (rc != 0 && (!c.bad || c.bad < v || c.bad + c.bad_len > v + len || c.bad_len == 0))
        abort();
    if (rc == 0 && c.count > 0) { /* the value's own bytes as a body: a clean error or output */
        bk_codec_buf_t out = {0}, scratch = {0};
        bk_codec_t failed;
        int d = bk_http_decode(&c, (const uint8_t *)v, len, 4096, &out, &scratch, &failed);
        if (d == 0 && out.len > 4096)
            abort();
        bk_codec_buf_free(&out);
        bk_codec_buf_free(&scratch);
    }
}

static void accept_encoding(const char *v, size_t len)
{
    bk_codec_t a = bk_http_accept_encoding(v, len);
    if (a != BK_CODEC_NONE && a != BK_CODEC_GZIP && a != BK_CODEC_ZSTD)
        abort();
    char *spaced = malloc(2 * len + 1);
    if (!spaced)
        return;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        spaced[n++] = v[i];
        if (v[i] == ',')
            spaced[n++] = ' ';
    }
    if (bk_http_accept_encoding(spaced, n) != a)
        abort();
    free(spaced);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 4096)
        return 0;
    char *v = malloc(size - 1 ? size - 1 : 1);
    if (!v)
        return 0;
    memcpy(v, data + 1, size - 1);
    if (data[0] % 2 == 0)
        content_encoding(v, size - 1);
    else
        accept_encoding(v, size - 1);
    free(v);
    return 0;
}
