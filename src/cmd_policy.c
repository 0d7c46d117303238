/*
 * cmd_policy.c - `dmvgate policy check|test|explain`: the tools DMV counsel
 * use to write a policy.  check reports every error as FILE:LINE:COL;
 * test runs a case file (request -> expected decision, rules, items,
 * notice); explain shows, for one request, each rule and the condition
 * that decided it.  The request syntax (key=value words) is shared by
 * explain and the case files and documented in docs/policy.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "field.h"
#include "policy.h"
#include "util.h"

#define CASE_LINE_MAX 4096
#define CASES_MAX_FILE (16 * 1024 * 1024)

static const char usage_policy[] =
    "usage: dmvgate policy check FILE\n"
    "       dmvgate policy test FILE CASES\n"
    "       dmvgate policy explain FILE (REQUEST-FILE | key=value ...)\n"
    "\n"
    "Check, test and explain a policy file (see docs/policy.md).\n";
static const char usage_check[] =
    "usage: dmvgate policy check FILE\n"
    "\n"
    "Loads FILE and reports every error as FILE:LINE:COL: message on stderr\n"
    "(exit 1); prints \"FILE: ok (N rules, M limits)\" when it is valid.\n";
static const char usage_test[] =
    "usage: dmvgate policy test FILE CASES\n"
    "\n"
    "Runs every case of CASES against the policy FILE.  A case is one line:\n"
    "  key=value ... -> permit|deny|error [rules=ID,...] [release=ITEM,...] [notify=3d|3bd|none]\n"
    "Prints each failure, then \"N passed, N failed\"; exit 1 on any failure.\n";
static const char usage_explain[] =
    "usage: dmvgate policy explain FILE (REQUEST-FILE | key=value ...)\n"
    "\n"
    "Shows for one request every rule, whether it matched and which condition\n"
    "decided it, then the decision.  Request keys: category purpose ori\n"
    "certified type by include process process.valid process.issued_to_agency\n"
    "process.covers_subject process.ok process.items (see docs/policy.md).\n";

/* Where a word came from, for CASES:LINE:COL messages. */
struct where {
	const char *file;
	int line;
};

static void where_err(const struct where *w, size_t col, const char *fmt, ...)
    UTIL_PRINTF(3, 4);

static void
where_err(const struct where *w, size_t col, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d:%zu: ", w->file, w->line, col);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int
parse_bool(const char *v, int *out)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
		*out = 1;
	else if (strcmp(v, "no") == 0 || strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* A request being built from key=value words. */
struct reqb {
	struct policy_request r;
	int have_category, have_purpose, have_type;
};

static void
reqb_init(struct reqb *b)
{
	memset(b, 0, sizeof *b);
	b->r.certified = 1;
	b->r.type = POLICY_TYPE_DRIVER;
	b->r.by = POLICY_BY_LICENSE;
	b->r.process_kind = -1;
}

/* Applies one key=value word (NUL-terminated, value at val); 0 or -1. */
static int
reqb_set(const struct policy *p, struct reqb *b, const char *key, const char *val,
    const struct where *w, size_t col)
{
	int *flag = NULL;

	if (strcmp(key, "category") == 0) {
		b->r.category = policy_category_id(p, val);
		if (b->r.category < 0)
			goto unknown;
		b->have_category = 1;
	} else if (strcmp(key, "purpose") == 0) {
		b->r.purpose = policy_purpose_id(p, val);
		if (b->r.purpose < 0)
			goto unknown;
		b->have_purpose = 1;
	} else if (strcmp(key, "ori") == 0) {
		if (util_strlcpy(b->r.ori, val, sizeof b->r.ori) != 0) {
			where_err(w, col, "ORI longer than 9 characters");
			return -1;
		}
	} else if (strcmp(key, "certified") == 0) {
		flag = &b->r.certified;
	} else if (strcmp(key, "type") == 0) {
		b->r.type = policy_type_id(val);
		if (b->r.type < 0)
			goto unknown;
		b->have_type = 1;
	} else if (strcmp(key, "by") == 0) {
		b->r.by = policy_by_id(val);
		if (b->r.by < 0)
			goto unknown;
		if (!b->have_type)
			b->r.type = (b->r.by == POLICY_BY_PLATE || b->r.by == POLICY_BY_VIN) ?
			    POLICY_TYPE_VEHICLE : POLICY_TYPE_DRIVER;
	} else if (strcmp(key, "include") == 0) {
		if (strcmp(val, "photo") == 0)
			b->r.extras |= POLICY_EXTRA_PHOTO;
		else if (*val != '\0')
			goto unknown;
	} else if (strcmp(key, "process") == 0) {
		if (strcmp(val, "none") == 0)
			b->r.process_kind = -1;
		else if ((b->r.process_kind = policy_process_kind_id(p, val)) < 0)
			goto unknown;
	} else if (strcmp(key, "process.valid") == 0) {
		flag = &b->r.process_valid;
	} else if (strcmp(key, "process.issued_to_agency") == 0) {
		flag = &b->r.process_issued_to_agency;
	} else if (strcmp(key, "process.covers_subject") == 0) {
		flag = &b->r.process_covers_subject;
	} else if (strcmp(key, "process.ok") == 0) {
		int v;
		if (parse_bool(val, &v) != 0)
			goto badbool;
		b->r.process_valid = b->r.process_issued_to_agency = b->r.process_covers_subject = v;
	} else if (strcmp(key, "process.items") == 0) {
		if (policy_items_mask(p, val, &b->r.process_items) != 0) {
			where_err(w, col, "unknown field or item group in '%s'", val);
			return -1;
		}
	} else {
		where_err(w, col, "unknown request key '%s'", key);
		return -1;
	}
	if (flag != NULL && parse_bool(val, flag) != 0)
		goto badbool;
	return 0;
unknown:
	where_err(w, col, "unknown %s '%s'", key, val);
	return -1;
badbool:
	where_err(w, col, "%s must be yes or no, not '%s'", key, val);
	return -1;
}

static int
reqb_finish(const struct reqb *b, const struct where *w)
{
	if (!b->have_category || !b->have_purpose) {
		where_err(w, 1, "the request needs category= and purpose=");
		return -1;
	}
	return 0;
}

/*
 * Splits s in place into words separated by blanks; calls fn for each with
 * its 1-based column.  Stops at '#'.  Returns the first nonzero fn result.
 */
typedef int (*word_fn)(void *ctx, char *word, size_t col);

static int
each_word(char *s, word_fn fn, void *ctx)
{
	char *p = s;
	int rc;

	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p == '\0' || *p == '#')
			break;
		char *start = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			p++;
		if (*p)
			*p++ = '\0';
		if ((rc = fn(ctx, start, (size_t)(start - s) + 1)) != 0)
			return rc;
	}
	return 0;
}

