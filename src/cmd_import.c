/*
 * cmd_import.c - `dmvgate import DIR`: load the CSV extract into the
 * records database, replacing the previous load atomically.
 */
#include <limits.h>
#include <stdio.h>

#include "cli.h"
#include "datadir.h"
#include "store.h"
#include "util.h"

static const char usage[] =
    "usage: dmvgate import [--data DIR] [--strict] CSVDIR\n"
    "\n"
    "Loads CSVDIR/drivers.csv (required), CSVDIR/history.csv and\n"
    "CSVDIR/vehicles.csv into the records database.  Every row is\n"
    "validated; a bad row is reported as file:line: message and skipped.\n"
    "The new records replace the old ones atomically when the load is\n"
    "complete; a running server keeps answering from the old ones until\n"
    "then.  Exit status 1 when any row was rejected.\n"
    "\n"
    "  --data DIR  data directory (default $DMVGATE_DATA, else ./var)\n"
    "  --strict    stop at the first bad row and keep the old records\n";

int
cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "strict", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL;
	char path[PATH_MAX];
	struct store_import_stats st;
	int strict = 0, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:sh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 's': strict = 1; break;
		case 'h': cli_help(usage); return CLI_OK;
		default: return cli_usage_error(usage, "import: bad option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(usage, "import: expected one CSV directory");
	data = cli_datadir(data);
	if (datadir_check(data) < 0 || datadir_path(data, DATADIR_RECORDS, path, sizeof path) < 0)
		return CLI_FAIL;
	if (store_import(path, argv[optind], strict, &st) < 0) {
		util_errx("import failed; the previous records are unchanged");
		return CLI_FAIL;
	}
	printf("imported %llu drivers, %llu history events, %llu vehicles in %.2f s; "
	       "%llu rows rejected\n",
	    (unsigned long long)st.drivers, (unsigned long long)st.history,
	    (unsigned long long)st.vehicles, st.seconds, (unsigned long long)st.rejected);
	return st.rejected ? CLI_FAIL : CLI_OK;
}
