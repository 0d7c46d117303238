/*
 * test_report.c - the transparency report (report.h): periods, the
 * small-count suppression at k-1 and k, the counting of every entry kind
 * into its tables, names the policy does not declare, the row bound, the
 * three renderers agreeing and escaping, and report_update over a real log
 * in a temporary data directory (binary search to the period, entries
 * outside it, incremental updates, a corrupt entry refused without a
 * crash).
 */
#include "testutil.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include <jansson.h>

#include "audit.h"
#include "datadir.h"
#include "policy.h"
#include "report.h"
#include "util.h"

static const char policy_src[] =
    "categories local_police federal_immigration court\n"
    "purposes criminal_investigation civil_immigration_enforcement court_proceeding\n"
    "processes judicial_warrant court_order\n"
    "items identity = license_number last_name\n"
    "forbid \"no-bulk\" cite \"NILC <b>&'rec'</b>\" when by in {address}\n"
    "forbid \"immigration\" cite \"NY VTL 201(12)\" when category == federal_immigration\n"
    "permit \"police\" cite \"18 USC 2721(b)(1)\" when category == local_police release identity\n";

static struct policy *
load_policy(void)
{
	struct policy_errors e;
	struct policy *p;

	policy_errors_init(&e);
	p = policy_load_mem("t.policy", policy_src, strlen(policy_src), &e);
	if (p == NULL)
		fprintf(stderr, "%s", e.text ? e.text : "");
	policy_errors_free(&e);
	assert_non_null(p);
	return p;
}

static int64_t
t_us(const char *s)
{
	int64_t us;

	assert_int_equal(util_time_parse(s, &us), 0);
	return us;
}

/* An entry of kind with the given outcome, encoded and decoded into rec. */
struct ent {
	enum audit_kind kind;
	const char *time, *category, *purpose, *channel, *ori, *legal_process, *detail;
	int decision, status;
	const char *rules[3];
	int nrules;
};

static void
make_record(const struct ent *x, uint64_t index, struct audit_record *rec)
{
	struct audit_entry e;
	uint8_t buf[AUDIT_ENTRY_MAX];
	long n;
	const char *why = NULL;

	memset(&e, 0, sizeof e);
	e.kind = x->kind;
	e.time_us = t_us(x->time);
	e.ori = x->ori ? x->ori : "CA0010000";
	e.user = "officer1";
	e.category = x->category ? x->category : "";
	e.channel = x->channel ? x->channel : "json";
	e.purpose = x->purpose ? x->purpose : "";
	e.reason = "case 1";
	e.legal_process = x->legal_process ? x->legal_process : "";
	e.decision = (enum audit_decision)x->decision;
	e.status = x->status;
	e.detail = x->detail ? x->detail : "";
	for (int i = 0; i < x->nrules; i++)
		e.rules[i] = x->rules[i];
	e.nrules = x->nrules;
	n = audit_entry_encode(&e, index, "test.local/audit", buf, sizeof buf, &why);
	if (n < 0)
		fprintf(stderr, "encode: %s\n", why ? why : "?");
	assert_true(n > 0);
	assert_int_equal(audit_entry_decode(buf, (size_t)n, rec, &why), 0);
}

static void
add(struct report *r, const struct ent *x, int times)
{
	static uint64_t index;
	struct audit_record *rec = malloc(sizeof *rec);

	assert_non_null(rec);
	for (int i = 0; i < times; i++) {
		make_record(x, index++, rec);
		assert_int_equal(report_add_record(r, rec), 0);
	}
	free(rec);
}

static uint64_t
get(const struct report *r, const char *table, const char *key, const char *measure)
{
	uint64_t v = 12345678;

	if (report_get(r, table, key, measure, &v) != 0)
		fail_msg("no %s / %s / %s", table, key, measure);
	return v;
}

/* ---- periods and suppression ---- */