struct reqword_ctx {
	const struct policy *p;
	struct reqb *b;
	const struct where *w;
	size_t coloff;
};

static int
req_word(void *vctx, char *word, size_t col)
{
	struct reqword_ctx *c = vctx;
	char *eq = strchr(word, '=');

	if (eq == NULL || eq == word) {
		where_err(c->w, col + c->coloff, "expected key=value, found '%s'", word);
		return -1;
	}
	*eq = '\0';
	return reqb_set(c->p, c->b, word, eq + 1, c->w, col + c->coloff);
}

/* Prints a decision (shared by explain and test failures). */
static void
print_decision(FILE *f, const struct policy *p, const struct policy_decision *d)
{
	char items[1024];

	fprintf(f, "decision: %s%s\n", d->error ? "deny (evaluation error)" : d->permit ? "permit" : "deny",
	    (!d->error && d->nrules == 0) ? " (default: no rule matched)" : "");
	for (int i = 0; i < d->nrules; i++)
		fprintf(f, "  %s %s (%s)\n", policy_rule_is_forbid(p, d->rules[i]) ? "forbid" : "permit",
		    policy_rule_id(p, d->rules[i]), policy_rule_cite(p, d->rules[i]));
	if (field_mask_format(d->released, ',', items, sizeof items) < 0)
		snprintf(items, sizeof items, "(too long)");
	fprintf(f, "released: %s\n", d->released ? items : "(nothing)");
	if (d->notify_days)
		fprintf(f, "notify: subject within %d %sdays (rule %s)\n", d->notify_days,
		    d->notify_unit == POLICY_NOTIFY_BUSINESS_DAYS ? "business " : "",
		    policy_rule_id(p, d->notify_rule));
	else
		fprintf(f, "notify: none\n");
}

static struct policy *
load_or_report(const char *path)
{
	struct policy_errors errs;
	struct policy *p;

	policy_errors_init(&errs);
	p = policy_load(path, &errs);
	if (p == NULL) {
		if (errs.text)
			fputs(errs.text, stderr);
		if (errs.count > POLICY_MAX_ERRORS)
			fprintf(stderr, "%s: %d more errors not shown\n", path, errs.count - POLICY_MAX_ERRORS);
		if (errs.count == 0)
			fprintf(stderr, "%s: cannot load\n", path);
	}
	policy_errors_free(&errs);
	return p;
}

