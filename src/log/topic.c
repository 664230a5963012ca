/* Topics: name rules, settings, the sorted registry, the metadata file that makes a topic
 * exist, growing and deleting. A topic is published on disk only after its partitions exist
 * and are durable; its metadata is replaced only by rename of a fully synced temp file; a
 * delete moves the partition directories into the trash before the metadata (the commit
 * point), so a crash leaves the old topic or none, never half of one. Creating and growing can
 * run on the threadpool (bk_log_topic_create_async: the job builds a topic nothing else sees
 * yet; bk_log_topic_grow_async: partitions nothing sees yet, and deleting or growing the
 * topic waits meanwhile); the synchronous calls and deleting do blocking fsyncs on the
 * calling thread. */
#include "log/topic.h"

#include "brook/common.h"
#include "common/crc32c.h"
#include "log/commit.h"
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define META_SUFFIX ".topic"
#define TMP_SUFFIX ".tmp" /* short: a 249-character name plus suffix must fit in 255 bytes */
#define META_MAX 768
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

/* ---- compaction settings in the metadata (version 4) ---- */

void bk_topic_config_compaction_defaults(bk_topic_config_t *cfg)
{
    cfg->cleanup_policy = BK_CLEANUP_DELETE;
    cfg->delete_retention_ms = BK_DELETE_RETENTION_DEFAULT_MS;
    cfg->min_compaction_lag_ms = 0;
    cfg->min_cleanable_ratio = BK_MIN_CLEANABLE_RATIO_DEFAULT;
}

int bk_topic_config_compacts(const bk_topic_config_t *cfg)
{
    return (cfg->cleanup_policy & BK_CLEANUP_COMPACT) != 0;
}

static int compaction_valid(const bk_topic_config_t *cfg)
{
    return cfg->cleanup_policy <= (BK_CLEANUP_DELETE | BK_CLEANUP_COMPACT) &&
           cfg->delete_retention_ms >= 0 && cfg->min_compaction_lag_ms >= 0 &&
           cfg->min_cleanable_ratio >= 0.0 && cfg->min_cleanable_ratio <= 1.0;
}

int bk_topic_config_valid(const bk_topic_config_t *cfg)
{
    return cfg->retention_ms >= -1 && cfg->retention_bytes >= -1 && cfg->segment_bytes > 0 &&
           cfg->segment_bytes <= BK_LOG_MAX_SEGMENT_BYTES && cfg->max_message_bytes > 0 &&
           /* compression and replication settings */
           cfg->compression >= 0 && cfg->compression < BK_COMPRESSION_COUNT &&
           cfg->min_insync_replicas <= BK_LOG_MAX_REPLICAS &&
           cfg->replication_factor <= BK_LOG_MAX_REPLICAS && compaction_valid(cfg);
}

/* ---- compression.type names ---- */

static const char *const compression_names[BK_COMPRESSION_COUNT] = {"producer", "none", "gzip",
                                                                    "snappy",   "lz4",  "zstd"};

const char *bk_compression_name(int32_t compression)
{
    return compression >= 0 && compression < BK_COMPRESSION_COUNT ? compression_names[compression]
                                                                  : NULL;
}

int bk_compression_parse(const char *s, size_t len, int32_t *out)
{
    for (int32_t i = 0; i < BK_COMPRESSION_COUNT; i++) {
        if (strlen(compression_names[i]) == len && memcmp(compression_names[i], s, len) == 0) {
            *out = i;
            return 0;
        }
    }
    return BK_EINVAL;
}

/* Whether cfg's version-4 settings are all at their defaults: a topic without an id (made
 * before ids) then keeps its version 2 file. */
static int v4_defaults(const bk_topic_config_t *cfg)
{
    return cfg->compression == 0 && cfg->min_insync_replicas == 0 && cfg->replication_factor == 0 &&
           !bk_topic_config_compacts(cfg);
}

static int compaction_format(char *buf, size_t cap, const bk_topic_config_t *cfg);

int bk_topic_meta_format(char *buf, size_t cap, const char *name, uint64_t id, uint32_t partitions,
                         const bk_topic_config_t *cfg)
{
    int n;
    if (cfg && (id || !v4_defaults(cfg))) {
        n = snprintf(buf, cap,
                     "brook-topic 4\nname %s\nid %016" PRIx64 "\npartitions %" PRIu32
                     "\nretention.ms %" PRId64 "\nretention.bytes %" PRId64
                     "\nsegment.bytes %" PRIu64 "\nmax.message.bytes %" PRIu32 "\n",
                     name, id, partitions, cfg->retention_ms, cfg->retention_bytes,
                     cfg->segment_bytes, cfg->max_message_bytes);
        if (n >= 0 && (size_t)n < cap) /* version 4: the compaction block */
            n += compaction_format(buf + n, cap - (size_t)n, cfg);
        if (n >= 0 && (size_t)n < cap) /* then compression and replication */
            n += snprintf(buf + n, cap - (size_t)n,
                          "compression.type %s\nmin.insync.replicas %" PRIu32
                          "\nreplication.factor %" PRIu32 "\n",
                          bk_compression_name(cfg->compression), cfg->min_insync_replicas,
                          cfg->replication_factor);
    } else if (cfg)
        n = snprintf(buf, cap,
                     "brook-topic 2\nname %s\npartitions %" PRIu32 "\nretention.ms %" PRId64
                     "\nretention.bytes %" PRId64 "\nsegment.bytes %" PRIu64
                     "\nmax.message.bytes %" PRIu32 "\n",
                     name, partitions, cfg->retention_ms, cfg->retention_bytes, cfg->segment_bytes,
                     cfg->max_message_bytes);
    else
        n = snprintf(buf, cap, "brook-topic 1\nname %s\npartitions %" PRIu32 "\n", name,
                     partitions);
    if (n < 0 || (size_t)n >= cap)
        return BK_ETOOBIG;
    uint32_t crc = bk_crc32c(buf, (size_t)n);
    int m = snprintf(buf + n, cap - (size_t)n, "crc32c %08" PRIx32 "\n", crc);
    if (m < 0 || (size_t)m >= cap - (size_t)n)
        return BK_ETOOBIG;
    return n + m;
}