static void
periods(void **state)
{
	struct report_period p, q;

	(void)state;
	assert_int_equal(report_period_quarter("2026Q3", &p), 0);
	assert_int_equal(p.from_us, t_us("2026-07-01"));
	assert_int_equal(p.to_us, t_us("2026-10-01"));
	assert_string_equal(p.label, "2026Q3");
	assert_int_equal(report_period_quarter("2026q4", &p), 0);
	assert_int_equal(p.to_us, t_us("2027-01-01"));
	assert_int_equal(report_period_quarter("2026-Q1", &p), 0);
	assert_int_equal(p.from_us, t_us("2026-01-01"));
	assert_int_equal(report_period_previous(&p, &q), 0);
	assert_string_equal(q.label, "2025Q4");
	assert_int_equal(q.to_us, p.from_us);
	for (const char *bad[] = { "2026Q5", "2026Q0", "2026", "26Q1", "2026Q1x", "", "abcdQ1",
	    "1969Q4" }, **b = bad; b < bad + 8; b++)
		assert_int_equal(report_period_quarter(*b, &p), -1);
	assert_int_equal(report_period_dates("2026-02-01", "2026-02-28", &p), 0);
	assert_int_equal(p.to_us, t_us("2026-03-01"));
	assert_string_equal(p.label, "2026-02-01..2026-02-28");
	assert_int_equal(report_period_dates("2026-02-02", "2026-02-01", &p), -1);
	assert_int_equal(report_period_dates("2026-02-30", "2026-03-01", &p), -1);
	assert_int_equal(report_period_previous(&p, &q), -1);   /* not a quarter */
	report_period_of_time(t_us("2026-11-26T14:00:00.000000Z"), &p);
	assert_string_equal(p.label, "2026Q4");
	report_period_of_time(t_us("2026-12-31T23:59:59.999999Z"), &p);
	assert_string_equal(p.label, "2026Q4");
	report_period_of_time(t_us("2027-01-01"), &p);
	assert_string_equal(p.label, "2027Q1");
	assert_int_equal(report_format_parse("json"), REPORT_JSON);
	assert_int_equal(report_format_parse("html"), REPORT_HTML);
	assert_int_equal(report_format_parse("xml"), -1);
}

static void
suppression(void **state)
{
	char buf[24];

	(void)state;
	assert_int_equal(report_count_format(0, 10, buf, sizeof buf), 0);
	assert_string_equal(buf, "0");
	assert_int_equal(report_count_format(1, 10, buf, sizeof buf), 1);
	assert_string_equal(buf, "<10");
	assert_int_equal(report_count_format(9, 10, buf, sizeof buf), 1);   /* k-1: hidden */
	assert_string_equal(buf, "<10");
	assert_int_equal(report_count_format(10, 10, buf, sizeof buf), 0);  /* k: shown */
	assert_string_equal(buf, "10");
	assert_int_equal(report_count_format(4, 5, buf, sizeof buf), 1);
	assert_string_equal(buf, "<5");
	assert_int_equal(report_count_format(3, 1, buf, sizeof buf), 0);    /* k=1: nothing hidden */
	assert_string_equal(buf, "3");
	assert_int_equal(report_count_format(UINT64_MAX, 10, buf, sizeof buf), 0);
	assert_string_equal(buf, "18446744073709551615");
}

/* ---- counting ---- */

