/*
 * cmd_report.c - `dmvgate report`: the transparency report for a period
 * (docs/transparency.md) as JSON, CSV or one HTML page, computed from the
 * audit log (opened read-only, so it runs next to a server), the registry,
 * legal process and notices.  Public by default (small counts suppressed,
 * agencies only by category); --internal adds per-agency tables and shows
 * every count.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "cli.h"
#include "config.h"
#include "datadir.h"
#include "notice.h"
#include "policy.h"
#include "process.h"
#include "key.h"
#include "registry.h"
#include "report.h"
#include "util.h"

static const char usage[] =
	"usage: dmvgate report [--data DIR] [--quarter 2026Q3 | --from DATE --to DATE]\n"
	"                      [--format json|csv|html] [--out FILE] [--internal] [--k N]\n"
	"                      [--policy FILE]\n\n"
	"The transparency report for a period (default: the current quarter; dates are\n"
	"YYYY-MM-DD, both included): requests by agency category, purpose and outcome, by\n"
	"channel, denials by rule, legal process, notices, failed authentications, alerts\n"
	"and suspensions, agencies and certifications, and the latest signed checkpoint.\n"
	"Counts from 1 to k-1 are shown as <k (--k N, default 10; 1 shows everything).\n"
	"--internal adds per-agency (ORI) tables and shows every count unless --k is\n"
	"given; it is for the DMV and is never served over HTTP.  --format defaults to\n"
	"the --out file's extension, else json.  The policy (for declared names and rule\n"
	"citations) is --policy, else the one `dmvgate serve` would load.\n";

static int
format_of_path(const char *path)
{
	const char *dot = path ? strrchr(path, '.') : NULL;

	if (dot == NULL)
		return REPORT_JSON;
	if (strcmp(dot, ".htm") == 0)
		return REPORT_HTML;
	return report_format_parse(dot + 1) >= 0 ? report_format_parse(dot + 1) : REPORT_JSON;
}

int
cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "quarter", required_argument, NULL, 'q' },
		{ "from", required_argument, NULL, 'F' },
		{ "to", required_argument, NULL, 'T' },
		{ "format", required_argument, NULL, 'f' },
		{ "out", required_argument, NULL, 'o' },
		{ "internal", no_argument, NULL, 'i' },
		{ "k", required_argument, NULL, 'k' },
		{ "policy", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *quarter = NULL, *from = NULL, *to = NULL, *out = NULL;
	const char *policy_opt = NULL;
	char auditdir[PATH_MAX], regpath[PATH_MAX], polpath[CONFIG_PATH_MAX];
	struct report_period period;
	struct report_sources src;
	struct policy_errors errs;
	struct audit_log *log = NULL;
	struct registry *reg = NULL;
	struct process_db *proc = NULL;
	struct notice_db *notices = NULL;
	struct policy *pol = NULL;
	struct report *rep = NULL;
	char *verifier = NULL, *buf = NULL;
	size_t len = 0;
	int fmt = -1, internal = 0, c, rc = CLI_FAIL;
	int64_t k = -1;

	policy_errors_init(&errs);
	optind = 1;
	while ((c = getopt_long(argc, argv, "d:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'q': quarter = optarg; break;
		case 'F': from = optarg; break;
		case 'T': to = optarg; break;
		case 'o': out = optarg; break;
		case 'i': internal = 1; break;
		case 'p': policy_opt = optarg; break;
		case 'f':
			if ((fmt = report_format_parse(optarg)) < 0)
				return cli_usage_error(usage, "--format must be json, csv or html");
			break;
		case 'k':
			if (util_parse_i64(optarg, 1, REPORT_K_MAX, &k) < 0)
				return cli_usage_error(usage, "--k must be 1..%d", REPORT_K_MAX);
			break;
		case 'h':
			cli_help(usage);
			return CLI_OK;
		default:
			return cli_usage_error(usage, "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	if (quarter != NULL && (from != NULL || to != NULL))
		return cli_usage_error(usage, "--quarter and --from/--to exclude each other");
	if ((from == NULL) != (to == NULL))
		return cli_usage_error(usage, "--from and --to go together");
	if (quarter != NULL) {
		if (report_period_quarter(quarter, &period) < 0)
			return cli_usage_error(usage, "--quarter must look like 2026Q3");
	} else if (from != NULL) {
		if (report_period_dates(from, to, &period) < 0)
			return cli_usage_error(usage, "--from/--to must be dates YYYY-MM-DD, from <= to");
	} else
		report_period_of_time(util_now_us(), &period);
	if (fmt < 0)
		fmt = format_of_path(out);
	if (k < 0)
		k = internal ? 1 : REPORT_K_DEFAULT;

	data = cli_datadir(data);
	if (datadir_check(data) < 0)
		goto out;
	if (policy_opt != NULL)
		snprintf(polpath, sizeof polpath, "%s", policy_opt);
	else if (config_default_policy(polpath, sizeof polpath) < 0) {
		util_errx("report: no policy file found (use --policy FILE)");
		goto out;
	}
	if ((pol = policy_load(polpath, &errs)) == NULL) {
		util_errx("report: cannot load the policy %s:\n%s", polpath, errs.text ? errs.text : "");
		goto out;
	}
	if (datadir_path(data, DATADIR_AUDIT, auditdir, sizeof auditdir) < 0 ||
	    datadir_path(data, DATADIR_REGISTRY, regpath, sizeof regpath) < 0)
		goto out;
	if ((log = audit_open(auditdir, NULL, AUDIT_RDONLY)) == NULL ||
	    (reg = registry_open(regpath)) == NULL || (proc = process_open(regpath)) == NULL ||
	    (notices = notice_open(data)) == NULL)
		goto out;
	verifier = key_history(data);  /* public keys only */
	if ((rep = report_new(&period, (int)k, internal)) == NULL)
		goto out;
	memset(&src, 0, sizeof src);
	src.log = log;
	src.pol = pol;
	src.reg = reg;
	src.proc = proc;
	src.notices = notices;
	src.verifier = verifier;
	src.progress = 1;
	if (report_update(rep, &src) < 0) {
		util_errx("report: the audit log could not be read; no report written");
		goto out;
	}
	if (report_render_mem(rep, (enum report_format)fmt, 0, &buf, &len) < 0) {
		util_errx("report: rendering failed");
		goto out;
	}
	if (out != NULL && strcmp(out, "-") != 0) {
		if (util_write_file_atomic(out, buf, len, internal ? 0600 : 0644) < 0) {
			util_warn("report: %s", out);
			goto out;
		}
	} else if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
		util_warn("report: stdout");
		goto out;
	}
	rc = CLI_OK;
out:
	free(buf);
	free(verifier);
	report_free(rep);
	notice_close(notices);
	process_close(proc);
	registry_close(reg);
	audit_close(log);
	policy_free(pol);
	policy_errors_free(&errs);
	return rc;
}
