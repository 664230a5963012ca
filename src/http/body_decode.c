/* The decode job: one per coded request body, run on the threadpool through a small FIFO so
 * only BK_HTTP_DECODES_RUNNING run at once. The job reads ex->body on the worker thread and
 * nothing else touches the exchange meanwhile: the connection never frees a dispatched
 * exchange (it only detaches it), so the completion always finds ex alive. The queue is
 * process-wide and used from the loop thread only, like the exchange pool. */
#include "http/body_decode.h"

#include <stdlib.h>
#include <string.h>

#include "brook/common.h"
#include "http/json.h"

typedef struct job job_t;
struct job {
    uv_work_t work;
    job_t *next;
    uv_loop_t *loop;
    bk_exchange_t *ex;
    bk_http_codings_t codings;
    size_t max_out;
    bk_codec_buf_t out;
    bk_codec_buf_t scratch;
    bk_codec_t failed;
    int rc;
    bk_http_decode_cb cb;
    void *arg;
};

#define FIRST_BLOCK (64 * 1024)

static job_t *queue_head, *queue_tail;
static unsigned running;

static void pump(void);

static void on_work(uv_work_t *w)
{
    job_t *j = w->data;
    j->rc = bk_http_decode(&j->codings, j->ex->body, j->ex->body_len, j->max_out, &j->out,
                           &j->scratch, &j->failed);
}

/* The decoded bytes become ex's body (freed with the exchange, or trimmed into its pool). */
static void adopt_body(bk_exchange_t *ex, bk_codec_buf_t *out)
{
    bk_buf_free(&ex->body_buf);
    ex->body_buf.data = (char *)out->data;
    ex->body_buf.len = out->len;
    ex->body_buf.cap = out->cap;
    ex->body = out->data;
    ex->body_len = out->len;
    ex->body_decoded = 1;
    out->data = NULL;
}

static void finish(job_t *j, int status)
{
    /* the charge made at the start becomes what the body holds now: the decoded bytes in
     * place of the coded ones, or nothing more on a refusal */
    int64_t now = status == 0 ? (int64_t)j->out.cap - (int64_t)j->ex->body_buf.cap : 0;
    bk_exchange_charge(j->ex, now - (int64_t)j->max_out);
    if (status == 0)
        adopt_body(j->ex, &j->out);
    size_t held = j->out.cap + j->scratch.cap;
    bk_codec_buf_free(&j->out);
    bk_codec_buf_free(&j->scratch);
    if (held >= 1024 * 1024)
        bk_heap_trim(); /* a refused bomb's buffer: hand its pages back */
    bk_http_decode_cb cb = j->cb;
    bk_exchange_t *ex = j->ex;
    void *arg = j->arg;
    bk_codec_t failed = j->failed;
    free(j);
    cb(ex, arg, status, failed);
}

static void after_work(uv_work_t *w, int status)
{
    job_t *j = w->data;
    running--;
    pump();
    finish(j, status ? status : j->rc);
}

static void pump(void)
{
    while (running < BK_HTTP_DECODES_RUNNING && queue_head) {
        job_t *j = queue_head;
        queue_head = j->next;
        if (!queue_head)
            queue_tail = NULL;
        j->work.data = j;
        int rc = uv_queue_work(j->loop, &j->work, on_work, after_work);
        if (rc == 0) {
            running++;
            continue;
        }
        finish(j, rc);
    }
}

/* A first block for b, allocated here on the loop thread. glibc's realloc grows a block in
 * the arena that holds it, so the decoder's growth stays in the loop thread's (main) arena,
 * which malloc_trim hands back; a block first allocated on a worker thread would grow in that
 * thread's arena, whose free top malloc_trim never returns (a refused 64 MiB bomb would stay
 * resident). */
static int first_block(bk_codec_buf_t *b, size_t max_out)
{
    size_t n = max_out < FIRST_BLOCK ? max_out : FIRST_BLOCK;
    b->data = malloc(n ? n : 1);
    b->cap = n;
    return b->data ? 0 : UV_ENOMEM;
}

int bk_http_decode_body(uv_loop_t *loop, bk_exchange_t *ex, const bk_http_codings_t *c,
                        size_t max_out, bk_http_decode_cb cb, void *arg)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j)
        return UV_ENOMEM;
    if (first_block(&j->out, max_out) || (c->count > 1 && first_block(&j->scratch, max_out))) {
        bk_codec_buf_free(&j->out);
        free(j);
        return UV_ENOMEM;
    }
    j->loop = loop;
    j->ex = ex;
    j->codings = *c;
    j->codings.bad = NULL;
    j->max_out = max_out;
    j->cb = cb;
    j->arg = arg;
    /* Counted against the connection's budget at the most it may become, before it is known:
     * pipelined coded bodies otherwise each slip past the budget at their coded size, and
     * 64 of them might each decode to the 64 MiB batch limit. Past the budget the connection
     * stops reading until answers drain, as for large plain bodies. */
    bk_exchange_charge(ex, (int64_t)max_out);
    if (queue_tail)
        queue_tail->next = j;
    else
        queue_head = j;
    queue_tail = j;
    pump();
    return 0;
}
