/*
 * report.c - the transparency report's computation (see report.h): count
 * tables filled by one streaming pass over a period's audit entries plus
 * snapshots of the registry, legal process and notices; periods; JSON and
 * CSV renderers; the server's cache.  The HTML renderer is report_html.c.
 *
 * A table is a list of rows keyed by up to REPORT_PARTS strings, each row
 * holding up to REPORT_MEASURES 64-bit counters, with an open-addressing
 * index over the key parts.  Counting an entry costs a few hash lookups
 * and no allocation unless a key is new; a table never grows past
 * REPORT_MAX_ROWS rows (then "(other)").  Every string that reaches a row
 * is a name the policy declares, a fixed label of this file, or a value
 * checked against a short allow-list (channel, registry action, limit and
 * rule names), so no requester-chosen text reaches a public report.
 */
#include "report_int.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "datadir.h"
#include "key.h"
#include "notice.h"
#include "policy.h"
#include "process.h"
#include "registry.h"
#include "util.h"

/* ---- table definitions ---- */

#define OUTCOME_MEASURES 6, { "permit", "deny", "limited", "invalid", "error", "total" }

const struct report_tabdef report_tabdefs[T_COUNT] = {
	[T_SUMMARY] = { "summary", "Summary",
	    "The period's main figures.", 1, 1, { "figure" }, 1, { "count" },
	    CH_NONE, 0, 0, 0, 0, 0 },
	[T_REQ_CAT] = { "requests_by_category", "Requests by agency category",
	    "Every query the gateway decided, by the category of the requesting agency and its "
	    "outcome: permitted, denied by the policy, stopped by a limit, refused as malformed, "
	    "or refused because a component failed (nothing disclosed).",
	    1, 1, { "category" }, OUTCOME_MEASURES, CH_STACK, 5, 0, 1, 1, 0 },
	[T_REQ] = { "requests", "Requests by agency category and purpose",
	    "The same requests by the purpose the requester stated.",
	    2, 2, { "category", "purpose" }, OUTCOME_MEASURES, CH_NONE, 0, 0, 1, 1, 0 },
	[T_CHANNEL] = { "requests_by_channel", "Requests by channel",
	    "JSON API or Nlets-style messages.",
	    1, 1, { "channel" }, OUTCOME_MEASURES, CH_STACK, 5, 0, 1, 1, 0 },
	[T_DENY_RULE] = { "denials_by_rule", "Denials by deciding rule",
	    "The policy rules that denied requests, with their legal citation.  A denial names "
	    "every forbidding rule, so one denial may count under several rules.  \"(no rule "
	    "named)\": no permit matched (default deny), or the request was refused before the "
	    "policy (an undeclared purpose, a sending ORI that is not the requester's); \"(permit "
	    "withdrawn by the gateway)\": a permit refused afterwards (expired certification, legal "
	    "process used up).",
	    2, 1, { "rule", "citation" }, 1, { "denials" }, CH_BAR, 1, 0, 0, 1, 0 },
	[T_LIMIT] = { "limits", "Requests stopped by a limit",
	    "Per-user and per-agency limits against bulk use and sweeps (policy `limit` "
	    "statements).", 1, 1, { "limit" }, 1, { "requests" }, CH_BAR, 1, 0, 1, 1, 0 },
	[T_PROCESS] = { "legal_process", "Legal process by kind",
	    "Warrants, court orders and subpoenas registered and revoked by DMV counsel in the "
	    "period, and requests citing one: accepted (permitted) or refused.",
	    1, 1, { "kind" }, 5, { "registered", "revoked", "cited", "accepted", "refused" },
	    CH_STACK, 2, 3, 1, 1, 0 },
	[T_NOTICE] = { "notices", "Notices to data subjects",
	    "Notices owed to people whose records an agency asked for, by the agency's category: "
	    "created in the period, sent in the period (and of those, sent after their due "
	    "date), and created in the period but still unsent past their due date when this "
	    "report was generated.",
	    1, 1, { "category" }, 4, { "created", "sent", "sent_late", "overdue" },
	    CH_BAR, 1, 0, 1, 1, 0 },
	[T_AUTH] = { "authentication_failures", "Failed authentications",
	    "Requests refused before any decision because the token was missing, unknown, wrong, "
	    "revoked, locked or its agency suspended.",
	    1, 1, { "reason" }, 1, { "requests" }, CH_BAR, 1, 0, 1, 1, 0 },
	[T_ALERTS] = { "alerts_and_suspensions", "Alerts and suspensions",
	    "Alerts raised by the gateway, users suspended by a limit, users locked (after "
	    "failed sign-ins or by a limit) and agencies suspended by the DMV.",
	    1, 1, { "event" }, 1, { "count" }, CH_BAR, 1, 0, 0, 0, 0 },
	[T_REGISTRY] = { "registry_changes", "Registry changes",
	    "Changes to agencies, users, legal process and notices, as audited.",
	    1, 1, { "action" }, 1, { "count" }, CH_BAR, 1, 0, 1, 1, 0 },
	[T_AGENCY] = { "agencies", "Registered agencies and certifications",
	    "Agencies registered when the report was generated, by category: with a current "
	    "certification (no-immigration-use attestation and agreement on file) or an expired "
	    "one, and suspended.",
	    1, 1, { "category" }, 4, { "registered", "certified", "expired", "suspended" },
	    CH_STACK, 2, 1, 1, 1, 0 },
	[T_ORI_REQ] = { "requests_by_agency", "Requests by agency (internal)",
	    "Requests by requesting agency (ORI).", 3, 1, { "ori", "name", "category" },
	    OUTCOME_MEASURES, CH_NONE, 0, 0, 1, 1, 1 },
	[T_ORI_AGENCY] = { "agency_certifications", "Agencies (internal)",
	    "Every registered agency with its certification date; current is 1 when the "
	    "certification has not expired.", 4, 4, { "ori", "name", "category", "certified_until" },
	    2, { "current", "suspended" }, CH_NONE, 0, 0, 1, 1, 1 },
};

static const char *const summary_rows[S_COUNT] = {
	[S_ENTRIES] = "audit entries in the period",
	[S_REQUESTS] = "requests decided",
	[S_PERMIT] = "requests permitted",
	[S_DENY] = "requests denied by the policy",
	[S_LIMITED] = "requests stopped by a limit",
	[S_INVALID] = "malformed requests refused",
	[S_ERROR] = "requests refused because a component failed",
	[S_IMM] = "requests by immigration agencies or for civil immigration enforcement",
	[S_IMM_PERMIT] = "... of which permitted",
	[S_IMM_JUDICIAL] = "... permitted under a judicial warrant or court order",
	[S_IMM_OTHER] = "... permitted without a judicial warrant or court order",
	[S_PROCESS_CITED] = "requests citing legal process",
	[S_AUTHFAIL] = "failed authentications",
	[S_ALERTS] = "alerts",
	[S_NOTICES] = "notices to data subjects created",
};

enum { A_ALERTS, A_LIMIT_SUSPEND, A_USER_LOCK, A_AGENCY_SUSPEND, A_COUNT };
static const char *const alert_rows[A_COUNT] = {
	"alerts raised", "users suspended by a limit", "users locked", "agencies suspended",
};

/* Registry actions shown as themselves; anything else is "(other)". */
static const char *const registry_actions[] = {
	"agency.add", "agency.suspend", "agency.resume", "agency.certify", "user.add",
	"user.revoke", "user.lock", "user.unlock", "process.add", "process.revoke",
	"notice.sent", "policy.load", "policy.reload",
};
/* Authentication failure reasons (registry_auth_name). */
static const char *const auth_reasons[] = {
	"malformed_token", "unknown_token", "bad_secret", "revoked", "locked", "agency_suspended",
	"certification_expired",
};
static const char *const channels[] = { "json", "nlets", "cli" };

