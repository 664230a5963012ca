/* Line splitting, strict numbers and crash-safe file replacement for the users and ACL files
 * (see text.h). A failed write leaves the previous file in place: the new text goes to a temp
 * file that is renamed over the old one only once it is durable. */
#include "auth/text.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brook/common.h"

#define MAX_LINE 4096
#define MAX_FILE (16u << 20)

void bk_text_begin(bk_text_iter_t *it, const char *text, size_t len)
{
    it->pos = text;
    it->end = text + len;
    it->line = 0;
    it->why = "";
}

static int bad(bk_text_iter_t *it, const char *why)
{
    it->why = why;
    return BK_TEXT_BAD;
}

int bk_text_next(bk_text_iter_t *it, bk_field_t *f, int max)
{
    if (it->pos >= it->end)
        return BK_TEXT_END;
    it->line++;
    const char *nl = memchr(it->pos, '\n', (size_t)(it->end - it->pos));
    const char *s = it->pos, *e = nl ? nl : it->end;
    it->pos = nl ? nl + 1 : it->end;
    if (e > s && e[-1] == '\r')
        e--;
    if (e - s > MAX_LINE)
        return bad(it, "line longer than 4096 bytes");
    int n = 0;
    for (const char *p = s; p < e;) {
        unsigned char c = (unsigned char)*p;
        if (c == ' ' || c == '\t') {
            p++;
            continue;
        }
        if (c == '#' && n == 0)
            return 0;
        const char *start = p;
        while (p < e && *p != ' ' && *p != '\t') {
            if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
                return bad(it, "control character in line");
            p++;
        }
        if (n < max)
            f[n] = (bk_field_t){start, (size_t)(p - start)};
        n++;
    }
    return n;
}

int bk_text_is(const bk_field_t *f, const char *s)
{
    return strlen(s) == f->len && memcmp(f->p, s, f->len) == 0;
}

int bk_text_u64(const bk_field_t *f, uint64_t *out)
{
    uint64_t v = 0;
    if (f->len == 0 || f->len > 18)
        return -1;
    for (size_t i = 0; i < f->len; i++) {
        if (f->p[i] < '0' || f->p[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(f->p[i] - '0');
    }
    *out = v;
    return 0;
}

int bk_text_read_file(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (bk_grow(&buf, &cap, n, 4096, 1, 4096)) {
            rc = -ENOMEM;
            break;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > MAX_FILE) {
            rc = -EFBIG;
            break;
        }
    }
    (void)close(fd);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

static int sync_dir_of(const char *path)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    if (close(fd) && rc == 0)
        rc = -errno;
    return rc;
}

int bk_text_write_file(const char *path, const char *data, size_t len, unsigned mode)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return -errno;
    int rc = write_all(fd, data, len);
    if (rc == 0 && fsync(fd))
        rc = -errno;
    if (close(fd) && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path))
        rc = -errno;
    if (rc) {
        (void)unlink(tmp);
        return rc;
    }
    return sync_dir_of(path);
}

void bk_text_printf(bk_text_out_t *o, const char *fmt, ...)
{
    if (o->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || bk_grow(&o->p, &o->cap, o->len, (size_t)n + 1, 1, 1024)) {
        va_end(ap2);
        o->failed = 1;
        return;
    }
    vsnprintf(o->p + o->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    o->len += (size_t)n;
}
