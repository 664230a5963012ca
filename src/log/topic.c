/* Topics: name rules, the sorted registry, and the metadata file that makes a topic exist.
 * A topic is published on disk only after its partitions exist and are durable, and its
 * metadata is replaced only by rename of a fully synced temp file: a crash leaves either the
 * old topic list or the new one, never a half-written file. This code must not run on the
 * hot path: creating a topic does blocking fsyncs on the loop thread. */
#include "log/topic.h"

#include "brook/common.h"
#include "common/crc32c.h"
#include "log/io.h"
#include "log/log_internal.h"
#include "log/partition.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_SUFFIX ".topic"
#define TMP_SUFFIX ".topic.tmp"
#define META_MAX 512
#define NAME_MAX_LEN 249

int bk_log_topic_name_valid(const char *name, size_t name_len)
{
    if (!name || name_len == 0 || name_len > NAME_MAX_LEN)
        return 0;
    if ((name_len == 1 && name[0] == '.') || (name_len == 2 && name[0] == '.' && name[1] == '.'))
        return 0;
    for (size_t i = 0; i < name_len; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

int bk_topic_meta_format(char *buf, size_t cap, const char *name, uint32_t partitions)
{
    int n =
        snprintf(buf, cap, "brook-topic 1\nname %s\npartitions %" PRIu32 "\n", name, partitions);
    if (n < 0 || (size_t)n >= cap)
        return BK_ETOOBIG;
    uint32_t crc = bk_crc32c(buf, (size_t)n);
    int m = snprintf(buf + n, cap - (size_t)n, "crc32c %08" PRIx32 "\n", crc);
    if (m < 0 || (size_t)m >= cap - (size_t)n)
        return BK_ETOOBIG;
    return n + m;
}

int bk_topic_meta_parse(const char *buf, size_t len, const char *expect_name, uint32_t *partitions)
{
    static const char key[] = "\npartitions ";
    char want[META_MAX];
    size_t at = strlen("brook-topic 1\nname ") + strlen(expect_name);
    if (at + sizeof key - 1 > len || memcmp(buf + at, key, sizeof key - 1) != 0)
        return BK_ECORRUPT;
    uint64_t n = 0;
    for (at += sizeof key - 1; at < len && buf[at] >= '0' && buf[at] <= '9'; at++) {
        n = n * 10 + (uint64_t)(buf[at] - '0');
        if (n > BK_LOG_MAX_PARTITIONS)
            return BK_ECORRUPT;
    }
    if (n == 0)
        return BK_ECORRUPT;
    /* Re-render and compare byte for byte: name, count and checksum in one check. */
    int wn = bk_topic_meta_format(want, sizeof want, expect_name, (uint32_t)n);
    if (wn < 0 || (size_t)wn != len || memcmp(want, buf, len) != 0)
        return BK_ECORRUPT;
    *partitions = (uint32_t)n;
    return 0;
}

static char *path_join(const char *dir, const char *name, const char *suffix)
{
    size_t len = strlen(dir) + strlen(name) + strlen(suffix) + 2;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s/%s%s", dir, name, suffix);
    return p;
}

static int sync_dir(const bk_log_io_t *io, const char *dir)
{
    int fd = io->open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    int rc = io->fsync(fd);
    int crc = bk_io_close(io, fd);
    return rc ? rc : crc;
}

/* temp file, fsync, rename over the real name, fsync the directory. */
static int write_meta(bk_log_t *log, const char *name, uint32_t partitions)
{
    const bk_log_io_t *io = log->io;
    char text[META_MAX];
    int len = bk_topic_meta_format(text, sizeof text, name, partitions);
    if (len < 0)
        return len;
    char *tmp = path_join(log->data_dir, name, TMP_SUFFIX);
    char *dst = path_join(log->data_dir, name, META_SUFFIX);
    int rc = tmp && dst ? 0 : UV_ENOMEM;
    int fd = rc ? rc : io->open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    rc = bk_io_pwrite_all(io, fd, text, (size_t)len, 0);
    if (rc == 0)
        rc = io->fsync(fd);
    int crc = bk_io_close(io, fd);
    if (rc == 0)
        rc = crc;
    if (rc == 0)
        rc = io->rename(tmp, dst);
    if (rc == 0)
        rc = sync_dir(io, log->data_dir);
    if (rc < 0)
        (void)io->unlink(tmp); /* best effort; open removes leftovers too */
out:
    if (rc < 0)
        bk_trace_warn("log", "cannot write metadata of topic %s: %s", name, bk_strerror(rc));
    free(tmp);
    free(dst);
    return rc;
}

void bk_topic_free(bk_topic_t *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->npart; i++)
        bk_partition_free(t->parts[i]);
    free(t->parts);
    free(t->name);
    free(t);
}

/* Builds the topic and opens (create: makes) its partitions. */
static int topic_build(bk_log_t *log, const char *name, size_t len, uint32_t npart, int create,
                       bk_topic_t **out)
{
    bk_topic_t *t = calloc(1, sizeof *t);
    int rc = UV_ENOMEM;
    if (!t)
        return rc;
    t->log = log;
    t->name_len = len;
    if (!(t->name = malloc(len + 1)) || !(t->parts = calloc(npart, sizeof *t->parts)))
        goto err;
    memcpy(t->name, name, len);
    t->name[len] = '\0';
    for (; t->npart < npart; t->npart++) {
        if ((rc = bk_partition_open(log, t, t->npart, create, &t->parts[t->npart])) < 0)
            goto err;
        if (create && (rc = bk_partition_sync_dir(t->parts[t->npart])) < 0)
            goto err;
    }
    *out = t;
    return 0;
err:
    bk_topic_free(t);
    return rc;
}

static int cmp_name(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

/* Index of the first topic whose name is >= name. */
static size_t lower_bound(const bk_log_t *log, const char *name, size_t len)
{
    size_t lo = 0, hi = log->ntopics;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const bk_topic_t *t = log->topics[mid];
        if (cmp_name(t->name, t->name_len, name, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int insert(bk_log_t *log, bk_topic_t *t)
{
    if (log->ntopics == log->topics_cap) {
        size_t cap = log->topics_cap ? log->topics_cap * 2 : 8;
        bk_topic_t **n = realloc(log->topics, cap * sizeof *n);
        if (!n)
            return UV_ENOMEM;
        log->topics = n;
        log->topics_cap = cap;
    }
    size_t at = lower_bound(log, t->name, t->name_len);
    memmove(&log->topics[at + 1], &log->topics[at], (log->ntopics - at) * sizeof *log->topics);
    log->topics[at] = t;
    log->ntopics++;
    return 0;
}

bk_topic_t *bk_log_topic_find(bk_log_t *log, const char *name, size_t name_len)
{
    size_t at = lower_bound(log, name, name_len);
    if (at < log->ntopics &&
        cmp_name(log->topics[at]->name, log->topics[at]->name_len, name, name_len) == 0)
        return log->topics[at];
    return NULL;
}

int bk_log_topic_create(bk_log_t *log, const char *name, size_t name_len, uint32_t partitions,
                        bk_topic_t **out)
{
    if (log->closing)
        return BK_ECLOSED;
    if (!bk_log_topic_name_valid(name, name_len))
        return BK_EINVAL;
    bk_topic_t *t = bk_log_topic_find(log, name, name_len);
    if (t) {
        if (out)
            *out = t;
        return UV_EEXIST;
    }
    if (partitions == 0)
        partitions = log->cfg.default_partitions;
    if (partitions == 0 || partitions > BK_LOG_MAX_PARTITIONS)
        return BK_EINVAL;
    int rc = topic_build(log, name, name_len, partitions, 1, &t);
    if (rc < 0)
        return rc;
    if ((rc = insert(log, t)) < 0 || (rc = write_meta(log, t->name, partitions)) < 0) {
        size_t at = lower_bound(log, t->name, t->name_len);
        if (at < log->ntopics && log->topics[at] == t) {
            memmove(&log->topics[at], &log->topics[at + 1],
                    (log->ntopics - at - 1) * sizeof *log->topics);
            log->ntopics--;
        }
        bk_topic_free(t);
        return rc;
    }
    bk_trace_info("log", "created topic %s with %" PRIu32 " partition(s)", t->name, partitions);
    if (out)
        *out = t;
    return 0;
}

static int has_suffix(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len > n && memcmp(s + len - n, suffix, n) == 0;
}

static int load_one(bk_log_t *log, const char *file, size_t name_len)
{
    char name[NAME_MAX_LEN + 1], text[META_MAX];
    if (!bk_log_topic_name_valid(file, name_len))
        return 0; /* not ours */
    memcpy(name, file, name_len);
    name[name_len] = '\0';
    char *path = path_join(log->data_dir, name, META_SUFFIX);
    if (!path)
        return UV_ENOMEM;
    int fd = log->io->open(path, O_RDONLY | O_CLOEXEC, 0);
    int64_t len = fd < 0 ? fd : bk_io_pread_all(log->io, fd, text, sizeof text, 0);
    bk_io_close(log->io, fd);
    uint32_t npart = 0;
    int rc = len < 0 ? (int)len : bk_topic_meta_parse(text, (size_t)len, name, &npart);
    if (rc == BK_ECORRUPT)
        bk_trace_error("log", "%s: malformed topic metadata", path);
    free(path);
    bk_topic_t *t;
    if (rc == 0 && (rc = topic_build(log, name, name_len, npart, 0, &t)) == 0 &&
        (rc = insert(log, t)) < 0)
        bk_topic_free(t);
    return rc;
}

int bk_topic_load_all(bk_log_t *log)
{
    DIR *d = opendir(log->data_dir);
    if (!d)
        return -errno;
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (has_suffix(de->d_name, len, TMP_SUFFIX)) {
            char *path = path_join(log->data_dir, de->d_name, "");
            if (path && log->io->unlink(path) == 0)
                bk_trace_info("log", "removed unfinished %s", path);
            free(path);
        } else if (has_suffix(de->d_name, len, META_SUFFIX)) {
            rc = load_one(log, de->d_name, len - strlen(META_SUFFIX));
        }
    }
    if (closedir(d) < 0 && rc == 0)
        rc = -errno;
    return rc;
}

size_t bk_log_topic_count(const bk_log_t *log)
{
    return log->ntopics;
}

bk_topic_t *bk_log_topic_at(bk_log_t *log, size_t index)
{
    return index < log->ntopics ? log->topics[index] : NULL;
}

const char *bk_topic_name(const bk_topic_t *t)
{
    return t->name;
}

uint32_t bk_topic_partition_count(const bk_topic_t *t)
{
    return t->npart;
}

bk_partition_t *bk_topic_partition(bk_topic_t *t, uint32_t index)
{
    return index < t->npart ? t->parts[index] : NULL;
}
