/*
 * cli.h - the command-line layer.  main.c dispatches `dmvgate COMMAND` to
 * one cmd_COMMAND() function; each lives in src/cmd_COMMAND.c and only
 * parses options, calls the modules and prints.  All return the process
 * exit status (0 success, 1 failure, 2 usage error) and never call exit().
 */
#ifndef DMVGATE_CLI_H
#define DMVGATE_CLI_H

#include <getopt.h>

/* Exit statuses shared by every command. */
#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

/*
 * The data directory: --data DIR, else $DMVGATE_DATA, else ./var.
 * Returns a pointer to static or argv storage; never NULL.
 */
const char *cli_datadir(const char *opt);

/*
 * Parses the common options of a command with getopt_long.  The `--help`
 * and `--data` options are added by the helpers below; commands call
 * cli_help() when -h/--help is seen.  cli_help prints usage to stdout.
 */
void cli_help(const char *usage);
/* Prints "usage error" + usage to stderr; returns CLI_USAGE. */
int cli_usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

int cmd_init(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_lookup(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_agency(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_process(int argc, char **argv);
int cmd_notices(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_alerts(int argc, char **argv);

#endif /* DMVGATE_CLI_H */
