/* A topic: a name and its partitions, plus the crash-safe metadata file that makes it exist
 * on disk. Owned by the log; freed only at log close. */
#ifndef BROOK_LOG_TOPIC_H
#define BROOK_LOG_TOPIC_H

#include "brook/log.h"

#include <stddef.h>
#include <stdint.h>

/* Most partitions a topic may have. */
#define BK_LOG_MAX_PARTITIONS 10000u

struct bk_topic {
    bk_log_t *log;
    char *name; /* NUL-terminated */
    size_t name_len;
    uint32_t npart;
    bk_partition_t **parts;
};

/* Loads every "<name>.topic" under the data directory and opens its partitions (recovering
 * them); removes leftover "*.topic.tmp". Returns 0 or the first error. */
int bk_topic_load_all(bk_log_t *log);

/* Frees a topic and its partitions (descriptors closed). */
void bk_topic_free(bk_topic_t *t);

/* Metadata text for a topic (the format in format.c); returns its length or a negative
 * error. Exposed for tests. */
int bk_topic_meta_format(char *buf, size_t cap, const char *name, uint32_t partitions);

/* Parses metadata text; returns 0 and the partition count, or BK_ECORRUPT. The name inside
 * must equal expect_name. */
int bk_topic_meta_parse(const char *buf, size_t len, const char *expect_name, uint32_t *partitions);

#endif