static const char OTHER[] = "(other)";
static const char UNDECLARED[] = "(undeclared)";
static const char NONE_PURPOSE[] = "(none)";
static const char NO_RULE[] = "(no rule named)";
static const char WITHDRAWN[] = "(permit withdrawn by the gateway)";
static const char UNREGISTERED[] = "unregistered";

/* ---- tables ---- */

static uint64_t
hash_parts(const char *const *parts, int n)
{
	uint64_t h = 1469598103934665603ULL;

	for (int i = 0; i < n; i++) {
		for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++)
			h = (h ^ *p) * 1099511628211ULL;
		h = (h ^ 0xff) * 1099511628211ULL;
	}
	return h;
}

static int
tab_init(struct report_tab *t, const struct report_tabdef *def)
{
	t->def = def;
	t->nslots = 2 * REPORT_MAX_ROWS;   /* a power of two */
	t->slots = calloc(t->nslots, sizeof *t->slots);
	return t->slots ? 0 : -1;
}

static void
tab_reset(struct report_tab *t)
{
	for (size_t i = 0; i < t->n; i++)
		for (int j = 0; j < REPORT_PARTS; j++)
			free(t->rows[i].part[j]);
	t->n = 0;
	if (t->slots)
		memset(t->slots, 0, t->nslots * sizeof *t->slots);
}

static void
tab_free(struct report_tab *t)
{
	tab_reset(t);
	free(t->rows);
	free(t->slots);
	t->rows = NULL;
	t->slots = NULL;
	t->cap = 0;
}

/*
 * The row with key parts (def->nkey of them; parts beyond are attributes
 * set when the row is created).  Returns NULL on allocation failure.  A
 * new key when the table is full goes to the "(other)" row.
 */
static struct report_row *
tab_row(struct report_tab *t, const char *const *parts)
{
	const struct report_tabdef *d = t->def;
	uint64_t h = hash_parts(parts, d->nkey);
	size_t mask = t->nslots - 1, i = (size_t)h & mask;
	static const char *const other[REPORT_PARTS] = { OTHER, OTHER, OTHER, OTHER };
	struct report_row *row;

	for (;;) {
		uint32_t s = t->slots[i];
		int same = 1;

		if (s == 0)
			break;
		row = &t->rows[s - 1];
		for (int j = 0; j < d->nkey && same; j++)
			same = strcmp(row->part[j], parts[j]) == 0;
		if (same)
			return row;
		i = (i + 1) & mask;
	}
	if (t->n >= REPORT_MAX_ROWS - 1 && parts != (const char *const *)other) {
		/* full: count it as "(other)" (the last row left is kept for it) */
		return tab_row(t, other);
	}
	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		struct report_row *nr = realloc(t->rows, ncap * sizeof *nr);
		if (nr == NULL)
			return NULL;
		t->rows = nr;
		t->cap = ncap;
	}
	row = &t->rows[t->n];
	memset(row, 0, sizeof *row);
	for (int j = 0; j < d->nparts; j++) {
		const char *v = parts == (const char *const *)other && j >= d->nkey ? "" : parts[j];
		if ((row->part[j] = util_strdup(v ? v : "")) == NULL) {
			for (int k = 0; k < j; k++)
				free(row->part[k]);
			return NULL;
		}
	}
	t->n++;
	t->slots[i] = (uint32_t)t->n;
	return row;
}

static int
tab_add1(struct report_tab *t, const char *key, int measure, uint64_t v)
{
	const char *parts[REPORT_PARTS] = { key, "", "", "" };
	struct report_row *row = tab_row(t, parts);

	if (row == NULL)
		return -1;
	row->v[measure] += v;
	return 0;
}

/* ---- periods ---- */

static int64_t
day_us(int32_t day)
{
	return (int64_t)day * 86400LL * 1000000LL;
}

static int32_t
us_day(int64_t us)
{
	int64_t d = us / (86400LL * 1000000LL);

	if (us < 0 && us % (86400LL * 1000000LL) != 0)
		d--;
	return (int32_t)d;
}

static void
quarter_period(int y, int q, struct report_period *p)
{
	int32_t a = util_days_from_civil(y, (unsigned)(3 * q - 2), 1);
	int32_t b = q == 4 ? util_days_from_civil(y + 1, 1, 1) :
	    util_days_from_civil(y, (unsigned)(3 * q + 1), 1);

	p->from_us = day_us(a);
	p->to_us = day_us(b);
	snprintf(p->label, sizeof p->label, "%04dQ%d", y, q);
}

int
report_period_quarter(const char *s, struct report_period *p)
{
	int y = 0, i;

	if (s == NULL)
		return -1;
	for (i = 0; i < 4; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		y = y * 10 + (s[i] - '0');
	}
	if (s[i] == '-')
		i++;
	if ((s[i] != 'Q' && s[i] != 'q') || s[i + 1] < '1' || s[i + 1] > '4' || s[i + 2] != '\0')
		return -1;
	if (y < 1970 || y > 2200)
		return -1;
	quarter_period(y, s[i + 1] - '0', p);
	return 0;
}

int
report_period_dates(const char *from, const char *to, struct report_period *p)
{
	int32_t a, b;
	char fa[11], fb[11];

	if (from == NULL || to == NULL || util_date_parse(from, strlen(from), &a) < 0 ||
	    util_date_parse(to, strlen(to), &b) < 0 || b < a)
		return -1;
	p->from_us = day_us(a);
	p->to_us = day_us(b + 1);
	util_date_format(a, fa);
	util_date_format(b, fb);
	snprintf(p->label, sizeof p->label, "%s..%s", fa, fb);
	return 0;
}

void
report_period_of_time(int64_t us, struct report_period *p)
{
	int y;
	unsigned m, d;

	util_civil_from_days(us_day(us), &y, &m, &d);
	quarter_period(y, (int)(m - 1) / 3 + 1, p);
}

int
report_period_previous(const struct report_period *p, struct report_period *prev)
{
	struct report_period q;

	if (report_period_quarter(p->label, &q) < 0 || q.from_us != p->from_us)
		return -1;
	report_period_of_time(p->from_us - 1, prev);
	return 0;
}

int
report_format_parse(const char *s)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "json") == 0)
		return REPORT_JSON;
	if (strcmp(s, "csv") == 0)
		return REPORT_CSV;
	if (strcmp(s, "html") == 0)
		return REPORT_HTML;
	return -1;
}

int
report_count_format(uint64_t v, int k, char *out, size_t outsz)
{
	if (v > 0 && k > 1 && v < (uint64_t)k) {
		snprintf(out, outsz, "<%d", k);
		return 1;
	}
	snprintf(out, outsz, "%llu", (unsigned long long)v);
	return 0;
}

/* ---- the report ---- */

struct report *
report_new(const struct report_period *p, int k, int internal)
{
	struct report *r;

	if (p == NULL || k < 1 || k > REPORT_K_MAX || p->to_us <= p->from_us)
		return NULL;
	if ((r = util_calloc(1, sizeof *r)) == NULL)
		return NULL;
	r->period = *p;
	r->k = k;
	r->internal = internal;
	r->scan_next = UINT64_MAX;
	for (int i = 0; i < T_COUNT; i++)
		if (tab_init(&r->tabs[i], &report_tabdefs[i]) < 0)
			goto fail;
	/* fixed rows, in their order, so that they show even when zero */
	for (int i = 0; i < S_COUNT; i++)
		if (tab_add1(&r->tabs[T_SUMMARY], summary_rows[i], 0, 0) < 0)
			goto fail;
	for (int i = 0; i < A_COUNT; i++)
		if (tab_add1(&r->tabs[T_ALERTS], alert_rows[i], 0, 0) < 0)
			goto fail;
	return r;
fail:
	report_free(r);
	return NULL;
}

