/* The high-watermark checkpoint (contract in checkpoint.h, format in format.c). Formatting and
 * parsing are pure; the write runs on the threadpool with the log's I/O table, one at a time,
 * and never blocks the loop. A checkpoint may lag the committed offsets it records (they only
 * grow between writes), so loading one can only under-state them: it never claims a record
 * is committed that was not, and never more than the partition holds. */
#include "log/checkpoint.h"

#include "brook/common.h"
#include "common/crc32c.h"
#include "log/log_internal.h"
#include "log/partition.h"
#include "log/topic.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "brook-hw 1\n"
#define LINE_MAX_LEN (249 + 64)
#define FILE_MAX ((size_t)64 << 20)

/* ---- text ---- */

int64_t bk_checkpoint_format(const bk_checkpoint_entry_t *e, size_t n, char **out)
{
    size_t cap = sizeof MAGIC + 32 + n * LINE_MAX_LEN + 32, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return UV_ENOMEM;
    len += (size_t)snprintf(buf, cap, MAGIC "entries %zu\n", n);
    for (size_t i = 0; i < n; i++)
        len +=
            (size_t)snprintf(buf + len, cap - len, "%.*s %016" PRIx64 " %" PRIu32 " %" PRId64 "\n",
                             (int)e[i].topic_len, e[i].topic, e[i].id, e[i].partition, e[i].hw);
    uint32_t crc = bk_crc32c(buf, len);
    len += (size_t)snprintf(buf + len, cap - len, "crc32c %08" PRIx32 "\n", crc);
    *out = buf;
    return (int64_t)len;
}

/* Reads a decimal at *pos up to the byte stop; 0 or BK_ECORRUPT. */
static int read_dec(const char **pos, const char *end, char stop, uint64_t max, uint64_t *out)
{
    const char *p = *pos;
    uint64_t v = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (v > (max - (uint64_t)(*p - '0')) / 10)
            return BK_ECORRUPT;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (p == *pos || p >= end || *p != stop)
        return BK_ECORRUPT;
    *out = v;
    *pos = p + 1;
    return 0;
}

