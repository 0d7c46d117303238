/*
 * test_notice.c - notices to data subjects: the holiday calendar and
 * due-date arithmetic (calendar and business days across weekends and
 * holidays), creating and listing notices, overdue counts, mark-sent once,
 * and the letters compared with the golden files in tests/notices/
 * (DMVGATE_UPDATE_GOLDEN=1 rewrites them).
 */
#include "testutil.h"

#include <limits.h>

#include <sys/stat.h>

#include "notice.h"
#include "policy.h"
#include "process.h"
#include "registry.h"
#include "store.h"
#include "util.h"
#include "vin.h"

static int32_t
day(const char *s)
{
	int32_t d;

	assert_int_equal(util_date_parse(s, strlen(s), &d), 0);
	return d;
}

static void
assert_day(int32_t got, const char *want)
{
	char buf[11];

	util_date_format(got, buf);
	assert_string_equal(buf, want);
}

static void
default_calendar(void **state)
{
	struct notice_calendar *c = notice_calendar_default();

	(void)state;
	assert_non_null(c);
	assert_int_equal(notice_calendar_count(c), 23);
	assert_true(notice_calendar_is_holiday(c, day("2026-11-26")));   /* Thanksgiving */
	assert_true(notice_calendar_is_holiday(c, day("2026-07-03")));   /* July 4 observed */
	assert_false(notice_calendar_is_holiday(c, day("2026-07-04")));
	assert_true(notice_calendar_is_holiday(c, day("2027-12-24")));
	assert_false(notice_calendar_is_holiday(c, day("2026-11-27")));
	assert_false(notice_business_day(c, day("2026-11-28")));        /* Saturday */
	assert_false(notice_business_day(c, day("2026-11-29")));        /* Sunday */
	assert_false(notice_business_day(c, day("2026-11-26")));        /* holiday */
	assert_true(notice_business_day(c, day("2026-11-27")));         /* Friday */
	notice_calendar_free(c);
}

static void
calendar_days(void **state)
{
	(void)state;
	/* calendar days run through weekends and holidays */
	assert_day(notice_due_date(NULL, day("2026-11-25"), 3, NOTICE_DAYS), "2026-11-28");
	assert_day(notice_due_date(NULL, day("2026-12-30"), 3, NOTICE_DAYS), "2027-01-02");
	assert_day(notice_due_date(NULL, day("2028-02-27"), 3, NOTICE_DAYS), "2028-03-01");
	assert_int_equal(notice_due_date(NULL, 0, -1, NOTICE_DAYS), INT32_MIN);
	assert_int_equal(notice_due_date(NULL, 0, NOTICE_MAX_DAYS + 1, NOTICE_DAYS), INT32_MIN);
	assert_int_equal(notice_due_date(NULL, 0, 3, 9), INT32_MIN);
}

static void
business_days(void **state)
{
	struct notice_calendar *c = notice_calendar_default();

	(void)state;
	/* Monday + 3 = Thursday; Friday + 3 = Wednesday (weekend skipped) */
	assert_day(notice_due_date(c, day("2026-11-16"), 3, NOTICE_BUSINESS_DAYS), "2026-11-19");
	assert_day(notice_due_date(c, day("2026-11-13"), 3, NOTICE_BUSINESS_DAYS), "2026-11-18");
	/* a request on Saturday: Mon, Tue, Wed */
	assert_day(notice_due_date(c, day("2026-11-14"), 3, NOTICE_BUSINESS_DAYS), "2026-11-18");
	/* Wednesday before Thanksgiving: Fri 27, Mon 30, Tue Dec 1 */
	assert_day(notice_due_date(c, day("2026-11-25"), 3, NOTICE_BUSINESS_DAYS), "2026-12-01");
	/* on Thanksgiving itself */
	assert_day(notice_due_date(c, day("2026-11-26"), 3, NOTICE_BUSINESS_DAYS), "2026-12-01");
	/* Christmas Eve 2026 (Thu): Fri 25 holiday, Mon 28, Tue 29, Wed 30 */
	assert_day(notice_due_date(c, day("2026-12-24"), 3, NOTICE_BUSINESS_DAYS), "2026-12-30");
	/* across the year end: Wed 30, Thu 31, Fri Jan 1 holiday, Mon Jan 4 */
	assert_day(notice_due_date(c, day("2026-12-29"), 3, NOTICE_BUSINESS_DAYS), "2027-01-04");
	/* 2027: Dec 24 and Dec 31 are the observed holidays */
	assert_day(notice_due_date(c, day("2027-12-23"), 1, NOTICE_BUSINESS_DAYS), "2027-12-27");
	assert_day(notice_due_date(c, day("2027-12-30"), 1, NOTICE_BUSINESS_DAYS), "2028-01-03");
	/* without a calendar only weekends count */
	assert_day(notice_due_date(NULL, day("2026-11-25"), 3, NOTICE_BUSINESS_DAYS), "2026-11-30");
	/* zero days: the day itself */
	assert_day(notice_due_date(c, day("2026-11-25"), 0, NOTICE_BUSINESS_DAYS), "2026-11-25");
	notice_calendar_free(c);
}