static struct report *
scripted(int internal, int k)
{
	struct report_period p;
	struct report *r;
	struct policy *pol = load_policy();
	const struct ent police = { AUDIT_QUERY, "2026-08-01T10:00:00.000000Z", "local_police",
		"criminal_investigation", "json", "CA0010000", NULL, NULL, AUDIT_PERMIT, 200,
		{ "police" }, 1 };
	const struct ent bulk = { AUDIT_QUERY, "2026-08-02T10:00:00.000000Z", "local_police",
		"criminal_investigation", "nlets", "CA0010000", NULL, "forbidden", AUDIT_DENY, 403,
		{ "no-bulk" }, 1 };
	const struct ent ice = { AUDIT_QUERY, "2026-08-03T10:00:00.000000Z", "federal_immigration",
		"civil_immigration_enforcement", "json", "DC0040000", "LP-99", "forbidden", AUDIT_DENY,
		403, { "immigration", "no-bulk" }, 2 };
	const struct ent limited = { AUDIT_QUERY, "2026-08-04T10:00:00.000000Z", "local_police",
		"criminal_investigation", "json", "CA0010000", NULL,
		"limit \"sweep\": 200 subjects per 3600 s per user (then suspend)", AUDIT_DENY, 429,
		{ "police" }, 1 };
	const struct ent invalid = { AUDIT_QUERY, "2026-08-05T10:00:00.000000Z", "court", NULL,
		"json", "CA0050000", NULL, "missing_field: x", AUDIT_DENY, 400, { NULL }, 0 };
	const struct ent fishy = { AUDIT_QUERY, "2026-08-06T10:00:00.000000Z", "court",
		"john_smith_1970", "carrier_pigeon", "CA0050000", NULL, "purpose not declared",
		AUDIT_DENY, 403, { NULL }, 0 };
	const struct ent withdrawn = { AUDIT_QUERY, "2026-08-06T11:00:00.000000Z", "court",
		"court_proceeding", "json", "CA0050000", NULL,
		"the agency's certification has expired", AUDIT_DENY, 403, { "police" }, 1 };
	const struct ent before = { AUDIT_QUERY, "2026-06-30T23:59:59.999999Z", "local_police",
		"criminal_investigation", "json", "CA0010000", NULL, NULL, AUDIT_PERMIT, 200,
		{ "police" }, 1 };
	const struct ent after = { AUDIT_QUERY, "2026-10-01T00:00:00.000000Z", "local_police",
		"criminal_investigation", "json", "CA0010000", NULL, NULL, AUDIT_PERMIT, 200,
		{ "police" }, 1 };
	const struct ent authf = { AUDIT_AUTH_FAILURE, "2026-08-07T10:00:00.000000Z", "", NULL,
		"json", "", NULL, "bad_secret", AUDIT_DENY, 401, { NULL }, 0 };
	const struct ent authx = { AUDIT_AUTH_FAILURE, "2026-08-07T10:00:00.000000Z", "", NULL,
		"json", "", NULL, "Mr <Smith>", AUDIT_DENY, 401, { NULL }, 0 };
	const struct ent alert = { AUDIT_ALERT, "2026-08-08T10:00:00.000000Z", "local_police", NULL,
		"json", "CA0010000", NULL, "user suspended: limit \"sweep\"", 0, 0, { NULL }, 0 };
	const struct ent lock = { AUDIT_REGISTRY, "2026-08-08T10:00:01.000000Z", "", NULL, "cli",
		"CA0010000", NULL, "user.lock failures=5 window=15m", 0, 0, { NULL }, 0 };
	const struct ent padd = { AUDIT_REGISTRY, "2026-08-09T10:00:00.000000Z", "", NULL, "cli",
		"DC0040000", NULL, "process.add id=LP-1 kind=court_order agency=DC0040000", 0, 0,
		{ NULL }, 0 };
	const struct ent weird = { AUDIT_REGISTRY, "2026-08-09T10:00:00.000000Z", "", NULL, "cli",
		"", NULL, "drop.table everything", 0, 0, { NULL }, 0 };

	assert_int_equal(report_period_quarter("2026Q3", &p), 0);
	r = report_new(&p, k, internal);
	assert_non_null(r);
	assert_int_equal(report_set_names(r, pol), 0);
	policy_free(pol);
	add(r, &police, 10);       /* k: shown */
	add(r, &bulk, 9);          /* k-1: hidden */
	add(r, &ice, 3);
	add(r, &limited, 2);
	add(r, &invalid, 1);
	add(r, &fishy, 1);
	add(r, &withdrawn, 1);
	add(r, &before, 5);        /* outside the period */
	add(r, &after, 5);
	add(r, &authf, 4);
	add(r, &authx, 1);
	add(r, &alert, 1);
	add(r, &lock, 1);
	add(r, &padd, 2);
	add(r, &weird, 1);
	return r;
}

