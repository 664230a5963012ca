/* Shared helpers for the log's unit tests: temp data directories, a loop driver, append and
 * read helpers that record outcomes, raw file access, and a fault-injecting I/O table that
 * counts syncs and fails on demand. Header-only; each test file is one executable. */
#ifndef BROOK_TEST_LOG_FIXTURE_H
#define BROOK_TEST_LOG_FIXTURE_H

#include "brook/common.h"
#include "brook/log.h"
#include "check.h"
#include "log/io.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

/* ---- temp dirs and files ---- */

static inline char *fx_tmpdir(void)
{
    char *t = strdup("/tmp/brook-log-test-XXXXXX");
    if (!mkdtemp(t)) {
        perror("mkdtemp");
        exit(2);
    }
    return t;
}

static inline int fx_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void fx_rmrf(char *dir)
{
    nftw(dir, fx_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static inline char *fx_path(const char *dir, const char *rel)
{
    static char buf[4][1024];
    static int i;
    char *p = buf[i++ & 3];
    snprintf(p, 1024, "%s/%s", dir, rel);
    return p;
}

static inline long fx_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static inline int fx_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Whole file into a malloc'd buffer (NULL if missing). */
static inline uint8_t *fx_read_file(const char *path, size_t *len)
{
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static inline void fx_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        perror(path);
        exit(2);
    }
    fclose(f);
}

static inline void fx_append_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "ab");
    if (!f || fwrite(data, 1, len, f) != len) {
        perror(path);
        exit(2);
    }
    fclose(f);
}

static inline void fx_truncate(const char *path, long len)
{
    if (truncate(path, len) != 0) {
        perror(path);
        exit(2);
    }
}

static inline void fx_flip_bit(const char *path, long pos, int bit)
{
    size_t len;
    uint8_t *b = fx_read_file(path, &len);
    b[pos] ^= (uint8_t)(1u << bit);
    fx_write_file(path, b, len);
    free(b);
}

/* ---- log lifecycle ---- */

static inline bk_log_config_t fx_config(const char *dir)
{
    bk_log_config_t cfg;
    bk_log_config_defaults(&cfg);
    cfg.data_dir = dir;
    cfg.preallocate_bytes = 0; /* files hold exactly their batches; test_log_prealloc.c
                                  covers preallocation */
    return cfg;
}

static inline void fx_on_closed(void *arg)
{
    (*(int *)arg)++;
}

/* Closes the log, runs the loop until done, and checks the loop closes cleanly. */
static inline void fx_close(uv_loop_t *loop, bk_log_t *log)
{
    int closed = 0;
    bk_log_close(log, fx_on_closed, &closed);
    CHECK_EQ_INT(closed, 0); /* never synchronously */
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(closed, 1);
}

static inline void fx_loop_done(uv_loop_t *loop)
{
    CHECK_EQ_INT(uv_loop_close(loop), 0);
}

/* ---- appends ---- */

enum { FX_MAX_ACKS = 4096 };

typedef struct {
    int calls;
    int status[FX_MAX_ACKS];
    int64_t offset[FX_MAX_ACKS];
    int order[FX_MAX_ACKS]; /* tag of the append, in callback order */
} fx_acks_t;

typedef struct {
    fx_acks_t *acks;
    int tag;
} fx_ack_arg_t;

static fx_ack_arg_t fx_args[FX_MAX_ACKS];

static inline void fx_on_append(void *arg, int status, int64_t base_offset)
{
    fx_ack_arg_t *a = arg;
    fx_acks_t *k = a->acks;
    if (k->calls < FX_MAX_ACKS) {
        k->status[k->calls] = status;
        k->offset[k->calls] = base_offset;
        k->order[k->calls] = a->tag;
    }
    k->calls++;
}

/* Appends one record with value text (and key if non-NULL); tag identifies it in acks. */
static inline int fx_append(bk_partition_t *p, const char *key, const char *value, fx_acks_t *acks,
                            int tag)
{
    bk_record_t r = {(const uint8_t *)key,
                     key ? (int32_t)strlen(key) : -1,
                     (const uint8_t *)value,
                     (int32_t)strlen(value),
                     NULL,
                     0,
                     0};
    fx_args[tag % FX_MAX_ACKS] = (fx_ack_arg_t){acks, tag};
    return bk_partition_append(p, &r, 1, 1, fx_on_append, &fx_args[tag % FX_MAX_ACKS]);
}

/* ---- reads ---- */

typedef struct {
    int n;
    int64_t offsets[FX_MAX_ACKS];
    char values[FX_MAX_ACKS][64];
    int32_t epochs[FX_MAX_ACKS];
} fx_read_t;