/* Reads "<key> <decimal>\n" at *pos; the value must lie in [min, max]. */
static int meta_field(const char **pos, const char *end, const char *key, int64_t min, int64_t max,
                      int64_t *out)
{
    size_t klen = strlen(key);
    const char *p = *pos;
    if ((size_t)(end - p) < klen + 1 || memcmp(p, key, klen) != 0 || p[klen] != ' ')
        return BK_ECORRUPT;
    p += klen + 1;
    int neg = p < end && *p == '-';
    p += neg;
    uint64_t v = 0;
    const char *digits = p;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (v > (uint64_t)INT64_MAX / 10)
            return BK_ECORRUPT;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (p == digits || p >= end || *p != '\n' || v > (uint64_t)INT64_MAX)
        return BK_ECORRUPT;
    int64_t x = neg ? -(int64_t)v : (int64_t)v;
    if (x < min || x > max)
        return BK_ECORRUPT;
    *out = x;
    *pos = p + 1;
    return 0;
}

/* Reads "compression.type <name>\n" at *pos. */
static int meta_compression(const char **pos, const char *end, int32_t *out)
{
    static const char key[] = "compression.type ";
    const char *p = *pos, *nl;
    if ((size_t)(end - p) < sizeof key || memcmp(p, key, sizeof key - 1) != 0 ||
        !(nl = memchr(p, '\n', (size_t)(end - p))))
        return BK_ECORRUPT;
    p += sizeof key - 1;
    if (bk_compression_parse(p, (size_t)(nl - p), out) < 0)
        return BK_ECORRUPT;
    *pos = nl + 1;
    return 0;
}

/* Reads "id <16 lowercase hex digits>\n" at *pos; the id must not be 0 (before version 4). */
static int meta_id(const char **pos, const char *end, uint64_t *out)
{
    const char *p = *pos;
    uint64_t v = 0;
    if (end - p < 20 || memcmp(p, "id ", 3) != 0 || p[19] != '\n')
        return BK_ECORRUPT;
    for (p += 3; p < *pos + 19; p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
        if (d < 0)
            return BK_ECORRUPT;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    *pos = p + 1;
    return 0;
}

static const char *const policy_names[] = {"delete", "delete", "compact", "compact,delete"};

/* The four compaction lines of a version 4 file. */
static int compaction_format(char *buf, size_t cap, const bk_topic_config_t *cfg)
{
    return snprintf(buf, cap,
                    "cleanup.policy %s\ndelete.retention.ms %" PRId64
                    "\nmin.compaction.lag.ms %" PRId64 "\nmin.cleanable.dirty.ratio %.17g\n",
                    policy_names[cfg->cleanup_policy & 3u], cfg->delete_retention_ms,
                    cfg->min_compaction_lag_ms, cfg->min_cleanable_ratio);
}

/* Reads "<key> <word>\n" at *pos into word (NUL-terminated). */
static int meta_word(const char **pos, const char *end, const char *key, char *word, size_t cap)
{
    size_t klen = strlen(key);
    const char *p = *pos;
    if ((size_t)(end - p) < klen + 1 || memcmp(p, key, klen) != 0 || p[klen] != ' ')
        return BK_ECORRUPT;
    p += klen + 1;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl || nl == p || (size_t)(nl - p) >= cap)
        return BK_ECORRUPT;
    memcpy(word, p, (size_t)(nl - p));
    word[nl - p] = '\0';
    *pos = nl + 1;
    return 0;
}

/* Parses the compaction lines (their exact rendering is checked by the caller). */
static int compaction_parse(const char **p, const char *end, bk_topic_config_t *c)
{
    char word[64];
    int64_t dr, lag;
    if (meta_word(p, end, "cleanup.policy", word, sizeof word) < 0)
        return BK_ECORRUPT;
    c->cleanup_policy = strcmp(word, "delete") == 0    ? BK_CLEANUP_DELETE
                        : strcmp(word, "compact") == 0 ? BK_CLEANUP_COMPACT
                        : strcmp(word, "compact,delete") == 0
                            ? BK_CLEANUP_COMPACT | BK_CLEANUP_DELETE
                            : 0;
    if (c->cleanup_policy == 0 || meta_field(p, end, "delete.retention.ms", 0, INT64_MAX, &dr) ||
        meta_field(p, end, "min.compaction.lag.ms", 0, INT64_MAX, &lag) ||
        meta_word(p, end, "min.cleanable.dirty.ratio", word, sizeof word) < 0)
        return BK_ECORRUPT;
    char *e;
    c->min_cleanable_ratio = strtod(word, &e);
    c->delete_retention_ms = dr;
    c->min_compaction_lag_ms = lag;
    return *e == '\0' ? 0 : BK_ECORRUPT;
}

/* Turns a version 4 rendering into the version 3 one of the same topic (compaction lines
 * dropped, version and checksum redone), in place. Returns the new length or an error. */
static int v3_rendering(char *buf, size_t len)
{
    char *block = strstr(buf, "\ncleanup.policy ");
    char *crc = strstr(buf, "\ncrc32c ");
    if (len < 14 || !block || !crc || memcmp(buf, "brook-topic 4\n", 14) != 0)
        return BK_ECORRUPT;
    buf[12] = '3';
    size_t n = (size_t)(block - buf) + 1;
    uint32_t c = bk_crc32c(buf, n);
    int m = snprintf(buf + n, META_MAX - n, "crc32c %08" PRIx32 "\n", c);
    return m < 0 ? BK_ECORRUPT : (int)n + m;
}