static void
counting(void **state)
{
	struct report *r = scripted(0, 10);

	(void)state;
	assert_int_equal(get(r, "summary", "audit entries in the period", "count"), 37);
	assert_int_equal(get(r, "summary", "requests decided", "count"), 27);
	assert_int_equal(get(r, "summary", "requests permitted", "count"), 10);
	assert_int_equal(get(r, "summary", "requests denied by the policy", "count"), 14);
	assert_int_equal(get(r, "summary", "requests stopped by a limit", "count"), 2);
	assert_int_equal(get(r, "summary", "malformed requests refused", "count"), 1);
	assert_int_equal(get(r, "requests", "local_police|criminal_investigation", "permit"), 10);
	assert_int_equal(get(r, "requests", "local_police|criminal_investigation", "deny"), 9);
	assert_int_equal(get(r, "requests", "local_police|criminal_investigation", "limited"), 2);
	assert_int_equal(get(r, "requests", "local_police|criminal_investigation", "total"), 21);
	assert_int_equal(get(r, "requests_by_category", "local_police", "total"), 21);
	assert_int_equal(get(r, "requests_by_category", "court", "invalid"), 1);
	/* no purpose, and a purpose the policy does not declare */
	assert_int_equal(get(r, "requests", "court|(none)", "invalid"), 1);
	assert_int_equal(get(r, "requests", "court|(undeclared)", "deny"), 1);
	assert_int_equal(report_get(r, "requests", "court|john_smith_1970", "deny",
	    &(uint64_t){ 0 }), -1);
	assert_int_equal(get(r, "requests_by_channel", "json", "total"), 17);
	assert_int_equal(get(r, "requests_by_channel", "nlets", "deny"), 9);
	assert_int_equal(get(r, "requests_by_channel", "(other)", "deny"), 1);
	/* a denial names every forbidding rule */
	assert_int_equal(get(r, "denials_by_rule", "no-bulk", "denials"), 12);
	assert_int_equal(get(r, "denials_by_rule", "immigration", "denials"), 3);
	assert_int_equal(get(r, "denials_by_rule", "(no rule named)", "denials"), 1);
	/* a denial naming only a permit rule: withdrawn by the gateway */
	assert_int_equal(get(r, "denials_by_rule", "(permit withdrawn by the gateway)", "denials"), 1);
	assert_int_equal(get(r, "limits", "sweep", "requests"), 2);
	assert_int_equal(get(r, "legal_process", "unregistered", "cited"), 3);
	assert_int_equal(get(r, "legal_process", "unregistered", "refused"), 3);
	assert_int_equal(get(r, "legal_process", "court_order", "registered"), 2);
	assert_int_equal(get(r, "summary", "requests by immigration agencies or for civil immigration "
	    "enforcement", "count"), 3);
	assert_int_equal(get(r, "summary", "... permitted without a judicial warrant or court order",
	    "count"), 0);
	assert_int_equal(get(r, "authentication_failures", "bad_secret", "requests"), 4);
	assert_int_equal(get(r, "authentication_failures", "(other)", "requests"), 1);
	assert_int_equal(get(r, "alerts_and_suspensions", "alerts raised", "count"), 1);
	assert_int_equal(get(r, "alerts_and_suspensions", "users suspended by a limit", "count"), 1);
	assert_int_equal(get(r, "alerts_and_suspensions", "users locked", "count"), 1);
	assert_int_equal(get(r, "registry_changes", "process.add", "count"), 2);
	assert_int_equal(get(r, "registry_changes", "(other)", "count"), 1);
	/* public: no per-agency table */
	assert_int_equal(report_get(r, "requests_by_agency", "CA0010000", "total", &(uint64_t){ 0 }),
	    -1);
	report_free(r);

	r = scripted(1, 1);
	assert_int_equal(get(r, "requests_by_agency", "CA0010000", "total"), 21);
	assert_int_equal(get(r, "requests_by_agency", "DC0040000", "deny"), 3);
	report_free(r);
}

