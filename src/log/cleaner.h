/* The log cleaner: compaction of partitions whose topic has cleanup.policy compact, one
 * partition at a time, on the libuv threadpool. Private to src/log. */
#ifndef BROOK_LOG_CLEANER_H
#define BROOK_LOG_CLEANER_H

#include "brook/log.h"
#include "log/io.h"

/* The cleaner's timer (cfg.cleaner_interval_ms; 0: never fires). Unreferenced: it does not
 * keep the loop alive. */
int bk_cleaner_init(bk_log_t *log);
void bk_cleaner_close(bk_log_t *log, uv_close_cb cb);

/* One pass of the timer at now_ms: starts a cleaning of the dirtiest partition whose ratio
 * reaches its topic's min.cleanable.dirty.ratio, unless a cleaning runs. Returns 1 when one
 * was started. */
int bk_cleaner_run(bk_log_t *log, int64_t now_ms);

/* Removes "<base>.log.cleaned" files a crash left in dir (half-done cleanings). */
int bk_cleaner_discard_temps(const bk_log_io_t *io, const char *dir);

#endif