static void
free_names(struct report *r)
{
	for (size_t i = 0; i < r->ncats; i++)
		free(r->cats[i]);
	for (size_t i = 0; i < r->npurposes; i++)
		free(r->purposes[i]);
	for (size_t i = 0; i < r->nrules; i++) {
		free(r->rules[i].id);
		free(r->rules[i].cite);
	}
	free(r->cats);
	free(r->purposes);
	free(r->rules);
	r->cats = r->purposes = NULL;
	r->rules = NULL;
	r->ncats = r->npurposes = r->nrules = 0;
}

void
report_free(struct report *r)
{
	if (r == NULL)
		return;
	for (int i = 0; i < T_COUNT; i++)
		tab_free(&r->tabs[i]);
	free_names(r);
	free(r->procs);
	free(r->agencies);
	free(r->cp);
	free(r);
}

static int
copy_names(char ***out, size_t *n, const struct policy *pol,
    const char *(*name)(const struct policy *, int))
{
	const char *s;

	*out = calloc(POLICY_MAX_NAMES + 1, sizeof **out);
	if (*out == NULL)
		return -1;
	for (int i = 0; i <= POLICY_MAX_NAMES && (s = name(pol, i)) != NULL; i++) {
		if (((*out)[*n] = util_strdup(s)) == NULL)
			return -1;
		(*n)++;
	}
	return 0;
}

int
report_set_names(struct report *r, const struct policy *pol)
{
	int n;

	free_names(r);
	if (pol == NULL)
		return 0;
	if (copy_names(&r->cats, &r->ncats, pol, policy_category_name) < 0 ||
	    copy_names(&r->purposes, &r->npurposes, pol, policy_purpose_name) < 0)
		goto fail;
	n = policy_nrules(pol);
	if (n > 0) {
		if ((r->rules = calloc((size_t)n, sizeof *r->rules)) == NULL)
			goto fail;
		for (int i = 0; i < n; i++) {
			const char *id = policy_rule_id(pol, i), *cite = policy_rule_cite(pol, i);
			if ((r->rules[i].id = util_strdup(id ? id : "")) == NULL ||
			    (r->rules[i].cite = util_strdup(cite ? cite : "")) == NULL)
				goto fail;
			r->rules[i].forbid = policy_rule_is_forbid(pol, i) > 0;
			r->nrules++;
		}
	}
	return 0;
fail:
	free_names(r);
	return -1;
}

/* The declared name equal to s (a pointer the report owns), or NULL. */
static const char *
declared(char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (names[i][0] == s[0] && strcmp(names[i], s) == 0)
			return names[i];
	return NULL;
}

static const char *
public_category(const struct report *r, const char *s)
{
	const char *d = declared(r->cats, r->ncats, s);

	return d ? d : UNDECLARED;
}

static const char *
public_purpose(const struct report *r, const char *s)
{
	const char *d;

	if (s[0] == '\0')
		return NONE_PURPOSE;
	d = declared(r->purposes, r->npurposes, s);
	return d ? d : UNDECLARED;
}

static const char *
in_list(const char *const *list, size_t n, const char *s, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == len && memcmp(list[i], s, len) == 0)
			return list[i];
	return NULL;
}

static const char *
rule_cite(const struct report *r, const char *id)
{
	for (size_t i = 0; i < r->nrules; i++)
		if (strcmp(r->rules[i].id, id) == 0)
			return r->rules[i].cite;
	return "(not in the current policy)";
}

/* 1 when id is a forbid rule of the policy, 0 a permit rule, -1 unknown. */
static int
rule_forbid(const struct report *r, const char *id)
{
	for (size_t i = 0; i < r->nrules; i++)
		if (strcmp(r->rules[i].id, id) == 0)
			return r->rules[i].forbid;
	return -1;
}