static const char *
json_value(json_t *root, const char *table, const char *key0, const char *key1,
    const char *measure, char *buf, size_t bufsz)
{
	json_t *tables = json_object_get(root, "tables"), *t;
	size_t i, j;

	json_array_foreach(tables, i, t) {
		json_t *rows, *row, *meas = json_object_get(t, "measures"), *m;
		int mi = -1;
		if (strcmp(json_string_value(json_object_get(t, "id")), table) != 0)
			continue;
		json_array_foreach(meas, j, m)
			if (strcmp(json_string_value(m), measure) == 0)
				mi = (int)j;
		assert_true(mi >= 0);
		rows = json_object_get(t, "rows");
		json_array_foreach(rows, j, row) {
			json_t *key = json_object_get(row, "key"), *v;
			if (strcmp(json_string_value(json_array_get(key, 0)), key0) != 0 ||
			    (key1 && strcmp(json_string_value(json_array_get(key, 1)), key1) != 0))
				continue;
			v = json_array_get(json_object_get(row, "values"), (size_t)mi);
			if (json_is_integer(v))
				snprintf(buf, bufsz, "%lld", (long long)json_integer_value(v));
			else
				snprintf(buf, bufsz, "%s", json_string_value(v));
			return buf;
		}
	}
	return NULL;
}

static void
renderers_agree(void **state)
{
	struct report *r = scripted(0, 10);
	char *js = NULL, *csv = NULL, *html = NULL, buf[64];
	size_t jl, cl, hl;
	json_error_t err;
	json_t *root;
	int64_t now = t_us("2026-11-26T12:00:00.000000Z");

	(void)state;
	assert_int_equal(report_render_mem(r, REPORT_JSON, now, &js, &jl), 0);
	assert_int_equal(report_render_mem(r, REPORT_CSV, now, &csv, &cl), 0);
	assert_int_equal(report_render_mem(r, REPORT_HTML, now, &html, &hl), 0);
	root = json_loadb(js, jl, 0, &err);
	if (root == NULL)
		fail_msg("JSON: %s at %d", err.text, err.position);
	assert_string_equal(json_string_value(json_object_get(json_object_get(root, "period"),
	    "label")), "2026Q3");
	assert_true(json_is_true(json_object_get(json_object_get(root, "period"), "complete")));
	/* k: shown as a number, k-1: "<10" */
	assert_string_equal(json_value(root, "requests", "local_police", "criminal_investigation",
	    "permit", buf, sizeof buf), "10");
	assert_string_equal(json_value(root, "requests", "local_police", "criminal_investigation",
	    "deny", buf, sizeof buf), "<10");
	assert_string_equal(json_value(root, "requests_by_category", "court", NULL, "total", buf,
	    sizeof buf), "<10");
	assert_string_equal(json_value(root, "limits", "sweep", NULL, "requests", buf, sizeof buf),
	    "<10");
	assert_string_equal(json_value(root, "requests", "local_police", "criminal_investigation",
	    "invalid", buf, sizeof buf), "0");
	/* CSV and HTML carry the same cells */
	assert_non_null(strstr(csv, "requests,local_police,criminal_investigation,,,permit,10\r\n"));
	assert_non_null(strstr(csv, "requests,local_police,criminal_investigation,,,deny,<10\r\n"));
	assert_non_null(strstr(csv, "summary,requests permitted,,,,count,10\r\n"));
	assert_non_null(strstr(csv, "meta,suppression_k,,,,value,10\r\n"));
	assert_non_null(strstr(html, "<td class=\"n\" data-m=\"permit\">10</td>"));
	assert_non_null(strstr(html, "<td class=\"n\" data-m=\"deny\">&lt;10</td>"));
	/* escaping: the citation holds <b>&'rec'</b> */
	assert_null(strstr(html, "<b>"));
	assert_non_null(strstr(html, "NILC &lt;b&gt;&amp;&#39;rec&#39;&lt;/b&gt;"));
	assert_non_null(strstr(js, "NILC \\u003cb>&'rec'\\u003c/b>"));
	assert_non_null(strstr(csv, "NILC <b>&'rec'</b>"));
	/* a page: language, charts with text alternatives, captions, no script */
	assert_non_null(strstr(html, "<html lang=\"en\">"));
	assert_non_null(strstr(html, "role=\"img\""));
	assert_non_null(strstr(html, "<caption>"));
	assert_null(strstr(html, "<script"));
	assert_null(strstr(html, "http://"));
	assert_null(strstr(html, "https://"));
	/* nothing requester-chosen */
	assert_null(strstr(js, "john_smith"));
	assert_null(strstr(csv, "Smith"));
	assert_null(strstr(html, "carrier_pigeon"));
	assert_null(strstr(html, "CA0010000"));
	json_decref(root);
	free(js);
	free(csv);
	free(html);
	report_free(r);
}