static void
holiday_file(void **state)
{
	static const char good[] = "# state holidays\n\n2026-11-27 Day after Thanksgiving\n"
				   "  2026-11-30\t# a made-up one\n2026-11-27\n";
	static const char bad_date[] = "2026-02-30\n";
	static const char bad_line[] = "2026-11-27x\n";
	static const char words[] = "Christmas\n";
	struct notice_calendar *c;

	(void)state;
	c = notice_calendar_parse("holidays", good, sizeof good - 1);
	assert_non_null(c);
	assert_int_equal(notice_calendar_count(c), 2);          /* duplicate dropped */
	/* the file replaces the default: Thanksgiving is a business day here */
	assert_day(notice_due_date(c, day("2026-11-25"), 3, NOTICE_BUSINESS_DAYS), "2026-12-02");
	notice_calendar_free(c);
	assert_null(notice_calendar_parse("holidays", bad_date, sizeof bad_date - 1));
	assert_null(notice_calendar_parse("holidays", bad_line, sizeof bad_line - 1));
	assert_null(notice_calendar_parse("holidays", words, sizeof words - 1));
	c = notice_calendar_parse("empty", "", 0);
	assert_non_null(c);
	assert_int_equal(notice_calendar_count(c), 0);
	notice_calendar_free(c);
}

/* ---- the notice table ---- */

struct fx {
	char *dir;
	struct notice_db *db;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	char path[512];
	FILE *fp;

