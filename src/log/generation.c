/* A durable counter per data directory ("+producer-generation", one decimal number and a
 * newline): each call hands out the next value only after the file holding it is on disk
 * (temp file, fsync, rename, fsync the directory), so a value is never handed out twice,
 * whatever crashes. A missing file counts as 0; a file that does not parse is refused rather
 * than guessed at. Blocking, on the calling (loop) thread: it runs once per process start
 * and per 2^24 producer ids. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brook/common.h"
#include "log/io.h"
#include "log/log_internal.h"

#define GEN_NAME "+producer-generation" /* '+' is never in a topic name */

static int read_gen(const bk_log_io_t *io, const char *path, int64_t *out)
{
    char buf[32] = {0};
    *out = 0;
    int fd = io->open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd == UV_ENOENT)
        return 0;
    if (fd < 0)
        return fd;
    int64_t n = bk_io_pread_all(io, fd, buf, sizeof buf - 1, 0);
    int rc = bk_io_close(io, fd);
    if (n < 0)
        return (int)n;
    char *end = NULL;
    long long v = strtoll(buf, &end, 10);
    if (n == 0 || end == buf || *end != '\n' || v < 0 || v == INT64_MAX)
        return BK_ECORRUPT;
    *out = v;
    return rc < 0 ? rc : 0;
}

static int write_gen(const bk_log_io_t *io, const char *dir, const char *tmp, const char *path,
                     int64_t v)
{
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%" PRId64 "\n", v);
    int fd = io->open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return fd;
    int rc = bk_io_pwrite_all(io, fd, buf, (size_t)len, 0);
    if (rc == 0)
        rc = io->fsync(fd);
    int crc = bk_io_close(io, fd);
    if (rc == 0)
        rc = crc;
    if (rc == 0)
        rc = io->rename(tmp, path);
    if (rc < 0)
        return rc;
    int dfd = io->open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dfd < 0)
        return dfd;
    rc = io->fsync(dfd);
    crc = bk_io_close(io, dfd);
    return rc < 0 ? rc : crc;
}

int bk_log_next_generation(bk_log_t *log, int64_t *out)
{
    size_t len = strlen(log->data_dir) + sizeof GEN_NAME + 8;
    char *path = malloc(len), *tmp = malloc(len);
    int64_t v = 0;
    int rc = UV_ENOMEM;
    if (!path || !tmp)
        goto cleanup;
    snprintf(path, len, "%s/%s", log->data_dir, GEN_NAME);
    snprintf(tmp, len, "%s/%s.tmp", log->data_dir, GEN_NAME);
    if ((rc = read_gen(log->io, path, &v)) < 0)
        goto cleanup;
    if ((rc = write_gen(log->io, log->data_dir, tmp, path, v + 1)) < 0)
        goto cleanup;
    *out = v + 1;
cleanup:
    if (rc < 0)
        bk_trace_error("log", "%s/%s: %s", log->data_dir, GEN_NAME, bk_strerror(rc));
    free(path);
    free(tmp);
    return rc;
}