static void
bounded_rows(void **state)
{
	struct report_period p;
	struct report *r;
	struct ent x = { AUDIT_QUERY, "2026-08-01T10:00:00.000000Z", "court", "court_proceeding",
		"json", NULL, NULL, NULL, AUDIT_PERMIT, 200, { NULL }, 0 };
	struct audit_record *rec = malloc(sizeof *rec);
	char ori[16];
	uint64_t other = 0, total = 0;
	const int n = REPORT_MAX_ROWS + 500;

	(void)state;
	assert_non_null(rec);
	assert_int_equal(report_period_quarter("2026Q3", &p), 0);
	r = report_new(&p, 1, 1);
	assert_non_null(r);
	for (int i = 0; i < n; i++) {
		snprintf(ori, sizeof ori, "CA%07d", i);
		x.ori = ori;
		make_record(&x, (uint64_t)i, rec);
		assert_int_equal(report_add_record(r, rec), 0);
	}
	assert_int_equal(report_get(r, "requests_by_agency", "(other)", "total", &other), 0);
	assert_int_equal(other, 500 + 1);   /* the last row is kept for "(other)" */
	for (int i = 0; i < n; i++) {
		uint64_t v = 0;
		snprintf(ori, sizeof ori, "CA%07d", i);
		if (report_get(r, "requests_by_agency", ori, "total", &v) == 0)
			total += v;
	}
	assert_int_equal(total + other, (uint64_t)n);
	assert_int_equal(get(r, "requests_by_category", "(undeclared)", "total"), (uint64_t)n);
	free(rec);
	report_free(r);
}

/* ---- over a real log ---- */

static void
append_at(struct audit_log *log, const char *time, const char *cat, int decision)
{
	struct audit_entry e;

	memset(&e, 0, sizeof e);
	e.kind = AUDIT_QUERY;
	e.time_us = t_us(time);
	e.ori = "CA0010000";
	e.user = "u";
	e.category = cat;
	e.channel = "json";
	e.purpose = "criminal_investigation";
	e.reason = "r";
	e.decision = (enum audit_decision)decision;
	e.status = decision == AUDIT_PERMIT ? 200 : 403;
	assert_int_equal(audit_append_wait(log, &e, NULL), 0);
}