static int read_hex16(const char **pos, const char *end, uint64_t *out)
{
    const char *p = *pos;
    uint64_t v = 0;
    if (end - p < 17 || p[16] != ' ')
        return BK_ECORRUPT;
    for (int i = 0; i < 16; i++, p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
        if (d < 0)
            return BK_ECORRUPT;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    *pos = p + 1;
    return 0;
}

/* One "<name> <id> <partition> <hw>\n" line at *pos. */
static int read_line(const char **pos, const char *end, bk_checkpoint_entry_t *e)
{
    const char *p = *pos, *sp = memchr(p, ' ', (size_t)(end - p));
    uint64_t part, hw;
    if (!sp || !bk_log_topic_name_valid(p, (size_t)(sp - p)))
        return BK_ECORRUPT;
    e->topic = p;
    e->topic_len = (size_t)(sp - p);
    p = sp + 1;
    if (read_hex16(&p, end, &e->id) < 0 || read_dec(&p, end, ' ', UINT32_MAX, &part) < 0 ||
        read_dec(&p, end, '\n', INT64_MAX, &hw) < 0)
        return BK_ECORRUPT;
    e->partition = (uint32_t)part;
    e->hw = (int64_t)hw;
    *pos = p;
    return 0;
}

int bk_checkpoint_parse(const char *buf, size_t len,
                        void (*visit)(void *arg, const bk_checkpoint_entry_t *e), void *arg)
{
    const char *end = buf + len, *p = buf;
    /* The checksum line closes the file: "crc32c " + 8 hex digits + "\n". */
    if (len < sizeof MAGIC - 1 + 17 || memcmp(buf, MAGIC, sizeof MAGIC - 1) != 0)
        return BK_ECORRUPT;
    const char *crc_at = end - 16;
    char want[20];
    snprintf(want, sizeof want, "crc32c %08" PRIx32 "\n", bk_crc32c(buf, (size_t)(crc_at - buf)));
    if (memcmp(crc_at, want, 16) != 0)
        return BK_ECORRUPT;
    p += sizeof MAGIC - 1;
    uint64_t n;
    if ((size_t)(crc_at - p) < 9 || memcmp(p, "entries ", 8) != 0)
        return BK_ECORRUPT;
    p += 8;
    if (read_dec(&p, crc_at, '\n', FILE_MAX, &n) < 0)
        return BK_ECORRUPT;
    /* Twice: check everything, then visit, so a damaged file changes nothing. */
    for (int pass = 0; pass < 2; pass++) {
        const char *q = p;
        for (uint64_t i = 0; i < n; i++) {
            bk_checkpoint_entry_t e;
            if (read_line(&q, crc_at, &e) < 0)
                return BK_ECORRUPT;
            if (pass == 1)
                visit(arg, &e);
        }
        if (q != crc_at)
            return BK_ECORRUPT;
    }
    return 0;
}

/* ---- load ---- */

static char *path_of(const bk_log_t *log, const char *suffix)
{
    size_t len = strlen(log->data_dir) + sizeof BK_CHECKPOINT_NAME + strlen(suffix) + 2;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s/%s%s", log->data_dir, BK_CHECKPOINT_NAME, suffix);
    return p;
}

static void apply(void *arg, const bk_checkpoint_entry_t *e)
{
    bk_log_t *log = arg;
    bk_topic_t *t = bk_log_topic_find(log, e->topic, e->topic_len);
    bk_partition_t *p = t && t->id == e->id ? bk_topic_partition(t, e->partition) : NULL;
    if (p != NULL) /* else a topic deleted (or re-created) since: not this one's offsets */
        bk_partition_set_committed(p, e->hw);
}

static int read_all(const bk_log_t *log, const char *path, char **out, size_t *len)
{
    const bk_log_io_t *io = log->io;
    int fd = io->open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    size_t cap = 64 << 10;
    char *buf = NULL;
    int64_t n = 0;
    for (;;) {
        char *nb = realloc(buf, cap);
        if (!nb) {
            n = UV_ENOMEM;
            break;
        }
        buf = nb;
        n = bk_io_pread_all(io, fd, buf, cap, 0);
        if (n < 0 || (size_t)n < cap || cap >= FILE_MAX)
            break;
        cap *= 2;
    }
    bk_io_close(io, fd);
    if (n < 0 || (size_t)n >= FILE_MAX) {
        free(buf);
        return n < 0 ? (int)n : BK_ECORRUPT;
    }
    *out = buf;
    *len = (size_t)n;
    return 0;
}

void bk_checkpoint_load(bk_log_t *log)
{
    char *path = path_of(log, ""), *text = NULL;
    size_t len = 0;
    int rc = path ? read_all(log, path, &text, &len) : UV_ENOMEM;
    if (rc == 0)
        rc = bk_checkpoint_parse(text, len, apply, log);
    if (rc < 0 && rc != UV_ENOENT)
        bk_trace_warn("log", "%s: %s; high watermarks start at the log start offsets", path,
                      rc == BK_ECORRUPT ? "damaged checkpoint" : bk_strerror(rc));
    free(text);
    free(path);
}

/* ---- save ---- */

typedef struct {
    uv_work_t work;
    bk_log_t *log;
    const bk_log_io_t *io;
    char *tmp, *dst, *dir;
    const char *text;
    size_t len;
    int rc;
} save_job_t;

static void work_save(uv_work_t *req)
{
    save_job_t *job = req->data;
    const bk_log_io_t *io = job->io;
    int fd = io->open(job->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd < 0 ? fd : bk_io_pwrite_all(io, fd, job->text, job->len, 0);
    if (rc == 0)
        rc = io->fsync(fd);
    int crc = fd >= 0 ? bk_io_close(io, fd) : 0;
    if (rc == 0)
        rc = crc;
    if (rc == 0)
        rc = io->rename(job->tmp, job->dst);
    int dfd = rc == 0 ? io->open(job->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0) : -1;
    if (rc == 0)
        rc = dfd < 0 ? dfd : io->fsync(dfd);
    if (dfd >= 0)
        bk_io_close(io, dfd);
    job->rc = rc;
}

static void after_save(uv_work_t *req, int status)
{
    (void)status;
    save_job_t *job = req->data;
    bk_log_t *log = job->log;
    log->ckpt_busy = 0;
    if (job->rc < 0) {
        bk_trace_warn("log", "cannot write %s: %s", job->dst, bk_strerror(job->rc));
        free(log->ckpt_text); /* so the next attempt writes it again */
        log->ckpt_text = NULL;
        log->ckpt_len = 0;
    }
    free(job->tmp);
    free(job->dst);
    free(job);
    if (log->ckpt_again) {
        log->ckpt_again = 0;
        bk_checkpoint_save(log, 1);
    }
    bk_log_job_done(log);
}

/* Every partition's committed offset, as entries (their names point into the topics). */
static int collect(bk_log_t *log, bk_checkpoint_entry_t **out, size_t *n)
{
    size_t total = 0, k = 0;
    for (size_t i = 0; i < log->ntopics; i++)
        total += log->topics[i]->npart;
    bk_checkpoint_entry_t *e = malloc((total ? total : 1) * sizeof *e);
    if (!e)
        return UV_ENOMEM;
    for (size_t i = 0; i < log->ntopics; i++) {
        bk_topic_t *t = log->topics[i];
        for (uint32_t j = 0; j < t->npart; j++)
            e[k++] = (bk_checkpoint_entry_t){t->name, t->name_len, t->id, j,
                                             bk_partition_committed(t->parts[j])};
    }
    *out = e;
    *n = k;
    return 0;
}

static int queue_save(bk_log_t *log, char *text, size_t len)
{
    save_job_t *job = calloc(1, sizeof *job);
    if (!job || !(job->tmp = path_of(log, ".tmp")) || !(job->dst = path_of(log, ""))) {
        if (job)
            free(job->tmp);
        free(job);
        return UV_ENOMEM;
    }
    free(log->ckpt_text);
    log->ckpt_text = text;
    log->ckpt_len = len;
    *job = (save_job_t){.log = log,
                        .io = log->io,
                        .tmp = job->tmp,
                        .dst = job->dst,
                        .dir = log->data_dir,
                        .text = text,
                        .len = len};
    job->work.data = job;
    log->ckpt_busy = 1;
    log->jobs++;
    if (uv_queue_work(log->loop, &job->work, work_save, after_save) != 0) {
        work_save(&job->work);
        after_save(&job->work, 0);
    }
    return 0;
}

void bk_checkpoint_save(bk_log_t *log, int force)
{
    if (log->ckpt_busy) {
        log->ckpt_again |= force;
        return; /* the next tick (or, forced, the end of this write) writes the news */
    }
    bk_checkpoint_entry_t *e = NULL;
    size_t n = 0;
    char *text = NULL;
    int64_t len = collect(log, &e, &n);
    if (len == 0)
        len = bk_checkpoint_format(e, n, &text);
    free(e);
    int same = len > 0 && log->ckpt_text && (size_t)len == log->ckpt_len &&
               memcmp(text, log->ckpt_text, (size_t)len) == 0;
    int rc = len < 0 ? (int)len : same ? 0 : queue_save(log, text, (size_t)len);
    if (len < 0 || same || rc < 0)
        free(text);
    if (rc < 0)
        bk_trace_warn("log", "cannot checkpoint the high watermarks: %s", bk_strerror(rc));
}