static int
proc_cmp(const void *a, const void *b)
{
	const struct report_proc *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* The kind name of process id_str ("LP-7"), or "unregistered". */
static const char *
proc_kind(const struct report *r, const char *id_str)
{
	struct report_proc key, *hit;
	const char *k;

	key.id = process_id_parse(id_str);
	if (key.id < 1 || r->nprocs == 0)
		return UNREGISTERED;
	hit = bsearch(&key, r->procs, r->nprocs, sizeof *r->procs, proc_cmp);
	if (hit == NULL || (k = process_kind_name(hit->kind)) == NULL)
		return UNREGISTERED;
	return k;
}

static int
agency_cmp(const void *a, const void *b)
{
	return strcmp(((const struct report_agency *)a)->ori, ((const struct report_agency *)b)->ori);
}

static const struct report_agency *
agency_of(const struct report *r, const char *ori)
{
	struct report_agency key;

	if (r->nagencies == 0 || util_strlcpy(key.ori, ori, sizeof key.ori) < 0)
		return NULL;
	return bsearch(&key, r->agencies, r->nagencies, sizeof *r->agencies, agency_cmp);
}

/* The outcome measure of a query entry. */
static int
outcome_of(const struct audit_entry *e)
{
	if (e->status == 429)
		return O_LIMITED;
	if (e->status == 400 || e->status == 413)
		return O_INVALID;
	if (e->status >= 500)
		return O_ERROR;
	if (e->decision == AUDIT_PERMIT)
		return O_PERMIT;
	return O_DENY;
}

/* A short name of letters, digits, '_', '-', '.' (1..64 bytes). */
static int
plain_name(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

static int
sum(struct report *r, int row, uint64_t v)
{
	return tab_add1(&r->tabs[T_SUMMARY], summary_rows[row], 0, v);
}

static int
count_query(struct report *r, const struct audit_entry *e)
{
	int oc = outcome_of(e), rc = 0;
	const char *cat = public_category(r, e->category);
	const char *pur = public_purpose(r, e->purpose);
	const char *ch = in_list(channels, UTIL_NELEM(channels), e->channel, strlen(e->channel));
	const char *parts[REPORT_PARTS] = { cat, pur, "", "" };
	struct report_row *row;
	static const int sumrow[O_COUNT] = { S_PERMIT, S_DENY, S_LIMITED, S_INVALID, S_ERROR };

	if ((row = tab_row(&r->tabs[T_REQ], parts)) == NULL)
		return -1;
	row->v[oc]++;
	row->v[O_TOTAL]++;
	rc |= tab_add1(&r->tabs[T_REQ_CAT], cat, oc, 1);
	rc |= tab_add1(&r->tabs[T_REQ_CAT], cat, O_TOTAL, 1);
	rc |= tab_add1(&r->tabs[T_CHANNEL], ch ? ch : OTHER, oc, 1);
	rc |= tab_add1(&r->tabs[T_CHANNEL], ch ? ch : OTHER, O_TOTAL, 1);
	rc |= sum(r, S_REQUESTS, 1);
	rc |= sum(r, sumrow[oc], 1);
	if (oc == O_DENY) {
		/* every forbidding rule; a denial naming a permit rule is a permit
		 * the gateway withdrew (expired certification, legal process used
		 * up) and counts once under WITHDRAWN */
		int withdrawn = 0, named = 0;
		for (int i = 0; i < e->nrules; i++) {
			const char *id = plain_name(e->rules[i], strlen(e->rules[i])) ? e->rules[i] : OTHER;
			int forbid = rule_forbid(r, id);
			if (forbid == 0) {
				withdrawn = 1;
				continue;
			}
			parts[0] = id;
			parts[1] = rule_cite(r, id);
			if ((row = tab_row(&r->tabs[T_DENY_RULE], parts)) == NULL)
				return -1;
			row->v[0]++;
			named = 1;
		}
		if (!named) {
			parts[0] = withdrawn ? WITHDRAWN : NO_RULE;
			parts[1] = "";
			if ((row = tab_row(&r->tabs[T_DENY_RULE], parts)) == NULL)
				return -1;
			row->v[0]++;
		}
	}
	if (oc == O_LIMITED) {
		/* detail: limit "NAME": ... */
		const char *name = OTHER, *d = e->detail;
		char buf[65];
		if (strncmp(d, "limit \"", 7) == 0) {
			const char *q = strchr(d + 7, '"');
			size_t n = q ? (size_t)(q - d - 7) : 0;
			if (q && plain_name(d + 7, n)) {
				memcpy(buf, d + 7, n);
				buf[n] = '\0';
				name = buf;
			}
		}
		rc |= tab_add1(&r->tabs[T_LIMIT], name, 0, 1);
	}
	{
		const char *kind = NULL;
		int judicial = 0;
		if (e->legal_process[0] != '\0') {
			kind = proc_kind(r, e->legal_process);
			judicial = strcmp(kind, "judicial_warrant") == 0 || strcmp(kind, "court_order") == 0;
			rc |= tab_add1(&r->tabs[T_PROCESS], kind, 2, 1);
			rc |= tab_add1(&r->tabs[T_PROCESS], kind, oc == O_PERMIT ? 3 : 4, 1);
			rc |= sum(r, S_PROCESS_CITED, 1);
		}
		if (strcmp(cat, "federal_immigration") == 0 ||
		    strcmp(pur, "civil_immigration_enforcement") == 0) {
			rc |= sum(r, S_IMM, 1);
			if (oc == O_PERMIT) {
				rc |= sum(r, S_IMM_PERMIT, 1);
				rc |= sum(r, judicial ? S_IMM_JUDICIAL : S_IMM_OTHER, 1);
			}
		}
	}
	if (r->internal) {
		const struct report_agency *a = agency_of(r, e->ori);
		parts[0] = plain_name(e->ori, strlen(e->ori)) ? e->ori : OTHER;
		parts[1] = a ? a->name : "";
		parts[2] = a ? public_category(r, a->category) : "";
		if ((row = tab_row(&r->tabs[T_ORI_REQ], parts)) == NULL)
			return -1;
		row->v[oc]++;
		row->v[O_TOTAL]++;
	}
	return rc ? -1 : 0;
}

/* detail "process.add id=LP-7 kind=court_order ...": the value of key. */
static const char *
detail_value(const char *d, const char *key, char *buf, size_t bufsz)
{
	size_t kl = strlen(key);

	for (const char *p = d; (p = strstr(p, key)) != NULL; p += kl) {
		size_t n;
		if (p != d && p[-1] != ' ')
			continue;
		if (p[kl] != '=')
			continue;
		p += kl + 1;
		n = strcspn(p, " ");
		if (n == 0 || n >= bufsz)
			return NULL;
		memcpy(buf, p, n);
		buf[n] = '\0';
		return buf;
	}
	return NULL;
}

static int
count_registry(struct report *r, const struct audit_entry *e)
{
	size_t n = strcspn(e->detail, " ");
	const char *action = in_list(registry_actions, UTIL_NELEM(registry_actions), e->detail, n);
	char buf[64];
	int rc = tab_add1(&r->tabs[T_REGISTRY], action ? action : OTHER, 0, 1);

	if (action == NULL)
		return rc;
	if (strcmp(action, "process.add") == 0 || strcmp(action, "process.revoke") == 0) {
		const char *kind = detail_value(e->detail, "kind", buf, sizeof buf);
		const char *k2;
		if (kind != NULL && process_kind_parse(kind) >= 0)
			k2 = process_kind_name(process_kind_parse(kind));
		else if ((kind = detail_value(e->detail, "id", buf, sizeof buf)) != NULL)
			k2 = proc_kind(r, kind);
		else
			k2 = UNREGISTERED;
		rc |= tab_add1(&r->tabs[T_PROCESS], k2, action[8] == 'a' ? 0 : 1, 1);
	} else if (strcmp(action, "user.lock") == 0)
		rc |= tab_add1(&r->tabs[T_ALERTS], alert_rows[A_USER_LOCK], 0, 1);
	else if (strcmp(action, "agency.suspend") == 0)
		rc |= tab_add1(&r->tabs[T_ALERTS], alert_rows[A_AGENCY_SUSPEND], 0, 1);
	return rc;
}

int
report_add_record(struct report *r, const struct audit_record *rec)
{
	const struct audit_entry *e = &rec->e;
	int rc = 0;

	if (e->time_us < r->period.from_us || e->time_us >= r->period.to_us)
		return 0;
	if (r->nentries == 0 || e->index < r->first_index)
		r->first_index = e->index;
	if (r->nentries == 0 || e->index > r->last_index)
		r->last_index = e->index;
	r->nentries++;
	rc |= sum(r, S_ENTRIES, 1);
	switch (e->kind) {
	case AUDIT_QUERY:
		rc |= count_query(r, e);
		break;
	case AUDIT_AUTH_FAILURE: {
		const char *why = in_list(auth_reasons, UTIL_NELEM(auth_reasons), e->detail,
		    strlen(e->detail));
		rc |= tab_add1(&r->tabs[T_AUTH], why ? why : OTHER, 0, 1);
		rc |= sum(r, S_AUTHFAIL, 1);
		break;
	}
	case AUDIT_REGISTRY:
		rc |= count_registry(r, e);
		break;
	case AUDIT_ALERT:
		rc |= sum(r, S_ALERTS, 1);
		rc |= tab_add1(&r->tabs[T_ALERTS], alert_rows[A_ALERTS], 0, 1);
		if (strncmp(e->detail, "user suspended", 14) == 0)
			rc |= tab_add1(&r->tabs[T_ALERTS], alert_rows[A_LIMIT_SUSPEND], 0, 1);
		break;
	case AUDIT_CHECKPOINT:
	case AUDIT_VOID:
	default:
		break;
	}
	return rc ? -1 : 0;
}

/* ---- snapshots ---- */

struct proc_load {
	struct report_proc *v;
	size_t n, cap;
	int err;
};

static int
proc_cb(void *arg, const struct process_info *p)
{
	struct proc_load *l = arg;

	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		struct report_proc *nv = realloc(l->v, ncap * sizeof *nv);
		if (nv == NULL) {
			l->err = 1;
			return 1;
		}
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n].id = p->id;
	l->v[l->n].kind = (int)p->kind;
	l->n++;
	return 0;
}

struct agency_load {
	struct report *r;
	struct report_agency *v;
	size_t n, cap;
	int32_t today;
	int err;
};

static int
agency_cb(void *arg, const struct registry_agency *a)
{
	struct agency_load *l = arg;
	struct report *r = l->r;
	const char *cat = public_category(r, a->category);
	int current = a->certified_until >= l->today;
	struct report_row *row;
	const char *parts[REPORT_PARTS];
	char until[11];

	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		struct report_agency *nv = realloc(l->v, ncap * sizeof *nv);
		if (nv == NULL)
			goto fail;
		l->v = nv;
		l->cap = ncap;
	}
	memset(&l->v[l->n], 0, sizeof l->v[l->n]);
	if (util_strlcpy(l->v[l->n].ori, a->ori, sizeof l->v[l->n].ori) < 0 ||
	    util_strlcpy(l->v[l->n].name, a->name, sizeof l->v[l->n].name) < 0 ||
	    util_strlcpy(l->v[l->n].category, a->category, sizeof l->v[l->n].category) < 0) {
		/* registry strings are bounded like ours: cannot happen */
	}
	l->n++;
	parts[0] = cat;
	if ((row = tab_row(&r->tabs[T_AGENCY], parts)) == NULL)
		goto fail;
	row->v[0]++;
	row->v[current ? 1 : 2]++;
	if (a->suspended)
		row->v[3]++;
	if (r->internal) {
		util_date_format(a->certified_until, until);
		parts[0] = a->ori;
		parts[1] = a->name;
		parts[2] = cat;
		parts[3] = until;
		if ((row = tab_row(&r->tabs[T_ORI_AGENCY], parts)) == NULL)
			goto fail;
		row->v[0] = (uint64_t)current;
		row->v[1] = (uint64_t)(a->suspended != 0);
	}
	return 0;
fail:
	l->err = 1;
	return 1;
}

