/* The default I/O ops table (plain POSIX calls with EINTR retried) and the helpers that
 * complete short reads and writes. Nothing here decides policy: callers choose what an error
 * means. The current table is a process-wide pointer read at bk_log_open(). */
#include "log/io.h"

#include "brook/common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static int sys_open(const char *path, int flags, int mode)
{
    int fd;
    do
        fd = open(path, flags, (mode_t)mode);
    while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

static int sys_close(int fd)
{
    /* close() is not retried on EINTR on Linux: the descriptor is gone either way. */
    return close(fd) < 0 && errno != EINTR ? -errno : 0;
}

static int64_t sys_pread(int fd, void *buf, size_t len, int64_t off)
{
    ssize_t n;
    do
        n = pread(fd, buf, len, (off_t)off);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static int64_t sys_pwrite(int fd, const void *buf, size_t len, int64_t off)
{
    ssize_t n;
    do
        n = pwrite(fd, buf, len, (off_t)off);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static int sys_fdatasync(int fd)
{
    int rc;
    do
        rc = fdatasync(fd);
    while (rc < 0 && errno == EINTR);
    return rc < 0 ? -errno : 0;
}

static int sys_fsync(int fd)
{
    int rc;
    do
        rc = fsync(fd);
    while (rc < 0 && errno == EINTR);
    return rc < 0 ? -errno : 0;
}

static int sys_ftruncate(int fd, int64_t len)
{
    int rc;
    do
        rc = ftruncate(fd, (off_t)len);
    while (rc < 0 && errno == EINTR);
    return rc < 0 ? -errno : 0;
}

static int sys_rename(const char *from, const char *to)
{
    return rename(from, to) < 0 ? -errno : 0;
}

static int sys_unlink(const char *path)
{
    return unlink(path) < 0 ? -errno : 0;
}

static int sys_unlinkat(int dirfd, const char *name)
{
    return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
}

static int sys_mkdir(const char *path, int mode)
{
    return mkdir(path, (mode_t)mode) < 0 ? -errno : 0;
}

static const bk_log_io_t default_io = {
    .open = sys_open,
    .close = sys_close,
    .pread = sys_pread,
    .pwrite = sys_pwrite,
    .fdatasync = sys_fdatasync,
    .fsync = sys_fsync,
    .ftruncate = sys_ftruncate,
    .rename = sys_rename,
    .unlink = sys_unlink,
    .mkdir = sys_mkdir,
    .unlinkat = sys_unlinkat,
};

static _Atomic(const bk_log_io_t *) current_io = &default_io;

const bk_log_io_t *bk_log_io_default(void)
{
    return &default_io;
}

const bk_log_io_t *bk_log_io_set(const bk_log_io_t *io)
{
    return atomic_exchange(&current_io, io ? io : &default_io);
}

const bk_log_io_t *bk_log_io_get(void)
{
    return atomic_load(&current_io);
}

int bk_io_pwrite_all(const bk_log_io_t *io, int fd, const void *buf, size_t len, int64_t off)
{
    const uint8_t *p = buf;
    while (len > 0) {
        int64_t n = io->pwrite(fd, p, len, off);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

int64_t bk_io_pread_all(const bk_log_io_t *io, int fd, void *buf, size_t len, int64_t off)
{
    uint8_t *p = buf;
    int64_t total = 0;
    while (len > 0) {
        int64_t n = io->pread(fd, p, len, off);
        if (n < 0)
            return n;
        if (n == 0)
            break;
        p += n;
        len -= (size_t)n;
        off += n;
        total += n;
    }
    return total;
}

int bk_io_close(const bk_log_io_t *io, int fd)
{
    if (fd < 0)
        return 0;
    int rc = io->close(fd);
    if (rc < 0)
        bk_trace_warn("log", "close(%d): %s", fd, bk_strerror(rc));
    return rc;
}
