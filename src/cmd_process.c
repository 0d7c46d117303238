/*
 * cmd_process.c - `dmvgate process add|list|show|revoke`: DMV counsel's
 * register of warrants, court orders and subpoenas (docs/legal-process.md).
 * `add` copies the document into DIR/documents/ under its SHA-256 and
 * prints the new id and the hash.  Registration and revocation are
 * audited: written to the audit log at once, or queued for the running
 * server, which writes them within a second.
 */
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "datadir.h"
#include "process.h"
#include "record.h"
#include "registry.h"
#include "util.h"

static const char usage[] =
	"usage: dmvgate process add --kind KIND --agency ORI --court NAME --case NUMBER\n"
	"           --judge NAME --issued YYYY-MM-DD --expires YYYY-MM-DD\n"
	"           --subject LICENSE... --items ITEM... [--max-uses N] --document FILE\n"
	"       dmvgate process list [--json]\n"
	"       dmvgate process show ID [--json]\n"
	"       dmvgate process revoke ID --reason TEXT\n"
	"options: --data DIR (data directory)\n"
	"KIND: judicial_warrant court_order judicial_subpoena grand_jury_subpoena\n"
	"      administrative_subpoena administrative_warrant\n"
	"--subject and --items take several values (after the option, or repeated,\n"
	"or comma-separated).  Items are canonical field names (license_number,\n"
	"last_name, street, ...), history or photo.  The process is valid from\n"
	"--issued to --expires inclusive; --max-uses limits the disclosures under\n"
	"it (default: no limit).  The document (a regular file up to 20 MiB) is\n"
	"copied into DIR/documents/ and named by its SHA-256.  ID is LP-<n> or <n>.\n";

/* Who runs the command, for the audit record. */
static const char *
operator_name(void)
{
	struct passwd *pw = getpwuid(geteuid());

	return pw != NULL && pw->pw_name != NULL ? pw->pw_name : "unknown";
}

/* Adds each comma/space-separated license number in s to p. */
static int
add_subjects(struct process_info *p, const char *s)
{
	while (*s != '\0') {
		size_t n;

		while (*s == ',' || *s == ' ')
			s++;
		if (*s == '\0')
			break;
		n = strcspn(s, ", ");
		if (!record_license_ok(s, n)) {
			util_errx("process: subject \"%.*s\" is not a license number"
			    " (1-16 characters A-Z 0-9)", (int)(n > 32 ? 32 : n), s);
			return -1;
		}
		if (p->nsubjects >= PROCESS_MAX_SUBJECTS) {
			util_errx("process: at most %d subjects", PROCESS_MAX_SUBJECTS);
			return -1;
		}
		memcpy(p->subjects[p->nsubjects], s, n);
		p->subjects[p->nsubjects][n] = '\0';
		p->nsubjects++;
		s += n;
	}
	return 0;
}

static int
set_text(char *dst, size_t dstsz, const char *src, const char *what)
{
	if (util_strlcpy(dst, src, dstsz) < 0) {
		util_errx("process: --%s is longer than %zu bytes", what, dstsz - 1);
		return -1;
	}
	return 0;
}

static void
print_line(const struct process_info *p, int32_t today)
{
	char id[PROCESS_ID_MAX], d1[11], d2[11], uses[48];
	const char *state;

	process_id_format(p->id, id);
	util_date_format(p->issued, d1);
	util_date_format(p->expires, d2);
	if (p->revoked_us != 0)
		state = "revoked";
	else if (today < p->issued)
		state = "pending";
	else if (today > p->expires)
		state = "expired";
	else if (p->max_uses > 0 && p->uses >= p->max_uses)
		state = "used-up";
	else
		state = "in-force";
	if (p->max_uses > 0)
		snprintf(uses, sizeof uses, "%lld/%lld", (long long)p->uses, (long long)p->max_uses);
	else
		snprintf(uses, sizeof uses, "%lld/-", (long long)p->uses);
	printf("%-7s %-23s %-9s %s..%s %-8s uses %-9s %s\n", id,
	    process_kind_name((int)p->kind) ? process_kind_name((int)p->kind) : "?",
	    p->ori, d1, d2, state, uses, p->case_number);
}

