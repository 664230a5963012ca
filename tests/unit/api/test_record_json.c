/* Record rendering for consumer instances: the topic and partition rendered once per partition
 * (bk_record_render_in_at) give the same bytes as rendering them for every record; a name that
 * would need escaping (never a Brook topic) is escaped record by record; format=json embeds a
 * JSON value and shows anything else as a string. */
#include <stdio.h>
#include <string.h>

#include "api/record_json.h"
#include "check.h"

/* The page holding records a and b as rendered through ri (set up by the caller). */
static const char *page(bk_record_render_in_t *ri, const bk_record_view_t *a,
                        const bk_record_view_t *b)
{
    static char out[2][2048];
    static int k;
    char *o = out[k++ & 1];
    bk_json_arr(ri->r.j);
    bk_record_render_in(ri, a);
    bk_record_render_in(ri, b);
    bk_json_arr_end(ri->r.j);
    size_t n;
    const char *text = bk_json_text(ri->r.j, &n);
    snprintf(o, 2048, "%.*s", (int)n, text);
    return o;
}

static bk_record_view_t view(int64_t offset, const char *value)
{
    return (bk_record_view_t){.offset = offset,
                              .timestamp = 1700000000000,
                              .key_len = -1,
                              .value = (const uint8_t *)value,
                              .value_len = (int32_t)strlen(value),
                              .headers = (const uint8_t *)""}; /* none, as a read gives */
}

static void once_per_partition_same_bytes(void)
{
    static const struct {
        const char *topic;
        int64_t partition;
    } at[] = {{"orders", 0}, {"a.b_c-D9", 1234567}, {"x", 2147483647}};
    bk_record_view_t a = view(5, "{\"n\":1}"), b = view(6, "not json");
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        bk_record_render_in_t ahead = {.r = {bk_json_begin(), BK_FMT_JSON, 0, 0, 0}};
        bk_record_render_in_at(&ahead, at[i].topic, at[i].partition);
        CHECK(ahead.topic_json_len > 0);
        char first[2048];
        snprintf(first, sizeof first, "%s", page(&ahead, &a, &b));
        bk_record_render_in_t by_hand = {.r = {bk_json_begin(), BK_FMT_JSON, 0, 0, 0},
                                         .topic = at[i].topic,
                                         .partition = at[i].partition};
        CHECK_EQ_STR(first, page(&by_hand, &a, &b));
        CHECK_EQ_INT(ahead.r.records, 2);
    }
    bk_record_render_in_t ri = {.r = {bk_json_begin(), BK_FMT_JSON, 0, 0, 0}};
    bk_record_render_in_at(&ri, "orders", 3);
    CHECK_EQ_STR(page(&ri, &a, &b),
                 "[{\"topic\":\"orders\",\"partition\":3,\"offset\":5,\"timestamp\":1700000000000,"
                 "\"key\":null,\"value\":{\"n\":1},\"headers\":[]},"
                 "{\"topic\":\"orders\",\"partition\":3,\"offset\":6,\"timestamp\":1700000000000,"
                 "\"key\":null,\"value\":\"not json\",\"headers\":[]}]");
}

static void names_needing_escapes_are_escaped(void)
{
    bk_record_view_t a = view(0, "1"), b = view(1, "2");
    bk_record_render_in_t ri = {.r = {bk_json_begin(), BK_FMT_STRING, 0, 0, 0}};
    bk_record_render_in_at(&ri, "we\"ird", 0);
    CHECK_EQ_INT(ri.topic_json_len, 0);
    const char *text = page(&ri, &a, &b);
    CHECK(strstr(text, "\"topic\":\"we\\\"ird\",\"partition\":0,") != NULL);
    bk_record_render_in_at(&ri, "orders", 1); /* and back to a plain one */
    CHECK(ri.topic_json_len == 8);
}

static void shutdown_frees(void)
{
    bk_json_shutdown();
    bk_record_render_shutdown();
}

CHECK_MAIN(CASE(once_per_partition_same_bytes), CASE(names_needing_escapes_are_escaped),
           CASE(shutdown_frees))