	f->dir = test_tmpdir();
	/* a state holiday list: only Thanksgiving */
	snprintf(path, sizeof path, "%s/holidays", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("2026-11-26 Thanksgiving\n", fp);
	fclose(fp);
	f->db = notice_open(f->dir);
	assert_non_null(f->db);
	assert_int_equal(notice_calendar_count(notice_db_calendar(f->db)), 1);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	notice_close(f->db);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

/* The request of the golden letter: an immigration agency, under a
 * registered court order, on Wednesday 2026-11-25 at 09:41 UTC. */
static void
sample(struct notice *n, const char *outcome)
{
	int64_t us;

	memset(n, 0, sizeof *n);
	assert_int_equal(util_time_parse("2026-11-25T09:41:07.000000Z", &us), 0);
	n->id = 7;
	n->request_us = us;
	strcpy(n->subject, "D1234567");
	strcpy(n->agency_ori, "NY0000001");
	strcpy(n->agency_name, "U.S. Immigration & Customs Enforcement <ERO New York>");
	strcpy(n->agency_category, "federal_immigration");
	strcpy(n->purpose, "civil_immigration_enforcement");
	strcpy(n->outcome, outcome);
	if (strcmp(outcome, "permit") == 0) {
		n->items = FIELD_BIT(FIELD_LAST_NAME) | FIELD_BIT(FIELD_FIRST_NAME) |
		    FIELD_BIT(FIELD_STREET) | FIELD_BIT(FIELD_CITY) | FIELD_BIT(FIELD_STATE) |
		    FIELD_BIT(FIELD_ZIP);
		strcpy(n->legal_process, "LP-3");
		strcpy(n->process_kind, "court_order");
		strcpy(n->process_court, "U.S. District Court for the Southern District of New York");
		strcpy(n->process_case, "1:26-cv-01234");
	}
	n->notify_days = 3;
	n->notify_unit = NOTICE_BUSINESS_DAYS;
	strcpy(n->name, "MARÍA JOSÉ GARCÍA LÓPEZ");
	strcpy(n->street, "123 MAIN ST APT 4");
	strcpy(n->city, "ALBANY");
	strcpy(n->state, "NY");
	strcpy(n->zip, "12207");
	n->audit_index = 41;
}

struct seen {
	int n;
	int64_t ids[16];
};

static int
seen_cb(void *arg, const struct notice *n)
{
	struct seen *s = arg;

	if (s->n < 16)
		s->ids[s->n] = n->id;
	s->n++;
	return 0;
}

static int
list_count(struct notice_db *db, enum notice_filter f, int32_t today)
{
	struct seen s = { 0, { 0 } };

	assert_int_equal(notice_list(db, f, today, seen_cb, &s), 0);
	return s.n;
}

static void
create_list_overdue(void **state)
{
	struct fx *f = *state;
	struct notice *n = calloc(1, sizeof *n), *g = calloc(1, sizeof *g);
	int64_t id1, id2, id3, cnt;

	sample(n, "permit");
	assert_int_equal(notice_create(f->db, n, &id1), 0);
	assert_int_equal(notice_get(f->db, id1, g), 0);
	/* Wed Nov 25 + 3 business days, Thanksgiving skipped: Tue Dec 1 */
	assert_day(g->due_day, "2026-12-01");
	assert_string_equal(g->subject, "D1234567");
	assert_string_equal(g->name, "MARÍA JOSÉ GARCÍA LÓPEZ");
	assert_true(g->items == n->items);
	assert_string_equal(g->legal_process, "LP-3");
	assert_int_equal(g->audit_index, 41);
	assert_int_equal(g->sent_us, 0);

	sample(n, "deny");
	n->notify_unit = NOTICE_DAYS;
	assert_int_equal(notice_create(f->db, n, &id2), 0);
	assert_int_equal(notice_get(f->db, id2, g), 0);
	assert_day(g->due_day, "2026-11-28");
	assert_true(g->items == 0);

	sample(n, "deny");
	n->request_us += 10LL * 86400 * 1000000;    /* Dec 5 */
	assert_int_equal(notice_create(f->db, n, &id3), 0);

	/* refused inputs */
	sample(n, "maybe");
	assert_int_equal(notice_create(f->db, n, NULL), NOTICE_INVALID);
	sample(n, "deny");
	strcpy(n->subject, "d-1");
	assert_int_equal(notice_create(f->db, n, NULL), NOTICE_INVALID);
	sample(n, "deny");
	n->notify_days = 0;
	assert_int_equal(notice_create(f->db, n, NULL), NOTICE_INVALID);
	sample(n, "deny");
	n->notify_unit = 7;
	assert_int_equal(notice_create(f->db, n, NULL), NOTICE_INVALID);
	sample(n, "deny");
	strcpy(n->street, "1 MAIN\nST");
	assert_int_equal(notice_create(f->db, n, NULL), NOTICE_INVALID);

	assert_int_equal(list_count(f->db, NOTICE_ALL, day("2026-12-02")), 3);
	assert_int_equal(list_count(f->db, NOTICE_DUE, day("2026-12-02")), 3);
	/* on the due date itself a notice is not overdue yet */
	assert_int_equal(notice_count_overdue(f->db, day("2026-11-28"), &cnt), 0);
	assert_int_equal(cnt, 0);
	assert_int_equal(notice_count_overdue(f->db, day("2026-11-29"), &cnt), 0);
	assert_int_equal(cnt, 1);
	assert_int_equal(notice_count_overdue(f->db, day("2026-12-02"), &cnt), 0);
	assert_int_equal(cnt, 2);
	assert_int_equal(list_count(f->db, NOTICE_OVERDUE, day("2026-12-02")), 2);
	assert_int_equal(list_count(f->db, NOTICE_SENT, day("2026-12-02")), 0);

	/* mark sent: once */
	assert_int_equal(notice_mark_sent(f->db, id1, "clerk", util_now_us()), 0);
	assert_int_equal(notice_mark_sent(f->db, id1, "clerk", util_now_us()), NOTICE_ALREADY_SENT);
	assert_int_equal(notice_mark_sent(f->db, 999, "clerk", util_now_us()), NOTICE_NOTFOUND);
	assert_int_equal(notice_get(f->db, id1, g), 0);
	assert_true(g->sent_us != 0);
	assert_string_equal(g->sent_by, "clerk");
	assert_int_equal(notice_count_overdue(f->db, day("2026-12-02"), &cnt), 0);
	assert_int_equal(cnt, 1);
	assert_int_equal(list_count(f->db, NOTICE_SENT, day("2026-12-02")), 1);
	assert_int_equal(list_count(f->db, NOTICE_DUE, day("2026-12-02")), 2);
	assert_int_equal(notice_get(f->db, 999, g), NOTICE_NOTFOUND);

	/* by subject, for `audit subject` */
	{
		struct seen s = { 0, { 0 } };
		assert_int_equal(notice_list_subject(f->db, "D1234567", seen_cb, &s), 0);
		assert_int_equal(s.n, 3);
		s.n = 0;
		assert_int_equal(notice_list_subject(f->db, "D0000000", seen_cb, &s), 0);
		assert_int_equal(s.n, 0);
	}
	free(n);
	free(g);
}

static int
sent_cb(void *arg, const struct registry_change *c)
{
	int *n = arg;

	assert_string_equal(c->action, "notice.sent");
	assert_non_null(strstr(c->detail, "id=N-1 subject=license:D1234567"));
	(*n)++;
	return 0;
}

static void
mark_sent_is_audited(void **state)
{
	struct fx *f = *state;
	struct notice *n = calloc(1, sizeof *n);
	struct registry *r;
	char path[600];
	int64_t id;
	int cnt = 0;

	sample(n, "deny");
	assert_int_equal(notice_create(f->db, n, &id), 0);
	assert_int_equal(notice_mark_sent(f->db, id, "clerk", util_now_us()), 0);
	assert_int_equal(notice_mark_sent(f->db, id, "clerk", util_now_us()), NOTICE_ALREADY_SENT);
	snprintf(path, sizeof path, "%s/registry.db", f->dir);
	r = registry_open(path);
	assert_non_null(r);
	assert_int_equal(registry_drain(r, sent_cb, &cnt), 1);
	assert_int_equal(cnt, 1);
	registry_close(r);
	free(n);
}

static void
ids(void **state)
{
	char out[NOTICE_ID_MAX];

	(void)state;
	notice_id_format(12, out);
	assert_string_equal(out, "N-12");
	assert_int_equal(notice_id_parse("N-12"), 12);
	assert_int_equal(notice_id_parse("n-3"), 3);
	assert_int_equal(notice_id_parse("3"), 3);
	assert_int_equal(notice_id_parse("N-"), -1);
	assert_int_equal(notice_id_parse("N-0"), -1);
	assert_int_equal(notice_id_parse("LP-3"), -1);
	assert_int_equal(notice_id_parse("-3"), -1);
}

/* ---- letters against golden files ---- */

static void
golden(const char *name, const char *got, size_t len)
{
	char path[PATH_MAX], *want = NULL;
	size_t wantlen = 0;
	FILE *fp;

	snprintf(path, sizeof path, "%s/tests/notices/%s", test_srcdir(), name);
	if (getenv("DMVGATE_UPDATE_GOLDEN") != NULL) {
		fp = fopen(path, "w");
		assert_non_null(fp);
		assert_int_equal(fwrite(got, 1, len, fp), len);
		fclose(fp);
		return;
	}
	if (util_read_file(path, 1 << 20, &want, &wantlen) < 0)
		fail_msg("cannot read %s", path);
	if (wantlen != len || memcmp(want, got, len) != 0) {
		fprintf(stderr, "--- %s differs; got:\n%.*s\n", path, (int)len, got);
		free(want);
		fail_msg("%s differs from the rendering", name);
	}
	free(want);
}

static void
render(const struct notice *n, int html, const char *name)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	if (html)
		assert_int_equal(notice_render_html(n, day("2026-11-27"), f), 0);
	else
		assert_int_equal(notice_render_text(n, day("2026-11-27"), f), 0);
	fclose(f);
	golden(name, buf, len);
	/* nothing beyond what the person is entitled to */
	assert_null(strstr(buf, "D1234567"));        /* only the last four */
	assert_non_null(strstr(buf, "4567"));
	assert_null(strstr(buf, "NY0000001"));       /* no ORI, user, reason or rules */
	assert_null(strstr(buf, "immigration-"));
	if (html) {
		assert_null(strstr(buf, "<ERO"));        /* escaped */
		assert_non_null(strstr(buf, "&lt;ERO New York&gt;"));
		assert_null(strstr(buf, "src="));        /* self-contained */
		assert_null(strstr(buf, "href="));
	}
	free(buf);
}

static void
letters(void **state)
{
	struct notice n;

	(void)state;
	sample(&n, "permit");
	n.due_day = day("2026-12-01");
	render(&n, 1, "N-7-permit.html");
	render(&n, 0, "N-7-permit.txt");
	sample(&n, "deny");
	n.due_day = day("2026-12-01");
	render(&n, 1, "N-7-deny.html");
	render(&n, 0, "N-7-deny.txt");
	/* a cited reference that is not registered */
	sample(&n, "deny");
	strcpy(n.legal_process, "LP-99");
	render(&n, 0, "N-7-unregistered.txt");
}

/* ---- the server glue: subjects of a query, policy facts, notices ---- */

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(default_calendar),
		cmocka_unit_test(calendar_days),
		cmocka_unit_test(business_days),
		cmocka_unit_test(holiday_file),
		cmocka_unit_test(ids),
		cmocka_unit_test_setup_teardown(create_list_overdue, setup, teardown),
		cmocka_unit_test_setup_teardown(mark_sent_is_audited, setup, teardown),
		cmocka_unit_test(letters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
