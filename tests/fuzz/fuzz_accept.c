/* Fuzz target for Accept values (http/accept.c), which every client controls: any bytes give
 * weights in [0, 1000] and specificities in [0, 3], read nothing outside the value (ASan sees
 * the exact-size copy), and the pick is the type with the highest weight. Appending an item that
 * is not a media range changes nothing (malformed items are skipped, never fatal). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/accept.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static const char *const types[] = {"application/json",
                                    "application/vnd.kafka.v2+json",
                                    "application/vnd.kafka.v1+json",
                                    "application/vnd.kafka.binary.v1+json",
                                    "application/vnd.kafka.json.v1+json",
                                    "text/plain",
                                    "application/x-ndjson"};
#define NTYPES (sizeof types / sizeof types[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len > 4096)
        return 0;
    char *acc = malloc(len ? len : 1); /* exactly len bytes: no terminator to lean on */
    char *more = malloc(len + 8);
    if (!acc || !more) {
        free(acc);
        free(more);
        return 0;
    }
    memcpy(acc, data, len);
    memcpy(more, data, len);
    memcpy(more + len, ",x/;,;q", 7);
    int w[NTYPES], best = 0;
    for (size_t i = 0; i < NTYPES; i++) {
        int spec = -1;
        w[i] = bk_accept_weight(acc, len, types[i], &spec);
        if (w[i] < 0 || w[i] > BK_ACCEPT_Q_MAX || spec < 0 || spec > 3 ||
            (spec == 0 && len && w[i] != 0))
            abort();
        int spec2 = -1;
        /* the odd item may only add a match where the value had an unterminated quote */
        if (len && memchr(data, '"', len) == NULL &&
            (bk_accept_weight(more, len + 7, types[i], &spec2) != w[i] || spec2 != spec))
            abort();
        if (w[i] > best)
            best = w[i];
    }
    int pick = bk_accept_pick(acc, len, types, NTYPES);
    if ((best == 0) != (pick < 0) || (pick >= 0 && w[pick] != best))
        abort();
    free(acc);
    free(more);
    return 0;
}
