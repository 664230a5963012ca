/* The remembered ISR and epoch (src/election/isr_memory.c): the (epoch, version) order, what
 * learning keeps, the file's text both ways (ids with any bytes), and the files on disk: a
 * failed write leaves a memory that reads back as lost, as does a missing one beside a log. */
#include "brook/common.h"
#include "election/isr_memory.h"

#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static bk_election_isr_t isr_of(int64_t epoch, int64_t version, const char *leader, int n,
                                const char *const *ids)
{
    bk_election_isr_t s;
    memset(&s, 0, sizeof s);
    s.present = 1;
    s.epoch = epoch;
    s.version = version;
    snprintf(s.leader, sizeof s.leader, "%s", leader);
    for (int i = 0; i < n; i++)
        snprintf(s.ids[i], sizeof s.ids[i], "%s", ids[i]);
    s.count = n;
    return s;
}

static void test_order(void)
{
    const char *lf[] = {"L", "F"};
    bk_election_isr_t none = {0}, a = isr_of(1, 2, "L", 2, lf), b = isr_of(1, 3, "L", 1, lf),
                      c = isr_of(2, 0, "G", 1, lf);
    CHECK(bk_isr_newer(&a, &none));
    CHECK(!bk_isr_newer(&none, &a));
    CHECK(!bk_isr_newer(&none, &none));
    CHECK(bk_isr_newer(&b, &a)); /* same term, later publication */
    CHECK(!bk_isr_newer(&a, &b));
    CHECK(!bk_isr_newer(&a, &a));
    CHECK(bk_isr_newer(&c, &b)); /* a later term's base beats any version of an older one */
    CHECK(bk_isr_newer(&a, NULL));
}

static void test_learn(void)
{
    const char *lf[] = {"L", "F"};
    bk_isr_memory_t m;
    CHECK_EQ_INT(bk_isr_memory_open(&m, NULL, "F", 3), 0);
    CHECK_EQ_INT(m.seen_epoch, 3);
    CHECK_EQ_INT(m.isr.present, 0);
    CHECK_EQ_INT(bk_isr_memory_learn(&m, NULL, 2), 0); /* nothing new */
    CHECK_EQ_INT(bk_isr_memory_learn(&m, NULL, 4), 1);
    bk_election_isr_t a = isr_of(4, 1, "L", 2, lf), older = isr_of(4, 0, "L", 1, lf);
    CHECK_EQ_INT(bk_isr_memory_learn(&m, &a, 0), 1);
    CHECK_EQ_INT(bk_isr_memory_learn(&m, &a, 0), 0);
    CHECK_EQ_INT(bk_isr_memory_learn(&m, &older, 0), 0); /* never goes back */
    CHECK_EQ_INT(m.isr.version, 1);
    CHECK_EQ_INT(m.isr.count, 2);
    bk_election_isr_t later = isr_of(6, 0, "G", 1, (const char *const[]){"G"});
    CHECK_EQ_INT(bk_isr_memory_learn(&m, &later, 0), 1);
    CHECK_EQ_INT(m.seen_epoch, 6); /* an ISR's epoch was seen too */
    m.lost = 1;
    CHECK_EQ_INT(bk_isr_memory_learn(&m, &later, 0), 1); /* Redis showed one: not lost now */
    CHECK_EQ_INT(m.lost, 0);
    bk_isr_memory_free(&m);
}