struct notice_load {
	struct report *r;
	int32_t today;
	int err;
};

static int
notice_row_cb(void *arg, const struct notice *n)
{
	struct notice_load *l = arg;
	struct report *r = l->r;
	const struct report_period *p = &r->period;
	const char *parts[REPORT_PARTS] = { public_category(r, n->agency_category), "", "", "" };
	int created = n->created_us >= p->from_us && n->created_us < p->to_us;
	int sent = n->sent_us != 0 && n->sent_us >= p->from_us && n->sent_us < p->to_us;
	struct report_row *row;

	if (!created && !sent)
		return 0;
	if ((row = tab_row(&r->tabs[T_NOTICE], parts)) == NULL) {
		l->err = 1;
		return 1;
	}
	if (created) {
		row->v[0]++;
		if (n->sent_us == 0 && l->today > n->due_day)
			row->v[3]++;
	}
	if (sent) {
		row->v[1]++;
		if (us_day(n->sent_us) > n->due_day)
			row->v[2]++;
	}
	return 0;
}

static int
load_snapshot(struct report *r, const struct report_sources *src, int32_t today)
{
	struct proc_load pl = { 0 };
	struct agency_load al = { 0 };
	struct notice_load nl = { 0 };
	struct report_row *row;
	uint64_t created = 0;

	if (src->pol != NULL && report_set_names(r, src->pol) < 0)
		return -1;
	if (src->proc != NULL) {
		if (process_list(src->proc, proc_cb, &pl) < 0 || pl.err) {
			free(pl.v);
			return -1;
		}
		if (pl.n > 1)
			qsort(pl.v, pl.n, sizeof *pl.v, proc_cmp);
		free(r->procs);
		r->procs = pl.v;
		r->nprocs = pl.n;
	}
	tab_reset(&r->tabs[T_AGENCY]);
	tab_reset(&r->tabs[T_ORI_AGENCY]);
	if (src->reg != NULL) {
		al.r = r;
		al.today = today;
		if (registry_agency_list(src->reg, agency_cb, &al) < 0 || al.err) {
			free(al.v);
			return -1;
		}
		if (al.n > 1)
			qsort(al.v, al.n, sizeof *al.v, agency_cmp);
		free(r->agencies);
		r->agencies = al.v;
		r->nagencies = al.n;
	}
	tab_reset(&r->tabs[T_NOTICE]);
	if (src->notices != NULL) {
		nl.r = r;
		nl.today = today;
		if (notice_list(src->notices, NOTICE_ALL, today, notice_row_cb, &nl) < 0 || nl.err)
			return -1;
	}
	for (size_t i = 0; i < r->tabs[T_NOTICE].n; i++)
		created += r->tabs[T_NOTICE].rows[i].v[0];
	if ((row = tab_row(&r->tabs[T_SUMMARY], (const char *const[]){ summary_rows[S_NOTICES] }))
	    == NULL)
		return -1;
	row->v[0] = created;
	return 0;
}

struct scan_arg {
	struct report *r;
	struct util_progress *pg;
	uint64_t end;
	int err;
};

static int
scan_cb(void *arg, const struct audit_record *rec)
{
	struct scan_arg *a = arg;
	struct report *r = a->r;

	if (rec->e.time_us >= r->period.to_us + REPORT_SLACK_US) {
		r->scan_done = 1;
		return 1;
	}
	if (report_add_record(r, rec) < 0) {
		a->err = 1;
		return -1;
	}
	r->scan_next = rec->e.index + 1;
	if (a->pg != NULL && (rec->e.index & 0xffff) == 0)
		util_progress_update(a->pg, rec->e.index);
	return 0;
}

/* The first index in [lo, hi) whose time is >= t (the log is in time order
 * up to REPORT_SLACK_US); hi when none.  -1 on a read error. */
