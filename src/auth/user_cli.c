/* The `brook user` subcommand: add (or replace) a user with fresh salted SCRAM-SHA-256 and
 * SCRAM-SHA-512 credentials, remove one, or list the names. The password comes from a prompt
 * with echo off when stdin is a terminal (asked twice), else from the first line of stdin; it
 * is wiped from memory once derived. The file is replaced crash-safely, mode 0600. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <uv.h>

#include "auth/user_cli.h"
#include "brook/auth.h"
#include "brook/common.h"

static void usage(FILE *f)
{
    fputs("Usage: brook user add NAME --users-file PATH [--iterations N]\n"
          "       brook user remove NAME --users-file PATH\n"
          "       brook user list --users-file PATH\n"
          "add reads the password from a prompt (echo off) or, when stdin is not a terminal,\n"
          "from the first line of stdin. N: PBKDF2 iterations [4096-1000000] (default 4096).\n"
          "The broker picks up changes on SIGHUP.\n",
          f);
}

/* One line from f without its newline; 0, or -1 at EOF / when too long. */
static int read_line(FILE *f, char *buf, size_t cap)
{
    if (!fgets(buf, (int)cap, f))
        return -1;
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = 0;
    else if (!feof(f))
        return -1; /* longer than cap */
    if (n > 0 && buf[n - 1] == '\r')
        buf[--n] = 0;
    return 0;
}

static int prompt(const char *what, char *buf, size_t cap)
{
    struct termios old, quiet;
    if (tcgetattr(STDIN_FILENO, &old) != 0)
        return -1;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    fprintf(stderr, "%s", what);
    fflush(stderr);
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0)
        return -1;
    int rc = read_line(stdin, buf, cap);
    (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', stderr);
    return rc;
}

static int get_password(char *pw, size_t cap)
{
    if (!isatty(STDIN_FILENO)) {
        if (read_line(stdin, pw, cap))
            return fprintf(stderr,
                           "brook user: no password on stdin (one line, at most %d "
                           "bytes)\n",
                           BK_AUTH_PASSWORD_MAX),
                   -1;
        return 0;
    }
    char again[BK_AUTH_PASSWORD_MAX + 2];
    int rc = prompt("Password: ", pw, cap) || prompt("Again: ", again, sizeof again) ? -1 : 0;
    if (rc == 0 && strcmp(pw, again) != 0)
        rc = -1, fprintf(stderr, "brook user: the passwords differ\n");
    OPENSSL_cleanse(again, sizeof again);
    return rc;
}

/* The users file, or an empty set when it does not exist yet (add only). */
static int open_users(const char *path, int may_be_new, bk_users_t *u)
{
    char err[512];
    int rc = bk_users_load(path, u, err, sizeof err);
    if (rc == UV_ENOENT && may_be_new) {
        memset(u, 0, sizeof *u);
        return 0;
    }
    if (rc)
        fprintf(stderr, "brook user: %s\n", err);
    return rc;
}

static int add(const char *path, const char *name, uint32_t iterations)
{
    if (!bk_user_name_valid(name, strlen(name)))
        return fprintf(stderr,
                       "brook user: invalid name %s (1-%d characters of "
                       "[A-Za-z0-9._@-])\n",
                       name, BK_AUTH_NAME_MAX),
               1;
    bk_users_t u;
    if (open_users(path, 1, &u))
        return 1;
    char pw[BK_AUTH_PASSWORD_MAX + 2];
    bk_user_t user;
    int rc = get_password(pw, sizeof pw);
    if (rc == 0 && (rc = bk_user_make(name, pw, strlen(pw), iterations, &user)) != 0)
        fprintf(stderr, "brook user: cannot derive credentials: %s\n", bk_strerror(rc));
    OPENSSL_cleanse(pw, sizeof pw);
    int existed = bk_users_find(&u, name, strlen(name)) != NULL;
    if (rc == 0 && (rc = bk_users_put(&u, &user)) == 0 && (rc = bk_users_save(path, &u)) != 0)
        fprintf(stderr, "brook user: cannot write %s: %s\n", path, uv_strerror(rc));
    OPENSSL_cleanse(&user, sizeof user);
    bk_users_free(&u);
    if (rc == 0)
        fprintf(stderr, "brook user: %s %s in %s\n", existed ? "replaced" : "added", name, path);
    return rc ? 1 : 0;
}

static int remove_user(const char *path, const char *name)
{
    bk_users_t u;
    if (open_users(path, 0, &u))
        return 1;
    int rc = bk_users_remove(&u, name);
    if (rc)
        fprintf(stderr, "brook user: no user %s in %s\n", name, path);
    else if ((rc = bk_users_save(path, &u)) != 0)
        fprintf(stderr, "brook user: cannot write %s: %s\n", path, uv_strerror(rc));
    bk_users_free(&u);
    return rc ? 1 : 0;
}

static int list(const char *path)
{
    bk_users_t u;
    if (open_users(path, 0, &u))
        return 1;
    for (size_t i = 0; i < u.n; i++) {
        printf("%s", u.v[i].name);
        for (int m = 0; m < BK_SCRAM_MECH_COUNT; m++)
            if (u.v[i].cred[m].present)
                printf(" %s", bk_scram_mech_name((bk_scram_mech_t)m));
        printf("\n");
    }
    bk_users_free(&u);
    return 0;
}

int bk_user_command(int argc, char **argv)
{
    const char *path = NULL, *pos[2] = {NULL, NULL};
    uint32_t iterations = BK_SCRAM_MIN_ITERATIONS;
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--users-file") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            unsigned long v = strtoul(argv[++i], &end, 10);
            if (errno || *end || argv[i][0] < '0' || argv[i][0] > '9' ||
                v < BK_SCRAM_MIN_ITERATIONS || v > BK_SCRAM_MAX_ITERATIONS)
                return usage(stderr), 2;
            iterations = (uint32_t)v;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            return usage(stdout), 0;
        } else if (argv[i][0] != '-' && npos < 2) {
            pos[npos++] = argv[i];
        } else {
            return usage(stderr), 2;
        }
    }
    if (!path || !pos[0])
        return usage(stderr), 2;
    if (strcmp(pos[0], "add") == 0 && npos == 2)
        return add(path, pos[1], iterations);
    if (strcmp(pos[0], "remove") == 0 && npos == 2)
        return remove_user(path, pos[1]);
    if (strcmp(pos[0], "list") == 0 && npos == 1)
        return list(path);
    return usage(stderr), 2;
}
