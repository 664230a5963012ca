/* The users file: a table of good and bad files (each bad one refused with its line and
 * reason, nothing half-loaded), format → parse round trip, and the crash-safe save. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brook/auth.h"
#include "brook/common.h"
#include "check.h"

#define S256 "SCRAM-SHA-256 4096 c2FsdHNhbHRzYWx0 " K32 " " K32
#define S512 "SCRAM-SHA-512 4096 c2FsdHNhbHRzYWx0 " K64 " " K64
#define K32 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define K64                                                                                        \
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="

typedef struct {
    const char *text;
    int users;       /* good: how many users; bad: -1 */
    const char *why; /* bad: the start of the error */
} file_case_t;

static const file_case_t files[] = {
    {"", 0, NULL},
    {"# only a comment\n\n   \n", 0, NULL},
    {"alice " S256 "\n", 1, NULL},
    {"alice " S256 "\nalice " S512 "\nbob " S512, 2, NULL},
    {"alice\t" S256 "\r\n", 1, NULL},
    {"alice " S256 "\nalice " S256 "\n", -1, "line 2: second SCRAM-SHA-256 credential"},
    {"\nalice SCRAM-SHA-1 4096 c2FsdHNhbHRzYWx0 " K32 " " K32, -1, "line 2: unknown mechanism"},
    {"alice SCRAM-SHA-256 4095 c2FsdHNhbHRzYWx0 " K32 " " K32, -1, "line 1: iterations"},
    {"alice SCRAM-SHA-256 40x6 c2FsdHNhbHRzYWx0 " K32 " " K32, -1, "line 1: iterations"},
    {"alice SCRAM-SHA-256 4096 c2FsdA== " K32 " " K32, -1, "line 1: salt"},
    {"alice SCRAM-SHA-256 4096 !!!! " K32 " " K32, -1, "line 1: salt"},
    {"alice SCRAM-SHA-256 4096 c2FsdHNhbHRzYWx0 " K64 " " K32, -1, "line 1: stored and server"},
    {"alice SCRAM-SHA-256 4096 c2FsdHNhbHRzYWx0 " K32, -1, "line 1: expected 6 fields"},
    {"alice " S256 " extra", -1, "line 1: expected 6 fields"},
    {"al:ce " S256, -1, "line 1: invalid user name"},
    {"alice pencil", -1, "line 1: expected 6 fields"},
    {"alice " S256 "\x01", -1, "line 1: control character"},
};

static void table(void)
{
    for (size_t i = 0; i < BK_ARRAY_LEN(files); i++) {
        bk_users_t u;
        char err[256] = "";
        int rc = bk_users_parse(files[i].text, strlen(files[i].text), &u, err, sizeof err);
        if (files[i].users >= 0) {
            if (rc != 0 || (int)u.n != files[i].users) {
                fprintf(stderr, "  case %zu: rc %d n %zu (%s)\n", i, rc, rc ? 0 : u.n, err);
                CHECK(0);
            }
            if (rc == 0)
                bk_users_free(&u);
        } else if (rc != BK_EINVAL || strncmp(err, files[i].why, strlen(files[i].why)) != 0) {
            fprintf(stderr, "  case %zu: rc %d err \"%s\", want \"%s\"\n", i, rc, err,
                    files[i].why);
            CHECK(0);
        }
    }
}

static void make_format_parse_save(void)
{
    bk_users_t u = {0};
    bk_user_t a, b;
    CHECK_EQ_INT(bk_user_make("alice", "wonderland", 10, 4096, &a), 0);
    CHECK_EQ_INT(bk_user_make("bob@example.com", "x", 1, 5000, &b), 0);
    CHECK_EQ_INT(bk_user_make("bad name", "x", 1, 4096, &b), BK_EINVAL);
    CHECK_EQ_INT(bk_user_make("bob@example.com", "x", 1, 5000, &b), 0);
    CHECK_EQ_INT(bk_users_put(&u, &a), 0);
    CHECK_EQ_INT(bk_users_put(&u, &b), 0);
    char *text = bk_users_format(&u);
    CHECK(text != NULL);
    CHECK(strstr(text, "wonderland") == NULL); /* never the password */
    bk_users_t back;
    char err[256];
    CHECK_EQ_INT(bk_users_parse(text, strlen(text), &back, err, sizeof err), 0);
    CHECK_EQ_INT(back.n, 2);
    const bk_user_t *ra = bk_users_find(&back, "alice", 5);
    CHECK(ra && memcmp(ra, &a, sizeof a) == 0);
    CHECK_EQ_INT(bk_scram_password_matches(BK_SCRAM_SHA512, &ra->cred[1], "wonderland", 10), 1);
    bk_users_free(&back);
    free(text);

    char dir[] = "/tmp/brook-users-XXXXXX", path[128];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/users", dir);
    CHECK_EQ_INT(bk_users_save(path, &u), 0);
    struct stat st;
    CHECK_EQ_INT(stat(path, &st), 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0600);
    CHECK_EQ_INT(bk_users_remove(&u, "alice"), 0);
    CHECK_EQ_INT(bk_users_remove(&u, "alice"), UV_ENOENT);
    CHECK_EQ_INT(bk_users_save(path, &u), 0);
    CHECK_EQ_INT(bk_users_load(path, &back, err, sizeof err), 0);
    CHECK_EQ_INT(back.n, 1);
    CHECK(bk_users_find(&back, "bob@example.com", 15) != NULL);
    bk_users_free(&back);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0); /* renamed away */
    unlink(path);
    rmdir(dir);
    CHECK(bk_users_load(path, &back, err, sizeof err) < 0);
    CHECK(strstr(err, "no such file") != NULL);
    bk_users_free(&u);
}

int main(void)
{
    static const check_case_t cases[] = {
        {"table", table},
        {"make_format_parse_save", make_format_parse_save},
    };
    return check_run(cases, BK_ARRAY_LEN(cases));
}
