/* Fuzz target for the codecs: random bytes decompressed by the codec the first byte picks,
 * under a 1 MiB cap. Beyond "no crash, no leak, never past the cap" it checks that whatever
 * decodes re-encodes and decodes back to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "brook/codec.h"

#define CAP (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < 1)
        return 0;
    bk_codec_t codec = (bk_codec_t)(data[0] % 4 + 1);
    bk_codec_buf_t out = {0}, back = {0};
    int rc = bk_codec_decompress(codec, data + 1, len - 1, CAP, &out);
    if (out.cap > CAP + 1)
        abort();
    if (rc == 0) {
        size_t bound = bk_codec_compress_bound(codec, out.len), zlen;
        uint8_t *z = malloc(bound);
        if (!z || bk_codec_compress(codec, out.data, out.len, z, bound, &zlen) != 0 ||
            bk_codec_decompress(codec, z, zlen, CAP, &back) != 0 || back.len != out.len ||
            (out.len && memcmp(back.data, out.data, out.len) != 0))
            abort();
        free(z);
    }
    bk_codec_buf_free(&out);
    bk_codec_buf_free(&back);
    return 0;
}
