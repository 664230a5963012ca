/* Small helpers the users and ACL files share: a line-by-line field splitter that reports
 * line numbers, strict decimal parsing, whole-file reading, and the crash-safe file write
 * (temp file, fsync, rename, fsync of the directory). Private to src/auth/. */
#ifndef BROOK_AUTH_TEXT_H
#define BROOK_AUTH_TEXT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *p;
    size_t len;
} bk_field_t;

enum { BK_TEXT_END = -1, BK_TEXT_BAD = -2 };

typedef struct {
    const char *pos, *end;
    unsigned line;   /* number of the line last returned (1-based) */
    const char *why; /* after BK_TEXT_BAD */
} bk_text_iter_t;

void bk_text_begin(bk_text_iter_t *it, const char *text, size_t len);
/* Splits the next line at spaces and tabs into at most max fields (a count above max means
 * the line has more). Returns the field count (0 for a blank or '#' comment line),
 * BK_TEXT_END, or BK_TEXT_BAD for a line with a control byte or over 4096 bytes. */
int bk_text_next(bk_text_iter_t *it, bk_field_t *f, int max);
int bk_text_is(const bk_field_t *f, const char *s);
/* Decimal digits only; 0 or -1. */
int bk_text_u64(const bk_field_t *f, uint64_t *out);

/* Reads a whole file (at most 16 MiB) into a malloc'd buffer. 0 or a negative errno. */
int bk_text_read_file(const char *path, char **out, size_t *len);
/* Replaces path with data crash-safely: path.tmp, write, fsync, rename, fsync the directory.
 * 0 or a negative errno (the old file is then untouched). */
int bk_text_write_file(const char *path, const char *data, size_t len, unsigned mode);

/* A growable text buffer; failed is set (and text dropped) on out-of-memory. */
typedef struct {
    char *p;
    size_t len, cap;
    int failed;
} bk_text_out_t;
void bk_text_printf(bk_text_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