static int
find_time(struct audit_log *log, uint64_t lo, uint64_t hi, int64_t t, uint64_t *out)
{
	struct audit_record *rec = malloc(sizeof *rec);
	int rc = -1;

	if (rec == NULL)
		return -1;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (audit_get(log, mid, rec) < 0)
			goto out;
		if (rec->e.time_us < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	*out = lo;
	rc = 0;
out:
	free(rec);
	return rc;
}

int
report_update(struct report *r, const struct report_sources *src)
{
	struct scan_arg sa;
	struct util_progress pg;
	uint64_t size, first;
	int32_t today = util_today();
	int rc = -1;

	if (r == NULL || src == NULL || src->log == NULL)
		return -1;
	r->updated_us = util_now_us();
	if (load_snapshot(r, src, today) < 0)
		goto out;
	size = audit_size(src->log);
	first = audit_first(src->log);
	r->log_size = size;
	r->log_first = first;
	if (r->scan_next == UINT64_MAX) {
		uint64_t start;
		if (find_time(src->log, first, size, r->period.from_us - REPORT_SLACK_US, &start) < 0)
			goto out;
		r->scan_next = start;
		/* entries of the period may have been pruned */
		if (first > 0 && start == first) {
			struct audit_record *rec = malloc(sizeof *rec);
			if (rec == NULL)
				goto out;
			if (first < size && audit_get(src->log, first, rec) == 0 &&
			    rec->e.time_us > r->period.from_us)
				r->pruned = 1;
			if (first >= size)
				r->pruned = 1;
			free(rec);
		}
	}
	if (!r->scan_done && r->scan_next < size) {
		memset(&sa, 0, sizeof sa);
		sa.r = r;
		sa.end = size;
		if (src->progress) {
			util_progress_init(&pg, "report", size);
			sa.pg = &pg;
		}
		rc = audit_scan(src->log, r->scan_next, size, scan_cb, &sa);
		if (sa.pg != NULL)
			util_progress_done(&pg);
		if (rc < 0 || sa.err) {
			rc = -1;
			goto out;
		}
	}
	free(r->cp);
	r->cp = NULL;
	if ((r->cp = malloc(sizeof *r->cp)) == NULL)
		goto out;
	if (audit_latest_checkpoint(src->log, r->cp) < 0) {
		free(r->cp);
		r->cp = NULL;
	}
	r->verifier[0] = r->retired[0] = '\0';
	if (src->verifier != NULL) {
		/* current key, then the retired ones (one a line) */
		size_t cur = strcspn(src->verifier, "\n");
		const char *rest = src->verifier + cur + (src->verifier[cur] == '\n');
		if (cur < sizeof r->verifier) {
			memcpy(r->verifier, src->verifier, cur);
			r->verifier[cur] = '\0';
		}
		if (util_strlcpy(r->retired, rest, sizeof r->retired) < 0)
			r->retired[0] = '\0';
	}
	if (util_strlcpy(r->origin, audit_origin(src->log) ? audit_origin(src->log) : "",
	    sizeof r->origin) < 0)
		r->origin[0] = '\0';
	r->updated = 1;
	rc = 0;
out:
	return rc;
}

int
report_get(const struct report *r, const char *table, const char *key, const char *measure,
    uint64_t *v)
{
	for (int t = 0; t < T_COUNT; t++) {
		const struct report_tab *tab = &r->tabs[t];
		const struct report_tabdef *d = tab->def;
		int m = -1;

		if (strcmp(d->id, table) != 0)
			continue;
		for (int i = 0; i < d->nmeas; i++)
			if (strcmp(d->meas[i], measure) == 0)
				m = i;
		if (m < 0)
			return -1;
		for (size_t i = 0; i < tab->n; i++) {
			char buf[1024];
			size_t n = 0;
			for (int j = 0; j < d->nkey; j++)
				n += (size_t)snprintf(buf + n, n < sizeof buf ? sizeof buf - n : 0, "%s%s",
				    j ? "|" : "", tab->rows[i].part[j]);
			if (n < sizeof buf && strcmp(buf, key) == 0) {
				*v = tab->rows[i].v[m];
				return 0;
			}
		}
		return -1;
	}
	return -1;
}

/* ---- shared render helpers ---- */

static int
row_cmp(const void *a, const void *b, void *arg)
{
	const struct report_tab *t = arg;
	const struct report_row *x = &t->rows[*(const size_t *)a], *y = &t->rows[*(const size_t *)b];

	for (int j = 0; j < t->def->nparts; j++) {
		int c = strcmp(x->part[j], y->part[j]);
		if (c)
			return c;
	}
	return 0;
}

size_t *
report_row_order(const struct report_tab *t)
{
	size_t *ord = malloc((t->n ? t->n : 1) * sizeof *ord);

	if (ord == NULL)
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		ord[i] = i;
	if (t->def->sorted && t->n > 1)
		qsort_r(ord, t->n, sizeof *ord, row_cmp, (void *)t);
	return ord;
}

int
report_tab_visible(const struct report *r, int t)
{
	return !report_tabdefs[t].internal || r->internal;
}

void
report_tab_total(const struct report_tab *t, uint64_t tot[REPORT_MEASURES])
{
	memset(tot, 0, REPORT_MEASURES * sizeof *tot);
	for (size_t i = 0; i < t->n; i++)
		for (int m = 0; m < t->def->nmeas; m++)
			tot[m] += t->rows[i].v[m];
}

int
report_signature_line(const struct report *r, char *out, size_t outsz)
{
	const char *t, *p, *best = NULL;
	size_t n = 0;

	out[0] = '\0';
	if (r->cp == NULL)
		return -1;
	t = r->cp->text;
	/* the last line starting with the em dash of signed notes */
	for (p = t; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, "\xe2\x80\x94 ", 4) == 0) {
			best = p;
			n = strcspn(p, "\n");
		}
	if (best == NULL || n >= outsz)
		return -1;
	memcpy(out, best, n);
	out[n] = '\0';
	return 0;
}

void
report_period_text(const struct report *r, char from[11], char last[11])
{
	util_date_format(us_day(r->period.from_us), from);
	util_date_format(us_day(r->period.to_us) - 1, last);
}

int
report_complete(const struct report *r, int64_t now_us)
{
	return now_us >= r->period.to_us;
}

const char *const report_verify_steps[REPORT_VERIFY_STEPS] = {
	"Fetch the latest signed checkpoint from the gateway (GET /v1/checkpoint) and check its "
	"signature with the public key shown here (keys retired by a rotation: GET "
	"/v1/checkpoint/keys); every later checkpoint must contain this tree (`dmvgate audit "
	"consistency OLD NEW` prints the proof).",
	"At the DMV, or for an auditor with a copy of the log: `dmvgate audit verify --key "
	"VERIFIER` recomputes every entry, the whole Merkle tree and every signed checkpoint.",
	"A person who received an inclusion proof of an entry about them (`dmvgate audit prove "
	"INDEX`, part of an access-history answer) checks it offline with `dmvgate audit "
	"check-proof FILE --key VERIFIER`.",
	"The figures of this report are recomputed from the same log with `dmvgate report "
	"--quarter QUARTER --format json`; they must agree.",
};

/* ---- JSON ---- */

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else if (*p == '<')
			fputs("\\u003c", f);   /* safe to inline in HTML too */
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void
json_count(FILE *f, uint64_t v, int k)
{
	char buf[32];

	if (report_count_format(v, k, buf, sizeof buf))
		json_str(f, buf);
	else
		fputs(buf, f);
}

static void
json_values(FILE *f, const uint64_t *v, int n, int k)
{
	fputc('[', f);
	for (int m = 0; m < n; m++) {
		if (m)
			fputc(',', f);
		json_count(f, v[m], k);
	}
	fputc(']', f);
}

static int
render_json(const struct report *r, int64_t now_us, FILE *f)
{
	char gen[32], from[11], last[11], hex[2 * AUDIT_HASH_SIZE + 1], sig[AUDIT_NOTE_MAX];
	uint64_t tot[REPORT_MEASURES];
	int first = 1;

	util_time_format(now_us, gen);
	report_period_text(r, from, last);
	fputs("{\"report\":\"dmvgate transparency report\",\"origin\":", f);
	json_str(f, r->origin);
	fputs(",\"period\":{\"label\":", f);
	json_str(f, r->period.label);
	fprintf(f, ",\"from\":\"%s\",\"to\":\"%s\",\"complete\":%s},\"generated\":\"%s\",", from,
	    last, report_complete(r, now_us) ? "true" : "false", gen);
	fprintf(f, "\"internal\":%s,\"suppression\":{\"k\":%d,\"shown_as\":\"<%d\"},",
	    r->internal ? "true" : "false", r->k, r->k);
	fprintf(f, "\"audit\":{\"log_size\":%llu,\"first_kept_index\":%llu,\"entries_in_period\":%llu",
	    (unsigned long long)r->log_size, (unsigned long long)r->log_first,
	    (unsigned long long)r->nentries);
	if (r->nentries > 0)
		fprintf(f, ",\"period_first_index\":%llu,\"period_last_index\":%llu",
		    (unsigned long long)r->first_index, (unsigned long long)r->last_index);
	fprintf(f, ",\"pruned_before_period_end\":%s},\"tables\":[", r->pruned ? "true" : "false");
	for (int t = 0; t < T_COUNT; t++) {
		const struct report_tab *tab = &r->tabs[t];
		const struct report_tabdef *d = tab->def;
		size_t *ord;

		if (!report_tab_visible(r, t))
			continue;
		if ((ord = report_row_order(tab)) == NULL)
			return -1;
		if (!first)
			fputc(',', f);
		first = 0;
		fputs("{\"id\":", f);
		json_str(f, d->id);
		fputs(",\"title\":", f);
		json_str(f, d->title);
		fputs(",\"description\":", f);
		json_str(f, d->desc);
		fputs(",\"keys\":[", f);
		for (int j = 0; j < d->nparts; j++) {
			if (j)
				fputc(',', f);
			json_str(f, d->parts[j]);
		}
		fputs("],\"measures\":[", f);
		for (int m = 0; m < d->nmeas; m++) {
			if (m)
				fputc(',', f);
			json_str(f, d->meas[m]);
		}
		fputs("],\"rows\":[", f);
		for (size_t i = 0; i < tab->n; i++) {
			const struct report_row *row = &tab->rows[ord[i]];
			if (i)
				fputc(',', f);
			fputs("{\"key\":[", f);
			for (int j = 0; j < d->nparts; j++) {
				if (j)
					fputc(',', f);
				json_str(f, row->part[j]);
			}
			fputs("],\"values\":", f);
			json_values(f, row->v, d->nmeas, r->k);
			fputc('}', f);
		}
		fputc(']', f);
		if (d->total && tab->n > 0) {
			report_tab_total(tab, tot);
			fputs(",\"total\":", f);
			json_values(f, tot, d->nmeas, r->k);
		}
		fputc('}', f);
		free(ord);
	}
	fputs("],\"checkpoint\":", f);
	if (r->cp != NULL) {
		util_hex(r->cp->root, AUDIT_HASH_SIZE, hex);
		fputs("{\"origin\":", f);
		json_str(f, r->cp->origin);
		fprintf(f, ",\"tree_size\":%llu,\"root_hash\":\"%s\",\"note\":",
		    (unsigned long long)r->cp->size, hex);
		json_str(f, r->cp->text);
		fputs(",\"signature\":", f);
		json_str(f, report_signature_line(r, sig, sizeof sig) == 0 ? sig : "");
		fputs(",\"verifier\":", f);
		json_str(f, r->verifier);
		fputs(",\"retired_verifiers\":[", f);
		for (const char *p = r->retired; *p != '\0';) {
			size_t n = strcspn(p, "\n");
			char one[256];
			if (n < sizeof one) {
				memcpy(one, p, n);
				one[n] = '\0';
				if (p != r->retired)
					fputc(',', f);
				json_str(f, one);
			}
			p += n + (p[n] == '\n');
		}
		fputs("]}", f);
	} else
		fputs("null", f);
	fputs(",\"how_to_verify\":[", f);
	for (int i = 0; i < REPORT_VERIFY_STEPS; i++) {
		if (i)
			fputc(',', f);
		json_str(f, report_verify_steps[i]);
	}
	fputs("]}\n", f);
	return 0;
}

