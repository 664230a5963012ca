/* Rendering a stored record as JSON, shared by page reads and streamed reads:
 * {"offset","timestamp","key","value","headers":[{"key","value"}]}. Keys and values are shown
 * per format: string (UTF-8 text; bytes that are not valid UTF-8 show as null), binary
 * (base64) or json (embedded as JSON when they parse as JSON, else as a string). Header keys
 * are strings; bytes in them that are not UTF-8 show as U+FFFD. */
#ifndef BROOK_API_RECORD_JSON_H
#define BROOK_API_RECORD_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "brook/log.h"
#include "http/json.h"

typedef enum { BK_FMT_STRING = 0, BK_FMT_BINARY = 1, BK_FMT_JSON = 2 } bk_record_format_t;

/* "string", "binary" or "json" → the format; -1 when unknown. */
int bk_record_format_parse(const char *s, size_t len);

typedef struct {
    bk_json_t *j;
    bk_record_format_t format;
    uint64_t records, bytes; /* counted for metrics */
    size_t max_text;         /* stop after the record that brings j's text to this (0: never) */
} bk_record_render_t;

/* A bk_read_visit_fn: appends one record object to r->j; returns 1 (stop) once j's text has
 * reached max_text, so a page's rendering (JSON can be 6x the record bytes) stays within the
 * connection's budget whatever max_bytes asked. */
int bk_record_render(void *arg, const bk_record_view_t *rec);

/* The consumer API's records also show "topic" and "partition": bk_record_render_in is a
 * bk_read_visit_fn over this. With v1 set, a record is the REST Proxy v1 shape instead:
 * {"key","value","partition","offset"} (topic unused; no timestamp, no headers). Name the
 * partition being read with bk_record_render_in_at, which renders the topic's JSON string and
 * the partition number once for all its records (setting topic and partition by hand works
 * too, rendering them for each record). */
#define BK_RECORD_TOPIC_JSON_MAX 256 /* a quoted topic name: 249 characters + 2 */
typedef struct {
    bk_record_render_t r;
    const char *topic;
    int64_t partition;
    int v1;
    size_t topic_json_len, partition_len; /* 0: not rendered ahead */
    char topic_json[BK_RECORD_TOPIC_JSON_MAX];
    char partition_text[24];
} bk_record_render_in_t;
void bk_record_render_in_at(bk_record_render_in_t *ri, const char *topic, int64_t partition);
int bk_record_render_in(void *arg, const bk_record_view_t *rec);

/* Frees scratch buffers (shutdown). */
void bk_record_render_shutdown(void);

#endif
