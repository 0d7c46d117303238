/*
 * cmd_alerts.c - `dmvgate alerts list [--since T] [--json]`: the alert
 * entries of the audit log (limits that stopped a requester, suspensions,
 * a full limit state), oldest first.  Opens the log read-only and takes no
 * lock (it writes nothing, not even the search index), so it works while
 * a server runs and sees the log as it was when it started.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cli.h"
#include "util.h"

static const char usage_main[] =
    "usage: dmvgate alerts list [--data DIR] [--since T] [--json]\n\n"
    "Lists the alerts of the audit log, oldest first: a limit of the policy that\n"
    "stopped a user or agency (one alert per limit and requester per window), a user\n"
    "suspended by a limit, a limit state with no room left (requests refused).\n"
    "T is YYYY-MM-DD, RFC 3339 UTC, or an age such as 30m, 24h or 7d.  Each line shows\n"
    "the time, the audit index, the limit, the agency and user, and what was done;\n"
    "--json prints the whole entries as JSON lines instead.\n";

struct list_ctx {
	int json;
	int64_t since;
	long n;
};

static int
list_cb(void *arg, const struct audit_record *r)
{
	struct list_ctx *c = arg;
	const struct audit_entry *e = &r->e;
	char t[32];

	if (e->kind != AUDIT_ALERT || e->time_us < c->since)
		return 0;
	c->n++;
	if (c->json)
		return audit_record_json(stdout, r) < 0 || putchar('\n') == EOF ? -1 : 0;
	util_time_format(e->time_us, t);
	if (printf("%s  %llu  %s  %s  %s  %s\n", t, (unsigned long long)r->e.index,
	    e->nrules > 0 ? e->rules[0] : "-", e->ori[0] ? e->ori : "-",
	    e->user[0] ? e->user : "-", e->detail) < 0)
		return -1;
	return 0;
}

/* T as a time, or an age ("90s", "30m", "24h", "7d") before now. */
static int
parse_since(const char *s, int64_t *us)
{
	size_t n = strlen(s);
	int64_t v, unit;

	if (n >= 2 && strchr("smhd", s[n - 1]) != NULL) {
		char num[24];
		if (n - 1 >= sizeof num)
			return -1;
		memcpy(num, s, n - 1);
		num[n - 1] = '\0';
		unit = s[n - 1] == 's' ? 1 : s[n - 1] == 'm' ? 60 : s[n - 1] == 'h' ? 3600 : 86400;
		if (util_parse_i64(num, 0, 1000LL * 86400 / unit, &v) < 0)
			return -1;
		*us = util_now_us() - v * unit * 1000000;
		return 0;
	}
	return util_time_parse(s, us);
}

static int
sub_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "since", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL;
	char *dir = NULL;
	struct audit_log *log = NULL;
	struct audit_record *rec = NULL;
	struct list_ctx ctx = { 0, 0, 0 };
	uint64_t lo, hi;
	int c, rc = CLI_FAIL;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 's':
			if (parse_since(optarg, &ctx.since) < 0)
				return cli_usage_error(usage_main, "bad --since '%s' (YYYY-MM-DD, "
				    "RFC 3339 UTC, or an age like 24h)", optarg);
			break;
		case 'j': ctx.json = 1; break;
		case 'h': cli_help(usage_main); return CLI_OK;
		default: return cli_usage_error(usage_main, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage_error(usage_main, "unexpected argument '%s'", argv[optind]);
	if ((dir = util_aprintf("%s/audit", cli_datadir(data))) == NULL ||
	    (log = audit_open(dir, NULL, AUDIT_RDONLY)) == NULL ||
	    (rec = malloc(sizeof *rec)) == NULL)
		goto out;
	/* the first entry at --since (minus a minute: entries are in time
	 * order up to the moment between an index's reservation and commit) */
	lo = audit_first(log);
	hi = audit_size(log);
	while (ctx.since > 0 && lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (audit_get(log, mid, rec) < 0)
			break;
		if (rec->e.time_us < ctx.since - 60LL * 1000000)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (audit_scan(log, lo, UINT64_MAX, list_cb, &ctx) < 0 || fflush(stdout) != 0)
		goto out;
	if (!ctx.json && ctx.n == 0 && fprintf(stderr, "dmvgate: no alerts\n") < 0)
		goto out;
	rc = CLI_OK;
out:
	free(rec);
	audit_close(log);
	free(dir);
	return rc;
}

int
cmd_alerts(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		if (argc < 2)
			return cli_usage_error(usage_main, "missing subcommand");
		cli_help(usage_main);
		return CLI_OK;
	}
	if (strcmp(argv[1], "list") == 0) {
		optind = 1;
		return sub_list(argc - 1, argv + 1);
	}
	return cli_usage_error(usage_main, "unknown subcommand '%s'", argv[1]);
}