static void
over_a_log(void **state)
{
	char *dir = test_tmpdir(), data[PATH_MAX], auditdir[PATH_MAX + 8];
	struct audit_log *w, *rd;
	struct report_period p;
	struct report_sources src;
	struct report *r, *r2;
	struct policy *pol = load_policy();
	char day[40];

	(void)state;
	snprintf(data, sizeof data, "%s/d", dir);
	assert_int_equal(datadir_init(data, "test.local/audit", 0), 0);
	snprintf(auditdir, sizeof auditdir, "%s/audit", data);
	w = audit_open(auditdir, NULL, AUDIT_WRITE);
	assert_non_null(w);
	/* 200 entries in Q2 (must be skipped by the binary search), 30 in Q3
	 * (12 of them 2 s out of order around the start), 20 in Q4 */
	for (int i = 0; i < 200; i++) {
		snprintf(day, sizeof day, "2026-06-%02dT10:00:00.000000Z", 1 + i % 29);
		append_at(w, i < 199 ? day : "2026-06-30T23:59:59.000000Z", "local_police", AUDIT_PERMIT);
	}
	append_at(w, "2026-07-01T00:00:01.000000Z", "local_police", AUDIT_PERMIT);
	append_at(w, "2026-06-30T23:59:58.000000Z", "local_police", AUDIT_PERMIT);   /* before */
	for (int i = 0; i < 28; i++) {
		snprintf(day, sizeof day, "2026-%02d-15T10:00:00.000000Z", 7 + i % 3);
		append_at(w, day, i % 2 ? "court" : "local_police", i % 4 ? AUDIT_PERMIT : AUDIT_DENY);
	}
	append_at(w, "2026-09-30T23:59:59.999999Z", "court", AUDIT_PERMIT);
	for (int i = 0; i < 20; i++)
		append_at(w, "2026-10-02T10:00:00.000000Z", "court", AUDIT_PERMIT);
	audit_close(w);

	rd = audit_open(auditdir, NULL, AUDIT_RDONLY);
	assert_non_null(rd);
	assert_int_equal(report_period_quarter("2026Q3", &p), 0);
	r = report_new(&p, 10, 0);
	assert_non_null(r);
	memset(&src, 0, sizeof src);
	src.log = rd;
	src.pol = pol;
	assert_int_equal(report_update(r, &src), 0);
	assert_int_equal(get(r, "summary", "requests decided", "count"), 30);
	assert_int_equal(get(r, "requests_by_category", "local_police", "total"), 15);
	assert_int_equal(get(r, "requests_by_category", "court", "total"), 15);
	assert_int_equal(get(r, "requests_by_category", "local_police", "deny"), 7);
	/* an update with nothing new changes nothing */
	assert_int_equal(report_update(r, &src), 0);
	assert_int_equal(get(r, "summary", "requests decided", "count"), 30);
	audit_close(rd);

	/* more entries, then an incremental update sees only them; an entry
	 * logged more than a day after its period ended is not counted */
	r2 = report_new(&(struct report_period){ t_us("2026-10-01"), t_us("2027-01-01"), "2026Q4" },
	    10, 0);
	assert_non_null(r2);
	w = audit_open(auditdir, NULL, AUDIT_WRITE);
	assert_non_null(w);
	assert_int_equal(report_update(r2, &(struct report_sources){ .log = w, .pol = pol }), 0);
	assert_int_equal(get(r2, "requests_by_category", "court", "total"), 20);
	append_at(w, "2026-09-01T10:00:00.000000Z", "court", AUDIT_DENY);
	append_at(w, "2026-12-01T10:00:00.000000Z", "court", AUDIT_DENY);
	assert_int_equal(report_update(r2, &(struct report_sources){ .log = w, .pol = pol }), 0);
	assert_int_equal(get(r2, "requests_by_category", "court", "deny"), 1);
	assert_int_equal(get(r2, "requests_by_category", "court", "total"), 21);
	assert_int_equal(report_update(r, &(struct report_sources){ .log = w, .pol = pol }), 0);
	assert_int_equal(get(r, "summary", "requests decided", "count"), 30);
	audit_close(w);
	report_free(r);
	report_free(r2);

	/* a corrupt entry inside the period: refused, no crash */
	{
		char path[PATH_MAX + 16];
		int fd;
		uint8_t b = 0;
		struct stat st;

		snprintf(path, sizeof path, "%s/entries", auditdir);
		fd = open(path, O_RDWR);
		assert_true(fd >= 0);
		assert_int_equal(fstat(fd, &st), 0);
		/* "court" in an entry of Q3 becomes "cOurt" (still valid
		 * UTF-8: only the check bytes and the hashes tell) */
		{
			char *buf = malloc((size_t)st.st_size);
			off_t at = -1;
			assert_non_null(buf);
			assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
			for (off_t i = st.st_size * 80 / 100; i + 5 < st.st_size; i++)
				if (memcmp(buf + i, "court", 5) == 0) {
					at = i + 1;
					break;
				}
			free(buf);
			assert_true(at > 0);
			b = 'O';
			assert_int_equal(pwrite(fd, &b, 1, at), 1);
		}
		close(fd);
		rd = audit_open(auditdir, NULL, AUDIT_RDONLY);
		if (rd != NULL) {
			r = report_new(&p, 10, 0);
			assert_non_null(r);
			assert_int_equal(report_update(r, &(struct report_sources){ .log = rd,
			    .pol = pol }), -1);
			report_free(r);
			audit_close(rd);
		}
	}
	policy_free(pol);
	test_rmtree(dir);
}