static json_t *
to_json(const struct process_info *p, int32_t today)
{
	char id[PROCESS_ID_MAX], d1[11], d2[11], items[1024], t1[32], t2[32];
	json_t *o, *subj;
	const char *state;

	process_id_format(p->id, id);
	util_date_format(p->issued, d1);
	util_date_format(p->expires, d2);
	util_time_format(p->created_us, t1);
	if (field_mask_format(p->items, ',', items, sizeof items) < 0)
		items[0] = '\0';
	if (p->revoked_us != 0)
		state = "revoked";
	else if (today < p->issued)
		state = "pending";
	else if (today > p->expires)
		state = "expired";
	else if (p->max_uses > 0 && p->uses >= p->max_uses)
		state = "used_up";
	else
		state = "in_force";
	subj = json_array();
	for (int i = 0; subj != NULL && i < p->nsubjects; i++)
		json_array_append_new(subj, json_string(p->subjects[i]));
	o = json_pack("{s:s, s:s?, s:s, s:s, s:s, s:s, s:s, s:s, s:o*, s:s, s:I, s:I, s:s,"
	    " s:{s:s, s:s, s:I}, s:s, s:s}",
	    "id", id, "kind", process_kind_name((int)p->kind), "agency", p->ori,
	    "court", p->court, "case", p->case_number, "judge", p->judge,
	    "issued", d1, "expires", d2, "subjects", subj, "items", items,
	    "max_uses", (json_int_t)p->max_uses, "uses", (json_int_t)p->uses, "state", state,
	    "document", "sha256", p->document_sha256, "name", p->document_name,
	    "size", (json_int_t)p->document_size,
	    "registered", t1, "registered_by", p->created_by);
	if (o != NULL && p->revoked_us != 0) {
		util_time_format(p->revoked_us, t2);
		json_object_set_new(o, "revoked", json_string(t2));
		json_object_set_new(o, "revoked_reason", json_string(p->revoked_reason));
		json_object_set_new(o, "revoked_by", json_string(p->revoked_by));
	}
	return o;
}

static int
print_json(const struct process_info *p, int32_t today)
{
	json_t *o = to_json(p, today);
	char *s;

	if (o == NULL)
		return -1;
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s == NULL)
		return -1;
	puts(s);
	free(s);
	return 0;
}

struct list_arg {
	int json;
	int32_t today;
};

static int
list_cb(void *arg, const struct process_info *p)
{
	struct list_arg *a = arg;

	if (a->json)
		return print_json(p, a->today) < 0;
	print_line(p, a->today);
	return 0;
}

static void
show(const struct process_info *p, int32_t today)
{
	char items[1024], t[32];

	print_line(p, today);
	printf("  court     %s\n  case      %s\n  judge     %s\n", p->court, p->case_number,
	    p->judge);
	printf("  subjects ");
	for (int i = 0; i < p->nsubjects; i++)
		printf(" %s", p->subjects[i]);
	if (field_mask_format(p->items, ' ', items, sizeof items) < 0)
		items[0] = '\0';
	printf("\n  items     %s\n", items);
	printf("  document  %s (%s, %lld bytes)\n", p->document_sha256, p->document_name,
	    (long long)p->document_size);
	util_time_format(p->created_us, t);
	printf("  registered %s by %s\n", t, p->created_by);
	if (p->revoked_us != 0) {
		util_time_format(p->revoked_us, t);
		printf("  revoked   %s by %s: %s\n", t, p->revoked_by, p->revoked_reason);
	}
}

/* 1 when the agency is registered (checked before the document is copied,
 * so a refused registration leaves no file behind); else 0 with a message. */
static int
agency_exists(const char *regpath, const char *ori)
{
	struct registry *r = registry_open(regpath);
	struct registry_agency a;
	int rc;

	if (r == NULL)
		return 0;
	rc = registry_ori_valid(ori) ? registry_agency_get(r, ori, &a) : REGISTRY_NOTFOUND;
	registry_close(r);
	if (rc == REGISTRY_NOTFOUND)
		util_errx("process: no agency %s in the registry", ori);
	return rc == 0;
}

