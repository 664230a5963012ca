/* Fuzz target for the consumer API's request bodies (api/consumers_body.c): any bytes must
 * give either an answer (a 4xx or 503 with a JSON error) or a tree whose partition lists and
 * offsets lists hold only non-empty topics, partitions in int32 range and offsets >= 0. The
 * first input byte picks the list parsed. */
#include <stdlib.h>
#include <string.h>

#include "api/consumers_body.h"
#include "http/exchange.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void check_parts(const bk_grp_assignment_t *a)
{
    for (size_t i = 0; i < a->count; i++) {
        if (!a->topics[i].topic[0] || a->topics[i].count == 0)
            abort();
        for (size_t k = 0; k < a->topics[i].count; k++)
            if (a->topics[i].partitions[k] < 0)
                abort();
    }
}

static void parse(bk_exchange_t *ex, uint8_t mode)
{
    yajl_val root;
    if (!bk_cons_body(ex, mode & 1, &root))
        return;
    if (!root)
        return;
    if (mode & 2) {
        bk_cons_offset_in_t *o = NULL;
        size_t n = 0;
        if (bk_cons_body_offsets(ex, root, &o, &n))
            for (size_t i = 0; i < n; i++)
                if (!o[i].topic[0] || o[i].partition < 0 || o[i].offset < 0 || !o[i].metadata)
                    abort();
        free(o);
    } else {
        bk_grp_assignment_t a = {0};
        if (bk_cons_body_tparts(ex, root, "partitions", mode & 4, &a))
            check_parts(&a);
        bk_grp_assignment_free(&a);
    }
    int64_t v;
    int bad;
    (void)bk_cons_body_int(root, "fetch.min.bytes", 0, 1 << 26, &v);
    (void)bk_cons_body_str(root, "format", &bad);
    yajl_tree_free(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < 1)
        return 0;
    bk_exchange_t *ex = bk_exchange_new();
    if (!ex)
        return 0;
    static bk_http_header_t ct = {"content-type", 12, "application/vnd.kafka.v2+json", 29};
    bk_http_header_t *own = ex->headers;
    ex->headers = &ct;
    ex->header_count = 1;
    ex->body = data + 1;
    ex->body_len = len - 1;
    parse(ex, data[0]);
    if (ex->state == BK_EX_RESPONDED && (ex->status < 400 || ex->status > 503))
        abort();
    ex->headers = own;
    ex->header_count = 0;
    ex->body = NULL;
    ex->body_len = 0;
    bk_exchange_release(ex);
    return 0;
}