static void test_text_round_trip(void)
{
    const char *ids[] = {"L", "b 2", "c%d\n", "\xc3\xa9t\xc3\xa9"};
    bk_isr_memory_t m, back;
    CHECK_EQ_INT(bk_isr_memory_open(&m, NULL, "L", 0), 0);
    char text[4096];
    CHECK_EQ_INT(bk_isr_memory_format(&m, text, sizeof text), (int)strlen(text));
    CHECK_EQ_STR(text, "brook-isr-memory 1\nseen-epoch 0\nisr none\nend\n");
    m.seen_epoch = 12;
    m.isr = isr_of(11, 7, "L", 4, ids);
    CHECK(bk_isr_memory_format(&m, text, sizeof text) > 0);
    CHECK_EQ_STR(text, "brook-isr-memory 1\nseen-epoch 12\nisr 11 7 L 4 L b%202 c%25d%0A "
                       "%C3%A9t%C3%A9\nend\n");
    CHECK_EQ_INT(bk_isr_memory_open(&back, NULL, "x", 0), 0);
    CHECK_EQ_INT(bk_isr_memory_parse(&back, text), 0);
    CHECK_EQ_INT(back.seen_epoch, 12);
    CHECK_EQ_INT(back.isr.present, 1);
    CHECK_EQ_INT(back.isr.epoch, 11);
    CHECK_EQ_INT(back.isr.version, 7);
    CHECK_EQ_STR(back.isr.leader, "L");
    CHECK_EQ_INT(back.isr.count, 4);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_STR(back.isr.ids[i], ids[i]);
    m.isr.leader[0] = '\0'; /* an ISR value without a leader */
    CHECK(bk_isr_memory_format(&m, text, sizeof text) > 0);
    CHECK(strstr(text, "isr 11 7 % 4 L ") != NULL);
    CHECK_EQ_INT(bk_isr_memory_parse(&back, text), 0);
    CHECK_EQ_STR(back.isr.leader, "");
    CHECK_EQ_INT(bk_isr_memory_format(&m, text, 20), -1); /* does not fit */
    /* Anything else is refused and leaves the memory as it was. */
    static const char *const bad[] = {
        "",
        "brook-isr-memory 1\nseen-epoch 12\nisr none\n", /* torn: no end */
        "brook-isr-memory 2\nseen-epoch 12\nisr none\nend\n",
        "brook-isr-memory 1\nseen-epoch -1\nisr none\nend\n",
        "brook-isr-memory 1\nseen-epoch 1\nisr 1 1 L 0\nend\n",
        "brook-isr-memory 1\nseen-epoch 1\nisr 1 1 L 2 A\nend\n",
        "brook-isr-memory 1\nseen-epoch 1\nisr 1 1 L 1 A%4\nend\n",
        "brook-isr-memory 1\nseen-epoch 1\nisr 1 1 L 1 A\nend\nmore",
        "isr-listed 1\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(bk_isr_memory_parse(&back, bad[i]), BK_ECORRUPT);
    CHECK_EQ_INT(back.seen_epoch, 12);
    bk_isr_memory_free(&m);
    bk_isr_memory_free(&back);
}

static const char *file_text(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(buf, 1, cap - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* What the broker saw is on disk after note(); the flag file follows the ISR's word for us. */
static void test_files(void)
{
    char dir[] = "/tmp/brook-isr-mem-XXXXXX", flag[128], path[140], text[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(flag, sizeof flag, "%s/+election", dir);
    snprintf(path, sizeof path, "%s-isr", flag);
    const char *lf[] = {"L", "F"};
    bk_isr_memory_t m;
    CHECK_EQ_INT(bk_isr_memory_open(&m, flag, "F", 0), 0);
    CHECK_EQ_INT(m.lost, 0); /* a new broker */
    bk_election_isr_t a = isr_of(1, 1, "L", 2, lf);
    CHECK_EQ_INT(bk_isr_memory_note(&m, &a, 1), 0);
    CHECK_EQ_STR(file_text(path, text, sizeof text),
                 "brook-isr-memory 1\nseen-epoch 1\nisr 1 1 L 2 L F\nend\n");
    CHECK_EQ_STR(file_text(flag, text, sizeof text), "isr-listed 1\n");
    bk_election_isr_t b = isr_of(1, 2, "L", 1, lf);
    CHECK_EQ_INT(bk_isr_memory_note(&m, &b, 1), 0);
    CHECK_EQ_STR(file_text(flag, text, sizeof text), "isr-listed 0\n");
    bk_isr_memory_free(&m);
    CHECK_EQ_INT(bk_isr_memory_open(&m, flag, "F", 0), 0); /* a restart */
    CHECK_EQ_INT(m.lost, 0);
    CHECK_EQ_INT(m.isr.version, 2);
    CHECK_EQ_INT(m.isr.count, 1);
    CHECK_EQ_INT(m.listed, 0);
    bk_isr_memory_free(&m);
    /* A missing memory beside an older version's flag, or beside a log: lost. */
    unlink(path);
    CHECK_EQ_INT(bk_isr_memory_open(&m, flag, "F", 0), 0);
    CHECK_EQ_INT(m.lost, 1);
    bk_isr_memory_free(&m);
    unlink(flag);
    CHECK_EQ_INT(bk_isr_memory_open(&m, flag, "F", 5), 0);
    CHECK_EQ_INT(m.lost, 1);
    CHECK_EQ_INT(m.seen_epoch, 5);
    bk_isr_memory_free(&m);
    write_text(path, "garbage\n");
    CHECK_EQ_INT(bk_isr_memory_open(&m, flag, "F", 0), 0);
    CHECK_EQ_INT(m.lost, 1);
    bk_isr_memory_free(&m);
    unlink(path);
    unlink(flag);
    rmdir(dir);
}

/* The write fails (here: the temp file cannot be created; ENOSPC in the field). The old
 * memory must not survive on disk: the file is emptied, and a restart reads "lost" (fail
 * closed), while the running broker keeps what it learnt. */
static void test_write_failure_fails_closed(void)
{
    char dir[] = "/tmp/brook-isr-fail-XXXXXX", flag[128], path[140], tmp[150], text[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(flag, sizeof flag, "%s/+election", dir);
    snprintf(path, sizeof path, "%s-isr", flag);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    const char *lf[] = {"L", "F"};
    bk_isr_memory_t m;
    CHECK_EQ_INT(bk_isr_memory_open(&m, flag, "F", 0), 0);
    bk_election_isr_t a = isr_of(1, 1, "L", 2, lf), b = isr_of(1, 2, "L", 1, lf);
    CHECK_EQ_INT(bk_isr_memory_note(&m, &a, 1), 0);
    CHECK(strlen(file_text(path, text, sizeof text)) > 0);
    CHECK_EQ_INT(mkdir(tmp, 0755), 0); /* open(tmp, O_WRONLY) now fails with EISDIR */
    CHECK(bk_isr_memory_note(&m, &b, 1) < 0);
    CHECK_EQ_INT(m.isr.version, 2);                       /* kept in memory */
    CHECK_EQ_STR(file_text(path, text, sizeof text), ""); /* not the stale "listed" one */
    bk_isr_memory_free(&m);
    CHECK_EQ_INT(bk_isr_memory_open(&m, flag, "F", 0), 0); /* a restart */
    CHECK_EQ_INT(m.lost, 1);
    CHECK_EQ_INT(m.isr.present, 0);
    bk_isr_memory_free(&m);
    rmdir(tmp);
    unlink(path);
    unlink(flag);
    rmdir(dir);
}

CHECK_MAIN(CASE(test_order), CASE(test_learn), CASE(test_text_round_trip), CASE(test_files),
           CASE(test_write_failure_fails_closed))
