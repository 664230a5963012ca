/* Shared vocabulary of every Brook module: error codes, diagnostics ("trace", never "log":
 * the log is the data) and the monotonic clock. Nothing here allocates or does I/O except
 * the trace functions, which write one line to stderr. */
#ifndef BROOK_COMMON_H
#define BROOK_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Errors are negative ints. libuv's UV_E* codes pass through unchanged; Brook's own live
 * below -10000 so they never collide with negated errno values. */
enum {
    BK_ENOTLEADER = -10001,  /* this broker may not accept writes now */
    BK_ECORRUPT = -10002,    /* on-disk data failed a checksum or length check */
    BK_ENOTOPIC = -10003,    /* unknown topic */
    BK_ENOPART = -10004,     /* unknown partition */
    BK_ERANGE = -10005,      /* offset out of the log's range */
    BK_ETOOBIG = -10006,     /* record or batch over a configured limit */
    BK_EINVAL = -10007,      /* malformed input */
    BK_ECLOSED = -10008,     /* the object is shutting down */
    BK_EREDIS = -10009,      /* Redis unreachable or returned an error */
    BK_EFENCED = -10010,     /* a newer leader epoch exists */
    BK_ENOREPLICAS = -10011, /* in-sync replicas fell below the minimum after an append */
    BK_ENOKEY = -10020,      /* a record without a key where keys are required (compaction) */
};

/* Text for any Brook or libuv error code (static storage). */
const char *bk_strerror(int err);

/* Milliseconds on the monotonic clock, read fresh from the OS (not the loop's cached time). */
uint64_t bk_now_ms(void);

/* Wall-clock milliseconds since the Unix epoch (record timestamps). */
int64_t bk_wall_ms(void);

/* 64 random bits, never 0 (identifiers, not secrets). Thread-safe. */
uint64_t bk_random_id(void);

/* Diagnostics: one line to stderr, "<time> <level> <module>: <message>". */
enum { BK_TRACE_DEBUG = 0, BK_TRACE_INFO = 1, BK_TRACE_WARN = 2, BK_TRACE_ERROR = 3 };
extern int bk_trace_level;
void bk_trace(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define bk_trace_debug(mod, ...)                                                                   \
    do {                                                                                           \
        if (bk_trace_level <= BK_TRACE_DEBUG)                                                      \
            bk_trace(BK_TRACE_DEBUG, mod, __VA_ARGS__);                                            \
    } while (0)
#define bk_trace_info(mod, ...) bk_trace(BK_TRACE_INFO, mod, __VA_ARGS__)
#define bk_trace_warn(mod, ...) bk_trace(BK_TRACE_WARN, mod, __VA_ARGS__)
#define bk_trace_error(mod, ...) bk_trace(BK_TRACE_ERROR, mod, __VA_ARGS__)

#define BK_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Makes room for `more` elements of `size` bytes after the `len` in use in the array *items
 * points to (its capacity *cap, in elements), doubling from `first` with realloc. items is the
 * address of the array pointer (T **). Returns 0, or UV_ENOMEM with nothing changed. */
int bk_grow(void *items, size_t *cap, size_t len, size_t more, size_t size, size_t first);

#endif
