/* Whether the last ISR value this broker saw in Redis listed it, remembered across restarts.
 * When Redis loses its data (FLUSHALL, a restart without persistence) the ISR value is gone,
 * and this memory is what keeps a broker that knows it was left out of the ISR (lagging:
 * leading would lose acknowledged writes) from taking the lease. Stored as one line, "isr-listed 0"
 * or "isr-listed 1", in a small file written crash-safely (temp file, fsync, rename, fsync of the
 * directory) only when the value changes. A write that fails (ENOSPC, EIO) is an error in the
 * trace and empties the file (truncate needs no free space), which reads back as "left out":
 * a broker that cannot record what it saw must not pass for an in-sync one after a restart.
 * Loop thread only; the writes block briefly. */
#ifndef BROOK_ELECTION_ISR_MEMORY_H
#define BROOK_ELECTION_ISR_MEMORY_H

typedef struct {
    char *path; /* NULL: in memory only */
    int listed; /* 1 listed, 0 not listed, -1 never seen an ISR value */
} bk_isr_memory_t;

/* Loads the remembered value from path (NULL, missing or unreadable: -1). 0 or UV_ENOMEM. */
int bk_isr_memory_open(bk_isr_memory_t *m, const char *path);

/* Notes what Redis said (1 / 0; -1, no ISR value, changes nothing) and persists a change. */
void bk_isr_memory_note(bk_isr_memory_t *m, int listed);

void bk_isr_memory_free(bk_isr_memory_t *m);

#endif
