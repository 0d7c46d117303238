/*
 * cmd_notices.c - `dmvgate notices list|render|mark-sent`: the notices
 * owed to people whose records an agency asked for (docs/notices.md).
 * `render` writes one letter per notice (HTML, English and Spanish, and a
 * plain-text form) into a private directory; `mark-sent` records the
 * mailing, once, and audits it.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "datadir.h"
#include "notice.h"
#include "registry.h"
#include "util.h"

static const char usage[] =
	"usage: dmvgate notices list [--due|--overdue|--sent] [--json]\n"
	"       dmvgate notices render --out DIR [--due|--overdue|--sent|--all]\n"
	"           [--date YYYY-MM-DD] [ID...]\n"
	"       dmvgate notices mark-sent ID...\n"
	"options: --data DIR (data directory)\n"
	"list shows every notice, or those not yet sent (--due), past their due\n"
	"date and not sent (--overdue), or sent.  render writes N-<n>.html and\n"
	"N-<n>.txt for the given notices, else for those not yet sent (--all:\n"
	"every one); --date is the date printed on the letters (default today).\n"
	"mark-sent records that the letters went out; a notice is marked once.\n"
	"Due dates count business days with the holidays in DIR/holidays (one\n"
	"YYYY-MM-DD per line) or, without that file, US federal holidays.\n";

static const char *
operator_name(void)
{
	struct passwd *pw = getpwuid(geteuid());

	return pw != NULL && pw->pw_name != NULL ? pw->pw_name : "unknown";
}

static const char *
state_of(const struct notice *n, int32_t today)
{
	if (n->sent_us != 0)
		return "sent";
	return today > n->due_day ? "overdue" : "due";
}

struct list_arg {
	int json;
	int32_t today;
	int64_t count;
};

static int
list_cb(void *arg, const struct notice *n)
{
	struct list_arg *a = arg;
	char id[NOTICE_ID_MAX], due[11], req[32], items[1024], sent[32] = "";

	notice_id_format(n->id, id);
	util_date_format(n->due_day, due);
	util_time_format(n->request_us, req);
	if (n->sent_us != 0)
		util_time_format(n->sent_us, sent);
	a->count++;
	if (a->json) {
		json_t *o;
		char *s;

		if (field_mask_format(n->items, ',', items, sizeof items) < 0)
			items[0] = '\0';
		o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i,"
		    " s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}, s:I}",
		    "id", id, "state", state_of(n, a->today), "due", due, "request_time", req,
		    "subject", n->subject, "agency", n->agency_ori, "agency_name", n->agency_name,
		    "category", n->agency_category, "purpose", n->purpose, "outcome", n->outcome,
		    "items", items, "notify_days", n->notify_days,
		    "notify_unit", n->notify_unit == NOTICE_BUSINESS_DAYS ? "business_days" : "days",
		    "legal_process", n->legal_process,
		    "address", "name", n->name, "street", n->street, "city", n->city,
		    "state", n->state, "zip", n->zip,
		    "audit_index", (json_int_t)n->audit_index);
		if (o == NULL)
			return 1;
		if (n->sent_us != 0) {
			json_object_set_new(o, "sent", json_string(sent));
			json_object_set_new(o, "sent_by", json_string(n->sent_by));
		}
		s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(o);
		if (s == NULL)
			return 1;
		puts(s);
		free(s);
		return 0;
	}
	printf("%-6s %-7s due %s  %-16s %-9s %-19s %-6s %-7s %s%s\n", id,
	    state_of(n, a->today), due, n->subject, n->agency_ori, n->agency_category,
	    n->outcome, n->legal_process[0] ? n->legal_process : "-",
	    n->street[0] ? "" : "(no address) ", sent);
	return 0;
}

struct render_arg {
	const char *outdir;
	int32_t day;
	int written, failed;
};

static int
write_one(const char *path, const struct notice *n, int32_t day, int html)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc = -1;

	if (f == NULL) {
		util_warn("memory stream");
		return -1;
	}
	if (html)
		rc = notice_render_html(n, day, f);
	else
		rc = notice_render_text(n, day, f);
	if (fclose(f) != 0)
		rc = -1;
	if (rc == 0 && util_write_file_atomic(path, buf, len, 0600) < 0) {
		util_warn("%s", path);
		rc = -1;
	}
	free(buf);
	return rc;
}

static int
render_cb(void *arg, const struct notice *n)
{
	struct render_arg *a = arg;
	char id[NOTICE_ID_MAX], path[PATH_MAX];

	notice_id_format(n->id, id);
	if (snprintf(path, sizeof path, "%s/%s.html", a->outdir, id) >= (int)sizeof path ||
	    write_one(path, n, a->day, 1) < 0) {
		a->failed++;
		return 0;
	}
	snprintf(path, sizeof path, "%s/%s.txt", a->outdir, id);
	if (write_one(path, n, a->day, 0) < 0) {
		a->failed++;
		return 0;
	}
	a->written++;
	return 0;
}

int
cmd_notices(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "due", no_argument, NULL, 'u' },
		{ "overdue", no_argument, NULL, 'o' },
		{ "sent", no_argument, NULL, 's' },
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'J' },
		{ "out", required_argument, NULL, 'O' },
		{ "date", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *out = NULL, *date = NULL, *sub;
	enum notice_filter filter = NOTICE_ALL;
	struct notice_db *db = NULL;
	struct notice *n = NULL;
	struct list_arg la = { 0, util_today(), 0 };
	struct render_arg ra = { NULL, util_today(), 0, 0 };
	int c, rc = CLI_FAIL, nfilters = 0, x, failed = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'u': filter = NOTICE_DUE; nfilters++; break;
		case 'o': filter = NOTICE_OVERDUE; nfilters++; break;
		case 's': filter = NOTICE_SENT; nfilters++; break;
		case 'a': filter = NOTICE_ALL; nfilters++; break;
		case 'J': la.json = 1; break;
		case 'O': out = optarg; break;
		case 'D': date = optarg; break;
		case 'h': cli_help(usage); return CLI_OK;
		default: return cli_usage_error(usage, "bad option");
		}
	}
	if (optind >= argc)
		return cli_usage_error(usage, "missing subcommand");
	sub = argv[optind++];
	if (nfilters > 1)
		return cli_usage_error(usage, "give at most one of --due, --overdue, --sent, --all");
	if (strcmp(sub, "list") == 0) {
		if (optind < argc)
			return cli_usage_error(usage, "unexpected argument \"%s\"", argv[optind]);
		if ((db = notice_open(cli_datadir(data))) == NULL)
			return CLI_FAIL;
		if (notice_list(db, filter, la.today, list_cb, &la) == 0)
			rc = CLI_OK;
		goto out;
	}
	if (strcmp(sub, "render") == 0) {
		if (out == NULL)
			return cli_usage_error(usage, "render needs --out DIR");
		if (date != NULL && util_date_parse(date, strlen(date), &ra.day) < 0)
			return cli_usage_error(usage, "invalid --date \"%s\" (YYYY-MM-DD)", date);
		for (int i = optind; i < argc; i++)
			if (notice_id_parse(argv[i]) < 0)
				return cli_usage_error(usage, "not a notice id: \"%s\"", argv[i]);
		if (util_mkdirs(out, 0700) < 0) {
			util_warn("%s", out);
			return CLI_FAIL;
		}
		ra.outdir = out;
		if ((db = notice_open(cli_datadir(data))) == NULL)
			return CLI_FAIL;
		if (optind < argc) {
			if ((n = util_calloc(1, sizeof *n)) == NULL)
				goto out;
			for (int i = optind; i < argc; i++) {
				x = notice_get(db, notice_id_parse(argv[i]), n);
				if (x == NOTICE_NOTFOUND)
					util_errx("notices: no notice %s", argv[i]);
				if (x != 0) {
					ra.failed++;
					continue;
				}
				render_cb(&ra, n);
			}
		} else if (notice_list(db, nfilters ? filter : NOTICE_DUE, ra.day, render_cb,
		    &ra) < 0)
			goto out;
		printf("%d letter%s written to %s\n", ra.written, ra.written == 1 ? "" : "s", out);
		rc = ra.failed ? CLI_FAIL : CLI_OK;
		goto out;
	}
	if (strcmp(sub, "mark-sent") == 0) {
		const char *who = operator_name();
		char path[PATH_MAX];
		struct registry *r;

		if (optind >= argc)
			return cli_usage_error(usage, "mark-sent needs notice ids");
		for (int i = optind; i < argc; i++)
			if (notice_id_parse(argv[i]) < 0)
				return cli_usage_error(usage, "not a notice id: \"%s\"", argv[i]);
		if ((db = notice_open(cli_datadir(data))) == NULL)
			return CLI_FAIL;
		for (int i = optind; i < argc; i++) {
			char id[NOTICE_ID_MAX];

			notice_id_format(notice_id_parse(argv[i]), id);
			x = notice_mark_sent(db, notice_id_parse(argv[i]), who, util_now_us());
			if (x == 0)
				printf("%s marked sent\n", id);
			else if (x == NOTICE_NOTFOUND)
				util_errx("notices: no notice %s", id);
			else if (x == NOTICE_ALREADY_SENT)
				util_errx("notices: %s was already marked sent", id);
			if (x != 0)
				failed++;
		}
		if (datadir_path(cli_datadir(data), DATADIR_REGISTRY, path, sizeof path) == 0 &&
		    (r = registry_open(path)) != NULL) {
			registry_cli_audit(r, cli_datadir(data));
			registry_close(r);
		}
		rc = failed ? CLI_FAIL : CLI_OK;
		goto out;
	}
	return cli_usage_error(usage, "unknown subcommand \"%s\"", sub);
out:
	free(n);
	notice_close(db);
	return rc;
}