static int
wants_help(int argc, char **argv, const char *usage)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			cli_help(usage);
			return 1;
		}
	}
	return 0;
}

static int
do_check(int argc, char **argv)
{
	struct policy *p;

	if (wants_help(argc, argv, usage_check))
		return CLI_OK;
	if (argc != 2)
		return cli_usage_error(usage_check, "policy check takes one FILE");
	p = load_or_report(argv[1]);
	if (p == NULL)
		return CLI_FAIL;
	printf("%s: ok (%d rules, %d limits)\n", argv[1], policy_nrules(p), policy_nlimits(p));
	policy_free(p);
	return CLI_OK;
}

static int
do_explain(int argc, char **argv)
{
	struct policy *p = NULL;
	struct policy_decision d;
	struct reqb b;
	struct where w = { "request", 1 };
	struct reqword_ctx ctx;
	char *buf = NULL, out[2048];
	size_t len;
	int rc = CLI_FAIL;

	if (wants_help(argc, argv, usage_explain))
		return CLI_OK;
	if (argc < 3)
		return cli_usage_error(usage_explain, "policy explain takes FILE and a request");
	p = load_or_report(argv[1]);
	if (p == NULL)
		return CLI_FAIL;
	reqb_init(&b);
	ctx = (struct reqword_ctx){ p, &b, &w, 0 };
	if (argc == 3 && strchr(argv[2], '=') == NULL) {
		/* a request file: key=value words over any number of lines */
		char *line, *next;
		w.file = argv[2];
		if (util_read_file(argv[2], 65536, &buf, &len) != 0) {
			util_warn("%s", argv[2]);
			goto out;
		}
		for (line = buf; line != NULL; line = next, w.line++) {
			next = strchr(line, '\n');
			if (next != NULL)
				*next++ = '\0';
			if (each_word(line, req_word, &ctx) != 0)
				goto out;
		}
	} else {
		w.file = "argument";
		for (int i = 2; i < argc; i++) {
			char *word = util_strdup(argv[i]);
			int r;
			if (word == NULL)
				goto out;
			/* an argument may hold several words: "a=1 b=2" */
			w.line = i - 1;
			r = each_word(word, req_word, &ctx);
			free(word);
			if (r != 0)
				goto out;
		}
	}
	if (reqb_finish(&b, &w) != 0)
		goto out;
	printf("policy: %s (%d rules)\n", argv[1], policy_nrules(p));
	for (int i = 0; i < policy_nrules(p); i++) {
		policy_explain_rule(p, i, &b.r, out, sizeof out);
		printf("%s \"%s\" (line %d): %s\n", policy_rule_is_forbid(p, i) ? "forbid" : "permit",
		    policy_rule_id(p, i), policy_rule_line(p, i), out);
	}
	policy_decide(p, &b.r, &d);
	print_decision(stdout, p, &d);
	rc = CLI_OK;
out:
	free(buf);
	policy_free(p);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* policy test                                                             */

struct expect {
	int decision;            /* 1 permit, 0 deny, 2 error */
	int check_rules, check_release, check_notify;
	char rules[1024];        /* comma list as written */
	size_t rules_col;        /* where rules= was written */
	field_mask release;
	int notify_days, notify_unit;
};

struct expect_ctx {
	const struct policy *p;
	struct expect *e;
	const struct where *w;
	size_t coloff;
	int first;
};

static int
expect_word(void *vctx, char *word, size_t col)
{
	struct expect_ctx *c = vctx;
	struct expect *e = c->e;
	char *eq;

	col += c->coloff;
	if (c->first) {
		c->first = 0;
		if (strcmp(word, "permit") == 0)
			e->decision = 1;
		else if (strcmp(word, "deny") == 0)
			e->decision = 0;
		else if (strcmp(word, "error") == 0)
			e->decision = 2;
		else {
			where_err(c->w, col, "expected permit, deny or error after '->', found '%s'", word);
			return -1;
		}
		return 0;
	}
	eq = strchr(word, '=');
	if (eq == NULL) {
		where_err(c->w, col, "expected rules=, release= or notify=, found '%s'", word);
		return -1;
	}
	*eq++ = '\0';
	if (strcmp(word, "rules") == 0) {
		e->check_rules = 1;
		e->rules_col = col;
		if (util_strlcpy(e->rules, eq, sizeof e->rules) != 0) {
			where_err(c->w, col, "rules= too long");
			return -1;
		}
	} else if (strcmp(word, "release") == 0) {
		e->check_release = 1;
		if (policy_items_mask(c->p, eq, &e->release) != 0) {
			where_err(c->w, col, "unknown field or item group in release=%s", eq);
			return -1;
		}
	} else if (strcmp(word, "notify") == 0) {
		char *end;
		long v;
		e->check_notify = 1;
		if (strcmp(eq, "none") == 0) {
			e->notify_days = 0;
			return 0;
		}
		errno = 0;
		v = strtol(eq, &end, 10);
		if (errno || v < 1 || v > 365 || (strcmp(end, "d") != 0 && strcmp(end, "bd") != 0)) {
			where_err(c->w, col, "notify= takes Nd (days), Nbd (business days) or none");
			return -1;
		}
		e->notify_days = (int)v;
		e->notify_unit = strcmp(end, "d") == 0 ? POLICY_NOTIFY_DAYS : POLICY_NOTIFY_BUSINESS_DAYS;
	} else {
		where_err(c->w, col, "unknown expectation '%s' (rules, release, notify)", word);
		return -1;
	}
	return 0;
}

/* Formats the decision's rule ids as a sorted-by-index comma list. */
static void
rules_list(const struct policy *p, const struct policy_decision *d, char *out, size_t outsz)
{
	size_t len = 0;

	out[0] = '\0';
	for (int i = 0; i < d->nrules; i++) {
		int n = snprintf(out + len, outsz - len, "%s%s", i ? "," : "", policy_rule_id(p, d->rules[i]));
		if (n < 0 || (size_t)n >= outsz - len)
			break;
		len += (size_t)n;
	}
}

/* Compares the expected rule list with the decision's as sets; 0 equal. */
static int
rules_differ(const struct policy *p, const struct policy_decision *d, const char *want)
{
	int matched = 0, nwant = 0;
	const char *s = want;

	while (*s) {
		size_t l = strcspn(s, ",");
		if (l > 0) {
			int found = 0;
			nwant++;
			for (int i = 0; i < d->nrules; i++) {
				const char *id = policy_rule_id(p, d->rules[i]);
				if (strlen(id) == l && memcmp(id, s, l) == 0)
					found = 1;
			}
			matched += found;
			if (!found)
				return 1;
		}
		s += l;
		if (*s)
			s++;
	}
	return matched != d->nrules || nwant != d->nrules;
}

/* Checks that every id in rules= names a rule of the policy. */
static int
rules_known(const struct policy *p, const char *want, const struct where *w, size_t col)
{
	const char *s = want;

	while (*s) {
		size_t l = strcspn(s, ",");
		int found = 0;
		for (int i = 0; l > 0 && i < policy_nrules(p); i++) {
			const char *id = policy_rule_id(p, i);
			if (strlen(id) == l && memcmp(id, s, l) == 0)
				found = 1;
		}
		if (l > 0 && !found) {
			where_err(w, col, "unknown rule '%.*s' in rules=", (int)l, s);
			return -1;
		}
		s += l;
		if (*s)
			s++;
	}
	return 0;
}

static int
do_test(int argc, char **argv)
{
	struct policy *p = NULL;
	char *buf = NULL, *line, *next;
	size_t len;
	int passed = 0, failed = 0, rc = CLI_FAIL;
	int *matched = NULL, *unmatched = NULL;
	struct where w;

	if (wants_help(argc, argv, usage_test))
		return CLI_OK;
	if (argc != 3)
		return cli_usage_error(usage_test, "policy test takes FILE and CASES");
	p = load_or_report(argv[1]);
	if (p == NULL)
		return CLI_FAIL;
	if (util_read_file(argv[2], CASES_MAX_FILE, &buf, &len) != 0) {
		util_warn("%s", argv[2]);
		goto out;
	}
	matched = calloc((size_t)policy_nrules(p) + 1, sizeof *matched);
	unmatched = calloc((size_t)policy_nrules(p) + 1, sizeof *unmatched);
	if (matched == NULL || unmatched == NULL)
		goto out;
	w.file = argv[2];
	w.line = 0;
	for (line = buf; line != NULL && line < buf + len; line = next) {
		char *arrow, *hash, items[1024], got[1024], msg[64];
		struct reqb b;
		struct expect e;
		struct policy_decision d;
		struct reqword_ctx rctx;
		struct expect_ctx ectx;
		int ok = 1;

		w.line++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strlen(line) > CASE_LINE_MAX) {
			where_err(&w, 1, "line longer than %d bytes", CASE_LINE_MAX);
			failed++;
			continue;
		}
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		if (line[strspn(line, " \t\r")] == '\0')
			continue;
		arrow = strstr(line, "->");
		if (arrow == NULL) {
			where_err(&w, 1, "a case is: key=value ... -> permit|deny|error [rules=...] [release=...] [notify=...]");
			failed++;
			continue;
		}
		*arrow = '\0';
		reqb_init(&b);
		memset(&e, 0, sizeof e);
		rctx = (struct reqword_ctx){ p, &b, &w, 0 };
		if (each_word(line, req_word, &rctx) != 0 || reqb_finish(&b, &w) != 0) {
			failed++;
			continue;
		}
		ectx = (struct expect_ctx){ p, &e, &w, (size_t)(arrow + 2 - line), 1 };
		if (each_word(arrow + 2, expect_word, &ectx) != 0) {
			failed++;
			continue;
		}
		if (ectx.first) {
			where_err(&w, (size_t)(arrow - line) + 3, "expected permit, deny or error after '->'");
			failed++;
			continue;
		}
		if (e.check_rules && rules_known(p, e.rules, &w, e.rules_col) != 0) {
			failed++;
			continue;
		}
		policy_decide(p, &b.r, &d);
		for (int i = 0; i < policy_nrules(p); i++) {
			char tmp[16];
			if (policy_explain_rule(p, i, &b.r, tmp, sizeof tmp) == 1)
				matched[i]++;
			else
				unmatched[i]++;
		}
		rules_list(p, &d, got, sizeof got);
		if (d.error ? e.decision != 2 : e.decision != d.permit) {
			fprintf(stdout, "%s:%d: FAIL: expected %s, got %s%s%s%s\n", w.file, w.line,
			    e.decision == 2 ? "error" : e.decision ? "permit" : "deny",
			    d.error ? "error" : d.permit ? "permit" : "deny",
			    d.nrules ? " (rules " : "", got, d.nrules ? ")" : "");
			ok = 0;
		}
		if (ok && e.check_rules && rules_differ(p, &d, e.rules)) {
			fprintf(stdout, "%s:%d: FAIL: expected rules=%s, got rules=%s\n", w.file, w.line, e.rules, got);
			ok = 0;
		}
		if (ok && e.check_release && e.release != d.released) {
			char want[1024];
			if (field_mask_format(e.release, ',', want, sizeof want) < 0)
				snprintf(want, sizeof want, "(too long)");
			if (field_mask_format(d.released, ',', items, sizeof items) < 0)
				snprintf(items, sizeof items, "(too long)");
			fprintf(stdout, "%s:%d: FAIL: expected release=%s, got release=%s\n", w.file, w.line,
			    want, items);
			ok = 0;
		}
		if (ok && e.check_notify &&
		    (e.notify_days != d.notify_days || (e.notify_days && e.notify_unit != d.notify_unit))) {
			if (d.notify_days)
				snprintf(msg, sizeof msg, "%d%s", d.notify_days,
				    d.notify_unit == POLICY_NOTIFY_DAYS ? "d" : "bd");
			else
				snprintf(msg, sizeof msg, "none");
			fprintf(stdout, "%s:%d: FAIL: expected notify=", w.file, w.line);
			if (e.notify_days)
				fprintf(stdout, "%d%s", e.notify_days, e.notify_unit == POLICY_NOTIFY_DAYS ? "d" : "bd");
			else
				fputs("none", stdout);
			fprintf(stdout, ", got notify=%s\n", msg);
			ok = 0;
		}
		if (ok)
			passed++;
		else
			failed++;
	}
	for (int i = 0; i < policy_nrules(p); i++) {
		if (matched[i] == 0)
			fprintf(stderr, "%s: note: rule '%s' matches in no case\n", argv[2], policy_rule_id(p, i));
		if (unmatched[i] == 0)
			fprintf(stderr, "%s: note: rule '%s' matches in every case\n", argv[2], policy_rule_id(p, i));
	}
	printf("%d passed, %d failed\n", passed, failed);
	rc = failed ? CLI_FAIL : CLI_OK;
out:
	free(matched);
	free(unmatched);
	free(buf);
	policy_free(p);
	return rc;
}

int
cmd_policy(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error(usage_policy, "policy needs a subcommand");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cli_help(usage_policy);
		return CLI_OK;
	}
	if (strcmp(argv[1], "check") == 0)
		return do_check(argc - 1, argv + 1);
	if (strcmp(argv[1], "test") == 0)
		return do_test(argc - 1, argv + 1);
	if (strcmp(argv[1], "explain") == 0)
		return do_explain(argc - 1, argv + 1);
	return cli_usage_error(usage_policy, "unknown policy subcommand '%s'", argv[1]);
}
