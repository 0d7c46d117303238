/*
 * cmd_init.c - `dmvgate init`: create a data directory.
 */
#include <stdio.h>

#include "cli.h"
#include "datadir.h"
#include "util.h"

static const char usage[] =
    "usage: dmvgate init [--data DIR] [--origin NAME] [--force]\n"
    "\n"
    "Creates the data directory (mode 0700): the records and registry\n"
    "databases, the audit folder and a new Ed25519 checkpoint signing key\n"
    "(mode 0600) named after the log's origin.\n"
    "\n"
    "  --data DIR     data directory (default $DMVGATE_DATA, else ./var)\n"
    "  --origin NAME  the audit log's origin line, e.g. dmv.ca.gov/dmvgate/1\n"
    "                 (default " DATADIR_DEFAULT_ORIGIN ")\n"
    "  --force        replace an existing data directory, destroying its\n"
    "                 records, registry, audit log and key\n";

int
cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "origin", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *origin = DATADIR_DEFAULT_ORIGIN;
	int force = 0, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:o:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'o': origin = optarg; break;
		case 'f': force = 1; break;
		case 'h': cli_help(usage); return CLI_OK;
		default: return cli_usage_error(usage, "init: bad option");
		}
	}
	if (optind != argc)
		return cli_usage_error(usage, "init: unexpected argument '%s'", argv[optind]);
	data = cli_datadir(data);
	if (datadir_init(data, origin, force) < 0)
		return CLI_FAIL;
	printf("initialized %s (audit origin %s)\n", data, origin);
	return CLI_OK;
}