/* ---- CSV ---- */

static void
csv_field(FILE *f, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void
csv_row(FILE *f, const char *table, const char *const *parts, int nparts, const char *measure,
    const char *value)
{
	csv_field(f, table);
	for (int j = 0; j < REPORT_PARTS; j++) {
		fputc(',', f);
		if (j < nparts)
			csv_field(f, parts[j]);
	}
	fputc(',', f);
	csv_field(f, measure);
	fputc(',', f);
	csv_field(f, value);
	fputs("\r\n", f);
}

static int
render_csv(const struct report *r, int64_t now_us, FILE *f)
{
	char gen[32], from[11], last[11], buf[64], hex[2 * AUDIT_HASH_SIZE + 1];
	char sig[AUDIT_NOTE_MAX];
	uint64_t tot[REPORT_MEASURES];

	util_time_format(now_us, gen);
	report_period_text(r, from, last);
	fputs("table,key1,key2,key3,key4,measure,value\r\n", f);
#define META(name, val) csv_row(f, "meta", (const char *const[]){ name }, 1, "value", val)
	META("report", "dmvgate transparency report");
	META("origin", r->origin);
	META("period", r->period.label);
	META("from", from);
	META("to", last);
	META("complete", report_complete(r, now_us) ? "true" : "false");
	META("generated", gen);
	META("internal", r->internal ? "true" : "false");
	snprintf(buf, sizeof buf, "%d", r->k);
	META("suppression_k", buf);
	snprintf(buf, sizeof buf, "%llu", (unsigned long long)r->log_size);
	META("log_size", buf);
	snprintf(buf, sizeof buf, "%llu", (unsigned long long)r->nentries);
	META("entries_in_period", buf);
	META("pruned_before_period_end", r->pruned ? "true" : "false");
	if (r->cp != NULL) {
		snprintf(buf, sizeof buf, "%llu", (unsigned long long)r->cp->size);
		META("checkpoint_tree_size", buf);
		util_hex(r->cp->root, AUDIT_HASH_SIZE, hex);
		META("checkpoint_root_hash", hex);
		META("checkpoint_note", r->cp->text);
		if (report_signature_line(r, sig, sizeof sig) == 0)
			META("checkpoint_signature", sig);
		META("checkpoint_verifier", r->verifier);
		for (const char *p = r->retired; *p != '\0';) {
			size_t n = strcspn(p, "\n");
			char one[256];
			if (n < sizeof one) {
				memcpy(one, p, n);
				one[n] = '\0';
				META("checkpoint_retired_verifier", one);
			}
			p += n + (p[n] == '\n');
		}
	}
#undef META
	for (int t = 0; t < T_COUNT; t++) {
		const struct report_tab *tab = &r->tabs[t];
		const struct report_tabdef *d = tab->def;
		size_t *ord;

		if (!report_tab_visible(r, t))
			continue;
		if ((ord = report_row_order(tab)) == NULL)
			return -1;
		for (size_t i = 0; i < tab->n; i++) {
			const struct report_row *row = &tab->rows[ord[i]];
			for (int m = 0; m < d->nmeas; m++) {
				report_count_format(row->v[m], r->k, buf, sizeof buf);
				csv_row(f, d->id, (const char *const *)row->part, d->nparts, d->meas[m], buf);
			}
		}
		if (d->total && tab->n > 0) {
			report_tab_total(tab, tot);
			for (int m = 0; m < d->nmeas; m++) {
				report_count_format(tot[m], r->k, buf, sizeof buf);
				csv_row(f, d->id, (const char *const[]){ "(total)", "", "", "" }, d->nparts,
				    d->meas[m], buf);
			}
		}
		free(ord);
	}
	return 0;
}

int
report_render(const struct report *r, enum report_format fmt, int64_t now_us, FILE *f)
{
	int rc;

	if (r == NULL || f == NULL)
		return -1;
	if (now_us == 0)
		now_us = util_now_us();
	switch (fmt) {
	case REPORT_JSON:
		rc = render_json(r, now_us, f);
		break;
	case REPORT_CSV:
		rc = render_csv(r, now_us, f);
		break;
	case REPORT_HTML:
		rc = report_render_html(r, now_us, f);
		break;
	default:
		rc = -1;
		break;
	}
	if (rc == 0 && (fflush(f) != 0 || ferror(f)))
		rc = -1;
	return rc;
}

int
report_render_mem(const struct report *r, enum report_format fmt, int64_t now_us, char **out,
    size_t *len)
{
	FILE *f;
	int rc;

	*out = NULL;
	*len = 0;
	if ((f = open_memstream(out, len)) == NULL)
		return -1;
	rc = report_render(r, fmt, now_us, f);
	if (fclose(f) != 0)
		rc = -1;
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*len = 0;
	}
	return rc;
}

/* ---- the server's cache ----
 *
 * Two locks: mu guards the rendered bodies and is only held to copy them;
 * build (taken with trylock) is held by the one worker that brings a
 * quarter's report up to date and renders it.  Any other request meanwhile
 * gets the previous bodies at once (or 503 while the very first report is
 * being made), so at most one server thread is ever busy with reports.
 */

struct cache_slot {
	struct report *r;                /* only touched under build */
	char label[REPORT_LABEL_MAX];    /* the quarter of the bodies */
	uint64_t refreshed_ns;           /* monotonic time of the last update */
	char *body[3];                   /* under mu */
	size_t len[3];
};