/* Writes the queued audit records (or leaves them for the server). */
static void
audit_change(const char *datadir, const char *regpath)
{
	struct registry *r = registry_open(regpath);

	if (r != NULL)
		registry_cli_audit(r, datadir);
	registry_close(r);
}

int
cmd_process(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "kind", required_argument, NULL, 'k' },
		{ "agency", required_argument, NULL, 'a' },
		{ "court", required_argument, NULL, 'c' },
		{ "case", required_argument, NULL, 'C' },
		{ "judge", required_argument, NULL, 'j' },
		{ "issued", required_argument, NULL, 'i' },
		{ "expires", required_argument, NULL, 'e' },
		{ "subject", required_argument, NULL, 's' },
		{ "items", required_argument, NULL, 'I' },
		{ "max-uses", required_argument, NULL, 'm' },
		{ "document", required_argument, NULL, 'D' },
		{ "reason", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *kind = NULL, *issued = NULL, *expires = NULL, *doc = NULL;
	const char *reason = NULL, *sub = NULL, *idarg = NULL, *base;
	char regpath[PATH_MAX], docdir[PATH_MAX], idstr[PROCESS_ID_MAX];
	struct process_info *p = NULL;
	struct process_db *db = NULL;
	struct list_arg la = { 0, util_today() };
	int c, rc = CLI_FAIL, x, last = 0, json = 0, k;
	int64_t id = 0, max_uses = 0;

	if ((p = util_calloc(1, sizeof *p)) == NULL)
		return CLI_FAIL;
	optind = 1;
	/* "-" first: operands come back as 1, in order, so that
	 * `--subject A B --items x y` works. */
	while ((c = getopt_long(argc, argv, "-h", opts, NULL)) != -1) {
		if (c != 1)
			last = 0;
		switch (c) {
		case 1:
			if (last == 's') {
				if (add_subjects(p, optarg) < 0)
					goto usage_fail;
			} else if (last == 'I') {
				if (process_items_parse(optarg, &p->items) < 0)
					goto usage_fail;
			} else if (sub == NULL)
				sub = optarg;
			else if (idarg == NULL)
				idarg = optarg;
			else {
				rc = cli_usage_error(usage, "unexpected argument \"%s\"", optarg);
				goto out;
			}
			break;
		case 'd': data = optarg; break;
		case 'k': kind = optarg; break;
		case 'a':
			if (set_text(p->ori, sizeof p->ori, optarg, "agency") < 0)
				goto usage_fail;
			break;
		case 'c':
			if (set_text(p->court, sizeof p->court, optarg, "court") < 0)
				goto usage_fail;
			break;
		case 'C':
			if (set_text(p->case_number, sizeof p->case_number, optarg, "case") < 0)
				goto usage_fail;
			break;
		case 'j':
			if (set_text(p->judge, sizeof p->judge, optarg, "judge") < 0)
				goto usage_fail;
			break;
		case 'i': issued = optarg; break;
		case 'e': expires = optarg; break;
		case 's':
			if (add_subjects(p, optarg) < 0)
				goto usage_fail;
			last = 's';
			break;
		case 'I':
			if (process_items_parse(optarg, &p->items) < 0)
				goto usage_fail;
			last = 'I';
			break;
		case 'm':
			if (util_parse_i64(optarg, 1, PROCESS_MAX_USES, &max_uses) < 0) {
				rc = cli_usage_error(usage, "--max-uses must be 1 to %d",
				    PROCESS_MAX_USES);
				goto out;
			}
			break;
		case 'D': doc = optarg; break;
		case 'r': reason = optarg; break;
		case 'J': json = 1; break;
		case 'h': cli_help(usage); rc = CLI_OK; goto out;
		default: rc = cli_usage_error(usage, "bad option"); goto out;
		}
	}
	la.json = json;
	if (sub == NULL) {
		rc = cli_usage_error(usage, "missing subcommand");
		goto out;
	}
	if (datadir_path(cli_datadir(data), "registry.db", regpath, sizeof regpath) < 0 ||
	    datadir_path(cli_datadir(data), DATADIR_DOCUMENTS, docdir, sizeof docdir) < 0)
		goto out;

	if (strcmp(sub, "add") == 0) {
		if (idarg != NULL) {
			rc = cli_usage_error(usage, "unexpected argument \"%s\"", idarg);
			goto out;
		}
		if (kind == NULL || p->ori[0] == '\0' || p->court[0] == '\0' ||
		    p->case_number[0] == '\0' || p->judge[0] == '\0' || issued == NULL ||
		    expires == NULL || p->nsubjects == 0 || p->items == 0 || doc == NULL) {
			rc = cli_usage_error(usage, "add needs --kind, --agency, --court, --case,"
			    " --judge, --issued, --expires, --subject, --items and --document");
			goto out;
		}
		if ((k = process_kind_parse(kind)) < 0) {
			rc = cli_usage_error(usage, "unknown kind \"%s\"", kind);
			goto out;
		}
		p->kind = (enum process_kind)k;
		if (util_date_parse(issued, strlen(issued), &p->issued) < 0 ||
		    util_date_parse(expires, strlen(expires), &p->expires) < 0) {
			rc = cli_usage_error(usage, "dates are YYYY-MM-DD");
			goto out;
		}
		if (p->issued > p->expires) {
			rc = cli_usage_error(usage, "--expires is before --issued");
			goto out;
		}
		p->max_uses = max_uses;
		if ((db = process_open(regpath)) == NULL || !agency_exists(regpath, p->ori))
			goto out;
		x = process_store_document(docdir, doc, p->document_sha256, &p->document_size);
		if (x != 0)
			goto out;
		base = strrchr(doc, '/') ? strrchr(doc, '/') + 1 : doc;
		if (util_strlcpy(p->document_name, base, sizeof p->document_name) < 0 ||
		    util_utf8_valid(p->document_name, strlen(p->document_name)) != 0)
			snprintf(p->document_name, sizeof p->document_name, "document");
		if (process_add(db, p, operator_name(), &id) != 0)
			goto out;
		process_id_format(id, idstr);
		printf("%s\nsha256 %s\n", idstr, p->document_sha256);
		if (p->expires < util_today())
			util_errx("warning: %s has already expired", idstr);
		audit_change(cli_datadir(data), regpath);
		rc = CLI_OK;
		goto out;
	}
	if (strcmp(sub, "list") == 0) {
		if (idarg != NULL) {
			rc = cli_usage_error(usage, "unexpected argument \"%s\"", idarg);
			goto out;
		}
		if ((db = process_open(regpath)) == NULL || process_list(db, list_cb, &la) < 0)
			goto out;
		rc = CLI_OK;
		goto out;
	}
	if (strcmp(sub, "show") != 0 && strcmp(sub, "revoke") != 0) {
		rc = cli_usage_error(usage, "unknown subcommand \"%s\"", sub);
		goto out;
	}
	if (idarg == NULL || (id = process_id_parse(idarg)) < 0) {
		rc = cli_usage_error(usage, "%s needs a process id (LP-<n>)", sub);
		goto out;
	}
	process_id_format(id, idstr);
	if (strcmp(sub, "revoke") == 0 && reason == NULL) {
		rc = cli_usage_error(usage, "revoke needs --reason TEXT");
		goto out;
	}
	if ((db = process_open(regpath)) == NULL)
		goto out;
	if (strcmp(sub, "show") == 0) {
		x = process_get(db, id, p);
		if (x == PROCESS_NOTFOUND)
			util_errx("process: no process %s", idstr);
		if (x != 0)
			goto out;
		if (json) {
			if (print_json(p, la.today) < 0)
				goto out;
		} else
			show(p, la.today);
		rc = CLI_OK;
		goto out;
	}
	x = process_revoke(db, id, reason, operator_name());
	if (x == PROCESS_NOTFOUND)
		util_errx("process: no process %s", idstr);
	else if (x == PROCESS_REVOKED)
		util_errx("process: %s is already revoked", idstr);
	if (x != 0)
		goto out;
	printf("%s revoked\n", idstr);
	audit_change(cli_datadir(data), regpath);
	rc = CLI_OK;
	goto out;
usage_fail:
	rc = CLI_USAGE;
out:
	process_close(db);
	free(p);
	return rc;
}
