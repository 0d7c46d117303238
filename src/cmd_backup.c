/*
 * cmd_backup.c - `dmvgate backup --out DIR` and `dmvgate restore BACKUP
 * --data DIR` (backup.c does the work).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "backup.h"
#include "cli.h"
#include "key.h"
#include "util.h"

static const char usage_backup[] =
    "usage: dmvgate backup [--data DIR] --out BACKUPDIR\n"
    "\n"
    "Takes a consistent copy of the data directory, also while the server runs:\n"
    "registry.db and records.db with SQLite's online backup, the audit log up to\n"
    "its latest signed checkpoint, the signing key (0600) and key history, the\n"
    "legal-process documents and holidays.  BACKUPDIR/MANIFEST lists every file\n"
    "with its size and SHA-256.  BACKUPDIR must not exist or be empty.\n"
    "\n"
    "  --data DIR       data directory (default $DMVGATE_DATA, else ./var)\n"
    "  --out BACKUPDIR  where to write the backup (created, mode 0700)\n";

static const char usage_restore[] =
    "usage: dmvgate restore BACKUPDIR --data DIR [--key VERIFIER|FILE]\n"
    "\n"
    "Checks a backup (every file against the manifest, the audit log as `audit\n"
    "verify` does, both databases' integrity and schema versions) and only then\n"
    "copies it into DIR, which must not exist or be empty.  A backup whose log\n"
    "does not verify is refused.  --key checks the log against verifier keys\n"
    "obtained elsewhere (e.g. from GET /v1/checkpoint/keys) instead of the keys\n"
    "in the backup.\n"
    "\n"
    "  --data DIR  the data directory to create\n"
    "  --key K     a verifier, or a file of verifiers (one per line)\n";

int
cmd_backup(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *out = NULL;
	struct backup_info info;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'o': out = optarg; break;
		case 'h': cli_help(usage_backup); return CLI_OK;
		default: return cli_usage_error(usage_backup, "backup: bad option");
		}
	}
	if (optind != argc)
		return cli_usage_error(usage_backup, "backup: unexpected argument '%s'", argv[optind]);
	if (out == NULL)
		return cli_usage_error(usage_backup, "backup: --out is required");
	if (backup_create(cli_datadir(data), out, &info) < 0)
		return CLI_FAIL;
	printf("backed up %s to %s: %llu files, %llu bytes, audit log of %llu entries (origin %s)\n",
	    cli_datadir(data), out, (unsigned long long)info.files, (unsigned long long)info.bytes,
	    (unsigned long long)info.audit_size, info.origin);
	return CLI_OK;
}

/* A verifier given inline, or a file of verifiers (one per line). */
static char *
key_arg(const char *arg)
{
	char *text = NULL;
	size_t len;

	if (access(arg, R_OK) != 0)
		return util_strdup(arg);
	if (util_read_file(arg, (size_t)KEY_LIST_MAX * KEY_VERIFIER_MAX, &text, &len) < 0) {
		util_warn("%s", arg);
		return NULL;
	}
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	return text;
}

int
cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *keyarg = NULL;
	char *key = NULL;
	struct backup_info info;
	int c, rc = CLI_FAIL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:k:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'k': keyarg = optarg; break;
		case 'h': cli_help(usage_restore); return CLI_OK;
		default: return cli_usage_error(usage_restore, "restore: bad option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error(usage_restore, "restore: give one BACKUPDIR");
	if (data == NULL)
		return cli_usage_error(usage_restore, "restore: --data DIR is required");
	if (keyarg != NULL && (key = key_arg(keyarg)) == NULL)
		return CLI_FAIL;
	if (backup_restore(argv[optind], data, key, &info) < 0) {
		util_errx("restore: refused; nothing was written to %s", data);
		goto out;
	}
	printf("restored %s into %s: %llu files, audit log of %llu entries verified (origin %s)\n",
	    argv[optind], data, (unsigned long long)info.files,
	    (unsigned long long)info.audit_size, info.origin);
	rc = CLI_OK;
out:
	free(key);
	return rc;
}