struct report_cache {
	pthread_mutex_t mu, build;
	char *datadir;
	int k;
	struct registry *reg;            /* under build */
	struct process_db *proc;
	struct notice_db *notices;
	char verifier[2304];             /* key_history: current + retired */
	struct cache_slot slot[2];       /* current, previous quarter */
};

struct report_cache *
report_cache_new(const char *datadir, int k)
{
	struct report_cache *c = util_calloc(1, sizeof *c);

	if (c == NULL)
		return NULL;
	if ((c->datadir = util_strdup(datadir)) == NULL) {
		free(c);
		return NULL;
	}
	c->k = k > 0 && k <= REPORT_K_MAX ? k : REPORT_K_DEFAULT;
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->build, NULL);
	return c;
}

static void
slot_clear(struct cache_slot *s)
{
	report_free(s->r);
	for (int i = 0; i < 3; i++)
		free(s->body[i]);
	memset(s, 0, sizeof *s);
}

void
report_cache_free(struct report_cache *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < 2; i++)
		slot_clear(&c->slot[i]);
	registry_close(c->reg);
	process_close(c->proc);
	notice_close(c->notices);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->build);
	free(c->datadir);
	free(c);
}

static int
cache_open(struct report_cache *c)
{
	char path[PATH_MAX];
	char *pub = NULL;

	if (c->reg != NULL)
		return 0;
	if (datadir_path(c->datadir, DATADIR_REGISTRY, path, sizeof path) < 0)
		return -1;
	if ((c->reg = registry_open(path)) == NULL || (c->proc = process_open(path)) == NULL ||
	    (c->notices = notice_open(c->datadir)) == NULL) {
		registry_close(c->reg);
		process_close(c->proc);
		c->reg = NULL;
		c->proc = NULL;
		return -1;
	}
	if ((pub = key_history(c->datadir)) != NULL) {
		if (util_strlcpy(c->verifier, pub, sizeof c->verifier) < 0)
			c->verifier[0] = '\0';
		free(pub);
	}
	return 0;
}

static void
set_error(unsigned st, const char *code, const char *msg, unsigned *status, char **body,
    size_t *len, const char **ctype)
{
	*status = st;
	*ctype = "application/json";
	*body = util_aprintf("{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n", code, msg);
	*len = *body ? strlen(*body) : 0;
}

/*
 * Under c->build: brings slot s (quarter want) up to date and renders the
 * three formats; swaps the bodies in under c->mu.  Returns 0 or -1.
 */
static int
cache_rebuild(struct report_cache *c, struct cache_slot *s, const struct report_period *want,
    struct audit_log *log, const struct policy *pol, uint64_t now_ns)
{
	struct report_sources src;
	char *body[3] = { NULL, NULL, NULL };
	size_t len[3] = { 0, 0, 0 };
	int rc = -1;

	if (s->r != NULL && strcmp(s->r->period.label, want->label) != 0) {
		report_free(s->r);       /* the quarter rolled over */
		s->r = NULL;
	}
	if (cache_open(c) < 0)
		goto out;
	if (s->r == NULL && (s->r = report_new(want, c->k, 0)) == NULL)
		goto out;
	memset(&src, 0, sizeof src);
	src.log = log;
	src.pol = pol;
	src.reg = c->reg;
	src.proc = c->proc;
	src.notices = c->notices;
	src.verifier = c->verifier;
	if (report_update(s->r, &src) < 0) {
		report_free(s->r);       /* start again next time */
		s->r = NULL;
		goto out;
	}
	for (int f = 0; f < 3; f++)
		if (report_render_mem(s->r, (enum report_format)f, s->r->updated_us, &body[f],
		    &len[f]) < 0)
			goto out;
	pthread_mutex_lock(&c->mu);
	for (int f = 0; f < 3; f++) {
		free(s->body[f]);
		s->body[f] = body[f];
		s->len[f] = len[f];
		body[f] = NULL;
	}
	memcpy(s->label, want->label, sizeof s->label);
	s->refreshed_ns = now_ns;
	pthread_mutex_unlock(&c->mu);
	rc = 0;
out:
	for (int f = 0; f < 3; f++)
		free(body[f]);
	return rc;
}

int
report_cache_http(struct report_cache *c, struct audit_log *log, const struct policy *pol,
    const char *path, const char *quarter, unsigned *status, char **body, size_t *len,
    const char **ctype)
{
	struct report_period cur, prev, want;
	struct cache_slot *s;
	int fmt, fresh, have;
	uint64_t now_ns = util_mono_ns();

	*body = NULL;
	*len = 0;
	if (strcmp(path, "/transparency") == 0) {
		fmt = REPORT_HTML;
		*ctype = "text/html; charset=utf-8";
	} else if (strcmp(path, "/transparency.json") == 0) {
		fmt = REPORT_JSON;
		*ctype = "application/json";
	} else if (strcmp(path, "/transparency.csv") == 0) {
		fmt = REPORT_CSV;
		*ctype = "text/csv; charset=utf-8";
	} else {
		set_error(404, "not_found", "no such endpoint", status, body, len, ctype);
		return *body ? 0 : -1;
	}
	report_period_of_time(util_now_us(), &cur);
	if (report_period_previous(&cur, &prev) < 0)
		return -1;
	if (quarter == NULL || quarter[0] == '\0')
		want = cur;
	else if (report_period_quarter(quarter, &want) < 0 ||
	    (want.from_us != cur.from_us && want.from_us != prev.from_us)) {
		set_error(400, "invalid_quarter",
		    "quarter must be the current or the previous quarter, e.g. 2026Q3", status, body,
		    len, ctype);
		return *body ? 0 : -1;
	}
	s = &c->slot[want.from_us == cur.from_us ? 0 : 1];

	pthread_mutex_lock(&c->mu);
	have = s->body[fmt] != NULL && strcmp(s->label, want.label) == 0;
	fresh = have && now_ns - s->refreshed_ns < (uint64_t)REPORT_CACHE_SECONDS * 1000000000u;
	pthread_mutex_unlock(&c->mu);
	if (!fresh && pthread_mutex_trylock(&c->build) == 0) {
		/* this thread updates; the others keep serving what there is */
		pthread_mutex_lock(&c->mu);
		have = s->body[fmt] != NULL && strcmp(s->label, want.label) == 0;
		fresh = have && now_ns - s->refreshed_ns < (uint64_t)REPORT_CACHE_SECONDS * 1000000000u;
		pthread_mutex_unlock(&c->mu);
		if (!fresh && cache_rebuild(c, s, &want, log, pol, now_ns) < 0)
			util_errx("serve: the transparency report for %s could not be made", want.label);
		pthread_mutex_unlock(&c->build);
	}
	pthread_mutex_lock(&c->mu);
	if (s->body[fmt] != NULL && strcmp(s->label, want.label) == 0 &&
	    (*body = malloc(s->len[fmt] ? s->len[fmt] : 1)) != NULL) {
		memcpy(*body, s->body[fmt], s->len[fmt]);
		*len = s->len[fmt];
	}
	have = s->body[fmt] != NULL && strcmp(s->label, want.label) == 0;
	pthread_mutex_unlock(&c->mu);
	if (*body != NULL) {
		*status = 200;
		return 0;
	}
	if (have)
		return -1;     /* allocation failed */
	set_error(503, "report_unavailable",
	    "the report is being prepared or cannot be made now; try again shortly", status, body,
	    len, ctype);
	return *body ? 0 : -1;
}
