/* The group-commit decision, apart from all I/O: given what waits to be written or synced,
 * whether a round is in flight, the fsync mode and a clock reading, say whether to start a
 * flush round now and when to look again. A pure function: it reads only its input, so it is
 * unit-tested with a fake clock. (Acknowledgement follows from offsets, in commit.c.) */
#ifndef BROOK_LOG_COMMIT_POLICY_H
#define BROOK_LOG_COMMIT_POLICY_H

#include "brook/log.h"

#include <stdint.h>

typedef struct {
    bk_fsync_mode_t mode;
    uint32_t interval_ms;   /* BK_FSYNC_INTERVAL period */
    int writes;             /* appended bytes wait for a round to write them */
    int syncs;              /* written bytes (or new files) are not yet synced */
    int urgent;             /* a rolled segment must be synced before its successor is written */
    int in_flight;          /* a round is running on the threadpool */
    int closing;            /* bk_log_close() was called: flush whatever is dirty */
    uint64_t now_ms;        /* monotonic clock */
    uint64_t last_flush_ms; /* when the last round started */
} bk_commit_input_t;

typedef struct {
    int flush;         /* start a round now */
    uint64_t timer_ms; /* > 0: decide again after this many ms (interval mode) */
} bk_commit_decision_t;

bk_commit_decision_t bk_commit_decide(const bk_commit_input_t *in);

#endif
