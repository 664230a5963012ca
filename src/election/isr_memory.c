/* The broker's remembered ISR and highest epoch (see isr_memory.h): pure folding, formatting
 * and parsing first, then the crash-safe file writes. A failed write must never leave behind a
 * file that says more than we know: it empties the file, which reads back as "lost". */
#include "election/isr_memory.h"

#include "brook/common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define MAGIC "brook-isr-memory 1\n"
#define FILE_MAX 8192 /* 16 ids of 127 bytes, escaped: well below */

/* ---- pure ---------------------------------------------------------------------------------- */

int bk_isr_newer(const bk_election_isr_t *a, const bk_election_isr_t *b)
{
    if (a == NULL || !a->present)
        return 0;
    if (b == NULL || !b->present)
        return 1;
    if (a->epoch != b->epoch)
        return a->epoch > b->epoch;
    return a->version > b->version;
}

static int lists(const bk_election_isr_t *isr, const char *id)
{
    if (!isr->present)
        return -1;
    for (int i = 0; i < isr->count; i++)
        if (strcmp(isr->ids[i], id) == 0)
            return 1;
    return 0;
}

int bk_isr_memory_learn(bk_isr_memory_t *m, const bk_election_isr_t *isr, int64_t epoch)
{
    int changed = 0;
    if (isr != NULL && isr->present) {
        if (m->lost)
            changed = 1;
        m->lost = 0;
        if (isr->epoch > epoch)
            epoch = isr->epoch;
        if (bk_isr_newer(isr, &m->isr)) {
            m->isr = *isr;
            changed = 1;
        }
    }
    if (epoch > m->seen_epoch) {
        m->seen_epoch = epoch;
        changed = 1;
    }
    return changed;
}

/* Ids are any bytes: everything outside '!'..'~' and '%' itself is written as %XX, so an id
 * is one space-free token. */
static int put_id(char *buf, size_t cap, size_t *len, const char *id)
{
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        int plain = *p > ' ' && *p < 0x7f && *p != '%';
        int w = plain ? snprintf(buf + *len, cap - *len, "%c", *p)
                      : snprintf(buf + *len, cap - *len, "%%%02X", *p);
        if (w < 0 || (size_t)w >= cap - *len)
            return -1;
        *len += (size_t)w;
    }
    return 0;
}

static int put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= cap - *len)
        return -1;
    *len += (size_t)w;
    return 0;
}

int bk_isr_memory_format(const bk_isr_memory_t *m, char *buf, size_t cap)
{
    size_t len = 0;
    const bk_election_isr_t *s = &m->isr;
    if (cap == 0 || put(buf, cap, &len, MAGIC "seen-epoch %" PRId64 "\n", m->seen_epoch))
        return -1;
    if (!s->present)
        return put(buf, cap, &len, "isr none\nend\n") ? -1 : (int)len;
    if (put(buf, cap, &len, "isr %" PRId64 " %" PRId64 " ", s->epoch, s->version) ||
        (s->leader[0] ? put_id(buf, cap, &len, s->leader) : put(buf, cap, &len, "%%")) ||
        put(buf, cap, &len, " %d", s->count))
        return -1;
    for (int i = 0; i < s->count; i++)
        if (put(buf, cap, &len, " ") || put_id(buf, cap, &len, s->ids[i]))
            return -1;
    return put(buf, cap, &len, "\nend\n") ? -1 : (int)len;
}

static int hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One escaped token at *p into out (cap bytes with the NUL); advances *p past it. A lone
 * "%" is the empty id. */
static int take_id(const char **p, char *out, size_t cap)
{
    const char *s = *p;
    size_t n = 0;
    if (s[0] == '%' && (s[1] == ' ' || s[1] == '\n')) {
        out[0] = '\0';
        *p = s + 1;
        return 0;
    }
    while (*s && *s != ' ' && *s != '\n') {
        int c = (unsigned char)*s;
        if (c == '%') {
            int hi = hex(s[1]), lo = hi < 0 ? -1 : hex(s[2]);
            if (lo < 0)
                return -1;
            c = hi * 16 + lo;
            s += 2;
        }
        if (c == 0 || n + 1 >= cap)
            return -1;
        out[n++] = (char)c;
        s++;
    }
    if (n == 0)
        return -1;
    out[n] = '\0';
    *p = s;
    return 0;
}

static int take_i64(const char **p, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(*p, &end, 10);
    if (end == *p || errno != 0 || v < 0 || (*end != ' ' && *end != '\n'))
        return -1;
    *out = (int64_t)v;
    *p = end;
    return 0;
}

static int expect(const char **p, const char *lit)
{
    size_t n = strlen(lit);
    if (strncmp(*p, lit, n) != 0)
        return -1;
    *p += n;
    return 0;
}

