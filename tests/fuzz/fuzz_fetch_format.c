/* Fuzz target for the replication fetch wire format: any bytes are decoded as a request and
 * as a response; whatever decodes must lie inside the input and re-encode to exactly the
 * input bytes (piecewise too), so decoder and encoder agree on one canonical form. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "brook/replication.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void check_view(const void *p, size_t n, const uint8_t *data, size_t len)
{
    const uint8_t *b = p;
    if (n && (b < data || b + n > data + len))
        abort();
}

static void same(const bk_fetch_buf_t *b, const uint8_t *data, size_t len)
{
    if (b->len != len || memcmp(b->data, data, len) != 0)
        abort();
}

static void request(const uint8_t *data, size_t len)
{
    bk_fetch_req_t q;
    if (bk_fetch_request_decode(data, len, &q) != 0)
        return;
    check_view(q.id, q.id_len, data, len);
    bk_fetch_req_part_t *parts = calloc(q.partition_count + 1u, sizeof *parts);
    if (!parts)
        abort();
    size_t n = 0;
    while (bk_fetch_request_next(&q, &parts[n])) {
        check_view(parts[n].topic, parts[n].topic_len, data, len);
        if (++n > q.partition_count)
            abort();
    }
    if (n != q.partition_count)
        abort();
    bk_fetch_buf_t b = {0};
    if (bk_fetch_request_encode(&b, &q, parts, n) != 0)
        abort();
    same(&b, data, len);
    bk_fetch_buf_free(&b);
    free(parts);
}

static void response(const uint8_t *data, size_t len)
{
    bk_fetch_resp_t r;
    if (bk_fetch_response_decode(data, len, &r) != 0)
        return;
    bk_fetch_topic_t *topics = calloc(r.topic_count + 1u, sizeof *topics);
    bk_fetch_resp_part_t *parts = calloc(r.partition_count + 1u, sizeof *parts);
    if (!topics || !parts)
        abort();
    size_t nt = 0, np = 0;
    while (bk_fetch_response_next_topic(&r, &topics[nt])) {
        check_view(topics[nt].name, topics[nt].name_len, data, len);
        if (++nt > r.topic_count)
            abort();
    }
    while (bk_fetch_response_next_part(&r, &parts[np])) {
        check_view(parts[np].topic, parts[np].topic_len, data, len);
        check_view(parts[np].records, parts[np].records_len, data, len);
        if (++np > r.partition_count)
            abort();
    }
    if (nt != r.topic_count || np != r.partition_count)
        abort();
    bk_fetch_buf_t b = {0};
    if (bk_fetch_response_encode(&b, &r, topics, nt, parts, np) != 0)
        abort();
    same(&b, data, len);
    /* Piecewise, the record bytes appended by hand as a sender would write them. */
    b.len = 0;
    if (bk_fetch_response_begin(&b, &r, topics, nt, np) != 0)
        abort();
    for (size_t i = 0; i < np; i++) {
        if (bk_fetch_response_put_part_head(&b, &parts[i]) != 0)
            abort();
        size_t n = parts[i].records_len;
        if (b.cap < b.len + n) {
            uint8_t *d = realloc(b.data, b.len + n);
            if (!d)
                abort();
            b.data = d;
            b.cap = b.len + n;
        }
        if (n)
            memcpy(b.data + b.len, parts[i].records, n);
        b.len += n;
    }
    same(&b, data, len);
    bk_fetch_buf_free(&b);
    free(topics);
    free(parts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    /* An exact-size copy, so an over-read of even one byte is caught by ASan. */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, len);
    request(copy, len);
    response(copy, len);
    free(copy);
    return 0;
}