static inline int fx_on_record(void *arg, const bk_record_view_t *v)
{
    fx_read_t *r = arg;
    if (r->n < FX_MAX_ACKS) {
        r->offsets[r->n] = v->offset;
        r->epochs[r->n] = v->leader_epoch;
        int len = v->value_len < 63 ? v->value_len : 63;
        if (len > 0)
            memcpy(r->values[r->n], v->value, (size_t)len);
        r->values[r->n][len > 0 ? len : 0] = '\0';
    }
    r->n++;
    return 0;
}

/* Reads everything from offset up to the high watermark; returns the count or an error. */
static inline int fx_read_all(bk_partition_t *p, int64_t offset, fx_read_t *out)
{
    memset(out, 0, sizeof *out);
    int64_t next;
    int total = 0;
    for (;;) {
        int rc = bk_partition_read(p, offset, 0, 0, fx_on_record, out, &next);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return total;
        total += rc;
        offset = next;
    }
}

/* ---- fault-injecting I/O ---- */

static atomic_int fx_pwrites;      /* calls of pwrite (.log and .index) */
static atomic_int fx_fdatasyncs;   /* calls of fdatasync */
static atomic_int fx_fsyncs;       /* calls of fsync */
static atomic_int fx_fail_sync;    /* negative errno: fail every fdatasync with it */
static atomic_int fx_fail_pwrite;  /* negative errno: fail pwrites of the .log with it */
static atomic_int fx_short_pwrite; /* > 0: each pwrite writes at most this many bytes */
static atomic_int fx_fail_truncate;
static atomic_int fx_sync_delay_ms;
static atomic_int fx_fail_rename;
static atomic_int fx_fail_open;    /* negative errno: fail opens of new .log files with it */
static atomic_int fx_write_budget; /* >= 0: bytes pwrite may still write, then ENOSPC */

static inline int64_t fx_io_pwrite(int fd, const void *buf, size_t len, int64_t off)
{
    atomic_fetch_add(&fx_pwrites, 1);
    int fail = atomic_load(&fx_fail_pwrite);
    if (fail)
        return fail;
    int budget = atomic_load(&fx_write_budget);
    if (budget == 0)
        return UV_ENOSPC;
    if (budget > 0 && len > (size_t)budget)
        len = (size_t)budget;
    int cap = atomic_load(&fx_short_pwrite);
    if (cap > 0 && len > (size_t)cap)
        len = (size_t)cap;
    int64_t n = bk_log_io_default()->pwrite(fd, buf, len, off);
    if (budget > 0 && n > 0)
        atomic_store(&fx_write_budget, budget - (int)n);
    return n;
}

static inline int fx_io_fdatasync(int fd)
{
    atomic_fetch_add(&fx_fdatasyncs, 1);
    int delay = atomic_load(&fx_sync_delay_ms);
    if (delay)
        usleep((useconds_t)delay * 1000);
    int fail = atomic_load(&fx_fail_sync);
    return fail ? fail : bk_log_io_default()->fdatasync(fd);
}

static inline int fx_io_fsync(int fd)
{
    atomic_fetch_add(&fx_fsyncs, 1);
    return bk_log_io_default()->fsync(fd);
}

static inline int fx_io_ftruncate(int fd, int64_t len)
{
    int fail = atomic_load(&fx_fail_truncate);
    return fail ? fail : bk_log_io_default()->ftruncate(fd, len);
}

static inline int fx_io_rename(const char *from, const char *to)
{
    int fail = atomic_load(&fx_fail_rename);
    return fail ? fail : bk_log_io_default()->rename(from, to);
}

static inline int fx_io_open(const char *path, int flags, int mode)
{
    int fail = atomic_load(&fx_fail_open);
    size_t n = strlen(path);
    if (fail && (flags & O_CREAT) && n > 4 && strcmp(path + n - 4, ".log") == 0)
        return fail;
    return bk_log_io_default()->open(path, flags, mode);
}

static bk_log_io_t fx_io;

/* Installs the counting/faulting table with all faults off. */
static inline void fx_io_install(void)
{
    fx_io = *bk_log_io_default();
    fx_io.pwrite = fx_io_pwrite;
    fx_io.fdatasync = fx_io_fdatasync;
    fx_io.fsync = fx_io_fsync;
    fx_io.ftruncate = fx_io_ftruncate;
    fx_io.rename = fx_io_rename;
    fx_io.open = fx_io_open;
    atomic_store(&fx_fail_open, 0);
    atomic_store(&fx_write_budget, -1);
    atomic_store(&fx_fail_rename, 0);
    atomic_store(&fx_pwrites, 0);
    atomic_store(&fx_fdatasyncs, 0);
    atomic_store(&fx_fsyncs, 0);
    atomic_store(&fx_fail_sync, 0);
    atomic_store(&fx_fail_pwrite, 0);
    atomic_store(&fx_short_pwrite, 0);
    atomic_store(&fx_fail_truncate, 0);
    atomic_store(&fx_sync_delay_ms, 0);
    bk_log_io_set(&fx_io);
}

static inline void fx_io_restore(void)
{
    bk_log_io_set(NULL);
}

#endif