static int parse_isr(const char **p, bk_election_isr_t *s)
{
    int64_t count;
    memset(s, 0, sizeof *s);
    if (expect(p, "isr none\n") == 0)
        return 0;
    if (expect(p, "isr ") || take_i64(p, &s->epoch) || expect(p, " ") || take_i64(p, &s->version) ||
        expect(p, " ") || take_id(p, s->leader, sizeof s->leader) || expect(p, " ") ||
        take_i64(p, &count) || count < 1 || count > BK_ELECTION_ISR_MAX)
        return -1;
    for (int i = 0; i < (int)count; i++)
        if (expect(p, " ") || take_id(p, s->ids[i], sizeof s->ids[i]))
            return -1;
    s->count = (int)count;
    s->present = 1;
    return expect(p, "\n");
}

int bk_isr_memory_parse(bk_isr_memory_t *m, const char *text)
{
    const char *p = text;
    int64_t seen;
    bk_election_isr_t isr;
    if (expect(&p, MAGIC) || expect(&p, "seen-epoch ") || take_i64(&p, &seen) || expect(&p, "\n") ||
        parse_isr(&p, &isr) || strcmp(p, "end\n") != 0)
        return BK_ECORRUPT;
    m->seen_epoch = seen;
    m->isr = isr;
    return 0;
}

/* ---- files --------------------------------------------------------------------------------- */

static int sync_parent(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    return rc;
}

/* temp file, fsync, rename, fsync of the directory. */
static int write_file(const char *path, const char *text)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int rc = n < 0 ? -errno : (size_t)n != len ? UV_EIO : fsync(fd) < 0 ? -errno : 0;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc == 0)
        rc = sync_parent(path);
    if (rc != 0)
        (void)unlink(tmp);
    return rc;
}

/* Empties (or creates empty) path: reads back as "lost" / "not listed". Needs no free
 * blocks. Returns 0 or a negative errno. */
static int empty_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    return close(fd) < 0 ? -errno : 0;
}

static char *read_small(const char *path, int *missing)
{
    *missing = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        *missing = errno == ENOENT;
        return NULL;
    }
    char *buf = malloc(FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, FILE_MAX, f) : 0;
    if (buf)
        buf[n] = '\0';
    (void)fclose(f);
    return buf;
}

static int file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static void load(bk_isr_memory_t *m, int64_t min_epoch)
{
    int missing;
    char *text = read_small(m->path, &missing);
    if (text != NULL && bk_isr_memory_parse(m, text) == 0) {
        free(text);
        return;
    }
    free(text);
    if (missing && !file_exists(m->flag_path) && min_epoch <= 0)
        return; /* a new broker: never saw anything */
    m->lost = 1;
    bk_trace_warn("election",
                  "%s: %s; what this broker knew of the ISR is lost: after a Redis data loss it "
                  "neither leads nor vouches for others until Redis shows it an ISR again",
                  m->path,
                  missing ? "missing (a log or an older version's memory exists)" : "unreadable");
}

int bk_isr_memory_open(bk_isr_memory_t *m, const char *state_path, const char *self,
                       int64_t min_epoch)
{
    memset(m, 0, sizeof *m);
    m->listed = -1;
    snprintf(m->self, sizeof m->self, "%s", self ? self : "");
    if (state_path != NULL) {
        size_t n = strlen(state_path) + 5;
        m->path = malloc(n);
        m->flag_path = strdup(state_path);
        if (m->path == NULL || m->flag_path == NULL) {
            bk_isr_memory_free(m);
            return UV_ENOMEM;
        }
        snprintf(m->path, n, "%s-isr", state_path);
        load(m, min_epoch);
        m->listed = m->isr.present ? lists(&m->isr, m->self) : -1;
    }
    if (min_epoch > m->seen_epoch)
        m->seen_epoch = min_epoch;
    return 0;
}

static int persist(bk_isr_memory_t *m)
{
    char text[FILE_MAX];
    int rc = bk_isr_memory_format(m, text, sizeof text) < 0 ? UV_ENOBUFS : 0;
    if (rc == 0)
        rc = write_file(m->path, text);
    if (rc != 0) {
        int erc = empty_file(m->path);
        bk_trace_error("election", "cannot remember the ISR in %s: %s; %s", m->path,
                       bk_strerror(rc),
                       erc == 0 ? "emptied it, so a restart treats this broker's memory as lost"
                                : "and cannot empty it either: a restart may read a stale one");
        return rc;
    }
    int listed = lists(&m->isr, m->self);
    if (listed >= 0 && listed != m->listed) {
        int frc = write_file(m->flag_path, listed ? "isr-listed 1\n" : "isr-listed 0\n");
        if (frc != 0)
            bk_trace_warn("election", "cannot write %s: %s", m->flag_path, bk_strerror(frc));
        else
            m->listed = listed;
        bk_trace_info("election", "%s in the ISR (remembered in %s)",
                      listed ? "listed" : "not listed", m->path);
    }
    return 0;
}

int bk_isr_memory_note(bk_isr_memory_t *m, const bk_election_isr_t *isr, int64_t epoch)
{
    if (!bk_isr_memory_learn(m, isr, epoch) || m->path == NULL)
        return 0;
    return persist(m);
}

void bk_isr_memory_free(bk_isr_memory_t *m)
{
    free(m->path);
    free(m->flag_path);
    m->path = NULL;
    m->flag_path = NULL;
}
