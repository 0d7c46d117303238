/*
 * cmd_migrate.c - `dmvgate migrate [--data DIR] [--dry-run]`: brings the
 * data directory's databases to the schema versions this binary knows
 * (migrate.c), or says why it cannot.
 */
#include <stdio.h>

#include "cli.h"
#include "migrate.h"
#include "util.h"

static const char usage[] =
    "usage: dmvgate migrate [--data DIR] [-n|--dry-run]\n"
    "\n"
    "Brings registry.db and records.db to the schema versions this binary\n"
    "knows, each step in one transaction, and prints each database's version.\n"
    "Refuses a database at a newer version than this binary knows, and a\n"
    "records.db too old to migrate in place (re-import the extract).  Needs\n"
    "the audit log's lock: refused while a server runs.\n"
    "\n"
    "  --data DIR     data directory (default $DMVGATE_DATA, else ./var)\n"
    "  -n, --dry-run  print the steps without changing anything\n";

int
cmd_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL;
	int dry = 0, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:nh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'n': dry = 1; break;
		case 'h': cli_help(usage); return CLI_OK;
		default: return cli_usage_error(usage, "migrate: bad option");
		}
	}
	if (optind != argc)
		return cli_usage_error(usage, "migrate: unexpected argument '%s'", argv[optind]);
	return migrate_apply(cli_datadir(data), dry, stdout) == 0 ? CLI_OK : CLI_FAIL;
}
