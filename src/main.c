/*
 * main.c - `dmvgate COMMAND [options]`: finds the command in a table and
 * hands it argc/argv (argv[0] is the command name).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

struct command {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
};

/* Keep in the order they are listed in `dmvgate --help`. */
static const struct command commands[] = {
	{ "init", cmd_init, "create a data directory (databases, audit folder, signing key)" },
	{ "gen", cmd_gen, "write synthetic drivers, history and vehicles as CSV" },
	{ "import", cmd_import, "load CSV extracts into the records database" },
	{ "lookup", cmd_lookup, "administrator's local record lookup (not a disclosure path)" },
	{ "policy", cmd_policy, "check, test and explain a policy file" },
	{ "audit", cmd_audit, "verify, search and prove the audit log" },
	{ "serve", cmd_serve, "run the gateway: JSON API, policy, audit on every request" },
	{ "agency", cmd_agency, "register, list, suspend and certify requesting agencies" },
	{ "user", cmd_user, "add users (prints a token once), list, revoke, unlock" },
	{ "process", cmd_process, "register, list, show and revoke warrants, court orders, subpoenas" },
	{ "notices", cmd_notices, "notices owed to data subjects: list, render letters, mark sent" },
	{ "backup", cmd_backup, "consistent copy of the data directory, also while serving" },
	{ "restore", cmd_restore, "restore a backup after verifying its audit log" },
	{ "keys", cmd_keys, "list and rotate the audit log's checkpoint signing key" },
	{ "migrate", cmd_migrate, "bring the databases to this binary's schema versions" },
	{ "report", cmd_report, "transparency report for a quarter or dates: JSON, CSV or HTML" },
	{ "alerts", cmd_alerts, "alerts raised by the policy's limits (read from the audit log)" },
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: dmvgate COMMAND [options]   (dmvgate COMMAND --help for details)\n\n"
		   "The data directory is --data DIR, else $DMVGATE_DATA, else ./var.\n\n"
		   "commands:\n");
	for (size_t i = 0; i < UTIL_NELEM(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return CLI_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("dmvgate 0.1\n");
		return CLI_OK;
	}
	for (size_t i = 0; i < UTIL_NELEM(commands); i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	}
	util_errx("unknown command '%s' (see dmvgate --help)", argv[1]);
	return CLI_USAGE;
}
