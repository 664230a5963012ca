/* The remembered ISR membership: one line in a file beside the log (see isr_memory.h). */
#include "election/isr_memory.h"

#include "brook/common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

int bk_isr_memory_open(bk_isr_memory_t *m, const char *path)
{
    m->path = NULL;
    m->listed = -1;
    if (path == NULL)
        return 0;
    if ((m->path = strdup(path)) == NULL)
        return UV_ENOMEM;
    FILE *f = fopen(path, "r");
    if (f == NULL && errno == ENOENT)
        return 0; /* never saw an ISR value */
    char line[32] = "";
    if (f != NULL && fgets(line, sizeof line, f) != NULL && strcmp(line, "isr-listed 1\n") == 0)
        m->listed = 1;
    else if (f != NULL && strcmp(line, "isr-listed 0\n") == 0)
        m->listed = 0;
    else { /* fail closed: a broker that cannot tell must not pass for an in-sync one */
        m->listed = 0;
        bk_trace_warn("election", "%s: unreadable; treated as left out of the ISR", path);
    }
    if (f != NULL)
        fclose(f);
    return 0;
}

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
    close(fd);
    return rc;
}

static int persist(const char *path, int listed)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    const char *line = listed ? "isr-listed 1\n" : "isr-listed 0\n";
    size_t len = strlen(line);
    ssize_t n = write(fd, line, len);
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

void bk_isr_memory_note(bk_isr_memory_t *m, int listed)
{
    if (listed < 0 || listed == m->listed)
        return;
    m->listed = listed;
    if (m->path == NULL)
        return;
    int rc = persist(m->path, listed);
    if (rc != 0 && truncate(m->path, 0) == 0) /* fail closed: an empty file reads as "left out" */
        bk_trace_error("election",
                       "cannot remember the ISR membership in %s: %s; emptied it, so a restart "
                       "treats this broker as left out of the ISR",
                       m->path, bk_strerror(rc));
    else if (rc != 0)
        bk_trace_error("election",
                       "cannot remember the ISR membership in %s: %s; after a restart it may "
                       "say %s",
                       m->path, bk_strerror(rc), listed ? "left out" : "listed (stale)");
    else
        bk_trace_info("election", "%s in the ISR (remembered in %s)",
                      listed ? "listed" : "not listed", m->path);
}

void bk_isr_memory_free(bk_isr_memory_t *m)
{
    free(m->path);
    m->path = NULL;
}
