/* The high-watermark checkpoint: one small file per data directory, "+hw-checkpoint", that
 * remembers every partition's committed offset (bk_partition_committed) so that what readers
 * were shown stays readable across a restart (Kafka's replication-offset-checkpoint). Written
 * crash-safely on the threadpool (temp file, fsync, rename, fsync the directory) every
 * checkpoint_ms when it changed, and once more at close; read once at open. */
#ifndef BROOK_LOG_CHECKPOINT_H
#define BROOK_LOG_CHECKPOINT_H

#include "brook/log.h"

#include <stddef.h>
#include <stdint.h>

#define BK_CHECKPOINT_NAME "+hw-checkpoint" /* '+' is never in a topic name */

/* One line of the file. */
typedef struct {
    const char *topic; /* not NUL-terminated: a view into the parsed text */
    size_t topic_len;
    uint64_t id;
    uint32_t partition;
    int64_t hw;
} bk_checkpoint_entry_t;

/* The file's text for entries (format in format.c). Returns its length (malloc'd into *out,
 * the caller frees) or UV_ENOMEM. */
int64_t bk_checkpoint_format(const bk_checkpoint_entry_t *e, size_t n, char **out);

/* Parses the whole text; calls visit(arg, entry) for every line once all of it checked out.
 * Returns 0 or BK_ECORRUPT (nothing visited). Pure: no I/O. */
int bk_checkpoint_parse(const char *buf, size_t len,
                        void (*visit)(void *arg, const bk_checkpoint_entry_t *e), void *arg);

/* At open, after the topics are loaded: sets the committed offset of every partition the
 * file names under the same topic id, clamped to what the partition holds (never more than
 * its end, never less than its start). A missing file changes nothing; a damaged one is
 * traced and ignored. */
void bk_checkpoint_load(bk_log_t *log);

/* Writes the checkpoint off the loop if it changed since the last write (force: at close,
 * even if a write is in flight: another follows it). */
void bk_checkpoint_save(bk_log_t *log, int force);

#endif
