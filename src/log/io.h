/* The log's I/O seam: every file operation of the log goes through an ops table so tests can
 * inject EIO, ENOSPC, short writes and failed syncs (SQLite's test_vfs idea). Operations
 * return a count or 0 on success and a negative errno (== libuv's UV_E*) on failure; they
 * never set or read errno. fdatasync/fsync are also called from threadpool threads, so a
 * replacement table must be thread-safe. */
#ifndef BROOK_LOG_IO_H
#define BROOK_LOG_IO_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int (*open)(const char *path, int flags, int mode); /* fd or -errno */
    int (*close)(int fd);
    int64_t (*pread)(int fd, void *buf, size_t len, int64_t off);        /* bytes, may be short */
    int64_t (*pwrite)(int fd, const void *buf, size_t len, int64_t off); /* bytes, may be short */
    int (*fdatasync)(int fd);
    int (*fsync)(int fd);
    int (*ftruncate)(int fd, int64_t len);
    int (*rename)(const char *from, const char *to);
    int (*unlink)(const char *path);
    int (*mkdir)(const char *path, int mode);
    int (*unlinkat)(int dirfd, const char *name); /* a file in an open directory */
} bk_log_io_t;

/* The real system calls (EINTR retried). */
const bk_log_io_t *bk_log_io_default(void);

/* Replaces the table used by logs opened from now on (NULL restores the default); returns the
 * previous one. Meant for tests: set it before bk_log_open(), restore after bk_log_close(). */
const bk_log_io_t *bk_log_io_set(const bk_log_io_t *io);
const bk_log_io_t *bk_log_io_get(void);

/* Writes all len bytes at off, continuing after short writes. Returns 0 or a negative errno
 * (UV_EIO when the call reports 0 bytes written). */
int bk_io_pwrite_all(const bk_log_io_t *io, int fd, const void *buf, size_t len, int64_t off);

/* Reads up to len bytes at off, continuing after short reads until end of file. Returns the
 * number of bytes read or a negative errno. */
int64_t bk_io_pread_all(const bk_log_io_t *io, int fd, void *buf, size_t len, int64_t off);

/* Closes fd if >= 0 and reports (traces) a failure; returns the close result. */
int bk_io_close(const bk_log_io_t *io, int fd);

#endif