static void
server_cache(void **state)
{
	char *dir = test_tmpdir(), data[PATH_MAX], auditdir[PATH_MAX + 8], *body = NULL, *b2 = NULL;
	struct audit_log *w;
	struct report_cache *c;
	struct report_period cur, prev;
	struct policy *pol = load_policy();
	const char *ctype = NULL;
	unsigned st = 0;
	size_t len = 0, l2 = 0;
	char now[32], q[64];

	(void)state;
	snprintf(data, sizeof data, "%s/d", dir);
	assert_int_equal(datadir_init(data, "test.local/audit", 0), 0);
	snprintf(auditdir, sizeof auditdir, "%s/audit", data);
	w = audit_open(auditdir, NULL, AUDIT_WRITE);
	assert_non_null(w);
	util_time_format(util_now_us(), now);
	for (int i = 0; i < 12; i++)
		append_at(w, now, "court", AUDIT_PERMIT);
	c = report_cache_new(data, 0);
	assert_non_null(c);
	assert_int_equal(report_cache_http(c, w, pol, "/transparency.json", NULL, &st, &body, &len,
	    &ctype), 0);
	assert_int_equal(st, 200);
	assert_string_equal(ctype, "application/json");
	assert_non_null(strstr(body, "\"requests decided\"],\"values\":[12]"));
	/* cached: a new entry does not show before REPORT_CACHE_SECONDS */
	append_at(w, now, "court", AUDIT_DENY);
	assert_int_equal(report_cache_http(c, w, pol, "/transparency.json", "", &st, &b2, &l2,
	    &ctype), 0);
	assert_int_equal(l2, len);
	assert_memory_equal(b2, body, len);
	free(body);
	free(b2);
	assert_int_equal(report_cache_http(c, w, pol, "/transparency", NULL, &st, &body, &len,
	    &ctype), 0);
	assert_int_equal(st, 200);
	assert_non_null(strstr(body, "<!DOCTYPE html>"));
	free(body);
	/* the previous quarter is served, others are refused */
	report_period_of_time(util_now_us(), &cur);
	assert_int_equal(report_period_previous(&cur, &prev), 0);
	assert_int_equal(report_cache_http(c, w, pol, "/transparency.csv", prev.label, &st, &body,
	    &len, &ctype), 0);
	assert_int_equal(st, 200);
	snprintf(q, sizeof q, "meta,period,,,,value,%s", prev.label);
	assert_non_null(strstr(body, q));
	free(body);
	assert_int_equal(report_cache_http(c, w, pol, "/transparency.csv", "1999Q1", &st, &body,
	    &len, &ctype), 0);
	assert_int_equal(st, 400);
	free(body);
	assert_int_equal(report_cache_http(c, w, pol, "/transparency.csv", "<script>", &st, &body,
	    &len, &ctype), 0);
	assert_int_equal(st, 400);
	assert_null(strstr(body, "<script>"));
	free(body);
	assert_int_equal(report_cache_http(c, w, pol, "/transparency.xml", NULL, &st, &body, &len,
	    &ctype), 0);
	assert_int_equal(st, 404);
	free(body);
	report_cache_free(c);
	audit_close(w);
	policy_free(pol);
	test_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(periods),
		cmocka_unit_test(suppression),
		cmocka_unit_test(counting),
		cmocka_unit_test(renderers_agree),
		cmocka_unit_test(bounded_rows),
		cmocka_unit_test(over_a_log),
		cmocka_unit_test(server_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
