/* A topic: a name, its settings and its partitions, plus the crash-safe metadata file that
 * makes it exist on disk and the trash that makes deleting it crash-safe. Owned by the log;
 * freed at log close, or once idle after bk_log_topic_delete(). */
#ifndef BROOK_LOG_TOPIC_H
#define BROOK_LOG_TOPIC_H

#include "brook/log.h"

#include <stddef.h>
#include <stdint.h>

/* Most partitions a topic may have. */
#define BK_LOG_MAX_PARTITIONS 10000u
/* Largest segment size (index positions are 32-bit). */
#define BK_LOG_MAX_SEGMENT_BYTES ((uint64_t)2 << 30)
/* Most replicas a topic setting may name (min.insync.replicas, replication factor). */
#define BK_LOG_MAX_REPLICAS 64u
/* Directory under the data directory that holds deleted topics until they are removed. '+'
 * cannot appear in a topic name, so no topic file or directory can collide with it. */
#define BK_LOG_TRASH "+trash"

struct bk_topic {
    bk_log_t *log;
    uint64_t id; /* this incarnation of the name (0: made before topics had ids) */
    char *name;  /* NUL-terminated */
    size_t name_len;
    uint32_t npart;
    bk_partition_t **parts; /* pointers, so growing the array never moves a partition */
    bk_topic_config_t cfg;
    int deleted;
    char *trash;                /* once deleted: its directory under BK_LOG_TRASH */
    struct bk_topic *next_dead; /* on the log's list of deleted topics not yet freed */
};

/* Finishes or undoes deletes a crash interrupted (see format.c), then loads every
 * "<name>.topic" under the data directory and opens its partitions (recovering them); removes
 * leftover "*.topic.tmp". Trash directories to remove are returned in *trash (NULL-terminated,
 * caller frees). Returns 0 or the first error. */
int bk_topic_load_all(bk_log_t *log, char ***trash);

/* Frees a topic and its partitions (descriptors closed). */
void bk_topic_free(bk_topic_t *t);

/* True when no partition of t is referred to by group commit or a retention job. */
int bk_topic_idle(const bk_topic_t *t);

/* 1 when cfg holds usable settings. */
int bk_topic_config_valid(const bk_topic_config_t *cfg);

/* Metadata text for a topic (the format in format.c): version 4 when a compression or
 * replication setting differs from its default (the id may then be 0), else version 3 with an
 * id and cfg, version 2
 * when id is 0 (a topic made before ids, rewritten), version 1 (no settings) when cfg is NULL.
 * Returns its length or a negative error. Exposed for tests. */
int bk_topic_meta_format(char *buf, size_t cap, const char *name, uint64_t id, uint32_t partitions,
                         const bk_topic_config_t *cfg);

/* Parses metadata text of any version; returns 0, the id (0 before version 3), the partition
 * count and, from version 2, the settings (*has_cfg = 1), or BK_ECORRUPT. The name inside must
 * equal expect_name. */
int bk_topic_meta_parse(const char *buf, size_t len, const char *expect_name, uint64_t *id,
                        uint32_t *partitions, bk_topic_config_t *cfg, int *has_cfg);

#endif
