/* Accept-Encoding on JSON answers. The choice is bk_http_accept_encoding's; this file puts the
 * coded bytes and the Content-Encoding and Vary lines into an answer, on the loop thread for
 * small answers and through a threadpool job for large ones. A job holds a copy of the text
 * and the extra header lines, so the caller's buffers (the JSON generator's, a stack line) may
 * change the moment bk_http_respond_coded returns. */
#include "http/response_coding.h"

#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brook/common.h"
#include "http/content_coding.h"
#include "http/response.h"

typedef struct {
    uv_work_t work;
    bk_exchange_t *ex;
    int status;
    const char *type; /* static: ex->json_type or a literal */
    char *extra;
    uint8_t *text;
    size_t len;
    bk_codec_t codec;
    uint8_t *coded; /* len - 1 bytes */
    size_t coded_len;
    int ok; /* coded holds the coded answer; else send text uncoded */
} job_t;

/* Sends the answer: coded when coded != NULL, else text as it is; both with Vary. */
static void answer(bk_exchange_t *ex, int status, const char *type, const char *extra,
                   bk_codec_t codec, const void *coded, size_t coded_len, const void *text,
                   size_t len)
{
    char hdrs[1024];
    int n = snprintf(hdrs, sizeof hdrs, "%sVary: Accept-Encoding\r\n%s%s%s", extra ? extra : "",
                     coded ? "Content-Encoding: " : "", coded ? bk_http_coding_name(codec) : "",
                     coded ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof hdrs) /* extra lines too long to add ours: uncoded */
        bk_exchange_respond(ex, status, type, extra, text, len);
    else if (coded)
        bk_exchange_respond(ex, status, type, hdrs, coded, coded_len);
    else
        bk_exchange_respond(ex, status, type, hdrs, text, len);
}

/* The coded bytes go to a buffer allocated on the loop thread: glibc grows and keeps freed
 * memory in the arena of the thread that allocated it, and a worker thread's arena never
 * hands a freed top back (main.c sets the trim threshold to 256 MiB), so a 16 MiB page coded
 * into a worker's buffer would stay resident. */
static void on_work(uv_work_t *w)
{
    job_t *j = w->data;
    j->ok = bk_http_encode(j->codec, j->text, j->len, j->coded, j->len - 1, &j->coded_len) == 0;
}

static void after_work(uv_work_t *w, int status)
{
    job_t *j = w->data;
    j->ex->coding = 0;
    answer(j->ex, j->status, j->type, j->extra, j->codec, status == 0 && j->ok ? j->coded : NULL,
           j->coded_len, j->text, j->len);
    free(j->coded);
    free(j->text);
    free(j->extra);
    free(j);
}

/* Queues the compression of a large answer; 0, or UV_ENOMEM (then code it here). */
static int code_later(bk_exchange_t *ex, uv_loop_t *loop, int status, const char *type,
                      const char *extra, bk_codec_t codec, const char *text, size_t len)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j)
        return UV_ENOMEM;
    j->text = malloc(len);
    j->coded = malloc(len - 1);
    j->extra = extra ? strdup(extra) : NULL;
    if (!j->text || !j->coded || (extra && !j->extra)) {
        free(j->text);
        free(j->coded);
        free(j->extra);
        free(j);
        return UV_ENOMEM;
    }
    memcpy(j->text, text, len);
    j->ex = ex;
    j->status = status;
    j->type = type;
    j->len = len;
    j->codec = codec;
    j->work.data = j;
    ex->on_gone = NULL; /* answered as far as the handler knows: the job owns ex now */
    ex->on_hangup = NULL;
    ex->coding = 1;
    if (uv_queue_work(loop, &j->work, on_work, after_work) != 0) {
        ex->coding = 0;
        free(j->coded);
        free(j->text);
        free(j->extra);
        free(j);
        return UV_ENOMEM;
    }
    return 0;
}

void bk_http_respond_coded(bk_exchange_t *ex, uv_loop_t *loop, int status, const char *type,
                           const char *extra, const char *text, size_t len)
{
    size_t vlen = 0;
    const char *accept = bk_exchange_header(ex, "accept-encoding", &vlen);
    /* HEAD: the identity answer's headers (RFC 9110 §9.3.2 lets a server leave out what only
     * generating the content would tell), so no CPU goes into a body never sent */
    bk_codec_t codec =
        ex->method == HTTP_HEAD ? BK_CODEC_NONE : bk_http_accept_encoding(accept, vlen);
    if (codec != BK_CODEC_NONE && loop && len >= BK_HTTP_COMPRESS_INLINE_MAX &&
        code_later(ex, loop, status, type, extra, codec, text, len) == 0)
        return;
    uint8_t *coded = codec != BK_CODEC_NONE ? malloc(len - 1) : NULL;
    size_t coded_len = 0;
    int ok = coded && bk_http_encode(codec, (const uint8_t *)text, len, coded, len - 1,
                                     &coded_len) == 0; /* else no smaller: send it as it is */
    answer(ex, status, type, extra, codec, ok ? coded : NULL, coded_len, text, len);
    free(coded);
}
