/* What this broker knows of the cluster's history, remembered across restarts: the newest ISR
 * value it has seen in Redis, published, or started a term with (members, epoch, version),
 * and the highest epoch it has seen. When Redis loses its data (FLUSHALL, a restart without
 * persistence) this is what the broker registers in "<cluster>:brokers" so the ACQUIRE
 * script can tell, from every registered broker's memory, whether a candidate holds every
 * acknowledged write (scripts.h), and which epoch is above every term ever started.
 *
 * Files (beside the log, which ignores them), each written crash-safely (temp file, fsync,
 * rename, fsync of the directory) only when something changed:
 *   <state_path>-isr   the memory (format below); unreadable or empty reads back as "lost";
 *   <state_path>       "isr-listed 1" / "isr-listed 0": whether that ISR lists this broker
 *                      (for tools and older versions; nothing reads it any more).
 * A write that fails (ENOSPC, EIO) is an error in the trace and empties the memory file
 * (truncate needs no free space), so a restart reads "lost" and this broker neither leads
 * after a Redis data loss nor vouches for others until Redis shows it an ISR again: a
 * broker that cannot record what it saw must never pass for one that knows.
 *
 * Memory file, exactly:
 *   brook-isr-memory 1\n
 *   seen-epoch <decimal>\n
 *   isr none\n  |  isr <epoch> <version> <leader> <n> <member>... \n   (ids %XX-escaped)
 *   end\n
 * The decision logic (newer, learn, format, parse) is pure; open/note do the I/O. Loop thread
 * only; the writes block briefly (they happen once per ISR change or new term). */
#ifndef BROOK_ELECTION_ISR_MEMORY_H
#define BROOK_ELECTION_ISR_MEMORY_H

#include "brook/election.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *path;      /* the memory file; NULL: in memory only */
    char *flag_path; /* the "isr-listed" file; NULL with path */
    char self[128];
    int lost;              /* the memory file could not be read back: what we knew is gone */
    int64_t seen_epoch;    /* highest epoch seen (Redis, our log, our own terms) */
    bk_election_isr_t isr; /* newest ISR known; present 0: never saw one */
    int listed;            /* as last written to the flag file: 1, 0, -1 none */
} bk_isr_memory_t;

/* 1 when a is newer than b: a higher epoch, or the same epoch and a higher version. An absent
 * value (present 0) is older than any present one. */
int bk_isr_newer(const bk_election_isr_t *a, const bk_election_isr_t *b);

/* Pure: folds an ISR value (NULL or present 0: none) and an epoch into m. A present value
 * clears lost (Redis or our own term showed us the newest one). Returns 1 when m changed. */
int bk_isr_memory_learn(bk_isr_memory_t *m, const bk_election_isr_t *isr, int64_t epoch);

/* Pure: the memory file's text into buf (NUL-terminated). Returns its length, or -1 when it
 * does not fit. */
int bk_isr_memory_format(const bk_isr_memory_t *m, char *buf, size_t cap);

/* Pure: reads the file's text into m's seen_epoch and isr. 0, or BK_ECORRUPT (m unchanged). */
int bk_isr_memory_parse(bk_isr_memory_t *m, const char *text);

/* Loads the memory of broker self from "<state_path>-isr" (state_path NULL: memory only). A
 * missing file is "never saw anything", unless the flag file of an older version exists or
 * min_epoch > 0 (the log holds terms): then, as for an unreadable one, lost is set. seen_epoch
 * starts at least at min_epoch. Returns 0 or UV_ENOMEM. */
int bk_isr_memory_open(bk_isr_memory_t *m, const char *state_path, const char *self,
                       int64_t min_epoch);

/* learn(), then persists a change. Returns 0, or the write's negative error (traced; the
 * memory file is emptied so a restart reads "lost"); m keeps what was learnt either way. */
int bk_isr_memory_note(bk_isr_memory_t *m, const bk_election_isr_t *isr, int64_t epoch);

void bk_isr_memory_free(bk_isr_memory_t *m);

#endif
