/* `brook user add|remove|list`: edits a users file from the command line. */
#ifndef BROOK_AUTH_USER_CLI_H
#define BROOK_AUTH_USER_CLI_H

/* argv[0] is "user". Returns the process exit code (0 ok, 1 failure, 2 usage). */
int bk_user_command(int argc, char **argv);

#endif