int bk_topic_meta_parse(const char *buf, size_t len, const char *expect_name, uint64_t *id,
                        uint32_t *partitions, bk_topic_config_t *cfg, int *has_cfg)
{
    const char *p = buf, *end = buf + len;
    int64_t version, n, v[4] = {0, 0, 0, 0}, isr = 0, rf = 0;
    int32_t compression = 0;
    uint64_t tid = 0;
    if (meta_field(&p, end, "brook-topic", 1, 4, &version) < 0)
        return BK_ECORRUPT;
    size_t nlen = strlen(expect_name);
    if ((size_t)(end - p) < nlen + 6 || memcmp(p, "name ", 5) != 0 ||
        memcmp(p + 5, expect_name, nlen) != 0 || p[5 + nlen] != '\n')
        return BK_ECORRUPT;
    p += nlen + 6;
    if (version >= 3 && (meta_id(&p, end, &tid) < 0 || (version == 3 && tid == 0)))
        return BK_ECORRUPT;
    int rc = meta_field(&p, end, "partitions", 1, BK_LOG_MAX_PARTITIONS, &n);
    if (rc == 0 && version >= 2) {
        rc = meta_field(&p, end, "retention.ms", -1, INT64_MAX, &v[0]);
        rc = rc ? rc : meta_field(&p, end, "retention.bytes", -1, INT64_MAX, &v[1]);
        rc = rc ? rc : meta_field(&p, end, "segment.bytes", 1, INT64_MAX, &v[2]);
        rc = rc ? rc : meta_field(&p, end, "max.message.bytes", 1, UINT32_MAX, &v[3]);
    }
    bk_topic_config_t c = {.retention_ms = v[0],
                           .retention_bytes = v[1],
                           .segment_bytes = (uint64_t)v[2],
                           .max_message_bytes = (uint32_t)v[3]};
    bk_topic_config_compaction_defaults(&c); /* before version 4: not compacted */
    if (rc == 0 && version >= 4)
        rc = compaction_parse(&p, end, &c);
    if (rc == 0 && version >= 4) { /* compression and replication settings */
        rc = meta_compression(&p, end, &compression);
        rc = rc ? rc : meta_field(&p, end, "min.insync.replicas", 0, BK_LOG_MAX_REPLICAS, &isr);
        rc = rc ? rc : meta_field(&p, end, "replication.factor", 0, BK_LOG_MAX_REPLICAS, &rf);
    }
    if (rc < 0)
        return BK_ECORRUPT;
    c.compression = compression;
    c.min_insync_replicas = (uint32_t)isr;
    c.replication_factor = (uint32_t)rf;
    if (version >= 2 && !bk_topic_config_valid(&c))
        return BK_ECORRUPT;
    /* Re-render and compare byte for byte: canonical form and checksum in one check. A
     * version 3 file is compared with its own rendering (the version 4 one less its block). */
    char want[META_MAX];
    int wn = bk_topic_meta_format(want, sizeof want, expect_name, tid, (uint32_t)n,
                                  version >= 2 ? &c : NULL);
    if (wn > 0 && version == 3)
        wn = v3_rendering(want, (size_t)wn);
    if (wn < 0 || (size_t)wn != len || memcmp(want, buf, len) != 0)
        return BK_ECORRUPT;
    *id = tid;
    *partitions = (uint32_t)n;
    *has_cfg = version >= 2;
    if (version >= 2)
        *cfg = c;
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

/* "<dir>/<name>-<index>" */
static char *part_path(const char *dir, const char *name, uint32_t index)
{
    char suffix[16];
    snprintf(suffix, sizeof suffix, "-%" PRIu32, index);
    return path_join(dir, name, suffix);
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

static int exists(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0;
}

/* Temp file, fsync, fsync the directory (so the partition directories created before are
 * durable first), rename over the real name, fsync the directory. */
static int write_meta(bk_log_t *log, const char *name, uint64_t id, uint32_t partitions,
                      const bk_topic_config_t *cfg)
{
    const bk_log_io_t *io = log->io;
    char text[META_MAX];
    int len = bk_topic_meta_format(text, sizeof text, name, id, partitions, cfg);
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
        rc = sync_dir(io, log->data_dir);
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
    free(t->trash);
    free(t);
}

int bk_topic_idle(const bk_topic_t *t)
{
    for (uint32_t i = 0; i < t->npart; i++)
        if (!bk_partition_idle(t->parts[i]))
            return 0;
    return 1;
}

/* Opens (create: makes and syncs) partitions [from, to) of t into out[0 .. to - from). On
 * failure the ones opened are freed again. Reads only t's name, which never changes, and the
 * log's settings: a threadpool job may call it for a live topic. */
static int open_partitions(bk_topic_t *t, uint32_t from, uint32_t to, int create,
                           bk_partition_t **out)
{
    for (uint32_t i = from; i < to; i++) {
        bk_partition_t **p = &out[i - from];
        int rc = bk_partition_open(t->log, t, i, create, p);
        if (rc == 0 && create && (rc = bk_partition_sync_dir(*p)) < 0)
            bk_partition_free(*p);
        if (rc < 0) {
            while (i-- > from)
                bk_partition_free(out[i - from]);
            return rc;
        }
    }
    return 0;
}

/* ---- descriptors and rollback of a creation or growth ---- */

int bk_log_fd_budget(uint64_t *open_now, uint64_t *limit)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -errno;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -errno;
    uint64_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    (void)closedir(d);
    *open_now = n > 0 ? n - 1 : 0; /* not the one opendir used */
    *limit = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    return 0;
}

/* Removes whatever a failed creation or growth left of partition directories [from, to) of
 * name: they are unpublished (no metadata names them), so nothing else refers to them. Best
 * effort; the data directory is synced once at the end. */
static void remove_unpublished(bk_log_t *log, const char *name, uint32_t from, uint32_t to)
{
    int removed = 0;
    for (uint32_t i = from; i < to; i++) {
        char *dir = part_path(log->data_dir, name, i);
        DIR *d = dir ? opendir(dir) : NULL;
        if (!d) {
            free(dir);
            continue;
        }
        struct dirent *de;
        while ((de = readdir(d)) != NULL)
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                (void)unlinkat(dirfd(d), de->d_name, 0);
        (void)closedir(d);
        if (rmdir(dir) == 0)
            removed++;
        else
            bk_trace_warn("log", "cannot remove %s after a failed creation: %s", dir,
                          strerror(errno));
        free(dir);
    }
    if (removed) {
        bk_trace_info("log", "removed %d partition director%s of %s left by a failed creation",
                      removed, removed == 1 ? "y" : "ies", name);
        (void)sync_dir(log->io, log->data_dir);
    }
}

/* After a failed creation of name: its directories go unless its metadata reached the disk
 * (a failed directory sync after the rename), which makes them part of the topic. */
static void undo_creation(bk_log_t *log, const char *name, uint32_t npart)
{
    char *meta = path_join(log->data_dir, name, META_SUFFIX);
    if (meta && !exists(meta))
        remove_unpublished(log, name, 0, npart);
    free(meta);
}

/* Builds the topic and opens (create: makes) its partitions. */
static int topic_build(bk_log_t *log, const char *name, size_t len, uint64_t id, uint32_t npart,
                       const bk_topic_config_t *cfg, int create, bk_topic_t **out)
{
    bk_topic_t *t = calloc(1, sizeof *t);
    int rc = UV_ENOMEM;
    if (!t)
        return rc;
    t->log = log;
    t->id = id;
    t->name_len = len;
    t->cfg = *cfg;
    if (!(t->name = malloc(len + 1)) || !(t->parts = calloc(npart, sizeof *t->parts)))
        goto err;
    memcpy(t->name, name, len);
    t->name[len] = '\0';
    if ((rc = open_partitions(t, 0, npart, create, t->parts)) < 0)
        goto err;
    t->npart = npart;
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

/* Room for extra more topics besides those registered and the slots held for creations under
 * way (so a creation that ends can always be registered). */
static int reserve(bk_log_t *log, size_t extra)
{
    return bk_grow(&log->topics, &log->topics_cap, log->ntopics + log->topics_reserved, extra,
                   sizeof *log->topics, 8);
}

static int insert(bk_log_t *log, bk_topic_t *t)
{
    int rc = reserve(log, 1);
    if (rc != 0)
        return rc;
    size_t at = lower_bound(log, t->name, t->name_len);
    memmove(&log->topics[at + 1], &log->topics[at], (log->ntopics - at) * sizeof *log->topics);
    log->topics[at] = t;
    log->ntopics++;
    return 0;
}

static void unregister(bk_log_t *log, bk_topic_t *t)
{
    size_t at = lower_bound(log, t->name, t->name_len);
    if (at < log->ntopics && log->topics[at] == t) {
        memmove(&log->topics[at], &log->topics[at + 1],
                (log->ntopics - at - 1) * sizeof *log->topics);
        log->ntopics--;
    }
}

bk_topic_t *bk_log_topic_find(bk_log_t *log, const char *name, size_t name_len)
{
    size_t at = lower_bound(log, name, name_len);
    if (at < log->ntopics &&
        cmp_name(log->topics[at]->name, log->topics[at]->name_len, name, name_len) == 0)
        return log->topics[at];
    return NULL;
}

void bk_log_topic_config_defaults(const bk_log_t *log, bk_topic_config_t *out)
{
    out->retention_ms = log->cfg.retention_ms;
    out->retention_bytes = log->cfg.retention_bytes;
    out->segment_bytes = log->cfg.segment_bytes;
    out->max_message_bytes = log->cfg.max_message_bytes;
    out->compression = log->cfg.compression;
    out->min_insync_replicas = 0;
    out->replication_factor = 0;
    bk_topic_config_compaction_defaults(out);
}

const bk_topic_config_t *bk_topic_config(const bk_topic_t *t)
{
    return &t->cfg;
}

uint64_t bk_topic_id(const bk_topic_t *t)
{
    return t->id;
}

/* ---- create ---- */

/* One asynchronous creation or growth: a threadpool job builds the topic (or the new
 * partitions of one) and writes its metadata; the callers waiting for it (the first started
 * it, later ones joined) are called back in order. */
typedef struct bk_topic_waiter {
    struct bk_topic_waiter *next;
    bk_topic_created_cb cb;
    void *arg;
} bk_topic_waiter_t;

struct bk_topic_job {
    uv_work_t work;
    bk_log_t *log;
    struct bk_topic_job *next; /* log->creating */
    char *name;
    size_t name_len;
    uint64_t id;
    uint32_t partitions;
    bk_topic_config_t cfg;
    bk_topic_t *t;              /* built by the job, NULL on failure; a grow: the topic */
    bk_topic_t *grow;           /* a grow of this topic, NULL for a creation */
    uint32_t from;              /* a grow: the partition count before it */
    bk_partition_t **new_parts; /* a grow: partitions [from, partitions) it made */
    int reconfig;               /* a grow job that only rewrites the settings to cfg */
    int rc;
    int started; /* queued on the threadpool (else waiting for the one before it) */
    bk_topic_waiter_t *waiters, **tail;
};

static struct bk_topic_job *creation_of(const bk_log_t *log, const char *name, size_t len)
{
    for (struct bk_topic_job *j = log->creating; j; j = j->next)
        if (!j->grow && cmp_name(j->name, j->name_len, name, len) == 0)
            return j;
    return NULL;
}

static struct bk_topic_job *growth_of(const bk_log_t *log, const bk_topic_t *t)
{
    for (struct bk_topic_job *j = log->creating; j; j = j->next)
        if (j->grow == t)
            return j;
    return NULL;
}

/* Descriptors that creations and growths already queued will open. */
static uint64_t fds_promised(const bk_log_t *log)
{
    uint64_t n = 0;
    for (const struct bk_topic_job *j = log->creating; j; j = j->next)
        n += (uint64_t)(j->partitions - j->from) * BK_LOG_FDS_PER_PARTITION;
    return n;
}

/* Whether adding parts partitions keeps the process under its descriptor limit, with
 * BK_LOG_FD_HEADROOM left for connections: UV_EMFILE when not (nothing is made then; failing
 * at partition 6,661 of 9,000 would leave the others' work to undo). A budget that cannot be
 * read (no /proc) lets the creation try. */
static int check_fds(const bk_log_t *log, uint32_t parts)
{
    uint64_t open_now, limit;
    if (bk_log_fd_budget(&open_now, &limit) < 0)
        return 0;
    uint64_t need = (uint64_t)parts * BK_LOG_FDS_PER_PARTITION + fds_promised(log);
    if (limit != UINT64_MAX && open_now + need + BK_LOG_FD_HEADROOM > limit) {
        bk_trace_warn("log",
                      "refusing %" PRIu32 " new partition(s): they need %" PRIu64
                      " file descriptors (with those promised to creations under way), %" PRIu64
                      " of the limit of %" PRIu64 " are open and %u stay free for connections",
                      parts, need, open_now, limit, BK_LOG_FD_HEADROOM);
        return UV_EMFILE;
    }
    return 0;
}

/* Checks a creation: the name is free, the partition count (0: the default) and settings
 * (NULL: the defaults, copied to *cfg_out) are in range. */
static int check_create(bk_log_t *log, const char *name, size_t name_len, uint32_t *partitions,
                        const bk_topic_config_t *cfg, bk_topic_config_t *cfg_out,
                        bk_topic_t **existing)
{
    if (log->closing)
        return BK_ECLOSED;
    if (!bk_log_topic_name_valid(name, name_len))
        return BK_EINVAL;
    bk_topic_t *t = bk_log_topic_find(log, name, name_len);
    if (t) {
        if (existing)
            *existing = t;
        return UV_EEXIST;
    }
    if (cfg)
        *cfg_out = *cfg;
    else
        bk_log_topic_config_defaults(log, cfg_out);
    if (*partitions == 0)
        *partitions = log->cfg.default_partitions;
    if (*partitions == 0 || *partitions > BK_LOG_MAX_PARTITIONS || !bk_topic_config_valid(cfg_out))
        return BK_EINVAL;
    return creation_of(log, name, name_len) ? UV_EBUSY : check_fds(log, *partitions);
}

int bk_log_topic_create_with(bk_log_t *log, const char *name, size_t name_len, uint32_t partitions,
                             const bk_topic_config_t *cfg, bk_topic_t **out)
{
    return bk_log_topic_create_as(log, name, name_len, bk_random_id(), partitions, cfg, out);
}

int bk_log_topic_create_as(bk_log_t *log, const char *name, size_t name_len, uint64_t id,
                           uint32_t partitions, const bk_topic_config_t *cfg, bk_topic_t **out)
{
    bk_topic_config_t c;
    bk_topic_t *t = NULL;
    int rc = check_create(log, name, name_len, &partitions, cfg, &c, out);
    if (rc)
        return rc;
    char copy[NAME_MAX_LEN + 1]; /* the name outlives a failed t (check_create: it fits) */
    snprintf(copy, sizeof copy, "%.*s", (int)name_len, name);
    if ((rc = topic_build(log, name, name_len, id, partitions, &c, 1, &t)) < 0) {
        undo_creation(log, copy, partitions);
        return rc;
    }
    if ((rc = insert(log, t)) < 0 || (rc = write_meta(log, t->name, id, partitions, &c)) < 0) {
        unregister(log, t);
        bk_topic_free(t);
        undo_creation(log, copy, partitions);
        return rc;
    }
    bk_trace_info("log", "created topic %s with %" PRIu32 " partition(s)", t->name, partitions);
    if (out)
        *out = t;
    return 0;
}

static void work_create(uv_work_t *req)
{
    /* Threadpool thread: touches only the job and the topic it builds, which nothing else
     * can see yet, and the log's settings, which do not change after open. A grow touches
     * only the partitions it makes and reads its topic's name, id and settings, which no
     * one changes while it runs (deleting and growing wait for it). */
    struct bk_topic_job *job = req->data;
    if (job->grow) {
        bk_topic_t *t = job->grow;
        job->rc = open_partitions(t, job->from, job->partitions, 1, job->new_parts);
        if (job->rc < 0) /* before the metadata: the new directories are nobody's */
            remove_unpublished(job->log, t->name, job->from, job->partitions);
        else if ((job->rc = write_meta(job->log, t->name, t->id, job->partitions,
                                       job->reconfig ? &job->cfg : &t->cfg)) < 0)
            for (uint32_t i = job->from; i < job->partitions; i++)
                bk_partition_free(job->new_parts[i - job->from]);
        return;
    }
    job->rc = topic_build(job->log, job->name, job->name_len, job->id, job->partitions, &job->cfg,
                          1, &job->t);
    if (job->rc == 0 &&
        (job->rc = write_meta(job->log, job->t->name, job->id, job->partitions, &job->cfg)) < 0) {
        bk_topic_free(job->t);
        job->t = NULL;
    }
    if (job->rc < 0)
        undo_creation(job->log, job->name, job->partitions);
}

static void after_create(uv_work_t *req, int status);

/* Creations run one at a time: they share libuv's threadpool with the flush rounds, and each
 * syncs a few files per partition. This starts the oldest one waiting (the list is newest
 * first) unless it runs already; when the log is closing it fails it with BK_ECLOSED instead,
 * which moves on to the next. Runs only from after_create (callbacks may run from here). */
static void next_creation(bk_log_t *log)
{
    struct bk_topic_job *oldest = log->creating;
    if (!oldest)
        return;
    while (oldest->next)
        oldest = oldest->next;
    if (oldest->started)
        return;
    oldest->started = 1;
    oldest->work.data = oldest;
    log->jobs++; /* after_create's bk_log_job_done balances it */
    int rc = log->closing ? BK_ECLOSED
                          : uv_queue_work(log->loop, &oldest->work, work_create, after_create);
    if (rc != 0)
        after_create(&oldest->work, rc);
}

/* The loop's half of a creation: registers the topic the job built. Returns it, or NULL
 * with *rc set. */
static bk_topic_t *created(bk_log_t *log, struct bk_topic_job *job, int *rc)
{
    log->topics_reserved--;
    bk_topic_t *t = job->t;
    if (*rc == 0 && log->closing)
        *rc = BK_ECLOSED; /* it is on disk: the next open loads it */
    if (*rc == 0 && (*rc = insert(log, t)) == 0)
        bk_trace_info("log", "created topic %s with %" PRIu32 " partition(s)", t->name,
                      job->partitions);
    if (*rc) {
        bk_topic_free(t);
        t = NULL;
    }
    return t;
}

/* The loop's half of a growth: the topic takes the partitions the job made (its array got
 * room for them when the growth was asked for). A log closing meanwhile takes them too: they
 * are on disk, and the topic is freed with them at close. */
static bk_topic_t *grown(struct bk_topic_job *job, int rc)
{
    bk_topic_t *t = job->grow;
    if (rc == 0 && !job->reconfig) {
        memcpy(&t->parts[job->from], job->new_parts,
               (job->partitions - job->from) * sizeof *t->parts);
        bk_trace_info("log", "topic %s grew from %" PRIu32 " to %" PRIu32 " partitions", t->name,
                      job->from, job->partitions);
        t->npart = job->partitions;
    }
    if (rc == 0 && job->reconfig) {
        t->cfg = job->cfg;
        bk_trace_info("log", "topic %s: settings changed", t->name);
    }
    free(job->new_parts);
    return t;
}

static void after_create(uv_work_t *req, int status)
{
    struct bk_topic_job *job = req->data;
    bk_log_t *log = job->log;
    for (struct bk_topic_job **pp = &log->creating; *pp; pp = &(*pp)->next) {
        if (*pp == job) {
            *pp = job->next;
            break;
        }
    }
    int rc = status ? status : job->rc, grow = job->grow != NULL;
    bk_topic_t *t = grow ? grown(job, rc) : created(log, job, &rc);
    bk_topic_waiter_t *w = job->waiters;
    free(job->name);
    free(job);
    /* Joiners get no pointer: an earlier caller's answer may already have deleted it. A
     * creation's joiners learn that the topic exists (they did not create it). */
    for (int first = 1; w; first = 0) {
        bk_topic_waiter_t *next = w->next;
        w->cb(w->arg, rc || first || grow ? rc : UV_EEXIST, first ? t : NULL);
        free(w);
        w = next;
    }
    next_creation(log);
    bk_log_job_done(log); /* may free the log */
}

/* Queues job: started now when no other job runs, else by after_create in turn. Returns 0,
 * or the error (then the caller frees the job). */
static int enqueue_job(bk_log_t *log, struct bk_topic_job *job)
{
    if (!log->creating) { /* none runs: start it now (after_create starts the others) */
        job->work.data = job;
        int rc = uv_queue_work(log->loop, &job->work, work_create, after_create);
        if (rc != 0)
            return rc;
        job->started = 1;
        log->jobs++;
    }
    job->next = log->creating;
    log->creating = job;
    return 0;
}

static int add_waiter(struct bk_topic_job *job, bk_topic_created_cb cb, void *arg)
{
    bk_topic_waiter_t *w = malloc(sizeof *w);
    if (!w)
        return UV_ENOMEM;
    *w = (bk_topic_waiter_t){NULL, cb, arg};
    *job->tail = w;
    job->tail = &w->next;
    return 0;
}

int bk_log_topic_await_creation(bk_log_t *log, const char *name, size_t name_len,
                                bk_topic_created_cb cb, void *arg)
{
    struct bk_topic_job *job = creation_of(log, name, name_len);
    return job ? add_waiter(job, cb, arg) : UV_ENOENT;
}

int bk_log_topic_await_growth(bk_log_t *log, const bk_topic_t *t, bk_topic_created_cb cb, void *arg)
{
    struct bk_topic_job *job = growth_of(log, t);
    return job ? add_waiter(job, cb, arg) : UV_ENOENT;
}

/* Whether t may be grown or deleted now: not while the log closes, once deleted, or while a
 * growth of it runs (UV_EBUSY: bk_log_topic_await_growth). */
static int changeable(const bk_log_t *log, const bk_topic_t *t)
{
    if (log->closing)
        return BK_ECLOSED;
    if (t->deleted)
        return BK_ENOTOPIC;
    return growth_of(log, t) ? UV_EBUSY : 0;
}

/* Checks a growth of t to new_count (the same count passes: the callers differ) and makes
 * room for the new partitions in t's array, so what follows cannot fail for memory; nobody
 * holds pointers into the array (partitions are pointed to, the array is not). */
static int prepare_growth(bk_log_t *log, bk_topic_t *t, uint32_t new_count)
{
    int rc = changeable(log, t);
    if (rc)
        return rc;
    if (new_count < t->npart || new_count > BK_LOG_MAX_PARTITIONS)
        return BK_EINVAL;
    if (new_count > t->npart && (rc = check_fds(log, new_count - t->npart)) < 0)
        return rc;
    bk_partition_t **parts = realloc(t->parts, new_count * sizeof *parts);
    if (!parts)
        return UV_ENOMEM;
    t->parts = parts;
    return 0;
}

int bk_log_topic_grow_async(bk_log_t *log, bk_topic_t *t, uint32_t new_count,
                            bk_topic_created_cb cb, void *arg)
{
    int rc = prepare_growth(log, t, new_count);
    if (rc == 0 && new_count == t->npart)
        rc = BK_EINVAL;
    if (rc)
        return rc;
    struct bk_topic_job *job = calloc(1, sizeof *job);
    rc = UV_ENOMEM;
    if (job && (job->new_parts = calloc(new_count - t->npart, sizeof *job->new_parts))) {
        job->tail = &job->waiters;
        job->log = log;
        job->grow = t;
        job->from = t->npart;
        job->partitions = new_count;
        if ((rc = add_waiter(job, cb, arg)) == 0 && (rc = enqueue_job(log, job)) == 0)
            return 0;
        free(job->waiters);
    }
    if (job)
        free(job->new_parts);
    free(job);
    return rc;
}

int bk_log_topic_reconfigure_async(bk_log_t *log, bk_topic_t *t, const bk_topic_config_t *cfg,
                                   bk_topic_created_cb cb, void *arg)
{
    int rc = changeable(log, t);
    if (rc)
        return rc;
    if (!bk_topic_config_valid(cfg))
        return BK_EINVAL;
    struct bk_topic_job *job = calloc(1, sizeof *job);
    if (!job)
        return UV_ENOMEM;
    job->tail = &job->waiters;
    job->log = log;
    job->grow = t;
    job->reconfig = 1;
    job->from = job->partitions = t->npart;
    job->cfg = *cfg;
    if ((rc = add_waiter(job, cb, arg)) == 0 && (rc = enqueue_job(log, job)) == 0)
        return 0;
    free(job->waiters);
    free(job);
    return rc;
}

int bk_log_topic_create_async(bk_log_t *log, const char *name, size_t name_len, uint32_t partitions,
                              const bk_topic_config_t *cfg, bk_topic_created_cb cb, void *arg)
{
    return bk_log_topic_create_async_as(log, name, name_len, bk_random_id(), partitions, cfg, cb,
                                        arg);
}

int bk_log_topic_create_async_as(bk_log_t *log, const char *name, size_t name_len, uint64_t id,
                                 uint32_t partitions, const bk_topic_config_t *cfg,
                                 bk_topic_created_cb cb, void *arg)
{
    bk_topic_config_t c;
    int rc = check_create(log, name, name_len, &partitions, cfg, &c, NULL);
    if (rc == UV_EBUSY) /* join the creation under way */
        return bk_log_topic_await_creation(log, name, name_len, cb, arg);
    struct bk_topic_job *job = NULL;
    bk_topic_waiter_t *w = NULL;
    if (rc == 0 && (rc = reserve(log, 1)) == 0 &&
        (!(job = calloc(1, sizeof *job)) || !(job->name = malloc(name_len + 1)) ||
         !(w = malloc(sizeof *w))))
        rc = UV_ENOMEM;
    if (rc) {
        if (job)
            free(job->name);
        free(job);
        return rc;
    }
    memcpy(job->name, name, name_len);
    job->name[name_len] = '\0';
    job->name_len = name_len;
    job->log = log;
    job->id = id;
    job->partitions = partitions;
    job->cfg = c;
    *w = (bk_topic_waiter_t){NULL, cb, arg};
    job->waiters = w;
    job->tail = &w->next;
    if ((rc = enqueue_job(log, job)) != 0) {
        free(w);
        free(job->name);
        free(job);
        return rc;
    }
    log->topics_reserved++;
    return 0;
}

int bk_log_topic_create(bk_log_t *log, const char *name, size_t name_len, uint32_t partitions,
                        bk_topic_t **out)
{
    return bk_log_topic_create_with(log, name, name_len, partitions, NULL, out);
}

int bk_log_topic_add_partitions(bk_log_t *log, bk_topic_t *t, uint32_t new_count)
{
    int rc = prepare_growth(log, t, new_count);
    if (rc || new_count == t->npart)
        return rc;
    /* New directories first (removed again if one cannot be made; reused by the next attempt
     * if the metadata cannot be written), then the metadata: the rename is the commit point. */
    if ((rc = open_partitions(t, t->npart, new_count, 1, &t->parts[t->npart])) < 0) {
        remove_unpublished(log, t->name, t->npart, new_count);
        return rc;
    }
    if ((rc = write_meta(log, t->name, t->id, new_count, &t->cfg)) < 0) {
        for (uint32_t i = t->npart; i < new_count; i++)
            bk_partition_free(t->parts[i]);
        return rc;
    }
    bk_trace_info("log", "topic %s grew from %" PRIu32 " to %" PRIu32 " partitions", t->name,
                  t->npart, new_count);
    t->npart = new_count;
    return 0;
}

/* ---- delete ---- */

/* Makes "<data>/+trash/<generation>+<id>" (durably) and returns its path. The entry is named
 * by the topic id, not the name: its undo at open must tell the deleted topic from a new one
 * of the same name, and the name need not fit beside a generation in 255 bytes. */
static int trash_entry(bk_log_t *log, uint64_t id, char **out)
{
    const bk_log_io_t *io = log->io;
    char *trash = path_join(log->data_dir, BK_LOG_TRASH, "");
    if (!trash)
        return UV_ENOMEM;
    int rc = io->mkdir(trash, 0755);
    if (rc == 0)
        rc = sync_dir(io, log->data_dir);
    else if (rc == UV_EEXIST)
        rc = 0;
    char entry[64];
    char *path = NULL;
    while (rc == 0) {
        snprintf(entry, sizeof entry, "%020" PRIu64 "+%016" PRIx64, ++log->trash_gen, id);
        free(path);
        if (!(path = path_join(trash, entry, ""))) {
            rc = UV_ENOMEM;
            break;
        }
        if ((rc = io->mkdir(path, 0755)) != UV_EEXIST)
            break;
        rc = 0;
    }
    if (rc == 0)
        rc = sync_dir(io, trash);
    free(trash);
    if (rc < 0) {
        free(path);
        return rc;
    }
    *out = path;
    return 0;
}

/* Renames partition directory i of t from one parent directory to another. */
static int move_part(const bk_log_io_t *io, const bk_topic_t *t, uint32_t i, const char *from,
                     const char *to)
{
    char *a = part_path(from, t->name, i), *b = part_path(to, t->name, i);
    int rc = a && b ? io->rename(a, b) : UV_ENOMEM;
    free(a);
    free(b);
    return rc;
}

/* Moves every partition directory into the trash entry, then (the commit point) the metadata.
 * Before the commit point a failure moves back what was moved; open does the same after a
 * crash, because an entry without metadata marks a delete that did not happen. */
static int trash_topic(bk_log_t *log, bk_topic_t *t, const char *entry)
{
    const bk_log_io_t *io = log->io;
    uint32_t moved = 0;
    int rc = 0;
    for (; rc == 0 && moved < t->npart; moved++)
        if ((rc = move_part(io, t, moved, log->data_dir, entry)) < 0)
            break;
    if (rc == 0 && (rc = sync_dir(io, log->data_dir)) == 0 && (rc = sync_dir(io, entry)) == 0) {
        char *meta = path_join(log->data_dir, t->name, META_SUFFIX);
        char *dst = path_join(entry, t->name, META_SUFFIX);
        rc = meta && dst ? io->rename(meta, dst) : UV_ENOMEM;
        free(meta);
        free(dst);
    }
    if (rc == 0) {
        int src = sync_dir(io, log->data_dir), drc = sync_dir(io, entry);
        if (src < 0 || drc < 0) /* the rename happened: the topic is gone either way */
            bk_trace_warn("log", "topic %s deleted, but syncing the directories failed: %s",
                          t->name, bk_strerror(src < 0 ? src : drc));
        return 0;
    }
    while (moved-- > 0)
        if (move_part(io, t, moved, entry, log->data_dir) < 0)
            bk_trace_error("log", "cannot move %s-%" PRIu32 " back from %s; the next open will",
                           t->name, moved, entry);
    if (sync_dir(io, log->data_dir) == 0 && rmdir(entry) < 0)
        bk_trace_debug("log", "%s left behind; the next open removes it", entry);
    return rc;
}

int bk_log_topic_delete(bk_log_t *log, bk_topic_t *t)
{
    int rc = changeable(log, t);
    if (rc)
        return rc;
    char *entry = NULL;
    rc = trash_entry(log, t->id, &entry);
    if (rc == 0)
        rc = trash_topic(log, t, entry);
    if (rc < 0) {
        bk_trace_warn("log", "cannot delete topic %s: %s", t->name, bk_strerror(rc));
        free(entry);
        return rc;
    }
    bk_trace_info("log", "deleted topic %s", t->name);
    unregister(log, t);
    t->deleted = 1;
    t->trash = entry;
    for (uint32_t i = 0; i < t->npart; i++) {
        t->parts[i]->deleted = 1;
        bk_commit_forget(&log->commit, t->parts[i]);
    }
    t->next_dead = log->dead;
    log->dead = t;
    bk_log_reap(log); /* frees it now if nothing refers to it any more */
    return 0;
}

/* ---- open ---- */

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
    uint64_t id = 0;
    uint32_t npart = 0;
    int has_cfg = 0;
    bk_topic_config_t cfg;
    int rc = len < 0 ? (int)len
                     : bk_topic_meta_parse(text, (size_t)len, name, &id, &npart, &cfg, &has_cfg);
    if (rc == BK_ECORRUPT)
        bk_trace_error("log", "%s: malformed topic metadata", path);
    free(path);
    if (rc == 0 && !has_cfg) /* version 1: the log's defaults */
        bk_log_topic_config_defaults(log, &cfg);
    bk_topic_t *t;
    if (rc == 0 && (rc = topic_build(log, name, name_len, id, npart, &cfg, 0, &t)) == 0 &&
        (rc = insert(log, t)) < 0)
        bk_topic_free(t);
    return rc;
}

/* A trash entry's name: "<20 digits>+<16 hex digits>" (generation and topic id) since entries
 * are keyed by id, "<20 digits>.<topic>" as earlier versions made them (no id: *has_id = 0).
 * 0 when the entry is neither. '+' is never in a topic name, so the two cannot be confused. */
static int parse_entry(const char *entry, uint64_t *gen, int *has_id, uint64_t *id)
{
    uint64_t g = 0, v = 0;
    size_t i = 0;
    for (; entry[i] >= '0' && entry[i] <= '9' && i < 20; i++)
        g = g * 10 + (uint64_t)(entry[i] - '0');
    if (i != 20)
        return 0;
    *gen = g;
    *has_id = entry[20] == '+';
    if (entry[20] == '.')
        return bk_log_topic_name_valid(entry + 21, strlen(entry + 21));
    if (entry[20] != '+' || strlen(entry + 21) != 16)
        return 0;
    for (const char *p = entry + 21; *p; p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
        if (d < 0)
            return 0;
        v = v << 4 | (uint64_t)d;
    }
    *id = v;
    return 1;
}

/* "<topic>-<n>" -> the topic name's length and n; 0 when the name is not of that form. */
static int parse_part_dir(const char *name, size_t *name_len, uint32_t *index)
{
    const char *dash = strrchr(name, '-');
    uint64_t v = 0;
    if (!dash || dash == name || !dash[1] || strlen(dash + 1) > 5)
        return 0;
    for (const char *p = dash + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *name_len = (size_t)(dash - name);
    *index = (uint32_t)v;
    return bk_log_topic_name_valid(name, *name_len);
}

/* The id and partition count of the live topic name (its metadata in the data directory);
 * 0, or UV_ENOENT / BK_ECORRUPT when there is no usable one. */
static int live_topic(bk_log_t *log, const char *name, uint64_t *id, uint32_t *npart)
{
    char text[META_MAX];
    char *path = path_join(log->data_dir, name, META_SUFFIX);
    int fd = path ? log->io->open(path, O_RDONLY | O_CLOEXEC, 0) : UV_ENOMEM;
    int64_t len = fd < 0 ? fd : bk_io_pread_all(log->io, fd, text, sizeof text, 0);
    bk_io_close(log->io, fd);
    free(path);
    bk_topic_config_t cfg;
    int has_cfg;
    return len < 0 ? (int)len
                   : bk_topic_meta_parse(text, (size_t)len, name, id, npart, &cfg, &has_cfg);
}

/* Whether partition directory dir of trash entry path (of topic id, if has_id) belongs back
 * in the data directory: the entry lacks the topic's metadata (the delete never reached its
 * commit point), the live topic of that name is the same topic (same id; entries of earlier
 * versions have none to compare) and has that partition, and the directory is not there. */
static int belongs_back(bk_log_t *log, const char *path, const char *dir, int has_id, uint64_t id)
{
    size_t nlen;
    uint32_t index, npart;
    uint64_t live_id;
    char name[NAME_MAX_LEN + 1];
    if (!parse_part_dir(dir, &nlen, &index))
        return 0;
    memcpy(name, dir, nlen);
    name[nlen] = '\0';
    char *inside = path_join(path, name, META_SUFFIX), *live = path_join(log->data_dir, dir, "");
    int back = inside && live && !exists(inside) && !exists(live) &&
               live_topic(log, name, &live_id, &npart) == 0 && (!has_id || live_id == id) &&
               index < npart;
    free(inside);
    free(live);
    return back;
}

/* An entry without the topic's metadata is a delete that never reached its commit point: if
 * the same topic still exists, its partition directories go back where they belong. Keyed by
 * the topic id: a topic created under the name since is another topic, and the entry's
 * directories are never its (they are removed with the entry). */
static int undo_entry(bk_log_t *log, const char *path, int has_id, uint64_t id)
{
    DIR *d = opendir(path);
    int rc = 0, moved = 0;
    struct dirent *de;
    while (d && rc == 0 && (de = readdir(d)) != NULL) {
        if (!belongs_back(log, path, de->d_name, has_id, id))
            continue;
        char *from = path_join(path, de->d_name, ""),
             *to = path_join(log->data_dir, de->d_name, "");
        bk_trace_warn("log", "undoing an unfinished delete: %s back from %s", de->d_name, path);
        rc = from && to ? log->io->rename(from, to) : UV_ENOMEM;
        moved += rc == 0;
        free(from);
        free(to);
    }
    if (d)
        closedir(d);
    if (rc == 0 && moved)
        rc = sync_dir(log->io, log->data_dir);
    return rc;
}

static int push_path(char ***list, size_t *n, char *path)
{
    char **l = realloc(*list, (*n + 2) * sizeof *l);
    if (!l) {
        free(path);
        return UV_ENOMEM;
    }
    l[(*n)++] = path;
    l[*n] = NULL;
    *list = l;
    return 0;
}

/* Walks the trash: undoes unfinished deletes and lists every entry for removal. */
static int recover_trash(bk_log_t *log, char ***list)
{
    char *trash = path_join(log->data_dir, BK_LOG_TRASH, "");
    if (!trash)
        return UV_ENOMEM;
    DIR *d = opendir(trash);
    int rc = d || errno == ENOENT ? 0 : -errno;
    size_t n = 0;
    struct dirent *de;
    while (d && rc == 0 && (de = readdir(d)) != NULL) {
        uint64_t gen, id = 0;
        int has_id;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *path = path_join(trash, de->d_name, "");
        if (!path) {
            rc = UV_ENOMEM;
            break;
        }
        if (parse_entry(de->d_name, &gen, &has_id, &id)) {
            if (gen > log->trash_gen)
                log->trash_gen = gen;
            rc = undo_entry(log, path, has_id, id);
        }
        if (rc == 0)
            rc = push_path(list, &n, path);
        else
            free(path);
    }
    if (d)
        closedir(d);
    free(trash);
    return rc;
}

int bk_topic_load_all(bk_log_t *log, char ***trash)
{
    *trash = NULL;
    int rc = recover_trash(log, trash);
    DIR *d = rc == 0 ? opendir(log->data_dir) : NULL;
    if (rc == 0 && !d)
        rc = -errno;
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
    if (d && closedir(d) < 0 && rc == 0)
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

int bk_topic_deleted(const bk_topic_t *t)
{
    return t->deleted;
}

uint32_t bk_topic_partition_count(const bk_topic_t *t)
{
    return t->npart;
}

bk_partition_t *bk_topic_partition(bk_topic_t *t, uint32_t index)
{
    return index < t->npart ? t->parts[index] : NULL;
}
